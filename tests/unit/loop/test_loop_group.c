/* SPDX-License-Identifier: Apache-2.0 */

/* sched_getcpu is a GNU extension. */
#define _GNU_SOURCE

#include "loop_tests.h"
#include "test_harness.h"

#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/event_loop_group.h>
#include <sluice/thread.h>

#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void count_shutdown(void *user_data)
{
    sl_test_latch_add(user_data, 1);
}

static struct sl_loop_group *new_group(unsigned count, bool pin, struct sl_test_latch *done,
                                       int backend)
{
    struct sl_loop_group_options opts = {
        .loop_count = count,
        .pin_to_cpus = pin,
        .name = "sl-test",
        .backend = loop_backend_name(backend),
        .on_shutdown_complete = count_shutdown,
        .user_data = done,
    };
    struct sl_loop_group *group = NULL;
    ck_assert_int_eq(sl_loop_group_new(&opts, &group), 0);
    return group;
}

struct thread_facts {
    char name[32];
    int cpu;
};

static void read_thread_facts(void *arg)
{
    struct thread_facts *f = arg;
    FILE *comm = fopen("/proc/thread-self/comm", "r");
    ck_assert_ptr_nonnull(comm);
    ck_assert_ptr_nonnull(fgets(f->name, sizeof(f->name), comm));
    fclose(comm);
    f->name[strcspn(f->name, "\n")] = '\0';
    f->cpu = sched_getcpu();
}

START_TEST(group_runs_named_loops_and_reports_shutdown_once)
{
    struct sl_test_latch done;
    sl_test_latch_init(&done);
    struct sl_loop_group *group = new_group(3, false, &done, _i);
    ck_assert_uint_eq(sl_loop_group_count(group), 3);
    ck_assert_ptr_null(sl_loop_group_get_loop(group, 3));
    for (size_t i = 0; i < 3; i++) {
        struct thread_facts facts;
        sl_test_run_on_loop(sl_loop_group_get_loop(group, i), read_thread_facts, &facts);
        char expected[32];
        snprintf(expected, sizeof(expected), "sl-test-%zu", i);
        ck_assert_str_eq(facts.name, expected);
    }
    sl_loop_group_acquire(group);
    sl_loop_group_release(group);
    ck_assert_uint_eq(sl_test_latch_get(&done), 0);
    sl_loop_group_release(group);
    ck_assert(sl_test_latch_wait(&done, 1, 10000));
    sl_test_latch_clean_up(&done);
}
END_TEST

START_TEST(default_group_has_one_loop_per_allowed_cpu)
{
    struct sl_test_latch done;
    sl_test_latch_init(&done);
    struct sl_loop_group *group = new_group(0, false, &done, _i);
    ck_assert_uint_eq(sl_loop_group_count(group), (size_t)sl_cpu_count());
    ck_assert_int_eq(sl_loop_group_destroy(group), 0);
    ck_assert_uint_eq(sl_test_latch_get(&done), 1); /* destroy waited for the callback */
    sl_test_latch_clean_up(&done);
}
END_TEST

START_TEST(pinned_loops_run_on_their_cpus)
{
    int cpus[64];
    int n = sl_cpu_allowed(cpus, 64);
    struct sl_test_latch done;
    sl_test_latch_init(&done);
    struct sl_loop_group *group = new_group(2, true, &done, _i);
    for (size_t i = 0; i < 2; i++) {
        struct thread_facts facts;
        sl_test_run_on_loop(sl_loop_group_get_loop(group, i), read_thread_facts, &facts);
        ck_assert_int_eq(facts.cpu, cpus[i % (size_t)n]);
    }
    ck_assert_int_eq(sl_loop_group_destroy(group), 0);
    sl_test_latch_clean_up(&done);
}
END_TEST

