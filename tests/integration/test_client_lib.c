/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/client.h>

#include "daemon_harness.h"
#include "peer_server.h"
#include "test_handler.h"
#include "test_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * libsluice-client against the real sluiced and real peers: bulk echo through the blocking
 * and the non-blocking API (checked by hash), flow control with a small window, many channels,
 * half-close, Open failures, close and abort, Stats, bad arguments, UDP and listeners. Every
 * test ends by checking that the library freed every block it allocated.
 */

#define KIB            ((uint64_t)1 << 10)
#define MIB            ((uint64_t)1 << 20)
#define FNV_OFFSET     14695981039346656037ull
#define FNV_PRIME      1099511628211ull
#define WAIT_MS        20000
#define CHUNK          (64 * 1024)
#define DEFAULT_WINDOW (256 * 1024)

/* client_alloc.c: blocks the library has not freed (internal, reachable in the static lib). */
size_t sl__client_live_allocations(void);

static struct daemon_proc s_daemon;
static size_t s_live_baseline; /* a failed test leaks its client: do not blame the next one */

static void setup(void)
{
    s_live_baseline = sl__client_live_allocations();
    daemon_start(&s_daemon, NULL, NULL);
}

static void teardown(void)
{
    peer_server_stop_all(); /* after a failed test; a passing one stopped its own */
    bool running = s_daemon.pid > 0;
    int status = daemon_stop(&s_daemon, 10000);
    if (running) {
        ck_assert_msg(status == 0, "sluiced exited with %d", status);
    }
}

/* Helpers ------------------------------------------------------------------------------------ */

static struct sl_client *attach(void)
{
    char detail[256];
    struct sl_client_options o = {.socket_path = s_daemon.socket_path,
                                  .client_name = "test_client_lib",
                                  .error_buf = detail,
                                  .error_buf_len = sizeof(detail)};
    struct sl_client *c = NULL;
    int rc = sl_client_connect(&o, &c);
    ck_assert_msg(rc == 0, "connect: %s (%s)", sl_client_strerror(rc), detail);
    return c;
}

static struct sl_client_channel *open_tcp(struct sl_client *c, uint32_t port, uint32_t window)
{
    struct sl_client_open_options o = {
        .target = SL_CLIENT_TARGET_TCP, .host = "127.0.0.1", .port = (uint16_t)port};
    o.window = window;
    struct sl_client_channel *ch = NULL;
    int rc = sl_client_open(c, &o, WAIT_MS, &ch);
    ck_assert_msg(rc == 0, "open: %s (%s)", sl_client_strerror(rc), sl_client_error_message(c));
    ck_assert_ptr_nonnull(ch);
    return ch;
}

static void finish(struct sl_client *c)
{
    sl_client_close(c);
    ck_assert_uint_eq(sl__client_live_allocations(), s_live_baseline);
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * FNV_PRIME;
    }
    return h;
}

static void fill_pattern(uint8_t *buf, uint64_t offset, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf[i] = test_pattern((size_t)(offset + i));
    }
}

static uint64_t pattern_hash(uint64_t total)
{
    static uint8_t chunk[CHUNK];
    uint64_t h = FNV_OFFSET;
    for (uint64_t off = 0; off < total; off += sizeof(chunk)) {
        size_t n = total - off < sizeof(chunk) ? (size_t)(total - off) : sizeof(chunk);
        fill_pattern(chunk, off, n);
        h = fnv(h, chunk, n);
    }
    return h;
}

/* Waits on the session's fd for what it asks, then processes: the non-blocking API's loop. */
static void poll_and_process(struct sl_client *c)
{
    struct pollfd pfd = {.fd = sl_client_fd(c), .events = sl_client_poll_events(c)};
    ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
    ck_assert_int_eq(sl_client_process(c), 0);
}

/* Drives the session until the channel has ended (the daemon's Close); returns its status. */
static int wait_for_end(struct sl_client *c, struct sl_client_channel *ch)
{
    for (int i = 0; i < 1000 && sl_client_channel_status(ch) == 0; i++) {
        poll_and_process(c);
    }
    return sl_client_channel_status(ch);
}

