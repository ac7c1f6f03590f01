/*
 * fuzz_log_format: mt_log_format_compile() on arbitrary bytes, split at
 * the first NUL into a %-style format and a datefmt (no NUL: no datefmt),
 * then mt_log_format_render() of fixed records into buffers of several
 * sizes; and the JSON-lines format on a record whose message is the input.
 *
 * Checks (log_format.h):
 *   - compiling gives a format, or NULL with a non-empty one-line message
 *     (no CR, no LF) that names the offset of the '%' at fault ("... at
 *     offset N", fmt[N] == '%'), or, when a datefmt was given, says the
 *     datefmt is at fault ("datefmt ...": a datefmt has no offset);
 *   - every render into a buffer of `size` bytes (sizes[]: 2, the least
 *     allowed, up to 4096, the logging core's line) returns a length
 *     <= size - 1;
 *     the line is NUL-terminated at that length, holds no other NUL, ends
 *     with '\n' and has no other '\n' or '\r' (control characters of the
 *     record and CR/LF of the format become spaces);
 *   - a render that is cut is a prefix of the full line, and a render
 *     that fits is the full line (rendering is a function of the format,
 *     the record and the size);
 *   - two records are rendered: one with fixed awkward strings (newlines,
 *     control characters, quotes, multi-byte UTF-8, a long message) and
 *     one whose message is the input up to its first NUL;
 *   - the JSON-lines format renders, for a record whose message is the
 *     input up to its first NUL, lines that jansson parses as one object
 *     (or, in a buffer too small for even "{}", an empty line), with the
 *     keys of log_format.h when the buffer holds them; when the input is
 *     UTF-8 the message read back is a prefix of it, and all of it unless
 *     the line fills the buffer (a cut drops at most one escaped
 *     character, 6 bytes);
 *   - no leaks (LeakSanitizer under libFuzzer and `make asan`).
 *
 * FUZZ_VERBOSE=1 in the environment prints each outcome and the lines.
 */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "common/log_format.h"
#include "fuzz.h"

/* The sizes rendered into, the last the largest (and the logging core's line size). */
static const size_t sizes[] = { 2, 3, 4, 17, 64, 257, 4096 };
#define SIZE_COUNT (sizeof sizes / sizeof sizes[0])
#define LARGEST 4096

static char *copy_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL, "out of memory");
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static mt_log_record_t fixed_record(const char *message)
{
    return (mt_log_record_t){
        .time_us = 1795165228119277, /* November 2026, with microseconds */
        .start_us = 1795165220000000,
        .level = MT_LOG_WARN,
        .logger = "muleteer.jobs.\"handler\"\\",
        .pid = 4242,
        .thread_id = 4243,
        .thread_name = "Web\tThread-1\r\n\x1b[31m",
        .worker_id = 2,
        .mule_id = 0,
        .server_id = 2,
        .server_name = "main.web.2 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
        .pool_name = NULL,
        .message = message,
    };
}

/* The checks every rendered line passes; returns its length. */
static size_t check_line(const char *buf, size_t len, size_t size, const char *what)
{
    FUZZ_CHECK(len >= 1 && len <= size - 1, "%s: render into %zu bytes returned %zu", what, size, len);
    FUZZ_CHECK(buf[len] == '\0', "%s, %zu bytes: not NUL-terminated at its length %zu", what, size, len);
    FUZZ_CHECK(strlen(buf) == len, "%s, %zu bytes: a NUL inside the line, at %zu of %zu", what, size, strlen(buf),
               len);
    FUZZ_CHECK(buf[len - 1] == '\n', "%s, %zu bytes: the line does not end with a newline", what, size);
    const char *cr = memchr(buf, '\r', len), *lf = memchr(buf, '\n', len - 1);
    FUZZ_CHECK(cr == NULL && lf == NULL, "%s, %zu bytes: a %s at %zu of a %zu-byte line", what, size,
               cr ? "CR" : "LF", (size_t)((cr ? cr : lf) - buf), len);
    return len;
}

/* Render r with f into every size; the cut lines are prefixes of the full one. */
static void check_renders(const mt_log_format_t *f, const mt_log_record_t *r, const char *what)
{
    static char full[LARGEST], buf[LARGEST];
    size_t full_len = check_line(full, mt_log_format_render(f, r, full, sizeof full), sizeof full, what);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "%s: %s", what, full);
    for (size_t i = 0; i + 1 < SIZE_COUNT; i++) {
        size_t size = sizes[i];
        memset(buf, 0x5a, size);
        size_t len = check_line(buf, mt_log_format_render(f, r, buf, size), size, what);
        if (full_len <= size - 1)
            FUZZ_CHECK(len == full_len && memcmp(buf, full, len) == 0,
                       "%s: the line fits %zu bytes but differs from the one rendered into %d", what, size, LARGEST);
        else
            FUZZ_CHECK(len <= full_len && memcmp(buf, full, len - 1) == 0,
                       "%s: the line cut to %zu bytes is not a prefix of the full line", what, size);
    }
}

