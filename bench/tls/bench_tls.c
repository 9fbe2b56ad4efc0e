/* SPDX-License-Identifier: Apache-2.0 */

/*
 * bench_tls: what TLS through Sluice costs against OpenSSL used directly.
 *
 *   tls_bulk_aes128gcm_bytes_per_s, tls_bulk_chacha20_bytes_per_s
 *       2 GiB from client to server in 16 KiB writes over one TLS 1.3 channel pair on loopback
 *       TCP, the suite forced on both contexts (tls_bulk.c). Baseline: raw_tls.c, a minimal
 *       blocking OpenSSL program doing the same on two pinned threads.
 *   handshakes_per_s_ecdsa_p256, handshakes_per_s_rsa2048
 *       Sequential connections, each a full handshake (resumption off on the client), s_time's
 *       "GET / HTTP/1.0" and the reply read until close_notify (tls_handshakes.c). Baseline:
 *       `openssl s_time -new -www /` against `openssl s_server -www` with the same certificate
 *       (s_time_driver.c); our reply is as long as s_server's page was in the same run.
 *   resumed_handshakes_per_s, resumed_fraction
 *       The same with the client context's default, session resumption, against
 *       `s_time -reuse`; resumed_fraction is the share of connections that really resumed
 *       (sl_tls_negotiation.session_resumed; for s_time, its 'r' marks).
 *   idle_tls_channel_pair_bytes, idle_tls_channel_pair_heap_bytes
 *       Resident memory (VmRSS) and malloc's bytes in use per idle pair (tls_idle.c).
 *
 * Server side on the first allowed CPU, client side on the second: loops, baseline threads and
 * the openssl processes alike. Every baseline runs in the same run as its figure; medians over
 * --runs.
 */

#include "bench_util.h"
#include "raw_tls.h"
#include "s_time_driver.h"
#include "tls_bench.h"
#include "tls_bulk.h"
#include "tls_handshakes.h"
#include "tls_idle.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric {
    M_BULK_AES128GCM,
    M_BULK_CHACHA20,
    M_HS_ECDSA,
    M_HS_RSA,
    M_HS_RESUMED,
    M_RESUMED_FRACTION,
    M_COUNT,
};

static const struct {
    const char *name;
    const char *unit;
} s_metrics[M_COUNT] = {
    [M_BULK_AES128GCM] = {"tls_bulk_aes128gcm_bytes_per_s", "B/s"},
    [M_BULK_CHACHA20] = {"tls_bulk_chacha20_bytes_per_s", "B/s"},
    [M_HS_ECDSA] = {"handshakes_per_s_ecdsa_p256", "conn/s"},
    [M_HS_RSA] = {"handshakes_per_s_rsa2048", "conn/s"},
    [M_HS_RESUMED] = {"resumed_handshakes_per_s", "conn/s"},
    [M_RESUMED_FRACTION] = {"resumed_fraction", "fraction"},
};

static const char *const s_suites[2] = {"TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"};

struct plan {
    struct tls_env env;
    struct s_server ecdsa; /* s_server with env.certs.server */
    struct s_server rsa;   /* s_server with env.certs.server_rsa */
    uint64_t bulk_total;
    double hs_seconds;
    int s_time_seconds;
    size_t idle_pairs;
    size_t runs;
    double *ours[M_COUNT]; /* runs values each */
    double *base[M_COUNT];
};

static void run_bulk(struct plan *p, size_t r)
{
    for (size_t i = 0; i < 2; i++) {
        struct raw_tls_options raw = {.cert_file = p->env.certs.server.cert,
                                      .key_file = p->env.certs.server.key,
                                      .ca_file = p->env.certs.ca_cert,
                                      .suite = s_suites[i],
                                      .total = p->bulk_total,
                                      .client_cpu = p->env.client_cpu,
                                      .server_cpu = p->env.server_cpu};
        p->ours[M_BULK_AES128GCM + i][r] =
            tls_bulk_bytes_per_s(&p->env, s_suites[i], p->bulk_total);
        p->base[M_BULK_AES128GCM + i][r] = raw_tls_bulk_bytes_per_s(&raw);
    }
}

