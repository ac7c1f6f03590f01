# muleteer build.
#
#   make            build build/muleteer (and the example programs)
#   make run        install missing Debian packages, build, start on 127.0.0.1:8080
#   make test       install, build, run the unit tests and the integration tests
#   make asan       the same test suite against an ASan+UBSan build (build-asan/)
#   make bench      side-by-side benchmarks (nginx, uWSGI) -- see bench/README.md
#
# Layers: src/stack (generic application server) -> build/libmuleteer.a;
# src/app (the job application) + src/main.c -> build/muleteer.

B        ?= build
CC       ?= cc
PKGS      = libuv jansson libfyaml inih
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LLHTTP_DIR ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp

OPT      ?= -O2 -g
SAN      ?=
WARN      = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wno-unused-parameter
CFLAGS_ALL = -std=gnu11 $(OPT) $(SAN) $(WARN) -D_GNU_SOURCE -Iinclude -Isrc -I$(LLHTTP_INC) $(PKG_CFLAGS) -MMD -MP
LDFLAGS_ALL = $(SAN) -pthread
LIBS      = $(PKG_LIBS) -lm

STACK_SRC := $(wildcard src/stack/*.c)
APP_SRC   := $(wildcard src/app/*.c)
STACK_OBJ := $(STACK_SRC:%.c=$(B)/%.o)
APP_OBJ   := $(APP_SRC:%.c=$(B)/%.o)
LLHTTP_OBJ := $(B)/llhttp/api.o $(B)/llhttp/http.o $(B)/llhttp/llhttp.o
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

PROGRAMS  = $(B)/muleteer $(B)/muleteer-example $(B)/mule-echo

.PHONY: all run test unit integration asan bench deps deps-test clean
all: $(PROGRAMS)

deps:
	@scripts/install-deps.sh build
deps-test:
	@scripts/install-deps.sh test

$(B)/libmuleteer.a: $(STACK_OBJ) $(LLHTTP_OBJ)
	ar rcs $@ $^

$(B)/muleteer: $(B)/src/main.o $(APP_OBJ) $(B)/libmuleteer.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/muleteer-example: $(B)/examples/example_app.o $(B)/libmuleteer.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

# The external mule example uses no muleteer code at all: only the documented wire format.
$(B)/mule-echo: $(B)/examples/mule_echo.o
	$(CC) $(LDFLAGS_ALL) -o $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS_ALL) -c -o $@ $<

# llhttp's generated sources warn under -Wextra: built apart, without -Werror.
$(B)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (llhttp, warnings off)"
	@$(CC) -std=gnu11 $(OPT) $(SAN) -I$(LLHTTP_INC) -w -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libmuleteer.a
	@mkdir -p $(dir $@)
	@echo "  TEST  $<"
	@$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(B)/libmuleteer.a $(LIBS) -lcriterion

run: deps all
	$(B)/muleteer

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t --jobs=1; done

integration: all
	MULETEER_BUILD=$(abspath $(B)) /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration $(PYTEST_ARGS)

test: deps-test
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integration

asan: deps-test
	$(MAKE) B=build-asan OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all unit integration

bench:
	@scripts/install-deps.sh bench
	$(MAKE) all
	bench/run.sh

clean:
	rm -rf build build-asan

-include $(shell find $(B) -name '*.d' 2>/dev/null)
