/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_COMMON_TESTS_H
#define SL_COMMON_TESTS_H

#include <check.h>

void add_alloc_tests(Suite *s);
void add_buf_tests(Suite *s);
void add_error_log_tests(Suite *s);
void add_heap_list_tests(Suite *s);
void add_thread_tests(Suite *s);

#endif
