/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/alloc.h>

#include "guard.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The hooks are plain statics: they are set once, before any allocation (enforced through
 * s_used), and read without synchronisation afterwards.
 *
 * The counting layer prefixes every block with a header holding its size, so sl_free can
 * subtract the right amount without asking the underlying allocator. The header is as large as
 * max_align_t so the pointer handed out keeps malloc's alignment.
 */

static void *default_alloc(size_t len, void *user_data)
{
    (void)user_data;
    return malloc(len);
}

static void *default_realloc(void *ptr, size_t len, void *user_data)
{
    (void)user_data;
    return realloc(ptr, len);
}

static void default_free(void *ptr, void *user_data)
{
    (void)user_data;
    free(ptr);
}

static const struct sl_allocator s_default_allocator = {
    .alloc = default_alloc,
    .realloc = default_realloc,
    .free = default_free,
};

static struct sl_allocator s_allocator = {
    .alloc = default_alloc,
    .realloc = default_realloc,
    .free = default_free,
};

static atomic_bool s_used;
static bool s_counting;
static atomic_size_t s_outstanding_bytes;
static atomic_size_t s_outstanding_count;
static atomic_uint_fast64_t s_total_allocations;
/* Allocations left before the one that fails; 0 means no failure is armed. */
static atomic_uint_fast64_t s_fail_countdown;

struct count_header {
    alignas(max_align_t) size_t len;
};

int sl_allocator_set(const struct sl_allocator *a)
{
    SL_ENSURE(!atomic_load(&s_used), SL_E_STATE);
    SL_ENSURE_ARG(a == NULL || (a->alloc && a->realloc && a->free));
    s_allocator = a ? *a : s_default_allocator;
    return 0;
}

int sl_alloc_counting_start(void)
{
    SL_ENSURE(!atomic_load(&s_used) && !s_counting, SL_E_STATE);
    s_counting = true;
    return 0;
}

bool sl_alloc_is_counting(void)
{
    return s_counting;
}

void sl_alloc_stats(struct sl_alloc_stats *out)
{
    out->outstanding_bytes = atomic_load(&s_outstanding_bytes);
    out->outstanding_count = atomic_load(&s_outstanding_count);
    out->total_allocations = atomic_load(&s_total_allocations);
}

int sl_alloc_fail_at(uint64_t n)
{
    SL_ENSURE(s_counting, SL_E_STATE);
    atomic_store(&s_fail_countdown, n);
    return 0;
}

/* Counts one allocation attempt; returns true when this one is the armed failure. */
static bool should_fail(void)
{
    atomic_fetch_add_explicit(&s_total_allocations, 1, memory_order_relaxed);
    uint_fast64_t left = atomic_load_explicit(&s_fail_countdown, memory_order_relaxed);
    while (left > 0) {
        if (atomic_compare_exchange_weak(&s_fail_countdown, &left, left - 1)) {
            return left == 1;
        }
    }
    return false;
}

static void count_added(size_t len)
{
    atomic_fetch_add_explicit(&s_outstanding_bytes, len, memory_order_relaxed);
    atomic_fetch_add_explicit(&s_outstanding_count, 1, memory_order_relaxed);
}

static void count_removed(size_t len)
{
    atomic_fetch_sub_explicit(&s_outstanding_bytes, len, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s_outstanding_count, 1, memory_order_relaxed);
}

static void *counting_alloc(size_t len)
{
    if (should_fail() || len > SIZE_MAX - sizeof(struct count_header)) {
        return NULL;
    }
    struct count_header *h = s_allocator.alloc(sizeof(*h) + len, s_allocator.user_data);
    if (!h) {
        return NULL;
    }
    h->len = len;
    count_added(len);
    return h + 1;
}

static void *counting_realloc(void *ptr, size_t len)
{
    if (should_fail() || len > SIZE_MAX - sizeof(struct count_header)) {
        return NULL;
    }
    struct count_header *old = (struct count_header *)ptr - 1;
    size_t old_len = old->len;
    struct count_header *h = s_allocator.realloc(old, sizeof(*h) + len, s_allocator.user_data);
    if (!h) {
        return NULL;
    }
    h->len = len;
    count_removed(old_len);
    count_added(len);
    return h + 1;
}

void *sl_alloc(size_t len)
{
    if (len == 0) {
        return NULL;
    }
    if (!atomic_load_explicit(&s_used, memory_order_relaxed)) {
        atomic_store(&s_used, true);
    }
    if (s_counting) {
        return counting_alloc(len);
    }
    return s_allocator.alloc(len, s_allocator.user_data);
}

void *sl_calloc(size_t count, size_t len)
{
    if (count == 0 || len == 0 || count > SIZE_MAX / len) {
        return NULL;
    }
    void *p = sl_alloc(count * len);
    if (p) {
        memset(p, 0, count * len);
    }
    return p;
}

void *sl_realloc(void *ptr, size_t len)
{
    if (!ptr) {
        return sl_alloc(len);
    }
    if (len == 0) {
        sl_free(ptr);
        return NULL;
    }
    if (s_counting) {
        return counting_realloc(ptr, len);
    }
    return s_allocator.realloc(ptr, len, s_allocator.user_data);
}

void sl_free(void *ptr)
{
    if (!ptr) {
        return;
    }
    if (s_counting) {
        struct count_header *h = (struct count_header *)ptr - 1;
        count_removed(h->len);
        s_allocator.free(h, s_allocator.user_data);
        return;
    }
    s_allocator.free(ptr, s_allocator.user_data);
}

void sl_secure_zero(void *p, size_t len)
{
    /* A volatile pointer stops the compiler from removing stores to memory about to be freed. */
    volatile unsigned char *v = p;
    while (len--) {
        *v++ = 0;
    }
}
