/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_RAW_BASELINE_H
#define SL_RAW_BASELINE_H

/*
 * The baselines of bench_channel: minimal programs on edge-triggered epoll and non-blocking
 * TCP sockets doing the same work as the channels, with the same CPU placement. They are what
 * a careful hand-written server would do, without any of Sluice's machinery.
 */

#include <stddef.h>
#include <stdint.h>

/*
 * Moves total bytes over loopback TCP: the sender fills a 16 KiB buffer (memcpy of a pattern,
 * as the channel sender does) and writes it, the receiver reads 64 KiB at a time. Returns bytes
 * per second; *cpu_s gets the process CPU time spent (user + system).
 */
double raw_bulk(uint64_t total, int sender_cpu, int receiver_cpu, double *cpu_s);

/* rounds 64-byte round trips; fills samples_us[rounds]. */
void raw_pingpong(size_t rounds, int client_cpu, int server_cpu, double *samples_us);

/* A connected loopback TCP pair (non-blocking, TCP_NODELAY). */
void raw_tcp_pair(int fds[2]);

/* CPU seconds (user + system) this process has used. */
double process_cpu_seconds(void);

#endif
