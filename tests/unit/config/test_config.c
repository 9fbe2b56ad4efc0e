/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"
#include "test_harness.h"

#include <sluice/error.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * sluiced's config file: every key read right, every bad line refused with "name:line: reason"
 * (the line counted as the file has it), cross-references and unreadable files caught.
 */

static char s_dir[64];
static char s_cert[128], s_key[128], s_ca[128];

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

static void setup(void)
{
    snprintf(s_dir, sizeof(s_dir), "/tmp/sl-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s_dir));
    snprintf(s_cert, sizeof(s_cert), "%s/cert.pem", s_dir);
    snprintf(s_key, sizeof(s_key), "%s/key.pem", s_dir);
    snprintf(s_ca, sizeof(s_ca), "%s/ca.pem", s_dir);
    write_file(s_cert, "cert\n", 0644);
    write_file(s_key, "key\n", 0600);
    write_file(s_ca, "ca\n", 0644);
}

static void teardown(void)
{
    unlink(s_cert);
    unlink(s_key);
    unlink(s_ca);
    rmdir(s_dir);
}

static struct sluiced_config *parse_ok(const char *text)
{
    struct sluiced_config *c = NULL;
    char err[CONFIG_ERROR_MAX] = "";
    int rc = config_parse(text, "t.conf", &c, err, sizeof(err));
    ck_assert_msg(rc == 0, "refused: %s", err);
    return c;
}

/* Parses text, which must fail with exactly `expected` at the start of the error. */
static void parse_bad(const char *text, const char *expected)
{
    struct sluiced_config *c = NULL;
    char err[CONFIG_ERROR_MAX] = "";
    int rc = config_parse(text, "t.conf", &c, err, sizeof(err));
    ck_assert_msg(rc == SL_E_INVAL, "accepted: %s", text);
    ck_assert_ptr_null(c);
    ck_assert_msg(strncmp(err, expected, strlen(expected)) == 0, "for:\n%s\ngot: %s\nwanted: %s",
                  text, err, expected);
}

START_TEST(no_file_content_gives_the_defaults)
{
    struct sluiced_config *c = parse_ok("; nothing but a comment\n\n");
    ck_assert(c->from_file);
    ck_assert_uint_eq(c->socket_mode, 0600);
    ck_assert_uint_eq(c->limits.default_window, 256 * 1024);
    ck_assert_uint_eq(c->limits.max_channels, 1024);
    ck_assert_uint_eq(c->n_clients, 0);
    config_release(c);
}
END_TEST

START_TEST(every_key_is_read)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "[daemon]\n"
             "socket = /run/test/s.sock\n"
             "socket_mode = 0660\n"
             "socket_group = 0\n"
             "threads = 3\n"
             "log_level = warn,daemon=debug\n"
             "drain_ms = 1500\n"
             "max_frame = 128K\n"
             "default_window = 64K\n"
             "max_window = 8M\n"
             "handshake_timeout_ms = 2000\n"
             "[limits]\n"
             "max_channels = 10\n"
             "max_listeners = 2\n"
             "session_budget = 1M\n"
             "[identity web]\n"
             "cert = %s\n"
             "key = %s\n"
             "[identity p12]\n"
             "pkcs12 = %s\n"
             "pkcs12_password = secret\n"
             "[trust internal]\n"
             "ca_file = %s\n"
             "ca_dir = %s\n"
             "[client app]\n"
             "uid = 1000\n"
             "gid = 1001\n"
             "public_key = AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
             "connect = *.example.com:443, 10.0.0.0/8:1000-2000\n"
             "connect = [2001:db8::]/32:*, 192.0.2.7, unix:/run/app/*\n"
             "deny = 10.1.0.0/16, [fd00::]/8\n"
             "listen = 8080, 9000-9100, unix:/run/app/*.sock\n"
             "identities = web\n"
             "trust = internal, *\n"
             "resolve = no\n"
             "max_channels = 5\n"
             "max_listeners = 1\n"
             "session_budget = 512K\n"
             "[client root]\n"
             "user = root\n"
             "group = root\n",
             s_cert, s_key, s_cert, s_ca, s_dir);
    struct sluiced_config *c = parse_ok(text);
    ck_assert_str_eq(c->socket_path, "/run/test/s.sock");
    ck_assert_uint_eq(c->socket_mode, 0660);
    ck_assert(c->has_socket_group);
    ck_assert_uint_eq(c->socket_group, 0);
    ck_assert_uint_eq(c->threads, 3);
    ck_assert_str_eq(c->log_level, "warn,daemon=debug");
    ck_assert_uint_eq(c->drain_ms, 1500);
    ck_assert_uint_eq(c->limits.max_frame, 128 * 1024);
    ck_assert_uint_eq(c->limits.default_window, 64 * 1024);
    ck_assert_uint_eq(c->limits.max_window, 8 << 20);
    ck_assert_uint_eq(c->limits.handshake_timeout_ms, 2000);
    ck_assert_uint_eq(c->limits.max_channels, 10);
    ck_assert_uint_eq(c->limits.max_listeners, 2);
    ck_assert_uint_eq(c->limits.session_budget, 1 << 20);

    ck_assert_uint_eq(c->n_identities, 2);
    ck_assert_str_eq(config_find_identity(c, "web")->key_file, s_key);
    ck_assert_int_eq(config_find_identity(c, "web")->key_line, 18);
    ck_assert_str_eq(config_find_identity(c, "p12")->pkcs12_password, "secret");
    ck_assert_str_eq(config_find_trust(c, "internal")->ca_dir, s_dir);

    ck_assert_uint_eq(c->n_clients, 2);
    const struct config_client *app = &c->clients[0];
    ck_assert(app->has_uid && app->uid == 1000 && app->has_gid && app->gid == 1001);
    ck_assert(app->has_key && app->public_key[0] == 0 && app->public_key[31] == 31);
    ck_assert_uint_eq(app->n_connect, 5);
    ck_assert_int_eq(app->connect[0].kind, RULE_HOST);
    ck_assert_str_eq(app->connect[0].pattern, "*.example.com");
    ck_assert_uint_eq(app->connect[0].ports.lo, 443);
    ck_assert_int_eq(app->connect[1].kind, RULE_CIDR);
    ck_assert_uint_eq(app->connect[1].prefix, 8);
    ck_assert_uint_eq(app->connect[1].ports.hi, 2000);
    ck_assert_int_eq(app->connect[2].family, 6);
    ck_assert_uint_eq(app->connect[2].prefix, 32);
    ck_assert_uint_eq(app->connect[2].ports.lo, 1);
    ck_assert_uint_eq(app->connect[3].prefix, 32); /* a lone address is its own block */
    ck_assert_int_eq(app->connect[4].kind, RULE_UNIX);
    ck_assert_uint_eq(app->n_deny, 2);
    ck_assert_uint_eq(app->deny[1].family, 6);
    ck_assert_uint_eq(app->n_listen, 2);
    ck_assert_uint_eq(app->listen[1].lo, 9000);
    ck_assert_uint_eq(app->n_listen_unix, 1);
    ck_assert_uint_eq(app->n_identities, 1);
    ck_assert_uint_eq(app->n_trust, 2);
    ck_assert(!app->resolve);
    ck_assert_uint_eq(app->max_channels, 5);
    ck_assert_uint_eq(app->session_budget, 512 * 1024);
    ck_assert(c->clients[1].has_uid && c->clients[1].uid == 0);
    ck_assert(c->clients[1].resolve); /* the default */
    config_release(c);
}
END_TEST

