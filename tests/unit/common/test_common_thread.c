/* SPDX-License-Identifier: Apache-2.0 */

/* sched_getcpu and CPU_SET are GNU extensions. */
#define _GNU_SOURCE

#include "common_tests.h"
#include "test_harness.h"

#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/ref.h>
#include <sluice/thread.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void bump(void *arg)
{
    (*(int *)arg)++;
}

START_TEST(thread_runs_and_join_waits_for_it)
{
    int counter = 0;
    struct sl_thread *t;
    ck_assert_int_eq(sl_thread_start(NULL, bump, &counter, &t), 0);
    ck_assert_int_eq(sl_thread_join(t), 0);
    ck_assert_int_eq(counter, 1);
}
END_TEST

static void read_own_name(void *arg)
{
    char *name = arg;
    FILE *f = fopen("/proc/thread-self/comm", "r");
    if (f) {
        if (!fgets(name, 32, f)) {
            name[0] = '\0';
        }
        fclose(f);
    }
    name[strcspn(name, "\n")] = '\0';
}

START_TEST(thread_carries_its_name_cut_to_the_kernel_limit)
{
    char name[32] = "";
    struct sl_thread_options opts = {.name = "sl-test-worker-with-a-long-name", .cpu = -1};
    struct sl_thread *t;
    ck_assert_int_eq(sl_thread_start(&opts, read_own_name, name, &t), 0);
    ck_assert_int_eq(sl_thread_join(t), 0);
    ck_assert_str_eq(name, "sl-test-worker-");
}
END_TEST

struct self_join {
    struct sl_test_latch started;
    struct sl_test_latch tried;
    struct sl_thread *handle;
    int rc;
    bool is_current;
};

static void join_myself(void *arg)
{
    struct self_join *sj = arg;
    sl_test_latch_wait(&sj->started, 1, 5000); /* the handle is stored after start returns */
    sj->is_current = sl_thread_is_current(sj->handle);
    sj->rc = sl_thread_join(sj->handle);
    sl_test_latch_add(&sj->tried, 1);
}

START_TEST(joining_yourself_is_refused)
{
    struct self_join sj = {.rc = 1};
    sl_test_latch_init(&sj.started);
    sl_test_latch_init(&sj.tried);
    ck_assert_int_eq(sl_thread_start(NULL, join_myself, &sj, &sj.handle), 0);
    ck_assert(!sl_thread_is_current(sj.handle));
    sl_test_latch_add(&sj.started, 1);
    struct sl_thread *handle = sj.handle;
    /* Join from here once the thread has tried and failed to join itself. */
    ck_assert(sl_test_latch_wait(&sj.tried, 1, 10000));
    ck_assert_int_eq(sj.rc, SL_E_WOULD_DEADLOCK);
    ck_assert(sj.is_current);
    ck_assert_int_eq(sl_thread_join(handle), 0);
    sl_test_latch_clean_up(&sj.started);
    sl_test_latch_clean_up(&sj.tried);
}
END_TEST

struct pin_result {
    int cpu;
    int rc;
    int ran_on;
};

static void pin_and_report(void *arg)
{
    struct pin_result *r = arg;
    r->rc = sl_thread_pin_current(r->cpu);
    r->ran_on = sched_getcpu();
}

START_TEST(pinning_moves_the_thread_and_rejects_bad_cpus)
{
    int cpus[64];
    int n = sl_cpu_allowed(cpus, 64);
    ck_assert_int_ge(n, 1);
    ck_assert_int_eq(sl_cpu_count(), n);
    struct pin_result r = {.cpu = cpus[n - 1]};
    struct sl_thread *t;
    ck_assert_int_eq(sl_thread_start(NULL, pin_and_report, &r, &t), 0);
    ck_assert_int_eq(sl_thread_join(t), 0);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(r.ran_on, cpus[n - 1]);

    ck_assert_int_eq(sl_thread_pin_current(-1), SL_E_INVAL);
    ck_assert_int_eq(sl_thread_pin_current(1 << 20), SL_E_INVAL);
    ck_assert_int_eq(sl_thread_pin_current(1000), -EINVAL); /* not a CPU of this machine */
}
END_TEST

START_TEST(pinning_option_failure_is_not_fatal)
{
    int counter = 0;
    struct sl_thread_options opts = {.name = "sl-test-pin", .cpu = 1000};
    struct sl_thread *t;
    ck_assert_int_eq(sl_thread_start(&opts, bump, &counter, &t), 0);
    ck_assert_int_eq(sl_thread_join(t), 0);
    ck_assert_int_eq(counter, 1);
}
END_TEST

START_TEST(monotonic_clock_never_goes_back)
{
    uint64_t last = sl_clock_now_ns();
    for (int i = 0; i < 100000; i++) {
        uint64_t now = sl_clock_now_ns();
        ck_assert(now >= last);
        last = now;
    }
    uint64_t wall_s = sl_clock_wall_ns() / SL_NS_PER_SEC;
    uint64_t libc_s = (uint64_t)time(NULL);
    ck_assert(wall_s + 2 >= libc_s && wall_s <= libc_s + 2);
}
END_TEST

struct shared_ref {
    struct sl_ref ref;
    int last_releases; /* written only by whoever drops the last reference */
};

static void churn_refs(void *arg)
{
    struct shared_ref *shared = arg;
    for (int i = 0; i < 100000; i++) {
        sl_ref_acquire(&shared->ref);
        if (sl_ref_release(&shared->ref)) {
            shared->last_releases++;
        }
    }
    if (sl_ref_release(&shared->ref)) {
        shared->last_releases++;
    }
}

START_TEST(reference_count_reports_the_last_release_once)
{
    struct shared_ref shared = {0};
    sl_ref_init(&shared.ref, 4); /* one per thread */
    struct sl_thread *threads[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(sl_thread_start(NULL, churn_refs, &shared, &threads[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(sl_thread_join(threads[i]), 0);
    }
    ck_assert_int_eq(shared.last_releases, 1);
    ck_assert_uint_eq(sl_ref_count(&shared.ref), 0);
}
END_TEST

void add_thread_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("thread", 30);
    tcase_add_test(tc, thread_runs_and_join_waits_for_it);
    tcase_add_test(tc, thread_carries_its_name_cut_to_the_kernel_limit);
    tcase_add_test(tc, joining_yourself_is_refused);
    tcase_add_test(tc, pinning_moves_the_thread_and_rejects_bad_cpus);
    tcase_add_test(tc, pinning_option_failure_is_not_fatal);
    tcase_add_test(tc, monotonic_clock_never_goes_back);
    tcase_add_test(tc, reference_count_reports_the_last_release_once);
    suite_add_tcase(s, tc);
}
