/* SPDX-License-Identifier: Apache-2.0 */
#include "common_tests.h"
#include "test_harness.h"

#include <sluice/alloc.h>
#include <sluice/error.h>

#include <stdint.h>
#include <string.h>

START_TEST(counting_allocator_tracks_bytes_and_blocks)
{
    struct sl_alloc_stats before, during, after;
    sl_alloc_stats(&before);
    char *p = sl_alloc(100);
    ck_assert_ptr_nonnull(p);
    sl_alloc_stats(&during);
    ck_assert_uint_eq(during.outstanding_bytes, before.outstanding_bytes + 100);
    ck_assert_uint_eq(during.outstanding_count, before.outstanding_count + 1);
    ck_assert_uint_eq(during.total_allocations, before.total_allocations + 1);

    p = sl_realloc(p, 300);
    ck_assert_ptr_nonnull(p);
    sl_alloc_stats(&during);
    ck_assert_uint_eq(during.outstanding_bytes, before.outstanding_bytes + 300);
    ck_assert_uint_eq(during.outstanding_count, before.outstanding_count + 1);

    sl_free(p);
    sl_alloc_stats(&after);
    ck_assert_uint_eq(after.outstanding_bytes, before.outstanding_bytes);
    ck_assert_uint_eq(after.outstanding_count, before.outstanding_count);
}
END_TEST

START_TEST(fail_at_fails_exactly_the_nth_allocation)
{
    ck_assert_int_eq(sl_alloc_fail_at(2), 0);
    void *first = sl_alloc(8);
    void *second = sl_alloc(8);
    void *third = sl_alloc(8);
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(second);
    ck_assert_ptr_nonnull(third);
    sl_free(first);
    sl_free(third);
}
END_TEST

START_TEST(failed_realloc_keeps_the_old_block)
{
    char *p = sl_alloc(4);
    ck_assert_ptr_nonnull(p);
    memcpy(p, "abc", 4);
    ck_assert_int_eq(sl_alloc_fail_at(1), 0);
    ck_assert_ptr_null(sl_realloc(p, 4096));
    ck_assert_str_eq(p, "abc");
    sl_free(p);
}
END_TEST

START_TEST(calloc_zeroes_and_rejects_overflow)
{
    ck_assert_ptr_null(sl_calloc(SIZE_MAX, 2));
    ck_assert_ptr_null(sl_calloc(0, 8));
    ck_assert_ptr_null(sl_alloc(0));
    unsigned char *p = sl_calloc(16, 4);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < 64; i++) {
        ck_assert_uint_eq(p[i], 0);
    }
    sl_free(p);
}
END_TEST

START_TEST(realloc_with_null_or_zero_behaves_like_alloc_and_free)
{
    struct sl_alloc_stats before, after;
    sl_alloc_stats(&before);
    void *p = sl_realloc(NULL, 32);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_null(sl_realloc(p, 0));
    sl_free(NULL);
    sl_alloc_stats(&after);
    ck_assert_uint_eq(after.outstanding_bytes, before.outstanding_bytes);
}
END_TEST

START_TEST(allocator_cannot_change_after_use)
{
    struct sl_allocator a = {0};
    sl_free(sl_alloc(1)); /* this forked test process may not have allocated yet */
    ck_assert_int_eq(sl_allocator_set(&a), SL_E_STATE);
    ck_assert_int_eq(sl_alloc_counting_start(), SL_E_STATE);
    ck_assert(sl_alloc_is_counting());
}
END_TEST

START_TEST(secure_zero_wipes_memory)
{
    unsigned char key[32];
    memset(key, 0xa5, sizeof(key));
    sl_secure_zero(key, sizeof(key));
    for (size_t i = 0; i < sizeof(key); i++) {
        ck_assert_uint_eq(key[i], 0);
    }
}
END_TEST

void add_alloc_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("alloc", 10);
    tcase_add_test(tc, counting_allocator_tracks_bytes_and_blocks);
    tcase_add_test(tc, fail_at_fails_exactly_the_nth_allocation);
    tcase_add_test(tc, failed_realloc_keeps_the_old_block);
    tcase_add_test(tc, calloc_zeroes_and_rejects_overflow);
    tcase_add_test(tc, realloc_with_null_or_zero_behaves_like_alloc_and_free);
    tcase_add_test(tc, allocator_cannot_change_after_use);
    tcase_add_test(tc, secure_zero_wipes_memory);
    suite_add_tcase(s, tc);
}
