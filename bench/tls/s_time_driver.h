/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_S_TIME_DRIVER_H
#define SL_BENCH_S_TIME_DRIVER_H

/*
 * The baseline of the handshake figures: `openssl s_time` against `openssl s_server -www`,
 * each pinned to the CPU our client or server loop has.
 */

#include "openssl_peer.h"
#include "tls_certs.h"

#include <stdbool.h>

struct s_server {
    struct openssl_peer peer;
    int port;
};

/* Starts `openssl s_server -cert ... -key ... -www` on 127.0.0.1, pinned to cpu; exits on failure.
 */
void s_server_start(struct s_server *server, const struct tls_cert_pair *pair, int cpu);
void s_server_stop(struct s_server *server);

struct s_time_options {
    int port;
    const char *ca_file; /* so that s_time verifies the chain as our client does */
    bool reuse;          /* -reuse (resume one session over and over), else -new */
    int seconds;         /* -time takes whole seconds */
    int cpu;
};

struct s_time_result {
    double per_s;         /* connections / the wall time of s_time's timing loop, see .c */
    long count;           /* N of "N connections in T real seconds" */
    long real_s;          /* T: s_time's own whole seconds */
    long bytes_per_conn;  /* "... bytes read per connection": the size of s_server's page */
    double resumed_share; /* 'r' marks among the per-connection marks */
};

/* Runs s_time once; exits if it fails or its output cannot be parsed. */
void s_time_run(const struct s_time_options *opts, struct s_time_result *out);

#endif
