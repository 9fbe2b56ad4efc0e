/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_EVENT_LOOP_H
#define SL_EVENT_LOOP_H

#include <sluice/common.h>
#include <sluice/task.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * An event loop: one thread that waits for IO readiness on subscribed file descriptors, runs
 * tasks (now or at a time), and keeps loop-local objects. Everything a channel does happens on
 * its loop's thread, so the data path needs no locks.
 *
 * Thread-safety: sl_loop_schedule_now, sl_loop_schedule_at, sl_loop_stop and
 * sl_loop_is_on_callers_thread may be called from any thread. Everything else marked
 * "loop thread" must run on the loop's own thread (from a task or an IO callback); such calls
 * made elsewhere are programmer errors (SL_E_WRONG_THREAD where a result is returned).
 *
 * One tick of the loop: wait for IO (no longer than the next timed task), call the IO callbacks,
 * take the tasks other threads scheduled, run the tasks that are due. Tasks scheduled while
 * tasks run wait for the next tick, so IO is never starved by a task that reschedules itself.
 *
 * Back ends: Linux uses edge-triggered epoll with an eventfd for wake-ups. Others plug in
 * behind the internal poller interface (core/loop/poller.h).
 */

struct sl_loop;
struct sl_io_subscription;

/* Readiness reported to IO callbacks, as a bit mask. */
enum sl_io_event {
    SL_IO_READABLE = 1 << 0,
    SL_IO_WRITABLE = 1 << 1,
    SL_IO_CLOSED = 1 << 2, /* the peer hung up (EOF on read is still to be seen by read()) */
    SL_IO_ERROR = 1 << 3,  /* an error is pending on the descriptor (see SO_ERROR) */
};

/*
 * Called on the loop thread when fd becomes ready. Notification is edge-triggered: a callback
 * must read or write until EAGAIN, or remember that more is pending, because it will not be
 * called again for readiness it has already been told about. The callback may unsubscribe this
 * or any other subscription, including its own.
 */
typedef void sl_io_event_fn(struct sl_loop *loop, struct sl_io_subscription *sub, int events,
                            void *user_data);

/* Destroys a loop-local object (see sl_loop_local_put). */
typedef void sl_loop_local_destroy_fn(void *value);

struct sl_loop_options {
    const char *name;    /* thread name; NULL for "sl-loop" */
    int cpu;             /* CPU to pin the loop thread to, or -1 (the default if opts is NULL) */
    const char *backend; /* poller name ("epoll"); NULL for the platform default */
};

/* Lifecycle ------------------------------------------------------------------------------- */

/*
 * Creates a loop that is not yet running.
 * Ownership: returns owned; free with sl_loop_destroy.
 * Errors: SL_E_NOMEM; SL_E_NOT_FOUND for an unknown backend; -errno from epoll_create1/eventfd.
 */
SL_API SL_MUST_CHECK int sl_loop_new(const struct sl_loop_options *opts, struct sl_loop **out);

/*
 * Stops the loop if it runs, waits for its thread, then runs every pending task once with
 * SL_TASK_CANCELED (on the calling thread, which counts as the loop thread meanwhile), calls
 * the destructors of loop-local objects, and frees the loop. Subscriptions still open are
 * released (their descriptors are not closed: the subscriber owns them).
 * Thread: any thread except the loop's own.
 * Errors: SL_E_WOULD_DEADLOCK from the loop's own thread (nothing is freed).
 */
SL_API SL_MUST_CHECK int sl_loop_destroy(struct sl_loop *loop);

/*
 * Starts the loop's thread. Tasks scheduled before this call run once it starts.
 * Errors: SL_E_STATE if already running; errors of sl_thread_start.
 */
SL_API SL_MUST_CHECK int sl_loop_run(struct sl_loop *loop);

/*
 * Asks the loop to stop after the current tick. Pending tasks stay pending (they run if the loop
 * is run again, or are cancelled by sl_loop_destroy). Thread: any. Idempotent.
 */
SL_API void sl_loop_stop(struct sl_loop *loop);

/*
 * Waits until the loop's thread has exited after sl_loop_stop. Returns at once if it is not
 * running. Thread: any thread except the loop's own.
 * Errors: SL_E_WOULD_DEADLOCK from the loop's own thread.
 */
SL_API SL_MUST_CHECK int sl_loop_wait_for_stop(struct sl_loop *loop);

/* Tasks ----------------------------------------------------------------------------------- */