static void check_compile_error(const char *err, const char *fmt, const char *datefmt)
{
    FUZZ_CHECK(err[0] != '\0', "compile failed without a message");
    FUZZ_CHECK(strpbrk(err, "\r\n") == NULL, "compile error of more than one line: \"%s\"", err);
    if (datefmt != NULL && strncmp(err, "datefmt ", 8) == 0)
        return;
    /* The last "at offset N": a quoted field name before it may hold those words too. */
    const char *at = NULL;
    for (const char *p = err; (p = strstr(p, "at offset ")) != NULL; p++)
        at = p;
    FUZZ_CHECK(at != NULL, "compile error without an offset: \"%s\"", err);
    char *end;
    unsigned long offset = strtoul(at + 10, &end, 10);
    FUZZ_CHECK(end != at + 10, "compile error without an offset: \"%s\"", err);
    FUZZ_CHECK(offset < strlen(fmt) && fmt[offset] == '%', "compile error names offset %lu, not a '%%': \"%s\"",
               offset, err);
}

/* Does this JSON line (without its '\n') parse as one object? Returns it (new reference) or NULL. */
static json_t *parse_json_line(const char *buf, size_t len, size_t size)
{
    json_error_t error;
    json_t *doc = json_loadb(buf, len - 1, 0, &error);
    FUZZ_CHECK(json_is_object(doc), "JSON line into %zu bytes does not parse as an object (%s at %d): %s", size,
               error.text, error.position, buf);
    return doc;
}

static void check_json(const char *message)
{
    static char buf[LARGEST];
    mt_log_record_t r = fixed_record(message);
    json_t *utf8 = json_string(message); /* NULL when the message is not UTF-8 */
    for (size_t i = 0; i < SIZE_COUNT; i++) {
        size_t size = sizes[i];
        memset(buf, 0x5a, size);
        size_t len = check_line(buf, mt_log_format_render(mt_log_format_json(), &r, buf, size), size, "json");
        if (len == 1) {
            FUZZ_CHECK(size - 2 < 2, "JSON: an empty line in %zu bytes, which hold \"{}\"", size);
            continue;
        }
        json_t *doc = parse_json_line(buf, len, size);
        if (json_object_size(doc) > 0) {
            static const char *const keys[] = { "time", "level", "logger", "pid", "worker_id", "mule_id",
                                                "server_name", "pool_name", "thread", "message" };
            FUZZ_CHECK(json_object_size(doc) == sizeof keys / sizeof keys[0], "JSON: %zu keys",
                       json_object_size(doc));
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
                FUZZ_CHECK(json_object_get(doc, keys[k]) != NULL, "JSON line without \"%s\": %s", keys[k], buf);
            const char *got = json_string_value(json_object_get(doc, "message"));
            FUZZ_CHECK(got != NULL, "JSON message is not a string");
            if (utf8 != NULL) {
                size_t n = strlen(got);
                FUZZ_CHECK(strncmp(got, message, n) == 0, "JSON message is not a prefix of the input's");
                FUZZ_CHECK(message[n] == '\0' || len - 1 + 6 > size - 2,
                           "JSON message cut to %zu of %zu bytes in a %zu-byte line of a %zu-byte buffer", n,
                           strlen(message), len, size);
            }
        }
        json_decref(doc);
    }
    json_decref(utf8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    char *fmt = copy_string(data, nul ? (size_t)(nul - data) : size);
    char *datefmt = nul ? copy_string(nul + 1, size - (size_t)(nul + 1 - data)) : NULL;

    char err[1024];
    memset(err, 0, sizeof err);
    mt_log_format_t *f = mt_log_format_compile(fmt, datefmt, err, sizeof err);
    if (getenv("FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "compile: %s\n", f ? "ok" : err);
    if (f == NULL) {
        check_compile_error(err, fmt, datefmt);
    } else {
        static const char pattern[] = "\xc3\xa9line\n\x01\t\"\\ ";
        static char long_message[3000]; /* cut inside its UTF-8 characters by the smaller buffers */
        if (long_message[0] == '\0') {
            for (size_t i = 0; i + 1 < sizeof long_message; i++)
                long_message[i] = pattern[i % (sizeof pattern - 1)];
        }
        mt_log_record_t awkward = fixed_record(long_message);
        check_renders(f, &awkward, "fixed record");
        mt_log_record_t input = fixed_record(fmt);
        check_renders(f, &input, "record of the input");
        mt_log_format_free(f);
    }
    check_json(fmt);
    free(fmt);
    free(datefmt);
    return 0;
}
