/* SPDX-License-Identifier: Apache-2.0 */
#include "client_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/*
 * Sorting: every frame that arrives goes at once to its channel, listener or waiting request
 * (docs/protocol.md §14.4: never stop reading, never block the reader on one consumer). Data,
 * the bulk of the traffic, is found in place with sl_frame_peek_data, without a protobuf
 * allocation; everything else is decoded and dispatched on its body.
 *
 * Frames for a channel id not in use, or for one whose handle was closed (the route's ch is
 * NULL until the daemon's Close, §4.4), are dropped without error: the former can only come
 * from a daemon bug, and an answer could not free anything.
 */

/* The route table: channel ids in use, sorted, found by binary search. ---------------------- */

/* The index of the first route whose id is >= id. */
static size_t route_lower_bound(const struct sl_client *c, uint32_t id)
{
    size_t lo = 0;
    size_t hi = c->route_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->routes[mid].id < id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

struct sl__client_route *sl__client_route_find(struct sl_client *c, uint32_t id)
{
    size_t i = route_lower_bound(c, id);
    return i < c->route_count && c->routes[i].id == id ? &c->routes[i] : NULL;
}

int sl__client_route_add(struct sl_client *c, uint32_t id, struct sl_client_channel *ch)
{
    if (c->route_count == c->route_cap) {
        size_t cap = c->route_cap ? c->route_cap * 2 : 16;
        struct sl__client_route *p = sl__client_realloc(c->routes, cap * sizeof(*p));
        if (!p) {
            return SL_CLIENT_E_NOMEM;
        }
        c->routes = p;
        c->route_cap = cap;
    }
    /* Ids mostly grow (a counter, then the daemon's from 2^31), so this rarely moves much. */
    size_t i = route_lower_bound(c, id);
    memmove(&c->routes[i + 1], &c->routes[i], (c->route_count - i) * sizeof(c->routes[0]));
    c->routes[i] = (struct sl__client_route){.id = id, .ch = ch};
    c->route_count++;
    if (ch) {
        ch->routed = true;
    }
    return 0;
}

void sl__client_route_remove(struct sl_client *c, uint32_t id)
{
    size_t i = route_lower_bound(c, id);
    if (i == c->route_count || c->routes[i].id != id) {
        return;
    }
    if (c->routes[i].ch) {
        c->routes[i].ch->routed = false;
    }
    memmove(&c->routes[i], &c->routes[i + 1], (c->route_count - i - 1) * sizeof(c->routes[0]));
    c->route_count--;
}

/* Status codes ------------------------------------------------------------------------------ */

int sl__client_status_code(const Sluice__V1__Status *status)
{
    uint32_t code = status ? (uint32_t)status->code : 0;
    /*
     * docs/protocol.md §12: accept codes this version does not know as ERROR_INTERNAL. Codes
     * from 1000 on would read as local errors; an Error that says ERROR_NONE says nothing.
     */
    if (code == 0 || code >= 1000) {
        code = SLUICE__V1__ERROR_CODE__ERROR_INTERNAL;
    }
    return SL_CLIENT_E_PROTOCOL(code);
}

static const char *status_message(const Sluice__V1__Status *status)
{
    return status && status->message ? status->message : "";
}

static int bad_frame(struct sl_client *c, const char *what, uint32_t id)
{
    char message[128];
    (void)snprintf(message, sizeof(message), "%s (channel %u)", what, id);
    return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, message);
}

/* Channel frames --------------------------------------------------------------------------- */

/* The handle for id, NULL when the id is not in use or its handle is gone (drop the frame). */
static struct sl_client_channel *routed_channel(struct sl_client *c, uint32_t id)
{
    struct sl__client_route *r = sl__client_route_find(c, id);
    return r ? r->ch : NULL;
}

static int on_opened(struct sl_client *c, const Sluice__V1__Opened *m)
{
    struct sl_client_channel *ch = routed_channel(c, m->channel_id);
    if (!ch) {
        return 0;
    }
    if (ch->state != SL__CHANNEL_OPENING) {
        return bad_frame(c, "Opened for a channel already open", m->channel_id);
    }
    ch->state = SL__CHANNEL_OPEN;
    ch->end_code = 0;
    ch->send_credit = m->window;
    sl__client_channel_fill_info(ch, m->local_address, m->remote_address, m->tls);
    ch->info.send_window = m->window;
    return 0;
}

static int on_open_failed(struct sl_client *c, const Sluice__V1__OpenFailed *m)
{
    struct sl__client_route *r = sl__client_route_find(c, m->channel_id);
    if (r && r->ch && r->ch->state != SL__CHANNEL_OPENING) {
        return bad_frame(c, "OpenFailed for a channel already open", m->channel_id);
    }
    if (r && r->ch) {
        sl__client_channel_end(r->ch, sl__client_status_code(m->status), status_message(m->status));
    }
    sl__client_route_remove(c, m->channel_id); /* §4.2: the id is free at once */
    return 0;
}

static int on_data(struct sl_client *c, uint32_t id, const uint8_t *payload, size_t len)
{
    struct sl_client_channel *ch = routed_channel(c, id);
    if (!ch || len == 0) {
        return 0; /* §4.3: an empty Data does nothing */
    }
    if (ch->state != SL__CHANNEL_OPEN) {
        return bad_frame(c, "Data before Opened", id);
    }
    return sl__client_flow_receive(ch, payload, len);
}

static int on_window(struct sl_client *c, const Sluice__V1__Window *m)
{
    struct sl_client_channel *ch = routed_channel(c, m->channel_id);
    if (!ch) {
        return 0;
    }
    /* §6.1: a credit past 2^32 - 1 breaks flow control, a daemon bug like Data beyond it. */
    if (ch->send_credit + m->increment > UINT32_MAX) {
        return bad_frame(c, "a Window past 2^32 - 1 bytes of credit", m->channel_id);
    }
    ch->send_credit += m->increment;
    return 0;
}

static int on_shutdown(struct sl_client *c, const Sluice__V1__Shutdown *m)
{
    struct sl_client_channel *ch = routed_channel(c, m->channel_id);
    if (ch) {
        ch->got_shutdown = true;
    }
    return 0;
}

static int on_close(struct sl_client *c, const Sluice__V1__Close *m)
{
    struct sl__client_route *r = sl__client_route_find(c, m->channel_id);
    if (!r) {
        return 0; /* §4.4: a Close for an id not in use is ignored */
    }
    struct sl_client_channel *ch = r->ch;
    sl__client_route_remove(c, m->channel_id); /* both sides have sent Close: the id is free */
    if (!ch) {
        return 0; /* it answers the Close we sent */
    }
    Sluice__V1__ErrorCode code = m->status ? m->status->code : SLUICE__V1__ERROR_CODE__ERROR_NONE;
    /* §12: ERROR_CLOSED is not sent by version 1; read it as ERROR_NONE. */
    bool clean =
        code == SLUICE__V1__ERROR_CODE__ERROR_NONE || code == SLUICE__V1__ERROR_CODE__ERROR_CLOSED;
    sl__client_channel_end(ch,
                           clean ? SL_CLIENT_E_CHANNEL_CLOSED : sl__client_status_code(m->status),
                           status_message(m->status));
    int rc = sl__client_send_close(c, m->channel_id, SLUICE__V1__ERROR_CODE__ERROR_NONE);
    return rc == SL_CLIENT_E_NOMEM ? sl__client_set_fault(c, rc, "out of memory") : rc;
}

/* Sorting ------------------------------------------------------------------------------------ */

/* The id that ties a reply to its request (0 for other frames). */
static uint64_t reply_id(const sl_frame_t *f)
{
    if (f->body_case == SLUICE__V1__FRAME__BODY_PONG) {
        return f->pong->payload;
    }
    if (f->body_case == SLUICE__V1__FRAME__BODY_RESOLVED) {
        return f->resolved->request_id;
    }
    if (f->body_case == SLUICE__V1__FRAME__BODY_STATS) {
        return f->stats->request_id;
    }
    return 0;
}

static bool is_awaited(const struct sl_client *c, const sl_frame_t *f)
{
    const struct sl__client_wait *wait = &c->wait;
    if (wait->body == SLUICE__V1__FRAME__BODY__NOT_SET || f->body_case != wait->body || c->reply) {
        return false;
    }
    return !wait->has_id || reply_id(f) == wait->id;
}

static int on_error_frame(struct sl_client *c, const sl_frame_t *f)
{
    const Sluice__V1__Status *st = f->error->status;
    return sl__client_set_fault(c, sl__client_status_code(st), st ? st->message : NULL);
}

static void on_go_away(struct sl_client *c, const sl_frame_t *f)
{
    c->go_away = true;
    c->go_away_deadline_ms = f->go_away->deadline_ms;
    sl__client_copy_string(c->go_away_reason, sizeof(c->go_away_reason), f->go_away->reason);
}

/* The body's field name in sluice.proto ("server_hello"), for messages. */
static const char *body_name(Sluice__V1__Frame__BodyCase body)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field(&sluice__v1__frame__descriptor, (unsigned)body);
    return field ? field->name : "unknown";
}

