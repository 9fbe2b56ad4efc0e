/* SPDX-License-Identifier: Apache-2.0 */
#include "bootstrap_internal.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/ref.h>

#include "guard.h"

#include <unistd.h>

#define DEFAULT_BACKLOG 1024

struct sl_server_bootstrap {
    struct sl_ref ref; /* the creator's, one per listener, one per channel it made */
    struct sl_loop_group *group;
};

struct sl_listener {
    /*
     * The creator's (until sl_listener_destroy), the start and stop tasks', and one per
     * connection on its way to a channel. The last one runs on_destroy.
     */
    struct sl_ref ref;
    struct sl_server_bootstrap *bootstrap;
    struct sl_listener_options opts;
    struct sl__tls_copy *tls; /* NULL: plain */
    struct sl_socket *socket;
    struct sl_socket_endpoint bound;
    struct sl_loop *loop; /* where accepting happens */
    bool started;         /* the start task ran (loop thread) */
    bool paused;          /* sl_listener_set_paused (loop thread) */
    struct sl_task start_task;
    struct sl_task stop_task;
};

/* An accepted connection travelling to the loop that will own its channel. */
struct incoming {
    struct sl_listener *listener;
    struct sl_socket *socket;
    struct sl_loop *loop;
    struct sl_task task;
};

static void release_listener(struct sl_listener *listener)
{
    if (!sl_ref_release(&listener->ref)) {
        return;
    }
    if (listener->opts.on_destroy) {
        listener->opts.on_destroy(listener, listener->opts.user_data);
    }
    struct sl_server_bootstrap *bootstrap = listener->bootstrap;
    sl__tls_copy_free(listener->tls);
    sl_free(listener);
    sl_server_bootstrap_release(bootstrap); /* the listener's reference */
}

/* Handing connections to channels -------------------------------------------------------------- */

static void on_channel_ready(struct sl__channel_binding *binding, struct sl_channel *channel,
                             int status)
{
    struct incoming *in = binding->ready_context;
    struct sl_listener *listener = in->listener;
    listener->opts.on_incoming(listener, status, channel, listener->opts.user_data);
    sl_free(in);
    release_listener(listener); /* the connection's reference */
}

static void release_bootstrap(void *owner)
{
    sl_server_bootstrap_release(owner);
}

static void incoming_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct incoming *in = arg;
    struct sl_listener *listener = in->listener;
    int rc =
        status == SL_TASK_CANCELED ? SL_E_CANCELED : sl_socket_assign_to_loop(in->socket, in->loop);
    struct sl__channel_binding *b = rc == 0 ? sl_calloc(1, sizeof(*b)) : NULL;
    if (!b) {
        sl_socket_destroy(in->socket);
        listener->opts.on_incoming(listener, rc ? rc : SL_E_NOMEM, NULL, listener->opts.user_data);
        sl_free(in);
        release_listener(listener);
        return;
    }
    *b = (struct sl__channel_binding){.socket = in->socket,
                                      .handler_options = listener->opts.handler_options,
                                      .tls = listener->tls ? &listener->tls->opts : NULL,
                                      .on_ready = on_channel_ready,
                                      .ready_context = in,
                                      .on_shutdown = listener->opts.on_shutdown,
                                      .user_data = listener->opts.user_data,
                                      .release_owner = release_bootstrap,
                                      .owner = listener->bootstrap};
    sl_server_bootstrap_acquire(listener->bootstrap); /* the channel's reference */
    sl__bootstrap_start_channel(in->loop, b);
}

static void on_accept(struct sl_socket *socket, int status, struct sl_socket *incoming,
                      void *user_data)
{
    (void)socket;
    struct sl_listener *listener = user_data;
    struct incoming *in = status == 0 ? sl_calloc(1, sizeof(*in)) : NULL;
    if (!in) {
        sl_socket_destroy(incoming);
        listener->opts.on_incoming(listener, status ? status : SL_E_NOMEM, NULL,
                                   listener->opts.user_data);
        return;
    }
    in->listener = listener;
    in->socket = incoming;
    in->loop = listener->opts.loop ? listener->opts.loop
                                   : sl_loop_group_get_next(listener->bootstrap->group);
    sl_ref_acquire(&listener->ref); /* the connection's reference */
    sl_task_init(&in->task, incoming_task_fn, in, "listener_incoming");
    sl_loop_schedule_now(in->loop, &in->task);
}

/* The listener -------------------------------------------------------------------------------- */

static void start_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl_listener *listener = arg;
    listener->started = true;
    int rc = status == SL_TASK_CANCELED ? SL_E_CANCELED
             : listener->paused
                 ? 0
                 : sl_socket_start_accept(listener->socket, listener->loop, on_accept, listener);
    if (rc < 0) {
        SL_LOG_ERROR(SL_LS_BOOTSTRAP, "listener on port %u cannot accept: %s", listener->bound.port,
                     sl_strerror(rc));
        listener->opts.on_incoming(listener, rc, NULL, listener->opts.user_data);
    }
    release_listener(listener); /* the start task's reference */
}

