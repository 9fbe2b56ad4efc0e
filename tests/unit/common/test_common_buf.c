/* SPDX-License-Identifier: Apache-2.0 */
#include "common_tests.h"
#include "test_harness.h"

#include <sluice/alloc.h>
#include <sluice/buf.h>
#include <sluice/error.h>

#include "common_internal.h"

#include <stdint.h>
#include <string.h>

START_TEST(owned_buf_grows_on_append)
{
    struct sl_buf buf;
    ck_assert_int_eq(sl_buf_init(&buf, 0), 0);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(sl_buf_append(&buf, sl_cursor_from_cstr("0123456789")), 0);
    }
    ck_assert_uint_eq(buf.len, 10000);
    ck_assert(buf.cap >= buf.len);
    ck_assert(sl__buf_is_valid(&buf));
    ck_assert_int_eq(memcmp(buf.data + 9990, "0123456789", 10), 0);
    sl_buf_clean_up(&buf);
    ck_assert_ptr_null(buf.data);
    ck_assert_uint_eq(buf.cap, 0);
}
END_TEST

START_TEST(fixed_buf_rejects_overflow_and_stays_unchanged)
{
    uint8_t mem[8];
    struct sl_buf buf;
    sl_buf_init_fixed(&buf, mem, sizeof(mem));
    ck_assert_int_eq(sl_buf_append(&buf, sl_cursor_from_cstr("abcdef")), 0);
    ck_assert_int_eq(sl_buf_append(&buf, sl_cursor_from_cstr("xyz")), SL_E_BUF_FULL);
    ck_assert_uint_eq(buf.len, 6);
    ck_assert_int_eq(sl_buf_append_be32(&buf, 1), SL_E_BUF_FULL);
    ck_assert_int_eq(sl_buf_append_be16(&buf, 0x4142), 0);
    ck_assert_uint_eq(sl_buf_space(&buf), 0);
    ck_assert_int_eq(sl_buf_append_u8(&buf, 1), SL_E_BUF_FULL);
    ck_assert_int_eq(memcmp(mem, "abcdefAB", 8), 0);
    ck_assert_int_eq(sl_buf_commit(&buf, 1), SL_E_BUF_FULL);
    sl_buf_clean_up(&buf); /* never frees caller memory */
}
END_TEST

START_TEST(reserve_reports_overflow_instead_of_wrapping)
{
    struct sl_buf buf;
    ck_assert_int_eq(sl_buf_init(&buf, 4), 0);
    ck_assert_int_eq(sl_buf_append_u8(&buf, 7), 0);
    ck_assert_int_eq(sl_buf_reserve(&buf, SIZE_MAX), SL_E_OVERFLOW);
    ck_assert_uint_eq(buf.len, 1);
    sl_buf_clean_up(&buf);
}
END_TEST

START_TEST(append_survives_allocation_failure)
{
    struct sl_buf buf;
    ck_assert_int_eq(sl_buf_init_copy(&buf, sl_cursor_from_cstr("keep")), 0);
    ck_assert_int_eq(sl_alloc_fail_at(1), 0);
    ck_assert_int_eq(sl_buf_append(&buf, sl_cursor_from_cstr("more than four bytes")), SL_E_NOMEM);
    ck_assert(sl_cursor_eq_cstr(sl_buf_cursor(&buf), "keep"));
    sl_buf_clean_up(&buf);
}
END_TEST

START_TEST(append_of_own_contents_survives_growth)
{
    struct sl_buf buf;
    ck_assert_int_eq(sl_buf_init_copy(&buf, sl_cursor_from_cstr("abc")), 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(sl_buf_append(&buf, sl_buf_cursor(&buf)), 0);
    }
    ck_assert_uint_eq(buf.len, 3 * 32);
    for (size_t i = 0; i < buf.len; i += 3) {
        ck_assert_int_eq(memcmp(buf.data + i, "abc", 3), 0);
    }
    sl_buf_clean_up(&buf);
}
END_TEST

