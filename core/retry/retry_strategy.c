/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/retry.h>

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/event_loop.h>
#include <sluice/event_loop_group.h>
#include <sluice/log.h>

#include "guard.h"
#include "retry_internal.h"

/* Options --------------------------------------------------------------------------------- */

static bool jitter_is_known(enum sl_backoff_jitter jitter)
{
    switch (jitter) {
    case SL_BACKOFF_JITTER_DEFAULT:
    case SL_BACKOFF_JITTER_NONE:
    case SL_BACKOFF_JITTER_FULL:
    case SL_BACKOFF_JITTER_DECORRELATED:
        return true;
    }
    return false;
}

static uint32_t or_default(uint32_t value, uint32_t fallback)
{
    return value ? value : fallback;
}

int sl__retry_backoff_options_check(const struct sl_exponential_backoff_options *opts)
{
    SL_ENSURE_ARG(opts);
    if (!opts->group == !opts->loop) {
        SL_LOG_ERROR(SL_LS_RETRY, "retry strategy: give exactly one of a loop group and a loop");
        return SL_E_INVAL;
    }
    if (!jitter_is_known(opts->jitter)) {
        SL_LOG_ERROR(SL_LS_RETRY, "retry strategy: unknown jitter mode %d", (int)opts->jitter);
        return SL_E_INVAL;
    }
    uint32_t scale_ms = or_default(opts->backoff_scale_ms, SL__RETRY_DEFAULT_SCALE_MS);
    uint32_t max_ms = or_default(opts->max_backoff_ms, SL__RETRY_DEFAULT_MAX_BACKOFF_MS);
    if (max_ms > SL_RETRY_MAX_BACKOFF_MS_LIMIT) {
        SL_LOG_ERROR(SL_LS_RETRY, "retry strategy: max backoff %u ms is above one day", max_ms);
        return SL_E_INVAL;
    }
    if (max_ms < scale_ms) {
        SL_LOG_ERROR(SL_LS_RETRY, "retry strategy: max backoff %u ms is below the scale %u ms",
                     max_ms, scale_ms);
        return SL_E_INVAL;
    }
    return 0;
}

void sl__retry_strategy_init(struct sl_retry_strategy *strategy,
                             const struct sl__retry_strategy_vtable *vtable,
                             const struct sl_exponential_backoff_options *opts)
{
    SL_ASSERT(vtable->attach && vtable->pay_for_retry && vtable->record_success);
    SL_ASSERT(vtable->detach && vtable->partition_capacity && vtable->destroy);
    strategy->vtable = vtable;
    sl_ref_init(&strategy->ref, 1);
    strategy->loop = opts->loop;
    strategy->group = opts->group;
    if (strategy->group) {
        sl_loop_group_acquire(strategy->group); /* dropped in sl__retry_strategy_clean_up */
    }
    strategy->max_retries = or_default(opts->max_retries, SL__RETRY_DEFAULT_MAX_RETRIES);
    uint32_t scale_ms = or_default(opts->backoff_scale_ms, SL__RETRY_DEFAULT_SCALE_MS);
    uint32_t max_ms = or_default(opts->max_backoff_ms, SL__RETRY_DEFAULT_MAX_BACKOFF_MS);
    strategy->backoff = (struct sl__backoff){
        .scale_ns = scale_ms * SL_NS_PER_MS,
        .max_ns = max_ms * SL_NS_PER_MS,
        .jitter = opts->jitter == SL_BACKOFF_JITTER_DEFAULT ? SL_BACKOFF_JITTER_FULL : opts->jitter,
    };
    strategy->random = opts->random;
    strategy->random_user_data = opts->random_user_data;
    sl__rng_seed(&strategy->rng);
}

void sl__retry_strategy_clean_up(struct sl_retry_strategy *strategy)
{
    /* May be the group's last reference, from one of its own loops: that is allowed. */
    if (strategy->group) {
        sl_loop_group_release(strategy->group);
    }
}

/* Lifecycle ------------------------------------------------------------------------------- */

void sl_retry_strategy_acquire(struct sl_retry_strategy *strategy)
{
    sl_ref_acquire(&strategy->ref);
}

void sl_retry_strategy_release(struct sl_retry_strategy *strategy)
{
    if (strategy && sl_ref_release(&strategy->ref)) {
        strategy->vtable->destroy(strategy);
    }
}

