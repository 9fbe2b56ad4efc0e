/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_kit.h"
#include "tls_tests.h"

#include <sluice/error.h>

#include <string.h>

/*
 * Our client against our server over loopback: bulk transfers checked by hash, random write
 * sizes, a tiny read window that makes TLS hold data back, write completions, ALPN, session
 * resumption, half-close, and 200 channels at once.
 */

#define MIB ((uint64_t)1024 * 1024)

struct pair {
    struct sl_tls_ctx *client_ctx;
    struct sl_tls_ctx *server_ctx;
    struct sl_tls_connection_options client_tls;
    struct sl_tls_connection_options server_tls;
    struct kit_server server;
    struct stream_end client;
    struct stream_end server_end;
};

static void pair_open(struct pair *p, const struct stream_options *client,
                      const struct stream_options *server, const char *alpn)
{
    memset(p, 0, sizeof(*p));
    p->client_ctx = kit_client_ctx(alpn);
    p->server_ctx = kit_server_ctx(alpn);
    p->client_tls =
        (struct sl_tls_connection_options){.ctx = p->client_ctx, .server_name = "localhost"};
    p->server_tls = (struct sl_tls_connection_options){.ctx = p->server_ctx};
    stream_end_init(&p->client, client);
    stream_end_init(&p->server_end, server);
    kit_server_start(&p->server, &p->server_tls, &p->server_end, 1);
    ck_assert_int_eq(kit_connect(&p->client, p->server.port, &p->client_tls), 0);
    ck_assert(stream_end_wait(&p->server_end, stream_end_is_set_up, 10000));
}

static void pair_close(struct pair *p)
{
    if (!stream_end_is_shut_down(&p->client)) {
        kit_close(&p->client);
    }
    ck_assert(stream_end_wait(&p->server_end, stream_end_is_shut_down, 20000));
    kit_server_stop(&p->server);
    stream_end_clean_up(&p->client);
    stream_end_clean_up(&p->server_end);
    sl_tls_ctx_release(p->client_ctx);
    sl_tls_ctx_release(p->server_ctx);
}

static uint64_t s_expect;

static bool received_expected(struct stream_end *end)
{
    return atomic_load(&end->received) >= s_expect;
}

static void assert_same_stream(struct stream_end *sender, struct stream_end *receiver)
{
    unsigned char a[32], b[32];
    stream_end_digest(sender->sent_hash, a);
    stream_end_digest(receiver->recv_hash, b);
    ck_assert_uint_eq(atomic_load(&receiver->received), sender->sent);
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
}

static void transfer(uint64_t bytes, size_t write_size, size_t server_window, bool reopen_later)
{
    struct pair p;
    struct stream_options c = {.send_bytes = bytes, .write_size = write_size};
    struct stream_options s = {.window = server_window, .reopen_later = reopen_later};
    pair_open(&p, &c, &s, NULL);
    s_expect = bytes;
    bool ok = stream_end_wait(&p.server_end, received_expected, 120000);
    ck_assert_msg(ok, "received %llu of %llu (sent %llu, completed %llu)",
                  (unsigned long long)atomic_load(&p.server_end.received),
                  (unsigned long long)bytes, (unsigned long long)p.client.sent,
                  (unsigned long long)atomic_load(&p.client.completed_bytes));
    assert_same_stream(&p.client, &p.server_end);
    ck_assert_str_eq(p.client.version, "TLSv1.3");
    pair_close(&p);
}

START_TEST(one_mebibyte_arrives_intact)
{
    transfer(MIB, 16 * 1024, 0, false);
}
END_TEST

START_TEST(sixty_four_mebibytes_arrive_intact)
{
    transfer(64 * MIB, 16 * 1024, 0, false);
}
END_TEST

START_TEST(random_sized_writes_arrive_intact)
{
    transfer(8 * MIB + 12345, 0, 0, false);
}
END_TEST

/* A 1000-byte window reopened from a task: TLS must hold decrypted data it cannot pass yet. */
START_TEST(a_tiny_read_window_holds_data_back_without_loss)
{
    transfer(2 * MIB + 777, 0, 1000, true);
}
END_TEST

