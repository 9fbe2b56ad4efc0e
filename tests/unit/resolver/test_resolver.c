/* SPDX-License-Identifier: Apache-2.0 */
#include "dns_server.h"
#include "test_harness.h"

#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/host_resolver.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * The resolver against a real DNS server (dnsmasq on loopback, records and TTLs chosen here):
 * answers, TTLs, caching, coalescing, refresh, failures and their ordering.
 */

static struct sl_loop *s_home, *s_other;
static struct test_dns_server s_dns;

static const char *const RECORDS = "host-record=both.test,10.0.0.1,fd00::1,30\n"
                                   "host-record=multi.test,10.0.1.1,30\n"
                                   "host-record=multi.test,10.0.1.2,30\n"
                                   "host-record=multi.test,10.0.1.3,30\n"
                                   "host-record=short.test,10.0.2.1,2\n"
                                   "host-record=long.test,10.0.3.1,100\n"
                                   "host-record=refresh.test,10.0.5.1,4\n"
                                   "host-record=zero.test,10.0.6.1,0\n"
                                   "host-record=a.test,10.0.4.1,30\n"
                                   "host-record=b.test,10.0.4.2,30\n"
                                   "host-record=c.test,10.0.4.3,30\n";

static void setup(void)
{
    struct sl_loop_options a = {.name = "dns-home", .cpu = -1};
    struct sl_loop_options b = {.name = "dns-other", .cpu = -1};
    ck_assert_int_eq(sl_loop_new(&a, &s_home), 0);
    ck_assert_int_eq(sl_loop_new(&b, &s_other), 0);
    ck_assert_int_eq(sl_loop_run(s_home), 0);
    ck_assert_int_eq(sl_loop_run(s_other), 0);
    test_dns_server_start(&s_dns, RECORDS);
}

static void teardown(void)
{
    test_dns_server_stop(&s_dns);
    ck_assert_int_eq(sl_loop_destroy(s_home), 0);
    ck_assert_int_eq(sl_loop_destroy(s_other), 0);
}

static struct sl_host_resolver *new_resolver(struct sl_host_resolver_options opts)
{
    opts.loop = s_home;
    if (!opts.name_servers) {
        opts.name_servers = s_dns.process.servers;
    }
    struct sl_host_resolver *r = NULL;
    ck_assert_int_eq(sl_host_resolver_new(&opts, &r), 0);
    return r;
}

/* One answer, captured on whatever thread delivered it. */
struct result {
    int status;
    size_t count;
    struct sl_host_address addresses[32];
    bool on_other_loop;
    struct sl_test_latch done;
};

static void on_resolved(struct sl_host_resolver *resolver, int status,
                        const struct sl_host_address *addresses, size_t count, void *user_data)
{
    (void)resolver;
    struct result *r = user_data;
    r->status = status;
    r->count = count;
    memcpy(r->addresses, addresses, count * sizeof(*addresses));
    r->on_other_loop = sl_loop_is_on_callers_thread(s_other);
    sl_test_latch_add(&r->done, 1);
}

static struct result resolve(struct sl_host_resolver *resolver, const char *host,
                             enum sl_host_family family)
{
    struct result r = {0};
    sl_test_latch_init(&r.done);
    ck_assert_int_eq(sl_host_resolver_resolve(resolver, host, family, NULL, on_resolved, &r), 0);
    ck_assert(sl_test_latch_wait(&r.done, 1, 15000));
    sl_test_latch_clean_up(&r.done);
    return r;
}

