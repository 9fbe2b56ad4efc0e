/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_interop.h"

#include <sluice/error.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Our client (sl_client_bootstrap_new_socket_channel with tls_options) against openssl
 * s_server: every version, extension and failure a client meets, checked on both ends.
 */

#define DATA_LEN ((size_t)100 * 1024) /* several full records each way */

struct client {
    struct sl_channel *channel; /* our own reference (taken in on_setup) */
    struct sl_handler *app;
    int app_rc; /* installing the test handler, checked on the test thread */
    struct test_record record;
    struct sl_test_latch latch;      /* +1 setup, +1 shutdown */
    struct sl_test_latch negotiated; /* +1 on_negotiated */
    int status;
    int shutdown_status;
    atomic_int setups;
    atomic_int shutdowns;
    bool tls_in_slot_1;
    struct negotiation_copy result;       /* what on_negotiated heard */
    struct negotiation_copy from_handler; /* sl_tls_handler_negotiation, asked in on_setup */
};

static void on_negotiated(struct sl_handler *handler, struct sl_slot *slot,
                          const struct sl_tls_negotiation *result, void *user_data)
{
    (void)handler;
    (void)slot;
    struct client *c = user_data;
    negotiation_copy_take(&c->result, result);
    sl_test_latch_add(&c->negotiated, 1);
}

static int add_app_handler(struct client *c, struct sl_channel *channel)
{
    struct test_handler_options opts = {
        .name = "cli", .initial_window = SIZE_MAX, .auto_increment = true, .record = &c->record};
    struct sl_slot *slot;
    int rc = sl_slot_new(channel, &slot);
    rc = rc ? rc : sl_slot_insert_end(channel, slot);
    rc = rc ? rc : test_handler_new(&opts, &c->app);
    return rc ? rc : sl_slot_set_handler(slot, c->app);
}

static void on_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct client *c = user_data;
    c->status = status;
    if (status == 0) {
        /*
         * Held until client_close, so that shutting the channel down stays safe even when the
         * peer has already ended it (the bootstrap lets its own reference go at shutdown).
         */
        sl_channel_acquire(channel);
        c->channel = channel;
        struct sl_handler *tls = sl_tls_channel_handler(channel);
        struct sl_slot *second = sl_slot_right(sl_channel_first_slot(channel));
        c->tls_in_slot_1 = tls && second && sl_slot_handler(second) == tls;
        if (tls) {
            negotiation_copy_take(&c->from_handler, sl_tls_handler_negotiation(tls));
        }
        c->app_rc = add_app_handler(c, channel);
    }
    atomic_fetch_add(&c->setups, 1);
    sl_test_latch_add(&c->latch, 1);
}

static void on_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    struct client *c = user_data;
    c->shutdown_status = status;
    atomic_fetch_add(&c->shutdowns, 1);
    sl_test_latch_add(&c->latch, 1);
}

static void client_init(struct client *c)
{
    memset(c, 0, sizeof(*c));
    test_record_init(&c->record);
    sl_test_latch_init(&c->latch);
    sl_test_latch_init(&c->negotiated);
}

static struct sl_tls_connection_options tls_options(struct client *c, struct sl_tls_ctx *ctx,
                                                    const char *server_name)
{
    return (struct sl_tls_connection_options){.ctx = ctx,
                                              .server_name = server_name,
                                              .handshake_timeout_ms = 5000,
                                              .on_negotiated = on_negotiated,
                                              .user_data = c};
}

