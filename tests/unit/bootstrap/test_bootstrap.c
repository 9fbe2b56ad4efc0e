/* SPDX-License-Identifier: Apache-2.0 */
#include "dns_server.h"
#include "test_handler.h"
#include "test_harness.h"

#include <sluice/bootstrap.h>
#include <sluice/clock.h>
#include <sluice/error.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Client and server bootstraps end to end: names from a real DNS server, real listeners,
 * Happy Eyeballs against an IPv6 address that drops SYNs.
 */

static struct sl_loop_group *s_group;
static struct sl_test_latch s_group_gone;
static struct sl_host_resolver *s_resolver;
static struct sl_client_bootstrap *s_client;
static struct sl_server_bootstrap *s_server;
static struct test_dns_server s_dns;

static void group_gone(void *user_data)
{
    sl_test_latch_add(user_data, 1);
}

static void setup(void)
{
    test_dns_server_start(&s_dns, "host-record=svc.test,127.0.0.1,30\n"
                                  "host-record=he.test,127.0.0.1,::1,30\n"
                                  "host-record=v6only.test,::1,30\n");
    sl_test_latch_init(&s_group_gone);
    struct sl_loop_group_options gopts = {.loop_count = 3,
                                          .name = "boot",
                                          .on_shutdown_complete = group_gone,
                                          .user_data = &s_group_gone};
    ck_assert_int_eq(sl_loop_group_new(&gopts, &s_group), 0);
    struct sl_host_resolver_options ropts = {.loop = sl_loop_group_get_loop(s_group, 0),
                                             .name_servers = s_dns.process.servers};
    ck_assert_int_eq(sl_host_resolver_new(&ropts, &s_resolver), 0);
    struct sl_client_bootstrap_options copts = {.group = s_group, .resolver = s_resolver};
    ck_assert_int_eq(sl_client_bootstrap_new(&copts, &s_client), 0);
    struct sl_server_bootstrap_options sopts = {.group = s_group};
    ck_assert_int_eq(sl_server_bootstrap_new(&sopts, &s_server), 0);
}

static void teardown(void)
{
    sl_client_bootstrap_release(s_client);
    sl_server_bootstrap_release(s_server);
    sl_host_resolver_release(s_resolver);
    test_dns_server_stop(&s_dns);
    /*
     * Not sl_loop_group_destroy: a test that failed half-way leaves channels (and so group
     * references) behind, and without forking that would hang instead of failing.
     */
    sl_loop_group_release(s_group);
    ck_assert_msg(sl_test_latch_wait(&s_group_gone, 1, 20000), "loop group still referenced");
    sl_test_latch_clean_up(&s_group_gone);
}

/* The server side: every accepted channel gets an echoing test handler. -------------------- */

struct server {
    struct sl_listener *listener;
    struct sl_socket_endpoint address;
    struct test_record record; /* shared by all its channels */
    atomic_int incoming;
    atomic_int incoming_errors;
    atomic_int shutdowns;
    atomic_int per_loop[3];
    struct sl_test_latch events;
    struct sl_test_latch destroyed;
};

static void on_incoming(struct sl_listener *listener, int status, struct sl_channel *channel,
                        void *user_data)
{
    (void)listener;
    struct server *srv = user_data;
    if (status) {
        atomic_fetch_add(&srv->incoming_errors, 1);
        sl_test_latch_add(&srv->events, 1);
        return;
    }
    struct test_handler_options opts = {.name = "srv",
                                        .initial_window = SIZE_MAX,
                                        .auto_increment = true,
                                        .echo = true,
                                        .record = &srv->record};
    struct sl_slot *slot;
    struct sl_handler *app;
    ck_assert_int_eq(sl_slot_new(channel, &slot), 0);
    ck_assert_int_eq(sl_slot_insert_end(channel, slot), 0);
    ck_assert_int_eq(test_handler_new(&opts, &app), 0);
    ck_assert_int_eq(sl_slot_set_handler(slot, app), 0);
    for (int i = 0; i < 3; i++) {
        if (sl_channel_loop(channel) == sl_loop_group_get_loop(s_group, (size_t)i)) {
            atomic_fetch_add(&srv->per_loop[i], 1);
        }
    }
    atomic_fetch_add(&srv->incoming, 1);
    sl_test_latch_add(&srv->events, 1);
}

