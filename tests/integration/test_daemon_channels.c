/* SPDX-License-Identifier: Apache-2.0 */
#include "chan_client.h"
#include "daemon_harness.h"
#include "peer_server.h"
#include "test_handler.h"
#include "test_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <signal.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Channels through the real sluiced to a real TCP peer: transfers checked by hash, many
 * channels and sessions at once, half-close, every Open failure, window violations, the
 * back-pressure chain from a client that stops reading to the peer's blocked writes, and a
 * client that vanishes mid-transfer.
 */

#define MIB ((uint64_t)1 << 20)

static struct daemon_proc s_daemon;

static void setup(void)
{
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

static bool all_done(struct chan_client *cc)
{
    for (int i = 0; i < cc->count; i++) {
        struct chan *ch = cc->chans[i];
        if (!ch->failed && !ch->closed) {
            return false;
        }
    }
    return true;
}

static bool all_echoed(struct chan_client *cc)
{
    for (int i = 0; i < cc->count; i++) {
        struct chan *ch = cc->chans[i];
        if (ch->failed || ch->received < ch->to_send) {
            return ch->failed;
        }
    }
    return true;
}

/* Echo of `bytes` on `count` channels of one session, then half-close and the clean end. */
static void echo_through_daemon(int count, uint64_t bytes)
{
    static struct peer_server peer; /* static: teardown may stop it after a failure */
    peer_server_start(&peer, PEER_ECHO, 0);
    struct chan_client cc;
    chan_client_attach(&cc, &s_daemon);
    struct chan chans[16];
    memset(chans, 0, sizeof(chans));
    for (int i = 0; i < count; i++) {
        chans[i].window = 256 * 1024;
        chans[i].to_send = bytes;
        chans[i].shutdown_after_send = true;
        chan_open(&cc, &chans[i], (uint32_t)i + 1, peer.port);
    }
    bool echoed = chan_pump(&cc, all_echoed, 120000);
    for (int i = 0; i < count && !echoed; i++) {
        fprintf(stderr, "channel %d: sent %llu may_send %llu received %llu owed %llu%s\n", i + 1,
                (unsigned long long)chans[i].sent, (unsigned long long)chans[i].may_send,
                (unsigned long long)chans[i].received, (unsigned long long)chans[i].owed,
                chans[i].closed ? " closed" : "");
    }
    ck_assert(echoed);
    ck_assert(chan_pump(&cc, all_done, 20000)); /* the peer ends too: Shutdown, then Close */
    for (int i = 0; i < count; i++) {
        ck_assert_msg(!chans[i].failed, "open failed: %d", chans[i].fail_code);
        ck_assert_uint_eq(chans[i].received, bytes);
        ck_assert_uint_eq(chans[i].recv_hash, chans[i].sent_hash);
        ck_assert(chans[i].peer_shut);
        ck_assert_int_eq(chans[i].close_code, SLUICE__V1__ERROR_CODE__ERROR_NONE);
    }
    chan_client_close(&cc);
    peer_server_stop(&peer);
}

START_TEST(sixty_four_mebibytes_echo_intact)
{
    echo_through_daemon(1, 64 * MIB);
}
END_TEST

START_TEST(many_channels_share_a_session)
{
    echo_through_daemon(8, 4 * MIB + 17);
}
END_TEST

/* Many sessions at once, each with its own channels, pumped in turn from one thread. */
START_TEST(many_sessions_at_once)
{
    enum { SESSIONS = 24, PER_SESSION = 2 };
    static struct peer_server peer; /* static: teardown may stop it after a failure */
    peer_server_start(&peer, PEER_ECHO, 0);
    static struct chan_client cc[SESSIONS];
    static struct chan chans[SESSIONS][PER_SESSION];
    memset(chans, 0, sizeof(chans));
    for (int i = 0; i < SESSIONS; i++) {
        chan_client_attach(&cc[i], &s_daemon);
        for (int j = 0; j < PER_SESSION; j++) {
            chans[i][j].window = 64 * 1024;
            chans[i][j].to_send = 2 * MIB + (uint64_t)i * 1000 + (uint64_t)j;
            chans[i][j].shutdown_after_send = true;
            chan_open(&cc[i], &chans[i][j], (uint32_t)j + 1, peer.port);
        }
    }
    int done = 0;
    for (int round = 0; round < 20000 && done < SESSIONS; round++) {
        done = 0;
        for (int i = 0; i < SESSIONS; i++) {
            done += chan_pump(&cc[i], all_done, 1) ? 1 : 0;
        }
    }
    ck_assert_int_eq(done, SESSIONS);
    for (int i = 0; i < SESSIONS; i++) {
        for (int j = 0; j < PER_SESSION; j++) {
            struct chan *ch = &chans[i][j];
            ck_assert_msg(!ch->failed, "session %d channel %d failed: %d", i, j, ch->fail_code);
            ck_assert_uint_eq(ch->received, ch->to_send);
            ck_assert_uint_eq(ch->recv_hash, ch->sent_hash);
            ck_assert_int_eq(ch->close_code, SLUICE__V1__ERROR_CODE__ERROR_NONE);
        }
        chan_client_close(&cc[i]);
    }
    peer_server_stop(&peer);
}
END_TEST

static bool opens_answered(struct chan_client *cc)
{
    for (int i = 0; i < cc->count; i++) {
        if (!cc->chans[i]->failed && !cc->chans[i]->opened) {
            return false;
        }
    }
    return true;
}

static bool duplicate_refused(struct chan_client *cc)
{
    return cc->duplicate_fail_code != 0;
}

START_TEST(open_failures_have_their_own_codes)
{
    static struct peer_server peer; /* static: teardown may stop it after a failure */
    peer_server_start(&peer, PEER_ECHO, 0);
    int closed_port = (int)peer.port + 1; /* nobody listens there (almost surely) */
    struct chan_client cc;
    chan_client_attach(&cc, &s_daemon);
    struct chan refused = {.window = 65536}, tiny = {.window = 100}, zero_id = {.window = 65536};
    struct chan first = {.window = 65536}, same_id = {.window = 65536};
    chan_open(&cc, &refused, 1, (uint32_t)closed_port);
    chan_open(&cc, &tiny, 2, peer.port);
    chan_open(&cc, &zero_id, 0, peer.port);
    chan_open(&cc, &first, 4, peer.port);
    ck_assert(chan_pump(&cc, opens_answered, 10000));
    ck_assert_int_eq(refused.fail_code, SLUICE__V1__ERROR_CODE__ERROR_REFUSED);
    ck_assert_int_eq(tiny.fail_code, SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(zero_id.fail_code, SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT);
    ck_assert(first.opened);
    /* An Open naming an id in use is refused; the channel holding the id goes on. */
    chan_open(&cc, &same_id, 4, peer.port);
    cc.count--; /* replies for id 4 belong to `first` */
    ck_assert(chan_pump(&cc, duplicate_refused, 10000));
    ck_assert_int_eq(cc.duplicate_fail_code, SLUICE__V1__ERROR_CODE__ERROR_CHANNEL_ID_IN_USE);
    ck_assert(first.opened && !first.failed && !first.closed);
    chan_client_close(&cc);
    peer_server_stop(&peer);
}
END_TEST

static bool bad_closed_and_good_echoed(struct chan_client *cc)
{
    return cc->chans[0]->closed && cc->chans[1]->received == cc->chans[1]->to_send;
}

/*
 * Data beyond the granted window closes that channel only; its sibling goes on. The bad
 * channel's peer never reads, so once the kernel's buffers are full the daemon grants nothing
 * more, and 32 MiB sent regardless must overrun the window.
 */
START_TEST(a_window_violation_closes_only_that_channel)
{
    static struct peer_server stalled, echo;
    peer_server_start(&stalled, PEER_STALL, 0);
    peer_server_start(&echo, PEER_ECHO, 0);
    struct chan_client cc;
    chan_client_attach(&cc, &s_daemon);
    struct chan bad = {.window = 65536}, good = {.window = 65536, .to_send = MIB};
    chan_open(&cc, &bad, 1, stalled.port);
    chan_open(&cc, &good, 2, echo.port);
    ck_assert(chan_pump(&cc, opens_answered, 10000));
    static uint8_t payload[65536];
    for (uint64_t queued = 0; !bad.closed && queued < 32 * MIB;) {
        if (cc.out_len + sizeof(payload) + SL_FRAME_DATA_HEADER_MAX <= cc.out_cap) {
            cc.out_len += sl_frame_data_header(1, sizeof(payload), cc.out + cc.out_len);
            memcpy(cc.out + cc.out_len, payload, sizeof(payload));
            cc.out_len += sizeof(payload);
            queued += sizeof(payload);
        }
        chan_pump(&cc, bad_closed_and_good_echoed, 5);
    }
    bool done = chan_pump(&cc, bad_closed_and_good_echoed, 30000);
    ck_assert_msg(done, "bad: closed %d code %d; good: received %llu of %llu", bad.closed,
                  bad.close_code, (unsigned long long)good.received,
                  (unsigned long long)good.to_send);
    ck_assert_int_eq(bad.close_code, SLUICE__V1__ERROR_CODE__ERROR_WINDOW_EXCEEDED);
    ck_assert(!good.closed);
    ck_assert_uint_eq(good.recv_hash, good.sent_hash);
    chan_client_close(&cc);
    peer_server_stop(&stalled);
    peer_server_stop(&echo);
}
END_TEST

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool got_everything(struct chan_client *cc)
{
    struct chan *ch = cc->chans[0];
    return ch->closed && ch->peer_shut;
}

/*
 * A client that stops returning credit while the peer floods: the daemon reads no more than the
 * window from the network, so its memory does not grow and the peer's writes block; once the
 * client reads again everything arrives, in order.
 */
START_TEST(a_client_that_stops_reading_stops_the_peer)
{
    const uint64_t total = 64 * MIB;
    static struct peer_server peer; /* static: teardown may stop it after a failure */
    peer_server_start(&peer, PEER_FLOOD, total);
    struct chan_client cc;
    chan_client_attach(&cc, &s_daemon);
    /* Our direction ends at once (Shutdown): the channel closes when the flood has arrived. */
    struct chan ch = {.window = 256 * 1024, .hold = true, .shutdown_after_send = true};
    chan_open(&cc, &ch, 1, peer.port);
    ck_assert(chan_pump(&cc, opens_answered, 10000));
    long rss_before = daemon_rss_kib(&s_daemon);
    for (int i = 0; i < 25; i++) { /* 5 s of not reading (the frames we were sent, we take) */
        chan_pump(&cc, all_done, 200);
    }
    uint64_t peer_sent = atomic_load(&peer.bytes_written);
    long rss_during = daemon_rss_kib(&s_daemon);
    ck_assert_uint_eq(ch.received, ch.window); /* exactly the window, not a byte more */
    ck_assert_msg(peer_sent < 16 * MIB, "the peer wrote %llu bytes: nothing stopped it",
                  (unsigned long long)peer_sent);
    ck_assert_msg(rss_during - rss_before < 16 * 1024, "daemon RSS grew %ld KiB",
                  rss_during - rss_before);
    sleep_ms(200);
    ck_assert_uint_eq(atomic_load(&peer.bytes_written), peer_sent); /* blocked, not slowed */
    ch.hold = false;
    ck_assert(chan_pump(&cc, got_everything, 120000));
    ck_assert_uint_eq(ch.received, total);
    /* The flood is test_pattern from offset 0: the hash of the same bytes must match. */
    struct chan expect = {.to_send = total};
    expect.sent_hash = 14695981039346656037ull;
    static uint8_t chunk[65536];
    for (uint64_t off = 0; off < total; off += sizeof(chunk)) {
        for (size_t i = 0; i < sizeof(chunk); i++) {
            chunk[i] = test_pattern((size_t)(off + i));
        }
        for (size_t i = 0; i < sizeof(chunk); i++) {
            expect.sent_hash = (expect.sent_hash ^ chunk[i]) * 1099511628211ull;
        }
    }
    ck_assert_uint_eq(ch.recv_hash, expect.sent_hash);
    chan_client_close(&cc);
    peer_server_stop(&peer);
}
END_TEST

/* A client that vanishes mid-transfer: its channels are aborted, the daemon is back to its fds. */
START_TEST(a_vanishing_client_releases_its_channels)
{
    static struct peer_server peer; /* static: teardown may stop it after a failure */
    peer_server_start(&peer, PEER_FLOOD, 1024 * MIB);
    struct raw_client watcher;
    raw_attach(&watcher, &s_daemon, "watcher");
    ck_assert(raw_wait_sessions(&watcher, 1)); /* the harness's probe sessions are gone */
    int fds_before = daemon_fd_count(&s_daemon);
    struct chan_client cc;
    chan_client_attach(&cc, &s_daemon);
    struct chan chans[4];
    memset(chans, 0, sizeof(chans));
    for (int i = 0; i < 4; i++) {
        chans[i].window = 256 * 1024;
        chan_open(&cc, &chans[i], (uint32_t)i + 1, peer.port);
    }
    ck_assert(chan_pump(&cc, opens_answered, 10000));
    for (int i = 0; i < 5; i++) {
        chan_pump(&cc, all_done, 50);
    }
    chan_client_close(&cc); /* gone, without a word */
    bool settled = false;
    for (int i = 0; i < 500 && !settled; i++) {
        settled = daemon_fd_count(&s_daemon) == fds_before && atomic_load(&peer.finished) == 4;
        if (!settled) {
            sleep_ms(10);
        }
    }
    ck_assert_msg(settled, "daemon fds %d (before %d), peer connections ended %d",
                  daemon_fd_count(&s_daemon), fds_before, atomic_load(&peer.finished));
    raw_ping(&watcher, 5); /* the other session never noticed */
    raw_close(&watcher);
    peer_server_stop(&peer);
}
END_TEST

/* Real client processes killed with SIGKILL mid-transfer, several times over. */
static pid_t spawn_connect(uint32_t port)
{
    char target[32];
    snprintf(target, sizeof(target), "127.0.0.1:%u", port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        int never = open("/dev/zero", O_RDONLY); /* stdin: endless, never EOF */
        dup2(never, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execl(SLUICECTL_PATH, SLUICECTL_PATH, "--socket", s_daemon.socket_path, "connect", target,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

START_TEST(clients_killed_mid_transfer_leave_nothing_behind)
{
    /* This daemon runs without ASan's quarantine, so its RSS shows what it holds. */
    daemon_stop(&s_daemon, 10000);
    daemon_start_without_quarantine(&s_daemon, NULL, NULL);
    static struct peer_server peer; /* static: teardown may stop it after a failure */
    peer_server_start(&peer, PEER_FLOOD, 1024 * MIB);
    struct raw_client watcher;
    raw_attach(&watcher, &s_daemon, "watcher");
    ck_assert(raw_wait_sessions(&watcher, 1));
    int fds_before = daemon_fd_count(&s_daemon);
    long rss_after_first = 0;
    enum { CYCLES = 4, CLIENTS = 3 };
    for (int cycle = 0; cycle < CYCLES; cycle++) {
        pid_t pids[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            pids[i] = spawn_connect(peer.port);
        }
        sleep_ms(400); /* the floods are flowing through the daemon */
        ck_assert_int_ge(atomic_load(&peer.connections), (cycle + 1) * CLIENTS);
        for (int i = 0; i < CLIENTS; i++) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
        bool settled = false;
        for (int i = 0; i < 500 && !settled; i++) {
            settled = daemon_fd_count(&s_daemon) == fds_before &&
                      atomic_load(&peer.finished) == (cycle + 1) * CLIENTS;
            if (!settled) {
                sleep_ms(10);
            }
        }
        ck_assert_msg(settled, "cycle %d: daemon fds %d (before %d), peer connections ended %d",
                      cycle, daemon_fd_count(&s_daemon), fds_before, atomic_load(&peer.finished));
        raw_ping(&watcher, (uint64_t)cycle + 1); /* the other session never noticed */
        if (cycle == 0) {
            rss_after_first = daemon_rss_kib(&s_daemon);
        }
    }
    long grown = daemon_rss_kib(&s_daemon) - rss_after_first;
    ck_assert_msg(grown < 4 * 1024, "daemon RSS grew %ld KiB over %d more cycles", grown,
                  CYCLES - 1);
    raw_close(&watcher);
    peer_server_stop(&peer);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("daemon_channels");
    TCase *tc = sl_test_tcase("channels", 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sixty_four_mebibytes_echo_intact);
    tcase_add_test(tc, many_channels_share_a_session);
    tcase_add_test(tc, many_sessions_at_once);
    tcase_add_test(tc, open_failures_have_their_own_codes);
    tcase_add_test(tc, a_window_violation_closes_only_that_channel);
    tcase_add_test(tc, a_client_that_stops_reading_stops_the_peer);
    tcase_add_test(tc, a_vanishing_client_releases_its_channels);
    tcase_add_test(tc, clients_killed_mid_transfer_leave_nothing_behind);
    suite_add_tcase(suite, tc);
    return sl_test_run(suite);
}
