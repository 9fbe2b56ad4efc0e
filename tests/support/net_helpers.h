/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_NET_HELPERS_H
#define SL_NET_HELPERS_H

/*
 * Real connections for tests: a listener on loopback (or a Unix path / abstract name), a
 * client that connects to it, and on each end a channel of [socket handler][test handler].
 * Everything runs on the loops given; the helpers block the test thread until it is done.
 */

#include <sluice/channel.h>
#include <sluice/socket.h>
#include <sluice/socket_handler.h>

#include "test_handler.h"

struct test_side {
    struct sl_loop *loop;
    struct sl_socket *socket; /* until the socket handler takes it */
    struct sl_channel *channel;
    struct sl_handler *app;
    struct test_record record;
    struct test_handler_options app_opts;
    struct sl_socket_handler_options socket_opts;
    struct sl_test_latch setup_done;
    struct sl_test_latch shutdown_done;
    int setup_status;
    int shutdown_status;
};

struct test_conn {
    struct test_side client;
    struct test_side server;
    struct sl_socket *listener;
    struct sl_socket_endpoint address;
    struct sl_socket_endpoint client_address; /* datagrams: where the server sends */
    enum sl_socket_domain domain;
    enum sl_socket_type type;
    char temp_dir[64];
    bool raw_client; /* the client is a plain blocking socket (raw_fd), not a channel */
    int raw_fd;
};

/*
 * Prepares both sides with default options (app: window SIZE_MAX, auto-increment). Adjust
 * conn->client.app_opts / socket_opts etc. before test_conn_open.
 */
void test_conn_init(struct test_conn *conn, enum sl_socket_domain domain, enum sl_socket_type type,
                    struct sl_loop *client_loop, struct sl_loop *server_loop);

/* Connects and builds both channels; fails the test on any error. */
void test_conn_open(struct test_conn *conn);

/* Waits until both channels have shut down (whoever started it) and releases them. */
void test_conn_wait_closed(struct test_conn *conn);

/* Shuts both channels down gracefully, then as test_conn_wait_closed. */
void test_conn_close(struct test_conn *conn);

/* Frees what test_conn_init set up (records, latches, temp dir). */
void test_conn_clean_up(struct test_conn *conn);

/* Runs test_handler_write(side->app, ...) on the side's loop and returns its result. */
int test_side_write(struct test_side *side, const void *data, size_t len);

/* Waits until side's app has read at least len bytes; false on timeout. */
bool test_side_wait_read(struct test_side *side, size_t len, int timeout_ms);

/* A loopback endpoint for domain with port 0 (or a fresh Unix name under dir). */
void test_loopback_endpoint(enum sl_socket_domain domain, const char *dir,
                            struct sl_socket_endpoint *out);

#endif /* SL_NET_HELPERS_H */
