/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_RETRY_TESTS_H
#define SL_RETRY_TESTS_H

#include <check.h>
#include <sluice/retry.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sl_loop;

void add_backoff_tests(Suite *s);
void add_exponential_tests(Suite *s);
void add_standard_tests(Suite *s);
void add_thread_tests(Suite *s);

/*
 * sl_test_tcase (leak checks, timeout) plus a check, after each test, that no callback meant
 * never to run has run.
 */
TCase *retry_tcase(const char *name, double timeout_s);

/* Creates and runs a loop; fails the test on error. */
struct sl_loop *start_loop(void);

/* Destroys a loop, failing the test on error. */
void finish_loop(struct sl_loop *loop);

/* Backoff options on one loop with no jitter and the given figures. */
struct sl_exponential_backoff_options backoff_on_loop(struct sl_loop *loop, uint32_t scale_ms,
                                                      uint32_t max_ms, uint32_t max_retries);

/*
 * The helpers below that return int never use ck_assert, which may only run on the test's own
 * thread (without fork, Check longjmps out of a failed assertion): worker threads use them.
 */

/*
 * Acquires a token on partition (a C string) and waits for it. Returns the acquisition's error,
 * the callback's status, or SL_E_TIMED_OUT.
 */
int acquire_token_and_wait(struct sl_retry_strategy *strategy, const char *partition,
                           struct sl_retry_token **out);

/* As acquire_token_and_wait, failing the test unless a token came. Test thread only. */
struct sl_retry_token *acquire_token(struct sl_retry_strategy *strategy, const char *partition);

/*
 * Schedules a retry and, if that succeeds, waits for on_ready. Returns the schedule's error,
 * SL_E_TIMED_OUT, SL_E_WRONG_THREAD if on_ready ran off the token's loop, or else on_ready's
 * status. *waited_ns (may be NULL) gets the loop-clock time from just before scheduling to
 * on_ready.
 */
int retry_and_wait(struct sl_retry_token *token, enum sl_retry_error_type error_type,
                   uint64_t *waited_ns);

/* Callbacks for calls that must not call back; they count in unexpected_callbacks(). */
void on_token_unexpected(struct sl_retry_token *token, int status, void *user_data);
void on_ready_unexpected(struct sl_retry_token *token, int status, void *user_data);
int unexpected_callbacks(void);

/* What a standard strategy's partition can still pay; fails the test unless it is found. */
size_t partition_capacity(struct sl_retry_strategy *strategy, const char *partition);

/* An injected random function that returns `value` and counts its calls. */
struct fixed_random {
    atomic_uint_fast64_t value;
    atomic_int calls;
};
uint64_t fixed_random_fn(void *user_data);

#endif
