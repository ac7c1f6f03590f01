/*
 * Tests of the offload pool (stack/offload.h): tasks run on the pool's
 * threads (never the loop's) and each comes back once to its inbox's loop;
 * one thread runs them in order; writes never take the last thread, so a
 * read goes past writes that are held; a task cancelled before it starts
 * never runs but still comes back; tasks from two loops go back to their
 * own; and a pool can be destroyed once idle.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stack/offload.h"

typedef struct test_task {
    mt_offload_task_t task; /* first */
    int id;
    bool hold;              /* wait at the gate */
    pthread_t ran_on;
    size_t thread_index;
    int done_count;
    bool done_ran;
} test_task_t;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    int held;                /* tasks waiting at the gate */
    int order[256];          /* ids in the order they ran (the first 256) */
    int norder;
} G = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void reset_gate(void)
{
    pthread_mutex_lock(&G.lock);
    G.open = false;
    G.held = 0;
    G.norder = 0;
    pthread_mutex_unlock(&G.lock);
}

static void open_gate(void)
{
    pthread_mutex_lock(&G.lock);
    G.open = true;
    pthread_cond_broadcast(&G.cond);
    pthread_mutex_unlock(&G.lock);
}

static void wait_held(int n)
{
    pthread_mutex_lock(&G.lock);
    while (G.held < n)
        pthread_cond_wait(&G.cond, &G.lock);
    pthread_mutex_unlock(&G.lock);
}

static void run_cb(mt_offload_task_t *task, size_t index)
{
    test_task_t *t = (test_task_t *)task;
    t->ran_on = pthread_self();
    t->thread_index = index;
    pthread_mutex_lock(&G.lock);
    if (G.norder < 256)
        G.order[G.norder++] = t->id;
    if (t->hold) {
        G.held++;
        pthread_cond_broadcast(&G.cond);
        while (!G.open)
            pthread_cond_wait(&G.cond, &G.lock);
    }
    pthread_mutex_unlock(&G.lock);
}

/* A loop run by the test's own thread until `want` tasks came back. */
typedef struct loop_fixture {
    uv_loop_t loop;
    mt_offload_inbox_t *inbox;
    int back;
} loop_fixture_t;

static void done_cb(mt_offload_task_t *task, void *data)
{
    loop_fixture_t *lf = data;
    test_task_t *t = (test_task_t *)task;
    t->done_count++;
    t->done_ran = task->ran;
    lf->back++;
}

static void loop_init(loop_fixture_t *lf)
{
    memset(lf, 0, sizeof *lf);
    cr_assert_eq(uv_loop_init(&lf->loop), 0);
    cr_assert_eq(mt_offload_inbox_init(&lf->inbox, &lf->loop, done_cb, lf), 0);
}

static void loop_run_until(loop_fixture_t *lf, int want)
{
    while (lf->back < want)
        uv_run(&lf->loop, UV_RUN_ONCE);
}

static void loop_close(loop_fixture_t *lf)
{
    cr_assert_eq(mt_offload_inbox_outstanding(lf->inbox), 0);
    mt_offload_inbox_close(lf->inbox);
    uv_run(&lf->loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&lf->loop), 0, "handles left on the loop");
}

static mt_offload_pool_t *pool_new(size_t n)
{
    char err[256];
    mt_offload_pool_t *pool = mt_offload_pool_create(n, NULL, NULL, err, sizeof err);
    cr_assert_not_null(pool, "%s", err);
    cr_assert_eq(mt_offload_pool_threads(pool), n);
    return pool;
}

static void submit(mt_offload_pool_t *pool, loop_fixture_t *lf, test_task_t *t, int id, bool writes, bool hold)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    t->hold = hold;
    t->task.run = run_cb;
    t->task.writes = writes;
    mt_offload_submit(pool, lf->inbox, &t->task);
}

TestSuite(offload, .init = reset_gate, .timeout = 20);

Test(offload, tasks_run_off_the_loop_and_come_back_once_in_order_on_one_thread)
{
    mt_offload_pool_t *pool = pool_new(1);
    loop_fixture_t lf;
    loop_init(&lf);
    test_task_t t[20];
    for (int i = 0; i < 20; i++)
        submit(pool, &lf, &t[i], i, i % 3 == 0, false);
    cr_assert_eq(mt_offload_inbox_outstanding(lf.inbox), 20);
    loop_run_until(&lf, 20);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(t[i].done_count, 1, "task %d came back %d times", i, t[i].done_count);
        cr_assert(t[i].done_ran);
        cr_assert(!pthread_equal(t[i].ran_on, pthread_self()), "task %d ran on the loop's thread", i);
        cr_assert_eq(t[i].thread_index, 0);
        cr_assert_eq(G.order[i], i, "one thread runs them in order");
    }
    loop_close(&lf);
    mt_offload_pool_destroy(pool);
}

