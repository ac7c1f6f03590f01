/*
 * Unit tests for log_format.c: the Python-style %-format (every field,
 * widths, precisions and flags, "%%", each compile error naming its
 * offset, datefmt), the one-line rule (control characters become spaces),
 * truncation that keeps the final '\n' and never writes past the buffer,
 * and JSON lines, parsed back with jansson -- escapes, key order, and a
 * cut that leaves the line valid JSON.
 *
 * Times are fixed and TZ is UTC, so asctime is deterministic.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log_format.h"

/* 2026-11-29T09:00:00.123456Z */
#define TEST_TIME_US INT64_C(1795942800123456)

#define PROPOSAL_FORMAT                                                                                              \
    "%(name)s %(levelname)-5.5s %(asctime)s [p:%(process)s,w:%(worker_id)s,m:%(mule_id)s] [%(threadName)s] "        \
    "%(message)s"

static char err[512];

static void use_utc(void)
{
    cr_assert_eq(setenv("TZ", "UTC", 1), 0);
    tzset();
    err[0] = '\0';
}

TestSuite(log_format, .init = use_utc);

static mt_log_record_t sample_record(void)
{
    return (mt_log_record_t){
        .time_us = TEST_TIME_US,
        .start_us = TEST_TIME_US - 1500250, /* relativeCreated: 1500.25 ms */
        .level = MT_LOG_WARN,
        .logger = "muleteer.jobs.handler",
        .pid = 4242,
        .thread_id = 4243,
        .thread_name = "MainThread",
        .worker_id = 0,
        .mule_id = 2,
        .server_id = 1,
        .server_name = "main.job-handlers.1",
        .pool_name = "job-handlers",
        .message = "hello",
    };
}

static mt_log_format_t *compile_ok(const char *fmt, const char *datefmt)
{
    mt_log_format_t *f = mt_log_format_compile(fmt, datefmt, err, sizeof err);
    cr_assert_not_null(f, "compile \"%s\": %s", fmt, err);
    return f;
}

/* Render r with fmt into a large buffer and compare with the expected line. */
static void expect_line(const char *fmt, const char *datefmt, const mt_log_record_t *r, const char *expected)
{
    mt_log_format_t *f = compile_ok(fmt, datefmt);
    char buf[2048];
    size_t n = mt_log_format_render(f, r, buf, sizeof buf);
    cr_assert_str_eq(buf, expected, "format \"%s\"", fmt);
    cr_assert_eq(n, strlen(expected), "format \"%s\": returned %zu", fmt, n);
    mt_log_format_free(f);
}

static void expect_compile_error(const char *fmt, const char *datefmt, const char *needle1, const char *needle2)
{
    err[0] = '\0';
    mt_log_format_t *f = mt_log_format_compile(fmt, datefmt, err, sizeof err);
    cr_assert_null(f, "\"%s\" compiled", fmt);
    cr_assert_not_null(strstr(err, needle1), "\"%s\": error \"%s\" lacks \"%s\"", fmt, err, needle1);
    if (needle2 != NULL)
        cr_assert_not_null(strstr(err, needle2), "\"%s\": error \"%s\" lacks \"%s\"", fmt, err, needle2);
}

/* ------------------------------------------------------------------ */
/* %-format                                                            */
/* ------------------------------------------------------------------ */

Test(log_format, proposal_format_renders_exactly)
{
    mt_log_record_t r = sample_record();
    expect_line(PROPOSAL_FORMAT, NULL, &r,
                "muleteer.jobs.handler WARNI 2026-11-29 09:00:00,123 [p:4242,w:0,m:2] [MainThread] hello\n");
}