static struct sl_host_resolver_stats stats(struct sl_host_resolver *r)
{
    struct sl_host_resolver_stats s;
    sl_host_resolver_get_stats(r, &s);
    return s;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

START_TEST(a_and_aaaa_both_come_back_ipv6_first)
{
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){0});
    struct result both = resolve(r, "both.test", SL_HOST_ANY);
    ck_assert_int_eq(both.status, 0);
    ck_assert_uint_eq(both.count, 2);
    ck_assert_str_eq(both.addresses[0].address, "fd00::1");
    ck_assert_int_eq(both.addresses[0].domain, SL_SOCKET_IPV6);
    ck_assert_str_eq(both.addresses[1].address, "10.0.0.1");
    ck_assert_int_eq(both.addresses[1].domain, SL_SOCKET_IPV4);
    ck_assert_uint_le(both.addresses[1].ttl_s, 30);
    ck_assert_uint_gt(both.addresses[1].ttl_s, 25);
    struct result v4 = resolve(r, "BOTH.test.", SL_HOST_IPV4); /* same name, from the cache */
    ck_assert_uint_eq(v4.count, 1);
    ck_assert_str_eq(v4.addresses[0].address, "10.0.0.1");
    struct result v6 = resolve(r, "both.test", SL_HOST_IPV6);
    ck_assert_uint_eq(v6.count, 1);
    ck_assert_str_eq(v6.addresses[0].address, "fd00::1");
    ck_assert_uint_eq(stats(r).lookups, 1);
    ck_assert_uint_eq(stats(r).cache_hits, 2);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "both.test"), 1);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "AAAA", "both.test"), 1);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(cached_answers_live_as_long_as_their_ttl)
{
    struct sl_host_resolver *r =
        new_resolver((struct sl_host_resolver_options){.no_refresh = true});
    struct result first = resolve(r, "short.test", SL_HOST_IPV4);
    ck_assert_int_eq(first.status, 0);
    ck_assert_uint_le(first.addresses[0].ttl_s, 2);
    resolve(r, "short.test", SL_HOST_IPV4);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "short.test"), 1);
    sleep_ms(2300); /* the record's TTL is 2 s */
    struct result later = resolve(r, "short.test", SL_HOST_IPV4);
    ck_assert_int_eq(later.status, 0);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "short.test"), 2);
    ck_assert_uint_eq(stats(r).lookups, 2);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(max_ttl_caps_long_record_ttls)
{
    struct sl_host_resolver *r =
        new_resolver((struct sl_host_resolver_options){.max_ttl_s = 1, .no_refresh = true});
    struct result first = resolve(r, "long.test", SL_HOST_IPV4);
    ck_assert_uint_le(first.addresses[0].ttl_s, 1); /* the record says 100 */
    sleep_ms(1200);
    resolve(r, "long.test", SL_HOST_IPV4);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "long.test"), 2);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(purge_forgets_one_host_or_all)
{
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){0});
    resolve(r, "a.test", SL_HOST_ANY);
    resolve(r, "b.test", SL_HOST_ANY);
    ck_assert_uint_eq(stats(r).entries, 2);
    sl_host_resolver_purge_cache(r, "A.TEST");
    resolve(r, "a.test", SL_HOST_ANY); /* purges run first: they were queued first */
    resolve(r, "b.test", SL_HOST_ANY);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "a.test"), 2);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "b.test"), 1);
    sl_host_resolver_purge_cache(r, NULL);
    resolve(r, "b.test", SL_HOST_ANY);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "b.test"), 2);
    sl_host_resolver_release(r);
}
END_TEST

enum { CONCURRENT = 20 };
static struct result s_concurrent[CONCURRENT];
static struct sl_host_resolver *s_resolver;

/* From the home loop, so all requests are queued before any answer can come back. */
static void resolve_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < CONCURRENT; i++) {
        ck_assert_int_eq(sl_host_resolver_resolve(s_resolver, "multi.test", SL_HOST_ANY, NULL,
                                                  on_resolved, &s_concurrent[i]),
                         0);
    }
}

START_TEST(concurrent_requests_for_one_name_share_one_lookup)
{
    s_resolver = new_resolver((struct sl_host_resolver_options){0});
    for (int i = 0; i < CONCURRENT; i++) {
        memset(&s_concurrent[i], 0, sizeof(s_concurrent[i]));
        sl_test_latch_init(&s_concurrent[i].done);
    }
    sl_test_run_on_loop(s_home, resolve_many, NULL);
    for (int i = 0; i < CONCURRENT; i++) {
        ck_assert(sl_test_latch_wait(&s_concurrent[i].done, 1, 15000));
        ck_assert_int_eq(s_concurrent[i].status, 0);
        ck_assert_uint_eq(s_concurrent[i].count, 3);
        sl_test_latch_clean_up(&s_concurrent[i].done);
    }
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "multi.test"), 1);
    ck_assert_uint_eq(stats(s_resolver).lookups, 1);
    ck_assert_uint_eq(stats(s_resolver).coalesced, CONCURRENT - 1);
    sl_host_resolver_release(s_resolver);
}
END_TEST

