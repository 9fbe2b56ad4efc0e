/* SPDX-License-Identifier: Apache-2.0 */
/* The exponential backoff strategy and the token API on real loops. */
#include "retry_tests.h"
#include "test_harness.h"

#include <sluice/buf.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/event_loop.h>
#include <sluice/event_loop_group.h>

#include <string.h>

/* Real delays are at least what was chosen; the upper bound only has to catch a lost timer. */
static const uint64_t SLACK_NS = 2 * SL_NS_PER_SEC;

static struct sl_retry_strategy *new_exponential(const struct sl_exponential_backoff_options *o)
{
    struct sl_retry_strategy *strategy = NULL;
    ck_assert_int_eq(sl_retry_strategy_new_exponential_backoff(o, &strategy), 0);
    return strategy;
}

static int try_new(struct sl_exponential_backoff_options o)
{
    struct sl_retry_strategy *strategy = NULL;
    int rc = sl_retry_strategy_new_exponential_backoff(&o, &strategy);
    sl_retry_strategy_release(strategy);
    return rc;
}

START_TEST(bad_options_are_rejected)
{
    struct sl_loop *loop = start_loop();
    struct sl_loop_group_options gopts = {.loop_count = 1};
    struct sl_loop_group *group = NULL;
    ck_assert_int_eq(sl_loop_group_new(&gopts, &group), 0);
    struct sl_exponential_backoff_options good = backoff_on_loop(loop, 0, 0, 0);
    struct sl_retry_strategy *out = NULL;

    ck_assert_int_eq(sl_retry_strategy_new_exponential_backoff(NULL, &out), SL_E_INVAL);
    ck_assert_int_eq(sl_retry_strategy_new_exponential_backoff(&good, NULL), SL_E_INVAL);
    struct sl_exponential_backoff_options o = good;
    o.loop = NULL;
    ck_assert_int_eq(try_new(o), SL_E_INVAL); /* neither a loop nor a group */
    o.group = group;
    ck_assert_int_eq(try_new(o), 0);
    o.loop = loop;
    ck_assert_int_eq(try_new(o), SL_E_INVAL); /* both */
    o = good;
    o.jitter = (enum sl_backoff_jitter)99;
    ck_assert_int_eq(try_new(o), SL_E_INVAL);
    o = good;
    o.backoff_scale_ms = 50;
    o.max_backoff_ms = 49;
    ck_assert_int_eq(try_new(o), SL_E_INVAL);
    o.max_backoff_ms = 0; /* the default cap, 20 s */
    ck_assert_int_eq(try_new(o), 0);
    o.backoff_scale_ms = 20001;
    ck_assert_int_eq(try_new(o), SL_E_INVAL);
    o = good;
    o.max_backoff_ms = SL_RETRY_MAX_BACKOFF_MS_LIMIT + 1;
    ck_assert_int_eq(try_new(o), SL_E_INVAL);
    o.max_backoff_ms = SL_RETRY_MAX_BACKOFF_MS_LIMIT;
    ck_assert_int_eq(try_new(o), 0);

    struct sl_standard_retry_options sopts = {.backoff = good};
    ck_assert_int_eq(sl_retry_strategy_new_standard(NULL, &out), SL_E_INVAL);
    sopts.max_partitions = SL_RETRY_MAX_PARTITIONS_LIMIT + 1;
    ck_assert_int_eq(sl_retry_strategy_new_standard(&sopts, &out), SL_E_INVAL);
    sopts.max_partitions = 0;
    sopts.backoff.loop = NULL;
    ck_assert_int_eq(sl_retry_strategy_new_standard(&sopts, &out), SL_E_INVAL);
    ck_assert_int_eq(sl_loop_group_destroy(group), 0);
    finish_loop(loop);
}
END_TEST

