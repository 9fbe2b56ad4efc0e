/* SPDX-License-Identifier: Apache-2.0 */
#include "channel_internal.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

/*
 * Lifetime. `ref` counts holders outside the loop's own bookkeeping: the creator, each
 * sl_channel_acquire, a shutdown requested through the public API, a channel task on its way
 * from another thread. It never comes back from zero. Tasks the channel schedules for itself
 * are counted in `internal` (loop thread only). The channel is destroyed, on its loop, once the
 * last reference is gone (`released`), nothing internal is pending and shutdown is complete.
 */

static void setup_task_fn(struct sl_task *task, void *arg, enum sl_task_status status);
static void shutdown_task_fn(struct sl_task *task, void *arg, enum sl_task_status status);
static void complete_task_fn(struct sl_task *task, void *arg, enum sl_task_status status);
static void release_task_fn(struct sl_task *task, void *arg, enum sl_task_status status);
static void cancel_channel_tasks(struct sl_channel *channel);

int sl_channel_new(const struct sl_channel_options *opts, struct sl_channel **out)
{
    SL_ENSURE_ARG(opts && opts->loop && opts->on_setup && out);
    struct sl_channel *channel = sl_calloc(1, sizeof(*channel));
    SL_ENSURE(channel, SL_E_NOMEM);
    channel->loop = opts->loop;
    channel->on_setup = opts->on_setup;
    channel->on_shutdown = opts->on_shutdown;
    channel->user_data = opts->user_data;
    channel->state = SL__CHANNEL_SETTING_UP;
    atomic_init(&channel->shutdown_requested, false);
    sl_list_init(&channel->tasks);
    sl_ref_init(&channel->ref, 1); /* the creator's */
    channel->internal = 1;         /* the setup task; published to the loop by scheduling it */
    sl_task_init(&channel->lifecycle_task, setup_task_fn, channel, "channel_setup");
    sl_loop_schedule_now(channel->loop, &channel->lifecycle_task);
    *out = channel;
    return 0;
}

/* Destruction ----------------------------------------------------------------------------- */

static void destroy_now(struct sl_channel *channel)
{
    /* Normally done when shutdown completed; a loop being destroyed can skip that step. */
    cancel_channel_tasks(channel);
    struct sl_slot *slot = channel->first;
    while (slot) {
        struct sl_slot *next = slot->right;
        sl__slot_destroy(slot);
        slot = next;
    }
    sl_free(channel);
}

/* Destroys the channel if nothing can reach it any more. Loop thread. */
static void maybe_destroy(struct sl_channel *channel)
{
    if (channel->released && channel->internal == 0 && channel->state == SL__CHANNEL_SHUT_DOWN) {
        destroy_now(channel);
    }
}

/* Calls the owner's on_shutdown once, for a channel whose setup succeeded. */
static void report_shutdown(struct sl_channel *channel, int status)
{
    if (channel->setup_succeeded && !channel->shutdown_reported) {
        channel->shutdown_reported = true;
        if (channel->on_shutdown) {
            channel->on_shutdown(channel, status, channel->user_data);
        }
    }
}

static void start_shutdown(struct sl_channel *channel);
static void schedule_shutdown(struct sl_channel *channel, int status, bool abort, bool internal);

static void setup_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl_channel *channel = arg;
    int rc = status == SL_TASK_RUN ? sl__msg_pool_for_loop(channel->loop, &channel->pool)
                                   : SL_E_CANCELED;
    channel->state = rc == 0 ? SL__CHANNEL_ACTIVE : SL__CHANNEL_SHUT_DOWN;
    channel->setup_succeeded = rc == 0;
    channel->on_setup(channel, rc, channel->user_data);
    if (rc == 0 && channel->shutdown_after_setup) {
        start_shutdown(channel);
    }
    channel->internal--;
    maybe_destroy(channel);
}

