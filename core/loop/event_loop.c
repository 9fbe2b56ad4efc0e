/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/event_loop.h>

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/log.h>
#include <sluice/thread.h>

#include "guard.h"
#include "loop_internal.h"
#include "poller.h"
#include "task_scheduler.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Readiness reports taken per tick; more simply wait for the next tick. */
#define EVENTS_PER_TICK 256
#define PICK_WINDOW_NS  SL_NS_PER_SEC

struct sl_io_subscription {
    struct sl_loop *loop;
    int fd;
    bool dead; /* unsubscribed during this tick's dispatch; skip its remaining reports */
    sl_io_event_fn *fn;
    void *user_data;
    struct sl_list_node node; /* in loop->subscriptions, or in loop->graveyard once dead */
};

struct local_entry {
    const void *key;
    void *value;
    sl_loop_local_destroy_fn *destroy;
};

struct sl_loop {
    const struct sl_poller_ops *ops;
    struct sl_poller *poller;
    struct sl_scheduler scheduler; /* loop thread only */
    struct sl_thread *thread;      /* non-NULL between run and wait_for_stop */
    char name[32];
    int cpu;
    atomic_bool stop_requested;

    /*
     * Tasks scheduled from other threads: a lock-free stack (push with one CAS, take all with
     * one exchange, reversed to restore FIFO order). wake_pending is true while a wake-up is on
     * its way or the loop is awake anyway; producers write the eventfd only when they flip it
     * from false, so a batch costs one wake-up. The loop sets it false only just before it
     * sleeps, then re-checks the stack (see compute_timeout).
     */
    _Atomic(struct sl_task *) cross_head;
    atomic_bool wake_pending;

    struct sl_list subscriptions; /* loop thread only */
    struct sl_list graveyard;     /* unsubscribed during dispatch, freed after it */
    bool dispatching;
    atomic_size_t subscription_count;
    /*
     * get_next picks not yet settled by a subscription, from the current and the previous
     * window of PICK_WINDOW_NS (see loop_internal.h): pickers add to picks_now; the loop
     * thread settles them (subscribe) and ages them (each tick), and alone writes picks_before.
     */
    atomic_size_t picks_now;
    atomic_size_t picks_before;
    uint64_t picks_window_start_ns; /* loop thread only */

    struct local_entry *locals; /* loop thread only; few entries, so a linear search */
    size_t local_count;
    size_t local_cap;
};

/*
 * The loop whose thread this is. A thread-local pointer makes is_on_callers_thread one load and
 * one compare; sl_loop_destroy borrows it to run cancelled tasks as if on the loop thread.
 */
static _Thread_local struct sl_loop *tl_current_loop;

static const struct sl_poller_ops *find_backend(const char *name)
{
    for (size_t i = 0; sl__pollers[i]; i++) {
        if (!name || strcmp(sl__pollers[i]->name, name) == 0) {
            return sl__pollers[i];
        }
    }
    return NULL;
}

int sl_loop_new(const struct sl_loop_options *opts, struct sl_loop **out)
{
    SL_ENSURE_ARG(out);
    const struct sl_poller_ops *ops = find_backend(opts ? opts->backend : NULL);
    SL_ENSURE(ops, SL_E_NOT_FOUND);
    struct sl_loop *loop = sl_calloc(1, sizeof(*loop));
    SL_ENSURE(loop, SL_E_NOMEM);
    int rc = ops->create(&loop->poller);
    if (rc < 0) {
        sl_free(loop);
        return rc;
    }
    loop->ops = ops;
    loop->cpu = opts ? opts->cpu : -1;
    snprintf(loop->name, sizeof(loop->name), "%s", opts && opts->name ? opts->name : "sl-loop");
    sl__scheduler_init(&loop->scheduler);
    sl_list_init(&loop->subscriptions);
    sl_list_init(&loop->graveyard);
    atomic_init(&loop->cross_head, NULL);
    atomic_init(&loop->wake_pending, false);
    atomic_init(&loop->stop_requested, false);
    atomic_init(&loop->subscription_count, 0);
    atomic_init(&loop->picks_now, 0);
    atomic_init(&loop->picks_before, 0);
    loop->picks_window_start_ns = sl_clock_now_ns();
    *out = loop;
    return 0;
}

/* Cross-thread queue ---------------------------------------------------------------------- */

static void push_cross_thread(struct sl_loop *loop, struct sl_task *task, uint64_t run_at_ns)
{
    SL_ASSERT(task->state == 0);
    task->state = SL__TASK_CROSS;
    task->run_at_ns = run_at_ns;
    struct sl_task *head = atomic_load_explicit(&loop->cross_head, memory_order_relaxed);
    do {
        task->link.next_cross = head;
    } while (!atomic_compare_exchange_weak(&loop->cross_head, &head, task));
    /* Sequentially consistent push and flag check pair with compute_timeout's store and load. */
    if (!atomic_load(&loop->wake_pending) && !atomic_exchange(&loop->wake_pending, true)) {
        loop->ops->wake(loop->poller);
    }
}

