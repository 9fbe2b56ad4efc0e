/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_STREAM_H
#define SL_STREAM_H

#include <sluice/buf.h>
#include <sluice/common.h>
#include <sluice/ref.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * Synchronous input streams: a source of bytes read on the caller's thread, such as a request
 * body held in memory or a file being uploaded. sl_async_input_stream_new_from_sync
 * (async_stream.h) turns one into an asynchronous stream.
 *
 * Reading appends to an sl_buf and never grows it: a read adds between one byte and
 * sl_buf_space(dest) bytes, or none once the stream is at its end. The end may be reported
 * together with the last bytes (memory streams) or only by a later read that adds nothing (file
 * streams, which cannot know that a file will not grow).
 *
 * Errors stick: after a read fails, the stream is invalid (sl_stream_status.is_valid is false)
 * and every later read or seek returns the same error. Errors that leave the stream as it was
 * (bad arguments, a seek out of range) do not stick.
 *
 * Thread: a stream is used by one thread at a time; only acquire and release are thread-safe.
 * Lifetime: reference counted; the last release destroys the stream.
 *
 * Writing a stream: embed struct sl_input_stream in your own struct, call sl_input_stream_init
 * with a const vtable, and find your struct in the vtable functions with sl_container_of.
 */

struct sl_input_stream;

/* Where a seek offset counts from. */
enum sl_stream_seek_basis {
    SL_STREAM_SEEK_BEGIN, /* offset >= 0 from the first byte */
    SL_STREAM_SEEK_END,   /* offset <= 0 from the end (0 is the end itself) */
};

struct sl_stream_status {
    bool is_end_of_stream; /* no more bytes: the next read adds none */
    bool is_valid;         /* false once a read failed; the stream cannot be used any more */
};

/*
 * What an input stream implements. The sl_input_stream_* dispatchers check arguments and the
 * sticky error before calling these, so implementations see only valid, usable calls.
 */
struct sl_input_stream_vtable {
    /*
     * Appends at least one byte and at most sl_buf_space(dest) (which is not 0), or none at the
     * end of the stream. Returns 0, or a negative error (which makes the stream invalid).
     */
    int (*read)(struct sl_input_stream *stream, struct sl_buf *dest);
    /*
     * Moves the read position and clears the end of stream. NULL for a stream that cannot seek.
     * Returns SL_E_STREAM_SEEK_OUT_OF_RANGE (position unchanged) or other errors.
     */
    int (*seek)(struct sl_input_stream *stream, int64_t offset, enum sl_stream_seek_basis basis);
    /* True once the stream knows it has no more bytes. */
    bool (*is_end_of_stream)(struct sl_input_stream *stream);
    /* Total length in bytes (from the start, not what is left). NULL if it is never known. */
    int (*length)(struct sl_input_stream *stream, uint64_t *out);
    /* Frees the stream (called once, by the last release). */
    void (*destroy)(struct sl_input_stream *stream);
};

/* The base every input stream embeds. All fields are private. */
struct sl_input_stream {
    const struct sl_input_stream_vtable *vtable; /* private */
    struct sl_ref ref;                           /* private */
    int error;                                   /* private: the sticky error, or 0 */
};

/* Lifecycle ------------------------------------------------------------------------------- */

/*
 * A stream over the bytes of data, which can seek and knows its length.
 * Ownership: keeps data (the caller keeps the bytes alive and unchanged until the stream is
 * destroyed); returns owned, holding one reference.
 * Errors: SL_E_INVAL; SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_input_stream_new_from_cursor(struct sl_cursor data,
                                                         struct sl_input_stream **out);

/*
 * A stream over the file at path, opened read-only. A regular file can seek and has a length
 * (its current size); other files (pipes, character devices) cannot seek
 * (SL_E_STREAM_NOT_SEEKABLE) and have no length (SL_E_STREAM_LENGTH_UNKNOWN). Reads block.
 * If a regular file ends before the size it had when opened (or at the last seek) the read
 * fails with SL_E_STREAM_TRUNCATED: the file shrank while it was being read.
 * Ownership: returns owned, holding one reference; the stream owns the descriptor.
 * Errors: SL_E_INVAL; SL_E_NOMEM; -errno from open(2) or fstat(2) (e.g. -ENOENT, -EACCES);
 * -EISDIR for a directory.
 */
SL_API SL_MUST_CHECK int sl_input_stream_new_from_file(const char *path,
                                                       struct sl_input_stream **out);

/*
 * As sl_input_stream_new_from_file, over a descriptor that is already open for reading (and
 * blocking). Reading starts at its current offset; seeks are relative to the file, not to that
 * offset.
 * Ownership: takes fd on success (the stream closes it); on error the caller keeps it.
 * Errors: SL_E_INVAL; SL_E_NOMEM; -errno from fstat(2) or lseek(2); -EISDIR.
 */
SL_API SL_MUST_CHECK int sl_input_stream_new_from_fd(int fd, struct sl_input_stream **out);

/* Adds a reference. Thread: any (the caller must already hold one). */
SL_API void sl_input_stream_acquire(struct sl_input_stream *stream);

/* Drops a reference; the last one destroys the stream. NULL is ignored. Thread: any. */
SL_API void sl_input_stream_release(struct sl_input_stream *stream);

/* Operations ------------------------------------------------------------------------------ */

/*
 * Appends the stream's next bytes to dest, without growing it (see the top of this file).
 * Ownership: borrows dest.
 * Errors: SL_E_INVAL; SL_E_BUF_FULL if dest has no space (nothing is read); the stream's
 * sticky error; from file streams, -errno from read(2) and SL_E_STREAM_TRUNCATED.
 */
SL_API SL_MUST_CHECK int sl_input_stream_read(struct sl_input_stream *stream, struct sl_buf *dest);

/*
 * Moves the read position to offset from basis and clears the end of stream.
 * Errors: SL_E_INVAL for an unknown basis; SL_E_STREAM_NOT_SEEKABLE;
 * SL_E_STREAM_SEEK_OUT_OF_RANGE outside [0, length] (the position is unchanged); the sticky
 * error; -errno from lseek(2) or fstat(2).
 */
SL_API SL_MUST_CHECK int sl_input_stream_seek(struct sl_input_stream *stream, int64_t offset,
                                              enum sl_stream_seek_basis basis);

/* Queries --------------------------------------------------------------------------------- */

/* Whether the stream is at its end and whether it is still valid. */
SL_API void sl_input_stream_status(struct sl_input_stream *stream, struct sl_stream_status *out);

/*
 * The stream's total length in bytes, when known.
 * Errors: SL_E_INVAL; SL_E_STREAM_LENGTH_UNKNOWN; -errno from fstat(2).
 */
SL_API SL_MUST_CHECK int sl_input_stream_length(struct sl_input_stream *stream, uint64_t *out);

/* Writing a stream ------------------------------------------------------------------------ */

/*
 * Prepares the base of a new stream: one reference, no error. vtable needs read,
 * is_end_of_stream and destroy; seek and length may be NULL.
 * Ownership: keeps vtable (a static const).
 */
SL_API void sl_input_stream_init(struct sl_input_stream *stream,
                                 const struct sl_input_stream_vtable *vtable);

SL_END_DECLS

#endif /* SL_STREAM_H */
