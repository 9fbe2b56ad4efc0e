/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_idle.h"

#include <sluice/error.h>

#include <errno.h>
#include <malloc.h> /* mallinfo2: glibc's count of heap bytes in use, every arena */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * 32 handshakes at a time: enough to open 1,000 pairs in about a second, few enough that none
 * nears the 10 s handshake timeout or the listen backlog.
 */
enum { PING_SIZE = 32, IN_FLIGHT = 32 };

struct idle_run {
    struct tls_env *env;
    struct sl_socket_channel_options opts;
    struct sl_tls_connection_options client_tls;
    struct sl_tls_connection_options server_tls;
    struct tls_listener listener;
    size_t count;
    atomic_size_t started;
    atomic_size_t unclean_closes;
    size_t setups;               /* client loop only */
    struct sl_channel **clients; /* filled on the client loop; read after `ready` */
    struct tls_countdown ready;  /* pairs whose exchange is done */
    struct tls_countdown closed; /* channels (both ends) that have shut down */
};

struct idle_handler {
    struct sl_handler base;
    struct idle_run *run;
    bool server;
    size_t got;
};

static void start_one(struct idle_run *run)
{
    if (atomic_fetch_add(&run->started, 1) >= run->count) {
        return;
    }
    int rc = sl_client_bootstrap_new_socket_channel(run->env->client, &run->opts);
    if (rc) {
        tls_die("idle connect", rc);
    }
}

static void echo(struct sl_slot *slot, const struct sl_msg *in)
{
    struct sl_msg *out;
    int rc = sl_channel_acquire_msg(sl_slot_channel(slot), in->data.len, &out);
    rc = rc ? rc : sl_buf_append(&out->data, sl_buf_cursor(&in->data));
    rc = rc ? rc : sl_slot_send(slot, out, SL_DIR_WRITE);
    if (rc) {
        tls_die("echo", rc);
    }
}

static int idle_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct idle_handler *h = sl_container_of(handler, struct idle_handler, base);
    size_t len = msg->data.len;
    size_t before = h->got;
    h->got += len;
    if (h->server) {
        echo(slot, msg);
    }
    sl_channel_release_msg(sl_slot_channel(slot), msg);
    sl_slot_increment_read_window(slot, len);
    if (!h->server && before < PING_SIZE && h->got >= PING_SIZE) {
        tls_countdown_tick(&h->run->ready);
        start_one(h->run);
    }
    return 0;
}

static size_t idle_window(struct sl_handler *handler)
{
    (void)handler;
    return SL_MAX_FRAGMENT_SIZE; /* room for one full record, as a typical application */
}

static void idle_destroy(struct sl_handler *handler)
{
    free(sl_container_of(handler, struct idle_handler, base));
}

static const struct sl_handler_vtable s_idle_vtable = {
    .name = "bench-tls-idle",
    .on_read = idle_on_read,
    .on_write = tls_pass_write,
    .on_window_update = tls_ignore_window_update,
    .on_shutdown = tls_finish_shutdown,
    .initial_window = idle_window,
    .message_overhead = tls_no_overhead,
    .destroy = idle_destroy,
};

static struct idle_handler *add_idle_handler(struct sl_channel *channel, struct idle_run *run,
                                             bool server)
{
    struct idle_handler *h = calloc(1, sizeof(*h));
    if (!h) {
        tls_die("handler", SL_E_NOMEM);
    }
    h->base.vtable = &s_idle_vtable;
    h->run = run;
    h->server = server;
    tls_add_handler(channel, &h->base);
    return h;
}

static void on_client_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct idle_run *run = user_data;
    if (status) {
        tls_die("idle client handshake", status);
    }
    run->clients[run->setups++] = channel;
    struct idle_handler *h = add_idle_handler(channel, run, false);
    struct sl_msg *msg;
    int rc = sl_channel_acquire_msg(channel, PING_SIZE, &msg);
    if (rc) {
        tls_die("ping", rc);
    }
    memset(msg->data.data, 'p', PING_SIZE);
    msg->data.len = PING_SIZE;
    rc = sl_slot_send(h->base.slot, msg, SL_DIR_WRITE);
    if (rc) {
        tls_die("ping", rc);
    }
}

