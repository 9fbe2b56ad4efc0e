/* SPDX-License-Identifier: Apache-2.0 */
#include "tls_interop.h"

#include <sluice/error.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The fixture and the helpers every interop test shares. Each test builds its own contexts,
 * s_server or s_client and channels, and leaves nothing behind: the leak check counts Sluice
 * memory and this process's fds (the openssl children's pipes included).
 */

#define PEER_WAIT_MS 5000
#define MAX_PEERS    4

struct tls_certs g_certs;
struct sl_client_bootstrap *g_client_bootstrap;
struct sl_server_bootstrap *g_server_bootstrap;

static struct sl_loop_group *s_group;
static struct sl_test_latch s_group_gone;
static struct sl_host_resolver *s_resolver;
static struct openssl_peer s_peers[MAX_PEERS];
static bool s_peer_in_use[MAX_PEERS];

/* Fixture ------------------------------------------------------------------------------------- */

static void group_gone(void *user_data)
{
    sl_test_latch_add(user_data, 1);
}

static void setup(void)
{
    sl_test_latch_init(&s_group_gone);
    struct sl_loop_group_options gopts = {.loop_count = 2,
                                          .name = "tls-interop",
                                          .on_shutdown_complete = group_gone,
                                          .user_data = &s_group_gone};
    ck_assert_int_eq(sl_loop_group_new(&gopts, &s_group), 0);
    /*
     * Every test connects to the IP literal 127.0.0.1, which the resolver answers itself: the
     * name server given is never asked (port 9 is discard, should anything ever try).
     */
    struct sl_host_resolver_options ropts = {.loop = sl_loop_group_get_loop(s_group, 0),
                                             .name_servers = "127.0.0.1:9"};
    ck_assert_int_eq(sl_host_resolver_new(&ropts, &s_resolver), 0);
    struct sl_client_bootstrap_options copts = {.group = s_group, .resolver = s_resolver};
    ck_assert_int_eq(sl_client_bootstrap_new(&copts, &g_client_bootstrap), 0);
    struct sl_server_bootstrap_options sopts = {.group = s_group};
    ck_assert_int_eq(sl_server_bootstrap_new(&sopts, &g_server_bootstrap), 0);
}

static void teardown(void)
{
    /* What a failed test left running; a passing test has finished its peers itself. */
    for (int i = 0; i < MAX_PEERS; i++) {
        if (s_peer_in_use[i]) {
            (void)openssl_peer_stop(&s_peers[i], 0);
            openssl_peer_free(&s_peers[i]);
            s_peer_in_use[i] = false;
        }
    }
    sl_client_bootstrap_release(g_client_bootstrap);
    sl_server_bootstrap_release(g_server_bootstrap);
    sl_host_resolver_release(s_resolver);
    /* As in the bootstrap tests: release, not destroy, so a leftover channel fails, not hangs. */
    sl_loop_group_release(s_group);
    ck_assert_msg(sl_test_latch_wait(&s_group_gone, 1, 20000), "loop group still referenced");
    sl_test_latch_clean_up(&s_group_gone);
}

TCase *tls_interop_tcase(const char *name, double timeout_s)
{
    TCase *tc = sl_test_tcase(name, timeout_s);
    tcase_add_checked_fixture(tc, setup, teardown);
    return tc;
}

/* Contexts and results --------------------------------------------------------------------------
 */

struct sl_tls_ctx *interop_client_ctx(const struct sl_tls_ctx_options *opts)
{
    struct sl_tls_ctx *ctx = NULL;
    ck_assert_int_eq(sl_tls_ctx_new_client(opts, &ctx), 0);
    return ctx;
}

struct sl_tls_ctx *interop_server_ctx(const struct sl_tls_ctx_options *opts)
{
    struct sl_tls_ctx *ctx = NULL;
    ck_assert_int_eq(sl_tls_ctx_new_server(opts, &ctx), 0);
    return ctx;
}

/*
 * The last bytes of what a peer printed, for failure messages: Check refuses messages over
 * about 4 KiB (and aborts the whole run), and the end is where the reason is.
 */
static const char *tail(const char *text, size_t len)
{
    return text && len > 1200 ? text + len - 1200 : text ? text : "";
}

static void copy_string(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "(null)");
}

void negotiation_copy_take(struct negotiation_copy *dst, const struct sl_tls_negotiation *src)
{
    dst->taken = true;
    dst->error = src->error;
    copy_string(dst->alpn, sizeof(dst->alpn), src->alpn);
    copy_string(dst->version, sizeof(dst->version), src->version);
    copy_string(dst->cipher, sizeof(dst->cipher), src->cipher);
    copy_string(dst->server_name, sizeof(dst->server_name), src->server_name);
    copy_string(dst->reason, sizeof(dst->reason), src->reason);
    dst->peer_present = src->peer.present;
    copy_string(dst->peer_subject, sizeof(dst->peer_subject), src->peer.subject);
    copy_string(dst->peer_issuer, sizeof(dst->peer_issuer), src->peer.issuer);
    copy_string(dst->peer_sans, sizeof(dst->peer_sans), src->peer.sans);
}

