/* SPDX-License-Identifier: Apache-2.0 */
#include "relay_internal.h"

#include "errors.h"
#include "identities.h"
#include "policy.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/socket_handler.h>
#include <sluice/tls.h>

#include <stdio.h>
#include <string.h>

/* Channels coming into being: an Open connecting out, or a listener's connection accepted. */

/* What Opened and Accepted say about a channel --------------------------------------------- */

struct description {
    char local[160];
    char remote[160];
    Sluice__V1__TlsResult tls;
    Sluice__V1__PeerCertificate peer;
    char sans_text[1024]; /* the summary's "DNS:a, IP:b", split in place */
    char *sans[32];
    bool has_tls;
};

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

static struct sl_socket *net_socket(const struct relay *r)
{
    return sl_socket_handler_socket(sl_slot_handler(sl_channel_first_slot(r->net)));
}

void relay_remote_address(const struct relay *r, char *out, size_t len)
{
    struct sl_socket_endpoint remote = {0};
    if (!r->net || sl_socket_get_remote_address(net_socket(r), &remote) < 0) {
        snprintf(out, len, "%s", "");
        return;
    }
    format_endpoint(&remote, sl_socket_get_options(net_socket(r))->domain != SL_SOCKET_LOCAL, out,
                    len);
}

/* "DNS:a, IP:b" into one entry per name, as PeerCertificate.sans wants; returns the count. */
static size_t split_sans(const char *summary, char *text, size_t text_len, char **out, size_t cap)
{
    snprintf(text, text_len, "%s", summary);
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(text, ",", &save); tok && n < cap; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') {
            tok++;
        }
        if (*tok) {
            out[n++] = tok;
        }
    }
    return n;
}

/* Fills *d from the channel; the strings it points to live as long as the channel. */
static void describe(const struct relay *r, struct description *d)
{
    struct sl_socket *socket = net_socket(r);
    struct sl_socket_endpoint local = {0};
    if (sl_socket_get_bound_address(socket, &local) < 0) {
        local = (struct sl_socket_endpoint){0}; /* an unnamed Unix socket: "" */
    }
    format_endpoint(&local, sl_socket_get_options(socket)->domain != SL_SOCKET_LOCAL, d->local,
                    sizeof(d->local));
    relay_remote_address(r, d->remote, sizeof(d->remote));
    struct sl_handler *tls_handler = sl_tls_channel_handler(r->net);
    d->has_tls = tls_handler != NULL;
    if (!tls_handler) {
        return;
    }
    const struct sl_tls_negotiation *n = sl_tls_handler_negotiation(tls_handler);
    sluice__v1__tls_result__init(&d->tls);
    d->tls.version = (char *)(uintptr_t)n->version;
    d->tls.cipher = (char *)(uintptr_t)n->cipher;
    d->tls.alpn = (char *)(uintptr_t)n->alpn;
    d->tls.resumed = n->session_resumed;
    if (n->peer.present) {
        sluice__v1__peer_certificate__init(&d->peer);
        d->peer.subject = (char *)(uintptr_t)n->peer.subject;
        d->peer.issuer = (char *)(uintptr_t)n->peer.issuer;
        d->peer.n_sans = split_sans(n->peer.sans, d->sans_text, sizeof(d->sans_text), d->sans,
                                    sizeof(d->sans) / sizeof(d->sans[0]));
        d->peer.sans = d->sans;
        d->peer.not_before = n->peer.not_before;
        d->peer.not_after = n->peer.not_after;
        d->tls.peer = &d->peer;
    }
}

static void send_opened(struct relay *r)
{
    struct description d;
    describe(r, &d);
    Sluice__V1__Opened opened;
    sluice__v1__opened__init(&opened);
    opened.channel_id = r->id;
    opened.local_address = d.local;
    opened.remote_address = d.remote;
    opened.window = r->daemon_window;
    opened.tls = d.has_tls ? &d.tls : NULL;
    relay_send_small(r, SLUICE__V1__FRAME__BODY_OPENED, &opened);
}

static void send_accepted(struct relay *r)
{
    struct description d;
    describe(r, &d);
    Sluice__V1__Accepted accepted;
    sluice__v1__accepted__init(&accepted);
    accepted.listener_id = r->listener_id;
    accepted.channel_id = r->id;
    accepted.local_address = d.local;
    accepted.remote_address = d.remote;
    accepted.window = r->daemon_window;
    accepted.tls = d.has_tls ? &d.tls : NULL;
    relay_send_small(r, SLUICE__V1__FRAME__BODY_ACCEPTED, &accepted);
}

