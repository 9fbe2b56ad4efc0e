/* SPDX-License-Identifier: Apache-2.0 */
#include "net_helpers.h"
#include "net_tests.h"
#include "test_harness.h"

#include <sluice/error.h>
#include <sluice/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint8_t *pattern(size_t len)
{
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++) {
        data[i] = test_pattern(i);
    }
    return data;
}

/* Client on loop B writes len bytes; the server on loop A echoes; the client checks them. */
static void echo_round_trip(enum sl_socket_domain domain, enum sl_socket_type type, size_t len,
                            size_t chunk)
{
    struct test_conn conn;
    test_conn_init(&conn, domain, type, g_loop_b, g_loop_a);
    conn.server.app_opts.echo = true;
    test_conn_open(&conn);
    uint8_t *data = pattern(len);
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        ck_assert_int_eq(test_side_write(&conn.client, data + off, n), 0);
    }
    ck_assert(test_side_wait_read(&conn.client, len, 20000));
    ck_assert_uint_eq(conn.client.record.read_len, len);
    ck_assert_int_eq(memcmp(conn.client.record.read_data, data, len), 0);
    test_conn_close(&conn);
    ck_assert_int_eq(conn.client.shutdown_status, 0);
    test_conn_clean_up(&conn);
    free(data);
}

START_TEST(echo_over_tcp_ipv4)
{
    echo_round_trip(SL_SOCKET_IPV4, SL_SOCKET_STREAM, 1 << 20, 1 << 20);
}
END_TEST

START_TEST(echo_over_tcp_ipv6)
{
    echo_round_trip(SL_SOCKET_IPV6, SL_SOCKET_STREAM, 1 << 20, 1 << 20);
}
END_TEST

START_TEST(echo_over_a_unix_socket_path)
{
    echo_round_trip(SL_SOCKET_LOCAL, SL_SOCKET_STREAM, 1 << 20, 1 << 20);
}
END_TEST

START_TEST(echo_over_udp)
{
    /* Datagrams keep their boundaries: twenty of them come back as twenty. */
    echo_round_trip(SL_SOCKET_IPV4, SL_SOCKET_DGRAM, 20 * 1000, 1000);
}
END_TEST

START_TEST(echo_over_udp_ipv6)
{
    echo_round_trip(SL_SOCKET_IPV6, SL_SOCKET_DGRAM, 10 * 1200, 1200);
}
END_TEST

static void half_close_client(void *arg)
{
    struct test_conn *conn = arg;
    ck_assert_int_eq(test_handler_write(conn->client.app, "request", 7, NULL, NULL), 0);
    ck_assert_int_eq(test_handler_write_end_of_stream(conn->client.app), 0);
}

static void half_close_server(void *arg)
{
    struct test_conn *conn = arg;
    ck_assert_int_eq(test_handler_write(conn->server.app, "response", 8, NULL, NULL), 0);
    ck_assert_int_eq(test_handler_write_end_of_stream(conn->server.app), 0);
}

START_TEST(half_close_keeps_the_other_direction_open)
{
    struct test_conn conn;
    test_conn_init(&conn, SL_SOCKET_IPV4, SL_SOCKET_STREAM, g_loop_b, g_loop_a);
    conn.client.socket_opts.allow_half_close = true;
    conn.server.socket_opts.allow_half_close = true;
    test_conn_open(&conn);
    sl_test_run_on_loop(conn.client.loop, half_close_client, &conn);
    ck_assert(test_side_wait_read(&conn.server, 7, 10000));
    while (!test_record_end_of_stream(&conn.server.record)) {
        ck_assert(sl_test_latch_wait(&conn.server.record.latch,
                                     sl_test_latch_get(&conn.server.record.latch) + 1, 10000));
    }
    ck_assert_int_eq(memcmp(conn.server.record.read_data, "request", 7), 0);
    /* The client has finished sending, but it still hears the answer. */
    sl_test_run_on_loop(conn.server.loop, half_close_server, &conn);
    ck_assert(test_side_wait_read(&conn.client, 8, 10000));
    while (!test_record_end_of_stream(&conn.client.record)) {
        ck_assert(sl_test_latch_wait(&conn.client.record.latch,
                                     sl_test_latch_get(&conn.client.record.latch) + 1, 10000));
    }
    ck_assert_int_eq(memcmp(conn.client.record.read_data, "response", 8), 0);
    test_conn_close(&conn);
    test_conn_clean_up(&conn);
}
END_TEST

START_TEST(peer_close_shuts_the_channel_down_with_closed)
{
    struct test_conn conn;
    test_conn_init(&conn, SL_SOCKET_IPV4, SL_SOCKET_STREAM, g_loop_b, g_loop_a);
    test_conn_open(&conn);
    sl_channel_shutdown(conn.client.channel, 0, false);
    test_conn_wait_closed(&conn);
    ck_assert_int_eq(conn.client.shutdown_status, 0);
    ck_assert_int_eq(conn.server.shutdown_status, SL_E_CLOSED);
    test_conn_clean_up(&conn);
}
END_TEST

