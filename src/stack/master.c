/*
 * master: spawning, reaping, respawning with backoff, and shutdown (see master.h).
 */
#define MT_LOG_NAME "muleteer.stack.master"

#include "stack/master.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "stack/heartbeat.h"
#include "stack/metrics.h"
#include "stack/options.h"
#include "stack/sd_notify.h"
#include "stack/spawn.h"
#include "stack/stack.h"
#include "stack/touch_files.h"
#include "stack/undertaker.h"
#include "stack/web_worker.h"

/* How often the master looks at the mules' beats when mule-harakiri is on. */
#define MASTER_CHECK_MS 250
/* How often the master looks at the files of touch-reload and touch-chain-reload. */
#define MASTER_TOUCH_CHECK_MS 1000

/* PHASE_KILLING: an immediate stop (kill_them_all, Q), waiting only for the SIGKILLed children to be reaped. */
typedef enum { PHASE_RUNNING, PHASE_STOP_WEB, PHASE_STOP_MULES, PHASE_KILLING, PHASE_DONE } phase_t;

typedef struct slot_state {
    int64_t started_ms;     /* monotonic time of the last fork */
    int64_t respawn_at_ms;  /* > 0: respawn due at this time */
    unsigned quick_deaths;  /* consecutive deaths soon after start */
    bool restart_now;       /* SIGKILLed by an immediate reload: start again at once when reaped */
    bool harakiri;          /* SIGKILLed by mule-harakiri: said when it is reaped */
} slot_state_t;

typedef struct master {
    mt_stack_t *stack;
    slot_state_t *slots;
    int signal_fd;
    phase_t phase;
    int64_t phase_deadline_ms;
    int exit_status;
    ssize_t reload_slot;        /* child being restarted by a reload, -1 if none */
    size_t reload_next;         /* next slot to restart in this reload */
    int64_t reload_deadline_ms; /* SIGKILL reload_slot if it has not exited by then */
    int64_t stop_signal_ms;     /* when the first stop signal arrived */
    int mule_harakiri_s;        /* mule-harakiri: 0 off */
    bool reload_web_only;       /* this reload restarts the web workers only (touch-chain-reload) */
    mt_touch_files_t *touch;    /* touch-reload and touch-chain-reload files, NULL if none */
    int64_t touch_next_ms;      /* when to look at them next */
} master_t;

static mt_proc_t *proc(master_t *m, size_t slot)
{
    return &m->stack->procs.procs[slot];
}

static bool is_child(const mt_proc_t *p)
{
    return p->role == MT_ROLE_WEB || p->role == MT_ROLE_MULE;
}

static void begin_shutdown(master_t *m, int status);
static void reload_step(master_t *m);

/* Delay before the next start of a slot whose process ended (or failed to start) just now. */
static int64_t backoff_delay(slot_state_t *s, int64_t now)
{
    if (now - s->started_ms >= MT_QUICK_DEATH_MS) {
        s->quick_deaths = 0;
        return 0;
    }
    s->quick_deaths++;
    unsigned shift = s->quick_deaths - 1 < 7 ? s->quick_deaths - 1 : 7;
    int64_t delay = 100LL << shift;
    return delay > 10000 ? 10000 : delay;
}

/*
 * Fork the process of a slot. A failure at start-up stops the stack (the
 * configuration cannot work); a failure to respawn later (fork hitting a
 * process limit, a program removed since) is retried with backoff.
 */
static void spawn_slot(master_t *m, size_t slot, bool initial)
{
    mt_proc_t *p = proc(m, slot);
    slot_state_t *s = &m->slots[slot];
    char err[512];
    s->respawn_at_ms = 0;
    s->harakiri = false;
    s->started_ms = mt_clock_ms();
    /* Before the fork: the child's first beat must not be overwritten, nor its predecessor's taken for its own. */
    atomic_store(&p->live->beat_mono_us, 0);
    atomic_store(&p->live->forked_mono_us, mt_clock_us());
    atomic_store(&p->live->stop_for_reload, 0);
    pid_t pid = mt_spawn(m->stack, slot, m->signal_fd, err, sizeof err);
    if (pid < 0) {
        atomic_store(&p->live->pid, 0);
        if (initial) {
            mt_error("%s", err);
            atomic_store(&p->live->state, MT_PROC_FAILED);
            begin_shutdown(m, 1);
            return;
        }
        int64_t delay = backoff_delay(s, s->started_ms);
        mt_error("%s; trying again in %.1f s", err, (double)delay / 1000.0);
        s->respawn_at_ms = s->started_ms + (delay > 0 ? delay : 100);
        atomic_store(&p->live->state, MT_PROC_BACKOFF);
        return;
    }
    atomic_store(&p->live->started_us, mt_wall_us());
    atomic_store(&p->live->pid, pid);
    atomic_store(&p->live->state, MT_PROC_RUNNING);
}

