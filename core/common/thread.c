/* SPDX-License-Identifier: Apache-2.0 */

/* pthread_setname_np, pthread_setaffinity_np, sched_getaffinity and gettid are GNU extensions. */
#define _GNU_SOURCE

#include <sluice/thread.h>

#include <sluice/alloc.h>
#include <sluice/log.h>

#include "guard.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

struct sl_thread {
    pthread_t handle;
};

/*
 * What the new thread needs to start. It is a separate allocation owned by the new thread,
 * because the handle may be detached and freed before the thread has even been scheduled.
 */
struct start_block {
    sl_thread_fn *fn;
    void *arg;
    int cpu;
    char name[16]; /* the kernel's limit, NUL included */
};

static void *thread_main(void *p)
{
    struct start_block start = *(struct start_block *)p;
    sl_free(p);
    if (start.name[0]) {
        /* Naming is cosmetic; a failure changes nothing else. */
        (void)pthread_setname_np(pthread_self(), start.name);
    }
    if (start.cpu >= 0) {
        int rc = sl_thread_pin_current(start.cpu);
        if (rc < 0) {
            SL_LOG_WARN(SL_LS_COMMON, "thread %s: cannot pin to CPU %d (%s); running unpinned",
                        start.name, start.cpu, sl_strerror(rc));
        }
    }
    start.fn(start.arg);
    return NULL;
}

int sl_thread_start(const struct sl_thread_options *opts, sl_thread_fn *fn, void *arg,
                    struct sl_thread **out)
{
    SL_ENSURE_ARG(fn && out);
    struct sl_thread *thread = sl_calloc(1, sizeof(*thread));
    struct start_block *start = sl_calloc(1, sizeof(*start));
    if (!thread || !start) {
        sl_free(thread);
        sl_free(start);
        return SL_E_NOMEM;
    }
    start->fn = fn;
    start->arg = arg;
    start->cpu = opts ? opts->cpu : -1;
    if (opts && opts->name) {
        strncpy(start->name, opts->name, sizeof(start->name) - 1);
    }
    int err = pthread_create(&thread->handle, NULL, thread_main, start);
    if (err) {
        sl_free(thread);
        sl_free(start);
        return sl_error_from_errno(err);
    }
    *out = thread;
    return 0;
}

int sl_thread_join(struct sl_thread *thread)
{
    SL_ENSURE(!sl_thread_is_current(thread), SL_E_WOULD_DEADLOCK);
    int err = pthread_join(thread->handle, NULL);
    SL_ASSERT(err == 0);
    (void)err; /* join on a joinable, non-self thread cannot fail */
    sl_free(thread);
    return 0;
}

void sl_thread_detach(struct sl_thread *thread)
{
    (void)pthread_detach(thread->handle); /* cannot fail for a joinable thread */
    sl_free(thread);
}

bool sl_thread_is_current(const struct sl_thread *thread)
{
    return pthread_equal(pthread_self(), thread->handle) != 0;
}

uint64_t sl_thread_current_id(void)
{
    return (uint64_t)gettid();
}

int sl_cpu_allowed(int *cpus, int cap)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return 0;
    }
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set)) {
            if (n < cap) {
                cpus[n] = cpu;
            }
            n++;
        }
    }
    return n;
}

int sl_cpu_count(void)
{
    int n = sl_cpu_allowed(NULL, 0);
    if (n > 0) {
        return n;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

int sl_thread_pin_current(int cpu)
{
    SL_ENSURE_ARG(cpu >= 0 && cpu < CPU_SETSIZE);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /*
     * The kernel refuses (EINVAL) a CPU outside the cgroup's cpuset, so containers and taskset
     * limits are respected without reading them ourselves (lessons from peers #15).
     */
    int err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    return err ? sl_error_from_errno(err) : 0;
}
