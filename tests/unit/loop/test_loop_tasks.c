/* SPDX-License-Identifier: Apache-2.0 */
#include "loop_tests.h"
#include "test_harness.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/thread.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A task that records how it ran and counts itself on a latch. */
struct probe {
    struct sl_task task;
    struct sl_loop *loop;
    struct sl_test_latch *latch;
    atomic_int runs;
    atomic_int cancels;
    bool on_loop_thread;
    uint64_t ran_at_ns;
    int id;
    int *order_log; /* optional: ids appended in run order */
    int *order_count;
    struct probe *follow_up; /* scheduled from inside this task when it is cancelled */
};

static void probe_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct probe *p = arg;
    p->on_loop_thread = sl_loop_is_on_callers_thread(p->loop);
    p->ran_at_ns = sl_loop_now_ns(p->loop);
    if (status == SL_TASK_RUN) {
        atomic_fetch_add(&p->runs, 1);
    } else {
        atomic_fetch_add(&p->cancels, 1);
        if (p->follow_up) {
            sl_loop_schedule_now(p->loop, &p->follow_up->task);
        }
    }
    if (p->order_log) {
        p->order_log[(*p->order_count)++] = p->id;
    }
    if (p->latch) {
        sl_test_latch_add(p->latch, 1);
    }
}

static void probe_init(struct probe *p, struct sl_loop *loop, struct sl_test_latch *latch, int id)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->latch = latch;
    p->id = id;
    sl_task_init(&p->task, probe_fn, p, "probe");
}

struct fan_out {
    struct sl_loop *loop;
    struct probe probes[100];
    int order[100];
    int count;
    struct sl_test_latch latch;
};

static void schedule_hundred(void *arg)
{
    struct fan_out *f = arg;
    for (int i = 0; i < 100; i++) {
        probe_init(&f->probes[i], f->loop, &f->latch, i);
        f->probes[i].order_log = f->order;
        f->probes[i].order_count = &f->count;
        sl_loop_schedule_now(f->loop, &f->probes[i].task);
    }
}

START_TEST(tasks_scheduled_on_the_loop_thread_run_in_order)
{
    struct sl_loop *loop = start_loop(_i);
    struct fan_out *f = calloc(1, sizeof(*f));
    f->loop = loop;
    sl_test_latch_init(&f->latch);
    sl_test_run_on_loop(loop, schedule_hundred, f);
    ck_assert(sl_test_latch_wait(&f->latch, 100, 10000));
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(f->order[i], i);
        ck_assert(f->probes[i].on_loop_thread);
    }
    finish_loop(loop);
    sl_test_latch_clean_up(&f->latch);
    free(f);
}
END_TEST

START_TEST(timed_tasks_wait_until_due_and_keep_time_order)
{
    struct sl_loop *loop = start_loop(_i);
    struct sl_test_latch latch;
    sl_test_latch_init(&latch);
    struct probe late, early;
    probe_init(&late, loop, &latch, 1);
    probe_init(&early, loop, &latch, 0);
    uint64_t start = sl_loop_now_ns(loop);
    sl_loop_schedule_at(loop, &late.task, start + 40 * SL_NS_PER_MS);
    sl_loop_schedule_at(loop, &early.task, start + 15 * SL_NS_PER_MS);
    ck_assert(sl_test_latch_wait(&latch, 2, 10000));
    ck_assert_int_eq(atomic_load(&late.runs), 1);
    ck_assert(early.ran_at_ns >= start + 15 * SL_NS_PER_MS);
    ck_assert(late.ran_at_ns >= start + 40 * SL_NS_PER_MS);
    ck_assert(early.ran_at_ns <= late.ran_at_ns);
    finish_loop(loop);
    sl_test_latch_clean_up(&latch);
}
END_TEST

/* Cross-thread stress: 4 producers x 250,000 tasks, each must run exactly once, in order. */
enum { PRODUCERS = 4, TASKS_PER_PRODUCER = 250000 };

struct counted_task {
    struct sl_task task;
    struct producer *producer;
    uint32_t seq;
    uint8_t runs;
};

struct producer {
    struct sl_loop *loop;
    struct counted_task *tasks;
    uint32_t next_expected; /* touched only on the loop thread */
    bool out_of_order;
    atomic_uint_fast64_t *total;
    struct sl_test_latch *all_done;
};

