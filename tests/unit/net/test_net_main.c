/* SPDX-License-Identifier: Apache-2.0 */
#include "net_tests.h"
#include "test_harness.h"

#include <signal.h>

struct sl_loop *g_loop_a;
struct sl_loop *g_loop_b;

static void loops_setup(void)
{
    struct sl_loop_options a = {.name = "net-test-a", .cpu = -1};
    struct sl_loop_options b = {.name = "net-test-b", .cpu = -1};
    ck_assert_int_eq(sl_loop_new(&a, &g_loop_a), 0);
    ck_assert_int_eq(sl_loop_new(&b, &g_loop_b), 0);
    ck_assert_int_eq(sl_loop_run(g_loop_a), 0);
    ck_assert_int_eq(sl_loop_run(g_loop_b), 0);
}

static void loops_teardown(void)
{
    ck_assert_int_eq(sl_loop_destroy(g_loop_a), 0);
    ck_assert_int_eq(sl_loop_destroy(g_loop_b), 0);
}

TCase *net_tcase(const char *name, double timeout_s)
{
    TCase *tc = sl_test_tcase(name, timeout_s);
    tcase_add_checked_fixture(tc, loops_setup, loops_teardown);
    return tc;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* pipe tests write to closed pipes on purpose */
    Suite *s = suite_create("net");
    add_address_tests(s);
    add_connect_tests(s);
    add_echo_tests(s);
    add_flow_tests(s);
    add_scale_tests(s);
    add_lifetime_tests(s);
    return sl_test_run(s);
}