START_TEST(a_zero_ttl_answer_is_used_once_and_not_cached)
{
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){0});
    ck_assert_int_eq(resolve(r, "zero.test", SL_HOST_IPV4).status, 0);
    ck_assert_int_eq(resolve(r, "zero.test", SL_HOST_IPV4).status, 0);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "zero.test"), 2);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(addresses_come_round_robin_and_failures_go_last)
{
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){0});
    bool seen_first[3] = {false, false, false};
    for (int i = 0; i < 3; i++) {
        struct result res = resolve(r, "multi.test", SL_HOST_IPV4);
        ck_assert_uint_eq(res.count, 3);
        int last_octet = atoi(strrchr(res.addresses[0].address, '.') + 1);
        seen_first[last_octet - 1] = true;
    }
    ck_assert(seen_first[0] && seen_first[1] && seen_first[2]); /* each led once */

    struct result before = resolve(r, "multi.test", SL_HOST_IPV4);
    struct sl_host_address failed = before.addresses[0];
    sl_host_resolver_record_connection_failure(r, &failed);
    for (int i = 0; i < 3; i++) {
        struct result after = resolve(r, "multi.test", SL_HOST_IPV4);
        ck_assert_uint_eq(after.count, 3); /* never dropped: still a last resort */
        ck_assert_str_eq(after.addresses[2].address, failed.address);
        ck_assert(after.addresses[2].recently_failed);
        ck_assert(!after.addresses[0].recently_failed);
    }
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(a_missing_name_is_not_found_and_remembered_briefly)
{
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){0});
    ck_assert_int_eq(resolve(r, "nothing-here.test", SL_HOST_ANY).status, SL_E_HOST_NOT_FOUND);
    ck_assert_int_eq(resolve(r, "nothing-here.test", SL_HOST_ANY).status, SL_E_HOST_NOT_FOUND);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "nothing-here.test"), 1);
    /* A name with only an A record has no IPv6 answer. */
    ck_assert_int_eq(resolve(r, "a.test", SL_HOST_IPV6).status, SL_E_HOST_NOT_FOUND);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(an_unreachable_server_is_a_temporary_failure)
{
    char servers[32];
    snprintf(servers, sizeof(servers), "127.0.0.1:%d", test_unused_udp_port());
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){
        .name_servers = servers, .query_timeout_ms = 200, .query_tries = 1});
    ck_assert_int_eq(resolve(r, "a.test", SL_HOST_ANY).status, SL_E_DNS_TEMPORARY);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(bad_names_are_rejected_without_a_lookup)
{
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){0});
    char long_name[301];
    memset(long_name, 'a', 300);
    long_name[300] = '\0';
    char long_label[70];
    memset(long_label, 'b', 64);
    strcpy(long_label + 64, ".test");
    const char *bad[] = {
        "", ".", long_name, long_label, "a..test", "bad name.test", "x!.test", ".leading.test"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        ck_assert_int_eq(resolve(r, bad[i], SL_HOST_ANY).status, SL_E_INVALID_HOSTNAME);
    }
    ck_assert_uint_eq(stats(r).lookups, 0);
    struct sl_host_address dummy;
    ck_assert_int_eq(sl_host_resolver_resolve(r, NULL, SL_HOST_ANY, NULL, on_resolved, &dummy),
                     SL_E_INVAL);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(numbers_and_localhost_need_no_lookup)
{
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){0});
    struct result v4 = resolve(r, "192.0.2.7", SL_HOST_ANY);
    ck_assert_uint_eq(v4.count, 1);
    ck_assert_str_eq(v4.addresses[0].address, "192.0.2.7");
    struct result v6 = resolve(r, "2001:db8::7", SL_HOST_ANY);
    ck_assert_int_eq(v6.addresses[0].domain, SL_SOCKET_IPV6);
    ck_assert_int_eq(resolve(r, "192.0.2.7", SL_HOST_IPV6).status, SL_E_HOST_NOT_FOUND);
    struct result local = resolve(r, "LocalHost", SL_HOST_ANY);
    ck_assert_uint_eq(local.count, 2);
    ck_assert_str_eq(local.addresses[0].address, "::1");
    ck_assert_str_eq(local.addresses[1].address, "127.0.0.1");
    ck_assert_uint_eq(stats(r).lookups, 0);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(the_hosts_file_is_honoured)
{
    char path[] = "/tmp/sluice-hosts-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *hosts = "10.7.7.7 from-hosts-file.example\n";
    ck_assert_int_eq(write(fd, hosts, strlen(hosts)), (ssize_t)strlen(hosts));
    close(fd);
    setenv("CARES_HOSTS", path, 1);
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){0});
    struct result res = resolve(r, "from-hosts-file.example", SL_HOST_ANY);
    unsetenv("CARES_HOSTS");
    unlink(path);
    ck_assert_int_eq(res.status, 0);
    ck_assert_str_eq(res.addresses[0].address, "10.7.7.7");
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "from-hosts-file.example"), 0);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(the_least_recently_used_name_is_evicted_at_the_cap)
{
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){.max_hosts = 2});
    resolve(r, "a.test", SL_HOST_ANY);
    resolve(r, "b.test", SL_HOST_ANY);
    resolve(r, "a.test", SL_HOST_ANY); /* a is now the most recent */
    resolve(r, "c.test", SL_HOST_ANY); /* so b goes */
    ck_assert_uint_eq(stats(r).entries, 2);
    ck_assert_uint_eq(stats(r).evictions, 1);
    resolve(r, "a.test", SL_HOST_ANY);
    resolve(r, "b.test", SL_HOST_ANY);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "a.test"), 1);
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "b.test"), 2);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(a_hot_name_is_refreshed_before_it_expires)
{
    struct sl_host_resolver *r =
        new_resolver((struct sl_host_resolver_options){.refresh_window_percent = 50});
    resolve(r, "refresh.test", SL_HOST_IPV4); /* TTL 4 s: lookup 1 at t = 0 */
    sleep_ms(2600);                           /* t = 2.6: in the last 50 %, so... */
    resolve(r, "refresh.test", SL_HOST_IPV4); /* ...served from cache while it refreshes */
    sleep_ms(1700);                           /* t = 4.3: the first answer has expired */
    struct result res = resolve(r, "refresh.test", SL_HOST_IPV4);
    ck_assert_int_eq(res.status, 0);
    struct sl_host_resolver_stats s = stats(r);
    ck_assert_uint_eq(s.refreshes, 1);
    ck_assert_uint_eq(s.lookups, 2);
    ck_assert_uint_eq(s.cache_hits, 2); /* the refresh kept the third request a hit */
    ck_assert_int_eq(test_dns_server_queries(&s_dns, "A", "refresh.test"), 2);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(answers_arrive_on_the_callers_loop)
{
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){0});
    struct result res = {0};
    sl_test_latch_init(&res.done);
    ck_assert_int_eq(sl_host_resolver_resolve(r, "a.test", SL_HOST_ANY, s_other, on_resolved, &res),
                     0);
    ck_assert(sl_test_latch_wait(&res.done, 1, 15000));
    ck_assert(res.on_other_loop);
    ck_assert_int_eq(res.status, 0);
    sl_test_latch_clean_up(&res.done);
    sl_host_resolver_release(r);
}
END_TEST

