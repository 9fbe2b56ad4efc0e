/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CHANNEL_H
#define SL_CHANNEL_H

#include <sluice/buf.h>
#include <sluice/common.h>
#include <sluice/event_loop.h>
#include <sluice/list.h>
#include <sluice/task.h>
#include <sluice/write_req.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * Channels, slots and handlers (ARCHITECTURE.md "Channel").
 *
 * A channel is a chain of slots pinned to one event loop; each slot holds one handler. Data
 * moves right in the read direction (from the socket towards the application) and left in the
 * write direction, one message at a time, by sl_slot_send. Everything here runs on the
 * channel's loop thread unless a function says otherwise; entry points that may be called from
 * elsewhere (sl_channel_shutdown, sl_channel_release, sl_channel_schedule_task_*) move the work
 * onto the loop with a task.
 *
 * Read back-pressure is counted in bytes: every slot has a read window, the number of bytes its
 * handler is willing to receive. A slot never sends right more than the right slot's window;
 * a handler that has consumed data calls sl_slot_increment_read_window, and the increments of
 * one tick travel left in a single window-update task. A handler that opens its own window
 * wider than the window to its right must buffer the excess itself.
 *
 * Shutdown runs in two passes: the read direction left to right, then the write direction right
 * to left. Each handler is told in turn (on_shutdown) and the next is told only after it calls
 * sl_slot_on_shutdown_complete. Then pending channel tasks are cancelled and on_shutdown of the
 * channel runs. Handlers are destroyed, left to right, when the last reference is released.
 */

struct sl_channel;
struct sl_slot;
struct sl_handler;
struct sl_msg;

enum sl_direction {
    SL_DIR_READ,  /* left to right: from the network towards the application */
    SL_DIR_WRITE, /* right to left: from the application towards the network */
};

/* Message flags. */
enum sl_msg_flag {
    /*
     * The sender's last message in this direction: in the write direction the socket half-closes
     * (shutdown SHUT_WR) after writing it; in the read direction it tells the handlers to the
     * right that the peer has half-closed. May carry no data; never counts against a window.
     */
    SL_MSG_END_OF_STREAM = 1u << 0,
};

typedef void sl_channel_setup_fn(struct sl_channel *channel, int status, void *user_data);
typedef void sl_channel_shutdown_fn(struct sl_channel *channel, int status, void *user_data);

/*
 * Called exactly once per write message that carries it: with 0 after the last byte of the
 * message reached the kernel, or with an error when the message is dropped (channel shutting
 * down, socket error). Runs on the loop thread, never from inside the sl_slot_send that queued
 * the message.
 */
typedef void sl_msg_complete_fn(struct sl_channel *channel, struct sl_msg *msg, int status,
                                void *user_data);

/*
 * An IO message. Messages come from a per-loop pool (sl_channel_acquire_msg) so the steady
 * state data path never calls malloc. data.cap is fixed; handlers write into data and set
 * data.len (sl_buf_append or sl_buf_commit).
 */
struct sl_msg {
    struct sl_buf data;              /* read-write contents; cap is fixed */
    uint32_t flags;                  /* enum sl_msg_flag bits */
    sl_msg_complete_fn *on_complete; /* write messages: optional completion, see above */
    void *user_data;
    struct sl_list_node node;      /* free for the current owner to queue the message */
    struct sl_write_req write_req; /* free for the handler that writes it to a socket or pipe */
    /* private */
    uint32_t size_class;
    uint32_t pool_magic;
};

/*
 * The handler vtable. Every member except gather_stats and reset_stats must be set.
 *
 * on_read / on_write: a message arrives from the left (read) or the right (write). Return 0 to
 * take ownership of msg; on error the sender keeps it. A read message is never larger than the
 * slot's window was when it was sent.
 *
 * on_window_update: the slot to the right opened its window by `bytes`. A handler usually
 * opens its own window in turn (sl_slot_increment_read_window), which travels further left.
 *
 * on_shutdown: this handler's turn in the given direction. Stop producing in that direction,
 * flush if abort_immediately is false, then call sl_slot_on_shutdown_complete (now or later).
 *
 * initial_window: the read window the slot gets when the handler is set.
 * message_overhead: bytes the handler adds to each write message (e.g. TLS record framing), so
 * handlers to its right can size messages with sl_slot_acquire_max_message_for_write.
 * destroy: free the handler; the channel has shut down or its slot was removed.
 */
