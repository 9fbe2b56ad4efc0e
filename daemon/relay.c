/* SPDX-License-Identifier: Apache-2.0 */
#include "relay_internal.h"

#include "errors.h"
#include "config.h"
#include "listeners.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/socket_handler.h>
#include <sluice/tls.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* A channel's life once it exists: the relay handler and the client's Data/Window/Shutdown/Close.
 */

/*
 * A relay has two owners: the session (until the id is free: both sides sent Close, OpenFailed
 * was sent, or the session ended) and the network channel (until its handler is destroyed).
 * Whichever lets go last frees it.
 */
void relay_free(struct relay *r)
{
    config_release(r->cfg);
    sl_tls_ctx_release(r->tls_ctx);
    sl_free(r->alpn);
    sl_free(r);
}

/* Frees the id: the relay no longer belongs to the session. */
void relay_detach(struct relay *r)
{
    struct session *s = r->session;
    if (!s) {
        return;
    }
    relay_table_remove(&s->relays, r);
    s->relays.budget_used -= r->client_window;
    atomic_fetch_sub(&s->d->channels, 1);
    r->session = NULL;
    r->state = RELAY_DONE;
    if (r->net_gone) {
        relay_free(r);
    }
    listeners_room_changed(s); /* a paused listener may accept again */
    session_check_drained(s);
}

/* The network side is gone (or never came). */
void relay_net_let_go(struct relay *r)
{
    r->net_gone = true;
    r->net = NULL;
    if (!r->session) {
        relay_free(r);
    }
}

/* Frames to the client ---------------------------------------------------------------------- */

/* Sends Close {code}; the id stays taken until the client's Close (docs/protocol.md §4.4). */
void relay_close_to_client(struct relay *r, Sluice__V1__ErrorCode code, const char *message)
{
    if (r->session && !r->close_sent) {
        r->close_sent = true;
        r->state = RELAY_DONE;
        session_send_status(r->session, SLUICE__V1__FRAME__BODY_CLOSE, r->id, code, message);
    }
}

void relay_send_small(struct relay *r, Sluice__V1__Frame__BodyCase which, void *body)
{
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = which;
    frame.window = body; /* a union: any member */
    session_send(r->session, &frame);
}

/* Payload from the network as Data frames: the bytes are copied once, into the frame. */
static int send_data(struct relay *r, const uint8_t *p, size_t len)
{
    struct session *s = r->session;
    size_t most = SL_MSG_MAX_SIZE - SL_FRAME_DATA_HEADER_MAX;
    while (len > 0) {
        size_t chunk = len < most ? len : most;
        struct sl_msg *msg;
        int rc = sl_channel_acquire_msg(s->channel, SL_FRAME_DATA_HEADER_MAX + chunk, &msg);
        if (rc < 0) {
            return rc;
        }
        size_t h = sl_frame_data_header(r->id, chunk, msg->data.data);
        memcpy(msg->data.data + h, p, chunk);
        msg->data.len = h + chunk;
        if (sl_slot_send(s->base.slot, msg, SL_DIR_WRITE) < 0) {
            sl_channel_release_msg(s->channel, msg);
            return SL_E_SHUTTING_DOWN;
        }
        atomic_fetch_add(&s->d->bytes_in, chunk);
        r->bytes_in += chunk;
        p += chunk;
        len -= chunk;
    }
    return 0;
}

/* The relay handler ---------------------------------------------------------------------------- */

static struct relay *relay_of(struct sl_handler *handler)
{
    return sl_container_of(handler, struct relay, base);
}

static void maybe_finish(struct relay *r)
{
    /* Both directions done: the peer's end delivered and the client's written. */
    if (r->peer_shut && r->end_written) {
        sl_channel_shutdown(r->net, 0, false);
    }
}

/*
 * A datagram goes to the client whole or not at all: over the client's credit or the largest
 * payload a frame holds, it is dropped, as a full socket buffer would drop it. The slot's window
 * is reopened at once, so the socket never stops reading for a client that is slow.
 */
static void relay_datagram(struct relay *r, struct sl_slot *slot, const struct sl_msg *msg)
{
    size_t len = msg->data.len;
    sl_slot_increment_read_window(slot, len);
    size_t most = r->session->max_frame - SL_FRAME_DATA_HEADER_MAX;
    if (len > r->datagram_credit || len > most) {
        r->datagrams_dropped++;
        SL_LOG_DEBUG(SL_LS_DAEMON, "channel %u: a datagram of %zu bytes dropped (credit %llu)",
                     r->id, len, (unsigned long long)r->datagram_credit);
        return;
    }
    r->datagram_credit -= len;
    if (send_data(r, msg->data.data, len) < 0) {
        sl_channel_shutdown(r->net, SL_E_SHUTTING_DOWN, true);
    }
}

