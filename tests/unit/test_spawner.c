/*
 * Unit tests for the spawner (src/common/spawner.c): requests run in the
 * order submitted, on a thread that is not the submitter's, one thread per
 * process (a forked child starts its own and runs several requests there),
 * and a request may submit another from the spawner's own thread.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/spawner.h"

#define N_REQUESTS 64

typedef struct probe {
    mt_spawn_request_t req;
    int index;
    pthread_t ran_on;   /* the thread that ran it */
    sigset_t mask;      /* the signals blocked there */
} probe_t;

/* What the requests record, guarded by lock; done_cv signals each one run. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int order[N_REQUESTS];
static int n_run;

static void probe_run(mt_spawn_request_t *req)
{
    probe_t *p = (probe_t *)((char *)req - offsetof(probe_t, req));
    p->ran_on = pthread_self();
    pthread_sigmask(SIG_SETMASK, NULL, &p->mask);
    pthread_mutex_lock(&lock);
    order[n_run++] = p->index;
    pthread_cond_signal(&done_cv);
    pthread_mutex_unlock(&lock);
}

/* Wait until n requests have run, at most 5 s. Returns whether they did. */
static bool wait_for(int n)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&lock);
    int rc = 0;
    while (n_run < n && rc == 0)
        rc = pthread_cond_timedwait(&done_cv, &lock, &deadline);
    bool ok = n_run >= n;
    pthread_mutex_unlock(&lock);
    return ok;
}

static void probes_submit(mt_spawner_t *sp, probe_t *probes, int n, int first_index)
{
    for (int i = 0; i < n; i++) {
        probes[i].index = first_index + i;
        probes[i].req.run = probe_run;
        cr_assert_eq(mt_spawner_submit(sp, &probes[i].req), 0);
    }
}

Test(spawner, runs_requests_in_order_on_one_thread_not_the_callers)
{
    static mt_spawner_t sp = MT_SPAWNER_INIT;
    static probe_t probes[N_REQUESTS];
    probes_submit(&sp, probes, N_REQUESTS, 0);
    cr_assert(wait_for(N_REQUESTS), "only %d of %d requests ran", n_run, N_REQUESTS);
    for (int i = 0; i < N_REQUESTS; i++) {
        cr_assert_eq(order[i], i, "request %d ran in place %d", order[i], i);
        cr_assert_not(pthread_equal(probes[i].ran_on, pthread_self()), "request %d ran on the caller's thread", i);
        cr_assert(pthread_equal(probes[i].ran_on, probes[0].ran_on), "request %d ran on a second thread", i);
        cr_assert(sigismember(&probes[i].mask, SIGTERM) && sigismember(&probes[i].mask, SIGCHLD),
                  "the spawner's thread takes signals");
    }
}

/* Two spawners: two threads, each with its own queue. */
Test(spawner, each_spawner_has_a_thread_of_its_own)
{
    static mt_spawner_t a = MT_SPAWNER_INIT, b = MT_SPAWNER_INIT;
    static probe_t pa[1], pb[1];
    probes_submit(&a, pa, 1, 0);
    cr_assert(wait_for(1));
    probes_submit(&b, pb, 1, 1);
    cr_assert(wait_for(2));
    cr_assert_not(pthread_equal(pa[0].ran_on, pb[0].ran_on));
}

static mt_spawner_t chain_sp = MT_SPAWNER_INIT;
static probe_t chain_probes[3];

static void chain_run(mt_spawn_request_t *req)
{
    probe_t *p = (probe_t *)((char *)req - offsetof(probe_t, req));
    if (p->index + 1 < 3) {
        probe_t *next = &chain_probes[p->index + 1];
        next->index = p->index + 1;
        next->req.run = chain_run;
        (void)mt_spawner_submit(&chain_sp, &next->req);
    }
    probe_run(req);
}

/* A request that queues another from the spawner's thread does not deadlock on the queue's lock. */
Test(spawner, a_request_may_submit_another)
{
    chain_probes[0].index = 0;
    chain_probes[0].req.run = chain_run;
    cr_assert_eq(mt_spawner_submit(&chain_sp, &chain_probes[0].req), 0);
    cr_assert(wait_for(3), "only %d of 3 requests ran", n_run);
    cr_assert_eq(order[0], 0);
    cr_assert_eq(order[1], 1);
    cr_assert_eq(order[2], 2);
}

/*
 * The child inherits the spawner's memory (its owner, its condition
 * variable with the parent's thread waiting on it) but no thread: its first
 * submission starts one, and every later request is woken too.
 */
Test(spawner, a_forked_child_starts_a_thread_of_its_own)
{
    static mt_spawner_t sp = MT_SPAWNER_INIT;
    static probe_t parent_probes[2], child_probes[8];
    probes_submit(&sp, parent_probes, 2, 0);
    cr_assert(wait_for(2));
    /* The parent's thread must not hold the lock at the fork (spawner.h): hold it ourselves, as pthread_atfork would. */
    pthread_mutex_lock(&sp.lock);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    pthread_mutex_unlock(&sp.lock);
    if (child == 0) {
        alarm(10);
        n_run = 0;
        /* One at a time: each after the child's thread is back waiting on the inherited condition variable. */
        for (int i = 0; i < 8; i++) {
            child_probes[i].index = i;
            child_probes[i].req.run = probe_run;
            if (mt_spawner_submit(&sp, &child_probes[i].req) != 0)
                _exit(2);
            if (!wait_for(i + 1))
                _exit(3); /* the thread is missing, or missed the wakeup */
            if (pthread_equal(child_probes[i].ran_on, pthread_self()))
                _exit(4);
            if (i > 0 && !pthread_equal(child_probes[i].ran_on, child_probes[0].ran_on))
                _exit(5);
            usleep(2000); /* let the thread go back to waiting */
        }
        for (int i = 0; i < 8; i++)
            if (order[i] != i)
                _exit(6);
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status), "the child died of signal %d", WTERMSIG(status));
    cr_assert_eq(WEXITSTATUS(status), 0, "the child failed at step %d (3: a request never ran)", WEXITSTATUS(status));
    /* The parent's thread still serves the parent. */
    static probe_t after[1];
    probes_submit(&sp, after, 1, 2);
    cr_assert(wait_for(3));
    cr_assert(pthread_equal(after[0].ran_on, parent_probes[0].ran_on));
}
