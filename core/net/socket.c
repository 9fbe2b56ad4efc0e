/* SPDX-License-Identifier: Apache-2.0 */

/* AF_VSOCK and the TCP keep-alive options are Linux definitions behind _GNU_SOURCE. */
#define _GNU_SOURCE

#include "socket_internal.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

static ssize_t send_nosignal(int fd, const struct iovec *iov, int count)
{
    /* MSG_NOSIGNAL: a peer that went away is an EPIPE for this socket, not a SIGPIPE for all. */
    struct msghdr msg = {.msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = (size_t)count};
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

static bool is_tcp(const struct sl_socket_options *o)
{
    return o->type == SL_SOCKET_STREAM &&
           (o->domain == SL_SOCKET_IPV4 || o->domain == SL_SOCKET_IPV6);
}

static int set_int_option(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value)) == 0 ? 0 : -errno;
}

/*
 * A fresh socket (new, or accepted from a listener that had these same options applied)
 * already has no-delay and keep-alive off, so only "on" needs a system call: two fewer per
 * connection on each side, which bench_connect notices.
 */
static int apply_tcp_options(int fd, const struct sl_socket_options *o, bool fresh)
{
    if (o->no_delay || !fresh) {
        SL_TRY(set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, o->no_delay ? 1 : 0));
    }
    if (o->keep_alive || !fresh) {
        SL_TRY(set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, o->keep_alive ? 1 : 0));
    }
    if (!o->keep_alive) {
        return 0;
    }
    if (o->keep_alive_timeout_s) {
        SL_TRY(set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, o->keep_alive_timeout_s));
    }
    if (o->keep_alive_interval_s) {
        SL_TRY(set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, o->keep_alive_interval_s));
    }
    if (o->keep_alive_max_probes) {
        SL_TRY(set_int_option(fd, IPPROTO_TCP, TCP_KEEPCNT, o->keep_alive_max_probes));
    }
    return 0;
}

static struct sl_socket *wrap_fd(const struct sl_socket_options *opts, int fd,
                                 enum sl__socket_state state)
{
    struct sl_socket *socket = sl_calloc(1, sizeof(*socket));
    if (!socket) {
        return NULL;
    }
    socket->options = *opts;
    socket->fd = fd;
    socket->state = state;
    sl__wq_init(&socket->wq, opts->type == SL_SOCKET_DGRAM, send_nosignal);
    return socket;
}

static int open_fd(const struct sl_socket_options *opts)
{
    int family = sl__domain_family(opts->domain);
    int type = opts->type == SL_SOCKET_STREAM ? SOCK_STREAM : SOCK_DGRAM;
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        return err == EAFNOSUPPORT || err == EPROTONOSUPPORT ? SL_E_UNSUPPORTED : -err;
    }
    if (opts->domain == SL_SOCKET_IPV6) {
        int rc = set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, opts->dual_stack ? 0 : 1);
        if (rc < 0) {
            close(fd);
            return rc;
        }
    }
    return fd;
}

int sl_socket_new(const struct sl_socket_options *opts, struct sl_socket **out)
{
    SL_ENSURE_ARG(opts && out && sl__domain_family(opts->domain) >= 0);
    SL_ENSURE_ARG(opts->type == SL_SOCKET_STREAM || opts->type == SL_SOCKET_DGRAM);
    int fd = open_fd(opts);
    if (fd < 0) {
        return fd;
    }
    int rc = is_tcp(opts) ? apply_tcp_options(fd, opts, true) : 0;
    struct sl_socket *socket = rc == 0 ? wrap_fd(opts, fd, SL__SOCKET_INIT) : NULL;
    if (!socket) {
        close(fd);
        return rc < 0 ? rc : SL_E_NOMEM;
    }
    *out = socket;
    return 0;
}

int sl_socket_adopt_listening(int fd, const struct sl_socket_options *opts, struct sl_socket **out)
{
    SL_ENSURE_ARG(fd >= 0 && opts && out && opts->type == SL_SOCKET_STREAM);
    int listening = 0;
    socklen_t len = sizeof(listening);
    SL_ENSURE(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0, -errno);
    SL_ENSURE(listening, SL_E_INVAL);
    int flags = fcntl(fd, F_GETFL);
    SL_ENSURE(flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0, -errno);
    SL_ENSURE(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0, -errno);
    struct sl_socket *socket = wrap_fd(opts, fd, SL__SOCKET_LISTENING);
    SL_ENSURE(socket, SL_E_NOMEM);
    *out = socket;
    return 0;
}

