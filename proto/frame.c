/* SPDX-License-Identifier: Apache-2.0 */
#include "frame.h"

#include <stdbool.h>
#include <string.h>

/* Protobuf keys: (field number << 3) | wire type (0 varint, 2 length-delimited). */
#define KEY_FRAME_DATA      ((13u << 3) | 2u) /* 0x6a */
#define KEY_DATA_CHANNEL_ID ((1u << 3) | 0u)  /* 0x08 */
#define KEY_DATA_PAYLOAD    ((2u << 3) | 2u)  /* 0x12 */

const char *sl_frame_result_name(int result)
{
    switch (result) {
    case SL_FRAME_OK:
        return "ok";
    case SL_FRAME_INCOMPLETE:
        return "incomplete";
    case SL_FRAME_NOT_DATA:
        return "not a data frame";
    case SL_FRAME_TOO_LARGE:
        return "frame length over the maximum";
    case SL_FRAME_MALFORMED:
        return "frame does not decode";
    case SL_FRAME_NO_MEMORY:
        return "out of memory";
    default:
        return "unknown frame result";
    }
}

/* Varints ------------------------------------------------------------------------------------- */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t put_varint(uint8_t *dst, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        dst[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    dst[n++] = (uint8_t)v;
    return n;
}

/*
 * Reads a canonical varint of at most 32 bits from [*p, end). False for a truncated, over-long
 * or non-minimal one: the fast path then leaves the frame to protobuf-c.
 */
static bool get_varint32(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 35 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (v > UINT32_MAX || (b == 0 && shift > 0)) {
                return false;
            }
            *out = (uint32_t)v;
            return true;
        }
    }
    return false;
}

static void put_be32(uint8_t *dst, uint32_t v)
{
    dst[0] = (uint8_t)(v >> 24);
    dst[1] = (uint8_t)(v >> 16);
    dst[2] = (uint8_t)(v >> 8);
    dst[3] = (uint8_t)v;
}

/* Decoding ------------------------------------------------------------------------------------ */

int sl_frame_peek_length(const uint8_t *buf, size_t len, uint32_t max_frame, uint32_t *body_len)
{
    if (len < SL_FRAME_HEADER_SIZE) {
        return SL_FRAME_INCOMPLETE;
    }
    uint32_t n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    if (n > max_frame) {
        return SL_FRAME_TOO_LARGE;
    }
    *body_len = n;
    return SL_FRAME_OK;
}

/* Checks the prefix and that the whole frame is in buf. */
static int whole_frame(const uint8_t *buf, size_t len, uint32_t max_frame, uint32_t *body_len)
{
    int rc = sl_frame_peek_length(buf, len, max_frame, body_len);
    if (rc != SL_FRAME_OK) {
        return rc;
    }
    return len - SL_FRAME_HEADER_SIZE < *body_len ? SL_FRAME_INCOMPLETE : SL_FRAME_OK;
}

int sl_frame_decode(const uint8_t *buf, size_t len, uint32_t max_frame, sl_frame_t **out,
                    size_t *consumed)
{
    uint32_t body_len = 0;
    int rc = whole_frame(buf, len, max_frame, &body_len);
    if (rc != SL_FRAME_OK) {
        return rc;
    }
    sl_frame_t *frame = sluice__v1__frame__unpack(NULL, body_len, buf + SL_FRAME_HEADER_SIZE);
    if (!frame) {
        return SL_FRAME_MALFORMED; /* protobuf-c does not tell "bad bytes" from "no memory" */
    }
    if (body_len > 0 && frame->body_case == SLUICE__V1__FRAME__BODY__NOT_SET) {
        sluice__v1__frame__free_unpacked(frame, NULL); /* only fields this version does not know */
        return SL_FRAME_MALFORMED;
    }
    *out = frame;
    *consumed = SL_FRAME_HEADER_SIZE + (size_t)body_len;
    return SL_FRAME_OK;
}

void sl_frame_free(sl_frame_t *frame)
{
    if (frame) {
        sluice__v1__frame__free_unpacked(frame, NULL);
    }
}

/* Parses Data's fields in canonical order: [channel_id], [payload], nothing else. */
static bool parse_data(const uint8_t *p, const uint8_t *end, uint32_t *channel_id,
                       const uint8_t **payload, size_t *payload_len)
{
    *channel_id = 0;
    *payload = p;
    *payload_len = 0;
    if (p < end && *p == KEY_DATA_CHANNEL_ID) {
        p++;
        if (!get_varint32(&p, end, channel_id) || *channel_id == 0) {
            return false; /* proto3 omits a zero: a zero written out is not canonical */
        }
    }
    if (p < end && *p == KEY_DATA_PAYLOAD) {
        p++;
        uint32_t n;
        if (!get_varint32(&p, end, &n) || n == 0 || n != (size_t)(end - p)) {
            return false;
        }
        *payload = p;
        *payload_len = n;
        p += n;
    }
    return p == end;
}

