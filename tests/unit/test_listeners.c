/*
 * Tests of the listening sockets (src/stack/listeners.c): what http,
 * socket and shared-socket bind and serve, =N, unix sockets (mode, a stale
 * file taken over, a live one or a plain file refused, removal by the
 * owner only), IPv6, and the check that records every error.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "stack/config.h"
#include "stack/listeners.h"
#include "stack/options.h"

static char dir[64];
static mt_config_t *cfg;
static mt_listeners_t *l;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/mt_listen_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    l = NULL;
    cfg = NULL;
    mt_log_set_level(MT_LOG_ALERT);
}

static void teardown(void)
{
    mt_listeners_destroy(l);
    mt_config_destroy(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
}

TestSuite(listeners, .init = setup, .fini = teardown, .timeout = 20);

/* Load the stack's options from the arguments (NULL-terminated). */
static void load(const char *first, ...)
{
    char *argv[32] = {"muleteer"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    mt_config_destroy(cfg);
    cfg = mt_config_create();
    cr_assert_eq(mt_config_add_section(cfg, MT_STACK_SECTION, MT_STACK_SECTION_ALIAS, mt_stack_options), 0);
    char err[512];
    cr_assert_eq(mt_config_load(cfg, argc, argv, err, sizeof err), 0, "%s", err);
}

static int open_them(char *err, size_t errlen)
{
    mt_listeners_destroy(l);
    l = NULL;
    return mt_listeners_open(cfg, &l, err, errlen);
}

static int port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int is_listening(int fd)
{
    int v = 0;
    socklen_t n = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &n) == 0 && v;
}

