/* SPDX-License-Identifier: Apache-2.0 */
#include "auth.h"
#include "config.h"
#include "listeners.h"
#include "policy.h"
#include "relay.h"
#include "session_internal.h"

#include <sluice/alloc.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/socket_handler.h>

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/*
 * A session: the handler at the end of a client's channel ([socket handler][session]). It
 * reassembles frames from the byte stream, runs the handshake, answers requests and enforces
 * the session's limits (docs/protocol.md). A fault is answered with an Error frame and a
 * graceful shutdown, so the Error reaches the client before the socket closes; it never
 * touches another session.
 */

#define SESSION_WINDOW ((size_t)256 * 1024)
/*
 * Frames other than Data (Pong, Stats, Resolved, Close, ...) the client has not read yet: above
 * this the daemon reads nothing more from it (docs/protocol.md §10), so a client that sends
 * requests but never reads the answers cannot make the daemon queue without end.
 */
#define CONTROL_QUEUE_MAX ((size_t)1 << 20)

/* Sending ------------------------------------------------------------------------------------- */

static bool backed_up(const struct session *s)
{
    return s->control_queued > CONTROL_QUEUE_MAX;
}

static void resume_task_fn(struct sl_task *task, void *arg, enum sl_task_status status);

/*
 * A control frame reached the client's socket (or never will: the socket handler completes
 * what it still holds when it goes, before the session is destroyed). Once half the limit has
 * drained, the frames left waiting are handled from a task (not from inside a write
 * completion) and reading resumes.
 */
static void on_control_written(struct sl_channel *channel, struct sl_msg *msg, int status,
                               void *user_data)
{
    (void)status;
    struct session *s = user_data;
    s->control_queued -= msg->data.len;
    if (s->paused && !s->resume_scheduled && s->control_queued <= CONTROL_QUEUE_MAX / 2 &&
        s->state != SESSION_DONE) {
        s->resume_scheduled = true;
        sl_channel_task_init(&s->resume_task, resume_task_fn, s, "session_resume_reading");
        sl_channel_schedule_task_now(channel, &s->resume_task);
    }
}

void session_send(struct session *s, const sl_frame_t *frame)
{
    if (s->state == SESSION_DONE) {
        return;
    }
    size_t size = sl_frame_size(frame);
    struct sl_msg *msg;
    if (size > SL_MSG_MAX_SIZE || sl_channel_acquire_msg(s->channel, size, &msg) < 0) {
        /* Control frames are small; the big ones (Data) are written by the relay in pieces. */
        SL_LOG_ERROR(SL_LS_DAEMON, "session %llu: cannot send a %zu-byte frame",
                     (unsigned long long)s->id, size);
        return;
    }
    msg->data.len = sl_frame_encode(frame, msg->data.data);
    msg->on_complete = on_control_written;
    msg->user_data = s;
    s->control_queued += msg->data.len; /* first: the completion may come at once */
    if (sl_slot_send(s->base.slot, msg, SL_DIR_WRITE) < 0) {
        s->control_queued -= msg->data.len;
        msg->on_complete = NULL;
        sl_channel_release_msg(s->channel, msg); /* the socket is going: nothing to tell */
    }
}

void session_status_init(Sluice__V1__Status *st, Sluice__V1__ErrorCode code, const char *message)
{
    sluice__v1__status__init(st);
    st->code = code;
    st->message = (char *)(uintptr_t)message; /* not const in protobuf-c; packing only reads it */
}

void session_send_status(struct session *s, Sluice__V1__Frame__BodyCase which, uint32_t id,
                         Sluice__V1__ErrorCode code, const char *message)
{
    Sluice__V1__Status st;
    session_status_init(&st, code, message);
    union {
        Sluice__V1__Close close;
        Sluice__V1__OpenFailed open_failed;
        Sluice__V1__ListenFailed listen_failed;
        Sluice__V1__ListenerClosed listener_closed;
    } body;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = which;
    if (which == SLUICE__V1__FRAME__BODY_CLOSE) {
        sluice__v1__close__init(&body.close);
        body.close.channel_id = id;
        body.close.status = &st;
        frame.close = &body.close;
    } else if (which == SLUICE__V1__FRAME__BODY_OPEN_FAILED) {
        sluice__v1__open_failed__init(&body.open_failed);
        body.open_failed.channel_id = id;
        body.open_failed.status = &st;
        frame.open_failed = &body.open_failed;
    } else if (which == SLUICE__V1__FRAME__BODY_LISTEN_FAILED) {
        sluice__v1__listen_failed__init(&body.listen_failed);
        body.listen_failed.listener_id = id;
        body.listen_failed.status = &st;
        frame.listen_failed = &body.listen_failed;
    } else { /* SLUICE__V1__FRAME__BODY_LISTENER_CLOSED, the last of the four */
        sluice__v1__listener_closed__init(&body.listener_closed);
        body.listener_closed.listener_id = id;
        body.listener_closed.status = &st;
        frame.body_case = SLUICE__V1__FRAME__BODY_LISTENER_CLOSED;
        frame.listener_closed = &body.listener_closed;
    }
    session_send(s, &frame);
}

