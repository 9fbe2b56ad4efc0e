/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/event_loop_group.h>

#include <sluice/alloc.h>
#include <sluice/log.h>
#include <sluice/ref.h>
#include <sluice/thread.h>

#include "guard.h"
#include "loop_internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#define MAX_LOOPS 1024

/* Lets sl_loop_group_destroy sleep until a shutdown started elsewhere has finished. */
struct shutdown_waiter {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
    struct sl_list_node node; /* in the group's waiters */
};

struct sl_loop_group {
    struct sl_ref ref; /* one per holder: the creator, plus each sl_loop_group_acquire */
    struct sl_loop **loops;
    size_t count;
    atomic_uint_fast64_t next_ticket;
    sl_loop_group_shutdown_fn *on_shutdown_complete;
    void *user_data;
    /* Every sl_loop_group_destroy caller waiting for the end (several holders may destroy). */
    pthread_mutex_t waiters_lock;
    struct sl_list waiters;
};

static void destroy_loops(struct sl_loop **loops, size_t count)
{
    /* Stop them all first so they wind down in parallel, then reap each. */
    for (size_t i = 0; i < count; i++) {
        sl_loop_stop(loops[i]);
    }
    for (size_t i = 0; i < count; i++) {
        int rc = sl_loop_destroy(loops[i]);
        SL_ASSERT(rc == 0); /* callers never run on one of these loops */
        (void)rc;
    }
}

static int start_loops(struct sl_loop_group *group, const struct sl_loop_group_options *opts)
{
    int allowed[MAX_LOOPS];
    const int *cpus = allowed;
    int cpu_count = 0;
    if (opts->cpus && opts->cpu_count > 0) {
        cpus = opts->cpus;
        cpu_count = (int)opts->cpu_count;
    } else if (opts->pin_to_cpus) {
        cpu_count = sl_cpu_allowed(allowed, MAX_LOOPS);
        if (cpu_count > MAX_LOOPS) {
            cpu_count = MAX_LOOPS;
        }
    }
    for (size_t i = 0; i < group->count; i++) {
        char name[32];
        snprintf(name, sizeof(name), "%s-%zu", opts->name ? opts->name : "sl-loop", i);
        struct sl_loop_options lopts = {
            .name = name,
            .cpu = cpu_count > 0 ? cpus[i % (size_t)cpu_count] : -1,
            .backend = opts->backend,
        };
        int rc = sl_loop_new(&lopts, &group->loops[i]);
        if (rc == 0) {
            rc = sl_loop_run(group->loops[i]);
            if (rc < 0) {
                int destroy_rc = sl_loop_destroy(group->loops[i]); /* never ran: cannot fail */
                SL_ASSERT(destroy_rc == 0);
                (void)destroy_rc;
            }
        }
        if (rc < 0) {
            destroy_loops(group->loops, i);
            return rc;
        }
    }
    return 0;
}

int sl_loop_group_new(const struct sl_loop_group_options *opts, struct sl_loop_group **out)
{
    SL_ENSURE_ARG(opts && out);
    size_t count = opts->loop_count ? opts->loop_count : (size_t)sl_cpu_count();
    SL_ENSURE_ARG(count <= MAX_LOOPS);
    SL_ENSURE_ARG(opts->cpu_count <= INT_MAX && (opts->cpus || opts->cpu_count == 0));
    struct sl_loop_group *group = sl_calloc(1, sizeof(*group));
    SL_ENSURE(group, SL_E_NOMEM);
    group->loops = sl_calloc(count, sizeof(*group->loops));
    if (!group->loops) {
        sl_free(group);
        return SL_E_NOMEM;
    }
    group->count = count;
    group->on_shutdown_complete = opts->on_shutdown_complete;
    group->user_data = opts->user_data;
    sl_ref_init(&group->ref, 1);
    atomic_init(&group->next_ticket, 0);
    pthread_mutex_init(&group->waiters_lock, NULL);
    sl_list_init(&group->waiters);
    int rc = start_loops(group, opts);
    if (rc < 0) {
        pthread_mutex_destroy(&group->waiters_lock);
        sl_free(group->loops);
        sl_free(group);
        return rc;
    }
    *out = group;
    return 0;
}

static void wake_waiter(struct shutdown_waiter *waiter)
{
    pthread_mutex_lock(&waiter->lock);
    waiter->done = true;
    pthread_cond_signal(&waiter->done_cond);
    pthread_mutex_unlock(&waiter->lock);
}

/*
 * Stops and frees everything, then reports completion: the group's memory is gone before
 * anyone hears it is done. Runs on a thread outside the group.
 */
