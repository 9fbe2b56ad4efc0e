/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BOOTSTRAP_H
#define SL_BOOTSTRAP_H

#include <sluice/channel.h>
#include <sluice/common.h>
#include <sluice/event_loop_group.h>
#include <sluice/host_resolver.h>
#include <sluice/socket.h>
#include <sluice/socket_handler.h>
#include <sluice/tls.h>

SL_BEGIN_DECLS

/*
 * Bootstraps turn "a channel to example.com:443" and "channels for everyone connecting to port
 * 8443" into one call each (the seed's Typical Client/Server API Usage Pattern).
 *
 * Every channel a bootstrap makes has the socket handler in slot 0 when it is handed over; the
 * application adds its own slots in the setup (client) or incoming (server) callback. The
 * bootstrap owns those channels: after the channel's shutdown callback returns it releases
 * them (acquire a reference to keep one longer). Setup and shutdown callbacks run on the
 * channel's loop; the shutdown callback runs exactly once for every channel that was set up,
 * and never for one whose setup failed.
 */

struct sl_client_bootstrap;
struct sl_server_bootstrap;
struct sl_listener;

/* Client ------------------------------------------------------------------------------------- */

struct sl_client_bootstrap_options {
    struct sl_loop_group *group;       /* required; the bootstrap holds a reference */
    struct sl_host_resolver *resolver; /* required for names; the bootstrap holds a reference */
};

struct sl_socket_channel_options {
    const char *host; /* a name, an IPv4/IPv6 literal, or for LOCAL sockets a path/"@name" */
    uint32_t port;
    /*
     * type and the keep-alive/no-delay settings apply; the domain is taken from each
     * resolved address (LOCAL and VSOCK are used as given). connect_timeout_ms bounds the
     * whole attempt: resolving and every address tried (0: 10 s).
     */
    struct sl_socket_options socket_options;
    struct sl_socket_handler_options handler_options;
    enum sl_host_family family;       /* which address families to try (default: both) */
    struct sl_loop *loop;             /* the channel's loop; NULL: the group picks one */
    uint32_t happy_eyeballs_delay_ms; /* head start of each attempt over the next; 0: 250 */
    /*
     * Optional TLS (copied). on_setup then runs after the handshake, with the TLS handler in
     * slot 1, or with the handshake's error (SL_E_TLS_*). server_name defaults to host;
     * session_key to "host:port"; allow_half_close to handler_options.allow_half_close.
     */
    const struct sl_tls_connection_options *tls_options;
    /*
     * Optional: asked on the channel's loop about each resolved address before it is tried
     * (the daemon's policy: a name must not lead somewhere its client may not go). Addresses
     * it refuses are skipped; when it refuses every one, setup fails with SL_E_ADDRESS_DENIED.
     */
    bool (*address_allowed)(const struct sl_host_address *address, uint32_t port, void *user_data);
    /* channel with the socket handler in slot 0, or NULL and an error: exactly once */
    sl_channel_setup_fn *on_setup;
    sl_channel_shutdown_fn *on_shutdown; /* may be NULL */
    void *user_data;
};

/*
 * Creates a client bootstrap. Thread: any. Ownership: returns owned (one reference).
 * Errors: SL_E_INVAL; SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_client_bootstrap_new(const struct sl_client_bootstrap_options *opts,
                                                 struct sl_client_bootstrap **out);
SL_API void sl_client_bootstrap_acquire(struct sl_client_bootstrap *bootstrap);
SL_API void sl_client_bootstrap_release(struct sl_client_bootstrap *bootstrap);

/*
 * Resolves, connects and builds a channel. With addresses of both families it races them the
 * Happy Eyeballs way (RFC 8305 in spirit): IPv6 first, the next address after
 * happy_eyeballs_delay_ms or as soon as an attempt fails, first success wins and the others
 * are closed; each failed address is reported to the resolver. Every failure reaches on_setup
 * with its own code: SL_E_HOST_NOT_FOUND, SL_E_DNS_TEMPORARY, -ECONNREFUSED (the last attempt's
 * error when all fail), -ETIMEDOUT (the overall timeout), SL_E_CANCELED (loop destroyed).
 * Thread: any. Ownership: copies opts and host.
 * Errors (returned, no callback): SL_E_INVAL; SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int
sl_client_bootstrap_new_socket_channel(struct sl_client_bootstrap *bootstrap,
                                       const struct sl_socket_channel_options *opts);

/* Server ------------------------------------------------------------------------------------- */

