/*
 * job_waiter: the files a job's waiter leaves for its handler (see job_waiter.h).
 *
 * Text, one line each, so that an operator can read them too:
 *   exit_status  "exit 0 attempt 1 pid 4711", "signal 9 ...", "fenced 15 ...", "failed 2 ...",
 *                then " disk-full" and " cpu MICROSECONDS" (the waiter's own CPU) when there is something to say
 *   waiter       "pid 4710 start 123456 command 4711 attempt 1"
 */
#include "app/run/job_waiter.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

static const char *const end_names[] = {
    [MT_WAITER_EXITED] = "exit",
    [MT_WAITER_SIGNALED] = "signal",
    [MT_WAITER_FENCED] = "fenced",
    [MT_WAITER_FAILED] = "failed",
};

int64_t mt_waiter_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Write text to DIR/NAME through DIR/.NAME.tmp and a rename. */
static int write_replace(const char *dir, const char *name, const char *text, size_t len)
{
    char tmp[4200], path[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= sizeof tmp ||
        (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return -ENAMETOOLONG;
    (void)unlink(tmp); /* what a waiter killed mid-write left; O_EXCL below then never follows a planted link */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, len);
    int e = n == (ssize_t)len ? 0 : n < 0 ? errno : EIO;
    if (close(fd) < 0 && e == 0)
        e = errno;
    if (e == 0 && rename(tmp, path) < 0)
        e = errno;
    if (e != 0)
        (void)unlink(tmp);
    return -e;
}

/* Read DIR/NAME (a small file, no link followed) into buf, NUL-terminated. */
static int read_small(const char *dir, const char *name, char *buf, size_t len)
{
    char path[4200];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int e = n < 0 ? errno : 0;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = '\0';
    return 0;
}

int mt_waiter_status_format(const mt_waiter_status_t *st, char *buf, size_t len)
{
    const char *name = (unsigned)st->end < sizeof end_names / sizeof end_names[0] ? end_names[st->end] : "failed";
    char cpu[32] = "";
    if (st->cpu_us > 0)
        snprintf(cpu, sizeof cpu, " cpu %lld", (long long)st->cpu_us);
    return snprintf(buf, len, "%s %d attempt %d pid %d%s%s\n", name, st->value, st->attempt, (int)st->pid,
                    st->disk_full ? " disk-full" : "", cpu);
}

int mt_waiter_status_parse(const char *text, mt_waiter_status_t *st)
{
    char name[16];
    int value, attempt, pid, used = 0;
    if (sscanf(text, "%15s %d attempt %d pid %d%n", name, &value, &attempt, &pid, &used) != 4 || used == 0 ||
        attempt < 1 || pid < 0)
        return -EINVAL;
    bool disk_full = false;
    if (strncmp(text + used, " disk-full", 10) == 0) {
        disk_full = true;
        used += 10;
    }
    long long cpu_us = 0;
    int more = 0;
    if (strncmp(text + used, " cpu ", 5) == 0) {
        if (sscanf(text + used, " cpu %lld%n", &cpu_us, &more) != 1 || more == 0 || cpu_us < 0)
            return -EINVAL;
        used += more;
    }
    if (strcmp(text + used, "\n") != 0)
        return -EINVAL;
    for (size_t i = 0; i < sizeof end_names / sizeof end_names[0]; i++) {
        if (strcmp(name, end_names[i]) == 0) {
            *st = (mt_waiter_status_t){.end = (mt_waiter_end_t)i, .value = value, .attempt = attempt, .pid = pid,
                                       .disk_full = disk_full, .cpu_us = cpu_us};
            return 0;
        }
    }
    return -EINVAL;
}

int mt_waiter_status_write(const char *dir, const mt_waiter_status_t *st)
{
    char line[128];
    int n = mt_waiter_status_format(st, line, sizeof line);
    return write_replace(dir, MT_WAITER_STATUS_FILE, line, (size_t)n);
}

int mt_waiter_status_read(const char *dir, mt_waiter_status_t *st)
{
    char buf[128];
    int rc = read_small(dir, MT_WAITER_STATUS_FILE, buf, sizeof buf);
    return rc < 0 ? rc : mt_waiter_status_parse(buf, st);
}

int mt_waiter_id_write(const char *dir, const mt_waiter_id_t *id)
{
    char line[160];
    int n = snprintf(line, sizeof line, "pid %d start %llu command %d attempt %d\n", (int)id->waiter_pid,
                     id->start_ticks, (int)id->command_pid, id->attempt);
    return write_replace(dir, MT_WAITER_PID_FILE, line, (size_t)n);
}

int mt_waiter_id_read(const char *dir, mt_waiter_id_t *id)
{
    char buf[160];
    int rc = read_small(dir, MT_WAITER_PID_FILE, buf, sizeof buf);
    if (rc < 0)
        return rc;
    int wpid, cpid, attempt, used = 0;
    unsigned long long ticks;
    if (sscanf(buf, "pid %d start %llu command %d attempt %d\n%n", &wpid, &ticks, &cpid, &attempt, &used) != 4 ||
        used == 0 || buf[used] != '\0' || wpid <= 1 || cpid <= 1 || attempt < 1)
        return -EINVAL;
    *id = (mt_waiter_id_t){.waiter_pid = wpid, .start_ticks = ticks, .command_pid = cpid, .attempt = attempt};
    return 0;
}

void mt_waiter_files_remove(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, MT_WAITER_STATUS_FILE);
    (void)unlink(path);
    snprintf(path, sizeof path, "%s/%s", dir, MT_WAITER_PID_FILE);
    (void)unlink(path);
}

/* Fields 3 (state) and 22 (start time) of /proc/PID/stat. False if the process is gone. */
static bool proc_stat(pid_t pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* "pid (comm) state ...": comm may hold spaces and parentheses; field 22 is the 20th after it. */
    char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %c", state) != 1)
        return false;
    for (int field = 3; field <= 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return false;
    }
    return sscanf(p + 1, "%llu", start) == 1;
}

unsigned long long mt_waiter_start_ticks(pid_t pid)
{
    char state;
    unsigned long long start;
    return proc_stat(pid, &state, &start) ? start : 0;
}

bool mt_waiter_alive(const mt_waiter_id_t *id, const char *dir)
{
    char state;
    unsigned long long start;
    if (!proc_stat(id->waiter_pid, &state, &start) || state == 'Z' || state == 'X' || start != id->start_ticks)
        return false;
    /* Its command line: "muleteer-waiter --job-dir DIR ...": the program and this job's directory. */
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)id->waiter_pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *prog = strrchr(buf, '/');
    prog = prog ? prog + 1 : buf;
    if (strcmp(prog, MT_WAITER_PROGRAM) != 0)
        return false;
    const char *arg = buf + strlen(buf) + 1;
    if (arg >= buf + n || strcmp(arg, "--job-dir") != 0)
        return false;
    arg += strlen(arg) + 1;
    return arg < buf + n && strcmp(arg, dir) == 0;
}

int mt_waiter_fence_read(int fd, int64_t *deadline_ns)
{
    /* A removed fence (its handler stopped for good): nobody answers for the commands any more. */
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_nlink == 0)
        return 0;
    char buf[64];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n < 0)
        return -errno;
    if (n == 0)
        return 0;
    buf[n] = '\0';
    long long a, b;
    int used = 0;
    if (sscanf(buf, "%lld %lld\n%n", &a, &b, &used) != 2 || used == 0 || a != b)
        return -EAGAIN;
    *deadline_ns = a;
    return 1;
}
