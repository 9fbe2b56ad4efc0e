/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_certs.h"

#include "openssl_peer.h"

#include <sluice/common.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Every certificate is made by the openssl command (run through openssl_peer, so no shell sees
 * the paths), from one configuration file written next to them. Keys are ECDSA P-256, which
 * openssl makes in milliseconds; only server_rsa pays for an RSA-2048 key. Commands that do
 * not depend on each other run at the same time, in three rounds: the two CAs (and the
 * expired certificate's request), then every leaf they sign, then what needs those (the
 * expired certificate's signature, the PKCS#12 file, the hashed directory).
 */

#define MAX_ROUND 8

/* Validity of the test CA and the good leaves. Long enough for any test run, short for a CA. */
#define CA_DAYS   "3650"
#define LEAF_DAYS "30"

/*
 * The expired certificate's validity, long past. openssl 3.0's x509 and req cannot backdate
 * (-not_before/-not_after came in 3.4) and faketime is not assumed, so it is issued by
 * `openssl ca`, whose -startdate/-enddate take any dates.
 */
#define PAST_START "20200101000000Z"
#define PAST_END   "20200201000000Z"

static const char s_config_fixed[] =
    "# Written by tests/support/tls_certs.c; removed with the directory.\n"
    "[req]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[dn]\n"
    "CN = unused\n" /* every command gives -subj; req insists on the section anyway */
    "[ca_ext]\n"
    "basicConstraints = critical, CA:TRUE\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[server_ext]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "[wrong_name_ext]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature, keyEncipherment\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:wrong.example\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "[client_ext]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = clientAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "[policy_any]\n"
    "commonName = supplied\n";

/* `openssl ca` needs a database, a serial file and a policy even for one certificate. */
static bool write_config(const char *path, const char *ca_db)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return false;
    }
    fputs(s_config_fixed, f);
    fprintf(f,
            "[past_ca]\n"
            "database = %s/index.txt\n"
            "serial = %s/serial\n"
            "new_certs_dir = %s\n"
            "default_md = sha256\n"
            "policy = policy_any\n"
            "unique_subject = no\n",
            ca_db, ca_db, ca_db);
    bool ok = ferror(f) == 0;
    return fclose(f) == 0 && ok;
}

static bool say(char *why, size_t why_len, const char *fmt, ...) SL_PRINTF(3, 4);

static bool say(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return false;
}

/* dir + "/" + name into out (512 bytes, like every path in struct tls_certs). */
static bool path_in(char out[512], const char *dir, const char *name)
{
    int n = snprintf(out, 512, "%s/%s", dir, name);
    return n > 0 && n < 512;
}

static bool write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        return false;
    }
    bool ok = fwrite(text, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static bool copy_file(const char *from, const char *to)
{
    FILE *f = fopen(from, "r");
    if (!f) {
        return false;
    }
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf), f);
    bool ok = ferror(f) == 0 && feof(f); /* a CA certificate is well under 8 KiB */
    fclose(f);
    return ok && write_file(to, buf, n);
}

/* Runs up to MAX_ROUND openssl commands at once; true if every one exited with 0. */
static bool run_round(const char *const *const *cmds, size_t count, char *why, size_t why_len)
{
    struct openssl_peer peers[MAX_ROUND];
    bool started[MAX_ROUND] = {false};
    bool ok = true;
    for (size_t i = 0; i < count && ok; i++) {
        ok = started[i] = openssl_peer_start(&peers[i], cmds[i], why, why_len);
    }
    for (size_t i = 0; i < count; i++) {
        if (!started[i]) {
            continue;
        }
        /* Generous: RSA key generation is the slowest step, and sanitizers slow nothing here. */
        int status = openssl_peer_stop(&peers[i], 60000);
        if (status != 0 && ok) {
            ok = say(why, why_len, "openssl %s failed (status %d): %s", cmds[i][0], status,
                     peers[i].err);
        }
        openssl_peer_free(&peers[i]);
    }
    return ok;
}

/* Fills in every path of certs from certs->dir. */
static bool name_files(struct tls_certs *c)
{
    struct {
        char *out;
        const char *name;
    } files[] = {
        {c->ca_cert, "ca.pem"},
        {c->ca_dir, "ca_dir"},
        {c->server.cert, "server.pem"},
        {c->server.key, "server.key"},
        {c->server_rsa.cert, "server_rsa.pem"},
        {c->server_rsa.key, "server_rsa.key"},
        {c->expired.cert, "expired.pem"},
        {c->expired.key, "expired.key"},
        {c->wrong_name.cert, "wrong_name.pem"},
        {c->wrong_name.key, "wrong_name.key"},
        {c->client.cert, "client.pem"},
        {c->client.key, "client.key"},
        {c->untrusted_client.cert, "untrusted_client.pem"},
        {c->untrusted_client.key, "untrusted_client.key"},
        {c->self_signed.cert, "self_signed.pem"},
        {c->self_signed.key, "self_signed.key"},
        {c->server_p12, "server.p12"},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (!path_in(files[i].out, c->dir, files[i].name)) {
            return false;
        }
    }
    return true;
}

