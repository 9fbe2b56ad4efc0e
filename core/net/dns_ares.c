/* SPDX-License-Identifier: Apache-2.0 */

/* c-ares's headers want the BSD/GNU socket definitions. */
#define _GNU_SOURCE

#include "dns.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/*
 * c-ares tells us which sockets it wants watched through sock_state_cb; we subscribe them on
 * the loop (edge-triggered, both directions) and hand readiness back with ares_process_fd.
 * Edge-triggered watching needs every ready byte consumed: c-ares reads all waiting UDP
 * datagrams per call but only one piece of a TCP answer, so after each call we ask the kernel
 * (FIONREAD) whether more is waiting and call again. Timeouts are one loop task, re-armed to
 * ares_timeout() after every call into c-ares.
 */

#define MAX_WATCHED      32 /* c-ares opens a socket per server and protocol: a handful */
#define MAX_DRAIN_ROUNDS 64

struct sl__dns;

/* Slots never move, so a subscription's user_data can point at its slot. */
struct watched_fd {
    struct sl__dns *dns;
    ares_socket_t fd; /* ARES_SOCKET_BAD when the slot is free */
    struct sl_io_subscription *sub;
};

struct sl__dns {
    struct sl_loop *loop;
    ares_channel channel;
    struct watched_fd watched[MAX_WATCHED];
    struct sl_task timer;
    bool timer_scheduled;
};

struct lookup {
    sl__dns_done_fn *done;
    void *user_data;
};

static pthread_once_t s_library_once = PTHREAD_ONCE_INIT;
static int s_library_status;

static void init_library(void)
{
    s_library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* Timeouts ----------------------------------------------------------------------------------- */

static void timer_fn(struct sl_task *task, void *arg, enum sl_task_status status);

static void rearm_timer(struct sl__dns *dns)
{
    if (dns->timer_scheduled) {
        dns->timer_scheduled = false;
        sl_loop_cancel(dns->loop, &dns->timer);
    }
    struct timeval tv;
    if (!ares_timeout(dns->channel, NULL, &tv)) {
        return; /* nothing in flight */
    }
    uint64_t delay = (uint64_t)tv.tv_sec * SL_NS_PER_SEC + (uint64_t)tv.tv_usec * SL_NS_PER_US;
    dns->timer_scheduled = true;
    sl_task_init(&dns->timer, timer_fn, dns, "dns_timeout");
    sl_loop_schedule_at(dns->loop, &dns->timer, sl_loop_now_ns(dns->loop) + delay);
}

static void timer_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl__dns *dns = arg;
    if (!dns->timer_scheduled || status == SL_TASK_CANCELED) {
        return;
    }
    dns->timer_scheduled = false;
    ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm_timer(dns);
}

/* Sockets ------------------------------------------------------------------------------------ */

static bool has_pending_input(ares_socket_t fd)
{
    int pending = 0;
    return ioctl(fd, FIONREAD, &pending) == 0 && pending > 0;
}

static void on_fd_ready(struct sl_loop *loop, struct sl_io_subscription *sub, int events,
                        void *user_data)
{
    (void)loop;
    (void)sub;
    struct watched_fd *w = user_data;
    struct sl__dns *dns = w->dns;
    ares_socket_t fd = w->fd;
    bool readable = events & (SL_IO_READABLE | SL_IO_CLOSED | SL_IO_ERROR);
    ares_process_fd(dns->channel, readable ? fd : ARES_SOCKET_BAD,
                    events & SL_IO_WRITABLE ? fd : ARES_SOCKET_BAD);
    /* c-ares may have closed fd meanwhile (the slot is then free); only drain if still ours. */
    for (int i = 0; i < MAX_DRAIN_ROUNDS && w->fd == fd && has_pending_input(fd); i++) {
        ares_process_fd(dns->channel, fd, ARES_SOCKET_BAD);
    }
    rearm_timer(dns);
}

static struct watched_fd *find_watched(struct sl__dns *dns, ares_socket_t fd)
{
    for (size_t i = 0; i < MAX_WATCHED; i++) {
        if (dns->watched[i].fd == fd) {
            return &dns->watched[i];
        }
    }
    return NULL;
}

static void watch(struct sl__dns *dns, ares_socket_t fd)
{
    struct watched_fd *w = find_watched(dns, ARES_SOCKET_BAD);
    if (!w) {
        SL_LOG_ERROR(SL_LS_DNS, "more than %d DNS sockets; fd %d unwatched", MAX_WATCHED, fd);
        return;
    }
    int rc =
        sl_loop_subscribe(dns->loop, fd, SL_IO_READABLE | SL_IO_WRITABLE, on_fd_ready, w, &w->sub);
    if (rc < 0) {
        /* The lookup times out instead of hanging: the timer still runs. */
        SL_LOG_ERROR(SL_LS_DNS, "cannot watch DNS socket %d: %s", fd, sl_strerror(rc));
        return;
    }
    w->fd = fd;
}

static void unwatch(struct sl__dns *dns, struct watched_fd *w)
{
    sl_loop_unsubscribe(dns->loop, w->sub);
    w->sub = NULL;
    w->fd = ARES_SOCKET_BAD;
}

/* c-ares says which sockets matter; both flags clear means it is about to close the socket. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct sl__dns *dns = data;
    struct watched_fd *w = find_watched(dns, fd);
    if ((readable || writable) && !w) {
        watch(dns, fd);
    } else if (!readable && !writable && w) {
        unwatch(dns, w);
    }
}

/* Lookups ------------------------------------------------------------------------------------ */