/* Puts the relay at the end of the network channel. Errors: SL_E_NOMEM, ... */
static int install(struct relay *r, struct sl_channel *channel)
{
    struct sl_slot *slot;
    int rc = sl_slot_new(channel, &slot);
    if (rc == 0 && (rc = sl_slot_insert_end(channel, slot)) < 0) {
        sl_slot_remove(slot);
    }
    if (rc == 0 && (rc = sl_slot_set_handler(slot, &r->base)) < 0) {
        sl_slot_remove(slot);
    }
    if (rc == 0) {
        r->net = channel;
    }
    return rc;
}

/* A relay the session owns, under id, with the client's receive window (budget counted). */
static struct relay *relay_new(struct session *s, uint32_t id, uint32_t window)
{
    struct relay *r = sl_calloc(1, sizeof(*r));
    if (r) {
        r->id = id; /* before the table: it hashes the id */
    }
    if (!r || relay_table_add(&s->relays, r) < 0) {
        sl_free(r);
        return NULL;
    }
    r->base.vtable = &relay_vtable;
    r->session = s;
    r->state = RELAY_OPENING;
    r->client_window = window;
    r->datagram_credit = window;
    r->daemon_window = s->limits.default_window;
    s->relays.budget_used += window;
    atomic_fetch_add(&s->d->channels, 1);
    return r;
}

/* Opening ------------------------------------------------------------------------------------ */

