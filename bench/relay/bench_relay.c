/* SPDX-License-Identifier: Apache-2.0 */

/*
 * bench_relay: what relaying through sluiced costs a libsluice-client program, against
 * general-purpose relays doing the same work on loopback.
 *
 *   relay_bulk_bytes_per_s         client -> Unix socket -> sluiced -> TCP -> sink, against
 *                                  `socat -b 65536 UNIX-LISTEN:...,fork TCP:127.0.0.1:PORT` with
 *                                  the client writing its socket with write(2).
 *   relay_tls_bulk_bytes_per_s     the same with sluiced as the TLS 1.3 client of an OpenSSL
 *                                  sink, against a client-mode stunnel in sluiced's place.
 *   relay_direct_bulk_bytes_per_s  the sluiced figure again, against the client writing the
 *                                  sink's TCP socket itself (context: what the hop costs).
 *   relay_rtt_p50_us, _p99_us      64-byte ping-pong through sluiced to an echo server, against
 *                                  the direct TCP round trip to the same server.
 *   relay_rtt_same_cpu_p50_us      the same with every process on one CPU: the relay's own
 *                                  cost, without cross-CPU wake-ups (any relay doubles the
 *                                  socket hops, so about 3x direct is the floor here).
 *   relay_rtt_same_cpu_vs_socat_p50_us
 *                                  that figure against socat relaying to the same echo server.
 *
 * Placement (2 CPUs: "near" and "far", the first two this process may use). Bulk: client and
 * sink on near, the relay (sluiced, socat or stunnel) on far, so the relay never competes
 * with the two ends; direct TCP keeps the client and sink on near. RTT: the client on near,
 * echo server and relay on far, so a round trip crosses CPUs twice whether it goes through the
 * relay or not (a cross-CPU wake-up costs 25-50 µs on the 2-core CI machines, so only equal
 * placements compare); the _same_cpu figures move sluiced's threads to near for their turn.
 *
 * Sizes: 1 GiB plain and 512 MiB TLS per transfer in 64 KiB writes; 20,000 timed round trips
 * after 1,000 untimed. --quick: 8 MiB, 4 MiB, 200 round trips, 1 run. Each run measures a
 * figure and then its baseline (A B A B ...); medians over --runs.
 */

#include "bench_util.h"
#include "relay_peers.h"
#include "relay_procs.h"
#include "relay_runs.h"
#include "relay_setup.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric {
    M_BULK,
    M_TLS_BULK,
    M_DIRECT_BULK,
    M_RTT_P50,
    M_RTT_P99,
    M_RTT_SAME_CPU_P50,
    M_RTT_SAME_CPU_VS_SOCAT_P50,
    M_COUNT,
};

struct metric_info {
    const char *name;
    const char *unit;
    const char *baseline;
    const char *target; /* the ratio this figure should reach, or NULL */
    const char *placement;
};

#define BULK_PLACEMENT     "client+sink cpu near, relay cpu far"
#define RTT_PLACEMENT      "client cpu near, relay+echo cpu far"
#define SAME_CPU_PLACEMENT "client, relay and echo all on cpu near"

static const struct metric_info s_metrics[M_COUNT] = {
    [M_BULK] = {"relay_bulk_bytes_per_s", "B/s", "socat -b 65536", ">= 1.0", BULK_PLACEMENT},
    [M_TLS_BULK] = {"relay_tls_bulk_bytes_per_s", "B/s", "stunnel4 (client mode, TLS 1.3)",
                    ">= 1.0", BULK_PLACEMENT},
    [M_DIRECT_BULK] = {"relay_direct_bulk_bytes_per_s", "B/s", "direct TCP", NULL,
                       "client+sink cpu near, relay cpu far (direct: no relay)"},
    [M_RTT_P50] = {"relay_rtt_p50_us", "us", "direct TCP", "<= 2.0", RTT_PLACEMENT},
    [M_RTT_P99] = {"relay_rtt_p99_us", "us", "direct TCP", NULL, RTT_PLACEMENT},
    [M_RTT_SAME_CPU_P50] = {"relay_rtt_same_cpu_p50_us", "us", "direct TCP", NULL,
                            SAME_CPU_PLACEMENT},
    [M_RTT_SAME_CPU_VS_SOCAT_P50] = {"relay_rtt_same_cpu_vs_socat_p50_us", "us",
                                     "socat -b 65536 (nodelay)", "<= 1.0", SAME_CPU_PLACEMENT},
};

