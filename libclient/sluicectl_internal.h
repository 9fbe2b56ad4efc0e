/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICECTL_INTERNAL_H
#define SLUICECTL_INTERNAL_H

/*
 * What the files of sluicectl share: sluicectl.c (main, ping, resolve, the helpers below),
 * sluicectl_bridge.c (moving bytes between file descriptors and a channel), sluicectl_connect.c,
 * sluicectl_listen.c and sluicectl_stats.c (one command each).
 */

#include <sluice/client.h>

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit status, the same for every command. */
enum {
    EXIT_USAGE = 1,
    EXIT_UNREACHABLE = 2, /* the daemon cannot be reached, or the session broke */
    EXIT_FAILED = 3,      /* the operation failed; one line on stderr says why */
};

/* What every command gets from the global options. */
struct ctl {
    const char *socket_path; /* NULL: the library's default */
    uint32_t timeout_ms;     /* 0: the library's default */
    const char *key_file;    /* --key: authenticate with this Ed25519 key (keygen wrote it) */
};

/* Helpers (sluicectl.c) ------------------------------------------------------------------------ */

/* Prints "sluicectl: what[: arg] (see sluicectl --help)"; returns EXIT_USAGE. */
int ctl_usage_error(const char *what, const char *arg);

/* Prints "sluicectl: <context>: <reason>[ (<daemon's message>)]"; client may be NULL. */
void ctl_print_failure(const char *context, int rc, const struct sl_client *client);

/* Connects the session; 0, or EXIT_UNREACHABLE after saying why on stderr. */
int ctl_connect(const struct ctl *ctl, struct sl_client **out);

/*
 * The exit status for rc, a failed call on client: EXIT_UNREACHABLE when the session is over,
 * EXIT_USAGE for SL_CLIENT_E_INVAL (arguments the library refused), else EXIT_FAILED.
 */
int ctl_exit_status(const struct sl_client *client, int rc);

/* Reads "--name VALUE" or "--name=VALUE" at argv[*i] (advancing *i); NULL if it is not that. */
const char *ctl_option_value(const char *name, int argc, char **argv, int *i);

/* Parses a port, 0 .. 65535 (allow_zero) or 1 .. 65535; false if text is not one. */
bool ctl_parse_port(const char *text, bool allow_zero, uint16_t *out);

/* Commands ------------------------------------------------------------------------------------- */

int ctl_run_connect(const struct ctl *ctl, int argc, char **argv);
int ctl_run_listen(const struct ctl *ctl, int argc, char **argv);
int ctl_run_stats(const struct ctl *ctl, int argc, char **argv);

/* Bridges (sluicectl_bridge.c) ----------------------------------------------------------------- */

/*
 * Each direction holds at most this much between its source and its sink, and a source is read
 * only when its buffer is empty, so a slow sink stops its source: a slow stdout stops reading
 * the channel (the library then returns no credit and the daemon stops reading the network),
 * and a channel without credit stops reading stdin. 64 KiB also holds the largest UDP datagram.
 */
#define CTL_BRIDGE_BUF_LEN 65536

enum ctl_where {
    CTL_WHERE_CHANNEL, /* the channel ended with an error, or the session broke */
    CTL_WHERE_INPUT,   /* reading in_fd failed */
    CTL_WHERE_OUTPUT,  /* writing out_fd failed (EPIPE: its reader is gone) */
};

/*
 * A bridge moves bytes both ways between a channel and two file descriptors: in_fd to the
 * channel ("up"), the channel to out_fd ("down"). It never blocks, except in a write to a
 * terminal, which stays blocking (see ctl_fd_prepare).
 */
struct ctl_bridge {
    struct sl_client_channel *ch; /* borrowed */
    int in_fd;                    /* -1 once at its end (and closed, if owned) */
    int out_fd;                   /* -1 once the down direction is over (closed, if owned) */
    bool own_fds;                 /* close in_fd and out_fd when done with them (pipes) */
    bool datagrams;               /* UDP: each read of in_fd is one datagram; no Shutdown */
    bool up_done;         /* in_fd ended, all of it sent, Shutdown sent (UDP: none); or failed */
    bool peer_eof;        /* the channel's reads ended: end of file, Close, or an error */
    bool down_done;       /* peer_eof and all of it written; or writing failed */
    int error;            /* the first failure: a channel's end code or -errno of in/out; 0 */
    enum ctl_where where; /* what failed, when error is set */
    size_t up_off, up_len;
    size_t down_off, down_len;
    uint8_t up[CTL_BRIDGE_BUF_LEN];
    uint8_t down[CTL_BRIDGE_BUF_LEN];
};

/* Starts a bridge; in_fd and out_fd must have been through ctl_fd_prepare. */
void ctl_bridge_init(struct ctl_bridge *b, struct sl_client_channel *ch, int in_fd, int out_fd,
                     bool own_fds, bool datagrams);

/* Sets fds[0] (in) and fds[1] (out) to what the bridge waits for; fd -1 when nothing. */
void ctl_bridge_want(const struct ctl_bridge *b, struct pollfd fds[2]);

/*
 * Moves what can be moved now. fds are the entries ctl_bridge_want set, after poll(2) filled
 * their revents (NULL: no fd is known to be ready; only the channel is tried). Call it after
 * every sl_client_process too.
 */
void ctl_bridge_step(struct ctl_bridge *b, const struct pollfd fds[2]);

/*
 * True if the channel has something for the bridge now (bytes, its end, credit for what waits)
 * that a step would move without any fd being ready: what another channel's call brought in
 * while sorting the session's frames. End of file alone does not show (client.h has no query
 * for it), which is why the listen loop also wakes up now and then.
 */
bool ctl_bridge_can_progress(const struct ctl_bridge *b);

/* Both directions are over, or one failed (b->error). */
bool ctl_bridge_is_done(const struct ctl_bridge *b);

/* Closes the fds the bridge owns and still holds. The channel is the caller's. */
void ctl_bridge_clean_up(struct ctl_bridge *b);

/*
 * Makes fd non-blocking for a bridge (pipes, sockets and FIFOs; terminals and regular files
 * stay as they are, see the .c file), remembering how it was so ctl_fd_restore can put it back.
 */
void ctl_fd_prepare(int fd);
void ctl_fd_restore(int fd);

/*
 * Runs one bridge over the session until it is done, then until the channel's Close (or, for
 * UDP, a short linger for replies), with signal_fd (-1: none) readable ending it early.
 * Returns the exit status after saying on stderr why it is not 0; context names the channel.
 * The caller closes the channel.
 */
int ctl_bridge_run(struct sl_client *client, struct ctl_bridge *b, int signal_fd,
                   const char *context);

#endif /* SLUICECTL_INTERNAL_H */
