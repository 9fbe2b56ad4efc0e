/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_RELAY_SETUP_H
#define SL_BENCH_RELAY_SETUP_H

/*
 * Everything bench_relay's runs share: the CPUs, the certificates, the peers' listeners, the
 * relays (sluiced built with this tree, socat, stunnel4) and one libsluice-client session.
 */

#include "relay_peers.h"
#include "tls_certs.h"

#include <sluice/client.h>

#include <stddef.h>
#include <sys/types.h>

struct relay_setup {
    int cpu_near; /* the client and the sinks */
    int cpu_far;  /* the relays */
    struct tls_certs certs;
    char *ca_pem; /* certs.ca_cert's contents, for Open.tls.ca_pem */
    size_t ca_pem_len;
    struct relay_listener sink;     /* plain TCP sink */
    struct relay_listener tls_sink; /* TLS sink */
    struct relay_listener echo;
    pid_t sluiced;
    pid_t socat;      /* 0: socat is not installed; its baselines are left out */
    pid_t socat_echo; /* socat relaying to echo (on cpu_near), for the one-CPU ping-pong */
    pid_t stunnel;    /* 0: stunnel4 is not installed */
    char sluiced_socket[512];
    char socat_socket[512];
    char socat_echo_socket[512];
    char stunnel_socket[512];
    struct sl_client *client;
};

/*
 * Picks the CPUs and pins the calling thread (the client) to cpu_near, makes the certificates,
 * opens the listeners, starts the relays pinned to cpu_far and connects to sluiced. Dies on
 * failure; a missing socat or stunnel4 is only a warning.
 */
void relay_setup_start(struct relay_setup *s);

/* Moves every thread of sluiced to cpu; false if the kernel refuses. */
bool relay_setup_move_sluiced(struct relay_setup *s, int cpu);

/* Closes the session, stops the relays (warning if sluiced exits badly), closes the listeners. */
void relay_setup_stop(struct relay_setup *s);

#endif
