/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Lifetimes and edge cases of bare sockets that a review found broken, each test first
 * written to fail: destroying from inside callbacks, callbacks owed at destroy, data that
 * arrives before a reader subscribes, resets while writes are queued, and peers' addresses.
 */

/* accept4 is a Linux extension. */
#define _GNU_SOURCE

#include "net_helpers.h"
#include "net_tests.h"
#include "test_handler.h"
#include "test_harness.h"

#include <sluice/error.h>
#include <sluice/socket.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void sleep_us(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

#define g_loop g_loop_a

static void noop(void *arg)
{
    (void)arg;
}

/* A raw (plain fd) Unix listener on a fresh abstract name. */
static int raw_unix_listener(struct sl_socket_endpoint *ep)
{
    test_loopback_endpoint(SL_SOCKET_LOCAL, NULL, ep);
    unsigned char ss[128];
    uint32_t len;
    ck_assert_int_eq(sl_socket_endpoint_parse(SL_SOCKET_LOCAL, ep, ss, &len), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)ss, len), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    return fd;
}

/* sl_socket_destroy inside the socket's own callback --------------------------------- */

struct r1 {
    int listen_fd;
    struct sl_socket_endpoint ep;
    struct sl_socket *socket;
    struct sl_write_req req;
    int done_calls;
    int done_status;
    struct sl_test_latch connected;
};

static void r1_on_done(struct sl_write_req *req, int status, void *user_data)
{
    (void)req;
    struct r1 *t = user_data;
    t->done_calls++;
    t->done_status = status;
}

static void r1_on_connect(struct sl_socket *socket, int status, void *user_data)
{
    struct r1 *t = user_data;
    ck_assert_int_eq(status, 0);
    /* One byte goes out at once; its completion is queued for the socket's delivery task. */
    ck_assert_int_eq(sl_socket_write(socket, &t->req, sl_cursor_from("x", 1), r1_on_done, t), 0);
    ck_assert_int_eq(t->done_calls, 0);
    /* Documented as safe: "destroying from inside one of the socket's own callbacks". */
    sl_socket_destroy(socket);
    sl_test_latch_add(&t->connected, 1);
}

static void r1_start(void *arg)
{
    struct r1 *t = arg;
    struct sl_socket_options o = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_LOCAL};
    ck_assert_int_eq(sl_socket_new(&o, &t->socket), 0);
    ck_assert_int_eq(sl_socket_connect(t->socket, &t->ep, g_loop, r1_on_connect, t), 0);
}

START_TEST(destroy_inside_on_connect_with_a_write_done_is_safe_and_reports_it)
{
    struct r1 t = {0};
    sl_test_latch_init(&t.connected);
    t.listen_fd = raw_unix_listener(&t.ep);
    sl_test_run_on_loop(g_loop, r1_start, &t);
    ck_assert(sl_test_latch_wait(&t.connected, 1, 5000));
    for (int i = 0; i < 3; i++) {
        sl_test_run_on_loop(g_loop, noop, NULL); /* let the socket's delivery task run */
    }
    /* sl_write_done_fn: "Called exactly once per queued write". */
    ck_assert_int_eq(t.done_calls, 1);
    close(t.listen_fd);
    sl_test_latch_clean_up(&t.connected);
}
END_TEST

/* a write completion lost when destroy is called from an earlier completion ---------- */

struct r2 {
    int listen_fd;
    struct sl_socket_endpoint ep;
    struct sl_socket *socket;
    struct sl_write_req req[2];
    int done_calls[2];
    struct sl_test_latch connected;
};

static void r2_on_done(struct sl_write_req *req, int status, void *user_data)
{
    (void)status;
    struct r2 *t = user_data;
    int i = req == &t->req[0] ? 0 : 1;
    t->done_calls[i]++;
    if (i == 0) {
        sl_socket_destroy(t->socket); /* from inside the first completion */
    }
}

