/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon_harness.h"
#include "peer_server.h"
#include "test_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * Listeners, UDP channels and per-channel Stats through the real sluiced, spoken in raw frames
 * (docs/protocol.md §4, §7, §8): real TCP and Unix connections from this process, a real UDP
 * echo on a thread.
 */

#define FIRST_DAEMON_ID 0x80000000u

static struct daemon_proc s_daemon;

static void setup(void)
{
    daemon_start(&s_daemon, NULL, NULL);
}

static void teardown(void)
{
    peer_server_stop_all();
    bool running = s_daemon.pid > 0;
    int status = daemon_stop(&s_daemon, 10000);
    if (running) {
        ck_assert_msg(status == 0, "sluiced exited with %d", status);
    }
}

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Frames ----------------------------------------------------------------------------------------
 */

static void send_listen(struct raw_client *c, uint32_t id, const char *address, uint32_t port,
                        uint32_t window, bool tls)
{
    Sluice__V1__Listen l;
    sluice__v1__listen__init(&l);
    l.listener_id = id;
    l.address = (char *)(uintptr_t)address;
    l.port = port;
    l.window = window;
    Sluice__V1__TlsServerOptions t;
    sluice__v1__tls_server_options__init(&t);
    l.tls = tls ? &t : NULL;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_LISTEN;
    f.listen = &l;
    raw_send(c, &f);
}

/* Listen, expecting Listening; returns the bound port (0 for a Unix listener). */
static uint32_t listen_ok(struct raw_client *c, uint32_t id, const char *address, uint32_t window,
                          char *bound, size_t bound_len)
{
    send_listen(c, id, address, 0, window, false);
    sl_frame_t *f = raw_expect(c, SLUICE__V1__FRAME__BODY_LISTENING);
    ck_assert_uint_eq(f->listening->listener_id, id);
    const char *b = f->listening->bound_address;
    if (bound) {
        snprintf(bound, bound_len, "%s", b);
    }
    const char *colon = strrchr(b, ':');
    uint32_t port = b[0] != '/' && colon ? (uint32_t)strtoul(colon + 1, NULL, 10) : 0;
    sl_frame_free(f);
    return port;
}

static void expect_listen_failed(struct raw_client *c, uint32_t id, Sluice__V1__ErrorCode code)
{
    sl_frame_t *f = raw_expect(c, SLUICE__V1__FRAME__BODY_LISTEN_FAILED);
    ck_assert_uint_eq(f->listen_failed->listener_id, id);
    ck_assert_int_eq(f->listen_failed->status->code, code);
    ck_assert_str_ne(f->listen_failed->status->message, "");
    sl_frame_free(f);
}

static void send_simple(struct raw_client *c, Sluice__V1__Frame__BodyCase which, uint32_t id)
{
    Sluice__V1__Unlisten u; /* Unlisten, Shutdown and Close start with the same uint32 id */
    Sluice__V1__Shutdown s;
    Sluice__V1__Close cl;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = which;
    if (which == SLUICE__V1__FRAME__BODY_UNLISTEN) {
        sluice__v1__unlisten__init(&u);
        u.listener_id = id;
        f.unlisten = &u;
    } else if (which == SLUICE__V1__FRAME__BODY_SHUTDOWN) {
        sluice__v1__shutdown__init(&s);
        s.channel_id = id;
        f.shutdown = &s;
    } else {
        sluice__v1__close__init(&cl);
        cl.channel_id = id;
        f.close = &cl;
    }
    raw_send(c, &f);
}

static void send_data(struct raw_client *c, uint32_t id, const void *p, size_t len)
{
    Sluice__V1__Data d;
    sluice__v1__data__init(&d);
    d.channel_id = id;
    d.payload.data = (uint8_t *)(uintptr_t)p;
    d.payload.len = len;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_DATA;
    f.data = &d;
    raw_send(c, &f);
}

static void expect_data(struct raw_client *c, uint32_t id, const char *text)
{
    sl_frame_t *f = raw_expect(c, SLUICE__V1__FRAME__BODY_DATA);
    ck_assert_uint_eq(f->data->channel_id, id);
    ck_assert_uint_eq(f->data->payload.len, strlen(text));
    ck_assert(memcmp(f->data->payload.data, text, strlen(text)) == 0);
    sl_frame_free(f);
}