/* s_time first: its page size is what our server answers with. */
static void run_handshakes(struct plan *p, size_t r, enum metric m, bool resume)
{
    const struct s_server *server = m == M_HS_RSA ? &p->rsa : &p->ecdsa;
    struct s_time_options so = {.port = server->port,
                                .ca_file = p->env.certs.ca_cert,
                                .reuse = resume,
                                .seconds = p->s_time_seconds,
                                .cpu = p->env.client_cpu};
    struct s_time_result base;
    s_time_run(&so, &base);
    struct tls_handshake_options ho = {
        .cert = m == M_HS_RSA ? &p->env.certs.server_rsa : &p->env.certs.server,
        .resume = resume,
        .seconds = p->hs_seconds,
        .response_len = (size_t)base.bytes_per_conn,
    };
    struct tls_handshake_result ours;
    tls_handshakes(&p->env, &ho, &ours);
    p->ours[m][r] = ours.per_s;
    p->base[m][r] = base.per_s;
    if (resume) {
        p->ours[M_RESUMED_FRACTION][r] = (double)ours.resumed / (double)ours.count;
        p->base[M_RESUMED_FRACTION][r] = base.resumed_share;
    }
    fprintf(stderr,
            "# run %zu %s: ours %zu connections (%zu resumed) %.0f/s; s_time %ld in %ld whole "
            "s by its count (%.0f/s), %.0f/s by our clock, %ld bytes per reply\n",
            r + 1, s_metrics[m].name, ours.count, ours.resumed, ours.per_s, base.count, base.real_s,
            (double)base.count / (double)base.real_s, base.per_s, base.bytes_per_conn);
}

static void report(struct plan *p)
{
    for (size_t m = 0; m < M_COUNT; m++) {
        bench_report("tls", s_metrics[m].name, bench_median(p->ours[m], p->runs), s_metrics[m].unit,
                     bench_median(p->base[m], p->runs));
    }
}

static void report_idle(struct plan *p)
{
    struct tls_idle_result idle;
    tls_idle_pairs(&p->env, p->idle_pairs, &idle);
    bench_report("tls", "idle_tls_channel_pair_bytes", idle.rss_per_pair, "B", 0);
    if (idle.heap_per_pair >= 0) {
        bench_report("tls", "idle_tls_channel_pair_heap_bytes", idle.heap_per_pair, "B", 0);
    }
    printf("# idle_tls_channel_pair_bytes: VmRSS growth over %zu idle pairs (both ends, full "
           "handshakes, one 32-byte exchange), per pair; _heap_bytes: mallinfo2 uordblks + "
           "hblkhd likewise. Reference, not a same-run baseline: aws-c-io with s2n costs about "
           "68 KB per idle TLS channel pair.\n",
           p->idle_pairs);
    fflush(stdout);
}

static void plan_init(struct plan *p, const struct bench_args *args)
{
    p->bulk_total = args->quick ? (64u << 20) : (2ull << 30);
    p->hs_seconds = args->quick ? 0.5 : 3.0;
    p->s_time_seconds = args->quick ? 1 : 3; /* s_time -time takes whole seconds */
    p->idle_pairs = args->quick ? 100 : 1000;
    p->runs = (size_t)args->runs;
    for (size_t m = 0; m < M_COUNT; m++) {
        p->ours[m] = calloc(p->runs, sizeof(double));
        p->base[m] = calloc(p->runs, sizeof(double));
    }
    tls_env_init(&p->env);
    s_server_start(&p->ecdsa, &p->env.certs.server, p->env.server_cpu);
    s_server_start(&p->rsa, &p->env.certs.server_rsa, p->env.server_cpu);
}

static void plan_clean_up(struct plan *p)
{
    s_server_stop(&p->ecdsa);
    s_server_stop(&p->rsa);
    tls_env_clean_up(&p->env);
    for (size_t m = 0; m < M_COUNT; m++) {
        free(p->ours[m]);
        free(p->base[m]);
    }
}

int main(int argc, char **argv)
{
    struct bench_args args;
    bench_parse_args(argc, argv, "tls", &args);
    /* The baseline writes sockets with write(2) and the driver talks to children over pipes. */
    signal(SIGPIPE, SIG_IGN);
    static struct plan p;
    plan_init(&p, &args);
    /* BENCH_TLS_ONLY=bulk|handshakes|idle runs one group (for profiling); the rest print 0. */
    const char *only = getenv("BENCH_TLS_ONLY");
    bool all = !only || !*only;
    for (size_t r = 0; r < p.runs; r++) {
        if (all || strcmp(only, "bulk") == 0) {
            run_bulk(&p, r);
        }
        if (all || strcmp(only, "handshakes") == 0) {
            run_handshakes(&p, r, M_HS_ECDSA, false);
            run_handshakes(&p, r, M_HS_RSA, false);
            run_handshakes(&p, r, M_HS_RESUMED, true);
        }
    }
    report(&p);
    if (all || strcmp(only, "idle") == 0) {
        report_idle(&p);
    }
    plan_clean_up(&p);
    return 0;
}