int sl_retry_strategy_partition_capacity(struct sl_retry_strategy *strategy,
                                         struct sl_cursor partition, size_t *out)
{
    SL_ENSURE_ARG(strategy && out);
    SL_ENSURE_ARG(partition.ptr || partition.len == 0);
    return strategy->vtable->partition_capacity(strategy, partition, out);
}

/* Tokens ---------------------------------------------------------------------------------- */

/* Runs when the last reference goes: after the holder released it and no retry is pending. */
static void token_destroy(struct sl_retry_token *token)
{
    struct sl_retry_strategy *strategy = token->strategy;
    strategy->vtable->detach(strategy, token);
    sl_free(token);
    sl_retry_strategy_release(strategy); /* the token's reference */
}

static void token_unref(struct sl_retry_token *token)
{
    if (sl_ref_release(&token->ref)) {
        token_destroy(token);
    }
}

void sl_retry_token_release(struct sl_retry_token *token)
{
    if (token) {
        token_unref(token);
    }
}

/*
 * Hands the token over. When the loop is destroyed first nobody ever held the token, so it is
 * freed here and the callback only hears about the cancellation.
 */
static void run_acquired(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl_retry_token *token = arg;
    sl_retry_token_acquired_fn *fn = token->on_acquired;
    void *user_data = token->user_data;
    if (status == SL_TASK_CANCELED) {
        token_unref(token);
        fn(NULL, SL_E_CANCELED, user_data);
        return;
    }
    fn(token, 0, user_data);
}

int sl_retry_strategy_acquire_token(struct sl_retry_strategy *strategy, struct sl_cursor partition,
                                    sl_retry_token_acquired_fn *on_acquired, void *user_data)
{
    SL_ENSURE_ARG(strategy && on_acquired);
    SL_ENSURE_ARG(partition.ptr || partition.len == 0);
    SL_ENSURE_ARG(partition.len <= SL_RETRY_PARTITION_MAX_LEN);
    struct sl_retry_token *token = sl_calloc(1, sizeof(*token));
    SL_ENSURE(token, SL_E_NOMEM);
    int rc = strategy->vtable->attach(strategy, token, partition);
    if (rc < 0) {
        sl_free(token);
        return rc;
    }
    sl_ref_init(&token->ref, 1);         /* handed to the holder by on_acquired */
    sl_retry_strategy_acquire(strategy); /* the token's, dropped in token_destroy */
    token->strategy = strategy;
    token->loop = strategy->group ? sl_loop_group_get_next(strategy->group) : strategy->loop;
    token->on_acquired = on_acquired;
    token->user_data = user_data;
    atomic_init(&token->retry_pending, false);
    sl_task_init(&token->task, run_acquired, token, "retry_token_acquired");
    sl_loop_schedule_now(token->loop, &token->task);
    return 0;
}

/* Retries --------------------------------------------------------------------------------- */

static bool error_type_is_known(enum sl_retry_error_type error_type)
{
    switch (error_type) {
    case SL_RETRY_ERROR_TRANSIENT:
    case SL_RETRY_ERROR_THROTTLING:
    case SL_RETRY_ERROR_SERVER:
    case SL_RETRY_ERROR_CLIENT:
        return true;
    }
    return false;
}

/* Decides whether this retry may happen and pays for it; changes nothing when it may not. */
static int admit_retry(struct sl_retry_token *token, enum sl_retry_error_type error_type)
{
    if (error_type == SL_RETRY_ERROR_CLIENT) {
        return SL_E_RETRY_NOT_RETRYABLE;
    }
    struct sl_retry_strategy *strategy = token->strategy;
    if (token->retry_count >= strategy->max_retries) {
        SL_LOG_DEBUG(SL_LS_RETRY, "token %p: all %u retries used", (void *)token,
                     strategy->max_retries);
        return SL_E_RETRY_EXHAUSTED;
    }
    /* Paid last, so that a retry refused for another reason costs nothing. */
    return strategy->vtable->pay_for_retry(strategy, token, error_type);
}

static uint64_t draw_random(struct sl_retry_strategy *strategy)
{
    if (strategy->backoff.jitter == SL_BACKOFF_JITTER_NONE) {
        return 0;
    }
    if (strategy->random) {
        return strategy->random(strategy->random_user_data);
    }
    return sl__rng_next(&strategy->rng);
}

/* Copies what the callback needs first: on_ready may schedule the next retry, reusing them. */
static void run_retry(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl_retry_token *token = arg;
    sl_retry_ready_fn *fn = token->on_ready;
    void *user_data = token->user_data;
    atomic_store_explicit(&token->retry_pending, false, memory_order_release);
    fn(token, status == SL_TASK_RUN ? 0 : SL_E_CANCELED, user_data);
    token_unref(token); /* the pending retry's reference */
}

