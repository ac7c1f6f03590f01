/*
 * Unit tests for slurm_parse.c: the job id sbatch --parsable prints, the
 * message and the nature (transient or not) of an error on a client
 * command's stderr -- with the texts a real cluster printed --, squeue's
 * and sacct's job states, and the splitting of a nativeSpecification into
 * words as a POSIX shell would.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app/run/slurm_parse.h"

static char err[512];

Test(slurm_parse, sbatch_job_id)
{
    char id[32];
    cr_assert_eq(mt_slurm_parse_sbatch("12345\n", id, sizeof id), 0);
    cr_assert_str_eq(id, "12345");
    cr_assert_eq(mt_slurm_parse_sbatch("  77;cluster-a\n", id, sizeof id), 0);
    cr_assert_str_eq(id, "77");
    cr_assert_eq(mt_slurm_parse_sbatch("81_3\n", id, sizeof id), 0);
    cr_assert_str_eq(id, "81_3");
}

Test(slurm_parse, sbatch_output_that_is_not_a_job_id)
{
    char id[32] = "x";
    const char *bad[] = {"", "\n", "abc\n", "_1\n", "12 13\n", "12\n13\n", "12;\n", "12;a b\n", "12;a;b", "-5",
                         "Submitted batch job 12\n", "12x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(mt_slurm_parse_sbatch(bad[i], id, sizeof id), -EINVAL, "'%s'", bad[i]);
        cr_assert_str_eq(id, "", "'%s'", bad[i]);
    }
    cr_assert_eq(mt_slurm_parse_sbatch(NULL, id, sizeof id), -EINVAL);
    char small[4];
    cr_assert_eq(mt_slurm_parse_sbatch("12345", small, sizeof small), -ENOSPC);
    cr_assert_str_eq(small, "");
}

/* What sbatch printed for a partition that does not exist (a real cluster). */
static const char invalid_partition[] = "sbatch: error: invalid partition specified: nosuch\n"
                                        "sbatch: error: Batch job submission failed: Invalid partition name specified\n";

Test(slurm_parse, error_message_is_the_last_error_line_without_its_prefix)
{
    char buf[256];
    cr_assert_str_eq(mt_slurm_error_message(invalid_partition, buf, sizeof buf),
                     "Batch job submission failed: Invalid partition name specified");
    cr_assert_str_eq(mt_slurm_error_message("slurm_load_jobs error: Invalid job id specified\n", buf, sizeof buf),
                     "slurm_load_jobs error: Invalid job id specified");
    cr_assert_str_eq(mt_slurm_error_message("scancel: error: Kill job error on job id 12: Invalid job id specified\n",
                                            buf, sizeof buf),
                     "Kill job error on job id 12: Invalid job id specified");
    cr_assert_str_eq(mt_slurm_error_message("error: something\n", buf, sizeof buf), "something");
    /* No error line: the last non-empty line, trimmed; control characters as spaces. */
    cr_assert_str_eq(mt_slurm_error_message("first\n  segfault\tat x  \n\n", buf, sizeof buf), "segfault at x");
    cr_assert_str_eq(mt_slurm_error_message("", buf, sizeof buf), "");
    cr_assert_str_eq(mt_slurm_error_message(NULL, buf, sizeof buf), "");
    char small[10];
    cr_assert_str_eq(mt_slurm_error_message(invalid_partition, small, sizeof small), "Batch job");
}

Test(slurm_parse, transient_errors)
{
    const char *transient[] = {
        "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n",
        "squeue: error: slurm_receive_msg: Socket timed out on send/recv operation\n"
        "slurm_load_jobs error: Socket timed out on send/recv operation\n",
        "sbatch: error: slurm_receive_msg: Zero Bytes were transmitted or received\n",
        "squeue: error: Connection refused\n",
        "sbatch: error: Resource temporarily unavailable\n",
        "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",
        "slurm_load_jobs error: Connection timed out\n",
        "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\n",
        "sbatch: error: If munged is up, restart with --num-threads=10\n"
        "sbatch: error: Munge encode failed: Failed to access \"/tmp/x/munge.sock\": No such file or directory (Did you "
        "start munged?)\n"
        "sbatch: error: slurm_send_node_msg: auth_g_create: REQUEST_SUBMIT_BATCH_JOB has authentication error\n"
        "sbatch: error: Batch job submission failed: Protocol authentication error\n",
        "scancel: error: Kill job error on job id 5: Slurm backup controller in standby mode\n",
    };
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        cr_assert(mt_slurm_error_transient(transient[i]), "%s", transient[i]);
}

