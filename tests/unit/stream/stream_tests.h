/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_STREAM_TESTS_H
#define SL_STREAM_TESTS_H

#include <check.h>
#include <stddef.h>

struct sl_loop;

void add_future_tests(Suite *s);

/* Creates and runs a loop on the default back end; fails the test on error. */
struct sl_loop *start_loop(void);

/* Destroys a loop, failing the test on error. */
void finish_loop(struct sl_loop *loop);

/* Runs fn(arg) on the loop's thread and waits until it has returned. */
void run_on_loop(struct sl_loop *loop, void (*fn)(void *arg), void *arg);

#endif
