/* SPDX-License-Identifier: Apache-2.0 */
#include "auth.h"

#include <sodium.h>
#include <string.h>

bool auth_verify(const uint8_t nonce[32], const Sluice__V1__Hello *hello, uint8_t key[32],
                 const char **why)
{
    const ProtobufCBinaryData *pk = &hello->auth_public_key, *sig = &hello->auth_signature;
    if (pk->len != crypto_sign_PUBLICKEYBYTES || sig->len != crypto_sign_BYTES) {
        *why = "Hello needs a 32-byte Ed25519 public key and a 64-byte signature";
        return false;
    }
    const char *name = hello->client_name ? hello->client_name : "";
    size_t name_len = strnlen(name, 256);
    if (name_len > 255) {
        *why = "client_name over 255 bytes";
        return false;
    }
    uint8_t message[AUTH_MESSAGE_MAX];
    size_t n = 0;
    memcpy(message, AUTH_CONTEXT, sizeof(AUTH_CONTEXT)); /* with its NUL */
    n += sizeof(AUTH_CONTEXT);
    memcpy(message + n, nonce, 32);
    n += 32;
    memcpy(message + n, pk->data, 32);
    n += 32;
    memcpy(message + n, name, name_len);
    n += name_len;
    if (crypto_sign_verify_detached(sig->data, message, n, pk->data) != 0) {
        *why = "the signature does not verify (wrong key, or made for another session)";
        return false;
    }
    memcpy(key, pk->data, 32);
    return true;
}
