/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CHAN_CLIENT_H
#define SL_CHAN_CLIENT_H

/*
 * A test client for the daemon's channels over raw frames, with the protocol's flow control
 * done by hand (docs/protocol.md §6): it sends only what the daemon granted, returns credit in
 * batches of half its window (unless told to hold it), and hashes (FNV-1a) what goes each way,
 * so transfers of any size are checked byte for byte.
 */

#include "daemon_harness.h"

struct chan {
    uint32_t id;
    uint32_t window;  /* Open.window: our receive window */
    bool hold;        /* keep the credit we owe: the daemon must stop reading the network */
    uint64_t to_send; /* test_pattern bytes to send */
    bool shutdown_after_send;
    /* What happened. */
    bool opened, failed, closed, peer_shut, shutdown_sent, close_sent;
    int fail_code, close_code;
    uint64_t may_send; /* the daemon's credit left */
    uint64_t owed;     /* received, not yet returned */
    uint64_t sent, received;
    uint64_t sent_hash, recv_hash;
};

struct chan_client {
    struct raw_client raw;
    struct chan *chans[16];
    int count;
    uint8_t *out;
    size_t out_len;
    size_t out_cap;
    int duplicate_fail_code; /* OpenFailed for an id already open (the Open was a duplicate) */
};

void chan_client_attach(struct chan_client *cc, const struct daemon_proc *d);
void chan_client_close(struct chan_client *cc);
/* Sends Open for ch to 127.0.0.1:port (TCP). */
void chan_open(struct chan_client *cc, struct chan *ch, uint32_t id, uint32_t port);
/* Queues a frame to send at the next pump. */
void chan_queue(struct chan_client *cc, const sl_frame_t *frame);
/* Moves frames both ways until done(cc) or timeout_ms pass; returns done(cc). */
bool chan_pump(struct chan_client *cc, bool (*done)(struct chan_client *), int timeout_ms);

#endif