struct plan {
    struct relay_setup setup;
    uint64_t bulk_total;
    uint64_t tls_total;
    size_t rtt_warmup;
    size_t rtt_count;
    double *rtt_samples;
    size_t runs;
    double *ours[M_COUNT];
    double *base[M_COUNT]; /* 0: the baseline did not run */
};

static double bulk(struct plan *p, const struct relay_route *route, bool tls, uint64_t total)
{
    struct relay_setup *s = &p->setup;
    struct relay_peer sink = {.kind = RELAY_PEER_SINK,
                              .listener = tls ? &s->tls_sink : &s->sink,
                              .tls = tls,
                              .cpu = s->cpu_near,
                              .total = total};
    double rate = relay_bulk(route, &sink);
    if (tls && strcmp(sink.version, "TLSv1.3") != 0) {
        relay_die("the TLS sink negotiated %s, not TLSv1.3", sink.version);
    }
    return rate;
}

static void run_bulk(struct plan *p, size_t r)
{
    struct relay_setup *s = &p->setup;
    struct relay_route sluiced = {.client = s->client, .tcp_port = s->sink.port};
    struct relay_route socat = {.unix_path = s->socat_socket};
    struct relay_route direct = {.tcp_port = s->sink.port};
    p->ours[M_BULK][r] = bulk(p, &sluiced, false, p->bulk_total);
    p->base[M_BULK][r] = s->socat > 0 ? bulk(p, &socat, false, p->bulk_total) : 0;
    p->ours[M_DIRECT_BULK][r] = p->ours[M_BULK][r];
    p->base[M_DIRECT_BULK][r] = bulk(p, &direct, false, p->bulk_total);
}

static void run_tls_bulk(struct plan *p, size_t r)
{
    struct relay_setup *s = &p->setup;
    struct relay_route sluiced = {.client = s->client,
                                  .tcp_port = s->tls_sink.port,
                                  .tls = true,
                                  .ca_pem = s->ca_pem,
                                  .ca_pem_len = s->ca_pem_len};
    struct relay_route stunnel = {.unix_path = s->stunnel_socket};
    p->ours[M_TLS_BULK][r] = bulk(p, &sluiced, true, p->tls_total);
    p->base[M_TLS_BULK][r] = s->stunnel > 0 ? bulk(p, &stunnel, true, p->tls_total) : 0;
}

/* One ping-pong series; *p99 (may be NULL) gets its 99th percentile. */
static double rtt_p50(struct plan *p, const struct relay_route *route, int echo_cpu, double *p99)
{
    struct relay_peer echo = {.kind = RELAY_PEER_ECHO, .listener = &p->setup.echo, .cpu = echo_cpu};
    relay_rtt(route, &echo, p->rtt_warmup, p->rtt_count, p->rtt_samples);
    if (p99) {
        *p99 = bench_percentile(p->rtt_samples, p->rtt_count, 99);
    }
    return bench_percentile(p->rtt_samples, p->rtt_count, 50);
}

static void run_rtt(struct plan *p, size_t r)
{
    struct relay_setup *s = &p->setup;
    struct relay_route sluiced = {.client = s->client, .tcp_port = s->echo.port};
    struct relay_route direct = {.tcp_port = s->echo.port};
    p->ours[M_RTT_P50][r] = rtt_p50(p, &sluiced, s->cpu_far, &p->ours[M_RTT_P99][r]);
    p->base[M_RTT_P50][r] = rtt_p50(p, &direct, s->cpu_far, &p->base[M_RTT_P99][r]);
    if (relay_setup_move_sluiced(s, s->cpu_near)) {
        struct relay_route socat = {.unix_path = s->socat_echo_socket};
        double ours = rtt_p50(p, &sluiced, s->cpu_near, NULL);
        p->ours[M_RTT_SAME_CPU_P50][r] = ours;
        p->base[M_RTT_SAME_CPU_P50][r] = rtt_p50(p, &direct, s->cpu_near, NULL);
        p->ours[M_RTT_SAME_CPU_VS_SOCAT_P50][r] = ours;
        p->base[M_RTT_SAME_CPU_VS_SOCAT_P50][r] =
            s->socat_echo > 0 ? rtt_p50(p, &socat, s->cpu_near, NULL) : 0;
    }
    if (!relay_setup_move_sluiced(s, s->cpu_far)) {
        relay_die("cannot pin sluiced back to CPU %d", s->cpu_far);
    }
}

