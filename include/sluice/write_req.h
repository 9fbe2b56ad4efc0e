/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_WRITE_REQ_H
#define SL_WRITE_REQ_H

#include <sluice/buf.h>
#include <sluice/common.h>
#include <sluice/list.h>

SL_BEGIN_DECLS

/*
 * One queued write on a socket or pipe. The caller provides the storage (as with struct
 * sl_task), so queuing a write never allocates: channel messages embed one.
 */

struct sl_write_req;

/*
 * Called exactly once per queued write, on the loop thread and never from inside the call that
 * queued it: status 0 once every byte reached the kernel, or an error (SL_E_CLOSED when the
 * socket was closed first, -EPIPE, -ECONNRESET, ...).
 */
typedef void sl_write_done_fn(struct sl_write_req *req, int status, void *user_data);

struct sl_write_req {
    /* private: owned by the socket or pipe from queuing until the callback */
    struct sl_list_node node;
    struct sl_cursor remaining;
    sl_write_done_fn *on_done;
    void *user_data;
    int status;
};

SL_END_DECLS

#endif /* SL_WRITE_REQ_H */
