/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_RAW_TLS_H
#define SL_BENCH_RAW_TLS_H

/*
 * The baseline of the bulk TLS figures: a minimal blocking OpenSSL program, two threads pinned
 * as the loops are, SSL_write of 16 KiB and SSL_read over a blocking loopback TCP pair.
 */

#include <stdint.h>

struct raw_tls_options {
    const char *cert_file; /* the server's certificate chain and key (PEM) */
    const char *key_file;
    const char *ca_file; /* what the client trusts */
    const char *suite;   /* the TLS 1.3 suite both ends allow, e.g. "TLS_AES_128_GCM_SHA256" */
    uint64_t total;      /* bytes from client to server */
    int client_cpu;
    int server_cpu;
};

/*
 * Returns bytes per second, timed from the end of the handshake (both ends) until the server
 * has read every byte. Exits if anything fails or another suite is negotiated.
 */
double raw_tls_bulk_bytes_per_s(const struct raw_tls_options *opts);

#endif
