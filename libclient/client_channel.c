/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/client.h>

#include "client_internal.h"

#include <errno.h>
#include <string.h>

/*
 * The channel API after the open (client_open.c): reading, writing within the daemon's credit,
 * half-close and close. docs/protocol.md §4-6, the client's side of the state machine of §5.
 */

/* Handles ------------------------------------------------------------------------------------- */

struct sl_client_channel *sl__client_channel_new(struct sl_client *c, uint32_t id,
                                                 uint32_t recv_window, bool udp)
{
    struct sl_client_channel *ch = sl__client_calloc(1, sizeof(*ch));
    if (!ch) {
        return NULL;
    }
    ch->client = c;
    ch->state = SL__CHANNEL_OPENING;
    ch->udp = udp;
    ch->recv_window = recv_window;
    ch->recv_credit = recv_window;
    ch->info.channel_id = id;
    ch->info.receive_window = recv_window;
    ch->next = c->channels;
    if (c->channels) {
        c->channels->prev = ch;
    }
    c->channels = ch;
    return ch;
}

void sl__client_channel_free(struct sl_client_channel *ch)
{
    struct sl_client *c = ch->client;
    if (ch->prev) {
        ch->prev->next = ch->next;
    } else {
        c->channels = ch->next;
    }
    if (ch->next) {
        ch->next->prev = ch->prev;
    }
    if (c->target.ch == ch) {
        c->target.ch = NULL;
    }
    sl__client_flow_free(ch);
    sl__client_free(ch);
}

void sl__client_channel_end(struct sl_client_channel *ch, int code, const char *message)
{
    ch->state = SL__CHANNEL_ENDED;
    ch->end_code = code;
    sl__client_copy_string(ch->message, sizeof(ch->message), message);
}

int sl__client_send_close(struct sl_client *c, uint32_t id, Sluice__V1__ErrorCode code)
{
    Sluice__V1__Status status;
    sluice__v1__status__init(&status);
    status.code = code;
    Sluice__V1__Close close;
    sluice__v1__close__init(&close);
    close.channel_id = id;
    close.status = code == SLUICE__V1__ERROR_CODE__ERROR_NONE ? NULL : &status;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_CLOSE;
    frame.close = &close;
    return sl__client_queue(c, &frame);
}

/* What a call answers on a channel that ended: its code, with its message for the caller. */
static int ended(struct sl_client_channel *ch)
{
    sl__client_copy_string(ch->client->message, sizeof(ch->client->message), ch->message);
    return ch->end_code;
}

/* Queries ------------------------------------------------------------------------------------- */

int sl_client_channel_status(const struct sl_client_channel *ch)
{
    if (!ch) {
        return SL_CLIENT_E_INVAL;
    }
    if (ch->state == SL__CHANNEL_ENDED) {
        return ch->end_code;
    }
    if (ch->client->fault) {
        return ch->client->fault;
    }
    return ch->state == SL__CHANNEL_OPENING ? -EINPROGRESS : 0;
}

const struct sl_client_channel_info *sl_client_channel_info(const struct sl_client_channel *ch)
{
    return ch ? &ch->info : NULL;
}

size_t sl_client_channel_readable(const struct sl_client_channel *ch)
{
    return ch ? ch->unread : 0;
}

size_t sl_client_channel_writable(const struct sl_client_channel *ch)
{
    if (!ch || ch->state != SL__CHANNEL_OPEN || ch->sent_shutdown || ch->client->fault) {
        return 0;
    }
    return (size_t)ch->send_credit;
}

uint32_t sl_client_channel_id(const struct sl_client_channel *ch)
{
    return ch ? ch->info.channel_id : 0;
}

/* Reading ------------------------------------------------------------------------------------- */

static bool has_news(const struct sl_client *c, const void *arg)
{
    const struct sl_client_channel *ch = arg;
    return ch->unread > 0 || c->target.got > 0 || ch->got_shutdown ||
           ch->state == SL__CHANNEL_ENDED;
}

/* What a read returns when nothing is buffered and nothing more will come, else 1. */
static long end_of_reads(struct sl_client_channel *ch)
{
    if (ch->got_shutdown) {
        return 0; /* end of file, for good */
    }
    return ch->state == SL__CHANNEL_ENDED ? ended(ch) : 1;
}

static long read_buffered(struct sl_client_channel *ch, void *buf, size_t len)
{
    size_t n = 0;
    int rc = sl__client_flow_consume(ch, buf, len, &n);
    if (rc < 0) {
        return rc;
    }
    /* Send returned credit now: the daemon may be waiting for it to read the peer again. */
    long sent = ch->client->olen > ch->client->ohead ? sl__client_flush(ch->client) : 0;
    return sent < 0 ? sent : (long)n;
}

long sl_client_channel_read(struct sl_client_channel *ch, void *buf, size_t len, int timeout_ms)
{
    if (!ch || !buf || len == 0) {
        return SL_CLIENT_E_INVAL;
    }
    struct sl_client *c = ch->client;
    if (c->fault) {
        return c->fault;
    }
    if (ch->unread > 0) {
        return read_buffered(ch, buf, len);
    }
    long rc = end_of_reads(ch);
    if (rc <= 0) {
        return rc;
    }
    c->target = (struct sl__client_read_target){.ch = ch, .buf = buf, .len = len};
    rc = sl__client_run_until(c, has_news, ch, sl__client_poll_deadline(timeout_ms));
    size_t got = c->target.got;
    c->target = (struct sl__client_read_target){0};
    if (got > 0) {
        return (long)got; /* already counted as read (client_flow.c) */
    }
    if (rc < 0) {
        return rc;
    }
    return ch->unread > 0 ? read_buffered(ch, buf, len) : end_of_reads(ch);
}

