/* SPDX-License-Identifier: Apache-2.0 */
#include "ctl_proc.h"

#include "test_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int left_ms(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    return left < 0 ? 0 : (int)left;
}

/* Both ends close-on-exec: only the ends dup2'd onto a child's 0, 1, 2 reach it. */
void make_pipe(int fds[2])
{
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
    ck_assert_int_eq(fcntl(fds[1], F_SETFD, FD_CLOEXEC), 0);
}

void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Helpers: running sluicectl ------------------------------------------------------------------ */

/*
 * Starts `sluicectl --socket SOCKET args...`. stdin_path / stdout_path NULL: a pipe (stdin_fd,
 * stdout_fd). stderr is always a pipe, read by ctl_poll_stderr.
 */
void ctl_start(struct ctl_proc *p, const char *socket, const char *const *args,
               const char *stdin_path, const char *stdout_path)
{
    memset(p, 0, sizeof(*p));
    p->stdin_fd = p->stdout_fd = p->stderr_fd = -1;
    const char *argv[40] = {SLUICECTL_PATH, "--socket", socket};
    size_t argc = 3;
    for (size_t i = 0; args[i] && argc < 39; i++) {
        argv[argc++] = args[i];
    }
    int in[2] = {-1, -1};
    int out[2] = {-1, -1};
    int err[2];
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (stdin_path) {
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, stdin_path, O_RDONLY, 0);
    } else {
        make_pipe(in);
        posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    }
    if (stdout_path) {
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, stdout_path,
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
    } else {
        make_pipe(out);
        posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    }
    make_pipe(err);
    posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
    int rc =
        posix_spawn(&p->pid, SLUICECTL_PATH, &fa, NULL, (char *const *)(uintptr_t)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ck_assert_msg(rc == 0, "cannot start %s: %s", SLUICECTL_PATH, strerror(rc));
    close_fd(&in[0]);
    close_fd(&out[1]);
    close(err[1]);
    p->stdin_fd = in[1];
    p->stdout_fd = out[0];
    p->stderr_fd = err[0];
    ck_assert_int_eq(fcntl(p->stderr_fd, F_SETFL, O_NONBLOCK), 0);
}

/* Reads what its stderr has, waiting up to timeout_ms for some. */
void ctl_poll_stderr(struct ctl_proc *p, int timeout_ms)
{
    if (p->stderr_fd < 0) {
        if (timeout_ms > 0) {
            poll(NULL, 0, timeout_ms < 10 ? timeout_ms : 10);
        }
        return;
    }
    struct pollfd pfd = {.fd = p->stderr_fd, .events = POLLIN};
    poll(&pfd, 1, timeout_ms);
    char buf[4096];
    ssize_t n;
    while ((n = read(p->stderr_fd, buf, sizeof(buf))) > 0) {
        size_t room = sizeof(p->err) - 1 - p->err_len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(p->err + p->err_len, buf, take);
        p->err_len += take;
        p->err[p->err_len] = '\0';
    }
    if (n == 0) {
        close_fd(&p->stderr_fd);
    }
}

bool ctl_wait_stderr(struct ctl_proc *p, const char *text, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (!strstr(p->err, text)) {
        if (left_ms(deadline) == 0 || p->stderr_fd < 0) {
            return false;
        }
        ctl_poll_stderr(p, left_ms(deadline) < 50 ? left_ms(deadline) : 50);
    }
    return true;
}

/*
 * Waits for it to exit (killing it after timeout_ms) and closes our ends of its pipes. Returns
 * its exit status, 128 + the signal that ended it, or -1 if it had to be killed.
 */
int ctl_wait(struct ctl_proc *p, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int status = 0;
    int result = -1;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (left_ms(deadline) == 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        ctl_poll_stderr(p, 20);
    }
    ctl_poll_stderr(p, 0);
    close_fd(&p->stdin_fd);
    close_fd(&p->stdout_fd);
    close_fd(&p->stderr_fd);
    p->pid = 0;
    return result;
}

/* Runs sluicectl against the daemon at socket and waits for it; *p keeps its stderr. */
int ctl_run(struct ctl_proc *p, const char *socket, const char *const *args, const char *stdin_path,
            const char *stdout_path, int timeout_ms)
{
    ctl_start(p, socket, args, stdin_path ? stdin_path : "/dev/null",
              stdout_path ? stdout_path : "/dev/null");
    return ctl_wait(p, timeout_ms);
}

/* Reads its stdout pipe until want bytes came (or its end); returns how many came. */
size_t ctl_read_stdout(struct ctl_proc *p, char *buf, size_t want, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t got = 0;
    while (got < want && left_ms(deadline) > 0) {
        struct pollfd pfd = {.fd = p->stdout_fd, .events = POLLIN};
        if (poll(&pfd, 1, left_ms(deadline)) <= 0) {
            continue;
        }
        ssize_t n = read(p->stdout_fd, buf + got, want - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    return got;
}

/* Starts `listen args...` and learns its port from "listening on ADDRESS:PORT". */
int ctl_start_listener(struct ctl_proc *p, const char *socket, const char *const *args)
{
    ctl_start(p, socket, args, NULL, NULL);
    ck_assert_msg(ctl_wait_stderr(p, "listening on ", CTL_TIMEOUT_MS), "no address on stderr: %s",
                  p->err);
    ck_assert_msg(ctl_wait_stderr(p, "\n", CTL_TIMEOUT_MS), "no end of line: %s", p->err);
    const char *line = strstr(p->err, "listening on ");
    const char *colon = strrchr(line, ':');
    ck_assert_ptr_nonnull(colon);
    int port = atoi(colon + 1);
    ck_assert_int_gt(port, 0);
    return port;
}
