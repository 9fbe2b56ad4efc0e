/* SPDX-License-Identifier: Apache-2.0 */
#include "socket_path.h"
#include "config.h"
#include "sluiced.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

/* Starting and stopping the daemon: loops, resolver, the listening socket, sessions. */

const struct sluiced_limits sluiced_default_limits = {
    .max_frame = 256 * 1024,
    .default_window = 256 * 1024,
    .max_channels = 1024,
    .max_listeners = 64,
    .session_budget = 64ull << 20,
    .max_window = 16u << 20,
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

/* The socket's mode and group from the config (chmod after bind: umask only narrows). */
static int set_socket_access(const struct sluiced_config *c, const char *path)
{
    if (path[0] == '@') {
        return 0; /* an abstract socket has no file: the policy alone decides */
    }
    if (chmod(path, c->socket_mode) != 0) {
        return -errno;
    }
    if (c->has_socket_group && chown(path, (uid_t)-1, c->socket_group) != 0) {
        return -errno;
    }
    return 0;
}

static int listen_on(struct sluiced *d, const char *path, int listen_fd)
{
    struct sl_listener_options o = {
        .socket_options = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_LOCAL},
        /* After an Error the socket lingers for the client to read it, but not for long. */
        .handler_options = {.flush_timeout_ms = 1000},
        .adopt_fd = listen_fd > 0 ? listen_fd : 0,
        .on_incoming = on_incoming,
        .on_destroy = on_listener_destroyed,
        .user_data = d,
    };
    if (listen_fd > 0) {
        d->socket_adopted = true; /* systemd owns the path: we neither make nor remove it */
        return sl_server_bootstrap_new_listener(d->server, &o, &d->listener);
    }
    snprintf(o.endpoint.address, sizeof(o.endpoint.address), "%s", path);
    int rc = sluiced_prepare_socket_path(path, strcmp(path, sluiced_default_socket()) == 0);
    if (rc < 0) {
        return rc;
    }
    /* Nobody else may connect before the mode and group are set. */
    mode_t old = umask(0177);
    rc = sl_server_bootstrap_new_listener(d->server, &o, &d->listener);
    umask(old);
    if (rc == 0) {
        rc = set_socket_access(d->config, path);
    }
    return rc;
}

static int start(struct sluiced *d, const char *path, int listen_fd, unsigned threads)
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
    return listen_on(d, path, listen_fd);
}

struct sluiced_config *sluiced_config_get(struct sluiced *d)
{
    pthread_mutex_lock(&d->lock);
    struct sluiced_config *c = d->config;
    config_acquire(c);
    pthread_mutex_unlock(&d->lock);
    return c;
}

void sluiced_config_set(struct sluiced *d, struct sluiced_config *config)
{
    config_acquire(config);
    pthread_mutex_lock(&d->lock);
    struct sluiced_config *old = d->config;
    d->config = config;
    pthread_mutex_unlock(&d->lock);
    config_release(old); /* sessions holding it keep it until their request ends */
}

int sluiced_start(struct sluiced **out, struct sluiced_config *config, const char *path,
                  int listen_fd, unsigned threads)
{
    struct sluiced *d = sl_calloc(1, sizeof(*d));
    if (!d) {
        if (listen_fd > 0) {
            close(listen_fd);
        }
        return SL_E_NOMEM;
    }
    config_acquire(config);
    d->config = config;
    d->limits = config->limits;
    d->started_ns = sl_clock_now_ns();
    snprintf(d->socket_path, sizeof(d->socket_path), "%s", path);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->sessions_changed, NULL);
    sl_list_init(&d->sessions);
    int rc = start(d, path, listen_fd, threads);
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
        if (d->socket_path[0] != '@' && !d->socket_adopted) {
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
    config_release(d->config);
    sl_free(d);
}
