/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_UTIL_H
#define SL_BENCH_UTIL_H

/*
 * Shared helpers for bench_* programs. Every figure is printed as one JSON object per line
 * (ARCHITECTURE.md "Quality bars"): bench, metric, value, unit, and, when a baseline ran in the
 * same process run, baseline and ratio = value / baseline.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_args {
    bool quick; /* --quick: a few seconds, for CI smoke runs; figures are not meaningful */
    int runs;   /* --runs N: repetitions whose median is reported (default 5) */
};

/* Parses --quick and --runs N; exits with status 2 and a usage line on anything else. */
void bench_parse_args(int argc, char **argv, const char *name, struct bench_args *out);

/* Median of n values (sorts them in place). */
double bench_median(double *values, size_t n);

/* The value at percentile p (0..100) of n samples (sorts them in place). */
double bench_percentile(double *values, size_t n, double p);

/* Prints one result line; pass baseline <= 0 when there is none. */
void bench_report(const char *bench, const char *metric, double value, const char *unit,
                  double baseline);

/* CPUs for the two sides of a benchmark: distinct when the machine has two or more. */
void bench_pick_cpus(int *first, int *second);

/* Pins the calling thread, warning (not failing) if the kernel refuses. */
void bench_pin(int cpu);

/*
 * A one-shot "finished" signal between a loop thread and the main thread. The main thread
 * sleeps on it rather than polling: on a 2-CPU machine a main thread that wakes every
 * millisecond steals a fifth of a busy benchmark's throughput.
 */
struct bench_done {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

void bench_done_init(struct bench_done *d);
void bench_done_signal(struct bench_done *d);
void bench_done_wait(struct bench_done *d);
void bench_done_clean_up(struct bench_done *d);

#endif
