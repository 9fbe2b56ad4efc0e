/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_internal.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

#include <openssl/err.h>
#include <stdint.h>
#include <string.h>

/* ALPN ---------------------------------------------------------------------------------------- */

int sl__tls_alpn_to_wire(const char *list, uint8_t **out, size_t *len)
{
    size_t n = strlen(list);
    uint8_t *wire = sl_alloc(n + 1); /* each separator becomes a length byte; plus the first */
    SL_ENSURE(wire, SL_E_NOMEM);
    size_t w = 0;
    const char *p = list;
    while (*p) {
        size_t proto_len = strcspn(p, ";,");
        if (proto_len == 0 || proto_len > 255) {
            sl_free(wire);
            return SL_E_TLS_BAD_ALPN_LIST;
        }
        wire[w++] = (uint8_t)proto_len;
        memcpy(wire + w, p, proto_len);
        w += proto_len;
        p += proto_len;
        if (*p) {
            p++;
            if (!*p) { /* a trailing separator: an empty last protocol */
                sl_free(wire);
                return SL_E_TLS_BAD_ALPN_LIST;
            }
        }
    }
    if (w == 0) {
        sl_free(wire);
        return SL_E_TLS_BAD_ALPN_LIST;
    }
    *out = wire;
    *len = w;
    return 0;
}

/* Versions, ciphers, groups ------------------------------------------------------------------- */

static int apply_protocol_options(struct sl_tls_ctx *ctx, const struct sl_tls_ctx_options *o)
{
    SSL_CTX *s = ctx->ssl_ctx;
    int min = o->min_version == SL_TLS_VERSION_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (!SSL_CTX_set_min_proto_version(s, min)) {
        return sl__tls_drain_errors(SL_LOG_ERROR, "setting the minimum TLS version");
    }
    if (o->cipher_list && !SSL_CTX_set_cipher_list(s, o->cipher_list)) {
        sl__tls_drain_errors(SL_LOG_ERROR, "cipher_list");
        return SL_E_TLS_BAD_CIPHER_LIST;
    }
    if (o->ciphersuites && (!*o->ciphersuites || !SSL_CTX_set_ciphersuites(s, o->ciphersuites))) {
        sl__tls_drain_errors(SL_LOG_ERROR, "ciphersuites");
        SL_LOG_ERROR(SL_LS_TLS, "no usable TLS 1.3 suite in \"%s\"", o->ciphersuites);
        return SL_E_TLS_BAD_CIPHER_LIST;
    }
    /* SSL_CTX_set1_groups_list is a macro that casts const away; uintptr_t says we know. */
    if (o->groups && !SSL_CTX_ctrl(s, SSL_CTRL_SET_GROUPS_LIST, 0, (void *)(uintptr_t)o->groups)) {
        sl__tls_drain_errors(SL_LOG_ERROR, "groups");
        return SL_E_TLS_BAD_CIPHER_LIST;
    }
    /*
     * Renegotiation is refused both ways (its history is one of attacks); compression stays
     * off (CRIME). Record buffers are not released after every record
     * (SSL_MODE_RELEASE_BUFFERS would malloc and free 17 KiB per record, a few percent of bulk
     * throughput): the handler frees them once the connection has been idle for a moment.
     */
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
    return 0;
}

static int apply_alpn(struct sl_tls_ctx *ctx, const struct sl_tls_ctx_options *o)
{
    if (!o->alpn_list) {
        return 0;
    }
    int rc = sl__tls_alpn_to_wire(o->alpn_list, &ctx->alpn_wire, &ctx->alpn_wire_len);
    if (rc < 0) {
        SL_LOG_ERROR(SL_LS_TLS, "bad ALPN list \"%s\"", o->alpn_list);
    }
    return rc; /* clients set the list per connection (it may be overridden) */
}