START_TEST(echo_goes_both_ways_intact)
{
    struct pair p;
    struct stream_options c = {.send_bytes = 3 * MIB + 5, .seed = 7};
    struct stream_options s = {.echo = true};
    pair_open(&p, &c, &s, NULL);
    s_expect = 3 * MIB + 5;
    ck_assert(stream_end_wait(&p.client, received_expected, 60000));
    assert_same_stream(&p.client, &p.server_end);
    assert_same_stream(&p.client, &p.client);
    pair_close(&p);
}
END_TEST

static bool all_completed(struct stream_end *end)
{
    return atomic_load(&end->completed_bytes) >= s_expect;
}

/* Every write completes once, without error, and only after its bytes were sent. */
START_TEST(write_completions_fire_once_each_after_the_ciphertext_is_written)
{
    struct pair p;
    struct stream_options c = {.send_bytes = 4 * MIB, .write_size = 10000};
    pair_open(&p, &c, &(struct stream_options){0}, NULL);
    s_expect = 4 * MIB;
    ck_assert(stream_end_wait(&p.client, all_completed, 60000));
    ck_assert_uint_eq(atomic_load(&p.client.completions), (4 * MIB + 9999) / 10000);
    ck_assert_uint_eq(atomic_load(&p.client.completion_errors), 0);
    ck_assert(stream_end_wait(&p.server_end, received_expected, 60000));
    pair_close(&p);
}
END_TEST

START_TEST(alpn_result_is_visible_to_both_application_handlers)
{
    struct pair p;
    pair_open(&p, &(struct stream_options){0}, &(struct stream_options){0}, "h2;http/1.1");
    ck_assert_str_eq(p.client.alpn, "h2");
    ck_assert_str_eq(p.server_end.alpn, "h2");
    pair_close(&p);
}
END_TEST

/* The second connection to the same host:port resumes with the ticket from the first. */
START_TEST(a_reconnecting_client_resumes_its_session)
{
    struct pair p;
    struct stream_options echo = {.echo = true};
    struct stream_end ends[2];
    stream_end_init(&ends[0], &echo);
    stream_end_init(&ends[1], &echo);
    memset(&p, 0, sizeof(p));
    p.client_ctx = kit_client_ctx(NULL);
    p.server_ctx = kit_server_ctx(NULL);
    struct sl_tls_connection_options ctls = {.ctx = p.client_ctx, .server_name = "localhost"};
    struct sl_tls_connection_options stls = {.ctx = p.server_ctx};
    kit_server_start(&p.server, &stls, ends, 2);
    for (int i = 0; i < 2; i++) {
        struct stream_end c;
        stream_end_init(&c, &(struct stream_options){.send_bytes = 100});
        ck_assert_int_eq(kit_connect(&c, p.server.port, &ctls), 0);
        s_expect = 100; /* the echo came back, so the tickets sent before it arrived too */
        ck_assert(stream_end_wait(&c, received_expected, 10000));
        ck_assert_int_eq(c.resumed, i == 1);
        kit_close(&c);
        ck_assert(stream_end_wait(&ends[i], stream_end_is_shut_down, 10000));
        ck_assert_int_eq(ends[i].resumed, i == 1);
        /* It heard close_notify (not a truncation) and closed in turn. */
        ck_assert(atomic_load(&ends[i].end_of_stream));
        ck_assert_int_eq(ends[i].shutdown_status, 0);
        stream_end_clean_up(&c);
    }
    kit_server_stop(&p.server);
    stream_end_clean_up(&ends[0]);
    stream_end_clean_up(&ends[1]);
    sl_tls_ctx_release(p.client_ctx);
    sl_tls_ctx_release(p.server_ctx);
}
END_TEST

struct max_message_check {
    struct stream_end *end;
    size_t cap;
};

static void acquire_max_message(void *arg)
{
    struct max_message_check *c = arg;
    struct sl_msg *msg;
    ck_assert_int_eq(sl_slot_acquire_max_message_for_write(c->end->base.slot, &msg), 0);
    c->cap = msg->data.cap;
    sl_channel_release_msg(c->end->channel, msg);
}

