/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BOOTSTRAP_INTERNAL_H
#define SL_BOOTSTRAP_INTERNAL_H

/*
 * What client and server bootstraps share (internal): turning a connected socket into a
 * channel with the socket handler in slot 0, and owning that channel until its shutdown.
 */

#include <sluice/bootstrap.h>

struct sl__channel_binding;

/* Setup finished: channel (status 0) or NULL and the error. Runs on the channel's loop. */
typedef void sl__binding_ready_fn(struct sl__channel_binding *binding, struct sl_channel *channel,
                                  int status);

/*
 * A request's or listener's own copy of the caller's TLS connection options (strings too), with
 * the bootstrap's defaults filled in.
 */
struct sl__tls_copy {
    struct sl_tls_connection_options opts;
    char *server_name;
    char *alpn_list;
    char *session_key;
};

/*
 * Copies src (NULL: no TLS, *out NULL). default_name and session_key fill in what the caller
 * left NULL (clients); allow_half_close comes from the socket handler options.
 * Errors: SL_E_INVAL (a context of the wrong role); SL_E_NOMEM.
 */
int sl__tls_copy_new(const struct sl_tls_connection_options *src, bool server,
                     const char *default_name, const char *session_key, bool allow_half_close,
                     struct sl__tls_copy **out);
void sl__tls_copy_free(struct sl__tls_copy *copy);

/* Lives from channel creation until the channel's shutdown (or failed setup). */
struct sl__channel_binding {
    struct sl_socket *socket; /* until the socket handler takes it */
    struct sl_socket_handler_options handler_options;
    /* TLS to add after the socket handler; borrowed from the request or listener, which
     * outlive the setup (they wait for on_ready). NULL: plain. */
    const struct sl_tls_connection_options *tls;
    sl__binding_ready_fn *on_ready;
    void *ready_context; /* the request or connection that is waiting for setup */
    sl_channel_shutdown_fn *on_shutdown;
    void *user_data;
    void (*release_owner)(void *owner); /* drops the bootstrap reference the channel holds */
    void *owner;
    bool ready_reported; /* on_ready has run */
    bool setup_failed;
};

/*
 * Makes a channel on loop for binding->socket (already attached to loop). Takes the binding:
 * it is freed after the channel shuts down or its setup fails. Loop thread.
 */
void sl__bootstrap_start_channel(struct sl_loop *loop, struct sl__channel_binding *binding);

#endif /* SL_BOOTSTRAP_INTERNAL_H */
