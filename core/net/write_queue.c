/* SPDX-License-Identifier: Apache-2.0 */
#include "write_queue.h"

#include <sluice/common.h>

#include "guard.h"

#include <errno.h>
#include <limits.h>

/*
 * Up to this many queued requests go to the kernel in one writev/sendmsg. Loopback TCP takes
 * 16 KiB messages by the dozen once the receiver catches up, so batching cuts syscalls.
 */
#define MAX_IOV 64

void sl__wq_init(struct sl__write_queue *wq, bool one_per_send, sl__wq_send_fn *send)
{
    sl_list_init(&wq->pending);
    sl_list_init(&wq->done);
    wq->queued_bytes = 0;
    wq->written_bytes = 0;
    wq->one_per_send = one_per_send;
    wq->send = send;
}

void sl__wq_push(struct sl__write_queue *wq, struct sl_write_req *req, struct sl_cursor data,
                 sl_write_done_fn *on_done, void *user_data)
{
    req->remaining = data;
    req->on_done = on_done;
    req->user_data = user_data;
    req->status = 0;
    wq->queued_bytes += data.len;
    sl_list_push_back(&wq->pending, &req->node);
}

static void finish(struct sl__write_queue *wq, struct sl_write_req *req, int status)
{
    sl_list_remove(&req->node);
    wq->queued_bytes -= req->remaining.len;
    req->status = status;
    sl_list_push_back(&wq->done, &req->node);
}

/* Collects iovecs from the front of the queue; returns how many and their byte total. */
static int gather(struct sl__write_queue *wq, struct iovec *iov, size_t *total)
{
    int n = 0;
    *total = 0;
    for (struct sl_list_node *node = sl_list_front(&wq->pending); node && n < MAX_IOV;
         node = sl_list_next(&wq->pending, node)) {
        struct sl_write_req *req = sl_container_of(node, struct sl_write_req, node);
        iov[n].iov_base = (void *)(uintptr_t)req->remaining.ptr;
        iov[n].iov_len = req->remaining.len;
        *total += req->remaining.len;
        n++;
        if (wq->one_per_send) {
            break;
        }
    }
    return n;
}

/* Accounts `written` bytes against the requests at the front of the queue. */
static void advance(struct sl__write_queue *wq, size_t written)
{
    wq->written_bytes += written;
    struct sl_list_node *node;
    while ((node = sl_list_front(&wq->pending)) != NULL) {
        struct sl_write_req *req = sl_container_of(node, struct sl_write_req, node);
        size_t take = written < req->remaining.len ? written : req->remaining.len;
        int rc = sl_cursor_skip(&req->remaining, take);
        SL_ASSERT(rc == 0);
        (void)rc;
        wq->queued_bytes -= take;
        written -= take;
        if (req->remaining.len > 0) {
            return;
        }
        finish(wq, req, 0);
        if (written == 0 && wq->one_per_send) {
            return;
        }
    }
}

int sl__wq_flush(struct sl__write_queue *wq, int fd)
{
    while (sl__wq_has_pending(wq)) {
        struct iovec iov[MAX_IOV];
        size_t total;
        int n = gather(wq, iov, &total);
        ssize_t written = wq->send(fd, iov, n);
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            }
            int rc = -errno;
            if (wq->one_per_send && rc != -EBADF) {
                /* One datagram failed (too large, ICMP refused): the others may still go. */
                struct sl_list_node *front = sl_list_front(&wq->pending);
                finish(wq, sl_container_of(front, struct sl_write_req, node), rc);
                continue;
            }
            sl__wq_fail_all(wq, rc);
            return rc;
        }
        advance(wq, (size_t)written);
        if ((size_t)written < total) {
            return 0; /* the kernel is full; writability will be reported */
        }
    }
    return 0;
}

void sl__wq_fail_all(struct sl__write_queue *wq, int status)
{
    struct sl_list_node *node;
    while ((node = sl_list_front(&wq->pending)) != NULL) {
        finish(wq, sl_container_of(node, struct sl_write_req, node), status);
    }
}

struct sl_write_req *sl__wq_pop_done(struct sl__write_queue *wq)
{
    struct sl_list_node *node = sl_list_pop_front(&wq->done);
    return node ? sl_container_of(node, struct sl_write_req, node) : NULL;
}
