/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_interop.h"

#include <sluice/error.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * openssl s_client against our server (sl_server_bootstrap_new_listener with tls_options): the
 * client-side matrix seen from the other end.
 */

#define DATA_LEN ((size_t)100 * 1024)

/* A listener that takes one connection at a time and keeps a reference to it. */
struct server {
    struct sl_listener *listener;
    int port;
    struct test_record record;
    struct sl_test_latch events;     /* +1 per on_incoming, +1 per channel shutdown */
    struct sl_test_latch negotiated; /* +1 per on_negotiated */
    struct sl_test_latch destroyed;
    atomic_int incoming;
    atomic_int incoming_errors;
    atomic_int shutdowns;
    int incoming_status; /* the last failure on_incoming reported */
    int shutdown_status;
    int app_rc;
    struct sl_channel *channel; /* our own reference to the accepted channel */
    struct sl_handler *app;
    bool tls_in_slot_1;
    struct negotiation_copy result;
    struct negotiation_copy from_handler;
};

static void on_negotiated(struct sl_handler *handler, struct sl_slot *slot,
                          const struct sl_tls_negotiation *result, void *user_data)
{
    (void)handler;
    (void)slot;
    struct server *srv = user_data;
    negotiation_copy_take(&srv->result, result);
    sl_test_latch_add(&srv->negotiated, 1);
}

static int add_app_handler(struct server *srv, struct sl_channel *channel)
{
    struct test_handler_options opts = {
        .name = "srv", .initial_window = SIZE_MAX, .auto_increment = true, .record = &srv->record};
    struct sl_slot *slot;
    int rc = sl_slot_new(channel, &slot);
    rc = rc ? rc : sl_slot_insert_end(channel, slot);
    rc = rc ? rc : test_handler_new(&opts, &srv->app);
    return rc ? rc : sl_slot_set_handler(slot, srv->app);
}

static void on_incoming(struct sl_listener *listener, int status, struct sl_channel *channel,
                        void *user_data)
{
    (void)listener;
    struct server *srv = user_data;
    if (status) {
        srv->incoming_status = status;
        atomic_fetch_add(&srv->incoming_errors, 1);
        sl_test_latch_add(&srv->events, 1);
        return;
    }
    sl_channel_acquire(channel); /* see client_close in the client tests: safe shutdown */
    srv->channel = channel;
    struct sl_handler *tls = sl_tls_channel_handler(channel);
    struct sl_slot *second = sl_slot_right(sl_channel_first_slot(channel));
    srv->tls_in_slot_1 = tls && second && sl_slot_handler(second) == tls;
    if (tls) {
        negotiation_copy_take(&srv->from_handler, sl_tls_handler_negotiation(tls));
    }
    srv->app_rc = add_app_handler(srv, channel);
    atomic_fetch_add(&srv->incoming, 1);
    sl_test_latch_add(&srv->events, 1);
}

static void on_server_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    struct server *srv = user_data;
    srv->shutdown_status = status;
    atomic_fetch_add(&srv->shutdowns, 1);
    sl_test_latch_add(&srv->events, 1);
}

static void on_listener_destroyed(struct sl_listener *listener, void *user_data)
{
    (void)listener;
    sl_test_latch_add(&((struct server *)user_data)->destroyed, 1);
}

static void server_start(struct server *srv, struct sl_tls_ctx *ctx)
{
    memset(srv, 0, sizeof(*srv));
    test_record_init(&srv->record);
    sl_test_latch_init(&srv->events);
    sl_test_latch_init(&srv->negotiated);
    sl_test_latch_init(&srv->destroyed);
    struct sl_tls_connection_options tls = {
        .ctx = ctx, .handshake_timeout_ms = 5000, .on_negotiated = on_negotiated, .user_data = srv};
    struct sl_listener_options opts = {
        .socket_options = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4},
        .tls_options = &tls,
        .on_incoming = on_incoming,
        .on_shutdown = on_server_shutdown,
        .on_destroy = on_listener_destroyed,
        .user_data = srv};
    strcpy(opts.endpoint.address, "127.0.0.1");
    ck_assert_int_eq(sl_server_bootstrap_new_listener(g_server_bootstrap, &opts, &srv->listener),
                     0);
    struct sl_socket_endpoint bound;
    ck_assert_int_eq(sl_listener_get_bound_address(srv->listener, &bound), 0);
    srv->port = (int)bound.port;
}

