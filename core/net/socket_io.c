/* SPDX-License-Identifier: Apache-2.0 */

/* accept4 is a Linux extension (atomic non-blocking and close-on-exec). */
#define _GNU_SOURCE

#include "socket_internal.h"

#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

#include <errno.h>
#include <unistd.h>

/*
 * Connections taken per accept round. Beyond it the listener yields to the loop's other work
 * and continues in the next tick, so a connection storm cannot starve established channels.
 */
#define ACCEPT_BATCH 32
/* After running out of descriptors, try again this much later (the connection waits). */
#define ACCEPT_RETRY_NS (100 * SL_NS_PER_MS)

void sl__socket_flush_writes(struct sl_socket *socket)
{
    int rc = sl__wq_flush(&socket->wq, socket->fd);
    if (rc < 0) {
        SL_LOG_DEBUG(SL_LS_SOCKET, "socket fd %d: write failed: %s", socket->fd, sl_strerror(rc));
        /* The send consumed the socket's error; keep it so the reader does not see a clean EOF. */
        socket->fatal_error = socket->fatal_error ? socket->fatal_error : rc;
    }
    if (sl__wq_has_done(&socket->wq)) {
        sl__socket_schedule_delivery(socket);
    }
    if (rc == 0 && socket->shutdown_write_requested && !socket->write_shut_down &&
        !sl__wq_has_pending(&socket->wq)) {
        socket->write_shut_down = true;
        if (shutdown(socket->fd, SHUT_WR) != 0) {
            SL_LOG_DEBUG(SL_LS_SOCKET, "socket fd %d: shutdown(SHUT_WR): %s", socket->fd,
                         sl_strerror(-errno));
        }
    }
}

/* The error the kernel holds for the socket (and clears), as a return code. */
static int pending_error(struct sl_socket *socket)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(socket->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
        err = errno;
    }
    return err ? -err : 0;
}

static void on_io_connected(struct sl_socket *socket, int events)
{
    /*
     * Read the pending error before anything else: a send would consume it and the reader
     * would then take a reset for an orderly end of file.
     */
    int err = (events & SL_IO_ERROR) ? pending_error(socket) : 0;
    if (err < 0) {
        socket->fatal_error = socket->fatal_error ? socket->fatal_error : err;
        sl__wq_fail_all(&socket->wq, err);
        sl__socket_schedule_delivery(socket);
    } else if ((events & (SL_IO_WRITABLE | SL_IO_ERROR)) && sl__wq_has_pending(&socket->wq)) {
        sl__socket_flush_writes(socket);
    }
    if (!(events & (SL_IO_READABLE | SL_IO_CLOSED | SL_IO_ERROR)) ||
        socket->state != SL__SOCKET_CONNECTED) {
        return;
    }
    if (!socket->on_readable) {
        socket->readable_unclaimed = true; /* edge-triggered: nobody would hear of it again */
        return;
    }
    socket->on_readable(socket, err, socket->readable_user_data);
}

void sl__socket_on_io(struct sl_loop *loop, struct sl_io_subscription *sub, int events,
                      void *user_data)
{
    (void)loop;
    (void)sub;
    struct sl_socket *socket = user_data;
    sl__socket_enter(socket);
    switch (socket->state) {
    case SL__SOCKET_CONNECTING:
        sl__socket_finish_connect(socket);
        break;
    case SL__SOCKET_LISTENING:
        sl__socket_accept_batch(socket);
        break;
    case SL__SOCKET_CONNECTED:
        on_io_connected(socket, events);
        break;
    case SL__SOCKET_INIT:
    case SL__SOCKET_BOUND:
    case SL__SOCKET_FAILED:
    case SL__SOCKET_CLOSED:
        break;
    }
    (void)sl__socket_leave(socket);
}

/* Reports one accept error; descriptor exhaustion also schedules a retry. */
static void accept_failed(struct sl_socket *listener, int err)
{
    SL_LOG_WARN(SL_LS_SOCKET, "listener fd %d: accept failed: %s", listener->fd, sl_strerror(-err));
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        sl__socket_schedule_accept(listener, ACCEPT_RETRY_NS);
    }
    listener->on_accept(listener, -err, NULL, listener->accept_user_data);
}