static void apply_verification(struct sl_tls_ctx *ctx, const struct sl_tls_ctx_options *o)
{
    int mode = SSL_VERIFY_NONE;
    if (!ctx->is_server) {
        if (o->insecure_skip_verify) {
            SL_LOG_WARN(SL_LS_TLS, "TLS client context made with insecure_skip_verify: servers "
                                   "are NOT authenticated");
        } else {
            mode = SSL_VERIFY_PEER;
        }
    } else if (o->client_auth == SL_TLS_CLIENT_AUTH_REQUEST) {
        mode = SSL_VERIFY_PEER;
    } else if (o->client_auth == SL_TLS_CLIENT_AUTH_REQUIRE) {
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(ctx->ssl_ctx, mode, NULL);
}

static int apply_sessions(struct sl_tls_ctx *ctx, const struct sl_tls_ctx_options *o)
{
    SSL_CTX *s = ctx->ssl_ctx;
    ctx->resumption = !o->disable_session_resumption;
    if (ctx->is_server) {
        /* Stateless tickets; the id context keeps sessions of one context from another's. */
        static const unsigned char id_context[] = "sluice";
        if (!SSL_CTX_set_session_id_context(s, id_context, sizeof(id_context) - 1)) {
            return sl__tls_drain_errors(SL_LOG_ERROR, "session id context");
        }
        if (!ctx->resumption) {
            SSL_CTX_set_options(s, SSL_OP_NO_TICKET);
            SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
            SSL_CTX_set_num_tickets(s, 0);
        }
        return 0;
    }
    if (ctx->resumption) {
        /* OpenSSL hands each new session to us; we keep them per server, not per context. */
        SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(s, sl__tls_on_new_session);
    } else {
        SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(s, SSL_OP_NO_TICKET);
    }
    return 0;
}

/* Contexts ------------------------------------------------------------------------------------ */

static void ctx_free(struct sl_tls_ctx *ctx)
{
    SSL_CTX_free(ctx->ssl_ctx);
    BIO_meth_free(ctx->bio_method);
    if (!ctx->is_server) {
        sl__tls_session_cache_clean_up(&ctx->sessions);
    }
    sl_free(ctx->alpn_wire);
    sl_free(ctx);
}

static int configure(struct sl_tls_ctx *ctx, const struct sl_tls_ctx_options *o)
{
    SL_TRY(apply_protocol_options(ctx, o));
    SL_TRY(sl__tls_load_identity(ctx->ssl_ctx, o));
    SL_TRY(sl__tls_load_trust(ctx->ssl_ctx, o));
    SL_TRY(apply_alpn(ctx, o));
    apply_verification(ctx, o);
    SL_TRY(apply_sessions(ctx, o));
    if (ctx->is_server && ctx->alpn_wire) {
        SSL_CTX_set_alpn_select_cb(ctx->ssl_ctx, sl__tls_alpn_select, ctx);
    }
    return 0;
}

static int ctx_new(const struct sl_tls_ctx_options *opts, bool is_server, struct sl_tls_ctx **out)
{
    SL_ENSURE_ARG(opts && out);
    struct sl_tls_ctx *ctx = sl_calloc(1, sizeof(*ctx));
    SL_ENSURE(ctx, SL_E_NOMEM);
    sl_ref_init(&ctx->ref, 1);
    ctx->is_server = is_server;
    if (!is_server) {
        sl__tls_session_cache_init(&ctx->sessions);
    }
    ERR_clear_error(); /* so the reasons logged below are ours */
    ctx->ssl_ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
    ctx->bio_method = sl__tls_bio_method_new();
    int rc = ctx->ssl_ctx && ctx->bio_method
                 ? configure(ctx, opts)
                 : sl__tls_drain_errors(SL_LOG_ERROR, "creating the TLS context");
    if (rc < 0) {
        ERR_clear_error();
        ctx_free(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

int sl_tls_ctx_new_client(const struct sl_tls_ctx_options *opts, struct sl_tls_ctx **out)
{
    return ctx_new(opts, false, out);
}

int sl_tls_ctx_new_server(const struct sl_tls_ctx_options *opts, struct sl_tls_ctx **out)
{
    SL_ENSURE_ARG(opts &&
                  (opts->cert_file || opts->cert_pem.len || opts->pkcs12_file || opts->pkcs12.len));
    return ctx_new(opts, true, out);
}

void sl_tls_ctx_acquire(struct sl_tls_ctx *ctx)
{
    sl_ref_acquire(&ctx->ref);
}

void sl_tls_ctx_release(struct sl_tls_ctx *ctx)
{
    if (ctx && sl_ref_release(&ctx->ref)) {
        ctx_free(ctx);
    }
}

bool sl_tls_ctx_is_server(const struct sl_tls_ctx *ctx)
{
    return ctx->is_server;
}
