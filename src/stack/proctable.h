/*
 * proctable: the one process table of the stack.
 *
 * Every process the master knows about has a slot: slot 0 is the master,
 * then the web workers (worker ids 1..N), then the mules (mule ids 1..M),
 * then standalone handlers declared in the pools form (not forked here;
 * listed so that their names are known). The farms (named groups of mules)
 * live beside the slots.
 *
 * A slot has two halves. The static half (mt_proc_t: role, names, farms,
 * channel) is computed by pools.c before anything is forked and inherited
 * by every child as a private copy. The live half (mt_proc_live_t: pid,
 * state, respawn count, message counters) sits in one shared anonymous
 * mapping so that the master writes pids and states, each process bumps
 * its own counters, and any web worker can report the whole table in
 * /api/stack without asking the master.
 *
 * Heartbeat: every process whose event loop the stack runs (web workers,
 * built-in mules, standalones, the master) stores CLOCK_MONOTONIC into its
 * live slot's beat_mono_us from that loop every MT_BEAT_INTERVAL_MS
 * (heartbeat.h). A loop blocked in a long synchronous call, or a process
 * stopped by SIGSTOP, stops beating; the master kills a mule silent for
 * mule-harakiri seconds (master.h), and /api/stack reports a process
 * silent for MT_BEAT_SILENT_BEATS intervals as not beating.
 * CLOCK_MONOTONIC is one clock for every process of the host, so any
 * process can compare another's beat with its own clock.
 */
#ifndef MT_PROCTABLE_H
#define MT_PROCTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "muleteer.h"
#include "stack/channel.h"
#include "stack/config.h"

#define MT_SERVER_NAME_MAX 256

/* How often each event loop beats, in milliseconds. */
#define MT_BEAT_INTERVAL_MS 500
/* Intervals without a beat after which /api/stack shows a process as not beating. */
#define MT_BEAT_SILENT_BEATS 3

typedef enum {
    MT_PROC_DOWN,      /* not started yet */
    MT_PROC_RUNNING,   /* forked and alive */
    MT_PROC_BACKOFF,   /* died; respawn scheduled */
    MT_PROC_STOPPING,  /* asked to stop (shutdown) */
    MT_PROC_STOPPED,   /* exited during shutdown, not respawned */
    MT_PROC_FAILED,    /* exited with MT_EXIT_FATAL, not respawned */
    MT_PROC_EXTERNAL,  /* standalone: started outside this master */
} mt_proc_state_t;

/* Live half of a slot, in shared memory. */
typedef struct mt_proc_live {
    _Atomic int pid;
    _Atomic int state;            /* mt_proc_state_t */
    _Atomic unsigned respawns;    /* times respawned after dying */
    _Atomic int64_t started_us;   /* wall clock of the last fork, microseconds */
    _Atomic uint64_t msgs_sent;   /* messages sent by this slot, across respawns */
    _Atomic uint64_t msgs_handled;/* messages received and dispatched */
    _Atomic uint64_t msgs_failed; /* sends that failed (timeout, size) */
    _Atomic uint64_t farm_wakeups;       /* built-in mule: times it woke to read a farm's queue */
    _Atomic uint64_t farm_empty_wakeups; /* of those, the ones that found the queue empty (another mule took it) */
    _Atomic int64_t forked_mono_us; /* CLOCK_MONOTONIC of the last fork (or start), microseconds; 0: never */
    _Atomic int64_t beat_mono_us; /* CLOCK_MONOTONIC of its loop's last beat, microseconds; 0: none since the fork */
    /*
     * 1: the SIGTERM the master sends next (or has just sent) is a reload's,
     * not a stop's: the process is restarted at once and its successor of the
     * same server name takes up its work (mt_stack_reloading). Set by the
     * master before the signal, cleared at each fork and when a stop
     * overtakes the reload.
     */
    _Atomic int stop_for_reload;
    char server_name[MT_SERVER_NAME_MAX]; /* set when the name depends on {pid} */
} mt_proc_live_t;

