/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_PROTO_FRAME_H
#define SL_PROTO_FRAME_H

/*
 * The frame codec of the IPC protocol (docs/protocol.md "Framing"): a 4-byte big-endian length,
 * then one protobuf-encoded sluice.v1.Frame. Shared by sluiced and libsluice-client; it depends
 * on protobuf-c only, allocates only inside protobuf-c's unpacker (malloc), and keeps no state,
 * so a caller feeds it whatever bytes it has and it says whether a whole frame is there.
 *
 * Build messages with the generated sluice__v1__*__init() functions, not the SLUICE__V1__*__INIT
 * macros: those cast const away, which our warning flags reject.
 *
 * Data frames, the bulk of the traffic, have a fast path both ways: sl_frame_data_header writes
 * the bytes that go before a payload (so the payload is never copied into a packed message), and
 * sl_frame_peek_data finds channel and payload inside the received bytes without unpacking.
 */

#include "sluice.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define SL_FRAME_HEADER_SIZE   4u
#define SL_FRAME_HANDSHAKE_MAX (64u * 1024)        /* until Welcome */
#define SL_FRAME_DEFAULT_MAX   (256u * 1024)       /* Welcome's default */
#define SL_FRAME_LIMIT         (16u * 1024 * 1024) /* the most a daemon ever offers */
/* Length prefix + Frame.data key + length + Data.channel_id key + varint + payload key + length */
#define SL_FRAME_DATA_HEADER_MAX (4u + 1 + 5 + 1 + 5 + 1 + 5)

enum sl_frame_result {
    SL_FRAME_OK = 0,
    SL_FRAME_INCOMPLETE = 1, /* not all of the frame is there yet: nothing consumed */
    SL_FRAME_NOT_DATA = 2,   /* sl_frame_peek_data: a whole frame, but not a plain Data one */
    SL_FRAME_TOO_LARGE = -1, /* the length prefix is over the maximum (ERROR_FRAME_TOO_LARGE) */
    SL_FRAME_MALFORMED =
        -2, /* the body does not decode, or has no known body (ERROR_FRAME_MALFORMED) */
    SL_FRAME_NO_MEMORY = -3,
};

typedef Sluice__V1__Frame sl_frame_t;

/* A readable name for a result ("too large", ...). */
const char *sl_frame_result_name(int result);

/*
 * Reads the length prefix at buf: SL_FRAME_OK and *body_len, SL_FRAME_INCOMPLETE with fewer than
 * 4 bytes, or SL_FRAME_TOO_LARGE when the body would be over max_frame. A too-large frame is
 * known from its 4 header bytes alone.
 */
int sl_frame_peek_length(const uint8_t *buf, size_t len, uint32_t max_frame, uint32_t *body_len);

/*
 * Decodes the frame at the front of buf. SL_FRAME_OK: *out is the frame (free it with
 * sl_frame_free) and *consumed its size with the prefix. A zero-length frame decodes to a Frame
 * with no body (the session counts those as a flood); a non-empty one without a known body is
 * SL_FRAME_MALFORMED. Otherwise SL_FRAME_INCOMPLETE or an error, with nothing consumed.
 */
int sl_frame_decode(const uint8_t *buf, size_t len, uint32_t max_frame, sl_frame_t **out,
                    size_t *consumed);
void sl_frame_free(sl_frame_t *frame);

/*
 * The fast path for received Data: if the frame at buf is a whole Data frame in the canonical
 * encoding (what every encoder here and protobuf-c produce), *channel_id and *payload (pointing
 * into buf) are set, and SL_FRAME_OK. SL_FRAME_NOT_DATA for any other whole frame (decode it with
 * sl_frame_decode, which also handles unusual encodings of Data); SL_FRAME_INCOMPLETE or an
 * error as for sl_frame_decode.
 */
int sl_frame_peek_data(const uint8_t *buf, size_t len, uint32_t max_frame, uint32_t *channel_id,
                       const uint8_t **payload, size_t *payload_len, size_t *consumed);

/*
 * The start of a Data frame whose payload may not all be there yet: once the bytes before the
 * payload have arrived (all of them, or SL_FRAME_DATA_HEADER_MAX bytes), SL_FRAME_OK with
 * *channel_id, *payload_len (> 0) and *header_len (where the payload begins in buf). So a
 * receiver can pass a large payload on as it arrives instead of gathering the whole frame.
 * SL_FRAME_NOT_DATA for anything but a canonical Data frame with a payload; SL_FRAME_INCOMPLETE
 * or an error as for sl_frame_peek_length.
 */
int sl_frame_peek_data_start(const uint8_t *buf, size_t len, uint32_t max_frame,
                             uint32_t *channel_id, size_t *payload_len, size_t *header_len);

/* The encoded size of frame (prefix included), and its encoding into dst (that many bytes). */
size_t sl_frame_size(const sl_frame_t *frame);
size_t sl_frame_encode(const sl_frame_t *frame, uint8_t *dst);

/*
 * Writes the bytes of a Data frame that come before its payload (at most
 * SL_FRAME_DATA_HEADER_MAX) and returns how many; the payload follows them unchanged. Byte for
 * byte what sl_frame_encode gives for the same Data frame.
 */
size_t sl_frame_data_header(uint32_t channel_id, size_t payload_len, uint8_t *dst);

#endif
