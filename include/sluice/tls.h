/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TLS_H
#define SL_TLS_H

#include <sluice/buf.h>
#include <sluice/channel.h>
#include <sluice/common.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * TLS over OpenSSL 3 (ARCHITECTURE.md "Channel"; the seed's "Typical Channel").
 *
 * A context (struct sl_tls_ctx) holds what many connections share: identity, trust, versions,
 * ciphers, ALPN and the client's session cache. It is reference counted and may be used from
 * any thread. A TLS handler is one connection: it sits in the slot right of the socket handler,
 * reads ciphertext from the left and passes plaintext right, and takes plaintext writes from the
 * right and sends ciphertext left. OpenSSL never sees the socket: records move through the
 * channel's own messages.
 *
 * Sluice uses the system's OpenSSL and never changes its global state (no custom allocators,
 * no global init/cleanup), so a host program's own use of OpenSSL is undisturbed, and the
 * system crypto policy (openssl.cnf) applies.
 */

struct sl_tls_ctx;

enum sl_tls_version {
    SL_TLS_VERSION_DEFAULT = 0, /* TLS 1.2 */
    SL_TLS_VERSION_1_2,
    SL_TLS_VERSION_1_3,
};

/* Server side: whether clients must present a certificate (mutual TLS). */
enum sl_tls_client_auth {
    SL_TLS_CLIENT_AUTH_NONE = 0,
    SL_TLS_CLIENT_AUTH_REQUEST, /* asked for; verified if presented; a client without one passes */
    SL_TLS_CLIENT_AUTH_REQUIRE, /* no certificate, or one that fails verification: refused */
};

/*
 * Context options. Everything is optional except what the role needs (a server needs an
 * identity). Strings and cursors are read during sl_tls_ctx_new only; nothing is kept.
 */
struct sl_tls_ctx_options {
    /* Identity: a certificate chain and its private key, from one of the three sources. */
    const char *cert_file; /* PEM: the leaf first, then intermediates */
    const char *key_file;  /* PEM private key (PKCS#8 or traditional); read, parsed, wiped */
    struct sl_cursor cert_pem;
    struct sl_cursor key_pem;    /* the caller's memory: wipe it when done (sl_secure_zero) */
    const char *pkcs12_file;     /* or PKCS#12 (DER) from a file ... */
    struct sl_cursor pkcs12;     /* ... or from memory */
    const char *pkcs12_password; /* NULL: no password */

    /*
     * Trust: with none of ca_file, ca_dir, ca_pem set, the system default store. Setting any of
     * them replaces the default store unless trust_default_too is true.
     */
    const char *ca_file;
    const char *ca_dir; /* hashed directory (c_rehash / openssl rehash) */
    struct sl_cursor ca_pem;
    bool trust_default_too;

    /*
     * Clients verify the server by default. Turning that off has to be asked for by name, and
     * logs a warning once per context.
     */
    bool insecure_skip_verify;
    enum sl_tls_client_auth client_auth; /* servers only */

    enum sl_tls_version min_version;
    const char *cipher_list;  /* TLS 1.2 cipher list, OpenSSL syntax; NULL: OpenSSL's default */
    const char *ciphersuites; /* TLS 1.3 suites, e.g. "TLS_CHACHA20_POLY1305_SHA256" */
    const char *groups;       /* key exchange groups in preference order, e.g. "X25519:P-256" */
    /*
     * ALPN protocols in preference order, separated by ';' or ',' (e.g. "h2;http/1.1"). A server
     * picks its first that the client also offers; none in common fails the handshake.
     */
    const char *alpn_list;
    /* Clients resume sessions (tickets) by default when they reconnect to the same server. */
    bool disable_session_resumption;
};

/*
 * Creates a client or server context.
 * Thread: any. Ownership: returns owned (one reference).
 * Errors: SL_E_INVAL (bad option combination, e.g. a server without identity, a key without a
 * certificate); -errno when a file cannot be read; SL_E_TLS_PEM_INVALID;
 * SL_E_TLS_PKCS12_INVALID; SL_E_TLS_KEY_MISMATCH; SL_E_TLS_TRUST_STORE;
 * SL_E_TLS_BAD_CIPHER_LIST; SL_E_TLS_BAD_ALPN_LIST; SL_E_TLS_INTERNAL; SL_E_NOMEM.
 * Each failure is logged with the OpenSSL reason.
 */
SL_API SL_MUST_CHECK int sl_tls_ctx_new_client(const struct sl_tls_ctx_options *opts,
                                               struct sl_tls_ctx **out);
SL_API SL_MUST_CHECK int sl_tls_ctx_new_server(const struct sl_tls_ctx_options *opts,
                                               struct sl_tls_ctx **out);
