/* SPDX-License-Identifier: Apache-2.0 */
#include "relay_runs.h"

#include "relay_procs.h"

#include <sluice/clock.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/*
 * 64 KiB per write, for every route: socat copies in blocks of the same size (-b 65536), and
 * a channel write of this much is one Data frame within the default 256 KiB frame limit.
 */
enum { WRITE_SIZE = 64 * 1024, PING_SIZE = 64 };
/* Opening a channel or connecting to a relay that has just started. */
enum { CONNECT_TIMEOUT_MS = 10000 };

static uint8_t s_pattern[WRITE_SIZE];
static char s_last_tls[96];

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/*
 * A relay may have bound its socket but not yet called listen(2) (relay_wait_for_socket does
 * not probe socat or stunnel, which would forward the probe to the sink): retry a refusal.
 */
static int connect_unix(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    for (int waited = 0;; waited += 10) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            relay_die("socket: %s", strerror(errno));
        }
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            return fd;
        }
        int err = errno;
        close(fd);
        if (err != ECONNREFUSED || waited >= CONNECT_TIMEOUT_MS) {
            relay_die("connect to %s: %s", path, strerror(err));
        }
        sleep_ms(10);
    }
}

static int connect_tcp(uint16_t port)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        relay_die("connect to 127.0.0.1:%u: %s", (unsigned)port, strerror(errno));
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static struct sl_client_channel *open_channel(const struct relay_route *route)
{
    struct sl_client_open_options opts = {
        .target = SL_CLIENT_TARGET_TCP,
        .host = "127.0.0.1",
        .port = route->tcp_port,
        .family = 4,
        .tls = route->tls,
        .ca_pem = route->tls ? route->ca_pem : NULL,
        .ca_pem_len = route->tls ? route->ca_pem_len : 0,
    };
    struct sl_client_channel *ch = NULL;
    int rc = sl_client_open(route->client, &opts, CONNECT_TIMEOUT_MS, &ch);
    if (rc != 0) {
        const char *detail = sl_client_error_message(route->client);
        relay_die("sl_client_open to 127.0.0.1:%u%s: %s%s%s", (unsigned)route->tcp_port,
                  route->tls ? " with TLS" : "", sl_client_strerror(rc), *detail ? ": " : "",
                  detail);
    }
    if (route->tls) {
        const struct sl_client_channel_info *info = sl_client_channel_info(ch);
        snprintf(s_last_tls, sizeof(s_last_tls), "%s %s", info->tls_version, info->tls_cipher);
    }
    return ch;
}

static struct relay_stream stream_open(const struct relay_route *route)
{
    struct relay_stream s = {.fd = -1, .ch = NULL};
    if (route->client) {
        s.ch = open_channel(route);
    } else if (route->unix_path) {
        s.fd = connect_unix(route->unix_path);
    } else {
        s.fd = connect_tcp(route->tcp_port);
    }
    return s;
}

static void stream_write_all(struct relay_stream *s, const uint8_t *p, size_t len)
{
    while (len > 0) {
        long n = s->ch ? sl_client_channel_write(s->ch, p, len, -1) : (long)write(s->fd, p, len);
        if (n < 0 && s->fd >= 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            relay_die("write: %s", s->ch ? sl_client_strerror((int)n) : strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
}

static void stream_read_exact(struct relay_stream *s, uint8_t *p, size_t len)
{
    while (len > 0) {
        long n = s->ch ? sl_client_channel_read(s->ch, p, len, -1) : (long)read(s->fd, p, len);
        if (n < 0 && s->fd >= 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            relay_die("read: %s", n == 0  ? "end of stream"
                                  : s->ch ? sl_client_strerror((int)n)
                                          : strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
}

/*
 * Half-closes, waits for the peer to finish and closes. A channel is read to its end (the
 * daemon's Shutdown, after the peer closed) before the peer is joined: the library sends what
 * it still queues only from inside its calls, and a blocking write may return with the tail of
 * its last frame still queued. Reading to the end also leaves the daemon done with the channel
 * before the next measurement.
 */
static void stream_finish(struct relay_stream *s, struct relay_peer *peer)
{
    if (s->fd >= 0) {
        if (shutdown(s->fd, SHUT_WR) != 0) {
            relay_die("half-close: %s", strerror(errno));
        }
        relay_peer_join(peer);
        close(s->fd);
        return;
    }
    int rc = sl_client_channel_shutdown(s->ch);
    if (rc != 0) {
        relay_die("sl_client_channel_shutdown: %s", sl_client_strerror(rc));
    }
    uint8_t buf[256];
    long n;
    while ((n = sl_client_channel_read(s->ch, buf, sizeof(buf), -1)) > 0) {
    }
    if (n != 0 && n != SL_CLIENT_E_CHANNEL_CLOSED) {
        /* The peer has what it needed (relay_peer_join checks): a bad end is only news. */
        fprintf(stderr, "bench_relay: warning: channel ended with %s\n",
                sl_client_strerror((int)n));
    }
    relay_peer_join(peer);
    sl_client_channel_close(s->ch, false);
}

double relay_bulk(const struct relay_route *route, struct relay_peer *sink)
{
    memset(s_pattern, 'p', sizeof(s_pattern));
    relay_peer_start(sink);
    struct relay_stream s = stream_open(route);
    relay_peer_wait_ready(sink);
    uint64_t start_ns = sl_clock_now_ns();
    for (uint64_t sent = 0; sent < sink->total;) {
        uint64_t left = sink->total - sent;
        size_t n = left < WRITE_SIZE ? (size_t)left : WRITE_SIZE;
        stream_write_all(&s, s_pattern, n);
        sent += n;
    }
    stream_finish(&s, sink);
    return (double)sink->total / ((double)(sink->end_ns - start_ns) / 1e9);
}

void relay_rtt(const struct relay_route *route, struct relay_peer *echo, size_t warmup,
               size_t count, double *samples_us)
{
    uint8_t ping[PING_SIZE], pong[PING_SIZE];
    memset(ping, 'q', sizeof(ping));
    relay_peer_start(echo);
    struct relay_stream s = stream_open(route);
    relay_peer_wait_ready(echo);
    for (size_t i = 0; i < warmup + count; i++) {
        uint64_t t0 = sl_clock_now_ns();
        stream_write_all(&s, ping, sizeof(ping));
        stream_read_exact(&s, pong, sizeof(pong));
        uint64_t t1 = sl_clock_now_ns();
        if (i >= warmup) {
            samples_us[i - warmup] = (double)(t1 - t0) / 1e3;
        }
    }
    stream_finish(&s, echo);
}

const char *relay_last_channel_tls(void)
{
    return s_last_tls;
}
