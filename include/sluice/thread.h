/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_THREAD_H
#define SL_THREAD_H

#include <sluice/common.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * Named threads with optional CPU pinning. Names show up in top -H, gdb and perf (the kernel
 * keeps at most 15 characters). Pinning respects the process's allowed CPU set (cgroups,
 * taskset): a CPU outside it, or a failure to pin, is logged and never fatal.
 */

struct sl_thread;

typedef void sl_thread_fn(void *arg);

struct sl_thread_options {
    const char *name; /* may be NULL; truncated to 15 characters */
    int cpu;          /* CPU index to pin to, or -1 for no pinning */
};

/* Lifecycle ------------------------------------------------------------------------------- */

/*
 * Starts fn(arg) on a new thread and returns its handle in *out.
 * Ownership: returns owned; end it with sl_thread_join or sl_thread_detach.
 * Errors: SL_E_NOMEM, or -errno from pthread_create (e.g. -EAGAIN).
 */
SL_API SL_MUST_CHECK int sl_thread_start(const struct sl_thread_options *opts, sl_thread_fn *fn,
                                         void *arg, struct sl_thread **out);

/*
 * Waits for the thread to finish and frees the handle.
 * Errors: SL_E_WOULD_DEADLOCK when called from the thread itself (the handle stays valid).
 */
SL_API SL_MUST_CHECK int sl_thread_join(struct sl_thread *thread);

/* Lets the thread run on unattended and frees the handle. */
SL_API void sl_thread_detach(struct sl_thread *thread);

/* Queries --------------------------------------------------------------------------------- */

/* True when called from the thread behind the handle. */
SL_API bool sl_thread_is_current(const struct sl_thread *thread);

/* The kernel's id of the calling thread (as in /proc/self/task), for logs. */
SL_API uint64_t sl_thread_current_id(void);

/*
 * Pins the calling thread to cpu.
 * Errors: SL_E_INVAL for a negative or huge index; -EINVAL if the kernel refuses the CPU (not
 * present, or outside the cgroup's cpuset).
 */
SL_API SL_MUST_CHECK int sl_thread_pin_current(int cpu);

/* Number of CPUs this process may run on (its affinity mask; at least 1). */
SL_API int sl_cpu_count(void);

/*
 * Writes up to cap allowed CPU indices into cpus, in ascending order; returns how many there
 * are in all (which may exceed cap).
 */
SL_API int sl_cpu_allowed(int *cpus, int cap);

SL_END_DECLS

#endif /* SL_THREAD_H */
