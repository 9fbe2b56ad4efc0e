/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DNS_SERVER_H
#define SL_DNS_SERVER_H

/*
 * A real DNS server for tests: dnsmasq (Debian's dnsmasq-base) on 127.0.0.1 and a free port,
 * answering only for the records the test gives it (names under .test; anything else under
 * .test is NXDOMAIN) and logging every query so tests can count them.
 */

#include <stdbool.h>
#include <sys/types.h>

struct test_dns_server {
    pid_t pid;
    int port;
    char dir[64];
    char log_path[96];
    char servers[32]; /* "127.0.0.1:port", for sl_host_resolver_options.name_servers */
};

/*
 * Starts dnsmasq with these extra configuration lines, e.g.
 *   "host-record=a.test,10.0.0.1,fd00::1,30\nhost-record=b.test,10.0.0.2"
 * (the last field of host-record is the TTL). Fails the test if it does not come up.
 */
void test_dns_server_start(struct test_dns_server *server, const char *records);

/* Stops it and removes its files. */
void test_dns_server_stop(struct test_dns_server *server);

/* How many queries of type ("A", "AAAA") for name it has logged so far. */
int test_dns_server_queries(const struct test_dns_server *server, const char *type,
                            const char *name);

/* A port on 127.0.0.1 where nothing listens (for "server unreachable" tests). */
int test_unused_udp_port(void);

#endif
