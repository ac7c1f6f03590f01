/*
 * mule-echo: an external mule program, written against the documented wire
 * format only (docs/messages.md), with no muleteer code linked in.
 *
 * Start it as a mule with --mule=/path/to/mule-echo. The master passes its
 * message channels as inherited descriptors listed in MULETEER_MSG_FDS
 * (comma-separated: its own channel first, then one per farm it belongs
 * to). For every message it writes one line, "<target> <payload>", to the
 * file named by MULE_ECHO_FILE (appending), or to stdout. SIGTERM stops it.
 *
 * A program like this may be written in any language: poll the
 * descriptors, read one datagram at a time (up to MULETEER_MSG_MAX bytes),
 * and expect EAGAIN when another mule of the farm took the message first.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 64
#define EXIT_FATAL 78 /* tells the master: misconfigured, do not respawn */

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(void)
{
    const char *list = getenv("MULETEER_MSG_FDS");
    const char *max_env = getenv("MULETEER_MSG_MAX");
    if (!list || !*list) {
        fprintf(stderr, "mule-echo: MULETEER_MSG_FDS is not set: start me as a muleteer mule\n");
        return EXIT_FATAL;
    }
    struct pollfd fds[MAX_FDS];
    int nfds = 0;
    for (const char *p = list; *p && nfds < MAX_FDS;) {
        char *end;
        long fd = strtol(p, &end, 10);
        if (end == p || fd < 0) {
            fprintf(stderr, "mule-echo: bad MULETEER_MSG_FDS \"%s\"\n", list);
            return EXIT_FATAL;
        }
        fds[nfds++] = (struct pollfd){.fd = (int)fd, .events = POLLIN};
        p = *end == ',' ? end + 1 : end;
    }
    size_t max = max_env ? (size_t)strtoul(max_env, NULL, 10) : 65536;
    unsigned char *buf = malloc(max + 1);
    FILE *out = stdout;
    const char *path = getenv("MULE_ECHO_FILE");
    if (path && !(out = fopen(path, "a"))) {
        fprintf(stderr, "mule-echo: %s: %s\n", path, strerror(errno));
        return EXIT_FATAL;
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    fprintf(stderr, "mule-echo: %s ready on %d channel(s)\n", getenv("MULETEER_SERVER_NAME"), nfds);

    while (!stop) {
        if (poll(fds, (nfds_t)nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("mule-echo: poll");
            free(buf);
            return 1;
        }
        for (int i = 0; i < nfds; i++) {
            if (!(fds[i].revents & POLLIN))
                continue;
            ssize_t n = recv(fds[i].fd, buf, max, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    continue; /* another mule of the farm won the race */
                perror("mule-echo: recv");
                free(buf);
                return 1;
            }
            /* Header: 'M', version 1, target length, flags, u32 sender slot. */
            if (n < 8 || buf[0] != 'M' || buf[1] != 1 || buf[2] == 0 || (size_t)n < 8u + buf[2]) {
                fprintf(stderr, "mule-echo: malformed message of %zd bytes\n", n);
                continue;
            }
            size_t tlen = buf[2];
            fprintf(out, "%.*s %.*s\n", (int)tlen, (const char *)buf + 8, (int)((size_t)n - 8 - tlen),
                    (const char *)buf + 8 + tlen);
            fflush(out);
        }
    }
    fprintf(stderr, "mule-echo: stopping\n");
    free(buf);
    if (out != stdout)
        fclose(out);
    return 0;
}