SL_API void sl_tls_ctx_acquire(struct sl_tls_ctx *ctx);
SL_API void sl_tls_ctx_release(struct sl_tls_ctx *ctx);
SL_API bool sl_tls_ctx_is_server(const struct sl_tls_ctx *ctx);

/* Connections -------------------------------------------------------------------------------- */

/* A summary of the peer's leaf certificate. */
struct sl_tls_peer_cert {
    bool present;
    const char *subject; /* RFC 2253 form, e.g. "CN=localhost,O=Test" */
    const char *issuer;
    const char *sans;   /* e.g. "DNS:localhost, IP:127.0.0.1"; "" when there are none */
    int64_t not_before; /* seconds since the epoch */
    int64_t not_after;
};

/*
 * The outcome of a handshake. Pointers stay valid while the handler lives (the application
 * may keep asking with sl_tls_handler_negotiation).
 */
struct sl_tls_negotiation {
    int error;               /* 0, or the SL_E_TLS_* code (with the reason logged) */
    const char *alpn;        /* the protocol agreed, or "" */
    const char *version;     /* "TLSv1.3", "TLSv1.2"; "" on failure */
    const char *cipher;      /* e.g. "TLS_AES_128_GCM_SHA256" */
    const char *server_name; /* the SNI name: sent (clients) or received (servers); or "" */
    const char *reason;      /* on failure, OpenSSL's reason (e.g. the verify error); else "" */
    bool session_resumed;
    struct sl_tls_peer_cert peer;
};

struct sl_handler;

/* Runs once per connection on the channel's loop, when the handshake succeeds or fails. */
typedef void sl_tls_negotiated_fn(struct sl_handler *handler, struct sl_slot *slot,
                                  const struct sl_tls_negotiation *result, void *user_data);

struct sl_tls_connection_options {
    struct sl_tls_ctx *ctx; /* required; the handler holds a reference */
    /*
     * Clients: the name sent in SNI and checked against the certificate. An IPv4 or IPv6
     * literal is checked against the certificate's IP-address SANs and not sent in SNI (RFC
     * 6066 §3). NULL with verification on checks no name: set it.
     */
    const char *server_name;
    const char *alpn_list;         /* overrides the context's list for this connection */
    uint32_t handshake_timeout_ms; /* 0: 10 s */
    /*
     * Clients: the key under which the session is kept for resumption (the bootstrap uses
     * "host:port"); NULL: server_name.
     */
    const char *session_key;
    /*
     * What a close_notify from the peer means to the handler on the right: with
     * allow_half_close an SL_MSG_END_OF_STREAM read message (and writing may go on), without
     * it the channel shuts down with SL_E_CLOSED. A socket that ends without close_notify is
     * SL_E_TLS_TRUNCATED either way, which needs the socket handler's allow_half_close (the
     * bootstraps set it) so that the end of the stream reaches this handler.
     */
    bool allow_half_close;
    sl_tls_negotiated_fn *on_negotiated; /* optional */
    void *user_data;
};

/*
 * Creates a TLS handler, puts it in a new slot right of `left` (normally the socket handler's
 * slot) and starts the handshake: a client sends its hello at once, a server waits for one.
 * Plaintext written before the handshake ends is queued and sent after it.
 * When the handshake fails or times out, on_negotiated hears the error, an alert goes to the
 * peer where TLS calls for one, and the channel shuts down with the same code. If the channel
 * shuts down during the handshake for another reason (a reset), on_negotiated hears its status.
 * Some failures depend on the version: a TLS 1.3 client has finished its handshake before the
 * server checks the client certificate, so "certificate required" or "unknown CA" from a server
 * reaches a 1.3 client as the channel's shutdown status, after a successful negotiation (a 1.2
 * client gets SL_E_TLS_HANDSHAKE_FAILED during the handshake).
 * Thread: the channel's loop. Ownership: the channel owns the handler.
 * Errors: SL_E_INVAL; SL_E_NOMEM; SL_E_TLS_INTERNAL; errors of sl_slot_new/insert.
 */
SL_API SL_MUST_CHECK int sl_tls_handler_install(struct sl_slot *left,
                                                const struct sl_tls_connection_options *opts,
                                                struct sl_handler **out);

/* The handshake's outcome so far (error SL_E_TLS_NOT_NEGOTIATED before it ends). Loop thread. */
SL_API const struct sl_tls_negotiation *sl_tls_handler_negotiation(struct sl_handler *handler);

/*
 * Finds the TLS handler in the channel (NULL without one): how an application handler asks
 * which protocol ALPN chose. Loop thread.
 */
SL_API struct sl_handler *sl_tls_channel_handler(struct sl_channel *channel);

SL_END_DECLS

#endif /* SL_TLS_H */
