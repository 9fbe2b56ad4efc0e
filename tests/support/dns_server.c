/* SPDX-License-Identifier: Apache-2.0 */
#include "dns_server.h"

#include "test_harness.h"

#include <stdio.h>
#include <string.h>

int test_unused_udp_port(void)
{
    int port = dnsmasq_unused_port();
    ck_assert_msg(port > 0, "no port free for both UDP and TCP");
    return port;
}

void test_dns_server_start(struct test_dns_server *s, const char *records)
{
    char config[4096];
    int n = snprintf(config, sizeof(config), "local=/test/\n%s", records ? records : "");
    ck_assert(n > 0 && (size_t)n < sizeof(config));
    char why[256];
    int rc = dnsmasq_start(&s->process, config, true, why, sizeof(why));
    ck_assert_msg(rc == 0, "%s", why);
}

void test_dns_server_stop(struct test_dns_server *s)
{
    ck_assert_int_eq(dnsmasq_stop(&s->process), 0);
}

int test_dns_server_queries(const struct test_dns_server *s, const char *type, const char *name)
{
    FILE *f = fopen(s->process.log_path, "r");
    if (!f) {
        return 0;
    }
    char needle[160];
    snprintf(needle, sizeof(needle), "query[%s] %s from", type, name);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        n += strstr(line, needle) != NULL;
    }
    fclose(f);
    return n;
}
