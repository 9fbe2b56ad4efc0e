/* SPDX-License-Identifier: Apache-2.0 */

/*
 * bench_channel: what the channel machinery costs over raw sockets.
 *
 *   bulk_bytes_per_s, bulk_cpu_s_per_gib  2 GiB over loopback TCP in 16 KiB messages:
 *       [sender][socket] => [socket][sink], the sink re-opening its window as it consumes.
 *   pingpong_rtt_p50_us / p99_us            64-byte round trips through two channels.
 *   idle_channel_pair_bytes                 resident memory per idle connected pair.
 *
 * Baselines run in the same process run: raw_baseline.c, plain epoll and non-blocking sockets
 * doing the same work with the same CPU placement (server side on the first allowed CPU,
 * client side on the second). Medians over --runs.
 */

#include "bench_util.h"
#include "channel_pairs.h"
#include "raw_baseline.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/event_loop.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int s_server_cpu, s_client_cpu;
static struct sl_loop *s_server_loop, *s_client_loop;

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_channel: %s: %s\n", what, sl_strerror(rc));
    exit(1);
}

/* A handler that only lives in this benchmark: one struct, a vtable per role. */
struct bench_handler {
    struct sl_handler base;
    uint64_t total;    /* bulk: bytes to move */
    uint64_t sent;     /* sender: bytes handed to the socket */
    size_t in_flight;  /* sender: messages not yet completed */
    uint64_t received; /* sink / pinger */
    uint64_t end_ns;
    size_t rounds; /* pinger */
    size_t done;
    uint64_t ping_sent_ns;
    double *samples_us;
    atomic_bool finished;
    struct bench_done done_signal; /* the main thread sleeps on it until the run ends */
};

static struct bench_handler *from_base(struct sl_handler *handler)
{
    return sl_container_of(handler, struct bench_handler, base);
}

static int bh_on_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    return sl_slot_send(slot, msg, SL_DIR_WRITE);
}

static int bh_on_window_update(struct sl_handler *handler, struct sl_slot *slot, size_t bytes)
{
    (void)handler;
    (void)slot;
    (void)bytes;
    return 0;
}

static int bh_on_shutdown(struct sl_handler *handler, struct sl_slot *slot, enum sl_direction dir,
                          int status, bool abort_immediately)
{
    (void)handler;
    sl_slot_on_shutdown_complete(slot, dir, status, abort_immediately);
    return 0;
}

static size_t bh_initial_window(struct sl_handler *handler)
{
    (void)handler;
    return (size_t)1 << 20;
}

static size_t bh_message_overhead(struct sl_handler *handler)
{
    (void)handler;
    return 0;
}

static void bh_destroy(struct sl_handler *handler)
{
    struct bench_handler *h = from_base(handler);
    bench_done_clean_up(&h->done_signal);
    free(h);
}

static void finish(struct bench_handler *h)
{
    atomic_store(&h->finished, true);
    bench_done_signal(&h->done_signal);
}

/* Sender and sink ---------------------------------------------------------------------------- */

enum { MAX_IN_FLIGHT = 64 }; /* 1 MiB of writes waiting for the kernel, then wait */
static uint8_t s_pattern[16384];

static void pump(struct bench_handler *h);

static void on_sent(struct sl_channel *channel, struct sl_msg *msg, int status, void *user_data)
{
    (void)channel;
    (void)msg;
    if (status) {
        die("bulk write", status);
    }
    struct bench_handler *h = user_data;
    h->in_flight--;
    pump(h);
}

static void pump(struct bench_handler *h)
{
    while (h->sent < h->total && h->in_flight < MAX_IN_FLIGHT) {
        struct sl_msg *msg;
        int rc = sl_slot_acquire_max_message_for_write(h->base.slot, &msg);
        if (rc) {
            die("acquire", rc);
        }
        size_t n = h->total - h->sent < sizeof(s_pattern) ? h->total - h->sent : sizeof(s_pattern);
        memcpy(msg->data.data, s_pattern, n); /* the application producing its data */
        msg->data.len = n;
        msg->on_complete = on_sent;
        msg->user_data = h;
        h->in_flight++;
        h->sent += n;
        rc = sl_slot_send(h->base.slot, msg, SL_DIR_WRITE);
        if (rc) {
            die("send", rc);
        }
    }
}