/* Reads until end of file; returns the byte count, hashing into *hash. */
static uint64_t read_to_end(struct sl_client_channel *ch, uint64_t *hash)
{
    static uint8_t in[CHUNK];
    uint64_t total = 0;
    for (;;) {
        long n = sl_client_channel_read(ch, in, sizeof(in), WAIT_MS);
        ck_assert_msg(n >= 0, "read: %s", sl_client_strerror((int)n));
        if (n == 0) {
            return total;
        }
        *hash = fnv(*hash, in, (size_t)n);
        total += (uint64_t)n;
    }
}

/* Bulk echo --------------------------------------------------------------------------------- */

/*
 * Blocking calls only. At most half our window is unanswered at any time, so the echo always
 * fits the window and a blocked write can never wait on a read we have not made.
 */
static void echo_blocking(struct sl_client_channel *ch, uint64_t total)
{
    static uint8_t out[CHUNK], in[CHUNK];
    uint64_t sent = 0, received = 0, sent_hash = FNV_OFFSET, recv_hash = FNV_OFFSET;
    while (received < total) {
        if (sent < total && sent - received <= DEFAULT_WINDOW / 2 - CHUNK) {
            size_t n = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;
            fill_pattern(out, sent, n);
            long w = sl_client_channel_write(ch, out, n, WAIT_MS);
            ck_assert_int_eq(w, (long)n);
            sent_hash = fnv(sent_hash, out, n);
            sent += n;
            continue;
        }
        long r = sl_client_channel_read(ch, in, sizeof(in), WAIT_MS);
        ck_assert_msg(r > 0, "read: %s", sl_client_strerror((int)r));
        recv_hash = fnv(recv_hash, in, (size_t)r);
        received += (uint64_t)r;
    }
    ck_assert_uint_eq(received, total);
    ck_assert_uint_eq(recv_hash, sent_hash);
}

START_TEST(blocking_echo_of_64_mib_is_intact)
{
    static struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    struct sl_client *c = attach();
    struct sl_client_channel *ch = open_tcp(c, peer.port, 0);
    ck_assert_uint_eq(sl_client_channel_info(ch)->receive_window, DEFAULT_WINDOW);
    ck_assert_uint_gt(sl_client_channel_info(ch)->send_window, 0);
    ck_assert_int_eq(strncmp(sl_client_channel_info(ch)->remote_address, "127.0.0.1:", 10), 0);
    echo_blocking(ch, 64 * MIB);
    ck_assert_int_eq(sl_client_channel_shutdown(ch), 0);
    uint64_t rest = FNV_OFFSET;
    ck_assert_uint_eq(read_to_end(ch, &rest), 0);
    ck_assert_int_eq(wait_for_end(c, ch), SL_CLIENT_E_CHANNEL_CLOSED);
    sl_client_channel_close(ch, false);
    ck_assert_int_eq(sl_client_ping(c, 0, NULL), 0);
    finish(c);
    peer_server_stop(&peer);
}
END_TEST

/* One step of a non-blocking echo: write what the channel takes, read what is there. */
struct echo_state {
    struct sl_client_channel *ch;
    uint64_t total, sent, received, sent_hash, recv_hash;
    bool shut;
};

static void echo_step(struct echo_state *e)
{
    static uint8_t out[CHUNK], in[CHUNK];
    while (e->sent < e->total) {
        size_t n = e->total - e->sent < CHUNK ? (size_t)(e->total - e->sent) : CHUNK;
        fill_pattern(out, e->sent, n);
        long w = sl_client_channel_write(e->ch, out, n, 0);
        if (w == -EAGAIN) {
            break;
        }
        ck_assert_msg(w > 0, "write: %s", sl_client_strerror((int)w));
        e->sent_hash = fnv(e->sent_hash, out, (size_t)w);
        e->sent += (uint64_t)w;
    }
    if (e->sent == e->total && !e->shut) {
        ck_assert_int_eq(sl_client_channel_shutdown(e->ch), 0);
        e->shut = true;
    }
    for (;;) {
        long r = sl_client_channel_read(e->ch, in, sizeof(in), 0);
        if (r == -EAGAIN || r == 0) {
            break;
        }
        ck_assert_msg(r > 0, "read: %s", sl_client_strerror((int)r));
        e->recv_hash = fnv(e->recv_hash, in, (size_t)r);
        e->received += (uint64_t)r;
    }
}

