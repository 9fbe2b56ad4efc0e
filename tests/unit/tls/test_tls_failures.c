/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_kit.h"
#include "tls_tests.h"

#include <sluice/error.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Handshakes and records that go wrong between our own client and server: each failure must
 * reach the application as its own code, on both sides where TLS tells the other side.
 */

static int connect_with(struct sl_tls_ctx *server_ctx, struct sl_tls_ctx *client_ctx,
                        const char *server_name, int *server_error)
{
    struct stream_end server_end, client;
    stream_end_init(&server_end, &(struct stream_options){0});
    stream_end_init(&client, &(struct stream_options){0});
    struct kit_server srv;
    struct sl_tls_connection_options stls = {.ctx = server_ctx};
    struct sl_tls_connection_options ctls = {.ctx = client_ctx, .server_name = server_name};
    kit_server_start(&srv, &stls, &server_end, 1);
    int rc = kit_connect(&client, srv.port, &ctls);
    if (rc == 0) {
        /* TLS 1.3: the client is done before the server has checked its certificate. */
        ck_assert(stream_end_wait(&client, stream_end_is_shut_down, 10000));
        rc = client.shutdown_status;
    }
    ck_assert(sl_test_latch_wait(&srv.events, 1, 10000));
    *server_error = atomic_load(&srv.last_error);
    kit_server_stop(&srv);
    stream_end_clean_up(&server_end);
    stream_end_clean_up(&client);
    return rc;
}

static struct sl_tls_ctx *server_ctx_for(const struct tls_cert_pair *pair,
                                         enum sl_tls_client_auth auth)
{
    struct sl_tls_ctx_options o = {.cert_file = pair->cert,
                                   .key_file = pair->key,
                                   .ca_file = g_certs.ca_cert,
                                   .client_auth = auth};
    struct sl_tls_ctx *ctx;
    ck_assert_int_eq(sl_tls_ctx_new_server(&o, &ctx), 0);
    return ctx;
}

static void expect_failure(const struct tls_cert_pair *server_pair, struct sl_tls_ctx *client_ctx,
                           const char *name, int client_error, int server_error)
{
    struct sl_tls_ctx *sctx = server_ctx_for(server_pair, SL_TLS_CLIENT_AUTH_NONE);
    int seen = 0;
    ck_assert_int_eq(connect_with(sctx, client_ctx, name, &seen), client_error);
    ck_assert_int_eq(seen, server_error);
    sl_tls_ctx_release(sctx);
}

START_TEST(verification_failures_have_their_own_codes)
{
    struct sl_tls_ctx *cctx = kit_client_ctx(NULL);
    expect_failure(&g_certs.self_signed, cctx, "localhost", SL_E_TLS_UNKNOWN_CA,
                   SL_E_TLS_UNKNOWN_CA);
    expect_failure(&g_certs.expired, cctx, "localhost", SL_E_TLS_CERT_EXPIRED,
                   SL_E_TLS_CERT_EXPIRED);
    expect_failure(&g_certs.wrong_name, cctx, "localhost", SL_E_TLS_BAD_HOSTNAME,
                   SL_E_TLS_BAD_CERTIFICATE);
    expect_failure(&g_certs.server, cctx, "127.0.0.2", SL_E_TLS_BAD_HOSTNAME,
                   SL_E_TLS_BAD_CERTIFICATE);
    sl_tls_ctx_release(cctx);
}
END_TEST

