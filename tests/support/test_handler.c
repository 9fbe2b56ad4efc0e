/* SPDX-License-Identifier: Apache-2.0 */
#include "test_handler.h"

#include <sluice/alloc.h>
#include <sluice/error.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_handler {
    struct sl_handler base;
    struct test_handler_options opts;
    struct sl_channel_task finish_task;
    enum sl_direction finishing_dir;
    int finishing_status;
    bool finishing_abort;
};

static struct test_handler *from_base(struct sl_handler *handler)
{
    return sl_container_of(handler, struct test_handler, base);
}

void test_record_init(struct test_record *record)
{
    memset(record, 0, sizeof(*record));
    pthread_mutex_init(&record->lock, NULL);
    sl_test_latch_init(&record->latch);
}

void test_record_clean_up(struct test_record *record)
{
    free(record->read_data);
    sl_test_latch_clean_up(&record->latch);
    pthread_mutex_destroy(&record->lock);
}

size_t test_record_read_len(struct test_record *record)
{
    pthread_mutex_lock(&record->lock);
    size_t n = record->read_len;
    pthread_mutex_unlock(&record->lock);
    return n;
}

bool test_record_end_of_stream(struct test_record *record)
{
    pthread_mutex_lock(&record->lock);
    bool eos = record->end_of_stream;
    pthread_mutex_unlock(&record->lock);
    return eos;
}

void test_order_log_init(struct test_order_log *log)
{
    memset(log, 0, sizeof(*log));
    pthread_mutex_init(&log->lock, NULL);
}

void test_order_log_add(struct test_order_log *log, const char *name, const char *what)
{
    if (!log) {
        return;
    }
    pthread_mutex_lock(&log->lock);
    if (log->count < 32) {
        snprintf(log->entries[log->count++], sizeof(log->entries[0]), "%s:%s", name, what);
    }
    pthread_mutex_unlock(&log->lock);
}

static void record_read(struct test_record *r, const struct sl_msg *msg)
{
    pthread_mutex_lock(&r->lock);
    if (r->read_len + msg->data.len > r->read_cap) {
        size_t cap = r->read_cap ? r->read_cap : 4096;
        while (cap < r->read_len + msg->data.len) {
            cap *= 2;
        }
        r->read_data = realloc(r->read_data, cap);
        r->read_cap = cap;
    }
    if (msg->data.len) {
        memcpy(r->read_data + r->read_len, msg->data.data, msg->data.len);
    }
    r->read_len += msg->data.len;
    r->read_messages++;
    if (msg->data.len > r->max_read_message) {
        r->max_read_message = msg->data.len;
    }
    if (msg->flags & SL_MSG_END_OF_STREAM) {
        r->end_of_stream = true;
    }
    pthread_mutex_unlock(&r->lock);
    sl_test_latch_add(&r->latch, 1);
}

static int echo_back(struct test_handler *h, struct sl_slot *slot, const struct sl_msg *in)
{
    if (in->data.len == 0) {
        return 0;
    }
    struct sl_msg *out;
    int rc = sl_channel_acquire_msg(sl_slot_channel(slot), in->data.len, &out);
    if (rc == 0) {
        rc = sl_buf_append(&out->data, sl_buf_cursor(&in->data));
    }
    if (rc == 0) {
        rc = sl_slot_send(slot, out, SL_DIR_WRITE);
        if (rc < 0) {
            sl_channel_release_msg(sl_slot_channel(slot), out);
        }
    }
    (void)h;
    return rc;
}

static int th_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct test_handler *h = from_base(handler);
    if (h->opts.passthrough) {
        return sl_slot_send(slot, msg, SL_DIR_READ);
    }
    record_read(h->opts.record, msg);
    size_t len = msg->data.len;
    int rc = h->opts.echo ? echo_back(h, slot, msg) : 0;
    sl_channel_release_msg(sl_slot_channel(slot), msg);
    if (h->opts.auto_increment) {
        sl_slot_increment_read_window(slot, len);
    }
    if (rc < 0) {
        sl_channel_shutdown(sl_slot_channel(slot), rc, true);
    }
    return 0;
}

static int th_on_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    struct test_handler *h = from_base(handler);
    if (h->opts.passthrough || sl_slot_left(slot)) {
        return sl_slot_send(slot, msg, SL_DIR_WRITE);
    }
    /* The leftmost test handler is the end of the line: count and complete. */
    pthread_mutex_lock(&h->opts.record->lock);
    h->opts.record->write_bytes += msg->data.len;
    pthread_mutex_unlock(&h->opts.record->lock);
    sl_msg_complete_fn *on_complete = msg->on_complete;
    msg->on_complete = NULL;
    if (on_complete) {
        on_complete(sl_slot_channel(slot), msg, 0, msg->user_data);
    }
    sl_channel_release_msg(sl_slot_channel(slot), msg);
    sl_test_latch_add(&h->opts.record->latch, 1);
    return 0;
}

