/* SPDX-License-Identifier: Apache-2.0 */
#include "relay_internal.h"

#include <sluice/alloc.h>
#include <sluice/error.h>

#include <stdlib.h>
#include <string.h>

/* Stats.session_channels (docs/protocol.md §8): the session's channels by ascending id. */

#define STATS_FRAME_BASE 128 /* the Stats totals and the frame's own header, generously */

static int by_id(const void *a, const void *b)
{
    const struct relay *x = *(struct relay *const *)a;
    const struct relay *y = *(struct relay *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static const char *state_name(const struct relay *r)
{
    if (r->state == RELAY_OPENING) {
        return "opening";
    }
    if (r->close_sent) {
        return "closing";
    }
    return r->client_shut || r->peer_shut ? "half-closed" : "open";
}

static void fill_one(const struct relay *r, Sluice__V1__ChannelStats *c, char *remote, size_t len)
{
    sluice__v1__channel_stats__init(c);
    relay_remote_address(r, remote, len);
    c->channel_id = r->id;
    c->remote_address = remote;
    c->bytes_in = r->bytes_in;
    c->bytes_out = r->bytes_out;
    c->send_window = r->client_shut ? 0 : (uint32_t)r->client_may_send; /* §6.1 */
    size_t receive = r->datagram ? r->datagram_credit : r->net ? sl_slot_window(r->base.slot) : 0;
    c->receive_window = receive > UINT32_MAX ? UINT32_MAX : (uint32_t)receive;
    c->state = (char *)(uintptr_t)state_name(r);
}

int relay_stats_fill(struct session *s, Sluice__V1__Stats *stats, struct relay_stats *out)
{
    memset(out, 0, sizeof(*out));
    const struct relay_table *t = &s->relays;
    size_t n = t->count;
    if (n == 0) {
        return 0;
    }
    struct relay **sorted = sl_calloc(n, sizeof(*sorted));
    out->items = sl_calloc(n, sizeof(*out->items));
    out->ptrs = sl_calloc(n, sizeof(*out->ptrs));
    out->remote = sl_calloc(n, sizeof(*out->remote));
    if (!sorted || !out->items || !out->ptrs || !out->remote) {
        sl_free(sorted);
        relay_stats_free(out);
        return SL_E_NOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < t->cap && k < n; i++) {
        if (t->slots[i]) {
            sorted[k++] = t->slots[i];
        }
    }
    qsort(sorted, k, sizeof(*sorted), by_id);
    /* As many as fit in one frame: the client compares the count with its own. */
    size_t room = s->max_frame > STATS_FRAME_BASE ? s->max_frame - STATS_FRAME_BASE : 0;
    size_t used = 0;
    for (size_t i = 0; i < k; i++) {
        Sluice__V1__ChannelStats *c = &out->items[i];
        fill_one(sorted[i], c, out->remote[i], sizeof(out->remote[i]));
        size_t size = sluice__v1__channel_stats__get_packed_size(c) + 4; /* tag and length */
        if (used + size > room) {
            break;
        }
        used += size;
        out->ptrs[out->count++] = c;
    }
    sl_free(sorted);
    stats->n_session_channels = out->count;
    stats->session_channels = out->ptrs;
    return 0;
}

void relay_stats_free(struct relay_stats *st)
{
    sl_free(st->items);
    sl_free(st->ptrs);
    sl_free(st->remote);
    memset(st, 0, sizeof(*st));
}