static void r2_on_connect(struct sl_socket *socket, int status, void *user_data)
{
    struct r2 *t = user_data;
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(sl_socket_write(socket, &t->req[0], sl_cursor_from("a", 1), r2_on_done, t), 0);
    ck_assert_int_eq(sl_socket_write(socket, &t->req[1], sl_cursor_from("b", 1), r2_on_done, t), 0);
    sl_test_latch_add(&t->connected, 1);
}

static void r2_start(void *arg)
{
    struct r2 *t = arg;
    struct sl_socket_options o = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_LOCAL};
    ck_assert_int_eq(sl_socket_new(&o, &t->socket), 0);
    ck_assert_int_eq(sl_socket_connect(t->socket, &t->ep, g_loop, r2_on_connect, t), 0);
}

START_TEST(destroy_inside_a_write_completion_still_reports_the_other_writes)
{
    struct r2 t = {0};
    sl_test_latch_init(&t.connected);
    t.listen_fd = raw_unix_listener(&t.ep);
    sl_test_run_on_loop(g_loop, r2_start, &t);
    ck_assert(sl_test_latch_wait(&t.connected, 1, 5000));
    for (int i = 0; i < 3; i++) {
        sl_test_run_on_loop(g_loop, noop, NULL);
    }
    ck_assert_int_eq(t.done_calls[0], 1);
    ck_assert_int_eq(t.done_calls[1], 1); /* exactly once per queued write */
    close(t.listen_fd);
    sl_test_latch_clean_up(&t.connected);
}
END_TEST

/* data that arrives before subscribe_to_readable_events is never reported ------------- */

struct r3 {
    int listen_fd;
    int peer_fd;
    struct sl_socket_endpoint ep;
    struct sl_socket *socket;
    struct sl_test_latch readable;
};

static void r3_on_readable(struct sl_socket *socket, int status, void *user_data)
{
    (void)socket;
    (void)status;
    sl_test_latch_add(&((struct r3 *)user_data)->readable, 1);
}

static void r3_on_connect(struct sl_socket *socket, int status, void *user_data)
{
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(sl_socket_subscribe_to_readable_events(socket, r3_on_readable, user_data), 0);
}

static void r3_start(void *arg)
{
    struct r3 *t = arg;
    struct sl_socket_options o = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_LOCAL};
    ck_assert_int_eq(sl_socket_new(&o, &t->socket), 0);
    ck_assert_int_eq(sl_socket_connect(t->socket, &t->ep, g_loop, r3_on_connect, t), 0);
    /* The server greets at once (think SMTP/SSH banner). */
    t->peer_fd = accept4(t->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(t->peer_fd, 0);
    ck_assert_int_eq(write(t->peer_fd, "220 hello\r\n", 11), 11);
}

static void r3_destroy(void *arg)
{
    sl_socket_destroy(((struct r3 *)arg)->socket);
}

START_TEST(a_greeting_that_arrives_before_subscribing_is_reported)
{
    struct r3 t = {0};
    sl_test_latch_init(&t.readable);
    t.listen_fd = raw_unix_listener(&t.ep);
    sl_test_run_on_loop(g_loop, r3_start, &t);
    bool seen = sl_test_latch_wait(&t.readable, 1, 1000);
    if (!seen) {
        /* Control: a second write produces a new edge and is reported. */
        ck_assert_int_eq(write(t.peer_fd, "x", 1), 1);
        ck_assert(sl_test_latch_wait(&t.readable, 1, 1000));
    }
    sl_test_run_on_loop(g_loop, r3_destroy, &t);
    close(t.peer_fd);
    close(t.listen_fd);
    sl_test_latch_clean_up(&t.readable);
    ck_assert_msg(seen, "on_readable never ran for data that was already waiting");
}
END_TEST

/* a peer's 107-byte abstract name comes back without a terminator ---------------------- */

struct r4 {
    struct sl_socket *listener;
    struct sl_socket *incoming;
    struct sl_socket_endpoint ep;
};

