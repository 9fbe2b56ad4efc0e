/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <sluice/alloc.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The value parsers of the configuration file: strict, every rejection with its reason. */

char *config_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = sl_alloc(n);
    if (copy) {
        memcpy(copy, s, n);
    }
    return copy;
}

static bool all_digits(const char *v)
{
    if (!*v) {
        return false;
    }
    for (const char *p = v; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            return false;
        }
    }
    return true;
}

bool config_parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
    if (!all_digits(v) || strlen(v) > 19) {
        *why = "not a whole number";
        return false;
    }
    errno = 0;
    unsigned long long n = strtoull(v, NULL, 10);
    if (errno || n < min || n > max) {
        *why = "out of range";
        return false;
    }
    *out = n;
    return true;
}

bool config_parse_size(const char *v, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
    char digits[24];
    size_t n = strlen(v);
    uint64_t unit = 1;
    if (n > 0 && strchr("kKmMgG", v[n - 1])) {
        char u = (char)tolower((unsigned char)v[n - 1]);
        unit = u == 'k' ? 1024u : u == 'm' ? 1024u * 1024 : 1024u * 1024 * 1024;
        n--;
    }
    if (n == 0 || n >= sizeof(digits)) {
        *why = "not a size (a number, optionally with K, M or G)";
        return false;
    }
    memcpy(digits, v, n);
    digits[n] = '\0';
    uint64_t count;
    if (!config_parse_u64(digits, 0, UINT64_MAX / unit, &count, why)) {
        *why = "not a size (a number, optionally with K, M or G)";
        return false;
    }
    if (count * unit < min || count * unit > max) {
        *why = "out of range";
        return false;
    }
    *out = count * unit;
    return true;
}

bool config_parse_bool(const char *v, bool *out, const char **why)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
            *out = strcmp(v, yes[i]) == 0;
            return true;
        }
    }
    *why = "not yes or no";
    return false;
}

bool config_parse_mode(const char *v, mode_t *out, const char **why)
{
    size_t n = strlen(v);
    if (n < 3 || n > 4 || strspn(v, "01234567") != n) {
        *why = "not an octal mode such as 0660";
        return false;
    }
    unsigned long m = strtoul(v, NULL, 8);
    if (m > 0777 || (m & 0600) != 0600) {
        *why = "a socket mode must let the daemon's user read and write (0600 .. 0777)";
        return false;
    }
    *out = (mode_t)m;
    return true;
}

/* "443", "1000-2000" or "*". */
bool config_parse_ports(const char *v, struct port_range *out, const char **why)
{
    if (strcmp(v, "*") == 0) {
        *out = (struct port_range){1, 65535};
        return true;
    }
    const char *dash = strchr(v, '-');
    char lo[8], hi[8];
    size_t lo_len = dash ? (size_t)(dash - v) : strlen(v);
    size_t hi_len = dash ? strlen(dash + 1) : lo_len;
    if (lo_len == 0 || lo_len >= sizeof(lo) || hi_len == 0 || hi_len >= sizeof(hi)) {
        *why = "not a port, a range such as 1000-2000, or *";
        return false;
    }
    memcpy(lo, v, lo_len);
    lo[lo_len] = '\0';
    memcpy(hi, dash ? dash + 1 : v, hi_len);
    hi[hi_len] = '\0';
    uint64_t a, b;
    if (!config_parse_u64(lo, 1, 65535, &a, why) || !config_parse_u64(hi, 1, 65535, &b, why)) {
        *why = "ports are 1 .. 65535";
        return false;
    }
    if (a > b) {
        *why = "a port range must go up";
        return false;
    }
    *out = (struct port_range){(uint16_t)a, (uint16_t)b};
    return true;
}

/* A host pattern: DNS name characters, with '*' standing for any run of them. */
static bool host_pattern_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 253) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '*' && c != '_') {
            return false;
        }
    }
    return true;
}

