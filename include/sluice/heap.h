/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_HEAP_H
#define SL_HEAP_H

#include <sluice/common.h>

#include <stdbool.h>

SL_BEGIN_DECLS

/*
 * A binary-heap priority queue that never allocates. The heap is a complete binary tree of
 * nodes embedded in the elements (found again with sl_container_of), linked by pointers rather
 * than stored in an array, so push cannot fail and any element can be removed in O(log n)
 * without a search. This is what lets the task scheduler accept timed tasks infallibly.
 *
 * The smallest element by `less` is at the top. The heap does not keep insertion order among
 * equal elements: callers that need FIFO order break ties themselves (the scheduler compares a
 * sequence number). Nothing here is thread-safe.
 */

struct sl_heap_node {
    struct sl_heap_node *left;   /* private */
    struct sl_heap_node *right;  /* private */
    struct sl_heap_node *parent; /* private */
};

/* True when a must come out of the heap before b. */
typedef bool sl_heap_less_fn(const struct sl_heap_node *a, const struct sl_heap_node *b);

struct sl_heap {
    struct sl_heap_node *root; /* private */
    size_t count;              /* read-only */
    sl_heap_less_fn *less;     /* private */
};

SL_API void sl_heap_init(struct sl_heap *heap, sl_heap_less_fn *less);

/* Adds node (which must not be in a heap). O(log n). Ownership: keeps node until removed. */
SL_API void sl_heap_push(struct sl_heap *heap, struct sl_heap_node *node);

/* The smallest node, or NULL when empty. O(1). */
static inline struct sl_heap_node *sl_heap_peek(const struct sl_heap *heap)
{
    return heap->root;
}

/* Removes and returns the smallest node, or NULL when empty. O(log n). */
SL_API struct sl_heap_node *sl_heap_pop(struct sl_heap *heap);

/* Removes node, which must be in this heap. O(log n). */
SL_API void sl_heap_remove(struct sl_heap *heap, struct sl_heap_node *node);

static inline bool sl_heap_is_empty(const struct sl_heap *heap)
{
    return heap->count == 0;
}

SL_END_DECLS

#endif /* SL_HEAP_H */
