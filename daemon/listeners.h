/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_LISTENERS_H
#define SLUICED_LISTENERS_H

/*
 * Listeners (docs/protocol.md §7): a session's Listen binds a socket on the session's loop, and
 * each connection becomes a channel of that session (relay_accept) with an Accepted frame. A
 * listener accepts only while the session has room for another channel and its window; until
 * then it is paused and connections wait in the kernel's backlog. Loop thread only.
 */

#include "session_internal.h"

void listeners_listen(struct session *s, const Sluice__V1__Listen *listen);
void listeners_unlisten(struct session *s, uint32_t listener_id);
/* Pauses or resumes each listener as the session's room for channels changed. */
void listeners_room_changed(struct session *s);
/* GoAway: ListenerClosed {ERROR_SHUTTING_DOWN} for each, and they stop. */
void listeners_go_away(struct session *s);
/* The session is ending: every listener stops, quietly. */
void listeners_session_gone(struct session *s);

#endif
