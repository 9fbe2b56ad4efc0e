/* SPDX-License-Identifier: Apache-2.0 */
#include "openssl_peer.h"

#include "dnsmasq.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_ARGS 64

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline_ms)
{
    int64_t left = deadline_ms - now_ms();
    return left < 0 ? 0 : (int)left;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* A pipe whose two ends are closed on exec: the child gets only the ends dup2'd onto 0, 1, 2. */
static bool make_pipe(int fds[2])
{
    if (pipe(fds) != 0) {
        return false;
    }
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
            close(fds[0]);
            close(fds[1]);
            return false;
        }
    }
    return true;
}

static bool set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

/*
 * Output may hold NUL bytes (s_server relays whatever the peer sent), so buffers are searched
 * by length, not with strstr. memmem is a GNU extension; this is the plain loop.
 */
static bool contains(const char *hay, size_t hay_len, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0) {
        return true;
    }
    for (size_t i = 0; i + n <= hay_len; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Reads what fd has into *buf. At the end of the stream (or on an error other than EAGAIN) it
 * closes fd and sets it to -1, so a caller can tell a child that stopped talking.
 */
static void drain(int *fd, char **buf, size_t *len)
{
    char chunk[16384];
    while (*fd >= 0) {
        ssize_t n = read(*fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            close_fd(fd);
            return;
        }
        char *grown = realloc(*buf, *len + (size_t)n + 1);
        if (!grown) {
            /* Out of memory in a test helper: losing output fails the test that wanted it. */
            return;
        }
        memcpy(grown + *len, chunk, (size_t)n);
        *len += (size_t)n;
        grown[*len] = '\0';
        *buf = grown;
    }
}

void openssl_peer_poll(struct openssl_peer *peer)
{
    drain(&peer->stdout_fd, &peer->out, &peer->out_len);
    drain(&peer->stderr_fd, &peer->err, &peer->err_len);
}

/* Waits up to timeout_ms for output (or for stdin to take more, if want_stdin), then drains. */
static void wait_for_output(struct openssl_peer *peer, bool want_stdin, int timeout_ms)
{
    struct pollfd fds[3] = {
        {.fd = peer->stdout_fd, .events = POLLIN},
        {.fd = peer->stderr_fd, .events = POLLIN},
        {.fd = want_stdin ? peer->stdin_fd : -1, .events = POLLOUT},
    };
    if (fds[0].fd < 0 && fds[1].fd < 0 && fds[2].fd < 0) {
        /* Nothing left to watch (poll ignores negative fds): just let the time pass. */
        struct timespec ts = {.tv_nsec = (long)(timeout_ms < 5 ? timeout_ms : 5) * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    (void)poll(fds, 3, timeout_ms); /* EINTR or a timeout: the caller loops on its deadline */
    openssl_peer_poll(peer);
}

static bool fail(char *why, size_t why_len, const char *what)
{
    snprintf(why, why_len, "%s: %s", what, strerror(errno));
    return false;
}

/* Starts openssl with fds[0][0], fds[1][1] and fds[2][1] as its stdin, stdout and stderr. */
static bool spawn(struct openssl_peer *peer, char *const *args, int fds[3][2], char *why,
                  size_t why_len)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    if (posix_spawn_file_actions_init(&actions) != 0) {
        return fail(why, why_len, "posix_spawn_file_actions_init");
    }
    if (posix_spawnattr_init(&attr) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return fail(why, why_len, "posix_spawnattr_init");
    }
    posix_spawn_file_actions_adddup2(&actions, fds[0][0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1][1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[2][1], STDERR_FILENO);
    /*
     * The child starts with no signal blocked (the calling thread may block some, and loop
     * threads do) and SIGPIPE at its default, so openssl behaves as it would from a shell.
     */
    sigset_t empty;
    sigset_t pipe_only;
    sigemptyset(&empty);
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &pipe_only);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(&peer->pid, "openssl", &actions, &attr, args, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        peer->pid = 0;
        errno = rc;
        return fail(why, why_len, "posix_spawnp openssl");
    }
    return true;
}

/* "openssl" and argv into args, the way posix_spawn wants them. */
static bool build_args(const char *const *argv, char *args[MAX_ARGS + 2])
{
    size_t n = 0;
    args[n++] = "openssl";
    for (size_t i = 0; argv[i]; i++) {
        if (n > MAX_ARGS) {
            return false;
        }
        /* posix_spawn's argv is `char *const *` for historical reasons; it does not write. */
        args[n++] = (char *)(uintptr_t)argv[i];
    }
    args[n] = NULL;
    return true;
}

/* Pipes for the child's stdin, stdout and stderr: all three, or none. */
static bool make_pipes(int fds[3][2])
{
    for (int i = 0; i < 3; i++) {
        if (!make_pipe(fds[i])) {
            int saved = errno;
            for (int j = 0; j < i; j++) {
                close(fds[j][0]);
                close(fds[j][1]);
            }
            errno = saved;
            return false;
        }
    }
    return true;
}

bool openssl_peer_start(struct openssl_peer *peer, const char *const *argv, char *why,
                        size_t why_len)
{
    memset(peer, 0, sizeof(*peer));
    peer->stdin_fd = peer->stdout_fd = peer->stderr_fd = -1;
    char *args[MAX_ARGS + 2];
    if (!build_args(argv, args)) {
        snprintf(why, why_len, "more than %d arguments", MAX_ARGS);
        return false;
    }
    peer->out = calloc(1, 1);
    peer->err = calloc(1, 1);
    int fds[3][2];
    if (!peer->out || !peer->err || !make_pipes(fds)) {
        fail(why, why_len, "starting openssl");
        openssl_peer_free(peer);
        return false;
    }
    bool ok = spawn(peer, args, fds, why, why_len);
    /* The child's ends are its own now (or nobody's, if it did not start). */
    close(fds[0][0]);
    close(fds[1][1]);
    close(fds[2][1]);
    peer->stdin_fd = fds[0][1];
    peer->stdout_fd = fds[1][0];
    peer->stderr_fd = fds[2][0];
    if (ok && !(set_nonblocking(peer->stdin_fd) && set_nonblocking(peer->stdout_fd) &&
                set_nonblocking(peer->stderr_fd))) {
        ok = fail(why, why_len, "fcntl O_NONBLOCK");
    }
    if (!ok) {
        (void)openssl_peer_stop(peer, 0); /* reaps the child, if any, and closes the fds */
        openssl_peer_free(peer);
    }
    return ok;
}

/*
 * Whether something listens on 127.0.0.1:port, from the kernel's socket table (st 0A is
 * TCP_LISTEN). This is how a server started with -quiet, which prints nothing, is seen ready;
 * unlike a trial connect it does not use up one of its -naccept connections.
 */
static bool port_is_listening(int port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f) {
        return false;
    }
    char want[32];
    snprintf(want, sizeof(want), "0100007F:%04X", port);
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        char local[64];
        char remote[64];
        unsigned state;
        if (sscanf(line, " %*d: %63s %63s %x", local, remote, &state) == 3) {
            found = strcmp(local, want) == 0 && state == 0x0A;
        }
    }
    fclose(f);
    return found;
}

