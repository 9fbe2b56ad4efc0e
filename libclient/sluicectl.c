/* SPDX-License-Identifier: Apache-2.0 */

/*
 * sluicectl: the command-line client of sluiced (issue 7), built on libsluice-client only.
 *
 * Each command is a row of s_commands: it parses its own arguments, then connects through
 * ctl_connect, so a usage error never needs a daemon. Exit status, the same for every command:
 * 0 success, 1 usage error, 2 the daemon cannot be reached or broke the session, 3 the
 * operation itself failed (a name not found, a refused connection, ...), with one line on
 * stderr saying why. connect, listen and stats have files of their own (sluicectl_*.c).
 */

#include "sluicectl_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ADDRESSES 64

typedef int command_run_fn(const struct ctl *ctl, int argc, char **argv);

struct command {
    const char *name;
    const char *args;    /* for the usage line, after the name */
    const char *summary; /* for --help */
    command_run_fn *run; /* argv[0] is the command's name; returns the exit status */
};

static int run_ping(const struct ctl *ctl, int argc, char **argv);
static int run_resolve(const struct ctl *ctl, int argc, char **argv);
static int run_keygen(const struct ctl *ctl, int argc, char **argv);

static const struct command s_commands[] = {
    {"ping", "", "round trip to the daemon", run_ping},
    {"resolve", "[-4|-6] HOST", "resolve HOST through the daemon's caching resolver", run_resolve},
    {"connect", "[OPTIONS] TARGET", "bridge stdin/stdout to a connection the daemon makes",
     ctl_run_connect},
    {"listen", "[--once] [ADDR:]PORT [-- CMD...]", "accept connections through the daemon",
     ctl_run_listen},
    {"stats", "[--json]", "the daemon's totals and this session's channels", ctl_run_stats},
    {"keygen", "FILE", "write an Ed25519 key pair: FILE (secret) and FILE.pub", run_keygen},
};

/* Helpers ------------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    const char *default_path = sl_client_default_socket();
    (void)fprintf(out, "usage: sluicectl [--socket PATH] [--timeout MS] [--key FILE] COMMAND "
                       "[ARGS...]\n"
                       "       sluicectl --help\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(s_commands) / sizeof(s_commands[0]); i++) {
        char line[64];
        (void)snprintf(line, sizeof(line), "%s %s", s_commands[i].name, s_commands[i].args);
        /* A long usage gets a line of its own, so the summaries stay in one column. */
        if (strlen(line) > 22) {
            (void)fprintf(out, "  %s\n", line);
            line[0] = '\0';
        }
        (void)fprintf(out, "  %-22s %s\n", line, s_commands[i].summary);
    }
    (void)fprintf(out,
                  "\nconnect TARGET: HOST:PORT, [IPV6]:PORT or unix:PATH; options:\n"
                  "  --tls                  TLS, the daemon being the client (verifies the peer)\n"
                  "  --sni NAME             the name sent and checked (default: HOST)\n"
                  "  --alpn LIST            protocols to offer, e.g. h2,http/1.1\n"
                  "  --cafile FILE          trust only the CA certificates in FILE (PEM)\n"
                  "  --insecure             do not verify the certificate\n"
                  "  --udp                  a UDP channel: each read of stdin is one datagram\n"
                  "  -4, -6                 that address family only\n"
                  "\nlisten prints \"listening on ADDRESS\" on stderr; --once bridges the first\n"
                  "connection to stdin/stdout; -- CMD runs CMD for each connection, its stdin and\n"
                  "stdout bridged to it, until SIGINT or SIGTERM.\n"
                  "\noptions:\n"
                  "  --socket PATH          the daemon's socket (default: %s)\n"
                  "  --timeout MS           for connecting and for each request (default: %u)\n"
                  "  --key FILE             authenticate with this Ed25519 key (see keygen)\n"
                  "  -h, --help             this text\n"
                  "\nexit status: 0 success, 1 usage error, 2 the daemon cannot be reached,\n"
                  "3 the operation failed.\n",
                  default_path ? default_path : "none: XDG_RUNTIME_DIR is unset",
                  SL_CLIENT_DEFAULT_TIMEOUT_MS);
}

