/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TLS_KIT_H
#define SL_TLS_KIT_H

/*
 * What the TLS tests share: a loop group and bootstraps, the test certificates, contexts made
 * from them, and "stream ends": application handlers that send a reproducible byte stream
 * (fixed or random-sized writes, paced by write completions) and hash what they receive, so a
 * transfer of any size is checked byte for byte without keeping it in memory.
 */

#include "test_harness.h"
#include "tls_certs.h"

#include <sluice/bootstrap.h>
#include <sluice/tls.h>

#include <openssl/evp.h>
#include <stdatomic.h>

extern struct tls_certs g_certs;
extern struct sl_loop_group *g_group;
extern struct sl_client_bootstrap *g_client;
extern struct sl_server_bootstrap *g_server;

void kit_setup(void);
void kit_teardown(void);

/* A client context trusting the test CA (alpn may be NULL), and a server one for the ECDSA
 * certificate. */
struct sl_tls_ctx *kit_client_ctx(const char *alpn);
struct sl_tls_ctx *kit_server_ctx(const char *alpn);

struct stream_options {
    size_t window;         /* the app's read window (0: 1 MiB) */
    bool reopen_later;     /* reopen the window from a task, not while reading */
    bool echo;             /* write back everything read */
    uint64_t send_bytes;   /* bytes to send once set up */
    size_t write_size;     /* per write (0: random 1..64 KiB) */
    bool end_after_send;   /* half-close after the last byte (needs allow_half_close) */
    bool close_after_send; /* graceful channel shutdown once every write completed */
    uint32_t seed;
};

struct stream_end {
    struct stream_options opts;
    struct sl_handler base;
    struct sl_channel *channel;
    struct sl_channel_task reopen_task;
    bool reopen_pending;
    size_t to_reopen;
    /* sending */
    uint64_t sent;
    uint64_t in_flight;
    bool finished_sending;
    uint32_t rng;
    EVP_MD_CTX *sent_hash;
    atomic_uint_fast64_t completions;
    atomic_uint_fast64_t completion_errors;
    atomic_uint_fast64_t completed_bytes;
    /* receiving */
    EVP_MD_CTX *recv_hash;
    atomic_uint_fast64_t received;
    atomic_bool end_of_stream;
    /* lifecycle */
    int setup_status;
    int shutdown_status;
    char alpn[64];
    char version[16];
    bool resumed;
    atomic_int setups;
    atomic_int shutdowns;
    atomic_bool destroyed;
    struct sl_test_latch latch; /* bumped on every event */
};

void stream_end_init(struct stream_end *end, const struct stream_options *opts);
void stream_end_clean_up(struct stream_end *end);
/* Adds the stream handler at the end of channel and starts sending. Loop thread. */
void stream_end_attach(struct stream_end *end, struct sl_channel *channel);
/* Waits until cond(end) holds (checked at every event); false on timeout. */
bool stream_end_wait(struct stream_end *end, bool (*cond)(struct stream_end *), int timeout_ms);
bool stream_end_is_set_up(struct stream_end *end);
bool stream_end_is_shut_down(struct stream_end *end);
/* The SHA-256 of what was sent / received so far (finalises a copy). */
void stream_end_digest(EVP_MD_CTX *ctx, unsigned char out[32]);

/* A listener whose every channel gets the next stream end of ends[] (count of them). */
struct kit_server {
    struct sl_listener *listener;
    uint32_t port;
    struct stream_end *ends;
    size_t count;
    atomic_size_t next;
    atomic_int incoming_errors;
    atomic_int last_error;
    struct sl_test_latch events;
    struct sl_test_latch destroyed;
};

/* tls may be NULL for a plain listener. */
void kit_server_start(struct kit_server *srv, const struct sl_tls_connection_options *tls,
                      struct stream_end *ends, size_t count);
void kit_server_stop(struct kit_server *srv);

/* Connects end to 127.0.0.1:port with tls (NULL: plain); returns the setup status. */
int kit_connect(struct stream_end *end, uint32_t port, const struct sl_tls_connection_options *tls);
/* Starts a connect without waiting. */
void kit_connect_async(struct stream_end *end, uint32_t port,
                       const struct sl_tls_connection_options *tls);
/* Shuts end's channel down gracefully and waits for its shutdown callback. */
void kit_close(struct stream_end *end);

#endif
