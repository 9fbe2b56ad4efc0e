/* SPDX-License-Identifier: Apache-2.0 */
#include "ctl_proc.h"
#include "daemon_harness.h"
#include "dnsmasq.h"
#include "peer_server.h"
#include "test_harness.h"
#include "tls_certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * sluicectl end to end: the real binary, run as a child with its stdin, stdout and stderr on
 * files and pipes, against the real sluiced and real peers (a loopback echo server, openssl
 * s_server, plain sockets of this test, a UDP echo thread). Transfers are checked by length and
 * FNV-1a hash; failures by exit status and the line on stderr.
 */

extern char **environ;

#define BIG_LEN    ((uint64_t)64 << 20)
#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME  1099511628211ull
/* Generous: a 64 MiB transfer through ASan builds of three processes on two shared cores. */
#define BIG_TIMEOUT_MS 240000
#define TIMEOUT_MS     30000

static struct daemon_proc s_daemon;
static struct tls_certs s_certs;
static char s_dir[64];       /* this run's files */
static char s_big_path[128]; /* BIG_LEN pseudo-random bytes */
static uint64_t s_big_hash;
static char s_hosts[128];

/* Helpers: files and hashes ------------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * FNV_PRIME;
    }
    return h;
}

static void dir_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", s_dir, name);
}

static uint64_t hash_file(const char *path, uint64_t *len)
{
    static uint8_t buf[1 << 16];
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    uint64_t h = FNV_OFFSET;
    *len = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        h = fnv(h, buf, n);
        *len += n;
    }
    fclose(f);
    return h;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/*
 * xorshift64: incompressible and not periodic within 64 MiB, so a misplaced chunk shows. Runs
 * before the suite, so it reports with its return value, not with Check.
 */
static bool make_big_file(void)
{
    static uint64_t chunk[1 << 13];
    FILE *f = fopen(s_big_path, "wb");
    if (!f) {
        return false;
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    s_big_hash = FNV_OFFSET;
    for (uint64_t done = 0; done < BIG_LEN; done += sizeof(chunk)) {
        for (size_t i = 0; i < sizeof(chunk) / sizeof(chunk[0]); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk[i] = x;
        }
        s_big_hash = fnv(s_big_hash, (const uint8_t *)chunk, sizeof(chunk));
        if (fwrite(chunk, 1, sizeof(chunk), f) != sizeof(chunk)) {
            fclose(f);
            return false;
        }
    }
    return fclose(f) == 0;
}

/* Helpers: peers ------------------------------------------------------------------------------ */

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* Reads from a socket until want bytes or its end; returns the count. */
static size_t sock_read(int fd, char *buf, size_t want, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t got = 0;
    while (got < want && left_ms(deadline) > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left_ms(deadline)) <= 0) {
            continue;
        }
        ssize_t n = recv(fd, buf + got, want - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    return got;
}

/* True if the socket reaches its end (not data, not a timeout). */
static bool sock_sees_eof(int fd, int timeout_ms)
{
    char c;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, timeout_ms) == 1 && recv(fd, &c, 1, 0) == 0;
}

