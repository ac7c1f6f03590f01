/*
 * fuzz_cmdline: the command line, mt_config_load() (src/stack/config.c),
 * with the stack's option table and a small application section. The
 * input is split at its NUL bytes into arguments after argv[0]; up to 64
 * of them. An argument holding a '/' drops the input: a command line could
 * name any file (/dev/zero, a FIFO), so --ini and --yaml are kept to the
 * fixture's files (a.ini, b.yml, c.yml, bad.ini; see fuzz.h). The checks
 * are in fuzz.c (fuzz_config_check_cmdline): a clear one-line error naming
 * the command line or a file, or only validated values whose sources are
 * the command line or a line of a file read.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    FUZZ_CHECK(copy != NULL, "out of memory");
    memcpy(copy, data, size);
    copy[size] = '\0';

    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "muleteer";
    bool usable = true;
    for (char *p = copy; p <= copy + size && argc <= MAX_ARGS; p += strlen(p) + 1) {
        if (strchr(p, '/'))
            usable = false;
        argv[argc++] = p;
        if (p + strlen(p) == copy + size)
            break;
    }
    argv[argc] = NULL;
    if (usable && argc <= MAX_ARGS && size > 0)
        fuzz_config_check_cmdline(argv, argc);
    free(copy);
    return 0;
}
