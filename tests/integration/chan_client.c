/* SPDX-License-Identifier: Apache-2.0 */
#include "chan_client.h"

#include "test_handler.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME  1099511628211ull
#define MAX_OUT    ((size_t)1 << 20)

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * FNV_PRIME;
    }
    return h;
}

void chan_client_attach(struct chan_client *cc, const struct daemon_proc *d)
{
    memset(cc, 0, sizeof(*cc));
    raw_attach(&cc->raw, d, "channels");
    int flags = fcntl(cc->raw.fd, F_GETFL);
    ck_assert_int_eq(fcntl(cc->raw.fd, F_SETFL, flags | O_NONBLOCK), 0);
    cc->out_cap = MAX_OUT + 2 * SL_FRAME_DEFAULT_MAX;
    cc->out = malloc(cc->out_cap);
    ck_assert_ptr_nonnull(cc->out);
}

void chan_client_close(struct chan_client *cc)
{
    raw_close(&cc->raw);
    free(cc->out);
    memset(cc, 0, sizeof(*cc));
}

void chan_queue(struct chan_client *cc, const sl_frame_t *frame)
{
    size_t size = sl_frame_size(frame);
    ck_assert_uint_le(cc->out_len + size, cc->out_cap);
    cc->out_len += sl_frame_encode(frame, cc->out + cc->out_len);
}

void chan_open(struct chan_client *cc, struct chan *ch, uint32_t id, uint32_t port)
{
    ch->id = id;
    ch->sent_hash = ch->recv_hash = FNV_OFFSET;
    ck_assert_int_lt(cc->count, 16);
    cc->chans[cc->count++] = ch;
    Sluice__V1__TcpTarget tcp;
    sluice__v1__tcp_target__init(&tcp);
    tcp.host = "127.0.0.1";
    tcp.port = port;
    Sluice__V1__Open open;
    sluice__v1__open__init(&open);
    open.channel_id = id;
    open.target_case = SLUICE__V1__OPEN__TARGET_TCP;
    open.tcp = &tcp;
    open.window = ch->window;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_OPEN;
    f.open = &open;
    chan_queue(cc, &f);
}

static struct chan *find(struct chan_client *cc, uint32_t id)
{
    for (int i = 0; i < cc->count; i++) {
        if (cc->chans[i]->id == id) {
            return cc->chans[i];
        }
    }
    return NULL;
}

static void queue_small(struct chan_client *cc, Sluice__V1__Frame__BodyCase which, void *body)
{
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = which;
    f.window = body;
    chan_queue(cc, &f);
}

/* Data while there is credit, then Shutdown if asked; Window when half the window is owed. */
static void queue_outgoing(struct chan_client *cc, struct chan *ch)
{
    static uint8_t chunk[65536];
    while (ch->opened && !ch->closed && ch->sent < ch->to_send && ch->may_send > 0 &&
           cc->out_len < MAX_OUT) {
        size_t n = sizeof(chunk);
        n = n < ch->may_send ? n : (size_t)ch->may_send;
        n = n < ch->to_send - ch->sent ? n : (size_t)(ch->to_send - ch->sent);
        for (size_t i = 0; i < n; i++) {
            chunk[i] = test_pattern((size_t)(ch->sent + i));
        }
        cc->out_len += sl_frame_data_header(ch->id, n, cc->out + cc->out_len);
        memcpy(cc->out + cc->out_len, chunk, n);
        cc->out_len += n;
        ch->sent_hash = fnv(ch->sent_hash, chunk, n);
        ch->sent += n;
        ch->may_send -= n;
    }
    if (ch->opened && !ch->closed && ch->shutdown_after_send && !ch->shutdown_sent &&
        ch->sent == ch->to_send) {
        ch->shutdown_sent = true;
        Sluice__V1__Shutdown s;
        sluice__v1__shutdown__init(&s);
        s.channel_id = ch->id;
        queue_small(cc, SLUICE__V1__FRAME__BODY_SHUTDOWN, &s);
    }
    if (!ch->hold && !ch->closed && ch->owed >= ch->window / 2 && ch->owed > 0) {
        Sluice__V1__Window w;
        sluice__v1__window__init(&w);
        w.channel_id = ch->id;
        w.increment = (uint32_t)ch->owed;
        ch->owed = 0;
        queue_small(cc, SLUICE__V1__FRAME__BODY_WINDOW, &w);
    }
}