/* A port on 127.0.0.1 bound but not listening: connecting to it is refused, reliably. */
static int bind_refusing_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(*fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(*fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

/* `openssl s_server` with the test CA's server certificate, stdout to a file. */
struct tls_server {
    pid_t pid;
    int stdin_fd; /* our end of its stdin: it ends its connection at its stdin's end */
    int port;
};

static bool port_is_listening(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    ck_assert_ptr_nonnull(f);
    char want[32];
    snprintf(want, sizeof(want), "0100007F:%04X", port);
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        char local[64];
        unsigned state;
        if (sscanf(line, " %*d: %63s %*s %x", local, &state) == 2) {
            found = strcmp(local, want) == 0 && state == 0x0A;
        }
    }
    fclose(f);
    return found;
}

static bool tls_server_try(struct tls_server *s, const char *stdout_path)
{
    char accept[32];
    s->port = dnsmasq_unused_port();
    ck_assert_int_gt(s->port, 0);
    snprintf(accept, sizeof(accept), "127.0.0.1:%d", s->port);
    const char *argv[] = {"openssl",          "s_server", "-quiet", "-naccept",          "1",
                          "-accept",          accept,     "-cert",  s_certs.server.cert, "-key",
                          s_certs.server.key, NULL};
    char err_path[128];
    dir_path(err_path, sizeof(err_path), "s_server.err");
    int in[2];
    make_pipe(in);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, stdout_path, O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path, O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    int rc = posix_spawnp(&s->pid, "openssl", &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    ck_assert_msg(rc == 0, "cannot start openssl: %s", strerror(rc));
    s->stdin_fd = in[1];
    for (int i = 0; i < 1000; i++) {
        if (port_is_listening(s->port)) {
            return true;
        }
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            break; /* the port was taken meanwhile */
        }
        poll(NULL, 0, 10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    close_fd(&s->stdin_fd);
    return false;
}

static void tls_server_start(struct tls_server *s, const char *stdout_path)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if (tls_server_try(s, stdout_path)) {
            return;
        }
    }
    ck_abort_msg("openssl s_server did not start");
}

/* Waits for s_server to end its one connection and exit; its exit status, or -1. */
static int tls_server_wait(struct tls_server *s, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int status = 0;
    int result = -1;
    while (result < 0) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        } else if (left_ms(deadline) == 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            break;
        } else {
            poll(NULL, 0, 10);
        }
    }
    close_fd(&s->stdin_fd);
    return result;
}

/* A UDP echo on 127.0.0.1, on a thread. */
struct udp_echo {
    int fd;
    int port;
    pthread_t thread;
    atomic_bool stop;
};

