/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_RELAY_INTERNAL_H
#define SLUICED_RELAY_INTERNAL_H

/*
 * The relay, shared by relay_table.c (ids), relay.c (a channel's life and the client's frames),
 * relay_open.c (Open and accepted connections) and relay_stats.c. Loop thread only.
 */

#include "policy.h"
#include "relay.h"

#include <sluice/channel.h>

#define MIN_WINDOW      ((uint32_t)1024)
#define MAX_ID          ((uint32_t)0x7fffffff)
#define FIRST_DAEMON_ID ((uint32_t)0x80000000) /* accepted channels: 2^31 and up */

enum relay_state {
    RELAY_OPENING, /* connecting; the client may Close it */
    RELAY_OPEN,
    RELAY_DONE, /* Close sent to the client (or the session gone): the id is free */
};

struct relay {
    struct sl_handler base;  /* the last handler of the network channel */
    struct session *session; /* NULL once the id is released: both Closes sent, or session gone */
    struct sl_channel *net;
    uint32_t id;
    uint32_t listener_id; /* an accepted channel's listener, else 0 */
    enum relay_state state;
    uint32_t client_window;   /* Open/Listen.window: the client's receive window, for the budget */
    uint32_t daemon_window;   /* Opened/Accepted.window */
    uint64_t client_may_send; /* what is left of the credit the daemon granted */
    uint64_t owed;            /* written to the network, not yet returned in a Window */
    uint64_t bytes_in;        /* payload network -> client */
    uint64_t bytes_out;       /* payload client -> network (written) */
    /*
     * UDP: datagrams cannot wait for credit (the kernel drops them anyway when nobody reads), so
     * the socket reads on, and a datagram over the client's credit or frame size is dropped.
     */
    bool datagram;
    uint64_t datagram_credit; /* what the client may still be sent */
    uint64_t datagrams_dropped;
    bool client_shut; /* Shutdown from the client */
    bool peer_shut;   /* end of stream from the network, Shutdown sent */
    bool end_written; /* the client's Shutdown reached the network */
    bool close_sent;  /* Close sent to the client: its frames are dropped until its own */
    bool net_gone;    /* no network channel (never made, or destroyed) */
    struct sl_tls_ctx *tls_ctx;
    char *alpn;
    /* While connecting: the configuration and grant the Open was judged by (address checks). */
    struct sluiced_config *cfg;
    struct grant grant;
};

/* relay_table.c */
struct relay *relay_table_find(const struct relay_table *t, uint32_t id);
int relay_table_add(struct relay_table *t, struct relay *r);
void relay_table_remove(struct relay_table *t, struct relay *r);

/* relay.c */
extern const struct sl_handler_vtable relay_vtable;
void relay_free(struct relay *r);
/* Frees the id: the relay no longer belongs to the session. */
void relay_detach(struct relay *r);
/* The network side is gone (or never came). */
void relay_net_let_go(struct relay *r);
void relay_close_to_client(struct relay *r, Sluice__V1__ErrorCode code, const char *message);
void relay_send_small(struct relay *r, Sluice__V1__Frame__BodyCase which, void *body);
/* The network channel finished shutting down with status. */
void relay_net_shut_down(struct relay *r, int status);
/* The relay of a network channel (its last handler), or NULL. */
struct relay *relay_of_channel(struct sl_channel *channel);

/* relay_open.c: "127.0.0.1:443", "[::1]:443" or a path; "" when unknown. */
void relay_remote_address(const struct relay *r, char *out, size_t len);

#endif
