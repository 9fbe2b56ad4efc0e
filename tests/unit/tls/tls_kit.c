/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_kit.h"

#include "test_handler.h"

#include <sluice/error.h>

#include <check.h>
#include <stdio.h>
#include <string.h>

#define MAX_IN_FLIGHT ((uint64_t)1024 * 1024)

struct tls_certs g_certs;
struct sl_loop_group *g_group;
struct sl_client_bootstrap *g_client;
struct sl_server_bootstrap *g_server;
static struct sl_host_resolver *s_resolver;
static struct sl_test_latch s_group_gone;

static void group_gone(void *user_data)
{
    sl_test_latch_add(user_data, 1);
}

void kit_setup(void)
{
    sl_test_latch_init(&s_group_gone);
    struct sl_loop_group_options gopts = {.loop_count = 2,
                                          .name = "tls",
                                          .on_shutdown_complete = group_gone,
                                          .user_data = &s_group_gone};
    ck_assert_int_eq(sl_loop_group_new(&gopts, &g_group), 0);
    /* Only IP literals are used: the resolver never sends a query. */
    struct sl_host_resolver_options ropts = {.loop = sl_loop_group_get_loop(g_group, 0),
                                             .name_servers = "127.0.0.1:9"};
    ck_assert_int_eq(sl_host_resolver_new(&ropts, &s_resolver), 0);
    struct sl_client_bootstrap_options copts = {.group = g_group, .resolver = s_resolver};
    ck_assert_int_eq(sl_client_bootstrap_new(&copts, &g_client), 0);
    struct sl_server_bootstrap_options sopts = {.group = g_group};
    ck_assert_int_eq(sl_server_bootstrap_new(&sopts, &g_server), 0);
}

void kit_teardown(void)
{
    sl_client_bootstrap_release(g_client);
    sl_server_bootstrap_release(g_server);
    sl_host_resolver_release(s_resolver);
    sl_loop_group_release(g_group);
    ck_assert_msg(sl_test_latch_wait(&s_group_gone, 1, 20000), "loop group still referenced");
    sl_test_latch_clean_up(&s_group_gone);
}

struct sl_tls_ctx *kit_client_ctx(const char *alpn)
{
    struct sl_tls_ctx_options o = {.ca_file = g_certs.ca_cert, .alpn_list = alpn};
    struct sl_tls_ctx *ctx;
    ck_assert_int_eq(sl_tls_ctx_new_client(&o, &ctx), 0);
    return ctx;
}

struct sl_tls_ctx *kit_server_ctx(const char *alpn)
{
    struct sl_tls_ctx_options o = {
        .cert_file = g_certs.server.cert, .key_file = g_certs.server.key, .alpn_list = alpn};
    struct sl_tls_ctx *ctx;
    ck_assert_int_eq(sl_tls_ctx_new_server(&o, &ctx), 0);
    return ctx;
}

/* The stream handler ------------------------------------------------------------------------- */

static struct stream_end *end_of(struct sl_handler *handler)
{
    return sl_container_of(handler, struct stream_end, base);
}