static void counted_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct counted_task *t = arg;
    struct producer *p = t->producer;
    t->runs = (uint8_t)(t->runs + (status == SL_TASK_RUN ? 1 : 100));
    if (t->seq != p->next_expected) {
        p->out_of_order = true;
    }
    p->next_expected = t->seq + 1;
    if (atomic_fetch_add(p->total, 1) + 1 == (uint64_t)PRODUCERS * TASKS_PER_PRODUCER) {
        sl_test_latch_add(p->all_done, 1);
    }
}

static void produce(void *arg)
{
    struct producer *p = arg;
    for (uint32_t i = 0; i < TASKS_PER_PRODUCER; i++) {
        sl_loop_schedule_now(p->loop, &p->tasks[i].task);
    }
}

START_TEST(cross_thread_tasks_from_four_threads_each_run_exactly_once)
{
    struct sl_loop *loop = start_loop(_i);
    atomic_uint_fast64_t total = 0;
    struct sl_test_latch all_done;
    sl_test_latch_init(&all_done);
    struct producer producers[PRODUCERS];
    struct sl_thread *threads[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        producers[p] = (struct producer){.loop = loop, .total = &total, .all_done = &all_done};
        producers[p].tasks = calloc(TASKS_PER_PRODUCER, sizeof(struct counted_task));
        for (uint32_t i = 0; i < TASKS_PER_PRODUCER; i++) {
            struct counted_task *t = &producers[p].tasks[i];
            t->producer = &producers[p];
            t->seq = i;
            sl_task_init(&t->task, counted_fn, t, "counted");
        }
    }
    for (int p = 0; p < PRODUCERS; p++) {
        ck_assert_int_eq(sl_thread_start(NULL, produce, &producers[p], &threads[p]), 0);
    }
    for (int p = 0; p < PRODUCERS; p++) {
        ck_assert_int_eq(sl_thread_join(threads[p]), 0);
    }
    ck_assert(sl_test_latch_wait(&all_done, 1, 120000));
    finish_loop(loop);
    for (int p = 0; p < PRODUCERS; p++) {
        ck_assert(!producers[p].out_of_order);
        for (uint32_t i = 0; i < TASKS_PER_PRODUCER; i++) {
            ck_assert_uint_eq(producers[p].tasks[i].runs, 1);
        }
        free(producers[p].tasks);
    }
    ck_assert_uint_eq(atomic_load(&total), (uint64_t)PRODUCERS * TASKS_PER_PRODUCER);
    sl_test_latch_clean_up(&all_done);
}
END_TEST

START_TEST(destroy_from_another_thread_cancels_every_pending_task)
{
    struct sl_loop *loop = start_loop(_i);
    enum { N = 100 };
    struct probe *far = calloc(N, sizeof(*far));
    struct probe *soon = calloc(N, sizeof(*soon));
    struct probe follow;
    probe_init(&follow, loop, NULL, -1);
    uint64_t hour_from_now = sl_loop_now_ns(loop) + 3600 * SL_NS_PER_SEC;
    for (int i = 0; i < N; i++) {
        probe_init(&far[i], loop, NULL, i);
        sl_loop_schedule_at(loop, &far[i].task, hour_from_now);
    }
    far[0].follow_up = &follow; /* a cancelled task that schedules more is cancelled again */
    sl_loop_stop(loop);
    ck_assert_int_eq(sl_loop_wait_for_stop(loop), 0);
    for (int i = 0; i < N; i++) {
        probe_init(&soon[i], loop, NULL, i); /* queued cross-thread while the loop is stopped */
        sl_loop_schedule_now(loop, &soon[i].task);
    }
    finish_loop(loop);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(atomic_load(&far[i].runs), 0);
        ck_assert_int_eq(atomic_load(&far[i].cancels), 1);
        ck_assert_int_eq(atomic_load(&soon[i].runs), 0);
        ck_assert_int_eq(atomic_load(&soon[i].cancels), 1);
        ck_assert(far[i].on_loop_thread); /* destroy acts as the loop thread */
    }
    ck_assert_int_eq(atomic_load(&follow.cancels), 1);
    free(far);
    free(soon);
}
END_TEST

