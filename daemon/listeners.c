/* SPDX-License-Identifier: Apache-2.0 */
#include "listeners.h"

#include "config.h"
#include "errors.h"
#include "identities.h"
#include "policy.h"
#include "relay.h"

#include <sluice/alloc.h>
#include <sluice/bootstrap.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MIN_WINDOW ((uint32_t)1024)

/*
 * A listener belongs to the sl_listener: on_destroy frees it. The session points at it from its
 * table until then (or until the session ends, which clears l->session first), so neither ever
 * sees the other freed.
 */
struct dlistener {
    struct session *session; /* NULL once the session let go */
    struct sl_listener *listener;
    uint32_t id;
    uint32_t window; /* the client's receive window for each accepted channel */
    bool paused;
    bool closing; /* stopping: ListenerClosed {close_code} goes once the socket is closed */
    Sluice__V1__ErrorCode close_code;
    char path[108]; /* a Unix path we bound, removed when the listener closes; "" otherwise */
};

/* Frames -------------------------------------------------------------------------------------- */

static void send_listening(struct session *s, uint32_t id, const char *bound)
{
    Sluice__V1__Listening listening;
    sluice__v1__listening__init(&listening);
    listening.listener_id = id;
    listening.bound_address = (char *)(uintptr_t)bound;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_LISTENING;
    frame.listening = &listening;
    session_send(s, &frame);
}

/* The table ------------------------------------------------------------------------------------ */

static struct dlistener *find(const struct session *s, uint32_t id, size_t *index)
{
    for (size_t i = 0; i < s->listeners.count; i++) {
        if (s->listeners.items[i]->id == id) {
            if (index) {
                *index = i;
            }
            return s->listeners.items[i];
        }
    }
    return NULL;
}

static int table_add(struct listener_table *t, struct dlistener *l)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        struct dlistener **items = sl_calloc(cap, sizeof(*items));
        if (!items) {
            return SL_E_NOMEM;
        }
        if (t->count) {
            memcpy(items, t->items, t->count * sizeof(*items));
        }
        sl_free(t->items);
        t->items = items;
        t->cap = cap;
    }
    t->items[t->count++] = l;
    return 0;
}

/*
 * Stops the listener at index i. It stays in the table (its id live) until its socket is
 * closed and every connection in flight handed out: on_destroy then sends ListenerClosed, so no
 * connection can reach it after the client is told it is gone.
 */
static void stop(struct session *s, size_t i, Sluice__V1__ErrorCode code)
{
    struct dlistener *l = s->listeners.items[i];
    if (l->closing) {
        return;
    }
    l->closing = true;
    l->close_code = code;
    if (l->path[0] == '/') {
        (void)unlink(l->path); /* nobody new can find it; the socket closes on its loop */
    }
    atomic_fetch_sub(&s->d->listeners, 1);
    sl_listener_destroy(l->listener);
}

/* Callbacks (the session's loop) -------------------------------------------------------------- */

static void on_destroy(struct sl_listener *listener, void *user_data)
{
    (void)listener;
    struct dlistener *l = user_data;
    struct session *s = l->session;
    for (size_t i = 0; s && i < s->listeners.count; i++) {
        if (s->listeners.items[i] == l) {
            s->listeners.items[i] = s->listeners.items[--s->listeners.count];
            session_send_status(s, SLUICE__V1__FRAME__BODY_LISTENER_CLOSED, l->id, l->close_code,
                                l->close_code ? "the daemon is stopping" : "");
            break;
        }
    }
    sl_free(l);
}

static void on_incoming(struct sl_listener *listener, int status, struct sl_channel *channel,
                        void *user_data)
{
    (void)listener;
    struct dlistener *l = user_data;
    if (status < 0) {
        SL_LOG_DEBUG(SL_LS_DAEMON, "listener %u: a connection failed: %s", l->id,
                     sl_strerror(status));
        return;
    }
    struct session *s = l->session;
    int rc = SL_E_CANCELED;
    if (s && s->state == SESSION_OPEN && !s->go_away_sent && !l->closing) {
        /* Accepted in the same batch as the one that filled the session: no room for it. */
        rc = relay_has_room(s, l->window) ? relay_accept(s, l->id, l->window, channel)
                                          : SL_E_SHUTTING_DOWN;
    }
    if (rc < 0) {
        SL_LOG_DEBUG(SL_LS_DAEMON, "listener %u: a connection closed: %s", l->id, sl_strerror(rc));
        sl_channel_shutdown(channel, rc, true);
    }
    if (s) {
        listeners_room_changed(s);
    }
}