int ctl_usage_error(const char *what, const char *arg)
{
    (void)fprintf(stderr, "sluicectl: %s%s%s (see sluicectl --help)\n", what, arg ? ": " : "",
                  arg ? arg : "");
    return EXIT_USAGE;
}

void ctl_print_failure(const char *context, int rc, const struct sl_client *client)
{
    const char *detail = client ? sl_client_error_message(client) : "";
    (void)fprintf(stderr, "sluicectl: %s: %s%s%s%s\n", context, sl_client_strerror(rc),
                  detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
}

int ctl_connect(const struct ctl *ctl, struct sl_client **out)
{
    char detail[256] = "";
    struct sl_client_options opts = {
        .socket_path = ctl->socket_path,
        .client_name = "sluicectl",
        .timeout_ms = ctl->timeout_ms,
        .key_file = ctl->key_file,
        .error_buf = detail,
        .error_buf_len = sizeof(detail),
    };
    const char *path = ctl->socket_path ? ctl->socket_path : sl_client_default_socket();
    if (!path) {
        (void)fprintf(stderr, "sluicectl: cannot reach sluiced: no default socket path "
                              "(XDG_RUNTIME_DIR is unset); use --socket PATH or SLUICE_SOCKET\n");
        return EXIT_UNREACHABLE;
    }
    int rc = sl_client_connect(&opts, out);
    if (rc < 0) {
        (void)fprintf(stderr, "sluicectl: cannot reach sluiced at %s: %s%s%s%s\n", path,
                      sl_client_strerror(rc), detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
        return EXIT_UNREACHABLE;
    }
    return 0;
}

int ctl_exit_status(const struct sl_client *client, int rc)
{
    /* A session that ended is the daemon's failure; a failed request or a timeout is ours. */
    if (rc == SL_CLIENT_E_INVAL) {
        return EXIT_USAGE;
    }
    return sl_client_fault(client) < 0 ? EXIT_UNREACHABLE : EXIT_FAILED;
}

bool ctl_parse_port(const char *text, bool allow_zero, uint16_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || end == text || *end != '\0' || text[0] < '0' || text[0] > '9' || v > 65535 ||
        (v == 0 && !allow_zero)) {
        return false;
    }
    *out = (uint16_t)v;
    return true;
}

/* Commands ------------------------------------------------------------------------------------- */

static int run_ping(const struct ctl *ctl, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        return ctl_usage_error("ping takes no arguments", NULL);
    }
    struct sl_client *client = NULL;
    int status = ctl_connect(ctl, &client);
    if (status != 0) {
        return status;
    }
    uint64_t rtt_ns = 0;
    int rc = sl_client_ping(client, ctl->timeout_ms, &rtt_ns);
    if (rc < 0) {
        ctl_print_failure("ping", rc, client);
        status = EXIT_UNREACHABLE; /* a daemon that does not answer a ping is not reachable */
    } else {
        (void)printf("pong from %s in %" PRIu64 " us\n", sl_client_daemon_name(client),
                     (rtt_ns + 500) / 1000);
    }
    sl_client_close(client);
    return status;
}

static int resolve_and_print(const char *host, int family, const struct ctl *ctl)
{
    struct sl_client *client = NULL;
    int status = ctl_connect(ctl, &client);
    if (status != 0) {
        return status;
    }
    struct sl_client_address addrs[MAX_ADDRESSES];
    size_t count = 0;
    int rc = sl_client_resolve(client, host, family, ctl->timeout_ms, addrs, MAX_ADDRESSES, &count);
    if (rc < 0) {
        char context[300];
        (void)snprintf(context, sizeof(context), "resolve %s", host);
        ctl_print_failure(context, rc, client);
        status = ctl_exit_status(client, rc);
    }
    for (size_t i = 0; i < count; i++) {
        (void)printf("%s ttl %" PRIu32 "\n", addrs[i].address, addrs[i].ttl_s);
    }
    sl_client_close(client);
    return status;
}