static void on_server_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    (void)status;
    struct server *srv = user_data;
    atomic_fetch_add(&srv->shutdowns, 1);
    sl_test_latch_add(&srv->events, 1);
}

static void on_listener_destroyed(struct sl_listener *listener, void *user_data)
{
    (void)listener;
    sl_test_latch_add(&((struct server *)user_data)->destroyed, 1);
}

static void server_start(struct server *srv, const char *address, uint32_t port,
                         enum sl_socket_domain domain)
{
    memset(srv, 0, sizeof(*srv));
    test_record_init(&srv->record);
    sl_test_latch_init(&srv->events);
    sl_test_latch_init(&srv->destroyed);
    struct sl_listener_options opts = {
        .socket_options = {.type = SL_SOCKET_STREAM, .domain = domain},
        .on_incoming = on_incoming,
        .on_shutdown = on_server_shutdown,
        .on_destroy = on_listener_destroyed,
        .user_data = srv};
    strcpy(opts.endpoint.address, address);
    opts.endpoint.port = port;
    ck_assert_int_eq(sl_server_bootstrap_new_listener(s_server, &opts, &srv->listener), 0);
    ck_assert_int_eq(sl_listener_get_bound_address(srv->listener, &srv->address), 0);
}

static void server_stop(struct server *srv)
{
    sl_listener_destroy(srv->listener);
    ck_assert(sl_test_latch_wait(&srv->destroyed, 1, 10000));
    /* Every channel handed out must be gone (its handler destroyed) before the record is. */
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&srv->record.lock);
        bool all_gone = srv->record.destroy_count == (uint32_t)atomic_load(&srv->incoming);
        pthread_mutex_unlock(&srv->record.lock);
        if (all_gone) {
            break;
        }
        sl_test_latch_wait(&srv->record.latch, sl_test_latch_get(&srv->record.latch) + 1, 10);
    }
    ck_assert_int_eq(atomic_load(&srv->shutdowns), atomic_load(&srv->incoming));
    test_record_clean_up(&srv->record);
    sl_test_latch_clean_up(&srv->events);
    sl_test_latch_clean_up(&srv->destroyed);
}

/* The client side --------------------------------------------------------------------------- */

struct client {
    struct sl_channel *channel;
    struct sl_handler *app;
    struct test_record record;
    int status;
    atomic_int setups;
    atomic_int shutdowns;
    int shutdown_status;
    uint64_t started_ns;
    uint64_t setup_ns;
    struct sl_socket_endpoint remote;
    struct sl_test_latch latch;
};

static void on_client_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct client *c = user_data;
    c->status = status;
    c->setup_ns = sl_clock_now_ns();
    if (status == 0) {
        c->channel = channel;
        struct sl_socket *socket =
            sl_socket_handler_socket(sl_slot_handler(sl_channel_first_slot(channel)));
        ck_assert_int_eq(sl_socket_get_remote_address(socket, &c->remote), 0);
        struct test_handler_options opts = {.name = "cli",
                                            .initial_window = SIZE_MAX,
                                            .auto_increment = true,
                                            .record = &c->record};
        struct sl_slot *slot;
        ck_assert_int_eq(sl_slot_new(channel, &slot), 0);
        ck_assert_int_eq(sl_slot_insert_end(channel, slot), 0);
        ck_assert_int_eq(test_handler_new(&opts, &c->app), 0);
        ck_assert_int_eq(sl_slot_set_handler(slot, c->app), 0);
    }
    atomic_fetch_add(&c->setups, 1);
    sl_test_latch_add(&c->latch, 1);
}