static int map_status(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
        return SL_E_HOST_NOT_FOUND;
    case ARES_EBADNAME:
        return SL_E_INVALID_HOSTNAME;
    case ARES_ENOMEM:
        return SL_E_NOMEM;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
        return SL_E_CANCELED;
    default:
        return SL_E_DNS_TEMPORARY; /* timeouts, refusals, server failures, bad answers */
    }
}

static size_t convert(const struct ares_addrinfo *result, struct sl__dns_answer *out, size_t cap)
{
    size_t n = 0;
    for (const struct ares_addrinfo_node *node = result ? result->nodes : NULL; node && n < cap;
         node = node->ai_next) {
        const void *addr = NULL;
        if (node->ai_family == AF_INET) {
            addr = &((const struct sockaddr_in *)(const void *)node->ai_addr)->sin_addr;
        } else if (node->ai_family == AF_INET6) {
            addr = &((const struct sockaddr_in6 *)(const void *)node->ai_addr)->sin6_addr;
        } else {
            continue;
        }
        if (inet_ntop(node->ai_family, addr, out[n].address, sizeof(out[n].address))) {
            out[n].family = node->ai_family;
            out[n].ttl_s = node->ai_ttl > 0 ? (uint32_t)node->ai_ttl : 0;
            n++;
        }
    }
    return n;
}

/* More records than this per name are ignored: a resolver cache is not a zone transfer. */
#define MAX_ANSWERS 32

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *result)
{
    (void)timeouts;
    struct lookup *lookup = arg;
    struct sl__dns_answer answers[MAX_ANSWERS];
    size_t count = status == ARES_SUCCESS ? convert(result, answers, MAX_ANSWERS) : 0;
    int rc = map_status(status);
    if (rc == 0 && count == 0) {
        rc = SL_E_HOST_NOT_FOUND;
    }
    if (result) {
        ares_freeaddrinfo(result);
    }
    sl__dns_done_fn *done = lookup->done;
    void *user_data = lookup->user_data;
    sl_free(lookup);
    done(user_data, rc, answers, count);
}

void sl__dns_lookup(struct sl__dns *dns, const char *host, sl__dns_done_fn *done, void *user_data)
{
    struct lookup *lookup = sl_calloc(1, sizeof(*lookup));
    if (!lookup) {
        done(user_data, SL_E_NOMEM, NULL, 0);
        return;
    }
    lookup->done = done;
    lookup->user_data = user_data;
    /*
     * We order the addresses ourselves (failures, round robin), so skip RFC 6724 sorting.
     * ENVHOSTS: $CARES_HOSTS, when set, replaces /etc/hosts (tests use their own file).
     */
    struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC,
                                        .ai_flags = ARES_AI_NOSORT | ARES_AI_ENVHOSTS};
    ares_getaddrinfo(dns->channel, host, NULL, &hints, on_addrinfo, lookup);
    rearm_timer(dns);
}

/* Lifecycle ---------------------------------------------------------------------------------- */

static int init_channel(struct sl__dns *dns, const struct sl__dns_options *opts)
{
    struct ares_options options = {
        .sock_state_cb = on_sock_state,
        .sock_state_cb_data = dns,
        .timeout = opts->timeout_ms ? (int)opts->timeout_ms : 2000,
        .tries = opts->tries ? (int)opts->tries : 2,
        .lookups = (char *)(uintptr_t) "fb", /* /etc/hosts first, then DNS */
    };
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
    int status = ares_init_options(&dns->channel, &options, mask);
    if (status != ARES_SUCCESS) {
        SL_LOG_ERROR(SL_LS_DNS, "c-ares init failed: %s", ares_strerror(status));
        return status == ARES_ENOMEM ? SL_E_NOMEM : SL_E_DNS_TEMPORARY;
    }
    if (opts->name_servers && ares_set_servers_ports_csv(dns->channel, opts->name_servers)) {
        ares_destroy(dns->channel);
        return SL_E_INVALID_ADDRESS;
    }
    return 0;
}

int sl__dns_new(const struct sl__dns_options *opts, struct sl__dns **out)
{
    pthread_once(&s_library_once, init_library);
    SL_ENSURE(s_library_status == ARES_SUCCESS, SL_E_DNS_TEMPORARY);
    struct sl__dns *dns = sl_calloc(1, sizeof(*dns));
    SL_ENSURE(dns, SL_E_NOMEM);
    dns->loop = opts->loop;
    for (size_t i = 0; i < MAX_WATCHED; i++) {
        dns->watched[i] = (struct watched_fd){.dns = dns, .fd = ARES_SOCKET_BAD};
    }
    int rc = init_channel(dns, opts);
    if (rc < 0) {
        sl_free(dns);
        return rc;
    }
    *out = dns;
    return 0;
}

void sl__dns_destroy(struct sl__dns *dns)
{
    /* Runs every pending callback with ARES_EDESTRUCTION and closes the sockets. */
    ares_destroy(dns->channel);
    for (size_t i = 0; i < MAX_WATCHED; i++) {
        if (dns->watched[i].fd != ARES_SOCKET_BAD) {
            unwatch(dns, &dns->watched[i]);
        }
    }
    if (dns->timer_scheduled) {
        dns->timer_scheduled = false;
        sl_loop_cancel(dns->loop, &dns->timer);
    }
    sl_free(dns);
}