struct sl_handler_stats;

struct sl_handler_vtable {
    const char *name;
    int (*on_read)(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg);
    int (*on_write)(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg);
    int (*on_window_update)(struct sl_handler *handler, struct sl_slot *slot, size_t bytes);
    int (*on_shutdown)(struct sl_handler *handler, struct sl_slot *slot, enum sl_direction dir,
                       int status, bool abort_immediately);
    size_t (*initial_window)(struct sl_handler *handler);
    size_t (*message_overhead)(struct sl_handler *handler);
    void (*destroy)(struct sl_handler *handler);
    /* Optional: add handler-specific figures (e.g. bytes on the wire) to *stats. */
    void (*gather_stats)(struct sl_handler *handler, struct sl_handler_stats *stats);
    /* Optional: zero those figures. */
    void (*reset_stats)(struct sl_handler *handler);
    /*
     * Optional: write data to the outside at once, without a message, if nothing is queued
     * ahead of it; *written gets what was taken (0 when it would have to queue). Lets a handler
     * that produces bytes in its own buffer (TLS records) skip copying them into a message.
     */
    void (*write_now)(struct sl_handler *handler, struct sl_slot *slot, struct sl_cursor data,
                      size_t *written);
};

/* Handlers embed this as their first member and find themselves with sl_container_of. */
struct sl_handler {
    const struct sl_handler_vtable *vtable; /* read-only after set */
    struct sl_slot *slot;                   /* read-only: set by sl_slot_set_handler */
};

/* What sl_channel_gather_stats reports per slot, left to right. */
struct sl_handler_stats {
    const char *handler_name;
    uint64_t read_bytes;    /* bytes of read messages the handler received */
    uint64_t write_bytes;   /* bytes of write messages the handler received */
    uint64_t read_ns;       /* time spent in on_read, excluding handlers it called */
    uint64_t write_ns;      /* time spent in on_write, excluding handlers it called */
    uint64_t io_read_bytes; /* filled by handlers that touch the outside (socket, TLS) */
    uint64_t io_write_bytes;
};

/* A task bound to a channel: cancelled (runs with SL_TASK_CANCELED) when the channel shuts down. */
struct sl_channel_task {
    struct sl_task task; /* private */
    sl_task_fn *fn;      /* read-only */
    void *arg;           /* read-only */
    /* private */
    struct sl_channel *channel;
    struct sl_list_node node;
    uint64_t run_at_ns;
};

struct sl_channel_options {
    struct sl_loop *loop;                /* required */
    sl_channel_setup_fn *on_setup;       /* required: runs on the loop once the channel exists */
    sl_channel_shutdown_fn *on_shutdown; /* optional */
    void *user_data;
};

/* Messages never exceed this (64 KiB): one large read, or one datagram. */
#define SL_MSG_MAX_SIZE ((size_t)64 * 1024)
/* The write size handlers aim for: one TLS record of plaintext (RFC 8446 §5.1). */
#define SL_MAX_FRAGMENT_SIZE ((size_t)16 * 1024)

/* Channel lifecycle ------------------------------------------------------------------------ */

/*
 * Creates a channel on opts->loop. on_setup runs later on the loop thread with status 0, or
 * with SL_E_CANCELED if the loop is being destroyed first; either way the caller owns one
 * reference and releases it with sl_channel_release. After SL_E_CANCELED, release it inside
 * the callback: once that returns the loop is gone.
 * on_shutdown runs exactly once for a channel whose setup succeeded: when every handler has
 * finished shutting down, or with SL_E_CANCELED if the loop is destroyed first.
 * Thread: any. Ownership: returns owned (one reference).
 * Errors: SL_E_INVAL; SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_channel_new(const struct sl_channel_options *opts,
                                        struct sl_channel **out);

/* Adds a reference (the caller must hold one). Thread: any. */
SL_API void sl_channel_acquire(struct sl_channel *channel);

