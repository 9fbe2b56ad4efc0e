/* SPDX-License-Identifier: Apache-2.0 */
#include "relay_internal.h"

#include <sluice/alloc.h>
#include <sluice/error.h>

#include <string.h>

/* A session's channels by id: open addressing with linear probing. */

void relay_table_init(struct relay_table *t)
{
    memset(t, 0, sizeof(*t));
}

static size_t slot_of(const struct relay_table *t, uint32_t id)
{
    return (size_t)(id * 2654435761u) & (t->cap - 1);
}

struct relay *relay_table_find(const struct relay_table *t, uint32_t id)
{
    if (t->cap == 0) {
        return NULL;
    }
    for (size_t i = slot_of(t, id);; i = (i + 1) & (t->cap - 1)) {
        struct relay *r = t->slots[i];
        if (!r || r->id == id) {
            return r;
        }
    }
}

static int table_grow(struct relay_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 16;
    struct relay **slots = sl_calloc(cap, sizeof(*slots));
    if (!slots) {
        return SL_E_NOMEM;
    }
    struct relay_table bigger = {.slots = slots, .cap = cap, .count = 0};
    for (size_t i = 0; i < t->cap; i++) {
        struct relay *r = t->slots[i];
        if (r) {
            size_t j = slot_of(&bigger, r->id);
            while (bigger.slots[j]) {
                j = (j + 1) & (cap - 1);
            }
            bigger.slots[j] = r;
        }
    }
    sl_free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

int relay_table_add(struct relay_table *t, struct relay *r)
{
    if ((t->count + 1) * 2 > t->cap) {
        int rc = table_grow(t);
        if (rc < 0) {
            return rc;
        }
    }
    size_t i = slot_of(t, r->id);
    while (t->slots[i]) {
        i = (i + 1) & (t->cap - 1);
    }
    t->slots[i] = r;
    t->count++;
    return 0;
}

size_t relay_count(const struct session *s)
{
    return s->relays.count;
}

void relay_table_remove(struct relay_table *t, struct relay *r)
{
    size_t i = slot_of(t, r->id);
    while (t->slots[i] != r) {
        i = (i + 1) & (t->cap - 1);
    }
    t->slots[i] = NULL;
    t->count--;
    /* Re-place the entries after it in its run, so lookups never stop early. */
    for (size_t j = (i + 1) & (t->cap - 1); t->slots[j]; j = (j + 1) & (t->cap - 1)) {
        struct relay *moved = t->slots[j];
        t->slots[j] = NULL;
        size_t k = slot_of(t, moved->id);
        while (t->slots[k]) {
            k = (k + 1) & (t->cap - 1);
        }
        t->slots[k] = moved;
    }
}
