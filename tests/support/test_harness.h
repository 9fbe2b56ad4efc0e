/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TEST_HARNESS_H
#define SL_TEST_HARNESS_H

/*
 * Shared test support. Every test binary's main() calls sl_test_run(), which switches on the
 * counting allocator before anything allocates; every TCase made with sl_test_tcase() gets a
 * checked fixture that fails the test if Sluice memory or file descriptors are still
 * outstanding when it ends (the aws harness idea, STYLE.md §10).
 */

#include <check.h>
#include <sluice/event_loop.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Runs the suite (forking per test unless CK_FORK=no); returns the process exit status. */
int sl_test_run(Suite *suite);

/* A TCase with the leak-checking fixture and a timeout in seconds. */
TCase *sl_test_tcase(const char *name, double timeout_s);

/* Open file descriptors of this process (entries of /proc/self/fd). */
int sl_test_fd_count(void);

/* Bytes currently allocated through sl_alloc. */
size_t sl_test_outstanding_bytes(void);

/*
 * A counter other threads bump and a test waits on; the loop tests' way to learn that tasks
 * have run without sleeping.
 */
struct sl_test_latch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t count;
};

void sl_test_latch_init(struct sl_test_latch *latch);
void sl_test_latch_clean_up(struct sl_test_latch *latch);
void sl_test_latch_add(struct sl_test_latch *latch, uint64_t n);
uint64_t sl_test_latch_get(struct sl_test_latch *latch);
/* Waits until count >= target; false on timeout. */
bool sl_test_latch_wait(struct sl_test_latch *latch, uint64_t target, int timeout_ms);

/* Runs fn(arg) on the loop's thread and waits (up to 10 s) until it has returned. */
void sl_test_run_on_loop(struct sl_loop *loop, void (*fn)(void *arg), void *arg);

#endif /* SL_TEST_HARNESS_H */
