/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_PEER_SERVER_H
#define SL_PEER_SERVER_H

/*
 * A plain TCP server on loopback for the daemon's channels to connect to, run on threads with
 * blocking sockets (an independent implementation, nothing of Sluice): it echoes, or floods
 * every connection with a pattern and counts what the kernel took.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum peer_mode {
    PEER_ECHO,  /* write back what is read; at the client's end of stream, end ours */
    PEER_FLOOD, /* write flood_bytes of test_pattern, then end the stream */
    PEER_STALL, /* accept, then neither read nor write until stopped */
};

struct peer_server {
    int listen_fd;
    uint32_t port;
    enum peer_mode mode;
    uint64_t flood_bytes;
    pthread_t acceptor;
    pthread_t workers[64];
    atomic_int worker_count;
    atomic_uint_fast64_t bytes_written; /* what send() accepted, all connections */
    atomic_int connections;
    atomic_int finished; /* connections that ended */
    atomic_bool stopping;
};

void peer_server_start(struct peer_server *p, enum peer_mode mode, uint64_t flood_bytes);
/* Closes the listener and joins every thread (their connections must have ended). */
void peer_server_stop(struct peer_server *p);
/* Stops every server still running (teardown after a failed test). */
void peer_server_stop_all(void);

#endif
