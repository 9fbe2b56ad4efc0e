/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_handshakes.h"

#include <sluice/clock.h>
#include <sluice/error.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What s_time sends per connection with `-www /` (apps/s_time.c, fmt_http_get_cmd). */
static const char s_request[] = "GET / HTTP/1.0\r\n\r\n";
static const char s_reply_head[] = "HTTP/1.0 200 ok\r\nContent-type: text/html\r\n\r\n";

struct hs_run {
    struct tls_env *env;
    struct sl_socket_channel_options opts;
    struct sl_tls_connection_options client_tls;
    struct sl_tls_connection_options server_tls;
    struct tls_listener listener;
    uint8_t response[SL_MAX_FRAGMENT_SIZE]; /* read-only once the run starts */
    size_t response_len;
    uint64_t deadline_ns;
    uint64_t end_ns;
    /* Client loop only; the main thread reads them after `finished`. */
    size_t count;
    size_t resumed;
    size_t short_replies;
    size_t unclean_closes;
    struct bench_done finished;
};

/* One handler type for both ends; `server` picks the behaviour. */
struct hs_handler {
    struct sl_handler base;
    struct hs_run *run;
    bool server;
    bool replied;
    size_t matched; /* server: bytes of "\r\n\r\n" seen in a row */
    size_t got;     /* client: reply bytes */
};

static struct hs_handler *hs_of(struct sl_handler *handler)
{
    return sl_container_of(handler, struct hs_handler, base);
}

static void reply(struct hs_handler *h, struct sl_slot *slot)
{
    struct sl_channel *channel = sl_slot_channel(slot);
    struct sl_msg *msg;
    int rc = sl_channel_acquire_msg(channel, h->run->response_len, &msg);
    rc =
        rc ? rc : sl_buf_append(&msg->data, sl_cursor_from(h->run->response, h->run->response_len));
    rc = rc ? rc : sl_slot_send(slot, msg, SL_DIR_WRITE);
    if (rc) {
        tls_die("reply", rc);
    }
    h->replied = true;
    /* Like s_server -www: close after the page (close_notify, then FIN). */
    sl_channel_shutdown(channel, 0, false);
}

/* Finds the end of the request header, which may in principle arrive split over messages. */
static bool request_ends_in(struct hs_handler *h, const struct sl_msg *msg)
{
    static const char end[] = "\r\n\r\n";
    for (size_t i = 0; i < msg->data.len && h->matched < 4; i++) {
        char c = (char)msg->data.data[i];
        h->matched = c == end[h->matched] ? h->matched + 1 : (c == '\r' ? 1 : 0);
    }
    return h->matched == 4;
}

static int hs_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct hs_handler *h = hs_of(handler);
    size_t len = msg->data.len;
    if (h->server && !h->replied && request_ends_in(h, msg)) {
        reply(h, slot);
    }
    h->got += len;
    sl_channel_release_msg(sl_slot_channel(slot), msg);
    sl_slot_increment_read_window(slot, len);
    return 0;
}

static int hs_on_shutdown(struct sl_handler *handler, struct sl_slot *slot, enum sl_direction dir,
                          int status, bool abort_immediately)
{
    struct hs_handler *h = hs_of(handler);
    /* The read side is done: whatever reply the client will see has arrived. */
    if (!h->server && dir == SL_DIR_READ && h->got != h->run->response_len) {
        h->run->short_replies++;
    }
    sl_slot_on_shutdown_complete(slot, dir, status, abort_immediately);
    return 0;
}

static size_t hs_window(struct sl_handler *handler)
{
    (void)handler;
    return (size_t)64 << 10;
}

static void hs_destroy(struct sl_handler *handler)
{
    free(hs_of(handler));
}

static const struct sl_handler_vtable s_hs_vtable = {
    .name = "bench-tls-http",
    .on_read = hs_on_read,
    .on_write = tls_pass_write,
    .on_window_update = tls_ignore_window_update,
    .on_shutdown = hs_on_shutdown,
    .initial_window = hs_window,
    .message_overhead = tls_no_overhead,
    .destroy = hs_destroy,
};

static struct hs_handler *add_hs_handler(struct sl_channel *channel, struct hs_run *run,
                                         bool server)
{
    struct hs_handler *h = calloc(1, sizeof(*h));
    if (!h) {
        tls_die("handler", SL_E_NOMEM);
    }
    h->base.vtable = &s_hs_vtable;
    h->run = run;
    h->server = server;
    tls_add_handler(channel, &h->base);
    return h;
}

