/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Bridges: bytes between two file descriptors and a channel, with the library's non-blocking
 * API (client.h "The event loop") in one poll(2) loop, so nothing waits on anything but poll.
 *
 * Back-pressure comes from reading a source only when its buffer is empty: the channel is read
 * only after the previous chunk reached out_fd, and in_fd only after the previous chunk was
 * taken by the channel (which takes no more than the daemon's credit). So each direction holds
 * at most CTL_BRIDGE_BUF_LEN here, and a slow side slows the other down to its pace.
 */

#include "sluicectl_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * UDP has no end of stream: after stdin's end, replies are awaited this long (what socat's -t
 * does, with its default), then the channel is closed.
 */
#define UDP_LINGER_MS 500

/* How stdin, stdout and stderr were before ctl_fd_prepare; -1: untouched. */
static int s_saved_flags[3] = {-1, -1, -1};

void ctl_fd_prepare(int fd)
{
    /*
     * O_NONBLOCK belongs to the open file description, which a terminal shares with the shell
     * and the other processes on it: setting it there would hand them EAGAIN. So a terminal
     * stays blocking; it is read only after POLLIN (a read then returns what is there) and
     * written after POLLOUT (a write may then wait for the terminal, which is brief). Regular
     * files and devices never make poll wait; only pipes, FIFOs and sockets are switched, and
     * put back by ctl_fd_restore.
     */
    struct stat st;
    if (fstat(fd, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
        return;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || (flags & O_NONBLOCK) || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        return;
    }
    if (fd >= 0 && fd < 3) {
        s_saved_flags[fd] = flags;
    }
}

void ctl_fd_restore(int fd)
{
    if (fd >= 0 && fd < 3 && s_saved_flags[fd] >= 0) {
        (void)fcntl(fd, F_SETFL, s_saved_flags[fd]); /* nothing more to do if it fails */
        s_saved_flags[fd] = -1;
    }
}

void ctl_bridge_init(struct ctl_bridge *b, struct sl_client_channel *ch, int in_fd, int out_fd,
                     bool own_fds, bool datagrams)
{
    b->ch = ch;
    b->in_fd = in_fd;
    b->out_fd = out_fd;
    b->own_fds = own_fds;
    b->datagrams = datagrams;
    b->up_done = b->peer_eof = b->down_done = false;
    b->error = 0;
    b->where = CTL_WHERE_CHANNEL;
    b->up_off = b->up_len = b->down_off = b->down_len = 0;
}

static void fail(struct ctl_bridge *b, int error, enum ctl_where where)
{
    if (b->error == 0) {
        b->error = error;
        b->where = where;
    }
}

static void close_in(struct ctl_bridge *b)
{
    if (b->own_fds && b->in_fd >= 0) {
        (void)close(b->in_fd); /* a pipe's read end: nothing can be lost */
    }
    b->in_fd = -1;
}

/* The down direction is over: a child reading out_fd sees its end of file now. */
static void close_out(struct ctl_bridge *b)
{
    if (b->own_fds && b->out_fd >= 0) {
        (void)close(b->out_fd); /* a pipe's write end: everything was written before */
    }
    b->out_fd = -1;
    b->down_done = true;
}

static bool is_ready(const struct pollfd *p)
{
    return p && p->fd >= 0 && p->revents != 0;
}

void ctl_bridge_want(const struct ctl_bridge *b, struct pollfd fds[2])
{
    bool want_in = !b->up_done && b->in_fd >= 0 && b->up_len == 0;
    bool want_out = !b->down_done && b->out_fd >= 0 && b->down_len > 0;
    fds[0] = (struct pollfd){.fd = want_in ? b->in_fd : -1, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = want_out ? b->out_fd : -1, .events = POLLOUT};
}

static void write_down(struct ctl_bridge *b)
{
    ssize_t n = write(b->out_fd, b->down + b->down_off, b->down_len - b->down_off);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n < 0) {
        fail(b, -errno, CTL_WHERE_OUTPUT);
        close_out(b); /* what is left has nowhere to go */
        return;
    }
    b->down_off += (size_t)n;
    if (b->down_off == b->down_len) {
        b->down_off = b->down_len = 0;
    }
}

static void read_channel(struct ctl_bridge *b)
{
    long n = sl_client_channel_read(b->ch, b->down, sizeof(b->down), 0);
    if (n > 0) {
        b->down_len = (size_t)n;
        return;
    }
    if (n == -EAGAIN) {
        return;
    }
    /* A clean Close reads as the end of the peer's direction, as end of file does. */
    if (n != 0 && n != SL_CLIENT_E_CHANNEL_CLOSED) {
        fail(b, (int)n, CTL_WHERE_CHANNEL);
        b->up_done = true; /* nothing can be sent any more */
    }
    b->peer_eof = true;
}

