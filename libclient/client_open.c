/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/client.h>

#include "client_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/*
 * Opening a channel (docs/protocol.md §4.2): the options checked here, the Open frame, the
 * wait for Opened or OpenFailed, and what Opened (or Accepted) says about the channel.
 */

#define HOST_MAX      1023 /* a DNS name is 253 bytes, a Unix path 107: a bound for the frame */
#define ALPN_NAME_MAX 255  /* §4.2 */
#define ALPN_MAX      16
#define WINDOW_MIN    1024u /* §4.2: Open.window 1 .. 1,023 is invalid */

/* The ALPN names of opts->alpn, split into a buffer of their own. */
struct alpn_list {
    char text[ALPN_MAX * (ALPN_NAME_MAX + 1)];
    char *names[ALPN_MAX];
    size_t count;
};

/* Splits "h2,http/1.1" (',' or ';' between names). SL_CLIENT_E_INVAL for an empty name. */
static int split_alpn(const char *alpn, struct alpn_list *out)
{
    out->count = 0;
    if (!alpn) {
        return 0;
    }
    size_t len = strnlen(alpn, sizeof(out->text));
    if (len == sizeof(out->text)) {
        return SL_CLIENT_E_INVAL;
    }
    memcpy(out->text, alpn, len + 1);
    char *name = out->text;
    for (char *p = out->text;; p++) {
        bool end = *p == '\0';
        if (!end && *p != ',' && *p != ';') {
            continue;
        }
        *p = '\0';
        size_t n = (size_t)(p - name);
        if (n == 0 || n > ALPN_NAME_MAX || out->count == ALPN_MAX) {
            return SL_CLIENT_E_INVAL;
        }
        out->names[out->count++] = name;
        if (end) {
            return 0;
        }
        name = p + 1;
    }
}

static int check_open_options(const struct sl_client_open_options *o)
{
    bool udp = o->target == SL_CLIENT_TARGET_UDP;
    bool unix_socket = o->target == SL_CLIENT_TARGET_UNIX;
    if (!udp && !unix_socket && o->target != SL_CLIENT_TARGET_TCP) {
        return SL_CLIENT_E_INVAL;
    }
    size_t host_len = o->host ? strnlen(o->host, HOST_MAX + 1) : 0;
    if (host_len == 0 || host_len > HOST_MAX || (!unix_socket && o->port == 0)) {
        return SL_CLIENT_E_INVAL;
    }
    if ((o->family != 0 && o->family != 4 && o->family != 6) ||
        (o->window > 0 && o->window < WINDOW_MIN)) {
        return SL_CLIENT_E_INVAL;
    }
    if (o->tls && (udp || (o->ca_pem && o->trust_store) || (o->ca_pem && o->ca_pem_len == 0))) {
        return SL_CLIENT_E_INVAL;
    }
    return 0;
}

static Sluice__V1__Family family_of(int family)
{
    return family == 4   ? SLUICE__V1__FAMILY__FAMILY_IPV4
           : family == 6 ? SLUICE__V1__FAMILY__FAMILY_IPV6
                         : SLUICE__V1__FAMILY__FAMILY_ANY;
}

static void fill_tls(Sluice__V1__TlsClientOptions *tls, const struct sl_client_open_options *o,
                     struct alpn_list *alpn)
{
    /* protobuf-c's string fields are not const; packing only reads them. */
    tls->server_name = (char *)(uintptr_t)(o->server_name ? o->server_name : "");
    tls->n_alpn = alpn->count;
    tls->alpn = alpn->names;
    tls->insecure_skip_verify = o->insecure_skip_verify;
    tls->handshake_timeout_ms = o->handshake_timeout_ms;
    if (o->ca_pem) {
        tls->trust_case = SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_CA_PEM;
        tls->ca_pem.data = (uint8_t *)(uintptr_t)o->ca_pem;
        tls->ca_pem.len = o->ca_pem_len;
    } else if (o->trust_store) {
        tls->trust_case = SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_STORE;
        tls->store = (char *)(uintptr_t)o->trust_store;
    }
}

static int queue_open(struct sl_client *c, uint32_t id, const struct sl_client_open_options *o,
                      struct alpn_list *alpn)
{
    Sluice__V1__TcpTarget tcp;
    Sluice__V1__UdpTarget udp;
    Sluice__V1__UnixTarget unix_target;
    Sluice__V1__TlsClientOptions tls;
    Sluice__V1__Open open;
    sluice__v1__tcp_target__init(&tcp);
    sluice__v1__udp_target__init(&udp);
    sluice__v1__unix_target__init(&unix_target);
    sluice__v1__tls_client_options__init(&tls);
    sluice__v1__open__init(&open);
    char *host = (char *)(uintptr_t)o->host;
    open.channel_id = id;
    open.connect_timeout_ms = o->connect_timeout_ms;
    open.window = o->window;
    if (o->target == SL_CLIENT_TARGET_UNIX) {
        open.target_case = SLUICE__V1__OPEN__TARGET_UNIX_SOCKET;
        unix_target.path = host;
        open.unix_socket = &unix_target;
    } else if (o->target == SL_CLIENT_TARGET_UDP) {
        open.target_case = SLUICE__V1__OPEN__TARGET_UDP;
        udp.host = host;
        udp.port = o->port;
        udp.family = family_of(o->family);
        open.udp = &udp;
    } else {
        open.target_case = SLUICE__V1__OPEN__TARGET_TCP;
        tcp.host = host;
        tcp.port = o->port;
        tcp.family = family_of(o->family);
        open.tcp = &tcp;
    }
    if (o->tls) {
        fill_tls(&tls, o, alpn);
        open.tls = &tls;
    }
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_OPEN;
    frame.open = &open;
    return sl__client_queue(c, &frame);
}

