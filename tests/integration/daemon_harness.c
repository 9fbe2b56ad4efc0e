/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon_harness.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool try_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* The daemon's environment: ours, plus CARES_HOSTS when a hosts file is given. */
static char **daemon_env(const char *env_hosts, char *hosts_var, size_t hosts_len)
{
    size_t n = 0;
    while (environ[n]) {
        n++;
    }
    char **env = calloc(n + 2, sizeof(char *));
    ck_assert_ptr_nonnull(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "CARES_HOSTS=", 12) != 0) {
            env[k++] = environ[i];
        }
    }
    if (env_hosts) {
        snprintf(hosts_var, hosts_len, "CARES_HOSTS=%s", env_hosts);
        env[k++] = hosts_var;
    }
    return env;
}

void daemon_start(struct daemon_proc *d, const char *const *extra_args, const char *env_hosts)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "/tmp/sluiced-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d->dir));
    snprintf(d->socket_path, sizeof(d->socket_path), "%s/sluiced.sock", d->dir);
    snprintf(d->log_path, sizeof(d->log_path), "%s/log", d->dir);
    const char *argv[32] = {SLUICED_PATH,   "--foreground", "--socket",
                            d->socket_path, "--threads",    "2"};
    size_t argc = 6;
    const char *log = getenv("SLUICED_TEST_LOG"); /* e.g. "info,daemon=trace" when debugging */
    if (log && *log) {
        argv[argc++] = "--log-level";
        argv[argc++] = log;
    }
    bool has_config = false;
    for (size_t i = 0; extra_args && extra_args[i]; i++) {
        has_config = has_config || strcmp(extra_args[i], "--config") == 0;
    }
    if (!has_config) { /* never the machine's /etc/sluice/sluiced.conf: the built-in defaults */
        argv[argc++] = "--config";
        argv[argc++] = "/dev/null";
    }
    for (size_t i = 0; extra_args && extra_args[i] && argc < 31; i++) {
        argv[argc++] = extra_args[i];
        if (strcmp(extra_args[i], "--socket") == 0 && extra_args[i + 1]) {
            /* The last --socket wins in sluiced too: wait for that one. */
            snprintf(d->socket_path, sizeof(d->socket_path), "%s", extra_args[i + 1]);
        }
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, d->log_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    char hosts_var[300];
    char **env = daemon_env(env_hosts, hosts_var, sizeof(hosts_var));
    int rc =
        posix_spawn(&d->pid, SLUICED_PATH, &actions, NULL, (char *const *)(uintptr_t)argv, env);
    free(env);
    posix_spawn_file_actions_destroy(&actions);
    ck_assert_msg(rc == 0, "cannot start %s: %s", SLUICED_PATH, strerror(rc));
    for (int i = 0; i < 500 && !try_connect(d->socket_path); i++) {
        sleep_ms(10);
    }
    ck_assert_msg(try_connect(d->socket_path), "sluiced does not listen (log: %s)", d->log_path);
}

void daemon_start_without_quarantine(struct daemon_proc *d, const char *const *extra_args,
                                     const char *env_hosts)
{
    const char *asan = getenv("ASAN_OPTIONS");
    char saved[512], options[600];
    snprintf(saved, sizeof(saved), "%s", asan ? asan : "");
    snprintf(options, sizeof(options), "%s%squarantine_size_mb=0", saved, *saved ? ":" : "");
    setenv("ASAN_OPTIONS", options, 1);
    daemon_start(d, extra_args, env_hosts);
    if (asan) {
        setenv("ASAN_OPTIONS", saved, 1);
    } else {
        unsetenv("ASAN_OPTIONS");
    }
}

int daemon_stop(struct daemon_proc *d, int timeout_ms)
{
    int status = -1;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        for (int waited = 0; waited < timeout_ms; waited += 10) {
            pid_t r = waitpid(d->pid, &status, WNOHANG);
            if (r == d->pid) {
                d->pid = 0;
                break;
            }
            sleep_ms(10);
        }
        if (d->pid > 0) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &status, 0);
            d->pid = 0;
            status = -1;
        } else {
            status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
    }
    if (!getenv("SLUICED_TEST_KEEP_LOG")) {
        unlink(d->log_path);
    }
    unlink(d->socket_path);
    rmdir(d->dir);
    return status;
}

int daemon_fd_count(const struct daemon_proc *d)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)d->pid);
    DIR *dir = opendir(path);
    ck_assert_ptr_nonnull(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(dir);
    return n;
}

long daemon_rss_kib(const struct daemon_proc *d)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    long kib = -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    return kib;
}

/* Raw clients ---------------------------------------------------------------------------- */

