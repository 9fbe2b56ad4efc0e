/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TASK_H
#define SL_TASK_H

#include <sluice/common.h>
#include <sluice/heap.h>
#include <sluice/list.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * A task is a function, an argument and, once it runs, a status. Tasks are embedded in their
 * owner's struct (so scheduling never allocates) and handed to an event loop with
 * sl_loop_schedule_now or sl_loop_schedule_at. Every scheduled task runs exactly once: with
 * SL_TASK_RUN when its time comes, or with SL_TASK_CANCELED when it is cancelled or its loop is
 * destroyed first, so the owner always gets the chance to free what the task carries.
 *
 * A task may be scheduled again from inside its own function (it is no longer scheduled by
 * then). A task must not be scheduled twice at once.
 */

enum sl_task_status {
    SL_TASK_RUN,
    SL_TASK_CANCELED,
};

struct sl_task;

typedef void sl_task_fn(struct sl_task *task, void *arg, enum sl_task_status status);

struct sl_task {
    sl_task_fn *fn;   /* read-only */
    void *arg;        /* read-only */
    const char *name; /* read-only: static string for logs and debugging */

    /* private: where the task waits; it is in at most one of these at a time */
    union {
        struct sl_list_node list;
        struct sl_heap_node heap;
        struct sl_task *next_cross;
    } link;
    uint64_t run_at_ns; /* private: 0 for "as soon as possible" */
    uint32_t seq;       /* private: breaks ties between equal run_at_ns, for FIFO order */
    int32_t state;      /* private */
};

/* Prepares task to run fn(task, arg, status). name should be a string literal. */
SL_API void sl_task_init(struct sl_task *task, sl_task_fn *fn, void *arg, const char *name);

/*
 * True from scheduling until the task starts running or is cancelled.
 * Thread: the loop thread of the loop it was scheduled on.
 */
SL_API bool sl_task_is_scheduled(const struct sl_task *task);

SL_END_DECLS

#endif /* SL_TASK_H */
