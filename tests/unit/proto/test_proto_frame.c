/* SPDX-License-Identifier: Apache-2.0 */
#include "frame.h"
#include "test_harness.h"

#include <stdlib.h>
#include <string.h>

/*
 * The frame codec: every kind of frame survives a round trip, the Data fast paths agree byte
 * for byte with protobuf-c, and bad input (short, oversize, garbage, unknown body) gets its own
 * result without consuming anything.
 */

static uint8_t *encode(const sl_frame_t *frame, size_t *len)
{
    *len = sl_frame_size(frame);
    uint8_t *buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(sl_frame_encode(frame, buf), *len);
    return buf;
}

static sl_frame_t *round_trip(const sl_frame_t *frame)
{
    size_t len;
    uint8_t *buf = encode(frame, &len);
    sl_frame_t *out = NULL;
    size_t consumed = 0;
    ck_assert_int_eq(sl_frame_decode(buf, len, SL_FRAME_DEFAULT_MAX, &out, &consumed), SL_FRAME_OK);
    ck_assert_uint_eq(consumed, len);
    ck_assert_int_eq(out->body_case, frame->body_case);
    free(buf);
    return out;
}

START_TEST(handshake_frames_round_trip)
{
    uint32_t versions[] = {1, 2};
    uint8_t nonce[32];
    memset(nonce, 0xab, sizeof(nonce));
    Sluice__V1__ServerHello hello;
    sluice__v1__server_hello__init(&hello);
    hello.n_versions = 2;
    hello.versions = versions;
    hello.daemon = "sluiced 0.1.0";
    hello.nonce = (ProtobufCBinaryData){.len = sizeof(nonce), .data = nonce};
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_SERVER_HELLO;
    f.server_hello = &hello;
    sl_frame_t *out = round_trip(&f);
    ck_assert_uint_eq(out->server_hello->n_versions, 2);
    ck_assert_uint_eq(out->server_hello->versions[1], 2);
    ck_assert_str_eq(out->server_hello->daemon, "sluiced 0.1.0");
    ck_assert_int_eq(memcmp(out->server_hello->nonce.data, nonce, 32), 0);
    sl_frame_free(out);

    Sluice__V1__Welcome welcome;
    sluice__v1__welcome__init(&welcome);
    welcome.version = 1;
    welcome.session_id = 0x123456789aULL;
    welcome.max_frame = SL_FRAME_DEFAULT_MAX;
    welcome.session_budget = 64u << 20;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_WELCOME;
    f.welcome = &welcome;
    out = round_trip(&f);
    ck_assert_uint_eq(out->welcome->session_id, 0x123456789aULL);
    ck_assert_uint_eq(out->welcome->session_budget, 64u << 20);
    sl_frame_free(out);
}
END_TEST

START_TEST(an_open_with_tls_options_round_trips)
{
    char *alpn[] = {"h2", "http/1.1"};
    Sluice__V1__TcpTarget tcp;
    sluice__v1__tcp_target__init(&tcp);
    tcp.host = "example.com";
    tcp.port = 443;
    Sluice__V1__TlsClientOptions tls;
    sluice__v1__tls_client_options__init(&tls);
    tls.server_name = "example.com";
    tls.n_alpn = 2;
    tls.alpn = alpn;
    tls.trust_case = SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_STORE;
    tls.store = "corp";
    Sluice__V1__Open open;
    sluice__v1__open__init(&open);
    open.channel_id = 7;
    open.target_case = SLUICE__V1__OPEN__TARGET_TCP;
    open.tcp = &tcp;
    open.tls = &tls;
    open.window = 1 << 20;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_OPEN;
    f.open = &open;
    sl_frame_t *out = round_trip(&f);
    ck_assert_uint_eq(out->open->channel_id, 7);
    ck_assert_int_eq(out->open->target_case, SLUICE__V1__OPEN__TARGET_TCP);
    ck_assert_str_eq(out->open->tcp->host, "example.com");
    ck_assert_uint_eq(out->open->tcp->port, 443);
    ck_assert_str_eq(out->open->tls->alpn[1], "http/1.1");
    ck_assert_int_eq(out->open->tls->trust_case, SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_STORE);
    ck_assert_str_eq(out->open->tls->store, "corp");
    ck_assert_uint_eq(out->open->window, 1 << 20);
    sl_frame_free(out);
}
END_TEST