/*
 * Drops a reference. The last one destroys the channel on its loop: at once if it has shut
 * down; otherwise after an aborting shutdown (a graceful one already under way finishes as it
 * is, within its handlers' timeouts). Release every channel before destroying its loop, or from
 * a callback that reports SL_E_CANCELED. Thread: any.
 */
SL_API void sl_channel_release(struct sl_channel *channel);

/*
 * Starts shutting the channel down with status (0 for a clean close). The first call wins;
 * later ones are ignored. Always deferred: the handlers are told from a task, never from inside
 * this call. Thread: any.
 */
SL_API void sl_channel_shutdown(struct sl_channel *channel, int status, bool abort_immediately);

/* Channel operations ----------------------------------------------------------------------- */

/*
 * Prepares a channel task. Ownership: the caller owns the storage, which must stay valid until
 * fn has run (with SL_TASK_RUN or SL_TASK_CANCELED).
 */
SL_API void sl_channel_task_init(struct sl_channel_task *task, sl_task_fn *fn, void *arg,
                                 const char *name);

/*
 * Runs task on the channel's loop now or at run_at_ns (loop clock). If the channel shuts down
 * first, the task runs with SL_TASK_CANCELED when shutdown completes; scheduling on a channel
 * that has shut down cancels it (from a task, never inline). Thread: any.
 */
SL_API void sl_channel_schedule_task_now(struct sl_channel *channel, struct sl_channel_task *task);
SL_API void sl_channel_schedule_task_at(struct sl_channel *channel, struct sl_channel_task *task,
                                        uint64_t run_at_ns);

/*
 * Takes a message with room for at least min(size, SL_MSG_MAX_SIZE) bytes (size 0 gives the
 * smallest class) from the loop's pool. Thread: loop thread.
 * Ownership: returns owned; give it to sl_slot_send or back with sl_channel_release_msg.
 * Errors: SL_E_NOMEM; SL_E_WRONG_THREAD.
 */
SL_API SL_MUST_CHECK int sl_channel_acquire_msg(struct sl_channel *channel, size_t size,
                                                struct sl_msg **out);

/*
 * Returns a message to the pool. A pending completion (on_complete still set) is reported with
 * SL_E_CANCELED first, so every write completion fires exactly once. Thread: loop thread.
 */
SL_API void sl_channel_release_msg(struct sl_channel *channel, struct sl_msg *msg);

/*
 * Fills up to cap entries of stats, one per slot from left to right; *count gets the number of
 * slots. Thread: loop thread.
 */
SL_API void sl_channel_gather_stats(struct sl_channel *channel, struct sl_handler_stats *stats,
                                    size_t cap, size_t *count);

/* Zeroes every slot's counters and calls each handler's reset_stats. Thread: loop thread. */
SL_API void sl_channel_reset_stats(struct sl_channel *channel);

/* Queries ---------------------------------------------------------------------------------- */

/* The channel's loop. Thread: any. */
SL_API struct sl_loop *sl_channel_loop(const struct sl_channel *channel);
SL_API bool sl_channel_is_on_callers_thread(const struct sl_channel *channel);
/* The leftmost slot, or NULL. Thread: loop thread. */
SL_API struct sl_slot *sl_channel_first_slot(const struct sl_channel *channel);
/* True once shutdown has started. Thread: loop thread. */
SL_API bool sl_channel_is_shutting_down(const struct sl_channel *channel);

/* Slots ------------------------------------------------------------------------------------ */

/*
 * Creates an empty slot. If the channel has no slots yet it becomes the first; otherwise place
 * it with one of the insert functions. Thread: loop thread. Ownership: the channel owns it.
 * Errors: SL_E_NOMEM; SL_E_WRONG_THREAD; SL_E_SHUTTING_DOWN.
 */
SL_API SL_MUST_CHECK int sl_slot_new(struct sl_channel *channel, struct sl_slot **out);

/*
 * Places a new (unplaced) slot right of, left of, or at the end of the chain. Meant for
 * building a channel (and inserting handlers such as TLS before data flows); windows are not
 * re-balanced. Thread: loop thread. Errors: SL_E_INVAL for a placed slot or one of another
 * channel.
 */
SL_API SL_MUST_CHECK int sl_slot_insert_right(struct sl_slot *slot, struct sl_slot *to_add);
SL_API SL_MUST_CHECK int sl_slot_insert_left(struct sl_slot *slot, struct sl_slot *to_add);
SL_API SL_MUST_CHECK int sl_slot_insert_end(struct sl_channel *channel, struct sl_slot *to_add);

