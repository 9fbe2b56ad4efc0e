/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/heap.h>

#include "guard.h"

/*
 * A pointer-linked complete binary tree. Position k (1-based, in level order) is reached from
 * the root by the bits of k below its highest set bit, read from the top: 0 goes left, 1 goes
 * right. The last node is at position count, and a new node goes to position count + 1, so the
 * tree stays complete without an array.
 */

void sl_heap_init(struct sl_heap *heap, sl_heap_less_fn *less)
{
    heap->root = NULL;
    heap->count = 0;
    heap->less = less;
}

static int highest_bit(size_t k)
{
    int bit = 0;
    while (k >> (bit + 1)) {
        bit++;
    }
    return bit;
}

/* The node whose child position k is (k >= 2), reached by walking from the root. */
static struct sl_heap_node *parent_of_position(const struct sl_heap *heap, size_t k)
{
    struct sl_heap_node *node = heap->root;
    for (int bit = highest_bit(k) - 1; bit > 0; bit--) {
        node = (k >> bit) & 1 ? node->right : node->left;
    }
    return node;
}

/* Points whatever referred to `old` (its parent's child link, or the root) at `new_node`. */
static void replace_in_parent(struct sl_heap *heap, struct sl_heap_node *old,
                              struct sl_heap_node *new_node)
{
    struct sl_heap_node *parent = old->parent;
    if (!parent) {
        heap->root = new_node;
    } else if (parent->left == old) {
        parent->left = new_node;
    } else {
        parent->right = new_node;
    }
}

/* Exchanges child with its parent in the tree; the elements stay where they are in memory. */
static void swap_with_parent(struct sl_heap *heap, struct sl_heap_node *child)
{
    struct sl_heap_node *parent = child->parent;
    struct sl_heap_node *child_left = child->left;
    struct sl_heap_node *child_right = child->right;
    struct sl_heap_node *sibling;

    replace_in_parent(heap, parent, child);
    child->parent = parent->parent;
    if (parent->left == child) {
        sibling = parent->right;
        child->left = parent;
        child->right = sibling;
    } else {
        sibling = parent->left;
        child->left = sibling;
        child->right = parent;
    }
    if (sibling) {
        sibling->parent = child;
    }
    parent->parent = child;
    parent->left = child_left;
    parent->right = child_right;
    if (child_left) {
        child_left->parent = parent;
    }
    if (child_right) {
        child_right->parent = parent;
    }
}

static void sift_up(struct sl_heap *heap, struct sl_heap_node *node)
{
    while (node->parent && heap->less(node, node->parent)) {
        swap_with_parent(heap, node);
    }
}

static void sift_down(struct sl_heap *heap, struct sl_heap_node *node)
{
    for (;;) {
        struct sl_heap_node *smallest = node;
        if (node->left && heap->less(node->left, smallest)) {
            smallest = node->left;
        }
        if (node->right && heap->less(node->right, smallest)) {
            smallest = node->right;
        }
        if (smallest == node) {
            return;
        }
        swap_with_parent(heap, smallest);
    }
}

void sl_heap_push(struct sl_heap *heap, struct sl_heap_node *node)
{
    node->left = NULL;
    node->right = NULL;
    heap->count++;
    if (heap->count == 1) {
        node->parent = NULL;
        heap->root = node;
        return;
    }
    struct sl_heap_node *parent = parent_of_position(heap, heap->count);
    node->parent = parent;
    if (heap->count & 1) {
        parent->right = node;
    } else {
        parent->left = node;
    }
    sift_up(heap, node);
}

/* Unlinks and returns the node at the last position (count >= 2). */
static struct sl_heap_node *detach_last(struct sl_heap *heap)
{
    struct sl_heap_node *parent = parent_of_position(heap, heap->count);
    struct sl_heap_node *last;
    if (heap->count & 1) {
        last = parent->right;
        parent->right = NULL;
    } else {
        last = parent->left;
        parent->left = NULL;
    }
    heap->count--;
    return last;
}

void sl_heap_remove(struct sl_heap *heap, struct sl_heap_node *node)
{
    SL_ASSERT(heap->count > 0);
    if (heap->count == 1) {
        SL_ASSERT(heap->root == node);
        heap->root = NULL;
        heap->count = 0;
        return;
    }
    struct sl_heap_node *last = detach_last(heap);
    if (last != node) {
        /* Put last where node was; node's links are read after the detach on purpose. */
        last->left = node->left;
        last->right = node->right;
        last->parent = node->parent;
        replace_in_parent(heap, node, last);
        if (last->left) {
            last->left->parent = last;
        }
        if (last->right) {
            last->right->parent = last;
        }
        sift_down(heap, last);
        sift_up(heap, last);
    }
    node->left = node->right = node->parent = NULL;
}

struct sl_heap_node *sl_heap_pop(struct sl_heap *heap)
{
    struct sl_heap_node *top = heap->root;
    if (top) {
        sl_heap_remove(heap, top);
    }
    return top;
}
