/* SPDX-License-Identifier: Apache-2.0 */
#include "stream_tests.h"
#include "test_harness.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/event_loop.h>
#include <sluice/future.h>
#include <sluice/thread.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

/* What a future callback saw. Plain fields are read only after waiting on the latch. */
struct done_probe {
    struct sl_loop *loop; /* optional: the loop the callback should run on */
    atomic_int calls;
    int status;
    int result; /* sl_future_result inside the callback: proves the future is still alive */
    struct sl_future *seen;
    uint64_t thread_id;
    bool on_loop_thread;
    struct sl_test_latch latch;
};

static void probe_init(struct done_probe *p, struct sl_loop *loop)
{
    *p = (struct done_probe){.loop = loop};
    sl_test_latch_init(&p->latch);
}

static void probe_clean_up(struct done_probe *p)
{
    sl_test_latch_clean_up(&p->latch);
}

static void record_done(struct sl_future *future, int status, void *user_data)
{
    struct done_probe *p = user_data;
    p->seen = future;
    p->status = status;
    p->result = sl_future_result(future);
    p->thread_id = sl_thread_current_id();
    p->on_loop_thread = p->loop && sl_loop_is_on_callers_thread(p->loop);
    atomic_fetch_add(&p->calls, 1);
    sl_test_latch_add(&p->latch, 1);
}

static struct sl_future *new_future(enum sl_future_type type)
{
    struct sl_future *future = NULL;
    ck_assert_int_eq(sl_future_new(type, &future), 0);
    ck_assert_ptr_nonnull(future);
    return future;
}

START_TEST(a_callback_registered_after_completion_runs_inline_at_once)
{
    struct sl_future *future = new_future(SL_FUTURE_BOOL);
    ck_assert_int_eq(sl_future_complete_bool(future, true), 0);
    struct done_probe p;
    probe_init(&p, NULL);
    ck_assert_int_eq(sl_future_on_done(future, record_done, &p), 0);
    ck_assert_int_eq(atomic_load(&p.calls), 1);
    ck_assert_int_eq(p.status, 0);
    ck_assert_ptr_eq(p.seen, future);
    ck_assert_uint_eq(p.thread_id, sl_thread_current_id());
    bool value = false;
    ck_assert_int_eq(sl_future_result_bool(future, &value), 0);
    ck_assert(value);
    sl_future_release(future);
    probe_clean_up(&p);
}
END_TEST

START_TEST(a_callback_registered_before_completion_runs_inside_complete)
{
    struct sl_future *future = new_future(SL_FUTURE_U64);
    struct done_probe p;
    probe_init(&p, NULL);
    ck_assert_int_eq(sl_future_on_done(future, record_done, &p), 0);
    ck_assert_int_eq(atomic_load(&p.calls), 0);
    ck_assert(!sl_future_is_done(future));
    ck_assert_int_eq(sl_future_result(future), SL_E_FUTURE_PENDING);
    uint64_t value = 1;
    ck_assert_int_eq(sl_future_result_u64(future, &value), SL_E_FUTURE_PENDING);
    ck_assert_uint_eq(value, 1);
    ck_assert_int_eq(sl_future_complete_u64(future, 42), 0);
    ck_assert_int_eq(atomic_load(&p.calls), 1);
    ck_assert_int_eq(p.status, 0);
    ck_assert(sl_future_is_done(future));
    ck_assert_int_eq(sl_future_result_u64(future, &value), 0);
    ck_assert_uint_eq(value, 42);
    sl_future_release(future);
    probe_clean_up(&p);
}
END_TEST

struct completer {
    struct sl_future *future;
    uint64_t thread_id;
};

static void complete_u64_seven(void *arg)
{
    struct completer *c = arg;
    c->thread_id = sl_thread_current_id();
    ck_assert_int_eq(sl_future_complete_u64(c->future, 7), 0);
}

