/* SPDX-License-Identifier: Apache-2.0 */
#include "bench_util.h"

#include <sluice/error.h>
#include <sluice/thread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_parse_args(int argc, char **argv, const char *name, struct bench_args *out)
{
    *out = (struct bench_args){.quick = false, .runs = 5};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            out->quick = true;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
            out->runs = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_%s [--quick] [--runs N]\n", name);
            exit(2);
        }
    }
    if (out->quick) {
        out->runs = 1;
    }
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_percentile(double *values, size_t n, double p)
{
    if (n == 0) {
        return 0;
    }
    qsort(values, n, sizeof(*values), compare_doubles);
    size_t index = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return values[index < n ? index : n - 1];
}

double bench_median(double *values, size_t n)
{
    return bench_percentile(values, n, 50);
}

void bench_report(const char *bench, const char *metric, double value, const char *unit,
                  double baseline)
{
    if (baseline > 0) {
        printf("{\"bench\":\"%s\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"%s\","
               "\"baseline\":%.6g,\"ratio\":%.4f}\n",
               bench, metric, value, unit, baseline, value / baseline);
    } else {
        printf("{\"bench\":\"%s\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"%s\"}\n", bench,
               metric, value, unit);
    }
    fflush(stdout);
}

void bench_pick_cpus(int *first, int *second)
{
    int cpus[2];
    int n = sl_cpu_allowed(cpus, 2);
    *first = n >= 1 ? cpus[0] : -1;
    *second = n >= 2 ? cpus[1] : *first;
}

void bench_pin(int cpu)
{
    if (cpu < 0) {
        return;
    }
    int rc = sl_thread_pin_current(cpu);
    if (rc < 0) {
        fprintf(stderr, "warning: cannot pin to CPU %d: %s\n", cpu, sl_strerror(rc));
    }
}

void bench_done_init(struct bench_done *d)
{
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    d->done = false;
}

void bench_done_signal(struct bench_done *d)
{
    pthread_mutex_lock(&d->lock);
    d->done = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

void bench_done_wait(struct bench_done *d)
{
    pthread_mutex_lock(&d->lock);
    while (!d->done) {
        pthread_cond_wait(&d->cond, &d->lock);
    }
    pthread_mutex_unlock(&d->lock);
}

void bench_done_clean_up(struct bench_done *d)
{
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
}
