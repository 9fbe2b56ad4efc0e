/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon_harness.h"
#include "test_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * sluiced sessions end to end, against the real daemon: the handshake, requests, every kind of
 * bad input (each ends only its own session), floods, vanishing clients, and a graceful stop.
 */

static struct daemon_proc s_daemon;
static char s_hosts[128];

static void setup(void)
{
    /* The daemon's resolver reads this hosts file (CARES_HOSTS): real lookups, no network. */
    snprintf(s_hosts, sizeof(s_hosts), "/tmp/sluiced-hosts-%d", (int)getpid());
    FILE *f = fopen(s_hosts, "w");
    ck_assert_ptr_nonnull(f);
    fputs("192.0.2.7 svc.test\n2001:db8::7 svc.test\n", f);
    fclose(f);
    const char *args[] = {"--drain-ms", "300", NULL};
    daemon_start(&s_daemon, args, s_hosts);
}

static void teardown(void)
{
    bool running = s_daemon.pid > 0;
    int status = daemon_stop(&s_daemon, 10000); /* also removes its directory */
    unlink(s_hosts);
    if (running) {
        ck_assert_msg(status == 0, "sluiced exited with %d", status);
    }
}

static sl_frame_t frame_of(Sluice__V1__Frame__BodyCase which, void *body)
{
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = which;
    f.ping = body; /* a union: any member */
    return f;
}

START_TEST(handshake_welcome_and_ping)
{
    struct raw_client c;
    uint64_t id = raw_attach(&c, &s_daemon, "test");
    ck_assert_uint_gt(id, 0);
    ck_assert_uint_eq(c.max_frame, SL_FRAME_DEFAULT_MAX);
    for (uint64_t i = 1; i <= 10; i++) {
        raw_ping(&c, i * 1000003);
    }
    struct raw_client other;
    ck_assert_uint_ne(raw_attach(&other, &s_daemon, "other"), id);
    raw_close(&other);
    raw_close(&c);
}
END_TEST

START_TEST(resolve_goes_through_the_daemons_resolver)
{
    struct raw_client c;
    raw_attach(&c, &s_daemon, "test");
    Sluice__V1__Resolve r;
    sluice__v1__resolve__init(&r);
    r.request_id = 77;
    r.host = "svc.test";
    sl_frame_t f = frame_of(SLUICE__V1__FRAME__BODY_RESOLVE, &r);
    raw_send(&c, &f);
    sl_frame_t *resolved = raw_expect(&c, SLUICE__V1__FRAME__BODY_RESOLVED);
    ck_assert_uint_eq(resolved->resolved->request_id, 77);
    ck_assert_int_eq(resolved->resolved->status->code, SLUICE__V1__ERROR_CODE__ERROR_NONE);
    ck_assert_uint_eq(resolved->resolved->n_addresses, 2);
    bool v4 = false, v6 = false;
    for (size_t i = 0; i < 2; i++) {
        v4 |= strcmp(resolved->resolved->addresses[i]->address, "192.0.2.7") == 0;
        v6 |= strcmp(resolved->resolved->addresses[i]->address, "2001:db8::7") == 0;
    }
    ck_assert(v4 && v6);
    sl_frame_free(resolved);
    r.request_id = 78;
    r.host = "bad..name";
    raw_send(&c, &f);
    resolved = raw_expect(&c, SLUICE__V1__FRAME__BODY_RESOLVED);
    ck_assert_uint_eq(resolved->resolved->request_id, 78);
    ck_assert_int_eq(resolved->resolved->status->code,
                     SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT);
    sl_frame_free(resolved);
    raw_close(&c);
}
END_TEST

/* A bystander session that must not notice anything. */
static void check_bystander(struct raw_client *bystander)
{
    raw_ping(bystander, 4242);
}

