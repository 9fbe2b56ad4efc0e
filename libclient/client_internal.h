/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CLIENT_INTERNAL_H
#define SL_CLIENT_INTERNAL_H

/*
 * The client's state, shared by the files of libsluice-client. Never installed.
 *
 *   client.c          the session API: connect and handshake, ping, resolve, queries
 *   client_io.c       the socket: connecting, the output queue, reading, waiting
 *   client_route.c    sorting each arriving frame into its channel, listener or request
 *   client_open.c     opening a channel: options, the Open frame, Opened's details
 *   client_channel.c  the rest of the channel API (read, write, shutdown, close)
 *   client_flow.c     per-channel receive buffers and credit (docs/protocol.md §6)
 *   client_listener.c listeners and accepted channels
 *   client_stats.c    Stats, and the event loop API (poll events, process)
 *
 * The receive side never waits for one frame in particular: every frame that arrives is sorted
 * at once (client_route.c), and a blocking call loops on "read and sort" until its own
 * condition holds (sl__client_run_until). The send side encodes frames into one output queue,
 * except bulk Data, which goes straight from the caller's buffer while the queue is empty.
 */

#include <sluice/client.h>

#include "frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL__CLIENT_MESSAGE_CAP     256         /* error and GoAway messages, truncated beyond */
#define SL__CLIENT_NAME_MAX        255         /* Hello.client_name and ServerHello.daemon */
#define SL__CLIENT_FIRST_DAEMON_ID 0x80000000u /* docs/protocol.md §4.1: ids from Accepted */
#define SL__CLIENT_DATA_OVERHEAD   16u         /* max_frame - 16 payload bytes fit in a frame */

/*
 * The one reply a blocking call is waiting for: its body case and, for replies, the id that
 * ties it to the request (Ping.payload, Resolve.request_id, ...). Frames of the handshake have
 * no id and match on the body case alone. A client is used by one thread, one call at a time,
 * so there is at most one.
 */
struct sl__client_wait {
    Sluice__V1__Frame__BodyCase body; /* NOT_SET: no call is waiting */
    uint64_t id;
    bool has_id;
};

/*
 * A blocking read of a stream channel whose buffer is empty lends its buffer here, so arriving
 * payload is copied once, from the socket buffer into the caller's, instead of twice.
 */
struct sl__client_read_target {
    struct sl_client_channel *ch; /* NULL: no read is waiting */
    uint8_t *buf;
    size_t len;
    size_t got;
};

/* A channel id in use. ch NULL: its handle is gone, waiting for the daemon's Close (§4.4). */
struct sl__client_route {
    uint32_t id;
    struct sl_client_channel *ch;
};

/* A listener id in use. l NULL: unlistened, waiting for ListenerClosed or ListenFailed. */
struct sl__client_listen_slot {
    uint32_t id;
    struct sl_client_listener *l;
};

enum sl__channel_state {
    SL__CHANNEL_OPENING, /* Open sent, no answer yet */
    SL__CHANNEL_OPEN,    /* Opened or Accepted; half-closed too */
    SL__CHANNEL_ENDED,   /* OpenFailed, Close received, or a Close we sent for a fault */
};

struct sl_client_channel {
    struct sl_client *client;
    struct sl_client_channel *prev, *next; /* every live handle of the client */
    struct sl_client_channel *accept_next; /* a listener's queue, until sl_client_accept */
    enum sl__channel_state state;
    int end_code; /* ENDED: what every call answers (client.h) */
    bool udp;
    bool routed; /* its id is in the route table */
    char message[SL__CLIENT_MESSAGE_CAP];
    struct sl_client_channel_info info;

    /*
     * Receiving (docs/protocol.md §14.6). Unread payload is [rstart, rend) of rbuf; for UDP
     * each datagram is stored behind a 4-byte length. recv_window is W, recv_credit what the
     * daemon may still send, unread + recv_credit + unreturned == W.
     */
    uint8_t *rbuf;
    size_t rcap, rstart, rend;
    size_t unread; /* payload bytes only */
    uint32_t recv_window;
    uint64_t recv_credit;
    uint64_t unreturned;
    bool got_shutdown;

    /* Sending: the daemon's credit, and our half-close. */
    uint64_t send_credit;
    bool sent_shutdown;
};

struct sl_client_listener {
    struct sl_client *client;
    uint32_t id;
    int status; /* -EINPROGRESS until Listening, 0 while live, the code once it ended */
    uint32_t window;
    char address[128];
    char message[SL__CLIENT_MESSAGE_CAP];
    struct sl_client_channel *accept_head, *accept_tail;
};