START_TEST(bad_token_arguments_are_rejected)
{
    struct sl_loop *loop = start_loop();
    struct sl_exponential_backoff_options good = backoff_on_loop(loop, 0, 0, 0);
    struct sl_retry_strategy *strategy = new_exponential(&good);
    struct sl_cursor empty = sl_cursor_from(NULL, 0);
    ck_assert_int_eq(sl_retry_strategy_acquire_token(NULL, empty, on_token_unexpected, NULL),
                     SL_E_INVAL);
    ck_assert_int_eq(sl_retry_strategy_acquire_token(strategy, empty, NULL, NULL), SL_E_INVAL);
    static char long_name[SL_RETRY_PARTITION_MAX_LEN + 2];
    memset(long_name, 'x', SL_RETRY_PARTITION_MAX_LEN + 1);
    ck_assert_int_eq(sl_retry_strategy_acquire_token(strategy, sl_cursor_from_cstr(long_name),
                                                     on_token_unexpected, NULL),
                     SL_E_INVAL);
    long_name[SL_RETRY_PARTITION_MAX_LEN] = '\0';
    sl_retry_token_release(acquire_token(strategy, long_name)); /* the longest allowed */
    struct sl_retry_token *token = acquire_token(strategy, "p");
    ck_assert_int_eq(sl_retry_token_schedule_retry(token, (enum sl_retry_error_type)7,
                                                   on_ready_unexpected, NULL),
                     SL_E_INVAL);
    ck_assert_int_eq(sl_retry_token_schedule_retry(token, SL_RETRY_ERROR_SERVER, NULL, NULL),
                     SL_E_INVAL);
    ck_assert_int_eq(
        sl_retry_token_schedule_retry(NULL, SL_RETRY_ERROR_SERVER, on_ready_unexpected, NULL),
        SL_E_INVAL);
    ck_assert_int_eq(sl_retry_token_record_success(NULL), SL_E_INVAL);
    ck_assert_int_eq(sl_retry_token_retry_count(token), 0);
    sl_retry_token_release(token);
    sl_retry_token_release(NULL);
    sl_retry_strategy_release(strategy);
    sl_retry_strategy_release(NULL);
    finish_loop(loop);
}
END_TEST

/* Acquisition ----------------------------------------------------------------------------- */

struct handover {
    struct sl_retry_strategy *strategy;
    struct sl_loop *loop;
    struct sl_test_latch done;
    atomic_bool returned; /* set once acquire_token has returned */
    bool ran_after_return;
    bool on_loop_thread;
    int status;
    struct sl_retry_token *token;
};

static void on_handover(struct sl_retry_token *token, int status, void *user_data)
{
    struct handover *h = user_data;
    h->status = status;
    h->ran_after_return = atomic_load(&h->returned);
    h->on_loop_thread = sl_loop_is_on_callers_thread(h->loop);
    h->token = token;
    sl_test_latch_add(&h->done, 1);
}

static void acquire_from_loop(void *arg)
{
    struct handover *h = arg;
    h->status =
        sl_retry_strategy_acquire_token(h->strategy, sl_cursor_from_cstr("p"), on_handover, h);
    atomic_store(&h->returned, true);
}

START_TEST(tokens_are_handed_over_on_the_loop_never_inline)
{
    struct sl_loop *loop = start_loop();
    struct sl_exponential_backoff_options o = backoff_on_loop(loop, 1, 1, 1);
    struct handover h = {.strategy = new_exponential(&o), .loop = loop};
    sl_test_latch_init(&h.done);
    /* From the loop's own thread, where running the callback at once would be tempting. */
    sl_test_run_on_loop(loop, acquire_from_loop, &h);
    ck_assert(sl_test_latch_wait(&h.done, 1, 10000));
    ck_assert_int_eq(h.status, 0);
    ck_assert(h.ran_after_return);
    ck_assert(h.on_loop_thread);
    ck_assert_ptr_eq(sl_retry_token_loop(h.token), loop);
    ck_assert_uint_eq(sl_retry_token_last_backoff_ns(h.token), 0);
    sl_retry_token_release(h.token);
    sl_retry_strategy_release(h.strategy);
    sl_test_latch_clean_up(&h.done);
    finish_loop(loop);
}
END_TEST

/* Delays ---------------------------------------------------------------------------------- */

