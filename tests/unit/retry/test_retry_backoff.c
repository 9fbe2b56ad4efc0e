/* SPDX-License-Identifier: Apache-2.0 */
/* The backoff formulas and the generator, without a loop: many draws, exact and bounded. */
#include "retry_internal.h"
#include "retry_tests.h"
#include "test_harness.h"

#include <sluice/clock.h>

enum { DRAWS = 100000 };

static const uint64_t HALF = UINT64_C(1) << 63;

START_TEST(random_between_maps_both_ends_exactly)
{
    ck_assert_uint_eq(sl__random_between(0, 7, 19), 7);
    ck_assert_uint_eq(sl__random_between(UINT64_MAX, 7, 19), 19);
    ck_assert_uint_eq(sl__random_between(HALF, 0, 100), 50);
    ck_assert_uint_eq(sl__random_between(UINT64_MAX, 0, 0), 0);
    ck_assert_uint_eq(sl__random_between(UINT64_MAX, 5, 5), 5);
    /* The widest range we ever ask for: both ends still exact. */
    uint64_t wide = 3 * (uint64_t)SL_RETRY_MAX_BACKOFF_MS_LIMIT * SL_NS_PER_MS;
    ck_assert_uint_eq(sl__random_between(UINT64_MAX, 0, wide), wide);
    ck_assert_uint_eq(sl__random_between(0, 0, wide), 0);
}
END_TEST

START_TEST(ceiling_doubles_from_the_scale_and_caps_without_overflow)
{
    struct sl__backoff b = {
        .scale_ns = SL_NS_PER_MS, .max_ns = 20 * SL_NS_PER_SEC, .jitter = SL_BACKOFF_JITTER_NONE};
    for (uint32_t n = 0; n <= 14; n++) {
        ck_assert_uint_eq(sl__backoff_ceiling_ns(&b, n), (SL_NS_PER_MS << n));
    }
    ck_assert_uint_eq(sl__backoff_ceiling_ns(&b, 15), 20 * SL_NS_PER_SEC); /* 32.768 s capped */
    ck_assert_uint_eq(sl__backoff_ceiling_ns(&b, 63), 20 * SL_NS_PER_SEC);
    ck_assert_uint_eq(sl__backoff_ceiling_ns(&b, 64), 20 * SL_NS_PER_SEC);
    ck_assert_uint_eq(sl__backoff_ceiling_ns(&b, UINT32_MAX), 20 * SL_NS_PER_SEC);

    /* A cap so high that only the shift limit stops the doubling. */
    struct sl__backoff wide = {
        .scale_ns = 1, .max_ns = UINT64_MAX, .jitter = SL_BACKOFF_JITTER_NONE};
    ck_assert_uint_eq(sl__backoff_ceiling_ns(&wide, 63), HALF);
    ck_assert_uint_eq(sl__backoff_ceiling_ns(&wide, 64), UINT64_MAX);
    struct sl__backoff odd = {
        .scale_ns = 3, .max_ns = UINT64_MAX, .jitter = SL_BACKOFF_JITTER_NONE};
    ck_assert_uint_eq(sl__backoff_ceiling_ns(&odd, 62), 3 * (UINT64_C(1) << 62));
    ck_assert_uint_eq(sl__backoff_ceiling_ns(&odd, 63), UINT64_MAX); /* 3 << 63 overflows */
}
END_TEST

START_TEST(no_jitter_delay_is_the_ceiling_whatever_the_random_bits)
{
    struct sl__backoff b = {.scale_ns = 5 * SL_NS_PER_MS,
                            .max_ns = 100 * SL_NS_PER_MS,
                            .jitter = SL_BACKOFF_JITTER_NONE};
    const uint64_t expected_ms[] = {5, 10, 20, 40, 80, 100, 100, 100};
    for (uint32_t n = 0; n < SL_ARRAY_LEN(expected_ms); n++) {
        ck_assert_uint_eq(sl__backoff_delay_ns(&b, n, 0, 0), expected_ms[n] * SL_NS_PER_MS);
        ck_assert_uint_eq(sl__backoff_delay_ns(&b, n, 0, UINT64_MAX),
                          expected_ms[n] * SL_NS_PER_MS);
    }
}
END_TEST

