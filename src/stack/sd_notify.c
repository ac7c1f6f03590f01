/*
 * sd_notify: systemd's notification protocol, by hand, and the master's
 * readiness, reload, stop, status and watchdog notifications (see sd_notify.h).
 */
#define MT_LOG_NAME "muleteer.stack.sd_notify"

#include "stack/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "stack/proctable.h"

/* While waiting for the processes to come up, the master looks this often (their first beats wake nothing). */
#define SD_READY_CHECK_MS 50

typedef enum { SD_STARTING, SD_UP, SD_RELOADING, SD_STOPPING } sd_phase_t;

static struct {
    bool enabled;
    char socket[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* NOTIFY_SOCKET as given */
    bool daemonized;
    int64_t watchdog_us;      /* 0: no watchdog */
    int64_t watchdog_next_us; /* CLOCK_MONOTONIC of the next WATCHDOG=1 */
    sd_phase_t phase;
    bool reload_all_now;      /* reload_now: over when every child was forked after reload_since_us */
    bool reload_done;         /* a rolling reload has restarted its last process */
    int64_t reload_since_us;
    char status[256];         /* the last STATUS= sent */
    int last_errno;           /* the last send failure logged, so that a dead socket is said once */
} sd;

static int send_to(const char *addr, const char *text)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(addr);
    if ((addr[0] != '/' && addr[0] != '@') || len < 2 || len > sizeof sa.sun_path)
        return -EAFNOSUPPORT;
    memcpy(sa.sun_path, addr, len);
    if (addr[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: no terminating NUL, the length says where it ends */
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (addr[0] == '/' ? 1 : 0));
    if (addr[0] == '/' && len == sizeof sa.sun_path)
        salen--; /* a path filling sun_path has no room for its NUL */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct iovec iov = {.iov_base = (void *)text, .iov_len = strlen(text)};
    struct msghdr msg = {.msg_name = &sa, .msg_namelen = salen, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    int rc = n < 0 ? -errno : 1;
    close(fd);
    return rc;
}

int mt_sd_notify(const char *text)
{
    const char *addr = sd.enabled ? sd.socket : getenv("NOTIFY_SOCKET");
    if (!addr || !*addr)
        return 0;
    return send_to(addr, text);
}

/* Send, and log a failure once (until the socket works again or fails another way). */
static void notify(const char *text)
{
    if (!sd.enabled)
        return;
    int rc = send_to(sd.socket, text);
    if (rc < 0 && -rc != sd.last_errno)
        mt_warn("NOTIFY_SOCKET=%s: cannot send \"%.*s\": %s", sd.socket, (int)strcspn(text, "\n"), text,
                strerror(-rc));
    sd.last_errno = rc < 0 ? -rc : 0;
}

void mt_sd_init(bool daemonized)
{
    const char *addr = getenv("NOTIFY_SOCKET");
    const char *usec = getenv("WATCHDOG_USEC");
    const char *wpid = getenv("WATCHDOG_PID");
    memset(&sd, 0, sizeof sd);
    sd.daemonized = daemonized;
    if (addr && *addr) {
        size_t len = strlen(addr);
        if ((addr[0] != '/' && addr[0] != '@') || len < 2 || len > sizeof sd.socket - 1)
            mt_error("NOTIFY_SOCKET=%s: not an absolute path nor an abstract socket name ('@...') of at most %zu "
                     "bytes: systemd notifications are off",
                     addr, sizeof sd.socket - 1);
        else {
            memcpy(sd.socket, addr, len + 1);
            sd.enabled = true;
        }
    }
    if (sd.enabled && usec && *usec) {
        char *end;
        errno = 0;
        long long us = strtoll(usec, &end, 10);
        long long pid = wpid && *wpid ? strtoll(wpid, NULL, 10) : 0;
        if (errno || *end || us <= 0)
            mt_error("WATCHDOG_USEC=%s: not a positive number of microseconds: the watchdog is off", usec);
        else if (pid > 0 && pid != (long long)getpid())
            mt_notice("WATCHDOG_PID=%lld is not the master (pid %d): the master does not ping the watchdog", pid,
                      (int)getpid());
        else
            sd.watchdog_us = us;
    }
    /* Only the master speaks to systemd: nothing it starts may find the socket (NotifyAccess=main). */
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    if (!sd.enabled)
        return;
    sd.phase = SD_STARTING;
    sd.watchdog_next_us = mt_clock_us();
    if (sd.watchdog_us > 0)
        mt_info("systemd: notifying %s; watchdog every %.3f s (WATCHDOG_USEC=%lld)", sd.socket,
                (double)sd.watchdog_us / 2e6, (long long)sd.watchdog_us);
    else
        mt_info("systemd: notifying %s", sd.socket);
}

bool mt_sd_enabled(void)
{
    return sd.enabled;
}

int64_t mt_sd_watchdog_usec(void)
{
    return sd.watchdog_us;
}

static bool is_child(const mt_proc_t *p)
{
    return p->role == MT_ROLE_WEB || p->role == MT_ROLE_MULE;
}

/* A child is up once running and, if it beats, beaten since its fork; forked at or after since_us (0: any). */
static bool child_up(const mt_proc_t *p, int64_t since_us)
{
    if (atomic_load(&p->live->pid) <= 0 || atomic_load(&p->live->state) != MT_PROC_RUNNING)
        return false;
    int64_t forked = atomic_load(&p->live->forked_mono_us);
    if (forked < since_us)
        return false;
    if (!mt_proc_beats(p))
        return true;
    int64_t beat = atomic_load(&p->live->beat_mono_us);
    return beat > 0 && beat >= forked;
}

/* Children up (forked at or after since_us), and children in all. */
static size_t count_up(const mt_stack_t *stack, int64_t since_us, size_t *total)
{
    size_t up = 0;
    *total = 0;
    for (size_t i = 1; i < stack->procs.nprocs; i++) {
        const mt_proc_t *p = &stack->procs.procs[i];
        if (!is_child(p))
            continue;
        (*total)++;
        up += child_up(p, since_us);
    }
    return up;
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* The one-line summary: what phase, and what runs. */
static void summary(const mt_stack_t *stack, char *buf, size_t len)
{
    const mt_proctable_t *t = &stack->procs;
    size_t total, up = count_up(stack, 0, &total), alive = 0, waiting = 0;
    for (size_t i = 1; i < t->nprocs; i++) {
        const mt_proc_t *p = &t->procs[i];
        if (!is_child(p))
            continue;
        alive += atomic_load(&p->live->pid) > 0;
        waiting += atomic_load(&p->live->state) == MT_PROC_BACKOFF;
    }
    char counts[128];
    snprintf(counts, sizeof counts, "%zu web worker%s, %zu mule%s, %zu farm%s", t->nweb, plural(t->nweb), t->nmules,
             plural(t->nmules), t->nfarms, plural(t->nfarms));
    switch (sd.phase) {
    case SD_STARTING:
        snprintf(buf, len, "starting: %zu of %zu processes up (%s)", up, total, counts);
        return;
    case SD_RELOADING: {
        size_t fresh = count_up(stack, sd.reload_since_us, &total);
        snprintf(buf, len, "reloading: %zu of %zu processes restarted (%s)", fresh, total, counts);
        return;
    }
    case SD_STOPPING:
        snprintf(buf, len, "stopping: %zu process%s left", alive, alive == 1 ? "" : "es");
        return;
    case SD_UP:
        break;
    }
    if (up == total)
        snprintf(buf, len, "up: %s", counts);
    else if (waiting > 0)
        snprintf(buf, len, "up: %s; %zu of %zu processes up, %zu waiting to be respawned", counts, up, total, waiting);
    else
        snprintf(buf, len, "up: %s; %zu of %zu processes up", counts, up, total);
}

/* Send `head` (possibly "") with STATUS= the current summary, and remember it. */
static void notify_with_status(const mt_stack_t *stack, const char *head)
{
    char text[512];
    summary(stack, sd.status, sizeof sd.status);
    snprintf(text, sizeof text, "%s%sSTATUS=%s", head, *head ? "\n" : "", sd.status);
    notify(text);
}

void mt_sd_tick(const mt_stack_t *stack)
{
    if (!sd.enabled)
        return;
    bool coming_up = sd.phase == SD_STARTING || (sd.phase == SD_RELOADING && (sd.reload_done || sd.reload_all_now));
    size_t total;
    if (coming_up && count_up(stack, sd.reload_all_now ? sd.reload_since_us : 0, &total) == total) {
        char head[64] = "READY=1";
        if (sd.phase == SD_STARTING && sd.daemonized)
            snprintf(head, sizeof head, "READY=1\nMAINPID=%d", (int)getpid());
        if (sd.phase == SD_STARTING)
            mt_info("systemd: every process is up: READY=1");
        sd.phase = SD_UP;
        sd.reload_all_now = sd.reload_done = false;
        notify_with_status(stack, head);
    } else {
        char now[sizeof sd.status];
        summary(stack, now, sizeof now);
        if (strcmp(now, sd.status) != 0)
            notify_with_status(stack, "");
    }
    if (sd.watchdog_us > 0) {
        int64_t t = mt_clock_us();
        if (t >= sd.watchdog_next_us) {
            notify("WATCHDOG=1");
            sd.watchdog_next_us = t + sd.watchdog_us / 2;
        }
    }
}

int mt_sd_timeout(int timeout_ms)
{
    if (!sd.enabled)
        return timeout_ms;
    bool coming_up = sd.phase == SD_STARTING || (sd.phase == SD_RELOADING && (sd.reload_done || sd.reload_all_now));
    if (coming_up && (timeout_ms < 0 || timeout_ms > SD_READY_CHECK_MS))
        timeout_ms = SD_READY_CHECK_MS;
    if (sd.watchdog_us > 0) {
        int64_t wait_us = sd.watchdog_next_us - mt_clock_us();
        int wait_ms = wait_us <= 0 ? 0 : (int)((wait_us + 999) / 1000);
        if (timeout_ms < 0 || wait_ms < timeout_ms)
            timeout_ms = wait_ms;
    }
    return timeout_ms;
}

void mt_sd_reloading(const mt_stack_t *stack, bool all_now)
{
    if (!sd.enabled || sd.phase == SD_STOPPING)
        return;
    sd.phase = SD_RELOADING;
    sd.reload_all_now = all_now;
    sd.reload_done = false;
    sd.reload_since_us = mt_clock_us();
    char head[96];
    snprintf(head, sizeof head, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)sd.reload_since_us);
    notify_with_status(stack, head);
}

void mt_sd_reloaded(void)
{
    if (sd.enabled && sd.phase == SD_RELOADING)
        sd.reload_done = true;
}

void mt_sd_stopping(const mt_stack_t *stack)
{
    if (!sd.enabled || sd.phase == SD_STOPPING)
        return;
    sd.phase = SD_STOPPING;
    notify_with_status(stack, "STOPPING=1");
}