static void on_client_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    struct client *c = user_data;
    c->shutdown_status = status;
    atomic_fetch_add(&c->shutdowns, 1);
    sl_test_latch_add(&c->latch, 1);
}

static void client_init(struct client *c)
{
    memset(c, 0, sizeof(*c));
    test_record_init(&c->record);
    sl_test_latch_init(&c->latch);
}

static struct sl_socket_channel_options client_options(struct client *c, const char *host,
                                                       uint32_t port)
{
    return (struct sl_socket_channel_options){
        .host = host,
        .port = port,
        .socket_options = {.type = SL_SOCKET_STREAM, .connect_timeout_ms = 5000},
        .on_setup = on_client_setup,
        .on_shutdown = on_client_shutdown,
        .user_data = c};
}

/* Connects and waits for the setup callback; returns its status. */
static int client_connect(struct client *c, struct sl_socket_channel_options opts)
{
    c->started_ns = sl_clock_now_ns();
    ck_assert_int_eq(sl_client_bootstrap_new_socket_channel(s_client, &opts), 0);
    ck_assert(sl_test_latch_wait(&c->latch, 1, 20000));
    ck_assert_int_eq(atomic_load(&c->setups), 1);
    return c->status;
}

struct write_call {
    struct client *c;
    const char *text;
};

static void write_on_loop(void *arg)
{
    struct write_call *w = arg;
    ck_assert_int_eq(test_handler_write(w->c->app, w->text, strlen(w->text), NULL, NULL), 0);
}

/* Writes text and waits for the server's echo of it. */
static void client_echo(struct client *c, const char *text)
{
    size_t before = test_record_read_len(&c->record);
    struct write_call w = {.c = c, .text = text};
    sl_test_run_on_loop(sl_channel_loop(c->channel), write_on_loop, &w);
    for (int i = 0; i < 1000 && test_record_read_len(&c->record) < before + strlen(text); i++) {
        sl_test_latch_wait(&c->record.latch, sl_test_latch_get(&c->record.latch) + 1, 10);
    }
    ck_assert_uint_eq(test_record_read_len(&c->record), before + strlen(text));
    ck_assert_int_eq(memcmp(c->record.read_data + before, text, strlen(text)), 0);
}

/* Closes a connected client and waits until its channel is gone. */
static void client_close(struct client *c)
{
    if (c->status == 0) {
        sl_channel_shutdown(c->channel, 0, false);
        ck_assert(sl_test_latch_wait(&c->latch, 2, 10000));
        bool destroyed = false;
        for (int i = 0; i < 1000 && !destroyed; i++) {
            pthread_mutex_lock(&c->record.lock);
            destroyed = c->record.destroyed;
            pthread_mutex_unlock(&c->record.lock);
            if (!destroyed) {
                sl_test_latch_wait(&c->record.latch, sl_test_latch_get(&c->record.latch) + 1, 10);
            }
        }
        ck_assert(destroyed);
        ck_assert_int_eq(atomic_load(&c->shutdowns), 1);
    }
    ck_assert_int_eq(atomic_load(&c->setups), 1);
    test_record_clean_up(&c->record);
    sl_test_latch_clean_up(&c->latch);
}

/* A port with a listener whose accept queue is full: SYNs to it go unanswered. */
struct black_hole {
    int listener;
    int filler;
    uint32_t port;
};

static void black_hole_open(struct black_hole *bh, int family, uint32_t port)
{
    bh->listener = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_loopback;
        sin6->sin6_port = htons((uint16_t)port);
        len = sizeof(*sin6);
        int one = 1;
        setsockopt(bh->listener, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin->sin_port = htons((uint16_t)port);
        len = sizeof(*sin);
    }
    ck_assert_int_eq(bind(bh->listener, (struct sockaddr *)&ss, len), 0);
    ck_assert_int_eq(listen(bh->listener, 0), 0);
    ck_assert_int_eq(getsockname(bh->listener, (struct sockaddr *)&ss, &len), 0);
    bh->port = family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    bh->filler = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(bh->filler, (struct sockaddr *)&ss, len), 0); /* the queue's one */
}

