/* SPDX-License-Identifier: Apache-2.0 */

/*
 * STYLE §1 keeps OpenSSL inside core/tls/. The TLS sink is the exception on purpose, as
 * bench/tls/raw_tls.c: it is the network peer, outside Sluice, so it calls OpenSSL itself.
 */

#include "relay_peers.h"

#include "relay_procs.h"

#include <sluice/clock.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads take what the kernel has, up to this (a TLS record is at most 16 KiB anyway). */
enum { READ_SIZE = 256 * 1024 };

static SSL_CTX *s_tls_ctx;

void relay_listener_open(struct relay_listener *l)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sin, len) != 0 || listen(l->fd, 16) != 0 ||
        getsockname(l->fd, (struct sockaddr *)&sin, &len) != 0) {
        relay_die("listen on 127.0.0.1: %s", strerror(errno));
    }
    l->port = ntohs(sin.sin_port);
}

void relay_listener_close(struct relay_listener *l)
{
    if (l->fd >= 0) {
        close(l->fd);
    }
    l->fd = -1;
}

static _Noreturn void tls_die(const char *what)
{
    ERR_print_errors_fp(stderr);
    relay_die("TLS sink: %s", what);
}

void relay_peers_tls_init(const char *cert_file, const char *key_file)
{
    s_tls_ctx = SSL_CTX_new(TLS_server_method());
    if (!s_tls_ctx || !SSL_CTX_set_min_proto_version(s_tls_ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_ciphersuites(s_tls_ctx, RELAY_TLS_SUITE)) {
        tls_die("context");
    }
    if (SSL_CTX_use_certificate_chain_file(s_tls_ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(s_tls_ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        tls_die("certificate");
    }
}

void relay_peers_tls_clean_up(void)
{
    SSL_CTX_free(s_tls_ctx);
    s_tls_ctx = NULL;
}

/* Both ends of every connection in this benchmark run with TCP_NODELAY, as sluiced's do. */
static int accept_one(const struct relay_listener *l)
{
    int fd;
    while ((fd = accept(l->fd, NULL, NULL)) < 0) {
        if (errno != EINTR) {
            relay_die("accept: %s", strerror(errno));
        }
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* The sink's common part: count bytes, note the time the total is reached, read to the end. */
static void count_bytes(struct relay_peer *p, long n)
{
    bool was_short = p->received < p->total;
    p->received += (uint64_t)n;
    if (was_short && p->received >= p->total) {
        p->end_ns = sl_clock_now_ns();
    }
}

static void sink_plain(struct relay_peer *p, int fd, uint8_t *buf)
{
    for (;;) {
        ssize_t n = read(fd, buf, READ_SIZE);
        if (n > 0) {
            count_bytes(p, (long)n);
        } else if (n == 0 || errno != EINTR) {
            return; /* the end of the stream; a reset counts as one (the total decides) */
        }
    }
}

static void echo_plain(int fd, uint8_t *buf)
{
    for (;;) {
        ssize_t n = read(fd, buf, READ_SIZE);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                return;
            }
            off += w;
        }
    }
}

static SSL *tls_accept(struct relay_peer *p, int fd)
{
    SSL *ssl = SSL_new(s_tls_ctx);
    if (!ssl || !SSL_set_fd(ssl, fd) || SSL_accept(ssl) != 1) {
        tls_die("handshake");
    }
    snprintf(p->cipher, sizeof(p->cipher), "%s", SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
    snprintf(p->version, sizeof(p->version), "%s", SSL_get_version(ssl));
    return ssl;
}

static void sink_tls(struct relay_peer *p, SSL *ssl, uint8_t *buf)
{
    for (;;) {
        int n = SSL_read(ssl, buf, READ_SIZE);
        if (n <= 0) {
            /* close_notify, or a plain close after the last byte: the total decides. */
            ERR_clear_error();
            return;
        }
        count_bytes(p, n);
    }
}

static void peer_main(void *arg)
{
    struct relay_peer *p = arg;
    bench_pin(p->cpu);
    uint8_t *buf = malloc(READ_SIZE);
    if (!buf) {
        relay_die("out of memory");
    }
    int fd = accept_one(p->listener);
    SSL *ssl = p->tls ? tls_accept(p, fd) : NULL;
    bench_done_signal(&p->ready);
    if (ssl) {
        sink_tls(p, ssl, buf);
        (void)SSL_shutdown(ssl); /* best effort: the relay may be gone already */
        SSL_free(ssl);
    } else if (p->kind == RELAY_PEER_SINK) {
        sink_plain(p, fd, buf);
    } else {
        echo_plain(fd, buf);
    }
    close(fd);
    free(buf);
}

void relay_peer_start(struct relay_peer *p)
{
    if (p->tls && (p->kind != RELAY_PEER_SINK || !s_tls_ctx)) {
        relay_die("a TLS peer is a sink, after relay_peers_tls_init");
    }
    p->received = 0;
    p->end_ns = 0;
    p->cipher[0] = '\0';
    p->version[0] = '\0';
    bench_done_init(&p->ready);
    struct sl_thread_options opts = {
        .name = p->kind == RELAY_PEER_SINK ? "relay-sink" : "relay-echo", .cpu = -1};
    if (sl_thread_start(&opts, peer_main, p, &p->thread) != 0) {
        relay_die("cannot start the peer thread");
    }
}

void relay_peer_wait_ready(struct relay_peer *p)
{
    bench_done_wait(&p->ready);
}

void relay_peer_join(struct relay_peer *p)
{
    if (sl_thread_join(p->thread) != 0) {
        relay_die("cannot join the peer thread");
    }
    p->thread = NULL;
    bench_done_clean_up(&p->ready);
    if (p->kind == RELAY_PEER_SINK && p->received < p->total) {
        relay_die("the sink got %llu of %llu bytes", (unsigned long long)p->received,
                  (unsigned long long)p->total);
    }
}