START_TEST(completion_from_another_thread_wakes_a_waiter_and_runs_the_callback_there)
{
    struct sl_future *future = new_future(SL_FUTURE_U64);
    struct done_probe p;
    probe_init(&p, NULL);
    ck_assert_int_eq(sl_future_on_done(future, record_done, &p), 0);
    struct completer c = {.future = future};
    struct sl_thread *thread;
    ck_assert_int_eq(sl_thread_start(NULL, complete_u64_seven, &c, &thread), 0);
    ck_assert_int_eq(sl_future_wait(future, 10 * SL_NS_PER_SEC), 0);
    uint64_t value = 0;
    ck_assert_int_eq(sl_future_result_u64(future, &value), 0);
    ck_assert_uint_eq(value, 7);
    ck_assert_int_eq(sl_thread_join(thread), 0);
    ck_assert_int_eq(atomic_load(&p.calls), 1);
    ck_assert_uint_eq(p.thread_id, c.thread_id);
    ck_assert_uint_ne(p.thread_id, sl_thread_current_id());
    sl_future_release(future);
    probe_clean_up(&p);
}
END_TEST

START_TEST(waiting_on_a_pending_future_times_out)
{
    struct sl_future *future = new_future(SL_FUTURE_VOID);
    uint64_t start = sl_clock_now_ns();
    ck_assert_int_eq(sl_future_wait(future, 20 * SL_NS_PER_MS), SL_E_TIMED_OUT);
    ck_assert_uint_ge(sl_clock_now_ns() - start, 20 * SL_NS_PER_MS);
    ck_assert_int_eq(sl_future_wait(future, 0), SL_E_TIMED_OUT);
    ck_assert_int_eq(sl_future_complete(future), 0);
    ck_assert_int_eq(sl_future_wait(future, 0), 0);
    ck_assert_int_eq(sl_future_wait(future, SL_FUTURE_WAIT_FOREVER), 0);
    ck_assert_int_eq(sl_future_result(future), 0);
    sl_future_release(future);
}
END_TEST

static void count_destroy(void *value)
{
    (*(int *)value)++;
}

START_TEST(completing_twice_is_reported_and_keeps_the_first_result)
{
    struct sl_future *future = new_future(SL_FUTURE_BOOL);
    ck_assert_int_eq(sl_future_complete_bool(future, true), 0);
    ck_assert_int_eq(sl_future_complete_bool(future, false), SL_E_FUTURE_ALREADY_DONE);
    ck_assert_int_eq(sl_future_fail(future, -EIO), SL_E_FUTURE_ALREADY_DONE);
    bool value = false;
    ck_assert_int_eq(sl_future_result_bool(future, &value), 0);
    ck_assert(value);
    sl_future_release(future);

    future = new_future(SL_FUTURE_BOOL);
    ck_assert_int_eq(sl_future_fail(future, -EIO), 0);
    ck_assert_int_eq(sl_future_complete_bool(future, true), SL_E_FUTURE_ALREADY_DONE);
    ck_assert_int_eq(sl_future_fail(future, SL_E_CANCELED), SL_E_FUTURE_ALREADY_DONE);
    ck_assert_int_eq(sl_future_result_bool(future, &value), -EIO);
    sl_future_release(future);
}
END_TEST

START_TEST(a_rejected_second_value_stays_with_the_caller)
{
    int first = 0;
    int second = 0;
    struct sl_future *future = new_future(SL_FUTURE_PTR);
    ck_assert_int_eq(sl_future_complete_ptr(future, &first, count_destroy), 0);
    ck_assert_int_eq(sl_future_complete_ptr(future, &second, count_destroy),
                     SL_E_FUTURE_ALREADY_DONE);
    void *value = NULL;
    ck_assert_int_eq(sl_future_result_ptr(future, &value), 0);
    ck_assert_ptr_eq(value, &first);
    sl_future_release(future);
    ck_assert_int_eq(first, 1);
    ck_assert_int_eq(second, 0);
}
END_TEST