/* Above TLS 1.3, the largest write message plus the record overhead is one 16 KiB write. */
START_TEST(max_message_for_write_leaves_room_for_the_record_overhead)
{
    struct pair p;
    pair_open(&p, &(struct stream_options){0}, &(struct stream_options){0}, NULL);
    struct max_message_check c = {.end = &p.client};
    sl_test_run_on_loop(sl_channel_loop(p.client.channel), acquire_max_message, &c);
    ck_assert_uint_eq(c.cap, SL_MAX_FRAGMENT_SIZE - 22); /* 5 header + 16 tag + 1 type */
    pair_close(&p);
}
END_TEST

static bool saw_end_of_stream(struct stream_end *end)
{
    return atomic_load(&end->end_of_stream);
}

/* TLS 1.3 half-close: the client's close_notify ends its direction; the server still replies. */
START_TEST(half_close_lets_the_other_direction_finish)
{
    struct pair p;
    struct stream_options c = {.send_bytes = 50000, .end_after_send = true};
    struct stream_options s = {.echo = true};
    pair_open(&p, &c, &s, NULL);
    ck_assert(stream_end_wait(&p.server_end, saw_end_of_stream, 10000));
    s_expect = 50000;
    ck_assert(stream_end_wait(&p.client, received_expected, 10000));
    assert_same_stream(&p.client, &p.client);
    pair_close(&p);
}
END_TEST

#define MANY 200

START_TEST(two_hundred_tls_channels_at_once)
{
    static struct stream_end clients[MANY];
    static struct stream_end servers[MANY];
    struct sl_tls_ctx *cctx = kit_client_ctx(NULL);
    struct sl_tls_ctx *sctx = kit_server_ctx(NULL);
    struct sl_tls_connection_options ctls = {.ctx = cctx, .server_name = "127.0.0.1"};
    struct sl_tls_connection_options stls = {.ctx = sctx};
    for (int i = 0; i < MANY; i++) {
        stream_end_init(&servers[i], &(struct stream_options){.echo = true});
        stream_end_init(&clients[i],
                        &(struct stream_options){.send_bytes = 20000, .seed = (uint32_t)i + 1});
    }
    struct kit_server srv;
    kit_server_start(&srv, &stls, servers, MANY);
    for (int i = 0; i < MANY; i++) {
        kit_connect_async(&clients[i], srv.port, &ctls);
    }
    s_expect = 20000;
    for (int i = 0; i < MANY; i++) {
        ck_assert(stream_end_wait(&clients[i], stream_end_is_set_up, 30000));
        ck_assert_int_eq(clients[i].setup_status, 0);
        ck_assert(stream_end_wait(&clients[i], received_expected, 30000));
        assert_same_stream(&clients[i], &clients[i]);
    }
    for (int i = 0; i < MANY; i++) {
        kit_close(&clients[i]);
    }
    for (int i = 0; i < MANY; i++) {
        ck_assert(stream_end_wait(&servers[i], stream_end_is_shut_down, 20000));
        stream_end_clean_up(&clients[i]);
        stream_end_clean_up(&servers[i]);
    }
    ck_assert_int_eq(atomic_load(&srv.incoming_errors), 0);
    kit_server_stop(&srv);
    sl_tls_ctx_release(cctx);
    sl_tls_ctx_release(sctx);
}
END_TEST

void tls_add_transfer_tests(Suite *suite)
{
    TCase *tc = sl_test_tcase("transfer", 240);
    tcase_add_checked_fixture(tc, kit_setup, kit_teardown);
    tcase_add_test(tc, one_mebibyte_arrives_intact);
    tcase_add_test(tc, sixty_four_mebibytes_arrive_intact);
    tcase_add_test(tc, random_sized_writes_arrive_intact);
    tcase_add_test(tc, a_tiny_read_window_holds_data_back_without_loss);
    tcase_add_test(tc, echo_goes_both_ways_intact);
    tcase_add_test(tc, write_completions_fire_once_each_after_the_ciphertext_is_written);
    tcase_add_test(tc, alpn_result_is_visible_to_both_application_handlers);
    tcase_add_test(tc, a_reconnecting_client_resumes_its_session);
    tcase_add_test(tc, half_close_lets_the_other_direction_finish);
    tcase_add_test(tc, max_message_for_write_leaves_room_for_the_record_overhead);
    tcase_add_test(tc, two_hundred_tls_channels_at_once);
    suite_add_tcase(suite, tc);
}
