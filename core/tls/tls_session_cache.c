/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_internal.h"

#include <sluice/alloc.h>

#include <string.h>

/*
 * A client context's sessions, one per server key ("host:port"). Contexts are shared by every
 * loop, so a mutex guards it; it is touched once per handshake, never on the data path.
 */

void sl__tls_session_cache_init(struct tls_session_cache *cache)
{
    memset(cache, 0, sizeof(*cache));
    pthread_mutex_init(&cache->lock, NULL);
}

static void entry_clear(struct tls_session_entry *e)
{
    sl_free(e->key);
    SSL_SESSION_free(e->session);
    *e = (struct tls_session_entry){0};
}

void sl__tls_session_cache_clean_up(struct tls_session_cache *cache)
{
    for (size_t i = 0; i < SL_TLS_SESSION_CACHE_SIZE; i++) {
        entry_clear(&cache->entries[i]);
    }
    pthread_mutex_destroy(&cache->lock);
}

static struct tls_session_entry *find(struct tls_session_cache *cache, const char *key)
{
    for (size_t i = 0; i < SL_TLS_SESSION_CACHE_SIZE; i++) {
        struct tls_session_entry *e = &cache->entries[i];
        if (e->key && strcmp(e->key, key) == 0) {
            return e;
        }
    }
    return NULL;
}

static struct tls_session_entry *slot_for(struct tls_session_cache *cache, const char *key)
{
    struct tls_session_entry *e = find(cache, key);
    if (e) {
        return e;
    }
    struct tls_session_entry *oldest = &cache->entries[0];
    for (size_t i = 0; i < SL_TLS_SESSION_CACHE_SIZE; i++) {
        e = &cache->entries[i];
        if (!e->key) {
            return e;
        }
        if (e->last_used < oldest->last_used) {
            oldest = e;
        }
    }
    entry_clear(oldest);
    return oldest;
}

void sl__tls_session_cache_put(struct tls_session_cache *cache, const char *key,
                               SSL_SESSION *session)
{
    size_t key_len = strlen(key);
    pthread_mutex_lock(&cache->lock);
    struct tls_session_entry *e = slot_for(cache, key);
    if (!e->key) {
        e->key = sl_alloc(key_len + 1);
        if (!e->key) {
            pthread_mutex_unlock(&cache->lock);
            return; /* no resumption next time: not an error */
        }
        memcpy(e->key, key, key_len + 1);
    }
    SSL_SESSION_up_ref(session);
    SSL_SESSION_free(e->session);
    e->session = session;
    e->last_used = ++cache->clock;
    pthread_mutex_unlock(&cache->lock);
}

SSL_SESSION *sl__tls_session_cache_get(struct tls_session_cache *cache, const char *key)
{
    pthread_mutex_lock(&cache->lock);
    struct tls_session_entry *e = find(cache, key);
    SSL_SESSION *session = NULL;
    if (e && e->session && SSL_SESSION_is_resumable(e->session)) {
        session = e->session;
        if (SSL_SESSION_get_protocol_version(session) >= TLS1_3_VERSION) {
            e->session = NULL; /* ours now: tickets are used once */
            sl_free(e->key);
            *e = (struct tls_session_entry){0};
        } else {
            SSL_SESSION_up_ref(session);
            e->last_used = ++cache->clock;
        }
    }
    pthread_mutex_unlock(&cache->lock);
    return session;
}