static void take_cross_thread_tasks(struct sl_loop *loop)
{
    if (!atomic_load_explicit(&loop->cross_head, memory_order_relaxed)) {
        return;
    }
    struct sl_task *stack = atomic_exchange_explicit(&loop->cross_head, NULL, memory_order_acquire);
    struct sl_task *fifo = NULL;
    while (stack) {
        struct sl_task *next = stack->link.next_cross;
        stack->link.next_cross = fifo;
        fifo = stack;
        stack = next;
    }
    while (fifo) {
        struct sl_task *task = fifo;
        fifo = fifo->link.next_cross;
        if (task->run_at_ns == 0) {
            sl__scheduler_schedule_now(&loop->scheduler, task);
        } else {
            sl__scheduler_schedule_at(&loop->scheduler, task, task->run_at_ns);
        }
    }
}

/* Tasks ----------------------------------------------------------------------------------- */

void sl_loop_schedule_now(struct sl_loop *loop, struct sl_task *task)
{
    if (tl_current_loop == loop) {
        sl__scheduler_schedule_now(&loop->scheduler, task);
    } else {
        push_cross_thread(loop, task, 0);
    }
}

void sl_loop_schedule_at(struct sl_loop *loop, struct sl_task *task, uint64_t run_at_ns)
{
    if (tl_current_loop == loop) {
        sl__scheduler_schedule_at(&loop->scheduler, task, run_at_ns);
    } else {
        /* 0 marks "now" in the queue; a deadline of 0 is in the past anyway. */
        push_cross_thread(loop, task, run_at_ns ? run_at_ns : 1);
    }
}

void sl_loop_cancel(struct sl_loop *loop, struct sl_task *task)
{
    SL_ASSERT(sl_loop_is_on_callers_thread(loop));
    /* The task may still sit in the cross-thread queue: move everything into the scheduler. */
    take_cross_thread_tasks(loop);
    sl__scheduler_cancel(&loop->scheduler, task);
}

/* The loop thread ------------------------------------------------------------------------- */

/* How long the next wait may sleep: 0 when work is ready, -1 for "until woken". */
static int64_t compute_timeout(struct sl_loop *loop)
{
    if (sl__scheduler_has_asap(&loop->scheduler)) {
        return 0;
    }
    uint64_t deadline = 0;
    bool timed = sl__scheduler_next_deadline(&loop->scheduler, &deadline);
    uint64_t now = timed ? sl_clock_now_ns() : 0;
    if (timed && deadline <= now) {
        return 0;
    }
    /*
     * About to sleep: from now on producers must wake us. Clearing the flag before looking at
     * the queue means a task pushed after the look finds the flag clear and writes the eventfd.
     */
    atomic_store(&loop->wake_pending, false);
    if (atomic_load(&loop->cross_head) || atomic_load(&loop->stop_requested)) {
        return 0;
    }
    return timed ? (int64_t)(deadline - now) : -1;
}

static void free_graveyard(struct sl_loop *loop)
{
    struct sl_list_node *node;
    while ((node = sl_list_pop_front(&loop->graveyard)) != NULL) {
        sl_free(sl_container_of(node, struct sl_io_subscription, node));
    }
}

static void dispatch_io(struct sl_loop *loop, const struct sl_poll_event *events, int n)
{
    loop->dispatching = true;
    for (int i = 0; i < n; i++) {
        struct sl_io_subscription *sub = events[i].tag;
        if (!sub->dead) {
            sub->fn(loop, sub, events[i].events, sub->user_data);
        }
    }
    loop->dispatching = false;
    free_graveyard(loop);
}

/*
 * A pick that never led to a subscription (a retry token, a failed connect) stops counting
 * after one to two windows.
 */
static void age_picks(struct sl_loop *loop, uint64_t now)
{
    if (now - loop->picks_window_start_ns >= PICK_WINDOW_NS) {
        size_t picks = atomic_exchange_explicit(&loop->picks_now, 0, memory_order_relaxed);
        atomic_store_explicit(&loop->picks_before, picks, memory_order_relaxed);
        loop->picks_window_start_ns = now;
    }
}

