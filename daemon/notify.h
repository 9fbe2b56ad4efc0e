/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_NOTIFY_H
#define SLUICED_NOTIFY_H

/*
 * systemd integration through libsystemd (docs/operations.md): socket activation, readiness
 * (READY=1 once listening, RELOADING=1 around SIGHUP, STOPPING=1), STATUS= with the session and
 * channel counts, and the watchdog, pinged only while every event loop answers a task. Without
 * systemd (no $NOTIFY_SOCKET, no $LISTEN_FDS) all of it does nothing.
 */

#include "sluiced.h"

#include <stdbool.h>
#include <time.h>

/* A listening Unix socket systemd passed (its fd), -1 when none, -2 when what it passed is
 * not exactly one listening Unix stream socket. */
int notify_listen_fd(void);

void notify_ready(struct sluiced *d, const char *where);
void notify_reloading(bool reloading);
void notify_stopping(void);

/* How long the main thread may wait between two notify_tick calls. */
struct timespec notify_interval(void);
/* STATUS=, and WATCHDOG=1 when every loop ran a task within a quarter of the interval. */
void notify_tick(struct sluiced *d);

/* After the loops are gone: frees the watchdog's probes. */
void notify_cleanup(void);

#endif