START_TEST(version_and_cipher_mismatches_have_their_own_codes)
{
    struct sl_tls_ctx_options co = {.ca_file = g_certs.ca_cert, .min_version = SL_TLS_VERSION_1_3};
    struct sl_tls_ctx *cctx;
    ck_assert_int_eq(sl_tls_ctx_new_client(&co, &cctx), 0);
    struct sl_tls_ctx_options so = {.cert_file = g_certs.server.cert,
                                    .key_file = g_certs.server.key,
                                    .cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256"};
    struct sl_tls_ctx *sctx;
    ck_assert_int_eq(sl_tls_ctx_new_server(&so, &sctx), 0);
    /* A 1.2-only server cannot be made from options (min only), so clamp with groups instead:
     * a client offering only X448 against a server with only P-256 has no group in common. */
    sl_tls_ctx_release(cctx);
    co = (struct sl_tls_ctx_options){.ca_file = g_certs.ca_cert, .groups = "X448"};
    ck_assert_int_eq(sl_tls_ctx_new_client(&co, &cctx), 0);
    sl_tls_ctx_release(sctx);
    so.groups = "P-256";
    so.cipher_list = NULL;
    ck_assert_int_eq(sl_tls_ctx_new_server(&so, &sctx), 0);
    int seen = 0;
    ck_assert_int_eq(connect_with(sctx, cctx, "localhost", &seen), SL_E_TLS_HANDSHAKE_FAILED);
    ck_assert_int_eq(seen, SL_E_TLS_HANDSHAKE_FAILED);
    sl_tls_ctx_release(cctx);
    sl_tls_ctx_release(sctx);
}
END_TEST

START_TEST(alpn_without_a_common_protocol_fails_with_no_alpn)
{
    struct sl_tls_ctx *cctx = kit_client_ctx("h2");
    struct sl_tls_ctx *sctx = kit_server_ctx("imap");
    int seen = 0;
    ck_assert_int_eq(connect_with(sctx, cctx, "localhost", &seen), SL_E_TLS_NO_ALPN);
    ck_assert_int_eq(seen, SL_E_TLS_NO_ALPN);
    sl_tls_ctx_release(cctx);
    sl_tls_ctx_release(sctx);
}
END_TEST

START_TEST(mutual_tls_requires_and_reports_the_client_certificate)
{
    struct sl_tls_ctx *sctx = server_ctx_for(&g_certs.server, SL_TLS_CLIENT_AUTH_REQUIRE);
    struct sl_tls_ctx *bare = kit_client_ctx(NULL);
    int seen = 0;
    ck_assert_int_eq(connect_with(sctx, bare, "localhost", &seen), SL_E_TLS_CERT_REQUIRED);
    ck_assert_int_eq(seen, SL_E_TLS_CERT_REQUIRED);
    struct sl_tls_ctx_options uo = {.ca_file = g_certs.ca_cert,
                                    .cert_file = g_certs.untrusted_client.cert,
                                    .key_file = g_certs.untrusted_client.key};
    struct sl_tls_ctx *untrusted;
    ck_assert_int_eq(sl_tls_ctx_new_client(&uo, &untrusted), 0);
    ck_assert_int_eq(connect_with(sctx, untrusted, "localhost", &seen), SL_E_TLS_UNKNOWN_CA);
    ck_assert_int_eq(seen, SL_E_TLS_UNKNOWN_CA);

    /* With a good certificate, the server sees who connected. */
    struct sl_tls_ctx_options go = {.ca_file = g_certs.ca_cert,
                                    .cert_file = g_certs.client.cert,
                                    .key_file = g_certs.client.key};
    struct sl_tls_ctx *good;
    ck_assert_int_eq(sl_tls_ctx_new_client(&go, &good), 0);
    struct stream_end server_end, client;
    stream_end_init(&server_end, &(struct stream_options){0});
    stream_end_init(&client, &(struct stream_options){.send_bytes = 10});
    struct kit_server srv;
    kit_server_start(&srv, &(struct sl_tls_connection_options){.ctx = sctx}, &server_end, 1);
    ck_assert_int_eq(
        kit_connect(&client, srv.port,
                    &(struct sl_tls_connection_options){.ctx = good, .server_name = "localhost"}),
        0);
    ck_assert(stream_end_wait(&server_end, stream_end_is_set_up, 10000));
    kit_close(&client);
    ck_assert(stream_end_wait(&server_end, stream_end_is_shut_down, 10000));
    kit_server_stop(&srv);
    stream_end_clean_up(&server_end);
    stream_end_clean_up(&client);
    sl_tls_ctx_release(good);
    sl_tls_ctx_release(untrusted);
    sl_tls_ctx_release(bare);
    sl_tls_ctx_release(sctx);
}
END_TEST

/* A plain listener that accepts and never answers: the client's handshake times out. */
START_TEST(a_silent_server_times_the_handshake_out)
{
    struct stream_end server_end, client;
    stream_end_init(&server_end, &(struct stream_options){0});
    stream_end_init(&client, &(struct stream_options){0});
    struct kit_server srv;
    kit_server_start(&srv, NULL, &server_end, 1);
    struct sl_tls_ctx *cctx = kit_client_ctx(NULL);
    struct sl_tls_connection_options ctls = {
        .ctx = cctx, .server_name = "localhost", .handshake_timeout_ms = 300};
    ck_assert_int_eq(kit_connect(&client, srv.port, &ctls), SL_E_TLS_HANDSHAKE_TIMEOUT);
    ck_assert(stream_end_wait(&server_end, stream_end_is_shut_down, 20000));
    kit_server_stop(&srv);
    stream_end_clean_up(&server_end);
    stream_end_clean_up(&client);
    sl_tls_ctx_release(cctx);
}
END_TEST

/* A client that connects and says nothing: the server gives up on it too. */
START_TEST(a_silent_client_times_the_server_handshake_out)
{
    struct sl_tls_ctx *sctx = kit_server_ctx(NULL);
    struct stream_end server_end;
    stream_end_init(&server_end, &(struct stream_options){0});
    struct kit_server srv;
    kit_server_start(&srv,
                     &(struct sl_tls_connection_options){.ctx = sctx, .handshake_timeout_ms = 300},
                     &server_end, 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv.port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert(sl_test_latch_wait(&srv.events, 1, 10000));
    ck_assert_int_eq(atomic_load(&srv.last_error), SL_E_TLS_HANDSHAKE_TIMEOUT);
    char byte;
    ck_assert_int_eq(read(fd, &byte, 1), 0); /* and closed the connection */
    close(fd);
    kit_server_stop(&srv);
    stream_end_clean_up(&server_end);
    sl_tls_ctx_release(sctx);
}
END_TEST

/* The wire: a handler between socket and TLS that spoils the server's records. ------------ */

enum wire_mode { WIRE_CORRUPT, WIRE_TRUNCATE };

struct wire {
    struct sl_handler base;
    enum wire_mode mode;
    bool armed; /* after the handshake */
    bool done;
    size_t initial_window;
};

static int wire_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    return sl_slot_send(slot, msg, SL_DIR_READ);
}

static int wire_on_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct wire *w = sl_container_of(handler, struct wire, base);
    if (!w->armed || w->done || msg->data.len < 100) {
        return sl_slot_send(slot, msg, SL_DIR_WRITE);
    }
    w->done = true;
    if (w->mode == WIRE_CORRUPT) {
        msg->data.data[msg->data.len / 2] ^= 0x20;
        return sl_slot_send(slot, msg, SL_DIR_WRITE);
    }
    /* Half a record, then FIN: the peer sees a connection cut in the middle of a record. */
    ck_assert_int_eq(sl_buf_commit(&msg->data, 0), 0);
    msg->data.len /= 2;
    msg->flags |= SL_MSG_END_OF_STREAM;
    return sl_slot_send(slot, msg, SL_DIR_WRITE);
}

