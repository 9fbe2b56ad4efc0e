/* SPDX-License-Identifier: Apache-2.0 */
/* accept4 is a GNU extension. */
#define _GNU_SOURCE

#include "net_helpers.h"
#include "net_tests.h"
#include "test_harness.h"

#include <sluice/error.h>
#include <sluice/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse(enum sl_socket_domain domain, const char *address, uint32_t port)
{
    struct sl_socket_endpoint ep = {.port = port};
    strncpy(ep.address, address, sizeof(ep.address) - 1);
    unsigned char storage[128];
    uint32_t len = 0;
    return sl_socket_endpoint_parse(domain, &ep, storage, &len);
}

START_TEST(good_addresses_parse_for_each_domain)
{
    ck_assert_int_eq(parse(SL_SOCKET_IPV4, "127.0.0.1", 80), 0);
    ck_assert_int_eq(parse(SL_SOCKET_IPV4, "0.0.0.0", 0), 0);
    ck_assert_int_eq(parse(SL_SOCKET_IPV6, "::1", 65535), 0);
    ck_assert_int_eq(parse(SL_SOCKET_IPV6, "fe80::1:2", 1), 0);
    ck_assert_int_eq(parse(SL_SOCKET_LOCAL, "/run/sluice/sluiced.sock", 0), 0);
    ck_assert_int_eq(parse(SL_SOCKET_LOCAL, "@abstract-name", 0), 0);
    ck_assert_int_eq(parse(SL_SOCKET_VSOCK, "1", 1024), 0);
    ck_assert_int_eq(parse(SL_SOCKET_VSOCK, "4294967295", 1024), 0);
}
END_TEST

START_TEST(bad_addresses_are_rejected_with_invalid_address)
{
    ck_assert_int_eq(parse(SL_SOCKET_IPV4, "", 80), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_IPV4, "256.0.0.1", 80), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_IPV4, "localhost", 80), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_IPV4, "::1", 80), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_IPV4, "127.0.0.1", 65536), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_IPV6, "127.0.0.1", 80), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_IPV6, "[::1]", 80), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_IPV6, "::1::2", 80), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_LOCAL, "", 0), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_LOCAL, "@", 0), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_VSOCK, "", 1), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_VSOCK, "-1", 1), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_VSOCK, "4294967296", 1), SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(parse(SL_SOCKET_VSOCK, "12a", 1), SL_E_INVALID_ADDRESS);

    /* A Unix path that fills sun_path, and a field with no terminator at all. */
    struct sl_socket_endpoint ep;
    memset(ep.address, 'a', sizeof(ep.address));
    unsigned char storage[128];
    uint32_t len;
    ck_assert_int_eq(sl_socket_endpoint_parse(SL_SOCKET_LOCAL, &ep, storage, &len),
                     SL_E_INVALID_ADDRESS);
    ep.address[sizeof(ep.address) - 1] = '\0'; /* 107 characters: the longest path that fits */
    ck_assert_int_eq(sl_socket_endpoint_parse(SL_SOCKET_LOCAL, &ep, storage, &len), 0);
    ck_assert_int_eq(sl_socket_endpoint_parse(SL_SOCKET_IPV4, &ep, storage, &len),
                     SL_E_INVALID_ADDRESS);
}
END_TEST

START_TEST(port_zero_binds_a_real_port_and_a_taken_port_is_in_use)
{
    struct sl_socket_options opts = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4};
    struct sl_socket *a, *b;
    ck_assert_int_eq(sl_socket_new(&opts, &a), 0);
    ck_assert_int_eq(sl_socket_new(&opts, &b), 0);
    struct sl_socket_endpoint ep = {.address = "127.0.0.1", .port = 0};
    ck_assert_int_eq(sl_socket_bind(a, &ep), 0);
    struct sl_socket_endpoint bound;
    ck_assert_int_eq(sl_socket_get_bound_address(a, &bound), 0);
    ck_assert_str_eq(bound.address, "127.0.0.1");
    ck_assert_uint_gt(bound.port, 0);
    ck_assert_int_eq(sl_socket_listen(a, 8), 0);
    ck_assert_int_eq(sl_socket_bind(b, &bound), -EADDRINUSE);
    ck_assert_int_eq(sl_socket_listen(b, 8), SL_E_STATE); /* never bound */
    struct sl_socket_endpoint bad = {.address = "nope", .port = 1};
    ck_assert_int_eq(sl_socket_bind(b, &bad), SL_E_INVALID_ADDRESS);
    sl_socket_destroy(a);
    sl_socket_destroy(b);
}
END_TEST

START_TEST(unix_paths_and_abstract_names_report_their_bound_address)
{
    struct sl_socket_options opts = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_LOCAL};
    struct sl_socket *s;
    ck_assert_int_eq(sl_socket_new(&opts, &s), 0);
    struct sl_socket_endpoint ep, bound;
    test_loopback_endpoint(SL_SOCKET_LOCAL, NULL, &ep);
    ck_assert_int_eq(sl_socket_bind(s, &ep), 0);
    ck_assert_int_eq(sl_socket_get_bound_address(s, &bound), 0);
    ck_assert_str_eq(bound.address, ep.address);
    ck_assert_uint_eq(bound.address[0], '@');
    sl_socket_destroy(s);
}
END_TEST