Test(slurm_parse, permanent_errors)
{
    const char *permanent[] = {
        invalid_partition,
        "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's "
        "size and/or time limits)\n",
        "sbatch: error: Batch job submission failed: Requested node configuration is not available\n",
        "sbatch: error: Invalid --mem specification\n",
        "sbatch: unrecognized option '--nosuch'\nTry \"sbatch --help\" for more information\n",
        "slurm_load_jobs error: Invalid job id specified\n",
        /* sbatch retried a busy controller, then the job itself was refused: the last word decides. */
        "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\n"
        "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy\n",
        "",
        NULL,
    };
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++)
        cr_assert_not(mt_slurm_error_transient(permanent[i]), "%s", permanent[i] ? permanent[i] : "(null)");
}

Test(slurm_parse, squeue_lines)
{
    mt_slurm_job_line_t *lines;
    /* What squeue --states=all -h -o '%i|%T|%r' printed on a real cluster. */
    ssize_t n = mt_slurm_parse_squeue("1|PENDING|None\n2|PENDING|Priority\n3|RUNNING|None\n"
                                      "4|COMPLETED|None\n5|CANCELLED+|x|y\n\n6|CANCELLED by 0\n7|TIMEOUT|\n"
                                      "8|OUT_OF_MEMORY|None\n9|REQUEUED|None\n10_2|CG|None\n",
                                      &lines, err, sizeof err);
    cr_assert_eq(n, 10, "%s", err);
    cr_assert_str_eq(lines[0].id, "1");
    cr_assert_eq(lines[0].state, MT_SLURM_PENDING);
    cr_assert_str_eq(lines[0].reason, "None");
    cr_assert_str_eq(lines[1].reason, "Priority");
    cr_assert_eq(lines[2].state, MT_SLURM_RUNNING);
    cr_assert_eq(lines[3].state, MT_SLURM_COMPLETED);
    cr_assert_eq(lines[4].state, MT_SLURM_CANCELLED);
    cr_assert_str_eq(lines[4].state_name, "CANCELLED");
    cr_assert_str_eq(lines[4].reason, "x|y");
    cr_assert_str_eq(lines[5].id, "6");
    cr_assert_eq(lines[5].state, MT_SLURM_CANCELLED);
    cr_assert_str_eq(lines[5].state_name, "CANCELLED");
    cr_assert_str_eq(lines[5].reason, "");
    cr_assert_eq(lines[6].state, MT_SLURM_TIMEOUT);
    cr_assert_eq(lines[7].state, MT_SLURM_OUT_OF_MEMORY);
    cr_assert_eq(lines[8].state, MT_SLURM_OTHER);
    cr_assert_str_eq(lines[8].state_name, "REQUEUED");
    cr_assert_str_eq(lines[9].id, "10_2");
    cr_assert_eq(lines[9].state, MT_SLURM_COMPLETING);
    free(lines);
    cr_assert_eq(mt_slurm_parse_squeue("", &lines, err, sizeof err), 0);
    cr_assert_null(lines);
    cr_assert_eq(mt_slurm_parse_squeue("\n  \n", &lines, err, sizeof err), 0);
    cr_assert_eq(mt_slurm_parse_squeue(NULL, &lines, err, sizeof err), 0);
}

Test(slurm_parse, squeue_bad_lines_are_named)
{
    mt_slurm_job_line_t *lines = (void *)1;
    cr_assert_eq(mt_slurm_parse_squeue("1|PENDING|None\ngarbage\n", &lines, err, sizeof err), -EINVAL);
    cr_assert_null(lines);
    cr_assert_str_eq(err, "squeue output line 2: 'garbage': no '|' between job id and state");
    cr_assert_eq(mt_slurm_parse_squeue("|RUNNING|None\n", &lines, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "line 1") && strstr(err, "an empty job id"), "%s", err);
    cr_assert_eq(mt_slurm_parse_squeue("1 2|RUNNING\n", &lines, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "white space in the job id"), "%s", err);
    cr_assert_eq(mt_slurm_parse_squeue("1|\n", &lines, err, sizeof err), -EINVAL);
    cr_assert(strstr(err, "no state"), "%s", err);
    cr_assert_eq(mt_slurm_parse_squeue("123456789012345678901234567890123|RUNNING\n", &lines, err, sizeof err),
                 -EINVAL);
    cr_assert(strstr(err, "over-long"), "%s", err);
}

