/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/future.h>

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/event_loop.h>
#include <sluice/log.h>
#include <sluice/ref.h>
#include <sluice/task.h>

#include "guard.h"
#include "loop_internal.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

union future_value {
    bool b;
    uint64_t u64;
    void *ptr;
};

/* The registered callback, copied out under the lock by whichever side dispatches it. */
struct callback {
    sl_future_done_fn *fn; /* NULL: none registered */
    void *user_data;
    struct sl_loop *loop; /* non-NULL: run from `task` on this loop */
};

struct sl_future {
    struct sl_ref ref;
    enum sl_future_type type; /* fixed at creation, read without the lock */

    /*
     * The lock guards every field below. A mutex rather than atomics because sl_future_wait
     * needs a condition variable anyway, and it keeps "done, result, callback" one transition:
     * exactly one of the completing call and the registering call sees both a result and a
     * callback, and that one dispatches the callback.
     */
    pthread_mutex_t lock;
    pthread_cond_t done_cond; /* broadcast once, when done becomes true */
    bool done;
    int status; /* 0 or the error, once done */
    union future_value value;
    sl_future_value_destroy_fn *destroy;
    bool value_taken;
    struct callback cb;

    /* Runs a loop callback. Holds a reference to the future from scheduling until it ran. */
    struct sl_task task;
};

static bool type_is_known(enum sl_future_type type)
{
    switch (type) {
    case SL_FUTURE_VOID:
    case SL_FUTURE_BOOL:
    case SL_FUTURE_U64:
    case SL_FUTURE_PTR:
        return true;
    }
    return false;
}

static void run_loop_callback(struct sl_task *task, void *arg, enum sl_task_status status);

/* A monotonic condition variable, so that changes to the wall clock do not bend timeouts. */
static int init_sync(struct sl_future *future)
{
    int err = pthread_mutex_init(&future->lock, NULL);
    if (err) {
        return sl_error_from_errno(err);
    }
    pthread_condattr_t attr;
    err = pthread_condattr_init(&attr);
    if (err) {
        goto out_destroy_lock;
    }
    err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (!err) {
        err = pthread_cond_init(&future->done_cond, &attr);
    }
    pthread_condattr_destroy(&attr);
    if (err) {
        goto out_destroy_lock;
    }
    return 0;

out_destroy_lock:
    pthread_mutex_destroy(&future->lock);
    return sl_error_from_errno(err);
}

int sl_future_new(enum sl_future_type type, struct sl_future **out)
{
    SL_ENSURE_ARG(out && type_is_known(type));
    struct sl_future *future = sl_calloc(1, sizeof(*future));
    SL_ENSURE(future, SL_E_NOMEM);
    int rc = init_sync(future);
    if (rc < 0) {
        sl_free(future);
        return rc;
    }
    sl_ref_init(&future->ref, 1);
    future->type = type;
    sl_task_init(&future->task, run_loop_callback, future, "future_on_done");
    *out = future;
    return 0;
}

void sl_future_acquire(struct sl_future *future)
{
    sl_ref_acquire(&future->ref);
}

/* Runs on the last release, so no other thread can see the future: no lock needed. */
static void future_destroy(struct sl_future *future)
{
    if (!future->done && future->cb.fn) {
        SL_LOG_WARN(SL_LS_STREAM, "future %p freed while pending: its callback will never run",
                    (void *)future);
    }
    bool owns_value = future->done && future->status == 0 && future->type == SL_FUTURE_PTR &&
                      !future->value_taken && future->destroy;
    if (owns_value) {
        future->destroy(future->value.ptr);
    }
    pthread_cond_destroy(&future->done_cond);
    pthread_mutex_destroy(&future->lock);
    sl_free(future);
}

void sl_future_release(struct sl_future *future)
{
    if (future && sl_ref_release(&future->ref)) {
        future_destroy(future);
    }
}

/* Dispatch -------------------------------------------------------------------------------- */

/*
 * Runs or schedules a callback taken out of the future. The caller holds a reference, which
 * makes acquiring one for the task safe, and keeps the future alive while an inline fn runs.
 */