/*
 * Waits until the server listens. false if it exited first (its stdout ended) or took longer
 * than timeout_ms.
 */
static bool wait_until_listening(struct openssl_peer *peer, int port, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        /* s_server prints ACCEPT once it listens, unless -quiet silences it. */
        if (contains(peer->out, peer->out_len, "ACCEPT") || port_is_listening(port)) {
            return true;
        }
        int left = remaining_ms(deadline);
        if (peer->stdout_fd < 0 || left == 0) {
            return false;
        }
        wait_for_output(peer, false, left < 20 ? left : 20);
    }
}

bool openssl_peer_start_server(struct openssl_peer *peer, const char *const *extra_argv, int *port,
                               int timeout_ms, char *why, size_t why_len)
{
    char accept_arg[32];
    const char *argv[MAX_ARGS + 1] = {"s_server", "-accept", accept_arg};
    size_t n = 3;
    for (size_t i = 0; extra_argv && extra_argv[i]; i++) {
        if (n == MAX_ARGS) {
            snprintf(why, why_len, "more than %d arguments", MAX_ARGS);
            return false;
        }
        argv[n++] = extra_argv[i];
    }
    argv[n] = NULL;
    /* Between finding a free port and s_server binding it, another process may take it. */
    for (int attempt = 0; attempt < 5; attempt++) {
        int p = dnsmasq_unused_port();
        if (p < 0) {
            return fail(why, why_len, "no unused port");
        }
        snprintf(accept_arg, sizeof(accept_arg), "127.0.0.1:%d", p);
        if (!openssl_peer_start(peer, argv, why, why_len)) {
            return false;
        }
        if (wait_until_listening(peer, p, timeout_ms)) {
            *port = p;
            return true;
        }
        int status = openssl_peer_stop(peer, 1000);
        bool taken = contains(peer->err, peer->err_len, "in use");
        snprintf(why, why_len, "openssl s_server on port %d did not start (status %d): %s", p,
                 status, peer->err);
        openssl_peer_free(peer);
        if (!taken) {
            return false;
        }
    }
    return false;
}