struct sl_server_bootstrap_options {
    struct sl_loop_group *group; /* required; the bootstrap holds a reference */
};

/* A new channel (socket handler in slot 0), or an accept/setup error with channel NULL. */
typedef void sl_listener_incoming_fn(struct sl_listener *listener, int status,
                                     struct sl_channel *channel, void *user_data);
/* The listener is gone and will call nothing more. */
typedef void sl_listener_destroy_fn(struct sl_listener *listener, void *user_data);

struct sl_listener_options {
    struct sl_socket_endpoint endpoint; /* port 0 picks one: see sl_listener_get_bound_address */
    struct sl_socket_options socket_options;
    struct sl_socket_handler_options handler_options;
    int backlog; /* 0: 1024 */
    /*
     * > 0: adopt this listening socket instead of binding endpoint (systemd socket activation;
     * fd 0 is stdin, never one). The listener owns it from then on, also when this call fails.
     */
    int adopt_fd;
    /*
     * NULL: accept on one loop of the group and spread channels with sl_loop_group_get_next.
     * Set (a loop of the bootstrap's group): accept there and give every channel to it, so a
     * listener and its channels share one thread with whoever made it (sluiced's sessions).
     */
    struct sl_loop *loop;
    /*
     * Optional TLS (copied; the context must be a server context). on_incoming then gets each
     * channel after its handshake, with the TLS handler in slot 1; a failed handshake is
     * reported with its error and channel NULL. allow_half_close follows handler_options.
     */
    const struct sl_tls_connection_options *tls_options;
    sl_listener_incoming_fn *on_incoming; /* required; on the new channel's loop */
    sl_channel_shutdown_fn *on_shutdown;  /* each incoming channel's shutdown; may be NULL */
    sl_listener_destroy_fn *on_destroy;   /* may be NULL */
    void *user_data;
};

SL_API SL_MUST_CHECK int sl_server_bootstrap_new(const struct sl_server_bootstrap_options *opts,
                                                 struct sl_server_bootstrap **out);
SL_API void sl_server_bootstrap_acquire(struct sl_server_bootstrap *bootstrap);
SL_API void sl_server_bootstrap_release(struct sl_server_bootstrap *bootstrap);

/*
 * Binds and listens at once (so a taken port is reported here), then accepts on one loop of
 * the group and gives each connection a channel on the loop sl_loop_group_get_next picks.
 * Thread: any. Ownership: returns the listener, owned until sl_listener_destroy.
 * Errors: SL_E_INVAL; SL_E_INVALID_ADDRESS; -EADDRINUSE; -EACCES; SL_E_NOMEM; ...
 */
SL_API SL_MUST_CHECK int sl_server_bootstrap_new_listener(struct sl_server_bootstrap *bootstrap,
                                                          const struct sl_listener_options *opts,
                                                          struct sl_listener **out);

/* The address the listener is bound to. Thread: any. Errors: -errno. */
SL_API SL_MUST_CHECK int sl_listener_get_bound_address(const struct sl_listener *listener,
                                                       struct sl_socket_endpoint *out);

/*
 * Pauses or resumes accepting (connections wait in the kernel's backlog meanwhile); a listener
 * paused before it started accepting starts paused. For a listener with opts.loop, so its owner
 * can stop taking connections it has no room for. Thread: the listener's loop (opts.loop).
 * Errors: SL_E_WRONG_THREAD; SL_E_INVAL (no opts.loop); -errno from subscribing again.
 */
SL_API SL_MUST_CHECK int sl_listener_set_paused(struct sl_listener *listener, bool paused);

/*
 * Stops accepting and closes the listening socket; channels already handed out live on.
 * on_destroy runs once connections still being set up have been handed out (or failed) and
 * nothing refers to the listener any more. Thread: any.
 */
SL_API void sl_listener_destroy(struct sl_listener *listener);

SL_END_DECLS

#endif /* SL_BOOTSTRAP_H */
