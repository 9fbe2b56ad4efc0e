/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/client.h>

#include "client_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The API of libsluice-client: the handshake (docs/protocol.md "Handshake") and the requests.
 * Every request is one frame out and one awaited frame back (client_route.c sorts whatever
 * else arrives meanwhile), tied together by an id from c->next_id.
 */

#define DEFAULT_CLIENT_NAME "libsluice-client"
#define HOST_MAX            255 /* a DNS name is at most 253 characters; leave room for a dot */

/* Default socket ------------------------------------------------------------------------------ */

/* Holds the last default path: sl_client_default_socket is documented as not thread-safe. */
static char s_default_socket[PATH_MAX];

const char *sl_client_default_socket(void)
{
    /* The daemon follows the same rule, so both meet without configuration. */
    const char *env = getenv("SLUICE_SOCKET");
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    if (env && env[0]) {
        sl__client_copy_string(s_default_socket, sizeof(s_default_socket), env);
    } else if (geteuid() == 0) {
        sl__client_copy_string(s_default_socket, sizeof(s_default_socket),
                               "/run/sluice/sluiced.sock");
    } else if (runtime && runtime[0]) {
        (void)snprintf(s_default_socket, sizeof(s_default_socket), "%s/sluice/sluiced.sock",
                       runtime); /* a truncated path fails in connect with -ENAMETOOLONG */
    } else {
        /* docs/protocol.md §1: the daemon checks this directory is its own, 0700. */
        (void)snprintf(s_default_socket, sizeof(s_default_socket), "/tmp/sluice-%u/sluiced.sock",
                       (unsigned)geteuid());
    }
    return s_default_socket;
}

/* Handshake ------------------------------------------------------------------------------------ */

static int receive_server_hello(struct sl_client *c, uint64_t deadline_ns)
{
    const struct sl__client_wait wait = {.body = SLUICE__V1__FRAME__BODY_SERVER_HELLO};
    sl_frame_t *f = NULL;
    int rc = sl__client_request(c, NULL, &wait, deadline_ns, &f);
    if (rc < 0) {
        return rc;
    }
    const Sluice__V1__ServerHello *hello = f->server_hello;
    bool speaks = false;
    char offered[64] = "none";
    size_t used = 0;
    for (size_t i = 0; i < hello->n_versions; i++) {
        speaks = speaks || hello->versions[i] == SL_CLIENT_PROTOCOL_VERSION;
        if (used < sizeof(offered) - 12) {
            int n = snprintf(offered + used, sizeof(offered) - used, "%s%u", i ? ", " : "",
                             hello->versions[i]);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    sl__client_copy_string(c->daemon_name, sizeof(c->daemon_name), hello->daemon);
    c->auth_nonce_ok = hello->nonce.len == sizeof(c->auth_nonce);
    if (c->auth_nonce_ok) {
        memcpy(c->auth_nonce, hello->nonce.data, sizeof(c->auth_nonce));
    }
    sl_frame_free(f);
    if (!speaks) {
        char what[128];
        (void)snprintf(what, sizeof(what), "the daemon speaks protocol versions %s, not %u",
                       offered, SL_CLIENT_PROTOCOL_VERSION);
        return sl__client_set_fault(c, SL_CLIENT_E_VERSION, what);
    }
    return 0;
}

static int queue_hello(struct sl_client *c, const char *client_name)
{
    Sluice__V1__Hello hello;
    sluice__v1__hello__init(&hello);
    hello.version = SL_CLIENT_PROTOCOL_VERSION;
    /* protobuf-c's string fields are not const; packing only reads them. */
    hello.client_name = (char *)(uintptr_t)client_name;
    /* What we accept; the daemon answers with the maximum for both directions in Welcome. */
    hello.max_frame = SL_FRAME_DEFAULT_MAX;
    uint8_t pk[32], sig[64];
    if (c->auth_sk) {
        if (!c->auth_nonce_ok) {
            return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME,
                                        "ServerHello has no 32-byte nonce to sign");
        }
        sl__client_sign_hello(c, client_name, pk, sig);
        sl__client_forget_key(c); /* signed: the secret is needed no more */
        hello.auth_public_key = (ProtobufCBinaryData){.len = sizeof(pk), .data = pk};
        hello.auth_signature = (ProtobufCBinaryData){.len = sizeof(sig), .data = sig};
    }

    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_HELLO;
    frame.hello = &hello;
    return sl__client_queue(c, &frame);
}

/* Sends the queued Hello and waits for Welcome (§3: nothing else goes out before it). */
static int receive_welcome(struct sl_client *c, uint64_t deadline_ns)
{
    const struct sl__client_wait wait = {.body = SLUICE__V1__FRAME__BODY_WELCOME};
    sl_frame_t *f = NULL;
    int rc = sl__client_request(c, NULL, &wait, deadline_ns, &f);
    if (rc < 0) {
        return rc;
    }
    const Sluice__V1__Welcome *welcome = f->welcome;
    uint32_t version = welcome->version;
    uint32_t max_frame = welcome->max_frame;
    c->session_id = welcome->session_id;
    c->default_window = welcome->default_window ? welcome->default_window : SL_FRAME_DEFAULT_MAX;
    sl_frame_free(f);
    if (version != SL_CLIENT_PROTOCOL_VERSION) {
        return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, "Welcome names another version");
    }
    if (max_frame == 0 || max_frame > SL_FRAME_LIMIT) {
        return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, "Welcome.max_frame out of range");
    }
    c->max_frame = max_frame;
    return 0;
}