Test(listeners, http_alone_by_default)
{
    load("--http", "127.0.0.1:0", NULL);
    char err[512];
    cr_assert_eq(open_them(err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_listeners_count(l), 1);
    cr_assert_eq(mt_listeners_proto(l, 0), MT_LISTEN_HTTP);
    cr_assert(is_listening(mt_listeners_fd(l, 0)));
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", port_of(mt_listeners_fd(l, 0)));
    cr_assert_str_eq(mt_listeners_addr(l, 0), want, "the real port is reported");
    cr_assert(fcntl(mt_listeners_fd(l, 0), F_GETFD) & FD_CLOEXEC);
    cr_assert(fcntl(mt_listeners_fd(l, 0), F_GETFL) & O_NONBLOCK);
}

Test(listeners, socket_alone_opens_no_http)
{
    load("--socket", "127.0.0.1:0", NULL); /* http left at its default */
    char err[512];
    cr_assert_eq(open_them(err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_listeners_count(l), 1);
    cr_assert_eq(mt_listeners_proto(l, 0), MT_LISTEN_UWSGI);
    char buf[256];
    cr_assert(strncmp(mt_listeners_describe(l, buf, sizeof buf), "uwsgi on 127.0.0.1:", 19) == 0, "%s", buf);
}

Test(listeners, http_and_sockets_in_order_and_ipv6)
{
    char path[128];
    snprintf(path, sizeof path, "%s/u.sock", dir);
    load("--http", "127.0.0.1:0", "--socket", path, "--socket", "[::1]:0", NULL);
    char err[512];
    int rc = open_them(err, sizeof err);
    if (rc == -EADDRNOTAVAIL || (rc < 0 && strstr(err, "::1") != NULL))
        cr_skip_test("no IPv6 loopback here: %s", err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(mt_listeners_count(l), 3);
    cr_assert_eq(mt_listeners_proto(l, 0), MT_LISTEN_HTTP);
    cr_assert_eq(mt_listeners_proto(l, 1), MT_LISTEN_UWSGI);
    cr_assert_str_eq(mt_listeners_addr(l, 1), path);
    cr_assert(strncmp(mt_listeners_addr(l, 2), "[::1]:", 6) == 0 && port_of(mt_listeners_fd(l, 2)) > 0);
}

Test(listeners, shared_sockets_by_number)
{
    load("--shared-socket", "127.0.0.1:0", "--shared-socket", "127.0.0.1:0", "--http", "=1", "--socket", "=0", NULL);
    char err[512];
    cr_assert_eq(open_them(err, sizeof err), 0, "%s", err);
    cr_assert_eq(mt_listeners_count(l), 2);
    cr_assert(strstr(mt_listeners_addr(l, 0), "(shared socket 1)") != NULL, "%s", mt_listeners_addr(l, 0));
    cr_assert(strstr(mt_listeners_addr(l, 1), "(shared socket 0)") != NULL, "%s", mt_listeners_addr(l, 1));
    cr_assert_neq(mt_listeners_fd(l, 0), mt_listeners_fd(l, 1));
}

Test(listeners, unix_socket_mode_takeover_and_removal)
{
    char path[128];
    snprintf(path, sizeof path, "%s/u.sock", dir);
    /* a stale socket file: bound, never listened on, closed */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(path), sizeof sun.sun_path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    cr_assert_eq(bind(stale, (struct sockaddr *)&sun, sizeof sun), 0);
    close(stale);
    load("--socket", path, "--chmod-socket=640", NULL);
    char err[512];
    cr_assert_eq(open_them(err, sizeof err), 0, "%s", err);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0640);

    /* a second stack on the same path: refused while this one listens */
    mt_listeners_t *other = NULL;
    cr_assert_eq(mt_listeners_open(cfg, &other, err, sizeof err), -EADDRINUSE);
    cr_assert(strstr(err, "another process accepts connections on it") != NULL, "%s", err);
    cr_assert_eq(stat(path, &st), 0, "the refused one removed nothing");

    /* only the owner removes the file */
    mt_listeners_owned_by(l, getpid() + 1);
    mt_listeners_destroy(l);
    l = NULL;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(open_them(err, sizeof err), 0, "%s", err); /* stale again: taken over */
    mt_listeners_destroy(l);
    l = NULL;
    cr_assert_eq(stat(path, &st), -1, "removed by its owner");
}

Test(listeners, chmod_socket_without_value_is_666)
{
    char path[128];
    snprintf(path, sizeof path, "%s/u.sock", dir);
    load("--socket", path, "--chmod-socket", NULL);
    char err[512];
    cr_assert_eq(open_them(err, sizeof err), 0, "%s", err);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0666);
}

Test(listeners, a_failure_undoes_what_was_bound)
{
    char path[128], plain[128];
    snprintf(path, sizeof path, "%s/u.sock", dir);
    snprintf(plain, sizeof plain, "%s/plain", dir);
    close(open(plain, O_CREAT | O_WRONLY, 0644));
    load("--socket", path, "--socket", plain, NULL);
    char err[512];
    cr_assert_eq(open_them(err, sizeof err), -EEXIST);
    cr_assert(strstr(err, "command line: option '--socket': cannot listen on ") != NULL, "%s", err);
    cr_assert(strstr(err, "the file exists and is not a socket") != NULL, "%s", err);
    cr_assert_null(l);
    struct stat st;
    cr_assert_eq(stat(path, &st), -1, "the first socket's file was removed again");
    cr_assert_eq(stat(plain, &st), 0, "the plain file is left alone");
}

Test(listeners, the_check_records_every_error_and_binds_nothing)
{
    load("--shared-socket", "=1", "--shared-socket", "127.0.0.1:1", "--socket", "=3", "--socket", "=1",
         "--socket", "host:port", "--socket", "", "--chmod-socket=8", NULL);
    cr_assert_lt(mt_listeners_check(cfg), 0);
    const char *want[] = {
        "option '--chmod-socket': \"8\" is not an octal mode",
        "option '--shared-socket': \"=1\": a shared socket is an address, not =N",
        "option '--socket': \"=3\": there is no shared socket 3 (2 shared-socket options given)",
        "option '--socket': \"host:port\" has no valid port",
        "option '--socket': an address is needed",
    };
    size_t n = mt_config_error_count(cfg);
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || strstr(mt_config_error_get(cfg, i), want[w]) != NULL;
        cr_assert(found, "missing: %s", want[w]);
    }
    for (size_t i = 0; i < n; i++)
        cr_assert(strstr(mt_config_error_get(cfg, i), "=1\": there is no") == NULL, "=1 names a shared socket");

    /* a good configuration checks clean, even for a port it could not bind */
    load("--shared-socket", "127.0.0.1:1", "--http", "=0", NULL);
    cr_assert_eq(mt_listeners_check(cfg), 0);
    cr_assert_eq(mt_config_error_count(cfg), 0);
}
