/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DNSMASQ_H
#define SL_DNSMASQ_H

/*
 * dnsmasq (Debian's dnsmasq-base) as a child process on 127.0.0.1 and a free port, for the
 * tests (through dns_server.h, which adds Check assertions) and for bench_resolver. Plain C
 * with no Check, so benchmarks can use it.
 */

#include <stdbool.h>
#include <sys/types.h>

struct dnsmasq {
    pid_t pid;
    int port;
    char dir[64];      /* a fresh temporary directory for its files */
    char log_path[96]; /* its log, queries included when asked for */
    char servers[32];  /* "127.0.0.1:port", for sl_host_resolver_options.name_servers */
};

/*
 * Starts dnsmasq with these extra configuration lines (records, "local=/test/", ...) and
 * waits until it serves. log_queries logs every query to log_path (it slows dnsmasq down).
 * Returns 0, or -1 with a reason in why (why_len bytes); no process is left running.
 */
int dnsmasq_start(struct dnsmasq *d, const char *config, bool log_queries, char *why,
                  size_t why_len);

/* Stops it and removes its files. Returns 0, or -1 if the files could not be removed. */
int dnsmasq_stop(struct dnsmasq *d);

/* A port on 127.0.0.1 free for both UDP and TCP, or -1. */
int dnsmasq_unused_port(void);

#endif