static int handshake(struct sl_client *c, const char *client_name, uint64_t deadline_ns)
{
    int rc = receive_server_hello(c, deadline_ns);
    if (rc == 0) {
        rc = queue_hello(c, client_name);
    }
    if (rc == 0) {
        rc = receive_welcome(c, deadline_ns);
    }
    return rc;
}

/* Lifecycle ------------------------------------------------------------------------------------ */

static void report_connect_failure(const struct sl_client_options *o, const char *message)
{
    if (o->error_buf && o->error_buf_len > 0) {
        sl__client_copy_string(o->error_buf, o->error_buf_len, message);
    }
}

int sl_client_connect(const struct sl_client_options *opts, struct sl_client **out)
{
    if (!out) {
        return SL_CLIENT_E_INVAL;
    }
    *out = NULL;
    const struct sl_client_options none = {0};
    const struct sl_client_options *o = opts ? opts : &none;
    const char *path = o->socket_path ? o->socket_path : sl_client_default_socket();
    if (!path) {
        report_connect_failure(o, "no default socket path: XDG_RUNTIME_DIR is unset");
        return -ENOENT;
    }
    const char *name = o->client_name ? o->client_name : DEFAULT_CLIENT_NAME;
    if (strnlen(name, SL__CLIENT_NAME_MAX + 1) > SL__CLIENT_NAME_MAX) {
        report_connect_failure(o, "client_name is over 255 bytes");
        return SL_CLIENT_E_INVAL;
    }
    uint64_t deadline_ns = sl__client_deadline(o->timeout_ms);

    struct sl_client *c = sl__client_calloc(1, sizeof(*c));
    if (!c) {
        report_connect_failure(o, "");
        return SL_CLIENT_E_NOMEM;
    }
    c->fd = -1;
    c->max_frame = SL_FRAME_HANDSHAKE_MAX;
    c->next_id = 1;
    c->next_channel_id = 1;
    c->next_listener_id = 1;
    int rc = 0;
    if (o->key_file) {
        rc = sl__client_load_key(c, o->key_file);
        if (rc < 0) {
            char what[300];
            (void)snprintf(what, sizeof(what), "cannot use key file %s: %s", o->key_file,
                           rc == SL_CLIENT_E_INVAL ? "not a key sluicectl keygen wrote"
                                                   : sl_client_strerror(rc));
            report_connect_failure(o, what);
            sl_client_close(c);
            return rc;
        }
    }
    rc = sl__client_socket_open(path, deadline_ns, &c->fd);
    if (rc == 0) {
        rc = handshake(c, name, deadline_ns);
    }
    if (rc < 0) {
        report_connect_failure(o, c->message);
        sl_client_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void sl_client_close(struct sl_client *client)
{
    if (!client) {
        return;
    }
    if (client->fd >= 0) {
        /* The daemon ends the session on end of stream, aborting every channel (§11). */
        (void)close(client->fd);
    }
    while (client->channels) {
        sl__client_channel_free(client->channels);
    }
    sl__client_listeners_free(client);
    sl__client_free(client->routes);
    sl_frame_free(client->reply);
    sl__client_free(client->obuf);
    sl__client_free(client->rbuf);
    sl__client_free(client);
}

/* Requests ------------------------------------------------------------------------------------- */

/* Starts a call: a session that already failed answers with its fault right away. */
static int begin_call(struct sl_client *c)
{
    if (c->fault) {
        return c->fault;
    }
    c->message[0] = '\0';
    return 0;
}

int sl_client_ping(struct sl_client *client, uint32_t timeout_ms, uint64_t *rtt_ns)
{
    if (!client) {
        return SL_CLIENT_E_INVAL;
    }
    int rc = begin_call(client);
    if (rc < 0) {
        return rc;
    }
    uint64_t start = sl__client_now_ns();
    uint64_t deadline_ns = sl__client_deadline(timeout_ms);

    Sluice__V1__Ping ping;
    sluice__v1__ping__init(&ping);
    ping.payload = client->next_id++;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_PING;
    frame.ping = &ping;
    const struct sl__client_wait wait = {
        .body = SLUICE__V1__FRAME__BODY_PONG, .id = ping.payload, .has_id = true};
    sl_frame_t *pong = NULL;
    rc = sl__client_request(client, &frame, &wait, deadline_ns, &pong);
    if (rc < 0) {
        return rc;
    }
    sl_frame_free(pong);
    if (rtt_ns) {
        *rtt_ns = sl__client_now_ns() - start;
    }
    return 0;
}

static Sluice__V1__Family family_to_proto(int family)
{
    return family == 4   ? SLUICE__V1__FAMILY__FAMILY_IPV4
           : family == 6 ? SLUICE__V1__FAMILY__FAMILY_IPV6
                         : SLUICE__V1__FAMILY__FAMILY_ANY;
}

static int request_resolve(struct sl_client *c, uint32_t id, const char *host, int family,
                           uint64_t deadline_ns, sl_frame_t **out)
{
    Sluice__V1__Resolve resolve;
    sluice__v1__resolve__init(&resolve);
    resolve.request_id = id;
    resolve.host = (char *)(uintptr_t)host; /* not const in protobuf-c; packing only reads it */
    resolve.family = family_to_proto(family);
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_RESOLVE;
    frame.resolve = &resolve;
    const struct sl__client_wait wait = {
        .body = SLUICE__V1__FRAME__BODY_RESOLVED, .id = id, .has_id = true};
    return sl__client_request(c, &frame, &wait, deadline_ns, out);
}

/* A Status that is not ERROR_NONE as a return code, with its message kept for the caller. */
static int status_to_rc(struct sl_client *c, const Sluice__V1__Status *status)
{
    if (!status || status->code == SLUICE__V1__ERROR_CODE__ERROR_NONE) {
        return 0;
    }
    sl__client_copy_string(c->message, sizeof(c->message), status->message);
    return sl__client_status_code(status);
}

/* Copies one ResolvedAddress; false when it cannot be an address at all. */
static bool copy_address(const Sluice__V1__ResolvedAddress *in, struct sl_client_address *out)
{
    const char *text = in->address ? in->address : "";
    size_t len = strnlen(text, sizeof(out->address));
    if (len == 0 || len >= sizeof(out->address)) {
        return false;
    }
    memcpy(out->address, text, len + 1);
    out->ttl_s = in->ttl_s;
    out->family = in->family == SLUICE__V1__FAMILY__FAMILY_IPV6   ? 6
                  : in->family == SLUICE__V1__FAMILY__FAMILY_IPV4 ? 4
                  : strchr(text, ':')                             ? 6
                                                                  : 4;
    return true;
}

static int take_addresses(struct sl_client *c, const Sluice__V1__Resolved *resolved,
                          struct sl_client_address *out, size_t cap, size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < resolved->n_addresses && n < cap; i++) {
        if (!copy_address(resolved->addresses[i], &out[n])) {
            return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME,
                                        "Resolved holds an address that is empty or too long");
        }
        n++;
    }
    *count = n;
    return 0;
}