static int open_socket(struct sl_listener *listener)
{
    const struct sl_listener_options *o = &listener->opts;
    if (o->adopt_fd > 0) {
        int rc = sl_socket_adopt_listening(o->adopt_fd, &o->socket_options, &listener->socket);
        if (rc < 0) {
            close(o->adopt_fd); /* ours either way, as documented */
            return rc;
        }
        return sl_socket_get_bound_address(listener->socket, &listener->bound);
    }
    SL_TRY(sl_socket_new(&o->socket_options, &listener->socket));
    SL_TRY(sl_socket_bind(listener->socket, &o->endpoint));
    SL_TRY(sl_socket_get_bound_address(listener->socket, &listener->bound));
    return sl_socket_listen(listener->socket, o->backlog > 0 ? o->backlog : DEFAULT_BACKLOG);
}

int sl_server_bootstrap_new_listener(struct sl_server_bootstrap *bootstrap,
                                     const struct sl_listener_options *opts,
                                     struct sl_listener **out)
{
    SL_ENSURE_ARG(bootstrap && opts && opts->on_incoming && out);
    SL_ENSURE_ARG(opts->socket_options.type == SL_SOCKET_STREAM);
    struct sl_listener *listener = sl_calloc(1, sizeof(*listener));
    SL_ENSURE(listener, SL_E_NOMEM);
    listener->opts = *opts;
    listener->opts.tls_options = NULL; /* the copy in listener->tls is the one used */
    int rc = sl__tls_copy_new(opts->tls_options, true, NULL, NULL,
                              opts->handler_options.allow_half_close, &listener->tls);
    if (rc == 0) {
        rc = open_socket(listener);
    }
    if (rc < 0) {
        sl__tls_copy_free(listener->tls);
        sl_socket_destroy(listener->socket);
        sl_free(listener);
        return rc;
    }
    listener->bootstrap = bootstrap;
    sl_server_bootstrap_acquire(bootstrap); /* the listener's reference */
    listener->loop = opts->loop ? opts->loop : sl_loop_group_get_next(bootstrap->group);
    sl_ref_init(&listener->ref, 2); /* the creator's and the start task's */
    sl_task_init(&listener->start_task, start_task_fn, listener, "listener_start");
    sl_loop_schedule_now(listener->loop, &listener->start_task);
    *out = listener;
    return 0;
}

int sl_listener_get_bound_address(const struct sl_listener *listener,
                                  struct sl_socket_endpoint *out)
{
    *out = listener->bound;
    return 0;
}

int sl_listener_set_paused(struct sl_listener *listener, bool paused)
{
    SL_ENSURE_ARG(listener && listener->opts.loop);
    SL_ENSURE(sl_loop_is_on_callers_thread(listener->loop), SL_E_WRONG_THREAD);
    if (listener->paused == paused) {
        return 0;
    }
    listener->paused = paused;
    if (!listener->started || !listener->socket) {
        return 0; /* the start task honours it; a stopping listener needs nothing */
    }
    /* Subscribing again reports a backlog that filled meanwhile: epoll signals readiness on add. */
    return paused ? sl_socket_stop_accept(listener->socket)
                  : sl_socket_start_accept(listener->socket, listener->loop, on_accept, listener);
}

static void stop_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status; /* cancelled (dying loop) or not, the socket goes */
    struct sl_listener *listener = arg;
    sl_socket_destroy(listener->socket); /* stops accepting first */
    listener->socket = NULL;
    release_listener(listener); /* the stop task's */
    release_listener(listener); /* and the creator's, given up by sl_listener_destroy */
}

void sl_listener_destroy(struct sl_listener *listener)
{
    sl_ref_acquire(&listener->ref); /* the stop task's reference */
    sl_task_init(&listener->stop_task, stop_task_fn, listener, "listener_stop");
    sl_loop_schedule_now(listener->loop, &listener->stop_task);
}

/* The bootstrap ------------------------------------------------------------------------------- */

int sl_server_bootstrap_new(const struct sl_server_bootstrap_options *opts,
                            struct sl_server_bootstrap **out)
{
    SL_ENSURE_ARG(opts && opts->group && out);
    struct sl_server_bootstrap *b = sl_calloc(1, sizeof(*b));
    SL_ENSURE(b, SL_E_NOMEM);
    b->group = opts->group;
    sl_loop_group_acquire(b->group);
    sl_ref_init(&b->ref, 1);
    *out = b;
    return 0;
}

void sl_server_bootstrap_acquire(struct sl_server_bootstrap *bootstrap)
{
    sl_ref_acquire(&bootstrap->ref);
}

void sl_server_bootstrap_release(struct sl_server_bootstrap *bootstrap)
{
    if (!sl_ref_release(&bootstrap->ref)) {
        return;
    }
    sl_loop_group_release(bootstrap->group);
    sl_free(bootstrap);
}
