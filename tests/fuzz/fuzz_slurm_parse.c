/*
 * fuzz_slurm_parse: what the Slurm runner reads from Slurm's client
 * commands and from a destination's nativeSpecification
 * (src/app/run/slurm_parse.c), on arbitrary bytes (cut at the first NUL,
 * as the captured output is a C string).
 *
 * Checked besides "no crash, no sanitizer report":
 *   - mt_slurm_parse_sbatch: 0 with an id that starts with a digit, holds
 *     only digits and '_' and is in the input; else -EINVAL or -ENOSPC
 *     with the id "";
 *   - mt_slurm_error_message: one line (no control character), shorter
 *     than the buffer, a NUL-terminated prefix when cut; a verdict from
 *     mt_slurm_error_transient either way;
 *   - mt_slurm_parse_squeue: n >= 0 lines with non-empty ids free of white
 *     space, a state_name that parses back to the state, reasons of one
 *     line; or -EINVAL, no lines, and a one-line message starting with
 *     "squeue output line ";
 *   - mt_slurm_split_words: on success, the words quoted again
 *     (mt_job_script_append_word, the batch script's quoting) and joined by
 *     spaces split back to the same words; on failure -EINVAL, no words,
 *     and a one-line message starting with "nativeSpecification '".
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "app/run/job_script.h"
#include "app/run/slurm_parse.h"
#include "fuzz.h"

static int one_line(const char *s)
{
    for (; *s; s++)
        if (iscntrl((unsigned char)*s))
            return 0;
    return 1;
}

static void check_sbatch(const char *in)
{
    char id[32];
    int rc = mt_slurm_parse_sbatch(in, id, sizeof id);
    if (rc == 0) {
        FUZZ_CHECK(isdigit((unsigned char)id[0]), "id '%s'", id);
        FUZZ_CHECK(strspn(id, "0123456789_") == strlen(id), "id '%s'", id);
        FUZZ_CHECK(strstr(in, id) != NULL, "id '%s' not in the input", id);
    } else {
        FUZZ_CHECK(rc == -EINVAL || rc == -ENOSPC, "rc %d", rc);
        FUZZ_CHECK(id[0] == '\0', "id '%s' on error", id);
    }
}

static void check_error(const char *in)
{
    char full[4096], cut[16];
    mt_slurm_error_message(in, full, sizeof full);
    FUZZ_CHECK(strlen(full) < sizeof full && one_line(full), "message '%s'", full);
    mt_slurm_error_message(in, cut, sizeof cut);
    FUZZ_CHECK(strlen(cut) < sizeof cut, "cut message");
    FUZZ_CHECK(strncmp(full, cut, strlen(cut)) == 0, "'%s' is not a prefix of '%s'", cut, full);
    (void)mt_slurm_error_transient(in);
}

static void check_squeue(const char *in)
{
    mt_slurm_job_line_t *lines = (mt_slurm_job_line_t *)1;
    char err[512] = "";
    ssize_t n = mt_slurm_parse_squeue(in, &lines, err, sizeof err);
    if (n < 0) {
        FUZZ_CHECK(n == -EINVAL && lines == NULL, "n %zd", n);
        FUZZ_CHECK(strncmp(err, "squeue output line ", 19) == 0 && one_line(err), "err '%s'", err);
        return;
    }
    FUZZ_CHECK(n == 0 ? lines == NULL : lines != NULL, "lines for n %zd", n);
    for (ssize_t i = 0; i < n; i++) {
        const mt_slurm_job_line_t *l = &lines[i];
        FUZZ_CHECK(l->id[0] && strcspn(l->id, " \t\r\n\v\f") == strlen(l->id), "id '%s'", l->id);
        FUZZ_CHECK(l->state_name[0], "empty state name");
        FUZZ_CHECK(mt_slurm_state_parse(l->state_name) == l->state, "state '%s'", l->state_name);
        FUZZ_CHECK(strchr(l->reason, '\n') == NULL, "reason '%s'", l->reason);
    }
    free(lines);
}

static void check_words(const char *in)
{
    char **words = (char **)1;
    char err[512] = "";
    int rc = mt_slurm_split_words(in, &words, err, sizeof err);
    if (rc < 0) {
        FUZZ_CHECK(rc == -EINVAL && words == NULL, "rc %d", rc);
        FUZZ_CHECK(strncmp(err, "nativeSpecification '", 21) == 0 && one_line(err), "err '%s'", err);
        return;
    }
    char *joined = NULL;
    size_t len = 0;
    mt_job_script_append(&joined, &len, "");
    for (size_t i = 0; words[i]; i++) {
        if (i)
            mt_job_script_append(&joined, &len, " ");
        mt_job_script_append_word(&joined, &len, words[i]);
    }
    char **again;
    FUZZ_CHECK(mt_slurm_split_words(joined, &again, err, sizeof err) == 0, "requoted words refused: %s", err);
    size_t i = 0;
    for (; words[i]; i++)
        FUZZ_CHECK(again[i] && strcmp(words[i], again[i]) == 0, "word %zu changed", i);
    FUZZ_CHECK(again[i] == NULL, "more words after requoting");
    mt_slurm_words_free(again);
    mt_slurm_words_free(words);
    free(joined);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *in = malloc(size + 1);
    memcpy(in, data, size);
    in[size] = '\0';
    check_sbatch(in);
    check_error(in);
    check_squeue(in);
    check_words(in);
    free(in);
    return 0;
}
