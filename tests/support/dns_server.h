/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DNS_SERVER_H
#define SL_DNS_SERVER_H

/*
 * A real DNS server for tests: dnsmasq (see dnsmasq.h) answering only for the records the test
 * gives it (names under .test; anything else under .test is NXDOMAIN) and logging every query
 * so tests can count them. Failures fail the test.
 */

#include "dnsmasq.h"

struct test_dns_server {
    struct dnsmasq process; /* process.servers is what sl_host_resolver_options wants */
};

/*
 * Starts dnsmasq with these extra configuration lines, e.g.
 *   "host-record=a.test,10.0.0.1,fd00::1,30\nhost-record=b.test,10.0.0.2"
 * (the last field of host-record is the TTL).
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
