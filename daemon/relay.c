/* SPDX-License-Identifier: Apache-2.0 */
#include "relay.h"

#include "errors.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/socket_handler.h>
#include <sluice/tls.h>

#include <stdio.h>
#include <string.h>

/* Channels: opening, the relay handler, and the client's Data/Window/Shutdown/Close. */

#define MIN_WINDOW ((uint32_t)1024)
#define MAX_ID     ((uint32_t)0x7fffffff)

enum relay_state {
    RELAY_OPENING, /* connecting; the client may Close it */
    RELAY_OPEN,
    RELAY_DONE, /* Close sent to the client (or the session gone): the id is free */
};

struct relay {
    struct sl_handler base;  /* the last handler of the network channel */
    struct session *session; /* NULL once the id is released: both Closes sent, or session gone */
    struct sl_channel *net;
    uint32_t id;
    enum relay_state state;
    uint32_t client_window;   /* Open.window: the client's receive window, for the budget */
    uint32_t daemon_window;   /* Opened.window */
    uint64_t client_may_send; /* what is left of the credit the daemon granted */
    uint64_t owed;            /* written to the network, not yet returned in a Window */
    bool client_shut;         /* Shutdown from the client */
    bool peer_shut;           /* end of stream from the network, Shutdown sent */
    bool end_written;         /* the client's Shutdown reached the network */
    bool close_sent;          /* Close sent to the client: its frames are dropped until its own */
    bool net_gone;            /* no network channel (never made, or destroyed) */
    struct sl_tls_ctx *tls_ctx;
    char *alpn;
};

/* The table -------------------------------------------------------------------------------- */

void relay_table_init(struct relay_table *t)
{
    memset(t, 0, sizeof(*t));
}

static size_t slot_of(const struct relay_table *t, uint32_t id)
{
    return (size_t)(id * 2654435761u) & (t->cap - 1);
}

static struct relay *table_find(const struct relay_table *t, uint32_t id)
{
    if (t->cap == 0) {
        return NULL;
    }
    for (size_t i = slot_of(t, id);; i = (i + 1) & (t->cap - 1)) {
        struct relay *r = t->slots[i];
        if (!r || r->id == id) {
            return r;
        }
    }
}