/* Paths of files that only the making needs (the CA keys, the config, the CSR). */
struct scratch {
    char config[512];
    char ca_key[512];
    char other_ca_cert[512];
    char other_ca_key[512];
    char expired_csr[512];
    char ca_db[512];
    char ca_db_index[512];
    char ca_db_serial[512];
    char ca_dir_cert[512];
};

static bool prepare_dir(struct tls_certs *c, struct scratch *s, char *why, size_t why_len)
{
    bool named =
        name_files(c) && path_in(s->config, c->dir, "openssl.cnf") &&
        path_in(s->ca_key, c->dir, "ca.key") && path_in(s->other_ca_cert, c->dir, "other_ca.pem") &&
        path_in(s->other_ca_key, c->dir, "other_ca.key") &&
        path_in(s->expired_csr, c->dir, "expired.csr") && path_in(s->ca_db, c->dir, "ca_db") &&
        path_in(s->ca_db_index, s->ca_db, "index.txt") &&
        path_in(s->ca_db_serial, s->ca_db, "serial") &&
        path_in(s->ca_dir_cert, c->ca_dir, "ca.pem");
    if (!named) {
        return say(why, why_len, "paths under %s are too long", c->dir);
    }
    if (mkdir(s->ca_db, 0700) != 0 || mkdir(c->ca_dir, 0700) != 0) {
        return say(why, why_len, "mkdir under %s: %s", c->dir, strerror(errno));
    }
    bool ok = write_config(s->config, s->ca_db) && write_file(s->ca_db_index, "", 0) &&
              write_file(s->ca_db_serial, "1000\n", 5);
    return ok ? true : say(why, why_len, "cannot write the openssl files in %s", c->dir);
}

/* One new key and its certificate (or request), made by a single `openssl req`. */
struct cert_spec {
    const char *new_key;     /* "ec" (P-256) or "rsa:2048" */
    const char *days;        /* NULL: a request only, for `openssl ca` to sign */
    const char *issuer_cert; /* NULL: self-signed */
    const char *issuer_key;
    const char *extensions; /* a section of the configuration */
    const char *subject;
    const char *key_out;
    const char *cert_out; /* or the request's path */
};

#define SPEC_ARGS 32

static void spec_argv(const struct cert_spec *spec, const char *config, const char *argv[SPEC_ARGS])
{
    size_t n = 0;
    const char *head[] = {"req", "-config", config, "-noenc", "-newkey", spec->new_key};
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++) {
        argv[n++] = head[i];
    }
    if (strcmp(spec->new_key, "ec") == 0) {
        argv[n++] = "-pkeyopt";
        argv[n++] = "ec_paramgen_curve:P-256";
    }
    if (!spec->days) {
        argv[n++] = "-new";
    } else {
        argv[n++] = "-days";
        argv[n++] = spec->days;
        /* -CA implies -x509 (a certificate, not a request); alone, -x509 self-signs. */
        if (spec->issuer_cert) {
            argv[n++] = "-CA";
            argv[n++] = spec->issuer_cert;
            argv[n++] = "-CAkey";
            argv[n++] = spec->issuer_key;
        } else {
            argv[n++] = "-x509";
        }
        argv[n++] = "-extensions";
        argv[n++] = spec->extensions;
    }
    const char *tail[] = {"-subj", spec->subject,  "-keyout", spec->key_out,
                          "-out",  spec->cert_out, NULL};
    for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
        argv[n++] = tail[i];
    }
}

/* Makes every spec, all at once. */
static bool make_specs(const struct cert_spec *specs, size_t count, const char *config, char *why,
                       size_t why_len)
{
    const char *argvs[MAX_ROUND][SPEC_ARGS];
    const char *const *round[MAX_ROUND];
    for (size_t i = 0; i < count; i++) {
        spec_argv(&specs[i], config, argvs[i]);
        round[i] = argvs[i];
    }
    return run_round(round, count, why, why_len);
}

/* The CAs, and the expired certificate's key and request, which need nothing else. */
static bool make_roots(struct tls_certs *c, struct scratch *s, char *why, size_t why_len)
{
    const struct cert_spec specs[] = {
        {"ec", CA_DAYS, NULL, NULL, "ca_ext", "/CN=Sluice Test CA", s->ca_key, c->ca_cert},
        {"ec", CA_DAYS, NULL, NULL, "ca_ext", "/CN=Sluice Unknown CA", s->other_ca_key,
         s->other_ca_cert},
        {"ec", NULL, NULL, NULL, NULL, "/CN=localhost", c->expired.key, s->expired_csr},
    };
    return make_specs(specs, sizeof(specs) / sizeof(specs[0]), s->config, why, why_len);
}

