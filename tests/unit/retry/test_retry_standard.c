/* SPDX-License-Identifier: Apache-2.0 */
/* The standard strategy: a retry-token bucket per partition over the exponential backoff. */
#include "retry_tests.h"
#include "test_harness.h"

#include <sluice/alloc.h>
#include <sluice/buf.h>
#include <sluice/error.h>
#include <sluice/event_loop.h>

#include <stdio.h>

/* A standard strategy on loop with 1 ms delays, room for many retries, and this capacity. */
static struct sl_retry_strategy *new_standard(struct sl_loop *loop, uint32_t capacity,
                                              uint32_t max_partitions)
{
    struct sl_standard_retry_options o = {
        .backoff = backoff_on_loop(loop, 1, 1, 1000),
        .initial_bucket_capacity = capacity,
        .max_partitions = max_partitions,
    };
    struct sl_retry_strategy *strategy = NULL;
    ck_assert_int_eq(sl_retry_strategy_new_standard(&o, &strategy), 0);
    return strategy;
}

static int refused(struct sl_retry_token *token, enum sl_retry_error_type error_type)
{
    return sl_retry_token_schedule_retry(token, error_type, on_ready_unexpected, NULL);
}

START_TEST(bucket_drains_by_the_retry_cost_until_retries_are_refused)
{
    struct sl_loop *loop = start_loop();
    struct sl_retry_strategy *strategy = new_standard(loop, 22, 0);
    struct sl_retry_token *token = acquire_token(strategy, "db.example");
    ck_assert_uint_eq(partition_capacity(strategy, "db.example"), 22);
    const enum sl_retry_error_type types[] = {SL_RETRY_ERROR_SERVER, SL_RETRY_ERROR_THROTTLING,
                                              SL_RETRY_ERROR_SERVER, SL_RETRY_ERROR_THROTTLING};
    for (size_t i = 0; i < SL_ARRAY_LEN(types); i++) {
        ck_assert_int_eq(retry_and_wait(token, types[i], NULL), 0);
        ck_assert_uint_eq(partition_capacity(strategy, "db.example"), 22 - 5 * (i + 1));
    }
    /* 2 left: neither kind of retry can be paid for, and the refusals cost nothing. */
    ck_assert_int_eq(refused(token, SL_RETRY_ERROR_SERVER), SL_E_RETRY_QUOTA_EXCEEDED);
    ck_assert_int_eq(refused(token, SL_RETRY_ERROR_TRANSIENT), SL_E_RETRY_QUOTA_EXCEEDED);
    ck_assert_uint_eq(partition_capacity(strategy, "db.example"), 2);
    ck_assert_uint_eq(sl_retry_token_retry_count(token), 4);
    sl_retry_token_release(token);

    /* A fresh token on the same partition finds the same drained bucket. */
    token = acquire_token(strategy, "db.example");
    ck_assert_int_eq(refused(token, SL_RETRY_ERROR_THROTTLING), SL_E_RETRY_QUOTA_EXCEEDED);
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

START_TEST(transient_errors_cost_the_timeout_cost)
{
    struct sl_loop *loop = start_loop();
    struct sl_retry_strategy *strategy = new_standard(loop, 25, 0);
    struct sl_retry_token *token = acquire_token(strategy, "p");
    ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_TRANSIENT, NULL), 0);
    ck_assert_uint_eq(partition_capacity(strategy, "p"), 15);
    ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_TRANSIENT, NULL), 0);
    ck_assert_uint_eq(partition_capacity(strategy, "p"), 5);
    /* 5 left: too little for a timeout, enough for a server error. */
    ck_assert_int_eq(refused(token, SL_RETRY_ERROR_TRANSIENT), SL_E_RETRY_QUOTA_EXCEEDED);
    ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_SERVER, NULL), 0);
    ck_assert_uint_eq(partition_capacity(strategy, "p"), 0);
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

/* Acquires a token on partition and records a success at the first attempt. */
static void succeed_at_once(struct sl_retry_strategy *strategy, const char *partition)
{
    struct sl_retry_token *token = acquire_token(strategy, partition);
    ck_assert_int_eq(sl_retry_token_record_success(token), 0);
    sl_retry_token_release(token);
}

