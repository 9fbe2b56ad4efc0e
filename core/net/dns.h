/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DNS_H
#define SL_DNS_H

/*
 * The c-ares engine behind the host resolver (internal; the only code that includes
 * <ares.h>). One c-ares channel driven by one event loop: its sockets are watched by the loop
 * and its timeouts are one loop task. Everything here runs on that loop's thread except
 * sl__dns_new.
 */

#include <sluice/event_loop.h>

#include <stdint.h>

struct sl__dns;

struct sl__dns_answer {
    char address[46];
    int family; /* AF_INET or AF_INET6 */
    uint32_t ttl_s;
};

/*
 * A lookup's result: status 0 with answers (possibly of one family only), or
 * SL_E_HOST_NOT_FOUND, SL_E_DNS_TEMPORARY, SL_E_INVALID_HOSTNAME, SL_E_NOMEM, SL_E_CANCELED.
 * May run inside sl__dns_lookup itself (c-ares answers some names at once).
 */
typedef void sl__dns_done_fn(void *user_data, int status, const struct sl__dns_answer *answers,
                             size_t count);

struct sl__dns_options {
    struct sl_loop *loop;
    const char *name_servers; /* NULL: the system's */
    uint32_t timeout_ms;
    uint32_t tries;
};

/* Errors: SL_E_NOMEM; SL_E_INVALID_ADDRESS (bad server list); SL_E_DNS_TEMPORARY. Any thread. */
int sl__dns_new(const struct sl__dns_options *opts, struct sl__dns **out);

/* Looks host up (A and AAAA). Loop thread. */
void sl__dns_lookup(struct sl__dns *dns, const char *host, sl__dns_done_fn *done, void *user_data);

/* Ends every lookup (their callbacks run now with SL_E_CANCELED) and frees. Loop thread. */
void sl__dns_destroy(struct sl__dns *dns);

#endif /* SL_DNS_H */
