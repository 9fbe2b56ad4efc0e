/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/stream.h>

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"
#include "stream_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * A file stream reads with plain blocking read(2) on its own descriptor. A regular file can
 * seek and has a length; anything else (a pipe, a FIFO, a character device) is read straight
 * through until read(2) returns 0.
 *
 * Shrinking files. A regular file can be truncated by another process while we read it; read(2)
 * then simply returns 0 early and the upload would silently be short. So the stream remembers
 * the size the file had when it was opened (or at the last seek) and a read that hits the end
 * before that size fails with SL_E_STREAM_TRUNCATED. A file that grows is read to its new end.
 */

struct file_stream {
    struct sl_input_stream base;
    int fd;                /* owned */
    bool regular;          /* S_ISREG: seekable, with a length */
    bool end_of_stream;    /* read(2) returned 0 since the last seek */
    uint64_t pos;          /* offset of the next byte (regular files) */
    uint64_t expected_len; /* size at open or the last seek (regular files) */
};

static struct file_stream *file_stream_of(struct sl_input_stream *stream)
{
    return sl_container_of(stream, struct file_stream, base);
}

static int file_size(int fd, uint64_t *out)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return sl_error_from_errno(errno);
    }
    *out = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    return 0;
}

static int file_read(struct sl_input_stream *stream, struct sl_buf *dest)
{
    struct file_stream *f = file_stream_of(stream);
    size_t want = sl_buf_space(dest) < SSIZE_MAX ? sl_buf_space(dest) : SSIZE_MAX;
    ssize_t n;
    do {
        n = read(f->fd, dest->data + dest->len, want);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return sl_error_from_errno(errno);
    }
    if (n == 0) {
        if (f->regular && f->pos < f->expected_len) {
            SL_LOG_WARN(SL_LS_STREAM, "file stream: ended at %llu of %llu bytes: file shrank",
                        (unsigned long long)f->pos, (unsigned long long)f->expected_len);
            return SL_E_STREAM_TRUNCATED;
        }
        f->end_of_stream = true;
        return 0;
    }
    SL_TRY(sl_buf_commit(dest, (size_t)n));
    f->pos += (uint64_t)n;
    return 0;
}

static int file_seek(struct sl_input_stream *stream, int64_t offset,
                     enum sl_stream_seek_basis basis)
{
    struct file_stream *f = file_stream_of(stream);
    SL_ENSURE(f->regular, SL_E_STREAM_NOT_SEEKABLE);
    uint64_t size = 0;
    SL_TRY(file_size(f->fd, &size));
    uint64_t target = 0;
    SL_TRY(sl__stream_seek_target(offset, basis, size, &target));
    SL_ENSURE(target <= INT64_MAX, SL_E_STREAM_SEEK_OUT_OF_RANGE);
    if (lseek(f->fd, (off_t)target, SEEK_SET) < 0) {
        return sl_error_from_errno(errno);
    }
    f->pos = target;
    f->expected_len = size;
    f->end_of_stream = false;
    return 0;
}

static bool file_is_end_of_stream(struct sl_input_stream *stream)
{
    return file_stream_of(stream)->end_of_stream;
}

static int file_length(struct sl_input_stream *stream, uint64_t *out)
{
    struct file_stream *f = file_stream_of(stream);
    SL_ENSURE(f->regular, SL_E_STREAM_LENGTH_UNKNOWN);
    return file_size(f->fd, out);
}

static void file_destroy(struct sl_input_stream *stream)
{
    struct file_stream *f = file_stream_of(stream);
    /* Nothing was written through this descriptor, so close(2) cannot lose data. */
    (void)close(f->fd);
    sl_free(f);
}

static const struct sl_input_stream_vtable s_file_vtable;

/* Learns what kind of file fd is and where reading starts. */
static int describe_fd(struct file_stream *f)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        return sl_error_from_errno(errno);
    }
    SL_ENSURE(!S_ISDIR(st.st_mode), -EISDIR);
    f->regular = S_ISREG(st.st_mode);
    if (!f->regular) {
        return 0;
    }
    off_t pos = lseek(f->fd, 0, SEEK_CUR);
    if (pos < 0) {
        return sl_error_from_errno(errno);
    }
    f->pos = (uint64_t)pos;
    f->expected_len = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    return 0;
}

int sl_input_stream_new_from_fd(int fd, struct sl_input_stream **out)
{
    SL_ENSURE_ARG(fd >= 0 && out);
    struct file_stream *f = sl_calloc(1, sizeof(*f));
    SL_ENSURE(f, SL_E_NOMEM);
    f->fd = fd;
    int rc = describe_fd(f);
    if (rc < 0) {
        sl_free(f);
        return rc;
    }
    sl_input_stream_init(&f->base, &s_file_vtable);
    *out = &f->base;
    return 0;
}

int sl_input_stream_new_from_file(const char *path, struct sl_input_stream **out)
{
    SL_ENSURE_ARG(path && out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return sl_error_from_errno(errno);
    }
    int rc = sl_input_stream_new_from_fd(fd, out);
    if (rc < 0) {
        (void)close(fd); /* read-only: nothing to lose */
    }
    return rc;
}

static const struct sl_input_stream_vtable s_file_vtable = {
    .read = file_read,
    .seek = file_seek,
    .is_end_of_stream = file_is_end_of_stream,
    .length = file_length,
    .destroy = file_destroy,
};
