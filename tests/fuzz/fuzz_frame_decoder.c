/* SPDX-License-Identifier: Apache-2.0 */

/*
 * fuzz_frame_decoder: the daemon decodes frames from any local process, so the decoder must
 * take any bytes. The input is a byte stream of frames, decoded one after another as a session
 * would (the first byte picks the maximum frame size); the Data fast path is checked against
 * the full decoder on every frame (same channel, same payload), and every decoded frame is
 * encoded again.
 */

#include "frame.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool cond)
{
    if (!cond) {
        abort();
    }
}

static void check_fast_path(const uint8_t *buf, size_t len, uint32_t max, const sl_frame_t *full)
{
    uint32_t channel;
    const uint8_t *payload;
    size_t plen, consumed;
    int rc = sl_frame_peek_data(buf, len, max, &channel, &payload, &plen, &consumed);
    if (rc != SL_FRAME_OK) {
        check(rc == SL_FRAME_NOT_DATA);
        uint32_t c2;
        size_t p2, header;
        check(sl_frame_peek_data_start(buf, len, max, &c2, &p2, &header) == SL_FRAME_NOT_DATA);
        return;
    }
    check(full->body_case == SLUICE__V1__FRAME__BODY_DATA);
    check(channel == full->data->channel_id);
    check(plen == full->data->payload.len);
    check(plen == 0 || memcmp(payload, full->data->payload.data, plen) == 0);
    /* The streaming start agrees with the whole frame, on every prefix long enough for it. */
    for (size_t have = 0; have <= consumed; have++) {
        uint32_t c2 = 0;
        size_t p2 = 0, header = 0;
        int r2 = sl_frame_peek_data_start(buf, have, max, &c2, &p2, &header);
        if (r2 == SL_FRAME_OK) {
            check(plen > 0 && c2 == channel && p2 == plen && buf + header == payload);
        } else {
            check(r2 == SL_FRAME_INCOMPLETE || (r2 == SL_FRAME_NOT_DATA && plen == 0));
            check(r2 == SL_FRAME_NOT_DATA || have < consumed);
        }
    }
}

static void check_reencode(const sl_frame_t *frame)
{
    size_t len = sl_frame_size(frame);
    uint8_t *buf = malloc(len);
    check(buf != NULL);
    check(sl_frame_encode(frame, buf) == len);
    sl_frame_t *again = NULL;
    size_t consumed = 0;
    /*
     * protobuf-c keeps unknown fields and writes them back in minimal form, and may then reject
     * what it accepted in a non-minimal form (a field number 0 spelled with two bytes): only a
     * frame that decodes again has to keep its body.
     */
    int rc = sl_frame_decode(buf, len, SL_FRAME_LIMIT, &again, &consumed);
    check(rc == SL_FRAME_OK || rc == SL_FRAME_MALFORMED);
    if (rc == SL_FRAME_OK) {
        check(consumed == len && again->body_case == frame->body_case);
        sl_frame_free(again);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    static const uint32_t maxima[] = {16, 1024, SL_FRAME_HANDSHAKE_MAX, SL_FRAME_DEFAULT_MAX};
    uint32_t max = maxima[data[0] % 4];
    const uint8_t *p = data + 1;
    size_t left = size - 1;
    for (;;) {
        sl_frame_t *frame = NULL;
        size_t consumed = 0;
        int rc = sl_frame_decode(p, left, max, &frame, &consumed);
        if (rc != SL_FRAME_OK) {
            check(rc == SL_FRAME_INCOMPLETE || rc == SL_FRAME_TOO_LARGE ||
                  rc == SL_FRAME_MALFORMED);
            check(frame == NULL);
            return 0;
        }
        check(consumed >= SL_FRAME_HEADER_SIZE && consumed <= left);
        check_fast_path(p, left, max, frame);
        check_reencode(frame);
        sl_frame_free(frame);
        p += consumed;
        left -= consumed;
    }
}
