/* SPDX-License-Identifier: Apache-2.0 */
#include "client_internal.h"

#include <stdlib.h>

/*
 * The client library's one home for the C allocator. STYLE.md §5 sends library memory through
 * sl_alloc, but sl_alloc lives in libsluice, which this library must not link (issue 7: no
 * threads, no OpenSSL). Like core/common/alloc.c, this file is therefore the exception to the
 * banned-function check; everything else in libclient/ allocates through these three.
 * protobuf-c's unpacker allocates with malloc on its own, as it does in the daemon.
 */

void *sl__client_calloc(size_t count, size_t len)
{
    return count && len ? calloc(count, len) : NULL;
}

void *sl__client_realloc(void *ptr, size_t len)
{
    return len ? realloc(ptr, len) : NULL;
}

void sl__client_free(void *ptr)
{
    free(ptr);
}
