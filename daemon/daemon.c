/* SPDX-License-Identifier: Apache-2.0 */
#include "socket_path.h"
#include "sluiced.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Starting and stopping the daemon: loops, resolver, the listening socket, sessions. */

const struct sluiced_limits sluiced_default_limits = {
    .max_frame = 256 * 1024,
    .default_window = 256 * 1024,
    .max_channels = 1024,
    .max_listeners = 64,
    .session_budget = 64ull << 20,
    .handshake_timeout_ms = 10000,
    .ping_rate = 100,
    .ping_burst = 1000,
    .empty_rate = 100,
    .empty_burst = 1000,
    .churn_rate = 1000,
    .churn_burst = 10000,
};

static void on_incoming(struct sl_listener *listener, int status, struct sl_channel *channel,
                        void *user_data)
{
    (void)listener;
    struct sluiced *d = user_data;
    if (status < 0) {
        SL_LOG_WARN(SL_LS_DAEMON, "accepting a client failed: %s", sl_strerror(status));
        return;
    }
    int rc = sluiced_session_start(d, channel);
    if (rc < 0) {
        SL_LOG_ERROR(SL_LS_DAEMON, "cannot start a session: %s", sl_strerror(rc));
        sl_channel_shutdown(channel, rc, true);
    }
}

static void on_listener_destroyed(struct sl_listener *listener, void *user_data)
{
    (void)listener;
    struct sluiced *d = user_data;
    pthread_mutex_lock(&d->lock);
    d->listener_gone = true;
    pthread_cond_broadcast(&d->sessions_changed);
    pthread_mutex_unlock(&d->lock);
}

static int listen_on(struct sluiced *d, const char *path)
{
    struct sl_listener_options o = {
        .socket_options = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_LOCAL},
        /* After an Error the socket lingers for the client to read it, but not for long. */
        .handler_options = {.flush_timeout_ms = 1000},
        .on_incoming = on_incoming,
        .on_destroy = on_listener_destroyed,
        .user_data = d,
    };
    snprintf(o.endpoint.address, sizeof(o.endpoint.address), "%s", path);
    int rc = sluiced_prepare_socket_path(path, strcmp(path, sluiced_default_socket()) == 0);
    if (rc < 0) {
        return rc;
    }
    /* Only the daemon's own user may connect until policy exists (the operations issue). */
    mode_t old = umask(0177);
    rc = sl_server_bootstrap_new_listener(d->server, &o, &d->listener);
    umask(old);
    return rc;
}

static int start(struct sluiced *d, const char *path, unsigned threads)
{
    struct sl_loop_group_options gopts = {.loop_count = threads, .name = "sluiced"};
    int rc = sl_loop_group_new(&gopts, &d->group);
    if (rc < 0) {
        return rc;
    }
    struct sl_host_resolver_options ropts = {.loop = sl_loop_group_get_loop(d->group, 0)};
    rc = sl_host_resolver_new(&ropts, &d->resolver);
    if (rc < 0) {
        return rc;
    }
    struct sl_server_bootstrap_options sopts = {.group = d->group};
    rc = sl_server_bootstrap_new(&sopts, &d->server);
    if (rc < 0) {
        return rc;
    }
    struct sl_client_bootstrap_options copts = {.group = d->group, .resolver = d->resolver};
    rc = sl_client_bootstrap_new(&copts, &d->client);
    if (rc < 0) {
        return rc;
    }
    return listen_on(d, path);
}

int sluiced_start(struct sluiced **out, const char *path, unsigned threads)
{
    struct sluiced *d = sl_calloc(1, sizeof(*d));
    if (!d) {
        return SL_E_NOMEM;
    }
    d->limits = sluiced_default_limits;
    d->started_ns = sl_clock_now_ns();
    snprintf(d->socket_path, sizeof(d->socket_path), "%s", path);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->sessions_changed, NULL);
    sl_list_init(&d->sessions);
    int rc = start(d, path, threads);
    if (rc < 0) {
        sluiced_stop(d, 0);
        return rc;
    }
    *out = d;
    return 0;
}

static void wait_listener_gone(struct sluiced *d)
{
    pthread_mutex_lock(&d->lock);
    while (!d->listener_gone) {
        pthread_cond_wait(&d->sessions_changed, &d->lock);
    }
    pthread_mutex_unlock(&d->lock);
}

void sluiced_stop(struct sluiced *d, uint32_t drain_ms)
{
    if (d->listener) {
        sl_listener_destroy(d->listener);
        wait_listener_gone(d);
        if (d->socket_path[0] != '@') {
            unlink(d->socket_path);
        }
    }
    if (d->group) {
        sluiced_go_away(d, drain_ms);
        /* The drain deadline, plus time for the last Errors to be written. */
        uint64_t deadline = sl_clock_now_ns() + ((uint64_t)drain_ms + 2000) * SL_NS_PER_MS;
        if (!sluiced_wait_sessions_closed(d, deadline)) {
            SL_LOG_WARN(SL_LS_DAEMON, "%zu sessions still open at exit", sluiced_session_count(d));
        }
    }
    if (d->server) {
        sl_server_bootstrap_release(d->server);
    }
    if (d->client) {
        sl_client_bootstrap_release(d->client);
    }
    if (d->resolver) {
        sl_host_resolver_release(d->resolver);
    }
    if (d->group) {
        int rc = sl_loop_group_destroy(d->group);
        if (rc < 0) {
            SL_LOG_ERROR(SL_LS_DAEMON, "stopping the loops: %s", sl_strerror(rc));
        }
    }
    pthread_cond_destroy(&d->sessions_changed);
    pthread_mutex_destroy(&d->lock);
    sl_free(d);
}
