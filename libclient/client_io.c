/* SPDX-License-Identifier: Apache-2.0 */
#include "client_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * The socket side of the client: everything that blocks goes through wait_until(), one poll(2)
 * bounded by the caller's deadline, so no call ever blocks longer than its timeout.
 */

#define INITIAL_RECEIVE_CAP 4096u
#define CONNECT_RETRY_MS    10 /* backlog full: Linux says EAGAIN for Unix sockets, no queueing */
#define SEND_STACK_CAP      1024u

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
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
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

/* Receiving ---------------------------------------------------------------------------------- */

/*
 * What an arriving frame means to a client that has no channel yet (docs/protocol.md):
 * REPLY answers a request and is matched by id; HANDSHAKE is a reply without an id, valid only
 * when awaited; CHANNEL frames name a channel or listener this client cannot have opened (the
 * protocol makes those channel faults, never session faults, so they are dropped: TODO(client):
 * answer Close{ERROR_UNKNOWN_CHANNEL} once the channel API exists, issue 7); a frame only a
 * client sends is out of order.
 */
enum frame_kind {
    KIND_EMPTY,
    KIND_HANDSHAKE,
    KIND_REPLY,
    KIND_CHANNEL,
    KIND_GO_AWAY,
    KIND_ERROR,
    KIND_CLIENT_ONLY,
};

static enum frame_kind kind_of(Sluice__V1__Frame__BodyCase body)
{
    switch (body) {
    case SLUICE__V1__FRAME__BODY__NOT_SET:
        return KIND_EMPTY;
    case SLUICE__V1__FRAME__BODY_SERVER_HELLO:
    case SLUICE__V1__FRAME__BODY_WELCOME:
        return KIND_HANDSHAKE;
    case SLUICE__V1__FRAME__BODY_RESOLVED:
    case SLUICE__V1__FRAME__BODY_PONG:
    case SLUICE__V1__FRAME__BODY_STATS:
        return KIND_REPLY;
    case SLUICE__V1__FRAME__BODY_OPENED:
    case SLUICE__V1__FRAME__BODY_OPEN_FAILED:
    case SLUICE__V1__FRAME__BODY_DATA:
    case SLUICE__V1__FRAME__BODY_WINDOW:
    case SLUICE__V1__FRAME__BODY_SHUTDOWN:
    case SLUICE__V1__FRAME__BODY_CLOSE:
    case SLUICE__V1__FRAME__BODY_LISTENING:
    case SLUICE__V1__FRAME__BODY_LISTEN_FAILED:
    case SLUICE__V1__FRAME__BODY_ACCEPTED:
    case SLUICE__V1__FRAME__BODY_LISTENER_CLOSED:
        return KIND_CHANNEL;
    case SLUICE__V1__FRAME__BODY_GO_AWAY:
        return KIND_GO_AWAY;
    case SLUICE__V1__FRAME__BODY_ERROR:
        return KIND_ERROR;
    case SLUICE__V1__FRAME__BODY_HELLO:
    case SLUICE__V1__FRAME__BODY_OPEN:
    case SLUICE__V1__FRAME__BODY_LISTEN:
    case SLUICE__V1__FRAME__BODY_UNLISTEN:
    case SLUICE__V1__FRAME__BODY_RESOLVE:
    case SLUICE__V1__FRAME__BODY_PING:
    case SLUICE__V1__FRAME__BODY_STATS_REQUEST:
    case _SLUICE__V1__FRAME__BODY__CASE_IS_INT_SIZE:
        break;
    }
    return KIND_CLIENT_ONLY;
}

/* The id that ties a reply to its request (0 for other frames). */
static uint64_t reply_id(const sl_frame_t *f)
{
    if (f->body_case == SLUICE__V1__FRAME__BODY_PONG) {
        return f->pong->payload;
    }
    if (f->body_case == SLUICE__V1__FRAME__BODY_RESOLVED) {
        return f->resolved->request_id;
    }
    if (f->body_case == SLUICE__V1__FRAME__BODY_STATS) {
        return f->stats->request_id;
    }
    return 0;
}

static bool is_awaited(const struct sl__client_wait *wait, const sl_frame_t *f)
{
    if (wait->body == SLUICE__V1__FRAME__BODY__NOT_SET || f->body_case != wait->body) {
        return false;
    }
    return !wait->has_id || reply_id(f) == wait->id;
}