static void send_error(struct session *s, Sluice__V1__ErrorCode code, const char *message)
{
    Sluice__V1__Status status;
    session_status_init(&status, code, message);
    Sluice__V1__Error error;
    sluice__v1__error__init(&error);
    error.status = &status;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_ERROR;
    frame.error = &error;
    session_send(s, &frame);
}

void session_fault(struct session *s, Sluice__V1__ErrorCode code, const char *message)
{
    if (s->state == SESSION_DONE) {
        return;
    }
    SL_LOG_INFO(
        SL_LS_DAEMON, "session %llu (%s): ending it: %s (%s)", (unsigned long long)s->id,
        s->client_name,
        protobuf_c_enum_descriptor_get_value(&sluice__v1__error_code__descriptor, (int)code)->name,
        message);
    send_error(s, code, message);
    s->state = SESSION_DONE;
    sl_channel_shutdown(s->channel, 0, false); /* graceful: the Error goes out first */
}

/* Limits -------------------------------------------------------------------------------------- */

void bucket_init(struct token_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ns)
{
    *b = (struct token_bucket){.rate = rate, .burst = burst, .tokens = burst, .last_ns = now_ns};
}

bool bucket_take(struct token_bucket *b, uint64_t now_ns)
{
    double elapsed_s = (double)(now_ns - b->last_ns) / (double)SL_NS_PER_SEC;
    b->last_ns = now_ns;
    b->tokens += elapsed_s * b->rate;
    if (b->tokens > b->burst) {
        b->tokens = b->burst;
    }
    if (b->tokens < 1.0) {
        return false;
    }
    b->tokens -= 1.0;
    return true;
}

/* Takes a token from b, or ends the session as a flood. */
bool session_charge(struct session *s, struct token_bucket *b, const char *what)
{
    if (bucket_take(b, sl_loop_now_ns(sl_channel_loop(s->channel)))) {
        return true;
    }
    char message[96];
    snprintf(message, sizeof(message), "too many %s (over %u per second)", what, b->rate);
    session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_FLOOD, message);
    return false;
}

/* The handshake ------------------------------------------------------------------------------- */

static void send_server_hello(struct session *s)
{
    static uint32_t versions[] = {1};
    Sluice__V1__ServerHello hello;
    sluice__v1__server_hello__init(&hello);
    hello.n_versions = 1;
    hello.versions = versions;
    hello.daemon = (char *)(uintptr_t)("sluiced " SLUICED_VERSION);
    hello.nonce = (ProtobufCBinaryData){.len = sizeof(s->nonce), .data = s->nonce};
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_SERVER_HELLO;
    frame.server_hello = &hello;
    session_send(s, &frame);
}

/* Authentication (when Hello carries a key) and policy: false when the session was refused. */
static bool admit(struct session *s, const Sluice__V1__Hello *hello)
{
    const char *why = "";
    bool wants_key = hello->auth_public_key.len > 0 || hello->auth_signature.len > 0;
    if (wants_key && !auth_verify(s->nonce, hello, s->who.key, &why)) {
        SL_LOG_WARN(SL_LS_DAEMON, "session %llu (pid %d uid %u): authentication failed: %s",
                    (unsigned long long)s->id, (int)s->who.pid, (unsigned)s->who.uid, why);
        session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_AUTH_FAILED, why);
        return false;
    }
    s->who.has_key = wants_key;
    struct sluiced_config *cfg = sluiced_config_get(s->d);
    struct grant grant;
    bool admitted = policy_grant(cfg, &s->who, &grant);
    if (admitted) {
        policy_limits(&grant, &cfg->limits, &s->limits);
        SL_LOG_INFO(SL_LS_DAEMON, "session %llu: pid %d uid %u gid %u%s admitted as %s",
                    (unsigned long long)s->id, (int)s->who.pid, (unsigned)s->who.uid,
                    (unsigned)s->who.gid, s->who.has_key ? " with its key" : "",
                    grant.client ? grant.client->name : "the daemon's owner");
    }
    config_release(cfg);
    if (!admitted) {
        char message[160];
        snprintf(message, sizeof(message), "no policy admits uid %u%s", (unsigned)s->who.uid,
                 s->who.has_key ? " or its key" : "");
        SL_LOG_WARN(SL_LS_DAEMON, "session %llu (pid %d): refused: %s", (unsigned long long)s->id,
                    (int)s->who.pid, message);
        session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_DENIED, message);
    }
    return admitted;
}