static void black_hole_close(struct black_hole *bh)
{
    close(bh->filler);
    close(bh->listener);
}

/* Tests ---------------------------------------------------------------------------------------- */

START_TEST(a_client_reaches_a_listener_by_name)
{
    struct server srv;
    server_start(&srv, "127.0.0.1", 0, SL_SOCKET_IPV4);
    struct client c;
    client_init(&c);
    ck_assert_int_eq(client_connect(&c, client_options(&c, "svc.test", srv.address.port)), 0);
    ck_assert_str_eq(c.remote.address, "127.0.0.1");
    client_echo(&c, "hello through the bootstraps");
    client_close(&c);
    ck_assert_int_eq(c.shutdown_status, 0);
    server_stop(&srv);
    ck_assert_int_eq(atomic_load(&srv.incoming), 1);
}
END_TEST

START_TEST(every_connect_failure_reaches_setup_exactly_once)
{
    struct server srv;
    server_start(&srv, "127.0.0.1", 0, SL_SOCKET_IPV4);
    uint32_t port = srv.address.port;
    server_stop(&srv); /* now nothing listens there: connections are refused */

    struct client c;
    client_init(&c);
    ck_assert_int_eq(client_connect(&c, client_options(&c, "127.0.0.1", port)), -ECONNREFUSED);
    client_close(&c);
    client_init(&c);
    ck_assert_int_eq(client_connect(&c, client_options(&c, "missing.test", port)),
                     SL_E_HOST_NOT_FOUND);
    client_close(&c);
    client_init(&c);
    ck_assert_int_eq(client_connect(&c, client_options(&c, "no..such", port)),
                     SL_E_INVALID_HOSTNAME);
    client_close(&c);
    struct sl_socket_channel_options bad = client_options(&c, "svc.test", 70000);
    ck_assert_int_eq(sl_client_bootstrap_new_socket_channel(s_client, &bad), SL_E_INVAL);
}
END_TEST

START_TEST(the_connect_timeout_covers_the_whole_attempt)
{
    struct black_hole bh;
    black_hole_open(&bh, AF_INET, 0);
    struct client c;
    client_init(&c);
    struct sl_socket_channel_options opts = client_options(&c, "127.0.0.1", bh.port);
    opts.socket_options.connect_timeout_ms = 300;
    ck_assert_int_eq(client_connect(&c, opts), -ETIMEDOUT);
    uint64_t took = c.setup_ns - c.started_ns;
    ck_assert_uint_ge(took, 290 * SL_NS_PER_MS);
    ck_assert_uint_lt(took, 3000 * SL_NS_PER_MS);
    client_close(&c);
    black_hole_close(&bh);
}
END_TEST

START_TEST(happy_eyeballs_falls_back_to_ipv4_when_ipv6_never_answers)
{
    struct black_hole bh;
    black_hole_open(&bh, AF_INET6, 0); /* [::1]:P drops SYNs... */
    struct server srv;
    server_start(&srv, "127.0.0.1", bh.port, SL_SOCKET_IPV4); /* ...127.0.0.1:P answers */
    struct client c;
    client_init(&c);
    ck_assert_int_eq(client_connect(&c, client_options(&c, "he.test", bh.port)), 0);
    ck_assert_str_eq(c.remote.address, "127.0.0.1");
    uint64_t took = c.setup_ns - c.started_ns;
    ck_assert_uint_ge(took, 240 * SL_NS_PER_MS); /* IPv6 had its 250 ms head start */
    ck_assert_uint_lt(took, 3000 * SL_NS_PER_MS);
    client_echo(&c, "over IPv4");
    client_close(&c);
    server_stop(&srv);
    black_hole_close(&bh);
}
END_TEST

