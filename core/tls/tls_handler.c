/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_handler.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

#include <errno.h>
#include <stdio.h>
#include <openssl/err.h>
#include <string.h>

/*
 * The TLS channel handler: records in from the left, plaintext out to the right, and back.
 *
 * Reading. Ciphertext messages from the socket handler wait in in_queue until OpenSSL takes
 * them through our BIO. Plaintext is pulled out with SSL_read only while the handler on the
 * right has window for it, so what cannot be passed on stays ciphertext (or, at most one
 * record, inside OpenSSL). This slot's own window is reopened by exactly the ciphertext OpenSSL
 * has taken, so the socket is asked for more only when there is room: at most CIPHERTEXT_WINDOW
 * bytes wait here, whatever the peer does.
 *
 * Writing. Each plaintext message becomes one SSL_write (OpenSSL cuts it into full records);
 * the records go straight into a write message for the socket. The plaintext message is held
 * until the last of its ciphertext has reached the kernel, then its completion runs, so "write
 * complete" means the same thing with or without TLS.
 */

#define CIPHERTEXT_WINDOW ((size_t)128 * 1024)

/* Record overhead: header + explicit nonce/tag (AEAD), or IV + MAC + padding (CBC, worst). */
#define OVERHEAD_TLS13 ((size_t)5 + 16 + 1)
#define OVERHEAD_AEAD  ((size_t)5 + 8 + 16)
#define OVERHEAD_CBC   ((size_t)5 + 16 + 48 + 16)

static const struct sl_handler_vtable s_tls_vtable;

static struct tls_handler *from_base(struct sl_handler *handler)
{
    return sl_container_of(handler, struct tls_handler, base);
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t record_overhead(struct tls_handler *h)
{
    if (h->state != TLS_OPEN) {
        return OVERHEAD_CBC;
    }
    if (SSL_version(h->ssl) >= TLS1_3_VERSION) {
        return OVERHEAD_TLS13;
    }
    const SSL_CIPHER *c = SSL_get_current_cipher(h->ssl);
    return c && SSL_CIPHER_is_aead(c) ? OVERHEAD_AEAD : OVERHEAD_CBC;
}

/* Idle memory --------------------------------------------------------------------------------- */

/*
 * OpenSSL keeps a read and a write buffer of about 17 KiB each per connection. They are freed
 * once the connection has seen no records for IDLE_RELEASE_NS, so an idle channel costs little,
 * without a malloc/free per record while data flows.
 */
#define IDLE_RELEASE_NS (50 * SL_NS_PER_MS)

static void schedule_idle_check(struct tls_handler *h);

static void idle_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct tls_handler *h = arg;
    h->idle_task_pending = false;
    if (status != SL_TASK_RUN || h->state != TLS_OPEN) {
        return;
    }
    if (h->active_since_check) {
        h->active_since_check = false;
        schedule_idle_check(h); /* still busy: look again later */
        return;
    }
    /*
     * Fails while part of a record waits in the read buffer. Then the next record's activity
     * schedules another look; no timer keeps polling a peer that stalls mid-record.
     */
    (void)SSL_free_buffers(h->ssl);
}

static void schedule_idle_check(struct tls_handler *h)
{
    struct sl_channel *channel = tls_channel(h);
    h->idle_task_pending = true;
    sl_channel_task_init(&h->idle_task, idle_fn, h, "tls_release_buffers");
    sl_channel_schedule_task_at(channel, &h->idle_task,
                                sl_loop_now_ns(sl_channel_loop(channel)) + IDLE_RELEASE_NS);
}

static void note_activity(struct tls_handler *h)
{
    h->active_since_check = true;
    if (!h->idle_task_pending && h->state == TLS_OPEN) {
        schedule_idle_check(h);
    }
}

/* The BIO's side ------------------------------------------------------------------------------ */