START_TEST(successes_refill_the_bucket_up_to_its_capacity)
{
    struct sl_loop *loop = start_loop();
    struct sl_retry_strategy *strategy = new_standard(loop, 30, 0);
    struct sl_retry_token *token = acquire_token(strategy, "p");
    ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_SERVER, NULL), 0);
    ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_TRANSIENT, NULL), 0);
    ck_assert_uint_eq(partition_capacity(strategy, "p"), 15);
    /* Success after retries gives back what the last retry paid, not the earlier ones. */
    ck_assert_int_eq(sl_retry_token_record_success(token), 0);
    ck_assert_uint_eq(partition_capacity(strategy, "p"), 25);
    sl_retry_token_release(token);
    /* Success at the first attempt adds one, up to the capacity and never beyond. */
    for (size_t i = 1; i <= 8; i++) {
        succeed_at_once(strategy, "p");
        ck_assert_uint_eq(partition_capacity(strategy, "p"), 25 + (i < 5 ? i : 5));
    }
    /* A refund larger than the room left is cut at the capacity. */
    token = acquire_token(strategy, "p");
    ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_THROTTLING, NULL), 0);
    succeed_at_once(strategy, "p");
    ck_assert_uint_eq(partition_capacity(strategy, "p"), 26);
    ck_assert_int_eq(sl_retry_token_record_success(token), 0);
    ck_assert_uint_eq(partition_capacity(strategy, "p"), 30);
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

START_TEST(refused_retries_cost_nothing)
{
    struct sl_loop *loop = start_loop();
    struct sl_standard_retry_options o = {.backoff = backoff_on_loop(loop, 1, 1, 1),
                                          .initial_bucket_capacity = 100};
    struct sl_retry_strategy *strategy = NULL;
    ck_assert_int_eq(sl_retry_strategy_new_standard(&o, &strategy), 0);
    struct sl_retry_token *token = acquire_token(strategy, "p");
    ck_assert_int_eq(refused(token, SL_RETRY_ERROR_CLIENT), SL_E_RETRY_NOT_RETRYABLE);
    ck_assert_uint_eq(partition_capacity(strategy, "p"), 100);
    ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_TRANSIENT, NULL), 0);
    ck_assert_uint_eq(partition_capacity(strategy, "p"), 90);
    ck_assert_int_eq(refused(token, SL_RETRY_ERROR_TRANSIENT), SL_E_RETRY_EXHAUSTED);
    ck_assert_uint_eq(partition_capacity(strategy, "p"), 90);
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

