/* SPDX-License-Identifier: Apache-2.0 */

/*
 * sluicectl connect: opens a channel through the daemon and bridges stdin and stdout to it, as
 * `socat - TCP:host:port` or `openssl s_client -quiet` would. stdin's end half-closes the
 * channel; the command ends once the peer's direction has ended too, everything reached
 * stdout, and the daemon's Close says how the connection ended.
 */

#include "sluicectl_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * --cafile is sent in the Open frame, which must fit the session's max_frame (at least 64 KiB,
 * 256 KiB by default): 240 KiB leaves room for the rest of the frame and holds a system bundle.
 */
#define MAX_CA_PEM_LEN (240 * 1024)

/* Beyond the daemon's own limits (10 s to connect, 10 s for TLS), in case it never answers. */
#define OPEN_WAIT_MARGIN_MS 5000

struct connect_args {
    struct sl_client_open_options opts;
    const char *target; /* as given, for messages */
    const char *cafile;
    char host[256];
};

/* Static: 240 KiB is too much for a stack, and sluicectl allocates nothing (STYLE.md §5). */
static char s_ca_pem[MAX_CA_PEM_LEN];
static struct ctl_bridge s_bridge;

/*
 * "HOST:PORT", "[V6]:PORT" or "unix:PATH" into a->opts (target, host, port). A name or IPv4
 * address has no ':'; an IPv6 literal goes in brackets, as in a URL (RFC 3986 §3.2.2).
 */
static int parse_target(struct connect_args *a, const char *text)
{
    if (strncmp(text, "unix:", 5) == 0) {
        if (text[5] == '\0' || a->opts.target == SL_CLIENT_TARGET_UDP) {
            return ctl_usage_error("unix: needs a path, and UDP has no Unix target", text);
        }
        a->opts.target = SL_CLIENT_TARGET_UNIX;
        a->opts.host = text + 5;
        return 0;
    }
    const char *colon = strrchr(text, ':');
    if (!colon) {
        return ctl_usage_error("the target is HOST:PORT, [IPV6]:PORT or unix:PATH", text);
    }
    const char *host = text;
    size_t host_len = (size_t)(colon - text);
    if (text[0] == '[') {
        if (host_len < 3 || text[host_len - 1] != ']') {
            return ctl_usage_error("an IPv6 target is [ADDRESS]:PORT", text);
        }
        host++;
        host_len -= 2;
    } else if (memchr(text, ':', host_len)) {
        return ctl_usage_error("an IPv6 address goes in brackets: [ADDRESS]:PORT", text);
    }
    if (host_len == 0 || host_len >= sizeof(a->host)) {
        return ctl_usage_error("the host is empty or too long", text);
    }
    if (!ctl_parse_port(colon + 1, false, &a->opts.port)) {
        return ctl_usage_error("the port is a number from 1 to 65535", colon + 1);
    }
    memcpy(a->host, host, host_len);
    a->host[host_len] = '\0';
    a->opts.host = a->host;
    return 0;
}

/* One option at argv[*i]; returns 0, or EXIT_USAGE after saying why. */
static int parse_option(struct connect_args *a, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *v = NULL;
    if (strcmp(arg, "--tls") == 0) {
        a->opts.tls = true;
    } else if (strcmp(arg, "--insecure") == 0) {
        a->opts.insecure_skip_verify = true;
    } else if (strcmp(arg, "--udp") == 0) {
        a->opts.target = SL_CLIENT_TARGET_UDP;
    } else if (strcmp(arg, "-4") == 0 || strcmp(arg, "-6") == 0) {
        a->opts.family = arg[1] - '0';
    } else if ((v = ctl_option_value("--sni", argc, argv, i))) {
        a->opts.server_name = v;
    } else if ((v = ctl_option_value("--alpn", argc, argv, i))) {
        a->opts.alpn = v;
    } else if ((v = ctl_option_value("--cafile", argc, argv, i))) {
        a->cafile = v;
    } else {
        return ctl_usage_error("unknown or incomplete option for connect", arg);
    }
    return 0;
}