static void on_shutdown(struct idle_run *run, int status)
{
    if (!tls_is_clean_close(status)) {
        atomic_fetch_add(&run->unclean_closes, 1);
    }
    tls_countdown_tick(&run->closed);
}

static void on_client_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    on_shutdown(user_data, status);
}

static void on_server_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    on_shutdown(((struct tls_listener *)user_data)->user_data, status);
}

static void on_incoming(struct sl_listener *listener, int status, struct sl_channel *channel,
                        void *user_data)
{
    (void)listener;
    if (status) {
        tls_die("idle server handshake", status);
    }
    (void)add_idle_handler(channel, ((struct tls_listener *)user_data)->user_data, true);
}

/* Opening and closing ------------------------------------------------------------------------- */

static struct idle_run *open_pairs(struct tls_env *env, size_t count)
{
    struct idle_run *run = calloc(1, sizeof(*run));
    run->env = env;
    run->count = count;
    run->clients = calloc(count, sizeof(*run->clients));
    atomic_init(&run->started, 0);
    atomic_init(&run->unclean_closes, 0);
    tls_countdown_init(&run->ready, count);
    tls_countdown_init(&run->closed, 2 * count);
    /* Full handshakes: every pair holds its own session and peer certificate. */
    run->server_tls.ctx = tls_server_ctx(&env->certs.server, NULL);
    run->client_tls.ctx = tls_client_ctx(env, false, NULL);
    struct sl_listener_options lopts = {.tls_options = &run->server_tls,
                                        .on_incoming = on_incoming,
                                        .on_shutdown = on_server_shutdown};
    run->listener.user_data = run;
    tls_listener_open(env, &run->listener, &lopts);
    tls_connect_options(&run->listener, &run->client_tls, &run->opts);
    run->opts.on_setup = on_client_setup;
    run->opts.on_shutdown = on_client_shutdown;
    run->opts.user_data = run;
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        start_one(run);
    }
    tls_countdown_wait(&run->ready);
    return run;
}

static void close_pairs(struct idle_run *run)
{
    for (size_t i = 0; i < run->count; i++) {
        sl_channel_shutdown(run->clients[i], 0, false);
    }
    tls_countdown_wait(&run->closed);
    if (atomic_load(&run->unclean_closes)) {
        fprintf(stderr, "bench_tls: %zu of %zu idle channels did not end cleanly\n",
                atomic_load(&run->unclean_closes), 2 * run->count);
    }
    tls_listener_close(&run->listener);
    sl_tls_ctx_release(run->server_tls.ctx);
    sl_tls_ctx_release(run->client_tls.ctx);
    free(run->clients);
    free(run);
}

/* Measuring ----------------------------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    if (kib < 0) {
        tls_die("VmRSS in /proc/self/status", -ENOENT);
    }
    return (double)kib * 1024.0;
}

/*
 * Small chunks in the arenas plus chunks big enough to be mmapped on their own. Zero under a
 * sanitizer, whose allocator glibc does not see.
 */
static double heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return (double)(mi.uordblks + mi.hblkhd);
}

void tls_idle_pairs(struct tls_env *env, size_t count, struct tls_idle_result *out)
{
    /* Message pools, allocator arenas and OpenSSL's lazily built tables exist before we count. */
    close_pairs(open_pairs(env, 16));
    sleep_ms(100);
    double rss_before = rss_bytes();
    double heap_before = heap_bytes();
    struct idle_run *run = open_pairs(env, count);
    sleep_ms(200); /* let the last exchanges' tasks and writes finish */
    out->rss_per_pair = (rss_bytes() - rss_before) / (double)count;
    out->heap_per_pair = heap_before > 0 ? (heap_bytes() - heap_before) / (double)count : -1;
    close_pairs(run);
}