Test(log_format, every_field)
{
    mt_log_record_t r = sample_record();
    expect_line("%(name)s|%(module)s|%(levelname)s|%(levelno)d|%(asctime)s|%(created)f|%(created)s|"
                "%(msecs)03d|%(msecs)s|%(relativeCreated).3f|%(relativeCreated)s|%(process)d|%(thread)d|"
                "%(threadName)s|%(message)s|%(worker_id)d|%(mule_id)i|%(server_name)s|%(processName)s|"
                "%(pool_name)s|%(server_id)d",
                NULL, &r,
                "muleteer.jobs.handler|muleteer.jobs.handler|WARNING|30|2026-11-29 09:00:00,123|"
                "1795942800.123456|1795942800.123456|123|123|1500.250|1500.25|4242|4243|MainThread|hello|0|2|"
                "main.job-handlers.1|main.job-handlers.1|job-handlers|1\n");
}

Test(log_format, integer_fields_with_s)
{
    mt_log_record_t r = sample_record();
    r.worker_id = 3;
    r.mule_id = 0;
    r.server_id = 7;
    expect_line("%(levelno)s %(process)s %(thread)s %(worker_id)s %(mule_id)s %(server_id)s", NULL, &r,
                "30 4242 4243 3 0 7\n");
}

Test(log_format, real_fields_as_python_prints_them)
{
    mt_log_record_t r = sample_record();
    r.start_us = r.time_us - 100000; /* exactly 100 ms: Python prints 100.0 */
    expect_line("%(relativeCreated)s %(relativeCreated)f", NULL, &r, "100.0 100.000000\n");
    r.time_us = INT64_C(1795942800000000);
    expect_line("%(created)s %(msecs)d", NULL, &r, "1795942800.0 0\n");
}

Test(log_format, levels_python_names_and_numbers)
{
    static const struct {
        mt_log_level_t level;
        const char *name;
        int number;
    } expected[] = {
        {MT_LOG_DEBUG, "DEBUG", 10}, {MT_LOG_INFO, "INFO", 20},   {MT_LOG_NOTICE, "NOTICE", 25},
        {MT_LOG_WARN, "WARNING", 30}, {MT_LOG_ERROR, "ERROR", 40}, {MT_LOG_ALERT, "CRITICAL", 50},
    };
    mt_log_format_t *f = compile_ok("%(levelname)s=%(levelno)d", NULL);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        cr_assert_str_eq(mt_log_level_python_name(expected[i].level), expected[i].name);
        cr_assert_eq(mt_log_level_python_number(expected[i].level), expected[i].number);
        mt_log_record_t r = sample_record();
        r.level = expected[i].level;
        char buf[64], want[64];
        mt_log_format_render(f, &r, buf, sizeof buf);
        snprintf(want, sizeof want, "%s=%d\n", expected[i].name, expected[i].number);
        cr_assert_str_eq(buf, want);
    }
    mt_log_format_free(f);
}

Test(log_format, widths_precisions_and_flags)
{
    mt_log_record_t r = sample_record();
    /* Each expectation is what Python's %-operator prints for the same spec. */
    expect_line("[%(threadName)12s][%(threadName)-12s][%(threadName).4s][%(threadName)6.2s][%(threadName)-6.2s]",
                NULL, &r, "[  MainThread][MainThread  ][Main][    Ma][Ma    ]\n");
    expect_line("[%(process)8d][%(process)-8d][%(process)08d][%(process)+d][%(process) d][%(process).6d]", NULL,
                &r, "[    4242][4242    ][00004242][+4242][ 4242][004242]\n");
    expect_line("[%(process)-08d][%(process)#d][%(process)05s][%(process)#6s][%(process)+s][%(process).2s]", NULL,
                &r, "[4242    ][4242][ 4242][  4242][4242][42]\n");
    expect_line("[%(created).2f][%(created)20.1f][%(created)-14.0f][%(created)#.0f][%(relativeCreated)+09.1f]",
                NULL, &r, "[1795942800.12][        1795942800.1][1795942800    ][1795942800.][+001500.2]\n");
    expect_line("[%(levelname)-5.5s][%(levelname)3s][%(levelno)5s][%(msecs)06d]", NULL, &r,
                "[WARNI][WARNING][   30][000123]\n");
}