static void *udp_echo_main(void *arg)
{
    struct udp_echo *u = arg;
    char buf[65536];
    while (!atomic_load(&u->stop)) {
        struct pollfd pfd = {.fd = u->fd, .events = POLLIN};
        if (poll(&pfd, 1, 20) <= 0) {
            continue;
        }
        struct sockaddr_in from;
        socklen_t len = sizeof(from);
        ssize_t n = recvfrom(u->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
        if (n >= 0) {
            sendto(u->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
        }
    }
    return NULL;
}

static void udp_echo_start(struct udp_echo *u)
{
    u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(u->fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(u->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(u->fd, (struct sockaddr *)&sin, &len), 0);
    u->port = ntohs(sin.sin_port);
    atomic_store(&u->stop, false);
    ck_assert_int_eq(pthread_create(&u->thread, NULL, udp_echo_main, u), 0);
}

static void udp_echo_stop(struct udp_echo *u)
{
    atomic_store(&u->stop, true);
    pthread_join(u->thread, NULL);
    close(u->fd);
}

/* Fixture -------------------------------------------------------------------------------------- */

static void setup(void)
{
    /* The daemon's resolver reads this hosts file (CARES_HOSTS): real lookups, no network. */
    FILE *f = fopen(s_hosts, "w");
    ck_assert_ptr_nonnull(f);
    fputs("127.0.0.1 echo.test\n", f);
    fclose(f);
    daemon_start(&s_daemon, NULL, s_hosts);
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

static void ck_assert_ok(int status, const struct ctl_proc *p)
{
    ck_assert_msg(status == 0, "sluicectl exited with %d: %s", status, p->err);
}

/* connect -------------------------------------------------------------------------------------- */

START_TEST(connect_echoes_64_mib_checked_by_hash)
{
    struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    char target[64];
    char out_path[128];
    snprintf(target, sizeof(target), "127.0.0.1:%u", peer.port);
    dir_path(out_path, sizeof(out_path), "echo.out");
    const char *args[] = {"connect", target, NULL};
    struct ctl_proc p;
    ck_assert_ok(ctl_run(&p, s_daemon.socket_path, args, s_big_path, out_path, BIG_TIMEOUT_MS), &p);
    ck_assert_str_eq(p.err, "");
    uint64_t len = 0;
    uint64_t h = hash_file(out_path, &len);
    ck_assert_uint_eq(len, BIG_LEN);
    ck_assert_uint_eq(h, s_big_hash);
    unlink(out_path);
    peer_server_stop(&peer);
}
END_TEST

START_TEST(connect_stdin_eof_half_closes_and_all_echoed_bytes_arrive)
{
    struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    char target[64];
    char in_path[128];
    char out_path[128];
    /* By name, through the daemon's resolver (the hosts file says echo.test is 127.0.0.1). */
    snprintf(target, sizeof(target), "echo.test:%u", peer.port);
    dir_path(in_path, sizeof(in_path), "half.in");
    dir_path(out_path, sizeof(out_path), "half.out");
    const char *text = "one line, then the end of stdin\n";
    write_file(in_path, text, strlen(text));
    const char *args[] = {"connect", target, NULL};
    struct ctl_proc p;
    ck_assert_ok(ctl_run(&p, s_daemon.socket_path, args, in_path, out_path, TIMEOUT_MS), &p);
    char got[256];
    read_file(out_path, got, sizeof(got));
    ck_assert_str_eq(got, text);
    /* The echo peer ends its side only after it saw our end of file. */
    ck_assert_int_eq(atomic_load(&peer.connections), 1);
    for (int i = 0; i < 500 && atomic_load(&peer.finished) < 1; i++) {
        poll(NULL, 0, 10);
    }
    ck_assert_int_eq(atomic_load(&peer.finished), 1);
    unlink(in_path);
    unlink(out_path);
    peer_server_stop(&peer);
}
END_TEST

START_TEST(connect_to_a_refused_port_exits_3_with_the_reason)
{
    int fd;
    int port = bind_refusing_port(&fd);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    const char *args[] = {"connect", target, NULL};
    struct ctl_proc p;
    ck_assert_int_eq(ctl_run(&p, s_daemon.socket_path, args, NULL, NULL, TIMEOUT_MS), 3);
    ck_assert_msg(strstr(p.err, "refused") != NULL, "stderr: %s", p.err);
    ck_assert_msg(strchr(p.err, '\n') == p.err + p.err_len - 1, "not one line: %s", p.err);
    close(fd);
}
END_TEST

START_TEST(connect_to_an_unknown_name_exits_3_with_the_reason)
{
    const char *args[] = {"connect", "nowhere.test:80", NULL};
    struct ctl_proc p;
    ck_assert_int_eq(ctl_run(&p, s_daemon.socket_path, args, NULL, NULL, TIMEOUT_MS), 3);
    ck_assert_msg(strstr(p.err, "name not found") != NULL, "stderr: %s", p.err);
}
END_TEST

START_TEST(connect_without_a_daemon_exits_2)
{
    char socket_path[128];
    dir_path(socket_path, sizeof(socket_path), "nobody-listens.sock");
    const char *args[] = {"connect", "127.0.0.1:9", NULL};
    struct ctl_proc p;
    ctl_start(&p, socket_path, args, "/dev/null", "/dev/null");
    ck_assert_int_eq(ctl_wait(&p, TIMEOUT_MS), 2);
    ck_assert_msg(strstr(p.err, "cannot reach sluiced") != NULL, "stderr: %s", p.err);
}
END_TEST

START_TEST(connect_udp_to_an_echo_gets_the_datagram_back)
{
    struct udp_echo u;
    udp_echo_start(&u);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", u.port);
    const char *args[] = {"connect", "--udp", target, NULL};
    struct ctl_proc p;
    ctl_start(&p, s_daemon.socket_path, args, NULL, NULL);
    const char *text = "one datagram\n";
    ck_assert_int_eq(write(p.stdin_fd, text, strlen(text)), (ssize_t)strlen(text));
    char got[64] = "";
    ck_assert_uint_eq(ctl_read_stdout(&p, got, strlen(text), TIMEOUT_MS), strlen(text));
    ck_assert_str_eq(got, text);
    close_fd(&p.stdin_fd);
    ck_assert_ok(ctl_wait(&p, TIMEOUT_MS), &p);
    udp_echo_stop(&u);
}
END_TEST

START_TEST(connect_reset_after_open_exits_3_with_the_reason)
{
    int lfd;
    int port = bind_refusing_port(&lfd);
    ck_assert_int_eq(listen(lfd, 1), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    const char *args[] = {"connect", target, NULL};
    struct ctl_proc p;
    ctl_start(&p, s_daemon.socket_path, args, NULL, NULL);
    int fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(p.stdin_fd, "hello\n", 6), 6);
    char got[8];
    ck_assert_uint_eq(sock_read(fd, got, 6, TIMEOUT_MS), 6);
    /* Linger 0: close sends RST instead of FIN. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(fd);
    ck_assert_int_eq(ctl_wait(&p, TIMEOUT_MS), 3);
    ck_assert_msg(strstr(p.err, "reset") != NULL, "stderr: %s", p.err);
    close(lfd);
}
END_TEST

START_TEST(connect_and_listen_over_ipv6_in_brackets)
{
    char in_path[128];
    dir_path(in_path, sizeof(in_path), "v6.in");
    write_file(in_path, "over v6\n", 8);
    const char *listen_args[] = {"listen", "--once", "[::1]:0", NULL};
    struct ctl_proc l;
    int port = ctl_start_listener(&l, s_daemon.socket_path, listen_args);
    ck_assert_msg(strstr(l.err, "listening on [::1]:") != NULL, "stderr: %s", l.err);
    char target[64];
    snprintf(target, sizeof(target), "[::1]:%d", port);
    const char *args[] = {"connect", target, NULL};
    struct ctl_proc p;
    ctl_start(&p, s_daemon.socket_path, args, in_path, "/dev/null");
    char got[16] = "";
    ck_assert_uint_eq(ctl_read_stdout(&l, got, 8, TIMEOUT_MS), 8);
    ck_assert_str_eq(got, "over v6\n");
    close_fd(&l.stdin_fd); /* the listener's end too: both directions are over */
    ck_assert_ok(ctl_wait(&p, TIMEOUT_MS), &p);
    ck_assert_ok(ctl_wait(&l, TIMEOUT_MS), &l);
    unlink(in_path);
}
END_TEST

/* TLS ------------------------------------------------------------------------------------------ */

START_TEST(connect_tls_sends_64_mib_to_s_server)
{
    char server_out[128];
    dir_path(server_out, sizeof(server_out), "s_server.out");
    struct tls_server s;
    tls_server_start(&s, server_out);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    const char *args[] = {"connect",  "--tls",         "--sni", "localhost",
                          "--cafile", s_certs.ca_cert, target,  NULL};
    struct ctl_proc p;
    ck_assert_ok(ctl_run(&p, s_daemon.socket_path, args, s_big_path, NULL, BIG_TIMEOUT_MS), &p);
    ck_assert_str_eq(p.err, "");
    ck_assert_int_eq(tls_server_wait(&s, TIMEOUT_MS), 0);
    uint64_t len = 0;
    uint64_t h = hash_file(server_out, &len);
    ck_assert_uint_eq(len, BIG_LEN);
    ck_assert_uint_eq(h, s_big_hash);
    unlink(server_out);
}
END_TEST

/*
 * Feeds s_server's stdin from the big file and hashes sluicectl's stdout, in one loop, until
 * all of it came. s_server's stdin stays open: at its end s_server would close at once.
 */
static uint64_t pump_server_to_ctl(struct tls_server *s, struct ctl_proc *p, uint64_t *got)
{
    static uint8_t buf[1 << 16];
    int big = open(s_big_path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(big, 0);
    ck_assert_int_eq(fcntl(s->stdin_fd, F_SETFL, O_NONBLOCK), 0);
    uint64_t fed = 0;
    uint64_t h = FNV_OFFSET;
    int64_t deadline = now_ms() + BIG_TIMEOUT_MS;
    while (*got < BIG_LEN && left_ms(deadline) > 0) {
        struct pollfd fds[2] = {
            {.fd = fed < BIG_LEN ? s->stdin_fd : -1, .events = POLLOUT},
            {.fd = p->stdout_fd, .events = POLLIN},
        };
        poll(fds, 2, 1000);
        if (fds[0].revents & POLLOUT) {
            ssize_t n = pread(big, buf, 16384, (off_t)fed);
            ck_assert_int_gt(n, 0);
            ssize_t w = write(s->stdin_fd, buf, (size_t)n);
            fed += w > 0 ? (uint64_t)w : 0;
        }
        if (fds[1].revents) {
            ssize_t n = read(p->stdout_fd, buf, sizeof(buf));
            ck_assert_msg(n > 0, "sluicectl's stdout ended after %llu bytes: %s",
                          (unsigned long long)*got, p->err);
            h = fnv(h, buf, (size_t)n);
            *got += (uint64_t)n;
        }
        ctl_poll_stderr(p, 0);
    }
    close(big);
    return h;
}

/* Waits until the file holds text (s_server's stdout, which it writes as it reads). */
static bool file_contains(const char *path, const char *text, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    char buf[256];
    for (;;) {
        read_file(path, buf, sizeof(buf));
        if (strstr(buf, text)) {
            return true;
        }
        if (left_ms(deadline) == 0) {
            return false;
        }
        poll(NULL, 0, 10);
    }
}

START_TEST(connect_tls_receives_64_mib_from_s_server)
{
    char server_out[128];
    dir_path(server_out, sizeof(server_out), "s_server.out");
    struct tls_server s;
    tls_server_start(&s, server_out);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    const char *args[] = {"connect", "--tls", "--cafile", s_certs.ca_cert, target, NULL};
    struct ctl_proc p;
    ctl_start(&p, s_daemon.socket_path, args, NULL, NULL);
    /*
     * s_server gets its data only once it has read ours, so after the whole handshake. With
     * data already on its stdin it sends it before the client's Finished (0.5-RTT data), and
     * then the daemon's Finished sometimes never left (s_server blocked reading it, the
     * daemon had sent the ClientHello only): a daemon TLS bug reported separately, kept out
     * of this test of sluicectl.
     */
    ck_assert_int_eq(write(p.stdin_fd, "ready\n", 6), 6);
    ck_assert_msg(file_contains(server_out, "ready\n", TIMEOUT_MS), "s_server got nothing");
    uint64_t got = 0;
    uint64_t h = pump_server_to_ctl(&s, &p, &got);
    ck_assert_uint_eq(got, BIG_LEN);
    ck_assert_uint_eq(h, s_big_hash);
    /* Our end: Shutdown, close_notify; s_server answers with its own and exits. */
    close_fd(&p.stdin_fd);
    char extra;
    ck_assert_uint_eq(ctl_read_stdout(&p, &extra, 1, TIMEOUT_MS), 0);
    ck_assert_ok(ctl_wait(&p, TIMEOUT_MS), &p);
    ck_assert_int_eq(tls_server_wait(&s, TIMEOUT_MS), 0);
    unlink(server_out);
}
END_TEST

START_TEST(connect_tls_unknown_ca_exits_3_and_insecure_succeeds)
{
    char server_out[128];
    dir_path(server_out, sizeof(server_out), "s_server.out");
    struct tls_server s;
    tls_server_start(&s, server_out);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    /* The test CA is in no system store. */
    const char *args[] = {"connect", "--tls", "--sni", "localhost", target, NULL};
    struct ctl_proc p;
    ck_assert_int_eq(ctl_run(&p, s_daemon.socket_path, args, NULL, NULL, TIMEOUT_MS), 3);
    ck_assert_msg(strstr(p.err, "unknown CA") != NULL, "stderr: %s", p.err);
    tls_server_wait(&s, TIMEOUT_MS); /* -naccept 1: the failed handshake was its connection */

    tls_server_start(&s, server_out);
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    char in_path[128];
    dir_path(in_path, sizeof(in_path), "insecure.in");
    write_file(in_path, "not verified\n", 13);
    const char *insecure[] = {"connect", "--tls", "--insecure", target, NULL};
    ck_assert_ok(ctl_run(&p, s_daemon.socket_path, insecure, in_path, NULL, TIMEOUT_MS), &p);
    ck_assert_int_eq(tls_server_wait(&s, TIMEOUT_MS), 0);
    char got[64];
    read_file(server_out, got, sizeof(got));
    ck_assert_str_eq(got, "not verified\n");
    unlink(in_path);
    unlink(server_out);
}
END_TEST

/* listen --------------------------------------------------------------------------------------- */

START_TEST(listen_once_bridges_one_connection_both_ways)
{
    const char *args[] = {"listen", "--once", "127.0.0.1:0", NULL};
    struct ctl_proc p;
    int port = ctl_start_listener(&p, s_daemon.socket_path, args);
    ck_assert_msg(strstr(p.err, "listening on 127.0.0.1:") != NULL, "stderr: %s", p.err);
    int fd = tcp_connect(port);

    const char *up = "from the connection\n";
    ck_assert_int_eq(send(fd, up, strlen(up), 0), (ssize_t)strlen(up));
    char got[64] = "";
    ck_assert_uint_eq(ctl_read_stdout(&p, got, strlen(up), TIMEOUT_MS), strlen(up));
    ck_assert_str_eq(got, up);

    const char *down = "from stdin\n";
    ck_assert_int_eq(write(p.stdin_fd, down, strlen(down)), (ssize_t)strlen(down));
    memset(got, 0, sizeof(got));
    ck_assert_uint_eq(sock_read(fd, got, strlen(down), TIMEOUT_MS), strlen(down));
    ck_assert_str_eq(got, down);

    /* Both ends: stdin's end reaches the connection, the connection's end ends stdout. */
    close_fd(&p.stdin_fd);
    ck_assert(sock_sees_eof(fd, TIMEOUT_MS));
    shutdown(fd, SHUT_WR);
    ck_assert_uint_eq(ctl_read_stdout(&p, got, 1, TIMEOUT_MS), 0);
    ck_assert_ok(ctl_wait(&p, TIMEOUT_MS), &p);
    close(fd);
}
END_TEST

START_TEST(listen_with_a_command_serves_two_connections_at_once)
{
    const char *args[] = {"listen", "127.0.0.1:0", "--", "cat", NULL};
    struct ctl_proc p;
    int port = ctl_start_listener(&p, s_daemon.socket_path, args);
    int a = tcp_connect(port);
    int b = tcp_connect(port);
    /* Interleaved, so each cat must be running while the other's connection is open. */
    ck_assert_int_eq(send(a, "first a\n", 8, 0), 8);
    ck_assert_int_eq(send(b, "first b\n", 8, 0), 8);
    char got[64] = "";
    ck_assert_uint_eq(sock_read(b, got, 8, TIMEOUT_MS), 8);
    ck_assert_str_eq(got, "first b\n");
    memset(got, 0, sizeof(got));
    ctl_poll_stderr(&p, 0);
    ck_assert_msg(sock_read(a, got, 8, TIMEOUT_MS) == 8, "got '%s'; stderr: %s", got, p.err);
    ck_assert_str_eq(got, "first a\n");
    ck_assert_int_eq(send(a, "then a\n", 7, 0), 7);
    shutdown(a, SHUT_WR);
    memset(got, 0, sizeof(got));
    ck_assert_uint_eq(sock_read(a, got, 7, TIMEOUT_MS), 7);
    ck_assert_str_eq(got, "then a\n");
    ck_assert(sock_sees_eof(a, TIMEOUT_MS)); /* cat saw its end of file and exited */
    ck_assert_int_eq(send(b, "then b\n", 7, 0), 7);
    memset(got, 0, sizeof(got));
    ck_assert_uint_eq(sock_read(b, got, 7, TIMEOUT_MS), 7);
    ck_assert_str_eq(got, "then b\n");
    ck_assert_msg(strstr(p.err, "connection from 127.0.0.1:") != NULL, "stderr: %s", p.err);

    /* SIGTERM with b still open: its cat is stopped, and the command ends with 0. */
    kill(p.pid, SIGTERM);
    ck_assert_ok(ctl_wait(&p, TIMEOUT_MS), &p);
    close(a);
    close(b);
}
END_TEST

/* stats ---------------------------------------------------------------------------------------- */

static uint64_t json_number(const char *json, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof(pattern), "\"%s\":", key);
    const char *at = strstr(json, pattern);
    ck_assert_msg(at != NULL, "no %s in %s", key, json);
    char *end = NULL;
    unsigned long long v = strtoull(at + strlen(pattern), &end, 10);
    ck_assert_msg(end != at + strlen(pattern), "%s is not a number in %s", key, json);
    return v;
}

START_TEST(stats_json_and_table_show_the_daemon_totals)
{
    /* A listener in another session, so the totals are not all zero. */
    const char *listen[] = {"listen", "127.0.0.1:0", "--", "cat", NULL};
    struct ctl_proc l;
    ctl_start_listener(&l, s_daemon.socket_path, listen);

    char out_path[128];
    dir_path(out_path, sizeof(out_path), "stats.out");
    const char *json_args[] = {"stats", "--json", NULL};
    struct ctl_proc p;
    ck_assert_ok(ctl_run(&p, s_daemon.socket_path, json_args, NULL, out_path, TIMEOUT_MS), &p);
    char json[4096];
    size_t n = read_file(out_path, json, sizeof(json));
    ck_assert_msg(n > 2 && json[0] == '{' && strcmp(json + n - 2, "}\n") == 0, "not one object: %s",
                  json);
    ck_assert_ptr_eq(strchr(json, '\n'), json + n - 1);
    ck_assert_uint_eq(json_number(json, "sessions"), 2);
    ck_assert_uint_eq(json_number(json, "listeners"), 1);
    ck_assert_uint_eq(json_number(json, "channels"), 0);
    (void)json_number(json, "bytes_in");
    (void)json_number(json, "bytes_out");
    (void)json_number(json, "uptime_s");
    ck_assert_ptr_nonnull(strstr(json, "\"session_channels\":[]"));

    const char *table_args[] = {"stats", NULL};
    ck_assert_ok(ctl_run(&p, s_daemon.socket_path, table_args, NULL, out_path, TIMEOUT_MS), &p);
    char table[4096];
    read_file(out_path, table, sizeof(table));
    ck_assert_msg(strstr(table, "sessions   2\n") != NULL, "table: %s", table);
    ck_assert_msg(strstr(table, "listeners  1\n") != NULL, "table: %s", table);
    ck_assert_msg(strstr(table, "bytes in") != NULL, "table: %s", table);
    unlink(out_path);

    kill(l.pid, SIGTERM);
    ck_assert_ok(ctl_wait(&l, TIMEOUT_MS), &l);
}
END_TEST

/* Usage ---------------------------------------------------------------------------------------- */

START_TEST(usage_errors_exit_1_without_a_daemon)
{
    /* No daemon listens on this path: a usage error must be found before connecting. */
    char socket_path[128];
    dir_path(socket_path, sizeof(socket_path), "nobody-listens.sock");
    const char *const cases[][8] = {
        {"connect", NULL},
        {"connect", "127.0.0.1", NULL},
        {"connect", "127.0.0.1:0", NULL},
        {"connect", "127.0.0.1:70000", NULL},
        {"connect", "::1:80", NULL},
        {"connect", "[::1:80", NULL},
        {"connect", "--sni", "x", "127.0.0.1:1", NULL},
        {"connect", "--tls", "--udp", "127.0.0.1:1", NULL},
        {"connect", "--bogus", "127.0.0.1:1", NULL},
        {"connect", "a:1", "b:2", NULL},
        {"listen", NULL},
        {"listen", "127.0.0.1:0", NULL},
        {"listen", "--once", "0", "--", "cat", NULL},
        {"listen", "0", "--", NULL},
        {"stats", "--xml", NULL},
        {"no-such-command", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctl_proc p;
        ctl_start(&p, socket_path, cases[i], "/dev/null", "/dev/null");
        int status = ctl_wait(&p, TIMEOUT_MS);
        ck_assert_msg(status == 1, "case %zu (%s %s) exited %d: %s", i, cases[i][0],
                      cases[i][1] ? cases[i][1] : "", status, p.err);
        ck_assert_msg(strstr(p.err, "sluicectl: ") == p.err, "case %zu: %s", i, p.err);
    }
}
END_TEST

int main(void)
{
    snprintf(s_dir, sizeof(s_dir), "/tmp/sluicectl-test-XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    dir_path(s_big_path, sizeof(s_big_path), "big");
    dir_path(s_hosts, sizeof(s_hosts), "hosts");
    char why[256];
    if (!tls_certs_make(&s_certs, why, sizeof(why))) {
        fprintf(stderr, "cannot make test certificates: %s\n", why);
        return 1;
    }
    if (!make_big_file()) {
        perror(s_big_path);
        tls_certs_remove(&s_certs);
        return 1;
    }

    Suite *suite = suite_create("sluicectl");
    TCase *connect = sl_test_tcase("connect", 300);
    tcase_add_checked_fixture(connect, setup, teardown);
    tcase_add_test(connect, connect_echoes_64_mib_checked_by_hash);
    tcase_add_test(connect, connect_stdin_eof_half_closes_and_all_echoed_bytes_arrive);
    tcase_add_test(connect, connect_to_a_refused_port_exits_3_with_the_reason);
    tcase_add_test(connect, connect_to_an_unknown_name_exits_3_with_the_reason);
    tcase_add_test(connect, connect_without_a_daemon_exits_2);
    tcase_add_test(connect, connect_udp_to_an_echo_gets_the_datagram_back);
    tcase_add_test(connect, connect_reset_after_open_exits_3_with_the_reason);
    tcase_add_test(connect, connect_and_listen_over_ipv6_in_brackets);
    suite_add_tcase(suite, connect);

    TCase *tls = sl_test_tcase("tls", 300);
    tcase_add_checked_fixture(tls, setup, teardown);
    tcase_add_test(tls, connect_tls_sends_64_mib_to_s_server);
    tcase_add_test(tls, connect_tls_receives_64_mib_from_s_server);
    tcase_add_test(tls, connect_tls_unknown_ca_exits_3_and_insecure_succeeds);
    suite_add_tcase(suite, tls);

    TCase *listen = sl_test_tcase("listen", 120);
    tcase_add_checked_fixture(listen, setup, teardown);
    tcase_add_test(listen, listen_once_bridges_one_connection_both_ways);
    tcase_add_test(listen, listen_with_a_command_serves_two_connections_at_once);
    suite_add_tcase(suite, listen);

    TCase *stats = sl_test_tcase("stats", 60);
    tcase_add_checked_fixture(stats, setup, teardown);
    tcase_add_test(stats, stats_json_and_table_show_the_daemon_totals);
    suite_add_tcase(suite, stats);

    TCase *usage = sl_test_tcase("usage", 60);
    tcase_add_test(usage, usage_errors_exit_1_without_a_daemon);
    suite_add_tcase(suite, usage);

    int rc = sl_test_run(suite);
    tls_certs_remove(&s_certs);
    unlink(s_big_path);
    unlink(s_hosts);
    char err_path[128];
    dir_path(err_path, sizeof(err_path), "s_server.err");
    unlink(err_path);
    rmdir(s_dir);
    return rc;
}
