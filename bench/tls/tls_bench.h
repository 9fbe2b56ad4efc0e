/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_TLS_BENCH_H
#define SL_BENCH_TLS_BENCH_H

/*
 * What the parts of bench_tls share: the test certificates, two single-loop groups pinned like
 * bench_channel's (server side on the first allowed CPU, client side on the second), the
 * bootstraps, TLS contexts, a listener on 127.0.0.1, and the members every benchmark handler
 * has in common.
 */

#include "bench_util.h"
#include "tls_certs.h"

#include <sluice/bootstrap.h>
#include <sluice/tls.h>

#include <stdatomic.h>
#include <stdbool.h>

struct tls_env {
    struct tls_certs certs;
    int server_cpu;
    int client_cpu;
    struct sl_loop_group *server_group;
    struct sl_loop_group *client_group;
    struct sl_host_resolver *resolver;
    struct sl_client_bootstrap *client;
    struct sl_server_bootstrap *server;
};

/* Makes the certificates, groups and bootstraps; exits on failure. */
void tls_env_init(struct tls_env *env);
void tls_env_clean_up(struct tls_env *env);

/* Prints "bench_tls: what: reason" and exits with status 1. */
_Noreturn void tls_die(const char *what, int rc);

/*
 * A server context for pair, and a client context trusting the test CA. ciphersuites NULL
 * keeps OpenSSL's default; a forced suite also forces TLS 1.3 (the suites are 1.3 names).
 */
struct sl_tls_ctx *tls_server_ctx(const struct tls_cert_pair *pair, const char *ciphersuites);
struct sl_tls_ctx *tls_client_ctx(const struct tls_env *env, bool resume, const char *ciphersuites);

/* A countdown the main thread sleeps on (bench_done fires when it reaches zero). */
struct tls_countdown {
    atomic_size_t left;
    struct bench_done done;
};

void tls_countdown_init(struct tls_countdown *c, size_t n);
void tls_countdown_tick(struct tls_countdown *c);
void tls_countdown_wait(struct tls_countdown *c);

/*
 * A TLS listener on 127.0.0.1 (port picked by the kernel). Its callbacks get the tls_listener
 * as user_data; user_data here is for them to find their run.
 */
struct tls_listener {
    struct sl_listener *listener;
    struct sl_socket_endpoint bound;
    void *user_data;
    struct bench_done gone;
};

/*
 * Opens l with opts' tls_options, on_incoming and on_shutdown (the rest is set here). Set
 * l->user_data first.
 */
void tls_listener_open(struct tls_env *env, struct tls_listener *l,
                       const struct sl_listener_options *opts);
/* Destroys the listener and waits until it is gone (channels handed out live on). */
void tls_listener_close(struct tls_listener *l);

/* Socket channel options for a TLS connection to l (callbacks left for the caller). */
void tls_connect_options(const struct tls_listener *l, const struct sl_tls_connection_options *tls,
                         struct sl_socket_channel_options *out);

/* The channel's handshake outcome; exits if the channel has no TLS handler. Loop thread. */
const struct sl_tls_negotiation *tls_negotiation(struct sl_channel *channel);

/* Puts handler in a new slot at the end of channel; exits on failure. Loop thread. */
void tls_add_handler(struct sl_channel *channel, struct sl_handler *handler);

/* Handler members the benchmark handlers share. */
int tls_pass_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg);
int tls_ignore_window_update(struct sl_handler *handler, struct sl_slot *slot, size_t bytes);
int tls_finish_shutdown(struct sl_handler *handler, struct sl_slot *slot, enum sl_direction dir,
                        int status, bool abort_immediately);
size_t tls_no_overhead(struct sl_handler *handler);

/* Whether a channel ended as these benchmarks expect: cleanly, or by the peer's close_notify. */
bool tls_is_clean_close(int status);

#endif