static void on_hello(struct session *s, const Sluice__V1__Hello *hello)
{
    if (hello->version != 1) {
        session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_UNSUPPORTED_VERSION,
                      "this daemon speaks protocol version 1");
        return;
    }
    snprintf(s->client_name, sizeof(s->client_name), "%s",
             hello->client_name && *hello->client_name ? hello->client_name : "unnamed");
    if (!admit(s, hello)) {
        return;
    }
    uint32_t max_frame = s->limits.max_frame;
    if (hello->max_frame && hello->max_frame < max_frame) {
        max_frame =
            hello->max_frame < SL_FRAME_HANDSHAKE_MAX ? SL_FRAME_HANDSHAKE_MAX : hello->max_frame;
    }
    s->max_frame = max_frame;
    s->state = SESSION_OPEN;
    Sluice__V1__Welcome welcome;
    sluice__v1__welcome__init(&welcome);
    welcome.version = 1;
    welcome.session_id = s->id;
    welcome.max_frame = max_frame;
    welcome.default_window = s->limits.default_window;
    welcome.max_channels = s->limits.max_channels;
    welcome.max_listeners = s->limits.max_listeners;
    welcome.session_budget = s->limits.session_budget;
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_WELCOME;
    frame.welcome = &welcome;
    session_send(s, &frame);
    SL_LOG_INFO(SL_LS_DAEMON, "session %llu: \"%s\" attached", (unsigned long long)s->id,
                s->client_name);
    if (s->go_away_pending) {
        session_send_go_away(s);
    }
}

static void handshake_timer_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct session *s = arg;
    if (status == SL_TASK_RUN && s->state == SESSION_HELLO_SENT) {
        session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_OUT_OF_ORDER, "handshake timeout");
    }
}

/* Frames in ----------------------------------------------------------------------------------- */

static void dispatch(struct session *s, const sl_frame_t *f)
{
    if (f->body_case == SLUICE__V1__FRAME__BODY__NOT_SET) {
        session_charge(s, &s->empty_bucket, "empty frames");
        return;
    }
    if (s->state == SESSION_HELLO_SENT) {
        if (f->body_case == SLUICE__V1__FRAME__BODY_HELLO) {
            on_hello(s, f->hello);
        } else {
            session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_OUT_OF_ORDER,
                          "the first frame must be Hello");
        }
        return;
    }
    session_dispatch_open(s, f);
}

/* Data, the bulk of the traffic, is taken from the bytes in place, without unpacking. */
static bool take_data(struct session *s, const uint8_t *p, size_t len, size_t *used)
{
    uint32_t channel_id;
    const uint8_t *payload;
    size_t payload_len;
    if (s->state != SESSION_OPEN || sl_frame_peek_data(p, len, s->max_frame, &channel_id, &payload,
                                                       &payload_len, used) != SL_FRAME_OK) {
        return false;
    }
    if (payload_len == 0 && !session_charge(s, &s->empty_bucket, "empty Data frames")) {
        return true;
    }
    relay_data(s, channel_id, payload, payload_len);
    return true;
}

/*
 * A Data frame larger than what has arrived: its header is taken now and its payload passed on
 * piece by piece as reads bring it (s->stream_left), instead of being gathered in s->in first.
 */
static bool start_stream(struct session *s, const uint8_t *p, size_t len, size_t *used)
{
    uint32_t channel_id;
    size_t payload_len, header_len;
    if (s->state != SESSION_OPEN ||
        sl_frame_peek_data_start(p, len, s->max_frame, &channel_id, &payload_len, &header_len) !=
            SL_FRAME_OK ||
        !relay_data_streamable(s, channel_id)) {
        return false;
    }
    s->stream_channel = relay_data_begin(s, channel_id, payload_len) ? channel_id : 0;
    s->stream_left = payload_len;
    *used = header_len;
    return true;
}

