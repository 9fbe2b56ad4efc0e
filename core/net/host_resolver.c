/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/host_resolver.h>

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/ref.h>

#include "dns.h"
#include "guard.h"
#include "host_cache.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <string.h>

/*
 * Threading: the cache and c-ares belong to the home loop. Every call from outside becomes a
 * heap-allocated operation handed to the home loop as a task; a resolve request then travels
 * back to the caller's loop with its answer. Requests hold a reference on the resolver until
 * answered, so the resolver outlives everything it owes.
 */

#define MAX_HOST_LEN            253
#define MAX_ADDRESSES           32
#define DEFAULT_MAX_TTL_S       30u
#define DEFAULT_MAX_HOSTS       1024u
#define DEFAULT_REFRESH_PERCENT 25u
#define DEFAULT_PENALTY_S       30u
#define DEFAULT_NEGATIVE_TTL_S  5u

struct sl_host_resolver {
    struct sl_ref ref; /* the creator's, one per request in flight, one per pending operation */
    struct sl_loop *loop;
    struct sl_host_resolver_options opts;
    struct sl__dns *dns;
    struct sl__host_cache cache;
    struct sl_task shutdown_task;
    atomic_uint_fast64_t stats[7]; /* in the order of struct sl_host_resolver_stats */
};

enum stat_index {
    ST_REQUESTS,
    ST_HITS,
    ST_LOOKUPS,
    ST_COALESCED,
    ST_REFRESHES,
    ST_EVICTIONS,
    ST_ENTRIES
};

static void count(struct sl_host_resolver *r, enum stat_index i, uint64_t n)
{
    atomic_fetch_add_explicit(&r->stats[i], n, memory_order_relaxed);
}

enum op_kind { OP_RESOLVE, OP_FAILURE, OP_PURGE };

/* One call from outside, on its way to the home loop (and, for resolves, back). */
struct resolver_op {
    struct sl_task task;
    struct sl_host_resolver *resolver;
    enum op_kind kind;
    struct sl_list_node node; /* in an entry's waiting list */
    enum sl_host_family family;
    struct sl_loop *deliver_on;
    sl_host_resolved_fn *on_resolved;
    void *user_data;
    struct sl_host_address failed;
    int status;
    size_t count;
    struct sl_host_address answers[MAX_ADDRESSES];
    bool purge_all;
    bool host_too_long;
    char host[MAX_HOST_LEN + 2];
};

/* Delivery ------------------------------------------------------------------------------------ */

static void free_op(struct resolver_op *op)
{
    struct sl_host_resolver *resolver = op->resolver;
    sl_free(op);
    sl_host_resolver_release(resolver); /* the operation's reference */
}

static void deliver_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct resolver_op *op = arg;
    if (status == SL_TASK_CANCELED) {
        op->status = SL_E_CANCELED; /* the caller's loop is going away */
        op->count = 0;
    }
    op->on_resolved(op->resolver, op->status, op->answers, op->count, op->user_data);
    free_op(op);
}

static void answer(struct resolver_op *op, int status)
{
    op->status = status;
    if (status < 0) {
        op->count = 0;
    }
    sl_task_init(&op->task, deliver_task_fn, op, "host_resolver_answer");
    sl_loop_schedule_now(op->deliver_on, &op->task);
}

/* Names that need no lookup ---------------------------------------------------------------- */

static void add_literal(struct resolver_op *op, const char *address, enum sl_socket_domain d)
{
    struct sl_host_address *a = &op->answers[op->count++];
    memset(a, 0, sizeof(*a));
    /* inet_pton accepted it, so it fits (at most 45 characters). */
    size_t n = strnlen(address, sizeof(a->address) - 1);
    memcpy(a->address, address, n);
    a->domain = d;
}

/* Numeric addresses and localhost; returns false when a lookup is needed. */
static bool answer_without_lookup(struct resolver_op *op)
{
    unsigned char buf[16];
    bool want4 = op->family != SL_HOST_IPV6;
    bool want6 = op->family != SL_HOST_IPV4;
    if (inet_pton(AF_INET, op->host, buf) == 1 || inet_pton(AF_INET6, op->host, buf) == 1) {
        bool is6 = strchr(op->host, ':') != NULL;
        if ((is6 && want6) || (!is6 && want4)) {
            add_literal(op, op->host, is6 ? SL_SOCKET_IPV6 : SL_SOCKET_IPV4);
        }
        answer(op, op->count ? 0 : SL_E_HOST_NOT_FOUND);
        return true;
    }
    if (strcmp(op->host, "localhost") != 0) {
        return false;
    }
    if (want6) {
        add_literal(op, "::1", SL_SOCKET_IPV6);
    }
    if (want4) {
        add_literal(op, "127.0.0.1", SL_SOCKET_IPV4);
    }
    answer(op, 0);
    return true;
}

