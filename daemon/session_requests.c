/* SPDX-License-Identifier: Apache-2.0 */
#include "errors.h"
#include "config.h"
#include "listeners.h"
#include "policy.h"
#include "relay.h"
#include "session_internal.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include <stdio.h>
#include <string.h>

/* What an open session may ask for (docs/protocol.md), one function per frame. */

static void send_body(struct session *s, Sluice__V1__Frame__BodyCase which, void *body)
{
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = which;
    frame.ping = body; /* the body is a union: any member will do */
    session_send(s, &frame);
}

/* Ping, Stats --------------------------------------------------------------------------------- */

static void on_ping(struct session *s, const Sluice__V1__Ping *ping)
{
    if (!session_charge(s, &s->ping_bucket, "pings")) {
        return;
    }
    Sluice__V1__Pong pong;
    sluice__v1__pong__init(&pong);
    pong.payload = ping->payload;
    send_body(s, SLUICE__V1__FRAME__BODY_PONG, &pong);
}

static void on_stats_request(struct session *s, const Sluice__V1__StatsRequest *request)
{
    if (!session_charge(s, &s->ping_bucket, "stats requests")) {
        return;
    }
    struct sluiced *d = s->d;
    Sluice__V1__Stats stats;
    sluice__v1__stats__init(&stats);
    stats.request_id = request->request_id;
    stats.sessions = sluiced_session_count(d);
    stats.channels = atomic_load(&d->channels);
    stats.bytes_in = atomic_load(&d->bytes_in);
    stats.bytes_out = atomic_load(&d->bytes_out);
    stats.listeners = atomic_load(&d->listeners);
    stats.uptime_s = (sl_clock_now_ns() - d->started_ns) / SL_NS_PER_SEC;
    struct relay_stats channels;
    if (relay_stats_fill(s, &stats, &channels) < 0) {
        SL_LOG_WARN(SL_LS_DAEMON, "session %llu: no memory for its channels' stats",
                    (unsigned long long)s->id); /* the totals still go out */
    }
    send_body(s, SLUICE__V1__FRAME__BODY_STATS, &stats);
    relay_stats_free(&channels);
}

/* Resolve ------------------------------------------------------------------------------------- */

struct resolve_request {
    struct session *s;
    struct sl_channel *channel; /* a reference: the session outlives the request */
    uint32_t request_id;
};

static enum sl_host_family host_family(Sluice__V1__Family family)
{
    switch (family) {
    case SLUICE__V1__FAMILY__FAMILY_IPV4:
        return SL_HOST_IPV4;
    case SLUICE__V1__FAMILY__FAMILY_IPV6:
        return SL_HOST_IPV6;
    case SLUICE__V1__FAMILY__FAMILY_ANY:
    case _SLUICE__V1__FAMILY_IS_INT_SIZE:
    default:
        return SL_HOST_ANY;
    }
}

static void send_resolved(struct session *s, uint32_t request_id, int status,
                          const struct sl_host_address *addresses, size_t count)
{
    Sluice__V1__ResolvedAddress items[32];
    Sluice__V1__ResolvedAddress *pointers[32];
    size_t n = count < 32 ? count : 32;
    for (size_t i = 0; i < n; i++) {
        sluice__v1__resolved_address__init(&items[i]);
        items[i].address = (char *)(uintptr_t)addresses[i].address;
        items[i].family = addresses[i].domain == SL_SOCKET_IPV6 ? SLUICE__V1__FAMILY__FAMILY_IPV6
                                                                : SLUICE__V1__FAMILY__FAMILY_IPV4;
        items[i].ttl_s = addresses[i].ttl_s;
        pointers[i] = &items[i];
    }
    Sluice__V1__Status st;
    session_status_init(&st, sluiced_error_code(status),
                        status == SL_E_ADDRESS_DENIED
                            ? "the policy does not let this session resolve"
                        : status ? sl_strerror(status)
                                 : "");
    Sluice__V1__Resolved resolved;
    sluice__v1__resolved__init(&resolved);
    resolved.request_id = request_id;
    resolved.status = &st;
    resolved.n_addresses = n;
    resolved.addresses = pointers;
    send_body(s, SLUICE__V1__FRAME__BODY_RESOLVED, &resolved);
}

static void on_resolved(struct sl_host_resolver *resolver, int status,
                        const struct sl_host_address *addresses, size_t count, void *user_data)
{
    (void)resolver;
    struct resolve_request *r = user_data;
    /* SL_E_CANCELED: the loop is being destroyed and this may be another thread. */
    if (status != SL_E_CANCELED && r->s->state == SESSION_OPEN) {
        send_resolved(r->s, r->request_id, status, addresses, count);
    }
    sl_channel_release(r->channel);
    sl_free(r);
}