/* Handles every whole frame at the front of [p, p + len); returns the bytes they took. */
static size_t process_frames(struct session *s, const uint8_t *p, size_t len)
{
    size_t off = 0;
    while (s->state != SESSION_DONE && !backed_up(s)) {
        sl_frame_t *frame = NULL;
        size_t used = 0;
        if (s->stream_left > 0) {
            size_t n = len - off < s->stream_left ? len - off : s->stream_left;
            if (n == 0) {
                break;
            }
            if (s->stream_channel) {
                relay_data_piece(s, s->stream_channel, p + off, n);
            }
            s->stream_left -= n;
            off += n;
            continue;
        }
        if (take_data(s, p + off, len - off, &used) || start_stream(s, p + off, len - off, &used)) {
            off += used;
            continue;
        }
        int rc = sl_frame_decode(p + off, len - off, s->max_frame, &frame, &used);
        if (rc == SL_FRAME_INCOMPLETE) {
            break;
        }
        if (rc < 0) {
            session_fault(s,
                          rc == SL_FRAME_TOO_LARGE ? SLUICE__V1__ERROR_CODE__ERROR_FRAME_TOO_LARGE
                                                   : SLUICE__V1__ERROR_CODE__ERROR_FRAME_MALFORMED,
                          sl_frame_result_name(rc));
            break;
        }
        off += used;
        dispatch(s, frame);
        sl_frame_free(frame);
    }
    return s->state == SESSION_DONE ? len : off;
}

/*
 * Frames are handled straight from the read message; only a partial frame at its end is
 * copied into s->in to wait for the rest, so bulk Data is not copied twice.
 */
static int take_bytes(struct session *s, struct sl_cursor bytes)
{
    if (s->in.len == 0 && !s->paused) {
        size_t used = process_frames(s, bytes.ptr, bytes.len);
        return sl_buf_append(&s->in, sl_cursor_from(bytes.ptr + used, bytes.len - used));
    }
    int rc = sl_buf_append(&s->in, bytes);
    if (rc < 0) {
        return rc;
    }
    size_t used = process_frames(s, s->in.data, s->in.len);
    memmove(s->in.data, s->in.data + used, s->in.len - used);
    s->in.len -= used;
    return 0;
}

/* Reading stops while answers pile up unread; what was read waits in s->in meanwhile. */
static void reopen_or_hold(struct session *s, size_t len)
{
    if (backed_up(s) || s->paused) {
        if (!s->paused) {
            SL_LOG_DEBUG(SL_LS_DAEMON, "session %llu: %zu bytes of answers unread, reading paused",
                         (unsigned long long)s->id, s->control_queued);
        }
        s->paused = true;
        s->read_held += len;
        return;
    }
    /* At most one frame (max_frame) and one read stay buffered: reopen by what was taken. */
    sl_slot_increment_read_window(s->base.slot, len);
}

static void resume_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct session *s = arg;
    s->resume_scheduled = false;
    if (status != SL_TASK_RUN || s->state == SESSION_DONE) {
        return;
    }
    size_t used = process_frames(s, s->in.data, s->in.len);
    memmove(s->in.data, s->in.data + used, s->in.len - used);
    s->in.len -= used;
    if (s->state != SESSION_DONE && !backed_up(s)) {
        SL_LOG_DEBUG(SL_LS_DAEMON, "session %llu: the client reads again",
                     (unsigned long long)s->id);
        s->paused = false;
        size_t held = s->read_held;
        s->read_held = 0;
        sl_slot_increment_read_window(s->base.slot, held);
    }
}

static int session_on_read(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)slot;
    struct session *s = session_of(handler);
    size_t len = msg->data.len;
    int rc = s->state == SESSION_DONE ? 0 : take_bytes(s, sl_buf_cursor(&msg->data));
    sl_channel_release_msg(s->channel, msg);
    if (rc < 0) {
        session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_INTERNAL, "out of memory");
    }
    reopen_or_hold(s, len);
    return 0;
}

/* The rest of the handler --------------------------------------------------------------------- */

static int session_on_write(struct sl_handler *handler, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)handler;
    return sl_slot_send(slot, msg, SL_DIR_WRITE);
}

static int session_on_window_update(struct sl_handler *handler, struct sl_slot *slot, size_t bytes)
{
    (void)handler;
    (void)slot;
    (void)bytes;
    return 0;
}