/* Signal every live child of a role. */
static void signal_role(master_t *m, mt_role_t role, int sig)
{
    mt_proctable_t *t = &m->stack->procs;
    for (size_t i = 1; i < t->nprocs; i++) {
        mt_proc_t *p = proc(m, i);
        if (p->role != role)
            continue;
        pid_t pid = atomic_load(&p->live->pid);
        if (pid > 0) {
            if (sig == SIGTERM)
                atomic_store(&p->live->state, MT_PROC_STOPPING);
            kill(pid, sig);
        } else if (atomic_load(&p->live->state) == MT_PROC_BACKOFF || atomic_load(&p->live->state) == MT_PROC_DOWN) {
            atomic_store(&p->live->state, MT_PROC_STOPPED);
            m->slots[i].respawn_at_ms = 0;
        }
    }
}

static size_t live_count(master_t *m, mt_role_t role)
{
    size_t n = 0;
    for (size_t i = 1; i < m->stack->procs.nprocs; i++)
        n += proc(m, i)->role == role && atomic_load(&proc(m, i)->live->pid) > 0;
    return n;
}

static void enter_phase(master_t *m, phase_t phase)
{
    m->phase = phase;
    if (phase == PHASE_STOP_WEB) {
        int mercy = (int)mt_config_get_int(m->stack->config, NULL, "worker-reload-mercy");
        m->phase_deadline_ms = mt_clock_ms() + (int64_t)mercy * 1000 + 500;
        signal_role(m, MT_ROLE_WEB, SIGTERM);
        if (live_count(m, MT_ROLE_WEB) == 0)
            enter_phase(m, PHASE_STOP_MULES);
    } else if (phase == PHASE_STOP_MULES) {
        int mercy = (int)mt_config_get_int(m->stack->config, NULL, "mule-reload-mercy");
        m->phase_deadline_ms = mt_clock_ms() + (int64_t)mercy * 1000;
        signal_role(m, MT_ROLE_MULE, SIGTERM);
        if (live_count(m, MT_ROLE_MULE) == 0)
            enter_phase(m, PHASE_DONE);
    }
}

static void begin_shutdown(master_t *m, int status)
{
    if (status > m->exit_status)
        m->exit_status = status;
    if (m->phase != PHASE_RUNNING)
        return;
    m->reload_slot = -1;
    /* A stop overtakes a reload: the child being restarted stops for good, as every other one. */
    for (size_t i = 1; i < m->stack->procs.nprocs; i++)
        atomic_store(&proc(m, i)->live->stop_for_reload, 0);
    mt_info("shutting down: stopping web workers, then mules");
    mt_sd_stopping(m->stack);
    enter_phase(m, PHASE_STOP_WEB);
}

/* Describe how a child ended, for the log. */
static void describe_exit(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                 WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(buf, len, "ended with wait status %d", status);
}