/* An id from 1 .. 2^31 - 1 that is not in use: a counter that skips those in use (§14.7). */
static uint32_t pick_channel_id(struct sl_client *c)
{
    for (;;) {
        uint32_t id = c->next_channel_id;
        c->next_channel_id = id + 1 < SL__CLIENT_FIRST_DAEMON_ID ? id + 1 : 1;
        if (id != 0 && !sl__client_route_find(c, id)) {
            return id;
        }
    }
}

static bool open_answered(const struct sl_client *c, const void *arg)
{
    (void)c;
    const struct sl_client_channel *ch = arg;
    return ch->state != SL__CHANNEL_OPENING;
}

/* Sends Open for a new handle: 0 with *out set, or an error with nothing left behind. */
static int start_open(struct sl_client *c, const struct sl_client_open_options *o,
                      struct alpn_list *alpn, struct sl_client_channel **out)
{
    uint32_t id = pick_channel_id(c);
    uint32_t window = o->window ? o->window : c->default_window;
    struct sl_client_channel *ch =
        sl__client_channel_new(c, id, window, o->target == SL_CLIENT_TARGET_UDP);
    if (!ch) {
        return SL_CLIENT_E_NOMEM;
    }
    int rc = sl__client_route_add(c, id, ch);
    if (rc == 0) {
        rc = queue_open(c, id, o, alpn);
        if (rc < 0) {
            sl__client_route_remove(c, id);
        }
    }
    if (rc < 0) {
        sl__client_channel_free(ch);
        return rc;
    }
    *out = ch;
    return 0;
}

int sl_client_open(struct sl_client *client, const struct sl_client_open_options *opts,
                   int timeout_ms, struct sl_client_channel **out)
{
    if (!out) {
        return SL_CLIENT_E_INVAL;
    }
    *out = NULL;
    struct alpn_list alpn;
    if (!client || !opts || check_open_options(opts) < 0 ||
        split_alpn(opts->tls ? opts->alpn : NULL, &alpn) < 0) {
        return SL_CLIENT_E_INVAL;
    }
    if (client->fault) {
        return client->fault;
    }
    client->message[0] = '\0';
    struct sl_client_channel *ch = NULL;
    int rc = start_open(client, opts, &alpn, &ch);
    if (rc < 0) {
        return rc;
    }
    rc = sl__client_run_until(client, open_answered, ch, sl__client_poll_deadline(timeout_ms));
    if (ch->state == SL__CHANNEL_OPEN) {
        *out = ch;
        return 0;
    }
    if (ch->state == SL__CHANNEL_ENDED) {
        rc = ch->end_code; /* OpenFailed: the id is free already */
        sl__client_copy_string(client->message, sizeof(client->message), ch->message);
    } else if (rc == -EAGAIN || rc == -ETIMEDOUT) {
        *out = ch; /* still opening: the caller owns it */
        return rc == -EAGAIN ? -EINPROGRESS : rc;
    }
    sl__client_route_remove(client, ch->info.channel_id);
    sl__client_channel_free(ch);
    return rc;
}

/* Opened and Accepted ------------------------------------------------------------------------- */

/* Joins the certificate's SANs with ", " into dst[cap], truncating. */
static void join_sans(char *dst, size_t cap, char **sans, size_t count)
{
    size_t used = 0;
    dst[0] = '\0';
    for (size_t i = 0; i < count && used + 1 < cap; i++) {
        int n = snprintf(dst + used, cap - used, "%s%s", i ? ", " : "", sans[i] ? sans[i] : "");
        if (n < 0) {
            break;
        }
        used += (size_t)n < cap - used ? (size_t)n : cap - used - 1;
    }
}

static void fill_peer(struct sl_client_channel_info *info, const Sluice__V1__PeerCertificate *p)
{
    info->peer_certificate = true;
    sl__client_copy_string(info->peer_subject, sizeof(info->peer_subject), p->subject);
    sl__client_copy_string(info->peer_issuer, sizeof(info->peer_issuer), p->issuer);
    join_sans(info->peer_sans, sizeof(info->peer_sans), p->sans, p->n_sans);
    info->peer_not_before = p->not_before;
    info->peer_not_after = p->not_after;
}

void sl__client_channel_fill_info(struct sl_client_channel *ch, const char *local,
                                  const char *remote, const Sluice__V1__TlsResult *tls)
{
    struct sl_client_channel_info *info = &ch->info;
    sl__client_copy_string(info->local_address, sizeof(info->local_address), local);
    sl__client_copy_string(info->remote_address, sizeof(info->remote_address), remote);
    if (!tls) {
        return;
    }
    info->tls = true;
    sl__client_copy_string(info->tls_version, sizeof(info->tls_version), tls->version);
    sl__client_copy_string(info->tls_cipher, sizeof(info->tls_cipher), tls->cipher);
    sl__client_copy_string(info->alpn, sizeof(info->alpn), tls->alpn);
    info->tls_resumed = tls->resumed;
    if (tls->peer) {
        fill_peer(info, tls->peer);
    }
}
