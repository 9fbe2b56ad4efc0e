/* SPDX-License-Identifier: Apache-2.0 */

/*
 * bench_resolver: lookups through the caching resolver against dnsmasq on a loopback port
 * (started here, answering every name under .bench).
 *
 *   cached_lookups_per_s  requests for 100 names already in the cache
 *   cold_lookups_per_s    requests for names never asked before: one DNS exchange each
 *
 * 64 requests are kept in flight; the resolver's home loop is pinned to the first allowed CPU
 * and dnsmasq runs wherever the kernel puts it. No baseline: the issue asks for the figures.
 */

#include "bench_util.h"
#include "dnsmasq.h"

#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/host_resolver.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_FLIGHT 64

static void die(const char *what)
{
    fprintf(stderr, "bench_resolver: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* dnsmasq (tests/support/dnsmasq.c) answers every name under .bench with one wildcard line:
 * with a host-record line per name it scans them all per query, and the cold figure would
 * measure dnsmasq, not the resolver. No query log: it would slow dnsmasq down. */
static const char *const DNS_CONFIG = "address=/bench/10.1.2.3\nlocal-ttl=300\ncache-size=0\n";

/* Load ----------------------------------------------------------------------------------------- */

struct run {
    struct sl_host_resolver *resolver;
    struct sl_loop *loop;
    int total;
    int issued;
    int completed;
    int failures;
    int name_offset; /* cold runs use names [offset, offset + total) */
    int name_modulo; /* cached runs cycle over this many names */
    uint64_t end_ns;
    struct bench_done done;
};

static void issue(struct run *r);

static void on_resolved(struct sl_host_resolver *resolver, int status,
                        const struct sl_host_address *addresses, size_t count, void *user_data)
{
    (void)resolver;
    (void)addresses;
    (void)count;
    struct run *r = user_data;
    r->failures += status != 0;
    if (++r->completed == r->total) {
        r->end_ns = sl_clock_now_ns();
        bench_done_signal(&r->done);
        return;
    }
    issue(r);
}

static void issue(struct run *r)
{
    if (r->issued >= r->total) {
        return;
    }
    char name[32];
    int n = r->name_modulo ? r->issued % r->name_modulo : r->name_offset + r->issued;
    snprintf(name, sizeof(name), "n%d.bench", n);
    r->issued++;
    if (sl_host_resolver_resolve(r->resolver, name, SL_HOST_IPV4, r->loop, on_resolved, r)) {
        die("resolve");
    }
}

struct kick {
    struct sl_task task;
    struct run *run;
};

static void kick_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status;
    struct run *r = ((struct kick *)arg)->run;
    for (int i = 0; i < IN_FLIGHT; i++) {
        issue(r);
    }
}

static double measure(struct run *r)
{
    bench_done_init(&r->done);
    struct kick k = {.run = r};
    sl_task_init(&k.task, kick_fn, &k, "bench_kick");
    uint64_t start = sl_clock_now_ns();
    sl_loop_schedule_now(r->loop, &k.task);
    bench_done_wait(&r->done);
    bench_done_clean_up(&r->done);
    if (r->failures) {
        fprintf(stderr, "bench_resolver: %d lookups failed\n", r->failures);
        exit(1);
    }
    return (double)r->total / ((double)(r->end_ns - start) / 1e9);
}

int main(int argc, char **argv)
{
    struct bench_args args;
    bench_parse_args(argc, argv, "resolver", &args);
    int cold_per_run = args.quick ? 2000 : 20000;
    int cached_per_run = args.quick ? 50000 : 1000000;
    struct dnsmasq dns;
    char why[256];
    if (dnsmasq_start(&dns, DNS_CONFIG, false, why, sizeof(why)) != 0) {
        fprintf(stderr, "bench_resolver: %s\n", why);
        return 1;
    }

    int cpu, other;
    bench_pick_cpus(&cpu, &other);
    struct sl_loop_options lopts = {.name = "bench-dns", .cpu = cpu};
    struct sl_loop *loop;
    if (sl_loop_new(&lopts, &loop) || sl_loop_run(loop)) {
        die("loop");
    }
    struct sl_host_resolver_options ropts = {
        .loop = loop, .name_servers = dns.servers, .max_hosts = 1 << 16, .no_refresh = true};
    struct sl_host_resolver *resolver;
    if (sl_host_resolver_new(&ropts, &resolver)) {
        die("resolver");
    }
    double *cold = calloc((size_t)args.runs, sizeof(double));
    double *cached = calloc((size_t)args.runs, sizeof(double));
    for (int i = 0; i < args.runs; i++) {
        struct run c = {.resolver = resolver,
                        .loop = loop,
                        .total = cold_per_run,
                        .name_offset = 100 + i * cold_per_run};
        cold[i] = measure(&c);
        struct run h = {
            .resolver = resolver, .loop = loop, .total = cached_per_run, .name_modulo = 100};
        cached[i] = measure(&h);
    }
    bench_report("resolver", "cached_lookups_per_s", bench_median(cached, (size_t)args.runs),
                 "lookups/s", 0);
    bench_report("resolver", "cold_lookups_per_s", bench_median(cold, (size_t)args.runs),
                 "lookups/s", 0);
    sl_host_resolver_release(resolver);
    if (sl_loop_destroy(loop)) {
        die("loop destroy");
    }
    if (dnsmasq_stop(&dns) != 0) {
        die("dnsmasq cleanup");
    }
    free(cold);
    free(cached);
    return 0;
}