static int unexpected(struct sl_client *c, const sl_frame_t *f)
{
    char what[96];
    (void)snprintf(what, sizeof(what), "unexpected %s frame from the daemon",
                   body_name(f->body_case));
    return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, what);
}

/*
 * One handler per body the daemon sends, each with the same shape: 1 when the frame was kept
 * as the awaited reply (the caller must not free it), 0 when it was absorbed, or the session
 * fault it caused. Bodies without a handler are a client's to send: out of place here.
 */
typedef int frame_handler_fn(struct sl_client *c, const sl_frame_t *f);

static int handle_empty(struct sl_client *c, const sl_frame_t *f)
{
    (void)c;
    (void)f;
    return 0;
}

static int handle_handshake(struct sl_client *c, const sl_frame_t *f)
{
    return is_awaited(c, f) ? 1 : unexpected(c, f); /* valid only while awaited */
}

static int handle_reply(struct sl_client *c, const sl_frame_t *f)
{
    return is_awaited(c, f) ? 1 : 0; /* a request that timed out: ids are never reused */
}

static int handle_go_away(struct sl_client *c, const sl_frame_t *f)
{
    on_go_away(c, f);
    return 0;
}

static int handle_opened(struct sl_client *c, const sl_frame_t *f)
{
    return on_opened(c, f->opened);
}