static void dispatch(struct sl_future *future, struct callback cb, int status)
{
    if (!cb.fn) {
        return;
    }
    if (cb.loop) {
        sl_future_acquire(future); /* the task's reference, dropped in run_loop_callback */
        sl_loop_schedule_now(cb.loop, &future->task);
        return;
    }
    cb.fn(future, status, cb.user_data);
}

static void run_loop_callback(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl_future *future = arg;
    pthread_mutex_lock(&future->lock);
    struct callback cb = future->cb;
    int result = future->status;
    pthread_mutex_unlock(&future->lock);
    cb.fn(future, status == SL_TASK_RUN ? result : SL_E_CANCELED, cb.user_data);
    sl_future_release(future);
}

/* Completing ------------------------------------------------------------------------------ */

/* Publishes the outcome once, wakes waiters, then dispatches a callback registered earlier. */
static int finish(struct sl_future *future, int status, union future_value value,
                  sl_future_value_destroy_fn *destroy)
{
    pthread_mutex_lock(&future->lock);
    if (future->done) {
        pthread_mutex_unlock(&future->lock);
        return SL_E_FUTURE_ALREADY_DONE;
    }
    future->done = true;
    future->status = status;
    future->value = value;
    future->destroy = destroy;
    struct callback cb = future->cb;
    pthread_cond_broadcast(&future->done_cond);
    pthread_mutex_unlock(&future->lock);
    dispatch(future, cb, status);
    return 0;
}

int sl_future_complete(struct sl_future *future)
{
    SL_ENSURE(future->type == SL_FUTURE_VOID, SL_E_FUTURE_WRONG_TYPE);
    return finish(future, 0, (union future_value){.u64 = 0}, NULL);
}

int sl_future_complete_bool(struct sl_future *future, bool value)
{
    SL_ENSURE(future->type == SL_FUTURE_BOOL, SL_E_FUTURE_WRONG_TYPE);
    return finish(future, 0, (union future_value){.b = value}, NULL);
}

int sl_future_complete_u64(struct sl_future *future, uint64_t value)
{
    SL_ENSURE(future->type == SL_FUTURE_U64, SL_E_FUTURE_WRONG_TYPE);
    return finish(future, 0, (union future_value){.u64 = value}, NULL);
}

int sl_future_complete_ptr(struct sl_future *future, void *value,
                           sl_future_value_destroy_fn *destroy)
{
    SL_ENSURE(future->type == SL_FUTURE_PTR, SL_E_FUTURE_WRONG_TYPE);
    return finish(future, 0, (union future_value){.ptr = value}, destroy);
}

int sl_future_fail(struct sl_future *future, int error)
{
    SL_ENSURE_ARG(error < 0);
    return finish(future, error, (union future_value){.u64 = 0}, NULL);
}

/* Registering ----------------------------------------------------------------------------- */

/*
 * Stores the callback, or, if the future is already done, dispatches it at once (or, with
 * only_if_pending, leaves it unregistered). Exactly one of this and finish() dispatches.
 */
static int register_callback(struct sl_future *future, struct callback cb, bool only_if_pending,
                             bool *registered)
{
    SL_ENSURE_ARG(cb.fn);
    pthread_mutex_lock(&future->lock);
    if (future->cb.fn) {
        pthread_mutex_unlock(&future->lock);
        return SL_E_FUTURE_CALLBACK_SET;
    }
    bool done = future->done;
    int status = future->status;
    if (!(done && only_if_pending)) {
        future->cb = cb;
    }
    pthread_mutex_unlock(&future->lock);
    if (registered) {
        *registered = !done;
    }
    if (done && !only_if_pending) {
        dispatch(future, cb, status);
    }
    return 0;
}

int sl_future_on_done(struct sl_future *future, sl_future_done_fn *fn, void *user_data)
{
    struct callback cb = {.fn = fn, .user_data = user_data};
    return register_callback(future, cb, false, NULL);
}

int sl_future_on_done_if_pending(struct sl_future *future, sl_future_done_fn *fn, void *user_data,
                                 bool *registered)
{
    SL_ENSURE_ARG(registered);
    *registered = false;
    struct callback cb = {.fn = fn, .user_data = user_data};
    return register_callback(future, cb, true, registered);
}