START_TEST(completing_or_reading_with_the_wrong_type_is_reported)
{
    struct sl_future *future = new_future(SL_FUTURE_U64);
    int dummy = 0;
    ck_assert_int_eq(sl_future_complete_bool(future, true), SL_E_FUTURE_WRONG_TYPE);
    ck_assert_int_eq(sl_future_complete(future), SL_E_FUTURE_WRONG_TYPE);
    ck_assert_int_eq(sl_future_complete_ptr(future, &dummy, count_destroy), SL_E_FUTURE_WRONG_TYPE);
    ck_assert(!sl_future_is_done(future));
    ck_assert_int_eq(sl_future_complete_u64(future, 5), 0);
    bool b;
    void *ptr;
    ck_assert_int_eq(sl_future_result_bool(future, &b), SL_E_FUTURE_WRONG_TYPE);
    ck_assert_int_eq(sl_future_result_ptr(future, &ptr), SL_E_FUTURE_WRONG_TYPE);
    ck_assert_int_eq(sl_future_take_ptr(future, &ptr), SL_E_FUTURE_WRONG_TYPE);
    ck_assert_int_eq(sl_future_result(future), 0);
    sl_future_release(future);
    ck_assert_int_eq(dummy, 0);
}
END_TEST

START_TEST(bad_arguments_are_rejected)
{
    struct sl_future *future = NULL;
    ck_assert_int_eq(sl_future_new((enum sl_future_type)99, &future), SL_E_INVAL);
    ck_assert_ptr_null(future);
    ck_assert_int_eq(sl_future_new(SL_FUTURE_VOID, NULL), SL_E_INVAL);
    future = new_future(SL_FUTURE_VOID);
    ck_assert_int_eq(sl_future_fail(future, 0), SL_E_INVAL);
    ck_assert_int_eq(sl_future_fail(future, EIO), SL_E_INVAL);
    ck_assert_int_eq(sl_future_on_done(future, NULL, NULL), SL_E_INVAL);
    ck_assert_int_eq(sl_future_on_done_in_loop(future, NULL, record_done, NULL), SL_E_INVAL);
    ck_assert(!sl_future_is_done(future));
    sl_future_release(future);
    sl_future_release(NULL);
}
END_TEST

START_TEST(a_failed_future_reports_its_error_to_the_callback_and_readers)
{
    struct sl_future *future = new_future(SL_FUTURE_PTR);
    struct done_probe p;
    probe_init(&p, NULL);
    ck_assert_int_eq(sl_future_on_done(future, record_done, &p), 0);
    ck_assert_int_eq(sl_future_fail(future, -ECONNRESET), 0);
    ck_assert_int_eq(atomic_load(&p.calls), 1);
    ck_assert_int_eq(p.status, -ECONNRESET);
    ck_assert_int_eq(p.result, -ECONNRESET);
    void *value = &p;
    ck_assert_int_eq(sl_future_result(future), -ECONNRESET);
    ck_assert_int_eq(sl_future_result_ptr(future, &value), -ECONNRESET);
    ck_assert_int_eq(sl_future_take_ptr(future, &value), -ECONNRESET);
    ck_assert_ptr_eq(value, &p);
    sl_future_release(future);
    probe_clean_up(&p);
}
END_TEST

START_TEST(a_second_callback_is_refused)
{
    struct sl_future *future = new_future(SL_FUTURE_VOID);
    struct done_probe first, second;
    probe_init(&first, NULL);
    probe_init(&second, NULL);
    ck_assert_int_eq(sl_future_on_done(future, record_done, &first), 0);
    ck_assert_int_eq(sl_future_on_done(future, record_done, &second), SL_E_FUTURE_CALLBACK_SET);
    bool registered = true;
    ck_assert_int_eq(sl_future_on_done_if_pending(future, record_done, &second, &registered),
                     SL_E_FUTURE_CALLBACK_SET);
    ck_assert(!registered);
    ck_assert_int_eq(sl_future_complete(future), 0);
    ck_assert_int_eq(sl_future_on_done(future, record_done, &second), SL_E_FUTURE_CALLBACK_SET);
    ck_assert_int_eq(atomic_load(&first.calls), 1);
    ck_assert_int_eq(atomic_load(&second.calls), 0);
    sl_future_release(future);
    probe_clean_up(&first);
    probe_clean_up(&second);
}
END_TEST