/* Connects to 127.0.0.1:port and waits for on_setup (and on_negotiated); returns its status. */
static int client_connect(struct client *c, int port, const struct sl_tls_connection_options *tls)
{
    struct sl_socket_channel_options opts = {
        .host = "127.0.0.1",
        .port = (uint32_t)port,
        .socket_options = {.type = SL_SOCKET_STREAM, .connect_timeout_ms = 5000},
        .tls_options = tls,
        .on_setup = on_setup,
        .on_shutdown = on_shutdown,
        .user_data = c};
    ck_assert_int_eq(sl_client_bootstrap_new_socket_channel(g_client_bootstrap, &opts), 0);
    ck_assert(sl_test_latch_wait(&c->latch, 1, 10000));
    ck_assert_int_eq(atomic_load(&c->setups), 1);
    ck_assert_int_eq(c->app_rc, 0);
    /* on_negotiated heard the same outcome (the bootstrap calls it just before on_setup). */
    ck_assert(sl_test_latch_wait(&c->negotiated, 1, 1000));
    ck_assert_int_eq(c->result.error, c->status);
    if (c->status == 0) {
        ck_assert_msg(c->tls_in_slot_1, "the TLS handler is not in slot 1");
        ck_assert_int_eq(c->from_handler.error, 0);
        ck_assert_str_eq(c->from_handler.version, c->result.version);
        ck_assert_str_eq(c->from_handler.alpn, c->result.alpn);
    }
    return c->status;
}

static void client_close(struct client *c)
{
    if (c->channel) {
        sl_channel_shutdown(c->channel, 0, false); /* ignored if it is shutting down already */
        ck_assert(sl_test_latch_wait(&c->latch, 2, 10000));
        sl_channel_release(c->channel);
        bool destroyed = false;
        for (int i = 0; i < 1000 && !destroyed; i++) {
            pthread_mutex_lock(&c->record.lock);
            destroyed = c->record.destroyed;
            pthread_mutex_unlock(&c->record.lock);
            if (!destroyed) {
                sl_test_latch_wait(&c->record.latch, sl_test_latch_get(&c->record.latch) + 1, 10);
            }
        }
        ck_assert(destroyed);
        ck_assert_int_eq(atomic_load(&c->shutdowns), 1);
    }
    ck_assert_int_eq(atomic_load(&c->setups), 1);
    test_record_clean_up(&c->record);
    sl_test_latch_clean_up(&c->latch);
    sl_test_latch_clean_up(&c->negotiated);
}

struct write_call {
    struct client *c;
    const void *data;
    size_t len;
    int rc;
};

static void write_on_loop(void *arg)
{
    struct write_call *w = arg;
    w->rc = test_handler_write(w->c->app, w->data, w->len, NULL, NULL);
}

static void client_write(struct client *c, const void *data, size_t len)
{
    struct write_call w = {.c = c, .data = data, .len = len};
    sl_test_run_on_loop(sl_channel_loop(c->channel), write_on_loop, &w);
    ck_assert_int_eq(w.rc, 0);
}

static bool record_has(struct client *c, const void *data, size_t len, size_t at)
{
    pthread_mutex_lock(&c->record.lock);
    bool has = c->record.read_len >= at + len && memcmp(c->record.read_data + at, data, len) == 0;
    pthread_mutex_unlock(&c->record.lock);
    return has;
}

/* Waits until the client has read exactly `data` at offset at of everything it read. */
static void client_expect_read(struct client *c, const void *data, size_t len, size_t at)
{
    for (int i = 0; i < 500 && test_record_read_len(&c->record) < at + len; i++) {
        sl_test_latch_wait(&c->record.latch, sl_test_latch_get(&c->record.latch) + 1, 10);
    }
    ck_assert_uint_eq(test_record_read_len(&c->record), at + len);
    ck_assert_msg(record_has(c, data, len, at), "the client read other bytes than were sent");
}

/*
 * Lines through a non-quiet s_server, which prints what it reads among its own messages and
 * sends what it is given on stdin (commands aside: these lines start with no command letter).
 */
static void line_to_peer(struct client *c, struct openssl_peer *server, const char *line)
{
    client_write(c, line, strlen(line));
    peer_expect(server, line, false);
}

static void line_from_peer(struct client *c, struct openssl_peer *server, const char *line)
{
    size_t before = test_record_read_len(&c->record);
    peer_send(server, line, strlen(line));
    client_expect_read(c, line, strlen(line), before);
}