/* openssl processes ------------------------------------------------------------------------------
 */

static struct openssl_peer *claim_peer(void)
{
    for (int i = 0; i < MAX_PEERS; i++) {
        if (!s_peer_in_use[i]) {
            s_peer_in_use[i] = true;
            return &s_peers[i];
        }
    }
    ck_abort_msg("more than %d openssl processes at once", MAX_PEERS);
    return NULL;
}

static void release_peer(struct openssl_peer *peer)
{
    s_peer_in_use[peer - s_peers] = false;
}

struct openssl_peer *peer_start_s_server(const char *const *args, int *port)
{
    struct openssl_peer *peer = claim_peer();
    char why[1024];
    bool ok = openssl_peer_start_server(peer, args, port, PEER_WAIT_MS, why, sizeof(why));
    if (!ok) {
        release_peer(peer);
    }
    ck_assert_msg(ok, "%s", tail(why, strlen(why)));
    return peer;
}

struct openssl_peer *peer_start_s_client(int port, const char *const *args)
{
    char connect_to[32];
    snprintf(connect_to, sizeof(connect_to), "127.0.0.1:%d", port);
    const char *argv[40] = {"s_client", "-connect", connect_to};
    size_t n = 3;
    for (size_t i = 0; args[i]; i++) {
        ck_assert_uint_lt(n, 39);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    struct openssl_peer *peer = claim_peer();
    char why[1024];
    bool ok = openssl_peer_start(peer, argv, why, sizeof(why));
    if (!ok) {
        release_peer(peer);
    }
    ck_assert_msg(ok, "%s", tail(why, strlen(why)));
    return peer;
}

void peer_expect(struct openssl_peer *peer, const char *text, bool in_stderr)
{
    bool found = openssl_peer_wait_for(peer, text, in_stderr, PEER_WAIT_MS);
    ck_assert_msg(found, "openssl never printed \"%s\" on %s.\nstdout:\n%s\nstderr:\n%s", text,
                  in_stderr ? "stderr" : "stdout", tail(peer->out, peer->out_len),
                  tail(peer->err, peer->err_len));
}

void peer_expect_out_len(struct openssl_peer *peer, size_t len)
{
    for (int i = 0; i < PEER_WAIT_MS / 10 && peer->out_len < len && peer->stdout_fd >= 0; i++) {
        struct pollfd pfd = {.fd = peer->stdout_fd, .events = POLLIN};
        (void)poll(&pfd, 1, 10);
        openssl_peer_poll(peer);
    }
    ck_assert_msg(peer->out_len >= len, "openssl printed %zu of %zu bytes; stderr:\n%s",
                  peer->out_len, len, tail(peer->err, peer->err_len));
}

long peer_find(struct openssl_peer *peer, const char *text)
{
    openssl_peer_poll(peer);
    size_t n = strlen(text);
    for (size_t i = 0; n > 0 && i + n <= peer->out_len; i++) {
        if (memcmp(peer->out + i, text, n) == 0) {
            return (long)i;
        }
    }
    return -1;
}

int peer_count(struct openssl_peer *peer, const char *text)
{
    openssl_peer_poll(peer);
    int count = 0;
    size_t n = strlen(text);
    for (size_t i = 0; n > 0 && i + n <= peer->out_len; i++) {
        if (memcmp(peer->out + i, text, n) == 0) {
            count++;
        }
    }
    return count;
}

void peer_expect_count(struct openssl_peer *peer, const char *text, int count)
{
    for (int i = 0; i < PEER_WAIT_MS / 10 && peer_count(peer, text) < count; i++) {
        struct pollfd pfd = {.fd = peer->stdout_fd, .events = POLLIN};
        (void)poll(&pfd, 1, 10);
    }
    ck_assert_msg(peer_count(peer, text) == count,
                  "openssl printed \"%s\" %d times, not %d.\nstdout:\n%s\nstderr:\n%s", text,
                  peer_count(peer, text), count, tail(peer->out, peer->out_len),
                  tail(peer->err, peer->err_len));
}

void peer_send(struct openssl_peer *peer, const void *data, size_t len)
{
    ck_assert_msg(openssl_peer_write(peer, data, len), "cannot write to openssl; stderr:\n%s",
                  tail(peer->err, peer->err_len));
}

int peer_finish(struct openssl_peer *peer)
{
    int status = openssl_peer_stop(peer, PEER_WAIT_MS);
    openssl_peer_free(peer);
    release_peer(peer);
    return status;
}

void fill_pattern(uint8_t *buf, size_t len, size_t salt)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = test_pattern(i + salt);
    }
}

/* main ------------------------------------------------------------------------------------------
 */

int main(void)
{
    /*
     * One set of certificates for the whole run (about 0.3 s of openssl), made before any test
     * so that no test's fd or memory count sees it.
     */
    char why[2048];
    if (!tls_certs_make(&g_certs, why, sizeof(why))) {
        fprintf(stderr, "cannot make the test certificates: %s\n", why);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("tls_interop");
    add_client_tests(s);
    add_server_tests(s);
    int rc = sl_test_run(s);
    tls_certs_remove(&g_certs);
    return rc;
}
