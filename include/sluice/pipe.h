/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_PIPE_H
#define SL_PIPE_H

#include <sluice/buf.h>
#include <sluice/common.h>
#include <sluice/event_loop.h>
#include <sluice/write_req.h>

SL_BEGIN_DECLS

/*
 * A non-blocking pipe: the read end watched by one event loop, the write end (possibly on
 * another loop) with queued writes and completion callbacks, like a socket's.
 *
 * Writing to a pipe whose read end is gone raises SIGPIPE unless the process ignores it
 * (pipes have no MSG_NOSIGNAL). Sluice does not change signal dispositions for you: a program
 * that writes to pipes should set SIGPIPE to SIG_IGN; the write then fails with -EPIPE.
 */

struct sl_pipe_read_end;
struct sl_pipe_write_end;

typedef void sl_pipe_readable_fn(struct sl_pipe_read_end *read_end, void *user_data);

/*
 * Creates both ends (O_NONBLOCK, O_CLOEXEC), attached to no loop yet.
 * Thread: any. Ownership: returns both owned; destroy each with its destroy function.
 * Errors: SL_E_NOMEM; -errno (-EMFILE, ...).
 */
SL_API SL_MUST_CHECK int sl_pipe_new(struct sl_pipe_read_end **read_end,
                                     struct sl_pipe_write_end **write_end);

/*
 * Attaches the read end to loop and calls on_readable when data (or end of file) may be
 * waiting; read with sl_pipe_read until -EAGAIN. Thread: loop's thread.
 * Errors: SL_E_STATE if already reading; SL_E_WRONG_THREAD; subscribe errors.
 */
SL_API SL_MUST_CHECK int sl_pipe_read_start(struct sl_pipe_read_end *read_end, struct sl_loop *loop,
                                            sl_pipe_readable_fn *on_readable, void *user_data);

/* Stops watching (start may be called again). Thread: the loop thread. */
SL_API void sl_pipe_read_stop(struct sl_pipe_read_end *read_end);

/*
 * Reads into buf's free space and commits what arrived. Thread: the loop thread (or any, if
 * not reading). Errors: -EAGAIN; SL_E_CLOSED at end of file; SL_E_BUF_FULL; -errno.
 */
SL_API SL_MUST_CHECK int sl_pipe_read(struct sl_pipe_read_end *read_end, struct sl_buf *buf,
                                      size_t *amount);

/* Stops watching, closes and frees. Thread: the loop thread once attached. NULL is ignored. */
SL_API void sl_pipe_read_end_destroy(struct sl_pipe_read_end *read_end);

/* Attaches the write end to loop. Thread: loop's thread. Errors: SL_E_STATE; subscribe errors. */
SL_API SL_MUST_CHECK int sl_pipe_write_attach(struct sl_pipe_write_end *write_end,
                                              struct sl_loop *loop);

/*
 * Queues data after earlier writes; on_done reports it (never from inside this call).
 * Thread: the loop thread. Ownership: keeps req and the bytes data views until on_done.
 * Errors: SL_E_STATE if not attached; SL_E_CLOSED after destroy began.
 */
SL_API SL_MUST_CHECK int sl_pipe_write(struct sl_pipe_write_end *write_end,
                                       struct sl_write_req *req, struct sl_cursor data,
                                       sl_write_done_fn *on_done, void *user_data);

/*
 * Closes and frees the write end; writes not yet done are reported now, inside this call, with
 * SL_E_CLOSED. The reader then sees end of file. Thread: the loop thread once attached.
 */
SL_API void sl_pipe_write_end_destroy(struct sl_pipe_write_end *write_end);

SL_API int sl_pipe_read_end_fd(const struct sl_pipe_read_end *read_end);
SL_API int sl_pipe_write_end_fd(const struct sl_pipe_write_end *write_end);

SL_END_DECLS

#endif /* SL_PIPE_H */
