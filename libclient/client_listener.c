/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/client.h>

#include "client_internal.h"

#include <errno.h>
#include <string.h>

/*
 * Listeners (docs/protocol.md §7). Each id in use has a slot; a slot whose handle is gone
 * (unlistened, or a Listen that timed out) stays until ListenerClosed or ListenFailed frees
 * the id, and every Accepted that arrives for it meanwhile is closed at once.
 */

#define ADDRESS_MAX 255u
#define WINDOW_MIN  1024u /* §7: Listen.window 1 .. 1,023 is invalid */

/* Slots ------------------------------------------------------------------------------------- */

static struct sl__client_listen_slot *slot_find(struct sl_client *c, uint32_t id)
{
    for (size_t i = 0; i < c->listener_count; i++) {
        if (c->listeners[i].id == id) {
            return &c->listeners[i];
        }
    }
    return NULL;
}

static int slot_add(struct sl_client *c, uint32_t id, struct sl_client_listener *l)
{
    if (c->listener_count == c->listener_cap) {
        size_t cap = c->listener_cap ? c->listener_cap * 2 : 4;
        struct sl__client_listen_slot *p = sl__client_realloc(c->listeners, cap * sizeof(*p));
        if (!p) {
            return SL_CLIENT_E_NOMEM;
        }
        c->listeners = p;
        c->listener_cap = cap;
    }
    c->listeners[c->listener_count++] = (struct sl__client_listen_slot){.id = id, .l = l};
    return 0;
}

static void slot_remove(struct sl_client *c, uint32_t id)
{
    struct sl__client_listen_slot *s = slot_find(c, id);
    if (s) {
        *s = c->listeners[--c->listener_count]; /* order does not matter */
    }
}

/* Listener ids are the client's own number space (§4.1); 0 is left out for clarity in logs. */
static uint32_t pick_listener_id(struct sl_client *c)
{
    for (;;) {
        uint32_t id = c->next_listener_id++;
        if (id != 0 && !slot_find(c, id)) {
            return id;
        }
    }
}

/* Frames from the daemon ----------------------------------------------------------------------- */

void sl__client_on_listening(struct sl_client *c, const Sluice__V1__Listening *m)
{
    struct sl__client_listen_slot *s = slot_find(c, m->listener_id);
    if (s && s->l && s->l->status == -EINPROGRESS) {
        s->l->status = 0;
        sl__client_copy_string(s->l->address, sizeof(s->l->address), m->bound_address);
    }
}

/* The listener ended (failed, or closed): a handle keeps its slot until it is freed. */
static void listener_ended(struct sl_client *c, uint32_t id, const Sluice__V1__Status *status)
{
    struct sl__client_listen_slot *s = slot_find(c, id);
    if (!s) {
        return;
    }
    if (!s->l) {
        slot_remove(c, id);
        return;
    }
    s->l->status = sl__client_status_code(status);
    sl__client_copy_string(s->l->message, sizeof(s->l->message),
                           status && status->message ? status->message : "");
}

void sl__client_on_listen_failed(struct sl_client *c, const Sluice__V1__ListenFailed *m)
{
    listener_ended(c, m->listener_id, m->status);
}

void sl__client_on_listener_closed(struct sl_client *c, const Sluice__V1__ListenerClosed *m)
{
    listener_ended(c, m->listener_id, m->status);
}

/* Closes an accepted channel nobody will take; its id stays reserved until the daemon's Close. */
static int refuse(struct sl_client *c, uint32_t id)
{
    int rc = sl__client_send_close(c, id, SLUICE__V1__ERROR_CODE__ERROR_NONE);
    if (rc == 0) {
        rc = sl__client_route_add(c, id, NULL);
    }
    return rc < 0 ? sl__client_set_fault(c, rc, "out of memory closing an accepted channel") : 0;
}

int sl__client_on_accepted(struct sl_client *c, const Sluice__V1__Accepted *m)
{
    uint32_t id = m->channel_id;
    if (id < SL__CLIENT_FIRST_DAEMON_ID || sl__client_route_find(c, id)) {
        return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME,
                                    "Accepted with a channel id that is not free for the daemon");
    }
    struct sl__client_listen_slot *s = slot_find(c, m->listener_id);
    struct sl_client_listener *l = s ? s->l : NULL;
    if (!l || (l->status != 0 && l->status != -EINPROGRESS)) {
        return refuse(c, id); /* §7: Accepted may cross our Unlisten */
    }
    struct sl_client_channel *ch = sl__client_channel_new(c, id, l->window, false);
    if (!ch || sl__client_route_add(c, id, ch) < 0) {
        if (ch) {
            sl__client_channel_free(ch);
        }
        return sl__client_set_fault(c, SL_CLIENT_E_NOMEM, "out of memory for an accepted channel");
    }
    ch->state = SL__CHANNEL_OPEN;
    ch->send_credit = m->window;
    sl__client_channel_fill_info(ch, m->local_address, m->remote_address, m->tls);
    ch->info.listener_id = l->id;
    ch->info.send_window = m->window;
    if (l->accept_tail) {
        l->accept_tail->accept_next = ch;
    } else {
        l->accept_head = ch;
    }
    l->accept_tail = ch;
    return 0;
}

/* The API ------------------------------------------------------------------------------------ */

