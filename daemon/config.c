/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"
#include "identities.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * Reading the file: libinih splits it into (section, key, value); we count the lines it reads
 * (our own reader), so every error names its line. The first error wins and the rest of the
 * file is only skimmed.
 */

#define MAX_LIST 64 /* items in one list line */

enum section_kind { SEC_NONE, SEC_DAEMON, SEC_LIMITS, SEC_IDENTITY, SEC_TRUST, SEC_CLIENT };

struct parser {
    struct sluiced_config *c;
    const char *name;
    int line;
    bool failed;
    char *err;
    size_t err_len;
    char section[CONFIG_NAME_MAX + 16]; /* as written, to see a new one begin */
    enum section_kind kind;
    uint64_t seen; /* keys set in this section: a second time is an error */
    bool daemon_seen, limits_seen;
    /* The text reader. */
    const char *text;
    size_t pos;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p, const char *fmt, ...)
{
    if (!p->failed) {
        p->failed = true;
        /* Line 0: about the file as a whole (two keys that disagree). */
        int n = p->line > 0 ? snprintf(p->err, p->err_len, "%s:%d: ", p->name, p->line)
                            : snprintf(p->err, p->err_len, "%s: ", p->name);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < p->err_len) {
            vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
        }
        va_end(ap);
    }
    return 0; /* libinih: an error on this line */
}

/* Sections --------------------------------------------------------------------------------------
 */

static bool name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len >= CONFIG_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char)n[i]) && !strchr("_.-", n[i])) {
            return false;
        }
    }
    return true;
}

/* Grows *items (of size elem) by one zeroed element; NULL when out of memory. */
static void *grow(void **items, size_t *count, size_t elem)
{
    void *bigger = sl_realloc(*items, (*count + 1) * elem);
    if (!bigger) {
        return NULL;
    }
    *items = bigger;
    void *fresh = (char *)bigger + *count * elem;
    memset(fresh, 0, elem);
    (*count)++;
    return fresh;
}

static int begin_named(struct parser *p, enum section_kind kind, const char *name)
{
    struct sluiced_config *c = p->c;
    if (!name_ok(name)) {
        return fail(p, "section names are 1 to 63 letters, digits, '_', '.' or '-': \"%s\"", name);
    }
    bool taken = (kind == SEC_IDENTITY && config_find_identity(c, name)) ||
                 (kind == SEC_TRUST && config_find_trust(c, name));
    for (size_t i = 0; kind == SEC_CLIENT && i < c->n_clients; i++) {
        taken = taken || strcmp(c->clients[i].name, name) == 0;
    }
    if (taken) {
        return fail(p, "a second section named \"%s\"", name);
    }
    char *dst = NULL;
    if (kind == SEC_IDENTITY) {
        struct config_identity *id = grow((void **)&c->identities, &c->n_identities, sizeof(*id));
        dst = id ? id->name : NULL;
        if (id) {
            id->line = p->line;
        }
    } else if (kind == SEC_TRUST) {
        struct config_trust *t = grow((void **)&c->trust, &c->n_trust, sizeof(*t));
        dst = t ? t->name : NULL;
        if (t) {
            t->line = p->line;
        }
    } else {
        struct config_client *cl = grow((void **)&c->clients, &c->n_clients, sizeof(*cl));
        dst = cl ? cl->name : NULL;
        if (cl) {
            cl->line = p->line;
            cl->resolve = true;
        }
    }
    if (!dst) {
        return fail(p, "out of memory");
    }
    snprintf(dst, CONFIG_NAME_MAX, "%s", name);
    return 1;
}