int sl_retry_token_schedule_retry(struct sl_retry_token *token, enum sl_retry_error_type error_type,
                                  sl_retry_ready_fn *on_ready, void *user_data)
{
    SL_ENSURE_ARG(token && on_ready && error_type_is_known(error_type));
    bool idle = false;
    if (!atomic_compare_exchange_strong_explicit(&token->retry_pending, &idle, true,
                                                 memory_order_acquire, memory_order_relaxed)) {
        return SL_E_STATE;
    }
    int rc = admit_retry(token, error_type);
    if (rc < 0) {
        atomic_store_explicit(&token->retry_pending, false, memory_order_relaxed);
        return rc;
    }
    struct sl_retry_strategy *strategy = token->strategy;
    uint64_t delay_ns = sl__backoff_delay_ns(&strategy->backoff, token->retry_count,
                                             token->last_backoff_ns, draw_random(strategy));
    token->retry_count++;
    token->last_backoff_ns = delay_ns;
    token->on_ready = on_ready;
    token->user_data = user_data;
    sl_ref_acquire(&token->ref); /* the pending retry's, dropped in run_retry */
    sl_task_init(&token->task, run_retry, token, "retry_ready");
    SL_LOG_TRACE(SL_LS_RETRY, "token %p: retry %u in %llu ns", (void *)token, token->retry_count,
                 (unsigned long long)delay_ns);
    sl_loop_schedule_at(token->loop, &token->task, sl_loop_now_ns(token->loop) + delay_ns);
    return 0;
}

int sl_retry_token_record_success(struct sl_retry_token *token)
{
    SL_ENSURE_ARG(token);
    SL_ENSURE(!atomic_load_explicit(&token->retry_pending, memory_order_acquire), SL_E_STATE);
    SL_ENSURE(!token->success_recorded, SL_E_STATE);
    token->success_recorded = true;
    token->strategy->vtable->record_success(token->strategy, token);
    return 0;
}

/* Queries --------------------------------------------------------------------------------- */

uint64_t sl_retry_token_last_backoff_ns(const struct sl_retry_token *token)
{
    return token->last_backoff_ns;
}

uint32_t sl_retry_token_retry_count(const struct sl_retry_token *token)
{
    return token->retry_count;
}

struct sl_loop *sl_retry_token_loop(const struct sl_retry_token *token)
{
    return token->loop;
}

/* The exponential backoff strategy: the shared logic with nothing to pay ----------------- */

static int exponential_attach(struct sl_retry_strategy *strategy, struct sl_retry_token *token,
                              struct sl_cursor partition)
{
    (void)strategy;
    (void)token;
    (void)partition;
    return 0;
}

static int exponential_pay_for_retry(struct sl_retry_strategy *strategy,
                                     struct sl_retry_token *token,
                                     enum sl_retry_error_type error_type)
{
    (void)strategy;
    (void)token;
    (void)error_type;
    return 0;
}

static void exponential_token_noop(struct sl_retry_strategy *strategy, struct sl_retry_token *token)
{
    (void)strategy;
    (void)token;
}

static int exponential_partition_capacity(struct sl_retry_strategy *strategy,
                                          struct sl_cursor partition, size_t *out)
{
    (void)strategy;
    (void)partition;
    (void)out;
    return SL_E_UNSUPPORTED;
}

static void exponential_destroy(struct sl_retry_strategy *strategy)
{
    sl__retry_strategy_clean_up(strategy);
    sl_free(strategy);
}

static const struct sl__retry_strategy_vtable s_exponential_vtable = {
    .attach = exponential_attach,
    .pay_for_retry = exponential_pay_for_retry,
    .record_success = exponential_token_noop,
    .detach = exponential_token_noop,
    .partition_capacity = exponential_partition_capacity,
    .destroy = exponential_destroy,
};

int sl_retry_strategy_new_exponential_backoff(const struct sl_exponential_backoff_options *opts,
                                              struct sl_retry_strategy **out)
{
    SL_ENSURE_ARG(out);
    SL_TRY(sl__retry_backoff_options_check(opts));
    struct sl_retry_strategy *strategy = sl_calloc(1, sizeof(*strategy));
    SL_ENSURE(strategy, SL_E_NOMEM);
    sl__retry_strategy_init(strategy, &s_exponential_vtable, opts);
    *out = strategy;
    return 0;
}