Test(log_format, widths_count_characters_not_bytes)
{
    mt_log_record_t r = sample_record();
    r.message = "h\xc3\xa9llo w\xc3\xb6rld"; /* "héllo wörld" */
    expect_line("[%(message)6.3s][%(message)-4.2s][%(message).7s]", NULL, &r,
                "[   h\xc3\xa9l][h\xc3\xa9  ][h\xc3\xa9llo w]\n");
}

Test(log_format, percent_literal)
{
    mt_log_record_t r = sample_record();
    expect_line("100%% %(message)s %%%%", NULL, &r, "100% hello %%\n");
    expect_line("%%(name)s", NULL, &r, "%(name)s\n");
    expect_line("", NULL, &r, "\n");
    expect_line("plain text", NULL, &r, "plain text\n");
}

Test(log_format, null_format_is_pythons_default)
{
    mt_log_record_t r = sample_record();
    mt_log_format_t *f = mt_log_format_compile(NULL, NULL, err, sizeof err);
    cr_assert_not_null(f, "%s", err);
    char buf[64];
    mt_log_format_render(f, &r, buf, sizeof buf);
    cr_assert_str_eq(buf, "hello\n");
    mt_log_format_free(f);
}

Test(log_format, null_strings_render_empty)
{
    mt_log_record_t r = {.time_us = TEST_TIME_US, .start_us = TEST_TIME_US, .level = MT_LOG_INFO};
    expect_line("<%(name)s|%(threadName)s|%(message)s|%(server_name)s|%(pool_name)s|%(processName)s|%(module)5s>",
                NULL, &r, "<||||||     >\n");
}

Test(log_format, times_before_the_epoch_round_down)
{
    mt_log_record_t r = sample_record();
    r.time_us = -1;
    expect_line("%(asctime)s %(msecs)03d", NULL, &r, "1969-12-31 23:59:59,999 999\n");
}

/* ------------------------------------------------------------------ */
/* Compile errors                                                      */
/* ------------------------------------------------------------------ */

Test(log_format, error_unknown_field)
{
    expect_compile_error("%(foo)s", NULL, "unknown field 'foo'", "offset 0");
    expect_compile_error("[%(name)s] %(levelnam)s", NULL, "unknown field 'levelnam'", "offset 11");
    expect_compile_error("%()s", NULL, "unknown field ''", "offset 0");
}

Test(log_format, error_wrong_type_for_field)
{
    expect_compile_error("ab %(process)f", NULL, "field 'process' cannot be shown with %f", "offset 3");
    expect_compile_error("%(message)d", NULL, "field 'message' cannot be shown with %d", "offset 0");
    expect_compile_error("%(name)s %(asctime)i", NULL, "field 'asctime' cannot be shown with %i", "offset 9");
    expect_compile_error("%(created)d", NULL, "field 'created' cannot be shown with %d", "offset 0");
    expect_compile_error("%(msecs)f", NULL, "field 'msecs' cannot be shown with %f", "offset 0");
}

Test(log_format, error_unsupported_conversion)
{
    expect_compile_error("%(process)x", NULL, "unsupported conversion 'x'", "offset 0");
    expect_compile_error("  %(message)r", NULL, "unsupported conversion 'r'", "offset 2");
    expect_compile_error("%(name)5.3.2s", NULL, "unsupported conversion '.'", "offset 0");
}

Test(log_format, error_bad_flags)
{
    expect_compile_error("%(name)5-s", NULL, "flag '-'", "offset 0");
    expect_compile_error("x%(process).3+d", NULL, "flag '+'", "offset 1");
    expect_compile_error("%(name)*s", NULL, "'*'", "offset 0");
    expect_compile_error("%(name).*s", NULL, "'*'", "offset 0");
    expect_compile_error("%(name)99999s", NULL, "width", "offset 0");
    expect_compile_error("%(name).99999s", NULL, "precision", "offset 0");
}