static int session_on_shutdown(struct sl_handler *handler, struct sl_slot *slot,
                               enum sl_direction dir, int status, bool abort_immediately)
{
    struct session *s = session_of(handler);
    s->state = SESSION_DONE;
    session_unregister(s); /* from now on nobody schedules anything on this session */
    relay_session_gone(s); /* its channels are aborted: nothing is left behind */
    listeners_session_gone(s);
    sl_slot_on_shutdown_complete(slot, dir, status, abort_immediately);
    return 0;
}

static size_t session_initial_window(struct sl_handler *handler)
{
    (void)handler;
    return SESSION_WINDOW;
}

static size_t session_message_overhead(struct sl_handler *handler)
{
    (void)handler;
    return 0;
}

static void session_destroy(struct sl_handler *handler)
{
    struct session *s = session_of(handler);
    session_unregister(s);
    relay_session_gone(s);
    listeners_session_gone(s);
    SL_LOG_INFO(SL_LS_DAEMON, "session %llu (%s): closed", (unsigned long long)s->id,
                s->client_name);
    sl_buf_clean_up(&s->in);
    sl_free(s);
}

static const struct sl_handler_vtable s_session_vtable = {
    .name = "session",
    .on_read = session_on_read,
    .on_write = session_on_write,
    .on_window_update = session_on_window_update,
    .on_shutdown = session_on_shutdown,
    .initial_window = session_initial_window,
    .message_overhead = session_message_overhead,
    .destroy = session_destroy,
};

struct session *session_of(struct sl_handler *handler)
{
    return sl_container_of(handler, struct session, base);
}

int sluiced_session_start(struct sluiced *d, struct sl_channel *channel)
{
    struct session *s = sl_calloc(1, sizeof(*s));
    if (!s) {
        return SL_E_NOMEM;
    }
    s->base.vtable = &s_session_vtable;
    s->d = d;
    s->channel = channel;
    s->id = atomic_fetch_add(&d->next_session_id, 1) + 1;
    s->state = SESSION_HELLO_SENT;
    s->max_frame = SL_FRAME_HANDSHAKE_MAX;
    relay_table_init(&s->relays);
    snprintf(s->client_name, sizeof(s->client_name), "unnamed");
    struct sluiced_config *cfg = sluiced_config_get(d);
    s->limits = cfg->limits; /* the session's own once its policy is known (admit) */
    config_release(cfg);
    struct sl_socket *socket =
        sl_socket_handler_socket(sl_slot_handler(sl_channel_first_slot(channel)));
    int rc = peer_identity_read(sl_socket_fd(socket), &s->who);
    if (rc < 0) {
        SL_LOG_WARN(SL_LS_DAEMON, "session %llu: no peer credentials: %s",
                    (unsigned long long)s->id, sl_strerror(rc));
        s->who.uid = (uid_t)-1; /* nobody: only a key can admit it */
        s->who.gid = (gid_t)-1;
    }
    uint64_t now = sl_loop_now_ns(sl_channel_loop(channel));
    bucket_init(&s->ping_bucket, s->limits.ping_rate, s->limits.ping_burst, now);
    bucket_init(&s->empty_bucket, s->limits.empty_rate, s->limits.empty_burst, now);
    bucket_init(&s->churn_bucket, s->limits.churn_rate, s->limits.churn_burst, now);
    if (getrandom(s->nonce, sizeof(s->nonce), 0) != (ssize_t)sizeof(s->nonce) ||
        sl_buf_init(&s->in, 4096) < 0) {
        sl_free(s);
        return SL_E_NOMEM;
    }
    struct sl_slot *slot;
    rc = sl_slot_new(channel, &slot);
    if (rc < 0) {
        sl_buf_clean_up(&s->in);
        sl_free(s);
        return rc;
    }
    if ((rc = sl_slot_insert_end(channel, slot)) < 0 ||
        (rc = sl_slot_set_handler(slot, &s->base)) < 0) {
        sl_slot_remove(slot);
        sl_buf_clean_up(&s->in);
        sl_free(s);
        return rc;
    }
    session_register(s);
    send_server_hello(s);
    sl_channel_task_init(&s->handshake_timer, handshake_timer_fn, s, "session_handshake_timeout");
    sl_channel_schedule_task_at(channel, &s->handshake_timer,
                                now + (uint64_t)s->limits.handshake_timeout_ms * SL_NS_PER_MS);
    return 0;
}
