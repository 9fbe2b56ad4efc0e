/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_TLS_BULK_H
#define SL_BENCH_TLS_BULK_H

#include "tls_bench.h"

#include <stdint.h>

/*
 * Sends total bytes in 16 KiB writes over one TLS 1.3 channel pair on loopback TCP, from
 * [socket][tls][sender] on the client loop to [socket][tls][sink] on the server loop, with
 * suite forced on both contexts (exits if another is negotiated). Returns bytes per second,
 * timed from the moment both handshakes are done until the sink has counted every byte.
 */
double tls_bulk_bytes_per_s(struct tls_env *env, const char *suite, uint64_t total);

#endif
