/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TLS_TESTS_H
#define SL_TLS_TESTS_H

#include <check.h>

void tls_add_ctx_tests(Suite *suite);
void tls_add_transfer_tests(Suite *suite);
void tls_add_failure_tests(Suite *suite);

#endif
