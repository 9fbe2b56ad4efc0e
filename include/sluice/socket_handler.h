/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SOCKET_HANDLER_H
#define SL_SOCKET_HANDLER_H

#include <sluice/channel.h>
#include <sluice/common.h>
#include <sluice/socket.h>

SL_BEGIN_DECLS

/*
 * The socket handler: the channel's slot 0, where bytes enter and leave.
 *
 * Reading: when the socket is readable it reads at most the per-tick budget and never more
 * than the window of the slot to its right, one message per read. If the budget runs out
 * before the kernel says EAGAIN it yields (a channel task) so other channels on the loop get
 * their turn, and a connection that keeps filling its budget has it doubled step by step up to
 * max_read_per_tick (the seed's "upgrade fast connections"); EAGAIN resets it. With a zero
 * window it stops and resumes on the window update.
 *
 * Writing: write messages queue on the socket in order (several per syscall); each message's
 * completion fires once its last byte reached the kernel. A message flagged
 * SL_MSG_END_OF_STREAM half-closes the socket after it is written.
 *
 * End of file from the peer shuts the channel down with SL_E_CLOSED; with allow_half_close it
 * instead sends an empty SL_MSG_END_OF_STREAM message right and keeps the write side open.
 * Errors shut the channel down with the socket's error.
 *
 * Shutdown: the read pass stops reading; the write pass waits (up to flush_timeout_ms) for
 * queued writes to reach the kernel unless aborting, then closes the socket.
 */

struct sl_socket_handler_options {
    size_t read_per_tick;      /* starting read budget per tick; 0: 16 KiB */
    size_t max_read_per_tick;  /* budget ceiling for busy connections; 0: 256 KiB */
    bool allow_half_close;     /* see above */
    uint32_t flush_timeout_ms; /* graceful shutdown waits this long for writes; 0: 10 s */
};

/*
 * Creates a handler for a connected socket attached to the loop of the channel it will serve.
 * Set it on the channel's first slot with sl_slot_set_handler.
 * Thread: the socket's loop thread.
 * Ownership: takes socket on success (closed and destroyed with the handler); returns the
 * handler owned until sl_slot_set_handler takes it.
 * Errors: SL_E_INVAL; SL_E_STATE if the socket is not connected and attached; SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_socket_handler_new(struct sl_socket *socket,
                                               const struct sl_socket_handler_options *opts,
                                               struct sl_handler **out);

/* The handler's socket (still owned by the handler). */
SL_API struct sl_socket *sl_socket_handler_socket(struct sl_handler *handler);

SL_END_DECLS

#endif /* SL_SOCKET_HANDLER_H */