static int wire_on_window_update(struct sl_handler *handler, struct sl_slot *slot, size_t bytes)
{
    (void)handler;
    sl_slot_increment_read_window(slot, bytes);
    return 0;
}

static int wire_on_shutdown(struct sl_handler *handler, struct sl_slot *slot, enum sl_direction dir,
                            int status, bool abort_immediately)
{
    (void)handler;
    sl_slot_on_shutdown_complete(slot, dir, status, abort_immediately);
    return 0;
}

static size_t wire_initial_window(struct sl_handler *handler)
{
    return sl_container_of(handler, struct wire, base)->initial_window;
}

static size_t wire_overhead(struct sl_handler *handler)
{
    (void)handler;
    return 0;
}

static void wire_destroy(struct sl_handler *handler)
{
    (void)handler;
}

static const struct sl_handler_vtable s_wire_vtable = {
    .name = "wire",
    .on_read = wire_on_read,
    .on_write = wire_on_write,
    .on_window_update = wire_on_window_update,
    .on_shutdown = wire_on_shutdown,
    .initial_window = wire_initial_window,
    .message_overhead = wire_overhead,
    .destroy = wire_destroy,
};

struct spoiled_server {
    struct wire wire;
    struct sl_tls_ctx *ctx;
    struct stream_end end;
    struct sl_test_latch ready;
    struct sl_test_latch closed;
};

static void on_spoiled_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    (void)status;
    sl_test_latch_add(&((struct spoiled_server *)user_data)->closed, 1);
}

static void on_spoiled_negotiated(struct sl_handler *handler, struct sl_slot *slot,
                                  const struct sl_tls_negotiation *result, void *user_data)
{
    (void)handler;
    struct spoiled_server *s = user_data;
    ck_assert_int_eq(result->error, 0);
    s->wire.armed = true;
    stream_end_attach(&s->end, sl_slot_channel(slot)); /* starts sending the spoiled records */
    atomic_fetch_add(&s->end.setups, 1);
    sl_test_latch_add(&s->ready, 1);
}

