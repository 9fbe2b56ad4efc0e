/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_POLLER_H
#define SL_POLLER_H

/*
 * The event loop's back-end interface (internal). A poller waits for readiness of watched
 * descriptors and can be woken from any thread; everything else about the loop (tasks,
 * cross-thread queue, subscriptions, local storage) is shared code in event_loop.c.
 * One file per implementation (poller_epoll.c, later poller_kqueue.c), chosen by CMake.
 */

#include <stdint.h>

struct sl_poller;

/* One readiness report: the tag given to watch() and SL_IO_* bits. */
struct sl_poll_event {
    void *tag;
    int events;
};

struct sl_poller_ops {
    const char *name;
    /* Creates a poller. Errors: SL_E_NOMEM or -errno. */
    int (*create)(struct sl_poller **out);
    void (*destroy)(struct sl_poller *p);
    /* Starts edge-triggered watching of fd for SL_IO_* events; reports carry tag. */
    int (*watch)(struct sl_poller *p, int fd, int events, void *tag);
    /* Stops watching fd; never fails (a descriptor closed first is already forgotten). */
    void (*unwatch)(struct sl_poller *p, int fd);
    /*
     * Waits up to timeout_ns (-1: forever, 0: just look) and fills at most cap reports.
     * Returns how many (0 on timeout, wake-up or signal), or -errno. Wake-ups are consumed
     * here and never reported.
     */
    int (*wait)(struct sl_poller *p, int64_t timeout_ns, struct sl_poll_event *out, int cap);
    /* Makes a current or next wait() return. Thread: any; async-signal-safe. */
    void (*wake)(struct sl_poller *p);
};

/* Every back end built for this platform, default first, NULL-terminated. */
extern const struct sl_poller_ops *const sl__pollers[];

/* The back ends themselves; each exists only where its file is built. */
extern const struct sl_poller_ops sl__poller_epoll_ops;

#endif /* SL_POLLER_H */