Test(log_format, error_unterminated)
{
    expect_compile_error("x %(name", NULL, "unterminated field", "offset 2");
    expect_compile_error("%(", NULL, "unterminated field", "offset 0");
    expect_compile_error("%(name)", NULL, "no conversion type", "offset 0");
    expect_compile_error("ok %(name)-10", NULL, "no conversion type", "offset 3");
}

Test(log_format, error_lone_percent)
{
    expect_compile_error("50% done", NULL, "lone '%'", "offset 2");
    expect_compile_error("trailing %", NULL, "lone '%'", "offset 9");
    expect_compile_error("%s", NULL, "lone '%'", "offset 0");
    expect_compile_error("%%%", NULL, "lone '%'", "offset 2");
}

Test(log_format, error_datefmt_too_long)
{
    char datefmt[300];
    for (size_t i = 0; i + 2 < sizeof datefmt; i += 2)
        memcpy(datefmt + i, "%c", 2);
    datefmt[sizeof datefmt - 2] = '\0';
    expect_compile_error("%(asctime)s", datefmt, "datefmt", NULL);
}

Test(log_format, errors_without_an_error_buffer)
{
    cr_assert_null(mt_log_format_compile("%(foo)s", NULL, NULL, 0));
    cr_assert_null(mt_log_format_compile("%", NULL, err, 0));
    char tiny[8];
    cr_assert_null(mt_log_format_compile("%(foo)s", NULL, tiny, sizeof tiny));
    cr_assert_eq(strlen(tiny), sizeof tiny - 1);
    mt_log_format_free(NULL);
}

/* ------------------------------------------------------------------ */
/* One line                                                            */
/* ------------------------------------------------------------------ */

Test(log_format, control_characters_become_spaces)
{
    mt_log_record_t r = sample_record();
    r.message = "line one\nline two\r\n\ttabbed\x1b[31m\x7f end";
    r.thread_name = "bad\nthread";
    r.logger = "a\nb";
    expect_line("%(name)s [%(threadName)s] %(message)s", NULL, &r,
                "a b [bad thread] line one line two   tabbed [31m  end\n");
    /* Width still counts the replaced characters. */
    expect_line("[%(threadName)-12s]", NULL, &r, "[bad thread  ]\n");
}

Test(log_format, line_breaks_in_the_format_become_spaces)
{
    mt_log_record_t r = sample_record();
    expect_line("%(levelname)s\n%(message)s\r!\t|", NULL, &r, "WARNING hello !\t|\n");
}

Test(log_format, datefmt)
{
    mt_log_record_t r = sample_record();
    expect_line("%(asctime)s.%(msecs)03d %(message)s", "%d/%m/%Y %H.%M.%S", &r, "29/11/2026 09.00.00.123 hello\n");
    expect_line("[%(asctime)s]", "%Y", &r, "[2026]\n");
    expect_line("[%(asctime)-6s]", "%H", &r, "[09    ]\n");
    expect_line("[%(asctime)s]", "", &r, "[]\n");
    /* A datefmt cannot break the line either. */
    expect_line("[%(asctime)s]", "%H%n%M", &r, "[09 00]\n");
}

Test(log_format, asctime_is_local_time)
{
    cr_assert_eq(setenv("TZ", "UTC-2", 1), 0); /* POSIX sign: two hours east of UTC */
    tzset();
    mt_log_record_t r = sample_record();
    expect_line("%(asctime)s", NULL, &r, "2026-11-29 11:00:00,123\n");
}

/* ------------------------------------------------------------------ */
/* Truncation                                                          */
/* ------------------------------------------------------------------ */