/* Unlinks slot and destroys it and its handler at once. Thread: loop thread. */
SL_API void sl_slot_remove(struct sl_slot *slot);

/*
 * Puts an unplaced slot where `old` is, then destroys `old` and its handler.
 * Thread: loop thread. Errors: SL_E_INVAL.
 */
SL_API SL_MUST_CHECK int sl_slot_replace(struct sl_slot *old, struct sl_slot *replacement);

/*
 * Installs handler in slot (once) and opens the slot's read window to the handler's initial
 * window (which travels left as a window update; increments waiting for this slot's handler
 * are delivered to it too). Handlers may be set in any order.
 * Thread: loop thread. Ownership: takes handler (destroyed with the slot).
 * Errors: SL_E_STATE if a handler is set; SL_E_INVAL.
 */
SL_API SL_MUST_CHECK int sl_slot_set_handler(struct sl_slot *slot, struct sl_handler *handler);

/*
 * Passes msg to the next slot in dir.
 * Thread: loop thread.
 * Ownership: takes msg on success; on error msg stays with the caller.
 * Errors: SL_E_WINDOW_EXCEEDED if a read message is larger than the right slot's window (a
 * caller bug); SL_E_NO_SLOT if there is no slot that way; SL_E_SHUTTING_DOWN if that slot has
 * finished shutting down in dir; errors returned by the receiving handler.
 */
SL_API SL_MUST_CHECK int sl_slot_send(struct sl_slot *slot, struct sl_msg *msg,
                                      enum sl_direction dir);

/*
 * Offers data to the handler on the left to write at once (see write_now in the vtable);
 * *written gets how much it took, 0 if it has no write_now or would have to queue. The rest is
 * the caller's to send as messages. Write order is kept: bytes are only taken when nothing is
 * waiting ahead of them. Thread: loop thread.
 */
SL_API void sl_slot_write_now(struct sl_slot *slot, struct sl_cursor data, size_t *written);

/*
 * Opens the slot's read window by bytes (saturating). Increments of one tick are coalesced and
 * delivered to the handler on the left in one task. Thread: loop thread.
 */
SL_API void sl_slot_increment_read_window(struct sl_slot *slot, size_t bytes);

/*
 * The read window of the slot to the right: how much may be sent right now (0 if there is no
 * slot or handler there). Thread: loop thread.
 */
SL_API size_t sl_slot_downstream_window(const struct sl_slot *slot);

/* The slot's own read window. Thread: loop thread. */
SL_API size_t sl_slot_window(const struct sl_slot *slot);

/* Sum of the message overheads of the handlers left of slot. Thread: loop thread. */
SL_API size_t sl_slot_upstream_overhead(const struct sl_slot *slot);

/*
 * Takes a message sized so that, with every handler's overhead on its way left, it still fits
 * one SL_MAX_FRAGMENT_SIZE write. Errors: SL_E_NOMEM; SL_E_WRONG_THREAD.
 */
SL_API SL_MUST_CHECK int sl_slot_acquire_max_message_for_write(struct sl_slot *slot,
                                                               struct sl_msg **out);

/*
 * Reports that slot's handler has finished shutting down in dir, so the next handler may be
 * told: to the right for reads (then the write pass starts from the last slot), to the left for
 * writes (then the channel is shut down). status becomes the channel's shutdown status if the
 * channel's was 0. Thread: loop thread.
 */
SL_API void sl_slot_on_shutdown_complete(struct sl_slot *slot, enum sl_direction dir, int status,
                                         bool abort_immediately);

/* Navigation: the slot's channel, its neighbours (NULL at the ends), its handler (NULL if unset).
 */
SL_API struct sl_channel *sl_slot_channel(const struct sl_slot *slot);
SL_API struct sl_slot *sl_slot_left(const struct sl_slot *slot);
SL_API struct sl_slot *sl_slot_right(const struct sl_slot *slot);
SL_API struct sl_handler *sl_slot_handler(const struct sl_slot *slot);

SL_END_DECLS

#endif /* SL_CHANNEL_H */