static int table_grow(struct relay_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 16;
    struct relay **slots = sl_calloc(cap, sizeof(*slots));
    if (!slots) {
        return SL_E_NOMEM;
    }
    struct relay_table bigger = {.slots = slots, .cap = cap, .count = 0};
    for (size_t i = 0; i < t->cap; i++) {
        struct relay *r = t->slots[i];
        if (r) {
            size_t j = slot_of(&bigger, r->id);
            while (bigger.slots[j]) {
                j = (j + 1) & (cap - 1);
            }
            bigger.slots[j] = r;
        }
    }
    sl_free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

static int table_add(struct relay_table *t, struct relay *r)
{
    if ((t->count + 1) * 2 > t->cap) {
        int rc = table_grow(t);
        if (rc < 0) {
            return rc;
        }
    }
    size_t i = slot_of(t, r->id);
    while (t->slots[i]) {
        i = (i + 1) & (t->cap - 1);
    }
    t->slots[i] = r;
    t->count++;
    return 0;
}

size_t relay_count(const struct session *s)
{
    return s->relays.count;
}

static void table_remove(struct relay_table *t, struct relay *r)
{
    size_t i = slot_of(t, r->id);
    while (t->slots[i] != r) {
        i = (i + 1) & (t->cap - 1);
    }
    t->slots[i] = NULL;
    t->count--;
    /* Re-place the entries after it in its run, so lookups never stop early. */
    for (size_t j = (i + 1) & (t->cap - 1); t->slots[j]; j = (j + 1) & (t->cap - 1)) {
        struct relay *moved = t->slots[j];
        t->slots[j] = NULL;
        size_t k = slot_of(t, moved->id);
        while (t->slots[k]) {
            k = (k + 1) & (t->cap - 1);
        }
        t->slots[k] = moved;
    }
}

/*
 * A relay has two owners: the session (until the id is free: both sides sent Close, OpenFailed
 * was sent, or the session ended) and the network channel (until its handler is destroyed).
 * Whichever lets go last frees it.
 */
static void relay_free(struct relay *r)
{
    sl_tls_ctx_release(r->tls_ctx);
    sl_free(r->alpn);
    sl_free(r);
}

/* Frees the id: the relay no longer belongs to the session. */
static void detach(struct relay *r)
{
    struct session *s = r->session;
    if (!s) {
        return;
    }
    table_remove(&s->relays, r);
    s->relays.budget_used -= r->client_window;
    atomic_fetch_sub(&s->d->channels, 1);
    r->session = NULL;
    r->state = RELAY_DONE;
    if (r->net_gone) {
        relay_free(r);
    }
    session_check_drained(s);
}

/* The network side is gone (or never came). */
static void net_let_go(struct relay *r)
{
    r->net_gone = true;
    r->net = NULL;
    if (!r->session) {
        relay_free(r);
    }
}

/* Frames to the client ---------------------------------------------------------------------- */

void session_send_close(struct session *s, uint32_t channel_id, Sluice__V1__ErrorCode code,
                        const char *message)
{
    Sluice__V1__Status st;
    sluice__v1__status__init(&st);
    st.code = code;
    st.message = (char *)(uintptr_t)message;
    Sluice__V1__Close close;
    sluice__v1__close__init(&close);
    close.channel_id = channel_id;
    close.status = &st;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_CLOSE;
    frame.close = &close;
    session_send(s, &frame);
}

/* Sends Close {code}; the id stays taken until the client's Close (docs/protocol.md §4.4). */
static void close_to_client(struct relay *r, Sluice__V1__ErrorCode code, const char *message)
{
    if (r->session && !r->close_sent) {
        r->close_sent = true;
        r->state = RELAY_DONE;
        session_send_close(r->session, r->id, code, message);
    }
}

static void send_open_failed(struct session *s, uint32_t id, Sluice__V1__ErrorCode code,
                             const char *message)
{
    Sluice__V1__Status st;
    sluice__v1__status__init(&st);
    st.code = code;
    st.message = (char *)(uintptr_t)message;
    Sluice__V1__OpenFailed failed;
    sluice__v1__open_failed__init(&failed);
    failed.channel_id = id;
    failed.status = &st;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_OPEN_FAILED;
    frame.open_failed = &failed;
    session_send(s, &frame);
}

static void send_small(struct relay *r, Sluice__V1__Frame__BodyCase which, void *body)
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

static int relay_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)slot;
    struct relay *r = relay_of(handler);
    bool end = (msg->flags & SL_MSG_END_OF_STREAM) != 0;
    int rc = 0;
    bool live = r->session && !r->close_sent;
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
        send_small(r, SLUICE__V1__FRAME__BODY_SHUTDOWN, &shutdown);
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

static size_t relay_initial_window(struct sl_handler *handler)
{
    return relay_of(handler)->client_window; /* the client's credit, exactly */
}

static size_t relay_message_overhead(struct sl_handler *handler)
{
    (void)handler;
    return 0;
}

static void relay_destroy(struct sl_handler *handler)
{
    net_let_go(relay_of(handler));
}

static const struct sl_handler_vtable s_relay_vtable = {
    .name = "relay",
    .on_read = relay_on_read,
    .on_write = relay_on_write,
    .on_window_update = relay_on_window_update,
    .on_shutdown = relay_on_shutdown,
    .initial_window = relay_initial_window,
    .message_overhead = relay_message_overhead,
    .destroy = relay_destroy,
};

/* Opening ----------------------------------------------------------------------------------------
 */

static void format_endpoint(const struct sl_socket_endpoint *e, bool ip, char *out, size_t len)
{
    if (!ip) {
        snprintf(out, len, "%s", e->address);
    } else if (strchr(e->address, ':')) {
        snprintf(out, len, "[%s]:%u", e->address, e->port);
    } else {
        snprintf(out, len, "%s:%u", e->address, e->port);
    }
}