/* Writing ------------------------------------------------------------------------------------- */

/*
 * Sends one Data frame of what credit allows, straight from buf; only while the output queue
 * is empty, so frames keep their order. Returns the bytes taken (0: wait), or the fault.
 */
static long send_some(struct sl_client_channel *ch, const uint8_t *buf, size_t len)
{
    struct sl_client *c = ch->client;
    if (c->olen > c->ohead) {
        long rc = sl__client_flush(c);
        if (rc < 0 || c->olen > c->ohead) {
            return rc < 0 ? rc : 0;
        }
    }
    size_t n = len;
    if (ch->state != SL__CHANNEL_OPEN || ch->send_credit == 0) {
        return 0;
    }
    if (ch->udp) {
        n = ch->send_credit >= len ? len : 0; /* a datagram is never split */
    } else {
        size_t most = c->max_frame - SL__CLIENT_DATA_OVERHEAD;
        n = n < most ? n : most;
        n = n < ch->send_credit ? n : (size_t)ch->send_credit;
    }
    long taken = n ? sl__client_write_data(c, ch->info.channel_id, buf, n) : 0;
    if (taken > 0) {
        ch->send_credit -= (uint64_t)taken;
    }
    return taken;
}

static bool output_empty(const struct sl_client *c, const void *arg)
{
    (void)arg;
    return c->olen <= c->ohead;
}

/* Waits for credit or a writable socket (unless deadline_ns is 0): 0, or why it stopped. */
static int wait_to_write(struct sl_client_channel *ch, uint64_t deadline_ns)
{
    struct sl_client *c = ch->client;
    if (deadline_ns == 0) {
        return -EAGAIN; /* timeout 0 never reads the socket (sl__client_run_until) */
    }
    int rc = sl__client_pump(c);
    if (rc < 0) {
        return rc;
    }
    if (ch->state == SL__CHANNEL_ENDED) {
        return ended(ch);
    }
    if (rc > 0) {
        return 0;
    }
    return sl__client_wait_ready(c, deadline_ns, c->want_write);
}

long sl_client_channel_write(struct sl_client_channel *ch, const void *buf, size_t len,
                             int timeout_ms)
{
    if (!ch || (!buf && len > 0)) {
        return SL_CLIENT_E_INVAL;
    }
    struct sl_client *c = ch->client;
    if (ch->udp && len > c->max_frame - SL__CLIENT_DATA_OVERHEAD) {
        return SL_CLIENT_E_INVAL;
    }
    if (c->fault) {
        return c->fault;
    }
    if (ch->state == SL__CHANNEL_ENDED) {
        return ended(ch);
    }
    if (ch->sent_shutdown) {
        return SL_CLIENT_E_CHANNEL_SHUT;
    }
    uint64_t deadline_ns = sl__client_poll_deadline(timeout_ms);
    size_t done = 0;
    while (done < len) {
        long n = send_some(ch, (const uint8_t *)buf + done, len - done);
        if (n == 0) {
            n = wait_to_write(ch, deadline_ns);
        }
        if (n < 0) {
            /* Bytes taken are on their way: a partial write is never an error. */
            return done > 0 ? (long)done : n;
        }
        done += (size_t)n;
    }
    /*
     * A blocking write returns once the daemon has everything: the tail of the last frame may
     * still sit in the output queue, and a caller that now waits on something else (or closes)
     * must not strand it there.
     */
    if (deadline_ns != 0 && c->olen > c->ohead) {
        int rc = sl__client_run_until(c, output_empty, NULL, deadline_ns);
        if (rc < 0 && rc != -ETIMEDOUT) {
            return rc;
        }
    }
    return (long)done;
}

/* Half-close and close ------------------------------------------------------------------------ */

int sl_client_channel_shutdown(struct sl_client_channel *ch)
{
    if (!ch) {
        return SL_CLIENT_E_INVAL;
    }
    struct sl_client *c = ch->client;
    if (c->fault) {
        return c->fault;
    }
    if (ch->state == SL__CHANNEL_ENDED) {
        return ended(ch);
    }
    if (ch->sent_shutdown) {
        return 0; /* §10: a repeated Shutdown counts toward the empty-frame limit */
    }
    Sluice__V1__Shutdown shutdown;
    sluice__v1__shutdown__init(&shutdown);
    shutdown.channel_id = ch->info.channel_id;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_SHUTDOWN;
    frame.shutdown = &shutdown;
    int rc = sl__client_queue(c, &frame);
    if (rc < 0) {
        return rc;
    }
    ch->sent_shutdown = true; /* §6.1: our credit is 0 from now on */
    long sent = sl__client_flush(c);
    return sent < 0 ? (int)sent : 0;
}

void sl_client_channel_close(struct sl_client_channel *ch, bool abort)
{
    if (!ch) {
        return;
    }
    struct sl_client *c = ch->client;
    uint32_t id = ch->info.channel_id;
    if (ch->routed && c->fault == 0) {
        /*
         * Any code but ERROR_NONE makes the daemon reset the connection (§4.4); RESET says
         * what happens. The id stays reserved, with no handle, until the daemon's Close.
         */
        int rc = sl__client_send_close(c, id,
                                       abort ? SLUICE__V1__ERROR_CODE__ERROR_RESET
                                             : SLUICE__V1__ERROR_CODE__ERROR_NONE);
        if (rc < 0) {
            (void)sl__client_set_fault(c, rc, "cannot queue a Close frame"); /* no way to tell */
        } else {
            sl__client_route_find(c, id)->ch = NULL;
            ch->routed = false;
            (void)sl__client_flush(c); /* a fault is reported by the next call */
        }
    }
    if (ch->routed) {
        sl__client_route_remove(c, id);
    }
    sl__client_channel_free(ch);
}