static void shut_down(struct sl_loop_group *group)
{
    destroy_loops(group->loops, group->count);
    sl_loop_group_shutdown_fn *on_complete = group->on_shutdown_complete;
    void *user_data = group->user_data;
    /* No new waiter can come: adding one needs a reference, and there are none left. */
    struct sl_list waiters;
    sl_list_init(&waiters);
    pthread_mutex_lock(&group->waiters_lock);
    sl_list_splice_back(&waiters, &group->waiters);
    pthread_mutex_unlock(&group->waiters_lock);
    pthread_mutex_destroy(&group->waiters_lock);
    sl_free(group->loops);
    sl_free(group);
    if (on_complete) {
        on_complete(user_data);
    }
    struct sl_list_node *node;
    while ((node = sl_list_pop_front(&waiters)) != NULL) {
        wake_waiter(sl_container_of(node, struct shutdown_waiter, node));
    }
}

static void shutdown_thread_main(void *arg)
{
    shut_down(arg);
}

void sl_loop_group_acquire(struct sl_loop_group *group)
{
    sl_ref_acquire(&group->ref);
}

void sl_loop_group_release(struct sl_loop_group *group)
{
    if (!sl_ref_release(&group->ref)) {
        return;
    }
    /*
     * The last holder may be a task on one of the group's own loops, which cannot join its own
     * thread; a helper thread does the joining so release works from anywhere.
     */
    struct sl_thread *helper;
    struct sl_thread_options topts = {.name = "sl-loop-grp-end", .cpu = -1};
    int rc = sl_thread_start(&topts, shutdown_thread_main, group, &helper);
    if (rc == 0) {
        sl_thread_detach(helper);
        return;
    }
    SL_LOG_ERROR(SL_LS_LOOP, "loop group: cannot start shutdown thread: %s", sl_strerror(rc));
    for (size_t i = 0; i < group->count; i++) {
        if (sl_loop_is_on_callers_thread(group->loops[i])) {
            SL_LOG_ERROR(SL_LS_LOOP, "loop group: leaking %zu loops (released from loop %zu)",
                         group->count, i);
            return;
        }
    }
    shut_down(group);
}

static bool is_own_thread(const struct sl_loop_group *group)
{
    for (size_t i = 0; i < group->count; i++) {
        if (sl_loop_is_on_callers_thread(group->loops[i])) {
            return true;
        }
    }
    return false;
}

int sl_loop_group_destroy(struct sl_loop_group *group)
{
    SL_ENSURE(!is_own_thread(group), SL_E_WOULD_DEADLOCK);
    struct shutdown_waiter waiter = {.done = false};
    pthread_mutex_init(&waiter.lock, NULL);
    pthread_cond_init(&waiter.done_cond, NULL);
    pthread_mutex_lock(&group->waiters_lock);
    sl_list_push_back(&group->waiters, &waiter.node);
    pthread_mutex_unlock(&group->waiters_lock);
    if (sl_ref_release(&group->ref)) {
        shut_down(group); /* ours was the last reference: do it on this thread */
    }
    pthread_mutex_lock(&waiter.lock);
    while (!waiter.done) {
        pthread_cond_wait(&waiter.done_cond, &waiter.lock);
    }
    pthread_mutex_unlock(&waiter.lock);
    pthread_cond_destroy(&waiter.done_cond);
    pthread_mutex_destroy(&waiter.lock);
    return 0;
}

/* splitmix64's finaliser: spreads consecutive tickets over the other candidates. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

struct sl_loop *sl_loop_group_get_next(struct sl_loop_group *group)
{
    size_t n = group->count;
    if (n == 1) {
        return group->loops[0];
    }
    uint64_t ticket = atomic_fetch_add_explicit(&group->next_ticket, 1, memory_order_relaxed);
    size_t a = (size_t)(ticket % n);
    size_t b = (a + 1 + (size_t)(mix(ticket) % (n - 1))) % n;
    /* Two choices: the less loaded wins, the round-robin pick on a tie, so idle loops fill evenly.
     */
    struct sl_loop *pick = sl_loop_load(group->loops[b]) < sl_loop_load(group->loops[a])
                               ? group->loops[b]
                               : group->loops[a];
    sl__loop_note_pick(pick);
    return pick;
}

struct sl_loop *sl_loop_group_get_loop(struct sl_loop_group *group, size_t index)
{
    return index < group->count ? group->loops[index] : NULL;
}

size_t sl_loop_group_count(const struct sl_loop_group *group)
{
    return group->count;
}
