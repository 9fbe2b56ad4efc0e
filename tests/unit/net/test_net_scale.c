/* SPDX-License-Identifier: Apache-2.0 */
#include "net_helpers.h"
#include "net_tests.h"
#include "test_harness.h"

#include <sluice/error.h>
#include <sluice/pipe.h>
#include <sluice/socket_handler.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* 1,000 connections at once ----------------------------------------------------------------- */

enum { CONNECTIONS = 1000 };

struct scale {
    struct sl_socket *listener;
    struct sl_socket_endpoint address;
    struct test_record server_record;
    struct test_record client_record;
    struct sl_channel *server_channels[CONNECTIONS];
    struct sl_channel *client_channels[CONNECTIONS];
    int server_count;           /* loop A only */
    int client_count;           /* loop B only */
    struct sl_test_latch ready; /* one per channel set up, both sides */
    struct sl_test_latch shut;  /* one per channel shut down */
    atomic_int failures;
};

static struct scale *s_scale;

struct scale_conn {
    struct sl_socket *socket;
    bool server;
};

static int build(struct sl_channel *channel, struct sl_socket *socket, bool server)
{
    struct sl_slot *s0, *s1;
    struct sl_handler *sh, *app;
    struct test_handler_options opts = {.name = server ? "srv" : "cli",
                                        .initial_window = SIZE_MAX,
                                        .auto_increment = true,
                                        .echo = server,
                                        .record = server ? &s_scale->server_record
                                                         : &s_scale->client_record};
    int rc = sl_slot_new(channel, &s0);
    rc = rc ? rc : sl_socket_handler_new(socket, NULL, &sh);
    if (rc) {
        sl_socket_destroy(socket);
        return rc;
    }
    rc = sl_slot_set_handler(s0, sh);
    rc = rc ? rc : sl_slot_new(channel, &s1);
    rc = rc ? rc : sl_slot_insert_end(channel, s1);
    rc = rc ? rc : test_handler_new(&opts, &app);
    rc = rc ? rc : sl_slot_set_handler(s1, app);
    return rc ? rc : server ? 0 : test_handler_write(app, "0123456789", 10, NULL, NULL);
}

static void on_scale_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct scale_conn *sc = user_data;
    int rc = status ? status : build(channel, sc->socket, sc->server);
    if (rc) {
        atomic_fetch_add(&s_scale->failures, 1);
    }
    free(sc);
    sl_test_latch_add(&s_scale->ready, 1);
}

static void on_scale_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    (void)status;
    (void)user_data;
    sl_test_latch_add(&s_scale->shut, 1);
}

static struct sl_channel *start_scale_channel(struct sl_loop *loop, struct sl_socket *socket,
                                              bool server)
{
    struct scale_conn *sc = malloc(sizeof(*sc));
    *sc = (struct scale_conn){.socket = socket, .server = server};
    struct sl_channel_options opts = {.loop = loop,
                                      .on_setup = on_scale_setup,
                                      .on_shutdown = on_scale_shutdown,
                                      .user_data = sc};
    struct sl_channel *channel = NULL;
    ck_assert_int_eq(sl_channel_new(&opts, &channel), 0);
    return channel;
}

static void on_scale_accept(struct sl_socket *listener, int status, struct sl_socket *incoming,
                            void *user_data)
{
    (void)listener;
    (void)user_data;
    if (status || sl_socket_assign_to_loop(incoming, g_loop_a) != 0) {
        atomic_fetch_add(&s_scale->failures, 1);
        sl_socket_destroy(incoming);
        return;
    }
    s_scale->server_channels[s_scale->server_count++] =
        start_scale_channel(g_loop_a, incoming, true);
}

static void scale_listen(void *arg)
{
    (void)arg;
    struct sl_socket_options opts = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4};
    ck_assert_int_eq(sl_socket_new(&opts, &s_scale->listener), 0);
    struct sl_socket_endpoint ep = {.address = "127.0.0.1"};
    ck_assert_int_eq(sl_socket_bind(s_scale->listener, &ep), 0);
    ck_assert_int_eq(sl_socket_get_bound_address(s_scale->listener, &s_scale->address), 0);
    ck_assert_int_eq(sl_socket_listen(s_scale->listener, CONNECTIONS), 0);
    ck_assert_int_eq(sl_socket_start_accept(s_scale->listener, g_loop_a, on_scale_accept, NULL), 0);
}

static void on_scale_connect(struct sl_socket *socket, int status, void *user_data)
{
    (void)user_data;
    if (status) {
        atomic_fetch_add(&s_scale->failures, 1);
        sl_socket_destroy(socket);
        sl_test_latch_add(&s_scale->ready, 1);
        return;
    }
    s_scale->client_channels[s_scale->client_count++] =
        start_scale_channel(g_loop_b, socket, false);
}