static void reap(master_t *m)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        ssize_t slot = mt_proctable_find_pid(&m->stack->procs, pid);
        if (slot < 0)
            continue; /* not in the table: the undertaker (it ended early), or an exec helper reaped elsewhere */
        mt_proc_t *p = proc(m, (size_t)slot);
        const char *name = mt_proctable_server_name(&m->stack->procs, (size_t)slot);
        char how[160];
        describe_exit(status, how, sizeof how);
        if (m->slots[slot].harakiri)
            snprintf(how + strlen(how), sizeof how - strlen(how), ", sent by mule-harakiri");
        atomic_store(&p->live->pid, 0);

        if (m->phase != PHASE_RUNNING) {
            atomic_store(&p->live->state, MT_PROC_STOPPED);
            mt_info("%s (pid %d) %s", name, (int)pid, how);
            continue;
        }
        slot_state_t *s = &m->slots[slot];
        if (s->restart_now) {
            s->restart_now = false;
            mt_info("reload: %s (pid %d) %s; starting it again", name, (int)pid, how);
            spawn_slot(m, (size_t)slot, false);
            continue;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == MT_EXIT_FATAL) {
            atomic_store(&p->live->state, MT_PROC_FAILED);
            mt_error("%s (pid %d) exited with the fatal status %d: not respawning it, stopping the stack", name,
                     (int)pid, MT_EXIT_FATAL);
            begin_shutdown(m, 1);
            continue;
        }
        if (slot == m->reload_slot) {
            mt_info("reload: %s (pid %d) %s; starting it again", name, (int)pid, how);
            spawn_slot(m, (size_t)slot, false);
            reload_step(m);
            continue;
        }
        if (p->role == MT_ROLE_WEB && WIFEXITED(status) && WEXITSTATUS(status) == MT_EXIT_RECYCLED) {
            /* max-requests / reload-on-rss: not a death, so no respawn counted and no backoff */
            mt_info("%s (pid %d) recycled itself; starting it again", name, (int)pid);
            spawn_slot(m, (size_t)slot, false);
            continue;
        }
        int64_t now = mt_clock_ms();
        int64_t delay = backoff_delay(s, now);
        s->respawn_at_ms = now + delay;
        atomic_store(&p->live->state, MT_PROC_BACKOFF);
        atomic_fetch_add(&p->live->respawns, 1);
        mt_warn("%s (pid %d) %s; respawning in %.1f s", name, (int)pid, how, (double)delay / 1000.0);
    }
}

/*
 * mule-harakiri: SIGKILL every running built-in mule whose loop has not
 * beaten for mule_harakiri_s (one that has not beaten since its fork gets
 * that long from the fork); reap() respawns it as any dead child. SIGKILL
 * ends a SIGSTOPped process too. Mules being stopped (shutdown, a reload's
 * SIGTERM) are left to their mercy.
 */
static void check_heartbeats(master_t *m)
{
    if (m->mule_harakiri_s <= 0 || m->phase != PHASE_RUNNING)
        return;
    mt_proctable_t *t = &m->stack->procs;
    int64_t now = mt_clock_us(), limit = (int64_t)m->mule_harakiri_s * 1000000;
    for (size_t k = 0; k < t->nmules; k++) {
        size_t i = t->first_mule + k;
        mt_proc_t *p = proc(m, i);
        pid_t pid = atomic_load(&p->live->pid);
        if (!mt_proc_beats(p) || pid <= 0 || m->slots[i].harakiri || (ssize_t)i == m->reload_slot ||
            atomic_load(&p->live->state) != MT_PROC_RUNNING)
            continue;
        int64_t beat = atomic_load(&p->live->beat_mono_us), forked = atomic_load(&p->live->forked_mono_us);
        if (!mt_proc_beat_stale(beat, forked, now, limit))
            continue;
        const char *name = mt_proctable_server_name(t, i);
        if (beat > 0 && beat >= forked)
            mt_warn("mule-harakiri: %s (pid %d) has not beaten for %.1f s, over mule-harakiri = %d s: killing it",
                    name, (int)pid, (double)(now - beat) / 1e6, m->mule_harakiri_s);
        else
            mt_warn("mule-harakiri: %s (pid %d) has not beaten since it was started %.1f s ago, over mule-harakiri "
                    "= %d s: killing it",
                    name, (int)pid, (double)(now - forked) / 1e6, m->mule_harakiri_s);
        m->slots[i].harakiri = true;
        kill(pid, SIGKILL);
    }
}

/* Say at start what mule-harakiri watches, and what it cannot. */
static void announce_mule_harakiri(master_t *m)
{
    if (m->mule_harakiri_s <= 0)
        return;
    mt_proctable_t *t = &m->stack->procs;
    size_t watched = 0;
    for (size_t k = 0; k < t->nmules; k++) {
        mt_proc_t *p = proc(m, t->first_mule + k);
        if (mt_proc_beats(p))
            watched++;
        else
            mt_notice("mule-harakiri does not watch %s (mule %d): it runs the program %s, which has no heartbeat",
                      mt_proctable_server_name(t, t->first_mule + k), p->mule_id, p->program);
    }
    if (watched == 0)
        mt_notice("mule-harakiri = %d has no effect: this stack has no built-in mule to watch", m->mule_harakiri_s);
    else
        mt_info("mule-harakiri: a mule whose loop has not beaten for %d s is killed and respawned (%zu mule%s "
                "watched)",
                m->mule_harakiri_s, watched, watched == 1 ? "" : "s");
}

