/* SPDX-License-Identifier: Apache-2.0 */
#include "host_cache.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>

#include "guard.h"

#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* FNV-1a over the name, started from a per-cache random-ish seed. */
static uint64_t hash_name(uint64_t seed, const char *host)
{
    uint64_t h = seed ^ UINT64_C(0xcbf29ce484222325);
    for (const unsigned char *p = (const unsigned char *)host; *p; p++) {
        h = (h ^ *p) * UINT64_C(0x100000001b3);
    }
    return h;
}

static uint64_t make_seed(const void *cache)
{
    uint64_t x = sl_clock_wall_ns() ^ (uint64_t)(uintptr_t)cache ^ sl_clock_now_ns() << 17;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    return x ^ (x >> 33);
}

int sl__host_cache_init(struct sl__host_cache *cache, size_t max_hosts)
{
    size_t buckets = 16;
    while (buckets < max_hosts && buckets < ((size_t)1 << 20)) {
        buckets *= 2;
    }
    *cache = (struct sl__host_cache){.bucket_count = buckets, .max = max_hosts};
    cache->buckets = sl_calloc(buckets, sizeof(*cache->buckets));
    SL_ENSURE(cache->buckets, SL_E_NOMEM);
    cache->seed = make_seed(cache);
    sl_list_init(&cache->lru);
    return 0;
}

void sl__host_entry_free(struct sl__host_entry *entry)
{
    for (int f = 0; f < SL__FAMILY_COUNT; f++) {
        sl_free(entry->sets[f].items);
    }
    sl_free(entry);
}

void sl__host_cache_clean_up(struct sl__host_cache *cache)
{
    struct sl_list_node *node;
    while ((node = sl_list_front(&cache->lru)) != NULL) {
        struct sl__host_entry *entry = sl_container_of(node, struct sl__host_entry, lru);
        sl__host_cache_remove(cache, entry);
        sl__host_entry_free(entry);
    }
    sl_free(cache->buckets);
    cache->buckets = NULL;
}

struct sl__host_entry *sl__host_cache_find(struct sl__host_cache *cache, const char *host)
{
    uint64_t h = hash_name(cache->seed, host);
    for (struct sl__host_entry *e = cache->buckets[h & (cache->bucket_count - 1)]; e;
         e = e->hash_next) {
        if (e->hash == h && strcmp(e->host, host) == 0) {
            sl_list_remove(&e->lru);
            sl_list_push_front(&cache->lru, &e->lru);
            return e;
        }
    }
    return NULL;
}

void sl__host_cache_remove(struct sl__host_cache *cache, struct sl__host_entry *entry)
{
    struct sl__host_entry **link = &cache->buckets[entry->hash & (cache->bucket_count - 1)];
    while (*link && *link != entry) {
        link = &(*link)->hash_next;
    }
    if (*link) {
        *link = entry->hash_next;
        sl_list_remove(&entry->lru);
        cache->count--;
    }
    entry->hash_next = NULL;
}

/* Drops the least recently used entry that no lookup or request is using. */
static bool evict_one(struct sl__host_cache *cache)
{
    for (struct sl_list_node *node = sl_list_back(&cache->lru); node; node = node->prev) {
        if (node == &cache->lru.head) {
            break;
        }
        struct sl__host_entry *entry = sl_container_of(node, struct sl__host_entry, lru);
        if (!entry->lookup_in_flight && sl_list_is_empty(&entry->waiting)) {
            sl__host_cache_remove(cache, entry);
            sl__host_entry_free(entry);
            return true;
        }
    }
    return false; /* everything is busy: grow past the cap for now rather than lose requests */
}

int sl__host_cache_insert(struct sl__host_cache *cache, const char *host,
                          struct sl__host_entry **out, uint64_t *evicted)
{
    while (cache->count >= cache->max && evict_one(cache)) {
        (*evicted)++;
    }
    size_t len = strlen(host);
    struct sl__host_entry *entry = sl_calloc(1, sizeof(*entry) + len + 1);
    SL_ENSURE(entry, SL_E_NOMEM);
    memcpy(entry->host, host, len + 1);
    entry->hash = hash_name(cache->seed, host);
    sl_list_init(&entry->waiting);
    struct sl__host_entry **bucket = &cache->buckets[entry->hash & (cache->bucket_count - 1)];
    entry->hash_next = *bucket;
    *bucket = entry;
    sl_list_push_front(&cache->lru, &entry->lru);
    cache->count++;
    *out = entry;
    return 0;
}

/* Updating ----------------------------------------------------------------------------------- */

static int family_index(int family)
{
    return family == AF_INET6 ? SL__FAMILY_V6 : SL__FAMILY_V4;
}

/* A failure mark of an address that survives a refresh. */
static uint64_t old_failure(const struct sl__family_set *old, const char *address)
{
    for (size_t i = 0; i < old->count; i++) {
        if (strcmp(old->items[i].addr.address, address) == 0) {
            return old->items[i].failed_until_ns;
        }
    }
    return 0;
}

static int rebuild_set(struct sl__family_set *set, int f, const struct sl__dns_answer *answers,
                       size_t count, uint32_t max_ttl_s)
{
    struct sl__cached_address *items = count ? sl_calloc(count, sizeof(*items)) : NULL;
    SL_ENSURE(items || count == 0, SL_E_NOMEM);
    size_t n = 0;
    uint32_t ttl = max_ttl_s;
    for (size_t i = 0; i < count; i++) {
        if (family_index(answers[i].family) != f) {
            continue;
        }
        struct sl__cached_address *c = &items[n++];
        memcpy(c->addr.address, answers[i].address, sizeof(c->addr.address));
        c->addr.domain = f == SL__FAMILY_V6 ? SL_SOCKET_IPV6 : SL_SOCKET_IPV4;
        c->failed_until_ns = old_failure(set, c->addr.address);
        ttl = answers[i].ttl_s < ttl ? answers[i].ttl_s : ttl;
    }
    sl_free(set->items);
    set->items = items;
    set->count = n;
    set->ttl_s = n ? ttl : 0;
    return 0;
}

