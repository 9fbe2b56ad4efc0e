/* SPDX-License-Identifier: Apache-2.0 */
#include "client_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Ed25519 keys for the daemon's challenge-response (docs/protocol.md §3.3). A key file holds one
 * line: the 64-byte libsodium secret key (seed and public key) in base64; FILE.pub holds the
 * 32-byte public key in base64, the form the daemon's `public_key =` takes. The secret stays in
 * sodium_malloc'd memory from the file to the signature and is wiped as soon as Hello is built.
 */

#define KEY_LINE_MAX 256
#define AUTH_CONTEXT "sluice-auth-v1" /* signed with its NUL */

static int write_line(const char *path, const char *line, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        return -errno;
    }
    size_t len = strlen(line), done = 0;
    while (done < len) {
        ssize_t n = write(fd, line + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int e = errno;
            (void)close(fd);
            (void)unlink(path);
            return -e;
        }
        done += (size_t)n;
    }
    return close(fd) == 0 ? 0 : -errno;
}

int sl_client_keygen(const char *path)
{
    if (!path || !*path || strlen(path) > 4000 || sodium_init() < 0) {
        return SL_CLIENT_E_INVAL;
    }
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    char *line = sodium_malloc(KEY_LINE_MAX);
    if (!sk || !line) {
        sodium_free(sk);
        sodium_free(line);
        return SL_CLIENT_E_NOMEM;
    }
    crypto_sign_keypair(pk, sk);
    sodium_bin2base64(line, KEY_LINE_MAX - 1, sk, crypto_sign_SECRETKEYBYTES,
                      sodium_base64_VARIANT_ORIGINAL);
    memcpy(line + strlen(line), "\n", 2);
    int rc = write_line(path, line, 0600);
    if (rc == 0) {
        char pub_path[4100], pub[128];
        (void)snprintf(pub_path, sizeof(pub_path), "%s.pub", path);
        sodium_bin2base64(pub, sizeof(pub) - 1, pk, sizeof(pk), sodium_base64_VARIANT_ORIGINAL);
        memcpy(pub + strlen(pub), "\n", 2);
        rc = write_line(pub_path, pub, 0644);
        if (rc < 0) {
            (void)unlink(path); /* both or neither */
        }
    }
    sodium_free(line);
    sodium_free(sk);
    return rc;
}

int sl__client_load_key(struct sl_client *c, const char *path)
{
    if (sodium_init() < 0) {
        return SL_CLIENT_E_NOMEM;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    char *text = sodium_malloc(KEY_LINE_MAX);
    c->auth_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    ssize_t n = text ? read(fd, text, KEY_LINE_MAX - 1) : -1;
    (void)close(fd);
    size_t len = n > 0 ? (size_t)n : 0, decoded = 0;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) {
        len--;
    }
    int rc = !text || !c->auth_sk ? SL_CLIENT_E_NOMEM : 0;
    if (rc == 0 && (n < 0 ||
                    sodium_base642bin(c->auth_sk, crypto_sign_SECRETKEYBYTES, text, len, NULL,
                                      &decoded, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
                    decoded != crypto_sign_SECRETKEYBYTES)) {
        rc = SL_CLIENT_E_INVAL;
    }
    sodium_free(text);
    if (rc < 0) {
        sodium_free(c->auth_sk);
        c->auth_sk = NULL;
    }
    return rc;
}

void sl__client_forget_key(struct sl_client *c)
{
    sodium_free(c->auth_sk); /* wipes it; NULL is fine */
    c->auth_sk = NULL;
}

void sl__client_sign_hello(const struct sl_client *c, const char *client_name, uint8_t pk[32],
                           uint8_t sig[64])
{
    size_t name_len = strlen(client_name);
    uint8_t msg[sizeof(AUTH_CONTEXT) + 32 + 32 + SL__CLIENT_NAME_MAX];
    memcpy(pk, c->auth_sk + 32, 32); /* a libsodium secret key ends with its public key */
    memcpy(msg, AUTH_CONTEXT, sizeof(AUTH_CONTEXT));
    memcpy(msg + sizeof(AUTH_CONTEXT), c->auth_nonce, 32);
    memcpy(msg + sizeof(AUTH_CONTEXT) + 32, pk, 32);
    memcpy(msg + sizeof(AUTH_CONTEXT) + 64, client_name, name_len);
    crypto_sign_detached(sig, NULL, msg, sizeof(AUTH_CONTEXT) + 64 + name_len, c->auth_sk);
}
