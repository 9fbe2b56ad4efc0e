/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_internal.h"

#include <sluice/error.h>

#include <errno.h>
#include <limits.h>

/*
 * A BIO whose storage is the channel's messages. A pair of OpenSSL memory BIOs would copy each
 * record twice more (message → BIO buffer on the way in, BIO buffer → message on the way out);
 * this one reads straight out of the queued read messages and writes straight into the write
 * message being filled, so the only copies are the ones OpenSSL's record layer makes anyway.
 */

static int bio_read(BIO *bio, char *dst, size_t len, size_t *readbytes)
{
    struct tls_bio_io *io = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    *readbytes = 0;
    int rc = io->read(io->io, (uint8_t *)dst, len, readbytes);
    if (rc == 0 && *readbytes > 0) {
        return 1;
    }
    if (rc == -EAGAIN && !io->at_eof(io->io)) {
        BIO_set_retry_read(bio);
    }
    return 0; /* at the end of the stream: no retry flag, so OpenSSL sees EOF */
}

static int bio_write(BIO *bio, const char *src, size_t len, size_t *written)
{
    struct tls_bio_io *io = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (io->write(io->io, (const uint8_t *)src, len) < 0) {
        *written = 0;
        return 0;
    }
    *written = len;
    return 1;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    (void)bio;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* the handler sends what was written after every OpenSSL call */
    case BIO_CTRL_PUSH:
    case BIO_CTRL_POP:
        return 0;
    default:
        return 0;
    }
}

static int bio_create(BIO *bio)
{
    BIO_set_init(bio, 1);
    return 1;
}

BIO_METHOD *sl__tls_bio_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice channel");
    if (!m) {
        return NULL;
    }
    if (!BIO_meth_set_read_ex(m, bio_read) || !BIO_meth_set_write_ex(m, bio_write) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

BIO *sl__tls_bio_new(BIO_METHOD *method, struct tls_bio_io *io)
{
    BIO *bio = BIO_new(method);
    if (bio) {
        BIO_set_data(bio, io);
    }
    return bio;
}