/* Render into every size from 2 up, with guard bytes after the buffer. */
static void check_truncation(const mt_log_format_t *f, const mt_log_record_t *r, const char *full)
{
    size_t full_len = strlen(full);
    for (size_t size = 2; size <= full_len + 3; size++) {
        char buf[512];
        cr_assert_lt(size + 16, sizeof buf);
        memset(buf, 'Z', sizeof buf);
        size_t n = mt_log_format_render(f, r, buf, size);
        cr_assert_lt(n, size, "size %zu: returned %zu", size, n);
        cr_assert_eq(buf[n], '\0', "size %zu", size);
        cr_assert_eq(buf[n - 1], '\n', "size %zu", size);
        cr_assert_eq(strlen(buf), n, "size %zu", size);
        cr_assert_null(memchr(buf, '\n', n - 1), "size %zu: inner newline", size);
        for (size_t i = size; i < size + 16; i++)
            cr_assert_eq(buf[i], 'Z', "size %zu: byte %zu written", size, i);
        if (size > full_len) {
            cr_assert_str_eq(buf, full, "size %zu", size);
        } else {
            /* As much of the line as fits, less at most a partial UTF-8 character. */
            cr_assert_leq(n - 1, size - 2);
            cr_assert_geq(n - 1 + 3, size - 2, "size %zu: cut too short (%zu)", size, n);
            cr_assert_eq(memcmp(buf, full, n - 1), 0, "size %zu: \"%s\" is not a prefix", size, buf);
        }
    }
}

Test(log_format, truncation_keeps_newline_and_stays_in_size)
{
    mt_log_record_t r = sample_record();
    mt_log_format_t *f = compile_ok(PROPOSAL_FORMAT " %(process)08d %(created).3f %(relativeCreated)s", NULL);
    char full[512];
    size_t full_len = mt_log_format_render(f, &r, full, sizeof full);
    cr_assert_eq(full_len, strlen(full));
    check_truncation(f, &r, full);

    char buf[2] = {'x', 'x'};
    cr_assert_eq(mt_log_format_render(f, &r, buf, sizeof buf), 1);
    cr_assert_eq(buf[0], '\n');
    cr_assert_eq(buf[1], '\0');
    mt_log_format_free(f);
}

Test(log_format, truncation_does_not_split_utf8)
{
    mt_log_record_t r = sample_record();
    r.message = "\xc3\xa9\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xa9"; /* é é € 😀 é */
    mt_log_format_t *f = compile_ok("%(message)s", NULL);
    for (size_t size = 2; size < 20; size++) {
        char buf[32];
        size_t n = mt_log_format_render(f, &r, buf, size);
        size_t text_len = n - 1;
        /* A cut lands only on a character boundary of the message. */
        static const size_t boundaries[] = {0, 2, 4, 7, 11, 13};
        bool on_boundary = false;
        for (size_t i = 0; i < sizeof boundaries / sizeof boundaries[0]; i++)
            on_boundary |= boundaries[i] == text_len;
        cr_assert(on_boundary, "size %zu: cut at %zu", size, text_len);
        cr_assert_eq(memcmp(buf, r.message, text_len), 0);
    }
    mt_log_format_free(f);
}

/* ------------------------------------------------------------------ */
/* JSON lines                                                          */
/* ------------------------------------------------------------------ */

static json_t *parse_line(const char *line, size_t len)
{
    cr_assert_gt(len, 0);
    cr_assert_eq(line[len - 1], '\n');
    cr_assert_null(memchr(line, '\n', len - 1), "newline inside: %s", line);
    json_error_t jerr;
    json_t *obj = json_loadb(line, len - 1, 0, &jerr);
    cr_assert_not_null(obj, "invalid JSON (%s): %s", jerr.text, line);
    cr_assert(json_is_object(obj));
    return obj;
}

static const char *get_string(json_t *obj, const char *key)
{
    json_t *value = json_object_get(obj, key);
    cr_assert(json_is_string(value), "key %s is not a string", key);
    return json_string_value(value);
}

static json_int_t get_int(json_t *obj, const char *key)
{
    json_t *value = json_object_get(obj, key);
    cr_assert(json_is_integer(value), "key %s is not an integer", key);
    return json_integer_value(value);
}