/* Static half of a slot. */
typedef struct mt_proc {
    mt_role_t role;
    char *server_name;      /* expanded template ("" until spawn if it uses {pid}) */
    char *name_template;    /* the template it came from */
    char *pool;             /* "web", farm name, "mule", "master" */
    int instance_id;        /* 1-based in its pool; 0 for the master */
    int worker_id;          /* web: 1-based worker id, else 0 */
    int mule_id;            /* mule: 1-based mule id, else 0 */
    char *program;          /* mule: program to exec, NULL for the built-in loop */
    char *purpose;          /* pools form: free text, may be NULL */
    size_t *farms;          /* mule: indices into the table's farms it reads */
    size_t nfarms;
    mt_channel_t channel;   /* mule: its own channel (-1/-1 otherwise) */
    mt_proc_live_t *live;   /* into the shared mapping */
} mt_proc_t;

typedef struct mt_farm {
    char *name;
    int *mule_ids;          /* in farm order: position k (0-based) is instance k+1 */
    size_t nmules;
    mt_channel_t channel;   /* shared by all its mules */
    /*
     * Its doorbell (farm_wait.h): a built-in mule that stops reading while messages are
     * left rings it to wake another. Valid once mt_proctable_open_channels has opened the
     * farm's channel (-1 if it could not be opened); meaningless before.
     */
    int doorbell_fd;
} mt_farm_t;

typedef struct mt_proctable {
    mt_proc_t *procs;
    size_t nprocs;
    size_t first_web, nweb;   /* slots [first_web, first_web + nweb) */
    size_t first_mule, nmules;/* slots [first_mule, first_mule + nmules) */
    mt_farm_t *farms;
    size_t nfarms;
    mt_proc_live_t *shm;      /* nprocs entries, MAP_SHARED */
} mt_proctable_t;

/* Allocate the shared live half for table->nprocs slots and link every slot to it. 0 or -errno. */
int mt_proctable_share(mt_proctable_t *table);
/* Free everything (channels closed, mapping unmapped). Accepts NULL. */
void mt_proctable_destroy(mt_proctable_t *table);

/* Open the channels of every mule and farm, and each farm's doorbell. 0, or -errno with err filled. */
int mt_proctable_open_channels(mt_proctable_t *table, char *err, size_t errlen);

/* Lookups: slot index or -1. */
ssize_t mt_proctable_find_pid(const mt_proctable_t *table, pid_t pid);
ssize_t mt_proctable_find_mule(const mt_proctable_t *table, int mule_id);
ssize_t mt_proctable_find_server(const mt_proctable_t *table, const char *server_name);
ssize_t mt_proctable_find_farm(const mt_proctable_t *table, const char *name);

/* The server name of a slot (the live copy if the template used {pid}). */
const char *mt_proctable_server_name(const mt_proctable_t *table, size_t slot);

/*
 * Whether a heartbeat is stale: true if the process has not beaten for
 * limit_us at now_us. beat_us is its last beat and forked_us the time of
 * its fork (both CLOCK_MONOTONIC microseconds, 0 for none). A process that
 * has not beaten since its fork (beat_us 0, or older than forked_us: a
 * beat of the process it replaced) is starting, and stale only once
 * limit_us has passed since the fork; with no fork time known either, it
 * is never stale. limit_us <= 0 means no limit: never stale. Pure.
 */
bool mt_proc_beat_stale(int64_t beat_us, int64_t forked_us, int64_t now_us, int64_t limit_us);

/* Whether a slot has a heartbeat at all: false for external programs (exec'd mules) and standalones listed here. */
bool mt_proc_beats(const mt_proc_t *p);

const char *mt_proc_state_name(mt_proc_state_t state);
const char *mt_role_name(mt_role_t role);

#endif
