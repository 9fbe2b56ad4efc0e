/* SPDX-License-Identifier: Apache-2.0 */
#include "retry_tests.h"
#include "test_harness.h"

#include <sluice/buf.h>
#include <sluice/error.h>
#include <sluice/event_loop.h>

struct sl_loop *start_loop(void)
{
    struct sl_loop_options opts = {.name = "sl-test-retry", .cpu = -1};
    struct sl_loop *loop = NULL;
    ck_assert_int_eq(sl_loop_new(&opts, &loop), 0);
    ck_assert_int_eq(sl_loop_run(loop), 0);
    return loop;
}

void finish_loop(struct sl_loop *loop)
{
    ck_assert_int_eq(sl_loop_destroy(loop), 0);
}

struct sl_exponential_backoff_options backoff_on_loop(struct sl_loop *loop, uint32_t scale_ms,
                                                      uint32_t max_ms, uint32_t max_retries)
{
    return (struct sl_exponential_backoff_options){
        .loop = loop,
        .max_retries = max_retries,
        .backoff_scale_ms = scale_ms,
        .max_backoff_ms = max_ms,
        .jitter = SL_BACKOFF_JITTER_NONE,
    };
}

struct acquisition {
    struct sl_test_latch done;
    struct sl_retry_token *token;
    int status;
};

static void on_token(struct sl_retry_token *token, int status, void *user_data)
{
    struct acquisition *a = user_data;
    a->token = token;
    a->status = status;
    sl_test_latch_add(&a->done, 1);
}

int acquire_token_and_wait(struct sl_retry_strategy *strategy, const char *partition,
                           struct sl_retry_token **out)
{
    struct acquisition a = {.status = 1};
    sl_test_latch_init(&a.done);
    int rc =
        sl_retry_strategy_acquire_token(strategy, sl_cursor_from_cstr(partition), on_token, &a);
    if (rc == 0) {
        rc = sl_test_latch_wait(&a.done, 1, 10000) ? a.status : SL_E_TIMED_OUT;
    }
    sl_test_latch_clean_up(&a.done);
    *out = rc == 0 ? a.token : NULL;
    return rc;
}

struct sl_retry_token *acquire_token(struct sl_retry_strategy *strategy, const char *partition)
{
    struct sl_retry_token *token = NULL;
    ck_assert_int_eq(acquire_token_and_wait(strategy, partition, &token), 0);
    ck_assert_ptr_nonnull(token);
    return token;
}

struct readiness {
    struct sl_test_latch done;
    int status;
    uint64_t ready_at_ns;
    bool on_token_loop;
};

static void on_ready(struct sl_retry_token *token, int status, void *user_data)
{
    struct readiness *r = user_data;
    struct sl_loop *loop = sl_retry_token_loop(token);
    r->status = status;
    r->ready_at_ns = sl_loop_now_ns(loop);
    r->on_token_loop = sl_loop_is_on_callers_thread(loop);
    sl_test_latch_add(&r->done, 1);
}

int retry_and_wait(struct sl_retry_token *token, enum sl_retry_error_type error_type,
                   uint64_t *waited_ns)
{
    struct readiness r = {.status = 1};
    sl_test_latch_init(&r.done);
    uint64_t before_ns = sl_loop_now_ns(sl_retry_token_loop(token));
    int rc = sl_retry_token_schedule_retry(token, error_type, on_ready, &r);
    if (rc == 0 && !sl_test_latch_wait(&r.done, 1, 30000)) {
        rc = SL_E_TIMED_OUT;
    } else if (rc == 0) {
        rc = r.on_token_loop ? r.status : SL_E_WRONG_THREAD;
        if (waited_ns) {
            *waited_ns = r.ready_at_ns - before_ns;
        }
    }
    sl_test_latch_clean_up(&r.done);
    return rc;
}

static atomic_int s_unexpected_callbacks;

void on_token_unexpected(struct sl_retry_token *token, int status, void *user_data)
{
    (void)token;
    (void)status;
    (void)user_data;
    atomic_fetch_add(&s_unexpected_callbacks, 1);
}

void on_ready_unexpected(struct sl_retry_token *token, int status, void *user_data)
{
    (void)token;
    (void)status;
    (void)user_data;
    atomic_fetch_add(&s_unexpected_callbacks, 1);
}

int unexpected_callbacks(void)
{
    return atomic_load(&s_unexpected_callbacks);
}

static void check_no_unexpected_callbacks(void)
{
    ck_assert_int_eq(unexpected_callbacks(), 0);
}

TCase *retry_tcase(const char *name, double timeout_s)
{
    TCase *tc = sl_test_tcase(name, timeout_s);
    tcase_add_checked_fixture(tc, NULL, check_no_unexpected_callbacks);
    return tc;
}

size_t partition_capacity(struct sl_retry_strategy *strategy, const char *partition)
{
    size_t n = 0;
    ck_assert_int_eq(
        sl_retry_strategy_partition_capacity(strategy, sl_cursor_from_cstr(partition), &n), 0);
    return n;
}

uint64_t fixed_random_fn(void *user_data)
{
    struct fixed_random *r = user_data;
    atomic_fetch_add(&r->calls, 1);
    return atomic_load(&r->value);
}

int main(void)
{
    Suite *s = suite_create("retry");
    add_backoff_tests(s);
    add_exponential_tests(s);
    add_standard_tests(s);
    add_thread_tests(s);
    return sl_test_run(s);
}