/* The last reference is gone. Loop thread. */
static void on_released(struct sl_channel *channel)
{
    channel->released = true;
    if (channel->state == SL__CHANNEL_ACTIVE || channel->state == SL__CHANNEL_SETTING_UP) {
        /*
         * Still running: abort it first. (A graceful shutdown already under way finishes as it
         * is, within its handlers' own timeouts.)
         */
        SL_LOG_DEBUG(SL_LS_CHANNEL, "channel %p released while active; aborting it",
                     (void *)channel);
        schedule_shutdown(channel, SL_E_SHUTTING_DOWN, true, true);
    }
    maybe_destroy(channel);
}

void sl_channel_acquire(struct sl_channel *channel)
{
    sl_ref_acquire(&channel->ref);
}

void sl_channel_release(struct sl_channel *channel)
{
    if (!sl_ref_release(&channel->ref)) {
        return;
    }
    if (sl_loop_is_on_callers_thread(channel->loop)) {
        on_released(channel);
        return;
    }
    /* Its own task: it may wait alongside setup, shutdown or completion. */
    sl_task_init(&channel->release_task, release_task_fn, channel, "channel_release");
    sl_loop_schedule_now(channel->loop, &channel->release_task);
}

static void release_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl_channel *channel = arg;
    if (status == SL_TASK_CANCELED && channel->state != SL__CHANNEL_SHUT_DOWN) {
        /* The loop is going away: no ticks left to shut down in. */
        channel->state = SL__CHANNEL_SHUT_DOWN;
        report_shutdown(channel, SL_E_CANCELED);
    }
    on_released(channel);
}

/* Shutdown -------------------------------------------------------------------------------- */

/*
 * Hands the shutdown to a task (never inline, so no handler is re-entered). An external request
 * is paid for with a reference (its caller holds one); an internal one, from the loop thread,
 * with the internal count (the references may all be gone).
 */
static void schedule_shutdown(struct sl_channel *channel, int status, bool abort, bool internal)
{
    if (atomic_exchange(&channel->shutdown_requested, true)) {
        return;
    }
    channel->shutdown_status = status;
    channel->shutdown_abort = abort;
    channel->shutdown_task_internal = internal;
    if (internal) {
        channel->internal++;
    } else {
        sl_channel_acquire(channel);
    }
    sl_task_init(&channel->shutdown_task, shutdown_task_fn, channel, "channel_shutdown");
    sl_loop_schedule_now(channel->loop, &channel->shutdown_task);
}

void sl_channel_shutdown(struct sl_channel *channel, int status, bool abort_immediately)
{
    schedule_shutdown(channel, status, abort_immediately, false);
}

void sl__channel_fail(struct sl_channel *channel, int status)
{
    SL_LOG_DEBUG(SL_LS_CHANNEL, "channel %p failing: %s", (void *)channel, sl_strerror(status));
    schedule_shutdown(channel, status, true, true);
}

static void start_shutdown(struct sl_channel *channel)
{
    if (channel->state != SL__CHANNEL_ACTIVE) {
        return;
    }
    channel->state = SL__CHANNEL_SHUTTING_DOWN;
    struct sl_slot *first = channel->first;
    if (!first || !first->handler) {
        sl__channel_on_write_pass_done(channel);
        return;
    }
    int rc = first->handler->vtable->on_shutdown(first->handler, first, SL_DIR_READ,
                                                 channel->shutdown_status, channel->shutdown_abort);
    if (rc < 0) {
        SL_LOG_WARN(SL_LS_CHANNEL, "handler %s refused read shutdown: %s",
                    first->handler->vtable->name, sl_strerror(rc));
    }
}

static void shutdown_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl_channel *channel = arg;
    if (status == SL_TASK_CANCELED) {
        /* The loop is being destroyed: no more ticks for handlers to finish in. */
        channel->state = SL__CHANNEL_SHUT_DOWN;
        report_shutdown(channel, SL_E_CANCELED);
    } else if (channel->state == SL__CHANNEL_SETTING_UP) {
        channel->shutdown_after_setup = true;
    } else {
        start_shutdown(channel);
    }
    if (channel->shutdown_task_internal) {
        channel->internal--;
        maybe_destroy(channel);
    } else {
        sl_channel_release(channel); /* the request's reference */
    }
}