START_TEST(on_done_if_pending_leaves_a_done_future_to_the_caller)
{
    struct sl_future *future = new_future(SL_FUTURE_VOID);
    struct done_probe p;
    probe_init(&p, NULL);
    bool registered = false;
    ck_assert_int_eq(sl_future_on_done_if_pending(future, record_done, &p, &registered), 0);
    ck_assert(registered);
    ck_assert_int_eq(sl_future_complete(future), 0);
    ck_assert_int_eq(atomic_load(&p.calls), 1);
    sl_future_release(future);

    future = new_future(SL_FUTURE_VOID);
    ck_assert_int_eq(sl_future_complete(future), 0);
    ck_assert_int_eq(sl_future_on_done_if_pending(future, record_done, &p, &registered), 0);
    ck_assert(!registered);
    ck_assert_int_eq(atomic_load(&p.calls), 1);
    /* Nothing was registered, so a plain callback may still be added (and runs at once). */
    ck_assert_int_eq(sl_future_on_done(future, record_done, &p), 0);
    ck_assert_int_eq(atomic_load(&p.calls), 2);
    sl_future_release(future);
    probe_clean_up(&p);
}
END_TEST

struct loop_registration {
    struct sl_loop *loop;
    struct sl_future *future;
    struct done_probe *probe;
    int rc;
    int calls_right_after;
};

static void register_on_own_loop(void *arg)
{
    struct loop_registration *r = arg;
    r->rc = sl_future_on_done_in_loop(r->future, r->loop, record_done, r->probe);
    r->calls_right_after = atomic_load(&r->probe->calls);
}

START_TEST(a_loop_callback_is_deferred_even_when_the_future_is_already_done)
{
    struct sl_loop *loop = start_loop();
    struct sl_future *future = new_future(SL_FUTURE_VOID);
    ck_assert_int_eq(sl_future_complete(future), 0);
    struct done_probe p;
    probe_init(&p, loop);
    struct loop_registration r = {.loop = loop, .future = future, .probe = &p};
    sl_test_run_on_loop(loop, register_on_own_loop, &r);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(r.calls_right_after, 0);
    sl_future_release(future); /* the pending task keeps it alive */
    ck_assert(sl_test_latch_wait(&p.latch, 1, 10000));
    ck_assert(p.on_loop_thread);
    ck_assert_int_eq(p.status, 0);
    ck_assert_int_eq(p.result, 0);
    finish_loop(loop);
    ck_assert_int_eq(atomic_load(&p.calls), 1);
    probe_clean_up(&p);
}
END_TEST

START_TEST(a_loop_callback_runs_on_the_loop_after_completion_elsewhere)
{
    struct sl_loop *loop = start_loop();
    struct sl_future *future = new_future(SL_FUTURE_BOOL);
    struct done_probe p;
    probe_init(&p, loop);
    ck_assert_int_eq(sl_future_on_done_in_loop(future, loop, record_done, &p), 0);
    ck_assert_int_eq(sl_future_fail(future, -EPIPE), 0);
    sl_future_release(future);
    ck_assert(sl_test_latch_wait(&p.latch, 1, 10000));
    ck_assert(p.on_loop_thread);
    ck_assert_uint_ne(p.thread_id, sl_thread_current_id());
    ck_assert_int_eq(p.status, -EPIPE);
    ck_assert_int_eq(p.result, -EPIPE);
    finish_loop(loop);
    probe_clean_up(&p);
}
END_TEST

