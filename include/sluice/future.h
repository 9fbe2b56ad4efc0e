/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_FUTURE_H
#define SL_FUTURE_H

#include <sluice/common.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * A future: the result of an operation that finishes later, possibly on another thread.
 *
 * A future is made pending for one type of value (enum sl_future_type), is completed exactly
 * once, by its producer, with a value of that type or with an error, and never changes after
 * that. A consumer either registers one callback or blocks in sl_future_wait, then reads the
 * result with the sl_future_result_* function of the future's type. Completing twice, or with
 * a value of the wrong type, is reported (SL_E_FUTURE_ALREADY_DONE, SL_E_FUTURE_WRONG_TYPE)
 * and changes nothing.
 *
 * Threads: every function here may be called from any thread. Completion and registration are
 * serialised by a lock inside the future, and the result is published to every thread that
 * later learns the future is done (through a callback, sl_future_wait or sl_future_is_done).
 *
 * When the callback runs. A future has at most one callback, and it runs exactly once:
 *  - sl_future_on_done: inline, never through a loop. If the future is already done, fn runs on
 *    the registering thread before sl_future_on_done returns; otherwise it runs on the thread
 *    that completes the future, inside sl_future_complete_* or sl_future_fail, after the
 *    result is published and with no lock held.
 *  - sl_future_on_done_if_pending: as sl_future_on_done when the future is pending; when it is
 *    already done, fn is not registered and never runs (the caller reads the result at once).
 *    Loops that issue one operation after another use it so that synchronous completions
 *    iterate instead of recursing.
 *  - sl_future_on_done_in_loop: always deferred, even if the future is already done and even
 *    when called on the loop's own thread: fn runs from a task on the given loop. If the loop
 *    is destroyed before that task runs, fn runs then, on the destroying thread, with status
 *    SL_E_CANCELED. The pending task holds a reference to the future.
 *
 * Lifetime: reference counted. sl_future_new returns one reference; the producer and each
 * consumer hold one while they use the future. A callback borrows the future for the duration
 * of the call. A PTR value is destroyed with the future (unless taken out first). A producer
 * must complete every future it made: a future freed while pending never runs its callback,
 * which is logged as a warning.
 */

struct sl_future;
struct sl_loop;

/* What a future carries when it succeeds. */
enum sl_future_type {
    SL_FUTURE_VOID, /* nothing but success or an error */
    SL_FUTURE_BOOL,
    SL_FUTURE_U64,
    SL_FUTURE_PTR, /* a pointer, with an optional destructor */
};

/* sl_future_wait's timeout for "no timeout". */
#define SL_FUTURE_WAIT_FOREVER UINT64_MAX

/*
 * Called once when the future is done. status is 0 when the future completed with a value,
 * the future's (negative) error when it failed, or SL_E_CANCELED when a loop-scheduled
 * callback's loop was destroyed before it could run (the future itself may hold a value then).
 */
typedef void sl_future_done_fn(struct sl_future *future, int status, void *user_data);

/* Frees a PTR future's value. */
typedef void sl_future_value_destroy_fn(void *value);

/* Lifecycle ------------------------------------------------------------------------------- */

/*
 * Makes a pending future for values of type.
 * Ownership: returns owned, holding one reference.
 * Errors: SL_E_INVAL for an unknown type; SL_E_NOMEM; -errno from pthread initialisation.
 */
SL_API SL_MUST_CHECK int sl_future_new(enum sl_future_type type, struct sl_future **out);

/* Adds a reference. Thread: any (the caller must already hold one). */
SL_API void sl_future_acquire(struct sl_future *future);

/*
 * Drops a reference; the last one frees the future and destroys a PTR value still inside.
 * NULL is ignored. Thread: any.
 */
SL_API void sl_future_release(struct sl_future *future);

/* Completing (the producer) --------------------------------------------------------------- */

/*
 * Completes a VOID future with success, a BOOL future with value, or a U64 future with value,
 * and runs a callback registered inline (see the top of this file).
 * Thread: any; the caller holds a reference.
 * Errors: SL_E_FUTURE_ALREADY_DONE if it was completed or failed before;
 * SL_E_FUTURE_WRONG_TYPE if the future was made for another type. Nothing changes on error.
 */
SL_API SL_MUST_CHECK int sl_future_complete(struct sl_future *future);
SL_API SL_MUST_CHECK int sl_future_complete_bool(struct sl_future *future, bool value);
SL_API SL_MUST_CHECK int sl_future_complete_u64(struct sl_future *future, uint64_t value);