/* Expects Accepted from listener_id; returns the channel id. */
static uint32_t expect_accepted(struct raw_client *c, uint32_t listener_id)
{
    sl_frame_t *f = raw_expect(c, SLUICE__V1__FRAME__BODY_ACCEPTED);
    ck_assert_uint_eq(f->accepted->listener_id, listener_id);
    ck_assert_uint_ge(f->accepted->channel_id, FIRST_DAEMON_ID);
    ck_assert_uint_eq(f->accepted->window, 256 * 1024);
    uint32_t id = f->accepted->channel_id;
    sl_frame_free(f);
    return id;
}

/* Sockets of our own --------------------------------------------------------------------------- */

static int tcp_connect(uint32_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void read_exactly(int fd, const char *text)
{
    char buf[64] = {0};
    size_t want = strlen(text), got = 0;
    while (got < want) {
        ssize_t n = recv(fd, buf + got, want - got, 0);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    ck_assert_str_eq(buf, text);
}

/* Whether nothing arrives on c within ms (the daemon said nothing). */
static bool quiet_for(struct raw_client *c, int ms)
{
    bool eof;
    sl_frame_t *f = raw_recv(c, ms, &eof);
    if (f) {
        fprintf(stderr, "unexpected frame %d\n", (int)f->body_case);
        sl_frame_free(f);
    }
    return !f && !eof;
}

/* Tests ---------------------------------------------------------------------------------------- */

START_TEST(a_listener_accepts_and_its_channel_carries_both_ways)
{
    struct raw_client c;
    raw_attach(&c, &s_daemon, "listener");
    char bound[128];
    uint32_t port = listen_ok(&c, 1, "127.0.0.1", 0, bound, sizeof(bound));
    ck_assert_uint_gt(port, 0);
    ck_assert(strncmp(bound, "127.0.0.1:", 10) == 0);

    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    uint32_t id = expect_accepted(&c, 1);
    ck_assert(send(fd, "hello", 5, 0) == 5);
    expect_data(&c, id, "hello");
    send_data(&c, id, "world", 5);
    read_exactly(fd, "world");

    /* Half-closes both ways, then the clean end. */
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    sl_frame_t *f = raw_expect(&c, SLUICE__V1__FRAME__BODY_SHUTDOWN);
    ck_assert_uint_eq(f->shutdown->channel_id, id);
    sl_frame_free(f);
    send_simple(&c, SLUICE__V1__FRAME__BODY_SHUTDOWN, id);
    char byte;
    ck_assert_int_eq(recv(fd, &byte, 1, 0), 0);
    f = raw_expect(&c, SLUICE__V1__FRAME__BODY_CLOSE);
    ck_assert_uint_eq(f->close->channel_id, id);
    ck_assert(!f->close->status || f->close->status->code == SLUICE__V1__ERROR_CODE__ERROR_NONE);
    sl_frame_free(f);
    send_simple(&c, SLUICE__V1__FRAME__BODY_CLOSE, id);
    close(fd);

    /* A second connection gets the next daemon id. */
    fd = tcp_connect(port);
    uint32_t second = expect_accepted(&c, 1);
    ck_assert_uint_ne(second, id);
    send_simple(&c, SLUICE__V1__FRAME__BODY_CLOSE, second);
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_CLOSE)); /* its answer */
    ck_assert_int_eq(recv(fd, &byte, 1, 0), 0);
    close(fd);

    send_simple(&c, SLUICE__V1__FRAME__BODY_UNLISTEN, 1);
    f = raw_expect(&c, SLUICE__V1__FRAME__BODY_LISTENER_CLOSED);
    ck_assert_uint_eq(f->listener_closed->listener_id, 1);
    ck_assert_int_eq(f->listener_closed->status->code, SLUICE__V1__ERROR_CODE__ERROR_NONE);
    sl_frame_free(f);
    raw_ping(&c, 7); /* the stop has happened on the daemon's loop by now */
    nap_ms(50);
    ck_assert_int_eq(tcp_connect(port), -ECONNREFUSED);
    raw_close(&c);
}
END_TEST

