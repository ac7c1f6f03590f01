# muleteer build.
#
#   make            build build/muleteer (and the example programs)
#   make run        install missing Debian packages, build, start on 127.0.0.1:8080
#   make test       install, build, check the layers' includes, run the unit tests, the fuzz corpus replay and
#                   the integration tests, then the job, workflow, invocation and API tests on PostgreSQL
#   make integration-pg  those tests alone, on a PostgreSQL server the suite starts itself (scripts/pg-server.sh)
#   make integration-slurm  the Slurm tests alone (marker slurm; also part of make integration), on a one-node
#                   cluster the suite starts itself (scripts/slurm-cluster.sh); here they fail where it cannot start
#   make asan       the same test suite against an ASan+UBSan build (build-asan/)
#   make chaos      the fault-injection suite (tests/integration, marker chaos) -- see docs/reliability.md
#   make fuzz       install clang, fuzz each parser for FUZZ_SECONDS (default 60) -- see tests/fuzz/README.md
#   make bench      side-by-side benchmarks (nginx, uWSGI; ARGS=... for bench/run.sh) -- see bench/README.md
#
# Layers: src/stack (generic application server) -> build/libmuleteer.a;
# src/app (the job application) + src/main.c -> build/muleteer.

B        ?= build
CC       ?= cc
PKGS      = libuv jansson libfyaml inih sqlite3 expat libpq
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

STACK_SRC := $(wildcard src/common/*.c src/stack/*.c)
APP_SRC   := $(wildcard src/app/*.c src/app/*/*.c)
STACK_OBJ := $(STACK_SRC:%.c=$(B)/%.o)
APP_OBJ   := $(APP_SRC:%.c=$(B)/%.o)
LLHTTP_OBJ := $(B)/llhttp/api.o $(B)/llhttp/http.o $(B)/llhttp/llhttp.o
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(B)/tests/fuzz_%)
FUZZ_SECONDS ?= 60

PROGRAMS  = $(B)/muleteer $(B)/muleteer-example $(B)/mule-echo
# Each local job's command is watched by this small program, which outlives its handler (src/waiter/).
PROGRAMS += $(B)/muleteer-waiter

.PHONY: layers all run test unit fuzz-replay integration integration-pg integration-slurm chaos asan bench fuzz fuzz-targets deps deps-test clean
all: $(PROGRAMS)

deps:
	@scripts/install-deps.sh build
deps-test:
	@scripts/install-deps.sh test

$(B)/libmuleteer.a: $(STACK_OBJ) $(LLHTTP_OBJ)
	ar rcs $@ $^

$(B)/libmuleteer-app.a: $(APP_OBJ)
	ar rcs $@ $^

$(B)/muleteer: $(B)/src/main.o $(B)/libmuleteer-app.a $(B)/libmuleteer.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/muleteer-example: $(B)/examples/example_app.o $(B)/libmuleteer.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

# The job waiter (and its helper) link only what they share with the runner: the file protocol
# (src/app/run/job_waiter.c) and descriptor passing (src/common/fd_passing.c).
# Static (but under a sanitizer, which needs the dynamic loader): each job's waiter is a fork of the helper, and a
# process without the loader's and libc's shared mappings forks, and runs as a waiter, in about a quarter less CPU.
WAITER_LDFLAGS = $(if $(SAN),,-static)
$(B)/muleteer-waiter: $(B)/src/waiter/muleteer_waiter.o $(B)/src/waiter/helper.o $(B)/src/app/run/job_waiter.o \
                     $(B)/src/common/fd_passing.o
	$(CC) $(LDFLAGS_ALL) $(WAITER_LDFLAGS) -o $@ $^

# The local runner's unit tests start commands through the waiter.
unit: $(B)/muleteer-waiter

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

$(B)/tests/%: tests/unit/%.c $(B)/libmuleteer-app.a $(B)/libmuleteer.a
	@mkdir -p $(dir $@)
	@echo "  TEST  $<"
	@$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(B)/libmuleteer-app.a $(B)/libmuleteer.a $(LIBS) -lcriterion

# Fuzz drivers (tests/fuzz/README.md): linked with replay.c, each replays its checked-in corpus.
$(B)/tests/fuzz_%: $(B)/tests/fuzz/fuzz_%.o $(B)/tests/fuzz/fuzz.o $(B)/tests/fuzz/replay.o $(B)/libmuleteer-app.a $(B)/libmuleteer.a
	@echo "  LINK  $@"
	@$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

.SECONDARY: $(FUZZ_NAMES:%=$(B)/tests/fuzz/fuzz_%.o) $(B)/tests/fuzz/fuzz.o $(B)/tests/fuzz/replay.o

