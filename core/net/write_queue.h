/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_WRITE_QUEUE_H
#define SL_WRITE_QUEUE_H

/*
 * The ordered write queue shared by sockets and pipes (internal). It only moves bytes and
 * requests: requests wait in `pending` until written, then in `done` until their owner delivers
 * the callbacks from a task (the owner knows when it is safe to call user code).
 */

#include <sluice/write_req.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Writes iov to fd the way the owner needs (sendmsg with MSG_NOSIGNAL, or writev). */
typedef ssize_t sl__wq_send_fn(int fd, const struct iovec *iov, int count);

struct sl__write_queue {
    struct sl_list pending; /* not yet fully written, in order */
    struct sl_list done;    /* written or failed, callbacks not yet delivered */
    size_t queued_bytes;
    uint64_t written_bytes;
    bool one_per_send; /* datagram sockets: each request is one datagram */
    sl__wq_send_fn *send;
};

void sl__wq_init(struct sl__write_queue *wq, bool one_per_send, sl__wq_send_fn *send);

/* Appends a request for data. */
void sl__wq_push(struct sl__write_queue *wq, struct sl_write_req *req, struct sl_cursor data,
                 sl_write_done_fn *on_done, void *user_data);

/*
 * Writes as much as the kernel takes, moving finished requests to `done`. Returns 0 when the
 * queue is empty or the kernel is full (wait for writability), or a fatal -errno, in which
 * case every pending request has been failed with it.
 */
int sl__wq_flush(struct sl__write_queue *wq, int fd);

/* Moves every pending request to `done` with status. */
void sl__wq_fail_all(struct sl__write_queue *wq, int status);

/* The next finished request, or NULL. */
struct sl_write_req *sl__wq_pop_done(struct sl__write_queue *wq);

static inline bool sl__wq_has_pending(const struct sl__write_queue *wq)
{
    return !sl_list_is_empty(&wq->pending);
}

static inline bool sl__wq_has_done(const struct sl__write_queue *wq)
{
    return !sl_list_is_empty(&wq->done);
}

#endif /* SL_WRITE_QUEUE_H */