START_TEST(full_jitter_spans_zero_to_the_ceiling)
{
    struct sl__backoff b = {.scale_ns = 10 * SL_NS_PER_MS,
                            .max_ns = 300 * SL_NS_PER_MS,
                            .jitter = SL_BACKOFF_JITTER_FULL};
    for (uint32_t n = 0; n < 8; n++) {
        uint64_t ceiling = sl__backoff_ceiling_ns(&b, n);
        ck_assert_uint_eq(sl__backoff_delay_ns(&b, n, 0, 0), 0);
        ck_assert_uint_eq(sl__backoff_delay_ns(&b, n, 0, UINT64_MAX), ceiling);
        ck_assert_uint_eq(sl__backoff_delay_ns(&b, n, 0, HALF), (ceiling + 1) / 2);
    }
    struct sl__rng rng;
    sl__rng_seed(&rng);
    for (uint32_t n = 0; n < 40; n += 3) {
        uint64_t ceiling = sl__backoff_ceiling_ns(&b, n);
        double sum = 0;
        for (int i = 0; i < DRAWS; i++) {
            uint64_t d = sl__backoff_delay_ns(&b, n, 0, sl__rng_next(&rng));
            ck_assert_uint_le(d, ceiling);
            sum += (double)d;
        }
        /* The mean of a uniform draw is ceiling / 2; 100,000 draws put it within 0.3%. */
        double mean = sum / DRAWS / (double)ceiling;
        ck_assert_msg(mean > 0.48 && mean < 0.52, "retry %u: mean %f of the ceiling", n, mean);
    }
}
END_TEST

START_TEST(decorrelated_jitter_stays_between_the_scale_and_three_times_the_last_delay)
{
    struct sl__backoff b = {.scale_ns = 10 * SL_NS_PER_MS,
                            .max_ns = 1000 * SL_NS_PER_MS,
                            .jitter = SL_BACKOFF_JITTER_DECORRELATED};
    /* Exact: the top of the range triples from the scale, then the cap holds it. */
    const uint64_t top_ms[] = {30, 90, 270, 810, 1000, 1000};
    uint64_t previous = 0;
    for (uint32_t n = 0; n < SL_ARRAY_LEN(top_ms); n++) {
        previous = sl__backoff_delay_ns(&b, n, previous, UINT64_MAX);
        ck_assert_uint_eq(previous, top_ms[n] * SL_NS_PER_MS);
    }
    ck_assert_uint_eq(sl__backoff_delay_ns(&b, 9, 1000 * SL_NS_PER_MS, 0), b.scale_ns);
    ck_assert_uint_eq(sl__backoff_delay_ns(&b, 0, 0, 0), b.scale_ns);

    struct sl__rng rng;
    sl__rng_seed(&rng);
    previous = 0;
    bool reached_cap = false;
    for (uint32_t n = 0; n < DRAWS; n++) {
        uint64_t upper = 3 * (previous ? previous : b.scale_ns);
        uint64_t d = sl__backoff_delay_ns(&b, n, previous, sl__rng_next(&rng));
        ck_assert_uint_ge(d, b.scale_ns);
        ck_assert_uint_le(d, upper < b.max_ns ? upper : b.max_ns);
        reached_cap = reached_cap || d == b.max_ns;
        previous = d;
    }
    ck_assert(reached_cap);
}
END_TEST

START_TEST(generators_differ_and_spread_their_bits)
{
    struct sl__rng a, b;
    sl__rng_seed(&a);
    sl__rng_seed(&b);
    int same = 0;
    int ones[64] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint64_t x = sl__rng_next(&a);
        same += x == sl__rng_next(&b);
        for (int bit = 0; bit < 64; bit++) {
            ones[bit] += (int)((x >> bit) & 1);
        }
    }
    ck_assert_int_eq(same, 0);
    for (int bit = 0; bit < 64; bit++) {
        /* A fair bit is set 50,000 +- 158 (one standard deviation) times; allow 10 of those. */
        ck_assert_msg(ones[bit] > 48400 && ones[bit] < 51600, "bit %d set %d times", bit,
                      ones[bit]);
    }
}
END_TEST

void add_backoff_tests(Suite *s)
{
    TCase *tc = retry_tcase("backoff", 60);
    tcase_add_test(tc, random_between_maps_both_ends_exactly);
    tcase_add_test(tc, ceiling_doubles_from_the_scale_and_caps_without_overflow);
    tcase_add_test(tc, no_jitter_delay_is_the_ceiling_whatever_the_random_bits);
    tcase_add_test(tc, full_jitter_spans_zero_to_the_ceiling);
    tcase_add_test(tc, decorrelated_jitter_stays_between_the_scale_and_three_times_the_last_delay);
    tcase_add_test(tc, generators_differ_and_spread_their_bits);
    suite_add_tcase(s, tc);
}