START_TEST(bad_lines_are_refused_with_their_line)
{
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"[daemon]\nthreads = 2\nthreads = 3\n", "t.conf:3: threads is set twice in [daemon]"},
        {"[daemon]\nthread = 2\n", "t.conf:2: unknown key thread in [daemon]"},
        {"[demon]\n", "t.conf:1: unknown section [demon]"},
        {"threads = 2\n", "t.conf:1: threads outside any section"},
        {"[daemon]\n\n\nthreads = two\n", "t.conf:4: threads = two: not a whole number"},
        {"[daemon]\nthreads = 999\n", "t.conf:2: threads = 999: out of range"},
        {"[daemon]\nlog_level = loud\n", "t.conf:2: log_level = loud: not a level spec"},
        {"[daemon]\nsocket = relative.sock\n", "t.conf:2: socket = relative.sock: an absolute"},
        {"[daemon]\nsocket_mode = 0400\n", "t.conf:2: socket_mode = 0400: a socket mode must"},
        {"[daemon]\nsocket_mode = rw\n", "t.conf:2: socket_mode = rw: not an octal mode"},
        {"[daemon]\nsocket_group = no-such-group-here\n", "t.conf:2: socket_group = no-such"},
        {"[daemon]\nmax_frame = 1K\n", "t.conf:2: max_frame = 1K: out of range"},
        {"[daemon]\nmax_frame = 12Q\n", "t.conf:2: max_frame = 12Q: not a size"},
        {"[daemon]\ndefault_window = 2M\nmax_window = 1M\n",
         "t.conf: default_window (2097152) is over max_window"},
        {"[daemon]\n[daemon]\n", "t.conf:2: a second [daemon] section"},
        {"[limits]\nmax_channels = 0\n", "t.conf:2: max_channels = 0: out of range"},
        {"[limits]\nsession_budget = lots\n", "t.conf:2: session_budget = lots: not a size"},
        {"[limits]\nwindow = 1\n", "t.conf:2: unknown key window in [limits]"},
        {"[identity]\n", "t.conf:1: unknown section [identity]"},
        {"[identity bad name!]\n", "t.conf:1: section names are"},
        {"[identity a]\ncert = rel.pem\n", "t.conf:2: cert = rel.pem: give an absolute path"},
        {"[identity a]\ncert = /nonexistent/c.pem\nkey = /nonexistent/k.pem\n",
         "t.conf:1: cert /nonexistent/c.pem cannot be read: No such file"},
        {"[identity a]\nkey = /x.pem\n", "t.conf:1: [identity a] needs cert and key, or pkcs12"},
        {"[identity a]\npassword = x\n", "t.conf:2: unknown key password in [identity a]"},
        {"[trust t]\n", "t.conf:1: [trust t] needs ca_file or ca_dir"},
        {"[trust t]\nca = /x\n", "t.conf:2: unknown key ca in [trust t]"},
        {"[trust t]\nca_file = /etc/hosts\n[trust t]\n", "t.conf:3: a second section named"},
        {"[client c]\nconnect = *:1\n", "t.conf:1: [client c] matches nobody"},
        {"[client c]\nuid = -1\n", "t.conf:2: uid = -1: not a whole number"},
        {"[client c]\nuser = no-such-user-here\n", "t.conf:2: user = no-such-user-here: no such"},
        {"[client c]\nuid = 1\nuser = root\n", "t.conf:3: uid/user is set twice"},
        {"[client c]\npublic_key = abc\n", "t.conf:2: public_key: not an Ed25519 public key"},
        {"[client c]\nuid = 1\nconnect = a.com:0\n", "t.conf:3: connect = a.com:0: ports are"},
        {"[client c]\nuid = 1\nconnect = a.com:9-1\n", "t.conf:3: connect = a.com:9-1: a port"},
        {"[client c]\nuid = 1\nconnect = ::1:80\n", "t.conf:3: connect = ::1:80: an IPv6"},
        {"[client c]\nuid = 1\nconnect = 10.0.0.0/33\n", "t.conf:3: connect = 10.0.0.0/33: not"},
        {"[client c]\nuid = 1\nconnect = a b:1\n", "t.conf:3: connect = a b:1: not a host"},
        {"[client c]\nuid = 1\nconnect = a.com,,b.com\n", "t.conf:3: connect: an empty item"},
        {"[client c]\nuid = 1\nconnect = unix:relative\n", "t.conf:3: connect = unix:relative"},
        {"[client c]\nuid = 1\ndeny = a.com\n", "t.conf:3: deny = a.com: deny takes"},
        {"[client c]\nuid = 1\ndeny = 10.0.0.0/8:22\n", "t.conf:3: deny = 10.0.0.0/8:22: deny"},
        {"[client c]\nuid = 1\nlisten = 70000\n", "t.conf:3: listen = 70000: ports are"},
        {"[client c]\nuid = 1\nlisten = unix:x\n", "t.conf:3: listen = unix:x: unix: takes"},
        {"[client c]\nuid = 1\nidentities = nope\n", "t.conf:1: [client c] grants identity nope"},
        {"[client c]\nuid = 1\ntrust = nope\n", "t.conf:1: [client c] grants trust nope"},
        {"[client c]\nuid = 1\nresolve = maybe\n", "t.conf:3: resolve = maybe: not yes or no"},
        {"[client c]\nuid = 1\nsudo = yes\n", "t.conf:3: unknown key sudo in [client c]"},
        {"[daemon]\nthreads\n", "t.conf:2: "},
        {"[daemon\n", "t.conf:1: "},
        {"[client c]\nuid = 1\nconnect = a.example.com,b.example.com,c.example.com,d.example.com,"
         "e.example.com,f.example.com,g.example.com,h.example.com,i.example.com,j.example.com,"
         "k.example.com,l.example.com,m.example.com,n.example.com\n",
         "t.conf:3: a line over 198 characters"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parse_bad(cases[i].text, cases[i].error);
    }
}
END_TEST