bool openssl_peer_wait_for(struct openssl_peer *peer, const char *text, bool in_stderr,
                           int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        openssl_peer_poll(peer);
        const char *buf = in_stderr ? peer->err : peer->out;
        size_t len = in_stderr ? peer->err_len : peer->out_len;
        if (contains(buf, len, text)) {
            return true;
        }
        int fd = in_stderr ? peer->stderr_fd : peer->stdout_fd;
        if (fd < 0 || remaining_ms(deadline) == 0) {
            return false; /* that stream has ended, so the text will never come */
        }
        wait_for_output(peer, false, remaining_ms(deadline));
    }
}

/*
 * Writing to a pipe whose reader has exited raises SIGPIPE, which would kill the whole test
 * binary. The signal is blocked in this thread around the write and, if the write raised one,
 * taken off the pending set before it is unblocked, so the caller just sees EPIPE. Process-wide
 * dispositions are left alone.
 */
static ssize_t write_without_sigpipe(int fd, const void *data, size_t len)
{
    sigset_t pipe_set;
    sigset_t old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write(fd, data, len);
    int saved = errno;
    if (n < 0 && saved == EPIPE && !sigismember(&old, SIGPIPE)) {
        const struct timespec zero = {0};
        (void)sigtimedwait(&pipe_set, NULL, &zero); /* nothing pending is fine too */
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return n;
}

bool openssl_peer_write(struct openssl_peer *peer, const void *data, size_t len)
{
    /*
     * A child that is busy writing to a full stdout pipe stops reading its stdin, so output is
     * drained while waiting for room. 10 s is far beyond what a healthy child needs.
     */
    const char *p = data;
    size_t done = 0;
    int64_t deadline = now_ms() + 10000;
    while (done < len) {
        if (peer->stdin_fd < 0 || remaining_ms(deadline) == 0) {
            return false;
        }
        ssize_t n = write_without_sigpipe(peer->stdin_fd, p + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return false;
        }
        wait_for_output(peer, true, remaining_ms(deadline) < 50 ? remaining_ms(deadline) : 50);
    }
    return true;
}

void openssl_peer_close_stdin(struct openssl_peer *peer)
{
    close_fd(&peer->stdin_fd);
}

static int exit_code(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

int openssl_peer_stop(struct openssl_peer *peer, int timeout_ms)
{
    openssl_peer_close_stdin(peer);
    int code = -1; /* no child, or one reaped by someone else (ECHILD): status unknown */
    int status = 0;
    int64_t deadline = now_ms() + timeout_ms;
    while (peer->pid > 0) {
        pid_t r = waitpid(peer->pid, &status, WNOHANG);
        if (r == peer->pid) {
            code = exit_code(status);
            peer->pid = 0;
        } else if (r < 0 && errno != EINTR) {
            peer->pid = 0;
        } else if (remaining_ms(deadline) == 0) {
            kill(peer->pid, SIGKILL);
            while (waitpid(peer->pid, &status, 0) < 0 && errno == EINTR) {
            }
            code = exit_code(status);
            peer->pid = 0;
        } else {
            int left = remaining_ms(deadline);
            wait_for_output(peer, false, left < 10 ? left : 10);
        }
    }
    /*
     * The child is gone, so its pipes hold all they will ever hold: one last drain, then close
     * (drain closes at end of stream; a pipe still open in a grandchild is closed here anyway).
     */
    openssl_peer_poll(peer);
    close_fd(&peer->stdout_fd);
    close_fd(&peer->stderr_fd);
    return code;
}

void openssl_peer_free(struct openssl_peer *peer)
{
    free(peer->out);
    free(peer->err);
    peer->out = NULL;
    peer->err = NULL;
    peer->out_len = 0;
    peer->err_len = 0;
}
