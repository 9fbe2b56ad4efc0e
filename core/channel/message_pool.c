/* SPDX-License-Identifier: Apache-2.0 */
#include "channel_internal.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/event_loop.h>

#include "guard.h"

/*
 * One pool per event loop, kept in the loop's local storage: channels on a loop share it, and
 * it is only touched on that loop's thread, so it needs no lock. Each message is one allocation
 * (header followed by its bytes). Three size classes cover control messages, one TLS record
 * with its framing, and large reads or datagrams; each free list is capped so an idle loop
 * gives memory back instead of hoarding the peak.
 */

enum { CLASS_COUNT = 3 };

static const size_t s_class_size[CLASS_COUNT] = {
    2048,
    SL_MAX_FRAGMENT_SIZE + 512, /* a full record plus TLS 1.2/1.3 framing and padding */
    SL_MSG_MAX_SIZE,
};
static const size_t s_class_keep[CLASS_COUNT] = {64, 64, 16};

#define MSG_MAGIC_LIVE 0x4d53474cu /* "MSGL": handed out */
#define MSG_MAGIC_FREE 0x4d534746u /* "MSGF": in a free list */

struct sl_msg_pool {
    struct sl_list free[CLASS_COUNT];
    size_t free_count[CLASS_COUNT];
};

static const char s_pool_key = 'p';

static void destroy_pool(void *value)
{
    struct sl_msg_pool *pool = value;
    for (int c = 0; c < CLASS_COUNT; c++) {
        struct sl_list_node *node;
        while ((node = sl_list_pop_front(&pool->free[c])) != NULL) {
            sl_free(sl_container_of(node, struct sl_msg, node));
        }
    }
    sl_free(pool);
}

int sl__msg_pool_for_loop(struct sl_loop *loop, struct sl_msg_pool **out)
{
    void *existing = NULL;
    if (sl_loop_local_fetch(loop, &s_pool_key, &existing) == 0) {
        *out = existing;
        return 0;
    }
    struct sl_msg_pool *pool = sl_calloc(1, sizeof(*pool));
    SL_ENSURE(pool, SL_E_NOMEM);
    for (int c = 0; c < CLASS_COUNT; c++) {
        sl_list_init(&pool->free[c]);
    }
    int rc = sl_loop_local_put(loop, &s_pool_key, pool, destroy_pool);
    if (rc < 0) {
        sl_free(pool);
        return rc;
    }
    *out = pool;
    return 0;
}

static int class_for(size_t size)
{
    for (int c = 0; c < CLASS_COUNT - 1; c++) {
        if (size <= s_class_size[c]) {
            return c;
        }
    }
    return CLASS_COUNT - 1; /* larger requests are clamped to the largest message */
}

int sl__msg_pool_acquire(struct sl_msg_pool *pool, size_t size, struct sl_msg **out)
{
    int c = class_for(size);
    struct sl_list_node *node = sl_list_pop_front(&pool->free[c]);
    struct sl_msg *msg;
    if (node) {
        pool->free_count[c]--;
        msg = sl_container_of(node, struct sl_msg, node);
    } else {
        msg = sl_alloc(sizeof(*msg) + s_class_size[c]);
        SL_ENSURE(msg, SL_E_NOMEM);
    }
    *msg = (struct sl_msg){.size_class = (uint32_t)c, .pool_magic = MSG_MAGIC_LIVE};
    sl_buf_init_fixed(&msg->data, msg + 1, s_class_size[c]);
    sl_list_node_reset(&msg->node);
    *out = msg;
    return 0;
}

void sl__msg_pool_release(struct sl_msg_pool *pool, struct sl_msg *msg)
{
    SL_ASSERT(msg->pool_magic == MSG_MAGIC_LIVE); /* released twice, or not from a pool */
    int c = (int)msg->size_class;
    if (pool->free_count[c] >= s_class_keep[c]) {
        msg->pool_magic = 0;
        sl_free(msg);
        return;
    }
    msg->pool_magic = MSG_MAGIC_FREE;
    pool->free_count[c]++;
    sl_list_push_front(&pool->free[c], &msg->node); /* most recently used: still in cache */
}
