/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_LIST_H
#define SL_LIST_H

#include <sluice/common.h>

#include <stdbool.h>

SL_BEGIN_DECLS

/*
 * An intrusive, circular, doubly linked list with a sentinel head. Elements embed a
 * struct sl_list_node and are found again with sl_container_of; the list never allocates.
 * A node that is in no list has NULL links (after sl_list_node_reset or sl_list_remove), so
 * membership can be asserted. Nothing here is thread-safe: the owner of the list serialises.
 */

struct sl_list_node {
    struct sl_list_node *next; /* private */
    struct sl_list_node *prev; /* private */
};

struct sl_list {
    struct sl_list_node head; /* private: sentinel */
};

static inline void sl_list_init(struct sl_list *list)
{
    list->head.next = &list->head;
    list->head.prev = &list->head;
}

static inline void sl_list_node_reset(struct sl_list_node *node)
{
    node->next = NULL;
    node->prev = NULL;
}

static inline bool sl_list_node_is_linked(const struct sl_list_node *node)
{
    return node->next != NULL;
}

static inline bool sl_list_is_empty(const struct sl_list *list)
{
    return list->head.next == &list->head;
}

static inline void sl__list_insert_between(struct sl_list_node *node, struct sl_list_node *prev,
                                           struct sl_list_node *next)
{
    node->prev = prev;
    node->next = next;
    prev->next = node;
    next->prev = node;
}

static inline void sl_list_push_back(struct sl_list *list, struct sl_list_node *node)
{
    sl__list_insert_between(node, list->head.prev, &list->head);
}

static inline void sl_list_push_front(struct sl_list *list, struct sl_list_node *node)
{
    sl__list_insert_between(node, &list->head, list->head.next);
}

/* Inserts node right after `after`, which is in some list. */
static inline void sl_list_insert_after(struct sl_list_node *after, struct sl_list_node *node)
{
    sl__list_insert_between(node, after, after->next);
}

/* Unlinks node from whatever list holds it and resets its links. */
static inline void sl_list_remove(struct sl_list_node *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    sl_list_node_reset(node);
}

/* First and last nodes, or NULL when the list is empty. */
static inline struct sl_list_node *sl_list_front(const struct sl_list *list)
{
    return sl_list_is_empty(list) ? NULL : list->head.next;
}

static inline struct sl_list_node *sl_list_back(const struct sl_list *list)
{
    return sl_list_is_empty(list) ? NULL : list->head.prev;
}

/* Unlinks and returns the first node, or NULL. */
static inline struct sl_list_node *sl_list_pop_front(struct sl_list *list)
{
    struct sl_list_node *node = sl_list_front(list);
    if (node) {
        sl_list_remove(node);
    }
    return node;
}

/* The node after `node` in list, or NULL at the end. */
static inline struct sl_list_node *sl_list_next(const struct sl_list *list,
                                                const struct sl_list_node *node)
{
    return node->next == &list->head ? NULL : node->next;
}

/* Moves every node of src to the end of dst, in order; src becomes empty. O(1). */
static inline void sl_list_splice_back(struct sl_list *dst, struct sl_list *src)
{
    if (sl_list_is_empty(src)) {
        return;
    }
    struct sl_list_node *first = src->head.next;
    struct sl_list_node *last = src->head.prev;
    first->prev = dst->head.prev;
    dst->head.prev->next = first;
    last->next = &dst->head;
    dst->head.prev = last;
    sl_list_init(src);
}

/*
 * Iterates with `it` over every node; the current node may be removed from inside the loop
 * because the next one is fetched first (into `tmp`).
 */
#define SL_LIST_FOR_EACH_SAFE(list, it, tmp)                                  \
    for ((it) = (list)->head.next, (tmp) = (it)->next; (it) != &(list)->head; \
         (it) = (tmp), (tmp) = (it)->next)

SL_END_DECLS

#endif /* SL_LIST_H */
