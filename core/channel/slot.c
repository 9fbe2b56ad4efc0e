/* SPDX-License-Identifier: Apache-2.0 */
#include "channel_internal.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

static void window_task_fn(struct sl_task *task, void *arg, enum sl_task_status status);
static void schedule_window_task(struct sl_channel *channel);

static size_t saturating_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* Slot lifecycle and placement ------------------------------------------------------------ */

int sl_slot_new(struct sl_channel *channel, struct sl_slot **out)
{
    SL_ENSURE(sl_loop_is_on_callers_thread(channel->loop), SL_E_WRONG_THREAD);
    SL_ENSURE(channel->state < SL__CHANNEL_SHUTTING_DOWN, SL_E_SHUTTING_DOWN);
    struct sl_slot *slot = sl_calloc(1, sizeof(*slot));
    SL_ENSURE(slot, SL_E_NOMEM);
    slot->channel = channel;
    if (!channel->first) {
        channel->first = slot;
        slot->placed = true;
    }
    *out = slot;
    return 0;
}

void sl__slot_destroy(struct sl_slot *slot)
{
    if (slot->handler) {
        slot->handler->vtable->destroy(slot->handler);
    }
    sl_free(slot);
}

int sl_slot_insert_right(struct sl_slot *slot, struct sl_slot *to_add)
{
    SL_ENSURE_ARG(slot->placed && !to_add->placed && to_add->channel == slot->channel);
    to_add->left = slot;
    to_add->right = slot->right;
    if (slot->right) {
        slot->right->left = to_add;
    }
    slot->right = to_add;
    to_add->placed = true;
    return 0;
}

int sl_slot_insert_left(struct sl_slot *slot, struct sl_slot *to_add)
{
    SL_ENSURE_ARG(slot->placed && !to_add->placed && to_add->channel == slot->channel);
    to_add->right = slot;
    to_add->left = slot->left;
    if (slot->left) {
        slot->left->right = to_add;
    } else {
        slot->channel->first = to_add;
    }
    slot->left = to_add;
    to_add->placed = true;
    return 0;
}

int sl_slot_insert_end(struct sl_channel *channel, struct sl_slot *to_add)
{
    if (to_add->placed && channel->first == to_add) {
        return 0; /* sl_slot_new already made it the first slot */
    }
    struct sl_slot *last = channel->first;
    SL_ENSURE_ARG(last);
    while (last->right) {
        last = last->right;
    }
    return sl_slot_insert_right(last, to_add);
}

static void unlink_slot(struct sl_slot *slot)
{
    if (slot->left) {
        slot->left->right = slot->right;
    } else if (slot->channel->first == slot) {
        slot->channel->first = slot->right;
    }
    if (slot->right) {
        slot->right->left = slot->left;
    }
    slot->left = slot->right = NULL;
    slot->placed = false;
}

void sl_slot_remove(struct sl_slot *slot)
{
    SL_ASSERT(sl_loop_is_on_callers_thread(slot->channel->loop));
    unlink_slot(slot);
    sl__slot_destroy(slot);
}

int sl_slot_replace(struct sl_slot *old, struct sl_slot *replacement)
{
    SL_ENSURE_ARG(old->placed && !replacement->placed && old->channel == replacement->channel);
    SL_TRY(sl_slot_insert_left(old, replacement));
    sl_slot_remove(old);
    return 0;
}

int sl_slot_set_handler(struct sl_slot *slot, struct sl_handler *handler)
{
    SL_ENSURE(!slot->handler, SL_E_STATE);
    SL_ENSURE_ARG(handler && handler->vtable);
    const struct sl_handler_vtable *vt = handler->vtable;
    SL_ASSERT(vt->on_read && vt->on_write && vt->on_window_update && vt->on_shutdown &&
              vt->initial_window && vt->message_overhead && vt->destroy);
    slot->handler = handler;
    handler->slot = slot;
    slot->window = 0;
    sl_slot_increment_read_window(slot, vt->initial_window(handler));
    if (slot->right && slot->right->pending_increment > 0) {
        schedule_window_task(slot->channel); /* the right slot's window was waiting for us */
    }
    return 0;
}

