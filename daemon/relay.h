/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_RELAY_H
#define SLUICED_RELAY_H

/*
 * Channels (docs/protocol.md §4-6): each Open becomes a network channel
 * [socket handler][TLS handler][relay] on the session's loop, and the relay moves payload
 * between it and the session's Data frames under exact credit both ways:
 *
 *  - network → client: the relay slot's read window is the client's credit (Open.window, then
 *    every Window it sends), so the daemon reads from the network only what the client may
 *    receive, and holds at most that much for it;
 *  - client → network: the client may send the daemon's window (Opened.window); credit goes
 *    back in Window frames, in batches of half the window, as bytes reach the network.
 *
 * Everything runs on the session's loop thread.
 */

#include "session_internal.h"

#include <stdbool.h>

void relay_table_init(struct relay_table *t);
/* The session's channels in use (opening or open). */
size_t relay_count(const struct session *s);
/* Every channel of a session that is going away is aborted; the table is freed. */
void relay_session_gone(struct session *s);

void relay_open(struct session *s, const Sluice__V1__Open *open);
void relay_data(struct session *s, uint32_t channel_id, const uint8_t *payload, size_t len);
/*
 * Data whose payload arrives in pieces (a frame larger than one read): begin checks and
 * charges the whole payload against the client's credit (false: drop the pieces, the fault is
 * sent); each piece then goes to the network as it arrives, so bulk Data is never gathered
 * into a frame first. Not for datagrams, which go out whole (relay_data_streamable).
 */
bool relay_data_streamable(struct session *s, uint32_t channel_id);
bool relay_data_begin(struct session *s, uint32_t channel_id, size_t payload_len);
void relay_data_piece(struct session *s, uint32_t channel_id, const uint8_t *p, size_t len);
void relay_window(struct session *s, uint32_t channel_id, uint32_t increment);
void relay_shutdown(struct session *s, uint32_t channel_id);
void relay_close(struct session *s, uint32_t channel_id, Sluice__V1__ErrorCode code);

/* Room for one more channel with the client's receive window `window` (count and budget). */
bool relay_has_room(const struct session *s, uint32_t window);
/*
 * Makes a listener's connection a channel of the session (a daemon id, Accepted sent).
 * Errors: SL_E_NOMEM, ...: the caller shuts the channel down.
 */
int relay_accept(struct session *s, uint32_t listener_id, uint32_t window,
                 struct sl_channel *channel);
/* An accepted channel finished shutting down (the listener's on_shutdown). */
void relay_accepted_shut_down(struct sl_channel *channel, int status);

/* Stats.session_channels, owned by *st until relay_stats_free (relay_stats.c). */
struct relay_stats {
    Sluice__V1__ChannelStats *items;
    Sluice__V1__ChannelStats **ptrs;
    char (*remote)[160];
    size_t count;
};
int relay_stats_fill(struct session *s, Sluice__V1__Stats *stats, struct relay_stats *out);
void relay_stats_free(struct relay_stats *st);

#endif
