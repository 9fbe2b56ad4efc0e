/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_COMMON_INTERNAL_H
#define SL_COMMON_INTERNAL_H

/* Internal helpers of core/common, visible to higher layers and tests, never installed. */

#include <sluice/buf.h>

#include <stdbool.h>

/* Invariants of struct sl_buf (STYLE.md §11): len <= cap, and memory behind any capacity. */
bool sl__buf_is_valid(const struct sl_buf *buf);

#endif /* SL_COMMON_INTERNAL_H */