struct sl_client {
    /* Ed25519 (client_auth.c): the secret key until Hello is built, and the daemon's nonce. */
    uint8_t *auth_sk; /* sodium_malloc'd; NULL without a key */
    uint8_t auth_nonce[32];
    bool auth_nonce_ok;
    int fd;
    uint32_t max_frame; /* both directions: SL_FRAME_HANDSHAKE_MAX until Welcome */
    uint64_t session_id;
    uint32_t default_window;
    uint32_t next_id; /* request ids and ping payloads; never reused, so a late reply is known */

    /* Received bytes not yet sorted: [rstart, rlen) of rbuf, capacity rcap. */
    uint8_t *rbuf;
    size_t rstart, rlen, rcap;

    /* Encoded frames the socket has not taken yet: [ohead, olen) of obuf. */
    uint8_t *obuf;
    size_t ohead, olen, ocap;
    bool want_write; /* a write found the socket full: poll for POLLOUT */

    struct sl__client_wait wait;
    sl_frame_t *reply; /* the awaited frame, once sorted */
    struct sl__client_read_target target;

    /* Channel ids in use, sorted by id; every handle; listener ids in use. */
    struct sl__client_route *routes;
    size_t route_count, route_cap;
    uint32_t next_channel_id;
    struct sl_client_channel *channels;
    struct sl__client_listen_slot *listeners;
    size_t listener_count, listener_cap;
    uint32_t next_listener_id;

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

/*
 * Keys (client_auth.c). load_key reads sl_client_keygen's file into c->auth_sk: -errno,
 * SL_CLIENT_E_INVAL (not a key file), SL_CLIENT_E_NOMEM. sign_hello fills the public key and the
 * signature of Hello (docs/protocol.md §3.3). forget_key wipes and frees the secret.
 */
SL_MUST_CHECK int sl__client_load_key(struct sl_client *c, const char *path);
void sl__client_sign_hello(const struct sl_client *c, const char *client_name, uint8_t pk[32],
                           uint8_t sig[64]);
void sl__client_forget_key(struct sl_client *c);

/* Memory (client_alloc.c): the library's one home for the C allocator. */
void *sl__client_calloc(size_t count, size_t len);
void *sl__client_realloc(void *ptr, size_t len);
void sl__client_free(void *ptr);
/* Blocks from calloc/realloc not yet freed, for tests: 0 once every client is closed. */
size_t sl__client_live_allocations(void);

/*
 * Time (client_io.c): CLOCK_MONOTONIC nanoseconds; the deadline timeout_ms from now for
 * requests (0: SL_CLIENT_DEFAULT_TIMEOUT_MS); and for poll(2)-style timeouts: UINT64_MAX for
 * -1 (no limit), 0 for 0 (never wait), else now + timeout_ms.
 */
uint64_t sl__client_now_ns(void);
uint64_t sl__client_deadline(uint32_t timeout_ms);
uint64_t sl__client_poll_deadline(int timeout_ms);

/*
 * Opens a non-blocking, close-on-exec Unix stream socket connected to path, by deadline_ns.
 * Errors: -errno, -ENAMETOOLONG, -ETIMEDOUT.
 */
SL_MUST_CHECK int sl__client_socket_open(const char *path, uint64_t deadline_ns, int *fd_out);

/*
 * Output (client_io.c). sl__client_queue encodes frame at the end of the output queue: a
 * frame over the session's maximum is SL_CLIENT_E_INVAL, no memory SL_CLIENT_E_NOMEM (nothing
 * queued in either case). sl__client_flush writes what the socket takes without waiting: the
 * count written, or the session fault.
 */
SL_MUST_CHECK int sl__client_queue(struct sl_client *c, const sl_frame_t *frame);
long sl__client_flush(struct sl_client *c); /* a fault is also kept in c->fault */
/*
 * Writes one Data frame straight from payload (the output queue must be empty). Returns n
 * when the socket took the frame or part of it (the rest is queued), 0 when it took nothing
 * (want_write is set), or the session fault.
 */
SL_MUST_CHECK long sl__client_write_data(struct sl_client *c, uint32_t channel_id,
                                         const void *payload, size_t n);

/*
 * Input and waiting (client_io.c). sl__client_pump flushes and reads and sorts what is there,
 * never waiting: > 0 when it moved bytes, 0 when there was nothing to do, or the session
 * fault. sl__client_run_until pumps, waiting up to deadline_ns (sl__client_poll_deadline), until
 * done(c, arg) holds: 0, -EAGAIN (deadline 0), -ETIMEDOUT, or the session fault.
 */
typedef bool sl__client_done_fn(const struct sl_client *c, const void *arg);
SL_MUST_CHECK int sl__client_pump(struct sl_client *c);
/*
 * Waits until the socket is readable, or writable when frames are queued or want_write, by
 * deadline_ns: 0, -ETIMEDOUT, or the session fault.
 */
SL_MUST_CHECK int sl__client_wait_ready(struct sl_client *c, uint64_t deadline_ns, bool want_write);
SL_MUST_CHECK int sl__client_run_until(struct sl_client *c, sl__client_done_fn *done,
                                       const void *arg, uint64_t deadline_ns);
/*
 * Sends frame and waits until the reply *wait describes has been sorted, by deadline_ns:
 * 0 with *out the reply (free it with sl_frame_free), -ETIMEDOUT (a late reply is discarded by
 * its id), or the session fault.
 */
SL_MUST_CHECK int sl__client_request(struct sl_client *c, const sl_frame_t *frame,
                                     const struct sl__client_wait *wait, uint64_t deadline_ns,
                                     sl_frame_t **out);

/* Ends the session with code: closes the socket and records code and message. Returns code. */
int sl__client_set_fault(struct sl_client *c, int code, const char *message);

/*
 * Sorting (client_route.c): handles every whole frame buffered in c->rbuf. 0, or the session
 * fault a frame caused.
 */
SL_MUST_CHECK int sl__client_sort(struct sl_client *c);

/* The route table (client_route.c): find (NULL when the id is not in use), add, remove. */
struct sl__client_route *sl__client_route_find(struct sl_client *c, uint32_t id);
SL_MUST_CHECK int sl__client_route_add(struct sl_client *c, uint32_t id,
                                       struct sl_client_channel *ch);
void sl__client_route_remove(struct sl_client *c, uint32_t id);

/*
 * Channels (client_channel.c, client_flow.c). new: a handle linked into the client (NULL: no
 * memory). free: unlinks and frees it. end: records the end code and message (state ENDED).
 * send_close: queues Close for the id with code (ERROR_NONE for a clean one).
 */
struct sl_client_channel *sl__client_channel_new(struct sl_client *c, uint32_t id,
                                                 uint32_t recv_window, bool udp);
void sl__client_channel_free(struct sl_client_channel *ch);
void sl__client_channel_end(struct sl_client_channel *ch, int code, const char *message);
SL_MUST_CHECK int sl__client_send_close(struct sl_client *c, uint32_t id,
                                        Sluice__V1__ErrorCode code);
/* Fills ch->info from Opened or Accepted's fields. */
void sl__client_channel_fill_info(struct sl_client_channel *ch, const char *local,
                                  const char *remote, const Sluice__V1__TlsResult *tls);

/*
 * Flow (client_flow.c). receive: takes a Data payload for ch, checking the credit (a daemon
 * beyond it is the session fault SL_CLIENT_E_BAD_FRAME). consume: copies up to len unread
 * bytes (one datagram for UDP) into buf and returns credit when due; returns the count.
 */
SL_MUST_CHECK int sl__client_flow_receive(struct sl_client_channel *ch, const uint8_t *payload,
                                          size_t len);
SL_MUST_CHECK int sl__client_flow_consume(struct sl_client_channel *ch, uint8_t *buf, size_t len,
                                          size_t *count);
/* Counts n bytes as read by the application, and queues Window once half the window is due. */
SL_MUST_CHECK int sl__client_flow_consumed(struct sl_client_channel *ch, size_t n);
void sl__client_flow_free(struct sl_client_channel *ch);

/* Listeners (client_listener.c): the Listen replies and Accepted, as client_route.c sorts them. */
void sl__client_on_listening(struct sl_client *c, const Sluice__V1__Listening *m);
void sl__client_on_listen_failed(struct sl_client *c, const Sluice__V1__ListenFailed *m);
void sl__client_on_listener_closed(struct sl_client *c, const Sluice__V1__ListenerClosed *m);
SL_MUST_CHECK int sl__client_on_accepted(struct sl_client *c, const Sluice__V1__Accepted *m);
/* Frees every listener handle and slot (sl_client_close). */
void sl__client_listeners_free(struct sl_client *c);

/*
 * The return code for a Status that is not ERROR_NONE: SL_CLIENT_E_PROTOCOL(code), with codes
 * this library cannot represent read as ERROR_INTERNAL. (client_route.c)
 */
int sl__client_status_code(const Sluice__V1__Status *status);

/* Copies src (NULL is "") into dst[cap], truncating, always NUL-terminated. */
void sl__client_copy_string(char *dst, size_t cap, const char *src);

#endif /* SL_CLIENT_INTERNAL_H */
