/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_IDENTITIES_H
#define SLUICED_IDENTITIES_H

/*
 * TLS identities the daemon holds for its clients (docs/config.md "[identity NAME]"). Each
 * private key (PEM or PKCS#12) is read straight into libsodium-guarded memory: sodium_malloc's
 * own pages, locked against swapping, with guard pages around them, made unreadable between
 * uses (sodium_mprotect_noaccess) and wiped when the configuration goes. OpenSSL parses it from
 * there into its secure heap (identities_init), so no readable copy lies around; a client
 * only ever names an identity and never receives its key.
 */

#include "config.h"

#include <sluice/tls.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loaded_identity {
    const struct config_identity *conf;
    uint8_t *cert; /* PEM chain (public): ordinary memory */
    size_t cert_len;
    uint8_t *secret; /* key PEM or the PKCS#12 file: sodium_malloc'd, noaccess when idle */
    size_t secret_len;
};

struct identity_store {
    pthread_mutex_t lock; /* around the moments a secret is readable */
    struct loaded_identity *items;
    size_t count;
};

/* Once, before threads: OpenSSL's secure heap (locked memory for private key material). */
void identities_init(void);

/*
 * Loads every [identity] of c into c->store and proves each usable (a server context is built
 * from it). err gets "file:line: [identity NAME] reason". Errors: SL_E_INVAL, SL_E_NOMEM.
 */
int identities_load(struct sluiced_config *c, char *err, size_t err_len);

/* Frees the store (config_release calls it); secrets are wiped. */
void identities_free(struct identity_store *store);

/*
 * A TLS context with identity `name` of c (server when server is true, else a client
 * certificate for mTLS) and the rest of *opts (trust, ALPN, client auth; its identity fields
 * are ignored). Errors: SL_E_NOT_FOUND (no such identity), what sl_tls_ctx_new_* returns.
 */
int identities_tls_ctx(const struct sluiced_config *c, const char *name, bool server,
                       const struct sl_tls_ctx_options *opts, struct sl_tls_ctx **out);

/* Fills opts' trust from the [trust NAME] section. Errors: SL_E_NOT_FOUND. */
int identities_trust(const struct sluiced_config *c, const char *name,
                     struct sl_tls_ctx_options *opts);

/*
 * Joins ALPN names into the "h2;http/1.1" form tls.h takes (*out allocated, NULL for none).
 * Errors: SL_E_INVAL (*why: a name empty, over 255 bytes or holding ';' or ','), SL_E_NOMEM.
 */
int tls_alpn_join(char *const *names, size_t n, char **out, const char **why);

#endif