struct lookup_result {
    size_t count;
    struct sl_host_address addresses[8];
    struct sl_test_latch done;
};

static void on_lookup(struct sl_host_resolver *resolver, int status,
                      const struct sl_host_address *addresses, size_t count, void *user_data)
{
    (void)resolver;
    (void)status;
    struct lookup_result *r = user_data;
    r->count = count < 8 ? count : 8;
    memcpy(r->addresses, addresses, r->count * sizeof(*addresses));
    sl_test_latch_add(&r->done, 1);
}

START_TEST(a_refused_ipv6_address_falls_back_at_once_and_is_recorded)
{
    struct server srv;
    server_start(&srv, "127.0.0.1", 0, SL_SOCKET_IPV4); /* nothing on [::1]:P: refused */
    struct client c;
    client_init(&c);
    ck_assert_int_eq(client_connect(&c, client_options(&c, "he.test", srv.address.port)), 0);
    ck_assert_str_eq(c.remote.address, "127.0.0.1");
    ck_assert_uint_lt(c.setup_ns - c.started_ns, 200 * SL_NS_PER_MS); /* no 250 ms wait */
    client_close(&c);
    server_stop(&srv);

    struct lookup_result r = {0};
    sl_test_latch_init(&r.done);
    ck_assert_int_eq(
        sl_host_resolver_resolve(s_resolver, "he.test", SL_HOST_IPV6, NULL, on_lookup, &r), 0);
    ck_assert(sl_test_latch_wait(&r.done, 1, 10000));
    ck_assert_uint_eq(r.count, 1);
    ck_assert(r.addresses[0].recently_failed); /* the bootstrap told the resolver */
    sl_test_latch_clean_up(&r.done);
}
END_TEST

START_TEST(five_hundred_clients_spread_over_the_loops)
{
    enum { N = 500 };
    struct server srv;
    server_start(&srv, "127.0.0.1", 0, SL_SOCKET_IPV4);
    struct client *clients = calloc(N, sizeof(*clients));
    for (int i = 0; i < N; i++) {
        client_init(&clients[i]);
        struct sl_socket_channel_options opts =
            client_options(&clients[i], "127.0.0.1", srv.address.port);
        ck_assert_int_eq(sl_client_bootstrap_new_socket_channel(s_client, &opts), 0);
    }
    for (int i = 0; i < N; i++) {
        ck_assert(sl_test_latch_wait(&clients[i].latch, 1, 30000));
        ck_assert_int_eq(clients[i].status, 0);
    }
    while (atomic_load(&srv.incoming) < N) {
        ck_assert(sl_test_latch_wait(&srv.events, sl_test_latch_get(&srv.events) + 1, 10000));
    }
    /*
     * Client and server channels share the group's loops, so it is their sum per loop that the
     * two-choice pick keeps even (each loop's load is its sockets).
     */
    int per_loop[3];
    for (int i = 0; i < 3; i++) {
        per_loop[i] = atomic_load(&srv.per_loop[i]);
    }
    for (int k = 0; k < N; k++) {
        for (int i = 0; i < 3; i++) {
            per_loop[i] +=
                sl_channel_loop(clients[k].channel) == sl_loop_group_get_loop(s_group, (size_t)i);
        }
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(per_loop[i] > 2 * N / 3 - N / 5 && per_loop[i] < 2 * N / 3 + N / 5,
                      "loops hold %d %d %d channels (server %d %d %d)", per_loop[0], per_loop[1],
                      per_loop[2], atomic_load(&srv.per_loop[0]), atomic_load(&srv.per_loop[1]),
                      atomic_load(&srv.per_loop[2]));
    }
    client_echo(&clients[N - 1], "last one in");
    for (int i = 0; i < N; i++) {
        client_close(&clients[i]);
    }
    free(clients);
    server_stop(&srv);
    ck_assert_int_eq(atomic_load(&srv.incoming_errors), 0);
}
END_TEST