START_TEST(unreadable_files_are_named)
{
    char path[160], text[512], err[CONFIG_ERROR_MAX];
    snprintf(path, sizeof(path), "%s/missing.conf", s_dir);
    struct sluiced_config *c = NULL;
    ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), -ENOENT);
    ck_assert(strstr(err, "missing.conf: No such file or directory"));

    snprintf(path, sizeof(path), "%s/nul.conf", s_dir);
    FILE *f = fopen(path, "w");
    fwrite("[daemon]\n\0", 1, 10, f);
    fclose(f);
    ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), SL_E_INVAL);
    ck_assert(strstr(err, "a NUL byte"));
    unlink(path);

    if (geteuid() != 0) { /* root reads everything */
        ck_assert_int_eq(chmod(s_key, 0), 0);
        snprintf(text, sizeof(text), "[identity web]\ncert = %s\n\nkey = %s\n", s_cert, s_key);
        ck_assert_int_eq(config_parse(text, "k.conf", &c, err, sizeof(err)), SL_E_INVAL);
        ck_assert_msg(strstr(err, "k.conf:4: key ") && strstr(err, "Permission denied"), "%s", err);
        ck_assert_int_eq(chmod(s_key, 0600), 0);
    }

    snprintf(path, sizeof(path), "%s/good.conf", s_dir);
    snprintf(text, sizeof(text), "[client me]\nuid = %u\nconnect = *\nlisten = *\n",
             (unsigned)getuid());
    write_file(path, text, 0644);
    ck_assert_int_eq(config_load(path, &c, err, sizeof(err)), 0);
    ck_assert_uint_eq(c->n_clients, 1);
    config_acquire(c);
    config_release(c);
    config_release(c);
    unlink(path);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("config");
    TCase *tc = sl_test_tcase("config", 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, no_file_content_gives_the_defaults);
    tcase_add_test(tc, every_key_is_read);
    tcase_add_test(tc, bad_lines_are_refused_with_their_line);
    tcase_add_test(tc, unreadable_files_are_named);
    suite_add_tcase(suite, tc);
    return sl_test_run(suite);
}