void sl__socket_accept_batch(struct sl_socket *listener)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (!listener->accepting || listener->destroy_requested) {
            return;
        }
        int fd = accept4(listener->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED || err == EPROTO) {
                continue; /* that connection died in the backlog; look at the next */
            }
            if (err != EAGAIN && err != EWOULDBLOCK) {
                accept_failed(listener, err);
            }
            return;
        }
        struct sl_socket *incoming = NULL;
        int rc = sl__socket_new_incoming(listener, fd, &incoming);
        listener->on_accept(listener, rc, incoming, listener->accept_user_data);
    }
    sl__socket_schedule_accept(listener, 0);
}

int sl_socket_subscribe_to_readable_events(struct sl_socket *socket,
                                           sl_socket_readable_fn *on_readable, void *user_data)
{
    SL_ENSURE_ARG(on_readable);
    SL_ENSURE(socket->loop && socket->state == SL__SOCKET_CONNECTED, SL_E_STATE);
    SL_ENSURE(sl_loop_is_on_callers_thread(socket->loop), SL_E_WRONG_THREAD);
    socket->on_readable = on_readable;
    socket->readable_user_data = user_data;
    if (socket->readable_unclaimed) {
        /* Data (or a hang-up) arrived before this subscriber: tell it, from a task. */
        socket->readable_unclaimed = false;
        socket->readable_report_pending = true;
        sl__socket_schedule_delivery(socket);
    }
    return 0;
}

int sl_socket_read(struct sl_socket *socket, struct sl_buf *buf, size_t *amount)
{
    *amount = 0;
    SL_ENSURE(socket->fd >= 0 && socket->state == SL__SOCKET_CONNECTED, SL_E_CLOSED);
    SL_ENSURE(buf->len < buf->cap, SL_E_BUF_FULL);
    ssize_t n;
    do {
        n = read(socket->fd, buf->data + buf->len, buf->cap - buf->len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    if (n == 0 && socket->options.type == SL_SOCKET_STREAM) {
        return socket->fatal_error ? socket->fatal_error : SL_E_CLOSED;
    }
    buf->len += (size_t)n;
    *amount = (size_t)n;
    return 0;
}

int sl_socket_write(struct sl_socket *socket, struct sl_write_req *req, struct sl_cursor data,
                    sl_write_done_fn *on_done, void *user_data)
{
    SL_ENSURE_ARG(req && on_done);
    SL_ENSURE(socket->fd >= 0 && socket->state == SL__SOCKET_CONNECTED && socket->loop,
              SL_E_CLOSED);
    SL_ENSURE(sl_loop_is_on_callers_thread(socket->loop), SL_E_WRONG_THREAD);
    SL_ENSURE(!socket->shutdown_write_requested, SL_E_STATE);
    bool was_idle = !sl__wq_has_pending(&socket->wq);
    sl__wq_push(&socket->wq, req, data, on_done, user_data);
    if (was_idle) {
        sl__socket_flush_writes(socket);
    }
    return 0;
}

void sl_socket_write_now(struct sl_socket *socket, struct sl_cursor data, size_t *written)
{
    *written = 0;
    if (socket->fd < 0 || socket->state != SL__SOCKET_CONNECTED || socket->fatal_error ||
        socket->options.type != SL_SOCKET_STREAM || socket->shutdown_write_requested ||
        sl__wq_has_pending(&socket->wq) || data.len == 0) {
        return;
    }
    SL_ASSERT(sl_loop_is_on_callers_thread(socket->loop));
    ssize_t n;
    do {
        n = send(socket->fd, data.ptr, data.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        *written = (size_t)n;
        socket->wq.written_bytes += (size_t)n;
    }
}

int sl_socket_shutdown_write(struct sl_socket *socket)
{
    SL_ENSURE(socket->fd >= 0 && socket->state == SL__SOCKET_CONNECTED, SL_E_CLOSED);
    SL_ENSURE(!socket->loop || sl_loop_is_on_callers_thread(socket->loop), SL_E_WRONG_THREAD);
    if (socket->shutdown_write_requested) {
        return 0;
    }
    socket->shutdown_write_requested = true;
    if (!sl__wq_has_pending(&socket->wq)) {
        socket->write_shut_down = true;
        SL_ENSURE(shutdown(socket->fd, SHUT_WR) == 0, -errno);
    }
    return 0;
}