static struct chan *must_find(struct chan_client *cc, uint32_t id)
{
    struct chan *ch = find(cc, id);
    ck_assert_msg(ch != NULL, "a frame for channel %u, which we never opened", id);
    return ch;
}

static void on_data(struct chan_client *cc, const Sluice__V1__Data *data)
{
    struct chan *ch = must_find(cc, data->channel_id);
    ch->recv_hash = fnv(ch->recv_hash, data->payload.data, data->payload.len);
    ch->received += data->payload.len;
    ch->owed += data->payload.len;
    ck_assert_msg(ch->owed <= ch->window, "the daemon sent %llu bytes over a %u window",
                  (unsigned long long)ch->owed, ch->window);
}

static void on_frame(struct chan_client *cc, const sl_frame_t *f)
{
    if (f->body_case == SLUICE__V1__FRAME__BODY_OPENED) {
        struct chan *ch = must_find(cc, f->opened->channel_id);
        ch->opened = true;
        ch->may_send = f->opened->window;
    } else if (f->body_case == SLUICE__V1__FRAME__BODY_OPEN_FAILED) {
        struct chan *ch = must_find(cc, f->open_failed->channel_id);
        if (ch->opened) { /* a second Open with the id of this one was refused */
            cc->duplicate_fail_code = (int)f->open_failed->status->code;
            return;
        }
        ch->failed = true;
        ch->fail_code = f->open_failed->status->code;
    } else if (f->body_case == SLUICE__V1__FRAME__BODY_DATA) {
        on_data(cc, f->data);
    } else if (f->body_case == SLUICE__V1__FRAME__BODY_WINDOW) {
        must_find(cc, f->window->channel_id)->may_send += f->window->increment;
    } else if (f->body_case == SLUICE__V1__FRAME__BODY_SHUTDOWN) {
        must_find(cc, f->shutdown->channel_id)->peer_shut = true;
    } else if (f->body_case == SLUICE__V1__FRAME__BODY_CLOSE) {
        struct chan *ch = must_find(cc, f->close->channel_id);
        if (!ch->closed) { /* the first Close says why; later ones answer ours */
            ch->closed = true;
            ch->close_code = f->close->status ? (int)f->close->status->code : 0;
        }
        if (!ch->close_sent) { /* answer it: then the id is free on both sides */
            ch->close_sent = true;
            Sluice__V1__Close close;
            sluice__v1__close__init(&close);
            close.channel_id = ch->id;
            queue_small(cc, SLUICE__V1__FRAME__BODY_CLOSE, &close);
        }
    }
}

static void flush_out(struct chan_client *cc)
{
    size_t off = 0;
    while (off < cc->out_len) {
        ssize_t n = send(cc->raw.fd, cc->out + off, cc->out_len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        ck_assert_msg(n > 0, "send to sluiced: %s", strerror(errno));
        off += (size_t)n;
    }
    memmove(cc->out, cc->out + off, cc->out_len - off);
    cc->out_len -= off;
}

static void read_in(struct chan_client *cc)
{
    for (;;) {
        struct raw_client *r = &cc->raw;
        if (r->len == r->cap) {
            break; /* decode first: that makes room */
        }
        ssize_t n = recv(r->fd, r->buf + r->len, r->cap - r->len, 0);
        if (n <= 0) {
            ck_assert_msg(n < 0 && (errno == EAGAIN || errno == EINTR), "sluiced hung up");
            break;
        }
        r->len += (size_t)n;
    }
    size_t off = 0;
    for (;;) {
        sl_frame_t *f = NULL;
        size_t used = 0;
        int rc = sl_frame_decode(cc->raw.buf + off, cc->raw.len - off, SL_FRAME_LIMIT, &f, &used);
        if (rc != SL_FRAME_OK) {
            ck_assert_int_eq(rc, SL_FRAME_INCOMPLETE);
            break;
        }
        on_frame(cc, f);
        sl_frame_free(f);
        off += used;
    }
    memmove(cc->raw.buf, cc->raw.buf + off, cc->raw.len - off);
    cc->raw.len -= off;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool chan_pump(struct chan_client *cc, bool (*done)(struct chan_client *), int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    while (!done(cc) && now_ms() < deadline) {
        for (int i = 0; i < cc->count; i++) {
            queue_outgoing(cc, cc->chans[i]);
        }
        flush_out(cc);
        struct pollfd pfd = {.fd = cc->raw.fd, .events = POLLIN | (cc->out_len ? POLLOUT : 0)};
        poll(&pfd, 1, 20);
        read_in(cc);
    }
    return done(cc);
}