static void respawn_due(master_t *m)
{
    int64_t now = mt_clock_ms();
    for (size_t i = 1; i < m->stack->procs.nprocs && m->phase == PHASE_RUNNING; i++)
        if (m->slots[i].respawn_at_ms > 0 && m->slots[i].respawn_at_ms <= now)
            spawn_slot(m, i, false);
}

static int next_timeout(master_t *m)
{
    int64_t now = mt_clock_ms();
    /* The master's own beat, and the heartbeat check: at least this often. */
    int64_t next = now + (m->mule_harakiri_s > 0 ? MASTER_CHECK_MS : MT_BEAT_INTERVAL_MS);
    if (m->phase == PHASE_RUNNING) {
        for (size_t i = 1; i < m->stack->procs.nprocs; i++) {
            int64_t at = m->slots[i].respawn_at_ms;
            if (at > 0 && at < next)
                next = at;
        }
        if (m->reload_slot >= 0 && m->reload_deadline_ms < next)
            next = m->reload_deadline_ms;
        if (m->touch && m->touch_next_ms < next)
            next = m->touch_next_ms;
    } else if (m->phase_deadline_ms < next) {
        next = m->phase_deadline_ms;
    }
    return next <= now ? 0 : (int)(next - now);
}

static void advance_shutdown(master_t *m)
{
    int64_t now = mt_clock_ms();
    if (m->phase == PHASE_STOP_WEB) {
        if (live_count(m, MT_ROLE_WEB) == 0) {
            enter_phase(m, PHASE_STOP_MULES);
        } else if (now >= m->phase_deadline_ms) {
            mt_warn("web workers still alive after worker-reload-mercy: killing them");
            signal_role(m, MT_ROLE_WEB, SIGKILL);
            m->phase_deadline_ms = now + 1000;
        }
    } else if (m->phase == PHASE_STOP_MULES) {
        if (live_count(m, MT_ROLE_MULE) == 0) {
            enter_phase(m, PHASE_DONE);
        } else if (now >= m->phase_deadline_ms) {
            mt_warn("mules still alive after mule-reload-mercy: killing them");
            signal_role(m, MT_ROLE_MULE, SIGKILL);
            m->phase_deadline_ms = now + 1000;
        }
    } else if (m->phase == PHASE_KILLING) {
        if (live_count(m, MT_ROLE_WEB) + live_count(m, MT_ROLE_MULE) == 0) {
            enter_phase(m, PHASE_DONE);
        } else if (now >= m->phase_deadline_ms) {
            signal_role(m, MT_ROLE_WEB, SIGKILL); /* respawned meanwhile? not in this phase; kill again anyway */
            signal_role(m, MT_ROLE_MULE, SIGKILL);
            m->phase_deadline_ms = now + 1000;
        }
    }
}

/* Restart the next running child of a reload, or finish the reload. */
static void reload_step(master_t *m)
{
    mt_proctable_t *t = &m->stack->procs;
    m->reload_slot = -1;
    for (size_t i = m->reload_next; i < t->nprocs; i++) {
        mt_proc_t *p = proc(m, i);
        pid_t pid = atomic_load(&p->live->pid);
        if (!is_child(p) || pid <= 0 || (m->reload_web_only && p->role != MT_ROLE_WEB))
            continue; /* a slot waiting to respawn starts fresh anyway */
        int mercy = (int)mt_config_get_int(m->stack->config, NULL,
                                           p->role == MT_ROLE_WEB ? "worker-reload-mercy" : "mule-reload-mercy");
        m->reload_slot = (ssize_t)i;
        m->reload_next = i + 1;
        m->reload_deadline_ms = mt_clock_ms() + (int64_t)mercy * 1000 + 500;
        atomic_store(&p->live->state, MT_PROC_STOPPING);
        /* Before the signal: the child reads it when it stops, to leave its work to its successor. */
        atomic_store(&p->live->stop_for_reload, 1);
        mt_info("reload: restarting %s (pid %d)", mt_proctable_server_name(t, i), (int)pid);
        kill(pid, SIGTERM);
        return;
    }
    mt_info(m->reload_web_only ? "reload: every web worker restarted" : "reload: every process restarted");
    mt_sd_reloaded();
}

