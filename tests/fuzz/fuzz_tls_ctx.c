/* SPDX-License-Identifier: Apache-2.0 */

/*
 * fuzz_tls_ctx: TLS context options are outside input (PEM and PKCS#12 from files or from the
 * daemon's clients, ALPN and cipher lists from configuration). The first byte picks what the
 * rest is fed to; whatever the bytes, the context must either load or fail with one of the
 * documented codes, and never crash or leak (ASan/LSan watch).
 */

#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/tls.h>

#include <stdlib.h>
#include <string.h>

enum mode { IDENTITY_PEM, CA_PEM, PKCS12, ALPN, CIPHERS, MODE_COUNT };

static void check(int rc)
{
    switch (rc) {
    case 0:
    case SL_E_INVAL:
    case SL_E_NOMEM:
    case SL_E_TLS_INTERNAL:
    case SL_E_TLS_PEM_INVALID:
    case SL_E_TLS_PKCS12_INVALID:
    case SL_E_TLS_KEY_MISMATCH:
    case SL_E_TLS_TRUST_STORE:
    case SL_E_TLS_BAD_CIPHER_LIST:
    case SL_E_TLS_BAD_ALPN_LIST:
        return;
    default:
        abort(); /* an undocumented error code */
    }
}

/* The i-th NUL-separated string of text (NULL if there are fewer). */
static const char *nth(const char *text, size_t len, int i)
{
    const char *p = text;
    const char *end = text + len;
    for (; i > 0 && p < end; i--) {
        p += strlen(p) + 1;
    }
    return p < end ? p : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Almost every input is rejected, by design: logging each rejection would only slow it down. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    sl_log_set_level(SL_LS_TLS, SL_LOG_NONE);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    enum mode mode = (enum mode)(data[0] % MODE_COUNT);
    struct sl_cursor rest = {.ptr = data + 1, .len = size - 1};
    char *text = malloc(rest.len + 1); /* strings need their NUL */
    if (!text) {
        return 0;
    }
    memcpy(text, rest.ptr, rest.len);
    text[rest.len] = 0;
    struct sl_tls_ctx_options o = {0};
    struct sl_tls_ctx *ctx = NULL;
    int rc;
    switch (mode) {
    case IDENTITY_PEM: /* one buffer holding both: each reader looks for its own block */
        o.cert_pem = rest;
        o.key_pem = rest;
        rc = sl_tls_ctx_new_server(&o, &ctx);
        break;
    case CA_PEM:
        o.ca_pem = rest;
        rc = sl_tls_ctx_new_client(&o, &ctx);
        break;
    case PKCS12:
        o.pkcs12 = rest;
        o.pkcs12_password = "x";
        rc = sl_tls_ctx_new_server(&o, &ctx);
        break;
    case ALPN:
        o.alpn_list = text;
        rc = sl_tls_ctx_new_client(&o, &ctx);
        break;
    case CIPHERS:
    case MODE_COUNT:
        o.cipher_list = nth(text, rest.len, 0);
        o.ciphersuites = nth(text, rest.len, 1);
        o.groups = nth(text, rest.len, 2);
        rc = sl_tls_ctx_new_client(&o, &ctx);
        break;
    }
    check(rc);
    sl_tls_ctx_release(ctx);
    free(text);
    return 0;
}
