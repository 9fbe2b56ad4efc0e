/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_RELAY_RUNS_H
#define SL_BENCH_RELAY_RUNS_H

/*
 * One measurement each: the client side of a bulk transfer or of a ping-pong, over a socket
 * (direct TCP, or the Unix socket of socat or stunnel) or over a sluiced channel. The client
 * runs on the calling thread, pinned by the caller.
 */

#include "relay_peers.h"

#include <sluice/client.h>

#include <stddef.h>
#include <stdint.h>

/* Where the client's bytes go: a plain socket (fd >= 0) or a channel (fd -1). */
struct relay_stream {
    int fd;
    struct sl_client_channel *ch;
};

/* How a measurement connects, after its peer thread has started. */
struct relay_route {
    const char *unix_path;    /* a relay's Unix socket (socat, stunnel) */
    uint16_t tcp_port;        /* or: straight to the peer's TCP port */
    struct sl_client *client; /* or: a channel through sluiced to tcp_port */
    bool tls;                 /* channel only: the daemon is the TLS client */
    const void *ca_pem;       /* channel with TLS: the CA the daemon trusts */
    size_t ca_pem_len;
};

/*
 * Bulk: starts sink (its inputs set by the caller), connects by route, waits until the sink
 * holds the connection (the TLS handshake done), writes sink->total bytes in 64 KiB writes
 * and half-closes. The clock runs from the end of the wait until the sink has the last byte.
 * Returns bytes per second. Dies on any failure.
 */
double relay_bulk(const struct relay_route *route, struct relay_peer *sink);

/*
 * Ping-pong: starts echo, connects, does warmup round trips of 64 bytes, then count more
 * whose times (µs) go to samples_us.
 */
void relay_rtt(const struct relay_route *route, struct relay_peer *echo, size_t warmup,
               size_t count, double *samples_us);

/* What sluiced reported about the last TLS channel relay_bulk opened ("TLSv1.3 SUITE"). */
const char *relay_last_channel_tls(void);

#endif