static uint32_t next_random(uint32_t *state)
{
    *state ^= *state << 13; /* xorshift32: reproducible sizes from the seed */
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

static void send_more(struct stream_end *end);

static void on_written(struct sl_channel *channel, struct sl_msg *msg, int status, void *user_data)
{
    (void)channel;
    struct stream_end *end = user_data;
    end->in_flight -= msg->data.len;
    atomic_fetch_add(&end->completed_bytes, msg->data.len);
    if (status < 0) {
        atomic_fetch_add(&end->completion_errors, 1);
    }
    atomic_fetch_add(&end->completions, 1);
    sl_test_latch_add(&end->latch, 1);
    if (status == 0) {
        send_more(end);
    }
}

static void after_last_write(struct stream_end *end)
{
    if (end->opts.end_after_send) {
        struct sl_msg *msg;
        ck_assert_int_eq(sl_channel_acquire_msg(end->channel, 0, &msg), 0);
        msg->flags = SL_MSG_END_OF_STREAM;
        ck_assert_int_eq(sl_slot_send(end->base.slot, msg, SL_DIR_WRITE), 0);
    }
    if (end->opts.close_after_send) {
        sl_channel_shutdown(end->channel, 0, false);
    }
}

static void send_more(struct stream_end *end)
{
    if (sl_channel_is_shutting_down(end->channel)) {
        return;
    }
    while (end->sent < end->opts.send_bytes && end->in_flight < MAX_IN_FLIGHT) {
        size_t size = end->opts.write_size ? end->opts.write_size
                                           : 1 + next_random(&end->rng) % SL_MSG_MAX_SIZE;
        if (size > end->opts.send_bytes - end->sent) {
            size = (size_t)(end->opts.send_bytes - end->sent);
        }
        struct sl_msg *msg;
        ck_assert_int_eq(sl_channel_acquire_msg(end->channel, size, &msg), 0);
        for (size_t i = 0; i < size; i++) {
            msg->data.data[i] = test_pattern((size_t)(end->sent + i));
        }
        msg->data.len = size;
        EVP_DigestUpdate(end->sent_hash, msg->data.data, size);
        msg->on_complete = on_written;
        msg->user_data = end;
        end->sent += size;
        end->in_flight += size;
        ck_assert_int_eq(sl_slot_send(end->base.slot, msg, SL_DIR_WRITE), 0);
    }
    if (!end->finished_sending && end->opts.send_bytes > 0 && end->sent == end->opts.send_bytes &&
        end->in_flight == 0) {
        end->finished_sending = true;
        after_last_write(end);
    }
}

static void reopen_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct stream_end *end = arg;
    end->reopen_pending = false;
    if (status == SL_TASK_RUN) {
        size_t n = end->to_reopen;
        end->to_reopen = 0;
        sl_slot_increment_read_window(end->base.slot, n);
    }
}

static void echo(struct stream_end *end, struct sl_msg *in)
{
    struct sl_msg *out;
    ck_assert_int_eq(sl_channel_acquire_msg(end->channel, in->data.len, &out), 0);
    memcpy(out->data.data, in->data.data, in->data.len);
    out->data.len = in->data.len;
    ck_assert_int_eq(sl_slot_send(end->base.slot, out, SL_DIR_WRITE), 0);
}

static int stream_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct stream_end *end = end_of(handler);
    size_t len = msg->data.len;
    if (len) {
        EVP_DigestUpdate(end->recv_hash, msg->data.data, len);
        if (end->opts.echo) {
            echo(end, msg);
        }
    }
    bool end_of_stream = (msg->flags & SL_MSG_END_OF_STREAM) != 0;
    sl_channel_release_msg(end->channel, msg);
    if (end_of_stream) {
        /* The peer is done sending: finish our side too (writes queued so far still go). */
        atomic_store(&end->end_of_stream, true);
        sl_channel_shutdown(end->channel, 0, false);
    }
    if (len && end->opts.reopen_later) {
        end->to_reopen += len;
        if (!end->reopen_pending) {
            end->reopen_pending = true;
            sl_channel_task_init(&end->reopen_task, reopen_fn, end, "test_reopen");
            sl_channel_schedule_task_now(end->channel, &end->reopen_task);
        }
    } else if (len) {
        sl_slot_increment_read_window(slot, len);
    }
    atomic_fetch_add(&end->received, len); /* last: a waiting test sees the hash complete */
    sl_test_latch_add(&end->latch, 1);
    return 0;
}

static int stream_on_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    return sl_slot_send(slot, msg, SL_DIR_WRITE);
}

static int stream_on_window_update(struct sl_handler *handler, struct sl_slot *slot, size_t bytes)
{
    (void)handler;
    (void)slot;
    (void)bytes;
    return 0;
}

static int stream_on_shutdown(struct sl_handler *handler, struct sl_slot *slot,
                              enum sl_direction dir, int status, bool abort_immediately)
{
    (void)handler;
    sl_slot_on_shutdown_complete(slot, dir, status, abort_immediately);
    return 0;
}

static size_t stream_initial_window(struct sl_handler *handler)
{
    struct stream_end *end = end_of(handler);
    return end->opts.window ? end->opts.window : 1024 * 1024;
}