START_TEST(partitions_have_independent_buckets)
{
    struct sl_loop *loop = start_loop();
    struct sl_retry_strategy *strategy = new_standard(loop, 10, 0);
    struct sl_retry_token *a = acquire_token(strategy, "a.example");
    struct sl_retry_token *b = acquire_token(strategy, "b.example");
    struct sl_retry_token *none = acquire_token(strategy, ""); /* the empty name is a partition */
    ck_assert_int_eq(retry_and_wait(a, SL_RETRY_ERROR_TRANSIENT, NULL), 0);
    ck_assert_int_eq(refused(a, SL_RETRY_ERROR_SERVER), SL_E_RETRY_QUOTA_EXCEEDED);
    ck_assert_uint_eq(partition_capacity(strategy, "a.example"), 0);
    ck_assert_uint_eq(partition_capacity(strategy, "b.example"), 10);
    ck_assert_uint_eq(partition_capacity(strategy, ""), 10);
    ck_assert_int_eq(retry_and_wait(b, SL_RETRY_ERROR_SERVER, NULL), 0);
    ck_assert_int_eq(retry_and_wait(none, SL_RETRY_ERROR_SERVER, NULL), 0);
    ck_assert_uint_eq(partition_capacity(strategy, "b.example"), 5);
    ck_assert_uint_eq(partition_capacity(strategy, ""), 5);
    /* Names are compared as bytes: a prefix is another partition. */
    size_t n = 0;
    ck_assert_int_eq(
        sl_retry_strategy_partition_capacity(strategy, sl_cursor_from_cstr("a.exampl"), &n),
        SL_E_NOT_FOUND);
    sl_retry_token_release(a);
    sl_retry_token_release(b);
    sl_retry_token_release(none);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

static bool is_tracked(struct sl_retry_strategy *strategy, const char *partition)
{
    size_t n = 0;
    int rc = sl_retry_strategy_partition_capacity(strategy, sl_cursor_from_cstr(partition), &n);
    ck_assert(rc == 0 || rc == SL_E_NOT_FOUND);
    return rc == 0;
}

START_TEST(full_partition_table_forgets_idle_buckets_then_shares_an_overflow_bucket)
{
    struct sl_loop *loop = start_loop();
    struct sl_retry_strategy *strategy = new_standard(loop, 10, 2);
    struct sl_retry_token *a = acquire_token(strategy, "a");
    struct sl_retry_token *b = acquire_token(strategy, "b");
    ck_assert_int_eq(retry_and_wait(a, SL_RETRY_ERROR_SERVER, NULL), 0);

    /* Both buckets are held: c and d share the overflow bucket and get no entry. */
    struct sl_retry_token *c = acquire_token(strategy, "c");
    struct sl_retry_token *d = acquire_token(strategy, "d");
    ck_assert(!is_tracked(strategy, "c"));
    ck_assert_int_eq(retry_and_wait(c, SL_RETRY_ERROR_TRANSIENT, NULL), 0);
    ck_assert_int_eq(refused(d, SL_RETRY_ERROR_SERVER), SL_E_RETRY_QUOTA_EXCEEDED);
    ck_assert_uint_eq(partition_capacity(strategy, "a"), 5);
    ck_assert_uint_eq(partition_capacity(strategy, "b"), 10);
    sl_retry_token_release(c);
    sl_retry_token_release(d);

    /* Once a is idle it is the one forgotten to make room, and it comes back full. */
    sl_retry_token_release(a);
    struct sl_retry_token *e = acquire_token(strategy, "e");
    ck_assert(is_tracked(strategy, "e"));
    ck_assert(!is_tracked(strategy, "a"));
    ck_assert(is_tracked(strategy, "b"));
    sl_retry_token_release(e);
    sl_retry_token_release(b);
    /* Both idle now: b became idle last, so e (idle longer) goes first. */
    a = acquire_token(strategy, "a");
    ck_assert_uint_eq(partition_capacity(strategy, "a"), 10);
    ck_assert(!is_tracked(strategy, "e"));
    ck_assert(is_tracked(strategy, "b"));
    sl_retry_token_release(a);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

START_TEST(many_partitions_churn_through_a_small_table)
{
    struct sl_loop *loop = start_loop();
    struct sl_retry_strategy *strategy = new_standard(loop, 10, 8);
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof(name), "host-%d.example", i % 37);
        struct sl_retry_token *token = acquire_token(strategy, name);
        ck_assert_int_eq(sl_retry_token_record_success(token), 0);
        sl_retry_token_release(token);
        ck_assert(is_tracked(strategy, name));
    }
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

START_TEST(allocation_failures_are_reported_and_leak_nothing)
{
    struct sl_loop *loop = start_loop();
    struct sl_standard_retry_options o = {.backoff = backoff_on_loop(loop, 1, 1, 1)};
    struct sl_retry_strategy *strategy = NULL;
    /* Creation allocates the strategy, its hash slots and the overflow bucket. */
    for (uint64_t n = 1; n <= 3; n++) {
        ck_assert_int_eq(sl_alloc_fail_at(n), 0);
        ck_assert_int_eq(sl_retry_strategy_new_standard(&o, &strategy), SL_E_NOMEM);
    }
    ck_assert_int_eq(sl_alloc_fail_at(0), 0);
    ck_assert_int_eq(sl_retry_strategy_new_standard(&o, &strategy), 0);
    /* A token on a new partition allocates the token, then the bucket. */
    for (uint64_t n = 1; n <= 2; n++) {
        ck_assert_int_eq(sl_alloc_fail_at(n), 0);
        ck_assert_int_eq(sl_retry_strategy_acquire_token(strategy, sl_cursor_from_cstr("new"),
                                                         on_token_unexpected, NULL),
                         SL_E_NOMEM);
    }
    ck_assert_int_eq(sl_alloc_fail_at(0), 0);
    ck_assert(!is_tracked(strategy, "new"));
    struct sl_retry_token *token = acquire_token(strategy, "new");
    ck_assert_uint_eq(partition_capacity(strategy, "new"), 500); /* the default capacity */
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);

    struct sl_exponential_backoff_options e = backoff_on_loop(loop, 1, 1, 1);
    ck_assert_int_eq(sl_alloc_fail_at(1), 0);
    ck_assert_int_eq(sl_retry_strategy_new_exponential_backoff(&e, &strategy), SL_E_NOMEM);
    ck_assert_int_eq(sl_alloc_fail_at(0), 0);
    finish_loop(loop);
}
END_TEST

void add_standard_tests(Suite *s)
{
    TCase *tc = retry_tcase("standard", 60);
    tcase_add_test(tc, bucket_drains_by_the_retry_cost_until_retries_are_refused);
    tcase_add_test(tc, transient_errors_cost_the_timeout_cost);
    tcase_add_test(tc, successes_refill_the_bucket_up_to_its_capacity);
    tcase_add_test(tc, refused_retries_cost_nothing);
    tcase_add_test(tc, partitions_have_independent_buckets);
    tcase_add_test(tc, full_partition_table_forgets_idle_buckets_then_shares_an_overflow_bucket);
    tcase_add_test(tc, many_partitions_churn_through_a_small_table);
    tcase_add_test(tc, allocation_failures_are_reported_and_leak_nothing);
    suite_add_tcase(s, tc);
}
