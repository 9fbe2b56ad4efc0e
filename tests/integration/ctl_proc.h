/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CTL_PROC_H
#define SL_CTL_PROC_H

/*
 * Running the real sluicectl as a child for the integration tests (ctl_proc.c): stdin and stdout on
 * pipes or files, stderr always on a pipe that is read as it comes, exit status with a timeout.
 * (SLUICECTL_PATH is the built binary.)
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_TIMEOUT_MS 30000 /* for a line on stderr */

struct ctl_proc {
    pid_t pid;
    int stdin_fd;  /* our end of its stdin pipe; -1 when stdin is a file, or once closed */
    int stdout_fd; /* our end of its stdout pipe; -1 when stdout is a file */
    int stderr_fd; /* its stderr, read into err; -1 at its end */
    char err[8192];
    size_t err_len;
};

int64_t now_ms(void);

int left_ms(int64_t deadline);

/* Both ends close-on-exec: only the ends dup2'd onto a child's 0, 1, 2 reach it. */
void make_pipe(int fds[2]);

void close_fd(int *fd);

/*
 * Starts `sluicectl --socket SOCKET args...`. stdin_path / stdout_path NULL: a pipe (stdin_fd,
 * stdout_fd). stderr is always a pipe, read by ctl_poll_stderr.
 */
void ctl_start(struct ctl_proc *p, const char *socket, const char *const *args,
               const char *stdin_path, const char *stdout_path);

/* Reads what its stderr has, waiting up to timeout_ms for some. */
void ctl_poll_stderr(struct ctl_proc *p, int timeout_ms);

bool ctl_wait_stderr(struct ctl_proc *p, const char *text, int timeout_ms);

/*
 * Waits for it to exit (killing it after timeout_ms) and closes our ends of its pipes. Returns
 * its exit status, 128 + the signal that ended it, or -1 if it had to be killed.
 */
int ctl_wait(struct ctl_proc *p, int timeout_ms);

/* Runs sluicectl against the suite's daemon and waits for it; *p keeps its stderr. */
int ctl_run(struct ctl_proc *p, const char *socket, const char *const *args, const char *stdin_path,
            const char *stdout_path, int timeout_ms);

/* Reads its stdout pipe until want bytes came (or its end); returns how many came. */
size_t ctl_read_stdout(struct ctl_proc *p, char *buf, size_t want, int timeout_ms);

/* Starts `listen args...` and learns its port from "listening on ADDRESS:PORT". */
int ctl_start_listener(struct ctl_proc *p, const char *socket, const char *const *args);

#endif