/* One line each way; round numbers them. */
static void exchange_lines(struct client *c, struct openssl_peer *server, int round)
{
    char line[32];
    snprintf(line, sizeof(line), "from-client-%d\n", round);
    line_to_peer(c, server, line);
    snprintf(line, sizeof(line), "from-server-%d\n", round);
    line_from_peer(c, server, line);
}

/* Handshakes and data ------------------------------------------------------------------------ */

/*
 * s_server -quiet prints exactly what it reads and sends exactly what it is given, so both
 * directions can be compared byte for byte.
 */
static void check_bulk_data(struct client *c, struct openssl_peer *server)
{
    uint8_t *up = malloc(DATA_LEN);
    uint8_t *down = malloc(DATA_LEN);
    fill_pattern(up, DATA_LEN, 0);
    fill_pattern(down, DATA_LEN, 12345);
    client_write(c, up, DATA_LEN);
    peer_expect_out_len(server, DATA_LEN);
    ck_assert_uint_eq(server->out_len, DATA_LEN);
    ck_assert_msg(memcmp(server->out, up, DATA_LEN) == 0, "s_server read other bytes");
    peer_send(server, down, DATA_LEN);
    client_expect_read(c, down, DATA_LEN, 0);
    free(up);
    free(down);
}

static void check_version_and_data(const char *version_flag, const struct tls_cert_pair *pair,
                                   const char *want_version, const char *want_cipher_part)
{
    const char *args[] = {"-cert",  pair->cert, "-key", pair->key, version_flag,
                          "-quiet", "-naccept", "1",    NULL};
    int port;
    struct openssl_peer *server = peer_start_s_server(args, &port);
    struct sl_tls_ctx_options copts = {.ca_file = g_certs.ca_cert};
    struct sl_tls_ctx *ctx = interop_client_ctx(&copts);
    struct client c;
    client_init(&c);
    struct sl_tls_connection_options tls = tls_options(&c, ctx, NULL);
    ck_assert_int_eq(client_connect(&c, port, &tls), 0);
    ck_assert_str_eq(c.result.version, want_version);
    ck_assert_msg(strstr(c.result.cipher, want_cipher_part), "cipher %s", c.result.cipher);
    ck_assert_str_eq(c.result.alpn, "");
    /* 127.0.0.1 is an IP literal: checked against the IP SANs, never sent as SNI. */
    ck_assert_str_eq(c.result.server_name, "");
    ck_assert(c.result.peer_present);
    ck_assert_str_eq(c.result.peer_subject, "CN=localhost");
    ck_assert_str_eq(c.result.peer_issuer, "CN=Sluice Test CA");
    ck_assert_msg(strstr(c.result.peer_sans, "DNS:localhost"), "SANs %s", c.result.peer_sans);
    ck_assert_msg(strstr(c.result.peer_sans, "127.0.0.1"), "SANs %s", c.result.peer_sans);
    check_bulk_data(&c, server);
    client_close(&c);
    ck_assert_int_eq(c.shutdown_status, 0);
    ck_assert_int_eq(peer_finish(server), 0); /* it saw close_notify and ended by itself */
    sl_tls_ctx_release(ctx);
}

START_TEST(client_speaks_tls12_with_s_server_and_data_crosses_intact)
{
    /* The RSA certificate here, so that an RSA key exchange signature is covered too. */
    check_version_and_data("-tls1_2", &g_certs.server_rsa, "TLSv1.2", "ECDHE-RSA");
}
END_TEST

START_TEST(client_speaks_tls13_with_s_server_and_data_crosses_intact)
{
    check_version_and_data("-tls1_3", &g_certs.server, "TLSv1.3", "TLS_");
}
END_TEST