START_TEST(peer_reset_shuts_the_channel_down_with_connection_reset)
{
    struct test_conn conn;
    test_conn_init(&conn, SL_SOCKET_IPV4, SL_SOCKET_STREAM, g_loop_b, g_loop_a);
    conn.raw_client = true;
    test_conn_open(&conn);
    struct linger reset = {.l_onoff = 1, .l_linger = 0}; /* close() sends RST, not FIN */
    ck_assert_int_eq(setsockopt(conn.raw_fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
    test_conn_wait_closed(&conn);
    ck_assert_int_eq(conn.server.shutdown_status, -ECONNRESET);
    test_conn_clean_up(&conn);
}
END_TEST

/* A bare socket whose read callback closes it: nothing may fire or crash afterwards. */
struct self_closer {
    struct sl_socket *socket;
    int reads;
    struct sl_test_latch closed;
};

static void close_on_read(struct sl_socket *socket, int status, void *user_data)
{
    ck_assert_int_eq(status, 0);
    struct self_closer *c = user_data;
    uint8_t byte;
    struct sl_buf buf;
    sl_buf_init_fixed(&buf, &byte, 1);
    size_t n;
    c->reads++;
    ck_assert_int_eq(sl_socket_read(socket, &buf, &n), 0);
    ck_assert_int_eq(sl_socket_close(socket), 0);
    ck_assert(!sl_socket_is_open(socket));
    uint8_t more;
    sl_buf_init_fixed(&buf, &more, 1);
    ck_assert_int_eq(sl_socket_read(socket, &buf, &n), SL_E_CLOSED);
    sl_test_latch_add(&c->closed, 1);
}

static void watch_self_closer(void *arg)
{
    struct self_closer *c = arg;
    ck_assert_int_eq(sl_socket_assign_to_loop(c->socket, g_loop_a), 0);
    ck_assert_int_eq(sl_socket_subscribe_to_readable_events(c->socket, close_on_read, c), 0);
}

static void destroy_self_closer(void *arg)
{
    sl_socket_destroy(((struct self_closer *)arg)->socket);
}

static void on_raw_accept(struct sl_socket *listener, int status, struct sl_socket *incoming,
                          void *user_data)
{
    (void)listener;
    ck_assert_int_eq(status, 0);
    *(struct sl_socket **)user_data = incoming;
}

static void listen_for_raw(void *arg)
{
    struct sl_socket **pair = arg; /* [0] listener, [1] accepted */
    struct sl_socket_options opts = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_LOCAL};
    ck_assert_int_eq(sl_socket_new(&opts, &pair[0]), 0);
    struct sl_socket_endpoint ep;
    test_loopback_endpoint(SL_SOCKET_LOCAL, NULL, &ep);
    ck_assert_int_eq(sl_socket_bind(pair[0], &ep), 0);
    ck_assert_int_eq(sl_socket_listen(pair[0], 4), 0);
    ck_assert_int_eq(sl_socket_start_accept(pair[0], g_loop_a, on_raw_accept, &pair[1]), 0);
}

static void destroy_listener(void *arg)
{
    sl_socket_destroy(((struct sl_socket **)arg)[0]);
}

static void noop(void *arg)
{
    (void)arg;
}

START_TEST(closing_a_socket_inside_its_read_callback_is_safe)
{
    struct sl_socket *pair[2] = {NULL, NULL};
    sl_test_run_on_loop(g_loop_a, listen_for_raw, pair);
    struct sl_socket_endpoint ep;
    ck_assert_int_eq(sl_socket_get_bound_address(pair[0], &ep), 0);
    unsigned char storage[128];
    uint32_t len;
    ck_assert_int_eq(sl_socket_endpoint_parse(SL_SOCKET_LOCAL, &ep, storage, &len), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)storage, len), 0);
    for (int i = 0; i < 1000 && !pair[1]; i++) {
        sl_test_run_on_loop(g_loop_a, noop, NULL); /* the accept happens on loop A */
    }
    ck_assert_ptr_nonnull(pair[1]);
    sl_test_run_on_loop(g_loop_a, destroy_listener, pair);

    struct self_closer c = {.socket = pair[1]};
    sl_test_latch_init(&c.closed);
    sl_test_run_on_loop(g_loop_a, watch_self_closer, &c);
    ck_assert_int_eq(write(fd, "ab", 2), 2);
    ck_assert(sl_test_latch_wait(&c.closed, 1, 10000));
    /* The peer is closed now: this fails (EPIPE) or vanishes, and no callback may run. */
    (void)!send(fd, "cd", 2, MSG_NOSIGNAL);
    sl_test_run_on_loop(g_loop_a, noop, NULL);
    ck_assert_int_eq(c.reads, 1);
    sl_test_run_on_loop(g_loop_a, destroy_self_closer, &c);
    close(fd);
    sl_test_latch_clean_up(&c.closed);
}
END_TEST

void add_echo_tests(Suite *s)
{
    TCase *tc = net_tcase("echo", 60);
    tcase_add_test(tc, echo_over_tcp_ipv4);
    tcase_add_test(tc, echo_over_tcp_ipv6);
    tcase_add_test(tc, echo_over_a_unix_socket_path);
    tcase_add_test(tc, echo_over_udp);
    tcase_add_test(tc, echo_over_udp_ipv6);
    tcase_add_test(tc, half_close_keeps_the_other_direction_open);
    tcase_add_test(tc, peer_close_shuts_the_channel_down_with_closed);
    tcase_add_test(tc, peer_reset_shuts_the_channel_down_with_connection_reset);
    tcase_add_test(tc, closing_a_socket_inside_its_read_callback_is_safe);
    suite_add_tcase(s, tc);
}
