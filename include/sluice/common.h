/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_COMMON_H
#define SL_COMMON_H

/*
 * Compiler and linkage macros used by every public header. Compiler-specific keywords hide
 * behind SL_ names (STYLE.md §3) so the headers stay readable.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define SL_BEGIN_DECLS extern "C" {
#define SL_END_DECLS   }
#else
#define SL_BEGIN_DECLS
#define SL_END_DECLS
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SL_API             __attribute__((visibility("default")))
#define SL_MUST_CHECK      __attribute__((warn_unused_result))
#define SL_PRINTF(fmt, va) __attribute__((format(printf, fmt, va)))
#define SL_LIKELY(x)       __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x)     __builtin_expect(!!(x), 0)
#else
#define SL_API
#define SL_MUST_CHECK
#define SL_PRINTF(fmt, va)
#define SL_LIKELY(x)   (x)
#define SL_UNLIKELY(x) (x)
#endif

/*
 * Finds the struct that embeds `ptr` as its member `member` (STYLE.md §6). Going through
 * uintptr_t lets `type` be const-qualified without a cast-qual warning.
 */
#define sl_container_of(ptr, type, member) ((type *)((uintptr_t)(ptr)-offsetof(type, member)))

#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* SL_COMMON_H */
