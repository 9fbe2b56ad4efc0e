/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon_harness.h"
#include "openssl_peer.h"
#include "test_harness.h"
#include "tls_certs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * TLS channels through the real sluiced to a real `openssl s_server`: the daemon is the TLS
 * client, the CA comes from our client as PEM (what sluicectl --cafile sends), and every
 * verification failure comes back as OpenFailed with its own code.
 */

static struct tls_certs s_certs;
static struct daemon_proc s_daemon;
static struct openssl_peer s_server;
static int s_port;
static char *s_ca_pem;
static size_t s_ca_len;

static void setup(void)
{
    daemon_start(&s_daemon, NULL, NULL);
    const char *args[] = {"-quiet", "-naccept",         "1", "-cert", s_certs.server.cert,
                          "-key",   s_certs.server.key, NULL};
    char why[256];
    ck_assert_msg(openssl_peer_start_server(&s_server, args, &s_port, 10000, why, sizeof(why)),
                  "%s", why);
}

static void teardown(void)
{
    openssl_peer_stop(&s_server, 2000);
    openssl_peer_free(&s_server);
    ck_assert_int_eq(daemon_stop(&s_daemon, 10000), 0);
}

static void send_tls_open(struct raw_client *c, uint32_t id, const char *server_name, bool ca)
{
    Sluice__V1__TcpTarget tcp;
    sluice__v1__tcp_target__init(&tcp);
    tcp.host = "127.0.0.1";
    tcp.port = (uint32_t)s_port;
    Sluice__V1__TlsClientOptions tls;
    sluice__v1__tls_client_options__init(&tls);
    tls.server_name = (char *)(uintptr_t)server_name;
    if (ca) {
        tls.trust_case = SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_CA_PEM;
        tls.ca_pem = (ProtobufCBinaryData){.len = s_ca_len, .data = (uint8_t *)s_ca_pem};
    }
    Sluice__V1__Open open;
    sluice__v1__open__init(&open);
    open.channel_id = id;
    open.target_case = SLUICE__V1__OPEN__TARGET_TCP;
    open.tcp = &tcp;
    open.tls = &tls;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_OPEN;
    f.open = &open;
    raw_send(c, &f);
}

START_TEST(a_tls_channel_to_s_server_carries_data_both_ways)
{
    struct raw_client c;
    raw_attach(&c, &s_daemon, "tls");
    send_tls_open(&c, 1, "localhost", true);
    sl_frame_t *opened = raw_expect(&c, SLUICE__V1__FRAME__BODY_OPENED);
    ck_assert_ptr_nonnull(opened->opened->tls);
    ck_assert_str_eq(opened->opened->tls->version, "TLSv1.3");
    ck_assert_ptr_nonnull(opened->opened->tls->peer);
    ck_assert_ptr_nonnull(strstr(opened->opened->tls->peer->sans[0], "DNS:localhost"));
    sl_frame_free(opened);

    uint8_t frame[64];
    const char *hello = "hello from sluice\n";
    size_t h = sl_frame_data_header(1, strlen(hello), frame);
    memcpy(frame + h, hello, strlen(hello));
    raw_send_bytes(&c, frame, h + strlen(hello));
    ck_assert_msg(openssl_peer_wait_for(&s_server, "hello from sluice", false, 10000),
                  "s_server did not print our data: %s", s_server.out ? s_server.out : "");

    ck_assert(openssl_peer_write(&s_server, "hi back\n", 8));
    sl_frame_t *data = raw_expect(&c, SLUICE__V1__FRAME__BODY_DATA);
    ck_assert_uint_eq(data->data->channel_id, 1);
    ck_assert_uint_eq(data->data->payload.len, 8);
    ck_assert_int_eq(memcmp(data->data->payload.data, "hi back\n", 8), 0);
    sl_frame_free(data);
    raw_close(&c);
}
END_TEST

static void expect_open_failed(const char *server_name, bool ca, Sluice__V1__ErrorCode code)
{
    struct raw_client c;
    raw_attach(&c, &s_daemon, "tls");
    send_tls_open(&c, 7, server_name, ca);
    sl_frame_t *failed = raw_expect(&c, SLUICE__V1__FRAME__BODY_OPEN_FAILED);
    ck_assert_uint_eq(failed->open_failed->channel_id, 7);
    ck_assert_msg(failed->open_failed->status->code == code, "got %d (%s), wanted %d",
                  failed->open_failed->status->code, failed->open_failed->status->message,
                  (int)code);
    sl_frame_free(failed);
    raw_ping(&c, 3); /* the session goes on */
    raw_close(&c);
}

START_TEST(an_unknown_ca_fails_the_open_with_its_own_code)
{
    expect_open_failed("localhost", false, SLUICE__V1__ERROR_CODE__ERROR_TLS_UNKNOWN_CA);
}
END_TEST

START_TEST(a_wrong_name_fails_the_open_with_its_own_code)
{
    expect_open_failed("wrong.example", true, SLUICE__V1__ERROR_CODE__ERROR_TLS_BAD_HOSTNAME);
}
END_TEST

int main(void)
{
    char why[256];
    if (!tls_certs_make(&s_certs, why, sizeof(why))) {
        fprintf(stderr, "cannot make test certificates: %s\n", why);
        return 1;
    }
    FILE *f = fopen(s_certs.ca_cert, "rb");
    s_ca_pem = malloc(65536);
    s_ca_len = f && s_ca_pem ? fread(s_ca_pem, 1, 65536, f) : 0;
    if (f) {
        fclose(f);
    }
    Suite *suite = suite_create("daemon_tls");
    TCase *tc = sl_test_tcase("tls", 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_tls_channel_to_s_server_carries_data_both_ways);
    tcase_add_test(tc, an_unknown_ca_fails_the_open_with_its_own_code);
    tcase_add_test(tc, a_wrong_name_fails_the_open_with_its_own_code);
    suite_add_tcase(suite, tc);
    int rc = sl_test_run(suite);
    free(s_ca_pem);
    tls_certs_remove(&s_certs);
    return rc;
}