static void scale_connect_all(void *arg)
{
    (void)arg;
    struct sl_socket_options opts = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4};
    for (int i = 0; i < CONNECTIONS; i++) {
        struct sl_socket *socket;
        ck_assert_int_eq(sl_socket_new(&opts, &socket), 0);
        ck_assert_int_eq(
            sl_socket_connect(socket, &s_scale->address, g_loop_b, on_scale_connect, NULL), 0);
    }
}

static void scale_close_listener(void *arg)
{
    (void)arg;
    sl_socket_destroy(s_scale->listener);
}

static void wait_destroyed(struct test_record *record, uint32_t count)
{
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&record->lock);
        uint32_t n = record->destroy_count;
        pthread_mutex_unlock(&record->lock);
        if (n == count) {
            return;
        }
        sl_test_latch_wait(&record->latch, sl_test_latch_get(&record->latch) + 1, 10);
    }
    ck_abort_msg("channels were not all destroyed");
}

START_TEST(a_thousand_connections_open_echo_and_close_cleanly)
{
    s_scale = calloc(1, sizeof(*s_scale));
    test_record_init(&s_scale->server_record);
    test_record_init(&s_scale->client_record);
    sl_test_latch_init(&s_scale->ready);
    sl_test_latch_init(&s_scale->shut);
    int fds_before = sl_test_fd_count();

    sl_test_run_on_loop(g_loop_a, scale_listen, NULL);
    sl_test_run_on_loop(g_loop_b, scale_connect_all, NULL);
    ck_assert(sl_test_latch_wait(&s_scale->ready, 2 * CONNECTIONS, 60000));
    ck_assert_int_eq(atomic_load(&s_scale->failures), 0);
    for (int waited = 0; test_record_read_len(&s_scale->client_record) < 10 * CONNECTIONS;
         waited++) {
        ck_assert_int_lt(waited, 3000);
        sl_test_latch_wait(&s_scale->client_record.latch,
                           sl_test_latch_get(&s_scale->client_record.latch) + 1, 10);
    }
    /* At least every socket; sanitizer runtimes may hold a descriptor of their own meanwhile. */
    ck_assert_int_ge(sl_test_fd_count(), fds_before + 2 * CONNECTIONS + 1);
    sl_test_run_on_loop(g_loop_a, scale_close_listener, NULL);

    for (int i = 0; i < CONNECTIONS; i++) {
        sl_channel_shutdown(s_scale->client_channels[i], 0, false);
    }
    ck_assert(sl_test_latch_wait(&s_scale->shut, 2 * CONNECTIONS, 60000));
    for (int i = 0; i < CONNECTIONS; i++) {
        sl_channel_release(s_scale->client_channels[i]);
        sl_channel_release(s_scale->server_channels[i]);
    }
    wait_destroyed(&s_scale->client_record, CONNECTIONS);
    wait_destroyed(&s_scale->server_record, CONNECTIONS);
    ck_assert_int_eq(sl_test_fd_count(), fds_before);

    test_record_clean_up(&s_scale->server_record);
    test_record_clean_up(&s_scale->client_record);
    sl_test_latch_clean_up(&s_scale->ready);
    sl_test_latch_clean_up(&s_scale->shut);
    free(s_scale);
}
END_TEST

/* Pipes ------------------------------------------------------------------------------------ */

struct pipe_run {
    struct sl_pipe_read_end *read_end;
    struct sl_pipe_write_end *write_end;
    uint8_t *received;
    size_t received_len;
    bool eof;
    int write_calls;
    int write_order_errors;
    int write_failures;
    struct sl_write_req reqs[16];
    const uint8_t *data;
    struct sl_test_latch progress;
};

static void on_pipe_readable(struct sl_pipe_read_end *read_end, void *user_data)
{
    struct pipe_run *p = user_data;
    for (;;) {
        struct sl_buf buf;
        sl_buf_init_fixed(&buf, p->received + p->received_len, (1 << 20) + 1 - p->received_len);
        size_t n;
        int rc = sl_pipe_read(read_end, &buf, &n);
        if (rc == 0) {
            p->received_len += n;
            continue;
        }
        if (rc == SL_E_CLOSED) {
            p->eof = true;
        }
        break;
    }
    sl_test_latch_add(&p->progress, 1);
}

static void on_pipe_written(struct sl_write_req *req, int status, void *user_data)
{
    struct pipe_run *p = user_data;
    if (req != &p->reqs[p->write_calls]) {
        p->write_order_errors++;
    }
    p->write_failures += status != 0;
    p->write_calls++;
    sl_test_latch_add(&p->progress, 1);
}

static void pipe_start_reading(void *arg)
{
    struct pipe_run *p = arg;
    ck_assert_int_eq(sl_pipe_read_start(p->read_end, g_loop_a, on_pipe_readable, p), 0);
    ck_assert_int_eq(sl_pipe_read_start(p->read_end, g_loop_a, on_pipe_readable, p), SL_E_STATE);
}

