/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CLIENT_INTERNAL_H
#define SL_CLIENT_INTERNAL_H

/*
 * The client's state, shared by client.c (the API: handshake and requests) and client_io.c
 * (the socket: connecting, sending frames, receiving and sorting them). Never installed.
 */

#include <sluice/client.h>

#include "frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL__CLIENT_MESSAGE_CAP 256 /* error and GoAway messages, truncated beyond */
#define SL__CLIENT_NAME_MAX    255 /* Hello.client_name and ServerHello.daemon */

/*
 * The one frame a blocking call is waiting for: its body case and, for replies, the id that
 * ties it to the request (Ping.payload, Resolve.request_id, ...). Frames of the handshake have
 * no id and match on the body case alone.
 */
struct sl__client_wait {
    Sluice__V1__Frame__BodyCase body; /* NOT_SET: no call is waiting */
    uint64_t id;
    bool has_id;
};

struct sl_client {
    int fd;
    uint32_t max_frame; /* both directions: SL_FRAME_HANDSHAKE_MAX until Welcome */
    uint64_t session_id;
    uint32_t next_id; /* request ids and ping payloads; never reused, so a late reply is known */

    /* Received bytes not yet decoded: [rbuf, rbuf + rlen), capacity rcap. */
    uint8_t *rbuf;
    size_t rlen;
    size_t rcap;

    /*
     * The session fault (see client.h), 0 while the session runs. Once set, the socket is
     * closed and every call returns it.
     */
    int fault;
    /* The message of the last failure (Status.message, or a local detail). */
    char message[SL__CLIENT_MESSAGE_CAP];

    bool go_away;
    uint32_t go_away_deadline_ms;
    char go_away_reason[SL__CLIENT_MESSAGE_CAP];

    char daemon_name[SL__CLIENT_NAME_MAX + 1];
};

/* Memory (client_alloc.c): the library's one home for the C allocator. */
void *sl__client_calloc(size_t count, size_t len);
void *sl__client_realloc(void *ptr, size_t len);
void sl__client_free(void *ptr);

/*
 * Time (client_io.c): CLOCK_MONOTONIC nanoseconds, and the deadline timeout_ms from now
 * (0: SL_CLIENT_DEFAULT_TIMEOUT_MS).
 */
uint64_t sl__client_now_ns(void);
uint64_t sl__client_deadline(uint32_t timeout_ms);

/*
 * Opens a non-blocking, close-on-exec Unix stream socket connected to path, by deadline_ns.
 * Errors: -errno, -ENAMETOOLONG, -ETIMEDOUT.
 */
SL_MUST_CHECK int sl__client_socket_open(const char *path, uint64_t deadline_ns, int *fd_out);

/*
 * Encodes frame and writes all of it by deadline_ns. A frame over the session's maximum is
 * SL_CLIENT_E_INVAL. A write the daemon refuses (it closed) becomes the session fault, with an
 * Error frame it sent first taking precedence. A timeout in the middle of a frame is a fault
 * too, since the stream can no longer be framed.
 */
SL_MUST_CHECK int sl__client_send(struct sl_client *c, const sl_frame_t *frame,
                                  uint64_t deadline_ns);

/*
 * Reads and sorts frames until the one *wait describes arrives, by deadline_ns. SL_FRAME_OK:
 * *out is that frame (free it with sl_frame_free). GoAway is remembered, an Error frame, end of
 * stream or undecodable bytes become the session fault, and a reply with another id (to a
 * request whose wait timed out) is freed. Errors: -ETIMEDOUT, the session fault, -errno.
 */
SL_MUST_CHECK int sl__client_wait_for(struct sl_client *c, const struct sl__client_wait *wait,
                                      uint64_t deadline_ns, sl_frame_t **out);

/* Ends the session with code: closes the socket and records code and message. Returns code. */
int sl__client_set_fault(struct sl_client *c, int code, const char *message);

/*
 * The return code for a Status that is not ERROR_NONE: SL_CLIENT_E_PROTOCOL(code), with codes
 * this library cannot represent read as ERROR_INTERNAL. (client_io.c)
 */
int sl__client_status_code(const Sluice__V1__Status *status);

/* Copies src (NULL is "") into dst[cap], truncating, always NUL-terminated. */
void sl__client_copy_string(char *dst, size_t cap, const char *src);

#endif /* SL_CLIENT_INTERNAL_H */