START_TEST(listen_failures_have_their_own_codes)
{
    struct raw_client c, other;
    raw_attach(&c, &s_daemon, "one");
    raw_attach(&other, &s_daemon, "other");
    uint32_t port = listen_ok(&c, 1, "127.0.0.1", 0, NULL, 0);

    send_listen(&c, 1, "127.0.0.1", 0, 0, false);
    expect_listen_failed(&c, 1, SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT); /* id live */
    send_listen(&other, 1, "127.0.0.1", port, 0, false);
    expect_listen_failed(&other, 1, SLUICE__V1__ERROR_CODE__ERROR_ADDRESS_IN_USE);
    send_listen(&c, 2, "localhost", 0, 0, false);
    expect_listen_failed(&c, 2, SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT); /* not literal */
    send_listen(&c, 3, "127.0.0.1", 70000, 0, false);
    expect_listen_failed(&c, 3, SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT);
    send_listen(&c, 4, "127.0.0.1", 0, 100, false);
    expect_listen_failed(&c, 4, SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT); /* window */
    send_listen(&c, 5, "127.0.0.1", 0, 0, true);
    expect_listen_failed(&c, 5, SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT); /* identities */
    send_listen(&c, 6, "192.0.2.1", 0, 0, false);
    expect_listen_failed(&c, 6, SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT); /* not ours */
    if (geteuid() != 0) {
        send_listen(&c, 7, "127.0.0.1", 80, 0, false);
        expect_listen_failed(&c, 7, SLUICE__V1__ERROR_CODE__ERROR_ACCESS);
    }
    /* The live listener never noticed. */
    int fd = tcp_connect(port);
    ck_assert_int_ge(fd, 0);
    expect_accepted(&c, 1);
    close(fd);
    raw_close(&other);
    raw_close(&c);
}
END_TEST

START_TEST(a_unix_listener_accepts_and_its_path_goes_with_it)
{
    struct raw_client c;
    raw_attach(&c, &s_daemon, "unix");
    char path[100], bound[160];
    snprintf(path, sizeof(path), "%s/listen.sock", s_daemon.dir);
    listen_ok(&c, 9, path, 0, bound, sizeof(bound));
    ck_assert_str_eq(bound, path);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    uint32_t id = expect_accepted(&c, 9);
    ck_assert(send(fd, "unix", 4, 0) == 4);
    expect_data(&c, id, "unix");
    close(fd);

    send_simple(&c, SLUICE__V1__FRAME__BODY_UNLISTEN, 9);
    /* Frames about the channel (its Shutdown, Close) may come before ListenerClosed. */
    bool closed = false;
    for (int i = 0; i < 5 && !closed; i++) {
        bool eof;
        sl_frame_t *f = raw_recv(&c, 5000, &eof);
        ck_assert_ptr_nonnull(f);
        closed = f->body_case == SLUICE__V1__FRAME__BODY_LISTENER_CLOSED;
        sl_frame_free(f);
    }
    ck_assert(closed);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), -1); /* removed */
    raw_close(&c);
}
END_TEST

START_TEST(a_full_session_leaves_connections_in_the_backlog)
{
    struct raw_client c;
    raw_attach(&c, &s_daemon, "full");
    /* Each accepted channel takes 16 MiB (max_window) of the 64 MiB budget: four fit. */
    uint32_t port = listen_ok(&c, 1, "127.0.0.1", 16u << 20, NULL, 0);
    int fds[5];
    uint32_t ids[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = tcp_connect(port);
        ids[i] = expect_accepted(&c, 1);
    }
    fds[4] = tcp_connect(port); /* the kernel completes it; the daemon leaves it there */
    ck_assert_int_ge(fds[4], 0);
    ck_assert_msg(quiet_for(&c, 300), "a channel was accepted beyond the budget");
    send_simple(&c, SLUICE__V1__FRAME__BODY_CLOSE, ids[0]);
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_CLOSE));
    expect_accepted(&c, 1); /* room again: the waiting one comes in */
    ck_assert(send(fds[4], "late", 4, 0) == 4);
    for (int i = 0; i < 5; i++) {
        close(fds[i]);
    }
    raw_close(&c);
}
END_TEST

START_TEST(a_vanished_session_takes_its_listeners_along)
{
    struct raw_client watcher, c;
    raw_attach(&watcher, &s_daemon, "watcher");
    ck_assert(raw_wait_sessions(&watcher, 1));
    int fds_before = daemon_fd_count(&s_daemon);
    raw_attach(&c, &s_daemon, "leaver");
    uint32_t port = listen_ok(&c, 1, "127.0.0.1", 0, NULL, 0);
    int fd = tcp_connect(port);
    expect_accepted(&c, 1);
    raw_close(&c);
    ck_assert(raw_wait_sessions(&watcher, 1));
    bool settled = false;
    for (int i = 0; i < 300 && !settled; i++) {
        settled = daemon_fd_count(&s_daemon) == fds_before && tcp_connect(port) == -ECONNREFUSED;
        if (!settled) {
            nap_ms(10);
        }
    }
    ck_assert_msg(settled, "daemon fds %d, before %d", daemon_fd_count(&s_daemon), fds_before);
    char byte;
    ck_assert_int_le(recv(fd, &byte, 1, 0), 0); /* its accepted channel was closed too */
    close(fd);
    raw_close(&watcher);
}
END_TEST