int sl_client_resolve(struct sl_client *client, const char *host, int family, uint32_t timeout_ms,
                      struct sl_client_address *out, size_t cap, size_t *count)
{
    if (!client || !host || !count || (cap > 0 && !out)) {
        return SL_CLIENT_E_INVAL;
    }
    size_t host_len = strnlen(host, HOST_MAX + 1);
    if (host_len == 0 || host_len > HOST_MAX || (family != 0 && family != 4 && family != 6)) {
        return SL_CLIENT_E_INVAL;
    }
    *count = 0;
    int rc = begin_call(client);
    if (rc < 0) {
        return rc;
    }
    uint64_t deadline_ns = sl__client_deadline(timeout_ms);
    sl_frame_t *f = NULL;
    rc = request_resolve(client, client->next_id++, host, family, deadline_ns, &f);
    if (rc < 0) {
        return rc;
    }
    rc = status_to_rc(client, f->resolved->status);
    if (rc == 0) {
        rc = take_addresses(client, f->resolved, out, cap, count);
    }
    sl_frame_free(f);
    return rc;
}

/* Queries -------------------------------------------------------------------------------------- */

int sl_client_fd(const struct sl_client *client)
{
    return client ? client->fd : -1;
}

uint64_t sl_client_session_id(const struct sl_client *client)
{
    return client ? client->session_id : 0;
}

int sl_client_fault(const struct sl_client *client)
{
    return client ? client->fault : SL_CLIENT_E_INVAL;
}

const char *sl_client_daemon_name(const struct sl_client *client)
{
    return client ? client->daemon_name : "";
}

const char *sl_client_error_message(const struct sl_client *client)
{
    return client ? client->message : "";
}

bool sl_client_has_go_away(const struct sl_client *client, uint32_t *deadline_ms,
                           const char **reason)
{
    if (!client || !client->go_away) {
        return false;
    }
    if (deadline_ms) {
        *deadline_ms = client->go_away_deadline_ms;
    }
    if (reason) {
        *reason = client->go_away_reason;
    }
    return true;
}
