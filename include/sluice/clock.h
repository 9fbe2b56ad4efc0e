/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CLOCK_H
#define SL_CLOCK_H

#include <sluice/common.h>

#include <stdint.h>

SL_BEGIN_DECLS

#define SL_NS_PER_US  UINT64_C(1000)
#define SL_NS_PER_MS  UINT64_C(1000000)
#define SL_NS_PER_SEC UINT64_C(1000000000)

/*
 * Nanoseconds on the monotonic clock (CLOCK_MONOTONIC): never jumps with wall-clock changes,
 * meaningful only as a difference or a deadline. Thread: any.
 */
SL_API uint64_t sl_clock_now_ns(void);

/* Nanoseconds since the Unix epoch on the wall clock, for logs and certificates. Thread: any. */
SL_API uint64_t sl_clock_wall_ns(void);

SL_END_DECLS

#endif /* SL_CLOCK_H */