static int sink_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct bench_handler *h = from_base(handler);
    size_t len = msg->data.len;
    h->received += len;
    sl_channel_release_msg(sl_slot_channel(slot), msg);
    sl_slot_increment_read_window(slot, len);
    if (h->received >= h->total && !atomic_load(&h->finished)) {
        h->end_ns = sl_clock_now_ns();
        finish(h);
    }
    return 0;
}

static int ignore_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    sl_channel_release_msg(sl_slot_channel(slot), msg);
    return 0;
}

static const struct sl_handler_vtable s_sender_vtable = {.name = "bench-sender",
                                                         .on_read = ignore_read,
                                                         .on_write = bh_on_write,
                                                         .on_window_update = bh_on_window_update,
                                                         .on_shutdown = bh_on_shutdown,
                                                         .initial_window = bh_initial_window,
                                                         .message_overhead = bh_message_overhead,
                                                         .destroy = bh_destroy};
static const struct sl_handler_vtable s_sink_vtable = {.name = "bench-sink",
                                                       .on_read = sink_on_read,
                                                       .on_write = bh_on_write,
                                                       .on_window_update = bh_on_window_update,
                                                       .on_shutdown = bh_on_shutdown,
                                                       .initial_window = bh_initial_window,
                                                       .message_overhead = bh_message_overhead,
                                                       .destroy = bh_destroy};

/* Ping-pong ---------------------------------------------------------------------------------- */

enum { PING_SIZE = 64 };

static void send_ping(struct bench_handler *h)
{
    struct sl_msg *msg;
    int rc = sl_channel_acquire_msg(sl_slot_channel(h->base.slot), PING_SIZE, &msg);
    if (rc) {
        die("acquire", rc);
    }
    memset(msg->data.data, 'p', PING_SIZE);
    msg->data.len = PING_SIZE;
    h->ping_sent_ns = sl_clock_now_ns();
    rc = sl_slot_send(h->base.slot, msg, SL_DIR_WRITE);
    if (rc) {
        die("ping", rc);
    }
}

static int pinger_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct bench_handler *h = from_base(handler);
    size_t len = msg->data.len;
    h->received += len;
    sl_channel_release_msg(sl_slot_channel(slot), msg);
    sl_slot_increment_read_window(slot, len);
    while (h->received >= PING_SIZE && h->done < h->rounds) {
        h->received -= PING_SIZE;
        h->samples_us[h->done++] = (double)(sl_clock_now_ns() - h->ping_sent_ns) / 1e3;
        if (h->done == h->rounds) {
            finish(h);
            return 0;
        }
        send_ping(h);
    }
    return 0;
}

static int echo_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    struct sl_channel *channel = sl_slot_channel(slot);
    size_t len = msg->data.len;
    struct sl_msg *out;
    int rc = sl_channel_acquire_msg(channel, len, &out);
    if (rc == 0) {
        memcpy(out->data.data, msg->data.data, len);
        out->data.len = len;
        rc = sl_slot_send(slot, out, SL_DIR_WRITE);
    }
    if (rc) {
        die("echo", rc);
    }
    sl_channel_release_msg(channel, msg);
    sl_slot_increment_read_window(slot, len);
    return 0;
}

static const struct sl_handler_vtable s_pinger_vtable = {.name = "bench-pinger",
                                                         .on_read = pinger_on_read,
                                                         .on_write = bh_on_write,
                                                         .on_window_update = bh_on_window_update,
                                                         .on_shutdown = bh_on_shutdown,
                                                         .initial_window = bh_initial_window,
                                                         .message_overhead = bh_message_overhead,
                                                         .destroy = bh_destroy};
