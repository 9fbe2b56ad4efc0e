/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_GUARD_H
#define SL_GUARD_H

/*
 * The guard macros: a small, closed language (STYLE.md §4). They return early, so they are
 * ALL CAPS, they are used only in functions returning int, and none of them hides a goto.
 * Do not add more without review.
 *
 * STYLE.md calls this file check.h; it is guard.h because the Check test framework installs a
 * <check.h> of its own, and tests see both include paths.
 */

#include <sluice/common.h>
#include <sluice/error.h>

/* Propagates a negative result of expr. */
#define SL_TRY(expr)                       \
    do {                                   \
        int sl__try_rc = (expr);           \
        if (SL_UNLIKELY(sl__try_rc < 0)) { \
            return sl__try_rc;             \
        }                                  \
    } while (0)

/* Returns err unless cond holds. */
#define SL_ENSURE(cond, err)        \
    do {                            \
        if (SL_UNLIKELY(!(cond))) { \
            return (err);           \
        }                           \
    } while (0)

/* Returns SL_E_INVAL unless cond holds. */
#define SL_ENSURE_ARG(cond) SL_ENSURE(cond, SL_E_INVAL)

/*
 * Programmer errors (broken invariants, API misuse) abort in debug and fuzz builds; release
 * builds compile the check away, and callers that can recover also return SL_E_STATE.
 */
#ifdef NDEBUG
#define SL_ASSERT(cond) ((void)0)
#else
#define SL_ASSERT(cond) ((cond) ? (void)0 : sl__assert_fail(#cond, __FILE__, __LINE__))
#endif

SL_API void sl__assert_fail(const char *cond, const char *file, int line);

#endif /* SL_GUARD_H */