static void r4_on_accept(struct sl_socket *listener, int status, struct sl_socket *incoming,
                         void *user_data)
{
    (void)listener;
    ck_assert_int_eq(status, 0);
    ((struct r4 *)user_data)->incoming = incoming;
}

static void r4_listen(void *arg)
{
    struct r4 *t = arg;
    struct sl_socket_options o = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_LOCAL};
    ck_assert_int_eq(sl_socket_new(&o, &t->listener), 0);
    test_loopback_endpoint(SL_SOCKET_LOCAL, NULL, &t->ep);
    ck_assert_int_eq(sl_socket_bind(t->listener, &t->ep), 0);
    ck_assert_int_eq(sl_socket_listen(t->listener, 4), 0);
    ck_assert_int_eq(sl_socket_start_accept(t->listener, g_loop, r4_on_accept, t), 0);
}

static void r4_clean_up(void *arg)
{
    struct r4 *t = arg;
    sl_socket_destroy(t->incoming);
    sl_socket_destroy(t->listener);
}

START_TEST(a_peers_overlong_abstract_name_is_refused_not_unterminated)
{
    struct r4 t = {0};
    sl_test_run_on_loop(g_loop, r4_listen, &t);
    /* The (untrusted) client binds the longest abstract name the kernel allows: 107 bytes. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un me = {.sun_family = AF_UNIX};
    memset(me.sun_path + 1, 'A', sizeof(me.sun_path) - 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
    unsigned char ss[128];
    uint32_t len;
    ck_assert_int_eq(sl_socket_endpoint_parse(SL_SOCKET_LOCAL, &t.ep, ss, &len), 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)ss, len), 0);
    for (int i = 0; i < 1000 && !t.incoming; i++) {
        sl_test_run_on_loop(g_loop, noop, NULL);
    }
    ck_assert_ptr_nonnull(t.incoming);
    struct sl_socket_endpoint peer;
    /* '@' + 107 bytes + NUL does not fit the 108-byte field: refused, never unterminated. */
    int rc = sl_socket_get_remote_address(t.incoming, &peer);
    sl_test_run_on_loop(g_loop, r4_clean_up, &t);
    close(fd);
    ck_assert_int_eq(rc, SL_E_INVALID_ADDRESS);
}
END_TEST

/* a reset while writes are queued is reported as a clean close ------------------------ */