/*
 * The application's reload hook (mt_app_t.reload), before any child is
 * restarted: what it re-read goes to the children forked from now on; a
 * failure keeps the old configuration, and the restart goes on.
 */
static void reload_app(master_t *m)
{
    const mt_app_t *app = m->stack->app;
    if (!app || !app->reload)
        return;
    char err[2048] = "";
    if (app->reload(m->stack, app->app_data, err, sizeof err) < 0)
        mt_error("reload: the application's configuration was not reloaded, the processes restart with the one "
                 "they had: %s",
                 err[0] ? err : "(no reason given)");
}

/*
 * The configuration files (ini, yaml) are read once, at start: a reload
 * does not apply a change to them. Say so when one was modified since.
 */
static void note_config_changes(master_t *m)
{
    static const char *const kinds[2] = {"ini", "yaml"};
    int64_t started_us = atomic_load(&proc(m, 0)->live->started_us);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < mt_config_list_count(m->stack->config, NULL, kinds[k]); i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s", mt_config_list_get(m->stack->config, NULL, kinds[k], i, NULL));
            struct stat st;
            char *colon = strrchr(path, ':');
            if (stat(path, &st) < 0 && colon) { /* ini FILE:SECTION */
                *colon = '\0';
                if (stat(path, &st) < 0)
                    continue;
            }
            int64_t mtime_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
            if (mtime_us > started_us)
                mt_notice("reload: %s was modified since the stack started: a reload does not read the stack's "
                          "options (nor the [jobs] options) again; a stop and a start does",
                          path);
        }
}

/*
 * SIGHUP (and r, grace_them_all, touch-reload): restart the children one
 * at a time, so the others keep serving; web_only (touch-chain-reload):
 * the web workers alone, with the application's configuration as it is.
 */
static void begin_reload(master_t *m, const char *why, bool web_only)
{
    if (m->reload_slot >= 0) {
        mt_notice("%s during a reload: already reloading", why);
        return;
    }
    mt_info("%s: restarting every web worker%s, one at a time", why, web_only ? "" : " and mule");
    mt_sd_reloading(m->stack, false);
    mt_metrics_reload();
    m->reload_web_only = web_only;
    if (!web_only) {
        note_config_changes(m);
        reload_app(m);
    }
    m->reload_next = 1;
    reload_step(m);
}

/* About once a second: a touched file starts its reload (touch_files.h). */
static void check_touch(master_t *m)
{
    if (!m->touch || mt_clock_ms() < m->touch_next_ms)
        return;
    m->touch_next_ms = mt_clock_ms() + MASTER_TOUCH_CHECK_MS;
    if (m->reload_slot >= 0 || m->phase != PHASE_RUNNING)
        return; /* a change during a reload is seen once it is over */
    char why[600];
    mt_touch_change_t change = mt_touch_files_check(m->touch, why, sizeof why);
    if (change != MT_TOUCH_NONE)
        begin_reload(m, why, change == MT_TOUCH_CHAIN);
}

static void advance_reload(master_t *m)
{
    if (m->reload_slot < 0 || mt_clock_ms() < m->reload_deadline_ms)
        return;
    pid_t pid = atomic_load(&proc(m, (size_t)m->reload_slot)->live->pid);
    if (pid > 0) {
        mt_warn("reload: %s did not exit in time: killing it",
                mt_proctable_server_name(&m->stack->procs, (size_t)m->reload_slot));
        kill(pid, SIGKILL);
    }
    m->reload_deadline_ms = mt_clock_ms() + 1000;
}

/* kill_them_all / Q: SIGKILL every child now and exit once they are reaped. */
static void stop_now(master_t *m, const char *why, int status)
{
    if (status > m->exit_status)
        m->exit_status = status;
    if (m->phase == PHASE_KILLING || m->phase == PHASE_DONE)
        return;
    mt_info("%s: stopping now, killing every web worker and mule", why);
    mt_sd_stopping(m->stack);
    m->reload_slot = -1;
    m->phase = PHASE_KILLING;
    m->phase_deadline_ms = mt_clock_ms() + 1000;
    signal_role(m, MT_ROLE_WEB, SIGKILL);
    signal_role(m, MT_ROLE_MULE, SIGKILL);
    if (live_count(m, MT_ROLE_WEB) + live_count(m, MT_ROLE_MULE) == 0)
        enter_phase(m, PHASE_DONE);
}

