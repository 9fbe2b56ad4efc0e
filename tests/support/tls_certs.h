/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TEST_TLS_CERTS_H
#define SL_TEST_TLS_CERTS_H

/*
 * Test certificates, made with the openssl command into a fresh directory (Check-free, so the
 * benchmarks use it too). Everything is signed by a test CA made on the spot; nothing comes
 * from outside the repository.
 */

#include <stdbool.h>
#include <stddef.h>

struct tls_cert_pair {
    char cert[512]; /* PEM path: leaf (then chain) */
    char key[512];  /* PEM path: private key */
};

struct tls_certs {
    char dir[512];                   /* the directory holding everything (mkdtemp) */
    char ca_cert[512];               /* the test CA (ECDSA P-256), PEM */
    char ca_dir[512];                /* a hashed directory holding the CA (openssl rehash) */
    struct tls_cert_pair server;     /* ECDSA P-256, SANs DNS:localhost, IP:127.0.0.1, IP:::1 */
    struct tls_cert_pair server_rsa; /* RSA-2048, same names */
    struct tls_cert_pair expired;    /* localhost, valid only in January 2020 */
    struct tls_cert_pair wrong_name; /* DNS:wrong.example only */
    struct tls_cert_pair client;     /* client certificate (CN=test-client, no SANs) by the CA */
    struct tls_cert_pair untrusted_client; /* CN=untrusted-client, from another, unknown CA */
    struct tls_cert_pair self_signed;      /* localhost, self-signed (unknown CA to everyone) */
    char server_p12[512];                  /* server + key as PKCS#12, password "secret" */
};

/*
 * Makes all of the above in a new directory under $TMPDIR (or /tmp), in about 0.3 s. The good
 * leaves are valid for 30 days from now; the CA for 10 years. Returns false and a reason in
 * why (openssl's own message when a command fails); nothing is left behind then.
 */
bool tls_certs_make(struct tls_certs *certs, char *why, size_t why_len);

/* Deletes the directory and everything in it. */
void tls_certs_remove(struct tls_certs *certs);

#endif