static int queue_listen(struct sl_client *c, uint32_t id, const struct sl_client_listen_options *o)
{
    Sluice__V1__Listen listen;
    sluice__v1__listen__init(&listen);
    listen.listener_id = id;
    listen.address = (char *)(uintptr_t)(o->address ? o->address : ""); /* packing only reads */
    listen.port = o->port;
    listen.backlog = o->backlog;
    listen.window = o->window;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_LISTEN;
    frame.listen = &listen;
    return sl__client_queue(c, &frame);
}

static int queue_unlisten(struct sl_client *c, uint32_t id)
{
    Sluice__V1__Unlisten unlisten;
    sluice__v1__unlisten__init(&unlisten);
    unlisten.listener_id = id;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_UNLISTEN;
    frame.unlisten = &unlisten;
    return sl__client_queue(c, &frame);
}

static bool listen_answered(const struct sl_client *c, const void *arg)
{
    (void)c;
    const struct sl_client_listener *l = arg;
    return l->status != -EINPROGRESS;
}

/* Sends Listen for a new handle with a slot: 0 with *out set, or an error, nothing left. */
static int start_listen(struct sl_client *c, const struct sl_client_listen_options *o,
                        struct sl_client_listener **out)
{
    struct sl_client_listener *l = sl__client_calloc(1, sizeof(*l));
    if (!l) {
        return SL_CLIENT_E_NOMEM;
    }
    l->client = c;
    l->id = pick_listener_id(c);
    l->status = -EINPROGRESS;
    l->window = o->window ? o->window : c->default_window;
    int rc = slot_add(c, l->id, l);
    if (rc == 0) {
        rc = queue_listen(c, l->id, o);
        if (rc < 0) {
            slot_remove(c, l->id);
        }
    }
    if (rc < 0) {
        sl__client_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int sl_client_listen(struct sl_client *client, const struct sl_client_listen_options *opts,
                     int timeout_ms, struct sl_client_listener **out)
{
    if (!out) {
        return SL_CLIENT_E_INVAL;
    }
    *out = NULL;
    if (!client || !opts || timeout_ms == 0 ||
        (opts->address && strnlen(opts->address, ADDRESS_MAX + 1) > ADDRESS_MAX) ||
        (opts->window > 0 && opts->window < WINDOW_MIN)) {
        return SL_CLIENT_E_INVAL;
    }
    if (client->fault) {
        return client->fault;
    }
    client->message[0] = '\0';
    struct sl_client_listener *l = NULL;
    int rc = start_listen(client, opts, &l);
    if (rc < 0) {
        return rc;
    }
    rc = sl__client_run_until(client, listen_answered, l, sl__client_poll_deadline(timeout_ms));
    if (l->status == 0) {
        *out = l;
        return 0;
    }
    if (l->status != -EINPROGRESS) {
        rc = l->status; /* ListenFailed: the id is free */
        sl__client_copy_string(client->message, sizeof(client->message), l->message);
    }
    sl_client_unlisten(l); /* a timeout: Unlisten, and the slot waits for the answer */
    return rc;
}

const char *sl_client_listener_address(const struct sl_client_listener *l)
{
    return l ? l->address : "";
}

static bool accept_ready(const struct sl_client *c, const void *arg)
{
    (void)c;
    const struct sl_client_listener *l = arg;
    return l->accept_head || l->status != 0;
}

int sl_client_accept(struct sl_client_listener *l, int timeout_ms, struct sl_client_channel **out)
{
    if (!out) {
        return SL_CLIENT_E_INVAL;
    }
    *out = NULL;
    if (!l) {
        return SL_CLIENT_E_INVAL;
    }
    struct sl_client *c = l->client;
    if (c->fault) {
        return c->fault;
    }
    int rc = sl__client_run_until(c, accept_ready, l, sl__client_poll_deadline(timeout_ms));
    struct sl_client_channel *ch = l->accept_head;
    if (ch && c->fault == 0) {
        l->accept_head = ch->accept_next;
        if (!l->accept_head) {
            l->accept_tail = NULL;
        }
        ch->accept_next = NULL;
        *out = ch;
        return 0;
    }
    if (rc == 0) {
        rc = l->status; /* ListenerClosed */
        sl__client_copy_string(c->message, sizeof(c->message), l->message);
    }
    return rc;
}

void sl_client_unlisten(struct sl_client_listener *l)
{
    if (!l) {
        return;
    }
    struct sl_client *c = l->client;
    while (l->accept_head) {
        struct sl_client_channel *ch = l->accept_head;
        l->accept_head = ch->accept_next;
        sl_client_channel_close(ch, false); /* §7: accepted, never taken: closed */
    }
    struct sl__client_listen_slot *s = slot_find(c, l->id);
    bool live = l->status == 0 || l->status == -EINPROGRESS;
    if (s && live && c->fault == 0 && queue_unlisten(c, l->id) == 0) {
        s->l = NULL;               /* until ListenerClosed or ListenFailed frees the id */
        (void)sl__client_flush(c); /* a fault is reported by the next call */
    } else {
        slot_remove(c, l->id);
    }
    sl__client_free(l);
}

void sl__client_listeners_free(struct sl_client *c)
{
    /* Queued accepted channels are on the client's channel list, freed with it. */
    for (size_t i = 0; i < c->listener_count; i++) {
        sl__client_free(c->listeners[i].l);
    }
    sl__client_free(c->listeners);
    c->listeners = NULL;
    c->listener_count = c->listener_cap = 0;
}