/* The Data header written by hand is exactly what protobuf-c packs, for every size class. */
START_TEST(data_header_matches_protobuf_c_byte_for_byte)
{
    static uint8_t payload[300000];
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (uint8_t)(i * 7);
    }
    const uint32_t ids[] = {0, 1, 127, 128, 16383, 16384, 0x7fffffff, 0x80000000u, UINT32_MAX};
    const size_t lens[] = {0, 1, 127, 128, 16383, 16384, 262144, 300000};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            Sluice__V1__Data data;
            sluice__v1__data__init(&data);
            data.channel_id = ids[i];
            data.payload = (ProtobufCBinaryData){.len = lens[j], .data = payload};
            sl_frame_t f;
            sluice__v1__frame__init(&f);
            f.body_case = SLUICE__V1__FRAME__BODY_DATA;
            f.data = &data;
            size_t len;
            uint8_t *packed = encode(&f, &len);
            uint8_t header[SL_FRAME_DATA_HEADER_MAX];
            size_t h = sl_frame_data_header(ids[i], lens[j], header);
            ck_assert_uint_eq(h + lens[j], len);
            ck_assert_int_eq(memcmp(header, packed, h), 0);

            uint32_t channel = 0;
            const uint8_t *p = NULL;
            size_t plen = 0, consumed = 0;
            ck_assert_int_eq(
                sl_frame_peek_data(packed, len, SL_FRAME_LIMIT, &channel, &p, &plen, &consumed),
                SL_FRAME_OK);
            ck_assert_uint_eq(channel, ids[i]);
            ck_assert_uint_eq(plen, lens[j]);
            ck_assert_uint_eq(consumed, len);
            ck_assert(plen == 0 || memcmp(p, payload, plen) == 0);
            free(packed);
        }
    }
}
END_TEST

START_TEST(frames_arrive_byte_by_byte_and_back_to_back)
{
    Sluice__V1__Ping ping;
    sluice__v1__ping__init(&ping);
    ping.payload = 42;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_PING;
    f.ping = &ping;
    size_t ping_len;
    uint8_t *ping_bytes = encode(&f, &ping_len);
    uint8_t stream[256];
    size_t n = sl_frame_data_header(3, 5, stream);
    memcpy(stream + n, "hello", 5);
    n += 5;
    memcpy(stream + n, ping_bytes, ping_len);
    n += ping_len;
    /* Fed one byte more at a time: incomplete until the whole first frame is there. */
    size_t first = n - ping_len;
    for (size_t have = 0; have < first; have++) {
        sl_frame_t *out = NULL;
        size_t consumed = 99;
        ck_assert_int_eq(sl_frame_decode(stream, have, SL_FRAME_DEFAULT_MAX, &out, &consumed),
                         SL_FRAME_INCOMPLETE);
        ck_assert_ptr_null(out);
    }
    uint32_t channel;
    const uint8_t *payload;
    size_t plen, consumed;
    ck_assert_int_eq(
        sl_frame_peek_data(stream, n, SL_FRAME_DEFAULT_MAX, &channel, &payload, &plen, &consumed),
        SL_FRAME_OK);
    ck_assert_uint_eq(channel, 3);
    ck_assert_int_eq(memcmp(payload, "hello", 5), 0);
    ck_assert_int_eq(sl_frame_peek_data(stream + consumed, n - consumed, SL_FRAME_DEFAULT_MAX,
                                        &channel, &payload, &plen, &consumed),
                     SL_FRAME_NOT_DATA);
    sl_frame_t *out = NULL;
    ck_assert_int_eq(
        sl_frame_decode(stream + first, n - first, SL_FRAME_DEFAULT_MAX, &out, &consumed),
        SL_FRAME_OK);
    ck_assert_int_eq(out->body_case, SLUICE__V1__FRAME__BODY_PING);
    ck_assert_uint_eq(out->ping->payload, 42);
    sl_frame_free(out);
    free(ping_bytes);
}
END_TEST

