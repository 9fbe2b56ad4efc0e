/* SPDX-License-Identifier: Apache-2.0 */
#include "loop_tests.h"
#include "test_harness.h"

#include <sluice/alloc.h>
#include <sluice/error.h>

/* Keys are addresses of statics, as real users (a message pool, a resolver) do. */
static const char s_key_a = 'a';
static const char s_key_b = 'b';
static const char s_key_c = 'c';

static int s_destroyed[8];

static void destroy_counted(void *value)
{
    int *slot = value;
    s_destroyed[*slot]++;
    sl_free(slot);
}

static int *new_value(int id)
{
    int *v = sl_alloc(sizeof(*v));
    ck_assert_ptr_nonnull(v);
    *v = id;
    return v;
}

struct local_case {
    struct sl_loop *loop;
};

static void exercise_locals(void *arg)
{
    struct sl_loop *loop = ((struct local_case *)arg)->loop;
    void *out = NULL;
    ck_assert_int_eq(sl_loop_local_fetch(loop, &s_key_a, &out), SL_E_NOT_FOUND);
    ck_assert_int_eq(sl_loop_local_put(loop, &s_key_a, new_value(0), destroy_counted), 0);
    ck_assert_int_eq(sl_loop_local_put(loop, &s_key_b, new_value(1), destroy_counted), 0);
    ck_assert_int_eq(sl_loop_local_fetch(loop, &s_key_a, &out), 0);
    ck_assert_int_eq(*(int *)out, 0);

    /* Replacing destroys the old value; putting the same pointer again does not. */
    ck_assert_int_eq(sl_loop_local_put(loop, &s_key_a, new_value(2), destroy_counted), 0);
    ck_assert_int_eq(s_destroyed[0], 1);
    ck_assert_int_eq(sl_loop_local_fetch(loop, &s_key_a, &out), 0);
    ck_assert_int_eq(sl_loop_local_put(loop, &s_key_a, out, destroy_counted), 0);
    ck_assert_int_eq(s_destroyed[2], 0);

    ck_assert_int_eq(sl_loop_local_remove(loop, &s_key_b), 0);
    ck_assert_int_eq(s_destroyed[1], 1);
    ck_assert_int_eq(sl_loop_local_remove(loop, &s_key_b), SL_E_NOT_FOUND);
    ck_assert_int_eq(sl_loop_local_fetch(loop, &s_key_b, &out), SL_E_NOT_FOUND);

    for (int i = 3; i < 8; i++) { /* grow past the initial capacity */
        ck_assert_int_eq(sl_loop_local_put(loop, &s_destroyed[i], new_value(i), destroy_counted),
                         0);
    }
    ck_assert_int_eq(sl_loop_local_put(loop, &s_key_c, NULL, NULL), 0);
}

START_TEST(local_storage_puts_fetches_replaces_and_removes)
{
    for (int i = 0; i < 8; i++) {
        s_destroyed[i] = 0;
    }
    struct sl_loop *loop = start_loop(_i);
    struct local_case c = {.loop = loop};
    void *out;
    ck_assert_int_eq(sl_loop_local_put(loop, &s_key_a, NULL, NULL), SL_E_WRONG_THREAD);
    ck_assert_int_eq(sl_loop_local_fetch(loop, &s_key_a, &out), SL_E_WRONG_THREAD);
    ck_assert_int_eq(sl_loop_local_remove(loop, &s_key_a), SL_E_WRONG_THREAD);
    sl_test_run_on_loop(loop, exercise_locals, &c);
    finish_loop(loop); /* destroys what is left: the value 2 and the values 3..7 */
    ck_assert_int_eq(s_destroyed[2], 1);
    for (int i = 3; i < 8; i++) {
        ck_assert_int_eq(s_destroyed[i], 1);
    }
}
END_TEST

void add_local_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("local", 30);
    tcase_add_loop_test(tc, local_storage_puts_fetches_replaces_and_removes, 0,
                        loop_backend_count());
    suite_add_tcase(s, tc);
}
