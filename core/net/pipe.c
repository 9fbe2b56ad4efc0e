/* SPDX-License-Identifier: Apache-2.0 */

/* pipe2 is a Linux extension (atomic O_NONBLOCK and O_CLOEXEC). */
#define _GNU_SOURCE

#include <sluice/pipe.h>

#include <sluice/alloc.h>
#include <sluice/error.h>

#include "guard.h"
#include "write_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

struct sl_pipe_read_end {
    int fd;
    struct sl_loop *loop;
    struct sl_io_subscription *sub;
    sl_pipe_readable_fn *on_readable;
    void *user_data;
};

struct sl_pipe_write_end {
    int fd;
    struct sl_loop *loop;
    struct sl_io_subscription *sub;
    struct sl__write_queue wq;
    struct sl_task deliver_task;
    bool deliver_scheduled;
    int busy; /* delivering callbacks: destroy must wait for the outermost */
    bool destroy_requested;
};

int sl_pipe_new(struct sl_pipe_read_end **read_end, struct sl_pipe_write_end **write_end)
{
    SL_ENSURE_ARG(read_end && write_end);
    struct sl_pipe_read_end *r = sl_calloc(1, sizeof(*r));
    struct sl_pipe_write_end *w = sl_calloc(1, sizeof(*w));
    int fds[2];
    int rc = !r || !w ? SL_E_NOMEM : pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0 ? 0 : -errno;
    if (rc < 0) {
        sl_free(r);
        sl_free(w);
        return rc;
    }
    r->fd = fds[0];
    w->fd = fds[1];
    sl__wq_init(&w->wq, false, writev);
    *read_end = r;
    *write_end = w;
    return 0;
}

/* Read end -------------------------------------------------------------------------------- */

static void on_read_io(struct sl_loop *loop, struct sl_io_subscription *sub, int events,
                       void *user_data)
{
    (void)loop;
    (void)sub;
    (void)events;
    struct sl_pipe_read_end *r = user_data;
    r->on_readable(r, r->user_data);
}

int sl_pipe_read_start(struct sl_pipe_read_end *r, struct sl_loop *loop,
                       sl_pipe_readable_fn *on_readable, void *user_data)
{
    SL_ENSURE_ARG(loop && on_readable);
    SL_ENSURE(sl_loop_is_on_callers_thread(loop), SL_E_WRONG_THREAD);
    SL_ENSURE(!r->sub && r->fd >= 0, SL_E_STATE);
    r->on_readable = on_readable;
    r->user_data = user_data;
    SL_TRY(sl_loop_subscribe(loop, r->fd, SL_IO_READABLE, on_read_io, r, &r->sub));
    r->loop = loop;
    return 0;
}

void sl_pipe_read_stop(struct sl_pipe_read_end *r)
{
    if (r->sub) {
        sl_loop_unsubscribe(r->loop, r->sub);
        r->sub = NULL;
    }
}

int sl_pipe_read(struct sl_pipe_read_end *r, struct sl_buf *buf, size_t *amount)
{
    *amount = 0;
    SL_ENSURE(r->fd >= 0, SL_E_CLOSED);
    SL_ENSURE(buf->len < buf->cap, SL_E_BUF_FULL);
    ssize_t n;
    do {
        n = read(r->fd, buf->data + buf->len, buf->cap - buf->len);
    } while (n < 0 && errno == EINTR);
    SL_ENSURE(n >= 0, errno == EWOULDBLOCK ? -EAGAIN : -errno);
    SL_ENSURE(n > 0, SL_E_CLOSED);
    buf->len += (size_t)n;
    *amount = (size_t)n;
    return 0;
}

void sl_pipe_read_end_destroy(struct sl_pipe_read_end *r)
{
    if (!r) {
        return;
    }
    sl_pipe_read_stop(r);
    close(r->fd);
    sl_free(r);
}

int sl_pipe_read_end_fd(const struct sl_pipe_read_end *r)
{
    return r->fd;
}

/* Write end ------------------------------------------------------------------------------- */

static void deliver_writes(struct sl_pipe_write_end *w)
{
    w->busy++;
    struct sl_write_req *req;
    while (!w->destroy_requested && (req = sl__wq_pop_done(&w->wq)) != NULL) {
        req->on_done(req, req->status, req->user_data);
    }
    if (--w->busy == 0 && w->destroy_requested) {
        sl_pipe_write_end_destroy(w);
    }
}

static void deliver_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status; /* owed even when the loop is going away */
    struct sl_pipe_write_end *w = arg;
    if (w->deliver_scheduled) {
        w->deliver_scheduled = false;
        deliver_writes(w);
    }
}

static void flush(struct sl_pipe_write_end *w)
{
    (void)sl__wq_flush(&w->wq, w->fd); /* a fatal error fails the requests, which report it */
    if (sl__wq_has_done(&w->wq) && !w->deliver_scheduled) {
        w->deliver_scheduled = true;
        sl_task_init(&w->deliver_task, deliver_task_fn, w, "pipe_deliver");
        sl_loop_schedule_now(w->loop, &w->deliver_task);
    }
}

static void on_write_io(struct sl_loop *loop, struct sl_io_subscription *sub, int events,
                        void *user_data)
{
    (void)loop;
    (void)sub;
    (void)events;
    flush(user_data);
}

int sl_pipe_write_attach(struct sl_pipe_write_end *w, struct sl_loop *loop)
{
    SL_ENSURE_ARG(loop);
    SL_ENSURE(sl_loop_is_on_callers_thread(loop), SL_E_WRONG_THREAD);
    SL_ENSURE(!w->loop && w->fd >= 0, SL_E_STATE);
    SL_TRY(sl_loop_subscribe(loop, w->fd, SL_IO_WRITABLE, on_write_io, w, &w->sub));
    w->loop = loop;
    return 0;
}

int sl_pipe_write(struct sl_pipe_write_end *w, struct sl_write_req *req, struct sl_cursor data,
                  sl_write_done_fn *on_done, void *user_data)
{
    SL_ENSURE_ARG(req && on_done);
    SL_ENSURE(w->loop, SL_E_STATE);
    SL_ENSURE(sl_loop_is_on_callers_thread(w->loop), SL_E_WRONG_THREAD);
    SL_ENSURE(!w->destroy_requested && w->fd >= 0, SL_E_CLOSED);
    bool was_idle = !sl__wq_has_pending(&w->wq);
    sl__wq_push(&w->wq, req, data, on_done, user_data);
    if (was_idle) {
        flush(w);
    }
    return 0;
}

void sl_pipe_write_end_destroy(struct sl_pipe_write_end *w)
{
    if (!w) {
        return;
    }
    w->destroy_requested = true;
    if (w->busy > 0) {
        return; /* a completion callback is on the stack; deliver_writes finishes the job */
    }
    if (w->sub) {
        sl_loop_unsubscribe(w->loop, w->sub);
        w->sub = NULL;
    }
    if (w->deliver_scheduled) {
        w->deliver_scheduled = false;
        sl_loop_cancel(w->loop, &w->deliver_task);
    }
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    sl__wq_fail_all(&w->wq, SL_E_CLOSED);
    struct sl_write_req *req;
    w->busy++;
    while ((req = sl__wq_pop_done(&w->wq)) != NULL) {
        req->on_done(req, req->status, req->user_data);
    }
    sl_free(w);
}

int sl_pipe_write_end_fd(const struct sl_pipe_write_end *w)
{
    return w->fd;
}