/* Messages -------------------------------------------------------------------------------- */

/*
 * Calls the receiving handler and charges its time to `to`, minus the time of whatever it
 * called in turn (nested_ns), so each handler's figure is its own work.
 */
static int deliver(struct sl_slot *to, struct sl_msg *msg, enum sl_direction dir)
{
    struct sl_channel *channel = to->channel;
    uint64_t outer_nested = channel->nested_ns;
    channel->nested_ns = 0;
    uint64_t start = sl_clock_now_ns();
    int rc = dir == SL_DIR_READ ? to->handler->vtable->on_read(to->handler, to, msg)
                                : to->handler->vtable->on_write(to->handler, to, msg);
    uint64_t elapsed = sl_clock_now_ns() - start;
    uint64_t own = elapsed > channel->nested_ns ? elapsed - channel->nested_ns : 0;
    if (dir == SL_DIR_READ) {
        to->read_ns += own;
    } else {
        to->write_ns += own;
    }
    channel->nested_ns = outer_nested + elapsed;
    return rc;
}

int sl_slot_send(struct sl_slot *slot, struct sl_msg *msg, enum sl_direction dir)
{
    SL_ASSERT(sl_loop_is_on_callers_thread(slot->channel->loop));
    size_t len = msg->data.len;
    if (dir == SL_DIR_WRITE) {
        struct sl_slot *to = slot->left;
        SL_ENSURE(to && to->handler, SL_E_NO_SLOT);
        SL_ENSURE(!to->write_shut_down, SL_E_SHUTTING_DOWN);
        int rc = deliver(to, msg, SL_DIR_WRITE);
        if (rc == 0) {
            to->write_bytes += len;
        }
        return rc;
    }
    struct sl_slot *to = slot->right;
    SL_ENSURE(to && to->handler, SL_E_NO_SLOT);
    SL_ENSURE(!to->read_shut_down, SL_E_SHUTTING_DOWN);
    SL_ENSURE(len <= to->window, SL_E_WINDOW_EXCEEDED);
    to->window -= len;
    int rc = deliver(to, msg, SL_DIR_READ);
    if (rc < 0) {
        to->window = saturating_add(to->window, len); /* not taken: the window stays open */
        return rc;
    }
    to->read_bytes += len;
    return 0;
}

void sl_slot_write_now(struct sl_slot *slot, struct sl_cursor data, size_t *written)
{
    SL_ASSERT(sl_loop_is_on_callers_thread(slot->channel->loop));
    *written = 0;
    struct sl_slot *to = slot->left;
    if (to && to->handler && to->handler->vtable->write_now && !to->write_shut_down) {
        to->handler->vtable->write_now(to->handler, to, data, written);
        to->write_bytes += *written;
    }
}

/* Read windows ---------------------------------------------------------------------------- */

/*
 * Delivers the increments gathered this tick, walking from the last slot to the first so that
 * a handler which passes its increment on (the usual case) is handled in the same walk.
 */
static void window_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct sl_channel *channel = arg;
    channel->window_task_scheduled = false;
    if (status == SL_TASK_CANCELED || channel->state == SL__CHANNEL_SHUT_DOWN) {
        return;
    }
    struct sl_slot *slot = channel->first;
    while (slot && slot->right) {
        slot = slot->right;
    }
    for (; slot; slot = slot->left) {
        struct sl_slot *left = slot->left;
        if (left && !left->handler) {
            continue; /* keep the increment for the handler that slot will get */
        }
        size_t bytes = slot->pending_increment;
        slot->pending_increment = 0;
        if (bytes == 0 || !left || left->read_shut_down) {
            continue;
        }
        int rc = left->handler->vtable->on_window_update(left->handler, left, bytes);
        if (rc < 0) {
            sl__channel_fail(channel, rc);
            return;
        }
    }
}