/* Echoes total bytes on count channels at once with timeout-0 calls and a poll(2) loop. */
static void echo_nonblocking(struct sl_client *c, struct echo_state *e, int count)
{
    for (bool done = false; !done;) {
        done = true;
        for (int i = 0; i < count; i++) {
            echo_step(&e[i]);
            done = done && e[i].received == e[i].total;
        }
        if (!done) {
            struct pollfd pfd = {.fd = sl_client_fd(c), .events = sl_client_poll_events(c)};
            int ready = poll(&pfd, 1, WAIT_MS);
            for (int i = 0; i < count && ready == 0; i++) {
                fprintf(stderr,
                        "channel %u: sent %llu received %llu of %llu; writable %zu, "
                        "readable %zu, status %d\n",
                        sl_client_channel_id(e[i].ch), (unsigned long long)e[i].sent,
                        (unsigned long long)e[i].received, (unsigned long long)e[i].total,
                        sl_client_channel_writable(e[i].ch), sl_client_channel_readable(e[i].ch),
                        sl_client_channel_status(e[i].ch));
            }
            ck_assert_int_eq(ready, 1);
            ck_assert_int_eq(sl_client_process(c), 0);
        }
    }
    for (int i = 0; i < count; i++) {
        ck_assert_uint_eq(e[i].recv_hash, e[i].sent_hash);
        ck_assert_int_eq(wait_for_end(c, e[i].ch), SL_CLIENT_E_CHANNEL_CLOSED);
        uint8_t byte;
        ck_assert_int_eq(sl_client_channel_read(e[i].ch, &byte, 1, 0), 0); /* end of file */
        sl_client_channel_close(e[i].ch, false);
    }
}

START_TEST(nonblocking_echo_of_64_mib_is_intact)
{
    static struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    struct sl_client *c = attach();
    struct echo_state e = {.total = 64 * MIB, .sent_hash = FNV_OFFSET, .recv_hash = FNV_OFFSET};
    struct sl_client_open_options o = {
        .target = SL_CLIENT_TARGET_TCP, .host = "127.0.0.1", .port = (uint16_t)peer.port};
    ck_assert_int_eq(sl_client_open(c, &o, 0, &e.ch), -EINPROGRESS);
    ck_assert_int_eq(sl_client_channel_status(e.ch), -EINPROGRESS);
    echo_nonblocking(c, &e, 1);
    finish(c);
    peer_server_stop(&peer);
}
END_TEST

START_TEST(many_channels_share_a_session)
{
    static struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    struct sl_client *c = attach();
    struct echo_state e[16];
    for (int i = 0; i < 16; i++) {
        e[i] = (struct echo_state){.ch = open_tcp(c, peer.port, 64 * 1024),
                                   .total = MIB + (uint64_t)i * 4099,
                                   .sent_hash = FNV_OFFSET,
                                   .recv_hash = FNV_OFFSET};
        for (int j = 0; j < i; j++) {
            ck_assert_uint_ne(sl_client_channel_id(e[i].ch), sl_client_channel_id(e[j].ch));
        }
    }
    echo_nonblocking(c, e, 16);
    finish(c);
    peer_server_stop(&peer);
}
END_TEST

/* Flow control ------------------------------------------------------------------------------ */

/* A 4 KiB window against a peer that floods: credit goes back as we read, nothing is lost. */
START_TEST(small_window_against_a_flood_is_lossless)
{
    const uint64_t total = 8 * MIB;
    static struct peer_server peer;
    peer_server_start(&peer, PEER_FLOOD, total);
    struct sl_client *c = attach();
    struct sl_client_channel *ch = open_tcp(c, peer.port, 4096);
    ck_assert_uint_eq(sl_client_channel_info(ch)->receive_window, 4096);
    ck_assert_int_eq(sl_client_channel_shutdown(ch), 0);
    /* Not reading: the daemon may send exactly the window, and stops there. */
    for (int i = 0; i < 20; i++) {
        struct pollfd pfd = {.fd = sl_client_fd(c), .events = sl_client_poll_events(c)};
        (void)poll(&pfd, 1, 10);
        ck_assert_int_eq(sl_client_process(c), 0);
    }
    ck_assert_uint_eq(sl_client_channel_readable(ch), 4096);
    uint64_t hash = FNV_OFFSET;
    ck_assert_uint_eq(read_to_end(ch, &hash), total);
    ck_assert_uint_eq(hash, pattern_hash(total));
    ck_assert_int_eq(wait_for_end(c, ch), SL_CLIENT_E_CHANNEL_CLOSED);
    sl_client_channel_close(ch, false);
    finish(c);
    peer_server_stop(&peer);
}
END_TEST

