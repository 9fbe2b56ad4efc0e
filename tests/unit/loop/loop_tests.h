/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_LOOP_TESTS_H
#define SL_LOOP_TESTS_H

#include <check.h>
#include <sluice/event_loop.h>

void add_scheduler_tests(Suite *s);
void add_task_tests(Suite *s);
void add_io_tests(Suite *s);
void add_local_tests(Suite *s);
void add_group_tests(Suite *s);

/* Loop tests are loop tests (tcase_add_loop_test) over every poller back end: _i picks one. */
int loop_backend_count(void);
const char *loop_backend_name(int index);

/* Creates and runs a loop on back end `index`; fails the test on error. */
struct sl_loop *start_loop(int index);

/* Destroys a loop, failing the test on error. */
void finish_loop(struct sl_loop *loop);

#endif
