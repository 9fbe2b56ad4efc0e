/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/client.h>

#include "client_internal.h"

#include <poll.h>
#include <string.h>

/* Stats (docs/protocol.md §8), and the event loop API for non-blocking use. */

/* Stats ------------------------------------------------------------------------------------- */

static void copy_channel_stats(struct sl_client_channel_stats *out,
                               const Sluice__V1__ChannelStats *in)
{
    out->channel_id = in->channel_id;
    sl__client_copy_string(out->remote_address, sizeof(out->remote_address), in->remote_address);
    out->bytes_in = in->bytes_in;
    out->bytes_out = in->bytes_out;
    out->send_window = in->send_window;
    out->receive_window = in->receive_window;
    sl__client_copy_string(out->state, sizeof(out->state), in->state);
}

static int take_stats(const Sluice__V1__Stats *in, struct sl_client_stats *out)
{
    out->sessions = in->sessions;
    out->channels = in->channels;
    out->listeners = in->listeners;
    out->bytes_in = in->bytes_in;
    out->bytes_out = in->bytes_out;
    out->uptime_s = in->uptime_s;
    if (in->n_session_channels == 0) {
        return 0;
    }
    out->session = sl__client_calloc(in->n_session_channels, sizeof(out->session[0]));
    if (!out->session) {
        return SL_CLIENT_E_NOMEM;
    }
    out->channel_count = in->n_session_channels;
    for (size_t i = 0; i < in->n_session_channels; i++) {
        copy_channel_stats(&out->session[i], in->session_channels[i]);
    }
    return 0;
}

int sl_client_stats(struct sl_client *client, uint32_t timeout_ms, struct sl_client_stats *out)
{
    if (!out) {
        return SL_CLIENT_E_INVAL;
    }
    memset(out, 0, sizeof(*out));
    if (!client) {
        return SL_CLIENT_E_INVAL;
    }
    if (client->fault) {
        return client->fault;
    }
    client->message[0] = '\0';
    Sluice__V1__StatsRequest request;
    sluice__v1__stats_request__init(&request);
    request.request_id = client->next_id++;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_STATS_REQUEST;
    frame.stats_request = &request;
    const struct sl__client_wait wait = {
        .body = SLUICE__V1__FRAME__BODY_STATS, .id = request.request_id, .has_id = true};
    sl_frame_t *reply = NULL;
    int rc = sl__client_request(client, &frame, &wait, sl__client_deadline(timeout_ms), &reply);
    if (rc < 0) {
        return rc;
    }
    rc = take_stats(reply->stats, out);
    sl_frame_free(reply);
    return rc;
}

void sl_client_stats_free(struct sl_client_stats *stats)
{
    if (stats) {
        sl__client_free(stats->session);
        stats->session = NULL;
        stats->channel_count = 0;
    }
}

/* The event loop ------------------------------------------------------------------------------ */

short sl_client_poll_events(const struct sl_client *client)
{
    if (!client) {
        return 0;
    }
    bool queued = client->olen > client->ohead;
    return (short)(POLLIN | (queued || client->want_write ? POLLOUT : 0));
}

int sl_client_process(struct sl_client *client)
{
    if (!client) {
        return SL_CLIENT_E_INVAL;
    }
    /* The socket was writable, or the caller asks anyway: its next write tries again. */
    client->want_write = false;
    int rc = sl__client_pump(client);
    return rc < 0 ? rc : 0;
}