START_TEST(explicit_cpu_list_pins_each_loop_and_bad_lists_are_refused)
{
    int allowed[64];
    int n = sl_cpu_allowed(allowed, 64);
    int cpus[2] = {allowed[n - 1], allowed[0]}; /* reversed, so it differs from pin_to_cpus */
    struct sl_loop_group_options opts = {
        .loop_count = 3,
        .cpus = cpus,
        .cpu_count = 2,
        .backend = loop_backend_name(_i),
    };
    struct sl_loop_group *group = NULL;
    ck_assert_int_eq(sl_loop_group_new(&opts, &group), 0);
    for (size_t i = 0; i < 3; i++) {
        struct thread_facts facts;
        sl_test_run_on_loop(sl_loop_group_get_loop(group, i), read_thread_facts, &facts);
        ck_assert_int_eq(facts.cpu, cpus[i % 2]);
    }
    ck_assert_int_eq(sl_loop_group_destroy(group), 0);

    opts.cpus = NULL; /* a count without the array */
    group = NULL;
    ck_assert_int_eq(sl_loop_group_new(&opts, &group), SL_E_INVAL);
    ck_assert_ptr_null(group);
}
END_TEST

struct release_from_loop {
    struct sl_loop_group *group;
    int destroy_rc;
};

static void destroy_then_release_from_a_loop(void *arg)
{
    struct release_from_loop *r = arg;
    r->destroy_rc = sl_loop_group_destroy(r->group);
    sl_loop_group_release(r->group); /* the last reference: shutdown moves to a helper */
}

START_TEST(destroy_from_a_group_thread_is_refused_and_release_works_there)
{
    struct sl_test_latch done;
    sl_test_latch_init(&done);
    struct sl_loop_group *group = new_group(2, false, &done, _i);
    struct release_from_loop r = {.group = group};
    sl_test_run_on_loop(sl_loop_group_get_loop(group, 1), destroy_then_release_from_a_loop, &r);
    ck_assert_int_eq(r.destroy_rc, SL_E_WOULD_DEADLOCK);
    ck_assert(sl_test_latch_wait(&done, 1, 10000));
    sl_test_latch_clean_up(&done);
}
END_TEST

struct pending {
    struct sl_task task;
    atomic_int cancels;
};

static void count_cancel(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    if (status == SL_TASK_CANCELED) {
        atomic_fetch_add(&((struct pending *)arg)->cancels, 1);
    }
}

START_TEST(group_shutdown_cancels_pending_tasks)
{
    struct sl_test_latch done;
    sl_test_latch_init(&done);
    struct sl_loop_group *group = new_group(2, false, &done, _i);
    struct pending p[4];
    uint64_t later = sl_clock_now_ns() + 3600 * SL_NS_PER_SEC;
    for (int i = 0; i < 4; i++) {
        atomic_init(&p[i].cancels, 0);
        sl_task_init(&p[i].task, count_cancel, &p[i], "pending");
        sl_loop_schedule_at(sl_loop_group_get_loop(group, (size_t)i % 2), &p[i].task, later);
    }
    ck_assert_int_eq(sl_loop_group_destroy(group), 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(atomic_load(&p[i].cancels), 1);
    }
    sl_test_latch_clean_up(&done);
}
END_TEST

struct loaded_loop {
    struct sl_loop *loop;
    int fds[8][2];
    struct sl_io_subscription *subs[8];
};

static void ignore_io(struct sl_loop *loop, struct sl_io_subscription *sub, int events, void *ud)
{
    (void)loop;
    (void)sub;
    (void)events;
    (void)ud;
}

static void add_load(void *arg)
{
    struct loaded_loop *l = arg;
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(pipe(l->fds[i]), 0);
        ck_assert_int_eq(
            sl_loop_subscribe(l->loop, l->fds[i][0], SL_IO_READABLE, ignore_io, NULL, &l->subs[i]),
            0);
    }
}

static void remove_load(void *arg)
{
    struct loaded_loop *l = arg;
    for (int i = 0; i < 8; i++) {
        sl_loop_unsubscribe(l->loop, l->subs[i]);
        close(l->fds[i][0]);
        close(l->fds[i][1]);
    }
}

