/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/socket_handler.h>

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

#include <errno.h>

#define DEFAULT_READ_PER_TICK     ((size_t)16 * 1024)
#define DEFAULT_MAX_READ_PER_TICK ((size_t)256 * 1024)
#define DEFAULT_FLUSH_TIMEOUT_MS  10000u

struct socket_handler {
    struct sl_handler base;
    struct sl_socket *socket;
    struct sl_channel_task read_task;
    struct sl_channel_task flush_timer;
    size_t start_budget;
    size_t max_budget;
    size_t budget;
    uint32_t flush_timeout_ms;
    bool allow_half_close;
    bool may_have_data; /* readable reported and no EAGAIN since */
    bool read_task_pending;
    bool read_stopped;       /* end of file, an error, or the read pass */
    bool write_shut_down;    /* the write pass began: writes are refused */
    bool write_pass_pending; /* the write pass waits for writes in flight */
    bool read_pass_started;  /* the channel's read pass reached us */
    bool lingering;          /* FIN sent; draining the peer's input until it closes */
    bool flush_timer_pending;
    bool destroying;
    int write_pass_status;
    bool write_pass_abort;
    size_t writes_in_flight;
    uint64_t io_read_bytes;
    uint64_t io_write_bytes;
};

static struct socket_handler *from_base(struct sl_handler *handler)
{
    return sl_container_of(handler, struct socket_handler, base);
}

static struct sl_channel *channel_of(struct socket_handler *h)
{
    return sl_slot_channel(h->base.slot);
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Reading --------------------------------------------------------------------------------- */

static void stop_reading(struct socket_handler *h, int status, bool abort_immediately)
{
    h->read_stopped = true;
    sl_channel_shutdown(channel_of(h), status, abort_immediately);
}

/* End of file: either the whole channel ends, or (half-close) the handlers to the right hear. */
static void on_end_of_file(struct socket_handler *h)
{
    h->read_stopped = true;
    if (!h->allow_half_close) {
        sl_channel_shutdown(channel_of(h), SL_E_CLOSED, false);
        return;
    }
    struct sl_msg *msg;
    int rc = sl_channel_acquire_msg(channel_of(h), 0, &msg);
    if (rc == 0) {
        msg->flags = SL_MSG_END_OF_STREAM;
        rc = sl_slot_send(h->base.slot, msg, SL_DIR_READ);
        if (rc < 0) {
            sl_channel_release_msg(channel_of(h), msg);
        }
    }
    if (rc < 0) {
        sl_channel_shutdown(channel_of(h), SL_E_CLOSED, false);
    }
}

static void on_read_result(struct socket_handler *h, int rc)
{
    if (rc == -EAGAIN) {
        h->may_have_data = false;
        h->budget = h->start_budget; /* a connection that drains is not busy any more */
    } else if (rc == SL_E_CLOSED) {
        on_end_of_file(h);
    } else {
        stop_reading(h, rc, true);
    }
}

static void read_task_fn(struct sl_task *task, void *arg, enum sl_task_status status);

static void yield_read(struct socket_handler *h)
{
    if (h->budget < h->max_budget) {
        h->budget = min_size(h->budget * 2, h->max_budget);
    }
    if (!h->read_task_pending) {
        h->read_task_pending = true;
        sl_channel_task_init(&h->read_task, read_task_fn, h, "socket_handler_read");
        sl_channel_schedule_task_now(channel_of(h), &h->read_task);
    }
}

/* How much to read into the next message: 0 means wait for the window to open. */
static size_t next_read_size(struct socket_handler *h, size_t budget_left)
{
    size_t window = sl_slot_downstream_window(h->base.slot);
    if (sl_socket_get_options(h->socket)->type == SL_SOCKET_DGRAM) {
        /* A datagram cannot be split, so only read when the largest one would fit. */
        return window >= SL_MSG_MAX_SIZE ? SL_MSG_MAX_SIZE : 0;
    }
    return min_size(min_size(budget_left, window), SL_MSG_MAX_SIZE);
}

static void read_from_socket(struct socket_handler *h)
{
    if (!h->base.slot || h->read_stopped || !h->may_have_data) {
        return;
    }
    struct sl_channel *channel = channel_of(h);
    size_t total = 0;
    while (total < h->budget) {
        size_t want = next_read_size(h, h->budget - total);
        if (want == 0) {
            return; /* on_window_update resumes */
        }
        struct sl_msg *msg;
        int rc = sl_channel_acquire_msg(channel, want, &msg);
        if (rc < 0) {
            stop_reading(h, rc, true);
            return;
        }
        msg->data.cap = min_size(msg->data.cap, want);
        size_t n;
        rc = sl_socket_read(h->socket, &msg->data, &n);
        if (rc == 0) {
            h->io_read_bytes += n;
            total += n;
            rc = sl_slot_send(h->base.slot, msg, SL_DIR_READ);
            if (rc == 0) {
                continue;
            }
            sl_channel_release_msg(channel, msg);
            stop_reading(h, rc, true);
            return;
        }
        sl_channel_release_msg(channel, msg);
        on_read_result(h, rc);
        return;
    }
    yield_read(h); /* budget spent with data still coming: let other channels run */
}

static void read_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct socket_handler *h = arg;
    h->read_task_pending = false;
    if (status == SL_TASK_RUN) {
        read_from_socket(h);
    }
}

