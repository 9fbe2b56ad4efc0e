/* SPDX-License-Identifier: Apache-2.0 */
#include "test_harness.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t s_baseline_bytes;
static int s_baseline_fds;

size_t sl_test_outstanding_bytes(void)
{
    struct sl_alloc_stats stats;
    sl_alloc_stats(&stats);
    return stats.outstanding_bytes;
}

int sl_test_fd_count(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) {
        return -1;
    }
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] != '.') {
            n++;
        }
    }
    closedir(dir);
    return n - 1; /* the directory stream's own descriptor */
}

static void leak_check_setup(void)
{
    /* Without forking, an earlier test's armed failure must not leak into this one. */
    ck_assert_int_eq(sl_alloc_fail_at(0), 0);
    s_baseline_bytes = sl_test_outstanding_bytes();
    s_baseline_fds = sl_test_fd_count();
}

static void leak_check_teardown(void)
{
    size_t bytes = sl_test_outstanding_bytes();
    int fds = sl_test_fd_count();
    ck_assert_msg(bytes == s_baseline_bytes, "leaked %zu bytes of Sluice memory",
                  bytes - s_baseline_bytes);
    ck_assert_msg(fds == s_baseline_fds, "file descriptors: %d at start, %d at end", s_baseline_fds,
                  fds);
}

TCase *sl_test_tcase(const char *name, double timeout_s)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, leak_check_setup, leak_check_teardown);
    tcase_set_timeout(tc, timeout_s);
    return tc;
}

int sl_test_run(Suite *suite)
{
    if (sl_alloc_counting_start() != 0) {
        fprintf(stderr, "cannot start the counting allocator\n");
        return EXIT_FAILURE;
    }
    if (sl_log_configure_from_env() != 0) {
        fprintf(stderr, "bad SLUICE_LOG_LEVEL\n");
        return EXIT_FAILURE;
    }
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_ENV); /* CK_VERBOSITY picks the detail */
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void sl_test_latch_init(struct sl_test_latch *latch)
{
    pthread_mutex_init(&latch->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&latch->cond, &attr);
    pthread_condattr_destroy(&attr);
    latch->count = 0;
}

void sl_test_latch_clean_up(struct sl_test_latch *latch)
{
    pthread_cond_destroy(&latch->cond);
    pthread_mutex_destroy(&latch->lock);
}

void sl_test_latch_add(struct sl_test_latch *latch, uint64_t n)
{
    pthread_mutex_lock(&latch->lock);
    latch->count += n;
    pthread_cond_broadcast(&latch->cond);
    pthread_mutex_unlock(&latch->lock);
}

uint64_t sl_test_latch_get(struct sl_test_latch *latch)
{
    pthread_mutex_lock(&latch->lock);
    uint64_t n = latch->count;
    pthread_mutex_unlock(&latch->lock);
    return n;
}

bool sl_test_latch_wait(struct sl_test_latch *latch, uint64_t target, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&latch->lock);
    int rc = 0;
    while (latch->count < target && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&latch->cond, &latch->lock, &deadline);
    }
    bool reached = latch->count >= target;
    pthread_mutex_unlock(&latch->lock);
    return reached;
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

void sl_test_run_on_loop(struct sl_loop *loop, void (*fn)(void *arg), void *arg)
{
    struct run_on_loop_call call = {.fn = fn, .arg = arg};
    sl_test_latch_init(&call.done);
    sl_task_init(&call.task, run_on_loop_task, &call, "run_on_loop");
    sl_loop_schedule_now(loop, &call.task);
    ck_assert(sl_test_latch_wait(&call.done, 1, 10000));
    sl_test_latch_clean_up(&call.done);
}
