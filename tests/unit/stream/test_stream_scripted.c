/* SPDX-License-Identifier: Apache-2.0 */
#include "scripted_stream.h"
#include "stream_tests.h"

#include <sluice/error.h>
#include <sluice/future.h>

#include <stdlib.h>

static struct scripted_stream *scripted_of(struct sl_async_input_stream *stream)
{
    return sl_container_of(stream, struct scripted_stream, base);
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Appends this read's bytes and completes (or fails) its future. */
static void produce(struct scripted_stream *s, struct sl_buf *dest, struct sl_future *future)
{
    const struct script *sc = &s->script;
    if (s->produced >= sc->fail_at) {
        ck_assert_int_eq(sl_future_fail(future, sc->fail_error), 0);
        return;
    }
    size_t limit = min_size(sc->fail_at, sc->total);
    size_t n = min_size(min_size(sc->per_read, sl_buf_space(dest)), limit - s->produced);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(sl_buf_append_u8(dest, test_pattern_byte(s->produced++)), 0);
    }
    bool at_end = s->produced == sc->total && (n == 0 || sc->end_with_last_byte);
    ck_assert_int_eq(sl_future_complete_bool(future, at_end), 0);
}

static void run_pending_read(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct scripted_stream *s = arg;
    /* Completing may start the next read at once, which refills these fields. */
    struct sl_future *future = s->pending;
    struct sl_buf *dest = s->dest;
    s->pending = NULL;
    s->dest = NULL;
    if (status == SL_TASK_RUN) {
        produce(s, dest, future);
    } else {
        ck_assert_int_eq(sl_future_fail(future, SL_E_CANCELED), 0);
    }
    sl_future_release(future);
    sl_async_input_stream_release(&s->base);
}

static void note_frame(struct scripted_stream *s)
{
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
    if (s->reads == 0 || frame < s->lowest_frame) {
        s->lowest_frame = frame;
    }
    if (s->reads == 0 || frame > s->highest_frame) {
        s->highest_frame = frame;
    }
}

static int scripted_read(struct sl_async_input_stream *stream, struct sl_buf *dest,
                         struct sl_future **out)
{
    struct scripted_stream *s = scripted_of(stream);
    note_frame(s);
    s->reads++;
    struct sl_future *future = NULL;
    int rc = sl_future_new(SL_FUTURE_BOOL, &future);
    if (rc < 0) {
        return rc;
    }
    *out = future;
    if (s->script.completion == COMPLETE_INLINE) {
        produce(s, dest, future);
        return 0;
    }
    sl_future_acquire(future);             /* the task's, until it completed the future */
    sl_async_input_stream_acquire(stream); /* the task's, so the stream outlives the read */
    s->pending = future;
    s->dest = dest;
    sl_loop_schedule_now(s->script.loop, &s->task);
    return 0;
}

static void scripted_destroy(struct sl_async_input_stream *stream)
{
    atomic_store(&scripted_of(stream)->destroyed, true);
}

static const struct sl_async_input_stream_vtable s_scripted_vtable = {
    .read = scripted_read,
    .destroy = scripted_destroy,
};

struct scripted_stream *scripted_stream_new(const struct script *script)
{
    struct scripted_stream *s = calloc(1, sizeof(*s));
    ck_assert_ptr_nonnull(s);
    s->script = *script;
    atomic_init(&s->destroyed, false);
    sl_task_init(&s->task, run_pending_read, s, "scripted_read");
    sl_async_input_stream_init(&s->base, &s_scripted_vtable);
    return s;
}

void scripted_stream_free(struct scripted_stream *s)
{
    ck_assert(atomic_load(&s->destroyed));
    free(s);
}

bool holds_pattern(const struct sl_buf *buf, size_t first)
{
    for (size_t i = 0; i < buf->len; i++) {
        if (buf->data[i] != test_pattern_byte(first + i)) {
            return false;
        }
    }
    return true;
}