START_TEST(no_jitter_retries_wait_their_exact_capped_delay)
{
    struct sl_loop *loop = start_loop();
    struct sl_exponential_backoff_options o = backoff_on_loop(loop, 3, 20, 5);
    struct sl_retry_strategy *strategy = new_exponential(&o);
    struct sl_retry_token *token = acquire_token(strategy, "");
    const uint64_t expected_ms[] = {3, 6, 12, 20, 20};
    for (uint32_t i = 0; i < SL_ARRAY_LEN(expected_ms); i++) {
        uint64_t waited = 0;
        ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_SERVER, &waited), 0);
        uint64_t delay = expected_ms[i] * SL_NS_PER_MS;
        ck_assert_uint_eq(sl_retry_token_last_backoff_ns(token), delay);
        ck_assert_uint_eq(sl_retry_token_retry_count(token), i + 1);
        ck_assert_msg(waited >= delay && waited < delay + SLACK_NS,
                      "retry %u waited %llu ns for %llu", i, (unsigned long long)waited,
                      (unsigned long long)delay);
    }
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

/* Runs retries with the injected random bits and checks each delay against expected_ms. */
static void check_injected_delays(enum sl_backoff_jitter jitter, uint64_t bits,
                                  const uint64_t *expected_ns, uint32_t count)
{
    struct sl_loop *loop = start_loop();
    struct fixed_random random = {.value = bits};
    struct sl_exponential_backoff_options o = backoff_on_loop(loop, 2, 16, count);
    o.jitter = jitter;
    o.random = fixed_random_fn;
    o.random_user_data = &random;
    struct sl_retry_strategy *strategy = new_exponential(&o);
    struct sl_retry_token *token = acquire_token(strategy, "");
    for (uint32_t i = 0; i < count; i++) {
        uint64_t waited = 0;
        ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_THROTTLING, &waited), 0);
        ck_assert_uint_eq(sl_retry_token_last_backoff_ns(token), expected_ns[i]);
        ck_assert_uint_ge(waited, expected_ns[i]);
        ck_assert_uint_lt(waited, expected_ns[i] + SLACK_NS);
    }
    ck_assert_int_eq(atomic_load(&random.calls), jitter == SL_BACKOFF_JITTER_NONE ? 0 : count);
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}

START_TEST(injected_random_bits_decide_the_jittered_delays)
{
    const uint64_t ms = SL_NS_PER_MS;
    const uint64_t full_top[] = {2 * ms, 4 * ms, 8 * ms, 16 * ms, 16 * ms};
    check_injected_delays(SL_BACKOFF_JITTER_FULL, UINT64_MAX, full_top, 5);
    check_injected_delays(SL_BACKOFF_JITTER_DEFAULT, UINT64_MAX, full_top, 5);
    const uint64_t full_half[] = {1 * ms, 2 * ms, 4 * ms, 8 * ms, 8 * ms};
    check_injected_delays(SL_BACKOFF_JITTER_FULL, UINT64_C(1) << 63, full_half, 5);
    const uint64_t zero[] = {0, 0, 0};
    check_injected_delays(SL_BACKOFF_JITTER_FULL, 0, zero, 3);
    const uint64_t decorrelated_top[] = {6 * ms, 16 * ms, 16 * ms};
    check_injected_delays(SL_BACKOFF_JITTER_DECORRELATED, UINT64_MAX, decorrelated_top, 3);
    const uint64_t decorrelated_bottom[] = {2 * ms, 2 * ms, 2 * ms};
    check_injected_delays(SL_BACKOFF_JITTER_DECORRELATED, 0, decorrelated_bottom, 3);
    const uint64_t none[] = {2 * ms, 4 * ms, 8 * ms};
    check_injected_delays(SL_BACKOFF_JITTER_NONE, UINT64_MAX, none, 3);
}
END_TEST

START_TEST(own_generator_keeps_every_jitter_mode_within_bounds)
{
    struct sl_loop *loop = start_loop();
    const enum sl_backoff_jitter modes[] = {SL_BACKOFF_JITTER_FULL, SL_BACKOFF_JITTER_DECORRELATED};
    for (size_t m = 0; m < SL_ARRAY_LEN(modes); m++) {
        struct sl_exponential_backoff_options o = backoff_on_loop(loop, 1, 4, 12);
        o.jitter = modes[m];
        struct sl_retry_strategy *strategy = new_exponential(&o);
        struct sl_retry_token *token = acquire_token(strategy, "");
        uint64_t previous = SL_NS_PER_MS;
        for (uint32_t i = 0; i < 12; i++) {
            ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_TRANSIENT, NULL), 0);
            uint64_t d = sl_retry_token_last_backoff_ns(token);
            uint64_t ceiling = (SL_NS_PER_MS << (i < 2 ? i : 2));
            if (modes[m] == SL_BACKOFF_JITTER_FULL) {
                ck_assert_uint_le(d, ceiling);
            } else {
                ck_assert_uint_ge(d, SL_NS_PER_MS);
                ck_assert_uint_le(d, 3 * previous < 4 * SL_NS_PER_MS ? 3 * previous
                                                                     : 4 * SL_NS_PER_MS);
            }
            previous = d;
        }
        sl_retry_token_release(token);
        sl_retry_strategy_release(strategy);
    }
    finish_loop(loop);
}
END_TEST

