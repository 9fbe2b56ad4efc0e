/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_LOOP_INTERNAL_H
#define SL_LOOP_INTERNAL_H

/*
 * What the loop module tells the layers above it that is not public API (internal, never
 * installed).
 */

#include <stdbool.h>

/*
 * True when the calling thread is running an event loop (any loop), or is inside
 * sl_loop_destroy acting as one. Blocking calls use it to refuse to stall a loop thread.
 * Thread: any.
 */
bool sl__loop_is_any_current(void);

struct sl_loop;

/*
 * Notes that the loop was just picked for new work (the group's get_next). The pick counts
 * towards sl_loop_load until a subscription on the loop settles it, or for one to two seconds
 * if none does, so a burst of picks made before any of them has subscribed a socket still
 * spreads out. Thread: any.
 */
void sl__loop_note_pick(struct sl_loop *loop);

#endif /* SL_LOOP_INTERNAL_H */
