/* SPDX-License-Identifier: Apache-2.0 */

/*
 * sluiced [--config FILE] [--check-config] [--socket PATH] [--threads N] [--log-level LEVEL]
 *         [--drain-ms N] [--foreground]
 *
 * Listens on a Unix socket and serves sessions (docs/protocol.md). Without --foreground it
 * detaches once it listens (the parent exits 0 then, or 1 if starting failed). SIGTERM and
 * SIGINT stop it gracefully: stop accepting, GoAway to every session, close what is left after
 * the drain deadline, exit 0.
 */

#include "config.h"
#include "identities.h"
#include "notify.h"
#include "socket_path.h"
#include "sluiced.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct args {
    char socket_path[108];
    const char *socket; /* --socket, else $SLUICE_SOCKET; NULL: the config's or the default */
    const char *config; /* --config; NULL: CONFIG_DEFAULT_PATH if it exists */
    bool check_config;
    bool threads_set;
    unsigned threads;
    const char *log_level; /* NULL: the config's, else info */
    bool drain_set;
    uint32_t drain_ms;
    bool foreground;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sluiced [--config FILE] [--check-config] [--socket PATH] [--threads N]\n"
            "               [--log-level LEVEL] [--drain-ms N] [--foreground]\n"
            "  --config FILE     the configuration (default: %s if it exists;\n"
            "                    without one the daemon's own uid may do everything)\n"
            "  --check-config    read the configuration and its keys, report, exit 0 or 2\n"
            "  --socket PATH     where to listen (default: $SLUICE_SOCKET, the config's,\n"
            "                    else %s)\n"
            "  --threads N       event loop threads (default: one per CPU)\n"
            "  --log-level SPEC  e.g. info, or warn,daemon=debug (default: info)\n"
            "  --drain-ms N      how long sessions may finish after SIGTERM (default: 5000)\n"
            "  --foreground      do not detach\n"
            "Command-line options win over the configuration file.\n",
            CONFIG_DEFAULT_PATH, sluiced_default_socket());
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
    *a = (struct args){.drain_ms = 5000};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(arg, "--foreground") == 0) {
            a->foreground = true;
        } else if (strcmp(arg, "--check-config") == 0) {
            a->check_config = true;
        } else if (strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(arg, "--config") == 0 && has_value) {
            a->config = argv[++i];
        } else if (strcmp(arg, "--socket") == 0 && has_value) {
            a->socket = argv[++i];
        } else if (strcmp(arg, "--threads") == 0 && has_value) {
            a->threads = parse_number(arg, argv[++i], 256);
            a->threads_set = true;
        } else if (strcmp(arg, "--log-level") == 0 && has_value) {
            a->log_level = argv[++i];
        } else if (strcmp(arg, "--drain-ms") == 0 && has_value) {
            a->drain_ms = parse_number(arg, argv[++i], 3600u * 1000);
            a->drain_set = true;
        } else {
            fprintf(stderr, "sluiced: unknown or incomplete argument: %s\n", arg);
            usage(stderr);
            exit(2);
        }
    }
    if (!a->socket) {
        a->socket = getenv("SLUICE_SOCKET");
    }
    if (a->socket && !*a->socket) {
        a->socket = NULL;
    }
}

/* The configuration: --config, else the default file if it exists, else built-in. Exit 2. */
static struct sluiced_config *load_config(const struct args *a)
{
    struct sluiced_config *c = NULL;
    char err[CONFIG_ERROR_MAX];
    const char *path = a->config;
    if (!path && access(CONFIG_DEFAULT_PATH, F_OK) == 0) {
        path = CONFIG_DEFAULT_PATH;
    }
    int rc = path ? config_load(path, &c, err, sizeof(err)) : config_defaults(&c);
    if (rc == 0 && path) {
        rc = identities_load(c, err, sizeof(err));
    }
    if (rc < 0) {
        fprintf(stderr, "sluiced: %s\n", path ? err : "out of memory");
        exit(2);
    }
    return c;
}