static int bio_take(void *io, uint8_t *dst, size_t len, size_t *n)
{
    struct tls_handler *h = io;
    struct sl_channel *channel = tls_channel(h);
    size_t done = 0;
    while (done < len && h->in_queued > 0) {
        struct sl_msg *msg = sl_container_of(sl_list_front(&h->in_queue), struct sl_msg, node);
        size_t chunk = min_size(len - done, msg->data.len - h->in_offset);
        memcpy(dst + done, msg->data.data + h->in_offset, chunk);
        done += chunk;
        h->in_offset += chunk;
        h->in_queued -= chunk;
        if (h->in_offset == msg->data.len) {
            sl_list_remove(&msg->node);
            sl_channel_release_msg(channel, msg);
            h->in_offset = 0;
        }
    }
    h->in_consumed += done;
    *n = done;
    return done > 0 ? 0 : -EAGAIN;
}

static bool bio_at_eof(void *io)
{
    struct tls_handler *h = io;
    return h->eof_received && h->in_queued == 0;
}

static int bio_put(void *io, const uint8_t *src, size_t len)
{
    struct tls_handler *h = io;
    struct sl_channel *channel = tls_channel(h);
    if (!h->out && !h->coalesce) {
        /* Nothing of ours is waiting: the socket may take the record from OpenSSL's buffer. */
        size_t taken = 0;
        sl_slot_write_now(h->base.slot, sl_cursor_from(src, len), &taken);
        h->io_write_bytes += taken;
        src += taken;
        len -= taken;
    }
    while (len > 0) {
        if (h->out && h->out->data.len == h->out->data.cap) {
            struct sl_msg *full = h->out;
            h->out = NULL;
            h->io_write_bytes += full->data.len;
            int rc = sl_slot_send(h->base.slot, full, SL_DIR_WRITE);
            if (rc < 0) {
                sl_channel_release_msg(channel, full);
                return rc;
            }
        }
        if (!h->out) {
            SL_TRY(sl_channel_acquire_msg(channel, h->out_hint > len ? h->out_hint : len, &h->out));
        }
        size_t chunk = min_size(len, h->out->data.cap - h->out->data.len);
        memcpy(h->out->data.data + h->out->data.len, src, chunk);
        h->out->data.len += chunk;
        src += chunk;
        len -= chunk;
    }
    return 0;
}

/* Writing ------------------------------------------------------------------------------------- */

static void on_ciphertext_written(struct sl_channel *channel, struct sl_msg *msg, int status,
                                  void *user_data)
{
    (void)msg;
    struct sl_msg *plaintext = user_data;
    sl_msg_complete_fn *on_complete = plaintext->on_complete;
    plaintext->on_complete = NULL;
    on_complete(channel, plaintext, status, plaintext->user_data);
    sl_channel_release_msg(channel, plaintext);
}

static void completion_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status; /* cancelled or not, those bytes did reach the kernel */
    struct tls_handler *h = arg;
    h->completion_task_pending = false;
    struct sl_channel *channel = tls_channel(h);
    struct sl_list_node *node;
    while ((node = sl_list_front(&h->written)) != NULL) {
        sl_list_remove(node);
        struct sl_msg *msg = sl_container_of(node, struct sl_msg, node);
        sl_msg_complete_fn *on_complete = msg->on_complete;
        msg->on_complete = NULL;
        on_complete(channel, msg, 0, msg->user_data);
        sl_channel_release_msg(channel, msg);
    }
}

/* Every record of plaintext went out directly: its completion follows from a task. */
static void complete_later(struct tls_handler *h, struct sl_msg *plaintext)
{
    sl_list_push_back(&h->written, &plaintext->node);
    if (!h->completion_task_pending) {
        h->completion_task_pending = true;
        sl_channel_task_init(&h->completion_task, completion_fn, h, "tls_write_completions");
        sl_channel_schedule_task_now(tls_channel(h), &h->completion_task);
    }
}

