/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* struct ucred, SO_PEERCRED */

#include "policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The peer --------------------------------------------------------------------------------------
 */

/* The "Groups:" line of /proc/PID/status: what SO_PEERCRED does not tell. */
static void read_groups(struct peer_identity *who)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)who->pid);
    FILE *f = fopen(path, "re");
    if (!f) {
        return; /* gone already: its primary gid is all we know */
    }
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Groups:", 7) != 0) {
            continue;
        }
        char *p = line + 7;
        while (who->n_groups < PEER_GROUPS_MAX) {
            char *end = NULL;
            unsigned long g = strtoul(p, &end, 10);
            if (end == p) {
                break;
            }
            who->groups[who->n_groups++] = (gid_t)g;
            p = end;
        }
        break;
    }
    fclose(f);
}

int peer_identity_read(int fd, struct peer_identity *out)
{
    memset(out, 0, sizeof(*out));
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return -errno;
    }
    out->pid = cred.pid;
    out->uid = cred.uid;
    out->gid = cred.gid;
    read_groups(out);
    return 0;
}

/* Matching --------------------------------------------------------------------------------------
 */

static bool in_group(const struct peer_identity *who, gid_t gid)
{
    if (who->gid == gid) {
        return true;
    }
    for (size_t i = 0; i < who->n_groups; i++) {
        if (who->groups[i] == gid) {
            return true;
        }
    }
    return false;
}

static bool matches(const struct config_client *cl, const struct peer_identity *who)
{
    if (cl->has_uid && cl->uid != who->uid) {
        return false;
    }
    if (cl->has_gid && !in_group(who, cl->gid)) {
        return false;
    }
    if (cl->has_key && (!who->has_key || memcmp(cl->public_key, who->key, 32) != 0)) {
        return false;
    }
    return cl->has_uid || cl->has_gid || cl->has_key;
}

bool policy_grant(const struct sluiced_config *c, const struct peer_identity *who,
                  struct grant *out)
{
    *out = (struct grant){0};
    if (c->n_clients == 0) {
        out->everything = who->uid == geteuid(); /* the quick start: the owner only */
        return out->everything;
    }
    for (size_t i = 0; i < c->n_clients; i++) {
        if (matches(&c->clients[i], who)) {
            out->client = &c->clients[i];
            return true;
        }
    }
    return false;
}

bool policy_glob(const char *pattern, const char *text, bool fold_case)
{
    const char *star = NULL, *resume = NULL;
    while (*text) {
        char a = fold_case ? (char)tolower((unsigned char)*pattern) : *pattern;
        char b = fold_case ? (char)tolower((unsigned char)*text) : *text;
        if (*pattern == '*') {
            star = pattern++;
            resume = text;
        } else if (*pattern && a == b) {
            pattern++;
            text++;
        } else if (star) {
            pattern = star + 1; /* let the star take one more character */
            text = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*') {
        pattern++;
    }
    return *pattern == '\0';
}

/* Addresses -------------------------------------------------------------------------------------
 */

static bool parse_ip(const char *text, int *family, uint8_t bytes[16])
{
    if (inet_pton(AF_INET, text, bytes) == 1) {
        *family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, text, bytes) == 1) {
        *family = 6;
        return true;
    }
    return false;
}

static bool in_block(const struct connect_rule *r, int family, const uint8_t bytes[16])
{
    if (r->kind != RULE_CIDR || r->family != family) {
        return false;
    }
    unsigned full = r->prefix / 8, rest = r->prefix % 8;
    if (memcmp(r->address, bytes, full) != 0) {
        return false;
    }
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return rest == 0 || (r->address[full] & mask) == (bytes[full] & mask);
}

/* An IPv4-mapped IPv6 address is judged as the IPv4 address it is. */
static void unmap(int *family, uint8_t bytes[16])
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (*family == 6 && memcmp(bytes, prefix, 12) == 0) {
        memmove(bytes, bytes + 12, 4);
        *family = 4;
    }
}

bool policy_may_reach_address(const struct grant *g, const char *address)
{
    if (g->everything) {
        return true;
    }
    int family;
    uint8_t bytes[16] = {0};
    if (!parse_ip(address, &family, bytes)) {
        return false;
    }
    unmap(&family, bytes);
    for (size_t i = 0; i < g->client->n_deny; i++) {
        if (in_block(&g->client->deny[i], family, bytes)) {
            return false;
        }
    }
    return true;
}

bool policy_may_connect_host(const struct grant *g, const char *host, uint32_t port,
                             const char **why)
{
    *why = "";
    if (g->everything) {
        return true;
    }
    int family;
    uint8_t bytes[16] = {0};
    bool literal = parse_ip(host, &family, bytes);
    if (literal) {
        unmap(&family, bytes);
    }
    const struct config_client *cl = g->client;
    for (size_t i = 0; i < cl->n_connect; i++) {
        const struct connect_rule *r = &cl->connect[i];
        if (port < r->ports.lo || port > r->ports.hi) {
            continue;
        }
        bool hit = literal ? in_block(r, family, bytes)
                           : r->kind == RULE_HOST && policy_glob(r->pattern, host, true);
        if (hit) {
            if (literal && !policy_may_reach_address(g, host)) {
                break; /* granted by a block, but inside a denied one */
            }
            return true;
        }
    }
    *why = literal ? "the policy grants no connection to that address and port"
                   : "the policy grants no connection to that name and port";
    return false;
}

bool policy_may_connect_unix(const struct grant *g, const char *path, const char **why)
{
    *why = "";
    if (g->everything) {
        return true;
    }
    for (size_t i = 0; i < g->client->n_connect; i++) {
        const struct connect_rule *r = &g->client->connect[i];
        if (r->kind == RULE_UNIX && policy_glob(r->pattern, path, false)) {
            return true;
        }
    }
    *why = "the policy grants no connection to that Unix socket";
    return false;
}

bool policy_may_listen(const struct grant *g, const char *address, uint32_t port, const char **why)
{
    *why = "";
    if (g->everything) {
        return true;
    }
    const struct config_client *cl = g->client;
    bool local = address && (address[0] == '/' || address[0] == '@');
    for (size_t i = 0; local && i < cl->n_listen_unix; i++) {
        if (policy_glob(cl->listen_unix[i], address, false)) {
            return true;
        }
    }
    for (size_t i = 0; !local && i < cl->n_listen; i++) {
        /* Port 0 (the system picks) needs a grant of every port. */
        uint32_t lo = port ? port : 1, hi = port ? port : 65535;
        if (cl->listen[i].lo <= lo && hi <= cl->listen[i].hi) {
            return true;
        }
    }
    *why = local ? "the policy grants no listener on that path"
                 : "the policy grants no listener on that port";
    return false;
}

static bool named(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], "*") == 0 || strcmp(names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

bool policy_may_use_identity(const struct grant *g, const char *name)
{
    return g->everything || named(g->client->identities, g->client->n_identities, name);
}

bool policy_may_use_trust(const struct grant *g, const char *name)
{
    return g->everything || named(g->client->trust, g->client->n_trust, name);
}

bool policy_may_resolve(const struct grant *g)
{
    return g->everything || g->client->resolve;
}

void policy_limits(const struct grant *g, const struct sluiced_limits *daemon,
                   struct sluiced_limits *out)
{
    *out = *daemon;
    if (!g->client) {
        return;
    }
    if (g->client->max_channels) {
        out->max_channels = g->client->max_channels;
    }
    if (g->client->max_listeners) {
        out->max_listeners = g->client->max_listeners;
    }
    if (g->client->session_budget) {
        out->session_budget = g->client->session_budget;
    }
}