static int parse_args(struct connect_args *a, int argc, char **argv)
{
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            int status = parse_option(a, argc, argv, &i);
            if (status != 0) {
                return status;
            }
        } else if (target) {
            return ctl_usage_error("connect takes one target", argv[i]);
        } else {
            target = argv[i];
        }
    }
    if (!target) {
        return ctl_usage_error("connect needs a target: HOST:PORT, [IPV6]:PORT or unix:PATH", NULL);
    }
    bool tls_options =
        a->opts.server_name || a->opts.alpn || a->cafile || a->opts.insecure_skip_verify;
    if (tls_options && !a->opts.tls) {
        return ctl_usage_error("--sni, --alpn, --cafile and --insecure need --tls", NULL);
    }
    if (a->opts.tls && a->opts.target == SL_CLIENT_TARGET_UDP) {
        return ctl_usage_error("--tls cannot be used with --udp", NULL);
    }
    a->target = target;
    return parse_target(a, target);
}

/* Reads --cafile into s_ca_pem; it is sent as is, and the daemon checks what it holds. */
static int read_cafile(struct connect_args *a)
{
    FILE *f = fopen(a->cafile, "rb");
    if (!f) {
        (void)fprintf(stderr, "sluicectl: --cafile %s: %s\n", a->cafile, strerror(errno));
        return EXIT_USAGE;
    }
    size_t n = fread(s_ca_pem, 1, sizeof(s_ca_pem), f);
    bool failed = ferror(f) != 0;
    bool too_long = !failed && n == sizeof(s_ca_pem) && fgetc(f) != EOF;
    (void)fclose(f); /* read-only: nothing to lose */
    if (failed || too_long || n == 0) {
        (void)fprintf(stderr, "sluicectl: --cafile %s: %s\n", a->cafile,
                      failed     ? "cannot read it"
                      : too_long ? "larger than 240 KiB"
                                 : "empty");
        return EXIT_USAGE;
    }
    a->opts.ca_pem = s_ca_pem;
    a->opts.ca_pem_len = n;
    return 0;
}

static int open_channel(struct sl_client *client, struct connect_args *a, const struct ctl *ctl,
                        struct sl_client_channel **out)
{
    if (ctl->timeout_ms != 0) {
        a->opts.connect_timeout_ms = ctl->timeout_ms;
        a->opts.handshake_timeout_ms = ctl->timeout_ms;
    }
    uint32_t daemon_ms = (a->opts.connect_timeout_ms ? a->opts.connect_timeout_ms : 10000) +
                         (a->opts.handshake_timeout_ms ? a->opts.handshake_timeout_ms : 10000);
    int wait_ms =
        daemon_ms > INT32_MAX - OPEN_WAIT_MARGIN_MS ? -1 : (int)daemon_ms + OPEN_WAIT_MARGIN_MS;
    int rc = sl_client_open(client, &a->opts, wait_ms, out);
    if (rc == 0) {
        return 0;
    }
    char context[300];
    (void)snprintf(context, sizeof(context), "connect %s", a->target);
    ctl_print_failure(context, rc, client);
    if (*out) {
        sl_client_channel_close(*out, true); /* still opening after the wait: give up */
        *out = NULL;
    }
    return ctl_exit_status(client, rc);
}

int ctl_run_connect(const struct ctl *ctl, int argc, char **argv)
{
    struct connect_args a = {.opts = {.target = SL_CLIENT_TARGET_TCP}};
    int status = parse_args(&a, argc, argv);
    if (status == 0 && a.cafile) {
        status = read_cafile(&a);
    }
    if (status != 0) {
        return status;
    }
    struct sl_client *client = NULL;
    status = ctl_connect(ctl, &client);
    if (status != 0) {
        return status;
    }
    struct sl_client_channel *ch = NULL;
    status = open_channel(client, &a, ctl, &ch);
    if (status == 0) {
        char context[300];
        (void)snprintf(context, sizeof(context), "connect %s", a.target);
        ctl_fd_prepare(STDIN_FILENO);
        ctl_fd_prepare(STDOUT_FILENO);
        ctl_bridge_init(&s_bridge, ch, STDIN_FILENO, STDOUT_FILENO, false,
                        a.opts.target == SL_CLIENT_TARGET_UDP);
        status = ctl_bridge_run(client, &s_bridge, -1, context);
        ctl_fd_restore(STDIN_FILENO);
        ctl_fd_restore(STDOUT_FILENO);
        /* A failure on our side resets the connection, so the peer does not take it as whole. */
        sl_client_channel_close(ch, status != 0);
    }
    sl_client_close(client);
    return status;
}