START_TEST(a_reset_with_writes_queued_is_reported_as_a_reset)
{
    struct test_conn conn;
    test_conn_init(&conn, SL_SOCKET_IPV4, SL_SOCKET_STREAM, g_loop, g_loop);
    conn.raw_client = true;
    test_conn_open(&conn);
    /* The server sends far more than the kernel buffers hold; the rest waits in its queue. */
    size_t len = 8u << 20;
    uint8_t *data = calloc(1, len);
    ck_assert_int_eq(test_side_write(&conn.server, data, len), 0);
    sleep_us(100 * 1000);
    struct linger reset = {.l_onoff = 1, .l_linger = 0}; /* close() sends RST */
    ck_assert_int_eq(setsockopt(conn.raw_fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
    test_conn_wait_closed(&conn);
    free(data);
    int status = conn.server.shutdown_status;
    test_conn_clean_up(&conn);
    ck_assert_msg(status == -ECONNRESET, "shutdown status %d (%s), wanted -ECONNRESET", status,
                  sl_error_name(status));
}
END_TEST

/* sl_socket_destroy (outside any callback) reports only the first queued write -------- */

struct r8 {
    int listen_fd;
    struct sl_socket_endpoint ep;
    struct sl_socket *socket;
    struct sl_write_req req[3];
    uint8_t *big;
    int done_calls;
    struct sl_test_latch connected;
};

static void r8_on_done(struct sl_write_req *req, int status, void *user_data)
{
    (void)req;
    (void)status;
    ((struct r8 *)user_data)->done_calls++;
}

static void r8_on_connect(struct sl_socket *socket, int status, void *user_data)
{
    (void)socket;
    ck_assert_int_eq(status, 0);
    sl_test_latch_add(&((struct r8 *)user_data)->connected, 1);
}

static void r8_start(void *arg)
{
    struct r8 *t = arg;
    struct sl_socket_options o = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_LOCAL};
    ck_assert_int_eq(sl_socket_new(&o, &t->socket), 0);
    ck_assert_int_eq(sl_socket_connect(t->socket, &t->ep, g_loop, r8_on_connect, t), 0);
}

static void r8_write_then_destroy(void *arg)
{
    struct r8 *t = arg;
    /* The peer never reads: the first write stays partly queued, the others behind it. */
    ck_assert_int_eq(
        sl_socket_write(t->socket, &t->req[0], sl_cursor_from(t->big, 8u << 20), r8_on_done, t), 0);
    ck_assert_int_eq(sl_socket_write(t->socket, &t->req[1], sl_cursor_from("a", 1), r8_on_done, t),
                     0);
    ck_assert_int_eq(sl_socket_write(t->socket, &t->req[2], sl_cursor_from("b", 1), r8_on_done, t),
                     0);
    ck_assert_int_eq(t->done_calls, 0);
    /* socket.h: "Callbacks not yet delivered (write completions...) run now, inside this call". */
    sl_socket_destroy(t->socket);
    ck_assert_int_eq(t->done_calls, 3);
}

START_TEST(destroy_reports_every_queued_write_inside_the_call)
{
    struct r8 t = {0};
    t.big = calloc(1, 8u << 20);
    sl_test_latch_init(&t.connected);
    t.listen_fd = raw_unix_listener(&t.ep);
    sl_test_run_on_loop(g_loop, r8_start, &t);
    ck_assert(sl_test_latch_wait(&t.connected, 1, 5000));
    sl_test_run_on_loop(g_loop, r8_write_then_destroy, &t);
    close(t.listen_fd);
    free(t.big);
    sl_test_latch_clean_up(&t.connected);
}
END_TEST

/* a graceful close with unread input resets the connection and drops the reply ------- */

struct r10_reader {
    int fd;
    size_t total;
    ssize_t last;
    int last_errno;
};

static void *r10_read_slowly(void *arg)
{
    struct r10_reader *r = arg;
    static uint8_t buf[16384];
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof(buf));
        if (n <= 0) {
            r->last = n;
            r->last_errno = n < 0 ? errno : 0;
            return NULL;
        }
        r->total += (size_t)n;
        sleep_us(2000); /* a slow reader keeps the reply in the kernel's buffers */
    }
}

START_TEST(a_graceful_close_delivers_the_whole_reply_then_end_of_file)
{
    struct test_conn conn;
    test_conn_init(&conn, SL_SOCKET_IPV4, SL_SOCKET_STREAM, g_loop_a, g_loop_a);
    conn.raw_client = true;
    conn.server.app_opts.initial_window = 0; /* the server does not read what the client sends */
    test_conn_open(&conn);
    ck_assert_int_eq(write(conn.raw_fd, "pipelined request", 17), 17); /* never read */
    size_t len = 2u << 20;
    uint8_t *data = calloc(1, len);
    ck_assert_int_eq(test_side_write(&conn.server, data, len), 0); /* the reply */
    sl_channel_shutdown(conn.server.channel, 0, false);            /* then a clean close */
    struct r10_reader r = {.fd = conn.raw_fd};
    pthread_t th;
    pthread_create(&th, NULL, r10_read_slowly, &r);
    pthread_join(th, NULL);
    test_conn_wait_closed(&conn);
    int status = conn.server.shutdown_status;
    free(data);
    test_conn_clean_up(&conn);
    ck_assert_int_eq(status, 0);
    ck_assert_msg(r.total == len && r.last == 0,
                  "client got %zu of %zu bytes, then read() = %zd (%s)", r.total, len, r.last,
                  strerror(r.last_errno));
}
END_TEST

