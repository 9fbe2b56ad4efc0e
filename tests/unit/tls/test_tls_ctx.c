/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_kit.h"
#include "tls_tests.h"

#include <sluice/alloc.h>
#include <sluice/error.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Context options: every bad input gets its own error code, and good ones of each kind load. */

static int make_server(struct sl_tls_ctx_options o)
{
    struct sl_tls_ctx *ctx = NULL;
    int rc = sl_tls_ctx_new_server(&o, &ctx);
    sl_tls_ctx_release(ctx);
    return rc;
}

static int make_client(struct sl_tls_ctx_options o)
{
    struct sl_tls_ctx *ctx = NULL;
    int rc = sl_tls_ctx_new_client(&o, &ctx);
    sl_tls_ctx_release(ctx);
    return rc;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

START_TEST(identity_from_files_memory_and_pkcs12_loads)
{
    ck_assert_int_eq(make_server((struct sl_tls_ctx_options){.cert_file = g_certs.server.cert,
                                                             .key_file = g_certs.server.key}),
                     0);
    size_t cert_len, key_len;
    char *cert = slurp(g_certs.server_rsa.cert, &cert_len);
    char *key = slurp(g_certs.server_rsa.key, &key_len);
    ck_assert_int_eq(
        make_server((struct sl_tls_ctx_options){.cert_pem = sl_cursor_from(cert, cert_len),
                                                .key_pem = sl_cursor_from(key, key_len)}),
        0);
    sl_secure_zero(key, key_len);
    free(cert);
    free(key);
    ck_assert_int_eq(make_server((struct sl_tls_ctx_options){.pkcs12_file = g_certs.server_p12,
                                                             .pkcs12_password = "secret"}),
                     0);
}
END_TEST

START_TEST(bad_identities_get_specific_errors)
{
    ck_assert_int_eq(make_server((struct sl_tls_ctx_options){.cert_file = "/nonexistent/cert.pem",
                                                             .key_file = g_certs.server.key}),
                     -ENOENT);
    static const char garbage[] = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n";
    ck_assert_int_eq(make_server((struct sl_tls_ctx_options){
                         .cert_pem = sl_cursor_from(garbage, sizeof(garbage) - 1),
                         .key_file = g_certs.server.key}),
                     SL_E_TLS_PEM_INVALID);
    ck_assert_int_eq(make_server((struct sl_tls_ctx_options){
                         .cert_file = g_certs.server.cert,
                         .key_pem = sl_cursor_from(garbage, sizeof(garbage) - 1)}),
                     SL_E_TLS_PEM_INVALID);
    ck_assert_int_eq(make_server((struct sl_tls_ctx_options){.cert_file = g_certs.server.cert,
                                                             .key_file = g_certs.client.key}),
                     SL_E_TLS_KEY_MISMATCH);
    ck_assert_int_eq(make_server((struct sl_tls_ctx_options){.pkcs12_file = g_certs.server_p12,
                                                             .pkcs12_password = "wrong"}),
                     SL_E_TLS_PKCS12_INVALID);
    ck_assert_int_eq(make_server((struct sl_tls_ctx_options){.pkcs12_file = g_certs.server.cert}),
                     SL_E_TLS_PKCS12_INVALID);
    ck_assert_int_eq(make_server((struct sl_tls_ctx_options){.cert_file = g_certs.server.cert}),
                     SL_E_INVAL);
    ck_assert_int_eq(make_server((struct sl_tls_ctx_options){0}), SL_E_INVAL);
}
END_TEST

START_TEST(trust_from_file_directory_and_memory_loads)
{
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.ca_file = g_certs.ca_cert}), 0);
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.ca_dir = g_certs.ca_dir}), 0);
    size_t len;
    char *pem = slurp(g_certs.ca_cert, &len);
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.ca_pem = sl_cursor_from(pem, len),
                                                             .trust_default_too = true}),
                     0);
    free(pem);
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){0}), 0); /* the system store */
}
END_TEST

START_TEST(bad_trust_gets_specific_errors)
{
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.ca_file = "/nonexistent/ca.pem"}),
                     SL_E_TLS_TRUST_STORE);
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.ca_file = g_certs.server.key}),
                     SL_E_TLS_TRUST_STORE);
    static const char junk[] = "no certificates here";
    ck_assert_int_eq(
        make_client((struct sl_tls_ctx_options){.ca_pem = sl_cursor_from(junk, sizeof(junk) - 1)}),
        SL_E_TLS_TRUST_STORE);
}
END_TEST

START_TEST(bad_cipher_group_and_alpn_lists_are_rejected)
{
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.cipher_list = "NO-SUCH-CIPHER"}),
                     SL_E_TLS_BAD_CIPHER_LIST);
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.ciphersuites = "TLS_NOPE"}),
                     SL_E_TLS_BAD_CIPHER_LIST);
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.groups = "P-999"}),
                     SL_E_TLS_BAD_CIPHER_LIST);
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){
                         .ciphersuites = "TLS_CHACHA20_POLY1305_SHA256", .groups = "X25519:P-256"}),
                     0);
    const char *bad_alpn[] = {"", ";", "h2;", "h2;;http/1.1", ",h2"};
    for (size_t i = 0; i < sizeof(bad_alpn) / sizeof(bad_alpn[0]); i++) {
        ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.alpn_list = bad_alpn[i]}),
                         SL_E_TLS_BAD_ALPN_LIST);
    }
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = 0;
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.alpn_list = long_name}),
                     SL_E_TLS_BAD_ALPN_LIST);
    ck_assert_int_eq(make_client((struct sl_tls_ctx_options){.alpn_list = "h2,http/1.1"}), 0);
}
END_TEST

void tls_add_ctx_tests(Suite *suite)
{
    TCase *tc = sl_test_tcase("ctx", 30);
    tcase_add_test(tc, identity_from_files_memory_and_pkcs12_loads);
    tcase_add_test(tc, bad_identities_get_specific_errors);
    tcase_add_test(tc, trust_from_file_directory_and_memory_loads);
    tcase_add_test(tc, bad_trust_gets_specific_errors);
    tcase_add_test(tc, bad_cipher_group_and_alpn_lists_are_rejected);
    suite_add_tcase(suite, tc);
}
