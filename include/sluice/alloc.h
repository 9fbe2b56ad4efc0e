/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_ALLOC_H
#define SL_ALLOC_H

#include <sluice/common.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * Allocator hooks (STYLE.md §5). All memory in libsluice comes from sl_alloc, sl_calloc and
 * sl_realloc and goes back through sl_free, so that an embedding program can route it to its
 * own allocator and tests can count it and fail the Nth allocation.
 */

struct sl_allocator {
    /* Returns len bytes aligned for any type, or NULL. len is never 0. */
    void *(*alloc)(size_t len, void *user_data);
    /* As realloc(3); ptr is never NULL and len never 0. */
    void *(*realloc)(void *ptr, size_t len, void *user_data);
    /* ptr is never NULL. */
    void (*free)(void *ptr, void *user_data);
    void *user_data;
};

/* Counters kept by the counting allocator. */
struct sl_alloc_stats {
    size_t outstanding_bytes;   /* bytes allocated and not yet freed */
    size_t outstanding_count;   /* blocks allocated and not yet freed */
    uint64_t total_allocations; /* allocations since counting started, failed ones included */
};

/*
 * Routes all Sluice allocations to a (NULL restores malloc/realloc/free).
 * Thread: call before any other Sluice function; the hooks are read without synchronisation.
 * Ownership: copies *a.
 * Errors: SL_E_STATE if Sluice has already allocated memory (it could not be freed correctly).
 */
SL_API SL_MUST_CHECK int sl_allocator_set(const struct sl_allocator *a);

/*
 * Layers a counting allocator over the current hooks. From then on sl_alloc_stats() reports
 * outstanding bytes and blocks, and sl_alloc_fail_at() can make an allocation fail. Each block
 * carries a 16-byte header, so this is for tests and debugging.
 * Thread: call before any other Sluice allocation.
 * Errors: SL_E_STATE if memory was already allocated or counting is already on.
 */
SL_API SL_MUST_CHECK int sl_alloc_counting_start(void);

/* True once sl_alloc_counting_start() succeeded. Thread: any. */
SL_API bool sl_alloc_is_counting(void);

/* Fills *out with the counting allocator's figures (zeros if counting is off). Thread: any. */
SL_API void sl_alloc_stats(struct sl_alloc_stats *out);

/*
 * Makes the nth allocation from now fail (n = 1 is the very next one); 0 disables. Only works
 * while counting (returns SL_E_STATE otherwise). Used by OOM torture tests.
 * Thread: any; the countdown is shared by all threads.
 */
SL_API SL_MUST_CHECK int sl_alloc_fail_at(uint64_t n);

/* Returns len bytes or NULL (also for len == 0). Thread: any. */
SL_API void *sl_alloc(size_t len);

/* Returns count * len zeroed bytes, or NULL on overflow, zero size, or failure. Thread: any. */
SL_API void *sl_calloc(size_t count, size_t len);

/*
 * As realloc(3): ptr may be NULL; on failure returns NULL and ptr stays valid. len == 0 frees
 * ptr and returns NULL. Thread: any.
 */
SL_API void *sl_realloc(void *ptr, size_t len);

/* Frees ptr (NULL is ignored). Thread: any. */
SL_API void sl_free(void *ptr);

/* Overwrites len bytes at p with zeros in a way the compiler may not elide. */
SL_API void sl_secure_zero(void *p, size_t len);

SL_END_DECLS

#endif /* SL_ALLOC_H */