/* Refusals -------------------------------------------------------------------------------- */

START_TEST(max_retries_ends_with_exhausted_and_changes_nothing)
{
    struct sl_loop *loop = start_loop();
    struct sl_exponential_backoff_options o = backoff_on_loop(loop, 1, 1, 2);
    struct sl_retry_strategy *strategy = new_exponential(&o);
    struct sl_retry_token *token = acquire_token(strategy, "");
    ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_SERVER, NULL), 0);
    ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_TRANSIENT, NULL), 0);
    ck_assert_int_eq(
        sl_retry_token_schedule_retry(token, SL_RETRY_ERROR_SERVER, on_ready_unexpected, NULL),
        SL_E_RETRY_EXHAUSTED);
    ck_assert_int_eq(
        sl_retry_token_schedule_retry(token, SL_RETRY_ERROR_THROTTLING, on_ready_unexpected, NULL),
        SL_E_RETRY_EXHAUSTED);
    ck_assert_uint_eq(sl_retry_token_retry_count(token), 2);
    ck_assert_int_eq(sl_retry_token_record_success(token), 0);
    sl_retry_token_release(token);

    /* The default is three retries. */
    o.max_retries = 0;
    sl_retry_strategy_release(strategy);
    strategy = new_exponential(&o);
    token = acquire_token(strategy, "");
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_SERVER, NULL), 0);
    }
    ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_SERVER, NULL), SL_E_RETRY_EXHAUSTED);
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

START_TEST(client_errors_are_never_retried)
{
    struct sl_loop *loop = start_loop();
    struct sl_exponential_backoff_options o = backoff_on_loop(loop, 1, 1, 3);
    struct sl_retry_strategy *strategy = new_exponential(&o);
    struct sl_retry_token *token = acquire_token(strategy, "");
    ck_assert_int_eq(
        sl_retry_token_schedule_retry(token, SL_RETRY_ERROR_CLIENT, on_ready_unexpected, NULL),
        SL_E_RETRY_NOT_RETRYABLE);
    ck_assert_uint_eq(sl_retry_token_retry_count(token), 0);
    /* The refusal did not use up a retry, and the token still retries other errors. */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(retry_and_wait(token, SL_RETRY_ERROR_SERVER, NULL), 0);
    }
    /* Even with retries exhausted, a client error says so first. */
    ck_assert_int_eq(
        sl_retry_token_schedule_retry(token, SL_RETRY_ERROR_CLIENT, on_ready_unexpected, NULL),
        SL_E_RETRY_NOT_RETRYABLE);
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

struct ready_count {
    struct sl_test_latch done;
    atomic_int status;
};

static void on_ready_counted(struct sl_retry_token *token, int status, void *user_data)
{
    (void)token;
    struct ready_count *r = user_data;
    atomic_store(&r->status, status);
    sl_test_latch_add(&r->done, 1);
}