/*
 * Completes a PTR future with value; destroy (may be NULL) frees it when the future is freed,
 * unless a consumer takes it out first with sl_future_take_ptr.
 * Thread: any; the caller holds a reference.
 * Ownership: takes value on success; on error the caller keeps it (destroy is not called).
 * Errors: as sl_future_complete.
 */
SL_API SL_MUST_CHECK int sl_future_complete_ptr(struct sl_future *future, void *value,
                                                sl_future_value_destroy_fn *destroy);

/*
 * Fails the future with error (negative: an SL_E_* code or -errno), whatever its type.
 * Thread: any; the caller holds a reference.
 * Errors: SL_E_INVAL if error is not negative; SL_E_FUTURE_ALREADY_DONE.
 */
SL_API SL_MUST_CHECK int sl_future_fail(struct sl_future *future, int error);

/* Waiting (the consumer) ------------------------------------------------------------------ */

/*
 * Registers fn to run once the future is done, inline: at once on this thread if it is already
 * done, otherwise on the completing thread.
 * Thread: any; the caller holds a reference.
 * Ownership: keeps user_data until fn has run.
 * Errors: SL_E_INVAL for a NULL fn; SL_E_FUTURE_CALLBACK_SET if a callback was registered
 * before (fn will not run).
 */
SL_API SL_MUST_CHECK int sl_future_on_done(struct sl_future *future, sl_future_done_fn *fn,
                                           void *user_data);

/*
 * Registers fn only if the future is still pending. *registered says which happened: true, fn
 * will run on the completing thread; false, the future is already done, fn was not registered
 * and never runs.
 * Thread: any; the caller holds a reference.
 * Errors: as sl_future_on_done (*registered is false then).
 */
SL_API SL_MUST_CHECK int sl_future_on_done_if_pending(struct sl_future *future,
                                                      sl_future_done_fn *fn, void *user_data,
                                                      bool *registered);

/*
 * Registers fn to run from a task on loop once the future is done, never inline (see the top
 * of this file).
 * Thread: any; the caller holds a reference.
 * Ownership: keeps loop and user_data until fn has run. The loop must not be destroyed while
 * the future is pending (completing it would then schedule onto a freed loop); destroying it
 * after completion but before the task ran is fine and runs fn with SL_E_CANCELED.
 * Errors: SL_E_INVAL for a NULL loop or fn; SL_E_FUTURE_CALLBACK_SET.
 */
SL_API SL_MUST_CHECK int sl_future_on_done_in_loop(struct sl_future *future, struct sl_loop *loop,
                                                   sl_future_done_fn *fn, void *user_data);

/*
 * Blocks until the future is done or timeout_ns have passed (SL_FUTURE_WAIT_FOREVER for no
 * limit). Returns 0 once it is done, whatever its result; read that with sl_future_result*.
 * Thread: any thread that is not running an event loop.
 * Errors: SL_E_TIMED_OUT; SL_E_WOULD_DEADLOCK on an event loop's thread, where waiting would
 * stall the loop that may be the one to complete the future.
 */
SL_API SL_MUST_CHECK int sl_future_wait(struct sl_future *future, uint64_t timeout_ns);

/* Results --------------------------------------------------------------------------------- */

/* True once the future has been completed or failed. Thread: any. */
SL_API bool sl_future_is_done(struct sl_future *future);

/*
 * The future's outcome, for any type: 0 if it completed with a value, its error if it failed.
 * Errors: SL_E_FUTURE_PENDING if it is not done yet.
 */
SL_API SL_MUST_CHECK int sl_future_result(struct sl_future *future);

/*
 * Reads the value of a completed BOOL, U64 or PTR future into *out (untouched on error).
 * Ownership (PTR): borrows; the value stays owned by the future.
 * Errors: the future's error if it failed; SL_E_FUTURE_PENDING; SL_E_FUTURE_WRONG_TYPE;
 * SL_E_STATE for a PTR value already taken.
 */
SL_API SL_MUST_CHECK int sl_future_result_bool(struct sl_future *future, bool *out);
SL_API SL_MUST_CHECK int sl_future_result_u64(struct sl_future *future, uint64_t *out);
SL_API SL_MUST_CHECK int sl_future_result_ptr(struct sl_future *future, void **out);

/*
 * Moves a completed PTR future's value out: the future will not destroy it.
 * Ownership: returns owned (free it as its destructor would).
 * Errors: as sl_future_result_ptr; SL_E_STATE if it was already taken.
 */
SL_API SL_MUST_CHECK int sl_future_take_ptr(struct sl_future *future, void **out);

SL_END_DECLS

#endif /* SL_FUTURE_H */
