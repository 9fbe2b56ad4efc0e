/* SPDX-License-Identifier: Apache-2.0 */
#include "bootstrap_internal.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/ref.h>

#include "guard.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_ADDRESSES           32
#define DEFAULT_STAGGER_MS      250u /* RFC 8305 §5's recommended Connection Attempt Delay */
#define DEFAULT_CONNECT_TIMEOUT (10 * SL_NS_PER_SEC)

struct sl_client_bootstrap {
    struct sl_ref ref; /* the creator's, one per request, one per channel it made */
    struct sl_loop_group *group;
    struct sl_host_resolver *resolver;
};

struct connect_request;

/* One socket racing for the request. Attempts never move, so callbacks may point at them. */
struct attempt {
    struct connect_request *req;
    struct sl_socket *socket; /* NULL once the request let go of it */
    struct sl_host_address address;
};

/*
 * One new_socket_channel call, from the call until its setup callback and every socket it
 * opened have been dealt with. `pending` counts what can still call back into it: the
 * resolver's answer and each socket in flight.
 */
struct connect_request {
    struct sl_client_bootstrap *bootstrap;
    struct sl_socket_channel_options opts;
    char *host;
    struct sl__tls_copy *tls; /* NULL: plain */
    struct sl_loop *loop;
    struct sl_task start_task;
    struct sl_task stagger_task;
    bool stagger_scheduled;
    struct sl_task deadline_task;
    bool deadline_scheduled;
    uint64_t deadline_ns;
    struct sl_socket_endpoint endpoints[MAX_ADDRESSES];
    struct sl_host_address addresses[MAX_ADDRESSES];
    struct attempt attempts[MAX_ADDRESSES];
    size_t count;
    size_t next;
    size_t in_flight;
    int pending;
    int last_error;
    bool finished; /* on_setup has been called or handed to the channel */
};

/* Lifecycle of a request ---------------------------------------------------------------------- */

static void free_request_if_done(struct connect_request *req)
{
    if (!req->finished || req->pending > 0) {
        return;
    }
    struct sl_client_bootstrap *bootstrap = req->bootstrap;
    sl__tls_copy_free(req->tls);
    sl_free(req->host);
    sl_free(req);
    sl_client_bootstrap_release(bootstrap); /* the request's reference */
}

static void cancel_timer(struct connect_request *req, struct sl_task *task, bool *scheduled)
{
    if (*scheduled) {
        *scheduled = false;
        sl_loop_cancel(req->loop, task);
    }
}

/* Lets go of every socket still racing (their late reports are ignored). */
static void drop_attempts(struct connect_request *req)
{
    for (size_t i = 0; i < req->next; i++) {
        struct sl_socket *socket = req->attempts[i].socket;
        if (socket) {
            req->attempts[i].socket = NULL;
            req->in_flight--;
            req->pending--;
            sl_socket_destroy(socket);
        }
    }
}

/* The request failed: report once, stop everything. */
static void fail(struct connect_request *req, int status)
{
    if (req->finished) {
        return;
    }
    req->finished = true;
    cancel_timer(req, &req->stagger_task, &req->stagger_scheduled);
    cancel_timer(req, &req->deadline_task, &req->deadline_scheduled);
    drop_attempts(req);
    SL_LOG_DEBUG(SL_LS_BOOTSTRAP, "connect to %s:%u failed: %s", req->host, req->opts.port,
                 sl_strerror(status));
    req->opts.on_setup(NULL, status, req->opts.user_data);
    free_request_if_done(req);
}

/* Winning ------------------------------------------------------------------------------------ */

static void on_channel_ready(struct sl__channel_binding *binding, struct sl_channel *channel,
                             int status)
{
    struct connect_request *req = binding->ready_context;
    req->opts.on_setup(channel, status, req->opts.user_data);
    req->pending--; /* the channel setup it was waiting for */
    free_request_if_done(req);
}

static void release_bootstrap(void *owner)
{
    sl_client_bootstrap_release(owner);
}

static void win(struct connect_request *req, struct attempt *winner)
{
    struct sl_socket *socket = winner->socket;
    winner->socket = NULL;
    req->in_flight--;
    req->finished = true; /* from here on_setup belongs to the channel's setup */
    cancel_timer(req, &req->stagger_task, &req->stagger_scheduled);
    cancel_timer(req, &req->deadline_task, &req->deadline_scheduled);
    drop_attempts(req);
    struct sl__channel_binding *b = sl_calloc(1, sizeof(*b));
    if (!b) {
        sl_socket_destroy(socket);
        req->pending--; /* the winner's: no channel setup will follow */
        req->finished = false;
        fail(req, SL_E_NOMEM);
        return;
    }
    *b = (struct sl__channel_binding){.socket = socket,
                                      .handler_options = req->opts.handler_options,
                                      .tls = req->tls ? &req->tls->opts : NULL,
                                      .on_ready = on_channel_ready,
                                      .ready_context = req,
                                      .on_shutdown = req->opts.on_shutdown,
                                      .user_data = req->opts.user_data,
                                      .release_owner = release_bootstrap,
                                      .owner = req->bootstrap};
    sl_client_bootstrap_acquire(req->bootstrap); /* the channel's reference */
    sl__bootstrap_start_channel(req->loop, b);   /* pending stays up until on_channel_ready */
}