void sl__channel_on_read_pass_done(struct sl_channel *channel, struct sl_slot *last)
{
    int rc = last->handler->vtable->on_shutdown(last->handler, last, SL_DIR_WRITE,
                                                channel->shutdown_status, channel->shutdown_abort);
    if (rc < 0) {
        SL_LOG_WARN(SL_LS_CHANNEL, "handler %s refused write shutdown: %s",
                    last->handler->vtable->name, sl_strerror(rc));
    }
}

void sl__channel_on_write_pass_done(struct sl_channel *channel)
{
    /*
     * Finish from a task: the user's callback may release the channel, which must not destroy
     * handlers that are still on the stack below us.
     */
    channel->internal++;
    sl_task_init(&channel->lifecycle_task, complete_task_fn, channel, "channel_shutdown_done");
    sl_loop_schedule_now(channel->loop, &channel->lifecycle_task);
}

static void cancel_channel_tasks(struct sl_channel *channel)
{
    if (channel->window_task_scheduled) {
        sl_loop_cancel(channel->loop, &channel->window_task);
    }
    struct sl_list_node *node;
    while ((node = sl_list_front(&channel->tasks)) != NULL) {
        struct sl_channel_task *ctask = sl_container_of(node, struct sl_channel_task, node);
        sl_loop_cancel(channel->loop, &ctask->task); /* unlinks it and runs it cancelled */
    }
}

static void complete_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status; /* cancelled or not, the channel is done */
    struct sl_channel *channel = arg;
    channel->state = SL__CHANNEL_SHUT_DOWN;
    cancel_channel_tasks(channel);
    report_shutdown(channel, channel->shutdown_status);
    channel->internal--;
    maybe_destroy(channel);
}

/* Channel tasks --------------------------------------------------------------------------- */

void sl_channel_task_init(struct sl_channel_task *ctask, sl_task_fn *fn, void *arg,
                          const char *name)
{
    *ctask = (struct sl_channel_task){.fn = fn, .arg = arg};
    sl_task_init(&ctask->task, NULL, ctask, name);
    sl_list_node_reset(&ctask->node);
}

static void channel_task_run(struct sl_task *task, void *arg, enum sl_task_status status)
{
    struct sl_channel_task *ctask = arg;
    sl_list_remove(&ctask->node);
    ctask->fn(task, ctask->arg, status);
}

static void channel_task_refused(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)status;
    struct sl_channel_task *ctask = arg;
    ctask->fn(task, ctask->arg, SL_TASK_CANCELED);
}

/* On the loop thread: register the task with the channel and hand it to the loop. */
static void register_task(struct sl_channel *channel, struct sl_channel_task *ctask)
{
    const char *name = ctask->task.name;
    if (channel->state == SL__CHANNEL_SHUT_DOWN) {
        sl_task_init(&ctask->task, channel_task_refused, ctask, name);
        sl_loop_schedule_now(channel->loop, &ctask->task);
        return;
    }
    sl_list_push_back(&channel->tasks, &ctask->node);
    sl_task_init(&ctask->task, channel_task_run, ctask, name);
    if (ctask->run_at_ns) {
        sl_loop_schedule_at(channel->loop, &ctask->task, ctask->run_at_ns);
    } else {
        sl_loop_schedule_now(channel->loop, &ctask->task);
    }
}

static void channel_task_arrive(struct sl_task *task, void *arg, enum sl_task_status status)
{
    struct sl_channel_task *ctask = arg;
    struct sl_channel *channel = ctask->channel;
    if (status == SL_TASK_CANCELED || channel->state == SL__CHANNEL_SHUT_DOWN) {
        /*
         * Cancelled here, while our reference keeps the channel alive: the task's storage
         * often lives in a handler, which the release below may destroy. (Deferring it to
         * another task, as register_task does, would run it after that.)
         */
        ctask->fn(task, ctask->arg, SL_TASK_CANCELED);
    } else {
        register_task(channel, ctask);
    }
    sl_channel_release(channel); /* taken when the task was sent from another thread */
}

