/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"
#include "policy.h"
#include "test_harness.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The policy on parsed configurations: who is admitted, and what each grant allows. */

static struct sluiced_config *parse(const char *text)
{
    struct sluiced_config *c = NULL;
    char err[CONFIG_ERROR_MAX] = "";
    ck_assert_msg(config_parse(text, "p.conf", &c, err, sizeof(err)) == 0, "%s", err);
    return c;
}

static struct peer_identity peer(uid_t uid, gid_t gid)
{
    struct peer_identity who = {.pid = 1, .uid = uid, .gid = gid};
    return who;
}

START_TEST(globs_match_as_documented)
{
    ck_assert(policy_glob("*.example.com", "a.example.com", true));
    ck_assert(policy_glob("*.example.com", "a.b.EXAMPLE.com", true));
    ck_assert(!policy_glob("*.example.com", "example.com", true));
    ck_assert(!policy_glob("*.example.com", "a.example.com.evil", true));
    ck_assert(policy_glob("*", "anything", true));
    ck_assert(policy_glob("db-*.internal", "db-7.internal", true));
    ck_assert(!policy_glob("db-*.internal", "web-7.internal", true));
    ck_assert(policy_glob("/run/app/*.sock", "/run/app/x.sock", false));
    ck_assert(!policy_glob("/run/app/*.sock", "/run/app/x.SOCK", false));
    ck_assert(policy_glob("a*b*c", "aXbYc", true));
    ck_assert(!policy_glob("a*b*c", "aXbY", true));
}
END_TEST

START_TEST(without_client_sections_only_the_owner_is_admitted)
{
    struct sluiced_config *c = parse("[daemon]\nthreads = 1\n");
    struct peer_identity me = peer(geteuid(), getegid()), other = peer(geteuid() + 1, 0);
    struct grant g;
    ck_assert(policy_grant(c, &me, &g));
    ck_assert(g.everything);
    const char *why;
    ck_assert(policy_may_connect_host(&g, "10.0.0.1", 22, &why));
    ck_assert(policy_may_listen(&g, NULL, 80, &why));
    ck_assert(!policy_grant(c, &other, &g));
    config_release(c);
}
END_TEST

START_TEST(clients_match_by_uid_group_and_key)
{
    struct sluiced_config *c =
        parse("[client keyed]\npublic_key = AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
              "[client app]\nuid = 1000\ngid = 50\n"
              "[client staff]\ngid = 60\n");
    struct grant g;
    struct peer_identity who = peer(1000, 50);
    ck_assert(policy_grant(c, &who, &g));
    ck_assert_str_eq(g.client->name, "app");
    who = peer(1000, 51); /* the uid alone is not enough: every key given must match */
    ck_assert(!policy_grant(c, &who, &g));
    who.groups[who.n_groups++] = 60; /* a supplementary group counts */
    ck_assert(policy_grant(c, &who, &g));
    ck_assert_str_eq(g.client->name, "staff");
    who = peer(5, 5);
    who.has_key = true;
    for (int i = 0; i < 32; i++) {
        who.key[i] = (uint8_t)i;
    }
    ck_assert(policy_grant(c, &who, &g));
    ck_assert_str_eq(g.client->name, "keyed"); /* first match in file order */
    who.key[31] ^= 1;
    ck_assert(!policy_grant(c, &who, &g));
    config_release(c);
}
END_TEST

