/* SPDX-License-Identifier: Apache-2.0 */
#include "loop_tests.h"
#include "test_harness.h"

#include "task_scheduler.h"

#include <string.h>

/* What ran, in order: task index and status. */
static struct {
    int ids[64];
    enum sl_task_status statuses[64];
    int count;
} s_log;

struct logged_task {
    struct sl_task task;
    int id;
    struct sl_scheduler *scheduler;
    struct logged_task *follow_up;   /* scheduled "now" from inside this task */
    struct logged_task *cancel_this; /* cancelled from inside this task */
};

static void log_task(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct logged_task *t = arg;
    s_log.ids[s_log.count] = t->id;
    s_log.statuses[s_log.count] = status;
    s_log.count++;
    if (t->follow_up) {
        sl__scheduler_schedule_now(t->scheduler, &t->follow_up->task);
    }
    if (t->cancel_this) {
        sl__scheduler_cancel(t->scheduler, &t->cancel_this->task);
    }
}

static struct sl_scheduler s_sched;
static struct logged_task s_tasks[8];

static void scheduler_setup(void)
{
    memset(&s_log, 0, sizeof(s_log));
    sl__scheduler_init(&s_sched);
    for (int i = 0; i < 8; i++) {
        s_tasks[i] = (struct logged_task){.id = i, .scheduler = &s_sched};
        sl_task_init(&s_tasks[i].task, log_task, &s_tasks[i], "logged");
    }
}

static void assert_ran(const int *ids, int count, enum sl_task_status status)
{
    ck_assert_int_eq(s_log.count, count);
    for (int i = 0; i < count; i++) {
        ck_assert_int_eq(s_log.ids[i], ids[i]);
        ck_assert_int_eq(s_log.statuses[i], status);
    }
}

START_TEST(now_tasks_run_in_fifo_order)
{
    for (int i = 0; i < 4; i++) {
        sl__scheduler_schedule_now(&s_sched, &s_tasks[i].task);
    }
    ck_assert_uint_eq(sl__scheduler_run_due(&s_sched, 0), 4);
    assert_ran((int[]){0, 1, 2, 3}, 4, SL_TASK_RUN);
    ck_assert(sl__scheduler_is_empty(&s_sched));
}
END_TEST

START_TEST(same_time_tasks_run_in_fifo_order_after_earlier_ones)
{
    sl__scheduler_schedule_at(&s_sched, &s_tasks[1].task, 100);
    sl__scheduler_schedule_at(&s_sched, &s_tasks[2].task, 100);
    sl__scheduler_schedule_at(&s_sched, &s_tasks[0].task, 50);
    sl__scheduler_schedule_at(&s_sched, &s_tasks[3].task, 100);
    sl__scheduler_schedule_at(&s_sched, &s_tasks[4].task, 100);
    sl__scheduler_run_due(&s_sched, 100);
    assert_ran((int[]){0, 1, 2, 3, 4}, 5, SL_TASK_RUN);
}
END_TEST

START_TEST(timed_tasks_wait_for_their_time)
{
    uint64_t deadline = 0;
    ck_assert(!sl__scheduler_next_deadline(&s_sched, &deadline));
    sl__scheduler_schedule_at(&s_sched, &s_tasks[0].task, 200);
    ck_assert(sl__scheduler_next_deadline(&s_sched, &deadline));
    ck_assert_uint_eq(deadline, 200);
    ck_assert_uint_eq(sl__scheduler_run_due(&s_sched, 199), 0);
    ck_assert(sl_task_is_scheduled(&s_tasks[0].task));
    ck_assert_uint_eq(sl__scheduler_run_due(&s_sched, 200), 1);
    ck_assert(!sl_task_is_scheduled(&s_tasks[0].task));
}
END_TEST

START_TEST(now_tasks_run_before_due_timed_tasks)
{
    sl__scheduler_schedule_at(&s_sched, &s_tasks[0].task, 10);
    sl__scheduler_schedule_now(&s_sched, &s_tasks[1].task);
    sl__scheduler_run_due(&s_sched, 10);
    assert_ran((int[]){1, 0}, 2, SL_TASK_RUN);
}
END_TEST

START_TEST(tasks_scheduled_while_running_wait_for_the_next_round)
{
    s_tasks[0].follow_up = &s_tasks[1];
    sl__scheduler_schedule_now(&s_sched, &s_tasks[0].task);
    ck_assert_uint_eq(sl__scheduler_run_due(&s_sched, 0), 1);
    ck_assert(sl__scheduler_has_asap(&s_sched));
    ck_assert_uint_eq(sl__scheduler_run_due(&s_sched, 0), 1);
    assert_ran((int[]){0, 1}, 2, SL_TASK_RUN);
}
END_TEST

