/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/async_stream.h>

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/future.h>
#include <sluice/stream.h>

#include "guard.h"

/* The base ---------------------------------------------------------------------------------- */

void sl_async_input_stream_init(struct sl_async_input_stream *stream,
                                const struct sl_async_input_stream_vtable *vtable)
{
    SL_ASSERT(vtable && vtable->read && vtable->destroy);
    stream->vtable = vtable;
    sl_ref_init(&stream->ref, 1);
}

void sl_async_input_stream_acquire(struct sl_async_input_stream *stream)
{
    sl_ref_acquire(&stream->ref);
}

void sl_async_input_stream_release(struct sl_async_input_stream *stream)
{
    if (stream && sl_ref_release(&stream->ref)) {
        stream->vtable->destroy(stream);
    }
}

int sl_async_input_stream_read(struct sl_async_input_stream *stream, struct sl_buf *dest,
                               struct sl_future **out)
{
    SL_ENSURE_ARG(stream && dest && out);
    SL_ENSURE(sl_buf_space(dest) > 0, SL_E_BUF_FULL);
    struct sl_future *future = NULL;
    SL_TRY(stream->vtable->read(stream, dest, &future));
    SL_ASSERT(future);
    *out = future;
    return 0;
}

/* Reading to fill --------------------------------------------------------------------------- */

/*
 * Why a loop and not a chain of callbacks: a stream may complete every read before returning
 * (a memory stream, the sync adapter), and a callback that starts the next read from inside
 * the previous one's completion would nest one stack frame set per read, so a million one-byte
 * reads would overflow the stack. Instead, fill_loop registers its callback with
 * sl_future_on_done_if_pending: a read that is already done is handled by the next turn of the
 * loop, and only a read that is really pending gets a callback, which then continues the loop
 * on the completing thread. That thread's stack holds at most one fill_loop at a time, because
 * the callback returns as soon as the next read is pending.
 *
 * Ownership across threads: once a callback is registered, the thread that registered it must
 * not touch op again (the callback may already be running elsewhere), so fill_loop returns at
 * once after a successful registration.
 */
struct fill_op {
    struct sl_async_input_stream *stream; /* a reference, held until the op is freed */
    struct sl_buf *dest;                  /* the caller's, kept until result completes */
    struct sl_future *result;             /* a reference, given up in finish_fill */
    size_t len_before_read;               /* dest->len when the current read started */
};

/* Completes the caller's future (its callback may run inline here) and frees the op. */
static void finish_fill(struct fill_op *op, int error, bool end_of_stream)
{
    int rc = error < 0 ? sl_future_fail(op->result, error)
                       : sl_future_complete_bool(op->result, end_of_stream);
    /* Only this op completes result, exactly once. */
    SL_ASSERT(rc == 0);
    (void)rc;
    sl_future_release(op->result);
    sl_async_input_stream_release(op->stream);
    sl_free(op);
}

/* Takes the outcome of one read and drops the read's future. */
static int take_read_result(struct fill_op *op, struct sl_future *read, bool *end_of_stream)
{
    int rc = sl_future_result_bool(read, end_of_stream);
    sl_future_release(read);
    SL_TRY(rc);
    SL_ENSURE(*end_of_stream || op->dest->len > op->len_before_read, SL_E_STREAM_NO_PROGRESS);
    return 0;
}

/* Handles a finished read; returns true if that finished the op (which is then freed). */
static bool after_read(struct fill_op *op, struct sl_future *read)
{
    bool end_of_stream = false;
    int rc = take_read_result(op, read, &end_of_stream);
    if (rc < 0 || end_of_stream || sl_buf_space(op->dest) == 0) {
        finish_fill(op, rc, end_of_stream);
        return true;
    }
    return false;
}

static void on_read_done(struct sl_future *read, int status, void *user_data);

static void fill_loop(struct fill_op *op)
{
    for (;;) {
        struct sl_future *read = NULL;
        op->len_before_read = op->dest->len;
        int rc = sl_async_input_stream_read(op->stream, op->dest, &read);
        if (rc < 0) {
            finish_fill(op, rc, false);
            return;
        }
        bool registered = false;
        rc = sl_future_on_done_if_pending(read, on_read_done, op, &registered);
        if (rc < 0) {
            /* The stream registered a callback on a future it handed over: its bug. */
            sl_future_release(read);
            finish_fill(op, rc, false);
            return;
        }
        if (registered || after_read(op, read)) {
            return;
        }
    }
}

/* Runs on the thread that completed a read that was pending when fill_loop looked. */
static void on_read_done(struct sl_future *read, int status, void *user_data)
{
    (void)status; /* take_read_result reads the same outcome from the future */
    struct fill_op *op = user_data;
    if (!after_read(op, read)) {
        fill_loop(op);
    }
}

int sl_async_input_stream_read_to_fill(struct sl_async_input_stream *stream, struct sl_buf *dest,
                                       struct sl_future **out)
{
    SL_ENSURE_ARG(stream && dest && out);
    SL_ENSURE(sl_buf_space(dest) > 0, SL_E_BUF_FULL);
    struct fill_op *op = sl_calloc(1, sizeof(*op));
    SL_ENSURE(op, SL_E_NOMEM);
    int rc = sl_future_new(SL_FUTURE_BOOL, &op->result);
    if (rc < 0) {
        sl_free(op);
        return rc;
    }
    sl_future_acquire(op->result); /* the caller's reference; op keeps the first */
    sl_async_input_stream_acquire(stream);
    op->stream = stream;
    op->dest = dest;
    *out = op->result;
    fill_loop(op); /* may finish, and free op, before returning */
    return 0;
}

/* The adapter from a synchronous stream ----------------------------------------------------- */

struct sync_adapter {
    struct sl_async_input_stream base;
    struct sl_input_stream *source; /* a reference, released in adapter_destroy */
};

static int adapter_read(struct sl_async_input_stream *stream, struct sl_buf *dest,
                        struct sl_future **out)
{
    struct sync_adapter *a = sl_container_of(stream, struct sync_adapter, base);
    struct sl_future *future = NULL;
    SL_TRY(sl_future_new(SL_FUTURE_BOOL, &future));
    int rc = sl_input_stream_read(a->source, dest);
    if (rc < 0) {
        rc = sl_future_fail(future, rc);
    } else {
        struct sl_stream_status status;
        sl_input_stream_status(a->source, &status);
        rc = sl_future_complete_bool(future, status.is_end_of_stream);
    }
    /* A future nobody else has seen yet always accepts its first completion. */
    SL_ASSERT(rc == 0);
    (void)rc;
    *out = future;
    return 0;
}

static void adapter_destroy(struct sl_async_input_stream *stream)
{
    struct sync_adapter *a = sl_container_of(stream, struct sync_adapter, base);
    sl_input_stream_release(a->source);
    sl_free(a);
}

static const struct sl_async_input_stream_vtable s_adapter_vtable = {
    .read = adapter_read,
    .destroy = adapter_destroy,
};

int sl_async_input_stream_new_from_sync(struct sl_input_stream *source,
                                        struct sl_async_input_stream **out)
{
    SL_ENSURE_ARG(source && out);
    struct sync_adapter *a = sl_calloc(1, sizeof(*a));
    SL_ENSURE(a, SL_E_NOMEM);
    sl_async_input_stream_init(&a->base, &s_adapter_vtable);
    sl_input_stream_acquire(source);
    a->source = source;
    *out = &a->base;
    return 0;
}
