/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_bulk.h"

#include <sluice/clock.h>
#include <sluice/error.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * 16 KiB writes, as the baseline's SSL_write calls: one full TLS record each (RFC 8446 §5.1).
 * 64 of them (1 MiB) may wait for the kernel before the sender waits for completions, as in
 * bench_channel.
 */
enum { WRITE_SIZE = 16384, MAX_IN_FLIGHT = 64 };
static uint8_t s_pattern[WRITE_SIZE];

struct bulk_run {
    const char *suite;
    uint64_t total;
    struct sl_slot *sender_slot; /* client loop only, like sent and in_flight */
    uint64_t sent;
    size_t in_flight;
    uint64_t received; /* server loop only */
    uint64_t end_ns;
    atomic_bool all_received;
    struct sl_channel *client_channel;
    struct sl_channel_task kick;
    struct tls_listener listener;
    struct tls_countdown ready;  /* both ends have their handler */
    struct tls_countdown closed; /* both channels have shut down */
    struct bench_done finished;  /* the sink has every byte */
};

struct bulk_handler {
    struct sl_handler base;
    struct bulk_run *run;
};

static struct bulk_run *run_of(struct sl_handler *handler)
{
    return sl_container_of(handler, struct bulk_handler, base)->run;
}

static void pump(struct bulk_run *run);

static void on_sent(struct sl_channel *channel, struct sl_msg *msg, int status, void *user_data)
{
    (void)channel;
    (void)msg;
    struct bulk_run *run = user_data;
    /* Once the sink has everything, closing may cancel completions still on their way. */
    if (status && !atomic_load(&run->all_received)) {
        tls_die("bulk write completion", status);
    }
    run->in_flight--;
    pump(run);
}

static void pump(struct bulk_run *run)
{
    struct sl_channel *channel = sl_slot_channel(run->sender_slot);
    while (run->sent < run->total && run->in_flight < MAX_IN_FLIGHT) {
        uint64_t left = run->total - run->sent;
        size_t n = left < WRITE_SIZE ? (size_t)left : WRITE_SIZE;
        struct sl_msg *msg;
        int rc = sl_channel_acquire_msg(channel, WRITE_SIZE, &msg);
        if (rc) {
            tls_die("acquire", rc);
        }
        memcpy(msg->data.data, s_pattern, n); /* the application producing its data */
        msg->data.len = n;
        msg->on_complete = on_sent;
        msg->user_data = run;
        run->in_flight++;
        run->sent += n;
        rc = sl_slot_send(run->sender_slot, msg, SL_DIR_WRITE);
        if (rc) {
            tls_die("bulk write", rc);
        }
    }
}

static void kick_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    if (status == SL_TASK_RUN) {
        pump(arg);
    }
}

static int ignore_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    sl_channel_release_msg(sl_slot_channel(slot), msg);
    return 0;
}

static int sink_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct bulk_run *run = run_of(handler);
    size_t len = msg->data.len;
    bool was_short = run->received < run->total;
    run->received += len;
    sl_channel_release_msg(sl_slot_channel(slot), msg);
    sl_slot_increment_read_window(slot, len);
    if (was_short && run->received >= run->total) {
        run->end_ns = sl_clock_now_ns();
        atomic_store(&run->all_received, true);
        bench_done_signal(&run->finished);
    }
    return 0;
}

static size_t bulk_window(struct sl_handler *handler)
{
    (void)handler;
    return (size_t)1 << 20; /* as bench_channel's sink */
}

static void bulk_destroy(struct sl_handler *handler)
{
    free(sl_container_of(handler, struct bulk_handler, base));
}

static const struct sl_handler_vtable s_sender_vtable = {
    .name = "bench-tls-sender",
    .on_read = ignore_read,
    .on_write = tls_pass_write,
    .on_window_update = tls_ignore_window_update,
    .on_shutdown = tls_finish_shutdown,
    .initial_window = bulk_window,
    .message_overhead = tls_no_overhead,
    .destroy = bulk_destroy,
};

static const struct sl_handler_vtable s_sink_vtable = {
    .name = "bench-tls-sink",
    .on_read = sink_on_read,
    .on_write = tls_pass_write,
    .on_window_update = tls_ignore_window_update,
    .on_shutdown = tls_finish_shutdown,
    .initial_window = bulk_window,
    .message_overhead = tls_no_overhead,
    .destroy = bulk_destroy,
};