Test(log_format, json_values_and_key_order)
{
    mt_log_record_t r = sample_record();
    r.message = "say \"hi\" \\ back\\slash\nnext\tline \x01 caf\xc3\xa9 bad\xff end";
    mt_log_format_t *f = mt_log_format_json();
    cr_assert_not_null(f);
    char buf[1024];
    size_t n = mt_log_format_render(f, &r, buf, sizeof buf);
    cr_assert_eq(n, strlen(buf));
    json_t *obj = parse_line(buf, n);
    cr_assert_eq(json_object_size(obj), 10);
    cr_assert_str_eq(get_string(obj, "time"), "2026-11-29T09:00:00.123456Z");
    cr_assert_str_eq(get_string(obj, "level"), "WARNING");
    cr_assert_str_eq(get_string(obj, "logger"), "muleteer.jobs.handler");
    cr_assert_eq(get_int(obj, "pid"), 4242);
    cr_assert_eq(get_int(obj, "worker_id"), 0);
    cr_assert_eq(get_int(obj, "mule_id"), 2);
    cr_assert_str_eq(get_string(obj, "server_name"), "main.job-handlers.1");
    cr_assert_str_eq(get_string(obj, "pool_name"), "job-handlers");
    cr_assert_str_eq(get_string(obj, "thread"), "MainThread");
    /* Everything comes back as it was, except the invalid byte, which is U+FFFD. */
    cr_assert_str_eq(get_string(obj, "message"),
                     "say \"hi\" \\ back\\slash\nnext\tline \x01 caf\xc3\xa9 bad\xef\xbf\xbd end");
    json_decref(obj);

    static const char *const keys[] = {"time", "level", "logger", "pid", "worker_id", "mule_id",
                                       "server_name", "pool_name", "thread", "message"};
    size_t previous = 0;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char quoted[32];
        snprintf(quoted, sizeof quoted, "\"%s\":", keys[i]);
        const char *at = strstr(buf, quoted);
        cr_assert_not_null(at, "no key %s", keys[i]);
        size_t offset = (size_t)(at - buf);
        cr_assert(i == 0 ? offset == 1 : offset > previous, "key %s out of order: %s", keys[i], buf);
        previous = offset;
    }
    mt_log_format_free(f); /* harmless on the shared JSON format */
}

Test(log_format, json_null_strings_and_levels)
{
    mt_log_record_t r = {.time_us = 0, .level = MT_LOG_ALERT, .pid = 1};
    char buf[512];
    size_t n = mt_log_format_render(mt_log_format_json(), &r, buf, sizeof buf);
    json_t *obj = parse_line(buf, n);
    cr_assert_str_eq(get_string(obj, "time"), "1970-01-01T00:00:00.000000Z");
    cr_assert_str_eq(get_string(obj, "level"), "CRITICAL");
    static const char *const empty_keys[] = {"logger", "server_name", "pool_name", "thread", "message"};
    for (size_t i = 0; i < sizeof empty_keys / sizeof empty_keys[0]; i++)
        cr_assert_str_eq(get_string(obj, empty_keys[i]), "", "%s", empty_keys[i]);
    json_decref(obj);
}

static const char *const json_string_keys[] = {"logger", "server_name", "pool_name", "thread", "message"};

/*
 * Render into every size from 2 to past the full line: each result is one
 * line within size; "{}" while not even the keys fit, then always the full
 * object, its strings cut message first and never inside an escape.
 */