/*
 * Runs task on the loop as soon as possible, after tasks already scheduled "now" (FIFO).
 * Thread: any. From the loop thread the task goes straight to the scheduler; from other threads
 * it goes through a lock-free queue, and a whole batch of such tasks costs one wake-up.
 * Ownership: keeps task until it has run (with SL_TASK_RUN or SL_TASK_CANCELED).
 */
SL_API void sl_loop_schedule_now(struct sl_loop *loop, struct sl_task *task);

/*
 * Runs task once the loop's clock (sl_loop_now_ns) reaches run_at_ns; tasks due at the same
 * time run in the order they were scheduled. Thread: any. Ownership: as sl_loop_schedule_now.
 */
SL_API void sl_loop_schedule_at(struct sl_loop *loop, struct sl_task *task, uint64_t run_at_ns);

/*
 * Cancels a pending task: it runs at once, on this thread, with SL_TASK_CANCELED. A task that is
 * not pending (already ran, never scheduled) is left alone.
 * Thread: loop thread.
 */
SL_API void sl_loop_cancel(struct sl_loop *loop, struct sl_task *task);

/* IO -------------------------------------------------------------------------------------- */

/*
 * Watches fd for `events` (SL_IO_READABLE and/or SL_IO_WRITABLE; closed and error are always
 * reported) and calls fn on the loop thread when they happen.
 * Thread: loop thread.
 * Ownership: borrows fd (the caller closes it, after unsubscribing); returns the subscription in
 * *out, owned by the loop, valid until sl_loop_unsubscribe.
 * Errors: SL_E_WRONG_THREAD; SL_E_INVAL; SL_E_NOMEM; -errno from the poller (e.g. -EEXIST if
 * the fd is already subscribed on this loop, -EPERM for a regular file).
 */
SL_API SL_MUST_CHECK int sl_loop_subscribe(struct sl_loop *loop, int fd, int events,
                                           sl_io_event_fn *fn, void *user_data,
                                           struct sl_io_subscription **out);

/*
 * Stops watching and releases sub; fn is not called again, not even for events already
 * collected in the current tick. Safe inside any IO callback, including sub's own.
 * Thread: loop thread.
 */
SL_API void sl_loop_unsubscribe(struct sl_loop *loop, struct sl_io_subscription *sub);

/* Loop-local storage ---------------------------------------------------------------------- */

/*
 * Stores value under key (any pointer, typically the address of a static). A value already
 * under key is destroyed first (unless it is the same pointer). destroy may be NULL.
 * Thread: loop thread. Ownership: takes value (destroy is called on remove and loop destroy).
 * Errors: SL_E_WRONG_THREAD; SL_E_NOMEM (value is not taken).
 */
SL_API SL_MUST_CHECK int sl_loop_local_put(struct sl_loop *loop, const void *key, void *value,
                                           sl_loop_local_destroy_fn *destroy);

/*
 * Finds the value under key. Thread: loop thread. Ownership: *out stays owned by the loop.
 * Errors: SL_E_NOT_FOUND; SL_E_WRONG_THREAD.
 */
SL_API SL_MUST_CHECK int sl_loop_local_fetch(struct sl_loop *loop, const void *key, void **out);

/*
 * Removes the value under key and calls its destructor.
 * Thread: loop thread. Errors: SL_E_NOT_FOUND; SL_E_WRONG_THREAD.
 */
SL_API SL_MUST_CHECK int sl_loop_local_remove(struct sl_loop *loop, const void *key);

/* Queries --------------------------------------------------------------------------------- */

/* True when called on the loop's thread (or inside sl_loop_destroy). Thread: any. */
SL_API bool sl_loop_is_on_callers_thread(const struct sl_loop *loop);

/* The loop's clock: monotonic nanoseconds, the time base of sl_loop_schedule_at. Thread: any. */
SL_API uint64_t sl_loop_now_ns(const struct sl_loop *loop);

/* The loop's name as given in its options. */
SL_API const char *sl_loop_name(const struct sl_loop *loop);

/*
 * The load figure the loop group balances on: IO subscriptions, plus work picked for the loop
 * by sl_loop_group_get_next that no subscription has settled yet (for at most ~2 s).
 * Thread: any.
 */
SL_API size_t sl_loop_load(const struct sl_loop *loop);

/* Name of the poller back end ("epoll"). */
SL_API const char *sl_loop_backend_name(const struct sl_loop *loop);

SL_END_DECLS

#endif /* SL_EVENT_LOOP_H */