static void run_tick(struct sl_loop *loop)
{
    struct sl_poll_event events[EVENTS_PER_TICK];
    int n = loop->ops->wait(loop->poller, compute_timeout(loop), events, EVENTS_PER_TICK);
    if (n < 0) {
        /* Only a broken epoll descriptor gets here: the loop's own state is corrupt. */
        SL_LOG_FATAL(SL_LS_LOOP, "loop %s: %s wait failed: %s", loop->name, loop->ops->name,
                     sl_strerror(n));
        abort();
    }
    dispatch_io(loop, events, n);
    take_cross_thread_tasks(loop);
    uint64_t now = sl_clock_now_ns();
    sl__scheduler_run_due(&loop->scheduler, now);
    age_picks(loop, now); /* with the tick's clock reading: one more costs ~10 % of a tick */
}

static void loop_thread_main(void *arg)
{
    struct sl_loop *loop = arg;
    tl_current_loop = loop;
    SL_LOG_DEBUG(SL_LS_LOOP, "loop %s: running (%s)", loop->name, loop->ops->name);
    while (!atomic_load_explicit(&loop->stop_requested, memory_order_acquire)) {
        run_tick(loop);
    }
    SL_LOG_DEBUG(SL_LS_LOOP, "loop %s: stopped", loop->name);
    tl_current_loop = NULL;
}

int sl_loop_run(struct sl_loop *loop)
{
    SL_ENSURE(!loop->thread, SL_E_STATE);
    atomic_store(&loop->stop_requested, false);
    struct sl_thread_options topts = {.name = loop->name, .cpu = loop->cpu};
    return sl_thread_start(&topts, loop_thread_main, loop, &loop->thread);
}

void sl_loop_stop(struct sl_loop *loop)
{
    atomic_store_explicit(&loop->stop_requested, true, memory_order_release);
    if (!atomic_exchange(&loop->wake_pending, true)) {
        loop->ops->wake(loop->poller);
    }
}

int sl_loop_wait_for_stop(struct sl_loop *loop)
{
    SL_ENSURE(tl_current_loop != loop, SL_E_WOULD_DEADLOCK);
    if (!loop->thread) {
        return 0;
    }
    SL_TRY(sl_thread_join(loop->thread));
    loop->thread = NULL;
    return 0;
}

/* IO -------------------------------------------------------------------------------------- */

/*
 * A new subscription is usually the socket some earlier pick was for: that pick now counts as
 * the subscription, so it stops counting as a pick (oldest first). Loop thread only.
 */