/* A new [section]: what kind, and a fresh element for the named ones. */
static int begin_section(struct parser *p, const char *section)
{
    snprintf(p->section, sizeof(p->section), "%s", section);
    p->seen = 0;
    static const struct {
        const char *prefix;
        enum section_kind kind;
    } named[] = {{"identity ", SEC_IDENTITY}, {"trust ", SEC_TRUST}, {"client ", SEC_CLIENT}};
    if (strcmp(section, "daemon") == 0 || strcmp(section, "limits") == 0) {
        p->kind = section[0] == 'd' ? SEC_DAEMON : SEC_LIMITS;
        bool *seen = p->kind == SEC_DAEMON ? &p->daemon_seen : &p->limits_seen;
        if (*seen) {
            return fail(p, "a second [%s] section", section);
        }
        *seen = true;
        return 1;
    }
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        size_t n = strlen(named[i].prefix);
        if (strncmp(section, named[i].prefix, n) == 0) {
            p->kind = named[i].kind;
            return begin_named(p, named[i].kind, section + n);
        }
    }
    p->kind = SEC_NONE;
    return fail(p, "unknown section [%s] (daemon, limits, identity NAME, trust NAME, client NAME)",
                section);
}

/* Keys --------------------------------------------------------------------------------------------
 */

/* Marks key number `bit` of this section set; false (and the error) the second time. */
static bool once(struct parser *p, unsigned bit, const char *key)
{
    if (p->seen & ((uint64_t)1 << bit)) {
        fail(p, "%s is set twice in [%s]", key, p->section);
        return false;
    }
    p->seen |= (uint64_t)1 << bit;
    return true;
}

static int set_u32(struct parser *p, const char *key, const char *v, uint64_t min, uint64_t max,
                   uint32_t *out, bool size)
{
    uint64_t n;
    const char *why = "";
    if (size ? !config_parse_size(v, min, max, &n, &why)
             : !config_parse_u64(v, min, max, &n, &why)) {
        return fail(p, "%s = %s: %s (%llu .. %llu)", key, v, why, (unsigned long long)min,
                    (unsigned long long)max);
    }
    *out = (uint32_t)n;
    return 1;
}

static int set_string(struct parser *p, const char *key, const char *v, char **out)
{
    if (!*v) {
        return fail(p, "%s is empty", key);
    }
    *out = config_strdup(v);
    return *out ? 1 : fail(p, "out of memory");
}

static int set_path(struct parser *p, const char *key, const char *v, char **out)
{
    if (v[0] != '/') {
        return fail(p, "%s = %s: give an absolute path", key, v);
    }
    return set_string(p, key, v, out);
}

static int daemon_key(struct parser *p, const char *key, const char *v)
{
    struct sluiced_config *c = p->c;
    const char *why = "";
    static const char *const keys[] = {
        "socket",   "socket_mode", "socket_group",   "threads",    "log_level",
        "drain_ms", "max_frame",   "default_window", "max_window", "handshake_timeout_ms"};
    unsigned k = 0;
    while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(key, keys[k]) != 0) {
        k++;
    }
    if (k == sizeof(keys) / sizeof(keys[0])) {
        return fail(p, "unknown key %s in [daemon]", key);
    }
    if (!once(p, k, key)) {
        return 0;
    }
    switch (k) {
    case 0:
        if ((v[0] != '/' && v[0] != '@') || strlen(v) >= sizeof(c->socket_path) || !v[1]) {
            return fail(p, "socket = %s: an absolute path or @name, at most 107 bytes", v);
        }
        snprintf(c->socket_path, sizeof(c->socket_path), "%s", v);
        return 1;
    case 1:
        return config_parse_mode(v, &c->socket_mode, &why)
                   ? 1
                   : fail(p, "socket_mode = %s: %s", v, why);
    case 2: {
        uint64_t gid;
        struct group *g = getgrnam(v);
        if (g) {
            c->socket_group = g->gr_gid;
        } else if (config_parse_u64(v, 0, 0x7fffffff, &gid, &why)) {
            c->socket_group = (gid_t)gid;
        } else {
            return fail(p, "socket_group = %s: no such group", v);
        }
        c->has_socket_group = true;
        return 1;
    }
    case 3: {
        uint32_t n = 0;
        int rc = set_u32(p, key, v, 0, 256, &n, false);
        c->threads = rc ? n : c->threads;
        return rc;
    }
    case 4:
        if (strlen(v) >= sizeof(c->log_level)) {
            return fail(p, "log_level = %s: too long", v);
        }
        if (sl_log_configure_check(v) < 0) {
            return fail(p, "log_level = %s: not a level spec such as info or warn,daemon=debug", v);
        }
        snprintf(c->log_level, sizeof(c->log_level), "%s", v);
        return 1;
    case 5:
        return set_u32(p, key, v, 0, 3600u * 1000, &c->drain_ms, false);
    case 6:
        return set_u32(p, key, v, 65536, 16u << 20, &c->limits.max_frame, true);
    case 7:
        return set_u32(p, key, v, 1024, UINT32_MAX, &c->limits.default_window, true);
    case 8:
        return set_u32(p, key, v, 1024, UINT32_MAX, &c->limits.max_window, true);
    default:
        return set_u32(p, key, v, 100, 600000, &c->limits.handshake_timeout_ms, false);
    }
}

