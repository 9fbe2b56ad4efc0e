/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_CONFIG_H
#define SLUICED_CONFIG_H

/*
 * sluiced's configuration file (docs/config.md), read with libinih. Every key is checked when
 * the file is read: an unknown section or key, a bad value, a name used twice or a reference to
 * an identity or trust store that does not exist is refused with "file:line: reason", and the
 * whole file is refused with it (a reload keeps the old configuration). A configuration is
 * immutable once loaded; SIGHUP swaps in a new one (config_acquire/config_release).
 */

#include "sluiced.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONFIG_DEFAULT_PATH "/etc/sluice/sluiced.conf"
#define CONFIG_ERROR_MAX    512
#define CONFIG_NAME_MAX     64 /* section names: identity, trust, client */

struct identity_store;

struct port_range {
    uint16_t lo;
    uint16_t hi;
};

/* One destination a client may connect to: a host pattern or an address block, and ports. */
struct connect_rule {
    enum { RULE_HOST, RULE_CIDR, RULE_UNIX } kind;
    char *pattern;       /* RULE_HOST: "*.example.com", "db.internal" or "*"; RULE_UNIX: a
                            path pattern, '*' matching any run of characters */
    int family;          /* RULE_CIDR: 4 or 6 */
    uint8_t address[16]; /* RULE_CIDR: network bytes */
    uint8_t prefix;      /* RULE_CIDR: prefix length */
    struct port_range ports;
};

struct config_identity {
    char name[CONFIG_NAME_MAX];
    char *cert_file; /* a PEM chain (leaf first) */
    char *key_file;  /* its PEM private key */
    char *pkcs12_file;
    char *pkcs12_password; /* may be NULL */
    int line;              /* of the section, for errors found when loading the key */
    int key_line;          /* of key_file / pkcs12_file */
};

struct config_trust {
    char name[CONFIG_NAME_MAX];
    char *ca_file;
    char *ca_dir;
    int line;
};

/* What a [client] section grants, beyond which everything is denied. */
struct config_client {
    char name[CONFIG_NAME_MAX];
    int line;
    /* Matching: every key given must match, at least one is given. */
    bool has_uid, has_gid, has_key;
    uid_t uid; /* uid = N or user = NAME (resolved when the file is read) */
    gid_t gid; /* gid = N or group = NAME */
    uint8_t public_key[32];
    /* Grants. */
    struct connect_rule *connect;
    size_t n_connect;
    struct connect_rule *deny; /* address blocks no connection may reach, whatever the name */
    size_t n_deny;
    struct port_range *listen; /* TCP ports */
    size_t n_listen;
    char **listen_unix; /* path patterns a Unix listener may bind */
    size_t n_listen_unix;
    char **identities; /* names, or "*" */
    size_t n_identities;
    char **trust; /* names, or "*" */
    size_t n_trust;
    bool resolve; /* may ask Resolve (default yes) */
    /* Limits: 0 means the daemon's. */
    uint32_t max_channels;
    uint32_t max_listeners;
    uint64_t session_budget;
};

struct sluiced_config {
    atomic_int refs;
    char path[256]; /* "" for the built-in defaults */
    /* [daemon] */
    char socket_path[108]; /* "" : the default rules (sluiced_default_socket) */
    mode_t socket_mode;    /* default 0600: the daemon's user only */
    bool has_socket_group;
    gid_t socket_group;
    unsigned threads;    /* 0: one per CPU */
    char log_level[128]; /* "" : leave as is */
    uint32_t drain_ms;
    struct sluiced_limits limits;
    /* Sections. */
    struct config_identity *identities;
    size_t n_identities;
    struct config_trust *trust;
    size_t n_trust;
    struct config_client *clients;
    size_t n_clients;
    bool from_file; /* false: no file at all, the daemon's own uid may do everything */
    struct identity_store *store; /* the keys, once identities_load ran (identities.c) */
};

/* The built-in configuration (no file): every default, no sections. Errors: SL_E_NOMEM. */
int config_defaults(struct sluiced_config **out);

/*
 * Reads path. On failure err gets "path:line: reason" (or "path: reason" for a file that cannot
 * be read) and the result is SL_E_INVAL (bad content) or -errno (the file).
 */
int config_load(const char *path, struct sluiced_config **out, char *err, size_t err_len);

/* The same from text in memory, named `name` in errors (tests, the fuzzer). */
int config_parse(const char *text, const char *name, struct sluiced_config **out, char *err,
                 size_t err_len);

void config_acquire(struct sluiced_config *c);
void config_release(struct sluiced_config *c);

const struct config_identity *config_find_identity(const struct sluiced_config *c,
                                                   const char *name);
const struct config_trust *config_find_trust(const struct sluiced_config *c, const char *name);

/* A copy with sl_alloc (NULL when out of memory). */
char *config_strdup(const char *s);

/* Value parsers (config_values.c), each false with *why set on bad input. */
bool config_parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out, const char **why);
bool config_parse_size(const char *v, uint64_t min, uint64_t max, uint64_t *out, const char **why);
bool config_parse_bool(const char *v, bool *out, const char **why);
bool config_parse_mode(const char *v, mode_t *out, const char **why);
bool config_parse_ports(const char *v, struct port_range *out, const char **why);
bool config_parse_connect_rule(const char *v, struct connect_rule *out, const char **why);
bool config_parse_public_key(const char *v, uint8_t out[32], const char **why);
/* Splits a comma-separated list in place; empty items are an error. */
bool config_split_list(char *v, char **items, size_t cap, size_t *count, const char **why);

#endif