static void check_json_truncation(const mt_log_record_t *r)
{
    const mt_log_format_t *f = mt_log_format_json();
    char full[2048];
    size_t full_len = mt_log_format_render(f, r, full, sizeof full);
    json_t *full_obj = parse_line(full, full_len);
    size_t valid_from = 0; /* the smallest size that gave a full object */
    for (size_t size = 2; size <= full_len + 2; size++) {
        char buf[2048 + 16];
        memset(buf, 'Z', sizeof buf);
        size_t n = mt_log_format_render(f, r, buf, size);
        cr_assert_lt(n, size, "size %zu", size);
        cr_assert_eq(buf[n], '\0');
        cr_assert_eq(buf[n - 1], '\n');
        for (size_t i = size; i < size + 16; i++)
            cr_assert_eq(buf[i], 'Z', "size %zu: byte %zu written", size, i);
        if (n == 1) {
            cr_assert_lt(size, 4, "size %zu: empty line although {} fits", size);
            continue;
        }
        json_t *obj = parse_line(buf, n);
        if (json_object_size(obj) == 0) {
            cr_assert_eq(valid_from, 0, "size %zu: {} after a full object at %zu", size, valid_from);
            json_decref(obj);
            continue;
        }
        if (valid_from == 0)
            valid_from = size;
        /* Each string is a prefix of the real one; the others are whole as soon as the message has a byte. */
        for (size_t i = 0; i < sizeof json_string_keys / sizeof json_string_keys[0]; i++) {
            const char *key = json_string_keys[i];
            const char *value = get_string(obj, key), *whole = get_string(full_obj, key);
            cr_assert_eq(strncmp(value, whole, strlen(value)), 0, "size %zu: %s not a prefix", size, key);
            if (strcmp(key, "message") != 0 && get_string(obj, "message")[0] != '\0')
                cr_assert_str_eq(value, whole, "size %zu: %s cut before the message", size, key);
        }
        cr_assert_geq(n + 6, size - 1, "size %zu: cut more than one escape short (%zu)", size, n);
        if (size > full_len)
            cr_assert_str_eq(buf, full);
        json_decref(obj);
    }
    cr_assert_gt(valid_from, 0);
    json_decref(full_obj);
}

Test(log_format, json_truncation_cuts_the_message_and_stays_valid)
{
    mt_log_record_t r = sample_record();
    r.message = "a long message with \"quotes\", back\\slashes, a\nnewline, \x02 control, "
                "caf\xc3\xa9 and \xf0\x9f\x98\x80";
    check_json_truncation(&r);
}

Test(log_format, json_truncation_of_the_other_strings_once_the_message_is_gone)
{
    mt_log_record_t r = sample_record();
    char logger[1200];
    memset(logger, 'x', sizeof logger - 1);
    logger[sizeof logger - 1] = '\0';
    r.logger = logger;
    char buf[512];
    size_t n = mt_log_format_render(mt_log_format_json(), &r, buf, sizeof buf);
    cr_assert_eq(n, sizeof buf - 1);
    json_t *obj = parse_line(buf, n);
    /* Cut in the order message, thread, pool_name, server_name, logger: the logger is kept longest. */
    cr_assert_str_eq(get_string(obj, "message"), "");
    cr_assert_str_eq(get_string(obj, "thread"), "");
    cr_assert_str_eq(get_string(obj, "pool_name"), "");
    cr_assert_str_eq(get_string(obj, "server_name"), "");
    cr_assert_gt(strlen(get_string(obj, "logger")), 100);
    cr_assert_eq(strspn(get_string(obj, "logger"), "x"), strlen(get_string(obj, "logger")));
    json_decref(obj);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    const mt_log_format_t *format;
    int thread_number;
    int mismatches;
} render_job_t;

static void *render_many(void *arg)
{
    render_job_t *job = arg;
    mt_log_record_t r = sample_record();
    r.pid = job->thread_number;
    char want[256], buf[256];
    snprintf(want, sizeof want,
             "muleteer.jobs.handler WARNI 2026-11-29 09:00:00,123 [p:%d,w:0,m:2] [MainThread] hello\n",
             job->thread_number);
    for (int i = 0; i < 20000; i++) {
        mt_log_format_render(job->format, &r, buf, sizeof buf);
        if (strcmp(buf, want) != 0)
            job->mismatches++;
    }
    return NULL;
}

Test(log_format, one_format_rendered_from_many_threads)
{
    mt_log_format_t *f = compile_ok(PROPOSAL_FORMAT, NULL);
    pthread_t threads[4];
    render_job_t jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (render_job_t){.format = f, .thread_number = 1000 + i};
        cr_assert_eq(pthread_create(&threads[i], NULL, render_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        cr_assert_eq(jobs[i].mismatches, 0, "thread %d", i);
    }
    mt_log_format_free(f);
}