void raw_connect(struct raw_client *c, const struct daemon_proc *d)
{
    memset(c, 0, sizeof(*c));
    c->max_frame = SL_FRAME_HANDSHAKE_MAX;
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c->fd, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", d->socket_path);
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    c->cap = 1 << 20;
    c->buf = malloc(c->cap);
    ck_assert_ptr_nonnull(c->buf);
}

void raw_close(struct raw_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

void raw_send_bytes(struct raw_client *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

void raw_send(struct raw_client *c, const sl_frame_t *frame)
{
    size_t size = sl_frame_size(frame);
    uint8_t *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(sl_frame_encode(frame, buf), size);
    raw_send_bytes(c, buf, size);
    free(buf);
}

sl_frame_t *raw_recv(struct raw_client *c, int timeout_ms, bool *eof)
{
    *eof = false;
    for (;;) {
        sl_frame_t *frame = NULL;
        size_t used = 0;
        int rc = sl_frame_decode(c->buf, c->len, SL_FRAME_LIMIT, &frame, &used);
        if (rc == SL_FRAME_OK) {
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return frame;
        }
        ck_assert_msg(rc == SL_FRAME_INCOMPLETE, "the daemon sent a bad frame: %s",
                      sl_frame_result_name(rc));
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (poll(&pfd, 1, timeout_ms) <= 0) {
            return NULL;
        }
        ck_assert_uint_lt(c->len, c->cap);
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n <= 0) {
            *eof = true;
            return NULL;
        }
        c->len += (size_t)n;
    }
}

sl_frame_t *raw_expect(struct raw_client *c, Sluice__V1__Frame__BodyCase body_case)
{
    bool eof;
    sl_frame_t *frame = raw_recv(c, 5000, &eof);
    ck_assert_msg(frame, "expected frame %d, got %s", (int)body_case, eof ? "EOF" : "nothing");
    ck_assert_msg(
        frame->body_case == body_case, "expected frame %d, got %d%s%s", (int)body_case,
        (int)frame->body_case, frame->body_case == SLUICE__V1__FRAME__BODY_ERROR ? ": Error " : "",
        frame->body_case == SLUICE__V1__FRAME__BODY_ERROR ? frame->error->status->message : "");
    return frame;
}

void raw_expect_fault(struct raw_client *c, Sluice__V1__ErrorCode code)
{
    sl_frame_t *frame = raw_expect(c, SLUICE__V1__FRAME__BODY_ERROR);
    ck_assert_int_eq(frame->error->status->code, code);
    sl_frame_free(frame);
    bool eof;
    ck_assert_ptr_null(raw_recv(c, 5000, &eof));
    ck_assert_msg(eof, "the daemon kept the session open after an Error");
}

uint64_t raw_attach(struct raw_client *c, const struct daemon_proc *d, const char *name)
{
    raw_connect(c, d);
    sl_frame_t *hello = raw_expect(c, SLUICE__V1__FRAME__BODY_SERVER_HELLO);
    ck_assert_uint_eq(hello->server_hello->n_versions, 1);
    ck_assert_uint_eq(hello->server_hello->versions[0], 1);
    ck_assert_uint_eq(hello->server_hello->nonce.len, 32);
    sl_frame_free(hello);
    Sluice__V1__Hello h;
    sluice__v1__hello__init(&h);
    h.version = 1;
    h.client_name = (char *)(uintptr_t)name;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_HELLO;
    f.hello = &h;
    raw_send(c, &f);
    sl_frame_t *welcome = raw_expect(c, SLUICE__V1__FRAME__BODY_WELCOME);
    uint64_t id = welcome->welcome->session_id;
    c->max_frame = welcome->welcome->max_frame;
    sl_frame_free(welcome);
    return id;
}

void raw_ping(struct raw_client *c, uint64_t payload)
{
    Sluice__V1__Ping ping;
    sluice__v1__ping__init(&ping);
    ping.payload = payload;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_PING;
    f.ping = &ping;
    raw_send(c, &f);
    sl_frame_t *pong = raw_expect(c, SLUICE__V1__FRAME__BODY_PONG);
    ck_assert_uint_eq(pong->pong->payload, payload);
    sl_frame_free(pong);
}

bool raw_wait_sessions(struct raw_client *c, uint64_t sessions)
{
    for (int i = 0; i < 200; i++) {
        Sluice__V1__StatsRequest req;
        sluice__v1__stats_request__init(&req);
        req.request_id = (uint32_t)i + 1;
        sl_frame_t f;
        sluice__v1__frame__init(&f);
        f.body_case = SLUICE__V1__FRAME__BODY_STATS_REQUEST;
        f.stats_request = &req;
        raw_send(c, &f);
        sl_frame_t *stats = raw_expect(c, SLUICE__V1__FRAME__BODY_STATS);
        bool same = stats->stats->sessions == sessions;
        sl_frame_free(stats);
        if (same) {
            return true;
        }
        sleep_ms(10);
    }
    return false;
}
