/* SPDX-License-Identifier: Apache-2.0 */
#include "notify.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/event_loop.h>
#include <sluice/event_loop_group.h>
#include <sluice/log.h>

#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define STATUS_INTERVAL_NS (5 * SL_NS_PER_SEC)
#define MIN_INTERVAL_NS    (100 * SL_NS_PER_MS)

int notify_listen_fd(void)
{
    int n = sd_listen_fds(1); /* 1: unset $LISTEN_FDS so children do not inherit the claim */
    if (n <= 0) {
        return -1;
    }
    if (n != 1 || sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0) {
        return -2;
    }
    return SD_LISTEN_FDS_START;
}

static void status(struct sluiced *d, const char *prefix)
{
    sd_notifyf(0, "%sSTATUS=%zu sessions, %llu channels, %llu listeners", prefix,
               sluiced_session_count(d), (unsigned long long)atomic_load(&d->channels),
               (unsigned long long)atomic_load(&d->listeners));
}

void notify_ready(struct sluiced *d, const char *where)
{
    sd_notifyf(0, "READY=1\nMAINPID=%d", (int)getpid());
    status(d, "");
    SL_LOG_DEBUG(SL_LS_DAEMON, "told systemd we are ready on %s", where);
}

void notify_reloading(bool reloading)
{
    sd_notify(0, reloading ? "RELOADING=1" : "READY=1");
}

void notify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

static uint64_t watchdog_ns(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec * 1000 : 0;
}

struct timespec notify_interval(void)
{
    uint64_t ns = watchdog_ns();
    ns = ns ? ns / 4 : STATUS_INTERVAL_NS; /* four chances per watchdog period */
    ns = ns < MIN_INTERVAL_NS ? MIN_INTERVAL_NS : ns;
    return (struct timespec){.tv_sec = (time_t)(ns / SL_NS_PER_SEC),
                             .tv_nsec = (long)(ns % SL_NS_PER_SEC)};
}

/* The watchdog's probe: a task on every loop; a loop that does not run it is stuck. */
struct probe {
    struct sl_task task;
    atomic_bool pending;
};

static struct probe *s_probes; /* one per loop, for the daemon's life (main thread only) */

static void probe_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status;
    atomic_store(&((struct probe *)arg)->pending, false);
}

static bool loops_answer(struct sluiced *d, uint64_t within_ns)
{
    size_t n = sl_loop_group_count(d->group);
    if (!s_probes && !(s_probes = sl_calloc(n, sizeof(*s_probes)))) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!atomic_load(&s_probes[i].pending)) { /* still pending: that loop is stuck */
            atomic_store(&s_probes[i].pending, true);
            sl_task_init(&s_probes[i].task, probe_fn, &s_probes[i], "watchdog_probe");
            sl_loop_schedule_now(sl_loop_group_get_loop(d->group, i), &s_probes[i].task);
        }
    }
    uint64_t deadline = sl_clock_now_ns() + within_ns;
    for (;;) {
        bool all = true;
        for (size_t i = 0; i < n; i++) {
            all = all && !atomic_load(&s_probes[i].pending);
        }
        if (all || sl_clock_now_ns() >= deadline) {
            return all;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

void notify_tick(struct sluiced *d)
{
    status(d, "");
    uint64_t wd = watchdog_ns();
    if (wd == 0) {
        return;
    }
    if (loops_answer(d, wd / 4)) {
        sd_notify(0, "WATCHDOG=1");
    } else {
        SL_LOG_ERROR(SL_LS_DAEMON, "an event loop did not answer within %llu ms: no watchdog ping",
                     (unsigned long long)(wd / 4 / SL_NS_PER_MS));
    }
}

void notify_cleanup(void)
{
    sl_free(s_probes);
    s_probes = NULL;
}
