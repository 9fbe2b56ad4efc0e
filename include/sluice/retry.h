/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_RETRY_H
#define SL_RETRY_H

#include <sluice/buf.h>
#include <sluice/common.h>

#include <stdint.h>

SL_BEGIN_DECLS

/*
 * Retry strategies: when to try a failed operation again, and whether to.
 *
 * An operation that may need retries first gets a token from a strategy
 * (sl_retry_strategy_acquire_token). After each failed attempt it asks the token to schedule a
 * retry (sl_retry_token_schedule_retry), saying what kind of error it saw; the token either
 * refuses at once with a specific error (give up and report the operation's own error) or waits
 * for a backoff delay on an event loop and then calls on_ready, which makes the next attempt.
 * When an attempt succeeds the operation records it (sl_retry_token_record_success) and
 * releases the token.
 *
 * Two strategies share that API:
 *  - Exponential backoff: retry n (counting from 0) waits up to scale * 2^n, capped at
 *    max_backoff, with the jitter chosen in the options; at most max_retries retries.
 *  - Standard (the AWS SDKs' "standard" retry mode): the same backoff, plus a retry-token
 *    bucket per partition (a host, a region: any name the caller picks). Every retry pays from
 *    its partition's bucket, SL_RETRY_COST for most errors and SL_RETRY_TIMEOUT_COST for
 *    transient ones (timeouts, broken connections), and is refused with
 *    SL_E_RETRY_QUOTA_EXCEEDED when the bucket cannot pay. A success puts back what its last
 *    retry paid, or SL_RETRY_NO_RETRY_INCREMENT when it succeeded at the first attempt, up to
 *    the bucket's capacity. A partition that keeps failing thus stops retrying (which would
 *    only add load to something already down) while the others carry on.
 *
 * Callbacks run on an event loop: the one in the options, or one picked from the options'
 * group for each token (all callbacks of one token run on that token's loop). They are always
 * deferred, never run inside the call that asked for them, and each runs exactly once: with
 * status 0, or with SL_E_CANCELED when the loop is destroyed first (a loop of a group is never
 * destroyed while a strategy holds the group, so only a strategy on a single loop sees that).
 *
 * Threads: every function here may be called from any thread. A token is used by one
 * operation at a time: its functions must not be called concurrently on the same token.
 * Lifetime: strategies and tokens are reference counted. Each token holds a reference on its
 * strategy and a pending retry holds one on its token, so neither goes away under a callback.
 */

struct sl_loop;
struct sl_loop_group;
struct sl_retry_strategy;
struct sl_retry_token;

/* Standard strategy costs, in bucket units (the AWS SDKs' standard retry mode). */
#define SL_RETRY_COST               5
#define SL_RETRY_TIMEOUT_COST       10
#define SL_RETRY_NO_RETRY_INCREMENT 1

/* Longest partition name, in bytes. */
#define SL_RETRY_PARTITION_MAX_LEN 1024
/* Largest max_backoff_ms accepted: one day. */
#define SL_RETRY_MAX_BACKOFF_MS_LIMIT 86400000u
/* Largest max_partitions accepted by the standard strategy. */
#define SL_RETRY_MAX_PARTITIONS_LIMIT 65536u

/* What went wrong with the attempt that is to be retried. */
enum sl_retry_error_type {
    SL_RETRY_ERROR_TRANSIENT,  /* timeout, reset or refused connection: costs the timeout cost */
    SL_RETRY_ERROR_THROTTLING, /* the peer asked to slow down (429, 503 SlowDown) */
    SL_RETRY_ERROR_SERVER,     /* the peer failed (5xx) */
    SL_RETRY_ERROR_CLIENT,     /* the request itself is wrong: never retried */
};

/*
 * How the backoff delay of retry n is drawn, with ceiling(n) = min(scale * 2^n, max_backoff)
 * and random(a, b) uniform in [a, b]:
 *  NONE          ceiling(n) exactly
 *  FULL          random(0, ceiling(n))
 *  DECORRELATED  min(max_backoff, random(scale, 3 * previous delay)), previous = scale at first
 */