int sl__tls_flush_out(struct tls_handler *h, struct sl_msg *plaintext, bool end_of_stream)
{
    struct sl_channel *channel = tls_channel(h);
    if (!h->out && !end_of_stream && plaintext && plaintext->on_complete) {
        complete_later(h, plaintext);
        return 0;
    }
    bool needs_carrier = (plaintext && plaintext->on_complete) || end_of_stream;
    if (!h->out && needs_carrier) {
        int rc = sl_channel_acquire_msg(channel, 0, &h->out);
        if (rc < 0) {
            if (plaintext) {
                sl_channel_release_msg(channel, plaintext); /* reports SL_E_CANCELED */
            }
            return rc;
        }
    }
    if (plaintext && plaintext->on_complete) {
        h->out->on_complete = on_ciphertext_written;
        h->out->user_data = plaintext;
    } else if (plaintext) {
        sl_channel_release_msg(channel, plaintext);
    }
    struct sl_msg *msg = h->out;
    h->out = NULL;
    if (!msg) {
        return 0;
    }
    if (end_of_stream) {
        msg->flags |= SL_MSG_END_OF_STREAM;
    }
    h->io_write_bytes += msg->data.len;
    int rc = sl_slot_send(h->base.slot, msg, SL_DIR_WRITE);
    if (rc < 0) {
        sl_channel_release_msg(channel, msg); /* the plaintext's completion hears why */
    }
    return rc;
}

/* Sends close_notify (once); OpenSSL writes it through the BIO. */
static void write_close_notify(struct tls_handler *h)
{
    if (h->close_notify_sent || h->state != TLS_OPEN) {
        return;
    }
    h->close_notify_sent = true;
    h->out_hint = 0;
    ERR_clear_error();
    int rc = SSL_shutdown(h->ssl);
    if (rc < 0) {
        sl__tls_drain_errors(SL_LOG_DEBUG, "close_notify");
    }
}

/*
 * Encrypts one plaintext message and sends its records. Returns an error only if plaintext was
 * not taken (the caller keeps it); once OpenSSL has it, failures reach its completion.
 */
static int write_plaintext(struct tls_handler *h, struct sl_msg *plaintext)
{
    size_t len = plaintext->data.len;
    bool end_of_stream = (plaintext->flags & SL_MSG_END_OF_STREAM) != 0;
    if (len > 0) {
        size_t records = (len + SL_MAX_FRAGMENT_SIZE - 1) / SL_MAX_FRAGMENT_SIZE;
        h->out_hint = min_size(len + records * record_overhead(h), SL_MSG_MAX_SIZE);
        ERR_clear_error();
        size_t written = 0;
        int rc = SSL_write_ex(h->ssl, plaintext->data.data, len, &written);
        if (rc != 1) {
            int err = SSL_get_error(h->ssl, rc);
            sl__tls_fail(h, sl__tls_failure_code(h, err));
            return SL_E_SHUTTING_DOWN;
        }
    }
    if (end_of_stream) {
        write_close_notify(h); /* TLS 1.3 half-close: our direction only (RFC 8446 §6.1) */
    }
    int rc = sl__tls_flush_out(h, plaintext, end_of_stream);
    if (rc < 0) {
        sl_channel_shutdown(tls_channel(h), rc, true);
    }
    return 0;
}

void sl__tls_on_open(struct tls_handler *h)
{
    struct sl_list_node *node;
    while (h->state == TLS_OPEN && !h->write_shut_down &&
           (node = sl_list_front(&h->pending_writes)) != NULL) {
        sl_list_remove(node);
        struct sl_msg *msg = sl_container_of(node, struct sl_msg, node);
        if (write_plaintext(h, msg) < 0) {
            sl_channel_release_msg(tls_channel(h), msg);
        }
    }
}

