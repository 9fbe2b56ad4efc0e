/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_internal.h"

#include <sluice/error.h>
#include <sluice/log.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>

/*
 * OpenSSL reports a failure three ways: the certificate verification result, an alert the peer
 * sent (reason codes SSL_AD_REASON_OFFSET + alert), or a reason of its own in the error queue.
 * Each is turned into one specific SL_E_TLS_* code, so that callers (and the daemon's clients)
 * can tell "unknown CA" from "expired" from "wrong name" without parsing text.
 */

int sl__tls_drain_errors(enum sl_log_level level, const char *what)
{
    unsigned long first = 0;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char text[256];
        ERR_error_string_n(e, text, sizeof(text));
        SL_LOG(SL_LS_TLS, level, "%s: %s", what, text);
        first = first ? first : e;
    }
    return first == 0 || ERR_GET_REASON(first) != ERR_R_MALLOC_FAILURE ? SL_E_TLS_INTERNAL
                                                                       : SL_E_NOMEM;
}

int sl__tls_verify_error_code(long verify_result)
{
    switch (verify_result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
        return SL_E_TLS_UNKNOWN_CA;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return SL_E_TLS_CERT_EXPIRED;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
        return SL_E_TLS_BAD_HOSTNAME;
    default:
        return SL_E_TLS_CERT_INVALID;
    }
}

/* An alert the peer sent. */
static int alert_code(int alert)
{
    switch (alert) {
    case SSL_AD_UNKNOWN_CA:
        return SL_E_TLS_UNKNOWN_CA;
    case SSL_AD_CERTIFICATE_EXPIRED:
        return SL_E_TLS_CERT_EXPIRED;
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
        return SL_E_TLS_BAD_CERTIFICATE;
    case SSL_AD_HANDSHAKE_FAILURE:
    case SSL_AD_INSUFFICIENT_SECURITY:
        return SL_E_TLS_HANDSHAKE_FAILED;
    case SSL_AD_PROTOCOL_VERSION:
        return SL_E_TLS_PROTOCOL_VERSION;
    case SSL_AD_DECRYPT_ERROR:
    case SSL_AD_BAD_RECORD_MAC:
        return SL_E_TLS_DECRYPT_ERROR;
    case SSL_AD_CERTIFICATE_REQUIRED:
        return SL_E_TLS_CERT_REQUIRED;
    case SSL_AD_NO_APPLICATION_PROTOCOL:
        return SL_E_TLS_NO_ALPN;
    case SSL_AD_NO_RENEGOTIATION:
        return SL_E_TLS_RENEGOTIATION_REFUSED;
    case SSL_AD_UNRECOGNIZED_NAME:
        return SL_E_TLS_BAD_HOSTNAME;
    case SSL_AD_UNEXPECTED_MESSAGE:
    case SSL_AD_DECODE_ERROR:
    case SSL_AD_ILLEGAL_PARAMETER:
    case SSL_AD_RECORD_OVERFLOW:
        return SL_E_TLS_PROTOCOL_ERROR;
    default:
        return SL_E_TLS_ALERT;
    }
}

/* A reason OpenSSL found itself. */
static int reason_code(int reason)
{
    switch (reason) {
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
        return SL_E_TLS_HANDSHAKE_FAILED;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
        return SL_E_TLS_PROTOCOL_VERSION;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return SL_E_TLS_CERT_REQUIRED;
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
    case SSL_R_DECRYPTION_FAILED:
    case SSL_R_BAD_SIGNATURE:
        return SL_E_TLS_DECRYPT_ERROR;
    case SSL_R_NO_APPLICATION_PROTOCOL:
        return SL_E_TLS_NO_ALPN;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return SL_E_TLS_TRUNCATED;
    case SSL_R_NO_RENEGOTIATION:
        return SL_E_TLS_RENEGOTIATION_REFUSED;
    default:
        return SL_E_TLS_PROTOCOL_ERROR;
    }
}

static int classify_queue(unsigned long e)
{
    if (ERR_GET_LIB(e) != ERR_LIB_SSL) {
        return ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE ? SL_E_NOMEM : SL_E_TLS_INTERNAL;
    }
    int reason = ERR_GET_REASON(e);
    if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
        return alert_code(reason - SSL_AD_REASON_OFFSET);
    }
    return reason_code(reason);
}

int sl__tls_classify_failure(SSL *ssl, int ssl_error, char *why, size_t why_len)
{
    long verify = SSL_get_verify_result(ssl);
    unsigned long first = ERR_peek_error();
    int code;
    if (verify != X509_V_OK && ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        code = sl__tls_verify_error_code(verify);
        snprintf(why, why_len, "%s", X509_verify_cert_error_string(verify));
    } else if (first != 0) {
        code = classify_queue(first);
        ERR_error_string_n(first, why, why_len);
    } else if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_SSL) {
        code = SL_E_TLS_TRUNCATED; /* the stream ended with nothing on the queue */
        snprintf(why, why_len, "the connection ended during the TLS exchange");
    } else {
        code = SL_E_TLS_INTERNAL;
        snprintf(why, why_len, "SSL error %d", ssl_error);
    }
    sl__tls_drain_errors(SL_LOG_DEBUG, "tls failure");
    return code;
}