static int relay_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct relay *r = relay_of(handler);
    bool end = (msg->flags & SL_MSG_END_OF_STREAM) != 0;
    int rc = 0;
    bool live = r->session && !r->close_sent;
    if (live && r->datagram) {
        relay_datagram(r, slot, msg);
        sl_channel_release_msg(r->net, msg);
        return 0;
    }
    if (live && msg->data.len > 0) {
        SL_LOG_TRACE(SL_LS_DAEMON, "channel %u: %zu bytes from the network (window left %zu)",
                     r->id, msg->data.len, sl_slot_window(slot));
        rc = send_data(r, msg->data.data, msg->data.len);
    }
    sl_channel_release_msg(r->net, msg);
    if (rc < 0) {
        sl_channel_shutdown(r->net, rc, true);
        return 0;
    }
    if (end && live && !r->peer_shut) {
        r->peer_shut = true;
        Sluice__V1__Shutdown shutdown;
        sluice__v1__shutdown__init(&shutdown);
        shutdown.channel_id = r->id;
        relay_send_small(r, SLUICE__V1__FRAME__BODY_SHUTDOWN, &shutdown);
        maybe_finish(r);
    }
    return 0;
}

static int relay_on_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    return sl_slot_send(slot, msg, SL_DIR_WRITE);
}

static int relay_on_window_update(struct sl_handler *handler, struct sl_slot *slot, size_t bytes)
{
    (void)handler;
    (void)slot;
    (void)bytes;
    return 0;
}

static int relay_on_shutdown(struct sl_handler *handler, struct sl_slot *slot,
                             enum sl_direction dir, int status, bool abort_immediately)
{
    (void)handler;
    sl_slot_on_shutdown_complete(slot, dir, status, abort_immediately);
    return 0;
}

/* A datagram is read only when the largest one fits: keep a window far above it. */
#define DATAGRAM_WINDOW ((size_t)1 << 30)

static size_t relay_initial_window(struct sl_handler *handler)
{
    struct relay *r = relay_of(handler);
    return r->datagram ? DATAGRAM_WINDOW : r->client_window; /* the client's credit, exactly */
}

static size_t relay_message_overhead(struct sl_handler *handler)
{
    (void)handler;
    return 0;
}

static void relay_destroy(struct sl_handler *handler)
{
    relay_net_let_go(relay_of(handler));
}

struct relay *relay_of_channel(struct sl_channel *channel)
{
    struct sl_slot *slot = sl_channel_first_slot(channel);
    while (slot && sl_slot_right(slot)) {
        slot = sl_slot_right(slot);
    }
    struct sl_handler *h = slot ? sl_slot_handler(slot) : NULL;
    return h && h->vtable == &relay_vtable ? relay_of(h) : NULL;
}

void relay_net_shut_down(struct relay *r, int status)
{
    if (!r->session) {
        return;
    }
    int code = status == SL_E_CLOSED ? 0 : status;
    relay_close_to_client(r, sluiced_error_code(code), code ? sl_strerror(code) : "");
}

const struct sl_handler_vtable relay_vtable = {
    .name = "relay",
    .on_read = relay_on_read,
    .on_write = relay_on_write,
    .on_window_update = relay_on_window_update,
    .on_shutdown = relay_on_shutdown,
    .initial_window = relay_initial_window,
    .message_overhead = relay_message_overhead,
    .destroy = relay_destroy,
};

/* The client's frames ------------------------------------------------------------------------ */

/*
 * The relay a client frame is for, or NULL when the frame is to be dropped: an id not in use
 * gets Close {UNKNOWN_CHANNEL} (and counts as churn); a channel we sent Close for drops
 * everything quietly until the client's Close arrives.
 */
static struct relay *find_or_fault(struct session *s, uint32_t id)
{
    struct relay *r = relay_table_find(&s->relays, id);
    if (!r && session_charge(s, &s->churn_bucket, "frames for channels that are not open")) {
        session_send_status(s, SLUICE__V1__FRAME__BODY_CLOSE, id,
                            SLUICE__V1__ERROR_CODE__ERROR_UNKNOWN_CHANNEL, "no such channel");
    }
    return r && !r->close_sent ? r : NULL;
}

/*
 * Aborts the network side: unwritten data is dropped and a TCP peer sees a reset, not a clean
 * end (docs/protocol.md §4.4), because a zero linger makes close(2) send RST.
 */