START_TEST(connect_rules_names_blocks_ports_and_deny)
{
    struct sluiced_config *c = parse("[client app]\nuid = 7\n"
                                     "connect = *.example.com:443, db.internal:5432\n"
                                     "connect = 192.0.2.0/24:80-90, [2001:db8::]/32:*\n"
                                     "connect = unix:/run/app/*.sock\n"
                                     "deny = 10.0.0.0/8, 192.0.2.66\n");
    struct peer_identity who = peer(7, 7);
    struct grant g;
    ck_assert(policy_grant(c, &who, &g));
    const char *why;
    ck_assert(policy_may_connect_host(&g, "www.example.com", 443, &why));
    ck_assert(policy_may_connect_host(&g, "WWW.Example.COM", 443, &why));
    ck_assert(!policy_may_connect_host(&g, "www.example.com", 80, &why));
    ck_assert_str_eq(why, "the policy grants no connection to that name and port");
    ck_assert(!policy_may_connect_host(&g, "example.com", 443, &why));
    ck_assert(policy_may_connect_host(&g, "db.internal", 5432, &why));
    ck_assert(!policy_may_connect_host(&g, "db.internal", 5433, &why));
    ck_assert(policy_may_connect_host(&g, "192.0.2.7", 85, &why));
    ck_assert(!policy_may_connect_host(&g, "192.0.2.7", 91, &why));
    ck_assert(!policy_may_connect_host(&g, "192.0.3.7", 85, &why));
    ck_assert(!policy_may_connect_host(&g, "192.0.2.66", 85, &why)); /* granted, then denied */
    ck_assert(policy_may_connect_host(&g, "2001:db8::1", 1, &why));
    ck_assert(!policy_may_connect_host(&g, "2001:db9::1", 1, &why));
    ck_assert(!policy_may_connect_host(&g, "www.example.com.", 443, &why));
    /* Names are not matched by blocks, nor addresses by name patterns. */
    ck_assert(!policy_may_connect_host(&g, "10.1.2.3", 443, &why));
    /* What a permitted name resolves to. */
    ck_assert(policy_may_reach_address(&g, "93.184.216.34"));
    ck_assert(!policy_may_reach_address(&g, "10.9.9.9"));
    ck_assert(!policy_may_reach_address(&g, "::ffff:10.9.9.9")); /* mapped: judged as IPv4 */
    ck_assert(!policy_may_reach_address(&g, "not an address"));
    ck_assert(policy_may_connect_unix(&g, "/run/app/db.sock", &why));
    ck_assert(!policy_may_connect_unix(&g, "/run/other/db.sock", &why));
    config_release(c);
}
END_TEST

START_TEST(listen_names_and_limits)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "[trust corp]\nca_file = /etc/hosts\n"
             "[client app]\nuid = 7\nlisten = 8080, 9000-9100, unix:/run/app/*.sock\n"
             "trust = corp\nresolve = no\nmax_channels = 3\n"
             "[client all]\nuid = 8\nlisten = *\nidentities = *\ntrust = *\n");
    struct sluiced_config *c = parse(text);
    struct peer_identity who = peer(7, 7);
    struct grant g;
    ck_assert(policy_grant(c, &who, &g));
    const char *why;
    ck_assert(policy_may_listen(&g, NULL, 8080, &why));
    ck_assert(policy_may_listen(&g, NULL, 9050, &why));
    ck_assert(!policy_may_listen(&g, NULL, 8081, &why));
    ck_assert(!policy_may_listen(&g, NULL, 0, &why)); /* any port needs every port granted */
    ck_assert(policy_may_listen(&g, "/run/app/a.sock", 0, &why));
    ck_assert(!policy_may_listen(&g, "/tmp/a.sock", 0, &why));
    ck_assert(policy_may_use_trust(&g, "corp"));
    ck_assert(!policy_may_use_trust(&g, "other"));
    ck_assert(!policy_may_use_identity(&g, "web"));
    ck_assert(!policy_may_resolve(&g));
    struct sluiced_limits limits;
    policy_limits(&g, &c->limits, &limits);
    ck_assert_uint_eq(limits.max_channels, 3);
    ck_assert_uint_eq(limits.max_listeners, c->limits.max_listeners);

    who = peer(8, 8);
    ck_assert(policy_grant(c, &who, &g));
    ck_assert(policy_may_listen(&g, NULL, 0, &why));
    ck_assert(policy_may_use_identity(&g, "anything"));
    ck_assert(policy_may_resolve(&g));
    ck_assert(!policy_may_connect_host(&g, "a.example", 1, &why)); /* nothing to connect to */
    config_release(c);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("policy");
    TCase *tc = sl_test_tcase("policy", 30);
    tcase_add_test(tc, globs_match_as_documented);
    tcase_add_test(tc, without_client_sections_only_the_owner_is_admitted);
    tcase_add_test(tc, clients_match_by_uid_group_and_key);
    tcase_add_test(tc, connect_rules_names_blocks_ports_and_deny);
    tcase_add_test(tc, listen_names_and_limits);
    suite_add_tcase(suite, tc);
    return sl_test_run(suite);
}