static const struct sl_handler_vtable s_echo_vtable = {.name = "bench-echo",
                                                       .on_read = echo_on_read,
                                                       .on_write = bh_on_write,
                                                       .on_window_update = bh_on_window_update,
                                                       .on_shutdown = bh_on_shutdown,
                                                       .initial_window = bh_initial_window,
                                                       .message_overhead = bh_message_overhead,
                                                       .destroy = bh_destroy};
static const struct sl_handler_vtable s_idle_vtable = {.name = "bench-idle",
                                                       .on_read = ignore_read,
                                                       .on_write = bh_on_write,
                                                       .on_window_update = bh_on_window_update,
                                                       .on_shutdown = bh_on_shutdown,
                                                       .initial_window = bh_initial_window,
                                                       .message_overhead = bh_message_overhead,
                                                       .destroy = bh_destroy};

/* Driving the pairs --------------------------------------------------------------------------- */

struct roles {
    const struct sl_handler_vtable *client_vtable;
    const struct sl_handler_vtable *server_vtable;
    struct bench_handler *client;
    struct bench_handler *server;
    uint64_t total;
    size_t rounds;
    double *samples_us;
};

static struct sl_handler *make_handler(void *ctx, bool server)
{
    struct roles *roles = ctx;
    struct bench_handler *h = calloc(1, sizeof(*h));
    h->base.vtable = server ? roles->server_vtable : roles->client_vtable;
    h->total = roles->total;
    h->rounds = roles->rounds;
    h->samples_us = roles->samples_us;
    atomic_init(&h->finished, false);
    bench_done_init(&h->done_signal);
    if (server) {
        roles->server = h;
    } else {
        roles->client = h;
    }
    return &h->base;
}

struct kick {
    struct sl_task task;
    void (*fn)(struct bench_handler *h);
    struct bench_handler *h;
};

static void kick_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct kick *k = arg;
    if (status == SL_TASK_RUN) {
        k->fn(k->h);
    }
}

static void wait_finished(struct bench_handler *h)
{
    bench_done_wait(&h->done_signal);
}

static double measure_bulk(uint64_t total, double *cpu_s)
{
    struct roles roles = {
        .client_vtable = &s_sender_vtable, .server_vtable = &s_sink_vtable, .total = total};
    struct pair_set set = {.client_loop = s_client_loop,
                           .server_loop = s_server_loop,
                           .make_handler = make_handler,
                           .ctx = &roles};
    pairs_open(&set, 1);
    double cpu_before = process_cpu_seconds();
    uint64_t start = sl_clock_now_ns();
    struct kick k = {.fn = pump, .h = roles.client};
    sl_task_init(&k.task, kick_fn, &k, "bench_pump");
    sl_loop_schedule_now(s_client_loop, &k.task);
    wait_finished(roles.server);
    *cpu_s = process_cpu_seconds() - cpu_before;
    double rate = (double)total / ((double)(roles.server->end_ns - start) / 1e9);
    pairs_close(&set);
    return rate;
}

static void measure_pingpong(size_t rounds, double *samples_us)
{
    struct roles roles = {.client_vtable = &s_pinger_vtable,
                          .server_vtable = &s_echo_vtable,
                          .rounds = rounds,
                          .samples_us = samples_us};
    struct pair_set set = {.client_loop = s_client_loop,
                           .server_loop = s_server_loop,
                           .make_handler = make_handler,
                           .ctx = &roles};
    pairs_open(&set, 1);
    struct kick k = {.fn = send_ping, .h = roles.client};
    sl_task_init(&k.task, kick_fn, &k, "bench_ping");
    sl_loop_schedule_now(s_client_loop, &k.task);
    wait_finished(roles.client);
    pairs_close(&set);
}

