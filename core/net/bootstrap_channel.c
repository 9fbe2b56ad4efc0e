/* SPDX-License-Identifier: Apache-2.0 */
#include "bootstrap_internal.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

static void free_binding(struct sl__channel_binding *b)
{
    sl_socket_destroy(b->socket); /* NULL once the socket handler has it */
    if (b->release_owner) {
        b->release_owner(b->owner);
    }
    sl_free(b);
}

static int install_socket_handler(struct sl__channel_binding *b, struct sl_channel *channel)
{
    struct sl_slot *slot;
    struct sl_handler *handler;
    SL_TRY(sl_slot_new(channel, &slot));
    SL_TRY(sl_socket_handler_new(b->socket, &b->handler_options, &handler));
    b->socket = NULL; /* the handler owns it now, even if the next step fails */
    int rc = sl_slot_set_handler(slot, handler);
    if (rc < 0) {
        handler->vtable->destroy(handler);
    }
    return rc;
}

static void on_channel_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    struct sl__channel_binding *b = user_data;
    if (!b->setup_failed && b->on_shutdown) {
        b->on_shutdown(channel, status, b->user_data);
    }
    sl_channel_release(channel); /* the bootstrap's reference: see bootstrap.h */
    free_binding(b);
}

static void on_channel_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct sl__channel_binding *b = user_data;
    int rc = status ? status : install_socket_handler(b, channel);
    if (rc == 0) {
        b->on_ready(b, channel, 0);
        return;
    }
    b->on_ready(b, NULL, rc);
    b->setup_failed = true;
    if (status == 0) {
        /* The channel runs, but nobody will use it: shut it down without the user's callback. */
        sl_channel_shutdown(channel, rc, true);
        return;
    }
    sl_channel_release(channel); /* setup never ran (dying loop): no shutdown will follow */
    free_binding(b);
}

void sl__bootstrap_start_channel(struct sl_loop *loop, struct sl__channel_binding *binding)
{
    struct sl_channel_options opts = {.loop = loop,
                                      .on_setup = on_channel_setup,
                                      .on_shutdown = on_channel_shutdown,
                                      .user_data = binding};
    struct sl_channel *channel;
    int rc = sl_channel_new(&opts, &channel);
    if (rc < 0) {
        binding->on_ready(binding, NULL, rc);
        free_binding(binding);
    }
}