/* The plain listener's incoming channels get [socket][wire][tls] built by hand. */
static void on_spoiled_incoming(struct sl_listener *listener, int status,
                                struct sl_channel *channel, void *user_data)
{
    (void)listener;
    ck_assert_int_eq(status, 0);
    struct spoiled_server *s = user_data;
    struct sl_slot *first = sl_channel_first_slot(channel);
    struct sl_slot *slot;
    ck_assert_int_eq(sl_slot_new(channel, &slot), 0);
    ck_assert_int_eq(sl_slot_insert_right(first, slot), 0);
    ck_assert_int_eq(sl_slot_set_handler(slot, &s->wire.base), 0);
    struct sl_tls_connection_options o = {
        .ctx = s->ctx, .on_negotiated = on_spoiled_negotiated, .user_data = s};
    ck_assert_int_eq(sl_tls_handler_install(slot, &o, NULL), 0);
}

static void spoiled_run(enum wire_mode mode, int expected_client_error)
{
    struct spoiled_server s;
    memset(&s, 0, sizeof(s));
    s.wire = (struct wire){.base.vtable = &s_wire_vtable, .mode = mode, .initial_window = 1 << 20};
    s.ctx = kit_server_ctx(NULL);
    stream_end_init(&s.end, &(struct stream_options){.send_bytes = 200000, .write_size = 16000});
    sl_test_latch_init(&s.ready);
    sl_test_latch_init(&s.closed);
    struct sl_listener_options lo = {
        .endpoint = {.address = "127.0.0.1"},
        .socket_options = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4},
        .handler_options = {.allow_half_close = true},
        .on_incoming = on_spoiled_incoming,
        .on_shutdown = on_spoiled_shutdown,
        .user_data = &s};
    struct sl_listener *listener;
    ck_assert_int_eq(sl_server_bootstrap_new_listener(g_server, &lo, &listener), 0);
    struct sl_socket_endpoint bound;
    ck_assert_int_eq(sl_listener_get_bound_address(listener, &bound), 0);

    struct stream_end client;
    stream_end_init(&client, &(struct stream_options){0});
    struct sl_tls_ctx *cctx = kit_client_ctx(NULL);
    struct sl_tls_connection_options ctls = {.ctx = cctx, .server_name = "localhost"};
    ck_assert_int_eq(kit_connect(&client, bound.port, &ctls), 0);
    ck_assert(stream_end_wait(&client, stream_end_is_shut_down, 10000));
    ck_assert_int_eq(client.shutdown_status, expected_client_error);
    ck_assert_uint_lt(atomic_load(&client.received), 200000); /* nothing after the damage */
    ck_assert(sl_test_latch_wait(&s.ready, 1, 10000));
    ck_assert(sl_test_latch_wait(&s.closed, 1, 10000)); /* the server channel is gone too */
    sl_listener_destroy(listener);
    sl_test_latch_clean_up(&s.closed);
    stream_end_clean_up(&client);
    stream_end_clean_up(&s.end);
    sl_test_latch_clean_up(&s.ready);
    sl_tls_ctx_release(cctx);
    sl_tls_ctx_release(s.ctx);
}

START_TEST(a_corrupted_record_is_a_decrypt_error)
{
    spoiled_run(WIRE_CORRUPT, SL_E_TLS_DECRYPT_ERROR);
}
END_TEST

START_TEST(a_peer_closing_mid_record_is_truncation)
{
    spoiled_run(WIRE_TRUNCATE, SL_E_TLS_TRUNCATED);
}
END_TEST

void tls_add_failure_tests(Suite *suite)
{
    TCase *tc = sl_test_tcase("failures", 60);
    tcase_add_checked_fixture(tc, kit_setup, kit_teardown);
    tcase_add_test(tc, verification_failures_have_their_own_codes);
    tcase_add_test(tc, version_and_cipher_mismatches_have_their_own_codes);
    tcase_add_test(tc, alpn_without_a_common_protocol_fails_with_no_alpn);
    tcase_add_test(tc, mutual_tls_requires_and_reports_the_client_certificate);
    tcase_add_test(tc, a_silent_server_times_the_handshake_out);
    tcase_add_test(tc, a_silent_client_times_the_server_handshake_out);
    tcase_add_test(tc, a_corrupted_record_is_a_decrypt_error);
    tcase_add_test(tc, a_peer_closing_mid_record_is_truncation);
    suite_add_tcase(suite, tc);
}