START_TEST(overlapping_retries_and_early_success_are_refused)
{
    struct sl_loop *loop = start_loop();
    struct sl_exponential_backoff_options o = backoff_on_loop(loop, 30, 30, 5);
    struct sl_retry_strategy *strategy = new_exponential(&o);
    struct sl_retry_token *token = acquire_token(strategy, "");
    struct ready_count r = {.status = 1};
    sl_test_latch_init(&r.done);
    ck_assert_int_eq(
        sl_retry_token_schedule_retry(token, SL_RETRY_ERROR_SERVER, on_ready_counted, &r), 0);
    ck_assert_int_eq(
        sl_retry_token_schedule_retry(token, SL_RETRY_ERROR_SERVER, on_ready_unexpected, NULL),
        SL_E_STATE);
    ck_assert_int_eq(sl_retry_token_record_success(token), SL_E_STATE);
    ck_assert(sl_test_latch_wait(&r.done, 1, 10000));
    ck_assert_int_eq(atomic_load(&r.status), 0);
    ck_assert_uint_eq(sl_retry_token_retry_count(token), 1);
    ck_assert_int_eq(sl_retry_token_record_success(token), 0);
    ck_assert_int_eq(sl_retry_token_record_success(token), SL_E_STATE);
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);
    sl_test_latch_clean_up(&r.done);
    finish_loop(loop);
}
END_TEST

START_TEST(exponential_strategy_has_no_buckets)
{
    struct sl_loop *loop = start_loop();
    struct sl_exponential_backoff_options o = backoff_on_loop(loop, 1, 1, 1);
    struct sl_retry_strategy *strategy = new_exponential(&o);
    size_t n = 0;
    ck_assert_int_eq(sl_retry_strategy_partition_capacity(strategy, sl_cursor_from_cstr(""), &n),
                     SL_E_UNSUPPORTED);
    ck_assert_int_eq(sl_retry_strategy_partition_capacity(strategy, sl_cursor_from_cstr(""), NULL),
                     SL_E_INVAL);
    sl_retry_strategy_release(strategy);
    finish_loop(loop);
}
END_TEST

/* Lifetimes ------------------------------------------------------------------------------- */

START_TEST(token_released_while_a_retry_is_pending_still_reports_ready)
{
    struct sl_loop *loop = start_loop();
    struct sl_exponential_backoff_options o = backoff_on_loop(loop, 20, 20, 1);
    struct sl_retry_strategy *strategy = new_exponential(&o);
    struct sl_retry_token *token = acquire_token(strategy, "");
    sl_retry_strategy_release(strategy); /* the token keeps it */
    struct ready_count r = {.status = 1};
    sl_test_latch_init(&r.done);
    ck_assert_int_eq(
        sl_retry_token_schedule_retry(token, SL_RETRY_ERROR_SERVER, on_ready_counted, &r), 0);
    sl_retry_token_release(token); /* the pending retry keeps the token */
    ck_assert(sl_test_latch_wait(&r.done, 1, 10000));
    ck_assert_int_eq(atomic_load(&r.status), 0);
    finish_loop(loop); /* after the callback returned, and the leak check follows */
    sl_test_latch_clean_up(&r.done);
}
END_TEST

struct cancellation {
    atomic_int calls;
    int status;
    struct sl_retry_token *token;
};

static void on_ready_cancelled(struct sl_retry_token *token, int status, void *user_data)
{
    struct cancellation *c = user_data;
    atomic_fetch_add(&c->calls, 1);
    c->status = status;
    c->token = token;
}

START_TEST(loop_destroyed_with_a_retry_pending_reports_canceled)
{
    struct sl_loop *loop = start_loop();
    struct sl_exponential_backoff_options o = backoff_on_loop(loop, 60000, 60000, 1);
    struct sl_retry_strategy *strategy = new_exponential(&o);
    struct sl_retry_token *token = acquire_token(strategy, "");
    struct cancellation c = {.status = 1};
    ck_assert_int_eq(
        sl_retry_token_schedule_retry(token, SL_RETRY_ERROR_SERVER, on_ready_cancelled, &c), 0);
    finish_loop(loop); /* a minute early */
    ck_assert_int_eq(atomic_load(&c.calls), 1);
    ck_assert_int_eq(c.status, SL_E_CANCELED);
    ck_assert_ptr_eq(c.token, token);
    ck_assert_int_eq(sl_retry_token_record_success(token), 0); /* no longer pending */
    sl_retry_token_release(token);
    sl_retry_strategy_release(strategy);
}
END_TEST

static void on_token_cancelled(struct sl_retry_token *token, int status, void *user_data)
{
    struct cancellation *c = user_data;
    atomic_fetch_add(&c->calls, 1);
    c->status = status;
    c->token = token;
}