static void on_direct_drained(struct sl_channel *channel, struct sl_msg *msg, int status,
                              void *user_data)
{
    (void)channel;
    (void)msg;
    (void)status;
    ((struct tls_handler *)user_data)->direct_queued = false;
}

/*
 * Plaintext from the caller's own buffer, encrypted at once when nothing waits ahead of it, so
 * a relay needs no message (and no copy) for it. The records go to the kernel straight from
 * OpenSSL's buffer when the socket takes them; what it does not take waits in one message, and
 * until that has drained this path refuses (*written 0) and the caller sends messages, whose
 * completions then say when bytes reached the kernel. So at most one call's ciphertext is
 * queued beyond what the caller was told is written.
 */
static void tls_write_now(struct sl_handler *handler, struct sl_slot *slot, struct sl_cursor data,
                          size_t *written)
{
    (void)slot;
    struct tls_handler *h = from_base(handler);
    *written = 0;
    if (h->state != TLS_OPEN || h->write_shut_down || h->close_notify_sent || h->out ||
        h->direct_queued || !sl_list_is_empty(&h->pending_writes) || data.len == 0) {
        return;
    }
    note_activity(h);
    size_t len = min_size(data.len, SL_MSG_MAX_SIZE);
    size_t records = (len + SL_MAX_FRAGMENT_SIZE - 1) / SL_MAX_FRAGMENT_SIZE;
    h->out_hint = min_size(len + records * record_overhead(h), SL_MSG_MAX_SIZE);
    ERR_clear_error();
    size_t n = 0;
    h->coalesce = true;
    int ok = SSL_write_ex(h->ssl, data.ptr, len, &n);
    h->coalesce = false;
    if (ok != 1) {
        sl__tls_fail(h, sl__tls_failure_code(h, SSL_get_error(h->ssl, 0)));
        return;
    }
    *written = n;
    /*
     * Every record in one send: one syscall instead of one per record. Measured: through
     * sluiced this took TLS bulk from 0.96 to 1.01 of stunnel; for whole messages
     * (write_plaintext) sending each record from OpenSSL's buffer stays faster (0.95 vs 0.84 of
     * plain OpenSSL in bench_tls), so only this path gathers.
     */
    if (h->out) {
        size_t taken = 0;
        sl_slot_write_now(h->base.slot, sl_buf_cursor(&h->out->data), &taken);
        h->io_write_bytes += taken;
        if (taken == h->out->data.len) {
            sl_channel_release_msg(tls_channel(h), h->out);
            h->out = NULL;
        } else if (taken > 0) {
            memmove(h->out->data.data, h->out->data.data + taken, h->out->data.len - taken);
            h->out->data.len -= taken;
        }
    }
    if (h->out) {
        h->out->on_complete = on_direct_drained;
        h->out->user_data = h;
        h->direct_queued = true;
        if (sl__tls_flush_out(h, NULL, false) < 0) {
            sl_channel_shutdown(tls_channel(h), SL_E_SHUTTING_DOWN, true);
        }
    }
}

static int tls_on_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)slot;
    struct tls_handler *h = from_base(handler);
    SL_ENSURE(!h->write_shut_down && !h->close_notify_sent && h->state != TLS_FAILED,
              SL_E_SHUTTING_DOWN);
    if (h->state == TLS_HANDSHAKING || !sl_list_is_empty(&h->pending_writes)) {
        sl_list_push_back(&h->pending_writes, &msg->node);
        return 0;
    }
    note_activity(h);
    return write_plaintext(h, msg);
}

/* Reading ------------------------------------------------------------------------------------- */

static void on_close_notify(struct tls_handler *h)
{
    h->close_notify_received = true;
    struct sl_channel *channel = tls_channel(h);
    struct sl_msg *msg;
    if (!h->allow_half_close || sl_channel_acquire_msg(channel, 0, &msg) < 0) {
        sl_channel_shutdown(channel, SL_E_CLOSED, false);
        return;
    }
    msg->flags = SL_MSG_END_OF_STREAM;
    if (sl_slot_send(h->base.slot, msg, SL_DIR_READ) < 0) {
        sl_channel_release_msg(channel, msg);
        sl_channel_shutdown(channel, SL_E_CLOSED, false);
    }
}

