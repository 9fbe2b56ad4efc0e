/* SPDX-License-Identifier: Apache-2.0 */
#include "errors.h"

#include <sluice/error.h>

#include <errno.h>

/* libsluice codes to protocol codes: the protocol's are stable, ours may grow. */

static Sluice__V1__ErrorCode tls_code(int code)
{
    switch (code) {
    case SL_E_TLS_HANDSHAKE_FAILED:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_HANDSHAKE_FAILED;
    case SL_E_TLS_HANDSHAKE_TIMEOUT:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_HANDSHAKE_TIMEOUT;
    case SL_E_TLS_PROTOCOL_VERSION:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_PROTOCOL_VERSION;
    case SL_E_TLS_UNKNOWN_CA:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_UNKNOWN_CA;
    case SL_E_TLS_CERT_EXPIRED:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_CERT_EXPIRED;
    case SL_E_TLS_BAD_HOSTNAME:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_BAD_HOSTNAME;
    case SL_E_TLS_CERT_INVALID:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_CERT_INVALID;
    case SL_E_TLS_CERT_REQUIRED:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_CERT_REQUIRED;
    case SL_E_TLS_BAD_CERTIFICATE:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_BAD_CERTIFICATE;
    case SL_E_TLS_DECRYPT_ERROR:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_DECRYPT_ERROR;
    case SL_E_TLS_NO_ALPN:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_NO_ALPN;
    case SL_E_TLS_TRUNCATED:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_TRUNCATED;
    case SL_E_TLS_RENEGOTIATION_REFUSED:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_RENEGOTIATION_REFUSED;
    case SL_E_TLS_PEM_INVALID:
    case SL_E_TLS_TRUST_STORE:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_BAD_TRUST;
    default:
        return SLUICE__V1__ERROR_CODE__ERROR_TLS_OTHER;
    }
}

Sluice__V1__ErrorCode sluiced_error_code(int code)
{
    switch (code) {
    case 0:
        return SLUICE__V1__ERROR_CODE__ERROR_NONE;
    case SL_E_HOST_NOT_FOUND:
    case -ENOENT: /* a Unix path that does not exist (docs/protocol.md §4.2) */
    case -ENOTDIR:
        return SLUICE__V1__ERROR_CODE__ERROR_NAME_NOT_FOUND;
    case SL_E_DNS_TEMPORARY:
        return SLUICE__V1__ERROR_CODE__ERROR_DNS_TEMPORARY;
    case SL_E_INVALID_HOSTNAME:
    case SL_E_INVALID_ADDRESS:
    case SL_E_INVAL:
        return SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT;
    case -ECONNREFUSED:
        return SLUICE__V1__ERROR_CODE__ERROR_REFUSED;
    case -ETIMEDOUT:
    case SL_E_TIMED_OUT:
        return SLUICE__V1__ERROR_CODE__ERROR_TIMED_OUT;
    case -ENETUNREACH:
    case -EHOSTUNREACH:
        return SLUICE__V1__ERROR_CODE__ERROR_UNREACHABLE;
    case -EADDRINUSE:
        return SLUICE__V1__ERROR_CODE__ERROR_ADDRESS_IN_USE;
    case -EACCES:
    case -EPERM:
        return SLUICE__V1__ERROR_CODE__ERROR_ACCESS;
    case SL_E_ADDRESS_DENIED:
        return SLUICE__V1__ERROR_CODE__ERROR_DENIED;
    case SL_E_CLOSED:
        return SLUICE__V1__ERROR_CODE__ERROR_CLOSED;
    case -ECONNRESET:
    case -EPIPE:
        return SLUICE__V1__ERROR_CODE__ERROR_RESET;
    case SL_E_SHUTTING_DOWN:
        return SLUICE__V1__ERROR_CODE__ERROR_SHUTTING_DOWN;
    default:
        if (code <= SL_E_TLS_INTERNAL && code >= SL_E_TLS_ALERT) {
            return tls_code(code);
        }
        return SLUICE__V1__ERROR_CODE__ERROR_INTERNAL;
    }
}