int sl__host_entry_update(struct sl__host_entry *entry, const struct sl__dns_answer *answers,
                          size_t count, uint32_t max_ttl_s, uint32_t negative_ttl_s,
                          uint64_t now_ns)
{
    for (int f = 0; f < SL__FAMILY_COUNT; f++) {
        struct sl__family_set *set = &entry->sets[f];
        SL_TRY(rebuild_set(set, f, answers, count, max_ttl_s));
        /* A family with no records is remembered as empty, like a negative answer. */
        uint32_t ttl = set->count ? set->ttl_s : negative_ttl_s;
        set->expires_ns = now_ns + (uint64_t)ttl * SL_NS_PER_SEC;
    }
    entry->negative_status = 0;
    entry->negative_until_ns = 0;
    return 0;
}

/* Queries ------------------------------------------------------------------------------------ */

static bool family_wanted(enum sl_host_family family, int f)
{
    switch (family) {
    case SL_HOST_ANY:
        return true;
    case SL_HOST_IPV4:
        return f == SL__FAMILY_V4;
    case SL_HOST_IPV6:
        return f == SL__FAMILY_V6;
    }
    return false;
}

bool sl__host_entry_is_fresh(const struct sl__host_entry *entry, enum sl_host_family family,
                             uint64_t now_ns)
{
    for (int f = 0; f < SL__FAMILY_COUNT; f++) {
        if (family_wanted(family, f) && entry->sets[f].expires_ns <= now_ns) {
            return false;
        }
    }
    return true;
}

bool sl__host_entry_wants_refresh(const struct sl__host_entry *entry, enum sl_host_family family,
                                  uint32_t window_percent, uint64_t now_ns)
{
    for (int f = 0; f < SL__FAMILY_COUNT; f++) {
        const struct sl__family_set *set = &entry->sets[f];
        if (!family_wanted(family, f) || set->count == 0 || set->expires_ns <= now_ns) {
            continue;
        }
        uint64_t window = (uint64_t)set->ttl_s * SL_NS_PER_SEC / 100 * window_percent;
        if (set->expires_ns - now_ns <= window) {
            return true;
        }
    }
    return false;
}

/* Orders one family into order[]: good addresses from the round-robin start, failed last. */
static size_t order_family(struct sl__family_set *set, uint64_t now_ns, size_t *order)
{
    size_t n = 0;
    size_t good = 0;
    for (size_t i = 0; i < set->count; i++) {
        good += set->items[i].failed_until_ns <= now_ns;
    }
    for (size_t k = 0; k < set->count; k++) {
        size_t i = (set->rotate + k) % set->count;
        if (set->items[i].failed_until_ns <= now_ns) {
            order[n++] = i;
        }
    }
    for (size_t i = 0; i < set->count; i++) {
        if (set->items[i].failed_until_ns > now_ns) {
            order[n++] = i;
        }
    }
    if (good > 0) {
        set->rotate = (set->rotate + 1) % set->count;
    }
    return n;
}

static void emit(const struct sl__family_set *set, size_t i, uint64_t now_ns,
                 struct sl_host_address *out)
{
    *out = set->items[i].addr;
    out->ttl_s = set->expires_ns > now_ns
                     ? (uint32_t)((set->expires_ns - now_ns + SL_NS_PER_SEC - 1) / SL_NS_PER_SEC)
                     : 0;
    out->recently_failed = set->items[i].failed_until_ns > now_ns;
}

size_t sl__host_entry_hand_out(struct sl__host_entry *entry, enum sl_host_family family,
                               uint64_t now_ns, struct sl_host_address *out, size_t cap)
{
    size_t order[SL__FAMILY_COUNT][32];
    size_t counts[SL__FAMILY_COUNT] = {0, 0};
    for (int f = 0; f < SL__FAMILY_COUNT; f++) {
        if (family_wanted(family, f) && entry->sets[f].count <= 32) {
            counts[f] = order_family(&entry->sets[f], now_ns, order[f]);
        }
    }
    size_t n = 0;
    for (size_t k = 0; n < cap && (k < counts[0] || k < counts[1]); k++) {
        for (int f = 0; f < SL__FAMILY_COUNT && n < cap; f++) {
            if (k < counts[f]) {
                emit(&entry->sets[f], order[f][k], now_ns, &out[n++]);
            }
        }
    }
    return n;
}

void sl__host_cache_mark_failed(struct sl__host_cache *cache, const struct sl_host_address *address,
                                uint64_t now_ns, uint64_t penalty_ns)
{
    int f = address->domain == SL_SOCKET_IPV6 ? SL__FAMILY_V6 : SL__FAMILY_V4;
    for (struct sl_list_node *node = sl_list_front(&cache->lru); node;
         node = sl_list_next(&cache->lru, node)) {
        struct sl__host_entry *entry = sl_container_of(node, struct sl__host_entry, lru);
        struct sl__family_set *set = &entry->sets[f];
        for (size_t i = 0; i < set->count; i++) {
            if (strcmp(set->items[i].addr.address, address->address) == 0) {
                set->items[i].failed_until_ns = now_ns + penalty_ns;
            }
        }
    }
}
