/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/client.h>

#include "client_internal.h"

#include <string.h>

/*
 * One-line messages for every return code. The protocol's messages follow the ErrorCode
 * comments in proto/sluice.proto; keep the two in step when a code is added.
 */

struct code_message {
    int code;
    const char *message;
};

static const struct code_message s_protocol_messages[] = {
    {SLUICE__V1__ERROR_CODE__ERROR_FRAME_TOO_LARGE, "frame over the session's maximum size"},
    {SLUICE__V1__ERROR_CODE__ERROR_FRAME_MALFORMED, "malformed frame"},
    {SLUICE__V1__ERROR_CODE__ERROR_OUT_OF_ORDER, "frame not allowed in the session's state"},
    {SLUICE__V1__ERROR_CODE__ERROR_UNSUPPORTED_VERSION, "protocol version not offered"},
    {SLUICE__V1__ERROR_CODE__ERROR_FLOOD, "too many requests (flood limit)"},
    {SLUICE__V1__ERROR_CODE__ERROR_SESSION_LIMIT, "session limit reached"},
    {SLUICE__V1__ERROR_CODE__ERROR_AUTH_FAILED, "authentication failed"},
    {SLUICE__V1__ERROR_CODE__ERROR_SHUTTING_DOWN, "the daemon is shutting down"},
    {SLUICE__V1__ERROR_CODE__ERROR_WINDOW_EXCEEDED, "data beyond the granted window"},
    {SLUICE__V1__ERROR_CODE__ERROR_UNKNOWN_CHANNEL, "unknown channel"},
    {SLUICE__V1__ERROR_CODE__ERROR_CHANNEL_ID_IN_USE, "channel id in use"},
    {SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT, "invalid argument"},
    {SLUICE__V1__ERROR_CODE__ERROR_DENIED, "denied by policy"},
    {SLUICE__V1__ERROR_CODE__ERROR_CLOSED, "closed by the peer"},
    {SLUICE__V1__ERROR_CODE__ERROR_RESET, "connection reset"},
    {SLUICE__V1__ERROR_CODE__ERROR_INTERNAL, "internal error in the daemon"},
    {SLUICE__V1__ERROR_CODE__ERROR_REFUSED, "connection refused"},
    {SLUICE__V1__ERROR_CODE__ERROR_TIMED_OUT, "timed out"},
    {SLUICE__V1__ERROR_CODE__ERROR_NAME_NOT_FOUND, "name not found"},
    {SLUICE__V1__ERROR_CODE__ERROR_DNS_TEMPORARY, "temporary DNS failure"},
    {SLUICE__V1__ERROR_CODE__ERROR_UNREACHABLE, "network or host unreachable"},
    {SLUICE__V1__ERROR_CODE__ERROR_ADDRESS_IN_USE, "address in use"},
    {SLUICE__V1__ERROR_CODE__ERROR_ACCESS, "permission denied to bind the port"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_HANDSHAKE_FAILED, "TLS handshake failed"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_HANDSHAKE_TIMEOUT, "TLS handshake timed out"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_PROTOCOL_VERSION, "no TLS version in common"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_UNKNOWN_CA, "TLS certificate from an unknown CA"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_CERT_EXPIRED, "TLS certificate expired"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_BAD_HOSTNAME, "TLS certificate does not match the name"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_CERT_INVALID, "TLS certificate invalid"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_CERT_REQUIRED, "TLS certificate required"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_BAD_CERTIFICATE, "TLS peer rejected our certificate"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_DECRYPT_ERROR, "TLS decrypt error"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_NO_ALPN, "no ALPN protocol in common"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_TRUNCATED, "TLS stream truncated"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_RENEGOTIATION_REFUSED, "TLS renegotiation refused"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_BAD_TRUST, "unusable CA certificates or trust store"},
    {SLUICE__V1__ERROR_CODE__ERROR_TLS_OTHER, "TLS error"},
};

static const struct code_message s_local_messages[] = {
    {SL_CLIENT_E_CLOSED, "the daemon closed the session"},
    {SL_CLIENT_E_BAD_FRAME, "the daemon sent a frame this client cannot use"},
    {SL_CLIENT_E_VERSION, "no protocol version in common with the daemon"},
    {SL_CLIENT_E_NOMEM, "out of memory"},
    {SL_CLIENT_E_INVAL, "invalid argument"},
    {SL_CLIENT_E_CHANNEL_CLOSED, "the channel was closed"},
    {SL_CLIENT_E_CHANNEL_SHUT, "the channel was shut down for writing"},
};

static const char *find(const struct code_message *table, size_t count, int code)
{
    for (size_t i = 0; i < count; i++) {
        if (table[i].code == code) {
            return table[i].message;
        }
    }
    return NULL;
}

const char *sl_client_strerror(int code)
{
    const char *m = NULL;
    if (code == 0) {
        return "success";
    }
    if (SL_CLIENT_E_IS_PROTOCOL(code)) {
        m = find(s_protocol_messages, SL_ARRAY_LEN(s_protocol_messages), SL_CLIENT_E_CODE(code));
        return m ? m : "unknown error code from the daemon";
    }
    m = find(s_local_messages, SL_ARRAY_LEN(s_local_messages), code);
    if (m) {
        return m;
    }
    /* strerror's buffer may be rewritten by another thread's call; the text is still a line. */
    return code < 0 && code > SL_CLIENT_E_BASE ? strerror(-code) : "unknown error";
}
