/* SPDX-License-Identifier: Apache-2.0 */
#include "net_helpers.h"

#include <sluice/error.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_int s_unix_counter;

void test_loopback_endpoint(enum sl_socket_domain domain, const char *dir,
                            struct sl_socket_endpoint *out)
{
    memset(out, 0, sizeof(*out));
    int n = atomic_fetch_add(&s_unix_counter, 1);
    switch (domain) {
    case SL_SOCKET_IPV4:
        strcpy(out->address, "127.0.0.1");
        break;
    case SL_SOCKET_IPV6:
        strcpy(out->address, "::1");
        break;
    case SL_SOCKET_LOCAL:
        if (dir && dir[0]) {
            snprintf(out->address, sizeof(out->address), "%s/s%d.sock", dir, n);
        } else {
            snprintf(out->address, sizeof(out->address), "@sluice-test-%d-%d", (int)getpid(), n);
        }
        break;
    case SL_SOCKET_VSOCK:
        strcpy(out->address, "1");
        out->port = 0;
        break;
    }
}

static void side_init(struct test_side *side, struct sl_loop *loop)
{
    memset(side, 0, sizeof(*side));
    side->loop = loop;
    test_record_init(&side->record);
    side->app_opts = (struct test_handler_options){
        .name = "app", .initial_window = SIZE_MAX, .auto_increment = true, .record = &side->record};
    sl_test_latch_init(&side->setup_done);
    sl_test_latch_init(&side->shutdown_done);
}

void test_conn_init(struct test_conn *conn, enum sl_socket_domain domain, enum sl_socket_type type,
                    struct sl_loop *client_loop, struct sl_loop *server_loop)
{
    memset(conn, 0, sizeof(*conn));
    conn->raw_fd = -1;
    conn->domain = domain;
    conn->type = type;
    side_init(&conn->client, client_loop);
    side_init(&conn->server, server_loop);
}

static void on_channel_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    struct test_side *side = user_data;
    side->shutdown_status = status;
    sl_test_latch_add(&side->shutdown_done, 1);
}

static int build_slots(struct test_side *side, struct sl_channel *channel)
{
    struct sl_slot *slot0, *slot1;
    struct sl_handler *socket_handler;
    int rc = sl_slot_new(channel, &slot0);
    rc = rc ? rc : sl_socket_handler_new(side->socket, &side->socket_opts, &socket_handler);
    if (rc) {
        return rc;
    }
    side->socket = NULL; /* the handler owns it now */
    rc = sl_slot_set_handler(slot0, socket_handler);
    rc = rc ? rc : sl_slot_new(channel, &slot1);
    rc = rc ? rc : sl_slot_insert_end(channel, slot1);
    rc = rc ? rc : test_handler_new(&side->app_opts, &side->app);
    return rc ? rc : sl_slot_set_handler(slot1, side->app);
}

static void on_channel_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct test_side *side = user_data;
    side->setup_status = status == 0 ? build_slots(side, channel) : status;
    sl_test_latch_add(&side->setup_done, 1);
}

/* Loop thread: the socket is attached; give it a channel. */
static void start_channel(struct test_side *side)
{
    struct sl_channel_options opts = {.loop = side->loop,
                                      .on_setup = on_channel_setup,
                                      .on_shutdown = on_channel_shutdown,
                                      .user_data = side};
    int rc = sl_channel_new(&opts, &side->channel);
    if (rc) {
        side->setup_status = rc;
        sl_test_latch_add(&side->setup_done, 1);
    }
}

static void on_client_connect(struct sl_socket *socket, int status, void *user_data)
{
    (void)socket;
    struct test_side *side = user_data;
    if (status) {
        side->setup_status = status;
        sl_test_latch_add(&side->setup_done, 1);
        return;
    }
    start_channel(side);
}

