/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_H
#define SLUICED_H

/*
 * sluiced: the daemon (ARCHITECTURE.md "The daemon", docs/protocol.md). One process owns the
 * event loops, the resolver and the listening Unix socket; each client connection is a session
 * channel ([socket handler][session]) on one loop.
 */

#include <sluice/bootstrap.h>
#include <sluice/event_loop_group.h>
#include <sluice/host_resolver.h>
#include <sluice/list.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SLUICED_VERSION "0.1.0"

/* Limits a session is told in Welcome (defaults; the operations issue makes them settable). */
struct sluiced_limits {
    uint32_t max_frame;
    uint32_t default_window;
    uint32_t max_channels;
    uint32_t max_listeners;
    uint64_t session_budget;
    uint32_t max_window; /* the largest Open/Listen.window a client may ask for */
    uint32_t handshake_timeout_ms;
    /* Flood limits: a token bucket each (rate per second, burst). */
    uint32_t ping_rate, ping_burst;
    uint32_t empty_rate, empty_burst;
    uint32_t churn_rate, churn_burst;
};

/* The limits without a config file (daemon.c). */
extern const struct sluiced_limits sluiced_default_limits;

struct sluiced_config;

struct sluiced {
    struct sluiced_limits limits; /* at start; sessions take the current config's */
    struct sl_loop_group *group;
    struct sl_host_resolver *resolver;
    struct sl_server_bootstrap *server;
    struct sl_client_bootstrap *client; /* for the channels sessions open */
    struct sl_listener *listener;
    uint64_t started_ns;
    atomic_uint_fast64_t next_session_id;
    atomic_uint_fast64_t sessions_total;
    atomic_uint_fast64_t bytes_in;
    atomic_uint_fast64_t bytes_out;
    atomic_uint_fast64_t channels;
    atomic_uint_fast64_t listeners;
    /* Open sessions, for GoAway and shutdown. Sessions add and remove themselves. */
    pthread_mutex_t lock;
    struct sluiced_config *config; /* the current one (under lock); SIGHUP swaps it */
    pthread_cond_t sessions_changed;
    struct sl_list sessions;
    size_t session_count;
    bool going_away;
    uint32_t go_away_deadline_ms;
    bool listener_gone;
    bool socket_adopted; /* from systemd: not ours to remove */
    char socket_path[108];
};

/* daemon.c: the daemon's life. */

/*
 * Starts the loops, the resolver and the listener on path (or on listen_fd, a listening socket
 * systemd passed, when it is >= 0), with config (a reference is taken).
 * Errors: -errno, SL_E_*.
 */
int sluiced_start(struct sluiced **out, struct sluiced_config *config, const char *path,
                  int listen_fd, unsigned threads);

/* The current configuration, acquired (config_release it). Thread: any. */
struct sluiced_config *sluiced_config_get(struct sluiced *d);
/* Makes config (a reference is taken) the one new sessions and requests see. Thread: any. */
void sluiced_config_set(struct sluiced *d, struct sluiced_config *config);

/*
 * Stops accepting, removes the socket, sends GoAway, waits up to drain_ms for sessions to end
 * (closing the rest), stops the loops and frees d. Thread: not a loop's.
 */
void sluiced_stop(struct sluiced *d, uint32_t drain_ms);

/* The session handler (session.c). ---------------------------------------------------------- */

struct session;

/* Makes the session handler for a new client channel and starts the handshake. Loop thread. */
int sluiced_session_start(struct sluiced *d, struct sl_channel *channel);

/*
 * Tells every session the daemon is stopping: GoAway now (or right after its handshake), then
 * Error ERROR_SHUTTING_DOWN and close after deadline_ms. Sessions arriving later are told too.
 * Thread: any.
 */
void sluiced_go_away(struct sluiced *d, uint32_t deadline_ms);

/* Waits until every session has closed or the clock (sl_clock_now_ns) passes deadline_ns;
 * true if all closed. Thread: any but a loop's. */
bool sluiced_wait_sessions_closed(struct sluiced *d, uint64_t deadline_ns);

/* Sessions still open. Thread: any. */
size_t sluiced_session_count(struct sluiced *d);

#endif