static void on_channel_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)user_data; /* the listener may be gone by now: the channel's relay knows its session */
    relay_accepted_shut_down(channel, status);
}

void listeners_room_changed(struct session *s)
{
    for (size_t i = 0; i < s->listeners.count; i++) {
        struct dlistener *l = s->listeners.items[i];
        if (l->closing) {
            continue;
        }
        bool pause = !relay_has_room(s, l->window);
        if (pause != l->paused && sl_listener_set_paused(l->listener, pause) == 0) {
            l->paused = pause;
            SL_LOG_DEBUG(SL_LS_DAEMON, "listener %u: %s", l->id,
                         pause ? "paused, the session is full" : "accepting again");
        }
    }
}

/* Listen ------------------------------------------------------------------------------------- */

/* Fills the endpoint and socket options from Listen.address (docs/protocol.md §7). */
static bool parse_address(const Sluice__V1__Listen *o, struct sl_listener_options *lo)
{
    const char *a = o->address ? o->address : "";
    lo->socket_options.type = SL_SOCKET_STREAM;
    lo->endpoint.port = o->port;
    uint8_t raw[16];
    if (a[0] == '/' || a[0] == '@') {
        lo->socket_options.domain = SL_SOCKET_LOCAL;
        lo->endpoint.port = 0;
        return strlen(a) < sizeof(lo->endpoint.address) &&
               snprintf(lo->endpoint.address, sizeof(lo->endpoint.address), "%s", a) > 1;
    }
    if (a[0] == '\0') {
        lo->socket_options.domain = SL_SOCKET_IPV6;
        lo->socket_options.dual_stack = true; /* every address, IPv6 and IPv4 */
        snprintf(lo->endpoint.address, sizeof(lo->endpoint.address), "::");
        return true;
    }
    if (inet_pton(AF_INET, a, raw) == 1) {
        lo->socket_options.domain = SL_SOCKET_IPV4;
    } else if (inet_pton(AF_INET6, a, raw) == 1) {
        lo->socket_options.domain = SL_SOCKET_IPV6;
    } else {
        return false;
    }
    snprintf(lo->endpoint.address, sizeof(lo->endpoint.address), "%s", a);
    return true;
}