static void on_server_attached(void *arg)
{
    struct test_side *side = arg;
    int rc = sl_socket_assign_to_loop(side->socket, side->loop);
    if (rc) {
        side->setup_status = rc;
        sl_test_latch_add(&side->setup_done, 1);
        return;
    }
    start_channel(side);
}

static void on_accept(struct sl_socket *listener, int status, struct sl_socket *incoming,
                      void *user_data)
{
    (void)listener;
    struct test_conn *conn = user_data;
    if (status || conn->server.socket || conn->server.channel) {
        sl_socket_destroy(incoming); /* only the first connection is ours */
        return;
    }
    conn->server.socket = incoming;
    on_server_attached(&conn->server); /* the listener runs on the server's loop */
}

static struct sl_socket_options socket_options(const struct test_conn *conn)
{
    return (struct sl_socket_options){
        .type = conn->type, .domain = conn->domain, .connect_timeout_ms = 5000, .no_delay = true};
}

static void open_listener(void *arg)
{
    struct test_conn *conn = arg;
    struct sl_socket_options opts = socket_options(conn);
    test_loopback_endpoint(conn->domain, conn->temp_dir, &conn->address);
    ck_assert_int_eq(sl_socket_new(&opts, &conn->listener), 0);
    ck_assert_int_eq(sl_socket_bind(conn->listener, &conn->address), 0);
    struct sl_socket_endpoint bound;
    ck_assert_int_eq(sl_socket_get_bound_address(conn->listener, &bound), 0);
    conn->address.port = bound.port;
    if (conn->type == SL_SOCKET_STREAM) {
        ck_assert_int_eq(sl_socket_listen(conn->listener, 16), 0);
        ck_assert_int_eq(sl_socket_start_accept(conn->listener, conn->server.loop, on_accept, conn),
                         0);
    }
}

static void connect_client(void *arg)
{
    struct test_conn *conn = arg;
    struct sl_socket_options opts = socket_options(conn);
    ck_assert_int_eq(sl_socket_new(&opts, &conn->client.socket), 0);
    if (conn->type == SL_SOCKET_DGRAM) {
        struct sl_socket_endpoint local;
        test_loopback_endpoint(conn->domain, conn->temp_dir, &local);
        ck_assert_int_eq(sl_socket_bind(conn->client.socket, &local), 0);
        ck_assert_int_eq(sl_socket_get_bound_address(conn->client.socket, &conn->client_address),
                         0);
    }
    ck_assert_int_eq(sl_socket_connect(conn->client.socket, &conn->address, conn->client.loop,
                                       on_client_connect, &conn->client),
                     0);
}

/* Datagrams: the "listener" is the server's socket; point it at the client and attach it. */
static void connect_udp_server(void *arg)
{
    struct test_conn *conn = arg;
    conn->server.socket = conn->listener;
    conn->listener = NULL;
    ck_assert_int_eq(sl_socket_connect(conn->server.socket, &conn->client_address,
                                       conn->server.loop, on_client_connect, &conn->server),
                     0);
}

static void close_listener(void *arg)
{
    struct test_conn *conn = arg;
    sl_socket_destroy(conn->listener);
    conn->listener = NULL;
}

/* A plain blocking client: tests drive it from their own threads. */
static void connect_raw_client(struct test_conn *conn)
{
    unsigned char storage[128];
    uint32_t len;
    ck_assert_int_eq(sl_socket_endpoint_parse(conn->domain, &conn->address, storage, &len), 0);
    int family = conn->domain == SL_SOCKET_IPV6 ? AF_INET6 : AF_INET;
    conn->raw_fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(conn->raw_fd, 0);
    ck_assert_int_eq(connect(conn->raw_fd, (struct sockaddr *)storage, len), 0);
}