/* Half-close, close, abort ------------------------------------------------------------------ */

static void wait_for_peer_finished(struct peer_server *peer, int count)
{
    for (int i = 0; i < 1000 && atomic_load(&peer->finished) < count; i++) {
        struct timespec ts = {.tv_nsec = 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(atomic_load(&peer->finished), count);
}

START_TEST(half_close_lets_the_echo_finish)
{
    static struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    struct sl_client *c = attach();
    struct sl_client_channel *ch = open_tcp(c, peer.port, 0);
    static uint8_t out[10000];
    fill_pattern(out, 0, sizeof(out));
    ck_assert_int_eq(sl_client_channel_write(ch, out, sizeof(out), WAIT_MS), (long)sizeof(out));
    ck_assert_int_eq(sl_client_channel_shutdown(ch), 0);
    ck_assert_int_eq(sl_client_channel_shutdown(ch), 0); /* once is enough; twice is harmless */
    ck_assert_int_eq(sl_client_channel_write(ch, out, 1, 0), SL_CLIENT_E_CHANNEL_SHUT);
    ck_assert_uint_eq(sl_client_channel_writable(ch), 0);
    uint64_t hash = FNV_OFFSET;
    ck_assert_uint_eq(read_to_end(ch, &hash), sizeof(out)); /* the peer saw our end of file */
    ck_assert_uint_eq(hash, fnv(FNV_OFFSET, out, sizeof(out)));
    ck_assert_int_eq(wait_for_end(c, ch), SL_CLIENT_E_CHANNEL_CLOSED);
    ck_assert_int_eq(sl_client_channel_read(ch, out, 1, 0), 0); /* end of file stays */
    ck_assert_int_eq(sl_client_channel_write(ch, out, 1, 0), SL_CLIENT_E_CHANNEL_CLOSED);
    sl_client_channel_close(ch, false);
    wait_for_peer_finished(&peer, 1);
    finish(c);
    peer_server_stop(&peer);
}
END_TEST

/*
 * Closing (cleanly or not) frees the handle at once; the echo still on its way for the closed
 * id is dropped quietly, the session goes on, and the peers' connections end.
 */
START_TEST(close_and_abort_end_channels_quietly)
{
    static struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    struct sl_client *c = attach();
    static uint8_t out[100000];
    struct sl_client_channel *clean = open_tcp(c, peer.port, 0);
    struct sl_client_channel *aborted = open_tcp(c, peer.port, 0);
    ck_assert_int_eq(sl_client_channel_write(clean, out, sizeof(out), WAIT_MS), (long)sizeof(out));
    ck_assert_int_eq(sl_client_channel_write(aborted, out, sizeof(out), WAIT_MS),
                     (long)sizeof(out));
    sl_client_channel_close(clean, false);
    sl_client_channel_close(aborted, true);
    /* Closing one still opening: the daemon's answer (Opened or OpenFailed, then Close) too. */
    struct sl_client_open_options o = {
        .target = SL_CLIENT_TARGET_TCP, .host = "127.0.0.1", .port = (uint16_t)peer.port};
    struct sl_client_channel *opening = NULL;
    ck_assert_int_eq(sl_client_open(c, &o, 0, &opening), -EINPROGRESS);
    sl_client_channel_close(opening, false);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sl_client_ping(c, 0, NULL), 0);
    }
    wait_for_peer_finished(&peer, 3);
    ck_assert_int_eq(sl_client_fault(c), 0);
    struct sl_client_stats stats;
    ck_assert_int_eq(sl_client_stats(c, 0, &stats), 0);
    ck_assert_uint_eq(stats.channel_count, 0); /* every id is free again */
    sl_client_stats_free(&stats);
    /* The session goes on: a new channel echoes. */
    struct sl_client_channel *next = open_tcp(c, peer.port, 0);
    echo_blocking(next, 100 * KIB);
    sl_client_channel_close(next, true);
    finish(c);
    peer_server_stop(&peer);
}
END_TEST

