/* SPDX-License-Identifier: Apache-2.0 */

/* epoll_pwait2 is declared for GNU builds only. */
#define _GNU_SOURCE

#include "poller.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/event_loop.h>

#include "guard.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/*
 * Edge-triggered epoll. Each watched fd is registered once with EPOLLET for the events asked
 * (plus RDHUP), so a ready descriptor costs no syscall until its state changes again. Wake-ups
 * come through one non-blocking eventfd, also edge-triggered: every write produces an event,
 * and the counter is drained when it fires.
 */

#define MAX_EVENTS 256

struct sl_poller {
    int epfd;
    int wakefd;
    struct epoll_event events[MAX_EVENTS];
};

/* epoll_pwait2 (Linux 5.11) gives nanosecond timeouts; older kernels fall back to epoll_wait. */
static atomic_bool s_no_pwait2;

static int epoll_create_poller(struct sl_poller **out)
{
    struct sl_poller *p = sl_calloc(1, sizeof(*p));
    SL_ENSURE(p, SL_E_NOMEM);
    int rc = 0;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        rc = -errno;
        goto out_free;
    }
    p->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->wakefd < 0) {
        rc = -errno;
        goto out_close_epfd;
    }
    /* The poller's own address tags the wake-up descriptor. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = p};
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev) != 0) {
        rc = -errno;
        goto out_close_wakefd;
    }
    *out = p;
    return 0;

out_close_wakefd:
    close(p->wakefd);
out_close_epfd:
    close(p->epfd);
out_free:
    sl_free(p);
    return rc;
}

static void epoll_destroy_poller(struct sl_poller *p)
{
    close(p->wakefd);
    close(p->epfd);
    sl_free(p);
}

static int epoll_watch(struct sl_poller *p, int fd, int events, void *tag)
{
    struct epoll_event ev = {.events = EPOLLET | EPOLLRDHUP, .data.ptr = tag};
    if (events & SL_IO_READABLE) {
        ev.events |= EPOLLIN;
    }
    if (events & SL_IO_WRITABLE) {
        ev.events |= EPOLLOUT;
    }
    return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

static void epoll_unwatch(struct sl_poller *p, int fd)
{
    /* Fails only if fd was closed already, and then the kernel has dropped it anyway. */
    (void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static int wait_for_events(struct sl_poller *p, int64_t timeout_ns, int cap)
{
    if (!atomic_load_explicit(&s_no_pwait2, memory_order_relaxed)) {
        struct timespec ts = {
            .tv_sec = (time_t)(timeout_ns / (int64_t)SL_NS_PER_SEC),
            .tv_nsec = (long)(timeout_ns % (int64_t)SL_NS_PER_SEC),
        };
        int n = epoll_pwait2(p->epfd, p->events, cap, timeout_ns < 0 ? NULL : &ts, NULL);
        if (n >= 0 || errno != ENOSYS) {
            return n;
        }
        atomic_store_explicit(&s_no_pwait2, true, memory_order_relaxed);
    }
    /* Round up, so a task due in 0.3 ms does not cause a busy spin of zero timeouts. */
    int timeout_ms = timeout_ns < 0
                         ? -1
                         : (int)((timeout_ns + (int64_t)SL_NS_PER_MS - 1) / (int64_t)SL_NS_PER_MS);
    return epoll_wait(p->epfd, p->events, cap, timeout_ms);
}

static int to_sl_events(uint32_t e)
{
    int events = 0;
    if (e & EPOLLIN) {
        events |= SL_IO_READABLE;
    }
    if (e & EPOLLOUT) {
        events |= SL_IO_WRITABLE;
    }
    if (e & (EPOLLRDHUP | EPOLLHUP)) {
        events |= SL_IO_CLOSED;
    }
    if (e & EPOLLERR) {
        events |= SL_IO_ERROR;
    }
    return events;
}

static void drain_wakefd(struct sl_poller *p)
{
    uint64_t count;
    /* EAGAIN means another wait already drained it; nothing else can go wrong here. */
    (void)read(p->wakefd, &count, sizeof(count));
}

static int epoll_wait_events(struct sl_poller *p, int64_t timeout_ns, struct sl_poll_event *out,
                             int cap)
{
    if (cap > MAX_EVENTS) {
        cap = MAX_EVENTS;
    }
    int n = wait_for_events(p, timeout_ns, cap);
    if (n < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (p->events[i].data.ptr == p) {
            drain_wakefd(p);
            continue;
        }
        out[count].tag = p->events[i].data.ptr;
        out[count].events = to_sl_events(p->events[i].events);
        count++;
    }
    return count;
}

static void epoll_wake(struct sl_poller *p)
{
    uint64_t one = 1;
    /* Fails only when the counter is saturated, and then a wake-up is pending anyway. */
    (void)write(p->wakefd, &one, sizeof(one));
}

const struct sl_poller_ops sl__poller_epoll_ops = {
    .name = "epoll",
    .create = epoll_create_poller,
    .destroy = epoll_destroy_poller,
    .watch = epoll_watch,
    .unwatch = epoll_unwatch,
    .wait = epoll_wait_events,
    .wake = epoll_wake,
};
