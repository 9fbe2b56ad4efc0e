/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_STREAM_INTERNAL_H
#define SL_STREAM_INTERNAL_H

/* Shared by the stream implementations in core/stream (internal, never installed). */

#include <sluice/stream.h>

#include <stdint.h>

/*
 * Turns (offset, basis) into a position in [0, len]. Memory and file streams share it so that
 * both agree on what is in range.
 * Errors: SL_E_STREAM_SEEK_OUT_OF_RANGE (*out untouched); SL_E_INVAL for an unknown basis.
 */
int sl__stream_seek_target(int64_t offset, enum sl_stream_seek_basis basis, uint64_t len,
                           uint64_t *out);

#endif /* SL_STREAM_INTERNAL_H */
