/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/clock.h>

#include <time.h>

static uint64_t read_clock(clockid_t id)
{
    struct timespec ts;
    /* clock_gettime cannot fail for these clocks with a valid pointer (POSIX). */
    (void)clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * SL_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t sl_clock_now_ns(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

uint64_t sl_clock_wall_ns(void)
{
    return read_clock(CLOCK_REALTIME);
}