static size_t stream_message_overhead(struct sl_handler *handler)
{
    (void)handler;
    return 0;
}

static void stream_destroy(struct sl_handler *handler)
{
    struct stream_end *end = end_of(handler); /* the test owns it: just say it is let go */
    sl_test_latch_add(&end->latch, 1);
    atomic_store(&end->destroyed, true); /* last: the test may free the latch once it sees it */
}

static bool stream_end_is_destroyed(struct stream_end *end)
{
    return atomic_load(&end->destroyed);
}

static const struct sl_handler_vtable s_stream_vtable = {
    .name = "stream",
    .on_read = stream_on_read,
    .on_write = stream_on_write,
    .on_window_update = stream_on_window_update,
    .on_shutdown = stream_on_shutdown,
    .initial_window = stream_initial_window,
    .message_overhead = stream_message_overhead,
    .destroy = stream_destroy,
};

void stream_end_init(struct stream_end *end, const struct stream_options *opts)
{
    memset(end, 0, sizeof(*end));
    end->opts = *opts;
    end->rng = opts->seed ? opts->seed : 2463534242u;
    end->base.vtable = &s_stream_vtable;
    end->sent_hash = EVP_MD_CTX_new();
    end->recv_hash = EVP_MD_CTX_new();
    ck_assert(end->sent_hash && end->recv_hash);
    ck_assert(EVP_DigestInit_ex(end->sent_hash, EVP_sha256(), NULL));
    ck_assert(EVP_DigestInit_ex(end->recv_hash, EVP_sha256(), NULL));
    sl_test_latch_init(&end->latch);
}

void stream_end_clean_up(struct stream_end *end)
{
    /* The channel destroys its handlers after its shutdown callback: wait for ours. */
    if (end->channel) {
        ck_assert_msg(stream_end_wait(end, stream_end_is_destroyed, 20000),
                      "stream end still in a channel");
    }
    EVP_MD_CTX_free(end->sent_hash);
    EVP_MD_CTX_free(end->recv_hash);
    sl_test_latch_clean_up(&end->latch);
}

void stream_end_digest(EVP_MD_CTX *ctx, unsigned char out[32])
{
    EVP_MD_CTX *copy = EVP_MD_CTX_new();
    ck_assert(copy && EVP_MD_CTX_copy_ex(copy, ctx));
    unsigned int len = 0;
    ck_assert(EVP_DigestFinal_ex(copy, out, &len));
    EVP_MD_CTX_free(copy);
}

static void note_negotiation(struct stream_end *end, struct sl_channel *channel)
{
    struct sl_handler *tls = sl_tls_channel_handler(channel);
    if (!tls) {
        return;
    }
    const struct sl_tls_negotiation *n = sl_tls_handler_negotiation(tls);
    ck_assert_int_eq(n->error, 0);
    snprintf(end->alpn, sizeof(end->alpn), "%s", n->alpn);
    snprintf(end->version, sizeof(end->version), "%s", n->version);
    end->resumed = n->session_resumed;
}

void stream_end_attach(struct stream_end *end, struct sl_channel *channel)
{
    end->channel = channel;
    note_negotiation(end, channel);
    struct sl_slot *slot;
    ck_assert_int_eq(sl_slot_new(channel, &slot), 0);
    ck_assert_int_eq(sl_slot_insert_end(channel, slot), 0);
    ck_assert_int_eq(sl_slot_set_handler(slot, &end->base), 0);
    send_more(end);
}

bool stream_end_wait(struct stream_end *end, bool (*cond)(struct stream_end *), int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (cond(end)) {
            return true;
        }
        sl_test_latch_wait(&end->latch, sl_test_latch_get(&end->latch) + 1, 20);
    }
    return cond(end);
}

bool stream_end_is_set_up(struct stream_end *end)
{
    return atomic_load(&end->setups) > 0;
}

bool stream_end_is_shut_down(struct stream_end *end)
{
    return atomic_load(&end->shutdowns) > 0;
}

/* Server and client ---------------------------------------------------------------------- */

