/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_bench.h"

#include <sluice/error.h>

#include <stdio.h>
#include <stdlib.h>

void tls_die(const char *what, int rc)
{
    fprintf(stderr, "bench_tls: %s: %s\n", what, sl_strerror(rc));
    exit(1);
}

static struct sl_loop_group *new_group(const char *name, const int *cpu)
{
    struct sl_loop_group_options opts = {
        .loop_count = 1, .name = name, .cpus = cpu, .cpu_count = 1};
    struct sl_loop_group *group;
    int rc = sl_loop_group_new(&opts, &group);
    if (rc) {
        tls_die("loop group", rc);
    }
    return group;
}

void tls_env_init(struct tls_env *env)
{
    char why[512];
    if (!tls_certs_make(&env->certs, why, sizeof(why))) {
        fprintf(stderr, "bench_tls: certificates: %s\n", why);
        exit(1);
    }
    bench_pick_cpus(&env->server_cpu, &env->client_cpu);
    env->server_group = new_group("bench-srv", &env->server_cpu);
    env->client_group = new_group("bench-cli", &env->client_cpu);
    struct sl_host_resolver_options ropts = {.loop = sl_loop_group_get_loop(env->client_group, 0)};
    struct sl_server_bootstrap_options sopts = {.group = env->server_group};
    struct sl_client_bootstrap_options copts = {.group = env->client_group};
    int rc = sl_host_resolver_new(&ropts, &env->resolver);
    copts.resolver = env->resolver;
    rc = rc ? rc : sl_server_bootstrap_new(&sopts, &env->server);
    rc = rc ? rc : sl_client_bootstrap_new(&copts, &env->client);
    if (rc) {
        tls_die("bootstrap", rc);
    }
}

void tls_env_clean_up(struct tls_env *env)
{
    sl_client_bootstrap_release(env->client);
    sl_server_bootstrap_release(env->server);
    sl_host_resolver_release(env->resolver);
    if (sl_loop_group_destroy(env->client_group) || sl_loop_group_destroy(env->server_group)) {
        tls_die("loop group destroy", SL_E_STATE);
    }
    tls_certs_remove(&env->certs);
}

/* Contexts ------------------------------------------------------------------------------------ */

struct sl_tls_ctx *tls_server_ctx(const struct tls_cert_pair *pair, const char *ciphersuites)
{
    struct sl_tls_ctx_options opts = {
        .cert_file = pair->cert, .key_file = pair->key, .ciphersuites = ciphersuites};
    if (ciphersuites) {
        opts.min_version = SL_TLS_VERSION_1_3;
    }
    struct sl_tls_ctx *ctx;
    int rc = sl_tls_ctx_new_server(&opts, &ctx);
    if (rc) {
        tls_die("server context", rc);
    }
    return ctx;
}

struct sl_tls_ctx *tls_client_ctx(const struct tls_env *env, bool resume, const char *ciphersuites)
{
    struct sl_tls_ctx_options opts = {.ca_file = env->certs.ca_cert,
                                      .ciphersuites = ciphersuites,
                                      .disable_session_resumption = !resume};
    if (ciphersuites) {
        opts.min_version = SL_TLS_VERSION_1_3;
    }
    struct sl_tls_ctx *ctx;
    int rc = sl_tls_ctx_new_client(&opts, &ctx);
    if (rc) {
        tls_die("client context", rc);
    }
    return ctx;
}

/* Countdown ----------------------------------------------------------------------------------- */

void tls_countdown_init(struct tls_countdown *c, size_t n)
{
    atomic_init(&c->left, n);
    bench_done_init(&c->done);
}

void tls_countdown_tick(struct tls_countdown *c)
{
    if (atomic_fetch_sub(&c->left, 1) == 1) {
        bench_done_signal(&c->done);
    }
}

void tls_countdown_wait(struct tls_countdown *c)
{
    bench_done_wait(&c->done);
    bench_done_clean_up(&c->done);
}

/* Listener ------------------------------------------------------------------------------------ */

static void on_listener_gone(struct sl_listener *listener, void *user_data)
{
    (void)listener;
    struct tls_listener *l = user_data;
    bench_done_signal(&l->gone);
}

void tls_listener_open(struct tls_env *env, struct tls_listener *l,
                       const struct sl_listener_options *opts)
{
    struct sl_listener_options o = *opts;
    o.endpoint = (struct sl_socket_endpoint){.address = "127.0.0.1", .port = 0};
    o.socket_options = (struct sl_socket_options){.type = SL_SOCKET_STREAM, .no_delay = true};
    o.on_destroy = on_listener_gone;
    o.user_data = l;
    bench_done_init(&l->gone);
    int rc = sl_server_bootstrap_new_listener(env->server, &o, &l->listener);
    rc = rc ? rc : sl_listener_get_bound_address(l->listener, &l->bound);
    if (rc) {
        tls_die("listener", rc);
    }
}

void tls_listener_close(struct tls_listener *l)
{
    sl_listener_destroy(l->listener);
    bench_done_wait(&l->gone);
    bench_done_clean_up(&l->gone);
}

void tls_connect_options(const struct tls_listener *l, const struct sl_tls_connection_options *tls,
                         struct sl_socket_channel_options *out)
{
    *out = (struct sl_socket_channel_options){
        .host = l->bound.address,
        .port = l->bound.port,
        .socket_options = {.type = SL_SOCKET_STREAM, .no_delay = true},
        .tls_options = tls,
    };
}

/* Channels and handlers ----------------------------------------------------------------------- */

const struct sl_tls_negotiation *tls_negotiation(struct sl_channel *channel)
{
    struct sl_handler *tls = sl_tls_channel_handler(channel);
    if (!tls) {
        tls_die("channel without a TLS handler", SL_E_STATE);
    }
    return sl_tls_handler_negotiation(tls);
}

void tls_add_handler(struct sl_channel *channel, struct sl_handler *handler)
{
    struct sl_slot *slot;
    int rc = sl_slot_new(channel, &slot);
    rc = rc ? rc : sl_slot_insert_end(channel, slot);
    rc = rc ? rc : sl_slot_set_handler(slot, handler);
    if (rc) {
        tls_die("application slot", rc);
    }
}

int tls_pass_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    return sl_slot_send(slot, msg, SL_DIR_WRITE);
}

int tls_ignore_window_update(struct sl_handler *handler, struct sl_slot *slot, size_t bytes)
{
    (void)handler;
    (void)slot;
    (void)bytes;
    return 0;
}

int tls_finish_shutdown(struct sl_handler *handler, struct sl_slot *slot, enum sl_direction dir,
                        int status, bool abort_immediately)
{
    (void)handler;
    sl_slot_on_shutdown_complete(slot, dir, status, abort_immediately);
    return 0;
}

size_t tls_no_overhead(struct sl_handler *handler)
{
    (void)handler;
    return 0;
}

bool tls_is_clean_close(int status)
{
    /* SL_E_CLOSED: the peer's close_notify without allow_half_close (tls.h). */
    return status == 0 || status == SL_E_CLOSED;
}