/* Waits for the one connection's on_incoming (and on_negotiated); returns its status. */
static int server_wait_incoming(struct server *srv)
{
    ck_assert(sl_test_latch_wait(&srv->events, 1, 10000));
    ck_assert(sl_test_latch_wait(&srv->negotiated, 1, 1000));
    int status = atomic_load(&srv->incoming) == 1 ? 0 : srv->incoming_status;
    ck_assert_int_eq(atomic_load(&srv->incoming) + atomic_load(&srv->incoming_errors), 1);
    ck_assert_int_eq(srv->result.error, status);
    if (status == 0) {
        ck_assert_int_eq(srv->app_rc, 0);
        ck_assert_msg(srv->tls_in_slot_1, "the TLS handler is not in slot 1");
        ck_assert_int_eq(srv->from_handler.error, 0);
        ck_assert_str_eq(srv->from_handler.version, srv->result.version);
        ck_assert_str_eq(srv->from_handler.alpn, srv->result.alpn);
    }
    return status;
}

/* Shuts the accepted channel down (close_notify) and waits until it is gone. */
static void server_close_channel(struct server *srv)
{
    if (!srv->channel) {
        return;
    }
    sl_channel_shutdown(srv->channel, 0, false);
    ck_assert(sl_test_latch_wait(&srv->events, 2, 10000));
    sl_channel_release(srv->channel);
    srv->channel = NULL;
    bool destroyed = false;
    for (int i = 0; i < 1000 && !destroyed; i++) {
        pthread_mutex_lock(&srv->record.lock);
        destroyed = srv->record.destroyed;
        pthread_mutex_unlock(&srv->record.lock);
        if (!destroyed) {
            sl_test_latch_wait(&srv->record.latch, sl_test_latch_get(&srv->record.latch) + 1, 10);
        }
    }
    ck_assert(destroyed);
}

static void server_stop(struct server *srv)
{
    server_close_channel(srv);
    sl_listener_destroy(srv->listener);
    ck_assert(sl_test_latch_wait(&srv->destroyed, 1, 10000));
    ck_assert_int_eq(atomic_load(&srv->shutdowns), atomic_load(&srv->incoming));
    test_record_clean_up(&srv->record);
    sl_test_latch_clean_up(&srv->events);
    sl_test_latch_clean_up(&srv->negotiated);
    sl_test_latch_clean_up(&srv->destroyed);
}

struct write_call {
    struct server *srv;
    const void *data;
    size_t len;
    int rc;
};

static void write_on_loop(void *arg)
{
    struct write_call *w = arg;
    w->rc = test_handler_write(w->srv->app, w->data, w->len, NULL, NULL);
}

static void server_write(struct server *srv, const void *data, size_t len)
{
    struct write_call w = {.srv = srv, .data = data, .len = len};
    sl_test_run_on_loop(sl_channel_loop(srv->channel), write_on_loop, &w);
    ck_assert_int_eq(w.rc, 0);
}

/* Waits until the server has read exactly `data` at offset at of everything it read. */
static void server_expect_read(struct server *srv, const void *data, size_t len, size_t at)
{
    for (int i = 0; i < 500 && test_record_read_len(&srv->record) < at + len; i++) {
        sl_test_latch_wait(&srv->record.latch, sl_test_latch_get(&srv->record.latch) + 1, 10);
    }
    ck_assert_uint_eq(test_record_read_len(&srv->record), at + len);
    pthread_mutex_lock(&srv->record.lock);
    bool same = memcmp(srv->record.read_data + at, data, len) == 0;
    pthread_mutex_unlock(&srv->record.lock);
    ck_assert_msg(same, "the server read other bytes than were sent");
}

/* Lines through a non-quiet s_client, whose stdout mixes what it reads with its messages. */
static void line_to_peer(struct server *srv, struct openssl_peer *client, const char *line)
{
    server_write(srv, line, strlen(line));
    peer_expect(client, line, false);
}

static void line_from_peer(struct server *srv, struct openssl_peer *client, const char *line)
{
    size_t before = test_record_read_len(&srv->record);
    peer_send(client, line, strlen(line));
    server_expect_read(srv, line, strlen(line), before);
}

