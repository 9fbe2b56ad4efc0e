/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_HOST_RESOLVER_H
#define SL_HOST_RESOLVER_H

#include <sluice/common.h>
#include <sluice/event_loop.h>
#include <sluice/socket.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * A caching host resolver on c-ares, driven by one event loop (its home loop): c-ares's
 * sockets are watched by that loop and its timeouts are loop tasks, so there is no thread per
 * lookup. It honours /etc/hosts (or $CARES_HOSTS) and /etc/resolv.conf unless given its own
 * name servers, and caches what it learns with the records' real TTLs (capped at max_ttl_s).
 *
 * Cache: one entry per host name, with the A and AAAA answers kept apart, each with its own
 * expiry. Requests for a name that is being looked up wait for that lookup instead of sending
 * another. An entry used during the last part of its TTL (refresh_window_percent) is looked up
 * again in the background while the cached answer is served, so hot names do not expire under
 * their users; nothing is refreshed unless it is used (no background DNS traffic of its own).
 * At most max_hosts names are cached; the least recently used goes first.
 *
 * Addresses come out round-robin, so load spreads over a name's addresses, with families
 * interleaved (IPv6 first, RFC 8305 §4) and addresses that recently failed to connect (see
 * sl_host_resolver_record_connection_failure) moved to the back of their family — still there
 * as a last resort, never dropped.
 *
 * Numeric addresses and "localhost" are answered without a lookup. Errors: SL_E_HOST_NOT_FOUND
 * (the name has no such records), SL_E_DNS_TEMPORARY (no answer: servers unreachable, timed
 * out, refused or failing), SL_E_INVALID_HOSTNAME (empty, over 253 characters, a label over 63,
 * characters a host name cannot have).
 */

struct sl_host_resolver;

enum sl_host_family {
    SL_HOST_ANY,  /* both families */
    SL_HOST_IPV4, /* A records only */
    SL_HOST_IPV6, /* AAAA records only */
};

struct sl_host_address {
    char address[46];             /* numeric text: "192.0.2.7" or "2001:db8::7" */
    enum sl_socket_domain domain; /* SL_SOCKET_IPV4 or SL_SOCKET_IPV6 */
    uint32_t ttl_s;               /* seconds of validity left (0 for literals and localhost) */
    bool recently_failed;         /* a connection to it failed within failure_penalty_s */
};

/*
 * The answer. addresses (count of them) are borrowed for the duration of the call; copy what
 * you keep. On error count is 0.
 */
typedef void sl_host_resolved_fn(struct sl_host_resolver *resolver, int status,
                                 const struct sl_host_address *addresses, size_t count,
                                 void *user_data);

struct sl_host_resolver_options {
    struct sl_loop *loop;            /* required: the home loop */
    const char *name_servers;        /* "127.0.0.1:5353,[::1]:53"; NULL: /etc/resolv.conf */
    uint32_t max_ttl_s;              /* 0: 30 */
    size_t max_hosts;                /* 0: 1024 */
    uint32_t refresh_window_percent; /* 0: 25 */
    bool no_refresh;                 /* never refresh in the background */
    uint32_t failure_penalty_s;      /* 0: 30 */
    uint32_t negative_ttl_s;         /* how long "not found" is remembered; 0: 5 */
    uint32_t query_timeout_ms;       /* per try; 0: 2000 */
    uint32_t query_tries;            /* 0: 2 */
};

/* Counters, for statistics and tests. */
struct sl_host_resolver_stats {
    uint64_t requests;   /* calls to resolve */
    uint64_t cache_hits; /* answered from the cache */
    uint64_t lookups;    /* lookups sent to c-ares (refreshes included) */
    uint64_t coalesced;  /* requests that joined a lookup already on its way */
    uint64_t refreshes;  /* background refreshes started */
    uint64_t evictions;  /* entries dropped to respect max_hosts */
    uint64_t entries;    /* names cached now */
};

/* Lifecycle ------------------------------------------------------------------------------- */

/*
 * Creates a resolver. Thread: any. Ownership: returns owned (one reference).
 * Errors: SL_E_INVAL; SL_E_INVALID_ADDRESS for a malformed name_servers list; SL_E_NOMEM;
 * SL_E_DNS_TEMPORARY if c-ares cannot start (e.g. no usable resolv.conf and no servers given).
 */
SL_API SL_MUST_CHECK int sl_host_resolver_new(const struct sl_host_resolver_options *opts,
                                              struct sl_host_resolver **out);

SL_API void sl_host_resolver_acquire(struct sl_host_resolver *resolver);

/*
 * Drops a reference. The last one shuts the resolver down on its home loop: lookups in flight
 * end and their requests are answered with SL_E_CANCELED. Thread: any.
 */
SL_API void sl_host_resolver_release(struct sl_host_resolver *resolver);

/* Operations ------------------------------------------------------------------------------ */

/*
 * Resolves host and calls on_resolved on deliver_on (NULL: the home loop), never from inside
 * this call. Every outcome, bad names included, comes through the callback exactly once; if
 * deliver_on is destroyed first, the callback runs on the destroying thread with
 * SL_E_CANCELED. The request holds a reference on the resolver until it has been answered.
 * Thread: any. Ownership: copies host.
 * Errors (no callback then): SL_E_INVAL for NULL arguments; SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_host_resolver_resolve(struct sl_host_resolver *resolver,
                                                  const char *host, enum sl_host_family family,
                                                  struct sl_loop *deliver_on,
                                                  sl_host_resolved_fn *on_resolved,
                                                  void *user_data);

/*
 * Reports that connecting to address failed: wherever it is cached it moves to the back of
 * its family and is marked recently_failed for failure_penalty_s. Thread: any (applied on the
 * home loop). Unknown addresses are ignored.
 */
SL_API void sl_host_resolver_record_connection_failure(struct sl_host_resolver *resolver,
                                                       const struct sl_host_address *address);

/* Forgets host (NULL: every host). Thread: any (applied on the home loop, in order). */
SL_API void sl_host_resolver_purge_cache(struct sl_host_resolver *resolver, const char *host);

/* Copies the counters. Thread: any. */
SL_API void sl_host_resolver_get_stats(struct sl_host_resolver *resolver,
                                       struct sl_host_resolver_stats *out);

SL_END_DECLS

#endif /* SL_HOST_RESOLVER_H */
