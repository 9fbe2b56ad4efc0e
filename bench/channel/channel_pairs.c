/* SPDX-License-Identifier: Apache-2.0 */
#include "channel_pairs.h"

#include <sluice/error.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* One channel's bookkeeping: lives from creation until its shutdown callback. */
struct pending_channel {
    struct pair_set *set;
    struct sl_socket *socket;
    bool server;
};

static void fail(struct pair_set *set, const char *what, int rc)
{
    fprintf(stderr, "pairs: %s: %s\n", what, sl_strerror(rc));
    atomic_fetch_add(&set->failures, 1);
}

static int build(struct pending_channel *p, struct sl_channel *channel)
{
    struct sl_slot *s0, *s1;
    struct sl_handler *sh;
    int rc = sl_slot_new(channel, &s0);
    rc = rc ? rc : sl_socket_handler_new(p->socket, &p->set->socket_opts, &sh);
    if (rc) {
        sl_socket_destroy(p->socket);
        return rc;
    }
    rc = sl_slot_set_handler(s0, sh);
    rc = rc ? rc : sl_slot_new(channel, &s1);
    rc = rc ? rc : sl_slot_insert_end(channel, s1);
    if (rc) {
        return rc;
    }
    struct sl_handler *app = p->set->make_handler(p->set->ctx, p->server);
    return app ? sl_slot_set_handler(s1, app) : SL_E_NOMEM;
}

static void on_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct pending_channel *p = user_data;
    int rc = status ? status : build(p, channel);
    if (rc) {
        fail(p->set, "channel setup", rc);
    }
    atomic_fetch_add(&p->set->ready, 1);
}

static void on_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    (void)status;
    struct pending_channel *p = user_data;
    atomic_fetch_add(&p->set->shut_down, 1);
    free(p);
}

static struct sl_channel *start_channel(struct pair_set *set, struct sl_loop *loop,
                                        struct sl_socket *socket, bool server)
{
    struct pending_channel *p = malloc(sizeof(*p));
    *p = (struct pending_channel){.set = set, .socket = socket, .server = server};
    struct sl_channel_options opts = {
        .loop = loop, .on_setup = on_setup, .on_shutdown = on_shutdown, .user_data = p};
    struct sl_channel *channel = NULL;
    int rc = sl_channel_new(&opts, &channel);
    if (rc) {
        fail(set, "channel", rc);
        free(p);
        return NULL;
    }
    return channel;
}

static void on_accept(struct sl_socket *listener, int status, struct sl_socket *incoming,
                      void *user_data)
{
    (void)listener;
    struct pair_set *set = user_data;
    int rc = status ? status : sl_socket_assign_to_loop(incoming, set->server_loop);
    if (rc || set->server_filled >= set->count) {
        fail(set, "accept", rc ? rc : SL_E_STATE);
        sl_socket_destroy(incoming);
        return;
    }
    set->servers[set->server_filled++] = start_channel(set, set->server_loop, incoming, true);
}

static void on_connect(struct sl_socket *socket, int status, void *user_data)
{
    struct pair_set *set = user_data;
    if (status) {
        fail(set, "connect", status);
        sl_socket_destroy(socket);
        atomic_fetch_add(&set->ready, 2);
        return;
    }
    set->clients[set->client_filled++] = start_channel(set, set->client_loop, socket, false);
}

/* Runs fn on loop and waits (the benchmark's main thread is never a loop thread). */
struct hop {
    struct sl_task task;
    void (*fn)(struct pair_set *set);
    struct pair_set *set;
    atomic_bool done;
};

static void hop_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct hop *h = arg;
    if (status == SL_TASK_RUN) {
        h->fn(h->set);
    }
    atomic_store(&h->done, true);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void run_on(struct sl_loop *loop, void (*fn)(struct pair_set *), struct pair_set *set)
{
    struct hop h = {.fn = fn, .set = set};
    atomic_init(&h.done, false);
    sl_task_init(&h.task, hop_fn, &h, "pairs_hop");
    sl_loop_schedule_now(loop, &h.task);
    while (!atomic_load(&h.done)) {
        sleep_ms(1);
    }
}

static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "pairs: %s: %s\n", what, sl_strerror(rc));
        exit(1);
    }
}

static void listen_fn(struct pair_set *set)
{
    struct sl_socket_options opts = {
        .type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4, .no_delay = true};
    struct sl_socket_endpoint ep = {.address = "127.0.0.1"};
    check(sl_socket_new(&opts, &set->listener), "listener");
    check(sl_socket_bind(set->listener, &ep), "bind");
    check(sl_socket_get_bound_address(set->listener, &set->address), "bound address");
    check(sl_socket_listen(set->listener, 4096), "listen");
    check(sl_socket_start_accept(set->listener, set->server_loop, on_accept, set), "accept");
}

static void connect_fn(struct pair_set *set)
{
    struct sl_socket_options opts = {
        .type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4, .no_delay = true};
    for (size_t i = 0; i < set->count; i++) {
        struct sl_socket *socket;
        check(sl_socket_new(&opts, &socket), "socket");
        check(sl_socket_connect(socket, &set->address, set->client_loop, on_connect, set),
              "connect");
    }
}

static void unlisten_fn(struct pair_set *set)
{
    sl_socket_destroy(set->listener);
}

void pairs_open(struct pair_set *set, size_t count)
{
    set->count = count;
    set->clients = calloc(count, sizeof(*set->clients));
    set->servers = calloc(count, sizeof(*set->servers));
    atomic_init(&set->ready, 0);
    atomic_init(&set->shut_down, 0);
    atomic_init(&set->failures, 0);
    run_on(set->server_loop, listen_fn, set);
    run_on(set->client_loop, connect_fn, set);
    while (atomic_load(&set->ready) < 2 * count) {
        sleep_ms(1);
    }
    run_on(set->server_loop, unlisten_fn, set);
    if (atomic_load(&set->failures)) {
        fprintf(stderr, "pairs: %zu failures\n", atomic_load(&set->failures));
        exit(1);
    }
}

void pairs_close(struct pair_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        sl_channel_shutdown(set->clients[i], 0, false);
        sl_channel_shutdown(set->servers[i], 0, false);
    }
    while (atomic_load(&set->shut_down) < 2 * set->count) {
        sleep_ms(1);
    }
    for (size_t i = 0; i < set->count; i++) {
        sl_channel_release(set->clients[i]);
        sl_channel_release(set->servers[i]);
    }
    free(set->clients);
    free(set->servers);
}
