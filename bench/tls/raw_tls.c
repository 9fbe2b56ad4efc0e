/* SPDX-License-Identifier: Apache-2.0 */

/*
 * STYLE §1 keeps OpenSSL inside core/tls/. This file is the exception on purpose: a baseline is
 * OpenSSL used without Sluice, so it has to call OpenSSL itself.
 */

#include "raw_tls.h"

#include "bench_util.h"

#include <sluice/clock.h>
#include <sluice/thread.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The same write size as the channel sender: one full TLS record per SSL_write. */
enum { WRITE_SIZE = 16384 };

static void die(const char *what)
{
    fprintf(stderr, "raw tls: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* A connected loopback TCP pair, blocking, TCP_NODELAY as the bootstraps' sockets. */
static void tcp_pair(int fds[2])
{
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    if (listener < 0 || bind(listener, (struct sockaddr *)&sin, len) != 0 ||
        listen(listener, 1) != 0 || getsockname(listener, (struct sockaddr *)&sin, &len) != 0) {
        die("listen");
    }
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&sin, len) != 0) {
        die("connect");
    }
    fds[1] = accept(listener, NULL, NULL);
    if (fds[1] < 0) {
        die("accept");
    }
    close(listener);
    int one = 1;
    for (int i = 0; i < 2; i++) {
        if (setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
            die("TCP_NODELAY");
        }
    }
}

/* Both contexts are TLS 1.3 only, with the one suite under test. */
static SSL_CTX *new_ctx(const SSL_METHOD *method, const struct raw_tls_options *o)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_ciphersuites(ctx, o->suite)) {
        die("context");
    }
    return ctx;
}

static SSL_CTX *server_ctx(const struct raw_tls_options *o)
{
    SSL_CTX *ctx = new_ctx(TLS_server_method(), o);
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
        die("server identity");
    }
    return ctx;
}

/* The client verifies the server as ours does: the test CA, and the address in the SANs. */
static SSL *client_ssl(SSL_CTX *ctx, const struct raw_tls_options *o, int fd)
{
    if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
        die("trust");
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL *ssl = SSL_new(ctx);
    if (!ssl || !SSL_set_fd(ssl, fd) ||
        !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1")) {
        die("client connection");
    }
    return ssl;
}

struct side {
    SSL *ssl;
    int cpu;
    uint64_t total;
    pthread_barrier_t *handshaken; /* the clock starts when both ends are through */
    uint64_t at_ns;                /* client: start of the transfer; server: its end */
};

static void server_main(void *arg)
{
    struct side *s = arg;
    bench_pin(s->cpu);
    if (SSL_accept(s->ssl) != 1) {
        die("SSL_accept");
    }
    pthread_barrier_wait(s->handshaken);
    static uint8_t buf[WRITE_SIZE];
    for (uint64_t got = 0; got < s->total;) {
        int n = SSL_read(s->ssl, buf, sizeof(buf));
        if (n <= 0) {
            die("SSL_read");
        }
        got += (uint64_t)n;
    }
    s->at_ns = sl_clock_now_ns();
}

static void client_main(void *arg)
{
    struct side *s = arg;
    bench_pin(s->cpu);
    if (SSL_connect(s->ssl) != 1) {
        die("SSL_connect");
    }
    pthread_barrier_wait(s->handshaken);
    s->at_ns = sl_clock_now_ns();
    static uint8_t pattern[WRITE_SIZE], buf[WRITE_SIZE];
    memset(pattern, 'p', sizeof(pattern));
    for (uint64_t sent = 0; sent < s->total;) {
        uint64_t left = s->total - sent;
        int n = left < WRITE_SIZE ? (int)left : WRITE_SIZE;
        memcpy(buf, pattern, (size_t)n); /* the application producing its data, as ours does */
        if (SSL_write(s->ssl, buf, n) != n) {
            die("SSL_write");
        }
        sent += (uint64_t)n;
    }
}

static void run_sides(struct side *client, struct side *server)
{
    struct sl_thread *threads[2];
    if (sl_thread_start(NULL, server_main, server, &threads[0]) != 0 ||
        sl_thread_start(NULL, client_main, client, &threads[1]) != 0) {
        die("thread");
    }
    for (int i = 0; i < 2; i++) {
        if (sl_thread_join(threads[i]) != 0) {
            die("join");
        }
    }
}

double raw_tls_bulk_bytes_per_s(const struct raw_tls_options *o)
{
    int fds[2];
    tcp_pair(fds);
    SSL_CTX *sctx = server_ctx(o);
    SSL_CTX *cctx = new_ctx(TLS_client_method(), o);
    SSL *server = SSL_new(sctx);
    if (!server || !SSL_set_fd(server, fds[1])) {
        die("server connection");
    }
    SSL *client = client_ssl(cctx, o, fds[0]);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct side cs = {
        .ssl = client, .cpu = o->client_cpu, .total = o->total, .handshaken = &barrier};
    struct side ss = {
        .ssl = server, .cpu = o->server_cpu, .total = o->total, .handshaken = &barrier};
    run_sides(&cs, &ss);
    if (strcmp(SSL_CIPHER_get_name(SSL_get_current_cipher(client)), o->suite) != 0) {
        die("negotiated another suite");
    }
    pthread_barrier_destroy(&barrier);
    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    close(fds[0]);
    close(fds[1]);
    return (double)o->total / ((double)(ss.at_ns - cs.at_ns) / 1e9);
}