/* GoAway closes listeners at once: no new connections for a stopping daemon. */
START_TEST(go_away_closes_the_listeners)
{
    struct raw_client c;
    raw_attach(&c, &s_daemon, "going");
    uint32_t port = listen_ok(&c, 4, "127.0.0.1", 0, NULL, 0);
    int fd = tcp_connect(port);
    uint32_t id = expect_accepted(&c, 4);
    kill(s_daemon.pid, SIGTERM);
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_GO_AWAY));
    sl_frame_t *f = raw_expect(&c, SLUICE__V1__FRAME__BODY_LISTENER_CLOSED);
    ck_assert_uint_eq(f->listener_closed->listener_id, 4);
    ck_assert_int_eq(f->listener_closed->status->code, SLUICE__V1__ERROR_CODE__ERROR_SHUTTING_DOWN);
    sl_frame_free(f);
    /* The accepted channel drains like any other: it still carries data until the deadline. */
    ck_assert(send(fd, "bye", 3, 0) == 3);
    expect_data(&c, id, "bye");
    close(fd);
    raw_close(&c);
    int status;
    ck_assert_int_eq(waitpid(s_daemon.pid, &status, 0), s_daemon.pid);
    s_daemon.pid = 0;
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/* UDP ------------------------------------------------------------------------------------------ */

struct udp_echo {
    int fd;
    uint32_t port;
    pthread_t thread;
};

static void *udp_echo_main(void *arg)
{
    struct udp_echo *u = arg;
    char buf[65536];
    for (;;) {
        struct sockaddr_storage from;
        socklen_t len = sizeof(from);
        ssize_t n = recvfrom(u->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
        if (n < 0 || (n == 4 && memcmp(buf, "stop", 4) == 0)) {
            return NULL;
        }
        (void)sendto(u->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}

static void udp_echo_start(struct udp_echo *u)
{
    u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(u->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(u->fd, (struct sockaddr *)&sin, &len), 0);
    u->port = ntohs(sin.sin_port);
    ck_assert_int_eq(pthread_create(&u->thread, NULL, udp_echo_main, u), 0);
}

static void udp_echo_stop(struct udp_echo *u)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)u->port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    (void)sendto(fd, "stop", 4, 0, (struct sockaddr *)&sin, sizeof(sin));
    close(fd);
    pthread_join(u->thread, NULL);
    close(u->fd);
}

static void send_open_udp(struct raw_client *c, uint32_t id, uint32_t port, uint32_t window)
{
    Sluice__V1__UdpTarget t;
    sluice__v1__udp_target__init(&t);
    t.host = "127.0.0.1";
    t.port = port;
    Sluice__V1__Open o;
    sluice__v1__open__init(&o);
    o.channel_id = id;
    o.target_case = SLUICE__V1__OPEN__TARGET_UDP;
    o.udp = &t;
    o.window = window;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_OPEN;
    f.open = &o;
    raw_send(c, &f);
}

START_TEST(a_udp_channel_keeps_datagrams_whole)
{
    struct udp_echo echo;
    udp_echo_start(&echo);
    struct raw_client c;
    raw_attach(&c, &s_daemon, "udp");
    send_open_udp(&c, 1, echo.port, 2048);
    sl_frame_t *f = raw_expect(&c, SLUICE__V1__FRAME__BODY_OPENED);
    ck_assert(strncmp(f->opened->remote_address, "127.0.0.1:", 10) == 0);
    sl_frame_free(f);
    /* Each Data is one datagram and comes back as one Data, never joined. */
    send_data(&c, 1, "first", 5);
    expect_data(&c, 1, "first");
    send_data(&c, 1, "second", 6);
    send_data(&c, 1, "third", 5);
    expect_data(&c, 1, "second");
    expect_data(&c, 1, "third");
    /* A datagram over the client's credit (2048 - 16 left) is dropped, not split. */
    static uint8_t big[4000];
    memset(big, 'x', sizeof(big));
    send_data(&c, 1, big, sizeof(big));
    ck_assert(quiet_for(&c, 200));
    send_data(&c, 1, "after", 5);
    expect_data(&c, 1, "after"); /* the channel goes on */
    send_simple(&c, SLUICE__V1__FRAME__BODY_CLOSE, 1);
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_CLOSE));

    /* TLS over UDP is refused with its own code. */
    Sluice__V1__UdpTarget t;
    sluice__v1__udp_target__init(&t);
    t.host = "127.0.0.1";
    t.port = echo.port;
    Sluice__V1__TlsClientOptions tls;
    sluice__v1__tls_client_options__init(&tls);
    Sluice__V1__Open o;
    sluice__v1__open__init(&o);
    o.channel_id = 2;
    o.target_case = SLUICE__V1__OPEN__TARGET_UDP;
    o.udp = &t;
    o.tls = &tls;
    sl_frame_t open;
    sluice__v1__frame__init(&open);
    open.body_case = SLUICE__V1__FRAME__BODY_OPEN;
    open.open = &o;
    raw_send(&c, &open);
    f = raw_expect(&c, SLUICE__V1__FRAME__BODY_OPEN_FAILED);
    ck_assert_int_eq(f->open_failed->status->code, SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT);
    sl_frame_free(f);
    raw_close(&c);
    udp_echo_stop(&echo);
}
END_TEST

