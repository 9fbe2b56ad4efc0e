/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/retry.h>

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/list.h>
#include <sluice/log.h>

#include "guard.h"
#include "retry_internal.h"

#include <pthread.h>
#include <string.h>

#define DEFAULT_BUCKET_CAPACITY 500u
#define DEFAULT_MAX_PARTITIONS  256u

/*
 * One partition's retry budget. A bucket held by a token (holders > 0) is never freed or
 * reused, so tokens point at theirs without a lock; every field is read and written under the
 * strategy's lock.
 */
struct sl__retry_bucket {
    struct sl_list_node hash_node; /* in its hash slot; unlinked for the overflow bucket */
    struct sl_list_node idle_node; /* in idle while no token holds it */
    uint64_t hash;
    size_t holders;   /* tokens attached to it */
    size_t available; /* what it can still pay, at most the strategy's capacity */
    size_t name_len;
    uint8_t name[]; /* the partition's name, not NUL-terminated */
};

struct standard_strategy {
    struct sl_retry_strategy base;
    size_t capacity; /* each bucket's initial and greatest content */

    /*
     * The partition table, all of it guarded by lock: a chained hash table of at most
     * max_partitions buckets, and a list of the buckets no token holds, the longest idle at the
     * back, which is the one forgotten when a new partition needs room.
     */
    pthread_mutex_t lock;
    struct sl_list *slots; /* a power of two of them, at least max_partitions */
    size_t slot_mask;
    size_t max_partitions;
    size_t partition_count;
    struct sl_list idle;
    uint64_t hash_seed;
    struct sl__retry_bucket *overflow; /* shared when every bucket is held; never in the table */
};

static struct standard_strategy *standard_from_base(struct sl_retry_strategy *strategy)
{
    return sl_container_of(strategy, struct standard_strategy, base);
}

/*
 * FNV-1a, started from a random seed. Partition names may come from outside (host names), but
 * there is no need for a keyed hash: colliding names can only make a chain as long as the
 * table's cap, which is what a plain list would cost anyway.
 */
static uint64_t partition_hash(uint64_t seed, struct sl_cursor name)
{
    uint64_t h = seed ^ UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < name.len; i++) {
        h = (h ^ name.ptr[i]) * UINT64_C(0x100000001b3);
    }
    return h;
}

static struct sl__retry_bucket *bucket_new(size_t capacity, struct sl_cursor name, uint64_t hash)
{
    struct sl__retry_bucket *bucket = sl_calloc(1, sizeof(*bucket) + name.len);
    if (!bucket) {
        return NULL;
    }
    sl_list_node_reset(&bucket->hash_node);
    sl_list_node_reset(&bucket->idle_node);
    bucket->hash = hash;
    bucket->available = capacity;
    bucket->name_len = name.len;
    if (name.len) {
        memcpy(bucket->name, name.ptr, name.len);
    }
    return bucket;
}

/* Partition table (the lock is held) ----------------------------------------------------- */

static struct sl__retry_bucket *table_find(struct standard_strategy *s, struct sl_cursor name,
                                           uint64_t hash)
{
    struct sl_list *slot = &s->slots[hash & s->slot_mask];
    for (struct sl_list_node *it = sl_list_front(slot); it; it = sl_list_next(slot, it)) {
        struct sl__retry_bucket *bucket = sl_container_of(it, struct sl__retry_bucket, hash_node);
        if (bucket->hash == hash &&
            sl_cursor_eq(sl_cursor_from(bucket->name, bucket->name_len), name)) {
            return bucket;
        }
    }
    return NULL;
}

static void table_forget(struct standard_strategy *s, struct sl__retry_bucket *bucket)
{
    SL_ASSERT(bucket->holders == 0);
    sl_list_remove(&bucket->hash_node);
    sl_list_remove(&bucket->idle_node);
    s->partition_count--;
    sl_free(bucket);
}

/*
 * Finds or makes the bucket of name. A full table forgets its longest-idle bucket first; when
 * every bucket is held the caller shares the overflow bucket. Errors: SL_E_NOMEM.
 */