START_TEST(client_agrees_on_alpn_with_s_server)
{
    /* s_server picks its own first protocol that the client offers (SSL_select_next_proto). */
    const char *args[] = {"-cert", g_certs.server.cert, "-key",     g_certs.server.key,
                          "-alpn", "h2,http/1.1",       "-naccept", "1",
                          NULL};
    int port;
    struct openssl_peer *server = peer_start_s_server(args, &port);
    /* The hashed directory as the trust store, and the connection's list over the context's. */
    struct sl_tls_ctx_options copts = {.ca_dir = g_certs.ca_dir, .alpn_list = "not-offered"};
    struct sl_tls_ctx *ctx = interop_client_ctx(&copts);
    struct client c;
    client_init(&c);
    struct sl_tls_connection_options tls = tls_options(&c, ctx, NULL);
    tls.alpn_list = "http/1.1;h2";
    ck_assert_int_eq(client_connect(&c, port, &tls), 0);
    ck_assert_str_eq(c.result.alpn, "h2");
    ck_assert_str_eq(c.from_handler.alpn, "h2");
    peer_expect(server, "ALPN protocols advertised by the client: http/1.1, h2", false);
    exchange_lines(&c, server, 1);
    client_close(&c);
    ck_assert_int_eq(peer_finish(server), 0);
    sl_tls_ctx_release(ctx);
}
END_TEST

START_TEST(client_sends_sni_and_s_server_answers_with_the_matching_certificate)
{
    /*
     * By default s_server presents the wrong-name certificate; only a client that sends the SNI
     * name "localhost" gets the good one, so the handshake succeeding shows the name was sent.
     */
    const char *args[] = {"-cert",       g_certs.wrong_name.cert,
                          "-key",        g_certs.wrong_name.key,
                          "-servername", "localhost",
                          "-cert2",      g_certs.server.cert,
                          "-key2",       g_certs.server.key,
                          "-naccept",    "1",
                          NULL};
    int port;
    struct openssl_peer *server = peer_start_s_server(args, &port);
    struct sl_tls_ctx_options copts = {.ca_file = g_certs.ca_cert};
    struct sl_tls_ctx *ctx = interop_client_ctx(&copts);
    struct client c;
    client_init(&c);
    struct sl_tls_connection_options tls = tls_options(&c, ctx, "localhost");
    ck_assert_int_eq(client_connect(&c, port, &tls), 0);
    ck_assert_str_eq(c.result.server_name, "localhost");
    ck_assert_str_eq(c.result.peer_subject, "CN=localhost");
    peer_expect(server, "Hostname in TLS extension: \"localhost\"", false);
    peer_expect(server, "Switching server context.", false);
    exchange_lines(&c, server, 1);
    client_close(&c);
    ck_assert_int_eq(peer_finish(server), 0);
    sl_tls_ctx_release(ctx);
}
END_TEST

START_TEST(client_sends_no_sni_for_an_ip_literal)
{
    /* -servername makes s_server print any SNI name it receives; RFC 6066 §3 forbids IPs. */
    const char *args[] = {"-cert",       g_certs.server.cert,
                          "-key",        g_certs.server.key,
                          "-servername", "localhost",
                          "-cert2",      g_certs.wrong_name.cert,
                          "-key2",       g_certs.wrong_name.key,
                          "-naccept",    "1",
                          NULL};
    int port;
    struct openssl_peer *server = peer_start_s_server(args, &port);
    struct sl_tls_ctx_options copts = {.ca_file = g_certs.ca_cert};
    struct sl_tls_ctx *ctx = interop_client_ctx(&copts);
    struct client c;
    client_init(&c);
    struct sl_tls_connection_options tls = tls_options(&c, ctx, NULL); /* host: 127.0.0.1 */
    ck_assert_int_eq(client_connect(&c, port, &tls), 0);
    ck_assert_str_eq(c.result.server_name, "");
    exchange_lines(&c, server, 1); /* by now s_server has printed all it saw in the hello */
    ck_assert_int_eq(peer_count(server, "Hostname in TLS extension"), 0);
    client_close(&c);
    ck_assert_int_eq(peer_finish(server), 0);
    sl_tls_ctx_release(ctx);
}
END_TEST

