/* SPDX-License-Identifier: Apache-2.0 */
#include "listeners.h"
#include "relay.h"
#include "session_internal.h"

#include <sluice/clock.h>
#include <sluice/log.h>

#include <stdio.h>

/*
 * The daemon's list of open sessions, across loops, for GoAway and shutdown. A session leaves
 * it when its channel starts shutting down (the channel is still alive then), so a task
 * scheduled from another thread under the lock always finds its channel.
 */

void session_register(struct session *s)
{
    struct sluiced *d = s->d;
    pthread_mutex_lock(&d->lock);
    sl_list_push_back(&d->sessions, &s->registry_node);
    s->registered = true;
    d->session_count++;
    bool going_away = d->going_away;
    uint32_t deadline = d->go_away_deadline_ms;
    pthread_mutex_unlock(&d->lock);
    atomic_fetch_add(&d->sessions_total, 1);
    if (going_away) {
        s->go_away_deadline_ms = deadline; /* arrived while stopping: told after its handshake */
        s->go_away_pending = true;
    }
}

void session_unregister(struct session *s)
{
    struct sluiced *d = s->d;
    pthread_mutex_lock(&d->lock);
    if (s->registered) {
        s->registered = false;
        sl_list_remove(&s->registry_node);
        d->session_count--;
        pthread_cond_broadcast(&d->sessions_changed);
    }
    pthread_mutex_unlock(&d->lock);
}

size_t sluiced_session_count(struct sluiced *d)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->session_count;
    pthread_mutex_unlock(&d->lock);
    return n;
}

/* GoAway ------------------------------------------------------------------------------------ */

static void drain_timer_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct session *s = arg;
    if (status == SL_TASK_RUN) {
        session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_SHUTTING_DOWN, "the daemon is stopping");
    }
}

void session_send_go_away(struct session *s)
{
    if (s->go_away_sent || s->state == SESSION_DONE) {
        return;
    }
    if (s->state == SESSION_HELLO_SENT) {
        s->go_away_pending = true; /* Welcome first, then GoAway */
        return;
    }
    s->go_away_sent = true;
    Sluice__V1__GoAway go_away;
    sluice__v1__go_away__init(&go_away);
    go_away.deadline_ms = s->go_away_deadline_ms;
    go_away.reason = "the daemon is stopping";
    sl_frame_t frame;
    sluice__v1__frame__init(&frame);
    frame.body_case = SLUICE__V1__FRAME__BODY_GO_AWAY;
    frame.go_away = &go_away;
    session_send(s, &frame);
    listeners_go_away(s);
    if (relay_count(s) == 0) {
        session_check_drained(s); /* nothing to wait for */
        return;
    }
    struct sl_loop *loop = sl_channel_loop(s->channel);
    sl_channel_task_init(&s->drain_timer, drain_timer_fn, s, "session_drain_deadline");
    sl_channel_schedule_task_at(s->channel, &s->drain_timer,
                                sl_loop_now_ns(loop) +
                                    (uint64_t)s->go_away_deadline_ms * SL_NS_PER_MS);
}

void session_check_drained(struct session *s)
{
    if (s->go_away_sent && s->state == SESSION_OPEN && relay_count(s) == 0) {
        session_fault(s, SLUICE__V1__ERROR_CODE__ERROR_SHUTTING_DOWN,
                      "the daemon is stopping and the session has no channels left");
    }
}

static void go_away_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    if (status == SL_TASK_RUN) {
        session_send_go_away(arg);
    }
}

void sluiced_go_away(struct sluiced *d, uint32_t deadline_ms)
{
    pthread_mutex_lock(&d->lock);
    d->going_away = true;
    d->go_away_deadline_ms = deadline_ms;
    for (struct sl_list_node *node = sl_list_front(&d->sessions); node;
         node = sl_list_next(&d->sessions, node)) {
        struct session *s = sl_container_of(node, struct session, registry_node);
        if (!s->go_away_scheduled) {
            s->go_away_scheduled = true;
            s->go_away_deadline_ms = deadline_ms;
            sl_channel_task_init(&s->go_away_task, go_away_task_fn, s, "session_go_away");
            sl_channel_schedule_task_now(s->channel, &s->go_away_task);
        }
    }
    pthread_mutex_unlock(&d->lock);
}

bool sluiced_wait_sessions_closed(struct sluiced *d, uint64_t deadline_ns)
{
    pthread_mutex_lock(&d->lock);
    while (d->session_count > 0) {
        uint64_t now = sl_clock_now_ns();
        if (now >= deadline_ns) {
            break;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t wait = deadline_ns - now;
        wait = wait > 100 * SL_NS_PER_MS ? 100 * SL_NS_PER_MS : wait;
        until.tv_nsec += (long)wait;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&d->sessions_changed, &d->lock, &until);
    }
    bool closed = d->session_count == 0;
    pthread_mutex_unlock(&d->lock);
    return closed;
}