enum sl_backoff_jitter {
    SL_BACKOFF_JITTER_DEFAULT, /* FULL */
    SL_BACKOFF_JITTER_NONE,
    SL_BACKOFF_JITTER_FULL,
    SL_BACKOFF_JITTER_DECORRELATED,
};

/*
 * Returns 64 uniformly random bits. Called once per retry scheduled with jitter, on the thread
 * that schedules it, without any lock held, so it must be thread-safe if tokens are used from
 * several threads.
 */
typedef uint64_t sl_retry_random_fn(void *user_data);

/*
 * Reports a token. status is 0 with the token, now owned by the callee (release it with
 * sl_retry_token_release), or SL_E_CANCELED with token NULL when the loop was destroyed first.
 */
typedef void sl_retry_token_acquired_fn(struct sl_retry_token *token, int status, void *user_data);

/*
 * Reports that the backoff has passed (status 0: make the next attempt now) or SL_E_CANCELED
 * (the loop was destroyed first; the token can still be released). Borrows token for the call.
 */
typedef void sl_retry_ready_fn(struct sl_retry_token *token, int status, void *user_data);

struct sl_exponential_backoff_options {
    /* Exactly one of group and loop. */
    struct sl_loop_group *group; /* each token runs on sl_loop_group_get_next; held (a reference) */
    struct sl_loop *loop;        /* every token runs here; kept (see the constructors) */
    uint32_t max_retries;        /* retries after the first attempt; 0: 3 */
    uint32_t backoff_scale_ms;   /* the first retry's ceiling; 0: 100 ms */
    uint32_t max_backoff_ms;     /* cap on any delay; 0: 20,000 ms; >= backoff_scale_ms */
    enum sl_backoff_jitter jitter;
    sl_retry_random_fn *random; /* NULL: the strategy's own generator (see docs/design.md) */
    void *random_user_data;     /* kept until the strategy is freed */
};

struct sl_standard_retry_options {
    struct sl_exponential_backoff_options backoff;
    uint32_t initial_bucket_capacity; /* each partition's bucket starts full at this; 0: 500 */
    /*
     * How many partitions get buckets of their own; 0: 256. When a new partition comes and the
     * table is full, the bucket idle (held by no token) for longest is forgotten to make room
     * (its partition starts again full if it comes back). When every bucket is held by a live
     * token, the new partition shares one overflow bucket with every other partition in that
     * situation, until room is made.
     */
    uint32_t max_partitions;
};

/* Lifecycle ------------------------------------------------------------------------------- */

/*
 * Creates an exponential backoff strategy.
 * Ownership: returns owned, holding one reference. Takes a reference on opts->group until the
 * strategy is freed. Keeps opts->loop: the caller keeps it alive until the strategy is freed,
 * or destroys it earlier, which cancels the pending callbacks (SL_E_CANCELED); tokens must not
 * be acquired or scheduled on a destroyed loop.
 * Errors: SL_E_INVAL for NULL arguments, neither or both of group and loop, an unknown
 * jitter, max_backoff_ms above SL_RETRY_MAX_BACKOFF_MS_LIMIT or below backoff_scale_ms (after
 * defaults); SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int
sl_retry_strategy_new_exponential_backoff(const struct sl_exponential_backoff_options *opts,
                                          struct sl_retry_strategy **out);

/*
 * Creates a standard (token bucket) strategy; see the top of this file.
 * Ownership: as sl_retry_strategy_new_exponential_backoff.
 * Errors: as sl_retry_strategy_new_exponential_backoff for opts->backoff; SL_E_INVAL for
 * max_partitions above SL_RETRY_MAX_PARTITIONS_LIMIT; SL_E_NOMEM; -errno from pthreads.
 */
SL_API SL_MUST_CHECK int
sl_retry_strategy_new_standard(const struct sl_standard_retry_options *opts,
                               struct sl_retry_strategy **out);

/* Adds a reference. Thread: any (the caller must already hold one). */
SL_API void sl_retry_strategy_acquire(struct sl_retry_strategy *strategy);

/*
 * Drops a reference. The strategy is freed once this was the last one and every token is
 * released, which may be later, on another thread. NULL is ignored. Thread: any.
 */