START_TEST(handshake_faults_end_only_that_session)
{
    struct raw_client bystander;
    raw_attach(&bystander, &s_daemon, "bystander");

    struct raw_client c; /* a Ping before Hello */
    raw_connect(&c, &s_daemon);
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_SERVER_HELLO));
    Sluice__V1__Ping ping;
    sluice__v1__ping__init(&ping);
    sl_frame_t f = frame_of(SLUICE__V1__FRAME__BODY_PING, &ping);
    raw_send(&c, &f);
    raw_expect_fault(&c, SLUICE__V1__ERROR_CODE__ERROR_OUT_OF_ORDER);
    raw_close(&c);

    raw_connect(&c, &s_daemon); /* a version the daemon did not offer */
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_SERVER_HELLO));
    Sluice__V1__Hello hello;
    sluice__v1__hello__init(&hello);
    hello.version = 9;
    f = frame_of(SLUICE__V1__FRAME__BODY_HELLO, &hello);
    raw_send(&c, &f);
    raw_expect_fault(&c, SLUICE__V1__ERROR_CODE__ERROR_UNSUPPORTED_VERSION);
    raw_close(&c);

    raw_attach(&c, &s_daemon, "twice"); /* a second Hello */
    hello.version = 1;
    raw_send(&c, &f);
    raw_expect_fault(&c, SLUICE__V1__ERROR_CODE__ERROR_OUT_OF_ORDER);
    raw_close(&c);
    check_bystander(&bystander);
    raw_close(&bystander);
}
END_TEST

START_TEST(malformed_frames_end_only_that_session)
{
    struct raw_client bystander;
    raw_attach(&bystander, &s_daemon, "bystander");
    struct raw_client c;

    raw_attach(&c, &s_daemon, "oversize"); /* known from the 4 length bytes alone */
    const uint8_t huge[] = {0x00, 0x10, 0x00, 0x00};
    raw_send_bytes(&c, huge, sizeof(huge));
    raw_expect_fault(&c, SLUICE__V1__ERROR_CODE__ERROR_FRAME_TOO_LARGE);
    raw_close(&c);

    raw_connect(&c, &s_daemon); /* before the handshake the limit is 64 KiB */
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_SERVER_HELLO));
    const uint8_t big[] = {0x00, 0x01, 0x00, 0x01};
    raw_send_bytes(&c, big, sizeof(big));
    raw_expect_fault(&c, SLUICE__V1__ERROR_CODE__ERROR_FRAME_TOO_LARGE);
    raw_close(&c);

    raw_attach(&c, &s_daemon, "garbage");
    const uint8_t garbage[] = {0x00, 0x00, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff};
    raw_send_bytes(&c, garbage, sizeof(garbage));
    raw_expect_fault(&c, SLUICE__V1__ERROR_CODE__ERROR_FRAME_MALFORMED);
    raw_close(&c);

    raw_attach(&c, &s_daemon, "daemon-frames"); /* a frame only the daemon may send */
    Sluice__V1__Pong pong;
    sluice__v1__pong__init(&pong);
    sl_frame_t f = frame_of(SLUICE__V1__FRAME__BODY_PONG, &pong);
    raw_send(&c, &f);
    raw_expect_fault(&c, SLUICE__V1__ERROR_CODE__ERROR_OUT_OF_ORDER);
    raw_close(&c);
    check_bystander(&bystander);
    raw_close(&bystander);
}
END_TEST

/* A frame for a channel that is not open closes that channel only: the session goes on. */
START_TEST(channel_faults_leave_the_session_running)
{
    struct raw_client c;
    raw_attach(&c, &s_daemon, "test");
    Sluice__V1__Data data;
    sluice__v1__data__init(&data);
    data.channel_id = 5;
    data.payload = (ProtobufCBinaryData){.len = 3, .data = (uint8_t *)(uintptr_t) "abc"};
    sl_frame_t f = frame_of(SLUICE__V1__FRAME__BODY_DATA, &data);
    raw_send(&c, &f);
    sl_frame_t *close = raw_expect(&c, SLUICE__V1__FRAME__BODY_CLOSE);
    ck_assert_uint_eq(close->close->channel_id, 5);
    ck_assert_int_eq(close->close->status->code, SLUICE__V1__ERROR_CODE__ERROR_UNKNOWN_CHANNEL);
    sl_frame_free(close);
    Sluice__V1__Window window;
    sluice__v1__window__init(&window);
    window.channel_id = 6;
    window.increment = 4096;
    f = frame_of(SLUICE__V1__FRAME__BODY_WINDOW, &window);
    raw_send(&c, &f);
    close = raw_expect(&c, SLUICE__V1__FRAME__BODY_CLOSE);
    ck_assert_uint_eq(close->close->channel_id, 6);
    sl_frame_free(close);
    raw_ping(&c, 9);
    raw_close(&c);
}
END_TEST