/* Open failures ----------------------------------------------------------------------------- */

START_TEST(open_failures_report_the_daemons_code)
{
    static struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    struct sl_client *c = attach();
    struct sl_client_open_options o = {
        .target = SL_CLIENT_TARGET_TCP, .host = "127.0.0.1", .port = (uint16_t)(peer.port + 1)};
    struct sl_client_channel *ch = (struct sl_client_channel *)&o; /* must be reset to NULL */
    int rc = sl_client_open(c, &o, WAIT_MS, &ch);
    ck_assert_int_eq(rc, SL_CLIENT_E_PROTOCOL(SLUICE__V1__ERROR_CODE__ERROR_REFUSED));
    ck_assert_ptr_null(ch);
    ck_assert(SL_CLIENT_E_IS_PROTOCOL(rc));
    ck_assert_int_eq(SL_CLIENT_E_CODE(rc), SLUICE__V1__ERROR_CODE__ERROR_REFUSED);
    ck_assert_str_eq(sl_client_strerror(rc), "connection refused");

    /* A Unix path that does not exist: ERROR_NAME_NOT_FOUND (docs/protocol.md §4.2). */
    struct sl_client_open_options u = {.target = SL_CLIENT_TARGET_UNIX,
                                       .host = "/nonexistent/sluice-test.sock"};
    rc = sl_client_open(c, &u, WAIT_MS, &ch);
    ck_assert_msg(rc == SL_CLIENT_E_PROTOCOL(SLUICE__V1__ERROR_CODE__ERROR_NAME_NOT_FOUND),
                  "open of a missing Unix path: %s", sl_client_strerror(rc));
    ck_assert_ptr_null(ch);
    ck_assert_str_ne(sl_client_error_message(c), "");

    /* Without waiting: the handle is the caller's, and tells the failure when it comes. */
    ck_assert_int_eq(sl_client_open(c, &o, 0, &ch), -EINPROGRESS);
    ck_assert_ptr_nonnull(ch);
    for (int i = 0; i < 1000 && sl_client_channel_status(ch) == -EINPROGRESS; i++) {
        poll_and_process(c);
    }
    ck_assert_int_eq(sl_client_channel_status(ch),
                     SL_CLIENT_E_PROTOCOL(SLUICE__V1__ERROR_CODE__ERROR_REFUSED));
    uint8_t byte = 0;
    ck_assert_int_eq(sl_client_channel_read(ch, &byte, 1, 0),
                     SL_CLIENT_E_PROTOCOL(SLUICE__V1__ERROR_CODE__ERROR_REFUSED));
    sl_client_channel_close(ch, false);
    /* The session goes on. */
    ck_assert_int_eq(sl_client_fault(c), 0);
    ck_assert_int_eq(sl_client_ping(c, 0, NULL), 0);
    finish(c);
    peer_server_stop(&peer);
}
END_TEST

/* Stats ------------------------------------------------------------------------------------- */

START_TEST(stats_list_the_sessions_channels)
{
    static struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    struct sl_client *c = attach();
    struct sl_client_channel *ch[3];
    for (int i = 0; i < 3; i++) {
        ch[i] = open_tcp(c, peer.port, 64 * 1024);
    }
    ck_assert_int_eq(sl_client_channel_write(ch[1], "hello", 5, WAIT_MS), 5);
    char buf[8];
    ck_assert_int_eq(sl_client_channel_read(ch[1], buf, sizeof(buf), WAIT_MS), 5);
    struct sl_client_stats stats;
    ck_assert_int_eq(sl_client_stats(c, 0, &stats), 0);
    ck_assert_uint_ge(stats.sessions, 1);
    ck_assert_uint_ge(stats.channels, 3);
    ck_assert_uint_eq(stats.channel_count, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(stats.session[i].channel_id, sl_client_channel_id(ch[i]));
        ck_assert_str_eq(stats.session[i].remote_address,
                         sl_client_channel_info(ch[i])->remote_address);
        ck_assert_str_eq(stats.session[i].state, "open");
    }
    ck_assert_uint_eq(stats.session[1].bytes_out, 5);
    ck_assert_uint_eq(stats.session[1].bytes_in, 5);
    sl_client_stats_free(&stats);
    ck_assert_ptr_null(stats.session);
    for (int i = 0; i < 3; i++) {
        sl_client_channel_close(ch[i], false);
    }
    finish(c);
    peer_server_stop(&peer);
}
END_TEST