static void abort_net(struct relay *r)
{
    if (!r->net) {
        return;
    }
    struct sl_socket *socket =
        sl_socket_handler_socket(sl_slot_handler(sl_channel_first_slot(r->net)));
    const struct sl_socket_options *o = sl_socket_get_options(socket);
    if (o->type == SL_SOCKET_STREAM && o->domain != SL_SOCKET_LOCAL && sl_socket_fd(socket) >= 0) {
        struct linger hard = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(sl_socket_fd(socket), SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
    }
    sl_channel_shutdown(r->net, SL_E_CANCELED, true);
}

/* A channel fault: Close {code} to the client, the network side aborted. */
static void channel_fault(struct relay *r, Sluice__V1__ErrorCode code, const char *message)
{
    relay_close_to_client(r, code, message);
    abort_net(r);
}

/* Bytes of the client's reached the network (or, a datagram, were dropped): credit is owed. */
static void give_credit_back(struct relay *r, size_t len)
{
    r->owed += len;
    if (r->owed >= r->daemon_window / 2 && !r->client_shut) {
        Sluice__V1__Window window;
        sluice__v1__window__init(&window);
        window.channel_id = r->id;
        window.increment = (uint32_t)r->owed;
        r->client_may_send += r->owed;
        r->owed = 0;
        relay_send_small(r, SLUICE__V1__FRAME__BODY_WINDOW, &window);
    }
}

static void on_net_written(struct sl_channel *channel, struct sl_msg *msg, int status,
                           void *user_data)
{
    (void)channel;
    struct relay *r = user_data;
    if (!r->session || r->state != RELAY_OPEN || (status < 0 && !r->datagram)) {
        return;
    }
    if (status == 0) {
        atomic_fetch_add(&r->session->d->bytes_out, msg->data.len);
        r->bytes_out += msg->data.len;
    }
    SL_LOG_TRACE(SL_LS_DAEMON, "channel %u: %zu bytes written to the network (owed %llu)", r->id,
                 msg->data.len, (unsigned long long)r->owed);
    give_credit_back(r, msg->data.len); /* a datagram the network refused is dropped */
}

bool relay_data_streamable(struct session *s, uint32_t id)
{
    struct relay *r = relay_table_find(&s->relays, id);
    return !r || !r->datagram; /* a datagram goes out whole: wait for all of it */
}

bool relay_data_begin(struct session *s, uint32_t id, size_t len)
{
    struct relay *r = find_or_fault(s, id);
    if (!r) {
        return false;
    }
    if (r->client_shut || len > r->client_may_send || r->state != RELAY_OPEN) {
        channel_fault(r, SLUICE__V1__ERROR_CODE__ERROR_WINDOW_EXCEEDED,
                      r->client_shut ? "Data after Shutdown" : "Data beyond the granted window");
        return false;
    }
    r->client_may_send -= len;
    SL_LOG_TRACE(SL_LS_DAEMON, "channel %u: %zu bytes from the client (credit left %llu)", r->id,
                 len, (unsigned long long)r->client_may_send);
    if (r->datagram && len > SL_MSG_MAX_SIZE) {
        give_credit_back(r, len); /* no UDP datagram is this large: dropped */
        return false;
    }
    return true;
}

/*
 * Straight into the kernel when nothing is queued ahead (a plain TCP or Unix channel): no copy,
 * and the bytes are on the network, so their credit is owed at once.
 */
static size_t write_now(struct relay *r, const uint8_t *payload, size_t len)
{
    size_t taken = 0;
    if (!r->datagram) {
        sl_slot_write_now(r->base.slot, sl_cursor_from(payload, len), &taken);
    }
    if (taken > 0) {
        atomic_fetch_add(&r->session->d->bytes_out, taken);
        r->bytes_out += taken;
        give_credit_back(r, taken);
    }
    return taken;
}

void relay_data_piece(struct session *s, uint32_t id, const uint8_t *payload, size_t len)
{
    struct relay *r = relay_table_find(&s->relays, id);
    if (!r || r->close_sent || !r->net) {
        return; /* the channel ended while its Data was arriving: the rest is dropped */
    }
    size_t taken = write_now(r, payload, len);
    payload += taken;
    len -= taken;
    while (len > 0) {
        size_t chunk = len < SL_MSG_MAX_SIZE ? len : SL_MSG_MAX_SIZE;
        struct sl_msg *msg;
        if (sl_channel_acquire_msg(r->net, chunk, &msg) < 0) {
            channel_fault(r, SLUICE__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
            return;
        }
        chunk = chunk < msg->data.cap ? chunk : msg->data.cap;
        memcpy(msg->data.data, payload, chunk);
        msg->data.len = chunk;
        msg->on_complete = on_net_written;
        msg->user_data = r;
        struct sl_slot *slot = r->base.slot;
        if (sl_slot_send(slot, msg, SL_DIR_WRITE) < 0) {
            msg->on_complete = NULL;
            sl_channel_release_msg(r->net, msg);
            return; /* the network side is closing: its Close follows */
        }
        payload += chunk;
        len -= chunk;
    }
}

void relay_data(struct session *s, uint32_t id, const uint8_t *payload, size_t len)
{
    if (relay_data_begin(s, id, len)) {
        relay_data_piece(s, id, payload, len);
    }
}

void relay_window(struct session *s, uint32_t id, uint32_t increment)
{
    struct relay *r = find_or_fault(s, id);
    if (!r || r->state != RELAY_OPEN) {
        return;
    }
    if (increment < MIN_WINDOW && !session_charge(s, &s->empty_bucket, "tiny windows")) {
        return;
    }
    if (r->datagram) {
        r->datagram_credit += increment;
        if (r->datagram_credit > UINT32_MAX) {
            channel_fault(r, SLUICE__V1__ERROR_CODE__ERROR_WINDOW_EXCEEDED, "credit over 2^32-1");
        }
        return;
    }
    if (sl_slot_window(r->base.slot) + increment > UINT32_MAX) {
        channel_fault(r, SLUICE__V1__ERROR_CODE__ERROR_WINDOW_EXCEEDED, "credit over 2^32-1");
        return;
    }
    sl_slot_increment_read_window(r->base.slot, increment);
    SL_LOG_TRACE(SL_LS_DAEMON, "channel %u: the client granted %u (window %zu)", r->id, increment,
                 sl_slot_window(r->base.slot));
}

static void on_end_written(struct sl_channel *channel, struct sl_msg *msg, int status,
                           void *user_data)
{
    (void)channel;
    (void)msg;
    struct relay *r = user_data;
    if (status == 0 && r->net) {
        r->end_written = true;
        maybe_finish(r);
    }
}

void relay_shutdown(struct session *s, uint32_t id)
{
    struct relay *r = find_or_fault(s, id);
    if (!r || r->state != RELAY_OPEN) {
        return;
    }
    if (r->client_shut) {
        session_charge(s, &s->empty_bucket, "repeated Shutdowns");
        return;
    }
    r->client_shut = true;
    struct sl_msg *msg;
    if (sl_channel_acquire_msg(r->net, 0, &msg) < 0) {
        channel_fault(r, SLUICE__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
        return;
    }
    msg->flags = SL_MSG_END_OF_STREAM; /* after the data before it: TLS close_notify, FIN */
    msg->on_complete = on_end_written;
    msg->user_data = r;
    if (sl_slot_send(r->base.slot, msg, SL_DIR_WRITE) < 0) {
        msg->on_complete = NULL;
        sl_channel_release_msg(r->net, msg);
    }
}

void relay_close(struct session *s, uint32_t id, Sluice__V1__ErrorCode code)
{
    if (!session_charge(s, &s->churn_bucket, "opens and closes")) {
        return;
    }
    struct relay *r = relay_table_find(&s->relays, id);
    if (!r) {
        return; /* not in use: ignored (docs/protocol.md §4.4) */
    }
    struct sl_channel *net = r->net;
    if (!r->close_sent) {
        /* Answered at once; the network side flushes (clean close) or is aborted. */
        session_send_status(s, SLUICE__V1__FRAME__BODY_CLOSE, id,
                            SLUICE__V1__ERROR_CODE__ERROR_NONE, "");
        if (code != SLUICE__V1__ERROR_CODE__ERROR_NONE) {
            abort_net(r);
        } else if (net) {
            sl_channel_shutdown(net, 0, false);
        }
    }
    relay_detach(r); /* both sides have sent Close: the id is free */
}

void relay_session_gone(struct session *s)
{
    struct relay_table *t = &s->relays;
    for (size_t i = 0; i < t->cap; i++) {
        struct relay *r = t->slots[i];
        if (r) {
            atomic_fetch_sub(&s->d->channels, 1);
            r->session = NULL; /* the table goes as a whole below */
            r->state = RELAY_DONE;
            if (r->net_gone) {
                relay_free(r);
            } else if (r->net) {
                sl_channel_shutdown(r->net, SL_E_CANCELED, true);
            }
        }
    }
    sl_free(t->slots);
    relay_table_init(t);
}