/* Sends count copies of frame in one write. */
static void send_many(struct raw_client *c, const sl_frame_t *frame, int count)
{
    size_t size = sl_frame_size(frame);
    uint8_t *buf = malloc(size * (size_t)count);
    ck_assert_ptr_nonnull(buf);
    for (int i = 0; i < count; i++) {
        sl_frame_encode(frame, buf + size * (size_t)i);
    }
    raw_send_bytes(c, buf, size * (size_t)count);
    free(buf);
}

/* Reads until Error {FLOOD} and the end of the connection; other frames are skipped. */
static void expect_flood(struct raw_client *c)
{
    for (int i = 0; i < 100000; i++) {
        bool eof;
        sl_frame_t *frame = raw_recv(c, 5000, &eof);
        ck_assert_msg(frame, "no Error before %s", eof ? "EOF" : "timeout");
        if (frame->body_case == SLUICE__V1__FRAME__BODY_ERROR) {
            ck_assert_int_eq(frame->error->status->code, SLUICE__V1__ERROR_CODE__ERROR_FLOOD);
            sl_frame_free(frame);
            ck_assert_ptr_null(raw_recv(c, 5000, &eof));
            ck_assert(eof);
            return;
        }
        sl_frame_free(frame);
    }
    ck_abort_msg("no Error in 100000 frames");
}

START_TEST(floods_end_the_session_and_spare_the_others)
{
    struct raw_client bystander;
    raw_attach(&bystander, &s_daemon, "bystander");
    struct raw_client c;
    raw_attach(&c, &s_daemon, "pinger");
    Sluice__V1__Ping ping;
    sluice__v1__ping__init(&ping);
    sl_frame_t f = frame_of(SLUICE__V1__FRAME__BODY_PING, &ping);
    send_many(&c, &f, 5000); /* the burst is 1000 */
    expect_flood(&c);
    raw_close(&c);

    raw_attach(&c, &s_daemon, "empty");
    const uint8_t empty[4] = {0};
    uint8_t *many = calloc(5000, sizeof(empty));
    raw_send_bytes(&c, many, 5000 * sizeof(empty));
    free(many);
    expect_flood(&c);
    raw_close(&c);

    raw_attach(&c, &s_daemon, "churn"); /* Close after Close for channels never opened */
    Sluice__V1__Close close;
    sluice__v1__close__init(&close);
    close.channel_id = 3;
    f = frame_of(SLUICE__V1__FRAME__BODY_CLOSE, &close);
    send_many(&c, &f, 20000); /* the burst is 10,000 */
    expect_flood(&c);
    raw_close(&c);
    check_bystander(&bystander);
    raw_close(&bystander);
}
END_TEST

static bool stats_sessions_is(struct raw_client *c, uint64_t want)
{
    Sluice__V1__StatsRequest req;
    sluice__v1__stats_request__init(&req);
    req.request_id = 1;
    sl_frame_t f = frame_of(SLUICE__V1__FRAME__BODY_STATS_REQUEST, &req);
    raw_send(c, &f);
    sl_frame_t *stats = raw_expect(c, SLUICE__V1__FRAME__BODY_STATS);
    bool same = stats->stats->sessions == want;
    sl_frame_free(stats);
    return same;
}