/* Stats ---------------------------------------------------------------------------------------- */

static sl_frame_t *ask_stats(struct raw_client *c, uint32_t request_id)
{
    Sluice__V1__StatsRequest r;
    sluice__v1__stats_request__init(&r);
    r.request_id = request_id;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_STATS_REQUEST;
    f.stats_request = &r;
    raw_send(c, &f);
    sl_frame_t *s = raw_expect(c, SLUICE__V1__FRAME__BODY_STATS);
    ck_assert_uint_eq(s->stats->request_id, request_id);
    return s;
}

static void send_open_tcp(struct raw_client *c, uint32_t id, uint32_t port)
{
    Sluice__V1__TcpTarget t;
    sluice__v1__tcp_target__init(&t);
    t.host = "127.0.0.1";
    t.port = port;
    Sluice__V1__Open o;
    sluice__v1__open__init(&o);
    o.channel_id = id;
    o.target_case = SLUICE__V1__OPEN__TARGET_TCP;
    o.tcp = &t;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_OPEN;
    f.open = &o;
    raw_send(c, &f);
}

START_TEST(stats_list_the_sessions_channels_by_id)
{
    static struct peer_server peer; /* static: teardown may stop it after a failure */
    peer_server_start(&peer, PEER_ECHO, 0);
    struct raw_client c;
    raw_attach(&c, &s_daemon, "stats");
    uint32_t port = listen_ok(&c, 1, "127.0.0.1", 0, NULL, 0);
    int fd = tcp_connect(port);
    uint32_t accepted = expect_accepted(&c, 1);
    send_open_tcp(&c, 5, peer.port);
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_OPENED));
    send_data(&c, 5, "echo", 4);
    expect_data(&c, 5, "echo");
    send_simple(&c, SLUICE__V1__FRAME__BODY_SHUTDOWN, 5);
    sl_frame_t *f = raw_expect(&c, SLUICE__V1__FRAME__BODY_SHUTDOWN); /* the peer's end */
    sl_frame_free(f);
    f = raw_expect(&c, SLUICE__V1__FRAME__BODY_CLOSE); /* both directions done */
    sl_frame_free(f);
    send_open_tcp(&c, 3, peer.port);
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_OPENED));

    sl_frame_t *s = ask_stats(&c, 77);
    ck_assert_uint_ge(s->stats->listeners, 1);
    ck_assert_uint_ge(s->stats->channels, 3);
    /* Channel 5 still holds its id until our Close: it is "closing". By id: 3, 5, accepted. */
    ck_assert_uint_eq(s->stats->n_session_channels, 3);
    Sluice__V1__ChannelStats **cs = s->stats->session_channels;
    ck_assert_uint_eq(cs[0]->channel_id, 3);
    ck_assert_str_eq(cs[0]->state, "open");
    ck_assert_uint_eq(cs[0]->send_window, 256 * 1024);
    ck_assert_uint_eq(cs[0]->receive_window, 256 * 1024);
    ck_assert(strncmp(cs[0]->remote_address, "127.0.0.1:", 10) == 0);
    ck_assert_uint_eq(cs[1]->channel_id, 5);
    ck_assert_str_eq(cs[1]->state, "closing");
    ck_assert_uint_eq(cs[1]->bytes_in, 4);
    ck_assert_uint_eq(cs[1]->bytes_out, 4);
    ck_assert_uint_eq(cs[2]->channel_id, accepted);
    ck_assert_str_eq(cs[2]->state, "open");
    sl_frame_free(s);

    send_simple(&c, SLUICE__V1__FRAME__BODY_CLOSE, 5);
    send_simple(&c, SLUICE__V1__FRAME__BODY_CLOSE, 3);
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_CLOSE));
    s = ask_stats(&c, 78);
    ck_assert_uint_eq(s->stats->n_session_channels, 1);
    sl_frame_free(s);
    close(fd);
    raw_close(&c);
    peer_server_stop(&peer);
}
END_TEST