START_TEST(client_presents_its_certificate_when_s_server_requires_one)
{
    const char *args[] = {"-cert",
                          g_certs.server.cert,
                          "-key",
                          g_certs.server.key,
                          "-Verify",
                          "1",
                          "-CAfile",
                          g_certs.ca_cert,
                          "-verify_return_error",
                          "-naccept",
                          "1",
                          NULL};
    int port;
    struct openssl_peer *server = peer_start_s_server(args, &port);
    struct sl_tls_ctx_options copts = {.ca_file = g_certs.ca_cert,
                                       .cert_file = g_certs.client.cert,
                                       .key_file = g_certs.client.key};
    struct sl_tls_ctx *ctx = interop_client_ctx(&copts);
    struct client c;
    client_init(&c);
    struct sl_tls_connection_options tls = tls_options(&c, ctx, NULL);
    ck_assert_int_eq(client_connect(&c, port, &tls), 0);
    /* In TLS 1.3 the server checks the certificate after our side is done: data proves it. */
    exchange_lines(&c, server, 1);
    peer_expect(server, "CN = test-client", false);
    client_close(&c);
    ck_assert_int_eq(peer_finish(server), 0);
    sl_tls_ctx_release(ctx);
}
END_TEST

/* Failures: each reaches on_setup with its own code ------------------------------------------- */

struct failure_case {
    const char *const *server_args; /* besides -naccept 1 */
    struct sl_tls_ctx_options ctx;
    const char *server_name;
    const char *alpn_list;
    int want;
    const char *want_reason;      /* part of result.reason, or NULL */
    const char *want_peer_stderr; /* what s_server says it received, or NULL */
};

static void expect_client_failure(const struct failure_case *f)
{
    const char *args[32];
    size_t n = 0;
    for (; f->server_args[n]; n++) {
        args[n] = f->server_args[n];
    }
    args[n++] = "-naccept";
    args[n++] = "1";
    args[n] = NULL;
    int port;
    struct openssl_peer *server = peer_start_s_server(args, &port);
    struct sl_tls_ctx *ctx = interop_client_ctx(&f->ctx);
    struct client c;
    client_init(&c);
    struct sl_tls_connection_options tls = tls_options(&c, ctx, f->server_name);
    tls.alpn_list = f->alpn_list;
    int status = client_connect(&c, port, &tls);
    ck_assert_msg(status == f->want, "on_setup got %s, wanted %s (reason: %s)",
                  sl_error_name(status), sl_error_name(f->want), c.result.reason);
    ck_assert_ptr_null(c.channel);
    ck_assert_str_eq(c.result.version, "");
    if (f->want_reason) {
        ck_assert_msg(strstr(c.result.reason, f->want_reason), "reason: %s", c.result.reason);
    }
    if (f->want_peer_stderr) {
        peer_expect(server, f->want_peer_stderr, true);
    }
    client_close(&c);
    ck_assert_int_eq(peer_finish(server), 0);
    sl_tls_ctx_release(ctx);
}

START_TEST(client_rejects_a_self_signed_server_as_unknown_ca)
{
    const char *args[] = {"-cert", g_certs.self_signed.cert, "-key", g_certs.self_signed.key, NULL};
    struct failure_case f = {.server_args = args,
                             .ctx = {.ca_file = g_certs.ca_cert},
                             .want = SL_E_TLS_UNKNOWN_CA,
                             .want_reason = "self-signed",
                             .want_peer_stderr = "alert unknown ca"};
    expect_client_failure(&f);
}
END_TEST

START_TEST(client_rejects_a_server_its_trust_store_does_not_vouch_for)
{
    /* The trust store holds an unrelated certificate, not the CA that signed the server's. */
    const char *args[] = {"-cert", g_certs.server.cert, "-key", g_certs.server.key, NULL};
    struct failure_case f = {.server_args = args,
                             .ctx = {.ca_file = g_certs.self_signed.cert},
                             .want = SL_E_TLS_UNKNOWN_CA,
                             .want_reason = "local issuer",
                             .want_peer_stderr = "alert unknown ca"};
    expect_client_failure(&f);
}
END_TEST