static bool make_leaves(struct tls_certs *c, struct scratch *s, char *why, size_t why_len)
{
    const char *ca = c->ca_cert;
    const char *ca_key = s->ca_key;
    const struct cert_spec specs[] = {
        {"ec", LEAF_DAYS, ca, ca_key, "server_ext", "/CN=localhost", c->server.key, c->server.cert},
        {"rsa:2048", LEAF_DAYS, ca, ca_key, "server_ext", "/CN=localhost", c->server_rsa.key,
         c->server_rsa.cert},
        {"ec", LEAF_DAYS, ca, ca_key, "wrong_name_ext", "/CN=wrong.example", c->wrong_name.key,
         c->wrong_name.cert},
        {"ec", LEAF_DAYS, ca, ca_key, "client_ext", "/CN=test-client", c->client.key,
         c->client.cert},
        {"ec", LEAF_DAYS, s->other_ca_cert, s->other_ca_key, "client_ext", "/CN=untrusted-client",
         c->untrusted_client.key, c->untrusted_client.cert},
        {"ec", LEAF_DAYS, NULL, NULL, "server_ext", "/CN=localhost", c->self_signed.key,
         c->self_signed.cert},
    };
    return make_specs(specs, sizeof(specs) / sizeof(specs[0]), s->config, why, why_len);
}

static bool make_derived(struct tls_certs *c, struct scratch *s, char *why, size_t why_len)
{
    if (!copy_file(c->ca_cert, s->ca_dir_cert)) {
        return say(why, why_len, "cannot copy %s to %s", c->ca_cert, s->ca_dir_cert);
    }
    /* Option and value pairs, one to a line. */
    /* clang-format off */
    const char *expired[] = {
        "ca", "-config", s->config, "-name", "past_ca",
        "-batch", "-notext",
        "-cert", c->ca_cert, "-keyfile", s->ca_key,
        "-startdate", PAST_START, "-enddate", PAST_END,
        "-extensions", "server_ext",
        "-in", s->expired_csr, "-out", c->expired.cert,
        NULL};
    const char *p12[] = {
        "pkcs12", "-export",
        "-in", c->server.cert, "-inkey", c->server.key,
        "-name", "localhost", "-passout", "pass:secret",
        "-out", c->server_p12,
        NULL};
    /* clang-format on */
    const char *rehash[] = {"rehash", c->ca_dir, NULL};
    const char *const *round[] = {expired, p12, rehash};
    return run_round(round, 3, why, why_len);
}

bool tls_certs_make(struct tls_certs *certs, char *why, size_t why_len)
{
    memset(certs, 0, sizeof(*certs));
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) {
        tmp = "/tmp";
    }
    int n = snprintf(certs->dir, sizeof(certs->dir), "%s/sluice-tls-XXXXXX", tmp);
    if (n < 0 || (size_t)n >= sizeof(certs->dir) - 64) {
        return say(why, why_len, "TMPDIR is too long");
    }
    if (!mkdtemp(certs->dir)) {
        say(why, why_len, "mkdtemp %s: %s", certs->dir, strerror(errno));
        certs->dir[0] = '\0'; /* nothing to remove */
        return false;
    }
    struct scratch s;
    bool ok = prepare_dir(certs, &s, why, why_len) && make_roots(certs, &s, why, why_len) &&
              make_leaves(certs, &s, why, why_len) && make_derived(certs, &s, why, why_len);
    if (!ok) {
        tls_certs_remove(certs);
    }
    return ok;
}

/*
 * Removes path and, if it is a directory, what it holds. lstat, so the symbolic links
 * `openssl rehash` makes are removed themselves, never followed. depth bounds the recursion:
 * the directory is two levels deep.
 */
static void remove_tree(const char *path, int depth)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *dir = depth > 0 ? opendir(path) : NULL;
    struct dirent *entry;
    while (dir && (entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        char child[1024];
        int n = snprintf(child, sizeof(child), "%s/%s", path, entry->d_name);
        if (n > 0 && (size_t)n < sizeof(child)) {
            remove_tree(child, depth - 1);
        }
    }
    if (dir) {
        closedir(dir);
    }
    rmdir(path);
}

void tls_certs_remove(struct tls_certs *certs)
{
    if (certs->dir[0]) {
        remove_tree(certs->dir, 4);
        certs->dir[0] = '\0';
    }
}
