/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TLS_INTERNAL_H
#define SL_TLS_INTERNAL_H

/* What the files of core/tls share (internal). */

#include <sluice/tls.h>

#include <sluice/log.h>
#include <sluice/ref.h>

#include <openssl/ssl.h>
#include <pthread.h>

/* Clients keep the last resumable session per server ("host:port"), least recently used out. */
#define SL_TLS_SESSION_CACHE_SIZE 64

struct tls_session_entry {
    char *key;
    SSL_SESSION *session;
    uint64_t last_used;
};

struct tls_session_cache {
    pthread_mutex_t lock;
    uint64_t clock;
    struct tls_session_entry entries[SL_TLS_SESSION_CACHE_SIZE];
};

struct sl_tls_ctx {
    struct sl_ref ref;
    SSL_CTX *ssl_ctx;
    bool is_server;
    bool resumption;
    uint8_t *alpn_wire; /* the ALPN list in wire form (length-prefixed), or NULL */
    size_t alpn_wire_len;
    struct tls_session_cache sessions; /* clients only */
    BIO_METHOD *bio_method;            /* ours, so no process-wide state is needed */
};

/* Identity and trust (tls_identity.c). */
int sl__tls_load_identity(SSL_CTX *ssl_ctx, const struct sl_tls_ctx_options *opts);
int sl__tls_load_trust(SSL_CTX *ssl_ctx, const struct sl_tls_ctx_options *opts);
/* Reads a whole file into *out (sl_alloc; the caller wipes and frees it). Errors: -errno. */
int sl__tls_read_file(const char *path, uint8_t **out, size_t *len);

/* ALPN lists: "a;b,c" to wire form. Errors: SL_E_TLS_BAD_ALPN_LIST; SL_E_NOMEM. */
int sl__tls_alpn_to_wire(const char *list, uint8_t **out, size_t *len);

/* Callbacks the context installs and the handler implements (tls_handler.c). */
int sl__tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                        const unsigned char *in, unsigned int inlen, void *arg);
int sl__tls_on_new_session(SSL *ssl, SSL_SESSION *session);

/* Session cache (tls_session_cache.c). */
void sl__tls_session_cache_init(struct tls_session_cache *cache);
void sl__tls_session_cache_clean_up(struct tls_session_cache *cache);
/* Keeps session (takes a reference of its own) under key. */
void sl__tls_session_cache_put(struct tls_session_cache *cache, const char *key,
                               SSL_SESSION *session);
/*
 * A session for key, or NULL; the caller owns the reference it returns. TLS 1.3 tickets are
 * single use (RFC 8446 §C.4) and leave the cache; TLS 1.2 sessions stay.
 */
SSL_SESSION *sl__tls_session_cache_get(struct tls_session_cache *cache, const char *key);

/* Errors (tls_errors.c). */
/* Drains OpenSSL's error queue into the log (at level) and returns its first reason's code. */
int sl__tls_drain_errors(enum sl_log_level level, const char *what);
/* The SL_E_TLS_* code for a failed handshake or record: from the verify result, the alert, the
 * OpenSSL reason. Leaves a readable reason in why. Drains the error queue. */
int sl__tls_classify_failure(SSL *ssl, int ssl_error, char *why, size_t why_len);
/* The SL_E_TLS_* code for an X509_V_ERR_* verification result. */
int sl__tls_verify_error_code(long verify_result);

/* Peer certificate summary (tls_peer.c): fills peer with strings allocated into *storage. */
struct tls_peer_strings {
    char *subject;
    char *issuer;
    char *sans;
};
void sl__tls_describe_peer(SSL *ssl, struct sl_tls_peer_cert *peer, struct tls_peer_strings *s);
void sl__tls_peer_strings_clean_up(struct tls_peer_strings *s);

/* The BIO that moves records through channel messages (tls_bio.c). */
struct tls_bio_io {
    /* Ciphertext read from the socket, waiting for OpenSSL. */
    int (*read)(void *io, uint8_t *dst, size_t len, size_t *n); /* -EAGAIN when empty */
    bool (*at_eof)(void *io);
    /* Ciphertext OpenSSL produced, for the socket. */
    int (*write)(void *io, const uint8_t *src, size_t len);
    void *io;
};
BIO_METHOD *sl__tls_bio_method_new(void);
/* A BIO of method calling io (which must outlive it). NULL on allocation failure. */
BIO *sl__tls_bio_new(BIO_METHOD *method, struct tls_bio_io *io);

#endif