static void send_opened(struct relay *r)
{
    struct sl_socket *socket =
        sl_socket_handler_socket(sl_slot_handler(sl_channel_first_slot(r->net)));
    struct sl_socket_endpoint local = {0}, remote = {0};
    bool ip = sl_socket_get_options(socket)->domain != SL_SOCKET_LOCAL;
    if (sl_socket_get_bound_address(socket, &local) < 0) {
        local = (struct sl_socket_endpoint){0}; /* an unnamed Unix socket: "" */
    }
    if (sl_socket_get_remote_address(socket, &remote) < 0) {
        remote = (struct sl_socket_endpoint){0};
    }
    char local_text[160], remote_text[160];
    format_endpoint(&local, ip, local_text, sizeof(local_text));
    format_endpoint(&remote, ip, remote_text, sizeof(remote_text));
    Sluice__V1__Opened opened;
    sluice__v1__opened__init(&opened);
    opened.channel_id = r->id;
    opened.local_address = local_text;
    opened.remote_address = remote_text;
    opened.window = r->daemon_window;
    Sluice__V1__TlsResult tls;
    Sluice__V1__PeerCertificate peer;
    char *sans[1];
    struct sl_handler *tls_handler = sl_tls_channel_handler(r->net);
    if (tls_handler) {
        const struct sl_tls_negotiation *n = sl_tls_handler_negotiation(tls_handler);
        sluice__v1__tls_result__init(&tls);
        tls.version = (char *)(uintptr_t)n->version;
        tls.cipher = (char *)(uintptr_t)n->cipher;
        tls.alpn = (char *)(uintptr_t)n->alpn;
        tls.resumed = n->session_resumed;
        if (n->peer.present) {
            sluice__v1__peer_certificate__init(&peer);
            peer.subject = (char *)(uintptr_t)n->peer.subject;
            peer.issuer = (char *)(uintptr_t)n->peer.issuer;
            sans[0] = (char *)(uintptr_t)n->peer.sans; /* one "DNS:a, IP:b" line for now */
            peer.n_sans = *n->peer.sans ? 1 : 0;
            peer.sans = sans;
            peer.not_before = n->peer.not_before;
            peer.not_after = n->peer.not_after;
            tls.peer = &peer;
        }
        opened.tls = &tls;
    }
    send_small(r, SLUICE__V1__FRAME__BODY_OPENED, &opened);
}

static void on_net_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct relay *r = user_data;
    if (status < 0) {
        if (r->session) {
            send_open_failed(r->session, r->id, sluiced_error_code(status), sl_strerror(status));
        }
        r->net_gone = true; /* no channel: OpenFailed frees the id at once */
        if (r->session) {
            detach(r);
        } else {
            relay_free(r);
        }
        return;
    }
    r->net = channel;
    struct sl_slot *slot;
    int rc = sl_slot_new(channel, &slot);
    if (rc == 0 && (rc = sl_slot_insert_end(channel, slot)) < 0) {
        sl_slot_remove(slot);
    }
    if (rc == 0 && (rc = sl_slot_set_handler(slot, &r->base)) < 0) {
        sl_slot_remove(slot);
    }
    if (rc < 0) {
        sl_channel_shutdown(channel, rc, true);
        if (r->session) {
            send_open_failed(r->session, r->id, SLUICE__V1__ERROR_CODE__ERROR_INTERNAL,
                             sl_strerror(rc));
        }
        r->net_gone = true; /* the handler was not installed: the channel will not free it */
        r->net = NULL;
        if (r->session) {
            detach(r);
        } else {
            relay_free(r);
        }
        return;
    }
    if (!r->session || r->close_sent) {
        sl_channel_shutdown(channel, SL_E_CANCELED, true); /* closed while connecting */
        return;
    }
    r->state = RELAY_OPEN;
    r->client_may_send = r->daemon_window;
    send_opened(r);
}

static void on_net_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    struct relay *r = user_data;
    if (!r->session) {
        return;
    }
    int code = status == SL_E_CLOSED ? 0 : status;
    close_to_client(r, sluiced_error_code(code), code ? sl_strerror(code) : "");
}

static int make_tls(struct relay *r, const Sluice__V1__TlsClientOptions *o, const char *host,
                    struct sl_tls_connection_options *tls, const char **why)
{
    struct sl_tls_ctx_options co = {.insecure_skip_verify = o->insecure_skip_verify};
    if (o->trust_case == SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_STORE) {
        *why = "no trust stores are configured";
        return SL_E_INVAL;
    }
    if (o->trust_case == SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_CA_PEM) {
        co.ca_pem = sl_cursor_from(o->ca_pem.data, o->ca_pem.len);
    }
    size_t alpn_len = 0;
    for (size_t i = 0; i < o->n_alpn; i++) {
        size_t n = strlen(o->alpn[i]);
        if (n == 0 || n > 255 || strpbrk(o->alpn[i], ";,")) {
            *why = "bad ALPN protocol name";
            return SL_E_INVAL;
        }
        alpn_len += n + 1;
    }
    if (o->n_alpn) {
        r->alpn = sl_calloc(1, alpn_len);
        if (!r->alpn) {
            return SL_E_NOMEM;
        }
        size_t at = 0; /* "h2;http/1.1": the list form tls.h takes */
        for (size_t i = 0; i < o->n_alpn; i++) {
            size_t n = strlen(o->alpn[i]);
            memcpy(r->alpn + at, o->alpn[i], n);
            at += n;
            r->alpn[at++] = i + 1 < o->n_alpn ? ';' : '\0';
        }
    }
    int rc = sl_tls_ctx_new_client(&co, &r->tls_ctx);
    if (rc < 0) {
        *why = sl_strerror(rc);
        return rc;
    }
    *tls = (struct sl_tls_connection_options){
        .ctx = r->tls_ctx,
        .server_name = o->server_name && *o->server_name ? o->server_name : host,
        .alpn_list = r->alpn,
        .handshake_timeout_ms = o->handshake_timeout_ms,
    };
    return 0;
}

