/* SPDX-License-Identifier: Apache-2.0 */

/* accept4 is a Linux extension. */
#define _GNU_SOURCE

#include "raw_connect.h"

#include "bench_util.h"

#include <sluice/clock.h>
#include <sluice/thread.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * What a careful hand-written program does per connection, on two threads with edge-triggered
 * epoll like the channels. Client: non-blocking connect, one byte out when writable, read the
 * echo, close at the server's FIN. Server: accept, read the byte, echo it, close first (as in
 * the Sluice run, so TIME_WAIT stays on the server side and client ports are not exhausted).
 */

#define MAX_FD 65536

static void die(const char *what)
{
    fprintf(stderr, "raw connect: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int watch(int epfd, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events | EPOLLET, .data.fd = fd};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

struct server {
    int listener;
    int cpu;
    atomic_bool stop;
};

static void accept_all(int epfd, int listener)
{
    int fd;
    while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        if (watch(epfd, fd, EPOLLIN) != 0) {
            die("server watch");
        }
    }
}

/* A readable accepted socket: echo its byte and close; wait if the byte is not there yet. */
static void serve(int fd)
{
    char byte;
    ssize_t n = read(fd, &byte, 1);
    if (n < 0 && errno == EAGAIN) {
        return;
    }
    if (n == 1 && write(fd, &byte, 1) != 1) {
        die("server write");
    }
    close(fd);
}

static void server_main(void *arg)
{
    struct server *s = arg;
    bench_pin(s->cpu);
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0 || watch(epfd, s->listener, EPOLLIN) != 0) {
        die("server epoll");
    }
    struct epoll_event events[64];
    while (!atomic_load(&s->stop)) {
        int n = epoll_wait(epfd, events, 64, 50);
        for (int i = 0; i < n; i++) {
            if (events[i].data.fd == s->listener) {
                accept_all(epfd, s->listener);
            } else {
                serve(events[i].data.fd);
            }
        }
    }
    close(epfd);
}

/* Client ----------------------------------------------------------------------------------- */

enum { CONNECTING, AWAIT_ECHO, AWAIT_EOF };

struct client {
    struct sockaddr_in server;
    size_t total;
    size_t started;
    size_t done;
    int epfd;
    unsigned char state[MAX_FD];
};

static void start_one(struct client *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || fd >= MAX_FD) {
        die("client socket");
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&c->server, sizeof(c->server)) != 0 &&
        errno != EINPROGRESS) {
        die("connect");
    }
    c->state[fd] = CONNECTING;
    if (watch(c->epfd, fd, EPOLLIN | EPOLLOUT) != 0) {
        die("client watch");
    }
    c->started++;
}

/* Advances one connection as far as it can go; returns true when it is finished. */
static bool advance(struct client *c, int fd, uint32_t events)
{
    if (c->state[fd] == CONNECTING && (events & EPOLLOUT)) {
        if (write(fd, "x", 1) != 1) {
            die("client write");
        }
        c->state[fd] = AWAIT_ECHO;
    }
    char buf[8];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            c->state[fd] = AWAIT_EOF;
        } else if (n == 0 && c->state[fd] == AWAIT_EOF) {
            close(fd);
            return true;
        } else {
            return false; /* EAGAIN: wait for the next edge */
        }
    }
}

double raw_connects_per_s(size_t total, size_t in_flight, int client_cpu, int server_cpu)
{
    struct server s = {.cpu = server_cpu};
    atomic_init(&s.stop, false);
    struct client *c = calloc(1, sizeof(*c));
    c->total = total;
    c->server =
        (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(c->server);
    s.listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (bind(s.listener, (struct sockaddr *)&c->server, len) != 0 ||
        listen(s.listener, 1024) != 0 ||
        getsockname(s.listener, (struct sockaddr *)&c->server, &len) != 0) {
        die("listen");
    }
    struct sl_thread *server_thread;
    if (sl_thread_start(NULL, server_main, &s, &server_thread) != 0) {
        die("thread");
    }
    bench_pin(client_cpu);
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    uint64_t start = sl_clock_now_ns();
    while (c->started < in_flight && c->started < total) {
        start_one(c);
    }
    struct epoll_event events[64];
    while (c->done < total) {
        int n = epoll_wait(c->epfd, events, 64, 1000);
        for (int i = 0; i < n; i++) {
            if (advance(c, events[i].data.fd, events[i].events)) {
                c->done++;
                if (c->started < total) {
                    start_one(c);
                }
            }
        }
    }
    double rate = (double)total / ((double)(sl_clock_now_ns() - start) / 1e9);
    atomic_store(&s.stop, true);
    if (sl_thread_join(server_thread) != 0) {
        die("join");
    }
    close(c->epfd);
    close(s.listener);
    free(c);
    return rate;
}
