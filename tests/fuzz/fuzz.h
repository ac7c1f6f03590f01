/*
 * fuzz.h: what the fuzz drivers share.
 *
 * Every driver defines LLVMFuzzerTestOneInput() and is linked twice: with
 * libFuzzer (clang, `make fuzz`) to search for new inputs, and with
 * replay.c (gcc, `make fuzz-replay`, part of `make test`) to run its
 * checked-in corpus as a regression test. So drivers use only what both
 * compilers offer, and check with FUZZ_CHECK, which stays on under NDEBUG
 * and says what broke before aborting (libFuzzer and replay.c both report
 * an abort as a crash, with the input that caused it).
 */
#ifndef MT_FUZZ_H
#define MT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                                          \
    do {                                                                                               \
        if (!(cond)) {                                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                   \
            fprintf(stderr, __VA_ARGS__);                                                              \
            fputc('\n', stderr);                                                                       \
            abort();                                                                                   \
        }                                                                                              \
    } while (0)

/*
 * A new directory under $TMPDIR (or /tmp) for the driver's fixture,
 * removed with everything in it when the process exits normally. Returns
 * its path (static storage). Aborts on failure.
 */
const char *fuzz_tmpdir(void);

/* Create path with that content (aborts on failure). */
void fuzz_write_file(const char *path, const void *data, size_t len);

/*
 * The config drivers (fuzz_config_ini.c, fuzz_config_yaml.c): load data as
 * a file of that format into a config holding the stack's option table
 * and a small application section, and check the loaders' contract
 * (config.h):
 *   - the result is 0 or -1;
 *   - on -1, the message is non-empty, one line (no CR, no LF) and starts
 *     with the file's name;
 *   - on 0, every effective value was validated and normalized when
 *     recorded (ints in decimal within their bounds, bools "true" or
 *     "false", log levels known), list entries and file sources name the
 *     file with a line inside it, pools have a name, a known type and
 *     0..1024 processes, and mt_config_print() runs (to /dev/null).
 * ini_section is the SECTION of "--ini FILE:SECTION", or NULL.
 */
typedef enum { FUZZ_CONFIG_INI, FUZZ_CONFIG_YAML } fuzz_config_format_t;
void fuzz_config_check(const uint8_t *data, size_t size, fuzz_config_format_t format, const char *ini_section);

/*
 * The command-line driver (fuzz_cmdline.c): mt_config_load() of argv
 * (argv[0] the program name) in a fixture directory that becomes the
 * working directory and holds the files a command line may name: a.ini,
 * b.yml, c.yml (valid) and bad.ini. The same checks as above, except that
 * an error starts with "command line: " or with the name of one of those
 * files, and values may come from the command line or from those files
 * (at a line inside them).
 */
void fuzz_config_check_cmdline(char **argv, int argc);

#endif