/* Checks a Listen in the order docs/protocol.md §7 gives. */
static Sluice__V1__ErrorCode check_listen(struct session *s, const struct sluiced_config *cfg,
                                          const Sluice__V1__Listen *o,
                                          struct sl_listener_options *lo, const char **why)
{
    *why = "";
    if (find(s, o->listener_id, NULL)) {
        *why = "listener id in use";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (s->go_away_sent) {
        *why = "the daemon is stopping";
        return SLUICE__V1__ERROR_CODE__ERROR_SHUTTING_DOWN;
    }
    if (!parse_address(o, lo) || o->port > 65535) {
        *why = "the address is not an IP literal or a Unix path, or the port is over 65535";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (o->window != 0 && o->window < MIN_WINDOW) {
        *why = "window under 1024";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (o->window > s->limits.max_window) {
        *why = "window over the daemon's max_window";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (o->tls && !config_find_identity(cfg, o->tls->identity ? o->tls->identity : "")) {
        *why = cfg->n_identities ? "no such identity" : "no identities configured";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (o->tls && o->tls->client_trust && *o->tls->client_trust &&
        !config_find_trust(cfg, o->tls->client_trust)) {
        *why = "no such trust store";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    uint32_t window = o->window ? o->window : s->limits.default_window;
    if (s->listeners.count >= s->limits.max_listeners ||
        s->relays.budget_used + window > s->limits.session_budget) {
        return SLUICE__V1__ERROR_CODE__ERROR_SESSION_LIMIT;
    }
    struct grant g;
    if (!policy_grant(cfg, &s->who, &g)) {
        *why = "the policy no longer admits this session";
        return SLUICE__V1__ERROR_CODE__ERROR_DENIED;
    }
    if (!policy_may_listen(&g,
                           lo->endpoint.address[0] == '/' || lo->endpoint.address[0] == '@'
                               ? lo->endpoint.address
                               : NULL,
                           o->port, why)) {
        return SLUICE__V1__ERROR_CODE__ERROR_DENIED;
    }
    if (o->tls && !policy_may_use_identity(&g, o->tls->identity)) {
        *why = "the policy does not grant that identity";
        return SLUICE__V1__ERROR_CODE__ERROR_DENIED;
    }
    if (o->tls && o->tls->client_trust && *o->tls->client_trust &&
        !policy_may_use_trust(&g, o->tls->client_trust)) {
        *why = "the policy does not grant that trust store";
        return SLUICE__V1__ERROR_CODE__ERROR_DENIED;
    }
    return SLUICE__V1__ERROR_CODE__ERROR_NONE;
}

/* The server context of a TLS Listen: its identity, ALPN and client certificate checks. */
static int listener_tls(const struct sluiced_config *cfg, const Sluice__V1__TlsServerOptions *t,
                        struct sl_tls_ctx **ctx, char **alpn, const char **why)
{
    struct sl_tls_ctx_options co = {0};
    if (t->client_trust && *t->client_trust && identities_trust(cfg, t->client_trust, &co) < 0) {
        *why = "no such trust store";
        return SL_E_INVAL;
    }
    co.client_auth = t->require_client_cert    ? SL_TLS_CLIENT_AUTH_REQUIRE
                     : co.ca_file || co.ca_dir ? SL_TLS_CLIENT_AUTH_REQUEST
                                               : SL_TLS_CLIENT_AUTH_NONE;
    int rc = tls_alpn_join(t->alpn, t->n_alpn, alpn, why);
    if (rc == 0) {
        co.alpn_list = *alpn;
        rc = identities_tls_ctx(cfg, t->identity, true, &co, ctx);
        *why = rc < 0 ? sl_strerror(rc) : *why;
    }
    return rc;
}

static Sluice__V1__ErrorCode bind_error(int rc, const char **why)
{
    *why = sl_strerror(rc);
    if (rc == -EADDRNOTAVAIL) {
        *why = "the address is not one of this host's";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    return sluiced_error_code(rc);
}

static void format_bound(const struct sl_listener *listener, enum sl_socket_domain domain,
                         char *out, size_t len)
{
    struct sl_socket_endpoint e = {0};
    if (sl_listener_get_bound_address(listener, &e) < 0) {
        e = (struct sl_socket_endpoint){0}; /* cannot happen: it is kept at bind time */
    }
    if (domain == SL_SOCKET_LOCAL) {
        snprintf(out, len, "%s", e.address);
    } else if (domain == SL_SOCKET_IPV6) {
        snprintf(out, len, "[%s]:%u", e.address, e.port);
    } else {
        snprintf(out, len, "%s:%u", e.address, e.port);
    }
}

static void refuse(struct session *s, uint32_t id, Sluice__V1__ErrorCode code, const char *why)
{
    if (code == SLUICE__V1__ERROR_CODE__ERROR_DENIED) {
        SL_LOG_WARN(SL_LS_DAEMON, "session %llu (pid %d uid %u): Listen %u denied: %s",
                    (unsigned long long)s->id, (int)s->who.pid, (unsigned)s->who.uid, id, why);
    }
    session_send_status(s, SLUICE__V1__FRAME__BODY_LISTEN_FAILED, id, code, why);
}

/* Binds (and for TLS builds the context); fills l->listener. */
static Sluice__V1__ErrorCode start_listener(struct session *s, const struct sluiced_config *cfg,
                                            const Sluice__V1__Listen *o, struct dlistener *l,
                                            struct sl_listener_options *lo, const char **why)
{
    struct sl_tls_ctx *ctx = NULL;
    char *alpn = NULL;
    struct sl_tls_connection_options tls = {0};
    if (o->tls) {
        if (listener_tls(cfg, o->tls, &ctx, &alpn, why) < 0) {
            sl_free(alpn);
            return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
        }
        tls = (struct sl_tls_connection_options){.ctx = ctx, .alpn_list = alpn};
        lo->tls_options = &tls; /* copied by the bootstrap, which holds its own reference */
    }
    int rc = sl_server_bootstrap_new_listener(s->d->server, lo, &l->listener);
    sl_tls_ctx_release(ctx);
    sl_free(alpn);
    return rc < 0 ? bind_error(rc, why) : SLUICE__V1__ERROR_CODE__ERROR_NONE;
}

void listeners_listen(struct session *s, const Sluice__V1__Listen *o)
{
    if (!session_charge(s, &s->churn_bucket, "opens and closes")) {
        return;
    }
    struct sl_listener_options lo = {0};
    const char *why = "";
    struct sluiced_config *cfg = sluiced_config_get(s->d);
    Sluice__V1__ErrorCode code = check_listen(s, cfg, o, &lo, &why);
    struct dlistener *l = code ? NULL : sl_calloc(1, sizeof(*l));
    if (!code && (!l || table_add(&s->listeners, l) < 0)) {
        sl_free(l);
        code = SLUICE__V1__ERROR_CODE__ERROR_INTERNAL;
        why = "out of memory";
    }
    if (code) {
        refuse(s, o->listener_id, code, why);
        config_release(cfg);
        return;
    }
    *l = (struct dlistener){.session = s,
                            .id = o->listener_id,
                            .window = o->window ? o->window : s->limits.default_window};
    lo.socket_options.no_delay = lo.socket_options.domain != SL_SOCKET_LOCAL;
    lo.handler_options.allow_half_close = true;
    lo.backlog = (int)(o->backlog > 0 && o->backlog < 65536 ? o->backlog : 0);
    lo.loop = sl_channel_loop(s->channel); /* its channels live with the session: no locks */
    lo.on_incoming = on_incoming;
    lo.on_shutdown = on_channel_shutdown;
    lo.on_destroy = on_destroy;
    lo.user_data = l;
    code = start_listener(s, cfg, o, l, &lo, &why);
    config_release(cfg);
    if (code) {
        s->listeners.count--; /* it was the last one added */
        sl_free(l);
        refuse(s, o->listener_id, code, why);
        return;
    }
    if (lo.socket_options.domain == SL_SOCKET_LOCAL) {
        snprintf(l->path, sizeof(l->path), "%s", lo.endpoint.address);
    }
    atomic_fetch_add(&s->d->listeners, 1);
    char bound[160];
    format_bound(l->listener, lo.socket_options.domain, bound, sizeof(bound));
    SL_LOG_INFO(SL_LS_DAEMON, "session %llu: listener %u on %s%s", (unsigned long long)s->id, l->id,
                bound, o->tls ? " (TLS)" : "");
    send_listening(s, l->id, bound);
    listeners_room_changed(s); /* a full session starts it paused */
}

void listeners_unlisten(struct session *s, uint32_t listener_id)
{
    size_t i;
    struct dlistener *l = find(s, listener_id, &i);
    if (!l || l->closing) {
        session_charge(s, &s->churn_bucket, "opens and closes"); /* ignored, but counted */
        return;
    }
    stop(s, i, SLUICE__V1__ERROR_CODE__ERROR_NONE);
}

void listeners_go_away(struct session *s)
{
    for (size_t i = 0; i < s->listeners.count; i++) {
        stop(s, i, SLUICE__V1__ERROR_CODE__ERROR_SHUTTING_DOWN);
    }
}

void listeners_session_gone(struct session *s)
{
    for (size_t i = 0; i < s->listeners.count; i++) {
        stop(s, i, SLUICE__V1__ERROR_CODE__ERROR_NONE);
        s->listeners.items[i]->session = NULL; /* on_destroy frees it, quietly */
    }
    sl_free(s->listeners.items);
    s->listeners = (struct listener_table){0};
}
