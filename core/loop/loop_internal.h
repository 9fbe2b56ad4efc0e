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

#endif /* SL_LOOP_INTERNAL_H */