/* Bad arguments ----------------------------------------------------------------------------- */

static void check_bad_open(struct sl_client *c, const struct sl_client_open_options *o)
{
    struct sl_client_channel *ch = NULL;
    ck_assert_int_eq(sl_client_open(c, o, 0, &ch), SL_CLIENT_E_INVAL);
    ck_assert_ptr_null(ch);
}

static void check_bad_opens(struct sl_client *c)
{
    struct sl_client_open_options good = {
        .target = SL_CLIENT_TARGET_TCP, .host = "127.0.0.1", .port = 7};
    struct sl_client_open_options o = good;
    o.host = NULL;
    check_bad_open(c, &o);
    o.host = "";
    check_bad_open(c, &o);
    o = good;
    o.port = 0;
    check_bad_open(c, &o);
    o = good;
    o.target = SL_CLIENT_TARGET_UDP;
    o.tls = true;
    check_bad_open(c, &o);
    o = good;
    o.tls = true;
    o.ca_pem = "x";
    o.ca_pem_len = 1;
    o.trust_store = "corp";
    check_bad_open(c, &o);
    o = good;
    o.tls = true;
    o.alpn = "h2,,http/1.1";
    check_bad_open(c, &o);
    o = good;
    o.window = 100;
    check_bad_open(c, &o);
    o = good;
    o.family = 5;
    check_bad_open(c, &o);
    o = good;
    o.target = (enum sl_client_target)7;
    check_bad_open(c, &o);
    struct sl_client_channel *ch = NULL;
    ck_assert_int_eq(sl_client_open(c, NULL, 0, &ch), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_open(NULL, &good, 0, &ch), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_open(c, &good, 0, NULL), SL_CLIENT_E_INVAL);
}

START_TEST(bad_arguments_are_rejected)
{
    static struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    struct sl_client *c = attach();
    check_bad_opens(c);
    struct sl_client_channel *ch = open_tcp(c, peer.port, 0);
    char buf[4];
    ck_assert_int_eq(sl_client_channel_read(NULL, buf, 4, 0), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_channel_read(ch, NULL, 4, 0), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_channel_read(ch, buf, 0, 0), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_channel_write(NULL, buf, 4, 0), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_channel_write(ch, NULL, 4, 0), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_channel_write(ch, buf, 0, 0), 0);
    ck_assert_int_eq(sl_client_channel_shutdown(NULL), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_channel_status(NULL), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_channel_read(ch, buf, sizeof(buf), 0), -EAGAIN);
    ck_assert_int_eq(sl_client_channel_read(ch, buf, sizeof(buf), 20), -ETIMEDOUT);
    struct sl_client_listen_options lo = {.address = "127.0.0.1"};
    struct sl_client_listener *l = NULL;
    ck_assert_int_eq(sl_client_listen(c, &lo, 0, &l), SL_CLIENT_E_INVAL); /* timeout 0 */
    lo.window = 10;
    ck_assert_int_eq(sl_client_listen(c, &lo, WAIT_MS, &l), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_listen(c, NULL, WAIT_MS, &l), SL_CLIENT_E_INVAL);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(sl_client_accept(NULL, 0, &ch), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_stats(c, 0, NULL), SL_CLIENT_E_INVAL);
    ck_assert_int_eq(sl_client_process(NULL), SL_CLIENT_E_INVAL);
    ck_assert_str_eq(sl_client_strerror(SL_CLIENT_E_CHANNEL_SHUT),
                     "the channel was shut down for writing");
    sl_client_channel_close(NULL, false); /* ignored */
    sl_client_unlisten(NULL);
    ck_assert_int_eq(sl_client_fault(c), 0); /* none of this hurt the session */
    sl_client_channel_close(ch, false);
    ck_assert_int_eq(sl_client_ping(c, 0, NULL), 0);
    finish(c);
    peer_server_stop(&peer);
}
END_TEST