static void drain_lingering(struct socket_handler *h);

static void on_socket_readable(struct sl_socket *socket, int status, void *user_data)
{
    (void)socket;
    struct socket_handler *h = user_data;
    if (h->lingering) {
        drain_lingering(h);
        return;
    }
    if (status < 0 && h->base.slot && !h->read_pass_started) {
        /*
         * A reset loses whatever was buffered anyway: end now, even with the window shut, and
         * even after the peer's FIN when half-closed (reading stopped, writing goes on).
         */
        stop_reading(h, status, true);
        return;
    }
    h->may_have_data = true;
    read_from_socket(h);
}

static int sh_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    (void)slot;
    (void)msg;
    return SL_E_NO_SLOT; /* nothing is left of the socket */
}

static int sh_on_window_update(struct sl_handler *handler, struct sl_slot *slot, size_t bytes)
{
    (void)slot;
    (void)bytes;
    read_from_socket(from_base(handler));
    return 0;
}

/* Writing --------------------------------------------------------------------------------- */

static void end_write_pass(struct socket_handler *h)
{
    h->lingering = false;
    int rc = sl_socket_close(h->socket);
    SL_ASSERT(rc == 0);
    (void)rc;
    sl_slot_on_shutdown_complete(h->base.slot, SL_DIR_WRITE, h->write_pass_status,
                                 h->write_pass_abort);
}

/* Reads and drops what the peer still sends; ends the pass at its end of file (or error). */
static void drain_lingering(struct socket_handler *h)
{
    uint8_t scratch[4096];
    for (;;) {
        struct sl_buf buf;
        sl_buf_init_fixed(&buf, scratch, sizeof(scratch));
        size_t n;
        int rc = sl_socket_read(h->socket, &buf, &n);
        if (rc == -EAGAIN) {
            return; /* more may come: on_socket_readable calls again */
        }
        if (rc < 0) {
            end_write_pass(h);
            return;
        }
    }
}

static void start_flush_timer(struct socket_handler *h);

/*
 * All writes reached the kernel. An aborting pass closes at once. A graceful one sends FIN and
 * lingers until the peer closes too: close() with unread input makes the kernel send a reset,
 * which throws away the reply still in flight (the peer sees ECONNRESET instead of our data).
 * The linger shares the flush timeout.
 */
