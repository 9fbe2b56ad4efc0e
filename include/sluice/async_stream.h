/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_ASYNC_STREAM_H
#define SL_ASYNC_STREAM_H

#include <sluice/buf.h>
#include <sluice/common.h>
#include <sluice/ref.h>

SL_BEGIN_DECLS

/*
 * Asynchronous input streams: a source of bytes whose reads finish later, through a future
 * (future.h). Protocol layers read request bodies and uploads through them without knowing
 * whether the bytes come from memory, a file, or another connection.
 *
 * A read appends to an sl_buf without growing it and returns a BOOL future: true when the
 * stream has reached its end. The future completes once at least one byte was appended, or at
 * the end of the stream (with or without bytes), or with an error; a stream's own errors
 * (-errno, SL_E_STREAM_TRUNCATED, ...) arrive through the future, never as a return value.
 * Only one read may be in flight on a stream at a time.
 *
 * A read may complete before sl_async_input_stream_read returns (the future is then already
 * done) or later on any thread: where a future's callback runs is set out in future.h. Use
 * sl_async_input_stream_read_to_fill to read until a buffer is full: it handles any number of
 * synchronous completions in a loop, so its stack depth does not grow with the number of reads.
 *
 * Thread: reads may be started from any thread, one at a time, unless an implementation says
 * otherwise; acquire and release are thread-safe.
 * Lifetime: reference counted; the last release destroys the stream. A read in flight holds
 * whatever it needs, so a caller may release its reference while a read is pending.
 *
 * Writing a stream: embed struct sl_async_input_stream in your own struct, call
 * sl_async_input_stream_init with a const vtable, and find your struct in the vtable functions
 * with sl_container_of.
 */

struct sl_async_input_stream;
struct sl_future;
struct sl_input_stream;

struct sl_async_input_stream_vtable {
    /*
     * Starts a read into dest (which has space) and returns a new BOOL future in *out, with one
     * reference for the caller. Completes the future as described at the top of this file, and
     * keeps the stream (acquire) and the future alive until it has. Writes nothing into dest
     * after completing. Returns 0, or SL_E_NOMEM and similar when no future could be made.
     */
    int (*read)(struct sl_async_input_stream *stream, struct sl_buf *dest, struct sl_future **out);
    /* Frees the stream (called once, by the last release). */
    void (*destroy)(struct sl_async_input_stream *stream);
};

/* The base every asynchronous input stream embeds. All fields are private. */
struct sl_async_input_stream {
    const struct sl_async_input_stream_vtable *vtable; /* private */
    struct sl_ref ref;                                 /* private */
};

/* Lifecycle ------------------------------------------------------------------------------- */

/*
 * An asynchronous stream over a synchronous one. Each read runs one synchronous read on the
 * calling thread and returns a future that is already done, so a file stream blocks the
 * caller while it reads: use it on a loop thread only for memory streams or small files.
 * A synchronous read that adds nothing without reaching the end completes with false, which
 * read_to_fill reports as SL_E_STREAM_NO_PROGRESS.
 * Ownership: keeps a reference to source (released when the adapter is destroyed); returns
 * owned, holding one reference.
 * Errors: SL_E_INVAL; SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_async_input_stream_new_from_sync(struct sl_input_stream *source,
                                                             struct sl_async_input_stream **out);

/* Adds a reference. Thread: any (the caller must already hold one). */
SL_API void sl_async_input_stream_acquire(struct sl_async_input_stream *stream);

/* Drops a reference; the last one destroys the stream. NULL is ignored. Thread: any. */
SL_API void sl_async_input_stream_release(struct sl_async_input_stream *stream);

/* Operations ------------------------------------------------------------------------------ */

/*
 * Starts one read into dest; *out receives a BOOL future (true: end of stream) that completes
 * once at least one byte was appended, the stream ended, or the read failed.
 * Thread: any, one read at a time per stream.
 * Ownership: keeps dest until the future is done (the caller must not touch it meanwhile);
 * returns the future owned, holding one reference.
 * Errors (no future is made): SL_E_INVAL; SL_E_BUF_FULL if dest has no space; SL_E_NOMEM.
 * Everything else fails the future.
 */
SL_API SL_MUST_CHECK int sl_async_input_stream_read(struct sl_async_input_stream *stream,
                                                    struct sl_buf *dest, struct sl_future **out);

/*
 * Reads until dest is full or the stream ends; *out receives a BOOL future: true if the stream
 * ended (dest may be full too), false if dest filled up first. On failure the future carries
 * the error of the read that failed (dest then holds what arrived before it), or
 * SL_E_STREAM_NO_PROGRESS if a read completed without a byte and without the end. The future
 * completes on the thread that completed the last read (or before this call returns, if every
 * read completed synchronously). Stack depth stays constant whatever the number of reads.
 * Thread: any; no other read may run on stream until the future is done.
 * Ownership: holds a reference to stream until done; keeps dest until the future is done;
 * returns the future owned, holding one reference.
 * Errors (no future is made): SL_E_INVAL; SL_E_BUF_FULL if dest has no space; SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_async_input_stream_read_to_fill(struct sl_async_input_stream *stream,
                                                            struct sl_buf *dest,
                                                            struct sl_future **out);

/* Writing a stream ------------------------------------------------------------------------ */

/*
 * Prepares the base of a new stream with one reference. vtable needs read and destroy.
 * Ownership: keeps vtable (a static const).
 */
SL_API void sl_async_input_stream_init(struct sl_async_input_stream *stream,
                                       const struct sl_async_input_stream_vtable *vtable);

SL_END_DECLS

#endif /* SL_ASYNC_STREAM_H */