/* One line each way; round numbers them. */
static void exchange_lines(struct server *srv, struct openssl_peer *client, int round)
{
    char line[32];
    snprintf(line, sizeof(line), "from-server-%d\n", round);
    line_to_peer(srv, client, line);
    snprintf(line, sizeof(line), "from-client-%d\n", round);
    line_from_peer(srv, client, line);
}

static struct sl_tls_ctx *server_ctx(const struct tls_cert_pair *pair)
{
    struct sl_tls_ctx_options opts = {.cert_file = pair->cert, .key_file = pair->key};
    return interop_server_ctx(&opts);
}

/* Handshakes and data ------------------------------------------------------------------------ */

static void check_version_and_data(const char *version_flag, const struct tls_cert_pair *pair,
                                   const char *want_version, const char *want_cipher_part)
{
    struct sl_tls_ctx *ctx = server_ctx(pair);
    struct server srv;
    server_start(&srv, ctx);
    /*
     * s_client checks our chain and name and gives up on any failure; -quiet makes its stdout
     * exactly the bytes it reads and its stdin exactly what it sends.
     */
    const char *args[] = {version_flag,       "-CAfile",   g_certs.ca_cert, "-verify_return_error",
                          "-verify_hostname", "localhost", "-quiet",        NULL};
    struct openssl_peer *client = peer_start_s_client(srv.port, args);
    ck_assert_int_eq(server_wait_incoming(&srv), 0);
    ck_assert_str_eq(srv.result.version, want_version);
    ck_assert_msg(strstr(srv.result.cipher, want_cipher_part), "cipher %s", srv.result.cipher);
    ck_assert(!srv.result.peer_present);          /* no client certificate asked for */
    ck_assert_str_eq(srv.result.server_name, ""); /* s_client sends no SNI for an address */

    uint8_t *up = malloc(DATA_LEN);
    uint8_t *down = malloc(DATA_LEN);
    fill_pattern(up, DATA_LEN, 777);
    fill_pattern(down, DATA_LEN, 4242);
    peer_send(client, up, DATA_LEN);
    server_expect_read(&srv, up, DATA_LEN, 0);
    server_write(&srv, down, DATA_LEN);
    peer_expect_out_len(client, DATA_LEN);
    ck_assert_uint_eq(client->out_len, DATA_LEN);
    ck_assert_msg(memcmp(client->out, down, DATA_LEN) == 0, "s_client read other bytes");
    free(up);
    free(down);

    server_close_channel(&srv);
    ck_assert_int_eq(srv.shutdown_status, 0);
    ck_assert_int_eq(peer_finish(client), 0); /* close_notify ended it */
    server_stop(&srv);
    sl_tls_ctx_release(ctx);
}

START_TEST(server_speaks_tls12_with_s_client_and_data_crosses_intact)
{
    check_version_and_data("-tls1_2", &g_certs.server_rsa, "TLSv1.2", "ECDHE-RSA");
}
END_TEST

START_TEST(server_speaks_tls13_with_s_client_and_data_crosses_intact)
{
    check_version_and_data("-tls1_3", &g_certs.server, "TLSv1.3", "TLS_");
}
END_TEST

START_TEST(server_picks_its_preferred_alpn_protocol)
{
    struct sl_tls_ctx_options opts = {.cert_file = g_certs.server.cert,
                                      .key_file = g_certs.server.key,
                                      .alpn_list = "h2;http/1.1"};
    struct sl_tls_ctx *ctx = interop_server_ctx(&opts);
    struct server srv;
    server_start(&srv, ctx);
    const char *args[] = {"-CAfile", g_certs.ca_cert, "-alpn", "http/1.1,h2", NULL};
    struct openssl_peer *client = peer_start_s_client(srv.port, args);
    ck_assert_int_eq(server_wait_incoming(&srv), 0);
    ck_assert_str_eq(srv.result.alpn, "h2"); /* ours first, whatever the client's order */
    peer_expect(client, "ALPN protocol: h2", false);
    exchange_lines(&srv, client, 1);
    server_close_channel(&srv);
    ck_assert_int_eq(peer_finish(client), 0);
    server_stop(&srv);
    sl_tls_ctx_release(ctx);
}
END_TEST