static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f || fscanf(f, "%ld %ld", &size, &resident) != 2) {
        die("statm", -errno);
    }
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static double measure_idle_pairs(size_t count)
{
    struct roles roles = {.client_vtable = &s_idle_vtable, .server_vtable = &s_idle_vtable};
    struct pair_set warm = {.client_loop = s_client_loop,
                            .server_loop = s_server_loop,
                            .make_handler = make_handler,
                            .ctx = &roles};
    pairs_open(&warm, 16); /* message pools and allocator arenas exist before we count */
    pairs_close(&warm);
    sleep_ms(100);
    double before = resident_bytes();
    struct pair_set set = {.client_loop = s_client_loop,
                           .server_loop = s_server_loop,
                           .make_handler = make_handler,
                           .ctx = &roles};
    pairs_open(&set, count);
    sleep_ms(200);
    double after = resident_bytes();
    pairs_close(&set);
    return (after - before) / (double)count;
}

static struct sl_loop *start_loop(const char *name, int cpu)
{
    struct sl_loop_options opts = {.name = name, .cpu = cpu};
    struct sl_loop *loop;
    int rc = sl_loop_new(&opts, &loop);
    rc = rc ? rc : sl_loop_run(loop);
    if (rc) {
        die("loop", rc);
    }
    return loop;
}

int main(int argc, char **argv)
{
    struct bench_args args;
    bench_parse_args(argc, argv, "channel", &args);
    bench_pick_cpus(&s_server_cpu, &s_client_cpu);
    memset(s_pattern, 'p', sizeof(s_pattern));
    s_server_loop = start_loop("bench-server", s_server_cpu);
    s_client_loop = start_loop("bench-client", s_client_cpu);

    uint64_t bulk_total = args.quick ? (64u << 20) : (2ull << 30);
    size_t rounds = args.quick ? 2000 : 100000;
    size_t idle_pairs = args.quick ? 200 : 5000;
    size_t runs = (size_t)args.runs;
    double *bulk = calloc(runs, sizeof(double)), *bulk_base = calloc(runs, sizeof(double));
    double *cpu = calloc(runs, sizeof(double)), *cpu_base = calloc(runs, sizeof(double));
    double *p50 = calloc(runs, sizeof(double)), *p50_base = calloc(runs, sizeof(double));
    double *p99 = calloc(runs, sizeof(double)), *p99_base = calloc(runs, sizeof(double));
    double *samples = calloc(rounds, sizeof(double));
    double gib = (double)bulk_total / (double)(1u << 30);

    for (size_t r = 0; r < runs; r++) {
        double cpu_s;
        bulk[r] = measure_bulk(bulk_total, &cpu_s);
        cpu[r] = cpu_s / gib;
        bulk_base[r] = raw_bulk(bulk_total, s_client_cpu, s_server_cpu, &cpu_s);
        cpu_base[r] = cpu_s / gib;
        measure_pingpong(rounds, samples);
        p50[r] = bench_percentile(samples, rounds, 50);
        p99[r] = bench_percentile(samples, rounds, 99);
        raw_pingpong(rounds, s_client_cpu, s_server_cpu, samples);
        p50_base[r] = bench_percentile(samples, rounds, 50);
        p99_base[r] = bench_percentile(samples, rounds, 99);
    }
    double idle = measure_idle_pairs(idle_pairs);

    bench_report("channel", "bulk_bytes_per_s", bench_median(bulk, runs), "B/s",
                 bench_median(bulk_base, runs));
    bench_report("channel", "bulk_cpu_s_per_gib", bench_median(cpu, runs), "s/GiB",
                 bench_median(cpu_base, runs));
    bench_report("channel", "pingpong_rtt_p50_us", bench_median(p50, runs), "us",
                 bench_median(p50_base, runs));
    bench_report("channel", "pingpong_rtt_p99_us", bench_median(p99, runs), "us",
                 bench_median(p99_base, runs));
    bench_report("channel", "idle_channel_pair_bytes", idle, "B", 0);

    if (sl_loop_destroy(s_client_loop) || sl_loop_destroy(s_server_loop)) {
        die("loop destroy", SL_E_STATE);
    }
    free(bulk);
    free(bulk_base);
    free(cpu);
    free(cpu_base);
    free(p50);
    free(p50_base);
    free(p99);
    free(p99_base);
    free(samples);
    return 0;
}
