/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_TLS_HANDSHAKES_H
#define SL_BENCH_TLS_HANDSHAKES_H

#include "tls_bench.h"

#include <stddef.h>

/*
 * Sequential TLS connections from our client to our server, doing per connection what
 * `openssl s_time -www /` does: handshake, send "GET / HTTP/1.0\r\n\r\n", read the reply until
 * the server's close_notify. The server answers with response_len bytes and closes. New
 * connections start until `seconds` have passed.
 */
struct tls_handshake_options {
    const struct tls_cert_pair *cert; /* the server's certificate */
    bool resume;                      /* the client context's default (resumption on), or off */
    double seconds;
    size_t response_len; /* bytes the server answers with (at most 16 KiB) */
};

struct tls_handshake_result {
    double per_s;   /* connections per second of wall time */
    size_t count;   /* connections completed */
    size_t resumed; /* of which the client's negotiation said session_resumed */
};

void tls_handshakes(struct tls_env *env, const struct tls_handshake_options *opts,
                    struct tls_handshake_result *out);

#endif
