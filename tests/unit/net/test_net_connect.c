/* SPDX-License-Identifier: Apache-2.0 */
#include "net_helpers.h"
#include "net_tests.h"
#include "test_harness.h"

#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/socket.h>

#include <errno.h>
#include <string.h>

struct attempt {
    struct sl_loop *loop;
    struct sl_socket *socket;
    struct sl_socket_endpoint target;
    struct sl_socket_options opts;
    int connect_rc; /* what sl_socket_connect returned */
    int status;     /* what the callback reported */
    int calls;
    bool close_right_after;
    uint64_t started_ns;
    uint64_t reported_ns;
    struct sl_test_latch done;
};

static void on_connect(struct sl_socket *socket, int status, void *user_data)
{
    struct attempt *a = user_data;
    ck_assert_ptr_eq(socket, a->socket);
    a->status = status;
    a->calls++;
    a->reported_ns = sl_clock_now_ns();
    sl_test_latch_add(&a->done, 1);
}

static void start_attempt(void *arg)
{
    struct attempt *a = arg;
    ck_assert_int_eq(sl_socket_new(&a->opts, &a->socket), 0);
    a->started_ns = sl_clock_now_ns();
    a->connect_rc = sl_socket_connect(a->socket, &a->target, a->loop, on_connect, a);
    if (a->close_right_after) {
        ck_assert_int_eq(sl_socket_close(a->socket), 0);
        ck_assert_int_eq(sl_socket_close(a->socket), 0); /* safe twice */
        ck_assert_int_eq(a->calls, 0);                   /* reported later, not inline */
    }
}

static void destroy_attempt_socket(void *arg)
{
    struct attempt *a = arg;
    sl_socket_destroy(a->socket);
    a->socket = NULL;
}

static void attempt_init(struct attempt *a, enum sl_socket_domain domain, uint32_t timeout_ms)
{
    memset(a, 0, sizeof(*a));
    a->loop = g_loop_a;
    a->opts = (struct sl_socket_options){
        .type = SL_SOCKET_STREAM, .domain = domain, .connect_timeout_ms = timeout_ms};
    sl_test_latch_init(&a->done);
}

/* Runs one attempt to its callback and cleans it up; returns the reported status. */
static int run_attempt(struct attempt *a)
{
    sl_test_run_on_loop(a->loop, start_attempt, a);
    ck_assert_int_eq(a->connect_rc, 0);
    ck_assert(sl_test_latch_wait(&a->done, 1, 15000));
    sl_test_run_on_loop(a->loop, destroy_attempt_socket, a);
    ck_assert_int_eq(a->calls, 1);
    sl_test_latch_clean_up(&a->done);
    return a->status;
}

/* A TCP port on loopback with nothing listening: bind one, note it, close it. */
static uint32_t closed_port(void)
{
    struct sl_socket_options opts = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4};
    struct sl_socket *s;
    ck_assert_int_eq(sl_socket_new(&opts, &s), 0);
    struct sl_socket_endpoint ep = {.address = "127.0.0.1"}, bound;
    ck_assert_int_eq(sl_socket_bind(s, &ep), 0);
    ck_assert_int_eq(sl_socket_get_bound_address(s, &bound), 0);
    sl_socket_destroy(s);
    return bound.port;
}

START_TEST(connect_to_a_closed_port_is_refused)
{
    struct attempt a;
    attempt_init(&a, SL_SOCKET_IPV4, 5000);
    strcpy(a.target.address, "127.0.0.1");
    a.target.port = closed_port();
    ck_assert_int_eq(run_attempt(&a), -ECONNREFUSED);
}
END_TEST

START_TEST(connect_to_a_missing_unix_path_fails_through_the_callback)
{
    struct attempt a;
    attempt_init(&a, SL_SOCKET_LOCAL, 5000);
    strcpy(a.target.address, "/nonexistent/sluice/socket");
    ck_assert_int_eq(run_attempt(&a), -ENOENT);
}
END_TEST

/*
 * A listener with backlog 0 that never accepts: once its queue holds one connection the
 * kernel drops further SYNs, which is what an unreachable server looks like to a client.
 */
struct full_listener {
    struct sl_socket *listener;
    struct sl_socket_endpoint address;
};