static int handle_open_failed(struct sl_client *c, const sl_frame_t *f)
{
    return on_open_failed(c, f->open_failed);
}

/* A Data frame in an unusual encoding: the fast path passed it on. */
static int handle_data(struct sl_client *c, const sl_frame_t *f)
{
    return on_data(c, f->data->channel_id, f->data->payload.data, f->data->payload.len);
}

static int handle_window(struct sl_client *c, const sl_frame_t *f)
{
    return on_window(c, f->window);
}

static int handle_shutdown(struct sl_client *c, const sl_frame_t *f)
{
    return on_shutdown(c, f->shutdown);
}

static int handle_close(struct sl_client *c, const sl_frame_t *f)
{
    return on_close(c, f->close);
}

static int handle_listening(struct sl_client *c, const sl_frame_t *f)
{
    sl__client_on_listening(c, f->listening);
    return 0;
}

static int handle_listen_failed(struct sl_client *c, const sl_frame_t *f)
{
    sl__client_on_listen_failed(c, f->listen_failed);
    return 0;
}

static int handle_accepted(struct sl_client *c, const sl_frame_t *f)
{
    return sl__client_on_accepted(c, f->accepted);
}

static int handle_listener_closed(struct sl_client *c, const sl_frame_t *f)
{
    sl__client_on_listener_closed(c, f->listener_closed);
    return 0;
}