/* UDP --------------------------------------------------------------------------------------- */

/* A loopback UDP echo server on a thread (nothing of Sluice). */
struct udp_echo {
    int fd;
    uint16_t port;
    pthread_t thread;
    atomic_bool stopping;
};

static void *udp_echo_main(void *arg)
{
    struct udp_echo *u = arg;
    static uint8_t buf[65536];
    while (!atomic_load(&u->stopping)) {
        struct pollfd pfd = {.fd = u->fd, .events = POLLIN};
        if (poll(&pfd, 1, 20) <= 0) {
            continue;
        }
        struct sockaddr_in from;
        socklen_t len = sizeof(from);
        ssize_t n = recvfrom(u->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
        if (n > 0) {
            (void)sendto(u->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
        }
    }
    return NULL;
}

static void udp_echo_start(struct udp_echo *u)
{
    memset(u, 0, sizeof(*u));
    u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(u->fd, 0);
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
    atomic_store(&u->stopping, true);
    pthread_join(u->thread, NULL);
    close(u->fd);
}

START_TEST(udp_echo_keeps_datagrams_whole)
{
    static struct udp_echo echo;
    udp_echo_start(&echo);
    struct sl_client *c = attach();
    struct sl_client_open_options o = {
        .target = SL_CLIENT_TARGET_UDP, .host = "127.0.0.1", .port = echo.port};
    struct sl_client_channel *ch = NULL;
    int rc = sl_client_open(c, &o, WAIT_MS, &ch);
    ck_assert_msg(rc == 0, "open: %s (%s)", sl_client_strerror(rc), sl_client_error_message(c));
    static uint8_t out[3000], in[4000];
    fill_pattern(out, 0, sizeof(out));
    const size_t sizes[] = {1, 3000, 17};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(sl_client_channel_write(ch, out, sizes[i], WAIT_MS), (long)sizes[i]);
    }
    /* Loopback keeps the order; each read is exactly one datagram. */
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(sl_client_channel_read(ch, in, sizeof(in), WAIT_MS), (long)sizes[i]);
        ck_assert_mem_eq(in, out, sizes[i]);
    }
    /* A buffer too small: the rest of the datagram is discarded. */
    ck_assert_int_eq(sl_client_channel_read(ch, in, 5, WAIT_MS), 5);
    ck_assert_int_eq(sl_client_channel_read(ch, in, sizeof(in), 0), -EAGAIN);
    /* A datagram over max_frame - 16 cannot be sent whole. */
    static uint8_t huge[SL_FRAME_DEFAULT_MAX];
    ck_assert_int_eq(sl_client_channel_write(ch, huge, sizeof(huge), 0), SL_CLIENT_E_INVAL);
    sl_client_channel_close(ch, false);
    ck_assert_int_eq(sl_client_ping(c, 0, NULL), 0);
    finish(c);
    udp_echo_stop(&echo);
}
END_TEST

/* Listeners --------------------------------------------------------------------------------- */

static int tcp_connect(const char *bound_address)
{
    const char *colon = strrchr(bound_address, ':');
    ck_assert_ptr_nonnull(colon);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/*
 * The far end of a connection sees it end: end of file or a reset. The session is processed
 * meanwhile: an Accepted that crossed our Unlisten is closed only once it has been read.
 */
static void expect_end(struct sl_client *c, int fd)
{
    for (int i = 0; i < 1000; i++) {
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN},
                                {.fd = sl_client_fd(c), .events = sl_client_poll_events(c)}};
        ck_assert_int_ge(poll(pfd, 2, WAIT_MS), 1);
        ck_assert_int_eq(sl_client_process(c), 0);
        if (pfd[0].revents) {
            char byte;
            ssize_t n = recv(fd, &byte, 1, 0);
            ck_assert_msg(n == 0 || (n < 0 && errno == ECONNRESET), "recv gave %zd", n);
            return;
        }
    }
    ck_abort_msg("the connection did not end");
}

