/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_ERROR_H
#define SL_ERROR_H

#include <sluice/common.h>

SL_BEGIN_DECLS

/*
 * Errors (STYLE.md §4). A fallible function returns 0 on success and a negative code on
 * failure. Operating-system errors pass through as -errno (for example -ECONNREFUSED); Sluice's
 * own codes are -10000 and below and are listed once, here, in SL_ERROR_MAP. Nothing is kept in
 * thread-local state: the return value is the whole story.
 */

/* XX(name, message). Append new codes at the end so that existing values never change. */
#define SL_ERROR_MAP(XX)                                                                        \
    XX(UNKNOWN, "unknown error")                                                                \
    XX(INVAL, "invalid argument")                                                               \
    XX(NOMEM, "out of memory")                                                                  \
    XX(STATE, "operation not valid in the object's current state")                              \
    XX(BUF_FULL, "buffer has no room for the data")                                             \
    XX(SHORT_READ, "not enough bytes left to read")                                             \
    XX(OVERFLOW, "size or count overflows its type")                                            \
    XX(NOT_FOUND, "no such item")                                                               \
    XX(CANCELED, "operation cancelled")                                                         \
    XX(TIMED_OUT, "operation timed out")                                                        \
    XX(WRONG_THREAD, "called from a thread that does not own the object")                       \
    XX(WOULD_DEADLOCK, "would deadlock: called from one of the object's own threads")           \
    XX(UNSUPPORTED, "not supported on this platform or kernel")                                 \
    XX(SHUTTING_DOWN, "object is shutting down")                                                \
    XX(WINDOW_EXCEEDED, "message is larger than the receiving slot's read window")              \
    XX(NO_SLOT, "no slot in that direction")                                                    \
    XX(CLOSED, "closed: the peer ended the connection or the pipe, or it was closed here")      \
    XX(INVALID_ADDRESS, "invalid address")                                                      \
    XX(FUTURE_ALREADY_DONE, "future was already completed")                                     \
    XX(FUTURE_PENDING, "future has not completed yet")                                          \
    XX(FUTURE_WRONG_TYPE, "future was made for another type of value")                          \
    XX(FUTURE_CALLBACK_SET, "future already has a callback")                                    \
    XX(STREAM_NOT_SEEKABLE, "stream cannot seek")                                               \
    XX(STREAM_SEEK_OUT_OF_RANGE, "seek position is outside the stream")                         \
    XX(STREAM_LENGTH_UNKNOWN, "stream length is not known")                                     \
    XX(STREAM_TRUNCATED, "stream ended before its known length (file shrank?)")                 \
    XX(STREAM_NO_PROGRESS, "stream read returned no bytes yet did not end")                     \
    XX(HOST_NOT_FOUND, "host name not found (no such records)")                                 \
    XX(DNS_TEMPORARY, "temporary failure in name resolution (no answer from the name servers)") \
    XX(INVALID_HOSTNAME, "invalid host name (empty, too long, or bad characters)")              \
    XX(RETRY_EXHAUSTED, "retry refused: max retries reached")                                   \
    XX(RETRY_QUOTA_EXCEEDED, "retry refused: the partition's retry token bucket is empty")      \
    XX(RETRY_NOT_RETRYABLE, "retry refused: the error is not retryable")                        \
    XX(TLS_INTERNAL, "TLS: OpenSSL failed (see the log for its reason)")                        \
    XX(TLS_PEM_INVALID, "TLS: PEM data holds no certificate or key, or cannot be parsed")       \
    XX(TLS_PKCS12_INVALID, "TLS: PKCS#12 data cannot be parsed or the password is wrong")       \
    XX(TLS_KEY_MISMATCH, "TLS: the private key does not match the certificate")                 \
    XX(TLS_TRUST_STORE, "TLS: the trust store (CA file, directory or PEM) cannot be loaded")    \
    XX(TLS_BAD_CIPHER_LIST, "TLS: no usable cipher suite or group in the list")                 \
    XX(TLS_BAD_ALPN_LIST, "TLS: ALPN list is empty or has a protocol over 255 bytes")           \
    XX(TLS_NOT_NEGOTIATED, "TLS: the handshake has not finished")                               \
    XX(TLS_HANDSHAKE_TIMEOUT, "TLS: the handshake did not finish in time")                      \
    XX(TLS_HANDSHAKE_FAILED, "TLS: handshake failure (no cipher, group or version in common)")  \
    XX(TLS_PROTOCOL_VERSION, "TLS: no protocol version in common")                              \
    XX(TLS_UNKNOWN_CA, "TLS: certificate issued by an unknown or untrusted CA")                 \
    XX(TLS_CERT_EXPIRED, "TLS: certificate expired or not yet valid")                           \
    XX(TLS_BAD_HOSTNAME, "TLS: certificate does not match the server name or address")          \
    XX(TLS_CERT_INVALID, "TLS: certificate failed verification")                                \
    XX(TLS_CERT_REQUIRED, "TLS: the peer did not present a required certificate")               \
    XX(TLS_BAD_CERTIFICATE, "TLS: the peer rejected our certificate")                           \
    XX(TLS_DECRYPT_ERROR, "TLS: a record failed to decrypt or verify (corrupted or forged)")    \
    XX(TLS_NO_ALPN, "TLS: no application protocol (ALPN) in common")                            \
    XX(TLS_RENEGOTIATION_REFUSED, "TLS: renegotiation is not allowed")                          \
    XX(TLS_TRUNCATED, "TLS: the connection ended without close_notify (truncated)")             \
    XX(TLS_PROTOCOL_ERROR, "TLS: the peer broke the protocol (unexpected or bad message)")      \
    XX(TLS_ALERT, "TLS: the peer sent a fatal alert")                                           \
    XX(ADDRESS_DENIED, "every address the name resolved to is refused by policy")

/* Codes count down from SL_E_BASE: the first entry is -10000, the next -10001, and so on. */
#define SL_E_BASE                        (-10000)
#define SL__ERROR_INDEX_ENTRY(name, msg) SL__EI_##name,
enum sl__error_index { SL_ERROR_MAP(SL__ERROR_INDEX_ENTRY) SL__EI_COUNT };
#undef SL__ERROR_INDEX_ENTRY

#define SL__ERROR_ENUM_ENTRY(name, msg) SL_E_##name = SL_E_BASE - SL__EI_##name,
enum sl_error { SL_ERROR_MAP(SL__ERROR_ENUM_ENTRY) };
#undef SL__ERROR_ENUM_ENTRY

/*
 * Returns a human-readable message for code: Sluice codes from SL_ERROR_MAP, -errno values from
 * the C library, 0 as "success". Never NULL; unknown codes give "unknown error".
 * Thread: any.
 */
SL_API const char *sl_strerror(int code);

/*
 * Returns the symbolic name of code: "SL_E_TIMED_OUT", "ECONNREFUSED", "OK" for 0, or
 * "SL_E_UNKNOWN" for a code that is neither ours nor a known errno. Never NULL.
 * Thread: any.
 */
SL_API const char *sl_error_name(int code);

/* Converts an errno value (positive, as errno holds it) to a Sluice return code. */
static inline int sl_error_from_errno(int err)
{
    return err > 0 ? -err : SL_E_UNKNOWN;
}

SL_END_DECLS

#endif /* SL_ERROR_H */