SL_API void sl_retry_strategy_release(struct sl_retry_strategy *strategy);

/* Tokens ---------------------------------------------------------------------------------- */

/*
 * Gets a token for one operation on partition (ignored by the exponential strategy; empty is
 * a partition like any other) and reports it through on_acquired, from a task on the token's
 * loop, never inline.
 * Thread: any; the caller holds a reference on strategy.
 * Ownership: borrows partition (copied); keeps user_data until on_acquired has run.
 * Errors: SL_E_INVAL for a NULL strategy or on_acquired, or a partition longer than
 * SL_RETRY_PARTITION_MAX_LEN; SL_E_NOMEM. on_acquired never runs after an error.
 */
SL_API SL_MUST_CHECK int sl_retry_strategy_acquire_token(struct sl_retry_strategy *strategy,
                                                         struct sl_cursor partition,
                                                         sl_retry_token_acquired_fn *on_acquired,
                                                         void *user_data);

/*
 * Asks for a retry after an attempt that failed with an error of error_type. On success the
 * backoff delay is drawn, the retry counted (and, for the standard strategy, paid for) and
 * on_ready runs once the delay has passed, from a task on the token's loop.
 * Thread: any, not concurrently with another call on the same token.
 * Ownership: keeps user_data until on_ready has run. The pending retry holds a reference on
 * the token, so the caller may release its own before on_ready runs.
 * Errors, after which on_ready never runs and nothing changed:
 *  SL_E_RETRY_NOT_RETRYABLE for SL_RETRY_ERROR_CLIENT;
 *  SL_E_RETRY_EXHAUSTED when max_retries retries were already scheduled;
 *  SL_E_RETRY_QUOTA_EXCEEDED when the partition's bucket cannot pay (standard strategy);
 *  SL_E_STATE while a retry of this token is still pending;
 *  SL_E_INVAL for a NULL token or on_ready, or an unknown error_type.
 */
SL_API SL_MUST_CHECK int sl_retry_token_schedule_retry(struct sl_retry_token *token,
                                                       enum sl_retry_error_type error_type,
                                                       sl_retry_ready_fn *on_ready,
                                                       void *user_data);

/*
 * Records that the operation succeeded: the standard strategy refills the partition's bucket
 * (see the top of this file); the exponential strategy does nothing. Once per token.
 * Thread: any, not concurrently with another call on the same token.
 * Errors: SL_E_INVAL for NULL; SL_E_STATE if already recorded or while a retry is pending.
 */
SL_API SL_MUST_CHECK int sl_retry_token_record_success(struct sl_retry_token *token);

/*
 * Drops the caller's reference on token; NULL is ignored. A retry still pending keeps the
 * token until its on_ready has run. Thread: any.
 */
SL_API void sl_retry_token_release(struct sl_retry_token *token);

/* Queries --------------------------------------------------------------------------------- */

/*
 * The delay chosen for the token's latest retry, in nanoseconds of the loop's clock; 0 before
 * the first. Thread: as sl_retry_token_schedule_retry.
 */
SL_API uint64_t sl_retry_token_last_backoff_ns(const struct sl_retry_token *token);

/* How many retries of the token were scheduled so far. Thread: as above. */
SL_API uint32_t sl_retry_token_retry_count(const struct sl_retry_token *token);

/* The loop the token's callbacks run on. Thread: any. */
SL_API struct sl_loop *sl_retry_token_loop(const struct sl_retry_token *token);

/*
 * Reads what the bucket of partition can still pay (standard strategy), for statistics and
 * tests; a partition without a bucket of its own (never seen, forgotten, or in overflow) is
 * not found. Thread: any.
 * Errors: SL_E_NOT_FOUND; SL_E_UNSUPPORTED for a strategy without buckets; SL_E_INVAL.
 */
SL_API SL_MUST_CHECK int sl_retry_strategy_partition_capacity(struct sl_retry_strategy *strategy,
                                                              struct sl_cursor partition,
                                                              size_t *out);

SL_END_DECLS

#endif /* SL_RETRY_H */
