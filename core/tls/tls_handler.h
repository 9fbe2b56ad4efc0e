/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TLS_HANDLER_H
#define SL_TLS_HANDLER_H

/* The TLS handler's state, shared by tls_handler.c (records) and tls_handshake.c (internal). */

#include "tls_internal.h"

#include <sluice/list.h>

enum tls_state {
    TLS_HANDSHAKING,
    TLS_OPEN,
    TLS_FAILED, /* the handshake or a record failed: no more TLS, no close_notify */
};

struct tls_handler {
    struct sl_handler base;
    struct sl_tls_ctx *ctx;
    SSL *ssl;
    struct tls_bio_io bio_io;
    enum tls_state state;

    /* Read side: ciphertext messages from the socket, in order, until OpenSSL takes them. */
    struct sl_list in_queue;
    size_t in_offset;   /* bytes of the front message already taken */
    size_t in_queued;   /* bytes waiting in in_queue */
    size_t in_consumed; /* bytes taken since the read window was last reopened */
    bool eof_received;  /* the socket's end of stream arrived */
    bool close_notify_received;
    bool read_shut_down;

    /* Write side. */
    struct sl_msg *out;            /* ciphertext being filled, sent after each OpenSSL call */
    size_t out_hint;               /* the size to ask for when a new one is needed */
    struct sl_list pending_writes; /* plaintext written before the handshake ended */
    struct sl_list written;        /* plaintext whose records all went out directly */
    struct sl_channel_task completion_task; /* reports `written` (never from inside on_write) */
    bool completion_task_pending;
    bool direct_queued; /* ciphertext of a tls_write_now call still waits for the kernel */
    bool coalesce;      /* tls_write_now: gather its records, send them with one syscall */
    bool close_notify_sent;
    bool write_shut_down;
    bool refused_renegotiation; /* we sent no_renegotiation: the peer's reaction is about that */

    bool pumping; /* re-entry guard: a handler to the right may call back into us */
    bool pump_again;

    /* Connection options. */
    char *server_name;
    char *session_key;
    uint8_t *alpn_wire; /* this connection's override, or NULL for the context's */
    size_t alpn_wire_len;
    uint32_t handshake_timeout_ms;
    bool allow_half_close;
    sl_tls_negotiated_fn *on_negotiated;
    void *user_data;
    struct sl_channel_task timeout_task;
    bool timeout_pending;
    struct sl_channel_task idle_task; /* frees OpenSSL's record buffers once idle */
    bool idle_task_pending;
    bool active_since_check;

    /* The outcome, kept for sl_tls_handler_negotiation. */
    struct sl_tls_negotiation result;
    struct tls_peer_strings peer_strings;
    char alpn[256];
    char reason[256];

    uint64_t io_read_bytes; /* ciphertext */
    uint64_t io_write_bytes;
};

static inline struct sl_channel *tls_channel(struct tls_handler *h)
{
    return sl_slot_channel(h->base.slot);
}

/* tls_handshake.c */
int sl__tls_handler_configure(struct tls_handler *h, const struct sl_tls_connection_options *o);
/* Drives the handshake; on its end reports the result and (on failure) shuts the channel. */
void sl__tls_advance_handshake(struct tls_handler *h);
void sl__tls_start_timeout(struct tls_handler *h);
/* The connection failed after code (a SL_E_TLS_* code): alert out, channel shut down. */
void sl__tls_fail(struct tls_handler *h, int code);
/* The SL_E_TLS_* code for a failed OpenSSL call that returned err (fills h->reason). */
int sl__tls_failure_code(struct tls_handler *h, int err);
/* Tells on_negotiated that the handshake failed with code (h->reason says why). */
void sl__tls_report_failure(struct tls_handler *h, int code);

/* tls_handler.c */
/* Sends the ciphertext OpenSSL produced to the left; completion (may be NULL) rides on the last
 * message. Returns an error if it could not be sent (the completion has then fired). */
int sl__tls_flush_out(struct tls_handler *h, struct sl_msg *plaintext, bool end_of_stream);
/* The handshake finished: writes queued before it go now. */
void sl__tls_on_open(struct tls_handler *h);

#endif
