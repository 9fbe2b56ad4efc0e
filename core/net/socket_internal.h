/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SOCKET_INTERNAL_H
#define SL_SOCKET_INTERNAL_H

/* Socket internals shared by socket.c, socket_io.c and socket_address.c (never installed). */

#include <sluice/socket.h>

#include "write_queue.h"

#include <sys/socket.h>

enum sl__socket_state {
    SL__SOCKET_INIT,
    SL__SOCKET_BOUND,
    SL__SOCKET_LISTENING,
    SL__SOCKET_CONNECTING,
    SL__SOCKET_CONNECTED,
    SL__SOCKET_FAILED, /* a connect failed; only close is left */
    SL__SOCKET_CLOSED,
};

struct sl_socket {
    struct sl_socket_options options;
    int fd;
    enum sl__socket_state state;
    struct sl_loop *loop;
    struct sl_io_subscription *sub;

    /* Write completions and the connect result are delivered from this one task. */
    struct sl__write_queue wq;
    struct sl_task deliver_task;
    bool deliver_scheduled;
    bool shutdown_write_requested;
    bool write_shut_down;

    sl_socket_connect_fn *on_connect;
    void *connect_user_data;
    int connect_status;
    bool connect_report_pending;
    bool timeout_scheduled;

    sl_socket_accept_fn *on_accept;
    void *accept_user_data;
    bool accepting;
    bool accept_task_scheduled;

    /* A connecting socket never accepts and a listener never connects: one task serves both. */
    union {
        struct sl_task timeout_task;
        struct sl_task accept_task;
    };

    sl_socket_readable_fn *on_readable;
    void *readable_user_data;
    bool readable_unclaimed;      /* readiness reported before anyone subscribed to it */
    bool readable_report_pending; /* ...to be told to the new subscriber, from the task */
    int fatal_error;              /* the first fatal send error; reads report it, not EOF */

    /*
     * Callbacks of ours on the stack. sl_socket_destroy called from inside one only closes and
     * marks the socket; the outermost callback site frees it on the way out.
     */
    int busy;
    bool destroy_requested;
};

/* socket.c */
void sl__socket_enter(struct sl_socket *socket);
/* Leaves a callback site; returns true if the socket was freed and must not be touched. */
bool sl__socket_leave(struct sl_socket *socket);
void sl__socket_schedule_delivery(struct sl_socket *socket);
int sl__socket_watch(struct sl_socket *socket, struct sl_loop *loop);
/* Called from the IO callback when a connecting socket turns writable or fails. */
void sl__socket_finish_connect(struct sl_socket *socket);
/* Comes back to accepting after delay_ns: 0 for "next tick" (fairness), more after EMFILE. */
void sl__socket_schedule_accept(struct sl_socket *socket, uint64_t delay_ns);
/* Wraps an accepted descriptor in a socket like the listener (closes fd on failure). */
int sl__socket_new_incoming(const struct sl_socket *listener, int fd, struct sl_socket **out);

/* socket_io.c */
void sl__socket_on_io(struct sl_loop *loop, struct sl_io_subscription *sub, int events,
                      void *user_data);
void sl__socket_flush_writes(struct sl_socket *socket);
void sl__socket_accept_batch(struct sl_socket *socket);

/* socket_address.c */
int sl__endpoint_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                               struct sl_socket_endpoint *out);
int sl__domain_family(enum sl_socket_domain domain);

#endif /* SL_SOCKET_INTERNAL_H */