START_TEST(server_sees_the_sni_name_and_s_client_verifies_its_certificate)
{
    /* The identity from PKCS#12 this time. */
    struct sl_tls_ctx_options opts = {.pkcs12_file = g_certs.server_p12,
                                      .pkcs12_password = "secret"};
    struct sl_tls_ctx *ctx = interop_server_ctx(&opts);
    struct server srv;
    server_start(&srv, ctx);
    const char *args[] = {"-servername",          "localhost",        "-CAfile",   g_certs.ca_cert,
                          "-verify_return_error", "-verify_hostname", "localhost", NULL};
    struct openssl_peer *client = peer_start_s_client(srv.port, args);
    ck_assert_int_eq(server_wait_incoming(&srv), 0);
    ck_assert_str_eq(srv.result.server_name, "localhost");
    peer_expect(client, "Verify return code: 0 (ok)", false);
    peer_expect(client, "subject=CN = localhost", false);
    exchange_lines(&srv, client, 1);
    server_close_channel(&srv);
    ck_assert_int_eq(peer_finish(client), 0);
    server_stop(&srv);
    sl_tls_ctx_release(ctx);
}
END_TEST

START_TEST(server_accepts_the_client_certificate_s_client_presents)
{
    struct sl_tls_ctx_options opts = {.cert_file = g_certs.server.cert,
                                      .key_file = g_certs.server.key,
                                      .ca_file = g_certs.ca_cert,
                                      .client_auth = SL_TLS_CLIENT_AUTH_REQUIRE};
    struct sl_tls_ctx *ctx = interop_server_ctx(&opts);
    struct server srv;
    server_start(&srv, ctx);
    const char *args[] = {"-CAfile", g_certs.ca_cert,    "-cert", g_certs.client.cert,
                          "-key",    g_certs.client.key, NULL};
    struct openssl_peer *client = peer_start_s_client(srv.port, args);
    ck_assert_int_eq(server_wait_incoming(&srv), 0);
    ck_assert(srv.result.peer_present);
    ck_assert_str_eq(srv.result.peer_subject, "CN=test-client");
    ck_assert_str_eq(srv.result.peer_issuer, "CN=Sluice Test CA");
    ck_assert_str_eq(srv.result.peer_sans, ""); /* client certificates rarely carry any */
    exchange_lines(&srv, client, 1);
    server_close_channel(&srv);
    ck_assert_int_eq(peer_finish(client), 0);
    server_stop(&srv);
    sl_tls_ctx_release(ctx);
}
END_TEST

START_TEST(server_requesting_a_certificate_lets_s_client_in_without_one)
{
    /* SL_TLS_CLIENT_AUTH_REQUEST: asked for, and a client without one still passes. */
    struct sl_tls_ctx_options opts = {.cert_file = g_certs.server.cert,
                                      .key_file = g_certs.server.key,
                                      .ca_file = g_certs.ca_cert,
                                      .client_auth = SL_TLS_CLIENT_AUTH_REQUEST};
    struct sl_tls_ctx *ctx = interop_server_ctx(&opts);
    struct server srv;
    server_start(&srv, ctx);
    const char *args[] = {"-CAfile", g_certs.ca_cert, NULL};
    struct openssl_peer *client = peer_start_s_client(srv.port, args);
    ck_assert_int_eq(server_wait_incoming(&srv), 0);
    ck_assert(!srv.result.peer_present);
    /* s_client prints the signature algorithms of a CertificateRequest: it was asked. */
    peer_expect(client, "Requested Signature Algorithms", false);
    exchange_lines(&srv, client, 1);
    server_close_channel(&srv);
    ck_assert_int_eq(peer_finish(client), 0);
    server_stop(&srv);
    sl_tls_ctx_release(ctx);
}
END_TEST

/* Failures: each reaches on_incoming with its own code ------------------------------------------
 */

static void expect_server_failure(const struct sl_tls_ctx_options *opts,
                                  const char *const *client_args, int want,
                                  const char *want_client_stderr)
{
    struct sl_tls_ctx *ctx = interop_server_ctx(opts);
    struct server srv;
    server_start(&srv, ctx);
    struct openssl_peer *client = peer_start_s_client(srv.port, client_args);
    int status = server_wait_incoming(&srv);
    ck_assert_msg(status == want, "on_incoming got %s, wanted %s (reason: %s)",
                  sl_error_name(status), sl_error_name(want), srv.result.reason);
    ck_assert_ptr_null(srv.channel);
    /* The alert our side sent, as the other side names it. */
    peer_expect(client, want_client_stderr, true);
    (void)peer_finish(client); /* s_client's status after a failed handshake is not ours */
    server_stop(&srv);
    sl_tls_ctx_release(ctx);
}

