/* SPDX-License-Identifier: Apache-2.0 */
#include "identities.h"

#include <sluice/alloc.h>
#include <sluice/error.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX        (1u << 20) /* a certificate chain or key file */
#define SECURE_HEAP     (1u << 20)
#define SECURE_HEAP_MIN 32

void identities_init(void)
{
    /* The daemon owns its process, so it may set OpenSSL's global secure heap (the library
     * never does). Failing it is not fatal: keys then live in OpenSSL's ordinary heap. */
    if (CRYPTO_secure_malloc_init(SECURE_HEAP, SECURE_HEAP_MIN) == 0) {
        fprintf(stderr, "sluiced: OpenSSL's secure heap is not available (mlock limit?)\n");
    }
}

/* Reads a whole file into memory from alloc (sodium_malloc for secrets). */
static int read_file(const char *path, bool secret, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        (uint64_t)st.st_size > FILE_MAX) {
        int e = errno;
        close(fd);
        return S_ISREG(st.st_mode) || e == 0 ? SL_E_INVAL : -e;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = secret ? sodium_malloc(size) : sl_alloc(size);
    size_t got = 0;
    while (buf && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != size) {
        if (buf) {
            secret ? sodium_free(buf) : sl_free(buf);
        }
        return buf ? SL_E_INVAL : SL_E_NOMEM;
    }
    *out = buf;
    *len = size;
    return 0;
}

static int load_one(struct loaded_identity *li, const struct config_identity *id, char *err,
                    size_t err_len, const char *cfg_path)
{
    li->conf = id;
    const char *secret_path = id->pkcs12_file ? id->pkcs12_file : id->key_file;
    int rc = id->cert_file ? read_file(id->cert_file, false, &li->cert, &li->cert_len) : 0;
    if (rc < 0) {
        snprintf(err, err_len, "%s:%d: [identity %s] cert %s: %s", cfg_path, id->line, id->name,
                 id->cert_file,
                 rc == SL_E_INVAL ? "empty, not a file or over 1 MiB" : sl_strerror(rc));
        return SL_E_INVAL;
    }
    rc = read_file(secret_path, true, &li->secret, &li->secret_len);
    if (rc < 0) {
        snprintf(err, err_len, "%s:%d: [identity %s] %s: %s", cfg_path, id->key_line, id->name,
                 secret_path,
                 rc == SL_E_INVAL ? "empty, not a file or over 1 MiB" : sl_strerror(rc));
        return SL_E_INVAL;
    }
    sodium_mprotect_noaccess(li->secret);
    return 0;
}

static void fill_identity(const struct loaded_identity *li, struct sl_tls_ctx_options *o)
{
    if (li->conf->pkcs12_file) {
        o->pkcs12 = sl_cursor_from(li->secret, li->secret_len);
        o->pkcs12_password = li->conf->pkcs12_password;
    } else {
        o->cert_pem = sl_cursor_from(li->cert, li->cert_len);
        o->key_pem = sl_cursor_from(li->secret, li->secret_len);
    }
}

static int build(struct identity_store *store, const struct loaded_identity *li, bool server,
                 const struct sl_tls_ctx_options *opts, struct sl_tls_ctx **out)
{
    struct sl_tls_ctx_options o = *opts;
    o.cert_file = o.key_file = o.pkcs12_file = NULL;
    o.cert_pem = o.key_pem = o.pkcs12 = (struct sl_cursor){0};
    pthread_mutex_lock(&store->lock); /* readable only for as long as OpenSSL parses it */
    sodium_mprotect_readonly(li->secret);
    fill_identity(li, &o);
    int rc = server ? sl_tls_ctx_new_server(&o, out) : sl_tls_ctx_new_client(&o, out);
    sodium_mprotect_noaccess(li->secret);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

int identities_load(struct sluiced_config *c, char *err, size_t err_len)
{
    struct identity_store *store = sl_calloc(1, sizeof(*store));
    if (!store ||
        (c->n_identities && !(store->items = sl_calloc(c->n_identities, sizeof(*store->items))))) {
        sl_free(store);
        snprintf(err, err_len, "%s: out of memory", c->path);
        return SL_E_NOMEM;
    }
    pthread_mutex_init(&store->lock, NULL);
    c->store = store;
    for (size_t i = 0; i < c->n_identities; i++) {
        struct loaded_identity *li = &store->items[i];
        store->count++;
        int rc = load_one(li, &c->identities[i], err, err_len, c->path);
        if (rc < 0) {
            return rc; /* config_release frees what was loaded */
        }
        struct sl_tls_ctx *probe = NULL;
        struct sl_tls_ctx_options none = {0};
        rc = build(store, li, true, &none, &probe);
        if (rc < 0) {
            snprintf(err, err_len, "%s:%d: [identity %s] cannot be used: %s", c->path,
                     li->conf->key_line, li->conf->name, sl_strerror(rc));
            return SL_E_INVAL;
        }
        sl_tls_ctx_release(probe);
    }
    return 0;
}

void identities_free(struct identity_store *store)
{
    if (!store) {
        return;
    }
    for (size_t i = 0; i < store->count; i++) {
        sl_free(store->items[i].cert);
        if (store->items[i].secret) {
            sodium_free(store->items[i].secret); /* wipes it, whatever its protection */
        }
    }
    sl_free(store->items);
    pthread_mutex_destroy(&store->lock);
    sl_free(store);
}

int identities_tls_ctx(const struct sluiced_config *c, const char *name, bool server,
                       const struct sl_tls_ctx_options *opts, struct sl_tls_ctx **out)
{
    for (size_t i = 0; c->store && i < c->store->count; i++) {
        const struct loaded_identity *li = &c->store->items[i];
        if (strcmp(li->conf->name, name) == 0) {
            return build(c->store, li, server, opts, out);
        }
    }
    return SL_E_NOT_FOUND;
}

int identities_trust(const struct sluiced_config *c, const char *name,
                     struct sl_tls_ctx_options *opts)
{
    const struct config_trust *t = config_find_trust(c, name);
    if (!t) {
        return SL_E_NOT_FOUND;
    }
    opts->ca_file = t->ca_file;
    opts->ca_dir = t->ca_dir;
    opts->ca_pem = (struct sl_cursor){0};
    return 0;
}

int tls_alpn_join(char *const *names, size_t n, char **out, const char **why)
{
    *out = NULL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(names[i]);
        if (k == 0 || k > 255 || strpbrk(names[i], ";,")) {
            *why = "bad ALPN protocol name";
            return SL_E_INVAL;
        }
        len += k + 1;
    }
    if (n == 0) {
        return 0;
    }
    char *list = sl_calloc(1, len);
    if (!list) {
        return SL_E_NOMEM;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(names[i]);
        memcpy(list + at, names[i], k);
        at += k;
        list[at++] = i + 1 < n ? ';' : '\0';
    }
    *out = list;
    return 0;
}