int sl__client_status_code(const Sluice__V1__Status *status)
{
    uint32_t code = status ? (uint32_t)status->code : 0;
    /*
     * docs/protocol.md §12: accept codes this version does not know as ERROR_INTERNAL. Codes
     * from 1000 on would read as local errors; an Error that says ERROR_NONE says nothing.
     */
    if (code == 0 || code >= 1000) {
        code = SLUICE__V1__ERROR_CODE__ERROR_INTERNAL;
    }
    return SL_CLIENT_E_PROTOCOL(code);
}

static int on_error_frame(struct sl_client *c, const sl_frame_t *f)
{
    const Sluice__V1__Status *st = f->error->status;
    return sl__client_set_fault(c, sl__client_status_code(st), st ? st->message : NULL);
}

static void on_go_away(struct sl_client *c, const sl_frame_t *f)
{
    c->go_away = true;
    c->go_away_deadline_ms = f->go_away->deadline_ms;
    sl__client_copy_string(c->go_away_reason, sizeof(c->go_away_reason), f->go_away->reason);
}

/* The body's field name in sluice.proto ("server_hello"), for messages. */
static const char *body_name(Sluice__V1__Frame__BodyCase body)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field(&sluice__v1__frame__descriptor, (unsigned)body);
    return field ? field->name : "unknown";
}

/*
 * Sorts one frame that is not the awaited one. Returns 0 when it was absorbed (the frame is
 * freed here in every case), or the session fault it caused.
 */
static int absorb(struct sl_client *c, sl_frame_t *f)
{
    char what[96];
    int rc = 0;
    switch (kind_of(f->body_case)) {
    case KIND_EMPTY:
        break;
    case KIND_REPLY:
        break; /* its request timed out; ids are never reused, so no call will ask for it */
    case KIND_CHANNEL:
        break; /* see enum frame_kind */
    case KIND_GO_AWAY:
        on_go_away(c, f);
        break;
    case KIND_ERROR:
        rc = on_error_frame(c, f);
        break;
    case KIND_HANDSHAKE:
    case KIND_CLIENT_ONLY:
        (void)snprintf(what, sizeof(what), "unexpected %s frame from the daemon",
                       body_name(f->body_case));
        rc = sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, what);
        break;
    }
    sl_frame_free(f);
    return rc;
}

/* Decodes the frame at the front of the buffer: SL_FRAME_OK, SL_FRAME_INCOMPLETE or a fault. */
static int take_frame(struct sl_client *c, size_t *pos, sl_frame_t **out)
{
    size_t used = 0;
    int rc = sl_frame_decode(c->rbuf + *pos, c->rlen - *pos, c->max_frame, out, &used);
    if (rc == SL_FRAME_OK) {
        *pos += used;
        return rc;
    }
    char what[96];
    uint32_t len = 0;
    switch (rc) {
    case SL_FRAME_INCOMPLETE:
        return rc;
    case SL_FRAME_TOO_LARGE:
        (void)sl_frame_peek_length(c->rbuf + *pos, c->rlen - *pos, UINT32_MAX, &len);
        (void)snprintf(what, sizeof(what), "a frame of %u bytes, over the maximum of %u", len,
                       c->max_frame);
        return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, what);
    case SL_FRAME_NO_MEMORY:
        return sl__client_set_fault(c, SL_CLIENT_E_NOMEM, "out of memory decoding a frame");
    default:
        return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, sl_frame_result_name(rc));
    }
}

/*
 * Sorts every whole frame in the buffer until the awaited one: 1 with *out set, 0 when the
 * buffer holds no more whole frames, or the session fault. Decoded bytes are dropped.
 */
static int sort_buffered(struct sl_client *c, const struct sl__client_wait *wait, sl_frame_t **out)
{
    size_t pos = 0;
    int rc = 0;
    while (rc == 0) {
        sl_frame_t *f = NULL;
        int taken = take_frame(c, &pos, &f);
        if (taken != SL_FRAME_OK) {
            rc = taken == SL_FRAME_INCOMPLETE ? 0 : taken;
            break;
        }
        if (is_awaited(wait, f)) {
            *out = f;
            rc = 1;
        } else {
            rc = absorb(c, f);
        }
    }
    if (c->fault == 0 && pos > 0) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
    return rc;
}

