/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_POLICY_H
#define SLUICED_POLICY_H

/*
 * Who may do what (docs/config.md "Policy"). A session is matched against the [client]
 * sections of the configuration in file order; the first whose every match key holds (uid,
 * gid or one of the peer's groups, an authenticated Ed25519 key) grants what it lists, and
 * anything not granted is denied. A configuration without [client] sections (or no file at
 * all) grants everything to the daemon's own uid and nothing to anyone else.
 *
 * Connecting: a name must match a host rule (with the port in its range), an address literal an
 * address block; then every address the name resolves to must lie outside the client's `deny`
 * blocks, so a permitted name cannot lead to a forbidden address.
 */

#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define PEER_GROUPS_MAX 64

/* What the daemon knows of a session's peer. */
struct peer_identity {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    gid_t groups[PEER_GROUPS_MAX]; /* supplementary groups, from /proc/PID/status */
    size_t n_groups;
    bool has_key; /* authenticated with Ed25519 in Hello */
    uint8_t key[32];
};

/* A session's rights under one configuration: valid while that configuration is held. */
struct grant {
    const struct config_client *client; /* NULL with everything */
    bool everything;                    /* the owner without [client] sections */
};

/* Reads SO_PEERCRED and the peer's groups from a connected Unix socket. Errors: -errno. */
int peer_identity_read(int fd, struct peer_identity *out);

/* The session's grant; false when no section matches (the session is refused). */
bool policy_grant(const struct sluiced_config *c, const struct peer_identity *who,
                  struct grant *out);

/* The checks; each false gives a reason for the client (and the log). */
bool policy_may_connect_host(const struct grant *g, const char *host, uint32_t port,
                             const char **why);
bool policy_may_reach_address(const struct grant *g, const char *address);
bool policy_may_connect_unix(const struct grant *g, const char *path, const char **why);
bool policy_may_listen(const struct grant *g, const char *address, uint32_t port, const char **why);
bool policy_may_use_identity(const struct grant *g, const char *name);
bool policy_may_use_trust(const struct grant *g, const char *name);
bool policy_may_resolve(const struct grant *g);
/* The limits that apply: the section's where it sets them, else the daemon's. */
void policy_limits(const struct grant *g, const struct sluiced_limits *daemon,
                   struct sluiced_limits *out);

/* '*' matches any run of characters (dots and slashes included); case-insensitive if asked. */
bool policy_glob(const char *pattern, const char *text, bool fold_case);

#endif