Test(offload, writes_never_take_the_last_thread)
{
    mt_offload_pool_t *pool = pool_new(3);
    loop_fixture_t lf;
    loop_init(&lf);
    test_task_t w[4], r;
    for (int i = 0; i < 4; i++)
        submit(pool, &lf, &w[i], i, true, true);
    wait_held(2);
    usleep(50 * 1000);
    size_t queued, running;
    mt_offload_pool_stats(pool, &queued, &running);
    cr_assert_eq(running, 2, "writes may use 2 of 3 threads, %zu run", running);
    cr_assert_eq(queued, 2);
    /* A read submitted after the writes runs at once on the third thread, past the two queued writes. */
    submit(pool, &lf, &r, 100, false, false);
    loop_run_until(&lf, 1);
    cr_assert_eq(r.done_count, 1);
    cr_assert_eq(w[2].done_count + w[3].done_count, 0);
    open_gate();
    loop_run_until(&lf, 5);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(w[i].done_count, 1);
    loop_close(&lf);
    mt_offload_pool_destroy(pool);
}

Test(offload, a_lone_thread_runs_writes_too)
{
    mt_offload_pool_t *pool = pool_new(1);
    loop_fixture_t lf;
    loop_init(&lf);
    test_task_t w;
    submit(pool, &lf, &w, 1, true, false);
    loop_run_until(&lf, 1);
    cr_assert(w.done_ran);
    loop_close(&lf);
    mt_offload_pool_destroy(pool);
}

Test(offload, a_task_cancelled_before_it_starts_never_runs_but_comes_back)
{
    mt_offload_pool_t *pool = pool_new(1);
    loop_fixture_t lf;
    loop_init(&lf);
    test_task_t a, b, c;
    submit(pool, &lf, &a, 1, false, true);
    wait_held(1);
    submit(pool, &lf, &b, 2, false, false);
    submit(pool, &lf, &c, 3, false, false);
    mt_offload_cancel(&b.task);
    mt_offload_cancel(&a.task); /* already running: it runs to its end */
    open_gate();
    loop_run_until(&lf, 3);
    cr_assert(a.done_ran);
    cr_assert(!b.done_ran, "a cancelled task ran");
    cr_assert_eq(b.done_count, 1, "a cancelled task did not come back");
    cr_assert(c.done_ran);
    cr_assert_eq(G.norder, 2);
    cr_assert_eq(G.order[0], 1);
    cr_assert_eq(G.order[1], 3);
    loop_close(&lf);
    mt_offload_pool_destroy(pool);
}

typedef struct two_loops {
    loop_fixture_t lf;
    mt_offload_pool_t *pool;
    test_task_t t[50];
    int base;
} two_loops_t;

static void *other_loop(void *arg)
{
    two_loops_t *tl = arg;
    loop_init(&tl->lf);
    for (int i = 0; i < 50; i++)
        submit(tl->pool, &tl->lf, &tl->t[i], tl->base + i, i % 2, false);
    loop_run_until(&tl->lf, 50);
    return NULL;
}

Test(offload, tasks_go_back_to_the_loop_they_came_from)
{
    mt_offload_pool_t *pool = pool_new(4);
    two_loops_t a = {.pool = pool, .base = 0}, b = {.pool = pool, .base = 1000};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, other_loop, &a);
    pthread_create(&tb, NULL, other_loop, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(a.t[i].done_count, 1);
        cr_assert_eq(b.t[i].done_count, 1);
        cr_assert(a.t[i].thread_index < 4 && b.t[i].thread_index < 4);
    }
    cr_assert_eq(a.lf.back, 50);
    cr_assert_eq(b.lf.back, 50);
    loop_close(&a.lf);
    loop_close(&b.lf);
    mt_offload_pool_destroy(pool);
}

static atomic_int started_threads;

static void count_start(size_t index, void *data)
{
    (void)index;
    cr_assert_eq(data, &started_threads);
    atomic_fetch_add(&started_threads, 1);
}

Test(offload, thread_start_runs_on_each_thread_and_destroy_accepts_null)
{
    char err[256];
    atomic_store(&started_threads, 0);
    mt_offload_pool_t *pool = mt_offload_pool_create(3, count_start, &started_threads, err, sizeof err);
    cr_assert_not_null(pool, "%s", err);
    while (atomic_load(&started_threads) < 3)
        usleep(1000);
    mt_offload_pool_destroy(pool);
    mt_offload_pool_destroy(NULL);
    mt_offload_inbox_close(NULL);
}
