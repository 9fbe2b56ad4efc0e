/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backoff formulas and the jitter generator. Shorter than STYLE.md §7 asks of a file, and
 * kept apart from retry_strategy.c on purpose: pure functions with no loop, lock or lifetime,
 * tested on their own (test_retry_backoff.c) over many draws.
 */
#include "retry_internal.h"

#include <sluice/clock.h>
#include <sluice/log.h>

#include <sys/random.h>

/* Random numbers -------------------------------------------------------------------------- */

/*
 * Why SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014) in its counter form: the state only ever advances by a constant, so one atomic
 * fetch-add makes it safe for every thread that schedules retries, with no lock, and the
 * output function passes BigCrush. Jitter needs spread, not secrecy: nothing here is
 * cryptographic, and a peer that could predict our delays gains nothing from it.
 */
#define SPLITMIX_GAMMA UINT64_C(0x9e3779b97f4a7c15)

static uint64_t splitmix_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void sl__rng_seed(struct sl__rng *rng)
{
    uint64_t seed = 0;
    /*
     * getentropy is in Linux (glibc 2.25), the BSDs and macOS, and never returns a short
     * read for 8 bytes. Should it fail anyway (a seccomp filter, an ancient kernel), the
     * clocks and the state's address still give strategies different sequences.
     */
    if (getentropy(&seed, sizeof(seed)) != 0) {
        SL_LOG_DEBUG(SL_LS_RETRY, "getentropy failed: seeding the retry jitter from the clocks");
        seed = splitmix_mix(sl_clock_now_ns()) ^ sl_clock_wall_ns() ^ (uint64_t)(uintptr_t)rng;
    }
    atomic_init(&rng->state, seed);
}

uint64_t sl__rng_next(struct sl__rng *rng)
{
    uint64_t z = atomic_fetch_add_explicit(&rng->state, SPLITMIX_GAMMA, memory_order_relaxed);
    return splitmix_mix(z + SPLITMIX_GAMMA);
}

/* The high 64 bits of a * b, in portable C (no __int128 under -Wpedantic). */
static uint64_t mul_high(uint64_t a, uint64_t b)
{
    uint64_t a_lo = (uint32_t)a;
    uint64_t a_hi = a >> 32;
    uint64_t b_lo = (uint32_t)b;
    uint64_t b_hi = b >> 32;
    uint64_t lo_lo = a_lo * b_lo;
    uint64_t hi_lo = a_hi * b_lo;
    uint64_t lo_hi = a_lo * b_hi;
    uint64_t cross = (lo_lo >> 32) + (uint32_t)hi_lo + lo_hi;
    return a_hi * b_hi + (hi_lo >> 32) + (cross >> 32);
}

/*
 * Scales random by the width of the range (Lemire's multiply-shift) rather than taking it
 * modulo the width: monotonic in random, so tests can ask for either end exactly, and the
 * bias is at most width / 2^64, far below a nanosecond for any delay we allow.
 */
uint64_t sl__random_between(uint64_t random, uint64_t lo, uint64_t hi)
{
    return lo + mul_high(random, hi - lo + 1);
}

/* Backoff --------------------------------------------------------------------------------- */

uint64_t sl__backoff_ceiling_ns(const struct sl__backoff *backoff, uint32_t retry_count)
{
    /* scale << n <= max exactly when scale <= max >> n, which cannot overflow. */
    if (retry_count >= 64 || backoff->scale_ns > (backoff->max_ns >> retry_count)) {
        return backoff->max_ns;
    }
    return backoff->scale_ns << retry_count;
}

/*
 * Decorrelated jitter (the "Exponential Backoff And Jitter" post on the AWS Architecture
 * Blog, 2015) grows from the previous delay rather than from the retry count: each delay is
 * at least scale and at most three times the one before, capped. previous is always at least
 * scale (the first retry starts from scale and no delay drawn here is below it), and at most a
 * day in nanoseconds, so 3 * previous cannot overflow.
 */
static uint64_t decorrelated_delay_ns(const struct sl__backoff *backoff, uint64_t previous_ns,
                                      uint64_t random)
{
    uint64_t previous = previous_ns < backoff->scale_ns ? backoff->scale_ns : previous_ns;
    uint64_t next = sl__random_between(random, backoff->scale_ns, 3 * previous);
    return next < backoff->max_ns ? next : backoff->max_ns;
}

uint64_t sl__backoff_delay_ns(const struct sl__backoff *backoff, uint32_t retry_count,
                              uint64_t previous_ns, uint64_t random)
{
    switch (backoff->jitter) {
    case SL_BACKOFF_JITTER_NONE:
        return sl__backoff_ceiling_ns(backoff, retry_count);
    case SL_BACKOFF_JITTER_DEFAULT: /* resolved to FULL at creation; kept equal here */
    case SL_BACKOFF_JITTER_FULL:
        return sl__random_between(random, 0, sl__backoff_ceiling_ns(backoff, retry_count));
    case SL_BACKOFF_JITTER_DECORRELATED:
        return decorrelated_delay_ns(backoff, previous_ns, random);
    }
    return sl__backoff_ceiling_ns(backoff, retry_count);
}