/* [limits], and the same three keys in [client]: 0 left in a client means the daemon's. */
static int limit_key(struct parser *p, const char *key, const char *v, uint32_t *channels,
                     uint32_t *listeners, uint64_t *budget, unsigned bit_base)
{
    if (strcmp(key, "max_channels") == 0) {
        return once(p, bit_base, key) ? set_u32(p, key, v, 1, 100000, channels, false) : 0;
    }
    if (strcmp(key, "max_listeners") == 0) {
        return once(p, bit_base + 1, key) ? set_u32(p, key, v, 0, 10000, listeners, false) : 0;
    }
    if (strcmp(key, "session_budget") == 0) {
        const char *why = "";
        if (!once(p, bit_base + 2, key)) {
            return 0;
        }
        return config_parse_size(v, 1024, (uint64_t)1 << 40, budget, &why)
                   ? 1
                   : fail(p, "session_budget = %s: %s (1K .. 1024G)", v, why);
    }
    return -1; /* not a limit */
}

static int identity_key(struct parser *p, const char *key, const char *v)
{
    struct config_identity *id = &p->c->identities[p->c->n_identities - 1];
    static const char *const keys[] = {"cert", "key", "pkcs12", "pkcs12_password"};
    unsigned k = 0;
    while (k < 4 && strcmp(key, keys[k]) != 0) {
        k++;
    }
    if (k == 4) {
        return fail(p, "unknown key %s in [%s] (cert, key, pkcs12, pkcs12_password)", key,
                    p->section);
    }
    if (!once(p, k, key)) {
        return 0;
    }
    if (k == 1 || k == 2) {
        id->key_line = p->line;
    }
    char **dst[] = {&id->cert_file, &id->key_file, &id->pkcs12_file, &id->pkcs12_password};
    return k == 3 ? set_string(p, key, v, dst[k]) : set_path(p, key, v, dst[k]);
}

static int trust_key(struct parser *p, const char *key, const char *v)
{
    struct config_trust *t = &p->c->trust[p->c->n_trust - 1];
    if (strcmp(key, "ca_file") == 0) {
        return once(p, 0, key) ? set_path(p, key, v, &t->ca_file) : 0;
    }
    if (strcmp(key, "ca_dir") == 0) {
        return once(p, 1, key) ? set_path(p, key, v, &t->ca_dir) : 0;
    }
    return fail(p, "unknown key %s in [%s] (ca_file, ca_dir)", key, p->section);
}

/* Appends copies of the list's items to *items (used for identities and trust). */
static int add_names(struct parser *p, const char *key, char *v, char ***items, size_t *count)
{
    char *parts[MAX_LIST];
    size_t n;
    const char *why = "";
    if (!config_split_list(v, parts, MAX_LIST, &n, &why)) {
        return fail(p, "%s: %s", key, why);
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(parts[i], "*") != 0 && !name_ok(parts[i])) {
            return fail(p, "%s: \"%s\" is not a section name", key, parts[i]);
        }
        char **slot = grow((void **)items, count, sizeof(char *));
        if (!slot || !(*slot = config_strdup(parts[i]))) {
            return fail(p, "out of memory");
        }
    }
    return 1;
}

