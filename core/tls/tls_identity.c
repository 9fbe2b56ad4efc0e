/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_internal.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files are at most this big: certificates and keys are kilobytes; bundles are a few hundred. */
#define MAX_FILE_SIZE ((size_t)16 * 1024 * 1024)

int sl__tls_read_file(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        SL_LOG_ERROR(SL_LS_TLS, "cannot open %s: %s", path, sl_strerror(-err));
        return -err;
    }
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? 0 : -errno;
    if (rc == 0 && (!S_ISREG(st.st_mode) || (size_t)st.st_size > MAX_FILE_SIZE)) {
        rc = SL_E_INVAL;
    }
    uint8_t *data = rc == 0 ? sl_alloc((size_t)st.st_size + 1) : NULL;
    if (rc == 0 && !data) {
        rc = SL_E_NOMEM;
    }
    size_t got = 0;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0) {
            break; /* the file shrank: parse what is there */
        } else if (errno != EINTR) {
            rc = -errno;
        }
    }
    close(fd);
    if (rc < 0) {
        SL_LOG_ERROR(SL_LS_TLS, "cannot read %s: %s", path, sl_strerror(rc));
        if (data) {
            sl_secure_zero(data, (size_t)st.st_size);
            sl_free(data);
        }
        return rc;
    }
    data[got] = 0;
    *out = data;
    *len = got;
    return 0;
}

/* A file's contents or the caller's memory, wiped when it was ours (it may hold a key). */
struct source {
    uint8_t *owned;
    size_t owned_len;
    struct sl_cursor data;
};

static int source_open(struct source *src, const char *path, struct sl_cursor mem)
{
    *src = (struct source){.data = mem};
    if (path) {
        SL_TRY(sl__tls_read_file(path, &src->owned, &src->owned_len));
        src->data = sl_cursor_from(src->owned, src->owned_len);
    }
    return 0;
}

static void source_close(struct source *src)
{
    if (src->owned) {
        sl_secure_zero(src->owned, src->owned_len);
        sl_free(src->owned);
    }
    *src = (struct source){0};
}

static BIO *source_bio(const struct source *src)
{
    return BIO_new_mem_buf(src->data.ptr, (int)src->data.len); /* reads in place, no copy */
}

/* PEM identity ------------------------------------------------------------------------------- */

static int use_pem_chain(SSL_CTX *ssl_ctx, const struct source *src, const char *what)
{
    BIO *bio = source_bio(src);
    SL_ENSURE(bio, SL_E_NOMEM);
    X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
    int rc = leaf && SSL_CTX_use_certificate(ssl_ctx, leaf) ? 0 : SL_E_TLS_PEM_INVALID;
    X509_free(leaf);
    X509 *extra;
    while (rc == 0 && (extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!SSL_CTX_add0_chain_cert(ssl_ctx, extra)) {
            X509_free(extra);
            rc = SL_E_TLS_INTERNAL;
        }
    }
    BIO_free(bio);
    if (rc < 0) {
        sl__tls_drain_errors(SL_LOG_ERROR, what);
        SL_LOG_ERROR(SL_LS_TLS, "%s: no PEM certificate could be read", what);
    }
    ERR_clear_error(); /* the loop above ends on a "no start line" error */
    return rc;
}

static int use_pem_key(SSL_CTX *ssl_ctx, const struct source *src, const char *what)
{
    BIO *bio = source_bio(src);
    SL_ENSURE(bio, SL_E_NOMEM);
    /* An empty passphrase callback: an encrypted key fails instead of prompting on a tty. */
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    BIO_free(bio);
    if (!key) {
        sl__tls_drain_errors(SL_LOG_ERROR, what);
        SL_LOG_ERROR(SL_LS_TLS, "%s: no PEM private key could be read", what);
        return SL_E_TLS_PEM_INVALID;
    }
    int ok = SSL_CTX_use_PrivateKey(ssl_ctx, key);
    EVP_PKEY_free(key); /* the context holds its own reference; freeing wipes the key */
    if (!ok) {
        sl__tls_drain_errors(SL_LOG_ERROR, what);
        return SL_E_TLS_KEY_MISMATCH;
    }
    return 0;
}

static int load_pem_identity(SSL_CTX *ssl_ctx, const struct sl_tls_ctx_options *o)
{
    struct source cert, key;
    SL_TRY(source_open(&cert, o->cert_file, o->cert_pem));
    int rc = use_pem_chain(ssl_ctx, &cert, o->cert_file ? o->cert_file : "certificate PEM");
    source_close(&cert);
    SL_TRY(rc);
    SL_TRY(source_open(&key, o->key_file, o->key_pem));
    rc = use_pem_key(ssl_ctx, &key, o->key_file ? o->key_file : "private key PEM");
    source_close(&key);
    return rc;
}

/* PKCS#12 ------------------------------------------------------------------------------------ */

