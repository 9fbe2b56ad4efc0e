/* SPDX-License-Identifier: Apache-2.0 */

/*
 * bench_connect: connections per second through the client bootstrap to a server bootstrap,
 * each one connected, one byte echoed, and closed (the server closes first), 16 at a time.
 * Baseline in the same run: raw_connect.c, plain epoll and non-blocking sockets doing the same.
 * Server side on the first allowed CPU, client side on the second.
 */

#include "bench_util.h"
#include "raw_connect.h"

#include <sluice/bootstrap.h>
#include <sluice/clock.h>
#include <sluice/error.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_FLIGHT 16

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_connect: %s: %s\n", what, sl_strerror(rc));
    exit(1);
}

/* One handler type for both ends: the client sends a byte, the server echoes it and closes. */
struct app {
    struct sl_handler base;
    bool server;
};

static int app_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct app *a = sl_container_of(handler, struct app, base);
    struct sl_channel *channel = sl_slot_channel(slot);
    size_t len = msg->data.len;
    if (a->server && len > 0) {
        int rc = sl_slot_send(slot, msg, SL_DIR_WRITE); /* echo the byte back as it came */
        if (rc) {
            die("echo", rc);
        }
        sl_channel_shutdown(channel, 0, false);
    } else {
        sl_channel_release_msg(channel, msg);
    }
    sl_slot_increment_read_window(slot, len);
    return 0;
}

static int app_on_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    return sl_slot_send(slot, msg, SL_DIR_WRITE);
}

static int app_on_window(struct sl_handler *handler, struct sl_slot *slot, size_t bytes)
{
    (void)handler;
    (void)slot;
    (void)bytes;
    return 0;
}

static int app_on_shutdown(struct sl_handler *handler, struct sl_slot *slot, enum sl_direction dir,
                           int status, bool abort_immediately)
{
    (void)handler;
    sl_slot_on_shutdown_complete(slot, dir, status, abort_immediately);
    return 0;
}

static size_t app_window(struct sl_handler *handler)
{
    (void)handler;
    return 4096;
}

static size_t app_overhead(struct sl_handler *handler)
{
    (void)handler;
    return 0;
}

static void app_destroy(struct sl_handler *handler)
{
    free(sl_container_of(handler, struct app, base));
}

static const struct sl_handler_vtable s_app_vtable = {.name = "bench-app",
                                                      .on_read = app_on_read,
                                                      .on_write = app_on_write,
                                                      .on_window_update = app_on_window,
                                                      .on_shutdown = app_on_shutdown,
                                                      .initial_window = app_window,
                                                      .message_overhead = app_overhead,
                                                      .destroy = app_destroy};

static void add_app(struct sl_channel *channel, bool server)
{
    struct sl_slot *slot;
    struct app *a = calloc(1, sizeof(*a));
    a->base.vtable = &s_app_vtable;
    a->server = server;
    int rc = sl_slot_new(channel, &slot);
    rc = rc ? rc : sl_slot_insert_end(channel, slot);
    rc = rc ? rc : sl_slot_set_handler(slot, &a->base);
    if (rc) {
        die("app slot", rc);
    }
}

/* The run ----------------------------------------------------------------------------------- */

struct run {
    struct sl_client_bootstrap *client;
    struct sl_socket_channel_options opts;
    size_t total;
    atomic_size_t started; /* the first batch starts on main, the rest on the client loop */
    atomic_size_t done;
    uint64_t end_ns;
    struct bench_done finished;
};

static void start_one(struct run *r)
{
    if (atomic_fetch_add(&r->started, 1) >= r->total) {
        return;
    }
    int rc = sl_client_bootstrap_new_socket_channel(r->client, &r->opts);
    if (rc) {
        die("connect", rc);
    }
}

static void on_client_setup(struct sl_channel *channel, int status, void *user_data)
{
    (void)user_data;
    if (status) {
        die("client setup", status);
    }
    add_app(channel, false);
    struct sl_msg *msg;
    int rc = sl_channel_acquire_msg(channel, 1, &msg);
    rc = rc ? rc : sl_buf_append_u8(&msg->data, 'x');
    rc = rc ? rc : sl_slot_send(sl_slot_right(sl_channel_first_slot(channel)), msg, SL_DIR_WRITE);
    if (rc) {
        die("client write", rc);
    }
}

static void on_client_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    struct run *r = user_data;
    if (status && status != SL_E_CLOSED) { /* SL_E_CLOSED: the server closed first, as meant */
        die("client channel", status);
    }
    size_t done = atomic_fetch_add(&r->done, 1) + 1;
    if (done == r->total) {
        r->end_ns = sl_clock_now_ns();
        bench_done_signal(&r->finished);
    } else {
        start_one(r);
    }
}