START_TEST(a_loop_callback_is_cancelled_when_its_loop_is_destroyed_first)
{
    struct sl_loop_options opts = {.cpu = -1};
    struct sl_loop *loop;
    ck_assert_int_eq(sl_loop_new(&opts, &loop), 0); /* never run: the task can only wait */
    struct sl_future *future = new_future(SL_FUTURE_U64);
    struct done_probe p;
    probe_init(&p, loop);
    ck_assert_int_eq(sl_future_on_done_in_loop(future, loop, record_done, &p), 0);
    ck_assert_int_eq(sl_future_complete_u64(future, 3), 0);
    sl_future_release(future);
    ck_assert_int_eq(atomic_load(&p.calls), 0);
    finish_loop(loop);
    ck_assert_int_eq(atomic_load(&p.calls), 1);
    ck_assert_int_eq(p.status, SL_E_CANCELED);
    ck_assert_int_eq(p.result, 0); /* the future itself did complete */
    probe_clean_up(&p);
}
END_TEST

START_TEST(a_ptr_value_is_destroyed_with_the_future_unless_taken)
{
    int kept = 0;
    struct sl_future *future = new_future(SL_FUTURE_PTR);
    ck_assert_int_eq(sl_future_complete_ptr(future, &kept, count_destroy), 0);
    void *value = NULL;
    ck_assert_int_eq(sl_future_result_ptr(future, &value), 0);
    ck_assert_ptr_eq(value, &kept);
    ck_assert_int_eq(kept, 0);
    sl_future_release(future);
    ck_assert_int_eq(kept, 1);

    int taken = 0;
    future = new_future(SL_FUTURE_PTR);
    ck_assert_int_eq(sl_future_complete_ptr(future, &taken, count_destroy), 0);
    ck_assert_int_eq(sl_future_take_ptr(future, &value), 0);
    ck_assert_ptr_eq(value, &taken);
    ck_assert_int_eq(sl_future_take_ptr(future, &value), SL_E_STATE);
    ck_assert_int_eq(sl_future_result_ptr(future, &value), SL_E_STATE);
    sl_future_release(future);
    ck_assert_int_eq(taken, 0);

    future = new_future(SL_FUTURE_PTR);
    ck_assert_int_eq(sl_future_complete_ptr(future, &taken, NULL), 0);
    sl_future_release(future);
    ck_assert_int_eq(taken, 0);
}
END_TEST

struct wait_on_loop {
    struct sl_future *pending;
    struct sl_future *done;
    int pending_rc;
    int done_rc;
};

static void wait_on_loop_thread(void *arg)
{
    struct wait_on_loop *w = arg;
    w->pending_rc = sl_future_wait(w->pending, 0);
    w->done_rc = sl_future_wait(w->done, SL_FUTURE_WAIT_FOREVER);
}

START_TEST(waiting_on_a_loop_thread_is_refused)
{
    struct sl_loop *loop = start_loop();
    struct wait_on_loop w = {.pending = new_future(SL_FUTURE_VOID),
                             .done = new_future(SL_FUTURE_VOID)};
    ck_assert_int_eq(sl_future_complete(w.done), 0);
    sl_test_run_on_loop(loop, wait_on_loop_thread, &w);
    ck_assert_int_eq(w.pending_rc, SL_E_WOULD_DEADLOCK);
    ck_assert_int_eq(w.done_rc, SL_E_WOULD_DEADLOCK);
    finish_loop(loop);
    ck_assert_int_eq(sl_future_complete(w.pending), 0);
    sl_future_release(w.pending);
    sl_future_release(w.done);
}
END_TEST

START_TEST(a_future_released_while_pending_never_runs_its_callback)
{
    struct sl_future *future = new_future(SL_FUTURE_BOOL);
    struct done_probe p;
    probe_init(&p, NULL);
    ck_assert_int_eq(sl_future_on_done(future, record_done, &p), 0);
    sl_future_release(future);
    ck_assert_int_eq(atomic_load(&p.calls), 0);
    probe_clean_up(&p);
}
END_TEST

