/* SPDX-License-Identifier: Apache-2.0 */
/* Strategies shared by threads: acquisitions and retries from anywhere, callbacks chaining. */
#include "retry_tests.h"
#include "test_harness.h"

#include <sluice/buf.h>
#include <sluice/error.h>
#include <sluice/event_loop.h>
#include <sluice/event_loop_group.h>

#include <pthread.h>
#include <stdio.h>

enum { THREADS = 4, OPERATIONS_PER_THREAD = 40 };

static struct sl_loop_group *new_group(void)
{
    struct sl_loop_group_options gopts = {.loop_count = 2};
    struct sl_loop_group *group = NULL;
    ck_assert_int_eq(sl_loop_group_new(&gopts, &group), 0);
    return group;
}

static struct sl_retry_strategy *new_standard_on_group(struct sl_loop_group *group,
                                                       uint32_t max_partitions)
{
    struct sl_standard_retry_options o = {
        .backoff = {.group = group, .max_retries = 3, .backoff_scale_ms = 1, .max_backoff_ms = 2},
        .initial_bucket_capacity = 10000,
        .max_partitions = max_partitions,
    };
    struct sl_retry_strategy *strategy = NULL;
    ck_assert_int_eq(sl_retry_strategy_new_standard(&o, &strategy), 0);
    return strategy;
}

/*
 * Blocking style: each thread acquires, retries and succeeds, one operation at a time. Worker
 * threads count failures instead of asserting (see retry_tests.h).
 */
struct worker {
    pthread_t thread;
    struct sl_retry_strategy *strategy;
    int index;
    bool private_partitions; /* a name per operation instead of the shared one */
    int failures;
};

static int run_operation(struct worker *w, int i)
{
    char name[32];
    snprintf(name, sizeof(name), "p-%d-%d", w->index, i % 11);
    struct sl_retry_token *token = NULL;
    int rc = acquire_token_and_wait(w->strategy, w->private_partitions ? name : "shared", &token);
    if (rc < 0) {
        return rc;
    }
    enum sl_retry_error_type type = i % 2 ? SL_RETRY_ERROR_TRANSIENT : SL_RETRY_ERROR_SERVER;
    rc = retry_and_wait(token, type, NULL);
    if (rc == 0) {
        rc = sl_retry_token_record_success(token);
    }
    sl_retry_token_release(token);
    return rc;
}

static void *run_operations(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < OPERATIONS_PER_THREAD; i++) {
        if (run_operation(w, i) < 0) {
            w->failures++;
        }
    }
    return NULL;
}

static void run_workers(struct sl_retry_strategy *strategy, bool private_partitions)
{
    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){
            .strategy = strategy, .index = i, .private_partitions = private_partitions};
        ck_assert_int_eq(pthread_create(&workers[i].thread, NULL, run_operations, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(workers[i].thread, NULL), 0);
        ck_assert_int_eq(workers[i].failures, 0);
    }
}

START_TEST(threads_share_a_bucket_and_every_refund_lands)
{
    struct sl_loop_group *group = new_group();
    struct sl_retry_strategy *strategy = new_standard_on_group(group, 0);
    run_workers(strategy, false);
    /* Every operation paid for one retry and got it back on success. */
    ck_assert_uint_eq(partition_capacity(strategy, "shared"), 10000);
    sl_retry_strategy_release(strategy);
    ck_assert_int_eq(sl_loop_group_destroy(group), 0);
}
END_TEST

START_TEST(threads_churn_partitions_through_a_small_table)
{
    struct sl_loop_group *group = new_group();
    struct sl_retry_strategy *strategy = new_standard_on_group(group, 4);
    run_workers(strategy, true);
    sl_retry_strategy_release(strategy);
    ck_assert_int_eq(sl_loop_group_destroy(group), 0);
}
END_TEST

/*
 * Callback style, as a client would write it: every step is started from the previous
 * callback, on the loops, while the test thread only fires acquisitions from outside.
 * Each operation fails twice (a retry each time) and then succeeds.
 */
struct chained {
    struct sl_test_latch *finished;
    atomic_int *failures;
    int attempts;
};

static void attempt(struct sl_retry_token *token, struct chained *op);

static void on_chained_ready(struct sl_retry_token *token, int status, void *user_data)
{
    struct chained *op = user_data;
    if (status != 0) {
        atomic_fetch_add(op->failures, 1);
    }
    attempt(token, op);
}

static void attempt(struct sl_retry_token *token, struct chained *op)
{
    if (++op->attempts <= 2) {
        if (sl_retry_token_schedule_retry(token, SL_RETRY_ERROR_THROTTLING, on_chained_ready, op) !=
            0) {
            atomic_fetch_add(op->failures, 1);
        }
        return;
    }
    if (sl_retry_token_record_success(token) != 0) {
        atomic_fetch_add(op->failures, 1);
    }
    sl_retry_token_release(token);
    sl_test_latch_add(op->finished, 1);
}

static void on_chained_token(struct sl_retry_token *token, int status, void *user_data)
{
    struct chained *op = user_data;
    if (status != 0) {
        atomic_fetch_add(op->failures, 1);
        sl_test_latch_add(op->finished, 1);
        return;
    }
    attempt(token, op);
}

START_TEST(callbacks_chain_retries_on_the_loops)
{
    enum { OPS = 200 };
    struct sl_loop_group *group = new_group();
    struct sl_retry_strategy *strategy = new_standard_on_group(group, 0);
    static struct chained ops[OPS];
    struct sl_test_latch finished;
    sl_test_latch_init(&finished);
    atomic_int failures = 0;
    for (int i = 0; i < OPS; i++) {
        ops[i] = (struct chained){.finished = &finished, .failures = &failures};
        ck_assert_int_eq(sl_retry_strategy_acquire_token(strategy, sl_cursor_from_cstr("shared"),
                                                         on_chained_token, &ops[i]),
                         0);
    }
    ck_assert(sl_test_latch_wait(&finished, OPS, 30000));
    ck_assert_int_eq(atomic_load(&failures), 0);
    /* Two retries paid per operation, the last one refunded: 5 tokens kept by each. */
    ck_assert_uint_eq(partition_capacity(strategy, "shared"), 10000 - 5 * OPS);
    sl_retry_strategy_release(strategy);
    ck_assert_int_eq(sl_loop_group_destroy(group), 0);
    sl_test_latch_clean_up(&finished);
}
END_TEST

void add_thread_tests(Suite *s)
{
    TCase *tc = retry_tcase("threads", 120);
    tcase_add_test(tc, threads_share_a_bucket_and_every_refund_lands);
    tcase_add_test(tc, threads_churn_partitions_through_a_small_table);
    tcase_add_test(tc, callbacks_chain_retries_on_the_loops);
    suite_add_tcase(s, tc);
}
