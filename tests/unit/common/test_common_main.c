/* SPDX-License-Identifier: Apache-2.0 */
#include "common_tests.h"
#include "test_harness.h"

int main(void)
{
    Suite *s = suite_create("common");
    add_alloc_tests(s);
    add_buf_tests(s);
    add_error_log_tests(s);
    add_heap_list_tests(s);
    add_thread_tests(s);
    return sl_test_run(s);
}