/* A datagram that cannot go fails alone ------------------------------------------------------ */

struct dgram {
    struct sl_socket *socket;
    struct sl_write_req req[3];
    int status[3];
    int done;
    uint8_t big[70000];
    int peer_fd;
};

static void on_dgram_done(struct sl_write_req *req, int status, void *user_data)
{
    struct dgram *d = user_data;
    d->status[req - d->req] = status;
    d->done++;
}

static void on_dgram_connect(struct sl_socket *socket, int status, void *user_data)
{
    (void)socket;
    ck_assert_int_eq(status, 0);
    (void)user_data;
}

static void dgram_start(void *arg)
{
    struct dgram *d = arg;
    struct sl_socket_options o = {.type = SL_SOCKET_DGRAM, .domain = SL_SOCKET_IPV4};
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    ck_assert_int_eq(getsockname(d->peer_fd, (struct sockaddr *)&peer, &len), 0);
    struct sl_socket_endpoint ep = {.address = "127.0.0.1", .port = ntohs(peer.sin_port)};
    ck_assert_int_eq(sl_socket_new(&o, &d->socket), 0);
    ck_assert_int_eq(sl_socket_connect(d->socket, &ep, g_loop, on_dgram_connect, d), 0);
}

static void dgram_send(void *arg)
{
    struct dgram *d = arg;
    const struct sl_cursor parts[3] = {sl_cursor_from("first", 5),
                                       sl_cursor_from(d->big, sizeof(d->big)),
                                       sl_cursor_from("third", 5)};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sl_socket_write(d->socket, &d->req[i], parts[i], on_dgram_done, d), 0);
    }
}

static void dgram_destroy(void *arg)
{
    sl_socket_destroy(((struct dgram *)arg)->socket);
}

START_TEST(an_oversized_datagram_fails_alone)
{
    struct dgram *d = calloc(1, sizeof(*d));
    d->peer_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(d->peer_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    sl_test_run_on_loop(g_loop, dgram_start, d);
    sl_test_run_on_loop(g_loop, noop, NULL); /* the connect report */
    sl_test_run_on_loop(g_loop, dgram_send, d);
    sl_test_run_on_loop(g_loop, noop, NULL); /* the completions */
    ck_assert_int_eq(d->done, 3);
    ck_assert_int_eq(d->status[0], 0);
    ck_assert_int_eq(d->status[1], -EMSGSIZE);
    ck_assert_int_eq(d->status[2], 0);
    char buf[16];
    ck_assert_int_eq(recv(d->peer_fd, buf, sizeof(buf), 0), 5);
    ck_assert_int_eq(recv(d->peer_fd, buf, sizeof(buf), 0), 5);
    ck_assert_int_eq(memcmp(buf, "third", 5), 0);
    sl_test_run_on_loop(g_loop, dgram_destroy, d);
    close(d->peer_fd);
    free(d);
}
END_TEST

void add_lifetime_tests(Suite *s)
{
    TCase *tc = net_tcase("lifetime", 60);
    tcase_add_test(tc, destroy_inside_on_connect_with_a_write_done_is_safe_and_reports_it);
    tcase_add_test(tc, destroy_inside_a_write_completion_still_reports_the_other_writes);
    tcase_add_test(tc, destroy_reports_every_queued_write_inside_the_call);
    tcase_add_test(tc, a_greeting_that_arrives_before_subscribing_is_reported);
    tcase_add_test(tc, a_peers_overlong_abstract_name_is_refused_not_unterminated);
    tcase_add_test(tc, a_reset_with_writes_queued_is_reported_as_a_reset);
    tcase_add_test(tc, a_graceful_close_delivers_the_whole_reply_then_end_of_file);
    tcase_add_test(tc, an_oversized_datagram_fails_alone);
    suite_add_tcase(s, tc);
}