/* `deny`: address blocks only (no names, no ports: a denied address is denied on every port). */
static int add_deny(struct parser *p, struct config_client *cl, char *v)
{
    char *parts[MAX_LIST];
    size_t n;
    const char *why = "";
    if (!config_split_list(v, parts, MAX_LIST, &n, &why)) {
        return fail(p, "deny: %s", why);
    }
    for (size_t i = 0; i < n; i++) {
        struct connect_rule rule;
        bool ok = config_parse_connect_rule(parts[i], &rule, &why);
        if (ok && (rule.kind != RULE_CIDR || rule.ports.lo != 1 || rule.ports.hi != 65535)) {
            ok = false;
            why = "deny takes address blocks such as 10.0.0.0/8, without ports";
        }
        struct connect_rule *slot = ok ? grow((void **)&cl->deny, &cl->n_deny, sizeof(rule)) : NULL;
        if (!slot) {
            sl_free(rule.pattern);
            return ok ? fail(p, "out of memory") : fail(p, "deny = %s: %s", parts[i], why);
        }
        *slot = rule;
    }
    return 1;
}

static int add_connect(struct parser *p, struct config_client *cl, char *v)
{
    char *parts[MAX_LIST];
    size_t n;
    const char *why = "";
    if (!config_split_list(v, parts, MAX_LIST, &n, &why)) {
        return fail(p, "connect: %s", why);
    }
    for (size_t i = 0; i < n; i++) {
        struct connect_rule rule;
        if (!config_parse_connect_rule(parts[i], &rule, &why)) {
            sl_free(rule.pattern);
            return fail(p, "connect = %s: %s", parts[i], why);
        }
        struct connect_rule *slot = grow((void **)&cl->connect, &cl->n_connect, sizeof(rule));
        if (!slot) {
            sl_free(rule.pattern);
            return fail(p, "out of memory");
        }
        *slot = rule;
    }
    return 1;
}

static int add_listen(struct parser *p, struct config_client *cl, char *v)
{
    char *parts[MAX_LIST];
    size_t n;
    const char *why = "";
    if (!config_split_list(v, parts, MAX_LIST, &n, &why)) {
        return fail(p, "listen: %s", why);
    }
    for (size_t i = 0; i < n; i++) {
        if (strncmp(parts[i], "unix:", 5) == 0) {
            const char *path = parts[i] + 5;
            if (path[0] != '/' || strlen(path) >= 108) {
                return fail(p, "listen = %s: unix: takes an absolute path pattern", parts[i]);
            }
            char **slot = grow((void **)&cl->listen_unix, &cl->n_listen_unix, sizeof(char *));
            if (!slot || !(*slot = config_strdup(path))) {
                return fail(p, "out of memory");
            }
            continue;
        }
        struct port_range r;
        if (!config_parse_ports(parts[i], &r, &why)) {
            return fail(p, "listen = %s: %s", parts[i], why);
        }
        struct port_range *slot = grow((void **)&cl->listen, &cl->n_listen, sizeof(r));
        if (!slot) {
            return fail(p, "out of memory");
        }
        *slot = r;
    }
    return 1;
}

static int client_match_key(struct parser *p, struct config_client *cl, const char *key,
                            const char *v)
{
    const char *why = "";
    uint64_t n;
    if (strcmp(key, "uid") == 0 || strcmp(key, "user") == 0) {
        if (!once(p, 0, "uid/user")) {
            return 0;
        }
        struct passwd *pw = key[1] == 's' ? getpwnam(v) : NULL;
        if (key[1] == 's' && !pw) {
            return fail(p, "user = %s: no such user", v);
        }
        if (!pw && !config_parse_u64(v, 0, 0x7fffffff, &n, &why)) {
            return fail(p, "uid = %s: %s", v, why);
        }
        cl->uid = pw ? pw->pw_uid : (uid_t)n;
        cl->has_uid = true;
        return 1;
    }
    if (strcmp(key, "gid") == 0 || strcmp(key, "group") == 0) {
        if (!once(p, 1, "gid/group")) {
            return 0;
        }
        struct group *g = key[0] == 'g' && key[1] == 'r' ? getgrnam(v) : NULL;
        if (key[1] == 'r' && !g) {
            return fail(p, "group = %s: no such group", v);
        }
        if (!g && !config_parse_u64(v, 0, 0x7fffffff, &n, &why)) {
            return fail(p, "gid = %s: %s", v, why);
        }
        cl->gid = g ? g->gr_gid : (gid_t)n;
        cl->has_gid = true;
        return 1;
    }
    if (strcmp(key, "public_key") == 0) {
        if (!once(p, 2, key)) {
            return 0;
        }
        cl->has_key = config_parse_public_key(v, cl->public_key, &why);
        return cl->has_key ? 1 : fail(p, "public_key: %s", why);
    }
    return -1;
}

