/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_AUTH_H
#define SLUICED_AUTH_H

/*
 * Ed25519 challenge-response (docs/protocol.md §3.3). The daemon's ServerHello carries a fresh
 * random nonce; a client that has a key signs
 *
 *     "sluice-auth-v1" NUL || nonce (32) || public key (32) || client_name
 *
 * and sends the public key and the signature in Hello. The nonce makes a signature good for one
 * session only, and signing the key and name binds them to it.
 */

#include "frame.h"

#include <stdbool.h>
#include <stdint.h>

#define AUTH_CONTEXT     "sluice-auth-v1"
#define AUTH_MESSAGE_MAX (sizeof(AUTH_CONTEXT) + 32 + 32 + 256)

/*
 * Checks Hello's key and signature against nonce. true with *key filled when they verify;
 * false with *why when they do not (or only one of the two is there).
 */
bool auth_verify(const uint8_t nonce[32], const Sluice__V1__Hello *hello, uint8_t key[32],
                 const char **why);

#endif