static void finish_write_pass(struct socket_handler *h)
{
    h->write_pass_pending = false;
    bool stream = sl_socket_get_options(h->socket)->type == SL_SOCKET_STREAM;
    if (h->write_pass_abort || !stream || !sl_socket_is_open(h->socket) ||
        sl_socket_shutdown_write(h->socket) != 0) {
        end_write_pass(h);
        return;
    }
    h->lingering = true;
    start_flush_timer(h);
    drain_lingering(h);
}

static void on_msg_written(struct sl_write_req *req, int status, void *user_data)
{
    struct socket_handler *h = user_data;
    struct sl_msg *msg = sl_container_of(req, struct sl_msg, write_req);
    struct sl_channel *channel = channel_of(h);
    if (status == 0) {
        h->io_write_bytes += msg->data.len;
    }
    sl_msg_complete_fn *on_complete = msg->on_complete;
    msg->on_complete = NULL;
    if (on_complete) {
        on_complete(channel, msg, status, msg->user_data);
    }
    sl_channel_release_msg(channel, msg);
    h->writes_in_flight--;
    if (h->destroying) {
        return;
    }
    bool stream = sl_socket_get_options(h->socket)->type == SL_SOCKET_STREAM;
    if (stream && status < 0 && status != SL_E_CLOSED && !h->write_shut_down) {
        sl_channel_shutdown(channel, status, true); /* the connection broke under us */
    }
    /* A lost datagram is reported to its sender only: the next one may well go through. */
    if (h->write_pass_pending && h->writes_in_flight == 0) {
        finish_write_pass(h);
    }
}

static int sh_on_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)slot;
    struct socket_handler *h = from_base(handler);
    SL_ENSURE(!h->write_shut_down, SL_E_SHUTTING_DOWN);
    SL_TRY(
        sl_socket_write(h->socket, &msg->write_req, sl_buf_cursor(&msg->data), on_msg_written, h));
    h->writes_in_flight++;
    if ((msg->flags & SL_MSG_END_OF_STREAM) &&
        sl_socket_get_options(h->socket)->type == SL_SOCKET_STREAM) {
        int rc = sl_socket_shutdown_write(h->socket); /* after the queued bytes, FIN */
        if (rc < 0) {
            SL_LOG_DEBUG(SL_LS_SOCKET, "half-close failed: %s", sl_strerror(rc));
        }
    }
    return 0;
}

/* Bytes from a handler's own buffer, straight to the kernel when nothing is queued ahead. */
static void sh_write_now(struct sl_handler *handler, struct sl_slot *slot, struct sl_cursor data,
                         size_t *written)
{
    (void)slot;
    struct socket_handler *h = from_base(handler);
    *written = 0;
    if (!h->write_shut_down) {
        sl_socket_write_now(h->socket, data, written);
        h->io_write_bytes += *written;
    }
}

/* Shutdown -------------------------------------------------------------------------------- */

static void flush_timer_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct socket_handler *h = arg;
    h->flush_timer_pending = false;
    if (status != SL_TASK_RUN) {
        return;
    }
    if (h->write_pass_pending) {
        SL_LOG_INFO(SL_LS_SOCKET, "giving up on %zu unwritten messages at shutdown",
                    h->writes_in_flight);
        int rc = sl_socket_close(h->socket); /* fails them; their completions finish the pass */
        (void)rc;
    } else if (h->lingering) {
        end_write_pass(h); /* the peer kept its end open */
    }
}

static void start_flush_timer(struct socket_handler *h)
{
    if (h->flush_timer_pending) {
        return;
    }
    h->flush_timer_pending = true;
    sl_channel_task_init(&h->flush_timer, flush_timer_fn, h, "socket_handler_flush_timeout");
    sl_channel_schedule_task_at(channel_of(h), &h->flush_timer,
                                sl_loop_now_ns(sl_channel_loop(channel_of(h))) +
                                    (uint64_t)h->flush_timeout_ms * SL_NS_PER_MS);
}