START_TEST(server_requiring_a_certificate_refuses_s_client_without_one)
{
    struct sl_tls_ctx_options opts = {.cert_file = g_certs.server.cert,
                                      .key_file = g_certs.server.key,
                                      .ca_file = g_certs.ca_cert,
                                      .client_auth = SL_TLS_CLIENT_AUTH_REQUIRE};
    /* TLS 1.3 has an alert for it (RFC 8446 §4.4.2.4); OpenSSL uses handshake_failure in 1.2. */
    const char *tls13[] = {"-tls1_3", "-CAfile", g_certs.ca_cert, NULL};
    expect_server_failure(&opts, tls13, SL_E_TLS_CERT_REQUIRED, "alert certificate required");
    const char *tls12[] = {"-tls1_2", "-CAfile", g_certs.ca_cert, NULL};
    expect_server_failure(&opts, tls12, SL_E_TLS_CERT_REQUIRED, "alert handshake failure");
}
END_TEST

START_TEST(server_rejects_a_client_certificate_from_an_unknown_ca)
{
    struct sl_tls_ctx_options opts = {.cert_file = g_certs.server.cert,
                                      .key_file = g_certs.server.key,
                                      .ca_file = g_certs.ca_cert,
                                      .client_auth = SL_TLS_CLIENT_AUTH_REQUIRE};
    const char *args[] = {"-CAfile", g_certs.ca_cert,
                          "-cert",   g_certs.untrusted_client.cert,
                          "-key",    g_certs.untrusted_client.key,
                          NULL};
    expect_server_failure(&opts, args, SL_E_TLS_UNKNOWN_CA, "alert unknown ca");
    /* REQUEST verifies a certificate that is presented just the same. */
    opts.client_auth = SL_TLS_CLIENT_AUTH_REQUEST;
    expect_server_failure(&opts, args, SL_E_TLS_UNKNOWN_CA, "alert unknown ca");
}
END_TEST

START_TEST(server_requiring_tls13_refuses_a_tls12_client)
{
    struct sl_tls_ctx_options opts = {.cert_file = g_certs.server.cert,
                                      .key_file = g_certs.server.key,
                                      .min_version = SL_TLS_VERSION_1_3};
    const char *args[] = {"-tls1_2", "-CAfile", g_certs.ca_cert, NULL};
    expect_server_failure(&opts, args, SL_E_TLS_PROTOCOL_VERSION, "alert protocol version");
}
END_TEST

START_TEST(server_refuses_a_client_with_no_alpn_protocol_in_common)
{
    struct sl_tls_ctx_options opts = {
        .cert_file = g_certs.server.cert, .key_file = g_certs.server.key, .alpn_list = "h2"};
    const char *args[] = {"-CAfile", g_certs.ca_cert, "-alpn", "foo", NULL};
    expect_server_failure(&opts, args, SL_E_TLS_NO_ALPN, "alert no application protocol");
}
END_TEST