/* Command line over config file over defaults. */
static void settle(struct args *a, const struct sluiced_config *c)
{
    const char *socket = a->socket           ? a->socket
                         : c->socket_path[0] ? c->socket_path
                                             : sluiced_default_socket();
    if (strlen(socket) >= sizeof(a->socket_path)) {
        fprintf(stderr, "sluiced: socket path too long (at most %zu bytes): %s\n",
                sizeof(a->socket_path) - 1, socket);
        exit(2);
    }
    snprintf(a->socket_path, sizeof(a->socket_path), "%s", socket);
    if (!a->threads_set) {
        a->threads = c->threads;
    }
    if (!a->drain_set) {
        a->drain_ms = c->drain_ms;
    }
    if (!a->log_level) {
        a->log_level = c->log_level[0] ? c->log_level : "info";
    }
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

/* SIGHUP: a new configuration for new sessions and requests; a bad one changes nothing. */
static void reload(struct sluiced *d, const char *path)
{
    if (!path) {
        SL_LOG_INFO(SL_LS_DAEMON, "SIGHUP: no configuration file to reload (started without one)");
        return;
    }
    struct sluiced_config *c = NULL;
    char err[CONFIG_ERROR_MAX];
    int rc = config_load(path, &c, err, sizeof(err));
    if (rc == 0) {
        rc = identities_load(c, err, sizeof(err));
    }
    if (rc < 0) {
        SL_LOG_ERROR(SL_LS_DAEMON, "SIGHUP: keeping the old configuration: %s", err);
        config_release(c);
        return;
    }
    sluiced_config_set(d, c);
    SL_LOG_INFO(SL_LS_DAEMON,
                "SIGHUP: reloaded %s (%zu clients, %zu identities, %zu trust stores); it applies "
                "to new sessions and requests",
                path, c->n_clients, c->n_identities, c->n_trust);
    config_release(c);
}

/* Waits for SIGTERM/SIGINT, reloading on SIGHUP and telling systemd how things are meanwhile. */
static int run_until_stopped(struct sluiced *d, const char *config_path)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        struct timespec tick = notify_interval();
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig < 0) {
            notify_tick(d); /* STATUS=, and WATCHDOG=1 while the loops answer */
            continue;
        }
        if (sig == SIGHUP) {
            notify_reloading(true);
            reload(d, config_path);
            notify_reloading(false);
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
    if (sodium_init() < 0) {
        fprintf(stderr, "sluiced: libsodium cannot start\n");
        return 1;
    }
    identities_init(); /* before any thread: private keys in OpenSSL's locked heap */
    struct sluiced_config *config = load_config(&a);
    if (a.check_config) {
        printf("%s: OK (%zu clients, %zu identities, %zu trust stores)\n",
               config->from_file ? config->path : "built-in defaults", config->n_clients,
               config->n_identities, config->n_trust);
        config_release(config);
        return 0;
    }
    settle(&a, config);
    if (sl_log_configure(a.log_level) < 0) {
        fprintf(stderr, "sluiced: bad log level: %s\n", a.log_level);
        config_release(config);
        return 2;
    }
    int listen_fd = notify_listen_fd(); /* systemd socket activation, or -1 */
    if (listen_fd == -2) {
        fprintf(stderr, "sluiced: systemd passed sockets, but not one listening Unix socket\n");
        config_release(config);
        return 2;
    }
    block_signals();
    int parent = a.foreground ? -1 : detach();
    struct sluiced *d = NULL;
    int rc = sluiced_start(&d, config, a.socket_path, listen_fd, a.threads);
    if (rc < 0) {
        fprintf(stderr, "sluiced: cannot start on %s: %s\n",
                listen_fd > 0 ? "the socket systemd passed" : a.socket_path, sl_strerror(rc));
        tell_parent(parent, 1);
        config_release(config);
        return 1;
    }
    const char *where = listen_fd > 0 ? "the socket systemd passed" : a.socket_path;
    SL_LOG_INFO(SL_LS_DAEMON, "sluiced %s listening on %s", SLUICED_VERSION, where);
    tell_parent(parent, 0);
    notify_ready(d, where);
    const char *config_path = config->from_file ? config->path : NULL;
    char path_copy[sizeof(config->path)];
    snprintf(path_copy, sizeof(path_copy), "%s", config_path ? config_path : "");
    config_release(config);
    int sig = run_until_stopped(d, config_path ? path_copy : NULL);
    SL_LOG_INFO(SL_LS_DAEMON, "%s: stopping (sessions have %u ms)", strsignal(sig), a.drain_ms);
    notify_stopping();
    sluiced_stop(d, a.drain_ms);
    notify_cleanup();
    return 0;
}