static int client_key(struct parser *p, const char *key, char *v)
{
    struct config_client *cl = &p->c->clients[p->c->n_clients - 1];
    int rc = client_match_key(p, cl, key, v);
    if (rc < 0) {
        rc = limit_key(p, key, v, &cl->max_channels, &cl->max_listeners, &cl->session_budget, 3);
    }
    if (rc >= 0) {
        return rc;
    }
    /* connect and listen may be repeated: each line adds to the list. */
    if (strcmp(key, "connect") == 0) {
        return add_connect(p, cl, v);
    }
    if (strcmp(key, "listen") == 0) {
        return add_listen(p, cl, v);
    }
    if (strcmp(key, "deny") == 0) {
        return add_deny(p, cl, v);
    }
    if (strcmp(key, "identities") == 0) {
        return add_names(p, key, v, &cl->identities, &cl->n_identities);
    }
    if (strcmp(key, "trust") == 0) {
        return add_names(p, key, v, &cl->trust, &cl->n_trust);
    }
    if (strcmp(key, "resolve") == 0) {
        const char *why = "";
        return !once(p, 6, key)                           ? 0
               : config_parse_bool(v, &cl->resolve, &why) ? 1
                                                          : fail(p, "resolve = %s: %s", v, why);
    }
    return fail(p,
                "unknown key %s in [%s] (uid, user, gid, group, public_key, connect, deny, "
                "listen, identities, trust, resolve, max_channels, max_listeners, session_budget)",
                key, p->section);
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
    struct parser *p = user;
    if (p->failed) {
        return 1; /* the first error is the one reported */
    }
    if (strcmp(section, p->section) != 0 && !begin_section(p, section)) {
        return 0; /* the reader begins sections; this is only a safety net */
    }
    if (!key) {
        return 1; /* a section line */
    }
    char v[1024];
    if (!value || strlen(value) >= sizeof(v)) {
        return fail(p, "%s: the value is missing or over 1023 bytes", key);
    }
    snprintf(v, sizeof(v), "%s", value);
    switch (p->kind) {
    case SEC_DAEMON:
        return daemon_key(p, key, v);
    case SEC_LIMITS: {
        int rc = limit_key(p, key, v, &p->c->limits.max_channels, &p->c->limits.max_listeners,
                           &p->c->limits.session_budget, 0);
        return rc >= 0 ? rc
                       : fail(p,
                              "unknown key %s in [limits] (max_channels, max_listeners, "
                              "session_budget)",
                              key);
    }
    case SEC_IDENTITY:
        return identity_key(p, key, v);
    case SEC_TRUST:
        return trust_key(p, key, v);
    case SEC_CLIENT:
        return client_key(p, key, v);
    case SEC_NONE:
    default:
        return fail(p, "%s outside any section", key);
    }
}

/*
 * A [section] line, seen as it is read: libinih calls the handler only for keys, and an empty
 * or misspelt section must be refused too.
 */
static void section_line(struct parser *p, const char *line)
{
    while (*line == ' ' || *line == '\t') {
        line++;
    }
    const char *end = line[0] == '[' ? strchr(line, ']') : NULL;
    if (!end || p->failed) {
        return; /* not a section (libinih reports a malformed one) */
    }
    char name[sizeof(p->section)];
    size_t n = (size_t)(end - line - 1);
    if (n >= sizeof(name)) {
        fail(p, "section name too long");
        return;
    }
    memcpy(name, line + 1, n);
    name[n] = '\0';
    begin_section(p, name);
}