START_TEST(client_rejects_an_expired_server_certificate)
{
    const char *args[] = {"-cert", g_certs.expired.cert, "-key", g_certs.expired.key, NULL};
    struct failure_case f = {.server_args = args,
                             .ctx = {.ca_file = g_certs.ca_cert},
                             .want = SL_E_TLS_CERT_EXPIRED,
                             .want_reason = "expired",
                             .want_peer_stderr = "alert certificate expired"};
    expect_client_failure(&f);
}
END_TEST

START_TEST(client_rejects_a_certificate_for_another_name)
{
    const char *args[] = {"-cert", g_certs.wrong_name.cert, "-key", g_certs.wrong_name.key, NULL};
    struct failure_case by_name = {.server_args = args,
                                   .ctx = {.ca_file = g_certs.ca_cert},
                                   .server_name = "localhost",
                                   .want = SL_E_TLS_BAD_HOSTNAME,
                                   .want_reason = "hostname mismatch",
                                   .want_peer_stderr = "alert bad certificate"};
    expect_client_failure(&by_name);
    /* Without a name the host, 127.0.0.1, is checked against the IP SANs (it has none). */
    struct failure_case by_address = by_name;
    by_address.server_name = NULL;
    by_address.want_reason = "IP address mismatch";
    expect_client_failure(&by_address);
}
END_TEST

START_TEST(client_without_a_certificate_is_refused_in_tls13_after_its_handshake)
{
    /*
     * In TLS 1.3 the client has finished its handshake once it has sent its (empty)
     * Certificate and Finished; the server decides after that (RFC 8446 §4.4.2.4) and answers
     * with a certificate_required alert. So on_setup succeeds, and the alert then ends the
     * channel with SL_E_TLS_CERT_REQUIRED.
     */
    const char *args[] = {"-cert",         g_certs.server.cert, "-key", g_certs.server.key,
                          "-tls1_3",       "-Verify",           "1",    "-CAfile",
                          g_certs.ca_cert, "-naccept",          "1",    NULL};
    int port;
    struct openssl_peer *server = peer_start_s_server(args, &port);
    struct sl_tls_ctx_options copts = {.ca_file = g_certs.ca_cert};
    struct sl_tls_ctx *ctx = interop_client_ctx(&copts);
    struct client c;
    client_init(&c);
    struct sl_tls_connection_options tls = tls_options(&c, ctx, NULL);
    ck_assert_int_eq(client_connect(&c, port, &tls), 0);
    ck_assert(sl_test_latch_wait(&c.latch, 2, 10000));
    ck_assert_msg(c.shutdown_status == SL_E_TLS_CERT_REQUIRED, "the channel ended with %s",
                  sl_error_name(c.shutdown_status));
    peer_expect(server, "peer did not return a certificate", true);
    client_close(&c);
    ck_assert_int_eq(peer_finish(server), 0);
    sl_tls_ctx_release(ctx);
}
END_TEST

START_TEST(client_without_a_certificate_is_refused_in_tls12_during_its_handshake)
{
    /*
     * TLS 1.2 has no certificate_required alert: a server refusing a client without a
     * certificate sends handshake_failure (RFC 5246 §7.4.6), before our Finished is answered.
     * That alert is all the client learns, so it maps to SL_E_TLS_HANDSHAKE_FAILED, the same
     * code as a cipher mismatch (core/tls/tls_errors.c).
     */
    const char *args[] = {
        "-cert",   g_certs.server.cert, "-key", g_certs.server.key, "-tls1_2", "-Verify", "1",
        "-CAfile", g_certs.ca_cert,     NULL};
    struct failure_case f = {.server_args = args,
                             .ctx = {.ca_file = g_certs.ca_cert},
                             .want = SL_E_TLS_HANDSHAKE_FAILED,
                             .want_reason = "handshake failure",
                             .want_peer_stderr = "peer did not return a certificate"};
    expect_client_failure(&f);
}
END_TEST

