/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_REF_H
#define SL_REF_H

#include <sluice/common.h>

#include <stdatomic.h>
#include <stdbool.h>

SL_BEGIN_DECLS

/*
 * An atomic reference count, embedded in objects that have more than one owner (STYLE.md §5).
 * Each holder of a reference should be named in a comment next to the acquire.
 */
struct sl_ref {
    atomic_size_t count; /* private */
};

/* Starts the count at n (usually 1: the creator's reference). */
static inline void sl_ref_init(struct sl_ref *ref, size_t n)
{
    atomic_init(&ref->count, n);
}

/* Adds a reference. The caller must already hold one, so relaxed ordering is enough. */
static inline void sl_ref_acquire(struct sl_ref *ref)
{
    atomic_fetch_add_explicit(&ref->count, 1, memory_order_relaxed);
}

/*
 * Drops a reference; returns true when it was the last, and the caller must then destroy the
 * object. Acquire-release ordering makes every holder's writes visible to the destroyer (an
 * acq_rel decrement rather than release plus a fence, because ThreadSanitizer does not model
 * stand-alone fences).
 */
static inline bool sl_ref_release(struct sl_ref *ref)
{
    return atomic_fetch_sub_explicit(&ref->count, 1, memory_order_acq_rel) == 1;
}

/* Current count; only meaningful for assertions and statistics. */
static inline size_t sl_ref_count(struct sl_ref *ref)
{
    return atomic_load_explicit(&ref->count, memory_order_relaxed);
}

SL_END_DECLS

#endif /* SL_REF_H */