/* reload_them_all / R: SIGKILL every child and start each again as soon as it is reaped. */
static void reload_now(master_t *m, const char *why)
{
    if (m->phase != PHASE_RUNNING)
        return;
    mt_info("%s: restarting every web worker and mule now", why);
    mt_sd_reloading(m->stack, true);
    m->reload_slot = -1; /* a rolling reload under way is overtaken */
    for (size_t i = 1; i < m->stack->procs.nprocs; i++) {
        mt_proc_t *p = proc(m, i);
        pid_t pid = atomic_load(&p->live->pid);
        if (!is_child(p) || pid <= 0)
            continue;
        m->slots[i].restart_now = true;
        atomic_store(&p->live->state, MT_PROC_STOPPING);
        kill(pid, SIGKILL);
    }
}

/* The built-in meaning of a stop signal: an orderly stop; the same again within a second is a duplicate. */
static void stop_signal(master_t *m, int sig)
{
    if (m->phase == PHASE_RUNNING) {
        mt_info("%s received", strsignal(sig));
        m->stop_signal_ms = mt_clock_ms();
        begin_shutdown(m, 0);
    } else if (m->phase == PHASE_KILLING) {
        mt_info("%s received: already stopping now", strsignal(sig));
    } else if (mt_clock_ms() - m->stop_signal_ms < 1000) {
        /* The same stop delivered twice (`timeout` and systemd signal the process and its group). */
        mt_info("%s received again: already stopping", strsignal(sig));
    } else {
        mt_warn("%s received again: killing every child now", strsignal(sig));
        signal_role(m, MT_ROLE_WEB, SIGKILL);
        signal_role(m, MT_ROLE_MULE, SIGKILL);
    }
}

static void reopen_logs(master_t *m, const char *why)
{
    /* logrotate: every process reopens its log files, the master first. */
    mt_log_reopen();
    mt_info("%s: log files reopened, asking every process to do the same", why);
    signal_role(m, MT_ROLE_WEB, SIGUSR1);
    signal_role(m, MT_ROLE_MULE, SIGUSR1);
}

/* What a signal does: hook-master-start's action for it, else the built-in one. */
static void on_signal(master_t *m, int sig)
{
    mt_signal_action_t action = sig < MT_SIGNAL_SLOTS ? m->stack->settings.on_signal[sig] : MT_SIGNAL_DEFAULT;
    char why[64];
    snprintf(why, sizeof why, "%s received", strsignal(sig));
    switch (action) {
    case MT_SIGNAL_STOP:
        stop_signal(m, sig);
        return;
    case MT_SIGNAL_STOP_NOW:
        stop_now(m, why, 0);
        return;
    case MT_SIGNAL_RELOAD:
        if (m->phase == PHASE_RUNNING)
            begin_reload(m, why, false);
        return;
    case MT_SIGNAL_RELOAD_NOW:
        reload_now(m, why);
        return;
    case MT_SIGNAL_DEFAULT:
        break;
    }
    switch (sig) {
    case SIGCHLD:
        reap(m);
        break;
    case SIGTERM:
    case SIGINT:
    case SIGQUIT:
        stop_signal(m, sig);
        break;
    case SIGHUP:
        if (m->phase == PHASE_RUNNING)
            begin_reload(m, "SIGHUP received", false);
        break;
    case SIGUSR1:
        reopen_logs(m, "SIGUSR1 received");
        break;
    default:
        break;
    }
}

/*
 * master-fifo: each byte written to the FIFO is a command, as uWSGI's
 * master FIFO: q stop in order, Q stop now, r rolling reload, R reload
 * now, l reopen the logs. Blanks and newlines are skipped (echo q > FIFO).
 */