static void on_resolve(struct session *s, const Sluice__V1__Resolve *request)
{
    if (!session_charge(s, &s->ping_bucket, "resolve requests")) {
        return;
    }
    struct sluiced_config *cfg = sluiced_config_get(s->d);
    struct grant g;
    bool allowed = policy_grant(cfg, &s->who, &g) && policy_may_resolve(&g);
    config_release(cfg);
    if (!allowed) {
        send_resolved(s, request->request_id, SL_E_ADDRESS_DENIED, NULL, 0);
        return;
    }
    struct resolve_request *r = sl_calloc(1, sizeof(*r));
    if (!r) {
        send_resolved(s, request->request_id, SL_E_NOMEM, NULL, 0);
        return;
    }
    *r = (struct resolve_request){.s = s, .channel = s->channel, .request_id = request->request_id};
    sl_channel_acquire(s->channel);
    int rc = sl_host_resolver_resolve(s->d->resolver, request->host ? request->host : "",
                                      host_family(request->family), sl_channel_loop(s->channel),
                                      on_resolved, r);
    if (rc < 0) {
        send_resolved(s, request->request_id, rc, NULL, 0);
        sl_channel_release(s->channel);
        sl_free(r);
    }
}

/* Dispatch ------------------------------------------------------------------------------------- */

void session_dispatch_open(struct session *s, const sl_frame_t *f)
{
    switch (f->body_case) {
    case SLUICE__V1__FRAME__BODY_PING:
        on_ping(s, f->ping);
        return;
    case SLUICE__V1__FRAME__BODY_RESOLVE:
        on_resolve(s, f->resolve);
        return;
    case SLUICE__V1__FRAME__BODY_STATS_REQUEST:
        on_stats_request(s, f->stats_request);
        return;
    case SLUICE__V1__FRAME__BODY_OPEN:
        relay_open(s, f->open);
        return;
    case SLUICE__V1__FRAME__BODY_LISTEN:
        listeners_listen(s, f->listen);
        return;
    case SLUICE__V1__FRAME__BODY_UNLISTEN:
        listeners_unlisten(s, f->unlisten->listener_id);
        return;
    case SLUICE__V1__FRAME__BODY_DATA: /* in an unusual encoding: the fast path passed */
        if (f->data->payload.len == 0 &&
            !session_charge(s, &s->empty_bucket, "empty Data frames")) {
            return;
        }
        relay_data(s, f->data->channel_id, f->data->payload.data, f->data->payload.len);
        return;
    case SLUICE__V1__FRAME__BODY_WINDOW:
        relay_window(s, f->window->channel_id, f->window->increment);
        return;
    case SLUICE__V1__FRAME__BODY_SHUTDOWN:
        relay_shutdown(s, f->shutdown->channel_id);
        return;
    case SLUICE__V1__FRAME__BODY_CLOSE:
        relay_close(s, f->close->channel_id,
                    f->close->status ? f->close->status->code : SLUICE__V1__ERROR_CODE__ERROR_NONE);
        return;
    case SLUICE__V1__FRAME__BODY_HELLO:
        session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_OUT_OF_ORDER, "a second Hello");
        return;
    case SLUICE__V1__FRAME__BODY__NOT_SET:
    case SLUICE__V1__FRAME__BODY_SERVER_HELLO:
    case SLUICE__V1__FRAME__BODY_WELCOME:
    case SLUICE__V1__FRAME__BODY_OPENED:
    case SLUICE__V1__FRAME__BODY_OPEN_FAILED:
    case SLUICE__V1__FRAME__BODY_LISTENING:
    case SLUICE__V1__FRAME__BODY_LISTEN_FAILED:
    case SLUICE__V1__FRAME__BODY_ACCEPTED:
    case SLUICE__V1__FRAME__BODY_LISTENER_CLOSED:
    case SLUICE__V1__FRAME__BODY_RESOLVED:
    case SLUICE__V1__FRAME__BODY_PONG:
    case SLUICE__V1__FRAME__BODY_STATS:
    case SLUICE__V1__FRAME__BODY_GO_AWAY:
    case SLUICE__V1__FRAME__BODY_ERROR:
    case _SLUICE__V1__FRAME__BODY__CASE_IS_INT_SIZE:
    default:
        session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_OUT_OF_ORDER,
                      "that frame is the daemon's to send");
        return;
    }
}