int sl_frame_peek_data(const uint8_t *buf, size_t len, uint32_t max_frame, uint32_t *channel_id,
                       const uint8_t **payload, size_t *payload_len, size_t *consumed)
{
    uint32_t body_len = 0;
    int rc = whole_frame(buf, len, max_frame, &body_len);
    if (rc != SL_FRAME_OK) {
        return rc;
    }
    const uint8_t *p = buf + SL_FRAME_HEADER_SIZE;
    const uint8_t *end = p + body_len;
    uint32_t inner_len;
    if (p == end || *p != KEY_FRAME_DATA) {
        return SL_FRAME_NOT_DATA;
    }
    p++;
    if (!get_varint32(&p, end, &inner_len) || inner_len != (size_t)(end - p) ||
        !parse_data(p, end, channel_id, payload, payload_len)) {
        return SL_FRAME_NOT_DATA;
    }
    *consumed = SL_FRAME_HEADER_SIZE + (size_t)body_len;
    return SL_FRAME_OK;
}

int sl_frame_peek_data_start(const uint8_t *buf, size_t len, uint32_t max_frame,
                             uint32_t *channel_id, size_t *payload_len, size_t *header_len)
{
    uint32_t body_len = 0;
    int rc = sl_frame_peek_length(buf, len, max_frame, &body_len);
    if (rc != SL_FRAME_OK) {
        return rc;
    }
    size_t frame_len = SL_FRAME_HEADER_SIZE + (size_t)body_len;
    if (len < frame_len && len < SL_FRAME_DATA_HEADER_MAX) {
        return SL_FRAME_INCOMPLETE; /* the header itself may still be coming */
    }
    const uint8_t *p = buf + SL_FRAME_HEADER_SIZE;
    const uint8_t *end = buf + frame_len;
    const uint8_t *have = buf + (len < frame_len ? len : frame_len);
    uint32_t inner_len = 0, n = 0;
    *channel_id = 0;
    if (p == end || *p != KEY_FRAME_DATA) {
        return SL_FRAME_NOT_DATA;
    }
    p++;
    if (!get_varint32(&p, have, &inner_len) || inner_len != (size_t)(end - p)) {
        return SL_FRAME_NOT_DATA;
    }
    if (p < have && *p == KEY_DATA_CHANNEL_ID) {
        p++;
        if (!get_varint32(&p, have, channel_id) || *channel_id == 0) {
            return SL_FRAME_NOT_DATA;
        }
    }
    if (p >= have || *p != KEY_DATA_PAYLOAD) {
        return SL_FRAME_NOT_DATA;
    }
    p++;
    if (!get_varint32(&p, have, &n) || n == 0 || n != (size_t)(end - p)) {
        return SL_FRAME_NOT_DATA;
    }
    *payload_len = n;
    *header_len = (size_t)(p - buf);
    return SL_FRAME_OK;
}

/* Encoding ------------------------------------------------------------------------------------ */

size_t sl_frame_size(const sl_frame_t *frame)
{
    return SL_FRAME_HEADER_SIZE + sluice__v1__frame__get_packed_size(frame);
}

size_t sl_frame_encode(const sl_frame_t *frame, uint8_t *dst)
{
    size_t body = sluice__v1__frame__pack(frame, dst + SL_FRAME_HEADER_SIZE);
    put_be32(dst, (uint32_t)body);
    return SL_FRAME_HEADER_SIZE + body;
}

size_t sl_frame_data_header(uint32_t channel_id, size_t payload_len, uint8_t *dst)
{
    /* proto3: fields holding their default (0, empty) are left out, as protobuf-c does. */
    size_t inner = 0;
    if (channel_id) {
        inner += 1 + varint_size(channel_id);
    }
    if (payload_len) {
        inner += 1 + varint_size(payload_len) + payload_len;
    }
    size_t body = 1 + varint_size(inner) + inner;
    put_be32(dst, (uint32_t)body);
    size_t n = SL_FRAME_HEADER_SIZE;
    dst[n++] = KEY_FRAME_DATA;
    n += put_varint(dst + n, inner);
    if (channel_id) {
        dst[n++] = KEY_DATA_CHANNEL_ID;
        n += put_varint(dst + n, channel_id);
    }
    if (payload_len) {
        dst[n++] = KEY_DATA_PAYLOAD;
        n += put_varint(dst + n, payload_len);
    }
    return n;
}