static void on_net_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct relay *r = user_data;
    config_release(r->cfg); /* the connection is made (or not): no more address checks */
    r->cfg = NULL;
    int rc = status < 0 ? status : install(r, channel);
    if (rc < 0) {
        if (status == 0) {
            sl_channel_shutdown(channel, rc, true); /* not installed: it will not free r */
        }
        if (r->session) {
            session_send_status(r->session, SLUICE__V1__FRAME__BODY_OPEN_FAILED, r->id,
                                sluiced_error_code(rc), sl_strerror(rc));
        }
        r->net_gone = true; /* no channel for us: OpenFailed frees the id at once */
        if (r->session) {
            relay_detach(r);
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
    relay_net_shut_down(user_data, status);
}

static int make_tls(struct relay *r, const Sluice__V1__TlsClientOptions *o, const char *host,
                    struct sl_tls_connection_options *tls, const char **why)
{
    struct sl_tls_ctx_options co = {.insecure_skip_verify = o->insecure_skip_verify};
    if (o->trust_case == SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_STORE &&
        identities_trust(r->cfg, o->store, &co) < 0) {
        *why = "no such trust store";
        return SL_E_INVAL;
    }
    if (o->trust_case == SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_CA_PEM) {
        co.ca_pem = sl_cursor_from(o->ca_pem.data, o->ca_pem.len);
    }
    int rc = tls_alpn_join(o->alpn, o->n_alpn, &r->alpn, why);
    if (rc < 0) {
        return rc;
    }
    co.alpn_list = NULL; /* per connection, below */
    rc = o->identity && *o->identity
             ? identities_tls_ctx(r->cfg, o->identity, false, &co, &r->tls_ctx)
             : sl_tls_ctx_new_client(&co, &r->tls_ctx);
    if (rc < 0) {
        *why = rc == SL_E_NOT_FOUND ? "no such identity" : sl_strerror(rc);
        return rc == SL_E_NOT_FOUND ? SL_E_INVAL : rc; /* a reload removed it meanwhile */
    }
    *tls = (struct sl_tls_connection_options){
        .ctx = r->tls_ctx,
        .server_name = o->server_name && *o->server_name ? o->server_name : host,
        .alpn_list = r->alpn,
        .handshake_timeout_ms = o->handshake_timeout_ms,
    };
    return 0;
}

/* A TCP or UDP target: host, port and family, whichever member holds them. */
struct ip_target {
    const char *host;
    uint32_t port;
    Sluice__V1__Family family;
};

static bool ip_target_of(const Sluice__V1__Open *o, struct ip_target *t)
{
    if (o->target_case == SLUICE__V1__OPEN__TARGET_TCP && o->tcp) {
        *t = (struct ip_target){o->tcp->host, o->tcp->port, o->tcp->family};
    } else if (o->target_case == SLUICE__V1__OPEN__TARGET_UDP && o->udp) {
        *t = (struct ip_target){o->udp->host, o->udp->port, o->udp->family};
    } else {
        return false;
    }
    return t->host && *t->host && t->port >= 1 && t->port <= 65535 &&
           (t->family == SLUICE__V1__FAMILY__FAMILY_ANY ||
            t->family == SLUICE__V1__FAMILY__FAMILY_IPV4 ||
            t->family == SLUICE__V1__FAMILY__FAMILY_IPV6);
}

static bool local_target_ok(const Sluice__V1__Open *o)
{
    return o->target_case == SLUICE__V1__OPEN__TARGET_UNIX_SOCKET && o->unix_socket &&
           o->unix_socket->path && *o->unix_socket->path && strlen(o->unix_socket->path) < 108;
}

/* Checks an Open as docs/protocol.md §4.2 orders it. */
static Sluice__V1__ErrorCode check_open(struct session *s, const struct sluiced_config *cfg,
                                        const Sluice__V1__Open *o, uint32_t *window,
                                        const char **why)
{
    *why = "";
    if (o->channel_id == 0 || o->channel_id > MAX_ID) {
        *why = "channel ids the client picks are 1 .. 2^31-1";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (relay_table_find(&s->relays, o->channel_id)) {
        return SLUICE__V1__ERROR_CODE__ERROR_CHANNEL_ID_IN_USE;
    }
    if (s->go_away_sent) {
        *why = "the daemon is stopping";
        return SLUICE__V1__ERROR_CODE__ERROR_SHUTTING_DOWN;
    }
    struct ip_target ip;
    if (!ip_target_of(o, &ip) && !local_target_ok(o)) {
        *why = "no usable target";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (o->tls && o->target_case == SLUICE__V1__OPEN__TARGET_UDP) {
        *why = "TLS over UDP is not offered";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    *window = o->window ? o->window : s->limits.default_window;
    if (*window < MIN_WINDOW || *window > s->limits.max_window) {
        *why = *window < MIN_WINDOW ? "window under 1024" : "window over the daemon's max_window";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (o->tls && o->tls->identity && *o->tls->identity &&
        !config_find_identity(cfg, o->tls->identity)) {
        *why = "no such identity";
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    }
    if (s->relays.count >= s->limits.max_channels ||
        s->relays.budget_used + *window > s->limits.session_budget) {
        return SLUICE__V1__ERROR_CODE__ERROR_SESSION_LIMIT;
    }
    return SLUICE__V1__ERROR_CODE__ERROR_NONE;
}

/* docs/protocol.md §4.2 step 6: what the session's policy says about this Open. */
static bool check_policy(struct session *s, struct relay *r, const Sluice__V1__Open *o,
                         const char **why)
{
    if (!policy_grant(r->cfg, &s->who, &r->grant)) {
        *why = "the policy no longer admits this session";
        return false;
    }
    struct ip_target ip;
    bool allowed = ip_target_of(o, &ip)
                       ? policy_may_connect_host(&r->grant, ip.host, ip.port, why)
                       : policy_may_connect_unix(&r->grant, o->unix_socket->path, why);
    const Sluice__V1__TlsClientOptions *t = o->tls;
    if (allowed && t && t->trust_case == SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_STORE &&
        !policy_may_use_trust(&r->grant, t->store)) {
        *why = "the policy does not grant that trust store";
        allowed = false;
    }
    if (allowed && t && t->identity && *t->identity &&
        !policy_may_use_identity(&r->grant, t->identity)) {
        *why = "the policy does not grant that identity";
        allowed = false;
    }
    return allowed;
}

/* Each address a name resolved to, before it is tried: the client's deny blocks apply. */
static bool address_allowed(const struct sl_host_address *address, uint32_t port, void *user_data)
{
    struct relay *r = user_data;
    bool ok = policy_may_reach_address(&r->grant, address->address);
    if (!ok && r->session) {
        SL_LOG_WARN(SL_LS_DAEMON, "session %llu (uid %u): channel %u: %s port %u is denied",
                    (unsigned long long)r->session->id, (unsigned)r->session->who.uid, r->id,
                    address->address, port);
    }
    return ok;
}

static enum sl_host_family host_family(Sluice__V1__Family family)
{
    return family == SLUICE__V1__FAMILY__FAMILY_IPV4   ? SL_HOST_IPV4
           : family == SLUICE__V1__FAMILY__FAMILY_IPV6 ? SL_HOST_IPV6
                                                       : SL_HOST_ANY;
}

static int start_connect(struct session *s, struct relay *r, const Sluice__V1__Open *o,
                         const char **why)
{
    struct ip_target ip = {0};
    bool local = !ip_target_of(o, &ip);
    const char *host = local ? o->unix_socket->path : ip.host;
    struct sl_tls_connection_options tls;
    if (o->tls) {
        int rc = make_tls(r, o->tls, host, &tls, why);
        if (rc < 0) {
            return rc;
        }
    }
    r->datagram = o->target_case == SLUICE__V1__OPEN__TARGET_UDP;
    struct sl_socket_channel_options co = {
        .host = host,
        .port = ip.port,
        .socket_options = {.type = r->datagram ? SL_SOCKET_DGRAM : SL_SOCKET_STREAM,
                           .domain = local ? SL_SOCKET_LOCAL : SL_SOCKET_IPV4,
                           .connect_timeout_ms = o->connect_timeout_ms,
                           .no_delay = !local && !r->datagram}, /* a relay forwards at once */
        .handler_options = {.allow_half_close = true},
        .family = host_family(ip.family),
        .loop = sl_channel_loop(s->channel), /* relay and session share a loop: no locks */
        .tls_options = o->tls ? &tls : NULL,
        .address_allowed = local ? NULL : address_allowed,
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
    struct sluiced_config *cfg = sluiced_config_get(s->d); /* the Open is judged by this one */
    Sluice__V1__ErrorCode code = check_open(s, cfg, o, &window, &why);
    if (code != SLUICE__V1__ERROR_CODE__ERROR_NONE) {
        config_release(cfg);
        session_send_status(s, SLUICE__V1__FRAME__BODY_OPEN_FAILED, o->channel_id, code, why);
        return;
    }
    struct relay *r = relay_new(s, o->channel_id, window);
    if (!r) {
        config_release(cfg);
        session_send_status(s, SLUICE__V1__FRAME__BODY_OPEN_FAILED, o->channel_id,
                            SLUICE__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
        return;
    }
    r->cfg = cfg; /* held until connected: the address checks need it */
    if (!check_policy(s, r, o, &why)) {
        SL_LOG_WARN(SL_LS_DAEMON, "session %llu (pid %d uid %u): Open %u denied: %s",
                    (unsigned long long)s->id, (int)s->who.pid, (unsigned)s->who.uid, r->id, why);
        session_send_status(s, SLUICE__V1__FRAME__BODY_OPEN_FAILED, r->id,
                            SLUICE__V1__ERROR_CODE__ERROR_DENIED, why);
        r->net_gone = true;
        relay_detach(r); /* frees it */
        return;
    }
    int rc = start_connect(s, r, o, &why);
    if (rc < 0) {
        session_send_status(s, SLUICE__V1__FRAME__BODY_OPEN_FAILED, r->id, sluiced_error_code(rc),
                            *why ? why : sl_strerror(rc));
        r->net_gone = true;
        relay_detach(r); /* frees it */
    }
}

/* Accepting ----------------------------------------------------------------------------------- */

bool relay_has_room(const struct session *s, uint32_t window)
{
    return s->relays.count < s->limits.max_channels &&
           s->relays.budget_used + window <= s->limits.session_budget;
}

/* The next free daemon id: 2^31 .. 2^32-1, round robin, skipping ids still in use. */
static uint32_t next_daemon_id(struct session *s)
{
    for (;;) {
        uint32_t id = s->next_daemon_id < FIRST_DAEMON_ID ? FIRST_DAEMON_ID : s->next_daemon_id;
        s->next_daemon_id = id == UINT32_MAX ? FIRST_DAEMON_ID : id + 1;
        if (!relay_table_find(&s->relays, id)) {
            return id; /* at most max_channels ids are taken, so this ends */
        }
    }
}

int relay_accept(struct session *s, uint32_t listener_id, uint32_t window,
                 struct sl_channel *channel)
{
    struct relay *r = relay_new(s, next_daemon_id(s), window);
    if (!r) {
        return SL_E_NOMEM;
    }
    r->listener_id = listener_id;
    int rc = install(r, channel);
    if (rc < 0) {
        r->net_gone = true; /* not installed: the caller shuts the channel down */
        relay_detach(r);
        return rc;
    }
    r->state = RELAY_OPEN;
    r->client_may_send = r->daemon_window;
    send_accepted(r);
    return 0;
}

void relay_accepted_shut_down(struct sl_channel *channel, int status)
{
    struct relay *r = relay_of_channel(channel);
    if (r) {
        relay_net_shut_down(r, status);
    }
}