/* "10.0.0.0/8", "::1/128", "192.0.2.7": fills family, address and prefix. */
static bool parse_cidr(const char *text, struct connect_rule *r)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    if (n == 0 || n >= sizeof(addr)) {
        return false;
    }
    memcpy(addr, text, n);
    addr[n] = '\0';
    if (inet_pton(AF_INET, addr, r->address) == 1) {
        r->family = 4;
    } else if (inet_pton(AF_INET6, addr, r->address) == 1) {
        r->family = 6;
    } else {
        return false;
    }
    uint64_t max = r->family == 4 ? 32 : 128, prefix = max;
    const char *why;
    if (slash && !config_parse_u64(slash + 1, 0, max, &prefix, &why)) {
        return false;
    }
    r->prefix = (uint8_t)prefix;
    return true;
}

/*
 * "HOST[:PORTS]" where HOST is a host pattern, an address or block ("10.0.0.0/8"; IPv6 in
 * brackets: "[2001:db8::]/32:443"), or "unix:PATH-PATTERN".
 */
bool config_parse_connect_rule(const char *v, struct connect_rule *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    *why = "not HOST[:PORTS], ADDRESS[/PREFIX][:PORTS] or unix:PATH";
    if (strncmp(v, "unix:", 5) == 0) {
        out->kind = RULE_UNIX;
        return v[5] == '/' && strlen(v + 5) < 108 && (out->pattern = config_strdup(v + 5)) != NULL;
    }
    char host[300];
    const char *ports = NULL;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || (size_t)(close - v - 1) >= sizeof(host)) {
            return false;
        }
        memcpy(host, v + 1, (size_t)(close - v - 1));
        host[close - v - 1] = '\0';
        const char *rest = close + 1;
        if (*rest == '/') { /* "[2001:db8::]/32:443": the prefix follows the bracket */
            size_t len = strlen(host);
            const char *colon = strchr(rest, ':');
            size_t plen = colon ? (size_t)(colon - rest) : strlen(rest);
            if (len + plen >= sizeof(host)) {
                return false;
            }
            memcpy(host + len, rest, plen);
            host[len + plen] = '\0';
            rest += plen;
        }
        if (*rest == ':') {
            ports = rest + 1;
        } else if (*rest) {
            return false;
        }
    } else {
        const char *colon = strchr(v, ':');
        if (colon && strchr(colon + 1, ':')) {
            *why = "an IPv6 address goes in brackets: [::1]:443";
            return false;
        }
        size_t n = colon ? (size_t)(colon - v) : strlen(v);
        if (n >= sizeof(host)) {
            return false;
        }
        memcpy(host, v, n);
        host[n] = '\0';
        ports = colon ? colon + 1 : NULL;
    }
    out->ports = (struct port_range){1, 65535};
    if (ports && !config_parse_ports(ports, &out->ports, why)) {
        return false;
    }
    if (parse_cidr(host, out)) {
        out->kind = RULE_CIDR;
        return true;
    }
    if (strchr(host, '/') || strchr(host, ':') || !host_pattern_ok(host)) {
        *why = "not a host name pattern, an address or an address block";
        return false;
    }
    out->kind = RULE_HOST;
    out->pattern = config_strdup(host);
    if (!out->pattern) {
        *why = "out of memory";
        return false;
    }
    for (char *p = out->pattern; *p; p++) {
        *p = (char)tolower((unsigned char)*p); /* names match without regard to case */
    }
    return true;
}

bool config_parse_public_key(const char *v, uint8_t out[32], const char **why)
{
    size_t len = 0;
    if (sodium_base642bin(out, 32, v, strlen(v), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len != 32) {
        *why = "not an Ed25519 public key in base64 (what sluicectl keygen writes)";
        return false;
    }
    return true;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

bool config_split_list(char *v, char **items, size_t cap, size_t *count, const char **why)
{
    *count = 0;
    char *save = NULL;
    size_t commas = 0;
    for (const char *p = v; *p; p++) {
        commas += *p == ',';
    }
    for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        tok = trim(tok);
        if (!*tok || *count == cap) {
            *why = *tok ? "too many items in one line" : "an empty item in a list";
            return false;
        }
        items[(*count)++] = tok;
    }
    if (*count != commas + 1) {
        *why = "an empty item in a list";
        return false;
    }
    return true;
}