START_TEST(destroying_a_listener_keeps_its_open_channels)
{
    struct server srv;
    server_start(&srv, "127.0.0.1", 0, SL_SOCKET_IPV4);
    struct client c[3];
    for (int i = 0; i < 3; i++) {
        client_init(&c[i]);
        ck_assert_int_eq(
            client_connect(&c[i], client_options(&c[i], "127.0.0.1", srv.address.port)), 0);
    }
    while (atomic_load(&srv.incoming) < 3) {
        ck_assert(sl_test_latch_wait(&srv.events, sl_test_latch_get(&srv.events) + 1, 10000));
    }
    sl_listener_destroy(srv.listener);
    ck_assert(sl_test_latch_wait(&srv.destroyed, 1, 10000));
    for (int i = 0; i < 3; i++) {
        client_echo(&c[i], "still here"); /* the channels outlive their listener */
    }
    struct client late;
    client_init(&late);
    ck_assert_int_eq(client_connect(&late, client_options(&late, "127.0.0.1", srv.address.port)),
                     -ECONNREFUSED);
    client_close(&late);
    for (int i = 0; i < 3; i++) {
        client_close(&c[i]);
    }
    while (atomic_load(&srv.shutdowns) < 3) {
        ck_assert(sl_test_latch_wait(&srv.events, sl_test_latch_get(&srv.events) + 1, 10000));
    }
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&srv.record.lock);
        uint32_t gone = srv.record.destroy_count;
        pthread_mutex_unlock(&srv.record.lock);
        if (gone == 3) {
            break;
        }
        sl_test_latch_wait(&srv.record.latch, sl_test_latch_get(&srv.record.latch) + 1, 10);
    }
    test_record_clean_up(&srv.record);
    sl_test_latch_clean_up(&srv.events);
    sl_test_latch_clean_up(&srv.destroyed);
}
END_TEST

struct pause_call {
    struct sl_listener *listener;
    bool paused;
    int rc;
};

static void pause_on_loop(void *arg)
{
    struct pause_call *p = arg;
    p->rc = sl_listener_set_paused(p->listener, p->paused);
}

static void wait_incoming(struct server *srv, int count)
{
    while (atomic_load(&srv->incoming) < count) {
        ck_assert(sl_test_latch_wait(&srv->events, sl_test_latch_get(&srv->events) + 1, 10000));
    }
}

/* opts.loop: accepting and every channel on that loop; pausing leaves connections waiting. */
START_TEST(a_listener_on_one_loop_can_pause)
{
    struct server srv;
    memset(&srv, 0, sizeof(srv));
    test_record_init(&srv.record);
    sl_test_latch_init(&srv.events);
    sl_test_latch_init(&srv.destroyed);
    struct sl_loop *loop = sl_loop_group_get_loop(s_group, 2);
    struct sl_listener_options opts = {
        .socket_options = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4},
        .loop = loop,
        .on_incoming = on_incoming,
        .on_shutdown = on_server_shutdown,
        .on_destroy = on_listener_destroyed,
        .user_data = &srv};
    strcpy(opts.endpoint.address, "127.0.0.1");
    ck_assert_int_eq(sl_server_bootstrap_new_listener(s_server, &opts, &srv.listener), 0);
    ck_assert_int_eq(sl_listener_get_bound_address(srv.listener, &srv.address), 0);
    ck_assert_int_eq(sl_listener_set_paused(srv.listener, true), SL_E_WRONG_THREAD);

    struct client c[4];
    for (int i = 0; i < 2; i++) {
        client_init(&c[i]);
        ck_assert_int_eq(
            client_connect(&c[i], client_options(&c[i], "127.0.0.1", srv.address.port)), 0);
    }
    wait_incoming(&srv, 2);
    ck_assert_int_eq(atomic_load(&srv.per_loop[2]), 2);

    struct pause_call p = {.listener = srv.listener, .paused = true};
    sl_test_run_on_loop(loop, pause_on_loop, &p);
    ck_assert_int_eq(p.rc, 0);
    for (int i = 2; i < 4; i++) { /* the kernel completes them; nobody accepts */
        client_init(&c[i]);
        ck_assert_int_eq(
            client_connect(&c[i], client_options(&c[i], "127.0.0.1", srv.address.port)), 0);
    }
    sl_test_latch_wait(&srv.events, sl_test_latch_get(&srv.events) + 1, 200);
    ck_assert_int_eq(atomic_load(&srv.incoming), 2);
    p.paused = false;
    sl_test_run_on_loop(loop, pause_on_loop, &p);
    ck_assert_int_eq(p.rc, 0);
    wait_incoming(&srv, 4); /* the backlog is picked up as soon as accepting resumes */
    ck_assert_int_eq(atomic_load(&srv.per_loop[2]), 4);
    for (int i = 0; i < 4; i++) {
        client_echo(&c[i], "on loop 2");
        client_close(&c[i]);
    }
    server_stop(&srv);
}
END_TEST

