/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CHANNEL_PAIRS_H
#define SL_CHANNEL_PAIRS_H

/*
 * Connected channel pairs for benchmarks: a listener on 127.0.0.1 on the server loop, clients
 * connecting from the client loop, and on every connection a channel of
 * [socket handler][a handler made by the caller] on each side.
 */

#include <sluice/channel.h>
#include <sluice/socket_handler.h>

#include <stdatomic.h>

/* Makes the application handler for one side (loop thread). Returns NULL to fail. */
typedef struct sl_handler *pair_handler_fn(void *ctx, bool server);

struct pair_set {
    struct sl_loop *client_loop;
    struct sl_loop *server_loop;
    pair_handler_fn *make_handler;
    void *ctx;
    struct sl_socket_handler_options socket_opts;
    size_t count;
    struct sl_channel **clients; /* count entries, filled as clients set up */
    struct sl_channel **servers;
    /* private */
    struct sl_socket *listener;
    struct sl_socket_endpoint address;
    size_t client_filled;
    size_t server_filled;
    atomic_size_t ready;
    atomic_size_t shut_down;
    atomic_size_t failures;
};

/* Opens pair count connections and waits until all 2 * count channels are set up. */
void pairs_open(struct pair_set *set, size_t count);

/* Shuts every channel down, waits, releases them and frees the arrays. */
void pairs_close(struct pair_set *set);

#endif