Test(slurm_parse, states)
{
    cr_assert_eq(mt_slurm_state_parse("PENDING"), MT_SLURM_PENDING);
    cr_assert_eq(mt_slurm_state_parse("pd"), MT_SLURM_PENDING);
    cr_assert_eq(mt_slurm_state_parse("NODE_FAIL"), MT_SLURM_NODE_FAIL);
    cr_assert_eq(mt_slurm_state_parse("CANCELLED by 1000"), MT_SLURM_CANCELLED);
    cr_assert_eq(mt_slurm_state_parse("COMPLETED+"), MT_SLURM_COMPLETED);
    cr_assert_eq(mt_slurm_state_parse("BOOT_FAIL"), MT_SLURM_BOOT_FAIL);
    cr_assert_eq(mt_slurm_state_parse("DEADLINE"), MT_SLURM_DEADLINE);
    cr_assert_eq(mt_slurm_state_parse("PREEMPTED"), MT_SLURM_PREEMPTED);
    cr_assert_eq(mt_slurm_state_parse("SUSPENDED"), MT_SLURM_SUSPENDED);
    cr_assert_eq(mt_slurm_state_parse("RESIZING"), MT_SLURM_OTHER);
    cr_assert_eq(mt_slurm_state_parse("PENDINGX"), MT_SLURM_OTHER);
    cr_assert_eq(mt_slurm_state_parse(""), MT_SLURM_OTHER);
    cr_assert_eq(mt_slurm_state_parse(NULL), MT_SLURM_OTHER);
    for (int s = MT_SLURM_PENDING; s <= MT_SLURM_OTHER; s++) {
        bool final = s >= MT_SLURM_COMPLETED && s <= MT_SLURM_DEADLINE;
        cr_assert_eq(mt_slurm_state_final((mt_slurm_state_t)s), final, "%s", mt_slurm_state_name((mt_slurm_state_t)s));
        if (s != MT_SLURM_OTHER)
            cr_assert_eq(mt_slurm_state_parse(mt_slurm_state_name((mt_slurm_state_t)s)), s);
    }
    cr_assert_str_eq(mt_slurm_state_name(MT_SLURM_OUT_OF_MEMORY), "OUT_OF_MEMORY");
}

static void assert_words(const char *spec, const char *const *want)
{
    char **words;
    cr_assert_eq(mt_slurm_split_words(spec, &words, err, sizeof err), 0, "%s: %s", spec, err);
    size_t i = 0;
    for (; want[i]; i++) {
        cr_assert_not_null(words[i], "%s: word %zu missing", spec, i);
        cr_assert_str_eq(words[i], want[i], "%s: word %zu", spec, i);
    }
    cr_assert_null(words[i], "%s: extra word '%s'", spec, words[i]);
    mt_slurm_words_free(words);
}

Test(slurm_parse, split_words_as_a_shell_does)
{
    assert_words("-p debug --mem=100 --comment='a b'", (const char *[]){"-p", "debug", "--mem=100", "--comment=a b", NULL});
    assert_words("  \t-n\n2  ", (const char *[]){"-n", "2", NULL});
    assert_words("", (const char *[]){NULL});
    assert_words(NULL, (const char *[]){NULL});
    assert_words("'' \"\"", (const char *[]){"", "", NULL});
    assert_words("a\\ b c\\'d", (const char *[]){"a b", "c'd", NULL});
    assert_words("\"x \\\"y\\\" \\$HOME \\a\"", (const char *[]){"x \"y\" $HOME \\a", NULL});
    assert_words("'it'\\''s'", (const char *[]){"it's", NULL});
    assert_words("--comment=a#b --wrap=x;y $HOME `id` *", (const char *[]){"--comment=a#b", "--wrap=x;y", "$HOME", "`id`", "*", NULL});
    assert_words("-p\\\ndebug", (const char *[]){"-pdebug", NULL});
    assert_words("'a\\b'", (const char *[]){"a\\b", NULL});
    assert_words("x'y'\"z\"", (const char *[]){"xyz", NULL});
}

Test(slurm_parse, split_words_refuses_unterminated_quotes)
{
    char **words = (char **)1;
    cr_assert_eq(mt_slurm_split_words("-p debug --comment='a b", &words, err, sizeof err), -EINVAL);
    cr_assert_null(words);
    cr_assert_str_eq(err, "nativeSpecification '-p debug --comment='a b': the single quote at offset 19 is never closed");
    cr_assert_eq(mt_slurm_split_words("\"abc", &words, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "nativeSpecification '\"abc': the double quote at offset 0 is never closed");
    cr_assert_eq(mt_slurm_split_words("abc\\", &words, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "nativeSpecification 'abc\\': a backslash at the end escapes nothing");
    cr_assert_eq(mt_slurm_split_words("-p\n'x", &words, err, sizeof err), -EINVAL);
    cr_assert_str_eq(err, "nativeSpecification '-p 'x': the single quote at offset 3 is never closed");
    mt_slurm_words_free(NULL);
}
