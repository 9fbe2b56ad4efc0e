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

struct run_on_loop_call {
    struct sl_task task;
    void (*fn)(void *arg);
    void *arg;
    struct sl_test_latch done;
};

static void run_on_loop_task(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct run_on_loop_call *call = arg;
    if (status == SL_TASK_RUN) {
        call->fn(call->arg);
    }
    sl_test_latch_add(&call->done, 1);
}

void run_on_loop(struct sl_loop *loop, void (*fn)(void *arg), void *arg)
{
    struct run_on_loop_call call = {.fn = fn, .arg = arg};
    sl_test_latch_init(&call.done);
    sl_task_init(&call.task, run_on_loop_task, &call, "run_on_loop");
    sl_loop_schedule_now(loop, &call.task);
    ck_assert(sl_test_latch_wait(&call.done, 1, 10000));
    sl_test_latch_clean_up(&call.done);
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
