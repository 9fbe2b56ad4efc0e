/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_kit.h"
#include "tls_tests.h"

#include <stdio.h>

int main(void)
{
    char why[256];
    if (!tls_certs_make(&g_certs, why, sizeof(why))) {
        fprintf(stderr, "cannot make test certificates: %s\n", why);
        return 1;
    }
    Suite *suite = suite_create("tls");
    tls_add_ctx_tests(suite);
    tls_add_transfer_tests(suite);
    tls_add_failure_tests(suite);
    int rc = sl_test_run(suite);
    tls_certs_remove(&g_certs);
    return rc;
}