/* Makes room for the frame at the front of the buffer, or for more bytes when it is full. */
static int reserve(struct sl_client *c)
{
    uint32_t body = 0;
    size_t need = c->rlen + 1;
    if (sl_frame_peek_length(c->rbuf, c->rlen, c->max_frame, &body) == SL_FRAME_OK) {
        need = SL_FRAME_HEADER_SIZE + (size_t)body; /* take_frame already rejected a large one */
    }
    if (need <= c->rcap) {
        return 0;
    }
    size_t cap = need < INITIAL_RECEIVE_CAP ? INITIAL_RECEIVE_CAP : need;
    uint8_t *p = sl__client_realloc(c->rbuf, cap);
    if (!p) {
        return sl__client_set_fault(c, SL_CLIENT_E_NOMEM, "out of memory for a received frame");
    }
    c->rbuf = p;
    c->rcap = cap;
    return 0;
}

/* Reads what the socket has, waiting until deadline_ns for the first byte. */
static int receive_some(struct sl_client *c, uint64_t deadline_ns)
{
    int rc = reserve(c);
    while (rc == 0) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            return 0;
        }
        if (n == 0) {
            /* strerror says "closed"; the message only adds what it cannot. */
            return sl__client_set_fault(c, SL_CLIENT_E_CLOSED,
                                        c->rlen ? "in the middle of a frame" : "");
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            rc = wait_until(c->fd, POLLIN, deadline_ns);
        } else if (errno == ECONNRESET) {
            rc = sl__client_set_fault(c, SL_CLIENT_E_CLOSED, "connection reset");
        } else if (errno != EINTR) {
            rc = sl__client_set_fault(c, -errno, "receiving from the daemon failed");
        }
    }
    return rc;
}

int sl__client_wait_for(struct sl_client *c, const struct sl__client_wait *wait,
                        uint64_t deadline_ns, sl_frame_t **out)
{
    for (;;) {
        if (c->fault) {
            return c->fault;
        }
        int rc = sort_buffered(c, wait, out);
        if (rc != 0) {
            return rc > 0 ? 0 : rc;
        }
        rc = receive_some(c, deadline_ns);
        if (rc < 0) {
            return rc;
        }
    }
}

/* Sending ------------------------------------------------------------------------------------- */

/*
 * The daemon closed its side: it may have said why in an Error frame that is still in our
 * receive queue (docs/protocol.md: Error, then close). Read everything left and let an Error
 * frame name the fault; without one the session simply closed.
 */
static int fault_after_refused_write(struct sl_client *c)
{
    const struct sl__client_wait none = {.body = SLUICE__V1__FRAME__BODY__NOT_SET};
    sl_frame_t *unused = NULL;
    while (c->fault == 0) {
        /* The deadline is now: this only drains what has already arrived. */
        if (sort_buffered(c, &none, &unused) < 0 || receive_some(c, 0) < 0) {
            break;
        }
    }
    return sl__client_set_fault(c, SL_CLIENT_E_CLOSED, "");
}

static int write_all(struct sl_client *c, const uint8_t *p, size_t len, uint64_t deadline_ns)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(c->fd, p + done, len - done, MSG_NOSIGNAL);
        if (n >= 0) {
            done += (size_t)n;
            continue;
        }
        int rc = -errno;
        if (rc == -EAGAIN || rc == -EWOULDBLOCK) {
            rc = wait_until(c->fd, POLLOUT, deadline_ns);
        } else if (rc == -EINTR) {
            rc = 0;
        } else if (rc == -EPIPE || rc == -ECONNRESET) {
            return fault_after_refused_write(c);
        }
        if (rc == -ETIMEDOUT && done > 0) {
            return sl__client_set_fault(c, rc, "timed out in the middle of sending a frame");
        }
        if (rc < 0) {
            return rc == -ETIMEDOUT ? rc : sl__client_set_fault(c, rc, "sending failed");
        }
    }
    return 0;
}

int sl__client_send(struct sl_client *c, const sl_frame_t *frame, uint64_t deadline_ns)
{
    if (c->fault) {
        return c->fault;
    }
    size_t len = sl_frame_size(frame);
    if (len - SL_FRAME_HEADER_SIZE > c->max_frame) {
        return SL_CLIENT_E_INVAL;
    }
    /* Control frames fit on the stack; the heap is for the rare large one. */
    uint8_t stack[SEND_STACK_CAP];
    uint8_t *buf = len <= sizeof(stack) ? stack : sl__client_calloc(1, len);
    if (!buf) {
        return SL_CLIENT_E_NOMEM;
    }
    size_t n = sl_frame_encode(frame, buf);
    int rc = n == len ? write_all(c, buf, len, deadline_ns) : SL_CLIENT_E_INVAL;
    if (buf != stack) {
        sl__client_free(buf);
    }
    return rc;
}