START_TEST(client_requiring_tls13_cannot_talk_to_a_tls12_server)
{
    const char *args[] = {"-cert", g_certs.server.cert, "-key", g_certs.server.key, "-tls1_2",
                          NULL};
    struct failure_case f = {.server_args = args,
                             .ctx = {.ca_file = g_certs.ca_cert, .min_version = SL_TLS_VERSION_1_3},
                             .want = SL_E_TLS_PROTOCOL_VERSION,
                             .want_peer_stderr = "unsupported protocol"};
    expect_client_failure(&f);
}
END_TEST

START_TEST(client_offering_other_alpn_protocols_is_refused)
{
    /* s_server answers no overlap with a fatal no_application_protocol alert (RFC 7301 §3.2). */
    const char *args[] = {"-cert", g_certs.server.cert, "-key", g_certs.server.key, "-alpn", "foo",
                          NULL};
    struct failure_case f = {.server_args = args,
                             .ctx = {.ca_file = g_certs.ca_cert},
                             .alpn_list = "bar",
                             .want = SL_E_TLS_NO_ALPN,
                             .want_peer_stderr = "no application protocol"};
    expect_client_failure(&f);
}
END_TEST

START_TEST(client_with_no_cipher_in_common_fails_the_handshake)
{
    /* TLS 1.2 only, so that our TLS 1.3 suites cannot rescue it, and disjoint 1.2 lists. */
    const char *args[] = {"-cert",
                          g_certs.server.cert,
                          "-key",
                          g_certs.server.key,
                          "-tls1_2",
                          "-cipher",
                          "ECDHE-ECDSA-AES128-GCM-SHA256",
                          NULL};
    struct failure_case f = {
        .server_args = args,
        .ctx = {.ca_file = g_certs.ca_cert, .cipher_list = "ECDHE-ECDSA-AES256-GCM-SHA384"},
        .want = SL_E_TLS_HANDSHAKE_FAILED,
        .want_peer_stderr = "no shared cipher"};
    expect_client_failure(&f);
}
END_TEST

/* After the handshake ----------------------------------------------------------------------------
 */

START_TEST(client_refuses_renegotiation_from_s_server)
{
    /*
     * "R" makes s_server send a HelloRequest. Our context sets SSL_OP_NO_RENEGOTIATION, so the
     * client answers with a no_renegotiation warning instead of a new hello. s_server treats
     * that as fatal (it prints "no renegotiation") and ends the connection with a
     * handshake_failure alert; the handler remembers that it refused, so the channel ends with
     * SL_E_TLS_RENEGOTIATION_REFUSED rather than a generic handshake failure.
     */
    const char *args[] = {"-cert",   g_certs.server.cert, "-key", g_certs.server.key,
                          "-tls1_2", "-naccept",          "1",    NULL};
    int port;
    struct openssl_peer *server = peer_start_s_server(args, &port);
    struct sl_tls_ctx_options copts = {.ca_file = g_certs.ca_cert};
    struct sl_tls_ctx *ctx = interop_client_ctx(&copts);
    struct client c;
    client_init(&c);
    struct sl_tls_connection_options tls = tls_options(&c, ctx, NULL);
    ck_assert_int_eq(client_connect(&c, port, &tls), 0);
    exchange_lines(&c, server, 1);
    peer_send(server, "R\n", 2);
    ck_assert(sl_test_latch_wait(&c.latch, 2, 10000));
    ck_assert_msg(c.shutdown_status == SL_E_TLS_RENEGOTIATION_REFUSED, "the channel ended with %s",
                  sl_error_name(c.shutdown_status));
    peer_expect(server, "no renegotiation", true);
    client_close(&c);
    ck_assert_int_eq(peer_finish(server), 0);
    sl_tls_ctx_release(ctx);
}
END_TEST

#define KEY_UPDATE_SENT     ">>> TLS 1.3, Handshake [length 0005], KeyUpdate"
#define KEY_UPDATE_RECEIVED "<<< TLS 1.3, Handshake [length 0005], KeyUpdate"

