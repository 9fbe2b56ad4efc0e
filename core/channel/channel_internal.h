/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CHANNEL_INTERNAL_H
#define SL_CHANNEL_INTERNAL_H

/* Channel internals shared by channel.c, slot.c and message_pool.c (never installed). */

#include <sluice/channel.h>
#include <sluice/ref.h>

#include <stdatomic.h>

enum sl__channel_state {
    SL__CHANNEL_SETTING_UP, /* the setup task has not run yet */
    SL__CHANNEL_ACTIVE,
    SL__CHANNEL_SHUTTING_DOWN, /* handlers are being told, one at a time */
    SL__CHANNEL_SHUT_DOWN,     /* every handler finished; only destruction is left */
};

struct sl_slot {
    struct sl_channel *channel;
    struct sl_slot *left;
    struct sl_slot *right;
    struct sl_handler *handler;
    bool placed;              /* linked into the channel's chain */
    bool read_shut_down;      /* its handler completed the read pass */
    bool write_shut_down;     /* its handler completed the write pass */
    size_t window;            /* bytes its handler will still accept in the read direction */
    size_t pending_increment; /* window growth not yet told to the handler on the left */
    uint64_t read_bytes;
    uint64_t write_bytes;
    uint64_t read_ns;
    uint64_t write_ns;
};

struct sl_msg_pool;

struct sl_channel {
    struct sl_loop *loop;
    struct sl_ref ref; /* holders outside the loop's bookkeeping: see channel.c */
    int internal;      /* tasks the channel scheduled for itself (loop thread only) */
    bool released;     /* ref reached zero (loop thread) */
    struct sl_slot *first;
    enum sl__channel_state state;
    int shutdown_status;
    bool shutdown_abort;
    bool shutdown_after_setup; /* requested while SETTING_UP; started once setup ran */
    bool shutdown_task_internal;
    bool setup_succeeded;
    bool shutdown_reported;
    atomic_bool shutdown_requested;

    sl_channel_setup_fn *on_setup;
    sl_channel_shutdown_fn *on_shutdown;
    void *user_data;

    /* Setup, then later shutdown completion: never pending at the same time. */
    struct sl_task lifecycle_task;
    struct sl_task shutdown_task;
    struct sl_task release_task; /* the last reference dropped off the loop */
    struct sl_task window_task;
    bool window_task_scheduled;
    struct sl_list tasks; /* registered channel tasks, cancelled when shutdown completes */

    struct sl_msg_pool *pool; /* the loop's pool, looked up on the loop thread at setup */
    uint64_t nested_ns;       /* time spent in handlers called from the current handler */
};

/* The loop's message pool, created on first use (loop thread). Errors: SL_E_NOMEM. */
int sl__msg_pool_for_loop(struct sl_loop *loop, struct sl_msg_pool **out);
int sl__msg_pool_acquire(struct sl_msg_pool *pool, size_t size, struct sl_msg **out);
void sl__msg_pool_release(struct sl_msg_pool *pool, struct sl_msg *msg);

/* Starts the write pass from the last slot, or finishes the channel (slot.c -> channel.c). */
void sl__channel_on_read_pass_done(struct sl_channel *channel, struct sl_slot *last);
void sl__channel_on_write_pass_done(struct sl_channel *channel);

/* Shuts the channel down from the loop thread after a handler error, deferred as always. */
void sl__channel_fail(struct sl_channel *channel, int status);

/* Destroys a slot's handler and frees the slot (unlinking is the caller's job). */
void sl__slot_destroy(struct sl_slot *slot);

#endif /* SL_CHANNEL_INTERNAL_H */
