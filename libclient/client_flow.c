/* SPDX-License-Identifier: Apache-2.0 */
#include "client_internal.h"

#include <string.h>

/*
 * The receive side of a channel's flow control (docs/protocol.md §6, §14.6): payload waits in
 * a per-channel buffer until the application reads it, and the credit the daemon spends comes
 * back in Window frames once half the window has been read. Since unread + recv_credit +
 * unreturned == W at all times, a stream channel's buffer never needs more than W bytes.
 *
 * UDP channels keep each datagram behind a 4-byte length, so a read returns exactly one. The
 * lengths are not payload and do not count against the window.
 */

#define FIRST_BUFFER_CAP (64u * 1024) /* grown as payload waits, up to the window */
#define DATAGRAM_PREFIX  4u

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Makes room for n more bytes at rend, moving unread bytes to the front before growing. */
static int reserve(struct sl_client_channel *ch, size_t n)
{
    size_t used = ch->rend - ch->rstart;
    if (ch->rcap - ch->rend >= n) {
        return 0;
    }
    if (ch->rstart > 0) {
        memmove(ch->rbuf, ch->rbuf + ch->rstart, used);
        ch->rstart = 0;
        ch->rend = used;
        if (ch->rcap - used >= n) {
            return 0;
        }
    }
    size_t cap = ch->rcap ? ch->rcap * 2 : FIRST_BUFFER_CAP;
    while (cap < used + n) {
        cap *= 2;
    }
    if (!ch->udp && cap > ch->recv_window && ch->recv_window >= used + n) {
        cap = ch->recv_window; /* the most a stream channel ever holds */
    }
    uint8_t *p = sl__client_realloc(ch->rbuf, cap);
    if (!p) {
        return sl__client_set_fault(ch->client, SL_CLIENT_E_NOMEM, "out of memory for payload");
    }
    ch->rbuf = p;
    ch->rcap = cap;
    return 0;
}

static void put_prefix(uint8_t *dst, size_t len)
{
    dst[0] = (uint8_t)(len >> 24);
    dst[1] = (uint8_t)(len >> 16);
    dst[2] = (uint8_t)(len >> 8);
    dst[3] = (uint8_t)len;
}

static size_t get_prefix(const uint8_t *src)
{
    return (size_t)src[0] << 24 | (size_t)src[1] << 16 | (size_t)src[2] << 8 | src[3];
}

int sl__client_flow_consumed(struct sl_client_channel *ch, size_t n)
{
    ch->unreturned += n;
    /* §6.2: nothing is owed after the daemon's Shutdown or a Close either way. */
    if (ch->unreturned < ch->recv_window / 2 || ch->got_shutdown || !ch->routed ||
        ch->state != SL__CHANNEL_OPEN) {
        return 0;
    }
    Sluice__V1__Window window;
    sluice__v1__window__init(&window);
    window.channel_id = ch->info.channel_id;
    window.increment = (uint32_t)ch->unreturned; /* at most W, a uint32_t */
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_WINDOW;
    frame.window = &window;
    int rc = sl__client_queue(ch->client, &frame);
    if (rc < 0) {
        /* Credit we cannot return would stall the channel for good: end the session. */
        return sl__client_set_fault(ch->client, rc, "cannot queue a Window frame");
    }
    ch->recv_credit += ch->unreturned;
    ch->unreturned = 0;
    return 0;
}

/*
 * A blocking read waits on this channel with nothing buffered: copy straight into its buffer.
 * Returns how many bytes of payload it took.
 */
static size_t deliver_to_reader(struct sl_client_channel *ch, const uint8_t *payload, size_t len)
{
    struct sl__client_read_target *t = &ch->client->target;
    if (t->ch != ch || ch->udp || ch->unread > 0 || t->got == t->len) {
        return 0;
    }
    size_t n = min_size(len, t->len - t->got);
    memcpy(t->buf + t->got, payload, n);
    t->got += n;
    return n;
}

int sl__client_flow_receive(struct sl_client_channel *ch, const uint8_t *payload, size_t len)
{
    struct sl_client *c = ch->client;
    if (ch->got_shutdown) {
        return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, "Data after the daemon's Shutdown");
    }
    if (len > ch->recv_credit) {
        return sl__client_set_fault(c, SL_CLIENT_E_BAD_FRAME, "Data beyond the receive window");
    }
    ch->recv_credit -= len;
    size_t direct = deliver_to_reader(ch, payload, len);
    if (direct > 0) {
        int rc = sl__client_flow_consumed(ch, direct);
        if (rc < 0 || direct == len) {
            return rc;
        }
    }
    size_t prefix = ch->udp ? DATAGRAM_PREFIX : 0;
    int rc = reserve(ch, prefix + len - direct);
    if (rc < 0) {
        return rc;
    }
    if (ch->udp) {
        put_prefix(ch->rbuf + ch->rend, len);
    }
    memcpy(ch->rbuf + ch->rend + prefix, payload + direct, len - direct);
    ch->rend += prefix + len - direct;
    ch->unread += len - direct;
    return 0;
}

int sl__client_flow_consume(struct sl_client_channel *ch, uint8_t *buf, size_t len, size_t *count)
{
    size_t taken = 0;  /* payload leaving the buffer, counted as read */
    size_t copied = 0; /* what the caller receives: a datagram may be cut short */
    if (ch->udp) {
        taken = get_prefix(ch->rbuf + ch->rstart);
        copied = min_size(len, taken);
        memcpy(buf, ch->rbuf + ch->rstart + DATAGRAM_PREFIX, copied);
        ch->rstart += DATAGRAM_PREFIX + taken;
    } else {
        taken = copied = min_size(len, ch->unread);
        memcpy(buf, ch->rbuf + ch->rstart, copied);
        ch->rstart += copied;
    }
    ch->unread -= taken;
    if (ch->rstart == ch->rend) {
        ch->rstart = ch->rend = 0;
    }
    *count = copied;
    return sl__client_flow_consumed(ch, taken);
}

void sl__client_flow_free(struct sl_client_channel *ch)
{
    sl__client_free(ch->rbuf);
    ch->rbuf = NULL;
    ch->rcap = ch->rstart = ch->rend = ch->unread = 0;
}