START_TEST(listen_accept_and_echo)
{
    struct sl_client *c = attach();
    struct sl_client_listen_options lo = {.address = "127.0.0.1", .window = 65536};
    struct sl_client_listener *l = NULL;
    int rc = sl_client_listen(c, &lo, WAIT_MS, &l);
    ck_assert_msg(rc == 0, "listen: %s (%s)", sl_client_strerror(rc), sl_client_error_message(c));
    const char *bound = sl_client_listener_address(l);
    ck_assert_msg(strncmp(bound, "127.0.0.1:", 10) == 0, "bound to %s", bound);
    struct sl_client_channel *ch = NULL;
    ck_assert_int_eq(sl_client_accept(l, 0, &ch), -EAGAIN);

    int fd = tcp_connect(bound);
    ck_assert_int_eq(sl_client_accept(l, WAIT_MS, &ch), 0);
    const struct sl_client_channel_info *info = sl_client_channel_info(ch);
    ck_assert_uint_ge(info->channel_id, 0x80000000u);
    ck_assert_uint_eq(info->receive_window, 65536);
    ck_assert_int_eq(sl_client_channel_status(ch), 0);
    ck_assert_int_eq(send(fd, "hello", 5, 0), 5);
    char buf[16];
    ck_assert_int_eq(sl_client_channel_read(ch, buf, sizeof(buf), WAIT_MS), 5);
    ck_assert_int_eq(sl_client_channel_write(ch, buf, 5, WAIT_MS), 5);
    ck_assert_int_eq(recv(fd, buf + 5, 5, MSG_WAITALL), 5);
    ck_assert_mem_eq(buf + 5, "hello", 5);
    /* The peer ends its side: the channel reads end of file. */
    shutdown(fd, SHUT_WR);
    ck_assert_int_eq(sl_client_channel_read(ch, buf, sizeof(buf), WAIT_MS), 0);
    sl_client_channel_close(ch, false);
    expect_end(c, fd);
    close(fd);

    /* A connection never taken is closed when the listener goes, whenever it was accepted. */
    int waiting = tcp_connect(bound);
    ck_assert_int_eq(sl_client_ping(c, 0, NULL), 0);
    sl_client_unlisten(l);
    expect_end(c, waiting);
    close(waiting);
    ck_assert_int_eq(sl_client_ping(c, 0, NULL), 0);
    ck_assert_int_eq(sl_client_fault(c), 0);
    finish(c);
}
END_TEST

/* One TCase per behaviour, so CK_RUN_CASE can pick one. */
static TCase *add_case(Suite *suite, const char *name, double timeout_s)
{
    TCase *tc = sl_test_tcase(name, timeout_s);
    tcase_add_checked_fixture(tc, setup, teardown);
    suite_add_tcase(suite, tc);
    return tc;
}

int main(void)
{
    Suite *suite = suite_create("client_lib");
    tcase_add_test(add_case(suite, "bad_arguments", 60), bad_arguments_are_rejected);
    tcase_add_test(add_case(suite, "blocking_echo", 300), blocking_echo_of_64_mib_is_intact);
    tcase_add_test(add_case(suite, "nonblocking_echo", 300), nonblocking_echo_of_64_mib_is_intact);
    tcase_add_test(add_case(suite, "many_channels", 300), many_channels_share_a_session);
    tcase_add_test(add_case(suite, "small_window", 300), small_window_against_a_flood_is_lossless);
    tcase_add_test(add_case(suite, "half_close", 60), half_close_lets_the_echo_finish);
    tcase_add_test(add_case(suite, "close_abort", 60), close_and_abort_end_channels_quietly);
    tcase_add_test(add_case(suite, "open_failures", 60), open_failures_report_the_daemons_code);
    tcase_add_test(add_case(suite, "stats", 60), stats_list_the_sessions_channels);
    /* Served by daemon code written at the same time as this library (UDP, listeners). */
    tcase_add_test(add_case(suite, "udp", 60), udp_echo_keeps_datagrams_whole);
    tcase_add_test(add_case(suite, "listen", 60), listen_accept_and_echo);
    return sl_test_run(suite);
}