/* Racing the addresses ------------------------------------------------------------------------ */

static void connect_next(struct connect_request *req);

static void on_attempt_connect(struct sl_socket *socket, int status, void *user_data)
{
    struct attempt *attempt = user_data;
    struct connect_request *req = attempt->req;
    if (attempt->socket != socket) {
        return; /* we let go of it already */
    }
    if (status == 0) {
        win(req, attempt);
        return;
    }
    attempt->socket = NULL;
    req->in_flight--;
    req->pending--;
    req->last_error = status;
    if (attempt->address.address[0]) {
        sl_host_resolver_record_connection_failure(req->bootstrap->resolver, &attempt->address);
    }
    sl_socket_destroy(socket); /* inside its own callback: freed once it returns */
    /* RFC 8305 §5: a failure starts the next attempt at once instead of after the delay. */
    cancel_timer(req, &req->stagger_task, &req->stagger_scheduled);
    connect_next(req);
}

static void stagger_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct connect_request *req = arg;
    if (!req->stagger_scheduled || status == SL_TASK_CANCELED) {
        return;
    }
    req->stagger_scheduled = false;
    connect_next(req);
}

/* Opens the next address's socket; returns 0 once one is connecting. */
static int start_attempt(struct connect_request *req, size_t i)
{
    struct sl_socket_options so = req->opts.socket_options;
    const struct sl_socket_endpoint *ep = &req->endpoints[i];
    if (req->addresses[i].address[0]) {
        so.domain = req->addresses[i].domain;
    }
    uint64_t now = sl_loop_now_ns(req->loop);
    uint64_t left_ms = req->deadline_ns > now ? (req->deadline_ns - now) / SL_NS_PER_MS : 1;
    so.connect_timeout_ms = left_ms ? (uint32_t)left_ms : 1;
    struct attempt *attempt = &req->attempts[i];
    attempt->req = req;
    attempt->address = req->addresses[i];
    SL_TRY(sl_socket_new(&so, &attempt->socket));
    int rc = sl_socket_connect(attempt->socket, ep, req->loop, on_attempt_connect, attempt);
    if (rc < 0) {
        sl_socket_destroy(attempt->socket);
        attempt->socket = NULL;
        return rc;
    }
    req->in_flight++;
    req->pending++;
    return 0;
}

static void connect_next(struct connect_request *req)
{
    while (!req->finished && req->next < req->count) {
        int rc = start_attempt(req, req->next++);
        if (rc < 0) {
            req->last_error = rc;
            continue;
        }
        if (req->next < req->count) {
            uint32_t ms = req->opts.happy_eyeballs_delay_ms ? req->opts.happy_eyeballs_delay_ms
                                                            : DEFAULT_STAGGER_MS;
            req->stagger_scheduled = true;
            sl_task_init(&req->stagger_task, stagger_fn, req, "bootstrap_next_attempt");
            sl_loop_schedule_at(req->loop, &req->stagger_task,
                                sl_loop_now_ns(req->loop) + (uint64_t)ms * SL_NS_PER_MS);
        }
        return;
    }
    if (!req->finished && req->in_flight == 0) {
        fail(req, req->last_error ? req->last_error : SL_E_HOST_NOT_FOUND);
    }
}

/* Starting ----------------------------------------------------------------------------------- */

static void deadline_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct connect_request *req = arg;
    if (!req->deadline_scheduled) {
        return;
    }
    req->deadline_scheduled = false;
    fail(req, status == SL_TASK_CANCELED ? SL_E_CANCELED : -ETIMEDOUT);
}

static void on_resolved(struct sl_host_resolver *resolver, int status,
                        const struct sl_host_address *addresses, size_t count, void *user_data)
{
    (void)resolver;
    struct connect_request *req = user_data;
    req->pending--;
    if (req->finished) {
        free_request_if_done(req); /* timed out or cancelled while resolving */
        return;
    }
    if (status < 0) {
        fail(req, status);
        return;
    }
    req->count = 0;
    for (size_t i = 0; i < count && req->count < MAX_ADDRESSES; i++) {
        if (req->opts.address_allowed &&
            !req->opts.address_allowed(&addresses[i], req->opts.port, req->opts.user_data)) {
            continue;
        }
        size_t k = req->count++;
        req->addresses[k] = addresses[i];
        memset(&req->endpoints[k], 0, sizeof(req->endpoints[k]));
        memcpy(req->endpoints[k].address, addresses[i].address, sizeof(addresses[i].address));
        req->endpoints[k].port = req->opts.port;
    }
    if (req->count == 0 && count > 0) {
        fail(req, SL_E_ADDRESS_DENIED);
        return;
    }
    connect_next(req);
}