static int table_lookup(struct standard_strategy *s, struct sl_cursor name,
                        struct sl__retry_bucket **out)
{
    uint64_t hash = partition_hash(s->hash_seed, name);
    struct sl__retry_bucket *bucket = table_find(s, name, hash);
    if (bucket) {
        *out = bucket;
        return 0;
    }
    if (s->partition_count == s->max_partitions) {
        struct sl_list_node *oldest = sl_list_back(&s->idle);
        if (!oldest) {
            SL_LOG_DEBUG(SL_LS_RETRY, "retry partitions: all %zu held, sharing the overflow bucket",
                         s->max_partitions);
            *out = s->overflow;
            return 0;
        }
        table_forget(s, sl_container_of(oldest, struct sl__retry_bucket, idle_node));
    }
    bucket = bucket_new(s->capacity, name, hash);
    SL_ENSURE(bucket, SL_E_NOMEM);
    sl_list_push_back(&s->slots[hash & s->slot_mask], &bucket->hash_node);
    s->partition_count++;
    *out = bucket;
    return 0;
}

/* The vtable ------------------------------------------------------------------------------ */

static int standard_attach(struct sl_retry_strategy *strategy, struct sl_retry_token *token,
                           struct sl_cursor partition)
{
    struct standard_strategy *s = standard_from_base(strategy);
    pthread_mutex_lock(&s->lock);
    struct sl__retry_bucket *bucket = NULL;
    int rc = table_lookup(s, partition, &bucket);
    if (rc == 0) {
        if (sl_list_node_is_linked(&bucket->idle_node)) {
            sl_list_remove(&bucket->idle_node);
        }
        bucket->holders++;
        token->bucket = bucket;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void standard_detach(struct sl_retry_strategy *strategy, struct sl_retry_token *token)
{
    struct standard_strategy *s = standard_from_base(strategy);
    struct sl__retry_bucket *bucket = token->bucket;
    pthread_mutex_lock(&s->lock);
    SL_ASSERT(bucket->holders > 0);
    bucket->holders--;
    if (bucket->holders == 0 && bucket != s->overflow) {
        sl_list_push_front(&s->idle, &bucket->idle_node); /* the most recently idle */
    }
    pthread_mutex_unlock(&s->lock);
}

/* Transient errors (timeouts, broken connections) say most about a partition's health. */
static uint32_t retry_cost(enum sl_retry_error_type error_type)
{
    switch (error_type) {
    case SL_RETRY_ERROR_TRANSIENT:
        return SL_RETRY_TIMEOUT_COST;
    case SL_RETRY_ERROR_THROTTLING:
    case SL_RETRY_ERROR_SERVER:
    case SL_RETRY_ERROR_CLIENT: /* refused before paying; priced for completeness */
        return SL_RETRY_COST;
    }
    return SL_RETRY_COST;
}

static int standard_pay_for_retry(struct sl_retry_strategy *strategy, struct sl_retry_token *token,
                                  enum sl_retry_error_type error_type)
{
    struct standard_strategy *s = standard_from_base(strategy);
    uint32_t cost = retry_cost(error_type);
    pthread_mutex_lock(&s->lock);
    bool paid = token->bucket->available >= cost;
    if (paid) {
        token->bucket->available -= cost;
    }
    size_t left = token->bucket->available;
    pthread_mutex_unlock(&s->lock);
    if (!paid) {
        SL_LOG_DEBUG(SL_LS_RETRY, "token %p: retry refused, its bucket holds %zu of %u",
                     (void *)token, left, cost);
        return SL_E_RETRY_QUOTA_EXCEEDED;
    }
    token->last_retry_cost = cost;
    return 0;
}

/*
 * A success after retries gives back what the last retry paid (earlier retries stay spent:
 * their attempts failed); a success at the first attempt adds a little, so a bucket drained
 * during an outage refills as traffic succeeds again.
 */
static void standard_record_success(struct sl_retry_strategy *strategy,
                                    struct sl_retry_token *token)
{
    struct standard_strategy *s = standard_from_base(strategy);
    size_t refund = token->retry_count ? token->last_retry_cost : SL_RETRY_NO_RETRY_INCREMENT;
    pthread_mutex_lock(&s->lock);
    size_t room = s->capacity - token->bucket->available;
    token->bucket->available += refund < room ? refund : room;
    pthread_mutex_unlock(&s->lock);
}

static int standard_partition_capacity(struct sl_retry_strategy *strategy,
                                       struct sl_cursor partition, size_t *out)
{
    struct standard_strategy *s = standard_from_base(strategy);
    pthread_mutex_lock(&s->lock);
    struct sl__retry_bucket *bucket =
        table_find(s, partition, partition_hash(s->hash_seed, partition));
    if (bucket) {
        *out = bucket->available;
    }
    pthread_mutex_unlock(&s->lock);
    return bucket ? 0 : SL_E_NOT_FOUND;
}

/* Runs on the last release: no token is left, so every bucket is idle. */
static void standard_destroy(struct sl_retry_strategy *strategy)
{
    struct standard_strategy *s = standard_from_base(strategy);
    struct sl_list_node *it;
    while ((it = sl_list_front(&s->idle)) != NULL) {
        table_forget(s, sl_container_of(it, struct sl__retry_bucket, idle_node));
    }
    SL_ASSERT(s->partition_count == 0);
    sl_free(s->overflow);
    sl_free(s->slots);
    pthread_mutex_destroy(&s->lock);
    sl__retry_strategy_clean_up(&s->base);
    sl_free(s);
}

static const struct sl__retry_strategy_vtable s_standard_vtable = {
    .attach = standard_attach,
    .pay_for_retry = standard_pay_for_retry,
    .record_success = standard_record_success,
    .detach = standard_detach,
    .partition_capacity = standard_partition_capacity,
    .destroy = standard_destroy,
};

/* Construction ---------------------------------------------------------------------------- */

static int standard_options_check(const struct sl_standard_retry_options *opts)
{
    SL_ENSURE_ARG(opts);
    SL_TRY(sl__retry_backoff_options_check(&opts->backoff));
    if (opts->max_partitions > SL_RETRY_MAX_PARTITIONS_LIMIT) {
        SL_LOG_ERROR(SL_LS_RETRY, "standard retry strategy: %u partitions is above the limit %u",
                     opts->max_partitions, SL_RETRY_MAX_PARTITIONS_LIMIT);
        return SL_E_INVAL;
    }
    return 0;
}

/* Allocates the table: slots for a load factor of at most one, and the overflow bucket. */
static int table_init(struct standard_strategy *s, const struct sl_standard_retry_options *opts)
{
    s->capacity =
        opts->initial_bucket_capacity ? opts->initial_bucket_capacity : DEFAULT_BUCKET_CAPACITY;
    s->max_partitions = opts->max_partitions ? opts->max_partitions : DEFAULT_MAX_PARTITIONS;
    size_t slot_count = 1;
    while (slot_count < s->max_partitions) {
        slot_count *= 2;
    }
    s->slots = sl_calloc(slot_count, sizeof(*s->slots));
    SL_ENSURE(s->slots, SL_E_NOMEM);
    for (size_t i = 0; i < slot_count; i++) {
        sl_list_init(&s->slots[i]);
    }
    s->slot_mask = slot_count - 1;
    sl_list_init(&s->idle);
    s->overflow = bucket_new(s->capacity, sl_cursor_from(NULL, 0), 0);
    if (!s->overflow) {
        sl_free(s->slots);
        return SL_E_NOMEM;
    }
    return 0;
}

int sl_retry_strategy_new_standard(const struct sl_standard_retry_options *opts,
                                   struct sl_retry_strategy **out)
{
    SL_ENSURE_ARG(out);
    SL_TRY(standard_options_check(opts));
    struct standard_strategy *s = sl_calloc(1, sizeof(*s));
    SL_ENSURE(s, SL_E_NOMEM);
    int rc = table_init(s, opts);
    if (rc < 0) {
        goto out_free_strategy;
    }
    int err = pthread_mutex_init(&s->lock, NULL);
    if (err) {
        rc = sl_error_from_errno(err);
        goto out_free_table;
    }
    sl__retry_strategy_init(&s->base, &s_standard_vtable, &opts->backoff);
    s->hash_seed = sl__rng_next(&s->base.rng);
    *out = &s->base;
    return 0;

out_free_table:
    sl_free(s->overflow);
    sl_free(s->slots);
out_free_strategy:
    sl_free(s);
    return rc;
}