static void read_in(struct ctl_bridge *b)
{
    /* A datagram is at most 65,507 bytes (UDP over IPv4), under max_frame - 16 in any case. */
    size_t cap = b->datagrams ? 65507 : sizeof(b->up);
    ssize_t n = read(b->in_fd, b->up, cap);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return;
    }
    if (n < 0) {
        fail(b, -errno, CTL_WHERE_INPUT);
        b->up_done = true;
        close_in(b);
        return;
    }
    if (n == 0) {
        close_in(b);
        return;
    }
    b->up_off = 0;
    b->up_len = (size_t)n;
}

static void write_channel(struct ctl_bridge *b)
{
    long n = sl_client_channel_write(b->ch, b->up + b->up_off, b->up_len - b->up_off, 0);
    if (n == -EAGAIN) {
        return; /* no credit: the daemon's Window comes through sl_client_process */
    }
    if (n < 0) {
        /* The channel ended: its reads will say so after what is buffered, and end too. */
        fail(b, (int)n, CTL_WHERE_CHANNEL);
        b->up_done = true;
        close_in(b);
        return;
    }
    b->up_off += (size_t)n;
    if (b->up_off == b->up_len) {
        b->up_off = b->up_len = 0;
    }
}

/* in_fd ended and everything was sent: end our direction (docs/protocol.md §4.4). */
static void finish_up(struct ctl_bridge *b)
{
    b->up_done = true;
    if (b->datagrams) {
        return; /* UDP has no half-close; the channel is closed after a linger instead */
    }
    int rc = sl_client_channel_shutdown(b->ch);
    if (rc < 0 && rc != SL_CLIENT_E_CHANNEL_CLOSED) {
        fail(b, rc, CTL_WHERE_CHANNEL);
    }
}

/*
 * One pass over both directions; true if anything moved or changed. The channel is read last:
 * every channel call may read the session's socket and sort what came (client_io.c), so a
 * write that found no credit may have brought this channel's data or end of file. A last read
 * that finds nothing means nothing is waiting; credit that came meanwhile shows in
 * ctl_bridge_can_progress.
 */
static bool step_once(struct ctl_bridge *b, const struct pollfd fds[2])
{
    size_t before[4] = {b->up_off, b->up_len, b->down_off, b->down_len};
    bool flags[4] = {b->in_fd < 0, b->up_done, b->peer_eof, b->down_done};
    if (b->down_len > 0 && b->out_fd >= 0 && is_ready(fds ? &fds[1] : NULL)) {
        write_down(b);
    }
    if (b->up_len == 0 && b->in_fd >= 0 && !b->up_done && is_ready(fds ? &fds[0] : NULL)) {
        read_in(b);
    }
    if (b->up_len > 0 && !b->up_done) {
        write_channel(b);
    }
    if (b->up_len == 0 && b->in_fd < 0 && !b->up_done) {
        finish_up(b);
    }
    if (b->down_len == 0 && !b->peer_eof && !b->down_done) {
        read_channel(b);
    }
    if (b->peer_eof && b->down_len == 0 && !b->down_done) {
        close_out(b);
    }
    size_t after[4] = {b->up_off, b->up_len, b->down_off, b->down_len};
    bool flags_after[4] = {b->in_fd < 0, b->up_done, b->peer_eof, b->down_done};
    return memcmp(before, after, sizeof(before)) != 0 ||
           memcmp(flags, flags_after, sizeof(flags)) != 0;
}

bool ctl_bridge_can_progress(const struct ctl_bridge *b)
{
    if (b->down_len == 0 && !b->peer_eof && !b->down_done &&
        (sl_client_channel_readable(b->ch) > 0 || sl_client_channel_status(b->ch) != 0)) {
        return true;
    }
    return b->up_len > 0 && !b->up_done && sl_client_channel_writable(b->ch) > 0;
}

void ctl_bridge_step(struct ctl_bridge *b, const struct pollfd fds[2])
{
    /*
     * Passes until nothing moves. The fds' readiness is known for the first pass only; then
     * only the channel is tried. At most 64 passes (4 MiB each way), so one busy bridge does
     * not starve the others of a listen command.
     */
    for (int i = 0; i < 64; i++) {
        if (!step_once(b, i == 0 ? fds : NULL) && !ctl_bridge_can_progress(b)) {
            return;
        }
    }
}