START_TEST(releasing_with_a_lookup_in_flight_still_answers_it)
{
    struct sl_host_resolver *r = new_resolver((struct sl_host_resolver_options){0});
    struct result res = {0};
    sl_test_latch_init(&res.done);
    ck_assert_int_eq(sl_host_resolver_resolve(r, "b.test", SL_HOST_ANY, NULL, on_resolved, &res),
                     0);
    sl_host_resolver_release(r); /* the request holds the resolver until answered */
    ck_assert(sl_test_latch_wait(&res.done, 1, 15000));
    ck_assert_int_eq(res.status, 0);
    sl_test_latch_clean_up(&res.done);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resolver");
    TCase *tc = sl_test_tcase("resolver", 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_and_aaaa_both_come_back_ipv6_first);
    tcase_add_test(tc, cached_answers_live_as_long_as_their_ttl);
    tcase_add_test(tc, max_ttl_caps_long_record_ttls);
    tcase_add_test(tc, purge_forgets_one_host_or_all);
    tcase_add_test(tc, concurrent_requests_for_one_name_share_one_lookup);
    tcase_add_test(tc, a_zero_ttl_answer_is_used_once_and_not_cached);
    tcase_add_test(tc, addresses_come_round_robin_and_failures_go_last);
    tcase_add_test(tc, a_missing_name_is_not_found_and_remembered_briefly);
    tcase_add_test(tc, an_unreachable_server_is_a_temporary_failure);
    tcase_add_test(tc, bad_names_are_rejected_without_a_lookup);
    tcase_add_test(tc, numbers_and_localhost_need_no_lookup);
    tcase_add_test(tc, the_hosts_file_is_honoured);
    tcase_add_test(tc, the_least_recently_used_name_is_evicted_at_the_cap);
    tcase_add_test(tc, a_hot_name_is_refreshed_before_it_expires);
    tcase_add_test(tc, answers_arrive_on_the_callers_loop);
    tcase_add_test(tc, releasing_with_a_lookup_in_flight_still_answers_it);
    suite_add_tcase(s, tc);
    return sl_test_run(s);
}