/* Clients that vanish at any point leave nothing behind in the daemon. */
START_TEST(vanishing_clients_leave_nothing_behind)
{
    struct raw_client watcher;
    raw_attach(&watcher, &s_daemon, "watcher");
    /* The harness's probes for "is it listening" are sessions too: let them go first. */
    ck_assert(raw_wait_sessions(&watcher, 1));
    int fds_before = daemon_fd_count(&s_daemon);
    for (int round = 0; round < 50; round++) {
        struct raw_client c;
        if (round % 3 == 0) {
            raw_connect(&c, &s_daemon); /* gone before its Hello */
        } else {
            raw_attach(&c, &s_daemon, "vanishing");
            if (round % 3 == 2) {
                const uint8_t partial[] = {0x00, 0x00, 0x01, 0x00, 0x82, 0x02};
                raw_send_bytes(&c, partial, sizeof(partial)); /* gone mid-frame */
            }
        }
        raw_close(&c);
    }
    bool settled = false;
    for (int i = 0; i < 200 && !settled; i++) {
        settled = stats_sessions_is(&watcher, 1) && daemon_fd_count(&s_daemon) == fds_before;
        if (!settled) {
            struct timespec ts = {.tv_nsec = 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    ck_assert_msg(settled, "daemon fds %d (before %d)", daemon_fd_count(&s_daemon), fds_before);
    raw_close(&watcher);
}
END_TEST

/* SIGTERM: GoAway to every session, then Error SHUTTING_DOWN, exit 0, socket gone. */
START_TEST(sigterm_sends_go_away_and_exits_cleanly)
{
    struct raw_client c;
    raw_attach(&c, &s_daemon, "test");
    kill(s_daemon.pid, SIGTERM);
    sl_frame_t *go_away = raw_expect(&c, SLUICE__V1__FRAME__BODY_GO_AWAY);
    ck_assert_uint_eq(go_away->go_away->deadline_ms, 300);
    sl_frame_free(go_away);
    /* No channels to drain: the session ends at once, not at the deadline. */
    raw_expect_fault(&c, SLUICE__V1__ERROR_CODE__ERROR_SHUTTING_DOWN);
    raw_close(&c);
    int status;
    ck_assert_int_eq(waitpid(s_daemon.pid, &status, 0), s_daemon.pid);
    s_daemon.pid = 0;
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct stat st;
    ck_assert_int_ne(stat(s_daemon.socket_path, &st), 0); /* removed */
}
END_TEST

/* A second daemon on a socket in use refuses to start; a stale socket is taken over. */
START_TEST(socket_in_use_is_refused_and_a_stale_one_taken_over)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDERR_FILENO);
        execl(SLUICED_PATH, SLUICED_PATH, "--foreground", "--socket", s_daemon.socket_path,
              (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);

    kill(s_daemon.pid, SIGKILL); /* leaves its socket file behind */
    waitpid(s_daemon.pid, &status, 0);
    s_daemon.pid = 0;
    struct daemon_proc again;
    const char *args[] = {"--socket", s_daemon.socket_path, NULL};
    daemon_start(&again, args, NULL);
    struct raw_client c;
    raw_connect(&c, &again);
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_SERVER_HELLO));
    raw_close(&c);
    ck_assert_int_eq(daemon_stop(&again, 10000), 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("daemon_session");
    TCase *tc = sl_test_tcase("session", 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, handshake_welcome_and_ping);
    tcase_add_test(tc, resolve_goes_through_the_daemons_resolver);
    tcase_add_test(tc, handshake_faults_end_only_that_session);
    tcase_add_test(tc, malformed_frames_end_only_that_session);
    tcase_add_test(tc, channel_faults_leave_the_session_running);
    tcase_add_test(tc, floods_end_the_session_and_spare_the_others);
    tcase_add_test(tc, vanishing_clients_leave_nothing_behind);
    tcase_add_test(tc, sigterm_sends_go_away_and_exits_cleanly);
    tcase_add_test(tc, socket_in_use_is_refused_and_a_stale_one_taken_over);
    suite_add_tcase(suite, tc);
    return sl_test_run(suite);
}
