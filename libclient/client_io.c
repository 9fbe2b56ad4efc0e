/* SPDX-License-Identifier: Apache-2.0 */
#include "client_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * The socket side of the client: everything that blocks goes through wait_until(), one poll(2)
 * bounded by the caller's deadline, so no call ever blocks longer than its timeout. Nothing
 * here knows channels: received bytes go to sl__client_sort (client_route.c), and frames to
 * send are bytes in the output queue.
 */

/*
 * Two default-size frames (docs/protocol.md §3: 256 KiB): one recv(2) takes a lot, and the
 * partial frame left at the end of the buffer rarely needs moving to its front.
 */
#define RECEIVE_CAP      (512u * 1024)
#define RECEIVE_MIN_ROOM (64u * 1024) /* below this, move the partial frame to the front */
#define READS_PER_PUMP   16           /* bounds one pump, so a busy daemon cannot starve sends */
#define OUTPUT_MIN_CAP   (16u * 1024)
#define CONNECT_RETRY_MS 10 /* backlog full: Linux says EAGAIN for Unix sockets, no queueing */

/* Time ---------------------------------------------------------------------------------------- */

uint64_t sl__client_now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail with a valid clock id */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t sl__client_deadline(uint32_t timeout_ms)
{
    if (timeout_ms == 0) {
        timeout_ms = SL_CLIENT_DEFAULT_TIMEOUT_MS;
    }
    return sl__client_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

uint64_t sl__client_poll_deadline(int timeout_ms)
{
    if (timeout_ms < 0) {
        return UINT64_MAX;
    }
    return timeout_ms == 0 ? 0 : sl__client_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* Waits for events on fd until deadline_ns: 0 when ready, -ETIMEDOUT, or -errno. */
static int wait_until(int fd, short events, uint64_t deadline_ns)
{
    for (;;) {
        uint64_t now = sl__client_now_ns();
        if (now >= deadline_ns) {
            return -ETIMEDOUT;
        }
        /* Round up, so a wait never ends just before its deadline and spins once more. */
        uint64_t ms = (deadline_ns - now + 999999u) / 1000000u;
        int poll_ms = deadline_ns == UINT64_MAX ? -1 : ms > INT_MAX ? INT_MAX : (int)ms;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, poll_ms);
        if (n > 0) {
            return 0; /* POLLHUP and POLLERR too: the next recv or send reports them */
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

/* Strings and faults ----------------------------------------------------------------------------
 */

void sl__client_copy_string(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

int sl__client_set_fault(struct sl_client *c, int code, const char *message)
{
    if (c->fault == 0) {
        c->fault = code;
        sl__client_copy_string(c->message, sizeof(c->message), message);
        if (c->fd >= 0) {
            (void)close(c->fd); /* nothing is left to flush, and no error could be acted on */
            c->fd = -1;
        }
    }
    return c->fault;
}

/* Connecting ------------------------------------------------------------------------------------
 */

/* Fills *addr for path: a file path, or "@name" for a Linux abstract socket (as UnixTarget). */
static int unix_address(const char *path, struct sockaddr_un *addr, socklen_t *addr_len)
{
    size_t n = strlen(path);
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (n == 0) {
        return -ENOENT;
    }
    /* A path needs its NUL in sun_path; an abstract name is counted, not terminated. */
    if (n >= sizeof(addr->sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(addr->sun_path, path, n);
    *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    if (path[0] == '@') {
        addr->sun_path[0] = '\0';
        *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    }
    return 0;
}

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        return -errno;
    }
    return 0;
}

/* Completes a non-blocking connect: waits for writability and reads SO_ERROR. */
static int finish_connect(int fd, uint64_t deadline_ns)
{
    int rc = wait_until(fd, POLLOUT, deadline_ns);
    if (rc < 0) {
        return rc;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        return -errno;
    }
    return -err;
}

static int connect_by(int fd, const struct sockaddr_un *addr, socklen_t addr_len,
                      uint64_t deadline_ns)
{
    for (;;) {
        if (connect(fd, (const struct sockaddr *)addr, addr_len) == 0) {
            return 0;
        }
        if (errno == EINPROGRESS || errno == EINTR) {
            return finish_connect(fd, deadline_ns);
        }
        if (errno != EAGAIN) {
            return -errno;
        }
        /* The daemon's accept backlog is full. It may drain soon: retry until the deadline. */
        if (sl__client_now_ns() >= deadline_ns) {
            return -ETIMEDOUT;
        }
        (void)poll(NULL, 0, CONNECT_RETRY_MS);
    }
}

int sl__client_socket_open(const char *path, uint64_t deadline_ns, int *fd_out)
{
    struct sockaddr_un addr;
    socklen_t addr_len = 0;
    int rc = unix_address(path, &addr, &addr_len);
    if (rc < 0) {
        return rc;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        return -errno;
    }
    rc = set_flags(fd);
    if (rc == 0) {
        rc = connect_by(fd, &addr, addr_len, deadline_ns);
    }
    if (rc < 0) {
        (void)close(fd); /* never connected: nothing to report */
        return rc;
    }
    *fd_out = fd;
    return 0;
}

/* Output ------------------------------------------------------------------------------------- */

/* Makes room for len more bytes at the end of the output queue. */
static int reserve_output(struct sl_client *c, size_t len)
{
    if (c->ocap - c->olen >= len) {
        return 0;
    }
    size_t used = c->olen - c->ohead;
    if (c->ohead > 0) { /* what the socket took is at the front: reuse that room first */
        memmove(c->obuf, c->obuf + c->ohead, used);
        c->ohead = 0;
        c->olen = used;
        if (c->ocap - used >= len) {
            return 0;
        }
    }
    size_t cap = c->ocap ? c->ocap : OUTPUT_MIN_CAP;
    while (cap - used < len) {
        cap *= 2;
    }
    uint8_t *p = sl__client_realloc(c->obuf, cap);
    if (!p) {
        return SL_CLIENT_E_NOMEM;
    }
    c->obuf = p;
    c->ocap = cap;
    return 0;
}

static int queue_bytes(struct sl_client *c, const void *p, size_t len)
{
    int rc = reserve_output(c, len);
    if (rc == 0) {
        memcpy(c->obuf + c->olen, p, len);
        c->olen += len;
    }
    return rc;
}

int sl__client_queue(struct sl_client *c, const sl_frame_t *frame)
{
    if (c->fault) {
        return c->fault;
    }
    size_t len = sl_frame_size(frame);
    if (len - SL_FRAME_HEADER_SIZE > c->max_frame) {
        return SL_CLIENT_E_INVAL;
    }
    int rc = reserve_output(c, len);
    if (rc < 0) {
        return rc;
    }
    if (sl_frame_encode(frame, c->obuf + c->olen) != len) {
        return SL_CLIENT_E_INVAL; /* nothing was added: olen is unchanged */
    }
    c->olen += len;
    return 0;
}

/*
 * The daemon closed its side: it may have said why in an Error frame that is still in our
 * receive queue (docs/protocol.md §11: Error, then close). Read everything left and let an
 * Error frame name the fault; without one the session simply closed.
 */
static int receive_available(struct sl_client *c);

static int fault_after_refused_write(struct sl_client *c)
{
    c->olen = c->ohead = 0; /* the daemon reads nothing more */
    while (c->fault == 0) {
        if (receive_available(c) <= 0) {
            break;
        }
    }
    return sl__client_set_fault(c, SL_CLIENT_E_CLOSED, "");
}

/* A send(2) failure other than "full" or "interrupted" ends the session. */
static int send_failed(struct sl_client *c, int err)
{
    if (err == EPIPE || err == ECONNRESET) {
        return fault_after_refused_write(c);
    }
    return sl__client_set_fault(c, -err, "sending to the daemon failed");
}

long sl__client_flush(struct sl_client *c)
{
    long total = 0;
    while (c->fault == 0 && c->ohead < c->olen) {
        ssize_t n = send(c->fd, c->obuf + c->ohead, c->olen - c->ohead, MSG_NOSIGNAL);
        if (n > 0) {
            c->ohead += (size_t)n;
            total += n;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            break;
        } else if (errno != EINTR) {
            return send_failed(c, errno);
        }
    }
    if (c->fault) {
        return c->fault;
    }
    if (c->ohead == c->olen) {
        c->ohead = c->olen = 0;
    }
    return total;
}

/* Queues the part of a Data frame [header, payload) that sendmsg did not take: sent bytes. */
static int queue_rest(struct sl_client *c, const uint8_t *header, size_t header_len,
                      const uint8_t *payload, size_t n, size_t sent)
{
    int rc = 0;
    if (sent < header_len) {
        rc = queue_bytes(c, header + sent, header_len - sent);
        sent = header_len;
    }
    if (rc == 0) {
        rc = queue_bytes(c, payload + (sent - header_len), n - (sent - header_len));
    }
    /* Half a frame is on the wire: without its rest the stream cannot be framed any more. */
    return rc < 0 ? sl__client_set_fault(c, rc, "out of memory queueing a frame") : 0;
}

long sl__client_write_data(struct sl_client *c, uint32_t channel_id, const void *payload, size_t n)
{
    uint8_t header[SL_FRAME_DATA_HEADER_MAX];
    size_t header_len = sl_frame_data_header(channel_id, n, header);
    struct iovec iov[2] = {{.iov_base = header, .iov_len = header_len},
                           {.iov_base = (void *)(uintptr_t)payload, .iov_len = n}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    for (;;) {
        if (c->fault) {
            return c->fault;
        }
        ssize_t sent = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (sent >= 0) {
            c->want_write = false;
            int rc = (size_t)sent < header_len + n
                         ? queue_rest(c, header, header_len, payload, n, (size_t)sent)
                         : 0;
            return rc < 0 ? rc : (long)n;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->want_write = true; /* nothing taken: the caller keeps its bytes */
            return 0;
        }
        if (errno != EINTR) {
            return send_failed(c, errno);
        }
    }
}

/* Input -------------------------------------------------------------------------------------- */

/*
 * Makes room to receive: moves the partial frame at rstart to the front when the rest of it
 * or RECEIVE_MIN_ROOM would not fit, and grows the buffer for a frame larger than it.
 */
static int make_room(struct sl_client *c)
{
    if (c->rstart == c->rlen) {
        c->rstart = c->rlen = 0;
    }
    uint32_t body = 0;
    size_t need = SL_FRAME_HEADER_SIZE;
    if (sl_frame_peek_length(c->rbuf + c->rstart, c->rlen - c->rstart, c->max_frame, &body) ==
        SL_FRAME_OK) {
        need += body; /* sl__client_sort already rejected a length over the maximum */
    }
    if (c->rstart > 0 && (c->rcap - c->rstart < need || c->rcap - c->rlen < RECEIVE_MIN_ROOM)) {
        memmove(c->rbuf, c->rbuf + c->rstart, c->rlen - c->rstart);
        c->rlen -= c->rstart;
        c->rstart = 0;
    }
    size_t cap = need > RECEIVE_CAP ? need : RECEIVE_CAP;
    if (cap <= c->rcap) {
        return 0;
    }
    uint8_t *p = sl__client_realloc(c->rbuf, cap);
    if (!p) {
        return sl__client_set_fault(c, SL_CLIENT_E_NOMEM, "out of memory for a received frame");
    }
    c->rbuf = p;
    c->rcap = cap;
    return 0;
}

/* Reads what the socket has and sorts it, without waiting: 1 when bytes came, 0, or a fault. */
static int receive_available(struct sl_client *c)
{
    int got = 0;
    for (int i = 0; i < READS_PER_PUMP && c->fault == 0; i++) {
        int rc = make_room(c);
        if (rc < 0) {
            return rc;
        }
        size_t room = c->rcap - c->rlen;
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            got = 1;
            rc = sl__client_sort(c);
            if (rc < 0 || (size_t)n < room) {
                return rc < 0 ? rc : got; /* a short read: the socket is empty for now */
            }
        } else if (n == 0) {
            /* strerror says "closed"; the message only adds what it cannot. */
            return sl__client_set_fault(c, SL_CLIENT_E_CLOSED,
                                        c->rlen > c->rstart ? "in the middle of a frame" : "");
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return got;
        } else if (errno == ECONNRESET) {
            return sl__client_set_fault(c, SL_CLIENT_E_CLOSED, "connection reset");
        } else if (errno != EINTR) {
            return sl__client_set_fault(c, -errno, "receiving from the daemon failed");
        }
    }
    return c->fault ? c->fault : got;
}

/* Waiting ------------------------------------------------------------------------------------ */

int sl__client_pump(struct sl_client *c)
{
    if (c->fault) {
        return c->fault;
    }
    long sent = sl__client_flush(c);
    if (sent < 0) {
        return (int)sent;
    }
    int got = receive_available(c);
    if (got < 0) {
        return got;
    }
    /* Sorting may have queued answers (Close) or credit (Window): send them now. */
    long more = c->olen > c->ohead ? sl__client_flush(c) : 0;
    if (more < 0) {
        return (int)more;
    }
    return sent > 0 || got > 0 || more > 0;
}

int sl__client_wait_ready(struct sl_client *c, uint64_t deadline_ns, bool want_write)
{
    short events = POLLIN;
    if (want_write || c->olen > c->ohead) {
        events |= POLLOUT;
    }
    int rc = wait_until(c->fd, events, deadline_ns);
    return rc == -ETIMEDOUT || rc == 0 ? rc : sl__client_set_fault(c, rc, "poll failed");
}

int sl__client_run_until(struct sl_client *c, sl__client_done_fn *done, const void *arg,
                         uint64_t deadline_ns)
{
    for (;;) {
        if (c->fault) {
            return c->fault;
        }
        if (done(c, arg)) {
            return 0;
        }
        if (deadline_ns == 0) {
            /*
             * Timeout 0 sends, but never reads: only sl_client_process sorts what arrived, so
             * after it an event loop can serve every channel before it polls again (client.h).
             */
            long sent = sl__client_flush(c);
            return sent < 0 ? (int)sent : -EAGAIN;
        }
        int rc = sl__client_pump(c);
        if (rc < 0) {
            return rc;
        }
        if (rc > 0) {
            continue; /* something moved: look again before waiting */
        }
        rc = sl__client_wait_ready(c, deadline_ns, false);
        if (rc < 0) {
            return rc;
        }
    }
}

static bool reply_arrived(const struct sl_client *c, const void *arg)
{
    (void)arg;
    return c->reply != NULL;
}

int sl__client_request(struct sl_client *c, const sl_frame_t *frame,
                       const struct sl__client_wait *wait, uint64_t deadline_ns, sl_frame_t **out)
{
    if (c->fault) {
        return c->fault;
    }
    int rc = frame ? sl__client_queue(c, frame) : 0;
    if (rc < 0) {
        return rc;
    }
    c->wait = *wait;
    rc = sl__client_run_until(c, reply_arrived, NULL, deadline_ns);
    c->wait.body = SLUICE__V1__FRAME__BODY__NOT_SET;
    if (rc == 0) {
        *out = c->reply;
    } else {
        sl_frame_free(c->reply); /* a fault may have come right after the reply */
    }
    c->reply = NULL;
    return rc;
}