START_TEST(client_follows_key_updates_from_s_server)
{
    /* -msg makes s_server print every handshake message it sends (>>>) and receives (<<<). */
    const char *args[] = {"-cert",    g_certs.server.cert,
                          "-key",     g_certs.server.key,
                          "-tls1_3",  "-msg",
                          "-naccept", "1",
                          NULL};
    int port;
    struct openssl_peer *server = peer_start_s_server(args, &port);
    struct sl_tls_ctx_options copts = {.ca_file = g_certs.ca_cert};
    struct sl_tls_ctx *ctx = interop_client_ctx(&copts);
    struct client c;
    client_init(&c);
    struct sl_tls_connection_options tls = tls_options(&c, ctx, NULL);
    ck_assert_int_eq(client_connect(&c, port, &tls), 0);
    exchange_lines(&c, server, 1);

    /*
     * "k": s_server moves to new sending keys and asks nothing of us (update_not_requested).
     * Its next line follows the KeyUpdate on the wire, so once we have read it our side has
     * taken the new keys; what we write after that must come without a KeyUpdate of our own
     * (RFC 8446 §4.6.3).
     */
    peer_send(server, "k\n", 2);
    peer_expect_count(server, KEY_UPDATE_SENT, 1);
    line_from_peer(&c, server, "from-server-2\n");
    line_to_peer(&c, server, "from-client-2\n");
    ck_assert_int_eq(peer_count(server, KEY_UPDATE_RECEIVED), 0);

    /*
     * "K": update_requested, so our side must send a KeyUpdate before its next application
     * data (OpenSSL sends it with the next write, which the RFC allows).
     */
    peer_send(server, "K\n", 2);
    peer_expect_count(server, KEY_UPDATE_SENT, 2);
    line_from_peer(&c, server, "from-server-3\n");
    line_to_peer(&c, server, "from-client-3\n");
    ck_assert_int_eq(peer_count(server, KEY_UPDATE_RECEIVED), 1);
    ck_assert_int_lt(peer_find(server, KEY_UPDATE_RECEIVED), peer_find(server, "from-client-3"));
    exchange_lines(&c, server, 4);
    client_close(&c);
    ck_assert_int_eq(c.shutdown_status, 0);
    ck_assert_int_eq(peer_finish(server), 0);
    sl_tls_ctx_release(ctx);
}
END_TEST

void add_client_tests(Suite *s)
{
    TCase *tc = tls_interop_tcase("client_handshakes", 60);
    tcase_add_test(tc, client_speaks_tls12_with_s_server_and_data_crosses_intact);
    tcase_add_test(tc, client_speaks_tls13_with_s_server_and_data_crosses_intact);
    tcase_add_test(tc, client_agrees_on_alpn_with_s_server);
    tcase_add_test(tc, client_sends_sni_and_s_server_answers_with_the_matching_certificate);
    tcase_add_test(tc, client_sends_no_sni_for_an_ip_literal);
    tcase_add_test(tc, client_presents_its_certificate_when_s_server_requires_one);
    suite_add_tcase(s, tc);

    tc = tls_interop_tcase("client_failures", 60);
    tcase_add_test(tc, client_rejects_a_self_signed_server_as_unknown_ca);
    tcase_add_test(tc, client_rejects_a_server_its_trust_store_does_not_vouch_for);
    tcase_add_test(tc, client_rejects_an_expired_server_certificate);
    tcase_add_test(tc, client_rejects_a_certificate_for_another_name);
    tcase_add_test(tc, client_without_a_certificate_is_refused_in_tls13_after_its_handshake);
    tcase_add_test(tc, client_without_a_certificate_is_refused_in_tls12_during_its_handshake);
    tcase_add_test(tc, client_requiring_tls13_cannot_talk_to_a_tls12_server);
    tcase_add_test(tc, client_offering_other_alpn_protocols_is_refused);
    tcase_add_test(tc, client_with_no_cipher_in_common_fails_the_handshake);
    suite_add_tcase(s, tc);

    tc = tls_interop_tcase("client_after_handshake", 60);
    tcase_add_test(tc, client_refuses_renegotiation_from_s_server);
    tcase_add_test(tc, client_follows_key_updates_from_s_server);
    suite_add_tcase(s, tc);
}
