/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TASK_SCHEDULER_H
#define SL_TASK_SCHEDULER_H

/*
 * The task scheduler behind every event loop (internal). Single-threaded: only the loop thread
 * touches it; cross-thread hand-off happens in event_loop.c before tasks get here.
 *
 * Tasks due "now" wait in a FIFO list; timed tasks wait in an intrusive heap ordered by
 * (run_at_ns, seq). Neither allocates, so scheduling cannot fail.
 */

#include <sluice/task.h>

#include <stdbool.h>
#include <stdint.h>

/* Task states (struct sl_task.state). */
enum sl__task_state {
    SL__TASK_IDLE = 0,
    SL__TASK_ASAP,  /* in the scheduler's asap or running list */
    SL__TASK_TIMED, /* in the scheduler's heap */
    SL__TASK_CROSS, /* in an event loop's cross-thread queue */
};

struct sl_scheduler {
    struct sl_list asap;    /* tasks to run at the next run_due, FIFO */
    struct sl_list running; /* tasks taken by the current run_due, not yet run */
    struct sl_heap timed;   /* tasks with a run time, earliest first */
    uint32_t next_seq;
};

void sl__scheduler_init(struct sl_scheduler *s);

/* Queues task to run at the next sl__scheduler_run_due. */
void sl__scheduler_schedule_now(struct sl_scheduler *s, struct sl_task *task);

/* Queues task to run at the first sl__scheduler_run_due whose `now` is >= run_at_ns. */
void sl__scheduler_schedule_at(struct sl_scheduler *s, struct sl_task *task, uint64_t run_at_ns);

/* If task is pending here, removes it and runs it with SL_TASK_CANCELED; otherwise nothing. */
void sl__scheduler_cancel(struct sl_scheduler *s, struct sl_task *task);

/*
 * Runs, in order, the tasks that were queued "now" before this call and then the timed tasks
 * due at `now`. Tasks these schedule wait for the next call, which keeps one call bounded.
 * Returns how many tasks ran.
 */
size_t sl__scheduler_run_due(struct sl_scheduler *s, uint64_t now);

/* True when a task waits in the asap list. */
bool sl__scheduler_has_asap(const struct sl_scheduler *s);

/* Earliest run_at_ns among timed tasks; false when there are none. */
bool sl__scheduler_next_deadline(const struct sl_scheduler *s, uint64_t *run_at_ns);

/* True when no task is pending at all. */
bool sl__scheduler_is_empty(const struct sl_scheduler *s);

/*
 * Runs every pending task with SL_TASK_CANCELED, including tasks that cancelled tasks schedule,
 * until none is left.
 */
void sl__scheduler_cancel_all(struct sl_scheduler *s);

#endif /* SL_TASK_SCHEDULER_H */