START_TEST(loop_destroyed_before_the_handover_reports_canceled)
{
    struct sl_loop_options lopts = {.cpu = -1};
    struct sl_loop *loop = NULL;
    ck_assert_int_eq(sl_loop_new(&lopts, &loop), 0); /* never run: the handover stays pending */
    struct sl_exponential_backoff_options o = backoff_on_loop(loop, 1, 1, 1);
    struct sl_retry_strategy *strategy = new_exponential(&o);
    struct cancellation c = {.status = 1, .token = (struct sl_retry_token *)&c};
    ck_assert_int_eq(
        sl_retry_strategy_acquire_token(strategy, sl_cursor_from_cstr("p"), on_token_cancelled, &c),
        0);
    sl_retry_strategy_release(strategy); /* the pending token keeps it until it is cancelled */
    ck_assert_int_eq(atomic_load(&c.calls), 0);
    finish_loop(loop);
    ck_assert_int_eq(atomic_load(&c.calls), 1);
    ck_assert_int_eq(c.status, SL_E_CANCELED);
    ck_assert_ptr_null(c.token);
}
END_TEST

static void on_group_shutdown(void *user_data)
{
    sl_test_latch_add(user_data, 1);
}

START_TEST(group_strategy_spreads_tokens_and_keeps_the_group_alive)
{
    struct sl_test_latch shut_down;
    sl_test_latch_init(&shut_down);
    struct sl_loop_group_options gopts = {
        .loop_count = 2, .on_shutdown_complete = on_group_shutdown, .user_data = &shut_down};
    struct sl_loop_group *group = NULL;
    ck_assert_int_eq(sl_loop_group_new(&gopts, &group), 0);
    struct sl_exponential_backoff_options o = {
        .group = group, .backoff_scale_ms = 1, .max_backoff_ms = 2};
    struct sl_retry_strategy *strategy = new_exponential(&o);
    sl_loop_group_release(group); /* the strategy holds its own reference */

    struct sl_retry_token *tokens[4];
    for (size_t i = 0; i < SL_ARRAY_LEN(tokens); i++) {
        tokens[i] = acquire_token(strategy, "");
        ck_assert_int_eq(retry_and_wait(tokens[i], SL_RETRY_ERROR_SERVER, NULL), 0);
    }
    ck_assert_ptr_ne(sl_retry_token_loop(tokens[0]), sl_retry_token_loop(tokens[1]));
    ck_assert_int_eq(sl_test_latch_get(&shut_down), 0);
    sl_retry_strategy_release(strategy);
    for (size_t i = 0; i < SL_ARRAY_LEN(tokens); i++) {
        ck_assert_int_eq(sl_test_latch_get(&shut_down), 0); /* each token holds the strategy */
        sl_retry_token_release(tokens[i]);
    }
    ck_assert(sl_test_latch_wait(&shut_down, 1, 10000));
    sl_test_latch_clean_up(&shut_down);
}
END_TEST

void add_exponential_tests(Suite *s)
{
    TCase *tc = retry_tcase("exponential", 60);
    tcase_add_test(tc, bad_options_are_rejected);
    tcase_add_test(tc, bad_token_arguments_are_rejected);
    tcase_add_test(tc, tokens_are_handed_over_on_the_loop_never_inline);
    tcase_add_test(tc, no_jitter_retries_wait_their_exact_capped_delay);
    tcase_add_test(tc, injected_random_bits_decide_the_jittered_delays);
    tcase_add_test(tc, own_generator_keeps_every_jitter_mode_within_bounds);
    tcase_add_test(tc, max_retries_ends_with_exhausted_and_changes_nothing);
    tcase_add_test(tc, client_errors_are_never_retried);
    tcase_add_test(tc, overlapping_retries_and_early_success_are_refused);
    tcase_add_test(tc, exponential_strategy_has_no_buckets);
    suite_add_tcase(s, tc);

    tc = retry_tcase("lifetimes", 60);
    tcase_add_test(tc, token_released_while_a_retry_is_pending_still_reports_ready);
    tcase_add_test(tc, loop_destroyed_with_a_retry_pending_reports_canceled);
    tcase_add_test(tc, loop_destroyed_before_the_handover_reports_canceled);
    tcase_add_test(tc, group_strategy_spreads_tokens_and_keeps_the_group_alive);
    suite_add_tcase(s, tc);
}