/*
 * RFC 1123 host names: 1..253 characters, labels of 1..63 letters, digits, hyphens (and
 * underscores, which real zones contain), one optional trailing dot. Lower-cases in place and
 * drops the trailing dot so "Example.COM." and "example.com" share a cache entry.
 */
static bool normalise_host(char *host)
{
    size_t len = strlen(host);
    if (len > 0 && host[len - 1] == '.') {
        host[--len] = '\0';
    }
    if (len == 0 || len > MAX_HOST_LEN) {
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  (c >= 'A' && c <= 'Z');
        if (!ok || ++label > 63) {
            return false;
        }
        host[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    return label > 0;
}

/* Lookups ------------------------------------------------------------------------------------ */

static void set_entries_gauge(struct sl_host_resolver *r)
{
    atomic_store_explicit(&r->stats[ST_ENTRIES], r->cache.count, memory_order_relaxed);
}

static void answer_from_entry(struct resolver_op *op, struct sl__host_entry *entry, uint64_t now)
{
    op->count = sl__host_entry_hand_out(entry, op->family, now, op->answers, MAX_ADDRESSES);
    answer(op, op->count ? 0 : SL_E_HOST_NOT_FOUND);
}

static void on_lookup_done(void *user_data, int status, const struct sl__dns_answer *answers,
                           size_t count_)
{
    struct sl__host_entry *entry = user_data;
    struct sl_host_resolver *r = entry->owner;
    uint64_t now = sl_loop_now_ns(r->loop);
    entry->lookup_in_flight = false;
    if (status == 0) {
        status = sl__host_entry_update(entry, answers, count_, r->opts.max_ttl_s,
                                       r->opts.negative_ttl_s, now);
    } else if (status == SL_E_HOST_NOT_FOUND) {
        /* Remember "no such name" briefly, so a storm of misses is one query. */
        entry->negative_status = status;
        entry->negative_until_ns = now + (uint64_t)r->opts.negative_ttl_s * SL_NS_PER_SEC;
    }
    struct sl_list_node *node;
    while ((node = sl_list_pop_front(&entry->waiting)) != NULL) {
        struct resolver_op *op = sl_container_of(node, struct resolver_op, node);
        if (status == 0) {
            answer_from_entry(op, entry, now);
        } else {
            answer(op, status);
        }
    }
    if (entry->detached) {
        sl__host_entry_free(entry);
    }
}

static void start_lookup(struct sl_host_resolver *r, struct sl__host_entry *entry)
{
    entry->lookup_in_flight = true;
    entry->owner = r;
    count(r, ST_LOOKUPS, 1);
    sl__dns_lookup(r->dns, entry->host, on_lookup_done, entry); /* may answer at once */
}

/* Serves op from a usable cache entry; returns false if a lookup is needed. */
static bool answer_from_cache(struct sl_host_resolver *r, struct resolver_op *op,
                              struct sl__host_entry *entry, uint64_t now)
{
    if (entry->negative_until_ns > now) {
        count(r, ST_HITS, 1);
        answer(op, entry->negative_status);
        return true;
    }
    if (!sl__host_entry_is_fresh(entry, op->family, now)) {
        return false;
    }
    count(r, ST_HITS, 1);
    answer_from_entry(op, entry, now);
    if (!r->opts.no_refresh && !entry->lookup_in_flight &&
        sl__host_entry_wants_refresh(entry, op->family, r->opts.refresh_window_percent, now)) {
        count(r, ST_REFRESHES, 1);
        start_lookup(r, entry); /* in the background: op already has its answer */
    }
    return true;
}

static void resolve_on_home(struct sl_host_resolver *r, struct resolver_op *op)
{
    count(r, ST_REQUESTS, 1);
    if (op->host_too_long) {
        answer(op, SL_E_INVALID_HOSTNAME);
        return;
    }
    if (answer_without_lookup(op)) {
        return;
    }
    if (!normalise_host(op->host)) {
        answer(op, SL_E_INVALID_HOSTNAME);
        return;
    }
    if (answer_without_lookup(op)) { /* "LOCALHOST." is localhost too */
        return;
    }
    uint64_t now = sl_loop_now_ns(r->loop);
    struct sl__host_entry *entry = sl__host_cache_find(&r->cache, op->host);
    if (entry && answer_from_cache(r, op, entry, now)) {
        return;
    }
    if (!entry) {
        uint64_t evicted = 0;
        int rc = sl__host_cache_insert(&r->cache, op->host, &entry, &evicted);
        count(r, ST_EVICTIONS, evicted);
        set_entries_gauge(r);
        if (rc < 0) {
            answer(op, rc);
            return;
        }
    }
    sl_list_push_back(&entry->waiting, &op->node);
    if (entry->lookup_in_flight) {
        count(r, ST_COALESCED, 1);
        return;
    }
    start_lookup(r, entry);
}

/* Purging ----------------------------------------------------------------------------------- */

static void purge_entry(struct sl_host_resolver *r, struct sl__host_entry *entry)
{
    sl__host_cache_remove(&r->cache, entry);
    if (entry->lookup_in_flight) {
        entry->detached = true; /* its lookup still answers the waiting requests, then frees it */
    } else {
        sl__host_entry_free(entry);
    }
}

static void purge_on_home(struct sl_host_resolver *r, struct resolver_op *op)
{
    if (op->purge_all) {
        struct sl_list_node *node;
        while ((node = sl_list_front(&r->cache.lru)) != NULL) {
            purge_entry(r, sl_container_of(node, struct sl__host_entry, lru));
        }
    } else if (!op->host_too_long && normalise_host(op->host)) {
        struct sl__host_entry *entry = sl__host_cache_find(&r->cache, op->host);
        if (entry) {
            purge_entry(r, entry);
        }
    }
    set_entries_gauge(r);
}

/* Operations from any thread ------------------------------------------------------------------ */

static void home_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct resolver_op *op = arg;
    struct sl_host_resolver *r = op->resolver;
    if (op->kind == OP_RESOLVE) {
        if (status == SL_TASK_CANCELED) {
            answer(op, SL_E_CANCELED); /* the home loop is being destroyed */
        } else {
            resolve_on_home(r, op);
        }
        return;
    }
    if (status == SL_TASK_RUN && op->kind == OP_FAILURE) {
        uint64_t penalty = (uint64_t)r->opts.failure_penalty_s * SL_NS_PER_SEC;
        sl__host_cache_mark_failed(&r->cache, &op->failed, sl_loop_now_ns(r->loop), penalty);
    } else if (status == SL_TASK_RUN) {
        purge_on_home(r, op);
    }
    free_op(op);
}

static struct resolver_op *new_op(struct sl_host_resolver *r, enum op_kind kind, const char *host)
{
    struct resolver_op *op = sl_calloc(1, sizeof(*op));
    if (!op) {
        return NULL;
    }
    op->resolver = r;
    op->kind = kind;
    if (host) {
        size_t len = strnlen(host, sizeof(op->host));
        op->host_too_long = len >= sizeof(op->host) - 1; /* 254 allows one trailing dot */
        memcpy(op->host, host, op->host_too_long ? 0 : len);
    }
    sl_host_resolver_acquire(r); /* the operation's reference */
    return op;
}

static void send_home(struct resolver_op *op)
{
    sl_task_init(&op->task, home_task_fn, op, "host_resolver_op");
    sl_loop_schedule_now(op->resolver->loop, &op->task);
}

int sl_host_resolver_resolve(struct sl_host_resolver *resolver, const char *host,
                             enum sl_host_family family, struct sl_loop *deliver_on,
                             sl_host_resolved_fn *on_resolved, void *user_data)
{
    SL_ENSURE_ARG(resolver && host && on_resolved);
    SL_ENSURE_ARG(family == SL_HOST_ANY || family == SL_HOST_IPV4 || family == SL_HOST_IPV6);
    struct resolver_op *op = new_op(resolver, OP_RESOLVE, host);
    SL_ENSURE(op, SL_E_NOMEM);
    op->family = family;
    op->deliver_on = deliver_on ? deliver_on : resolver->loop;
    op->on_resolved = on_resolved;
    op->user_data = user_data;
    send_home(op);
    return 0;
}

void sl_host_resolver_record_connection_failure(struct sl_host_resolver *resolver,
                                                const struct sl_host_address *address)
{
    struct resolver_op *op = new_op(resolver, OP_FAILURE, NULL);
    if (!op) {
        SL_LOG_WARN(SL_LS_DNS, "out of memory: connection failure of %s not recorded",
                    address->address);
        return;
    }
    op->failed = *address;
    send_home(op);
}

void sl_host_resolver_purge_cache(struct sl_host_resolver *resolver, const char *host)
{
    struct resolver_op *op = new_op(resolver, OP_PURGE, host);
    if (!op) {
        SL_LOG_WARN(SL_LS_DNS, "out of memory: cache not purged");
        return;
    }
    op->purge_all = host == NULL;
    send_home(op);
}

void sl_host_resolver_get_stats(struct sl_host_resolver *resolver,
                                struct sl_host_resolver_stats *out)
{
    uint64_t v[7];
    for (int i = 0; i < 7; i++) {
        v[i] = atomic_load_explicit(&resolver->stats[i], memory_order_relaxed);
    }
    *out = (struct sl_host_resolver_stats){.requests = v[ST_REQUESTS],
                                           .cache_hits = v[ST_HITS],
                                           .lookups = v[ST_LOOKUPS],
                                           .coalesced = v[ST_COALESCED],
                                           .refreshes = v[ST_REFRESHES],
                                           .evictions = v[ST_EVICTIONS],
                                           .entries = v[ST_ENTRIES]};
}

/* Lifecycle ---------------------------------------------------------------------------------- */

static void apply_defaults(struct sl_host_resolver_options *o)
{
    o->max_ttl_s = o->max_ttl_s ? o->max_ttl_s : DEFAULT_MAX_TTL_S;
    o->max_hosts = o->max_hosts ? o->max_hosts : DEFAULT_MAX_HOSTS;
    o->refresh_window_percent =
        o->refresh_window_percent ? o->refresh_window_percent : DEFAULT_REFRESH_PERCENT;
    o->failure_penalty_s = o->failure_penalty_s ? o->failure_penalty_s : DEFAULT_PENALTY_S;
    o->negative_ttl_s = o->negative_ttl_s ? o->negative_ttl_s : DEFAULT_NEGATIVE_TTL_S;
}

int sl_host_resolver_new(const struct sl_host_resolver_options *opts, struct sl_host_resolver **out)
{
    SL_ENSURE_ARG(opts && opts->loop && out && opts->refresh_window_percent <= 100);
    struct sl_host_resolver *r = sl_calloc(1, sizeof(*r));
    SL_ENSURE(r, SL_E_NOMEM);
    r->loop = opts->loop;
    r->opts = *opts;
    r->opts.name_servers = NULL; /* only c-ares needs them, and it copies */
    apply_defaults(&r->opts);
    int rc = sl__host_cache_init(&r->cache, r->opts.max_hosts);
    if (rc < 0) {
        sl_free(r);
        return rc;
    }
    struct sl__dns_options dopts = {.loop = opts->loop,
                                    .name_servers = opts->name_servers,
                                    .timeout_ms = opts->query_timeout_ms,
                                    .tries = opts->query_tries};
    rc = sl__dns_new(&dopts, &r->dns);
    if (rc < 0) {
        sl__host_cache_clean_up(&r->cache);
        sl_free(r);
        return rc;
    }
    sl_ref_init(&r->ref, 1);
    *out = r;
    return 0;
}

void sl_host_resolver_acquire(struct sl_host_resolver *resolver)
{
    sl_ref_acquire(&resolver->ref);
}

static void shut_down(struct sl_host_resolver *r)
{
    sl__dns_destroy(r->dns); /* background refreshes end, their entries are freed or kept */
    sl__host_cache_clean_up(&r->cache);
    sl_free(r);
}

static void shutdown_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status; /* cancelled means the loop is going away: clean up all the same */
    shut_down(arg);
}

void sl_host_resolver_release(struct sl_host_resolver *resolver)
{
    if (!sl_ref_release(&resolver->ref)) {
        return;
    }
    if (sl_loop_is_on_callers_thread(resolver->loop)) {
        shut_down(resolver);
        return;
    }
    sl_task_init(&resolver->shutdown_task, shutdown_task_fn, resolver, "host_resolver_shutdown");
    sl_loop_schedule_now(resolver->loop, &resolver->shutdown_task);
}