bool ctl_bridge_is_done(const struct ctl_bridge *b)
{
    return b->up_done && b->down_done;
}

void ctl_bridge_clean_up(struct ctl_bridge *b)
{
    close_in(b);
    if (b->own_fds && b->out_fd >= 0) {
        (void)close(b->out_fd);
    }
    b->out_fd = -1;
}

/* Running one bridge ----------------------------------------------------------------------------
 */

static int64_t now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail with a valid clock */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The exit status for a bridge that stopped with b->error, after saying why. */
static int report(struct sl_client *client, const struct ctl_bridge *b, const char *context)
{
    if (b->where == CTL_WHERE_INPUT || b->where == CTL_WHERE_OUTPUT) {
        (void)fprintf(stderr, "sluicectl: %s: %s: %s\n", context,
                      b->where == CTL_WHERE_INPUT ? "reading input" : "writing output",
                      strerror(-b->error));
        return EXIT_FAILED;
    }
    ctl_print_failure(context, b->error, client);
    return sl_client_fault(client) < 0 ? EXIT_UNREACHABLE : EXIT_FAILED;
}

/*
 * One poll over the session, the bridge's fds and signal_fd, then the work it allows.
 * Returns 0 to go on, 1 when signal_fd is readable, or a session fault.
 */
static int poll_once(struct sl_client *client, struct ctl_bridge *b, int signal_fd, int timeout_ms)
{
    struct pollfd fds[4] = {
        {.fd = sl_client_fd(client), .events = sl_client_poll_events(client)},
        {.fd = -1},
        {.fd = -1},
        {.fd = signal_fd, .events = POLLIN},
    };
    ctl_bridge_want(b, &fds[1]);
    if (poll(fds, 4, timeout_ms) < 0 && errno != EINTR) {
        fail(b, -errno, CTL_WHERE_CHANNEL);
        return b->error;
    }
    if (fds[3].revents != 0) {
        return 1;
    }
    if (fds[0].revents != 0) {
        int rc = sl_client_process(client);
        if (rc < 0) {
            return rc;
        }
    }
    ctl_bridge_step(b, &fds[1]);
    return 0;
}

/* Moves bytes until the bridge is done (UDP: until the linger after stdin's end is over). */
static int pump(struct sl_client *client, struct ctl_bridge *b, int signal_fd)
{
    int64_t linger_end = -1;
    ctl_bridge_step(b, NULL);
    while (!ctl_bridge_is_done(b)) {
        /* A failure on our side ends it at once: the caller resets the channel. */
        if (b->error != 0 && b->where != CTL_WHERE_CHANNEL) {
            return 0;
        }
        int timeout = -1;
        if (b->datagrams && b->up_done) {
            linger_end = linger_end < 0 ? now_ms() + UDP_LINGER_MS : linger_end;
            int64_t left = linger_end - now_ms();
            if (left <= 0) {
                return 0;
            }
            timeout = (int)left;
        }
        int rc = poll_once(client, b, signal_fd, timeout);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Both directions are done: waits for the daemon's Close, which says how the connection ended. */
static int wait_for_close(struct sl_client *client, struct ctl_bridge *b, int signal_fd)
{
    while (sl_client_channel_status(b->ch) == 0) {
        struct pollfd fds[2] = {
            {.fd = sl_client_fd(client), .events = sl_client_poll_events(client)},
            {.fd = signal_fd, .events = POLLIN},
        };
        if (poll(fds, 2, -1) < 0 && errno != EINTR) {
            return -errno;
        }
        if (fds[1].revents != 0) {
            return 1;
        }
        if (fds[0].revents != 0) {
            int rc = sl_client_process(client);
            if (rc < 0) {
                return rc;
            }
        }
    }
    int status = sl_client_channel_status(b->ch);
    return status == SL_CLIENT_E_CHANNEL_CLOSED ? 0 : status;
}

int ctl_bridge_run(struct sl_client *client, struct ctl_bridge *b, int signal_fd,
                   const char *context)
{
    int rc = pump(client, b, signal_fd);
    if (rc == 1) {
        return 0; /* asked to stop: the caller closes the channel */
    }
    if (rc < 0) {
        fail(b, rc, CTL_WHERE_CHANNEL);
    }
    if (b->error != 0) {
        return report(client, b, context);
    }
    if (b->datagrams) {
        return 0;
    }
    rc = wait_for_close(client, b, signal_fd);
    if (rc < 0) {
        fail(b, rc, CTL_WHERE_CHANNEL);
        return report(client, b, context);
    }
    return 0;
}