static void schedule_task(struct sl_channel *channel, struct sl_channel_task *ctask,
                          uint64_t run_at_ns)
{
    ctask->channel = channel;
    ctask->run_at_ns = run_at_ns;
    if (sl_loop_is_on_callers_thread(channel->loop)) {
        register_task(channel, ctask);
        return;
    }
    sl_channel_acquire(channel);
    sl_task_init(&ctask->task, channel_task_arrive, ctask, ctask->task.name);
    sl_loop_schedule_now(channel->loop, &ctask->task);
}

void sl_channel_schedule_task_now(struct sl_channel *channel, struct sl_channel_task *ctask)
{
    schedule_task(channel, ctask, 0);
}

void sl_channel_schedule_task_at(struct sl_channel *channel, struct sl_channel_task *ctask,
                                 uint64_t run_at_ns)
{
    schedule_task(channel, ctask, run_at_ns ? run_at_ns : 1);
}

/* Messages -------------------------------------------------------------------------------- */

int sl_channel_acquire_msg(struct sl_channel *channel, size_t size, struct sl_msg **out)
{
    SL_ENSURE(sl_loop_is_on_callers_thread(channel->loop), SL_E_WRONG_THREAD);
    SL_ENSURE(channel->pool, SL_E_STATE); /* before setup ran */
    return sl__msg_pool_acquire(channel->pool, size, out);
}

void sl_channel_release_msg(struct sl_channel *channel, struct sl_msg *msg)
{
    SL_ASSERT(sl_loop_is_on_callers_thread(channel->loop));
    if (msg->on_complete) {
        sl_msg_complete_fn *on_complete = msg->on_complete;
        msg->on_complete = NULL;
        on_complete(channel, msg, SL_E_CANCELED, msg->user_data);
    }
    sl__msg_pool_release(channel->pool, msg);
}

/* Statistics and queries ------------------------------------------------------------------ */

void sl_channel_gather_stats(struct sl_channel *channel, struct sl_handler_stats *stats, size_t cap,
                             size_t *count)
{
    size_t n = 0;
    for (struct sl_slot *slot = channel->first; slot; slot = slot->right, n++) {
        if (n >= cap) {
            continue;
        }
        stats[n] = (struct sl_handler_stats){
            .handler_name = slot->handler ? slot->handler->vtable->name : "(empty)",
            .read_bytes = slot->read_bytes,
            .write_bytes = slot->write_bytes,
            .read_ns = slot->read_ns,
            .write_ns = slot->write_ns,
        };
        if (slot->handler && slot->handler->vtable->gather_stats) {
            slot->handler->vtable->gather_stats(slot->handler, &stats[n]);
        }
    }
    *count = n;
}

void sl_channel_reset_stats(struct sl_channel *channel)
{
    for (struct sl_slot *slot = channel->first; slot; slot = slot->right) {
        slot->read_bytes = slot->write_bytes = slot->read_ns = slot->write_ns = 0;
        if (slot->handler && slot->handler->vtable->reset_stats) {
            slot->handler->vtable->reset_stats(slot->handler);
        }
    }
}

struct sl_loop *sl_channel_loop(const struct sl_channel *channel)
{
    return channel->loop;
}

bool sl_channel_is_on_callers_thread(const struct sl_channel *channel)
{
    return sl_loop_is_on_callers_thread(channel->loop);
}

struct sl_slot *sl_channel_first_slot(const struct sl_channel *channel)
{
    return channel->first;
}

bool sl_channel_is_shutting_down(const struct sl_channel *channel)
{
    return channel->state >= SL__CHANNEL_SHUTTING_DOWN || channel->shutdown_after_setup;
}