/* Reads one line of the text for libinih, counting lines. */
static char *read_line(char *buf, int size, void *stream)
{
    struct parser *p = stream;
    if (!p->text[p->pos] || size < 2 || p->failed) {
        return NULL; /* after the first error the rest does not matter */
    }
    size_t n = 0;
    bool whole = false;
    while (p->text[p->pos] && n + 1 < (size_t)size) {
        char ch = p->text[p->pos++];
        buf[n++] = ch;
        if (ch == '\n') {
            whole = true;
            break;
        }
    }
    buf[n] = '\0';
    p->line++;
    if (!whole && p->text[p->pos]) {
        fail(p, "a line over %d characters (repeat the key to add more)", size - 2);
        return NULL;
    }
    section_line(p, buf);
    return buf;
}

/* After the file: what no single line shows ------------------------------------------------------
 */

static int check_file(struct parser *p, int line, const char *key, const char *path)
{
    if (path && access(path, R_OK) != 0) {
        p->line = line;
        return fail(p, "%s %s cannot be read: %s", key, path, strerror(errno));
    }
    return 1;
}

static int check_identity(struct parser *p, const struct config_identity *id)
{
    p->line = id->line;
    bool pem = id->cert_file || id->key_file;
    if (pem == (id->pkcs12_file != NULL) || (pem && (!id->cert_file || !id->key_file))) {
        return fail(p, "[identity %s] needs cert and key, or pkcs12", id->name);
    }
    return check_file(p, id->line, "cert", id->cert_file) &&
           check_file(p, id->key_line, "key", id->key_file) &&
           check_file(p, id->key_line, "pkcs12", id->pkcs12_file);
}

static int check_references(struct parser *p, const struct config_client *cl)
{
    p->line = cl->line;
    if (!cl->has_uid && !cl->has_gid && !cl->has_key) {
        return fail(p, "[client %s] matches nobody: give uid, user, gid, group or public_key",
                    cl->name);
    }
    for (size_t i = 0; i < cl->n_identities; i++) {
        const char *n = cl->identities[i];
        if (strcmp(n, "*") != 0 && !config_find_identity(p->c, n)) {
            return fail(p, "[client %s] grants identity %s, which no section defines", cl->name, n);
        }
    }
    for (size_t i = 0; i < cl->n_trust; i++) {
        const char *n = cl->trust[i];
        if (strcmp(n, "*") != 0 && !config_find_trust(p->c, n)) {
            return fail(p, "[client %s] grants trust %s, which no section defines", cl->name, n);
        }
    }
    return 1;
}

static int check_whole(struct parser *p)
{
    struct sluiced_config *c = p->c;
    if (c->limits.default_window > c->limits.max_window) {
        p->line = 0;
        return fail(p, "default_window (%u) is over max_window (%u)", c->limits.default_window,
                    c->limits.max_window);
    }
    for (size_t i = 0; i < c->n_identities; i++) {
        if (!check_identity(p, &c->identities[i])) {
            return 0;
        }
    }
    for (size_t i = 0; i < c->n_trust; i++) {
        const struct config_trust *t = &c->trust[i];
        p->line = t->line;
        if (!t->ca_file && !t->ca_dir) {
            return fail(p, "[trust %s] needs ca_file or ca_dir", t->name);
        }
        if (!check_file(p, t->line, "ca_file", t->ca_file) ||
            !check_file(p, t->line, "ca_dir", t->ca_dir)) {
            return 0;
        }
    }
    for (size_t i = 0; i < c->n_clients; i++) {
        if (!check_references(p, &c->clients[i])) {
            return 0;
        }
    }
    return 1;
}

/* Life ------------------------------------------------------------------------------------------
 */

int config_defaults(struct sluiced_config **out)
{
    struct sluiced_config *c = sl_calloc(1, sizeof(*c));
    if (!c) {
        return SL_E_NOMEM;
    }
    atomic_init(&c->refs, 1);
    c->socket_mode = 0600;
    c->drain_ms = 5000;
    c->limits = sluiced_default_limits;
    *out = c;
    return 0;
}