static void report(struct plan *p, enum metric m)
{
    const struct metric_info *info = &s_metrics[m];
    double value = bench_median(p->ours[m], p->runs);
    double base = bench_median(p->base[m], p->runs);
    if (value <= 0) {
        return; /* not measured (BENCH_RELAY_ONLY, or sluiced could not be moved) */
    }
    printf("{\"bench\":\"relay\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"%s\"", info->name,
           value, info->unit);
    if (base > 0) {
        printf(",\"baseline\":%.6g,\"ratio\":%.4f", base, value / base);
    }
    printf(",\"baseline_name\":\"%s%s\"", info->baseline, base > 0 ? "" : " (not run)");
    if (info->target) {
        printf(",\"target_ratio\":\"%s\"", info->target);
    }
    printf(",\"placement\":\"%s\",\"cpu_near\":%d,\"cpu_far\":%d,\"runs\":%zu", info->placement,
           p->setup.cpu_near, p->setup.cpu_far, p->runs);
    if (m == M_BULK || m == M_DIRECT_BULK) {
        printf(",\"bytes\":%llu", (unsigned long long)p->bulk_total);
    } else if (m == M_TLS_BULK) {
        printf(",\"bytes\":%llu,\"tls\":\"%s\"", (unsigned long long)p->tls_total,
               relay_last_channel_tls());
    } else {
        printf(",\"round_trips\":%zu,\"bytes_per_ping\":64", p->rtt_count);
    }
    printf("}\n");
    fflush(stdout);
}

static void plan_init(struct plan *p, const struct bench_args *args)
{
    p->bulk_total = args->quick ? (8u << 20) : (1ull << 30);
    p->tls_total = args->quick ? (4u << 20) : (512u << 20);
    p->rtt_warmup = args->quick ? 20 : 1000;
    p->rtt_count = args->quick ? 200 : 20000;
    p->runs = (size_t)args->runs;
    p->rtt_samples = calloc(p->rtt_count, sizeof(double));
    for (size_t m = 0; m < M_COUNT; m++) {
        p->ours[m] = calloc(p->runs, sizeof(double));
        p->base[m] = calloc(p->runs, sizeof(double));
        if (!p->ours[m] || !p->base[m] || !p->rtt_samples) {
            relay_die("out of memory");
        }
    }
}

static void plan_clean_up(struct plan *p)
{
    for (size_t m = 0; m < M_COUNT; m++) {
        free(p->ours[m]);
        free(p->base[m]);
    }
    free(p->rtt_samples);
}

static bool wants(const char *only, const char *group)
{
    return !only || !*only || strcmp(only, group) == 0;
}

int main(int argc, char **argv)
{
    struct bench_args args;
    bench_parse_args(argc, argv, "relay", &args);
    /* Clients write sockets whose relay may be gone; that is an error to report, not a kill. */
    signal(SIGPIPE, SIG_IGN);
    /* CI runs --quick under ASan on slow machines: generous, but a hang still fails. */
    relay_procs_init(args.quick ? 300 : 600 + 120 * (unsigned)args.runs);
    static struct plan p;
    plan_init(&p, &args);
    relay_setup_start(&p.setup);
    /* BENCH_RELAY_ONLY=bulk|tls|rtt runs one group (for profiling). */
    const char *only = getenv("BENCH_RELAY_ONLY");
    for (size_t r = 0; r < p.runs; r++) {
        if (wants(only, "bulk")) {
            run_bulk(&p, r);
        }
        if (wants(only, "tls")) {
            run_tls_bulk(&p, r);
        }
        if (wants(only, "rtt")) {
            run_rtt(&p, r);
        }
    }
    for (int m = 0; m < M_COUNT; m++) {
        report(&p, (enum metric)m);
    }
    relay_setup_stop(&p.setup);
    relay_cleanup();
    plan_clean_up(&p);
    return 0;
}
