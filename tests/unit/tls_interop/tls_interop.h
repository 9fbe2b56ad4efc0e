/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TLS_INTEROP_H
#define SL_TLS_INTEROP_H

/*
 * Sluice's TLS against an independent implementation: the openssl command's s_server and
 * s_client, on loopback, with certificates made for the run (tls_certs.h). What is shared by
 * the client-side tests (our client, their server) and the server-side tests (their client,
 * our server): the fixture, result copies and helpers that drive the openssl processes.
 */

#include "openssl_peer.h"
#include "test_handler.h"
#include "test_harness.h"
#include "tls_certs.h"

#include <check.h>
#include <sluice/bootstrap.h>
#include <sluice/tls.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Made once in main() and shared read-only by every test. */
extern struct tls_certs g_certs;
/* Made per test by the fixture (tls_interop_tcase): one group of two loops. */
extern struct sl_client_bootstrap *g_client_bootstrap;
extern struct sl_server_bootstrap *g_server_bootstrap;

void add_client_tests(Suite *s);
void add_server_tests(Suite *s);

/* A TCase with the leak check and the bootstrap fixture. */
TCase *tls_interop_tcase(const char *name, double timeout_s);

/* Contexts; the options fail the test if rejected. */
struct sl_tls_ctx *interop_client_ctx(const struct sl_tls_ctx_options *opts);
struct sl_tls_ctx *interop_server_ctx(const struct sl_tls_ctx_options *opts);

/*
 * A copy of a struct sl_tls_negotiation, taken on the loop thread, that the test thread may
 * read after the latch that follows it.
 */
struct negotiation_copy {
    bool taken;
    int error;
    char alpn[64];
    char version[32];
    char cipher[64];
    char server_name[128];
    char reason[256];
    bool peer_present;
    char peer_subject[256];
    char peer_issuer[256];
    char peer_sans[256];
};

void negotiation_copy_take(struct negotiation_copy *dst, const struct sl_tls_negotiation *src);

/*
 * The openssl processes. They live in storage of the fixture's, not on a test's stack, so that
 * when a test fails half-way (Check leaves the test function with longjmp when it does not
 * fork) the fixture can still stop what the test left running. peer_finish is the normal end.
 */

/* Starts s_server with args (NULL-terminated; "-accept" is added); *port gets its port. */
struct openssl_peer *peer_start_s_server(const char *const *args, int *port);

/* Starts `s_client -connect 127.0.0.1:port` plus args (NULL-terminated). */
struct openssl_peer *peer_start_s_client(int port, const char *const *args);

/* Waits (5 s) for text on stdout or stderr; fails the test with what the peer said if not. */
void peer_expect(struct openssl_peer *peer, const char *text, bool in_stderr);

/* Waits (5 s) until the peer has printed at least len bytes on stdout. */
void peer_expect_out_len(struct openssl_peer *peer, size_t len);

/* Occurrences of text in what the peer printed on stdout so far. */
int peer_count(struct openssl_peer *peer, const char *text);

/* Where text first appears in what the peer printed on stdout so far, or -1. */
long peer_find(struct openssl_peer *peer, const char *text);

/* Waits (5 s) until text has appeared count times on stdout. */
void peer_expect_count(struct openssl_peer *peer, const char *text, int count);

/* Writes to the peer's stdin; fails the test if it cannot. */
void peer_send(struct openssl_peer *peer, const void *data, size_t len);

/*
 * Waits up to 5 s for the peer to exit by itself (its stdin closed), kills it otherwise,
 * frees it and returns its exit status (137 means it had to be killed).
 */
int peer_finish(struct openssl_peer *peer);

/* A test pattern: buf[i] = test_pattern(i + salt), so the two directions differ. */
void fill_pattern(uint8_t *buf, size_t len, size_t salt);

#endif
