/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/stream.h>

#include <sluice/alloc.h>
#include <sluice/error.h>

#include "guard.h"
#include "stream_internal.h"

#include <string.h>

/* The base: dispatch and the sticky error ------------------------------------------------- */

void sl_input_stream_init(struct sl_input_stream *stream,
                          const struct sl_input_stream_vtable *vtable)
{
    SL_ASSERT(vtable && vtable->read && vtable->is_end_of_stream && vtable->destroy);
    stream->vtable = vtable;
    sl_ref_init(&stream->ref, 1);
    stream->error = 0;
}

void sl_input_stream_acquire(struct sl_input_stream *stream)
{
    sl_ref_acquire(&stream->ref);
}

void sl_input_stream_release(struct sl_input_stream *stream)
{
    if (stream && sl_ref_release(&stream->ref)) {
        stream->vtable->destroy(stream);
    }
}

int sl_input_stream_read(struct sl_input_stream *stream, struct sl_buf *dest)
{
    SL_ENSURE_ARG(stream && dest);
    SL_TRY(stream->error);
    SL_ENSURE(sl_buf_space(dest) > 0, SL_E_BUF_FULL);
    size_t cap = dest->cap;
    int rc = stream->vtable->read(stream, dest);
    /* An implementation that wrote past the space it was given has corrupted memory already. */
    SL_ASSERT(dest->cap == cap && dest->len <= cap);
    (void)cap;
    if (rc < 0) {
        stream->error = rc;
    }
    return rc;
}

static bool basis_is_known(enum sl_stream_seek_basis basis)
{
    switch (basis) {
    case SL_STREAM_SEEK_BEGIN:
    case SL_STREAM_SEEK_END:
        return true;
    }
    return false;
}

int sl_input_stream_seek(struct sl_input_stream *stream, int64_t offset,
                         enum sl_stream_seek_basis basis)
{
    SL_ENSURE_ARG(stream && basis_is_known(basis));
    SL_TRY(stream->error);
    SL_ENSURE(stream->vtable->seek, SL_E_STREAM_NOT_SEEKABLE);
    return stream->vtable->seek(stream, offset, basis);
}

void sl_input_stream_status(struct sl_input_stream *stream, struct sl_stream_status *out)
{
    out->is_valid = stream->error == 0;
    out->is_end_of_stream = out->is_valid && stream->vtable->is_end_of_stream(stream);
}

int sl_input_stream_length(struct sl_input_stream *stream, uint64_t *out)
{
    SL_ENSURE_ARG(stream && out);
    SL_ENSURE(stream->vtable->length, SL_E_STREAM_LENGTH_UNKNOWN);
    return stream->vtable->length(stream, out);
}

int sl__stream_seek_target(int64_t offset, enum sl_stream_seek_basis basis, uint64_t len,
                           uint64_t *out)
{
    /* The magnitude of INT64_MIN does not fit an int64_t, but it does fit a uint64_t. */
    uint64_t magnitude = offset < 0 ? (uint64_t)(-(offset + 1)) + 1 : (uint64_t)offset;
    switch (basis) {
    case SL_STREAM_SEEK_BEGIN:
        SL_ENSURE(offset >= 0 && magnitude <= len, SL_E_STREAM_SEEK_OUT_OF_RANGE);
        *out = magnitude;
        return 0;
    case SL_STREAM_SEEK_END:
        SL_ENSURE(offset <= 0 && magnitude <= len, SL_E_STREAM_SEEK_OUT_OF_RANGE);
        *out = len - magnitude;
        return 0;
    }
    return SL_E_INVAL;
}

/* Memory streams -------------------------------------------------------------------------- */

struct memory_stream {
    struct sl_input_stream base;
    struct sl_cursor data; /* the caller's bytes, kept */
    size_t pos;            /* next byte to read, <= data.len */
};

static struct memory_stream *memory_stream_of(struct sl_input_stream *stream)
{
    return sl_container_of(stream, struct memory_stream, base);
}

static int memory_read(struct sl_input_stream *stream, struct sl_buf *dest)
{
    struct memory_stream *m = memory_stream_of(stream);
    size_t left = m->data.len - m->pos;
    size_t n = left < sl_buf_space(dest) ? left : sl_buf_space(dest);
    if (n > 0) {
        memcpy(dest->data + dest->len, m->data.ptr + m->pos, n);
        SL_TRY(sl_buf_commit(dest, n));
        m->pos += n;
    }
    return 0;
}

static int memory_seek(struct sl_input_stream *stream, int64_t offset,
                       enum sl_stream_seek_basis basis)
{
    struct memory_stream *m = memory_stream_of(stream);
    uint64_t target = 0;
    SL_TRY(sl__stream_seek_target(offset, basis, m->data.len, &target));
    m->pos = (size_t)target;
    return 0;
}

static bool memory_is_end_of_stream(struct sl_input_stream *stream)
{
    struct memory_stream *m = memory_stream_of(stream);
    return m->pos == m->data.len;
}

static int memory_length(struct sl_input_stream *stream, uint64_t *out)
{
    *out = memory_stream_of(stream)->data.len;
    return 0;
}

static void memory_destroy(struct sl_input_stream *stream)
{
    sl_free(memory_stream_of(stream));
}

static const struct sl_input_stream_vtable s_memory_vtable = {
    .read = memory_read,
    .seek = memory_seek,
    .is_end_of_stream = memory_is_end_of_stream,
    .length = memory_length,
    .destroy = memory_destroy,
};

int sl_input_stream_new_from_cursor(struct sl_cursor data, struct sl_input_stream **out)
{
    SL_ENSURE_ARG(out && (data.ptr || data.len == 0));
    struct memory_stream *m = sl_calloc(1, sizeof(*m));
    SL_ENSURE(m, SL_E_NOMEM);
    sl_input_stream_init(&m->base, &s_memory_vtable);
    m->data = data;
    *out = &m->base;
    return 0;
}