static void on_fifo(master_t *m, int fd)
{
    char buf[64];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            switch (buf[i]) {
            case 'q':
                if (m->phase == PHASE_RUNNING) {
                    mt_info("master-fifo: q: stopping");
                    m->stop_signal_ms = mt_clock_ms();
                    begin_shutdown(m, 0);
                }
                break;
            case 'Q':
                stop_now(m, "master-fifo: Q", 0);
                break;
            case 'r':
                if (m->phase == PHASE_RUNNING)
                    begin_reload(m, "master-fifo: r", false);
                break;
            case 'R':
                reload_now(m, "master-fifo: R");
                break;
            case 'l':
                reopen_logs(m, "master-fifo: l");
                break;
            case '\n':
            case '\r':
            case ' ':
            case '\t':
                break;
            default:
                mt_warn("master-fifo: unknown command '%c' (known: q Q r R l)",
                        buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '?');
                break;
            }
        }
    }
}

int mt_master_run(mt_stack_t *stack)
{
    master_t m = {.stack = stack, .phase = PHASE_RUNNING, .reload_slot = -1};
    m.slots = mt_calloc(stack->procs.nprocs, sizeof *m.slots);
    m.mule_harakiri_s = (int)mt_config_get_int(stack->config, NULL, "mule-harakiri");
    mt_sd_init(stack->daemon.ready_fd >= 0); /* before any fork: no child inherits NOTIFY_SOCKET */

    /* First, before any child holds a copy of what it must not: see undertaker.h. */
    char err[512];
    pid_t undertaker = mt_undertaker_start(stack, err, sizeof err);
    if (undertaker < 0) {
        mt_alert("%s", err);
        free(m.slots);
        return 1;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    m.signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m.signal_fd < 0) {
        mt_alert("signalfd() failed: %s", strerror(errno));
        free(m.slots);
        mt_undertaker_finish(stack, undertaker, 10000);
        return 1;
    }

    atomic_store(&stack->procs.procs[0].live->pid, getpid());
    atomic_store(&stack->procs.procs[0].live->state, MT_PROC_RUNNING);
    atomic_store(&stack->procs.procs[0].live->started_us, mt_wall_us());
    atomic_store(&stack->procs.procs[0].live->forked_mono_us, mt_clock_us());
    mt_heartbeat_store(&stack->procs.procs[0].live->beat_mono_us);
    announce_mule_harakiri(&m);
    m.touch = mt_touch_files_open(stack->config);
    m.touch_next_ms = mt_clock_ms() + MASTER_TOUCH_CHECK_MS;

    for (size_t i = 1; i < stack->procs.nprocs && m.phase == PHASE_RUNNING; i++)
        if (is_child(proc(&m, i)))
            spawn_slot(&m, i, true);
    if (m.phase == PHASE_RUNNING) {
        mt_info("stack up: %zu web worker%s, %zu mule%s, %zu farm%s", stack->procs.nweb,
                stack->procs.nweb == 1 ? "" : "s", stack->procs.nmules, stack->procs.nmules == 1 ? "" : "s",
                stack->procs.nfarms, stack->procs.nfarms == 1 ? "" : "s");
        mt_daemon_ready(&stack->daemon);
    }

    int fifo_fd = stack->daemon.fifo_fd;
    while (m.phase != PHASE_DONE) {
        struct pollfd pfd[2] = {{.fd = m.signal_fd, .events = POLLIN}, {.fd = fifo_fd, .events = POLLIN}};
        int r = poll(pfd, fifo_fd >= 0 ? 2 : 1, mt_sd_timeout(next_timeout(&m)));
        if (r < 0 && errno != EINTR) {
            mt_alert("poll() failed in the master: %s", strerror(errno));
            break;
        }
        struct signalfd_siginfo si;
        while (read(m.signal_fd, &si, sizeof si) == (ssize_t)sizeof si)
            on_signal(&m, (int)si.ssi_signo);
        if (fifo_fd >= 0 && r > 0 && (pfd[1].revents & POLLIN))
            on_fifo(&m, fifo_fd);
        mt_heartbeat_store(&stack->procs.procs[0].live->beat_mono_us);
        check_heartbeats(&m);
        respawn_due(&m);
        check_touch(&m);
        advance_reload(&m);
        advance_shutdown(&m);
        mt_sd_tick(stack);
    }
    atomic_store(&stack->procs.procs[0].live->state, MT_PROC_STOPPED);
    close(m.signal_fd);
    free(m.slots);
    mt_touch_files_free(m.touch);
    mt_undertaker_finish(stack, undertaker, 10000);
    mt_info("stopped");
    return m.exit_status;
}
