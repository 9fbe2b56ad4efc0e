/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_EVENT_LOOP_GROUP_H
#define SL_EVENT_LOOP_GROUP_H

#include <sluice/common.h>
#include <sluice/event_loop.h>

#include <stdbool.h>

SL_BEGIN_DECLS

/*
 * A group of running event loops, each on its own named thread ("<name>-<i>"), from which
 * channels pick a loop with sl_loop_group_get_next. Reference counted: whoever keeps a loop of
 * the group (a bootstrap, a channel) holds a reference. When the last reference goes, the group
 * shuts down asynchronously: every loop is stopped and destroyed (pending tasks see
 * SL_TASK_CANCELED) on a helper thread, then on_shutdown_complete runs once, on that thread.
 */

struct sl_loop_group;

typedef void sl_loop_group_shutdown_fn(void *user_data);

struct sl_loop_group_options {
    unsigned loop_count; /* 0: one loop per CPU this process may run on */
    bool pin_to_cpus;    /* pin loop i to the i-th allowed CPU (wrapping); failures only logged */
    /* Explicit CPUs instead: loop i is pinned to cpus[i % cpu_count]. Overrides pin_to_cpus; the
     * array is read during sl_loop_group_new only. */
    const int *cpus;
    size_t cpu_count;
    const char *name;    /* thread name prefix; NULL for "sl-loop" */
    const char *backend; /* poller back end for every loop; NULL for the platform default */
    sl_loop_group_shutdown_fn *on_shutdown_complete; /* may be NULL */
    void *user_data;
};

/* Lifecycle ------------------------------------------------------------------------------- */

/*
 * Creates the loops and starts their threads.
 * Ownership: returns owned, holding one reference.
 * Errors: SL_E_INVAL for more than 1024 loops; errors of sl_loop_new and sl_loop_run (nothing is
 * left running then).
 */
SL_API SL_MUST_CHECK int sl_loop_group_new(const struct sl_loop_group_options *opts,
                                           struct sl_loop_group **out);

/* Adds a reference. Thread: any (the caller must already hold one). */
SL_API void sl_loop_group_acquire(struct sl_loop_group *group);

/*
 * Drops a reference; the last one starts the asynchronous shutdown described above and returns
 * at once. Thread: any, including the group's own loop threads.
 */
SL_API void sl_loop_group_release(struct sl_loop_group *group);

/*
 * Drops the caller's reference and waits until the group has shut down completely (after
 * on_shutdown_complete has returned). Other holders must release theirs for this to return.
 * Thread: any thread that is not one of the group's loops.
 * Errors: SL_E_WOULD_DEADLOCK from one of the group's loop threads (the reference is kept).
 */
SL_API SL_MUST_CHECK int sl_loop_group_destroy(struct sl_loop_group *group);

/* Queries --------------------------------------------------------------------------------- */

/*
 * Picks a loop for new work: of two candidates (the next in round-robin order and another one),
 * the one with fewer IO subscriptions. Thread: any. Ownership: the loop belongs to the group.
 */
SL_API struct sl_loop *sl_loop_group_get_next(struct sl_loop_group *group);

/* The loop at index (< count), or NULL. */
SL_API struct sl_loop *sl_loop_group_get_loop(struct sl_loop_group *group, size_t index);

SL_API size_t sl_loop_group_count(const struct sl_loop_group *group);

SL_END_DECLS

#endif /* SL_EVENT_LOOP_GROUP_H */
