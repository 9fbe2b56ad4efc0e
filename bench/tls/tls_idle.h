/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_TLS_IDLE_H
#define SL_BENCH_TLS_IDLE_H

#include "tls_bench.h"

#include <stddef.h>

/*
 * Memory per idle TLS channel pair: count connections to our own server (full handshakes,
 * ECDSA P-256 certificate), each with one 32-byte exchange after its handshake, then left idle.
 */
struct tls_idle_result {
    double rss_per_pair;  /* VmRSS growth (/proc/self/status) divided by count */
    double heap_per_pair; /* malloc's bytes in use (mallinfo2 uordblks + hblkhd), likewise; -1 if
                             unknown */
};

void tls_idle_pairs(struct tls_env *env, size_t count, struct tls_idle_result *out);

#endif