START_TEST(bad_input_gets_its_own_result_and_consumes_nothing)
{
    sl_frame_t *out = NULL;
    size_t consumed = 0;
    /* Too large is known from the four length bytes alone. */
    const uint8_t huge[] = {0x00, 0x04, 0x00, 0x01};
    ck_assert_int_eq(sl_frame_decode(huge, 4, SL_FRAME_DEFAULT_MAX, &out, &consumed),
                     SL_FRAME_TOO_LARGE);
    /* Exactly the maximum is fine (and incomplete here); one more is not. */
    const uint8_t at_max[] = {0x00, 0x04, 0x00, 0x00};
    ck_assert_int_eq(sl_frame_decode(at_max, 4, SL_FRAME_DEFAULT_MAX, &out, &consumed),
                     SL_FRAME_INCOMPLETE);
    /* Garbage: a length-delimited field running past the end of the body. */
    const uint8_t garbage[] = {0x00, 0x00, 0x00, 0x03, 0x6a, 0x7f, 0x01};
    ck_assert_int_eq(
        sl_frame_decode(garbage, sizeof(garbage), SL_FRAME_DEFAULT_MAX, &out, &consumed),
        SL_FRAME_MALFORMED);
    /* Well-formed protobuf, but only a field this version does not know. */
    const uint8_t unknown[] = {0x00, 0x00, 0x00, 0x03, 0xf8, 0x3e, 0x01}; /* field 999 = 1 */
    ck_assert_int_eq(
        sl_frame_decode(unknown, sizeof(unknown), SL_FRAME_DEFAULT_MAX, &out, &consumed),
        SL_FRAME_MALFORMED);
    ck_assert_ptr_null(out);
    /* An empty frame is valid and has no body: the session decides (it is a flood signal). */
    const uint8_t empty[] = {0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(sl_frame_decode(empty, 4, SL_FRAME_DEFAULT_MAX, &out, &consumed), SL_FRAME_OK);
    ck_assert_int_eq(out->body_case, SLUICE__V1__FRAME__BODY__NOT_SET);
    ck_assert_uint_eq(consumed, 4);
    sl_frame_free(out);
    /* A Data frame with a non-canonical varint is left to the full decoder, which accepts it. */
    const uint8_t odd[] = {0x00, 0x00, 0x00, 0x05, 0x6a, 0x03, 0x08, 0x81, 0x00};
    uint32_t channel;
    const uint8_t *payload;
    size_t plen;
    ck_assert_int_eq(sl_frame_peek_data(odd, sizeof(odd), SL_FRAME_DEFAULT_MAX, &channel, &payload,
                                        &plen, &consumed),
                     SL_FRAME_NOT_DATA);
    ck_assert_int_eq(sl_frame_decode(odd, sizeof(odd), SL_FRAME_DEFAULT_MAX, &out, &consumed),
                     SL_FRAME_OK);
    ck_assert_uint_eq(out->data->channel_id, 1);
    sl_frame_free(out);
    ck_assert_str_eq(sl_frame_result_name(SL_FRAME_TOO_LARGE), "frame length over the maximum");
}
END_TEST

static Suite *proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = sl_test_tcase("frame", 30);
    tcase_add_test(tc, handshake_frames_round_trip);
    tcase_add_test(tc, an_open_with_tls_options_round_trips);
    tcase_add_test(tc, data_header_matches_protobuf_c_byte_for_byte);
    tcase_add_test(tc, frames_arrive_byte_by_byte_and_back_to_back);
    tcase_add_test(tc, bad_input_gets_its_own_result_and_consumes_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return sl_test_run(proto_suite());
}
