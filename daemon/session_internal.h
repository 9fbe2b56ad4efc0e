/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_SESSION_INTERNAL_H
#define SLUICED_SESSION_INTERNAL_H

/* The session's state, shared by session.c (frames, handshake), session_requests.c (what an
 * open session may ask) and session_registry.c (GoAway and shutdown across loops). */

#include "frame.h"
#include "policy.h"
#include "sluiced.h"

#include <sluice/buf.h>
#include <sluice/channel.h>

enum session_state {
    SESSION_HELLO_SENT, /* ServerHello out, waiting for Hello */
    SESSION_OPEN,
    SESSION_DONE, /* an Error was sent or the channel is shutting down: nothing more */
};

struct relay;

/* The session's channels by id (relay.c). */
struct relay_table {
    struct relay **slots; /* open addressing, linear probing; NULL: empty */
    size_t cap;           /* a power of two, at least twice the count */
    size_t count;
    uint64_t budget_used; /* sum of the receive windows the client granted */
};

struct dlistener;

/* The session's listeners (listeners.c): few (max_listeners), so a plain array. */
struct listener_table {
    struct dlistener **items;
    size_t count;
    size_t cap;
};

struct token_bucket {
    double tokens;
    uint64_t last_ns;
    uint32_t rate;
    uint32_t burst;
};

struct session {
    struct sl_handler base;
    struct sluiced *d;
    struct sl_channel *channel;
    uint64_t id;
    enum session_state state;
    uint32_t max_frame; /* for frames from the client */
    uint8_t nonce[32];
    struct peer_identity who;     /* SO_PEERCRED, groups, and the key once authenticated */
    struct sluiced_limits limits; /* what Welcome said: the policy's, else the daemon's */
    char client_name[64];
    struct sl_buf in;        /* bytes of a frame not yet whole */
    size_t stream_left;      /* payload of a Data frame still to come (start_stream) */
    uint32_t stream_channel; /* its channel; 0: drop the rest (refused at its start) */
    size_t control_queued;   /* bytes of frames other than Data not yet written */
    size_t read_held;        /* read window held back while paused */
    bool paused;             /* answers piled up: no reading, no handling frames */
    bool resume_scheduled;
    struct sl_channel_task resume_task;
    struct token_bucket ping_bucket;  /* Ping, Resolve, StatsRequest */
    struct token_bucket empty_bucket; /* empty frames, tiny windows */
    struct token_bucket churn_bucket; /* Open + Close */
    struct sl_channel_task handshake_timer;
    struct relay_table relays;
    uint32_t next_daemon_id; /* for accepted channels (relay_open.c) */
    struct listener_table listeners;

    /* Registry (under d->lock). */
    struct sl_list_node registry_node;
    bool registered;
    struct sl_channel_task go_away_task; /* scheduled from another thread, once */
    bool go_away_scheduled;
    uint32_t go_away_deadline_ms;

    /* Loop thread. */
    bool go_away_pending; /* GoAway asked for before the handshake ended */
    bool go_away_sent;
    struct sl_channel_task drain_timer;
};

struct session *session_of(struct sl_handler *handler);

/* Encodes frame into a message and sends it to the client (control frames). */
void session_send(struct session *s, const sl_frame_t *frame);
/* A Status {code, message} (message borrowed). */
void session_status_init(Sluice__V1__Status *st, Sluice__V1__ErrorCode code, const char *message);
/*
 * Close, OpenFailed, ListenFailed or ListenerClosed (`which`): the four frames that are an id
 * and a Status, built in one place.
 */
void session_send_status(struct session *s, Sluice__V1__Frame__BodyCase which, uint32_t id,
                         Sluice__V1__ErrorCode code, const char *message);
/* Sends Error {code, message} and shuts the session down gracefully. */
void session_fault(struct session *s, Sluice__V1__ErrorCode code, const char *message);

void bucket_init(struct token_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ns);
bool bucket_take(struct token_bucket *b, uint64_t now_ns);
/* A token from b, or the session ends with ERROR_FLOOD (false). */
bool session_charge(struct session *s, struct token_bucket *b, const char *what);

/* session_requests.c: every frame an open session may send. */
void session_dispatch_open(struct session *s, const sl_frame_t *f);

/* session_registry.c */
void session_register(struct session *s);
void session_unregister(struct session *s);
/* Sends GoAway now and closes the session at its deadline. Loop thread. */
void session_send_go_away(struct session *s);
/* After GoAway: ends the session once its last channel has closed. Loop thread. */
void session_check_drained(struct session *s);

#endif
