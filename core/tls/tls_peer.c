/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_internal.h"

#include <sluice/alloc.h>

#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <string.h>

/* The peer certificate summary in struct sl_tls_negotiation. */

static char *bio_to_string(BIO *bio)
{
    char *mem = NULL;
    long len = BIO_get_mem_data(bio, &mem);
    if (len < 0 || !mem) {
        len = 0; /* nothing was written (a certificate without SANs) */
    }
    char *s = sl_alloc((size_t)len + 1);
    if (s) {
        if (len > 0) {
            memcpy(s, mem, (size_t)len);
        }
        s[len] = 0;
    }
    return s;
}

static char *name_to_string(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) {
        return NULL;
    }
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char *s = bio_to_string(bio);
    BIO_free(bio);
    return s;
}

static void append_san(BIO *bio, const GENERAL_NAME *gn, bool *first)
{
    const char *prefix = NULL;
    const unsigned char *data = NULL;
    int len = 0;
    char ip[64];
    if (gn->type == GEN_DNS || gn->type == GEN_EMAIL || gn->type == GEN_URI) {
        prefix = gn->type == GEN_DNS ? "DNS" : gn->type == GEN_EMAIL ? "email" : "URI";
        data = ASN1_STRING_get0_data(gn->d.ia5);
        len = ASN1_STRING_length(gn->d.ia5);
    } else if (gn->type == GEN_IPADD) {
        int family = ASN1_STRING_length(gn->d.ip) == 4 ? AF_INET : AF_INET6;
        if (ASN1_STRING_length(gn->d.ip) != 4 && ASN1_STRING_length(gn->d.ip) != 16) {
            return;
        }
        if (!inet_ntop(family, ASN1_STRING_get0_data(gn->d.ip), ip, sizeof(ip))) {
            return;
        }
        prefix = "IP";
        data = (const unsigned char *)ip;
        len = (int)strlen(ip);
    } else {
        return;
    }
    BIO_printf(bio, "%s%s:%.*s", *first ? "" : ", ", prefix, len, (const char *)data);
    *first = false;
}

static char *sans_to_string(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio) {
        return NULL;
    }
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool first = true;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        append_san(bio, sk_GENERAL_NAME_value(names, i), &first);
    }
    GENERAL_NAMES_free(names);
    char *s = bio_to_string(bio);
    BIO_free(bio);
    return s;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (timegm is not in POSIX). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t asn1_time_to_epoch(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm)) {
        return 0;
    }
    int64_t days = days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

void sl__tls_describe_peer(SSL *ssl, struct sl_tls_peer_cert *peer, struct tls_peer_strings *s)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert) {
        return;
    }
    s->subject = name_to_string(X509_get_subject_name(cert));
    s->issuer = name_to_string(X509_get_issuer_name(cert));
    s->sans = sans_to_string(cert);
    peer->present = true;
    peer->subject = s->subject ? s->subject : "";
    peer->issuer = s->issuer ? s->issuer : "";
    peer->sans = s->sans ? s->sans : "";
    peer->not_before = asn1_time_to_epoch(X509_get0_notBefore(cert));
    peer->not_after = asn1_time_to_epoch(X509_get0_notAfter(cert));
    X509_free(cert);
}

void sl__tls_peer_strings_clean_up(struct tls_peer_strings *s)
{
    sl_free(s->subject);
    sl_free(s->issuer);
    sl_free(s->sans);
    *s = (struct tls_peer_strings){0};
}
