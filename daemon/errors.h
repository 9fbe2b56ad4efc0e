/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_ERRORS_H
#define SLUICED_ERRORS_H

#include "frame.h"

/* The protocol's ErrorCode for a libsluice return code (0 gives ERROR_NONE). */
Sluice__V1__ErrorCode sluiced_error_code(int code);

#endif