static int run_resolve(const struct ctl *ctl, int argc, char **argv)
{
    int family = 0;
    const char *host = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-4") == 0 || strcmp(argv[i], "-6") == 0) {
            family = argv[i][1] - '0';
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return ctl_usage_error("unknown option for resolve", argv[i]);
        } else if (host) {
            return ctl_usage_error("resolve takes one HOST", argv[i]);
        } else {
            host = argv[i];
        }
    }
    if (!host) {
        return ctl_usage_error("resolve needs a HOST", NULL);
    }
    return resolve_and_print(host, family, ctl);
}

/* Main ------------------------------------------------------------------------------------- */

static bool parse_timeout(const char *text, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || end == text || *end != '\0' || text[0] == '-' || v == 0 || v > UINT32_MAX) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

const char *ctl_option_value(const char *name, int argc, char **argv, int *i)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) {
        return NULL;
    }
    if (argv[*i][n] == '=') {
        return argv[*i] + n + 1;
    }
    if (argv[*i][n] == '\0' && *i + 1 < argc && argv[*i + 1]) {
        *i += 1;
        return argv[*i];
    }
    return NULL;
}

/* keygen FILE: no daemon needed. */
static int run_keygen(const struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    if (argc != 2) {
        return ctl_usage_error("keygen takes one FILE", NULL);
    }
    int rc = sl_client_keygen(argv[1]);
    if (rc < 0) {
        (void)fprintf(stderr, "sluicectl: keygen %s: %s\n", argv[1], sl_client_strerror(rc));
        return EXIT_FAILED;
    }
    (void)printf("wrote %s (secret, mode 0600) and %s.pub: put this line in the daemon's "
                 "[client] section:\npublic_key = ",
                 argv[1], argv[1]);
    char pub_path[4200];
    (void)snprintf(pub_path, sizeof(pub_path), "%s.pub", argv[1]);
    FILE *f = fopen(pub_path, "r");
    char line[128] = "";
    if (f && fgets(line, sizeof(line), f)) {
        (void)fputs(line, stdout);
    }
    if (f) {
        (void)fclose(f);
    }
    return 0;
}

/*
 * Parses the options before the command into *ctl and sets *next to the command's index.
 * Returns -1 to go on, or the exit status to end with (--help, a usage error).
 */
static int parse_global_options(int argc, char **argv, struct ctl *ctl, int *next)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if ((v = ctl_option_value("--socket", argc, argv, &i))) {
            ctl->socket_path = v;
        } else if ((v = ctl_option_value("--key", argc, argv, &i))) {
            ctl->key_file = v;
        } else if (!(v = ctl_option_value("--timeout", argc, argv, &i))) {
            return ctl_usage_error("unknown or incomplete option", argv[i]);
        } else if (!parse_timeout(v, &ctl->timeout_ms)) {
            return ctl_usage_error("--timeout needs milliseconds above 0", v);
        }
    }
    *next = i;
    return -1;
}

static const struct command *find_command(const char *name)
{
    for (size_t c = 0; c < sizeof(s_commands) / sizeof(s_commands[0]); c++) {
        if (strcmp(name, s_commands[c].name) == 0) {
            return &s_commands[c];
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {0};
    int i = 0;
    int status = parse_global_options(argc, argv, &ctl, &i);
    if (status >= 0) {
        return status;
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const struct command *cmd = find_command(argv[i]);
    if (!cmd) {
        return ctl_usage_error("unknown command", argv[i]);
    }
    /*
     * A reader that went away (stdout or a listen command's child) is a failed write, handled
     * where it happens, not a signal that kills the process mid-way.
     */
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    (void)sigaction(SIGPIPE, &ignore, NULL); /* cannot fail for SIGPIPE */
    status = cmd->run(&ctl, argc - i, argv + i);
    /* Output that did not reach stdout (a full disk, a closed pipe) is a failure too. */
    if (fflush(stdout) != 0 && status == 0) {
        (void)fprintf(stderr, "sluicectl: writing the output failed: %s\n", strerror(errno));
        status = EXIT_FAILED;
    }
    return status;
}