static void settle_pick(struct sl_loop *loop)
{
    size_t before = atomic_load_explicit(&loop->picks_before, memory_order_relaxed);
    if (before > 0) {
        atomic_store_explicit(&loop->picks_before, before - 1, memory_order_relaxed);
        return;
    }
    size_t now = atomic_load_explicit(&loop->picks_now, memory_order_relaxed);
    while (now > 0 &&
           !atomic_compare_exchange_weak_explicit(&loop->picks_now, &now, now - 1,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

int sl_loop_subscribe(struct sl_loop *loop, int fd, int events, sl_io_event_fn *fn, void *user_data,
                      struct sl_io_subscription **out)
{
    SL_ENSURE(tl_current_loop == loop, SL_E_WRONG_THREAD);
    SL_ENSURE_ARG(fd >= 0 && fn && out && (events & (SL_IO_READABLE | SL_IO_WRITABLE)));
    struct sl_io_subscription *sub = sl_calloc(1, sizeof(*sub));
    SL_ENSURE(sub, SL_E_NOMEM);
    *sub = (struct sl_io_subscription){.loop = loop, .fd = fd, .fn = fn, .user_data = user_data};
    int rc = loop->ops->watch(loop->poller, fd, events, sub);
    if (rc < 0) {
        sl_free(sub);
        return rc;
    }
    sl_list_push_back(&loop->subscriptions, &sub->node);
    atomic_fetch_add_explicit(&loop->subscription_count, 1, memory_order_relaxed);
    settle_pick(loop);
    *out = sub;
    return 0;
}

void sl_loop_unsubscribe(struct sl_loop *loop, struct sl_io_subscription *sub)
{
    SL_ASSERT(tl_current_loop == loop && sub->loop == loop && !sub->dead);
    loop->ops->unwatch(loop->poller, sub->fd);
    sub->dead = true;
    sl_list_remove(&sub->node);
    atomic_fetch_sub_explicit(&loop->subscription_count, 1, memory_order_relaxed);
    if (loop->dispatching) {
        /* This tick's reports may still point at sub; free it once they are consumed. */
        sl_list_push_back(&loop->graveyard, &sub->node);
    } else {
        sl_free(sub);
    }
}

/* Loop-local storage ---------------------------------------------------------------------- */

static struct local_entry *find_local(struct sl_loop *loop, const void *key)
{
    for (size_t i = 0; i < loop->local_count; i++) {
        if (loop->locals[i].key == key) {
            return &loop->locals[i];
        }
    }
    return NULL;
}

int sl_loop_local_put(struct sl_loop *loop, const void *key, void *value,
                      sl_loop_local_destroy_fn *destroy)
{
    SL_ENSURE(tl_current_loop == loop, SL_E_WRONG_THREAD);
    struct local_entry *entry = find_local(loop, key);
    if (entry) {
        struct local_entry old = *entry;
        *entry = (struct local_entry){.key = key, .value = value, .destroy = destroy};
        if (old.value != value && old.destroy) {
            old.destroy(old.value);
        }
        return 0;
    }
    if (loop->local_count == loop->local_cap) {
        size_t cap = loop->local_cap ? loop->local_cap * 2 : 4;
        struct local_entry *locals = sl_realloc(loop->locals, cap * sizeof(*locals));
        SL_ENSURE(locals, SL_E_NOMEM);
        loop->locals = locals;
        loop->local_cap = cap;
    }
    loop->locals[loop->local_count++] =
        (struct local_entry){.key = key, .value = value, .destroy = destroy};
    return 0;
}

int sl_loop_local_fetch(struct sl_loop *loop, const void *key, void **out)
{
    SL_ENSURE(tl_current_loop == loop, SL_E_WRONG_THREAD);
    struct local_entry *entry = find_local(loop, key);
    SL_ENSURE(entry, SL_E_NOT_FOUND);
    *out = entry->value;
    return 0;
}

int sl_loop_local_remove(struct sl_loop *loop, const void *key)
{
    SL_ENSURE(tl_current_loop == loop, SL_E_WRONG_THREAD);
    struct local_entry *entry = find_local(loop, key);
    SL_ENSURE(entry, SL_E_NOT_FOUND);
    struct local_entry old = *entry;
    *entry = loop->locals[--loop->local_count];
    if (old.destroy) {
        old.destroy(old.value);
    }
    return 0;
}

/* Teardown -------------------------------------------------------------------------------- */

/* Destroys loop-local objects, newest first (later objects may depend on earlier ones). */
static void destroy_locals(struct sl_loop *loop)
{
    while (loop->local_count > 0) {
        struct local_entry old = loop->locals[--loop->local_count];
        if (old.destroy) {
            old.destroy(old.value);
        }
    }
}

static void release_subscriptions(struct sl_loop *loop)
{
    size_t left = 0;
    struct sl_list_node *node;
    while ((node = sl_list_pop_front(&loop->subscriptions)) != NULL) {
        struct sl_io_subscription *sub = sl_container_of(node, struct sl_io_subscription, node);
        loop->ops->unwatch(loop->poller, sub->fd);
        sl_free(sub);
        left++;
    }
    if (left) {
        SL_LOG_WARN(SL_LS_LOOP, "loop %s: destroyed with %zu subscriptions still open", loop->name,
                    left);
    }
}

int sl_loop_destroy(struct sl_loop *loop)
{
    if (!loop) {
        return 0;
    }
    SL_ENSURE(tl_current_loop != loop, SL_E_WOULD_DEADLOCK);
    sl_loop_stop(loop);
    SL_TRY(sl_loop_wait_for_stop(loop));

    /* Act as the loop thread, so cancelled tasks may use loop-thread APIs to clean up. */
    struct sl_loop *previous = tl_current_loop;
    tl_current_loop = loop;
    while (atomic_load(&loop->cross_head) || !sl__scheduler_is_empty(&loop->scheduler) ||
           loop->local_count > 0) {
        take_cross_thread_tasks(loop);
        sl__scheduler_cancel_all(&loop->scheduler);
        destroy_locals(loop);
    }
    release_subscriptions(loop);
    tl_current_loop = previous;

    sl_free(loop->locals);
    loop->ops->destroy(loop->poller);
    sl_free(loop);
    return 0;
}

/* Queries --------------------------------------------------------------------------------- */

bool sl_loop_is_on_callers_thread(const struct sl_loop *loop)
{
    return tl_current_loop == loop;
}

bool sl__loop_is_any_current(void)
{
    return tl_current_loop != NULL;
}

uint64_t sl_loop_now_ns(const struct sl_loop *loop)
{
    (void)loop;
    return sl_clock_now_ns();
}

const char *sl_loop_name(const struct sl_loop *loop)
{
    return loop->name;
}

size_t sl_loop_load(const struct sl_loop *loop)
{
    return atomic_load_explicit(&loop->subscription_count, memory_order_relaxed) +
           atomic_load_explicit(&loop->picks_now, memory_order_relaxed) +
           atomic_load_explicit(&loop->picks_before, memory_order_relaxed);
}

void sl__loop_note_pick(struct sl_loop *loop)
{
    atomic_fetch_add_explicit(&loop->picks_now, 1, memory_order_relaxed);
}

const char *sl_loop_backend_name(const struct sl_loop *loop)
{
    return loop->ops->name;
}
