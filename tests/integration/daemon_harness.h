/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DAEMON_HARNESS_H
#define SL_DAEMON_HARNESS_H

/*
 * Integration tests run the real sluiced (built by this tree) as a child process on a socket in
 * a fresh directory, and talk to it over real Unix sockets: with raw frames (the codec) here,
 * so malformed input can be sent too.
 */

#include "frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon_proc {
    pid_t pid;
    char dir[64];
    char socket_path[108];
    char log_path[128];
};

/* Starts sluiced with extra arguments (NULL-terminated, may be NULL) and waits until it listens.
 * env_hosts: a CARES_HOSTS file for its resolver, or NULL. Fails the test on error. */
void daemon_start(struct daemon_proc *d, const char *const *extra_args, const char *env_hosts);
/*
 * The same for a test that watches the daemon's RSS: ASan keeps freed memory in quarantine,
 * which would count everything ever freed, so this daemon runs without it.
 */
void daemon_start_without_quarantine(struct daemon_proc *d, const char *const *extra_args,
                                     const char *env_hosts);
/* SIGTERM, then waits up to timeout_ms; returns the exit status (or -1 if it had to be killed). */
int daemon_stop(struct daemon_proc *d, int timeout_ms);
/* The daemon's open file descriptors (entries of /proc/PID/fd). */
int daemon_fd_count(const struct daemon_proc *d);
/* Its resident memory in KiB (VmRSS). */
long daemon_rss_kib(const struct daemon_proc *d);

/* A client speaking raw frames. */
struct raw_client {
    int fd;
    uint8_t *buf;
    size_t len;
    size_t cap;
    uint32_t max_frame;
};

/* Connects (no handshake). */
void raw_connect(struct raw_client *c, const struct daemon_proc *d);
/* Connects and completes the handshake; returns the Welcome's session id. */
uint64_t raw_attach(struct raw_client *c, const struct daemon_proc *d, const char *name);
void raw_close(struct raw_client *c);
/* Sends bytes as they are / one frame. */
void raw_send_bytes(struct raw_client *c, const void *data, size_t len);
void raw_send(struct raw_client *c, const sl_frame_t *frame);
/* The next frame (NULL on EOF or timeout; *eof tells which). Free with sl_frame_free. */
sl_frame_t *raw_recv(struct raw_client *c, int timeout_ms, bool *eof);
/* The next frame, which must be of kind body_case. */
sl_frame_t *raw_expect(struct raw_client *c, Sluice__V1__Frame__BodyCase body_case);
/* Expects Error {code}, then the end of the connection. */
void raw_expect_fault(struct raw_client *c, Sluice__V1__ErrorCode code);
/* Asks Stats until the daemon counts `sessions` sessions (up to 2 s); false if it never did. */
bool raw_wait_sessions(struct raw_client *c, uint64_t sessions);
/* Ping round trip. */
void raw_ping(struct raw_client *c, uint64_t payload);

#endif