START_TEST(vsock_either_works_or_says_unsupported)
{
    struct sl_socket_options opts = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_VSOCK};
    struct sl_socket *s = NULL;
    int rc = sl_socket_new(&opts, &s);
    ck_assert(rc == 0 || rc == SL_E_UNSUPPORTED);
    if (rc == 0) {
        struct sl_socket_endpoint any = {.address = "4294967295", .port = 0xffffffffu};
        rc = sl_socket_bind(s, &any);
        ck_assert(rc == 0 || rc == -EADDRNOTAVAIL || rc == -ENODEV);
        sl_socket_destroy(s);
    }
}
END_TEST

START_TEST(bad_socket_options_are_rejected)
{
    struct sl_socket_options opts = {.type = (enum sl_socket_type)7, .domain = SL_SOCKET_IPV4};
    struct sl_socket *s = NULL;
    ck_assert_int_eq(sl_socket_new(&opts, &s), SL_E_INVAL);
    opts = (struct sl_socket_options){.type = SL_SOCKET_STREAM, .domain = (enum sl_socket_domain)9};
    ck_assert_int_eq(sl_socket_new(&opts, &s), SL_E_INVAL);
    opts = (struct sl_socket_options){.type = SL_SOCKET_STREAM,
                                      .domain = SL_SOCKET_IPV6,
                                      .keep_alive = true,
                                      .keep_alive_interval_s = 5,
                                      .keep_alive_timeout_s = 30,
                                      .keep_alive_max_probes = 3,
                                      .no_delay = true,
                                      .dual_stack = true};
    ck_assert_int_eq(sl_socket_new(&opts, &s), 0);
    struct sl_socket_options other = opts;
    other.domain = SL_SOCKET_IPV4;
    ck_assert_int_eq(sl_socket_set_options(s, &other), SL_E_INVAL);
    opts.no_delay = false;
    ck_assert_int_eq(sl_socket_set_options(s, &opts), 0);
    ck_assert(!sl_socket_get_options(s)->no_delay);
    sl_socket_destroy(s);
}
END_TEST

static int tcp_option(int fd, int level, int name)
{
    int value = -1;
    socklen_t len = sizeof(value);
    ck_assert_int_eq(getsockopt(fd, level, name, &value, &len), 0);
    return value;
}

static void assert_keep_alive(int fd, int idle_s, int interval_s, int probes)
{
    ck_assert_int_eq(tcp_option(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    ck_assert_int_eq(tcp_option(fd, IPPROTO_TCP, TCP_KEEPIDLE), idle_s);
    ck_assert_int_eq(tcp_option(fd, IPPROTO_TCP, TCP_KEEPINTVL), interval_s);
    ck_assert_int_eq(tcp_option(fd, IPPROTO_TCP, TCP_KEEPCNT), probes);
}

/*
 * The options reach the kernel, set_options can turn them off again, and a connection accepted
 * from a listener carries the listener's settings (sockets skip system calls for settings a
 * fresh socket already has, which relies on that inheritance).
 */
START_TEST(tcp_options_reach_the_kernel_and_accepted_sockets_inherit_them)
{
    struct sl_socket_options opts = {.type = SL_SOCKET_STREAM,
                                     .domain = SL_SOCKET_IPV4,
                                     .keep_alive = true,
                                     .keep_alive_interval_s = 5,
                                     .keep_alive_timeout_s = 30,
                                     .keep_alive_max_probes = 3,
                                     .no_delay = true};
    struct sl_socket *listener = NULL;
    ck_assert_int_eq(sl_socket_new(&opts, &listener), 0);
    int fd = sl_socket_fd(listener);
    ck_assert_int_eq(tcp_option(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    assert_keep_alive(fd, 30, 5, 3);

    struct sl_socket_endpoint at = {.address = "127.0.0.1"};
    ck_assert_int_eq(sl_socket_bind(listener, &at), 0);
    ck_assert_int_eq(sl_socket_listen(listener, 4), 0);
    ck_assert_int_eq(sl_socket_get_bound_address(listener, &at), 0);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)at.port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(client, (struct sockaddr *)&sin, sizeof(sin)), 0);
    int accepted = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(accepted, 0);
    ck_assert_int_eq(tcp_option(accepted, IPPROTO_TCP, TCP_NODELAY), 1);
    assert_keep_alive(accepted, 30, 5, 3);
    close(accepted);
    close(client);

    opts.no_delay = false;
    opts.keep_alive = false;
    ck_assert_int_eq(sl_socket_set_options(listener, &opts), 0);
    ck_assert_int_eq(tcp_option(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    ck_assert_int_eq(tcp_option(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    sl_socket_destroy(listener);
}
END_TEST

void add_address_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("address", 30);
    tcase_add_test(tc, good_addresses_parse_for_each_domain);
    tcase_add_test(tc, bad_addresses_are_rejected_with_invalid_address);
    tcase_add_test(tc, port_zero_binds_a_real_port_and_a_taken_port_is_in_use);
    tcase_add_test(tc, unix_paths_and_abstract_names_report_their_bound_address);
    tcase_add_test(tc, vsock_either_works_or_says_unsupported);
    tcase_add_test(tc, bad_socket_options_are_rejected);
    tcase_add_test(tc, tcp_options_reach_the_kernel_and_accepted_sockets_inherit_them);
    suite_add_tcase(s, tc);
}
