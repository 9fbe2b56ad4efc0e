/* SPDX-License-Identifier: Apache-2.0 */

/* sched_setaffinity, CPU_SET and F_SETPIPE_SZ are Linux extensions. */
#define _GNU_SOURCE

#include "s_time_driver.h"

#include <sluice/clock.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_tls: %s: %s\n", what, why ? why : "");
    exit(1);
}

/*
 * The children would inherit the main thread's affinity, which is every CPU; pin them by pid
 * to the CPU of the loop they stand in for. The first milliseconds of start-up may run
 * elsewhere, which the timing below leaves out anyway.
 */
static void pin_child(pid_t pid, int cpu)
{
    if (cpu < 0) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(pid, sizeof(set), &set) != 0) {
        fprintf(stderr, "warning: cannot pin openssl (pid %d) to CPU %d: %s\n", (int)pid, cpu,
                strerror(errno));
    }
}

/*
 * s_time writes and flushes one mark per connection while we sleep in waitid; a full pipe
 * would stall it. 64 KiB already holds 16,000 marks a second for four seconds; 1 MiB (Linux's
 * default pipe-max-size) makes sure. Best effort: a refusal leaves the 64 KiB.
 */
static void widen_pipe(int fd)
{
    (void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

void s_server_start(struct s_server *server, const struct tls_cert_pair *pair, int cpu)
{
    const char *const argv[] = {"-cert", pair->cert, "-key", pair->key, "-www", NULL};
    char why[512];
    if (!openssl_peer_start_server(&server->peer, argv, &server->port, 10000, why, sizeof(why))) {
        die("openssl s_server", why);
    }
    pin_child(server->peer.pid, cpu);
    widen_pipe(server->peer.stdout_fd);
    widen_pipe(server->peer.stderr_fd);
}

void s_server_stop(struct s_server *server)
{
    /* s_server -www never exits by itself: stop kills it. */
    (void)openssl_peer_stop(&server->peer, 0);
    openssl_peer_free(&server->peer);
}

/* Sleeps until the child exits; WNOWAIT leaves it for openssl_peer_stop to reap. */
static void wait_for_exit(pid_t pid)
{
    siginfo_t info;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) != 0) {
        if (errno != EINTR) {
            die("waitid", strerror(errno));
        }
    }
}

/*
 * After the marker come one mark per connection ('r' resumed, '*' new), then
 * "\n\nN connections in T real seconds, B bytes read per connection".
 */
static bool parse(const char *text, const char *marker, struct s_time_result *r)
{
    const char *marks = text ? strstr(text, marker) : NULL;
    const char *line = text ? strstr(text, " real seconds") : NULL;
    if (!marks || !line) {
        return false;
    }
    size_t n = 0, resumed = 0;
    for (const char *p = marks + strlen(marker); *p && *p != '\n'; p++) {
        n++;
        resumed += *p == 'r';
    }
    while (line > text && line[-1] != '\n') {
        line--;
    }
    if (sscanf(line, "%ld connections in %ld real seconds, %ld bytes read per connection",
               &r->count, &r->real_s, &r->bytes_per_conn) != 3) {
        return false;
    }
    r->resumed_share = n ? (double)resumed / (double)n : 0;
    return r->count > 0;
}

/*
 * Timing. s_time's own "N connections in T real seconds" counts T in whole seconds of
 * time(NULL), and its loop runs until the first whole second after start + seconds, so T can
 * be off by most of a second (a third, at -time 3). We keep its N and time the loop ourselves:
 * from its first output, which stdout's buffering holds back until the first connection's mark
 * is flushed, until it exits, which adds only the printing of two lines. Start-up (loading
 * libssl, the CA file) is left out, as it is outside s_time's loop.
 */
void s_time_run(const struct s_time_options *o, struct s_time_result *out)
{
    char connect[32], seconds[16];
    snprintf(connect, sizeof(connect), "127.0.0.1:%d", o->port);
    snprintf(seconds, sizeof(seconds), "%d", o->seconds);
    const char *const argv[] = {"s_time",  "-connect", connect, o->reuse ? "-reuse" : "-new",
                                "-time",   seconds,    "-www",  "/",
                                "-CAfile", o->ca_file, NULL};
    const char *marker = o->reuse ? "starting\n" : " seconds\n";
    struct openssl_peer peer;
    char why[512];
    if (!openssl_peer_start(&peer, argv, why, sizeof(why))) {
        die("openssl s_time", why);
    }
    pin_child(peer.pid, o->cpu);
    widen_pipe(peer.stdout_fd);
    widen_pipe(peer.stderr_fd);
    if (!openssl_peer_wait_for(&peer, marker, false, 10000)) {
        die("openssl s_time did not start", peer.err);
    }
    uint64_t start_ns = sl_clock_now_ns();
    wait_for_exit(peer.pid);
    uint64_t end_ns = sl_clock_now_ns();
    int status = openssl_peer_stop(&peer, 5000);
    if (status != 0 || !parse(peer.out, marker, out)) {
        fprintf(stderr, "bench_tls: s_time exited with %d; its output:\n%s\n%s\n", status,
                peer.out ? peer.out : "", peer.err ? peer.err : "");
        exit(1);
    }
    out->per_s = (double)out->count * 1e9 / (double)(end_ns - start_ns);
    openssl_peer_free(&peer);
}