# The same drivers linked with libFuzzer; only built by `make fuzz` (B=$(B)/fuzz, CC=clang).
$(B)/fuzz_%: $(B)/tests/fuzz/fuzz_%.o $(B)/tests/fuzz/fuzz.o $(B)/libmuleteer-app.a $(B)/libmuleteer.a
	@echo "  LINK  $@ (libFuzzer)"
	@$(CC) $(LDFLAGS_ALL) -fsanitize=fuzzer -o $@ $^ $(LIBS)

run: deps all
	$(B)/muleteer

# Which layer may include which (scripts/check-layers.sh): part of make test.
layers:
	@scripts/check-layers.sh

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t --jobs=1; done

fuzz-replay: $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_NAMES); do echo "== $(B)/tests/fuzz_$$t"; $(B)/tests/fuzz_$$t tests/fuzz/corpus/$$t; done

integration: all
	MULETEER_BUILD=$(abspath $(B)) /usr/bin/python3 -m pytest -q -p no:cacheprovider -m "not chaos" tests/integration $(PYTEST_ARGS)

# The job, workflow, invocation and API tests again, each test's stacks on a fresh database of a throwaway
# PostgreSQL server that the suite starts and stops itself (scripts/pg-server.sh; tests/integration/conftest.py).
PG_TESTS = test_jobs.py test_jobs_list.py test_workflows.py test_invocations.py test_api_keys.py test_api_strict.py \
           test_galaxy_assignment.py test_standalone.py
integration-pg: all
	MULETEER_TEST_BACKEND=postgresql MULETEER_BUILD=$(abspath $(B)) /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	  -m "not chaos" $(PG_TESTS:%=tests/integration/%) $(PYTEST_ARGS)

# The tests that take the `slurm` fixture (tests/integration/conftest.py: marked slurm, and run by `integration`
# too, skipped there where Slurm is not installed), on the throwaway cluster the suite starts and stops itself.
integration-slurm: all
	MULETEER_TEST_SLURM=required MULETEER_BUILD=$(abspath $(B)) /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	  -m slurm tests/integration $(PYTEST_ARGS)

# Faults injected into a running stack (SIGKILLs, a locked database, a full disk...): slower, so apart.
chaos: deps-test
	$(MAKE) all
	MULETEER_BUILD=$(abspath $(B)) /usr/bin/python3 -m pytest -q -p no:cacheprovider -m chaos tests/integration $(PYTEST_ARGS)

test: deps-test
	@scripts/check-layers.sh
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) fuzz-replay
	$(MAKE) integration
	$(MAKE) integration-pg

# LSan suppressions: leaks inside Debian's libraries we cannot fix here (tests/fuzz/lsan.supp says which).
LSAN_SUPP = LSAN_OPTIONS=suppressions=$(abspath tests/fuzz/lsan.supp):print_suppressions=0

asan: deps-test
	$(LSAN_SUPP) $(MAKE) B=build-asan OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all unit fuzz-replay integration

# Coverage-guided fuzzing: the stack rebuilt by clang with coverage + ASan + UBSan in $(B)/fuzz,
# each target run for FUZZ_SECONDS over a copy of its corpus (new inputs stay in $(B)/fuzz/corpus,
# crashes land in $(B)/fuzz/). FUZZ_FLAGS adds libFuzzer options. (Unlike gcc, clang warns about
# the "{ NULL }" that ends option tables.)
fuzz:
	@scripts/install-deps.sh fuzz
	$(MAKE) B=$(B)/fuzz CC=clang WARN="$(WARN) -Wno-missing-field-initializers" OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" fuzz-targets
	@failed=""; for t in $(FUZZ_NAMES); do \
	  mkdir -p $(B)/fuzz/corpus/$$t && cp tests/fuzz/corpus/$$t/* $(B)/fuzz/corpus/$$t/; \
	  dict=""; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  $(LSAN_SUPP) $(B)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=30 -print_final_stats=1 \
	    -artifact_prefix=$(abspath $(B))/fuzz/$$t- $$dict $(FUZZ_FLAGS) $(abspath $(B))/fuzz/corpus/$$t || failed="$$failed $$t"; \
	done; [ -z "$$failed" ] || { echo "fuzz: failed:$$failed (inputs in $(B)/fuzz/)"; exit 1; }

fuzz-targets: $(FUZZ_NAMES:%=$(B)/fuzz_%)

# make bench ARGS="--only http,jobs --rounds 5" passes ARGS to bench/run.sh (see bench/run.sh --help).
bench:
	@scripts/install-deps.sh bench
	$(MAKE) all
	bench/run.sh $(ARGS)

clean:
	rm -rf build build-asan

-include $(shell find $(B) -name '*.d' 2>/dev/null)