static int sh_on_shutdown(struct sl_handler *handler, struct sl_slot *slot, enum sl_direction dir,
                          int status, bool abort_immediately)
{
    struct socket_handler *h = from_base(handler);
    if (dir == SL_DIR_READ) {
        h->read_stopped = true;
        h->read_pass_started = true;
        if (abort_immediately) {
            SL_TRY(sl_socket_close(h->socket));
        }
        sl_slot_on_shutdown_complete(slot, SL_DIR_READ, status, abort_immediately);
        return 0;
    }
    h->write_shut_down = true;
    h->write_pass_status = status;
    h->write_pass_abort = abort_immediately;
    if (h->writes_in_flight == 0) {
        finish_write_pass(h);
        return 0;
    }
    h->write_pass_pending = true;
    if (abort_immediately) {
        SL_TRY(sl_socket_close(h->socket));
        return 0;
    }
    start_flush_timer(h);
    return 0;
}

/* The rest of the vtable ------------------------------------------------------------------ */

static size_t sh_initial_window(struct sl_handler *handler)
{
    (void)handler;
    return SIZE_MAX; /* nothing sends to slot 0 in the read direction */
}

static size_t sh_message_overhead(struct sl_handler *handler)
{
    (void)handler;
    return 0;
}

static void sh_destroy(struct sl_handler *handler)
{
    struct socket_handler *h = from_base(handler);
    h->destroying = true;
    sl_socket_destroy(h->socket); /* undelivered write completions run now, with an error */
    sl_free(h);
}

static void sh_gather_stats(struct sl_handler *handler, struct sl_handler_stats *stats)
{
    struct socket_handler *h = from_base(handler);
    stats->io_read_bytes = h->io_read_bytes;
    stats->io_write_bytes = h->io_write_bytes;
}

static void sh_reset_stats(struct sl_handler *handler)
{
    struct socket_handler *h = from_base(handler);
    h->io_read_bytes = h->io_write_bytes = 0;
}

static const struct sl_handler_vtable s_socket_handler_vtable = {
    .name = "socket",
    .on_read = sh_on_read,
    .on_write = sh_on_write,
    .on_window_update = sh_on_window_update,
    .on_shutdown = sh_on_shutdown,
    .initial_window = sh_initial_window,
    .message_overhead = sh_message_overhead,
    .destroy = sh_destroy,
    .gather_stats = sh_gather_stats,
    .reset_stats = sh_reset_stats,
    .write_now = sh_write_now,
};

int sl_socket_handler_new(struct sl_socket *socket, const struct sl_socket_handler_options *opts,
                          struct sl_handler **out)
{
    SL_ENSURE_ARG(socket && out);
    SL_ENSURE(sl_socket_loop(socket) && sl_socket_is_open(socket), SL_E_STATE);
    struct socket_handler *h = sl_calloc(1, sizeof(*h));
    SL_ENSURE(h, SL_E_NOMEM);
    h->base.vtable = &s_socket_handler_vtable;
    h->socket = socket;
    h->start_budget = opts && opts->read_per_tick ? opts->read_per_tick : DEFAULT_READ_PER_TICK;
    h->max_budget =
        opts && opts->max_read_per_tick ? opts->max_read_per_tick : DEFAULT_MAX_READ_PER_TICK;
    h->max_budget = h->max_budget < h->start_budget ? h->start_budget : h->max_budget;
    h->budget = h->start_budget;
    h->flush_timeout_ms =
        opts && opts->flush_timeout_ms ? opts->flush_timeout_ms : DEFAULT_FLUSH_TIMEOUT_MS;
    h->allow_half_close = opts && opts->allow_half_close;
    h->may_have_data = true; /* data may have arrived before we listened */
    int rc = sl_socket_subscribe_to_readable_events(socket, on_socket_readable, h);
    if (rc < 0) {
        sl_free(h);
        return rc;
    }
    *out = &h->base;
    return 0;
}

struct sl_socket *sl_socket_handler_socket(struct sl_handler *handler)
{
    return from_base(handler)->socket;
}
