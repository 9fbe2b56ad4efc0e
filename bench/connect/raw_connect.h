/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_RAW_CONNECT_H
#define SL_RAW_CONNECT_H

#include <stddef.h>

/*
 * Baseline for bench_connect: total connections over loopback TCP, in_flight at a time, each
 * connected, one byte echoed, closed by the server first. Client on client_cpu, server on
 * server_cpu. Returns connections per second.
 */
double raw_connects_per_s(size_t total, size_t in_flight, int client_cpu, int server_cpu);

#endif
