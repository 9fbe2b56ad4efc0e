/* SPDX-License-Identifier: Apache-2.0 */
#include "bootstrap_internal.h"

#include <sluice/alloc.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "guard.h"

#include <string.h>

static void free_binding(struct sl__channel_binding *b)
{
    sl_socket_destroy(b->socket); /* NULL once the socket handler has it */
    if (b->release_owner) {
        b->release_owner(b->owner);
    }
    sl_free(b);
}

/* TLS options ------------------------------------------------------------------------------- */

static int dup_into(char **dst, const char *src)
{
    if (!src) {
        return 0;
    }
    size_t n = strlen(src) + 1;
    *dst = sl_alloc(n);
    SL_ENSURE(*dst, SL_E_NOMEM);
    memcpy(*dst, src, n);
    return 0;
}

void sl__tls_copy_free(struct sl__tls_copy *copy)
{
    if (!copy) {
        return;
    }
    sl_tls_ctx_release(copy->opts.ctx);
    sl_free(copy->server_name);
    sl_free(copy->alpn_list);
    sl_free(copy->session_key);
    sl_free(copy);
}

int sl__tls_copy_new(const struct sl_tls_connection_options *src, bool server,
                     const char *default_name, const char *session_key, bool allow_half_close,
                     struct sl__tls_copy **out)
{
    *out = NULL;
    if (!src) {
        return 0;
    }
    SL_ENSURE_ARG(src->ctx && sl_tls_ctx_is_server(src->ctx) == server);
    struct sl__tls_copy *copy = sl_calloc(1, sizeof(*copy));
    SL_ENSURE(copy, SL_E_NOMEM);
    copy->opts = *src;
    sl_tls_ctx_acquire(src->ctx);
    int rc = dup_into(&copy->server_name, src->server_name ? src->server_name : default_name);
    rc = rc ? rc : dup_into(&copy->alpn_list, src->alpn_list);
    rc = rc ? rc : dup_into(&copy->session_key, src->session_key ? src->session_key : session_key);
    if (rc < 0) {
        sl__tls_copy_free(copy);
        return rc;
    }
    copy->opts.server_name = copy->server_name;
    copy->opts.alpn_list = copy->alpn_list;
    copy->opts.session_key = copy->session_key;
    copy->opts.allow_half_close = allow_half_close;
    *out = copy;
    return 0;
}

/* Channels ------------------------------------------------------------------------------------ */

static void report_ready(struct sl__channel_binding *b, struct sl_channel *channel, int status)
{
    b->ready_reported = true;
    b->setup_failed = status != 0;
    b->tls = NULL; /* its owner may go once it hears */
    b->on_ready(b, channel, status);
}

/* The handshake ended: the channel is ready, or it failed and is shutting down already. */
static void on_tls_negotiated(struct sl_handler *handler, struct sl_slot *slot,
                              const struct sl_tls_negotiation *result, void *user_data)
{
    struct sl__channel_binding *b = user_data;
    if (b->tls->on_negotiated) {
        b->tls->on_negotiated(handler, slot, result, b->tls->user_data);
    }
    struct sl_channel *channel = sl_slot_channel(slot);
    report_ready(b, result->error ? NULL : channel, result->error);
}

static int install_tls_handler(struct sl__channel_binding *b, struct sl_channel *channel)
{
    struct sl_tls_connection_options opts = *b->tls;
    opts.on_negotiated = on_tls_negotiated;
    opts.user_data = b;
    struct sl_handler *handler;
    return sl_tls_handler_install(sl_channel_first_slot(channel), &opts, &handler);
}

static int install_socket_handler(struct sl__channel_binding *b, struct sl_channel *channel)
{
    struct sl_slot *slot;
    struct sl_handler *handler;
    SL_TRY(sl_slot_new(channel, &slot));
    struct sl_socket_handler_options handler_options = b->handler_options;
    if (b->tls) {
        /* So that the end of the stream reaches TLS, which tells close_notify from truncation. */
        handler_options.allow_half_close = true;
    }
    SL_TRY(sl_socket_handler_new(b->socket, &handler_options, &handler));
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
    if (!b->ready_reported) {
        /* It died during the handshake before TLS could say so (a reset, the loop dying). */
        report_ready(b, NULL, status ? status : SL_E_CLOSED);
    }
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
    if (rc == 0 && b->tls) {
        rc = install_tls_handler(b, channel);
        if (rc == 0) {
            return; /* on_tls_negotiated reports */
        }
    }
    if (rc == 0) {
        report_ready(b, channel, 0);
        return;
    }
    report_ready(b, NULL, rc);
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
