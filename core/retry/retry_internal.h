/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_RETRY_INTERNAL_H
#define SL_RETRY_INTERNAL_H

/*
 * Shared by the retry strategies in core/retry, and by their tests (internal, never
 * installed): the strategy base and its vtable, the token, the backoff formulas and the
 * random generator.
 */

#include <sluice/buf.h>
#include <sluice/ref.h>
#include <sluice/retry.h>
#include <sluice/task.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Random numbers -------------------------------------------------------------------------- */

/* SplitMix64 used as a counter-based generator: lock-free and safe from any thread. */
struct sl__rng {
    atomic_uint_fast64_t state;
};

/* Seeds from getentropy(3), or from the clocks if that fails. */
void sl__rng_seed(struct sl__rng *rng);

/* The next 64 random bits. Thread: any. */
uint64_t sl__rng_next(struct sl__rng *rng);

/* Maps 64 random bits to [lo, hi] (hi - lo < UINT64_MAX): 0 gives lo, UINT64_MAX gives hi. */
uint64_t sl__random_between(uint64_t random, uint64_t lo, uint64_t hi);

/* Backoff --------------------------------------------------------------------------------- */

struct sl__backoff {
    uint64_t scale_ns;
    uint64_t max_ns; /* >= scale_ns, at most SL_RETRY_MAX_BACKOFF_MS_LIMIT in nanoseconds */
    enum sl_backoff_jitter jitter; /* never DEFAULT once resolved */
};

/* min(scale * 2^retry_count, max), without overflow for any retry_count. */
uint64_t sl__backoff_ceiling_ns(const struct sl__backoff *backoff, uint32_t retry_count);

/*
 * The delay of retry number retry_count (from 0) given the previous delay (0 before the first
 * retry) and 64 random bits (ignored by NONE); the formulas are in retry.h.
 */
uint64_t sl__backoff_delay_ns(const struct sl__backoff *backoff, uint32_t retry_count,
                              uint64_t previous_ns, uint64_t random);

/* Strategies ------------------------------------------------------------------------------ */

struct sl__retry_bucket; /* the standard strategy's, opaque to the shared code */

/* What a strategy adds to the shared token logic in retry_strategy.c. No member may be NULL. */
struct sl__retry_strategy_vtable {
    /* Attaches the partition's state to a new token. Errors: SL_E_NOMEM. */
    int (*attach)(struct sl_retry_strategy *strategy, struct sl_retry_token *token,
                  struct sl_cursor partition);
    /* Pays for a retry of a retryable error_type. Errors: SL_E_RETRY_QUOTA_EXCEEDED. */
    int (*pay_for_retry)(struct sl_retry_strategy *strategy, struct sl_retry_token *token,
                         enum sl_retry_error_type error_type);
    void (*record_success)(struct sl_retry_strategy *strategy, struct sl_retry_token *token);
    /* Undoes attach, when the token is freed. */
    void (*detach)(struct sl_retry_strategy *strategy, struct sl_retry_token *token);
    /* As sl_retry_strategy_partition_capacity, arguments checked. */
    int (*partition_capacity)(struct sl_retry_strategy *strategy, struct sl_cursor partition,
                              size_t *out);
    /* Frees the strategy after sl__retry_strategy_clean_up; runs on the last release. */
    void (*destroy)(struct sl_retry_strategy *strategy);
};

struct sl_retry_strategy {
    const struct sl__retry_strategy_vtable *vtable;
    /* The creator's, one per sl_retry_strategy_acquire, and one per token until it is freed. */
    struct sl_ref ref;
    struct sl_loop_group *group; /* holds a reference; NULL when loop is set */
    struct sl_loop *loop;        /* kept; NULL when group is set */
    struct sl__backoff backoff;
    uint32_t max_retries;
    sl_retry_random_fn *random; /* NULL: rng */
    void *random_user_data;
    struct sl__rng rng;
};

struct sl_retry_token {
    /* The holder's (handed over by on_acquired) and one while a retry is pending. */
    struct sl_ref ref;
    struct sl_retry_strategy *strategy; /* holds a reference */
    struct sl_loop *loop;
    /* The acquisition callback, then each retry in turn: they never overlap. */
    struct sl_task task;
    sl_retry_token_acquired_fn *on_acquired;
    sl_retry_ready_fn *on_ready;
    void *user_data;
    /* Set from scheduling until on_ready is called; catches overlapping use of the token. */
    atomic_bool retry_pending;
    bool success_recorded;
    uint32_t retry_count;
    uint64_t last_backoff_ns;
    /* The standard strategy's: the partition's bucket and what the latest retry paid. */
    struct sl__retry_bucket *bucket;
    uint32_t last_retry_cost;
};

/* Default options, shared by both constructors. */
#define SL__RETRY_DEFAULT_MAX_RETRIES    3u
#define SL__RETRY_DEFAULT_SCALE_MS       100u
#define SL__RETRY_DEFAULT_MAX_BACKOFF_MS 20000u

/* Checks backoff options as the constructors document. Errors: SL_E_INVAL. */
int sl__retry_backoff_options_check(const struct sl_exponential_backoff_options *opts);

/*
 * Fills the shared part of a zeroed strategy from checked options: one reference (the
 * creator's), a reference on opts->group, defaults resolved, the generator seeded.
 */
void sl__retry_strategy_init(struct sl_retry_strategy *strategy,
                             const struct sl__retry_strategy_vtable *vtable,
                             const struct sl_exponential_backoff_options *opts);

/* Releases what sl__retry_strategy_init took (the group). */
void sl__retry_strategy_clean_up(struct sl_retry_strategy *strategy);

#endif /* SL_RETRY_INTERNAL_H */