static int use_pkcs12(SSL_CTX *ssl_ctx, const struct source *src, const char *password)
{
    BIO *bio = source_bio(src);
    SL_ENSURE(bio, SL_E_NOMEM);
    PKCS12 *p12 = d2i_PKCS12_bio(bio, NULL);
    BIO_free(bio);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *chain = NULL;
    int rc = 0;
    if (!p12 || !PKCS12_parse(p12, password ? password : "", &key, &cert, &chain) || !key ||
        !cert) {
        sl__tls_drain_errors(SL_LOG_ERROR, "PKCS#12");
        rc = SL_E_TLS_PKCS12_INVALID;
    } else if (!SSL_CTX_use_certificate(ssl_ctx, cert)) {
        rc = sl__tls_drain_errors(SL_LOG_ERROR, "PKCS#12 certificate");
    } else if (!SSL_CTX_use_PrivateKey(ssl_ctx, key)) {
        sl__tls_drain_errors(SL_LOG_ERROR, "PKCS#12 key");
        rc = SL_E_TLS_KEY_MISMATCH;
    }
    for (int i = 0; rc == 0 && chain && i < sk_X509_num(chain); i++) {
        if (!SSL_CTX_add1_chain_cert(ssl_ctx, sk_X509_value(chain, i))) {
            rc = sl__tls_drain_errors(SL_LOG_ERROR, "PKCS#12 chain");
        }
    }
    sk_X509_pop_free(chain, X509_free);
    X509_free(cert);
    EVP_PKEY_free(key);
    PKCS12_free(p12);
    return rc;
}

int sl__tls_load_identity(SSL_CTX *ssl_ctx, const struct sl_tls_ctx_options *o)
{
    bool pem = o->cert_file || o->cert_pem.len;
    bool pem_key = o->key_file || o->key_pem.len;
    bool p12 = o->pkcs12_file || o->pkcs12.len;
    if (!pem && !pem_key && !p12) {
        return 0; /* a client without a certificate */
    }
    if (p12 ? (pem || pem_key) : (pem != pem_key)) {
        SL_LOG_ERROR(SL_LS_TLS, "identity needs a certificate and its key, from PEM or PKCS#12");
        return SL_E_INVAL;
    }
    if (p12) {
        struct source src;
        SL_TRY(source_open(&src, o->pkcs12_file, o->pkcs12));
        int rc = use_pkcs12(ssl_ctx, &src, o->pkcs12_password);
        source_close(&src);
        SL_TRY(rc);
    } else {
        SL_TRY(load_pem_identity(ssl_ctx, o));
    }
    if (!SSL_CTX_check_private_key(ssl_ctx)) {
        sl__tls_drain_errors(SL_LOG_ERROR, "certificate and key");
        return SL_E_TLS_KEY_MISMATCH;
    }
    return 0;
}

/* Trust --------------------------------------------------------------------------------------- */

static int add_pem_cas(SSL_CTX *ssl_ctx, struct sl_cursor pem)
{
    BIO *bio = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    SL_ENSURE(bio, SL_E_NOMEM);
    X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
    int added = 0;
    X509 *cert;
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        added += X509_STORE_add_cert(store, cert) ? 1 : 0;
        X509_free(cert);
    }
    BIO_free(bio);
    ERR_clear_error();
    if (added == 0) {
        SL_LOG_ERROR(SL_LS_TLS, "CA PEM holds no certificate that could be read");
        return SL_E_TLS_TRUST_STORE;
    }
    return 0;
}

/* Slim containers often have no CA bundle at all: say so once, rather than failing later. */
static void warn_if_default_store_missing(void)
{
    const char *file = X509_get_default_cert_file();
    const char *dir = X509_get_default_cert_dir();
    if (access(file, R_OK) != 0 && access(dir, R_OK) != 0) {
        SL_LOG_WARN(SL_LS_TLS, "no system trust store at %s or %s (install ca-certificates?)", file,
                    dir);
    }
}

int sl__tls_load_trust(SSL_CTX *ssl_ctx, const struct sl_tls_ctx_options *o)
{
    bool custom = o->ca_file || o->ca_dir || o->ca_pem.len;
    if (o->ca_file || o->ca_dir) {
        if (!SSL_CTX_load_verify_locations(ssl_ctx, o->ca_file, o->ca_dir)) {
            sl__tls_drain_errors(SL_LOG_ERROR, "CA file or directory");
            SL_LOG_ERROR(SL_LS_TLS, "cannot load trust from %s%s%s", o->ca_file ? o->ca_file : "",
                         o->ca_file && o->ca_dir ? " and " : "", o->ca_dir ? o->ca_dir : "");
            return SL_E_TLS_TRUST_STORE;
        }
    }
    if (o->ca_pem.len) {
        SL_TRY(add_pem_cas(ssl_ctx, o->ca_pem));
    }
    if (o->client_auth != SL_TLS_CLIENT_AUTH_NONE && o->ca_file) {
        /* Name the CAs in CertificateRequest, so clients holding several certificates pick. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_file);
        if (names) {
            SSL_CTX_set_client_CA_list(ssl_ctx, names);
        }
        ERR_clear_error();
    }
    if (!custom || o->trust_default_too) {
        warn_if_default_store_missing();
        if (!SSL_CTX_set_default_verify_paths(ssl_ctx)) {
            sl__tls_drain_errors(SL_LOG_WARN, "system trust store");
        }
    }
    return 0;
}