START_TEST(a_future_without_memory_is_not_made)
{
    struct sl_future *future = NULL;
    ck_assert_int_eq(sl_alloc_fail_at(1), 0);
    ck_assert_int_eq(sl_future_new(SL_FUTURE_VOID, &future), SL_E_NOMEM);
    ck_assert_ptr_null(future);
    ck_assert_int_eq(sl_alloc_fail_at(0), 0);
}
END_TEST

/*
 * Completion on one thread races registration on another, 1,000 times, alternating inline and
 * loop callbacks: each callback must run exactly once and see the value.
 */
enum { RACES = 1000 };

struct race {
    struct sl_future *future;
    uint64_t value;
};

static void complete_race(void *arg)
{
    struct race *r = arg;
    ck_assert_int_eq(sl_future_complete_u64(r->future, r->value), 0);
}

START_TEST(racing_completion_and_registration_run_the_callback_exactly_once)
{
    struct sl_loop *loop = start_loop();
    struct done_probe *probes = calloc(RACES, sizeof(*probes));
    for (uint64_t i = 0; i < RACES; i++) {
        struct done_probe *p = &probes[i];
        probe_init(p, i % 2 ? loop : NULL);
        struct race r = {.future = new_future(SL_FUTURE_U64), .value = i};
        struct sl_thread *thread;
        ck_assert_int_eq(sl_thread_start(NULL, complete_race, &r, &thread), 0);
        if (i % 2) {
            ck_assert_int_eq(sl_future_on_done_in_loop(r.future, loop, record_done, p), 0);
        } else {
            ck_assert_int_eq(sl_future_on_done(r.future, record_done, p), 0);
        }
        ck_assert_int_eq(sl_future_wait(r.future, SL_FUTURE_WAIT_FOREVER), 0);
        ck_assert_int_eq(sl_thread_join(thread), 0);
        ck_assert(sl_test_latch_wait(&p->latch, 1, 10000));
        sl_future_release(r.future);
    }
    finish_loop(loop);
    for (int i = 0; i < RACES; i++) {
        ck_assert_int_eq(atomic_load(&probes[i].calls), 1);
        ck_assert_int_eq(probes[i].status, 0);
        ck_assert(probes[i].on_loop_thread == (i % 2 == 1));
        probe_clean_up(&probes[i]);
    }
    free(probes);
}
END_TEST

void add_future_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("future", 60);
    tcase_add_test(tc, a_callback_registered_after_completion_runs_inline_at_once);
    tcase_add_test(tc, a_callback_registered_before_completion_runs_inside_complete);
    tcase_add_test(tc, completion_from_another_thread_wakes_a_waiter_and_runs_the_callback_there);
    tcase_add_test(tc, waiting_on_a_pending_future_times_out);
    tcase_add_test(tc, completing_twice_is_reported_and_keeps_the_first_result);
    tcase_add_test(tc, a_rejected_second_value_stays_with_the_caller);
    tcase_add_test(tc, completing_or_reading_with_the_wrong_type_is_reported);
    tcase_add_test(tc, bad_arguments_are_rejected);
    tcase_add_test(tc, a_failed_future_reports_its_error_to_the_callback_and_readers);
    tcase_add_test(tc, a_second_callback_is_refused);
    tcase_add_test(tc, on_done_if_pending_leaves_a_done_future_to_the_caller);
    tcase_add_test(tc, a_loop_callback_is_deferred_even_when_the_future_is_already_done);
    tcase_add_test(tc, a_loop_callback_runs_on_the_loop_after_completion_elsewhere);
    tcase_add_test(tc, a_loop_callback_is_cancelled_when_its_loop_is_destroyed_first);
    tcase_add_test(tc, a_ptr_value_is_destroyed_with_the_future_unless_taken);
    tcase_add_test(tc, waiting_on_a_loop_thread_is_refused);
    tcase_add_test(tc, a_future_released_while_pending_never_runs_its_callback);
    tcase_add_test(tc, a_future_without_memory_is_not_made);
    tcase_add_test(tc, racing_completion_and_registration_run_the_callback_exactly_once);
    suite_add_tcase(s, tc);
}