/* SSL_read failed with err: the peer closed cleanly, more ciphertext is needed, or it broke. */
static void on_read_error(struct tls_handler *h, int rc, int err)
{
    (void)rc;
    if (err == SSL_ERROR_ZERO_RETURN) {
        on_close_notify(h);
    } else if (err != SSL_ERROR_WANT_READ) {
        sl__tls_fail(h, sl__tls_failure_code(h, err));
    }
}

/*
 * The window on the right is shut: only look whether the stream ended (without using any
 * plaintext), so a truncation is reported now rather than when the application reads again.
 */
static bool check_end_while_blocked(struct tls_handler *h)
{
    if (!h->eof_received || h->in_queued > 0) {
        return false;
    }
    uint8_t byte;
    size_t n = 0;
    ERR_clear_error();
    int rc = SSL_peek_ex(h->ssl, &byte, 1, &n);
    if (rc != 1) {
        on_read_error(h, rc, SSL_get_error(h->ssl, rc));
    }
    return true;
}

/* Fills one message with plaintext; false when nothing more can be read now. */
static bool read_one_message(struct tls_handler *h, size_t window)
{
    struct sl_channel *channel = tls_channel(h);
    struct sl_msg *msg;
    if (sl_channel_acquire_msg(channel, min_size(window, SL_MSG_MAX_SIZE), &msg) < 0) {
        sl_channel_shutdown(channel, SL_E_NOMEM, true);
        return false;
    }
    size_t cap = min_size(msg->data.cap, window);
    int rc = 1;
    int err = SSL_ERROR_NONE;
    /* SSL_read gives one record at a time: gather records until the message is full. A
     * successful call leaves the error queue empty, so clearing it once is enough. */
    ERR_clear_error();
    while (msg->data.len < cap) {
        size_t n = 0;
        rc = SSL_read_ex(h->ssl, msg->data.data + msg->data.len, cap - msg->data.len, &n);
        if (rc != 1) {
            err = SSL_get_error(h->ssl, rc);
            break;
        }
        msg->data.len += n;
    }
    int sent = 0;
    if (msg->data.len > 0) {
        sent = sl_slot_send(h->base.slot, msg, SL_DIR_READ);
    } else {
        sl_channel_release_msg(channel, msg);
    }
    if (sent < 0) {
        sl_channel_release_msg(channel, msg);
        sl_channel_shutdown(channel, sent, true);
        return false;
    }
    if (sl__tls_flush_out(h, NULL, false) < 0) { /* key updates, alerts: OpenSSL's replies */
        return false;
    }
    if (rc != 1) {
        on_read_error(h, rc, err);
        return false;
    }
    return true;
}

static bool can_read(struct tls_handler *h)
{
    return h->state == TLS_OPEN && !h->read_shut_down && !h->close_notify_received && h->base.slot;
}

static void read_plaintext(struct tls_handler *h)
{
    while (can_read(h)) {
        size_t window = sl_slot_downstream_window(h->base.slot);
        if (window == 0) {
            check_end_while_blocked(h);
            return;
        }
        if (h->in_queued == 0 && !SSL_has_pending(h->ssl) && !h->eof_received) {
            return; /* nothing to decrypt: wait for the socket */
        }
        if (!read_one_message(h, window)) {
            return;
        }
    }
}

/* Reopens this slot's window by the ciphertext OpenSSL has taken. */
static void reopen_window(struct tls_handler *h)
{
    if (h->in_consumed > 0 && !h->read_shut_down) {
        size_t n = h->in_consumed;
        h->in_consumed = 0;
        sl_slot_increment_read_window(h->base.slot, n);
    }
}