int sl_socket_set_options(struct sl_socket *socket, const struct sl_socket_options *opts)
{
    SL_ENSURE_ARG(opts->type == socket->options.type && opts->domain == socket->options.domain);
    SL_ENSURE(socket->fd >= 0, SL_E_CLOSED);
    if (is_tcp(opts)) {
        SL_TRY(apply_tcp_options(socket->fd, opts, false));
    }
    socket->options = *opts;
    return 0;
}

/* Callback guard and delivery -------------------------------------------------------------- */

void sl__socket_enter(struct sl_socket *socket)
{
    socket->busy++;
}

/*
 * Runs every undelivered callback: the connect result first, then finished writes in order.
 * All of them, even when one of them destroys the socket: each was promised exactly once.
 */
static void deliver_all(struct sl_socket *socket)
{
    if (socket->connect_report_pending) {
        socket->connect_report_pending = false;
        socket->on_connect(socket, socket->connect_status, socket->connect_user_data);
    }
    if (socket->readable_report_pending) {
        socket->readable_report_pending = false;
        if (socket->on_readable && socket->state == SL__SOCKET_CONNECTED) {
            socket->on_readable(socket, 0, socket->readable_user_data);
        }
    }
    struct sl_write_req *req;
    while ((req = sl__wq_pop_done(&socket->wq)) != NULL) {
        req->on_done(req, req->status, req->user_data);
    }
}

static void cancel_task(struct sl_socket *socket, struct sl_task *task, bool *scheduled);

/* The last step of destroy, once no callback of ours is on the stack. */
static void finish_destroy(struct sl_socket *socket)
{
    if (socket->loop) {
        cancel_task(socket, &socket->deliver_task, &socket->deliver_scheduled);
    }
    socket->busy++; /* a callback below that destroys again only marks */
    deliver_all(socket);
    sl_free(socket);
}

bool sl__socket_leave(struct sl_socket *socket)
{
    if (--socket->busy == 0 && socket->destroy_requested) {
        finish_destroy(socket);
        return true;
    }
    return false;
}

static void deliver_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status; /* cancelled by a dying loop, the callbacks are still owed */
    struct sl_socket *socket = arg;
    if (!socket->deliver_scheduled) {
        return; /* sl_socket_destroy delivered them already */
    }
    socket->deliver_scheduled = false;
    sl__socket_enter(socket);
    deliver_all(socket);
    (void)sl__socket_leave(socket);
}

void sl__socket_schedule_delivery(struct sl_socket *socket)
{
    if (socket->deliver_scheduled || !socket->loop) {
        return;
    }
    socket->deliver_scheduled = true;
    sl_task_init(&socket->deliver_task, deliver_task_fn, socket, "socket_deliver");
    sl_loop_schedule_now(socket->loop, &socket->deliver_task);
}

/* Closing and destroying ------------------------------------------------------------------- */

static void cancel_task(struct sl_socket *socket, struct sl_task *task, bool *scheduled)
{
    if (*scheduled) {
        *scheduled = false;
        sl_loop_cancel(socket->loop, task);
    }
}

int sl_socket_close(struct sl_socket *socket)
{
    if (socket->state == SL__SOCKET_CLOSED) {
        return 0;
    }
    SL_ENSURE(!socket->loop || sl_loop_is_on_callers_thread(socket->loop), SL_E_WRONG_THREAD);
    if (socket->loop) {
        cancel_task(socket, &socket->timeout_task, &socket->timeout_scheduled);
        cancel_task(socket, &socket->accept_task, &socket->accept_task_scheduled);
    }
    socket->accepting = false;
    if (socket->sub) {
        sl_loop_unsubscribe(socket->loop, socket->sub);
        socket->sub = NULL;
    }
    if (socket->fd >= 0) {
        close(socket->fd);
        socket->fd = -1;
    }
    if (socket->state == SL__SOCKET_CONNECTING || socket->connect_report_pending) {
        /* Closed before the caller heard the outcome: to the caller it never connected. */
        socket->connect_status = SL_E_CANCELED;
        socket->connect_report_pending = true;
    }
    socket->state = SL__SOCKET_CLOSED;
    sl__wq_fail_all(&socket->wq, SL_E_CLOSED);
    if (socket->connect_report_pending || sl__wq_has_done(&socket->wq)) {
        sl__socket_schedule_delivery(socket);
    }
    return 0;
}

void sl_socket_destroy(struct sl_socket *socket)
{
    if (!socket || socket->destroy_requested) {
        return;
    }
    int rc = sl_socket_close(socket);
    SL_ASSERT(rc == 0); /* destroying off the loop thread is a caller bug */
    (void)rc;
    socket->destroy_requested = true;
    if (socket->busy > 0) {
        return; /* inside one of our callbacks: finished when the outermost returns */
    }
    finish_destroy(socket);
}

/* Connecting ------------------------------------------------------------------------------ */

