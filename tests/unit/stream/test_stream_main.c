/* SPDX-License-Identifier: Apache-2.0 */
#include "stream_tests.h"
#include "test_harness.h"

#include <sluice/event_loop.h>

struct sl_loop *start_loop(void)
{
    struct sl_loop_options opts = {.name = "sl-test-loop", .cpu = -1};
    struct sl_loop *loop = NULL;
    ck_assert_int_eq(sl_loop_new(&opts, &loop), 0);
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
    Suite *s = suite_create("stream");
    add_future_tests(s);
    return sl_test_run(s);
}