static void on_incoming(struct sl_listener *listener, int status, struct sl_channel *channel,
                        void *user_data)
{
    (void)listener;
    (void)user_data;
    if (status) {
        die("incoming", status);
    }
    add_app(channel, true);
}

static void on_listener_gone(struct sl_listener *listener, void *user_data)
{
    (void)listener;
    bench_done_signal(user_data);
}

static struct sl_loop_group *new_group(const char *name, const int *cpu)
{
    struct sl_loop_group_options opts = {
        .loop_count = 1, .name = name, .cpus = cpu, .cpu_count = 1};
    struct sl_loop_group *group;
    int rc = sl_loop_group_new(&opts, &group);
    if (rc) {
        die("group", rc);
    }
    return group;
}

static double measure(struct sl_client_bootstrap *client, const struct sl_socket_endpoint *at,
                      size_t total)
{
    struct run r = {
        .client = client,
        .total = total,
        .opts = {.port = at->port,
                 .socket_options = {.type = SL_SOCKET_STREAM, .no_delay = true},
                 .on_setup = on_client_setup,
                 .on_shutdown = on_client_shutdown},
    };
    r.opts.host = at->address;
    r.opts.user_data = &r;
    atomic_init(&r.started, 0);
    atomic_init(&r.done, 0);
    bench_done_init(&r.finished);
    uint64_t start_ns = sl_clock_now_ns();
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        start_one(&r);
    }
    bench_done_wait(&r.finished);
    bench_done_clean_up(&r.finished);
    return (double)total * 1e9 / (double)(r.end_ns - start_ns);
}

int main(int argc, char **argv)
{
    struct bench_args args;
    bench_parse_args(argc, argv, "connect", &args);
    size_t per_run = args.quick ? 500 : 20000;
    int server_cpu, client_cpu;
    bench_pick_cpus(&server_cpu, &client_cpu);

    struct sl_loop_group *server_group = new_group("bench-srv", &server_cpu);
    struct sl_loop_group *client_group = new_group("bench-cli", &client_cpu);
    struct sl_host_resolver_options ropts = {.loop = sl_loop_group_get_loop(client_group, 0)};
    struct sl_host_resolver *resolver = NULL;
    struct sl_server_bootstrap *server = NULL;
    struct sl_client_bootstrap *client = NULL;
    struct sl_server_bootstrap_options sopts = {.group = server_group};
    struct sl_client_bootstrap_options copts = {.group = client_group};
    int rc = sl_host_resolver_new(&ropts, &resolver);
    copts.resolver = resolver;
    rc = rc ? rc : sl_server_bootstrap_new(&sopts, &server);
    rc = rc ? rc : sl_client_bootstrap_new(&copts, &client);
    if (rc) {
        die("bootstrap", rc);
    }
    struct bench_done listener_gone;
    bench_done_init(&listener_gone);
    struct sl_listener_options lopts = {
        .endpoint = {.address = "127.0.0.1", .port = 0},
        .socket_options = {.type = SL_SOCKET_STREAM, .no_delay = true},
        .on_incoming = on_incoming,
        .on_destroy = on_listener_gone,
        .user_data = &listener_gone,
    };
    struct sl_listener *listener;
    struct sl_socket_endpoint bound;
    rc = sl_server_bootstrap_new_listener(server, &lopts, &listener);
    rc = rc ? rc : sl_listener_get_bound_address(listener, &bound);
    if (rc) {
        die("listener", rc);
    }

    double *ours = calloc((size_t)args.runs, sizeof(double));
    double *raw = calloc((size_t)args.runs, sizeof(double));
    for (int i = 0; i < args.runs; i++) {
        raw[i] = raw_connects_per_s(per_run, IN_FLIGHT, client_cpu, server_cpu);
        ours[i] = measure(client, &bound, per_run);
    }
    double raw_median = bench_median(raw, (size_t)args.runs);
    bench_report("connect", "raw_connects_per_s", raw_median, "conn/s", 0);
    bench_report("connect", "connects_per_s", bench_median(ours, (size_t)args.runs), "conn/s",
                 raw_median);

    sl_listener_destroy(listener);
    bench_done_wait(&listener_gone);
    bench_done_clean_up(&listener_gone);
    sl_client_bootstrap_release(client);
    sl_server_bootstrap_release(server);
    sl_host_resolver_release(resolver);
    if (sl_loop_group_destroy(client_group) || sl_loop_group_destroy(server_group)) {
        die("group destroy", SL_E_INVAL);
    }
    free(ours);
    free(raw);
    return 0;
}