START_TEST(a_loop_never_run_cancels_its_queue_on_destroy)
{
    struct sl_loop_options opts = {.cpu = -1, .backend = loop_backend_name(_i)};
    struct sl_loop *loop;
    ck_assert_int_eq(sl_loop_new(&opts, &loop), 0);
    struct probe probes[10];
    for (int i = 0; i < 10; i++) {
        probe_init(&probes[i], loop, NULL, i);
        if (i % 2) {
            sl_loop_schedule_now(loop, &probes[i].task);
        } else {
            sl_loop_schedule_at(loop, &probes[i].task, 1);
        }
    }
    finish_loop(loop);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(atomic_load(&probes[i].cancels), 1);
        ck_assert_int_eq(atomic_load(&probes[i].runs), 0);
    }
}
END_TEST

START_TEST(a_stopped_loop_can_run_again)
{
    struct sl_loop *loop = start_loop(_i);
    ck_assert_int_eq(sl_loop_run(loop), SL_E_STATE);
    sl_loop_stop(loop);
    ck_assert_int_eq(sl_loop_wait_for_stop(loop), 0);
    ck_assert_int_eq(sl_loop_wait_for_stop(loop), 0); /* idempotent */
    struct sl_test_latch latch;
    sl_test_latch_init(&latch);
    struct probe p;
    probe_init(&p, loop, &latch, 0);
    sl_loop_schedule_now(loop, &p.task);
    ck_assert_int_eq(sl_loop_run(loop), 0);
    ck_assert(sl_test_latch_wait(&latch, 1, 10000));
    ck_assert_int_eq(atomic_load(&p.runs), 1);
    finish_loop(loop);
    sl_test_latch_clean_up(&latch);
}
END_TEST

struct cancel_case {
    struct sl_loop *loop;
    struct probe victim;
    struct sl_task blocker;
    struct sl_test_latch blocker_started;
    struct sl_test_latch victim_queued;
    struct sl_test_latch blocker_done;
};

static void cancel_future_task(void *arg)
{
    struct cancel_case *c = arg;
    sl_loop_schedule_at(c->loop, &c->victim.task, sl_loop_now_ns(c->loop) + SL_NS_PER_SEC * 60);
    ck_assert(sl_task_is_scheduled(&c->victim.task));
    sl_loop_cancel(c->loop, &c->victim.task);
    ck_assert(!sl_task_is_scheduled(&c->victim.task));
    sl_loop_cancel(c->loop, &c->victim.task); /* not pending any more: no effect */
}

START_TEST(cancel_runs_the_task_with_cancelled_on_the_loop_thread)
{
    struct sl_loop *loop = start_loop(_i);
    struct cancel_case c = {.loop = loop};
    probe_init(&c.victim, loop, NULL, 0);
    sl_test_run_on_loop(loop, cancel_future_task, &c);
    ck_assert_int_eq(atomic_load(&c.victim.cancels), 1);
    ck_assert_int_eq(atomic_load(&c.victim.runs), 0);
    ck_assert(c.victim.on_loop_thread);
    finish_loop(loop);
}
END_TEST

/* Keeps the loop busy until the victim is queued from outside, then cancels it. */
static void blocker_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct cancel_case *c = arg;
    if (status == SL_TASK_RUN) {
        sl_test_latch_add(&c->blocker_started, 1);
        if (sl_test_latch_wait(&c->victim_queued, 1, 10000)) {
            sl_loop_cancel(c->loop, &c->victim.task);
        }
    }
    sl_test_latch_add(&c->blocker_done, 1);
}

START_TEST(cancel_reaches_a_task_still_in_the_cross_thread_queue)
{
    struct sl_loop *loop = start_loop(_i);
    struct cancel_case c = {.loop = loop};
    sl_test_latch_init(&c.blocker_started);
    sl_test_latch_init(&c.victim_queued);
    sl_test_latch_init(&c.blocker_done);
    probe_init(&c.victim, loop, NULL, 0);
    sl_task_init(&c.blocker, blocker_fn, &c, "blocker");
    sl_loop_schedule_now(loop, &c.blocker);
    ck_assert(sl_test_latch_wait(&c.blocker_started, 1, 10000));
    sl_loop_schedule_now(loop, &c.victim.task); /* the loop is busy: it stays queued */
    sl_test_latch_add(&c.victim_queued, 1);
    ck_assert(sl_test_latch_wait(&c.blocker_done, 1, 10000));
    finish_loop(loop);
    ck_assert_int_eq(atomic_load(&c.victim.cancels), 1);
    ck_assert_int_eq(atomic_load(&c.victim.runs), 0);
    sl_test_latch_clean_up(&c.blocker_started);
    sl_test_latch_clean_up(&c.victim_queued);
    sl_test_latch_clean_up(&c.blocker_done);
}
END_TEST