/* Connections --------------------------------------------------------------------------------- */

static void connect_next(struct hs_run *run)
{
    int rc = sl_client_bootstrap_new_socket_channel(run->env->client, &run->opts);
    if (rc) {
        tls_die("connect", rc);
    }
}

static void on_client_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct hs_run *run = user_data;
    if (status) {
        tls_die("client handshake", status);
    }
    const struct sl_tls_negotiation *n = tls_negotiation(channel);
    if (strcmp(n->version, "TLSv1.3") != 0) {
        fprintf(stderr, "bench_tls: negotiated %s, expected the default TLSv1.3\n", n->version);
        exit(1);
    }
    run->resumed += n->session_resumed;
    struct hs_handler *h = add_hs_handler(channel, run, false);
    struct sl_msg *msg;
    int rc = sl_channel_acquire_msg(channel, sizeof(s_request) - 1, &msg);
    rc = rc ? rc : sl_buf_append(&msg->data, sl_cursor_from(s_request, sizeof(s_request) - 1));
    rc = rc ? rc : sl_slot_send(h->base.slot, msg, SL_DIR_WRITE);
    if (rc) {
        tls_die("request", rc);
    }
}

static void on_client_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    struct hs_run *run = user_data;
    run->unclean_closes += !tls_is_clean_close(status);
    run->count++;
    uint64_t now = sl_clock_now_ns();
    if (now < run->deadline_ns) {
        connect_next(run);
    } else {
        run->end_ns = now;
        bench_done_signal(&run->finished);
    }
}

static void on_incoming(struct sl_listener *listener, int status, struct sl_channel *channel,
                        void *user_data)
{
    (void)listener;
    struct hs_run *run = ((struct tls_listener *)user_data)->user_data;
    if (status) {
        tls_die("server handshake", status);
    }
    (void)add_hs_handler(channel, run, true);
}

/* The reply: an HTTP head padded to response_len, as long as s_server's status page. */
static void build_response(struct hs_run *run, size_t len)
{
    size_t head = sizeof(s_reply_head) - 1;
    len = len < head ? head : len;
    len = len > sizeof(run->response) ? sizeof(run->response) : len;
    memset(run->response, 'x', len);
    memcpy(run->response, s_reply_head, head);
    run->response_len = len;
}

static void report_trouble(const struct hs_run *run)
{
    if (run->short_replies || run->unclean_closes) {
        fprintf(stderr,
                "bench_tls: of %zu connections, %zu got a short reply and %zu did not end "
                "cleanly\n",
                run->count, run->short_replies, run->unclean_closes);
    }
}

void tls_handshakes(struct tls_env *env, const struct tls_handshake_options *opts,
                    struct tls_handshake_result *out)
{
    struct hs_run *run = calloc(1, sizeof(*run));
    run->env = env;
    build_response(run, opts->response_len);
    bench_done_init(&run->finished);
    run->server_tls.ctx = tls_server_ctx(opts->cert, NULL);
    run->client_tls.ctx = tls_client_ctx(env, opts->resume, NULL);
    struct sl_listener_options lopts = {.tls_options = &run->server_tls,
                                        .on_incoming = on_incoming};
    run->listener.user_data = run;
    tls_listener_open(env, &run->listener, &lopts);
    tls_connect_options(&run->listener, &run->client_tls, &run->opts);
    run->opts.on_setup = on_client_setup;
    run->opts.on_shutdown = on_client_shutdown;
    run->opts.user_data = run;

    uint64_t start_ns = sl_clock_now_ns();
    run->deadline_ns = start_ns + (uint64_t)(opts->seconds * 1e9);
    connect_next(run);
    bench_done_wait(&run->finished);
    *out = (struct tls_handshake_result){
        .per_s = (double)run->count * 1e9 / (double)(run->end_ns - start_ns),
        .count = run->count,
        .resumed = run->resumed,
    };
    report_trouble(run);

    tls_listener_close(&run->listener);
    sl_tls_ctx_release(run->server_tls.ctx);
    sl_tls_ctx_release(run->client_tls.ctx);
    bench_done_clean_up(&run->finished);
    free(run);
}