static void pump(struct tls_handler *h)
{
    if (h->pumping) {
        h->pump_again = true;
        return;
    }
    h->pumping = true;
    do {
        h->pump_again = false;
        sl__tls_advance_handshake(h);
        read_plaintext(h);
    } while (h->pump_again);
    h->pumping = false;
    reopen_window(h);
}

static int tls_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)slot;
    struct tls_handler *h = from_base(handler);
    SL_ENSURE(!h->read_shut_down, SL_E_SHUTTING_DOWN);
    if (msg->flags & SL_MSG_END_OF_STREAM) {
        h->eof_received = true;
    }
    if (msg->data.len == 0) {
        sl_channel_release_msg(tls_channel(h), msg);
    } else {
        h->io_read_bytes += msg->data.len;
        h->in_queued += msg->data.len;
        sl_list_push_back(&h->in_queue, &msg->node);
    }
    if (h->state == TLS_FAILED) {
        return 0; /* the channel is closing; what arrives now is dropped with the handler */
    }
    pump(h);
    note_activity(h);
    return 0;
}

static int tls_on_window_update(struct sl_handler *handler, struct sl_slot *slot, size_t bytes)
{
    (void)slot;
    (void)bytes;
    pump(from_base(handler));
    return 0;
}

/* Shutdown ------------------------------------------------------------------------------------ */

static void drop_queue(struct tls_handler *h, struct sl_list *queue)
{
    struct sl_list_node *node;
    while ((node = sl_list_front(queue)) != NULL) {
        sl_list_remove(node);
        sl_channel_release_msg(tls_channel(h), sl_container_of(node, struct sl_msg, node));
    }
}

static int tls_on_shutdown(struct sl_handler *handler, struct sl_slot *slot, enum sl_direction dir,
                           int status, bool abort_immediately)
{
    struct tls_handler *h = from_base(handler);
    if (h->state == TLS_HANDSHAKING) {
        /* The channel ends under a handshake (a reset, a shutdown): that is its outcome. */
        snprintf(h->reason, sizeof(h->reason), "the channel shut down during the handshake");
        h->state = TLS_FAILED;
        sl__tls_report_failure(h, status ? status : SL_E_CANCELED);
    }
    if (dir == SL_DIR_READ) {
        h->read_shut_down = true;
        drop_queue(h, &h->in_queue);
        h->in_queued = 0;
        h->in_offset = 0;
        sl_slot_on_shutdown_complete(slot, SL_DIR_READ, status, abort_immediately);
        return 0;
    }
    h->write_shut_down = true;
    drop_queue(h, &h->pending_writes); /* never encrypted: their completions say cancelled */
    if (!abort_immediately) {
        write_close_notify(h);
        int rc = sl__tls_flush_out(h, NULL, false);
        (void)rc; /* the socket may be gone already: nothing more to do then */
    }
    sl_slot_on_shutdown_complete(slot, SL_DIR_WRITE, status, abort_immediately);
    return 0;
}

/* The rest of the vtable ---------------------------------------------------------------------- */

static size_t tls_initial_window(struct sl_handler *handler)
{
    (void)handler;
    return CIPHERTEXT_WINDOW;
}

static size_t tls_message_overhead(struct sl_handler *handler)
{
    return record_overhead(from_base(handler));
}

static void handler_free(struct tls_handler *h)
{
    SSL_free(h->ssl); /* frees the BIO too */
    sl__tls_peer_strings_clean_up(&h->peer_strings);
    sl_free(h->server_name);
    sl_free(h->session_key);
    sl_free(h->alpn_wire);
    sl_tls_ctx_release(h->ctx);
    sl_free(h);
}

static void tls_destroy(struct sl_handler *handler)
{
    struct tls_handler *h = from_base(handler);
    if (h->base.slot) {
        drop_queue(h, &h->in_queue);
        drop_queue(h, &h->pending_writes);
        drop_queue(h, &h->written);
        if (h->out) {
            sl_channel_release_msg(tls_channel(h), h->out);
        }
    }
    handler_free(h);
}

