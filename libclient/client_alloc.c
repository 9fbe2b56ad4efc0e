/* SPDX-License-Identifier: Apache-2.0 */
#include "client_internal.h"

#include <stdatomic.h>
#include <stdlib.h>

/*
 * The client library's one home for the C allocator. STYLE.md §5 sends library memory through
 * sl_alloc, but sl_alloc lives in libsluice, which this library must not link (issue 7: no
 * threads, no OpenSSL). Like core/common/alloc.c, this file is therefore the exception to the
 * banned-function check; everything else in libclient/ allocates through these three.
 * protobuf-c's unpacker allocates with malloc on its own, as it does in the daemon.
 *
 * The count of live blocks lets tests see that closing a client frees everything it made.
 * It is atomic because different clients may live on different threads (client.h).
 */

static atomic_size_t s_live_blocks;

void *sl__client_calloc(size_t count, size_t len)
{
    void *p = count && len ? calloc(count, len) : NULL;
    if (p) {
        atomic_fetch_add_explicit(&s_live_blocks, 1, memory_order_relaxed);
    }
    return p;
}

void *sl__client_realloc(void *ptr, size_t len)
{
    if (!len) {
        return NULL;
    }
    void *p = realloc(ptr, len);
    if (p && !ptr) {
        atomic_fetch_add_explicit(&s_live_blocks, 1, memory_order_relaxed);
    }
    return p;
}

void sl__client_free(void *ptr)
{
    if (ptr) {
        atomic_fetch_sub_explicit(&s_live_blocks, 1, memory_order_relaxed);
        free(ptr);
    }
}

size_t sl__client_live_allocations(void)
{
    return atomic_load_explicit(&s_live_blocks, memory_order_relaxed);
}
