/* SPDX-License-Identifier: Apache-2.0 */
#include "common_tests.h"
#include "test_harness.h"

#include <sluice/heap.h>
#include <sluice/list.h>

#include <stdint.h>
#include <stdlib.h>

struct item {
    int key;
    bool in_heap;
    struct sl_heap_node heap_node;
    struct sl_list_node list_node;
};

static bool item_less(const struct sl_heap_node *a, const struct sl_heap_node *b)
{
    return sl_container_of(a, const struct item, heap_node)->key <
           sl_container_of(b, const struct item, heap_node)->key;
}

/* Checks links and the heap property of the subtree at node; returns its size. */
static size_t check_subtree(const struct sl_heap *heap, const struct sl_heap_node *node)
{
    if (!node) {
        return 0;
    }
    if (node->left) {
        ck_assert_ptr_eq(node->left->parent, node);
        ck_assert(!heap->less(node->left, node));
    }
    if (node->right) {
        ck_assert_ptr_nonnull(node->left); /* complete tree: no right child without a left */
        ck_assert_ptr_eq(node->right->parent, node);
        ck_assert(!heap->less(node->right, node));
    }
    return 1 + check_subtree(heap, node->left) + check_subtree(heap, node->right);
}

static void check_heap(const struct sl_heap *heap)
{
    if (heap->root) {
        ck_assert_ptr_null(heap->root->parent);
    }
    ck_assert_uint_eq(check_subtree(heap, heap->root), heap->count);
}

/* xorshift32: a deterministic generator so failures reproduce. */
static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

START_TEST(heap_pops_in_order)
{
    enum { N = 1000 };
    static struct item items[N];
    struct sl_heap heap;
    sl_heap_init(&heap, item_less);
    uint32_t seed = 12345;
    for (int i = 0; i < N; i++) {
        items[i].key = (int)(next_random(&seed) % 100); /* many equal keys */
        sl_heap_push(&heap, &items[i].heap_node);
    }
    check_heap(&heap);
    int last = -1;
    for (int i = 0; i < N; i++) {
        struct sl_heap_node *node = sl_heap_pop(&heap);
        ck_assert_ptr_nonnull(node);
        int key = sl_container_of(node, struct item, heap_node)->key;
        ck_assert_int_ge(key, last);
        last = key;
    }
    ck_assert_ptr_null(sl_heap_pop(&heap));
    ck_assert(sl_heap_is_empty(&heap));
}
END_TEST

START_TEST(heap_random_pushes_pops_and_removals_keep_invariants)
{
    enum { N = 512 };
    static struct item items[N];
    struct sl_heap heap;
    sl_heap_init(&heap, item_less);
    uint32_t seed = 0xc0ffee;
    size_t in_heap = 0;
    for (int step = 0; step < 20000; step++) {
        struct item *it = &items[next_random(&seed) % N];
        uint32_t op = next_random(&seed) % 3;
        if (!it->in_heap && op != 2) {
            it->key = (int)(next_random(&seed) % 1000);
            sl_heap_push(&heap, &it->heap_node);
            it->in_heap = true;
            in_heap++;
        } else if (it->in_heap && op == 1) {
            sl_heap_remove(&heap, &it->heap_node);
            it->in_heap = false;
            in_heap--;
        } else if (op == 2 && in_heap > 0) {
            struct sl_heap_node *top = sl_heap_peek(&heap);
            int min = sl_container_of(top, struct item, heap_node)->key;
            for (int i = 0; i < N; i++) {
                ck_assert(!items[i].in_heap || items[i].key >= min);
            }
            sl_container_of(sl_heap_pop(&heap), struct item, heap_node)->in_heap = false;
            in_heap--;
        }
        ck_assert_uint_eq(heap.count, in_heap);
        if (step % 97 == 0) {
            check_heap(&heap);
        }
    }
    check_heap(&heap);
}
END_TEST

START_TEST(heap_removes_any_position)
{
    enum { N = 33 };
    for (int victim = 0; victim < N; victim++) {
        struct item items[N];
        struct sl_heap heap;
        sl_heap_init(&heap, item_less);
        for (int i = 0; i < N; i++) {
            items[i].key = (i * 7) % N;
            sl_heap_push(&heap, &items[i].heap_node);
        }
        sl_heap_remove(&heap, &items[victim].heap_node);
        check_heap(&heap);
        ck_assert_uint_eq(heap.count, N - 1);
        int last = -1;
        while (!sl_heap_is_empty(&heap)) {
            struct item *it = sl_container_of(sl_heap_pop(&heap), struct item, heap_node);
            ck_assert_int_ne(it->key, items[victim].key);
            ck_assert_int_gt(it->key, last);
            last = it->key;
        }
    }
}
END_TEST

START_TEST(list_keeps_order_and_unlinks)
{
    struct sl_list list;
    sl_list_init(&list);
    struct item items[5];
    for (int i = 0; i < 5; i++) {
        items[i].key = i;
        sl_list_node_reset(&items[i].list_node);
        ck_assert(!sl_list_node_is_linked(&items[i].list_node));
        sl_list_push_back(&list, &items[i].list_node);
    }
    sl_list_remove(&items[2].list_node);
    ck_assert(!sl_list_node_is_linked(&items[2].list_node));
    sl_list_push_front(&list, &items[2].list_node);
    int expected[] = {2, 0, 1, 3, 4};
    int i = 0;
    for (struct sl_list_node *n = sl_list_front(&list); n; n = sl_list_next(&list, n)) {
        ck_assert_int_eq(sl_container_of(n, struct item, list_node)->key, expected[i++]);
    }
    ck_assert_int_eq(i, 5);
    ck_assert_int_eq(sl_container_of(sl_list_back(&list), struct item, list_node)->key, 4);
    while (sl_list_pop_front(&list)) {
    }
    ck_assert(sl_list_is_empty(&list));
    ck_assert_ptr_null(sl_list_front(&list));
}
END_TEST

START_TEST(list_splice_and_safe_iteration)
{
    struct sl_list a, b;
    sl_list_init(&a);
    sl_list_init(&b);
    struct item items[6];
    for (int i = 0; i < 6; i++) {
        items[i].key = i;
        sl_list_push_back(i < 3 ? &a : &b, &items[i].list_node);
    }
    sl_list_splice_back(&a, &b);
    ck_assert(sl_list_is_empty(&b));
    sl_list_splice_back(&a, &b); /* empty source: no change */
    struct sl_list_node *it, *tmp;
    int seen = 0;
    SL_LIST_FOR_EACH_SAFE(&a, it, tmp)
    {
        struct item *item = sl_container_of(it, struct item, list_node);
        ck_assert_int_eq(item->key, seen++);
        if (item->key % 2) {
            sl_list_remove(it);
        }
    }
    ck_assert_int_eq(seen, 6);
    int expected[] = {0, 2, 4};
    int i = 0;
    for (struct sl_list_node *n = sl_list_front(&a); n; n = sl_list_next(&a, n)) {
        ck_assert_int_eq(sl_container_of(n, struct item, list_node)->key, expected[i++]);
    }
    ck_assert_int_eq(i, 3);
}
END_TEST

void add_heap_list_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("heap", 30);
    tcase_add_test(tc, heap_pops_in_order);
    tcase_add_test(tc, heap_random_pushes_pops_and_removals_keep_invariants);
    tcase_add_test(tc, heap_removes_any_position);
    suite_add_tcase(s, tc);

    tc = sl_test_tcase("list", 10);
    tcase_add_test(tc, list_keeps_order_and_unlinks);
    tcase_add_test(tc, list_splice_and_safe_iteration);
    suite_add_tcase(s, tc);
}