static void schedule_window_task(struct sl_channel *channel)
{
    if (!channel->window_task_scheduled && channel->state < SL__CHANNEL_SHUT_DOWN) {
        channel->window_task_scheduled = true;
        sl_task_init(&channel->window_task, window_task_fn, channel, "channel_window_update");
        sl_loop_schedule_now(channel->loop, &channel->window_task);
    }
}

void sl_slot_increment_read_window(struct sl_slot *slot, size_t bytes)
{
    struct sl_channel *channel = slot->channel;
    SL_ASSERT(sl_loop_is_on_callers_thread(channel->loop));
    if (bytes == 0) {
        return;
    }
    slot->window = saturating_add(slot->window, bytes);
    slot->pending_increment = saturating_add(slot->pending_increment, bytes);
    schedule_window_task(channel);
}

size_t sl_slot_downstream_window(const struct sl_slot *slot)
{
    return slot->right && slot->right->handler ? slot->right->window : 0;
}

size_t sl_slot_window(const struct sl_slot *slot)
{
    return slot->window;
}

size_t sl_slot_upstream_overhead(const struct sl_slot *slot)
{
    size_t overhead = 0;
    for (const struct sl_slot *s = slot->left; s; s = s->left) {
        if (s->handler) {
            overhead += s->handler->vtable->message_overhead(s->handler);
        }
    }
    return overhead;
}

int sl_slot_acquire_max_message_for_write(struct sl_slot *slot, struct sl_msg **out)
{
    size_t overhead = sl_slot_upstream_overhead(slot);
    size_t size = overhead < SL_MAX_FRAGMENT_SIZE ? SL_MAX_FRAGMENT_SIZE - overhead : 0;
    SL_TRY(sl_channel_acquire_msg(slot->channel, size, out));
    /* The class may be larger; cap the buffer so appends stop at what fits downstream. */
    if ((*out)->data.cap > size) {
        (*out)->data.cap = size;
    }
    return 0;
}

/* Shutdown -------------------------------------------------------------------------------- */

void sl_slot_on_shutdown_complete(struct sl_slot *slot, enum sl_direction dir, int status,
                                  bool abort_immediately)
{
    struct sl_channel *channel = slot->channel;
    SL_ASSERT(sl_loop_is_on_callers_thread(channel->loop));
    if (channel->shutdown_status == 0) {
        channel->shutdown_status = status;
    }
    channel->shutdown_abort = channel->shutdown_abort || abort_immediately;
    if (dir == SL_DIR_READ) {
        slot->read_shut_down = true;
        struct sl_slot *next = slot->right;
        while (next && !next->handler) {
            next = next->right; /* an empty slot has nobody to tell */
        }
        if (!next) {
            sl__channel_on_read_pass_done(channel, slot);
            return;
        }
        int rc = next->handler->vtable->on_shutdown(
            next->handler, next, SL_DIR_READ, channel->shutdown_status, channel->shutdown_abort);
        (void)rc; /* a handler must complete its pass; a refusal is only worth a log */
        return;
    }
    slot->write_shut_down = true;
    struct sl_slot *next = slot->left;
    while (next && !next->handler) {
        next = next->left;
    }
    if (!next) {
        sl__channel_on_write_pass_done(channel);
        return;
    }
    int rc = next->handler->vtable->on_shutdown(next->handler, next, SL_DIR_WRITE,
                                                channel->shutdown_status, channel->shutdown_abort);
    (void)rc;
}

/* Queries --------------------------------------------------------------------------------- */

struct sl_channel *sl_slot_channel(const struct sl_slot *slot)
{
    return slot->channel;
}

struct sl_slot *sl_slot_left(const struct sl_slot *slot)
{
    return slot->left;
}

struct sl_slot *sl_slot_right(const struct sl_slot *slot)
{
    return slot->right;
}

struct sl_handler *sl_slot_handler(const struct sl_slot *slot)
{
    return slot->handler;
}