static void pipe_write_all(void *arg)
{
    struct pipe_run *p = arg;
    ck_assert_int_eq(sl_pipe_write_attach(p->write_end, g_loop_b), 0);
    for (int i = 0; i < 16; i++) {
        struct sl_cursor chunk = sl_cursor_from(p->data + (size_t)i * 65536, 65536);
        ck_assert_int_eq(sl_pipe_write(p->write_end, &p->reqs[i], chunk, on_pipe_written, p), 0);
    }
    ck_assert_int_eq(p->write_calls, 0); /* never from inside the write call */
}

static void pipe_close_writer(void *arg)
{
    struct pipe_run *p = arg;
    sl_pipe_write_end_destroy(p->write_end);
}

static void pipe_close_reader(void *arg)
{
    struct pipe_run *p = arg;
    sl_pipe_read_end_destroy(p->read_end);
}

/* What the loops have done so far, read on their own threads (the counters are theirs). */
struct pipe_progress {
    struct pipe_run *run;
    size_t received_len;
    int write_calls;
    bool eof;
};

static void read_reader_progress(void *arg)
{
    struct pipe_progress *s = arg;
    s->received_len = s->run->received_len;
    s->eof = s->run->eof;
}

static void read_writer_progress(void *arg)
{
    struct pipe_progress *s = arg;
    s->write_calls = s->run->write_calls;
}

static struct pipe_progress pipe_progress(struct pipe_run *p)
{
    struct pipe_progress s = {.run = p};
    sl_test_run_on_loop(g_loop_a, read_reader_progress, &s);
    sl_test_run_on_loop(g_loop_b, read_writer_progress, &s);
    return s;
}

START_TEST(a_pipe_carries_a_mebibyte_between_two_loops)
{
    struct pipe_run p = {0};
    sl_test_latch_init(&p.progress);
    p.received = malloc((1 << 20) + 1);
    uint8_t *data = malloc(1 << 20);
    for (size_t i = 0; i < (1 << 20); i++) {
        data[i] = test_pattern(i);
    }
    p.data = data;
    ck_assert_int_eq(sl_pipe_new(&p.read_end, &p.write_end), 0);
    sl_test_run_on_loop(g_loop_a, pipe_start_reading, &p);
    sl_test_run_on_loop(g_loop_b, pipe_write_all, &p);
    for (;;) {
        uint64_t seen = sl_test_latch_get(&p.progress); /* before the snapshot: no lost wake-up */
        struct pipe_progress now = pipe_progress(&p);
        if (now.write_calls == 16 && now.received_len == (1 << 20)) {
            break;
        }
        ck_assert(sl_test_latch_wait(&p.progress, seen + 1, 10000));
    }
    ck_assert_int_eq(p.write_order_errors, 0);
    ck_assert_int_eq(p.write_failures, 0);
    ck_assert_int_eq(memcmp(p.received, data, 1 << 20), 0);
    sl_test_run_on_loop(g_loop_b, pipe_close_writer, &p);
    for (;;) {
        uint64_t seen = sl_test_latch_get(&p.progress);
        if (pipe_progress(&p).eof) {
            break;
        }
        ck_assert(sl_test_latch_wait(&p.progress, seen + 1, 10000));
    }
    sl_test_run_on_loop(g_loop_a, pipe_close_reader, &p);
    free(p.received);
    free(data);
    sl_test_latch_clean_up(&p.progress);
}
END_TEST

static void pipe_write_then_destroy(void *arg)
{
    struct pipe_run *p = arg;
    ck_assert_int_eq(sl_pipe_write_attach(p->write_end, g_loop_b), 0);
    for (int i = 0; i < 16; i++) {
        struct sl_cursor chunk = sl_cursor_from(p->data, 65536);
        ck_assert_int_eq(sl_pipe_write(p->write_end, &p->reqs[i], chunk, on_pipe_written, p), 0);
    }
    sl_pipe_write_end_destroy(p->write_end); /* owed completions run now, in order */
    ck_assert_int_eq(p->write_calls, 16);
}

START_TEST(destroying_a_pipe_write_end_reports_every_queued_write)
{
    struct pipe_run p = {0};
    sl_test_latch_init(&p.progress);
    static uint8_t zeros[65536];
    p.data = zeros;
    ck_assert_int_eq(sl_pipe_new(&p.read_end, &p.write_end), 0);
    sl_test_run_on_loop(g_loop_b, pipe_write_then_destroy, &p);
    ck_assert_int_eq(p.write_order_errors, 0);
    ck_assert_int_gt(p.write_failures, 0); /* a pipe holds less than 1 MiB: some never went */
    sl_pipe_read_end_destroy(p.read_end);  /* never attached: any thread may */
    sl_test_latch_clean_up(&p.progress);
}
END_TEST

void add_scale_tests(Suite *s)
{
    TCase *tc = net_tcase("scale", 180);
    tcase_add_test(tc, a_thousand_connections_open_echo_and_close_cleanly);
    tcase_add_test(tc, a_pipe_carries_a_mebibyte_between_two_loops);
    tcase_add_test(tc, destroying_a_pipe_write_end_reports_every_queued_write);
    suite_add_tcase(s, tc);
}