START_TEST(server_with_no_cipher_in_common_fails_the_handshake)
{
    struct sl_tls_ctx_options opts = {.cert_file = g_certs.server.cert,
                                      .key_file = g_certs.server.key,
                                      .cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384"};
    const char *args[] = {"-tls1_2", "-cipher",       "ECDHE-ECDSA-AES128-GCM-SHA256",
                          "-CAfile", g_certs.ca_cert, NULL};
    expect_server_failure(&opts, args, SL_E_TLS_HANDSHAKE_FAILED, "alert handshake failure");
}
END_TEST

/* After the handshake ----------------------------------------------------------------------------
 */

START_TEST(server_refuses_renegotiation_from_s_client)
{
    /*
     * "R" makes s_client send a new ClientHello. Our context sets SSL_OP_NO_RENEGOTIATION, so
     * the server answers with a no_renegotiation warning; s_client treats that as fatal ("no
     * renegotiation") and sends handshake_failure; the handler knows it refused, so the channel
     * ends with SL_E_TLS_RENEGOTIATION_REFUSED.
     */
    struct sl_tls_ctx *ctx = server_ctx(&g_certs.server);
    struct server srv;
    server_start(&srv, ctx);
    const char *args[] = {"-tls1_2", "-CAfile", g_certs.ca_cert, NULL};
    struct openssl_peer *client = peer_start_s_client(srv.port, args);
    ck_assert_int_eq(server_wait_incoming(&srv), 0);
    exchange_lines(&srv, client, 1);
    peer_send(client, "R\n", 2);
    ck_assert(sl_test_latch_wait(&srv.events, 2, 10000));
    ck_assert_msg(srv.shutdown_status == SL_E_TLS_RENEGOTIATION_REFUSED,
                  "the channel ended with %s", sl_error_name(srv.shutdown_status));
    peer_expect(client, "no renegotiation", true);
    (void)peer_finish(client);
    server_stop(&srv);
    sl_tls_ctx_release(ctx);
}
END_TEST

#define KEY_UPDATE_SENT     ">>> TLS 1.3, Handshake [length 0005], KeyUpdate"
#define KEY_UPDATE_RECEIVED "<<< TLS 1.3, Handshake [length 0005], KeyUpdate"

START_TEST(server_follows_key_updates_from_s_client)
{
    struct sl_tls_ctx *ctx = server_ctx(&g_certs.server);
    struct server srv;
    server_start(&srv, ctx);
    /* -msg: s_client prints each handshake message it sends (>>>) and receives (<<<). */
    const char *args[] = {"-tls1_3", "-CAfile", g_certs.ca_cert, "-msg", NULL};
    struct openssl_peer *client = peer_start_s_client(srv.port, args);
    ck_assert_int_eq(server_wait_incoming(&srv), 0);
    exchange_lines(&srv, client, 1);

    /*
     * As in client_follows_key_updates_from_s_server, seen from the server: the peer's next
     * line follows its KeyUpdate, so once we have read it what we write is under the new
     * rules. "k" asks nothing of us; "K" requires our KeyUpdate before our next data.
     */
    peer_send(client, "k\n", 2);
    peer_expect_count(client, KEY_UPDATE_SENT, 1);
    line_from_peer(&srv, client, "from-client-2\n");
    line_to_peer(&srv, client, "from-server-2\n");
    ck_assert_int_eq(peer_count(client, KEY_UPDATE_RECEIVED), 0);

    peer_send(client, "K\n", 2);
    peer_expect_count(client, KEY_UPDATE_SENT, 2);
    line_from_peer(&srv, client, "from-client-3\n");
    line_to_peer(&srv, client, "from-server-3\n");
    ck_assert_int_eq(peer_count(client, KEY_UPDATE_RECEIVED), 1);
    ck_assert_int_lt(peer_find(client, KEY_UPDATE_RECEIVED), peer_find(client, "from-server-3"));
    exchange_lines(&srv, client, 4);

    server_close_channel(&srv);
    ck_assert_int_eq(srv.shutdown_status, 0);
    ck_assert_int_eq(peer_finish(client), 0);
    server_stop(&srv);
    sl_tls_ctx_release(ctx);
}
END_TEST

void add_server_tests(Suite *s)
{
    TCase *tc = tls_interop_tcase("server_handshakes", 60);
    tcase_add_test(tc, server_speaks_tls12_with_s_client_and_data_crosses_intact);
    tcase_add_test(tc, server_speaks_tls13_with_s_client_and_data_crosses_intact);
    tcase_add_test(tc, server_picks_its_preferred_alpn_protocol);
    tcase_add_test(tc, server_sees_the_sni_name_and_s_client_verifies_its_certificate);
    tcase_add_test(tc, server_accepts_the_client_certificate_s_client_presents);
    tcase_add_test(tc, server_requesting_a_certificate_lets_s_client_in_without_one);
    suite_add_tcase(s, tc);

    tc = tls_interop_tcase("server_failures", 60);
    tcase_add_test(tc, server_requiring_a_certificate_refuses_s_client_without_one);
    tcase_add_test(tc, server_rejects_a_client_certificate_from_an_unknown_ca);
    tcase_add_test(tc, server_requiring_tls13_refuses_a_tls12_client);
    tcase_add_test(tc, server_refuses_a_client_with_no_alpn_protocol_in_common);
    tcase_add_test(tc, server_with_no_cipher_in_common_fails_the_handshake);
    suite_add_tcase(s, tc);

    tc = tls_interop_tcase("server_after_handshake", 60);
    tcase_add_test(tc, server_refuses_renegotiation_from_s_client);
    tcase_add_test(tc, server_follows_key_updates_from_s_client);
    suite_add_tcase(s, tc);
}
