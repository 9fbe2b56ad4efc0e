/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_HOST_CACHE_H
#define SL_HOST_CACHE_H

/*
 * The resolver's cache (internal): host name -> A and AAAA answers, each with its own expiry;
 * a hash table for lookup and a list for least-recently-used eviction. Home loop only.
 */

#include <sluice/host_resolver.h>
#include <sluice/list.h>

#include "dns.h"

#include <stdint.h>

enum { SL__FAMILY_V6, SL__FAMILY_V4, SL__FAMILY_COUNT };

struct sl__cached_address {
    struct sl_host_address addr;
    uint64_t failed_until_ns; /* 0: never failed (or the penalty is over) */
};

struct sl__family_set {
    struct sl__cached_address *items;
    size_t count;
    uint32_t ttl_s;      /* as received (capped), for the refresh window */
    uint64_t expires_ns; /* 0: nothing known */
    size_t rotate;       /* round-robin start among good addresses */
};

struct sl__host_entry {
    struct sl__host_entry *hash_next;
    struct sl_list_node lru; /* front: most recently used */
    uint64_t hash;
    struct sl__family_set sets[SL__FAMILY_COUNT];
    int negative_status; /* remembered failure (not found), until negative_until_ns */
    uint64_t negative_until_ns;
    bool lookup_in_flight;
    bool detached;          /* purged or evicted while in flight: freed when it lands */
    struct sl_list waiting; /* requests waiting for the lookup */
    void *owner;            /* the resolver, for the lookup callback */
    char host[];            /* normalised: lower case, no trailing dot */
};

struct sl__host_cache {
    struct sl__host_entry **buckets;
    size_t bucket_count; /* a power of two */
    size_t count;
    size_t max;
    uint64_t seed; /* per cache, so hostile names cannot aim at one bucket */
    struct sl_list lru;
};

int sl__host_cache_init(struct sl__host_cache *cache, size_t max_hosts);
/* Frees every entry; no lookup may be in flight. */
void sl__host_cache_clean_up(struct sl__host_cache *cache);

/* The entry for host (moved to the front of the LRU list), or NULL. */
struct sl__host_entry *sl__host_cache_find(struct sl__host_cache *cache, const char *host);

/*
 * Adds an empty entry for host, evicting the least recently used idle entry if the cache is
 * full (*evicted counts them). Errors: SL_E_NOMEM.
 */
int sl__host_cache_insert(struct sl__host_cache *cache, const char *host,
                          struct sl__host_entry **out, uint64_t *evicted);

/* Takes entry out of the table; the caller frees it (sl__host_entry_free) or detaches it. */
void sl__host_cache_remove(struct sl__host_cache *cache, struct sl__host_entry *entry);
void sl__host_entry_free(struct sl__host_entry *entry);

/*
 * Stores a lookup's answers: each family's set is replaced (failure marks of addresses that
 * are still there are kept), expiring after the smallest TTL of its records, at most max_ttl_s.
 * A family without records is known to be empty for negative_ttl_s.
 */
int sl__host_entry_update(struct sl__host_entry *entry, const struct sl__dns_answer *answers,
                          size_t count, uint32_t max_ttl_s, uint32_t negative_ttl_s,
                          uint64_t now_ns);

/* True when the entry answers for family at now (every family asked for is fresh). */
bool sl__host_entry_is_fresh(const struct sl__host_entry *entry, enum sl_host_family family,
                             uint64_t now_ns);

/* True when a fresh family asked for is inside its last window_percent of TTL. */
bool sl__host_entry_wants_refresh(const struct sl__host_entry *entry, enum sl_host_family family,
                                  uint32_t window_percent, uint64_t now_ns);

/*
 * Writes up to cap addresses for family into out, families interleaved (IPv6 first), good
 * addresses round-robin, recently failed ones last; advances the round robin. Returns how many.
 */
size_t sl__host_entry_hand_out(struct sl__host_entry *entry, enum sl_host_family family,
                               uint64_t now_ns, struct sl_host_address *out, size_t cap);

/* Marks address (wherever it is cached) as failed until now + penalty. */
void sl__host_cache_mark_failed(struct sl__host_cache *cache, const struct sl_host_address *address,
                                uint64_t now_ns, uint64_t penalty_ns);

#endif /* SL_HOST_CACHE_H */