static int th_on_window_update(struct sl_handler *handler, struct sl_slot *slot, size_t bytes)
{
    struct test_handler *h = from_base(handler);
    pthread_mutex_lock(&h->opts.record->lock);
    h->opts.record->window_updates++;
    h->opts.record->window_bytes += bytes;
    pthread_mutex_unlock(&h->opts.record->lock);
    if (h->opts.passthrough) {
        sl_slot_increment_read_window(slot, bytes);
    }
    return 0;
}

static void finish_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status;
    struct test_handler *h = arg;
    sl_slot_on_shutdown_complete(h->base.slot, h->finishing_dir, h->finishing_status,
                                 h->finishing_abort);
}

static int th_on_shutdown(struct sl_handler *handler, struct sl_slot *slot, enum sl_direction dir,
                          int status, bool abort_immediately)
{
    struct test_handler *h = from_base(handler);
    struct test_record *r = h->opts.record;
    pthread_mutex_lock(&r->lock);
    r->shutdown_calls[dir]++;
    r->shutdown_status[dir] = status;
    pthread_mutex_unlock(&r->lock);
    test_order_log_add(h->opts.log, h->opts.name, dir == SL_DIR_READ ? "read" : "write");
    sl_test_latch_add(&r->latch, 1);
    if (!h->opts.finish_shutdown_later) {
        sl_slot_on_shutdown_complete(slot, dir, status, abort_immediately);
        return 0;
    }
    h->finishing_dir = dir;
    h->finishing_status = status;
    h->finishing_abort = abort_immediately;
    /* A plain loop task: channel tasks are cancelled only after shutdown completes. */
    sl_channel_task_init(&h->finish_task, finish_task_fn, h, "test_finish_shutdown");
    sl_channel_schedule_task_now(sl_slot_channel(slot), &h->finish_task);
    return 0;
}

static size_t th_initial_window(struct sl_handler *handler)
{
    return from_base(handler)->opts.initial_window;
}

static size_t th_message_overhead(struct sl_handler *handler)
{
    return from_base(handler)->opts.message_overhead;
}

static void th_destroy(struct sl_handler *handler)
{
    struct test_handler *h = from_base(handler);
    test_order_log_add(h->opts.log, h->opts.name, "destroy");
    sl_test_latch_add(&h->opts.record->latch, 1);
    /* Last touch of the record: a test that sees `destroyed` may free it at once. */
    pthread_mutex_lock(&h->opts.record->lock);
    h->opts.record->destroyed = true;
    h->opts.record->destroy_count++;
    pthread_mutex_unlock(&h->opts.record->lock);
    sl_free(h);
}

static const struct sl_handler_vtable s_test_vtable = {
    .name = "test",
    .on_read = th_on_read,
    .on_write = th_on_write,
    .on_window_update = th_on_window_update,
    .on_shutdown = th_on_shutdown,
    .initial_window = th_initial_window,
    .message_overhead = th_message_overhead,
    .destroy = th_destroy,
};

int test_handler_new(const struct test_handler_options *opts, struct sl_handler **out)
{
    struct test_handler *h = sl_calloc(1, sizeof(*h));
    if (!h) {
        return SL_E_NOMEM;
    }
    h->base.vtable = &s_test_vtable;
    h->opts = *opts;
    if (!h->opts.name) {
        h->opts.name = "test";
    }
    *out = &h->base;
    return 0;
}

int test_handler_write(struct sl_handler *handler, const void *data, size_t len,
                       sl_msg_complete_fn *on_complete, void *user_data)
{
    const uint8_t *bytes = data;
    size_t offset = 0;
    do {
        struct sl_msg *msg;
        int rc = sl_slot_acquire_max_message_for_write(handler->slot, &msg);
        if (rc < 0) {
            return rc;
        }
        size_t n = len - offset < msg->data.cap ? len - offset : msg->data.cap;
        rc = sl_buf_append(&msg->data, sl_cursor_from(bytes + offset, n));
        msg->on_complete = on_complete;
        msg->user_data = user_data;
        rc = rc < 0 ? rc : sl_slot_send(handler->slot, msg, SL_DIR_WRITE);
        if (rc < 0) {
            msg->on_complete = NULL;
            sl_channel_release_msg(sl_slot_channel(handler->slot), msg);
            return rc;
        }
        offset += n;
    } while (offset < len);
    return 0;
}

int test_handler_write_end_of_stream(struct sl_handler *handler)
{
    struct sl_msg *msg;
    int rc = sl_channel_acquire_msg(sl_slot_channel(handler->slot), 0, &msg);
    if (rc < 0) {
        return rc;
    }
    msg->flags = SL_MSG_END_OF_STREAM;
    rc = sl_slot_send(handler->slot, msg, SL_DIR_WRITE);
    if (rc < 0) {
        sl_channel_release_msg(sl_slot_channel(handler->slot), msg);
    }
    return rc;
}

void test_handler_increment(struct sl_handler *handler, size_t bytes)
{
    sl_slot_increment_read_window(handler->slot, bytes);
}