static void start_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct connect_request *req = arg;
    req->pending--; /* the start task itself */
    if (status == SL_TASK_CANCELED) {
        fail(req, SL_E_CANCELED);
        return;
    }
    uint64_t timeout = req->opts.socket_options.connect_timeout_ms
                           ? (uint64_t)req->opts.socket_options.connect_timeout_ms * SL_NS_PER_MS
                           : DEFAULT_CONNECT_TIMEOUT;
    req->deadline_ns = sl_loop_now_ns(req->loop) + timeout;
    req->deadline_scheduled = true;
    sl_task_init(&req->deadline_task, deadline_fn, req, "bootstrap_connect_deadline");
    sl_loop_schedule_at(req->loop, &req->deadline_task, req->deadline_ns);
    enum sl_socket_domain domain = req->opts.socket_options.domain;
    if (domain == SL_SOCKET_LOCAL || domain == SL_SOCKET_VSOCK) {
        req->count = 1; /* no name to resolve: the host is the address */
        snprintf(req->endpoints[0].address, sizeof(req->endpoints[0].address), "%s", req->host);
        req->endpoints[0].port = req->opts.port;
        connect_next(req);
        return;
    }
    req->pending++;
    int rc = sl_host_resolver_resolve(req->bootstrap->resolver, req->host, req->opts.family,
                                      req->loop, on_resolved, req);
    if (rc < 0) {
        req->pending--;
        fail(req, rc);
    }
}

int sl_client_bootstrap_new_socket_channel(struct sl_client_bootstrap *bootstrap,
                                           const struct sl_socket_channel_options *opts)
{
    SL_ENSURE_ARG(bootstrap && opts && opts->host && opts->on_setup && opts->port <= 65535);
    struct connect_request *req = sl_calloc(1, sizeof(*req));
    SL_ENSURE(req, SL_E_NOMEM);
    size_t len = strlen(opts->host);
    req->host = sl_alloc(len + 1);
    if (!req->host) {
        sl_free(req);
        return SL_E_NOMEM;
    }
    memcpy(req->host, opts->host, len + 1);
    char session_key[300];
    snprintf(session_key, sizeof(session_key), "%s:%u", opts->host, opts->port);
    int rc = sl__tls_copy_new(opts->tls_options, false, opts->host, session_key,
                              opts->handler_options.allow_half_close, &req->tls);
    if (rc < 0) {
        sl_free(req->host);
        sl_free(req);
        return rc;
    }
    req->bootstrap = bootstrap;
    req->opts = *opts;
    req->opts.host = req->host;
    req->opts.tls_options = NULL; /* the copy in req->tls is the one used */
    req->loop = opts->loop ? opts->loop : sl_loop_group_get_next(bootstrap->group);
    req->pending = 1;                       /* the start task */
    sl_client_bootstrap_acquire(bootstrap); /* the request's reference */
    sl_task_init(&req->start_task, start_fn, req, "bootstrap_connect");
    sl_loop_schedule_now(req->loop, &req->start_task);
    return 0;
}

/* The bootstrap ------------------------------------------------------------------------------- */

int sl_client_bootstrap_new(const struct sl_client_bootstrap_options *opts,
                            struct sl_client_bootstrap **out)
{
    SL_ENSURE_ARG(opts && opts->group && opts->resolver && out);
    struct sl_client_bootstrap *b = sl_calloc(1, sizeof(*b));
    SL_ENSURE(b, SL_E_NOMEM);
    b->group = opts->group;
    b->resolver = opts->resolver;
    sl_loop_group_acquire(b->group);
    sl_host_resolver_acquire(b->resolver);
    sl_ref_init(&b->ref, 1);
    *out = b;
    return 0;
}

void sl_client_bootstrap_acquire(struct sl_client_bootstrap *bootstrap)
{
    sl_ref_acquire(&bootstrap->ref);
}

void sl_client_bootstrap_release(struct sl_client_bootstrap *bootstrap)
{
    if (!sl_ref_release(&bootstrap->ref)) {
        return;
    }
    sl_host_resolver_release(bootstrap->resolver);
    sl_loop_group_release(bootstrap->group);
    sl_free(bootstrap);
}