struct own_thread_calls {
    struct sl_loop *loop;
    int destroy_rc;
    int wait_rc;
};

static void call_blocking_apis_on_own_thread(void *arg)
{
    struct own_thread_calls *calls = arg;
    calls->destroy_rc = sl_loop_destroy(calls->loop);
    calls->wait_rc = sl_loop_wait_for_stop(calls->loop);
}

START_TEST(destroy_and_wait_from_the_loop_thread_are_refused)
{
    struct sl_loop *loop = start_loop(_i);
    struct own_thread_calls calls = {.loop = loop};
    ck_assert(!sl_loop_is_on_callers_thread(loop));
    sl_test_run_on_loop(loop, call_blocking_apis_on_own_thread, &calls);
    ck_assert_int_eq(calls.destroy_rc, SL_E_WOULD_DEADLOCK);
    ck_assert_int_eq(calls.wait_rc, SL_E_WOULD_DEADLOCK);
    finish_loop(loop);
}
END_TEST

START_TEST(unknown_backend_is_reported)
{
    struct sl_loop_options opts = {.cpu = -1, .backend = "no-such-poller"};
    struct sl_loop *loop = NULL;
    ck_assert_int_eq(sl_loop_new(&opts, &loop), SL_E_NOT_FOUND);
    ck_assert_ptr_null(loop);
    ck_assert_int_eq(sl_loop_destroy(NULL), 0);
}
END_TEST

/* OOM torture (STYLE.md §10): fail each allocation of new + run in turn; nothing may leak. */
START_TEST(loop_survives_every_allocation_failure)
{
    struct sl_loop_options opts = {.cpu = -1, .backend = loop_backend_name(_i)};
    for (uint64_t n = 1;; n++) {
        ck_assert_int_eq(sl_alloc_fail_at(n), 0);
        struct sl_loop *loop = NULL;
        int rc = sl_loop_new(&opts, &loop);
        if (rc == 0) {
            rc = sl_loop_run(loop);
            ck_assert(rc == 0 || rc == SL_E_NOMEM);
            finish_loop(loop);
            if (rc == 0) {
                break;
            }
        } else {
            ck_assert_int_eq(rc, SL_E_NOMEM);
        }
        ck_assert(n < 100);
    }
    ck_assert_int_eq(sl_alloc_fail_at(0), 0);
}
END_TEST

void add_task_tests(Suite *s)
{
    int backends = loop_backend_count();
    TCase *tc = sl_test_tcase("tasks", 120);
    tcase_add_loop_test(tc, tasks_scheduled_on_the_loop_thread_run_in_order, 0, backends);
    tcase_add_loop_test(tc, timed_tasks_wait_until_due_and_keep_time_order, 0, backends);
    tcase_add_loop_test(tc, cross_thread_tasks_from_four_threads_each_run_exactly_once, 0,
                        backends);
    tcase_add_loop_test(tc, destroy_from_another_thread_cancels_every_pending_task, 0, backends);
    tcase_add_loop_test(tc, a_loop_never_run_cancels_its_queue_on_destroy, 0, backends);
    tcase_add_loop_test(tc, a_stopped_loop_can_run_again, 0, backends);
    tcase_add_loop_test(tc, cancel_runs_the_task_with_cancelled_on_the_loop_thread, 0, backends);
    tcase_add_loop_test(tc, cancel_reaches_a_task_still_in_the_cross_thread_queue, 0, backends);
    tcase_add_loop_test(tc, destroy_and_wait_from_the_loop_thread_are_refused, 0, backends);
    tcase_add_test(tc, unknown_backend_is_reported);
    tcase_add_loop_test(tc, loop_survives_every_allocation_failure, 0, backends);
    suite_add_tcase(s, tc);
}
