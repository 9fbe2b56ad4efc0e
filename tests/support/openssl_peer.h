/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TEST_OPENSSL_PEER_H
#define SL_TEST_OPENSSL_PEER_H

/*
 * Runs the openssl command (s_server, s_client, s_time) as a child process with its stdin,
 * stdout and stderr on pipes, so tests and benchmarks can talk to a real, independent TLS
 * implementation. Check-free.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct openssl_peer {
    pid_t pid;     /* 0 once reaped */
    int stdin_fd;  /* write to the child's stdin (non-blocking); -1 once closed */
    int stdout_fd; /* the child's stdout (non-blocking); -1 once it has ended */
    int stderr_fd; /* the child's stderr (non-blocking); -1 once it has ended */
    char *out;     /* everything read from stdout so far (NUL-terminated, malloc) */
    size_t out_len;
    char *err; /* everything read from stderr so far */
    size_t err_len;
};

/*
 * Starts `openssl argv[0] argv[1] ...` (argv NULL-terminated, without "openssl", at most 64),
 * found on PATH, with no shell in between. The child gets only its three pipes (every other fd
 * of ours is close-on-exec), no blocked signals and SIGPIPE at its default.
 * Returns false and a reason in why when it cannot start (nothing is left open then).
 */
bool openssl_peer_start(struct openssl_peer *peer, const char *const *argv, char *why,
                        size_t why_len);

/*
 * Starts `openssl s_server -accept 127.0.0.1:PORT` plus extra_argv on an unused port and waits
 * (up to timeout_ms) until it prints that it accepts (or, with -quiet, which prints nothing,
 * until the port listens); *port gets the port. A port taken meanwhile is retried.
 */
bool openssl_peer_start_server(struct openssl_peer *peer, const char *const *extra_argv, int *port,
                               int timeout_ms, char *why, size_t why_len);

/* Reads what is available from stdout and stderr into out/err without blocking. */
void openssl_peer_poll(struct openssl_peer *peer);

/*
 * Waits until stdout or stderr (see which) contains text; false on timeout or when that stream
 * ends without it. Output may hold NUL bytes; the search does not stop at them.
 */
bool openssl_peer_wait_for(struct openssl_peer *peer, const char *text, bool in_stderr,
                           int timeout_ms);

/*
 * Writes all of len bytes to the child's stdin, reading its output meanwhile (a child blocked
 * on a full stdout reads no more stdin). false if the child is gone (EPIPE, with SIGPIPE kept
 * from this process) or has not taken it all within 10 s.
 */
bool openssl_peer_write(struct openssl_peer *peer, const void *data, size_t len);

/* Closes the child's stdin (EOF for it). */
void openssl_peer_close_stdin(struct openssl_peer *peer);

/*
 * Waits up to timeout_ms for the child to exit, then kills it (SIGKILL) if it has not;
 * collects what is left of its output, closes every fd and returns its exit status (or
 * 128 + signal). Frees nothing: call openssl_peer_free after reading out/err.
 */
int openssl_peer_stop(struct openssl_peer *peer, int timeout_ms);

/* Frees out and err. */
void openssl_peer_free(struct openssl_peer *peer);

#endif