static void full_listener_open(struct full_listener *f)
{
    struct sl_socket_options opts = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4};
    ck_assert_int_eq(sl_socket_new(&opts, &f->listener), 0);
    struct sl_socket_endpoint ep = {.address = "127.0.0.1"};
    ck_assert_int_eq(sl_socket_bind(f->listener, &ep), 0);
    ck_assert_int_eq(sl_socket_get_bound_address(f->listener, &f->address), 0);
    ck_assert_int_eq(sl_socket_listen(f->listener, 0), 0);
}

START_TEST(connect_times_out_when_syns_go_unanswered)
{
    struct full_listener f;
    full_listener_open(&f);
    int timed_out = 0;
    for (int i = 0; i < 8 && !timed_out; i++) {
        struct attempt a;
        attempt_init(&a, SL_SOCKET_IPV4, 300);
        a.target = f.address;
        int status = run_attempt(&a);
        ck_assert(status == 0 || status == -ETIMEDOUT);
        if (status == -ETIMEDOUT) {
            timed_out++;
            ck_assert_uint_ge(a.reported_ns - a.started_ns, 300 * SL_NS_PER_MS);
            ck_assert_uint_lt(a.reported_ns - a.started_ns, 3000 * SL_NS_PER_MS);
        }
    }
    ck_assert_int_eq(timed_out, 1);
    sl_socket_destroy(f.listener);
}
END_TEST

START_TEST(closing_during_connect_reports_cancelled_once)
{
    struct full_listener f;
    full_listener_open(&f);
    for (int i = 0; i < 3; i++) { /* the first may complete; later ones hang in SYN_SENT */
        struct attempt a;
        attempt_init(&a, SL_SOCKET_IPV4, 5000);
        a.target = f.address;
        a.close_right_after = true;
        ck_assert_int_eq(run_attempt(&a), SL_E_CANCELED);
    }
    sl_socket_destroy(f.listener);
}
END_TEST

static void connect_then_destroy(void *arg)
{
    struct attempt *a = arg;
    ck_assert_int_eq(sl_socket_new(&a->opts, &a->socket), 0);
    ck_assert_int_eq(sl_socket_connect(a->socket, &a->target, a->loop, on_connect, a), 0);
    sl_socket_destroy(a->socket); /* the result is owed: it is delivered inside destroy */
    ck_assert_int_eq(a->calls, 1);
    a->socket = NULL;
}

START_TEST(destroying_during_connect_delivers_the_result_inside_destroy)
{
    struct attempt a;
    attempt_init(&a, SL_SOCKET_IPV4, 5000);
    strcpy(a.target.address, "127.0.0.1");
    a.target.port = closed_port();
    sl_test_run_on_loop(a.loop, connect_then_destroy, &a);
    ck_assert(a.status == SL_E_CANCELED || a.status == -ECONNREFUSED);
    sl_test_latch_clean_up(&a.done);
}
END_TEST

static void connect_badly(void *arg)
{
    struct attempt *a = arg;
    ck_assert_int_eq(sl_socket_new(&a->opts, &a->socket), 0);
    struct sl_socket_endpoint bad = {.address = "not-an-address", .port = 80};
    ck_assert_int_eq(sl_socket_connect(a->socket, &bad, a->loop, on_connect, a),
                     SL_E_INVALID_ADDRESS);
    ck_assert_int_eq(sl_socket_connect(a->socket, &bad, g_loop_b, on_connect, a),
                     SL_E_WRONG_THREAD);
    sl_socket_destroy(a->socket);
    ck_assert_int_eq(a->calls, 0);
}

START_TEST(bad_connect_arguments_fail_at_once_without_a_callback)
{
    struct attempt a;
    attempt_init(&a, SL_SOCKET_IPV4, 5000);
    sl_test_run_on_loop(a.loop, connect_badly, &a);
    sl_test_latch_clean_up(&a.done);
}
END_TEST

void add_connect_tests(Suite *s)
{
    TCase *tc = net_tcase("connect", 60);
    tcase_add_test(tc, connect_to_a_closed_port_is_refused);
    tcase_add_test(tc, connect_to_a_missing_unix_path_fails_through_the_callback);
    tcase_add_test(tc, connect_times_out_when_syns_go_unanswered);
    tcase_add_test(tc, closing_during_connect_reports_cancelled_once);
    tcase_add_test(tc, destroying_during_connect_delivers_the_result_inside_destroy);
    tcase_add_test(tc, bad_connect_arguments_fail_at_once_without_a_callback);
    suite_add_tcase(s, tc);
}