static frame_handler_fn *const s_handlers[] = {
    [SLUICE__V1__FRAME__BODY__NOT_SET] = handle_empty,
    [SLUICE__V1__FRAME__BODY_SERVER_HELLO] = handle_handshake,
    [SLUICE__V1__FRAME__BODY_WELCOME] = handle_handshake,
    [SLUICE__V1__FRAME__BODY_OPENED] = handle_opened,
    [SLUICE__V1__FRAME__BODY_OPEN_FAILED] = handle_open_failed,
    [SLUICE__V1__FRAME__BODY_DATA] = handle_data,
    [SLUICE__V1__FRAME__BODY_WINDOW] = handle_window,
    [SLUICE__V1__FRAME__BODY_SHUTDOWN] = handle_shutdown,
    [SLUICE__V1__FRAME__BODY_CLOSE] = handle_close,
    [SLUICE__V1__FRAME__BODY_LISTENING] = handle_listening,
    [SLUICE__V1__FRAME__BODY_LISTEN_FAILED] = handle_listen_failed,
    [SLUICE__V1__FRAME__BODY_ACCEPTED] = handle_accepted,
    [SLUICE__V1__FRAME__BODY_LISTENER_CLOSED] = handle_listener_closed,
    [SLUICE__V1__FRAME__BODY_RESOLVED] = handle_reply,
    [SLUICE__V1__FRAME__BODY_PONG] = handle_reply,
    [SLUICE__V1__FRAME__BODY_STATS] = handle_reply,
    [SLUICE__V1__FRAME__BODY_GO_AWAY] = handle_go_away,
    [SLUICE__V1__FRAME__BODY_ERROR] = on_error_frame,
};

static int dispatch(struct sl_client *c, const sl_frame_t *f)
{
    size_t body = (size_t)f->body_case;
    if (body < SL_ARRAY_LEN(s_handlers) && s_handlers[body]) {
        return s_handlers[body](c, f);
    }
    return unexpected(c, f);
}

/* A frame the codec refused: too large, undecodable, or no memory. */
static int frame_error(struct sl_client *c, int result)
{
    char what[96];
    uint32_t len = 0;
    switch (result) {
    case SL_FRAME_TOO_LARGE:
        (void)sl_frame_peek_length(c->rbuf + c->rstart, c->rlen - c->rstart, UINT32_MAX, &len);
        (void)snprintf(what, sizeof(what), "a frame of %u bytes, over the maximum of %u", len,
                       c->max_frame);
        return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, what);
    case SL_FRAME_NO_MEMORY:
        return sl__client_set_fault(c, SL_CLIENT_E_NOMEM, "out of memory decoding a frame");
    default:
        return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, sl_frame_result_name(result));
    }
}

/* Decodes and dispatches the frame at rstart (not a plain Data frame). */
static int sort_decoded(struct sl_client *c)
{
    sl_frame_t *f = NULL;
    size_t used = 0;
    int rc = sl_frame_decode(c->rbuf + c->rstart, c->rlen - c->rstart, c->max_frame, &f, &used);
    if (rc != SL_FRAME_OK) {
        return frame_error(c, rc);
    }
    c->rstart += used;
    rc = dispatch(c, f);
    if (rc == 1) {
        c->reply = f;
        return 0;
    }
    sl_frame_free(f);
    return rc;
}

int sl__client_sort(struct sl_client *c)
{
    while (c->fault == 0) {
        uint32_t id = 0;
        const uint8_t *payload = NULL;
        size_t len = 0;
        size_t used = 0;
        int rc = sl_frame_peek_data(c->rbuf + c->rstart, c->rlen - c->rstart, c->max_frame, &id,
                                    &payload, &len, &used);
        if (rc == SL_FRAME_OK) {
            c->rstart += used; /* payload stays valid: nothing below moves rbuf */
            rc = on_data(c, id, payload, len);
        } else if (rc == SL_FRAME_NOT_DATA) {
            rc = sort_decoded(c);
        } else if (rc == SL_FRAME_INCOMPLETE) {
            return 0;
        } else {
            rc = frame_error(c, rc);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return c->fault;
}