static void on_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    struct stream_end *end = user_data;
    end->shutdown_status = status;
    sl_test_latch_add(&end->latch, 1);
    atomic_fetch_add(&end->shutdowns, 1); /* last: the flag a test polls before cleaning up */
}

static void on_incoming(struct sl_listener *listener, int status, struct sl_channel *channel,
                        void *user_data)
{
    (void)listener;
    struct kit_server *srv = user_data;
    if (status < 0) {
        atomic_store(&srv->last_error, status);
        atomic_fetch_add(&srv->incoming_errors, 1);
        sl_test_latch_add(&srv->events, 1);
        return;
    }
    size_t i = atomic_fetch_add(&srv->next, 1);
    ck_assert_uint_lt(i, srv->count);
    struct stream_end *end = &srv->ends[i];
    sl_test_latch_add(&srv->events, 1);
    stream_end_attach(end, channel);
    sl_test_latch_add(&end->latch, 1);
    atomic_fetch_add(&end->setups, 1);
}

static void on_server_channel_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    struct kit_server *srv = user_data;
    sl_test_latch_add(&srv->events, 1); /* first: once the end hears, the test may stop srv */
    for (size_t i = 0; i < srv->count; i++) {
        if (srv->ends[i].channel == channel) {
            on_shutdown(channel, status, &srv->ends[i]);
        }
    }
}

static void on_listener_destroyed(struct sl_listener *listener, void *user_data)
{
    (void)listener;
    sl_test_latch_add(&((struct kit_server *)user_data)->destroyed, 1);
}

void kit_server_start(struct kit_server *srv, const struct sl_tls_connection_options *tls,
                      struct stream_end *ends, size_t count)
{
    memset(srv, 0, sizeof(*srv));
    srv->ends = ends;
    srv->count = count;
    sl_test_latch_init(&srv->events);
    sl_test_latch_init(&srv->destroyed);
    struct sl_listener_options o = {
        .endpoint = {.address = "127.0.0.1"},
        .socket_options = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4},
        .handler_options = {.allow_half_close = true},
        .tls_options = tls,
        .on_incoming = on_incoming,
        .on_shutdown = on_server_channel_shutdown,
        .on_destroy = on_listener_destroyed,
        .user_data = srv};
    ck_assert_int_eq(sl_server_bootstrap_new_listener(g_server, &o, &srv->listener), 0);
    struct sl_socket_endpoint bound;
    ck_assert_int_eq(sl_listener_get_bound_address(srv->listener, &bound), 0);
    srv->port = bound.port;
}

void kit_server_stop(struct kit_server *srv)
{
    sl_listener_destroy(srv->listener);
    ck_assert(sl_test_latch_wait(&srv->destroyed, 1, 10000));
    sl_test_latch_clean_up(&srv->events);
    sl_test_latch_clean_up(&srv->destroyed);
}

static void on_client_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct stream_end *end = user_data;
    end->setup_status = status;
    if (status == 0) {
        stream_end_attach(end, channel);
    }
    sl_test_latch_add(&end->latch, 1);
    atomic_fetch_add(&end->setups, 1); /* last: the flag a test polls before cleaning up */
}

void kit_connect_async(struct stream_end *end, uint32_t port,
                       const struct sl_tls_connection_options *tls)
{
    struct sl_socket_channel_options o = {
        .host = "127.0.0.1",
        .port = port,
        .socket_options = {.type = SL_SOCKET_STREAM, .connect_timeout_ms = 10000},
        .handler_options = {.allow_half_close = true},
        .tls_options = tls,
        .on_setup = on_client_setup,
        .on_shutdown = on_shutdown,
        .user_data = end};
    ck_assert_int_eq(sl_client_bootstrap_new_socket_channel(g_client, &o), 0);
}

int kit_connect(struct stream_end *end, uint32_t port, const struct sl_tls_connection_options *tls)
{
    kit_connect_async(end, port, tls);
    ck_assert(stream_end_wait(end, stream_end_is_set_up, 20000));
    return end->setup_status;
}

void kit_close(struct stream_end *end)
{
    sl_channel_shutdown(end->channel, 0, false);
    ck_assert(stream_end_wait(end, stream_end_is_shut_down, 20000));
}