/* Back-pressure on answers (docs/protocol.md §10) ---------------------------------------------- */

START_TEST(a_client_that_reads_no_answers_is_read_no_more)
{
    /*
     * ASan keeps freed memory in quarantine, which would count every answer ever built: this
     * daemon runs without it, so its RSS shows what it holds.
     */
    daemon_stop(&s_daemon, 10000);
    daemon_start_without_quarantine(&s_daemon, NULL, NULL);
    struct raw_client c;
    raw_attach(&c, &s_daemon, "deaf");
    /* 400 accepted channels make each Stats about 20 KB. */
    enum { CONNECTIONS = 400, REQUESTS = 1000 };
    static int fds[CONNECTIONS];
    uint32_t port = listen_ok(&c, 1, "127.0.0.1", 4096, NULL, 0);
    for (int i = 0; i < CONNECTIONS; i++) {
        fds[i] = tcp_connect(port);
        ck_assert_int_ge(fds[i], 0);
        sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_ACCEPTED));
    }
    sl_frame_t *first = ask_stats(&c, 1);
    size_t stats_size = sl_frame_size(first);
    ck_assert_uint_eq(first->stats->n_session_channels, CONNECTIONS);
    sl_frame_free(first);
    long rss_before = daemon_rss_kib(&s_daemon);

    /* 1000 requests, about 20 MB of answers, and we read none of them for a while. */
    for (uint32_t i = 0; i < REQUESTS; i++) {
        Sluice__V1__StatsRequest r;
        sluice__v1__stats_request__init(&r);
        r.request_id = 100 + i;
        sl_frame_t f;
        sluice__v1__frame__init(&f);
        f.body_case = SLUICE__V1__FRAME__BODY_STATS_REQUEST;
        f.stats_request = &r;
        raw_send(&c, &f);
    }
    nap_ms(1000);
    long grown_kib = daemon_rss_kib(&s_daemon) - rss_before;
    ck_assert_msg(grown_kib < 8 * 1024, "the daemon grew by %ld KiB for %zu-byte answers",
                  grown_kib, stats_size);

    /* Reading again, every answer arrives, in order: held back, not dropped. */
    for (uint32_t i = 0; i < REQUESTS; i++) {
        bool eof;
        sl_frame_t *f = raw_recv(&c, 10000, &eof);
        ck_assert_msg(f, "answer %u missing", i);
        ck_assert_int_eq(f->body_case, SLUICE__V1__FRAME__BODY_STATS);
        ck_assert_uint_eq(f->stats->request_id, 100 + i);
        sl_frame_free(f);
    }
    raw_ping(&c, 9);
    for (int i = 0; i < CONNECTIONS; i++) {
        close(fds[i]);
    }
    raw_close(&c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("daemon_listen");
    TCase *tc = sl_test_tcase("listen", 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_listener_accepts_and_its_channel_carries_both_ways);
    tcase_add_test(tc, listen_failures_have_their_own_codes);
    tcase_add_test(tc, a_unix_listener_accepts_and_its_path_goes_with_it);
    tcase_add_test(tc, a_full_session_leaves_connections_in_the_backlog);
    tcase_add_test(tc, a_vanished_session_takes_its_listeners_along);
    tcase_add_test(tc, go_away_closes_the_listeners);
    tcase_add_test(tc, a_udp_channel_keeps_datagrams_whole);
    tcase_add_test(tc, stats_list_the_sessions_channels_by_id);
    tcase_add_test(tc, a_client_that_reads_no_answers_is_read_no_more);
    suite_add_tcase(suite, tc);
    return sl_test_run(suite);
}