START_TEST(integers_round_trip_in_network_order)
{
    struct sl_buf buf;
    ck_assert_int_eq(sl_buf_init(&buf, 0), 0);
    ck_assert_int_eq(sl_buf_append_u8(&buf, 0x01), 0);
    ck_assert_int_eq(sl_buf_append_be16(&buf, 0x0203), 0);
    ck_assert_int_eq(sl_buf_append_be32(&buf, 0x04050607), 0);
    ck_assert_int_eq(sl_buf_append_be64(&buf, UINT64_C(0x08090a0b0c0d0e0f)), 0);
    for (uint8_t i = 0; i < 15; i++) {
        ck_assert_uint_eq(buf.data[i], i + 1);
    }
    struct sl_cursor cur = sl_buf_cursor(&buf);
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    ck_assert_int_eq(sl_cursor_read_u8(&cur, &u8), 0);
    ck_assert_int_eq(sl_cursor_read_be16(&cur, &u16), 0);
    ck_assert_int_eq(sl_cursor_read_be32(&cur, &u32), 0);
    ck_assert_int_eq(sl_cursor_read_be64(&cur, &u64), 0);
    ck_assert_uint_eq(u8, 0x01);
    ck_assert_uint_eq(u16, 0x0203);
    ck_assert_uint_eq(u32, 0x04050607);
    ck_assert(u64 == UINT64_C(0x08090a0b0c0d0e0f));
    ck_assert_uint_eq(cur.len, 0);
    sl_buf_clean_up(&buf);
}
END_TEST

START_TEST(cursor_short_reads_fail_and_leave_cursor_unchanged)
{
    const uint8_t bytes[3] = {1, 2, 3};
    struct sl_cursor cur = sl_cursor_from(bytes, sizeof(bytes));
    uint32_t u32 = 0xdeadbeef;
    uint64_t u64 = 0;
    uint8_t out[4];
    struct sl_cursor head;
    ck_assert_int_eq(sl_cursor_read_be32(&cur, &u32), SL_E_SHORT_READ);
    ck_assert_uint_eq(u32, 0xdeadbeef);
    ck_assert_int_eq(sl_cursor_read_be64(&cur, &u64), SL_E_SHORT_READ);
    ck_assert_int_eq(sl_cursor_read(&cur, out, 4), SL_E_SHORT_READ);
    ck_assert_int_eq(sl_cursor_skip(&cur, 4), SL_E_SHORT_READ);
    ck_assert_int_eq(sl_cursor_split(&cur, 4, &head), SL_E_SHORT_READ);
    ck_assert_uint_eq(cur.len, 3);
    ck_assert_ptr_eq(cur.ptr, bytes);
    ck_assert_int_eq(sl_cursor_split(&cur, 2, &head), 0);
    ck_assert_uint_eq(head.len, 2);
    ck_assert_uint_eq(cur.len, 1);
    ck_assert_uint_eq(cur.ptr[0], 3);
}
END_TEST

START_TEST(empty_and_null_cursors_are_safe)
{
    struct sl_cursor empty = sl_cursor_from(NULL, 10);
    ck_assert_uint_eq(empty.len, 0);
    ck_assert(sl_cursor_eq(empty, sl_cursor_from_cstr(NULL)));
    ck_assert(sl_cursor_eq_cstr(empty, ""));
    ck_assert(!sl_cursor_eq_cstr(sl_cursor_from_cstr("a"), "b"));
    uint8_t u8;
    ck_assert_int_eq(sl_cursor_read_u8(&empty, &u8), SL_E_SHORT_READ);
    struct sl_buf buf;
    ck_assert_int_eq(sl_buf_init_copy(&buf, empty), 0);
    ck_assert_uint_eq(buf.len, 0);
    sl_buf_clean_up(&buf);
}
END_TEST

START_TEST(secure_clean_up_wipes_before_free)
{
    uint8_t mem[16];
    memset(mem, 0x5a, sizeof(mem));
    struct sl_buf buf;
    sl_buf_init_fixed(&buf, mem, sizeof(mem));
    sl_buf_clean_up_secure(&buf);
    for (size_t i = 0; i < sizeof(mem); i++) {
        ck_assert_uint_eq(mem[i], 0);
    }
    ck_assert_int_eq(sl_buf_init_copy(&buf, sl_cursor_from_cstr("secret")), 0);
    sl_buf_clean_up_secure(&buf);
    ck_assert_ptr_null(buf.data);
}
END_TEST

void add_buf_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("buf", 10);
    tcase_add_test(tc, owned_buf_grows_on_append);
    tcase_add_test(tc, fixed_buf_rejects_overflow_and_stays_unchanged);
    tcase_add_test(tc, reserve_reports_overflow_instead_of_wrapping);
    tcase_add_test(tc, append_survives_allocation_failure);
    tcase_add_test(tc, append_of_own_contents_survives_growth);
    tcase_add_test(tc, integers_round_trip_in_network_order);
    tcase_add_test(tc, cursor_short_reads_fail_and_leave_cursor_unchanged);
    tcase_add_test(tc, empty_and_null_cursors_are_safe);
    tcase_add_test(tc, secure_clean_up_wipes_before_free);
    suite_add_tcase(s, tc);
}
