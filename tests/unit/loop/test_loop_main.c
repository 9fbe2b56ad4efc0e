/* SPDX-License-Identifier: Apache-2.0 */
#include "loop_tests.h"
#include "test_harness.h"

#include "poller.h"

int loop_backend_count(void)
{
    int n = 0;
    while (sl__pollers[n]) {
        n++;
    }
    return n;
}

const char *loop_backend_name(int index)
{
    return sl__pollers[index]->name;
}

struct sl_loop *start_loop(int index)
{
    struct sl_loop_options opts = {
        .name = "sl-test-loop", .cpu = -1, .backend = loop_backend_name(index)};
    struct sl_loop *loop = NULL;
    ck_assert_int_eq(sl_loop_new(&opts, &loop), 0);
    ck_assert_str_eq(sl_loop_backend_name(loop), loop_backend_name(index));
    ck_assert_int_eq(sl_loop_run(loop), 0);
    return loop;
}

void finish_loop(struct sl_loop *loop)
{
    ck_assert_int_eq(sl_loop_destroy(loop), 0);
}

int main(void)
{
    Suite *s = suite_create("loop");
    add_scheduler_tests(s);
    add_task_tests(s);
    add_io_tests(s);
    add_local_tests(s);
    add_group_tests(s);
    return sl_test_run(s);
}
