/* SPDX-License-Identifier: Apache-2.0 */

/*
 * sluiced [--socket PATH] [--threads N] [--log-level LEVEL] [--drain-ms N] [--foreground]
 *
 * Listens on a Unix socket and serves sessions (docs/protocol.md). Without --foreground it
 * detaches once it listens (the parent exits 0 then, or 1 if starting failed). SIGTERM and
 * SIGINT stop it gracefully: stop accepting, GoAway to every session, close what is left after
 * the drain deadline, exit 0.
 */

#include "socket_path.h"
#include "sluiced.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct args {
    char socket_path[108];
    unsigned threads;
    const char *log_level;
    uint32_t drain_ms;
    bool foreground;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluiced [--socket PATH] [--threads N] [--log-level LEVEL] "
            "[--drain-ms N] [--foreground]\n"
            "  --socket PATH     where to listen (default: $SLUICE_SOCKET, else %s)\n"
            "  --threads N       event loop threads (default: one per CPU)\n"
            "  --log-level SPEC  e.g. info, or warn,daemon=debug (default: info)\n"
            "  --drain-ms N      how long sessions may finish after SIGTERM (default: "
            "5000)\n"
            "  --foreground      do not detach\n",
            sluiced_default_socket());
}

static unsigned parse_number(const char *flag, const char *text, unsigned max)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || !end || *end || v > max || *text == '-') {
        fprintf(stderr, "sluiced: %s: not a number up to %u: %s\n", flag, max, text);
        exit(2);
    }
    return (unsigned)v;
}

static void parse_args(int argc, char **argv, struct args *a)
{
    *a = (struct args){.log_level = "info", .drain_ms = 5000};
    const char *socket = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(arg, "--foreground") == 0) {
            a->foreground = true;
        } else if (strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(arg, "--socket") == 0 && has_value) {
            socket = argv[++i];
        } else if (strcmp(arg, "--threads") == 0 && has_value) {
            a->threads = parse_number(arg, argv[++i], 256);
        } else if (strcmp(arg, "--log-level") == 0 && has_value) {
            a->log_level = argv[++i];
        } else if (strcmp(arg, "--drain-ms") == 0 && has_value) {
            a->drain_ms = parse_number(arg, argv[++i], 3600u * 1000);
        } else {
            fprintf(stderr, "sluiced: unknown or incomplete argument: %s\n", arg);
            usage(stderr);
            exit(2);
        }
    }
    if (!socket) {
        socket = getenv("SLUICE_SOCKET");
    }
    if (!socket || !*socket) {
        socket = sluiced_default_socket();
    }
    if (strlen(socket) >= sizeof(a->socket_path)) {
        fprintf(stderr, "sluiced: socket path too long (at most %zu bytes): %s\n",
                sizeof(a->socket_path) - 1, socket);
        exit(2);
    }
    snprintf(a->socket_path, sizeof(a->socket_path), "%s", socket);
}

/* Detaching --------------------------------------------------------------------------------------
 */

/* Forks; the parent waits for the child to say it listens and exits with its verdict. */
static int detach(void)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("sluiced: pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("sluiced: fork");
        exit(1);
    }
    if (pid > 0) {
        close(fds[1]);
        char verdict = 1;
        ssize_t n;
        do {
            n = read(fds[0], &verdict, 1);
        } while (n < 0 && errno == EINTR);
        _exit(n == 1 ? verdict : 1);
    }
    close(fds[0]);
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        close(null);
    }
    return fds[1];
}

static void tell_parent(int fd, char verdict)
{
    if (fd >= 0) {
        ssize_t n = write(fd, &verdict, 1);
        (void)n;
        close(fd);
    }
}

/* Running ----------------------------------------------------------------------------------------
 */

static int wait_for_stop_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            SL_LOG_INFO(SL_LS_DAEMON, "SIGHUP: nothing to reload yet (configuration comes with "
                                      "the operations issue)");
            continue;
        }
        return sig;
    }
}

static void block_signals(void)
{
    /* Blocked before any thread starts, so only sigwait in the main thread sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    struct args a;
    parse_args(argc, argv, &a);
    if (sl_log_configure(a.log_level) < 0) {
        fprintf(stderr, "sluiced: bad --log-level: %s\n", a.log_level);
        return 2;
    }
    block_signals();
    int parent = a.foreground ? -1 : detach();
    struct sluiced *d = NULL;
    int rc = sluiced_start(&d, a.socket_path, a.threads);
    if (rc < 0) {
        fprintf(stderr, "sluiced: cannot start on %s: %s\n", a.socket_path, sl_strerror(rc));
        tell_parent(parent, 1);
        return 1;
    }
    SL_LOG_INFO(SL_LS_DAEMON, "sluiced %s listening on %s", SLUICED_VERSION, a.socket_path);
    tell_parent(parent, 0);
    int sig = wait_for_stop_signal();
    SL_LOG_INFO(SL_LS_DAEMON, "%s: stopping (sessions have %u ms)", strsignal(sig), a.drain_ms);
    sluiced_stop(d, a.drain_ms);
    return 0;
}
