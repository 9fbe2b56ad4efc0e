/* SPDX-License-Identifier: Apache-2.0 */

/*
 * sluicectl stats: the daemon's totals and this session's channels (docs/protocol.md §8), as a
 * table for people or, with --json, as one JSON object for scripts. sluicectl's session is new,
 * so its channel list is normally empty; it is printed all the same, as the daemon sent it.
 */

#include "sluicectl_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A JSON string (RFC 8259 §7): quotes, backslashes and control characters escaped. */
static void print_json_string(const char *s)
{
    (void)putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            (void)printf("\\%c", *p);
        } else if (*p < 0x20) {
            (void)printf("\\u%04x", *p);
        } else {
            (void)putchar(*p);
        }
    }
    (void)putchar('"');
}

static void print_json_channel(const struct sl_client_channel_stats *c)
{
    (void)printf("{\"channel_id\":%" PRIu32 ",\"remote_address\":", c->channel_id);
    print_json_string(c->remote_address);
    (void)printf(",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"send_window\":%" PRIu32
                 ",\"receive_window\":%" PRIu32 ",\"state\":",
                 c->bytes_in, c->bytes_out, c->send_window, c->receive_window);
    print_json_string(c->state);
    (void)putchar('}');
}

static void print_json(const struct sl_client_stats *st)
{
    (void)printf("{\"sessions\":%" PRIu64 ",\"channels\":%" PRIu64 ",\"listeners\":%" PRIu64
                 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"uptime_s\":%" PRIu64
                 ",\"session_channels\":[",
                 st->sessions, st->channels, st->listeners, st->bytes_in, st->bytes_out,
                 st->uptime_s);
    for (size_t i = 0; i < st->channel_count; i++) {
        if (i > 0) {
            (void)putchar(',');
        }
        print_json_channel(&st->session[i]);
    }
    (void)printf("]}\n");
}

static void print_table(const struct sl_client_stats *st, const struct sl_client *client)
{
    (void)printf("daemon %s, up %" PRIu64 " s\n"
                 "  sessions   %" PRIu64 "\n"
                 "  channels   %" PRIu64 "\n"
                 "  listeners  %" PRIu64 "\n"
                 "  bytes in   %" PRIu64 "  (network to clients)\n"
                 "  bytes out  %" PRIu64 "  (clients to network)\n",
                 sl_client_daemon_name(client), st->uptime_s, st->sessions, st->channels,
                 st->listeners, st->bytes_in, st->bytes_out);
    (void)printf("session %" PRIu64 ": %zu channel%s\n", sl_client_session_id(client),
                 st->channel_count, st->channel_count == 1 ? "" : "s");
    if (st->channel_count == 0) {
        return;
    }
    (void)printf("  %-10s %-12s %-40s %12s %12s %10s %10s\n", "ID", "STATE", "REMOTE", "BYTES IN",
                 "BYTES OUT", "SEND WIN", "RECV WIN");
    for (size_t i = 0; i < st->channel_count; i++) {
        const struct sl_client_channel_stats *c = &st->session[i];
        (void)printf("  %-10" PRIu32 " %-12s %-40s %12" PRIu64 " %12" PRIu64 " %10" PRIu32
                     " %10" PRIu32 "\n",
                     c->channel_id, c->state, c->remote_address[0] ? c->remote_address : "-",
                     c->bytes_in, c->bytes_out, c->send_window, c->receive_window);
    }
}

int ctl_run_stats(const struct ctl *ctl, int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            return ctl_usage_error("stats takes only --json", argv[i]);
        }
    }
    struct sl_client *client = NULL;
    int status = ctl_connect(ctl, &client);
    if (status != 0) {
        return status;
    }
    struct sl_client_stats st;
    memset(&st, 0, sizeof(st));
    int rc = sl_client_stats(client, ctl->timeout_ms, &st);
    if (rc < 0) {
        ctl_print_failure("stats", rc, client);
        /* A daemon that does not answer is as good as unreachable (as for ping). */
        status = rc == -ETIMEDOUT ? EXIT_UNREACHABLE : ctl_exit_status(client, rc);
    } else {
        if (json) {
            print_json(&st);
        } else {
            print_table(&st, client);
        }
        sl_client_stats_free(&st);
    }
    sl_client_close(client);
    return status;
}