int sl_future_on_done_in_loop(struct sl_future *future, struct sl_loop *loop, sl_future_done_fn *fn,
                              void *user_data)
{
    SL_ENSURE_ARG(loop);
    struct callback cb = {.fn = fn, .user_data = user_data, .loop = loop};
    return register_callback(future, cb, false, NULL);
}

/* Waiting --------------------------------------------------------------------------------- */

/* now + timeout_ns on CLOCK_MONOTONIC; 64-bit time_t holds any uint64_t of nanoseconds. */
static struct timespec deadline_after(uint64_t timeout_ns)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t nsec = (uint64_t)now.tv_nsec + timeout_ns % SL_NS_PER_SEC;
    uint64_t extra_sec = timeout_ns / SL_NS_PER_SEC + nsec / SL_NS_PER_SEC;
    return (struct timespec){.tv_sec = now.tv_sec + (time_t)extra_sec,
                             .tv_nsec = (long)(nsec % SL_NS_PER_SEC)};
}

int sl_future_wait(struct sl_future *future, uint64_t timeout_ns)
{
    SL_ENSURE(!sl__loop_is_any_current(), SL_E_WOULD_DEADLOCK);
    bool forever = timeout_ns == SL_FUTURE_WAIT_FOREVER;
    struct timespec deadline = forever ? (struct timespec){0} : deadline_after(timeout_ns);
    pthread_mutex_lock(&future->lock);
    int err = 0;
    while (!future->done && err != ETIMEDOUT) {
        if (forever) {
            err = pthread_cond_wait(&future->done_cond, &future->lock);
        } else {
            err = pthread_cond_timedwait(&future->done_cond, &future->lock, &deadline);
        }
    }
    bool done = future->done;
    pthread_mutex_unlock(&future->lock);
    return done ? 0 : SL_E_TIMED_OUT;
}

/* Results --------------------------------------------------------------------------------- */

bool sl_future_is_done(struct sl_future *future)
{
    pthread_mutex_lock(&future->lock);
    bool done = future->done;
    pthread_mutex_unlock(&future->lock);
    return done;
}

int sl_future_result(struct sl_future *future)
{
    pthread_mutex_lock(&future->lock);
    int rc = future->done ? future->status : SL_E_FUTURE_PENDING;
    pthread_mutex_unlock(&future->lock);
    return rc;
}

/* Copies the value of a completed future of type; with take, the future gives up a PTR. */
static int read_value(struct sl_future *future, enum sl_future_type type, bool take,
                      union future_value *out)
{
    SL_ENSURE(future->type == type, SL_E_FUTURE_WRONG_TYPE);
    pthread_mutex_lock(&future->lock);
    int rc = future->done ? future->status : SL_E_FUTURE_PENDING;
    if (rc == 0 && future->value_taken) {
        rc = SL_E_STATE;
    }
    if (rc == 0) {
        *out = future->value;
        future->value_taken = take;
    }
    pthread_mutex_unlock(&future->lock);
    return rc;
}

int sl_future_result_bool(struct sl_future *future, bool *out)
{
    SL_ENSURE_ARG(out);
    union future_value value = {.u64 = 0};
    SL_TRY(read_value(future, SL_FUTURE_BOOL, false, &value));
    *out = value.b;
    return 0;
}

int sl_future_result_u64(struct sl_future *future, uint64_t *out)
{
    SL_ENSURE_ARG(out);
    union future_value value = {.u64 = 0};
    SL_TRY(read_value(future, SL_FUTURE_U64, false, &value));
    *out = value.u64;
    return 0;
}

int sl_future_result_ptr(struct sl_future *future, void **out)
{
    SL_ENSURE_ARG(out);
    union future_value value = {.u64 = 0};
    SL_TRY(read_value(future, SL_FUTURE_PTR, false, &value));
    *out = value.ptr;
    return 0;
}

int sl_future_take_ptr(struct sl_future *future, void **out)
{
    SL_ENSURE_ARG(out);
    union future_value value = {.u64 = 0};
    SL_TRY(read_value(future, SL_FUTURE_PTR, true, &value));
    *out = value.ptr;
    return 0;
}