static void tls_gather_stats(struct sl_handler *handler, struct sl_handler_stats *stats)
{
    struct tls_handler *h = from_base(handler);
    stats->io_read_bytes = h->io_read_bytes;
    stats->io_write_bytes = h->io_write_bytes;
}

static void tls_reset_stats(struct sl_handler *handler)
{
    struct tls_handler *h = from_base(handler);
    h->io_read_bytes = h->io_write_bytes = 0;
}

static const struct sl_handler_vtable s_tls_vtable = {
    .name = "tls",
    .on_read = tls_on_read,
    .on_write = tls_on_write,
    .write_now = tls_write_now,
    .on_window_update = tls_on_window_update,
    .on_shutdown = tls_on_shutdown,
    .initial_window = tls_initial_window,
    .message_overhead = tls_message_overhead,
    .destroy = tls_destroy,
    .gather_stats = tls_gather_stats,
    .reset_stats = tls_reset_stats,
};

/* Public -------------------------------------------------------------------------------------- */

static const struct sl_tls_negotiation s_not_negotiated = {
    .error = SL_E_TLS_NOT_NEGOTIATED,
    .alpn = "",
    .version = "",
    .cipher = "",
    .server_name = "",
    .reason = "",
    .peer = {.subject = "", .issuer = "", .sans = ""},
};

static struct tls_handler *handler_new(const struct sl_tls_connection_options *opts)
{
    struct tls_handler *h = sl_calloc(1, sizeof(*h));
    if (!h) {
        return NULL;
    }
    h->base.vtable = &s_tls_vtable;
    h->ctx = opts->ctx;
    sl_tls_ctx_acquire(h->ctx);
    h->result = s_not_negotiated;
    sl_list_init(&h->in_queue);
    sl_list_init(&h->pending_writes);
    sl_list_init(&h->written);
    h->bio_io =
        (struct tls_bio_io){.read = bio_take, .at_eof = bio_at_eof, .write = bio_put, .io = h};
    return h;
}

int sl_tls_handler_install(struct sl_slot *left, const struct sl_tls_connection_options *opts,
                           struct sl_handler **out)
{
    SL_ENSURE_ARG(left && opts && opts->ctx);
    struct sl_channel *channel = sl_slot_channel(left);
    SL_ENSURE(sl_channel_is_on_callers_thread(channel), SL_E_WRONG_THREAD);
    struct tls_handler *h = handler_new(opts);
    SL_ENSURE(h, SL_E_NOMEM);
    ERR_clear_error();
    int rc = sl__tls_handler_configure(h, opts);
    struct sl_slot *slot = NULL;
    if (rc == 0) {
        rc = sl_slot_new(channel, &slot);
    }
    if (rc == 0 && (rc = sl_slot_insert_right(left, slot)) < 0) {
        sl_slot_remove(slot);
    }
    if (rc == 0 && (rc = sl_slot_set_handler(slot, &h->base)) < 0) {
        sl_slot_remove(slot);
    }
    if (rc < 0) {
        handler_free(h);
        return rc;
    }
    sl__tls_start_timeout(h);
    pump(h); /* a client says hello now */
    if (out) {
        *out = &h->base;
    }
    return 0;
}

const struct sl_tls_negotiation *sl_tls_handler_negotiation(struct sl_handler *handler)
{
    return &from_base(handler)->result;
}

struct sl_handler *sl_tls_channel_handler(struct sl_channel *channel)
{
    for (struct sl_slot *slot = sl_channel_first_slot(channel); slot; slot = sl_slot_right(slot)) {
        struct sl_handler *handler = sl_slot_handler(slot);
        if (handler && handler->vtable == &s_tls_vtable) {
            return handler;
        }
    }
    return NULL;
}