int sl__socket_watch(struct sl_socket *socket, struct sl_loop *loop)
{
    socket->loop = loop;
    return sl_loop_subscribe(loop, socket->fd, SL_IO_READABLE | SL_IO_WRITABLE, sl__socket_on_io,
                             socket, &socket->sub);
}

static void report_connect(struct sl_socket *socket, int status)
{
    socket->state = status == 0 ? SL__SOCKET_CONNECTED : SL__SOCKET_FAILED;
    socket->connect_status = status;
    socket->connect_report_pending = true;
    sl__socket_schedule_delivery(socket);
}

static void connect_timeout_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl_socket *socket = arg;
    if (!socket->timeout_scheduled || status == SL_TASK_CANCELED) {
        return;
    }
    socket->timeout_scheduled = false;
    if (socket->state != SL__SOCKET_CONNECTING) {
        return;
    }
    SL_LOG_DEBUG(SL_LS_SOCKET, "socket fd %d: connect timed out", socket->fd);
    sl_loop_unsubscribe(socket->loop, socket->sub);
    socket->sub = NULL;
    report_connect(socket, -ETIMEDOUT);
}

static void start_connect_timer(struct sl_socket *socket)
{
    uint32_t ms = socket->options.connect_timeout_ms ? socket->options.connect_timeout_ms
                                                     : SL_SOCKET_DEFAULT_CONNECT_TIMEOUT_MS;
    socket->timeout_scheduled = true;
    sl_task_init(&socket->timeout_task, connect_timeout_fn, socket, "socket_connect_timeout");
    sl_loop_schedule_at(socket->loop, &socket->timeout_task,
                        sl_loop_now_ns(socket->loop) + (uint64_t)ms * SL_NS_PER_MS);
}

int sl_socket_connect(struct sl_socket *socket, const struct sl_socket_endpoint *remote,
                      struct sl_loop *loop, sl_socket_connect_fn *on_connect, void *user_data)
{
    SL_ENSURE_ARG(remote && loop && on_connect);
    SL_ENSURE(sl_loop_is_on_callers_thread(loop), SL_E_WRONG_THREAD);
    SL_ENSURE(!socket->loop && socket->fd >= 0, SL_E_STATE);
    SL_ENSURE(socket->state == SL__SOCKET_INIT || socket->state == SL__SOCKET_BOUND, SL_E_STATE);
    struct sockaddr_storage ss;
    uint32_t len;
    SL_TRY(sl_socket_endpoint_parse(socket->options.domain, remote, &ss, &len));
    socket->on_connect = on_connect;
    socket->connect_user_data = user_data;
    int rc = connect(socket->fd, (struct sockaddr *)&ss, len) == 0 ? 0 : -errno;
    socket->loop = loop; /* reports need the loop even when the connect failed */
    if (rc == 0 || rc == -EINPROGRESS) {
        int watch_rc = sl__socket_watch(socket, loop);
        rc = watch_rc < 0 ? watch_rc : rc;
    }
    if (rc == -EINPROGRESS) {
        socket->state = SL__SOCKET_CONNECTING;
        start_connect_timer(socket);
        return 0;
    }
    report_connect(socket, rc);
    return 0;
}

void sl__socket_finish_connect(struct sl_socket *socket)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(socket->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    cancel_task(socket, &socket->timeout_task, &socket->timeout_scheduled);
    if (err) {
        sl_loop_unsubscribe(socket->loop, socket->sub);
        socket->sub = NULL;
    }
    report_connect(socket, err ? -err : 0);
}

/* Binding, listening, accepting ------------------------------------------------------------ */

int sl_socket_bind(struct sl_socket *socket, const struct sl_socket_endpoint *local)
{
    SL_ENSURE_ARG(local);
    SL_ENSURE(socket->state == SL__SOCKET_INIT && !socket->loop, SL_E_STATE);
    struct sockaddr_storage ss;
    uint32_t len;
    SL_TRY(sl_socket_endpoint_parse(socket->options.domain, local, &ss, &len));
    if (is_tcp(&socket->options)) {
        /* Rebinding a port with connections in TIME_WAIT is normal for servers. */
        SL_TRY(set_int_option(socket->fd, SOL_SOCKET, SO_REUSEADDR, 1));
    }
    SL_ENSURE(bind(socket->fd, (struct sockaddr *)&ss, len) == 0, -errno);
    socket->state = SL__SOCKET_BOUND;
    return 0;
}

int sl_socket_listen(struct sl_socket *socket, int backlog)
{
    SL_ENSURE(socket->options.type == SL_SOCKET_STREAM && socket->state == SL__SOCKET_BOUND,
              SL_E_STATE);
    SL_ENSURE(listen(socket->fd, backlog) == 0, -errno);
    socket->state = SL__SOCKET_LISTENING;
    return 0;
}

