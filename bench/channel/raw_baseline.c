/* SPDX-License-Identifier: Apache-2.0 */

/* accept4 is a Linux extension. */
#define _GNU_SOURCE

#include "raw_baseline.h"

#include "bench_util.h"

#include <sluice/clock.h>
#include <sluice/thread.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "raw baseline: %s: %s\n", what, strerror(errno));
    exit(1);
}

double process_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void raw_tcp_pair(int fds[2])
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
    fds[1] = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fds[1] < 0) {
        die("accept");
    }
    close(listener);
    int one = 1;
    for (int i = 0; i < 2; i++) {
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) != 0) {
        die("fcntl");
    }
}

static int watch(int fd, uint32_t events)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = events | EPOLLET, .data.fd = fd};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        die("epoll");
    }
    return epfd;
}

static void wait_ready(int epfd)
{
    struct epoll_event ev;
    while (epoll_wait(epfd, &ev, 1, -1) < 0) {
        if (errno != EINTR) {
            die("epoll_wait");
        }
    }
}

/* Bulk ------------------------------------------------------------------------------------- */

struct bulk_side {
    int fd;
    int cpu;
    uint64_t total;
    uint64_t done_ns;
};

static void bulk_send(void *arg)
{
    struct bulk_side *side = arg;
    bench_pin(side->cpu);
    int epfd = watch(side->fd, EPOLLOUT);
    static uint8_t pattern[16384], buf[16384];
    memset(pattern, 'p', sizeof(pattern));
    size_t off = sizeof(buf); /* bytes of buf already written */
    for (uint64_t sent = 0; sent < side->total;) {
        if (off == sizeof(buf)) {
            memcpy(buf, pattern, sizeof(buf)); /* the application producing its data */
            off = 0;
        }
        ssize_t n = write(side->fd, buf + off, sizeof(buf) - off);
        if (n > 0) {
            off += (size_t)n;
            sent += (uint64_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            wait_ready(epfd);
        } else if (n < 0 && errno != EINTR) {
            die("write");
        }
    }
    close(epfd);
}

static void bulk_receive(void *arg)
{
    struct bulk_side *side = arg;
    bench_pin(side->cpu);
    int epfd = watch(side->fd, EPOLLIN);
    static uint8_t buf[65536];
    for (uint64_t got = 0; got < side->total;) {
        ssize_t n = read(side->fd, buf, sizeof(buf));
        if (n > 0) {
            got += (uint64_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            wait_ready(epfd);
        } else if (n == 0 || errno != EINTR) {
            die("read");
        }
    }
    side->done_ns = sl_clock_now_ns();
    close(epfd);
}

double raw_bulk(uint64_t total, int sender_cpu, int receiver_cpu, double *cpu_s)
{
    int fds[2];
    raw_tcp_pair(fds);
    struct bulk_side sender = {.fd = fds[0], .cpu = sender_cpu, .total = total};
    struct bulk_side receiver = {.fd = fds[1], .cpu = receiver_cpu, .total = total};
    struct sl_thread *threads[2];
    double cpu_before = process_cpu_seconds();
    uint64_t start = sl_clock_now_ns();
    if (sl_thread_start(NULL, bulk_receive, &receiver, &threads[0]) != 0 ||
        sl_thread_start(NULL, bulk_send, &sender, &threads[1]) != 0) {
        die("thread");
    }
    for (int i = 0; i < 2; i++) {
        if (sl_thread_join(threads[i]) != 0) {
            die("join");
        }
    }
    *cpu_s = process_cpu_seconds() - cpu_before;
    close(fds[0]);
    close(fds[1]);
    return (double)total / ((double)(receiver.done_ns - start) / 1e9);
}

/* Ping-pong -------------------------------------------------------------------------------- */

struct pong_side {
    int fd;
    int cpu;
    size_t rounds;
    double *samples_us;
};

/* Reads exactly len bytes, waiting on epoll when the socket runs dry. */
static void read_exactly(int fd, int epfd, uint8_t *buf, size_t len)
{
    for (size_t got = 0; got < len;) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            wait_ready(epfd);
        } else if (n == 0 || errno != EINTR) {
            die("read");
        }
    }
}

static void write_all(int fd, const uint8_t *buf, size_t len)
{
    /* 64 bytes always fit an idle socket buffer: one write is enough. */
    if (write(fd, buf, len) != (ssize_t)len) {
        die("write");
    }
}

static void pong_server(void *arg)
{
    struct pong_side *side = arg;
    bench_pin(side->cpu);
    int epfd = watch(side->fd, EPOLLIN);
    uint8_t buf[64];
    for (size_t i = 0; i < side->rounds; i++) {
        read_exactly(side->fd, epfd, buf, sizeof(buf));
        write_all(side->fd, buf, sizeof(buf));
    }
    close(epfd);
}

static void ping_client(void *arg)
{
    struct pong_side *side = arg;
    bench_pin(side->cpu);
    int epfd = watch(side->fd, EPOLLIN);
    uint8_t buf[64] = {0};
    for (size_t i = 0; i < side->rounds; i++) {
        uint64_t start = sl_clock_now_ns();
        write_all(side->fd, buf, sizeof(buf));
        read_exactly(side->fd, epfd, buf, sizeof(buf));
        side->samples_us[i] = (double)(sl_clock_now_ns() - start) / 1e3;
    }
    close(epfd);
}

void raw_pingpong(size_t rounds, int client_cpu, int server_cpu, double *samples_us)
{
    int fds[2];
    raw_tcp_pair(fds);
    struct pong_side client = {
        .fd = fds[0], .cpu = client_cpu, .rounds = rounds, .samples_us = samples_us};
    struct pong_side server = {.fd = fds[1], .cpu = server_cpu, .rounds = rounds};
    struct sl_thread *threads[2];
    if (sl_thread_start(NULL, pong_server, &server, &threads[0]) != 0 ||
        sl_thread_start(NULL, ping_client, &client, &threads[1]) != 0) {
        die("thread");
    }
    for (int i = 0; i < 2; i++) {
        if (sl_thread_join(threads[i]) != 0) {
            die("join");
        }
    }
    close(fds[0]);
    close(fds[1]);
}