START_TEST(get_next_spreads_evenly_and_avoids_the_loaded_loop)
{
    struct sl_test_latch done;
    sl_test_latch_init(&done);
    struct sl_loop_group *group = new_group(4, false, &done, _i);
    int picks[4] = {0};
    for (int i = 0; i < 400; i++) {
        struct sl_loop *loop = sl_loop_group_get_next(group);
        for (size_t j = 0; j < 4; j++) {
            picks[j] += loop == sl_loop_group_get_loop(group, j);
        }
    }
    for (int j = 0; j < 4; j++) {
        ck_assert_int_eq(picks[j], 100); /* idle loops: ties go round-robin */
    }
    /*
     * 8 subscriptions on loop 0 settle 8 of its 100 picks, so its load stays 100 (they were
     * what those picks were for) and round-robin goes on.
     */
    struct loaded_loop busy = {.loop = sl_loop_group_get_loop(group, 0)};
    sl_test_run_on_loop(busy.loop, add_load, &busy);
    ck_assert_uint_eq(sl_loop_load(busy.loop), 100);
    sl_test_run_on_loop(busy.loop, remove_load, &busy);
    ck_assert_int_eq(sl_loop_group_destroy(group), 0);

    /* In a fresh group, 8 subscriptions with no picks behind them make loop 0 the loaded one:
     * the others take 7 picks each before it is a candidate again. */
    group = new_group(4, false, &done, _i);
    busy.loop = sl_loop_group_get_loop(group, 0);
    sl_test_run_on_loop(busy.loop, add_load, &busy);
    ck_assert_uint_eq(sl_loop_load(busy.loop), 8);
    for (int i = 0; i < 3 * 7; i++) {
        ck_assert_ptr_ne(sl_loop_group_get_next(group), busy.loop);
    }
    sl_test_run_on_loop(busy.loop, remove_load, &busy);
    ck_assert_int_eq(sl_loop_group_destroy(group), 0);
    ck_assert_uint_eq(sl_test_latch_get(&done), 2);
    sl_test_latch_clean_up(&done);
}
END_TEST

START_TEST(group_rejects_absurd_sizes)
{
    struct sl_loop_group_options opts = {.loop_count = 100000};
    struct sl_loop_group *group = NULL;
    ck_assert_int_eq(sl_loop_group_new(&opts, &group), SL_E_INVAL);
    ck_assert_int_eq(sl_loop_group_new(NULL, &group), SL_E_INVAL);
    opts = (struct sl_loop_group_options){.loop_count = 2, .backend = "no-such-poller"};
    ck_assert_int_eq(sl_loop_group_new(&opts, &group), SL_E_NOT_FOUND);
}
END_TEST

struct destroyer {
    struct sl_loop_group *group;
    int rc;
};

static void destroy_from_thread(void *arg)
{
    struct destroyer *d = arg;
    d->rc = sl_loop_group_destroy(d->group);
}

START_TEST(two_holders_destroying_at_once_both_return)
{
    struct sl_test_latch done;
    sl_test_latch_init(&done);
    struct sl_loop_group *group = new_group(2, false, &done, _i);
    sl_loop_group_acquire(group); /* a second holder */
    struct destroyer d[2] = {{.group = group, .rc = 1}, {.group = group, .rc = 1}};
    struct sl_thread *threads[2];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(sl_thread_start(NULL, destroy_from_thread, &d[i], &threads[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(sl_thread_join(threads[i]), 0); /* neither may hang */
        ck_assert_int_eq(d[i].rc, 0);
    }
    ck_assert_uint_eq(sl_test_latch_get(&done), 1);
    sl_test_latch_clean_up(&done);
}
END_TEST

void add_group_tests(Suite *s)
{
    int backends = loop_backend_count();
    TCase *tc = sl_test_tcase("group", 60);
    tcase_add_loop_test(tc, group_runs_named_loops_and_reports_shutdown_once, 0, backends);
    tcase_add_loop_test(tc, default_group_has_one_loop_per_allowed_cpu, 0, backends);
    tcase_add_loop_test(tc, pinned_loops_run_on_their_cpus, 0, backends);
    tcase_add_loop_test(tc, explicit_cpu_list_pins_each_loop_and_bad_lists_are_refused, 0,
                        backends);
    tcase_add_loop_test(tc, destroy_from_a_group_thread_is_refused_and_release_works_there, 0,
                        backends);
    tcase_add_loop_test(tc, group_shutdown_cancels_pending_tasks, 0, backends);
    tcase_add_loop_test(tc, get_next_spreads_evenly_and_avoids_the_loaded_loop, 0, backends);
    tcase_add_test(tc, group_rejects_absurd_sizes);
    tcase_add_loop_test(tc, two_holders_destroying_at_once_both_return, 0, backends);
    suite_add_tcase(s, tc);
}
