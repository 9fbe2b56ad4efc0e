/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_handler.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_HANDSHAKE_TIMEOUT_MS 10000u

static char *dup_string(const char *s)
{
    if (!s) {
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *copy = sl_alloc(n);
    if (copy) {
        memcpy(copy, s, n);
    }
    return copy;
}

static bool is_ip_literal(const char *name)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* The name to check and send: SNI for names; IP literals are checked against IP SANs only. */
static int set_server_name(struct tls_handler *h)
{
    const char *name = h->server_name;
    if (!name) {
        return 0;
    }
    if (is_ip_literal(name)) {
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(h->ssl), name)
                   ? 0
                   : sl__tls_drain_errors(SL_LOG_ERROR, "server address");
    }
    SSL_set_hostflags(h->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    /* SSL_set_tlsext_host_name is a macro that casts const away; uintptr_t says we know. */
    if (!SSL_ctrl(h->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                  (void *)(uintptr_t)name) ||
        !SSL_set1_host(h->ssl, name)) {
        return sl__tls_drain_errors(SL_LOG_ERROR, "server name");
    }
    return 0;
}

static int configure_client(struct tls_handler *h)
{
    SSL_set_connect_state(h->ssl);
    SL_TRY(set_server_name(h));
    const uint8_t *alpn = h->alpn_wire ? h->alpn_wire : h->ctx->alpn_wire;
    size_t alpn_len = h->alpn_wire ? h->alpn_wire_len : h->ctx->alpn_wire_len;
    if (alpn && SSL_set_alpn_protos(h->ssl, alpn, (unsigned)alpn_len) != 0) {
        return sl__tls_drain_errors(SL_LOG_ERROR, "ALPN");
    }
    const char *key = h->session_key ? h->session_key : h->server_name;
    if (h->ctx->resumption && key) {
        SSL_SESSION *session = sl__tls_session_cache_get(&h->ctx->sessions, key);
        if (session) {
            SSL_set_session(h->ssl, session); /* a stale one just means a full handshake */
            SSL_SESSION_free(session);
        }
    }
    return 0;
}

/*
 * Renegotiation is refused with a no_renegotiation warning; OpenSSL peers answer that with a
 * fatal handshake_failure. Remembering that we refused turns their answer into the real reason.
 */
static void info_callback(const SSL *ssl, int where, int value)
{
    if ((where & SSL_CB_WRITE_ALERT) && (value & 0xff) == SSL_AD_NO_RENEGOTIATION) {
        struct tls_handler *h = SSL_get_app_data(ssl);
        h->refused_renegotiation = true;
        SL_LOG_INFO(SL_LS_TLS, "refused the peer's renegotiation");
    }
}

int sl__tls_failure_code(struct tls_handler *h, int err)
{
    int code = sl__tls_classify_failure(h->ssl, err, h->reason, sizeof(h->reason));
    if (h->refused_renegotiation && h->state == TLS_OPEN) {
        return SL_E_TLS_RENEGOTIATION_REFUSED;
    }
    return code;
}

int sl__tls_handler_configure(struct tls_handler *h, const struct sl_tls_connection_options *o)
{
    h->handshake_timeout_ms =
        o->handshake_timeout_ms ? o->handshake_timeout_ms : DEFAULT_HANDSHAKE_TIMEOUT_MS;
    h->allow_half_close = o->allow_half_close;
    h->on_negotiated = o->on_negotiated;
    h->user_data = o->user_data;
    h->server_name = dup_string(o->server_name);
    h->session_key = dup_string(o->session_key);
    SL_ENSURE((h->server_name || !o->server_name) && (h->session_key || !o->session_key),
              SL_E_NOMEM);
    if (o->alpn_list) {
        SL_TRY(sl__tls_alpn_to_wire(o->alpn_list, &h->alpn_wire, &h->alpn_wire_len));
    }
    h->ssl = SSL_new(h->ctx->ssl_ctx);
    BIO *bio = h->ssl ? sl__tls_bio_new(h->ctx->bio_method, &h->bio_io) : NULL;
    if (!bio) {
        return sl__tls_drain_errors(SL_LOG_ERROR, "creating a TLS connection");
    }
    SSL_set_bio(h->ssl, bio, bio);
    SSL_set_app_data(h->ssl, h);
    SSL_set_info_callback(h->ssl, info_callback);
    SSL_set_read_ahead(h->ssl, 1); /* fewer, larger reads from the queued messages */
    if (h->ctx->is_server) {
        SSL_set_accept_state(h->ssl);
        return 0;
    }
    return configure_client(h);
}

/* Callbacks the context installed ------------------------------------------------------------- */

int sl__tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                        const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)arg;
    struct tls_handler *h = SSL_get_app_data(ssl);
    const uint8_t *ours = h->alpn_wire ? h->alpn_wire : h->ctx->alpn_wire;
    size_t ours_len = h->alpn_wire ? h->alpn_wire_len : h->ctx->alpn_wire_len;
    if (!ours) {
        return SSL_TLSEXT_ERR_NOACK; /* we speak no ALPN: the client's list does not matter */
    }
    /* Our preference order, not the client's. */
    for (size_t i = 0; i < ours_len; i += 1 + ours[i]) {
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (ours[i] == in[j] && j + 1u + in[j] <= inlen &&
                memcmp(ours + i + 1, in + j + 1, ours[i]) == 0) {
                *out = in + j + 1;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol (RFC 7301 §3.2) */
}

int sl__tls_on_new_session(SSL *ssl, SSL_SESSION *session)
{
    struct tls_handler *h = SSL_get_app_data(ssl);
    const char *key = h->session_key ? h->session_key : h->server_name;
    if (key && SSL_SESSION_is_resumable(session)) {
        sl__tls_session_cache_put(&h->ctx->sessions, key, session);
    }
    return 0; /* the cache took a reference of its own */
}

/* Outcome ---------------------------------------------------------------------------------------
 */

static void report(struct tls_handler *h)
{
    /* A timeout task still queued finds the state changed and does nothing. */
    if (h->on_negotiated) {
        h->on_negotiated(&h->base, h->base.slot, &h->result, h->user_data);
    }
}

static void fill_success(struct tls_handler *h)
{
    struct sl_tls_negotiation *r = &h->result;
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(h->ssl, &alpn, &alpn_len);
    memcpy(h->alpn, alpn ? (const char *)alpn : "", alpn_len);
    h->alpn[alpn_len] = 0;
    const char *sni = SSL_get_servername(h->ssl, TLSEXT_NAMETYPE_host_name);
    r->error = 0;
    r->alpn = h->alpn;
    r->version = SSL_get_version(h->ssl);
    r->cipher = SSL_get_cipher_name(h->ssl);
    r->server_name = sni ? sni : "";
    r->reason = "";
    r->session_resumed = SSL_session_reused(h->ssl) == 1;
    sl__tls_describe_peer(h->ssl, &r->peer, &h->peer_strings);
}

void sl__tls_report_failure(struct tls_handler *h, int code)
{
    h->result.error = code;
    h->result.reason = h->reason;
    report(h);
}

void sl__tls_fail(struct tls_handler *h, int code)
{
    if (h->state == TLS_FAILED) {
        return;
    }
    bool handshaking = h->state == TLS_HANDSHAKING;
    h->state = TLS_FAILED;
    SL_LOG_INFO(SL_LS_TLS, "TLS %s failed: %s (%s)", handshaking ? "handshake" : "connection",
                sl_error_name(code), h->reason);
    int rc = sl__tls_flush_out(h, NULL, false); /* the alert OpenSSL wrote, if any */
    (void)rc;
    if (handshaking) {
        sl__tls_report_failure(h, code);
    }
    sl_channel_shutdown(tls_channel(h), code, false);
}

void sl__tls_advance_handshake(struct tls_handler *h)
{
    if (h->state != TLS_HANDSHAKING) {
        return;
    }
    ERR_clear_error();
    int rc = SSL_do_handshake(h->ssl);
    int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(h->ssl, rc);
    if (rc == 1 || err == SSL_ERROR_WANT_READ) {
        if (sl__tls_flush_out(h, NULL, false) < 0) {
            return; /* the socket is gone: the channel is shutting down already */
        }
        if (rc != 1) {
            return;
        }
        h->state = TLS_OPEN;
        fill_success(h);
        SL_LOG_DEBUG(SL_LS_TLS, "handshake done: %s %s alpn \"%s\"%s", h->result.version,
                     h->result.cipher, h->alpn, h->result.session_resumed ? " (resumed)" : "");
        report(h);
        sl__tls_on_open(h);
        return;
    }
    sl__tls_fail(h, sl__tls_failure_code(h, err));
}

static void timeout_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct tls_handler *h = arg;
    h->timeout_pending = false;
    if (status == SL_TASK_RUN && h->state == TLS_HANDSHAKING) {
        snprintf(h->reason, sizeof(h->reason), "no handshake within %u ms",
                 h->handshake_timeout_ms);
        sl__tls_fail(h, SL_E_TLS_HANDSHAKE_TIMEOUT);
    }
}

void sl__tls_start_timeout(struct tls_handler *h)
{
    struct sl_channel *channel = tls_channel(h);
    h->timeout_pending = true;
    sl_channel_task_init(&h->timeout_task, timeout_fn, h, "tls_handshake_timeout");
    sl_channel_schedule_task_at(channel, &h->timeout_task,
                                sl_loop_now_ns(sl_channel_loop(channel)) +
                                    (uint64_t)h->handshake_timeout_ms * SL_NS_PER_MS);
}