static struct sl_handler *add_bulk_handler(struct sl_channel *channel, struct bulk_run *run,
                                           const struct sl_handler_vtable *vtable)
{
    struct bulk_handler *h = calloc(1, sizeof(*h));
    if (!h) {
        tls_die("handler", SL_E_NOMEM);
    }
    h->base.vtable = vtable;
    h->run = run;
    tls_add_handler(channel, &h->base);
    return &h->base;
}

/* Exits unless the handshake agreed on TLS 1.3 with the suite asked for. */
static void check_suite(struct sl_channel *channel, const struct bulk_run *run)
{
    const struct sl_tls_negotiation *n = tls_negotiation(channel);
    if (strcmp(n->version, "TLSv1.3") != 0 || strcmp(n->cipher, run->suite) != 0) {
        fprintf(stderr, "bench_tls: negotiated %s %s, wanted TLSv1.3 %s\n", n->version, n->cipher,
                run->suite);
        exit(1);
    }
}

static void on_client_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct bulk_run *run = user_data;
    if (status) {
        tls_die("bulk client handshake", status);
    }
    check_suite(channel, run);
    run->client_channel = channel;
    run->sender_slot = add_bulk_handler(channel, run, &s_sender_vtable)->slot;
    tls_countdown_tick(&run->ready);
}

static void on_incoming(struct sl_listener *listener, int status, struct sl_channel *channel,
                        void *user_data)
{
    (void)listener;
    struct bulk_run *run = ((struct tls_listener *)user_data)->user_data;
    if (status) {
        tls_die("bulk server handshake", status);
    }
    check_suite(channel, run);
    (void)add_bulk_handler(channel, run, &s_sink_vtable);
    tls_countdown_tick(&run->ready);
}

static void on_channel_shutdown(struct bulk_run *run, int status, const char *side)
{
    if (!tls_is_clean_close(status)) {
        fprintf(stderr, "bench_tls: bulk %s channel closed with %s\n", side, sl_strerror(status));
    }
    tls_countdown_tick(&run->closed);
}

static void on_client_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    on_channel_shutdown(user_data, status, "client");
}

static void on_server_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    on_channel_shutdown(((struct tls_listener *)user_data)->user_data, status, "server");
}

/* Opens the pair and waits until both handshakes are done and both handlers are in place. */
static void open_pair(struct tls_env *env, struct bulk_run *run,
                      struct sl_tls_connection_options *server_tls,
                      struct sl_tls_connection_options *client_tls)
{
    struct sl_listener_options lopts = {
        .tls_options = server_tls, .on_incoming = on_incoming, .on_shutdown = on_server_shutdown};
    run->listener.user_data = run;
    tls_listener_open(env, &run->listener, &lopts);
    struct sl_socket_channel_options copts;
    tls_connect_options(&run->listener, client_tls, &copts);
    copts.on_setup = on_client_setup;
    copts.on_shutdown = on_client_shutdown;
    copts.user_data = run;
    int rc = sl_client_bootstrap_new_socket_channel(env->client, &copts);
    if (rc) {
        tls_die("bulk connect", rc);
    }
    tls_countdown_wait(&run->ready);
}

double tls_bulk_bytes_per_s(struct tls_env *env, const char *suite, uint64_t total)
{
    memset(s_pattern, 'p', sizeof(s_pattern));
    struct bulk_run *run = calloc(1, sizeof(*run));
    run->suite = suite;
    run->total = total;
    atomic_init(&run->all_received, false);
    tls_countdown_init(&run->ready, 2);
    tls_countdown_init(&run->closed, 2);
    bench_done_init(&run->finished);
    struct sl_tls_connection_options server_tls = {.ctx =
                                                       tls_server_ctx(&env->certs.server, suite)};
    struct sl_tls_connection_options client_tls = {.ctx = tls_client_ctx(env, false, suite)};
    open_pair(env, run, &server_tls, &client_tls);

    uint64_t start_ns = sl_clock_now_ns();
    sl_channel_task_init(&run->kick, kick_fn, run, "bench_tls_pump");
    sl_channel_schedule_task_now(run->client_channel, &run->kick);
    bench_done_wait(&run->finished);
    double rate = (double)total / ((double)(run->end_ns - start_ns) / 1e9);

    sl_channel_shutdown(run->client_channel, 0, false);
    tls_countdown_wait(&run->closed);
    tls_listener_close(&run->listener);
    sl_tls_ctx_release(server_tls.ctx);
    sl_tls_ctx_release(client_tls.ctx);
    bench_done_clean_up(&run->finished);
    free(run);
    return rate;
}
