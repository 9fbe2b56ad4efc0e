/* SPDX-License-Identifier: Apache-2.0 */
#include "peer_server.h"

#include "test_handler.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Servers still running: a failed test leaves its own behind, and teardown stops them. */
static struct peer_server *s_running[8];

struct worker_arg {
    struct peer_server *p;
    int fd;
};

static bool send_all(struct peer_server *p, int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        atomic_fetch_add(&p->bytes_written, (uint64_t)n);
        data += n;
        len -= (size_t)n;
    }
    return true;
}

static void echo(struct peer_server *p, int fd)
{
    static _Thread_local uint8_t buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || !send_all(p, fd, buf, (size_t)n)) {
            break;
        }
    }
    shutdown(fd, SHUT_WR);
}

static void flood(struct peer_server *p, int fd)
{
    static _Thread_local uint8_t buf[65536];
    for (uint64_t sent = 0; sent < p->flood_bytes;) {
        size_t chunk =
            p->flood_bytes - sent < sizeof(buf) ? (size_t)(p->flood_bytes - sent) : sizeof(buf);
        for (size_t i = 0; i < chunk; i++) {
            buf[i] = test_pattern((size_t)(sent + i));
        }
        if (!send_all(p, fd, buf, chunk)) {
            break;
        }
        sent += chunk;
    }
    shutdown(fd, SHUT_WR);
    char byte; /* wait for the other end to close, so nothing is reset */
    while (recv(fd, &byte, 1, 0) > 0) {
    }
}

static void *worker_main(void *arg)
{
    struct worker_arg *w = arg;
    if (w->p->mode == PEER_ECHO) {
        echo(w->p, w->fd);
    } else if (w->p->mode == PEER_FLOOD) {
        flood(w->p, w->fd);
    } else {
        while (!atomic_load(&w->p->stopping)) {
            poll(NULL, 0, 20); /* stalled: whatever is sent to us piles up in the kernel */
        }
    }
    close(w->fd);
    atomic_fetch_add(&w->p->finished, 1);
    free(w);
    return NULL;
}

static void *acceptor_main(void *arg)
{
    struct peer_server *p = arg;
    while (!atomic_load(&p->stopping)) {
        struct pollfd pfd = {.fd = p->listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0) {
            continue;
        }
        int fd = accept(p->listen_fd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        int i = atomic_fetch_add(&p->worker_count, 1);
        struct worker_arg *w = malloc(sizeof(*w));
        if (i >= 64 || !w) {
            free(w);
            close(fd);
            continue;
        }
        *w = (struct worker_arg){.p = p, .fd = fd};
        atomic_fetch_add(&p->connections, 1);
        pthread_create(&p->workers[i], NULL, worker_main, w);
    }
    return NULL;
}

void peer_server_start(struct peer_server *p, enum peer_mode mode, uint64_t flood_bytes)
{
    memset(p, 0, sizeof(*p));
    p->mode = mode;
    p->flood_bytes = flood_bytes;
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(p->listen_fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(p->listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(p->listen_fd, 64), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(p->listen_fd, (struct sockaddr *)&sin, &len), 0);
    p->port = ntohs(sin.sin_port);
    ck_assert_int_eq(pthread_create(&p->acceptor, NULL, acceptor_main, p), 0);
    for (size_t i = 0; i < 8; i++) {
        if (!s_running[i]) {
            s_running[i] = p;
            break;
        }
    }
}

void peer_server_stop_all(void)
{
    for (size_t i = 0; i < 8; i++) {
        if (s_running[i]) {
            peer_server_stop(s_running[i]);
        }
    }
}

void peer_server_stop(struct peer_server *p)
{
    for (size_t i = 0; i < 8; i++) {
        if (s_running[i] == p) {
            s_running[i] = NULL;
        }
    }
    atomic_store(&p->stopping, true);
    pthread_join(p->acceptor, NULL);
    int n = atomic_load(&p->worker_count);
    for (int i = 0; i < n && i < 64; i++) {
        pthread_join(p->workers[i], NULL);
    }
    close(p->listen_fd);
}