int config_parse(const char *text, const char *name, struct sluiced_config **out, char *err,
                 size_t err_len)
{
    struct sluiced_config *c;
    int rc = config_defaults(&c);
    if (rc < 0) {
        snprintf(err, err_len, "%s: out of memory", name);
        return rc;
    }
    c->from_file = true;
    snprintf(c->path, sizeof(c->path), "%s", name);
    struct parser p = {.c = c, .name = name, .err = err, .err_len = err_len, .text = text};
    int line = ini_parse_stream(read_line, &p, on_entry, &p);
    if (line != 0 && !p.failed) {
        p.line = line > 0 ? line : p.line;
        fail(&p, line == -2 ? "out of memory" : "not a [section], key = value or comment line");
    }
    if (!p.failed) {
        check_whole(&p);
    }
    if (p.failed) {
        config_release(c);
        return SL_E_INVAL;
    }
    *out = c;
    return 0;
}

int config_load(const char *path, struct sluiced_config **out, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err, err_len, "%s: %s", path, strerror(e));
        return -e;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            size_t bigger = cap ? cap * 2 : 8192;
            char *grown = bigger <= (16u << 20) ? sl_realloc(text, bigger) : NULL;
            if (!grown) {
                snprintf(err, err_len, "%s: too large or out of memory", path);
                rc = SL_E_INVAL;
                break;
            }
            text = grown;
            cap = bigger;
        }
        size_t n = fread(text + len, 1, 4096, f);
        len += n;
        if (n < 4096) {
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(errno));
        rc = SL_E_INVAL;
    }
    fclose(f);
    if (rc == 0 && memchr(text, '\0', len)) {
        snprintf(err, err_len, "%s: a NUL byte: not a text file", path);
        rc = SL_E_INVAL;
    }
    if (rc == 0) {
        text[len] = '\0';
        rc = config_parse(text, path, out, err, err_len);
    }
    sl_free(text);
    return rc;
}

void config_acquire(struct sluiced_config *c)
{
    atomic_fetch_add(&c->refs, 1);
}

static void free_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sl_free(items[i]);
    }
    sl_free(items);
}

static void free_client(struct config_client *cl)
{
    for (size_t i = 0; i < cl->n_connect; i++) {
        sl_free(cl->connect[i].pattern);
    }
    sl_free(cl->connect);
    sl_free(cl->deny);
    sl_free(cl->listen);
    free_list(cl->listen_unix, cl->n_listen_unix);
    free_list(cl->identities, cl->n_identities);
    free_list(cl->trust, cl->n_trust);
}

void config_release(struct sluiced_config *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1) {
        return;
    }
    identities_free(c->store);
    for (size_t i = 0; i < c->n_identities; i++) {
        struct config_identity *id = &c->identities[i];
        sl_free(id->cert_file);
        sl_free(id->key_file);
        sl_free(id->pkcs12_file);
        if (id->pkcs12_password) {
            sl_secure_zero(id->pkcs12_password, strlen(id->pkcs12_password));
            sl_free(id->pkcs12_password);
        }
    }
    sl_free(c->identities);
    for (size_t i = 0; i < c->n_trust; i++) {
        sl_free(c->trust[i].ca_file);
        sl_free(c->trust[i].ca_dir);
    }
    sl_free(c->trust);
    for (size_t i = 0; i < c->n_clients; i++) {
        free_client(&c->clients[i]);
    }
    sl_free(c->clients);
    sl_free(c);
}

const struct config_identity *config_find_identity(const struct sluiced_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_identities; i++) {
        if (strcmp(c->identities[i].name, name) == 0) {
            return &c->identities[i];
        }
    }
    return NULL;
}

const struct config_trust *config_find_trust(const struct sluiced_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_trust; i++) {
        if (strcmp(c->trust[i].name, name) == 0) {
            return &c->trust[i];
        }
    }
    return NULL;
}