START_TEST(a_task_may_reschedule_itself)
{
    s_tasks[0].follow_up = &s_tasks[0];
    sl__scheduler_schedule_now(&s_sched, &s_tasks[0].task);
    sl__scheduler_run_due(&s_sched, 0);
    sl__scheduler_run_due(&s_sched, 0);
    s_tasks[0].follow_up = NULL;
    sl__scheduler_run_due(&s_sched, 0);
    assert_ran((int[]){0, 0, 0}, 3, SL_TASK_RUN);
    ck_assert(sl__scheduler_is_empty(&s_sched));
}
END_TEST

START_TEST(cancel_runs_the_task_once_with_cancelled)
{
    sl__scheduler_schedule_now(&s_sched, &s_tasks[0].task);
    sl__scheduler_schedule_at(&s_sched, &s_tasks[1].task, 500);
    sl__scheduler_cancel(&s_sched, &s_tasks[1].task);
    sl__scheduler_cancel(&s_sched, &s_tasks[0].task);
    assert_ran((int[]){1, 0}, 2, SL_TASK_CANCELED);
    sl__scheduler_cancel(&s_sched, &s_tasks[0].task); /* no longer pending: nothing happens */
    sl__scheduler_cancel(&s_sched, &s_tasks[5].task); /* never scheduled */
    ck_assert_int_eq(s_log.count, 2);
    ck_assert_uint_eq(sl__scheduler_run_due(&s_sched, 1000), 0);
}
END_TEST

START_TEST(a_running_task_can_cancel_one_later_in_the_same_round)
{
    s_tasks[0].cancel_this = &s_tasks[1];
    sl__scheduler_schedule_now(&s_sched, &s_tasks[0].task);
    sl__scheduler_schedule_now(&s_sched, &s_tasks[1].task);
    sl__scheduler_schedule_now(&s_sched, &s_tasks[2].task);
    ck_assert_uint_eq(sl__scheduler_run_due(&s_sched, 0), 2);
    ck_assert_int_eq(s_log.count, 3);
    ck_assert_int_eq(s_log.ids[0], 0);
    ck_assert_int_eq(s_log.ids[1], 1);
    ck_assert_int_eq(s_log.statuses[1], SL_TASK_CANCELED);
    ck_assert_int_eq(s_log.ids[2], 2);
    ck_assert_int_eq(s_log.statuses[2], SL_TASK_RUN);
}
END_TEST

START_TEST(cancel_all_reaches_tasks_that_cancelled_tasks_schedule)
{
    s_tasks[0].follow_up = &s_tasks[3];
    sl__scheduler_schedule_at(&s_sched, &s_tasks[0].task, 1000);
    sl__scheduler_schedule_now(&s_sched, &s_tasks[1].task);
    sl__scheduler_schedule_at(&s_sched, &s_tasks[2].task, 5);
    sl__scheduler_cancel_all(&s_sched);
    ck_assert_int_eq(s_log.count, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(s_log.statuses[i], SL_TASK_CANCELED);
    }
    ck_assert_int_eq(s_log.ids[3], 3);
    ck_assert(sl__scheduler_is_empty(&s_sched));
}
END_TEST

struct ordered_task {
    struct sl_task task;
    uint64_t at;
    uint64_t order;
};

static uint64_t s_last_at, s_ran;
static bool s_in_order;

static void check_order(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status;
    struct ordered_task *t = arg;
    if (t->at < s_last_at) {
        s_in_order = false;
    }
    s_last_at = t->at;
    s_ran++;
}

START_TEST(many_timed_tasks_run_in_time_order)
{
    enum { N = 10000 };
    static struct ordered_task tasks[N];
    uint32_t x = 2463534242u;
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        tasks[i].at = x % 5000;
        sl_task_init(&tasks[i].task, check_order, &tasks[i], "ordered");
        sl__scheduler_schedule_at(&s_sched, &tasks[i].task, tasks[i].at);
    }
    s_last_at = 0;
    s_ran = 0;
    s_in_order = true;
    for (uint64_t now = 0; now < 5000; now += 250) {
        sl__scheduler_run_due(&s_sched, now);
    }
    sl__scheduler_run_due(&s_sched, 5000);
    ck_assert(s_in_order);
    ck_assert_uint_eq(s_ran, N);
}
END_TEST

void add_scheduler_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("scheduler", 30);
    tcase_add_checked_fixture(tc, scheduler_setup, NULL);
    tcase_add_test(tc, now_tasks_run_in_fifo_order);
    tcase_add_test(tc, same_time_tasks_run_in_fifo_order_after_earlier_ones);
    tcase_add_test(tc, timed_tasks_wait_for_their_time);
    tcase_add_test(tc, now_tasks_run_before_due_timed_tasks);
    tcase_add_test(tc, tasks_scheduled_while_running_wait_for_the_next_round);
    tcase_add_test(tc, a_task_may_reschedule_itself);
    tcase_add_test(tc, cancel_runs_the_task_once_with_cancelled);
    tcase_add_test(tc, a_running_task_can_cancel_one_later_in_the_same_round);
    tcase_add_test(tc, cancel_all_reaches_tasks_that_cancelled_tasks_schedule);
    tcase_add_test(tc, many_timed_tasks_run_in_time_order);
    suite_add_tcase(s, tc);
}
