/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_RELAY_PEERS_H
#define SL_BENCH_RELAY_PEERS_H

/*
 * The far ends of bench_relay's connections: a sink (counts bytes, notes when the last one
 * arrived) and an echo server (sends back what it reads), each a thread with blocking sockets
 * that serves one connection on a listener made once. The sink can be a TLS server (OpenSSL,
 * TLS 1.3 only, one cipher suite) so that the relay in front of it is the TLS client.
 */

#include "bench_util.h"

#include <sluice/thread.h>

#include <stdbool.h>
#include <stdint.h>

/* The one suite the TLS sink accepts, so sluiced and stunnel negotiate the same. */
#define RELAY_TLS_SUITE "TLS_AES_256_GCM_SHA384"

enum relay_peer_kind {
    RELAY_PEER_SINK,
    RELAY_PEER_ECHO,
};

/* A blocking TCP listener on 127.0.0.1 with a port the kernel picked. */
struct relay_listener {
    int fd;
    uint16_t port;
};

void relay_listener_open(struct relay_listener *l);
void relay_listener_close(struct relay_listener *l);

/* Loads the TLS sink's certificate and key (call once, before any TLS sink starts). */
void relay_peers_tls_init(const char *cert_file, const char *key_file);
void relay_peers_tls_clean_up(void);

/*
 * One connection's worth of work. Set the inputs, then relay_peer_start; the thread accepts
 * one connection on listener, does the TLS handshake when tls is set, signals ready, serves
 * the connection until the client's end of stream, and exits.
 */
struct relay_peer {
    /* Inputs. */
    enum relay_peer_kind kind;
    const struct relay_listener *listener;
    bool tls;       /* sinks only */
    int cpu;        /* the thread pins itself here (-1: not pinned) */
    uint64_t total; /* sink: the byte count whose arrival ends the measurement */
    /* Outputs, valid after relay_peer_join. */
    uint64_t received;
    uint64_t end_ns;  /* sink: when byte number `total` arrived */
    char cipher[64];  /* TLS: the suite negotiated */
    char version[16]; /* TLS: the protocol version */
    /* Private. */
    struct bench_done ready;
    struct sl_thread *thread;
};

void relay_peer_start(struct relay_peer *p);
/* Blocks until the connection is accepted (and, with TLS, the handshake done). */
void relay_peer_wait_ready(struct relay_peer *p);
/* Waits for the thread to end; dies if a sink got fewer than total bytes. */
void relay_peer_join(struct relay_peer *p);

#endif