int sl_socket_start_accept(struct sl_socket *socket, struct sl_loop *loop,
                           sl_socket_accept_fn *on_accept, void *user_data)
{
    SL_ENSURE_ARG(loop && on_accept);
    SL_ENSURE(sl_loop_is_on_callers_thread(loop), SL_E_WRONG_THREAD);
    SL_ENSURE(socket->state == SL__SOCKET_LISTENING && !socket->accepting, SL_E_STATE);
    SL_ENSURE(!socket->loop || socket->loop == loop, SL_E_STATE);
    socket->on_accept = on_accept;
    socket->accept_user_data = user_data;
    socket->loop = loop;
    SL_TRY(sl_loop_subscribe(loop, socket->fd, SL_IO_READABLE, sl__socket_on_io, socket,
                             &socket->sub));
    socket->accepting = true;
    return 0;
}

int sl_socket_stop_accept(struct sl_socket *socket)
{
    SL_ENSURE(socket->accepting, SL_E_STATE);
    SL_ENSURE(sl_loop_is_on_callers_thread(socket->loop), SL_E_WRONG_THREAD);
    socket->accepting = false;
    cancel_task(socket, &socket->accept_task, &socket->accept_task_scheduled);
    sl_loop_unsubscribe(socket->loop, socket->sub);
    socket->sub = NULL;
    return 0;
}

static void accept_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl_socket *socket = arg;
    if (!socket->accept_task_scheduled || status == SL_TASK_CANCELED) {
        return;
    }
    socket->accept_task_scheduled = false;
    sl__socket_enter(socket);
    sl__socket_accept_batch(socket);
    (void)sl__socket_leave(socket);
}

void sl__socket_schedule_accept(struct sl_socket *socket, uint64_t delay_ns)
{
    if (socket->accept_task_scheduled) {
        return;
    }
    socket->accept_task_scheduled = true;
    sl_task_init(&socket->accept_task, accept_task_fn, socket, "socket_accept");
    if (delay_ns == 0) {
        sl_loop_schedule_now(socket->loop, &socket->accept_task);
    } else {
        sl_loop_schedule_at(socket->loop, &socket->accept_task,
                            sl_loop_now_ns(socket->loop) + delay_ns);
    }
}

int sl__socket_new_incoming(const struct sl_socket *listener, int fd, struct sl_socket **out)
{
    int rc = is_tcp(&listener->options) ? apply_tcp_options(fd, &listener->options, true) : 0;
    struct sl_socket *incoming =
        rc == 0 ? wrap_fd(&listener->options, fd, SL__SOCKET_CONNECTED) : NULL;
    if (!incoming) {
        close(fd);
        return rc < 0 ? rc : SL_E_NOMEM;
    }
    *out = incoming;
    return 0;
}

int sl_socket_assign_to_loop(struct sl_socket *socket, struct sl_loop *loop)
{
    SL_ENSURE_ARG(loop);
    SL_ENSURE(sl_loop_is_on_callers_thread(loop), SL_E_WRONG_THREAD);
    SL_ENSURE(!socket->loop && socket->state == SL__SOCKET_CONNECTED, SL_E_STATE);
    int rc = sl__socket_watch(socket, loop);
    if (rc < 0) {
        socket->loop = NULL;
    }
    return rc;
}

/* Queries --------------------------------------------------------------------------------- */

static int get_address(const struct sl_socket *socket, bool peer, struct sl_socket_endpoint *out)
{
    SL_ENSURE(socket->fd >= 0, SL_E_CLOSED);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int rc = peer ? getpeername(socket->fd, (struct sockaddr *)&ss, &len)
                  : getsockname(socket->fd, (struct sockaddr *)&ss, &len);
    SL_ENSURE(rc == 0, -errno);
    return sl__endpoint_from_sockaddr((struct sockaddr *)&ss, len, out);
}

int sl_socket_get_bound_address(const struct sl_socket *socket, struct sl_socket_endpoint *out)
{
    return get_address(socket, false, out);
}

int sl_socket_get_remote_address(const struct sl_socket *socket, struct sl_socket_endpoint *out)
{
    return get_address(socket, true, out);
}

const struct sl_socket_options *sl_socket_get_options(const struct sl_socket *socket)
{
    return &socket->options;
}

int sl_socket_fd(const struct sl_socket *socket)
{
    return socket->fd;
}

bool sl_socket_is_open(const struct sl_socket *socket)
{
    return socket->fd >= 0;
}

struct sl_loop *sl_socket_loop(const struct sl_socket *socket)
{
    return socket->loop;
}

size_t sl_socket_queued_bytes(const struct sl_socket *socket)
{
    return socket->wq.queued_bytes;
}