START_TEST(pausing_needs_a_listener_with_its_own_loop)
{
    struct server srv;
    server_start(&srv, "127.0.0.1", 0, SL_SOCKET_IPV4);
    ck_assert_int_eq(sl_listener_set_paused(srv.listener, true), SL_E_INVAL);
    server_stop(&srv);
}
END_TEST

START_TEST(a_taken_port_is_reported_by_new_listener)
{
    struct server srv;
    server_start(&srv, "127.0.0.1", 0, SL_SOCKET_IPV4);
    struct sl_listener_options opts = {
        .socket_options = {.type = SL_SOCKET_STREAM, .domain = SL_SOCKET_IPV4},
        .on_incoming = on_incoming,
        .user_data = &srv};
    opts.endpoint = srv.address;
    struct sl_listener *second = NULL;
    ck_assert_int_eq(sl_server_bootstrap_new_listener(s_server, &opts, &second), -EADDRINUSE);
    ck_assert_ptr_null(second);
    server_stop(&srv);
}
END_TEST

START_TEST(unix_socket_channels_need_no_resolver)
{
    struct server srv;
    char path[64];
    snprintf(path, sizeof(path), "@sluice-boot-%d", (int)getpid());
    server_start(&srv, path, 0, SL_SOCKET_LOCAL);
    struct client c;
    client_init(&c);
    struct sl_socket_channel_options opts = client_options(&c, path, 0);
    opts.socket_options.domain = SL_SOCKET_LOCAL;
    ck_assert_int_eq(client_connect(&c, opts), 0);
    client_echo(&c, "local");
    client_close(&c);
    server_stop(&srv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bootstrap");
    TCase *tc = sl_test_tcase("bootstrap", 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_client_reaches_a_listener_by_name);
    tcase_add_test(tc, every_connect_failure_reaches_setup_exactly_once);
    tcase_add_test(tc, the_connect_timeout_covers_the_whole_attempt);
    tcase_add_test(tc, happy_eyeballs_falls_back_to_ipv4_when_ipv6_never_answers);
    tcase_add_test(tc, a_refused_ipv6_address_falls_back_at_once_and_is_recorded);
    tcase_add_test(tc, five_hundred_clients_spread_over_the_loops);
    tcase_add_test(tc, destroying_a_listener_keeps_its_open_channels);
    tcase_add_test(tc, a_taken_port_is_reported_by_new_listener);
    tcase_add_test(tc, a_listener_on_one_loop_can_pause);
    tcase_add_test(tc, pausing_needs_a_listener_with_its_own_loop);
    tcase_add_test(tc, unix_socket_channels_need_no_resolver);
    suite_add_tcase(s, tc);
    return sl_test_run(s);
}