/* Checks an Open as docs/protocol.md §4.2 orders it; fills the connect options. */
static Sluice__V1__ErrorCode check_open(struct session *s, const Sluice__V1__Open *o,
                                        uint32_t *window, const char **why)
{
    *why = "";
    if (o->channel_id == 0 || o->channel_id > MAX_ID) {
        *why = "channel ids the client picks are 1 .. 2^31-1";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (table_find(&s->relays, o->channel_id)) {
        return SLUICE__V1__ERROR_CODE__ERROR_CHANNEL_ID_IN_USE;
    }
    if (s->go_away_sent) {
        *why = "the daemon is stopping";
        return SLUICE__V1__ERROR_CODE__ERROR_SHUTTING_DOWN;
    }
    bool tcp = o->target_case == SLUICE__V1__OPEN__TARGET_TCP && o->tcp && o->tcp->host &&
               *o->tcp->host && o->tcp->port >= 1 && o->tcp->port <= 65535;
    bool local = o->target_case == SLUICE__V1__OPEN__TARGET_UNIX_SOCKET && o->unix_socket &&
                 o->unix_socket->path && *o->unix_socket->path &&
                 strlen(o->unix_socket->path) < 108;
    if (!tcp && !local) {
        *why = o->target_case == SLUICE__V1__OPEN__TARGET_UDP ? "UDP channels are not served yet"
                                                              : "no usable target";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    *window = o->window ? o->window : s->d->limits.default_window;
    if (*window < MIN_WINDOW) {
        *why = "window under 1024";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (s->relays.count >= s->d->limits.max_channels ||
        s->relays.budget_used + *window > s->d->limits.session_budget) {
        return SLUICE__V1__ERROR_CODE__ERROR_SESSION_LIMIT;
    }
    return SLUICE__V1__ERROR_CODE__ERROR_NONE;
}

static int start_connect(struct session *s, struct relay *r, const Sluice__V1__Open *o,
                         const char **why)
{
    bool local = o->target_case == SLUICE__V1__OPEN__TARGET_UNIX_SOCKET;
    const char *host = local ? o->unix_socket->path : o->tcp->host;
    struct sl_tls_connection_options tls;
    if (o->tls) {
        int rc = make_tls(r, o->tls, host, &tls, why);
        if (rc < 0) {
            return rc;
        }
    }
    struct sl_socket_channel_options co = {
        .host = host,
        .port = local ? 0 : o->tcp->port,
        .socket_options = {.type = SL_SOCKET_STREAM,
                           .domain = local ? SL_SOCKET_LOCAL : SL_SOCKET_IPV4,
                           .connect_timeout_ms = o->connect_timeout_ms},
        .handler_options = {.allow_half_close = true},
        .family = local || o->tcp->family == SLUICE__V1__FAMILY__FAMILY_ANY ? SL_HOST_ANY
                  : o->tcp->family == SLUICE__V1__FAMILY__FAMILY_IPV4       ? SL_HOST_IPV4
                                                                            : SL_HOST_IPV6,
        .loop = sl_channel_loop(s->channel), /* relay and session share a loop: no locks */
        .tls_options = o->tls ? &tls : NULL,
        .on_setup = on_net_setup,
        .on_shutdown = on_net_shutdown,
        .user_data = r,
    };
    return sl_client_bootstrap_new_socket_channel(s->d->client, &co);
}

void relay_open(struct session *s, const Sluice__V1__Open *o)
{
    if (!session_charge(s, &s->churn_bucket, "opens and closes")) {
        return;
    }
    uint32_t window = 0;
    const char *why = "";
    Sluice__V1__ErrorCode code = check_open(s, o, &window, &why);
    if (code != SLUICE__V1__ERROR_CODE__ERROR_NONE) {
        send_open_failed(s, o->channel_id, code, why);
        return;
    }
    struct relay *r = sl_calloc(1, sizeof(*r));
    if (r) {
        r->id = o->channel_id; /* before table_add: the table hashes it */
    }
    if (!r || table_add(&s->relays, r) < 0) {
        sl_free(r);
        send_open_failed(s, o->channel_id, SLUICE__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
        return;
    }
    r->base.vtable = &s_relay_vtable;
    r->session = s;
    r->state = RELAY_OPENING;
    r->client_window = window;
    r->daemon_window = s->d->limits.default_window;
    s->relays.budget_used += window;
    atomic_fetch_add(&s->d->channels, 1);
    int rc = start_connect(s, r, o, &why);
    if (rc < 0) {
        send_open_failed(s, r->id, sluiced_error_code(rc), *why ? why : sl_strerror(rc));
        r->net_gone = true;
        detach(r); /* frees it */
    }
}

/* The client's frames ------------------------------------------------------------------------ */

/*
 * The relay a client frame is for, or NULL when the frame is to be dropped: an id not in use
 * gets Close {UNKNOWN_CHANNEL} (and counts as churn); a channel we sent Close for drops
 * everything quietly until the client's Close arrives.
 */
static struct relay *find_or_fault(struct session *s, uint32_t id)
{
    struct relay *r = table_find(&s->relays, id);
    if (!r && session_charge(s, &s->churn_bucket, "frames for channels that are not open")) {
        session_send_close(s, id, SLUICE__V1__ERROR_CODE__ERROR_UNKNOWN_CHANNEL, "no such channel");
    }
    return r && !r->close_sent ? r : NULL;
}

/* A channel fault: Close {code} to the client, the network side aborted. */
static void channel_fault(struct relay *r, Sluice__V1__ErrorCode code, const char *message)
{
    close_to_client(r, code, message);
    if (r->net) {
        sl_channel_shutdown(r->net, SL_E_CANCELED, true);
    }
}

static void on_net_written(struct sl_channel *channel, struct sl_msg *msg, int status,
                           void *user_data)
{
    (void)channel;
    struct relay *r = user_data;
    if (status < 0 || !r->session || r->state != RELAY_OPEN) {
        return;
    }
    atomic_fetch_add(&r->session->d->bytes_out, msg->data.len);
    r->owed += msg->data.len;
    SL_LOG_TRACE(SL_LS_DAEMON, "channel %u: %zu bytes written to the network (owed %llu)", r->id,
                 msg->data.len, (unsigned long long)r->owed);
    if (r->owed >= r->daemon_window / 2 && !r->client_shut) {
        Sluice__V1__Window window;
        sluice__v1__window__init(&window);
        window.channel_id = r->id;
        window.increment = (uint32_t)r->owed;
        r->client_may_send += r->owed;
        r->owed = 0;
        send_small(r, SLUICE__V1__FRAME__BODY_WINDOW, &window);
    }
}

void relay_data(struct session *s, uint32_t id, const uint8_t *payload, size_t len)
{
    struct relay *r = find_or_fault(s, id);
    if (!r) {
        return;
    }
    if (r->client_shut || len > r->client_may_send || r->state != RELAY_OPEN) {
        channel_fault(r, SLUICE__V1__ERROR_CODE__ERROR_WINDOW_EXCEEDED,
                      r->client_shut ? "Data after Shutdown" : "Data beyond the granted window");
        return;
    }
    r->client_may_send -= len;
    SL_LOG_TRACE(SL_LS_DAEMON, "channel %u: %zu bytes from the client (credit left %llu)", r->id,
                 len, (unsigned long long)r->client_may_send);
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

void relay_window(struct session *s, uint32_t id, uint32_t increment)
{
    struct relay *r = find_or_fault(s, id);
    if (!r || r->state != RELAY_OPEN) {
        return;
    }
    if (increment < MIN_WINDOW && !session_charge(s, &s->empty_bucket, "tiny windows")) {
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
    struct relay *r = table_find(&s->relays, id);
    if (!r) {
        return; /* not in use: ignored (docs/protocol.md §4.4) */
    }
    struct sl_channel *net = r->net;
    if (!r->close_sent) {
        /* Answered at once; the network side flushes (clean close) or is aborted. */
        session_send_close(s, id, SLUICE__V1__ERROR_CODE__ERROR_NONE, "");
        bool clean = code == SLUICE__V1__ERROR_CODE__ERROR_NONE;
        if (net) {
            sl_channel_shutdown(net, clean ? 0 : SL_E_CANCELED, !clean);
        }
    }
    detach(r); /* both sides have sent Close: the id is free */
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