void test_conn_open(struct test_conn *conn)
{
    if (conn->domain == SL_SOCKET_LOCAL && conn->temp_dir[0] == '\0' &&
        conn->type == SL_SOCKET_STREAM) {
        strcpy(conn->temp_dir, "/tmp/sluice-test-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(conn->temp_dir));
    }
    sl_test_run_on_loop(conn->server.loop, open_listener, conn);
    if (conn->raw_client) {
        connect_raw_client(conn);
        ck_assert(sl_test_latch_wait(&conn->server.setup_done, 1, 10000));
        ck_assert_int_eq(conn->server.setup_status, 0);
        sl_test_run_on_loop(conn->server.loop, close_listener, conn);
        return;
    }
    sl_test_run_on_loop(conn->client.loop, connect_client, conn);
    if (conn->type == SL_SOCKET_DGRAM) {
        sl_test_run_on_loop(conn->server.loop, connect_udp_server, conn);
    }
    ck_assert(sl_test_latch_wait(&conn->client.setup_done, 1, 10000));
    ck_assert(sl_test_latch_wait(&conn->server.setup_done, 1, 10000));
    ck_assert_int_eq(conn->client.setup_status, 0);
    ck_assert_int_eq(conn->server.setup_status, 0);
    if (conn->listener) {
        sl_test_run_on_loop(conn->server.loop, close_listener, conn);
    }
}

static void release_side(struct test_side *side)
{
    if (!side->channel) {
        return;
    }
    sl_channel_release(side->channel);
    side->channel = NULL;
    /* The app handler's destroy marks the record: the channel is gone. */
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&side->record.lock);
        bool destroyed = side->record.destroyed;
        pthread_mutex_unlock(&side->record.lock);
        if (destroyed) {
            return;
        }
        sl_test_latch_wait(&side->record.latch, sl_test_latch_get(&side->record.latch) + 1, 10);
    }
    ck_abort_msg("channel was not destroyed");
}

void test_conn_wait_closed(struct test_conn *conn)
{
    if (conn->raw_client) {
        if (conn->raw_fd >= 0) {
            close(conn->raw_fd);
            conn->raw_fd = -1;
        }
        ck_assert(sl_test_latch_wait(&conn->server.shutdown_done, 1, 15000));
        release_side(&conn->server);
        return;
    }
    ck_assert(sl_test_latch_wait(&conn->client.shutdown_done, 1, 15000));
    ck_assert(sl_test_latch_wait(&conn->server.shutdown_done, 1, 15000));
    release_side(&conn->client);
    release_side(&conn->server);
}

void test_conn_close(struct test_conn *conn)
{
    if (conn->client.channel) {
        sl_channel_shutdown(conn->client.channel, 0, false);
    }
    sl_channel_shutdown(conn->server.channel, 0, false);
    test_conn_wait_closed(conn);
}

static void side_clean_up(struct test_side *side)
{
    test_record_clean_up(&side->record);
    sl_test_latch_clean_up(&side->setup_done);
    sl_test_latch_clean_up(&side->shutdown_done);
}

void test_conn_clean_up(struct test_conn *conn)
{
    side_clean_up(&conn->client);
    side_clean_up(&conn->server);
    if (conn->temp_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", conn->temp_dir);
        ck_assert_int_eq(system(cmd), 0);
    }
}

struct side_write {
    struct test_side *side;
    const void *data;
    size_t len;
    int rc;
};

static void write_on_loop(void *arg)
{
    struct side_write *w = arg;
    w->rc = test_handler_write(w->side->app, w->data, w->len, NULL, NULL);
}

int test_side_write(struct test_side *side, const void *data, size_t len)
{
    struct side_write w = {.side = side, .data = data, .len = len};
    sl_test_run_on_loop(side->loop, write_on_loop, &w);
    return w.rc;
}

bool test_side_wait_read(struct test_side *side, size_t len, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        if (test_record_read_len(&side->record) >= len) {
            return true;
        }
        sl_test_latch_wait(&side->record.latch, sl_test_latch_get(&side->record.latch) + 1, 10);
    }
    return test_record_read_len(&side->record) >= len;
}
