/* SPDX-License-Identifier: Apache-2.0 */
#include "test_handler.h"
#include "test_harness.h"

#include <sluice/alloc.h>
#include <sluice/channel.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/thread.h>

#include <stdatomic.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Channel mechanics with in-memory handlers only: slots, windows, messages, tasks, shutdown
 * order and lifetime. Sockets are exercised in unit.net.
 */

static void sleep_us(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

enum { MAX_HANDLERS = 4 };

struct fixture {
    struct sl_loop *loop;
    struct sl_channel *channel;
    struct sl_handler *handlers[MAX_HANDLERS];
    struct test_record records[MAX_HANDLERS];
    struct test_handler_options opts[MAX_HANDLERS];
    struct test_order_log log;
    int count;
    struct sl_test_latch setup_done;
    struct sl_test_latch shutdown_done;
    int setup_status;
    int shutdown_status;
};

static struct fixture s_fx;

static void fixture_setup(void)
{
    memset(&s_fx, 0, sizeof(s_fx));
    struct sl_loop_options lopts = {.name = "chan-test", .cpu = -1};
    ck_assert_int_eq(sl_loop_new(&lopts, &s_fx.loop), 0);
    ck_assert_int_eq(sl_loop_run(s_fx.loop), 0);
    test_order_log_init(&s_fx.log);
    sl_test_latch_init(&s_fx.setup_done);
    sl_test_latch_init(&s_fx.shutdown_done);
    for (int i = 0; i < MAX_HANDLERS; i++) {
        test_record_init(&s_fx.records[i]);
        static const char *const names[] = {"A", "B", "C", "D"};
        s_fx.opts[i] = (struct test_handler_options){.name = names[i],
                                                     .initial_window = SIZE_MAX,
                                                     .record = &s_fx.records[i],
                                                     .log = &s_fx.log};
    }
}

static void fixture_teardown(void)
{
    ck_assert_int_eq(sl_loop_destroy(s_fx.loop), 0);
    for (int i = 0; i < MAX_HANDLERS; i++) {
        test_record_clean_up(&s_fx.records[i]);
    }
    sl_test_latch_clean_up(&s_fx.setup_done);
    sl_test_latch_clean_up(&s_fx.shutdown_done);
}

static void on_setup(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    struct fixture *fx = user_data;
    fx->setup_status = status;
    for (int i = 0; status == 0 && i < fx->count; i++) {
        struct sl_slot *slot;
        ck_assert_int_eq(sl_slot_new(channel, &slot), 0);
        if (i > 0) {
            ck_assert_int_eq(sl_slot_insert_end(channel, slot), 0);
        }
        ck_assert_int_eq(test_handler_new(&fx->opts[i], &fx->handlers[i]), 0);
        ck_assert_int_eq(sl_slot_set_handler(slot, fx->handlers[i]), 0);
    }
    sl_test_latch_add(&fx->setup_done, 1);
}

static void on_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    struct fixture *fx = user_data;
    test_order_log_add(&fx->log, "channel", "shutdown");
    fx->shutdown_status = status;
    sl_test_latch_add(&fx->shutdown_done, 1);
}

/* Builds a channel of `count` test handlers named A, B, C... from left to right. */
static void build_channel(int count)
{
    s_fx.count = count;
    struct sl_channel_options opts = {
        .loop = s_fx.loop, .on_setup = on_setup, .on_shutdown = on_shutdown, .user_data = &s_fx};
    ck_assert_int_eq(sl_channel_new(&opts, &s_fx.channel), 0);
    ck_assert(sl_test_latch_wait(&s_fx.setup_done, 1, 10000));
    ck_assert_int_eq(s_fx.setup_status, 0);
}

static void noop(void *arg)
{
    (void)arg;
}

/* Waits until every task already queued on the loop has run. */
static void settle(void)
{
    sl_test_run_on_loop(s_fx.loop, noop, NULL);
    sl_test_run_on_loop(s_fx.loop, noop, NULL);
}

static void release_channel(void)
{
    sl_channel_release(s_fx.channel);
    settle();
}

static void shut_down_and_release(int status)
{
    sl_channel_shutdown(s_fx.channel, status, false);
    ck_assert(sl_test_latch_wait(&s_fx.shutdown_done, 1, 10000));
    release_channel();
}

static struct sl_slot *slot_of(int i)
{
    return s_fx.handlers[i]->slot;
}

/* Slots ----------------------------------------------------------------------------------- */

static void rearrange_slots(void *arg)
{
    (void)arg;
    struct sl_slot *a = slot_of(0);
    struct sl_slot *c_slot, *d_slot;
    ck_assert_int_eq(sl_slot_new(s_fx.channel, &c_slot), 0);
    ck_assert_int_eq(test_handler_new(&s_fx.opts[2], &s_fx.handlers[2]), 0);
    ck_assert_int_eq(sl_slot_set_handler(c_slot, s_fx.handlers[2]), 0);
    ck_assert_int_eq(sl_slot_insert_right(a, c_slot), 0); /* A C B */
    ck_assert_ptr_eq(sl_slot_right(a), c_slot);
    ck_assert_int_eq(sl_slot_insert_right(a, c_slot), SL_E_INVAL); /* already placed */

    ck_assert_int_eq(sl_slot_new(s_fx.channel, &d_slot), 0);
    ck_assert_int_eq(test_handler_new(&s_fx.opts[3], &s_fx.handlers[3]), 0);
    ck_assert_int_eq(sl_slot_set_handler(d_slot, s_fx.handlers[3]), 0);
    ck_assert_int_eq(sl_slot_set_handler(d_slot, s_fx.handlers[3]), SL_E_STATE);
    ck_assert_int_eq(sl_slot_replace(c_slot, d_slot), 0); /* A D B, C destroyed */
    ck_assert_ptr_eq(sl_slot_right(a), d_slot);
    ck_assert_ptr_eq(sl_slot_left(slot_of(1)), d_slot);

    sl_slot_remove(d_slot); /* A B, D destroyed */
    ck_assert_ptr_eq(sl_slot_right(a), slot_of(1));
    ck_assert_ptr_eq(sl_channel_first_slot(s_fx.channel), a);
    ck_assert_ptr_null(sl_slot_left(a));
}

START_TEST(slots_insert_replace_and_remove_keep_the_chain)
{
    build_channel(2);
    sl_test_run_on_loop(s_fx.loop, rearrange_slots, NULL);
    ck_assert(s_fx.records[2].destroyed);
    ck_assert(s_fx.records[3].destroyed);
    ck_assert(!s_fx.records[0].destroyed);
    shut_down_and_release(0);
    ck_assert(s_fx.records[0].destroyed && s_fx.records[1].destroyed);
}
END_TEST

/* Windows --------------------------------------------------------------------------------- */

static void three_increments(void *arg)
{
    (void)arg;
    test_handler_increment(s_fx.handlers[2], 10);
    test_handler_increment(s_fx.handlers[2], 20);
    test_handler_increment(s_fx.handlers[2], 30);
    ck_assert_uint_eq(sl_slot_window(slot_of(2)), 1060);
}

START_TEST(initial_window_travels_left_and_increments_coalesce)
{
    s_fx.opts[1].passthrough = true;
    s_fx.opts[2].initial_window = 1000;
    build_channel(3);
    settle();
    ck_assert_uint_eq(sl_slot_window(slot_of(2)), 1000);
    ck_assert_uint_eq(s_fx.records[0].window_updates, 1); /* B's initial SIZE_MAX is A's too */
    uint32_t before = s_fx.records[0].window_updates;
    uint64_t bytes_before = s_fx.records[0].window_bytes;
    sl_test_run_on_loop(s_fx.loop, three_increments, NULL);
    settle();
    ck_assert_uint_eq(s_fx.records[0].window_updates, before + 1); /* one update, not three */
    ck_assert_uint_eq(s_fx.records[0].window_bytes - bytes_before, 60);
    ck_assert_uint_eq(s_fx.records[1].window_updates, 2);
    shut_down_and_release(0);
}
END_TEST

static int send_read(struct sl_slot *from, size_t len, uint32_t flags)
{
    struct sl_msg *msg;
    ck_assert_int_eq(sl_channel_acquire_msg(s_fx.channel, len, &msg), 0);
    memset(msg->data.data, 'x', len);
    ck_assert_int_eq(sl_buf_commit(&msg->data, len), 0);
    msg->flags = flags;
    int rc = sl_slot_send(from, msg, SL_DIR_READ);
    if (rc < 0) {
        sl_channel_release_msg(s_fx.channel, msg);
    }
    return rc;
}

static void exercise_window(void *arg)
{
    (void)arg;
    struct sl_slot *a = slot_of(0);
    ck_assert_uint_eq(sl_slot_downstream_window(a), 100);
    ck_assert_int_eq(send_read(a, 101, 0), SL_E_WINDOW_EXCEEDED);
    ck_assert_uint_eq(sl_slot_downstream_window(a), 100);
    ck_assert_int_eq(send_read(a, 60, 0), 0);
    ck_assert_int_eq(send_read(a, 40, 0), 0);
    ck_assert_uint_eq(sl_slot_downstream_window(a), 0);
    ck_assert_int_eq(send_read(a, 1, 0), SL_E_WINDOW_EXCEEDED);
    ck_assert_int_eq(send_read(a, 0, SL_MSG_END_OF_STREAM), 0); /* never counts */
    ck_assert_int_eq(send_read(slot_of(1), 1, 0), SL_E_NO_SLOT);
}

START_TEST(a_slot_never_receives_more_than_its_window)
{
    s_fx.opts[1].initial_window = 100;
    build_channel(2);
    sl_test_run_on_loop(s_fx.loop, exercise_window, NULL);
    ck_assert_uint_eq(s_fx.records[1].read_len, 100);
    ck_assert_uint_eq(s_fx.records[1].read_messages, 3);
    ck_assert(s_fx.records[1].end_of_stream);
    shut_down_and_release(0);
}
END_TEST

/* Shutdown -------------------------------------------------------------------------------- */

START_TEST(shutdown_runs_reads_left_to_right_then_writes_right_to_left)
{
    s_fx.opts[1].finish_shutdown_later = true; /* the next handler must wait for it */
    build_channel(3);
    sl_channel_shutdown(s_fx.channel, SL_E_CLOSED, false);
    sl_channel_shutdown(s_fx.channel, SL_E_TIMED_OUT, true); /* the first call wins */
    ck_assert(sl_test_latch_wait(&s_fx.shutdown_done, 1, 10000));
    ck_assert_int_eq(s_fx.shutdown_status, SL_E_CLOSED);
    release_channel();
    static const char *const expected[] = {"A:read",    "B:read",   "C:read",           "C:write",
                                           "B:write",   "A:write",  "channel:shutdown", "A:destroy",
                                           "B:destroy", "C:destroy"};
    ck_assert_int_eq(s_fx.log.count, (int)SL_ARRAY_LEN(expected));
    for (size_t i = 0; i < SL_ARRAY_LEN(expected); i++) {
        ck_assert_str_eq(s_fx.log.entries[i], expected[i]);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(s_fx.records[i].shutdown_calls[SL_DIR_READ], 1);
        ck_assert_int_eq(s_fx.records[i].shutdown_calls[SL_DIR_WRITE], 1);
        ck_assert_int_eq(s_fx.records[i].shutdown_status[SL_DIR_READ], SL_E_CLOSED);
    }
}
END_TEST

START_TEST(releasing_an_active_channel_shuts_it_down_first)
{
    build_channel(2);
    release_channel();
    ck_assert(sl_test_latch_wait(&s_fx.shutdown_done, 1, 10000));
    settle();
    ck_assert_int_eq(s_fx.shutdown_status, SL_E_SHUTTING_DOWN);
    ck_assert(s_fx.records[0].destroyed && s_fx.records[1].destroyed);
}
END_TEST

/* Tasks ----------------------------------------------------------------------------------- */

struct task_probe {
    struct sl_channel_task task;
    atomic_int runs;
    atomic_int cancels;
    struct sl_test_latch latch;
};

static void probe_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct task_probe *p = arg;
    atomic_fetch_add(status == SL_TASK_RUN ? &p->runs : &p->cancels, 1);
    sl_test_latch_add(&p->latch, 1);
}

static void probe_init(struct task_probe *p)
{
    atomic_init(&p->runs, 0);
    atomic_init(&p->cancels, 0);
    sl_test_latch_init(&p->latch);
    sl_channel_task_init(&p->task, probe_fn, p, "probe");
}

START_TEST(channel_tasks_run_or_are_cancelled_by_shutdown)
{
    build_channel(1);
    struct task_probe soon, later, after;
    probe_init(&soon);
    probe_init(&later);
    probe_init(&after);
    sl_channel_schedule_task_now(s_fx.channel, &soon.task); /* from this (foreign) thread */
    sl_channel_schedule_task_at(s_fx.channel, &later.task,
                                sl_clock_now_ns() + 3600 * SL_NS_PER_SEC);
    ck_assert(sl_test_latch_wait(&soon.latch, 1, 10000));
    ck_assert_int_eq(atomic_load(&soon.runs), 1);
    sl_channel_shutdown(s_fx.channel, 0, false);
    ck_assert(sl_test_latch_wait(&s_fx.shutdown_done, 1, 10000));
    ck_assert_int_eq(atomic_load(&later.cancels), 1);
    ck_assert_int_eq(atomic_load(&later.runs), 0);
    sl_channel_schedule_task_now(s_fx.channel, &after.task); /* after shutdown: cancelled */
    ck_assert(sl_test_latch_wait(&after.latch, 1, 10000));
    ck_assert_int_eq(atomic_load(&after.cancels), 1);
    release_channel();
    sl_test_latch_clean_up(&soon.latch);
    sl_test_latch_clean_up(&later.latch);
    sl_test_latch_clean_up(&after.latch);
}
END_TEST

/*
 * A handler that owns a channel task, as sluiced's sessions do: the task's storage goes with
 * the handler when the channel is destroyed.
 */
struct task_owner {
    struct sl_handler base;
    struct sl_channel_task task;
};

static atomic_int s_owner_task_cancels;
static atomic_int s_owner_task_runs;

static void owner_task_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)arg;
    atomic_fetch_add(status == SL_TASK_CANCELED ? &s_owner_task_cancels : &s_owner_task_runs, 1);
}

static int owner_pass(struct sl_handler *h, struct sl_slot *slot, struct sl_msg *msg)
{
    (void)h;
    (void)slot;
    (void)msg;
    return SL_E_NO_SLOT;
}

static int owner_window(struct sl_handler *h, struct sl_slot *slot, size_t bytes)
{
    (void)h;
    (void)slot;
    (void)bytes;
    return 0;
}

static int owner_shutdown(struct sl_handler *h, struct sl_slot *slot, enum sl_direction dir,
                          int status, bool abort_immediately)
{
    (void)h;
    sl_slot_on_shutdown_complete(slot, dir, status, abort_immediately);
    return 0;
}

static size_t owner_zero(struct sl_handler *h)
{
    (void)h;
    return 0;
}

static void owner_destroy(struct sl_handler *h)
{
    sl_free(sl_container_of(h, struct task_owner, base));
}

static const struct sl_handler_vtable s_owner_vtable = {
    .name = "owner",
    .on_read = owner_pass,
    .on_write = owner_pass,
    .on_window_update = owner_window,
    .on_shutdown = owner_shutdown,
    .initial_window = owner_zero,
    .message_overhead = owner_zero,
    .destroy = owner_destroy,
};

static struct task_owner *s_owner;

static void owner_on_setup(struct sl_channel *channel, int status, void *user_data)
{
    ck_assert_int_eq(status, 0);
    s_owner = sl_calloc(1, sizeof(*s_owner));
    ck_assert_ptr_nonnull(s_owner);
    s_owner->base.vtable = &s_owner_vtable;
    struct sl_slot *slot;
    ck_assert_int_eq(sl_slot_new(channel, &slot), 0);
    ck_assert_int_eq(sl_slot_set_handler(slot, &s_owner->base), 0);
    sl_test_latch_add(&((struct fixture *)user_data)->setup_done, 1);
}

/*
 * A task sent from another thread to a channel that has shut down, whose other references go
 * while it travels: it is cancelled before its channel (and the handler holding its storage)
 * can be destroyed. sluiced's GoAway hit this under load (ASan: use after free).
 */
START_TEST(a_task_arriving_after_shutdown_is_cancelled_before_the_channel_goes)
{
    atomic_store(&s_owner_task_cancels, 0);
    atomic_store(&s_owner_task_runs, 0);
    struct sl_channel_options opts = {.loop = s_fx.loop,
                                      .on_setup = owner_on_setup,
                                      .on_shutdown = on_shutdown,
                                      .user_data = &s_fx};
    ck_assert_int_eq(sl_channel_new(&opts, &s_fx.channel), 0);
    ck_assert(sl_test_latch_wait(&s_fx.setup_done, 1, 10000));
    sl_channel_shutdown(s_fx.channel, 0, false);
    ck_assert(sl_test_latch_wait(&s_fx.shutdown_done, 1, 10000));
    sl_channel_task_init(&s_owner->task, owner_task_fn, NULL, "owner_task");
    sl_channel_schedule_task_now(s_fx.channel, &s_owner->task); /* from this (foreign) thread */
    sl_channel_release(s_fx.channel); /* the task's reference is now the last */
    settle();
    ck_assert_int_eq(atomic_load(&s_owner_task_cancels), 1);
    ck_assert_int_eq(atomic_load(&s_owner_task_runs), 0);
}
END_TEST

/* Messages -------------------------------------------------------------------------------- */

static void churn_messages(void *arg)
{
    (void)arg;
    struct sl_msg *msg;
    ck_assert_int_eq(sl_channel_acquire_msg(s_fx.channel, 16384, &msg), 0);
    sl_channel_release_msg(s_fx.channel, msg);
    struct sl_alloc_stats before, after;
    sl_alloc_stats(&before);
    for (int i = 0; i < 10000; i++) {
        ck_assert_int_eq(sl_channel_acquire_msg(s_fx.channel, 16384, &msg), 0);
        ck_assert_uint_ge(msg->data.cap, 16384);
        sl_channel_release_msg(s_fx.channel, msg);
    }
    sl_alloc_stats(&after);
    ck_assert_uint_eq(after.total_allocations, before.total_allocations);

    ck_assert_int_eq(sl_channel_acquire_msg(s_fx.channel, 0, &msg), 0);
    ck_assert_uint_gt(msg->data.cap, 0);
    sl_channel_release_msg(s_fx.channel, msg);
    ck_assert_int_eq(sl_channel_acquire_msg(s_fx.channel, (size_t)1 << 20, &msg), 0);
    ck_assert_uint_eq(msg->data.cap, SL_MSG_MAX_SIZE); /* clamped to the largest class */
    sl_channel_release_msg(s_fx.channel, msg);
}

START_TEST(steady_state_messages_come_from_the_pool_without_malloc)
{
    build_channel(1);
    sl_test_run_on_loop(s_fx.loop, churn_messages, NULL);
    struct sl_msg *msg;
    ck_assert_int_eq(sl_channel_acquire_msg(s_fx.channel, 10, &msg), SL_E_WRONG_THREAD);
    shut_down_and_release(0);
}
END_TEST

static int s_completions;
static int s_completion_status;

static void count_completion(struct sl_channel *channel, struct sl_msg *msg, int status,
                             void *user_data)
{
    (void)channel;
    (void)msg;
    (void)user_data;
    s_completions++;
    s_completion_status = status;
}

static void release_pending_write(void *arg)
{
    (void)arg;
    struct sl_msg *msg;
    ck_assert_int_eq(sl_channel_acquire_msg(s_fx.channel, 10, &msg), 0);
    msg->on_complete = count_completion;
    sl_channel_release_msg(s_fx.channel, msg);
    ck_assert_int_eq(s_completions, 1);
    ck_assert_int_eq(s_completion_status, SL_E_CANCELED);

    ck_assert_int_eq(test_handler_write(s_fx.handlers[1], "hello", 5, count_completion, NULL), 0);
    ck_assert_int_eq(s_completions, 2); /* A, the end of the line, completed it */
    ck_assert_int_eq(s_completion_status, 0);
}

START_TEST(every_write_completion_fires_exactly_once)
{
    s_completions = 0;
    build_channel(2);
    sl_test_run_on_loop(s_fx.loop, release_pending_write, NULL);
    ck_assert_uint_eq(s_fx.records[0].write_bytes, 5);
    shut_down_and_release(0);
    ck_assert_int_eq(s_completions, 2);
}
END_TEST

static void max_message(void *arg)
{
    (void)arg;
    struct sl_msg *msg;
    ck_assert_uint_eq(sl_slot_upstream_overhead(slot_of(2)), 29 + 7);
    ck_assert_int_eq(sl_slot_acquire_max_message_for_write(slot_of(2), &msg), 0);
    ck_assert_uint_eq(msg->data.cap, SL_MAX_FRAGMENT_SIZE - 36);
    sl_channel_release_msg(s_fx.channel, msg);
}

START_TEST(max_message_for_write_leaves_room_for_every_overhead_on_the_way)
{
    s_fx.opts[0].message_overhead = 29;
    s_fx.opts[1].message_overhead = 7;
    s_fx.opts[1].passthrough = true;
    build_channel(3);
    sl_test_run_on_loop(s_fx.loop, max_message, NULL);
    shut_down_and_release(0);
}
END_TEST

static void traffic_for_stats(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(send_read(slot_of(0), 100, 0), 0);
    }
    ck_assert_int_eq(test_handler_write(s_fx.handlers[1], "0123456789", 10, NULL, NULL), 0);
    struct sl_handler_stats stats[4];
    size_t count = 0;
    sl_channel_gather_stats(s_fx.channel, stats, 4, &count);
    ck_assert_uint_eq(count, 2);
    ck_assert_str_eq(stats[0].handler_name, "test");
    ck_assert_uint_eq(stats[1].read_bytes, 300);
    ck_assert_uint_eq(stats[0].write_bytes, 10);
    ck_assert_uint_eq(stats[0].read_bytes, 0);
    sl_channel_reset_stats(s_fx.channel);
    sl_channel_gather_stats(s_fx.channel, stats, 1, &count);
    ck_assert_uint_eq(count, 2);
    ck_assert_uint_eq(stats[0].write_bytes, 0);
}

START_TEST(statistics_count_bytes_per_handler)
{
    build_channel(2);
    sl_test_run_on_loop(s_fx.loop, traffic_for_stats, NULL);
    shut_down_and_release(0);
}
END_TEST

START_TEST(channel_creation_survives_every_allocation_failure)
{
    for (uint64_t n = 1;; n++) {
        ck_assert_int_eq(sl_alloc_fail_at(n), 0);
        struct sl_channel_options opts = {.loop = s_fx.loop,
                                          .on_setup = on_setup,
                                          .on_shutdown = on_shutdown,
                                          .user_data = &s_fx};
        s_fx.count = 0;
        int rc = sl_channel_new(&opts, &s_fx.channel);
        if (rc == SL_E_NOMEM) {
            continue;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert(sl_test_latch_wait(&s_fx.setup_done, 1, 10000));
        sl_test_latch_add(&s_fx.setup_done, (uint64_t)-1); /* back to 0 for the next round */
        int status = s_fx.setup_status;
        ck_assert(status == 0 || status == SL_E_NOMEM);
        if (status == 0) {
            sl_channel_shutdown(s_fx.channel, 0, false);
            ck_assert(sl_test_latch_wait(&s_fx.shutdown_done, 1, 10000));
        }
        release_channel();
        if (status == 0) {
            break;
        }
        ck_assert(n < 50);
    }
    ck_assert_int_eq(sl_alloc_fail_at(0), 0);
}
END_TEST

/* last release from another thread while shutdown is in progress --------------------- */

struct r5 {
    struct sl_channel *channel;
    struct sl_slot *slot;
    struct sl_test_latch setup, write_pass, shut;
    struct sl_task block_task, finish_task;
};

static int r5_on_read(struct sl_handler *h, struct sl_slot *s, struct sl_msg *m)
{
    (void)h;
    (void)s;
    (void)m;
    return SL_E_NO_SLOT;
}
static int r5_on_write(struct sl_handler *h, struct sl_slot *s, struct sl_msg *m)
{
    (void)h;
    (void)s;
    (void)m;
    return SL_E_NO_SLOT;
}
static int r5_on_window(struct sl_handler *h, struct sl_slot *s, size_t b)
{
    (void)h;
    (void)s;
    (void)b;
    return 0;
}
static struct r5 *s_r5;
static int r5_on_shutdown(struct sl_handler *h, struct sl_slot *s, enum sl_direction dir,
                          int status, bool abort_immediately)
{
    (void)h;
    if (dir == SL_DIR_READ) {
        sl_slot_on_shutdown_complete(s, dir, status, abort_immediately);
        return 0;
    }
    /* Like the socket handler flushing: the write pass finishes later. */
    sl_test_latch_add(&s_r5->write_pass, 1);
    return 0;
}
static size_t r5_window(struct sl_handler *h)
{
    (void)h;
    return 0;
}
static void r5_destroy(struct sl_handler *h)
{
    sl_free(h);
}
static const struct sl_handler_vtable s_r5_vt = {
    .name = "r5",
    .on_read = r5_on_read,
    .on_write = r5_on_write,
    .on_window_update = r5_on_window,
    .on_shutdown = r5_on_shutdown,
    .initial_window = r5_window,
    .message_overhead = r5_window,
    .destroy = r5_destroy,
};

static void r5_on_setup(struct sl_channel *channel, int status, void *user_data)
{
    struct r5 *t = user_data;
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(sl_slot_new(channel, &t->slot), 0);
    struct sl_handler *h = sl_calloc(1, sizeof(*h));
    h->vtable = &s_r5_vt;
    ck_assert_int_eq(sl_slot_set_handler(t->slot, h), 0);
    sl_test_latch_add(&t->setup, 1);
}

static void r5_on_shutdown_done(struct sl_channel *channel, int status, void *user_data)
{
    (void)channel;
    (void)status;
    sl_test_latch_add(&((struct r5 *)user_data)->shut, 1);
}

static void r5_block_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)arg;
    (void)status;
    sleep_us(200 * 1000); /* keep the loop busy while the test thread queues two tasks */
}

static void r5_finish_fn(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status;
    struct r5 *t = arg;
    sl_slot_on_shutdown_complete(t->slot, SL_DIR_WRITE, 0, false); /* the flush finished */
}

START_TEST(last_release_from_another_thread_during_shutdown)
{
    struct r5 t = {0};
    s_r5 = &t;
    sl_test_latch_init(&t.setup);
    sl_test_latch_init(&t.write_pass);
    sl_test_latch_init(&t.shut);
    struct sl_channel_options o = {.loop = s_fx.loop,
                                   .on_setup = r5_on_setup,
                                   .on_shutdown = r5_on_shutdown_done,
                                   .user_data = &t};
    ck_assert_int_eq(sl_channel_new(&o, &t.channel), 0);
    ck_assert(sl_test_latch_wait(&t.setup, 1, 5000));
    sl_channel_shutdown(t.channel, 0, false);
    ck_assert(sl_test_latch_wait(&t.write_pass, 1, 5000)); /* waiting for its flush */

    sl_task_init(&t.block_task, r5_block_fn, &t, "block");
    sl_task_init(&t.finish_task, r5_finish_fn, &t, "finish");
    sl_loop_schedule_now(s_fx.loop, &t.block_task);
    sleep_us(50 * 1000);                             /* the loop is now inside block_task */
    sl_loop_schedule_now(s_fx.loop, &t.finish_task); /* the flush completes ... */
    sl_channel_release(t.channel);                   /* ... and the user lets go, from here */
    ck_assert(sl_test_latch_wait(&t.shut, 1, 5000));
    for (int i = 0; i < 3; i++) {
        sl_test_run_on_loop(s_fx.loop, noop, NULL);
    }
    sl_test_latch_clean_up(&t.setup);
    sl_test_latch_clean_up(&t.write_pass);
    sl_test_latch_clean_up(&t.shut);
}
END_TEST

/* the documented "release after a cancelled setup" ------------------------------------ */

static atomic_int s_r6_status = 1;
static atomic_int s_r6_shutdown_status = 1;

static void r6_on_setup(struct sl_channel *channel, int status, void *user_data)
{
    (void)user_data;
    atomic_store(&s_r6_status, status);
    if (status == SL_E_CANCELED) {
        sl_channel_release(channel); /* channel.h: release inside the callback */
    }
}

static void r6_on_shutdown(struct sl_channel *channel, int status, void *user_data)
{
    (void)user_data;
    atomic_store(&s_r6_shutdown_status, status);
    sl_channel_release(channel);
}

START_TEST(release_after_setup_cancelled_by_loop_destroy)
{
    struct sl_loop *loop;
    ck_assert_int_eq(sl_loop_new(NULL, &loop), 0);
    struct sl_channel *channel;
    struct sl_channel_options o = {.loop = loop, .on_setup = r6_on_setup};
    ck_assert_int_eq(sl_channel_new(&o, &channel), 0);
    ck_assert_int_eq(sl_loop_destroy(loop), 0); /* the leak check proves it was freed */
    ck_assert_int_eq(atomic_load(&s_r6_status), SL_E_CANCELED);
}
END_TEST

START_TEST(a_shutdown_cut_short_by_loop_destroy_still_reports_once)
{
    struct sl_loop *loop;
    ck_assert_int_eq(sl_loop_new(NULL, &loop), 0);
    ck_assert_int_eq(sl_loop_run(loop), 0);
    struct sl_channel *channel;
    atomic_store(&s_r6_status, 1);
    atomic_store(&s_r6_shutdown_status, 1);
    struct sl_channel_options o = {
        .loop = loop, .on_setup = r6_on_setup, .on_shutdown = r6_on_shutdown};
    ck_assert_int_eq(sl_channel_new(&o, &channel), 0);
    for (int i = 0; i < 100 && atomic_load(&s_r6_status) == 1; i++) {
        sleep_us(10 * 1000);
    }
    ck_assert_int_eq(atomic_load(&s_r6_status), 0);
    sl_loop_stop(loop);
    ck_assert_int_eq(sl_loop_wait_for_stop(loop), 0);
    sl_channel_shutdown(channel, 0, false); /* queued on a loop that will never run it */
    ck_assert_int_eq(sl_loop_destroy(loop), 0);
    ck_assert_int_eq(atomic_load(&s_r6_shutdown_status), SL_E_CANCELED); /* released there */
}
END_TEST

/* Handlers set in any order ---------------------------------------------------------------- */

static void set_right_handler_first(void *arg)
{
    (void)arg;
    struct sl_slot *a, *b;
    ck_assert_int_eq(sl_slot_new(s_fx.channel, &a), 0);
    ck_assert_int_eq(sl_slot_new(s_fx.channel, &b), 0);
    ck_assert_int_eq(sl_slot_insert_end(s_fx.channel, b), 0);
    ck_assert_int_eq(test_handler_new(&s_fx.opts[1], &s_fx.handlers[1]), 0);
    ck_assert_int_eq(sl_slot_set_handler(b, s_fx.handlers[1]), 0); /* B's window: 1000 */
}

static void set_left_handler_later(void *arg)
{
    (void)arg;
    struct sl_slot *a = sl_channel_first_slot(s_fx.channel);
    ck_assert_int_eq(test_handler_new(&s_fx.opts[0], &s_fx.handlers[0]), 0);
    ck_assert_int_eq(sl_slot_set_handler(a, s_fx.handlers[0]), 0);
}

START_TEST(a_window_opened_before_the_left_handler_exists_reaches_it)
{
    s_fx.opts[1].initial_window = 1000;
    build_channel(0);
    sl_test_run_on_loop(s_fx.loop, set_right_handler_first, NULL);
    settle(); /* the window update runs while slot A has no handler */
    sl_test_run_on_loop(s_fx.loop, set_left_handler_later, NULL);
    settle();
    ck_assert_uint_eq(s_fx.records[0].window_updates, 1);
    ck_assert_uint_eq(s_fx.records[0].window_bytes, 1000);
    shut_down_and_release(0);
}
END_TEST

static void add_empty_middle_slot(void *arg)
{
    (void)arg;
    struct sl_slot *empty;
    ck_assert_int_eq(sl_slot_new(s_fx.channel, &empty), 0);
    ck_assert_int_eq(sl_slot_insert_right(sl_channel_first_slot(s_fx.channel), empty), 0);
}

START_TEST(shutdown_passes_over_an_empty_slot)
{
    build_channel(2);
    sl_test_run_on_loop(s_fx.loop, add_empty_middle_slot, NULL); /* A, (empty), B */
    shut_down_and_release(0);
    ck_assert_int_eq(s_fx.records[1].shutdown_calls[SL_DIR_READ], 1);
    ck_assert_int_eq(s_fx.records[1].shutdown_calls[SL_DIR_WRITE], 1);
    ck_assert_int_eq(s_fx.records[0].shutdown_calls[SL_DIR_WRITE], 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = sl_test_tcase("channel", 30);
    tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_add_test(tc, slots_insert_replace_and_remove_keep_the_chain);
    tcase_add_test(tc, initial_window_travels_left_and_increments_coalesce);
    tcase_add_test(tc, a_slot_never_receives_more_than_its_window);
    tcase_add_test(tc, shutdown_runs_reads_left_to_right_then_writes_right_to_left);
    tcase_add_test(tc, releasing_an_active_channel_shuts_it_down_first);
    tcase_add_test(tc, channel_tasks_run_or_are_cancelled_by_shutdown);
    tcase_add_test(tc, a_task_arriving_after_shutdown_is_cancelled_before_the_channel_goes);
    tcase_add_test(tc, steady_state_messages_come_from_the_pool_without_malloc);
    tcase_add_test(tc, every_write_completion_fires_exactly_once);
    tcase_add_test(tc, max_message_for_write_leaves_room_for_every_overhead_on_the_way);
    tcase_add_test(tc, statistics_count_bytes_per_handler);
    tcase_add_test(tc, channel_creation_survives_every_allocation_failure);
    tcase_add_test(tc, last_release_from_another_thread_during_shutdown);
    tcase_add_test(tc, a_window_opened_before_the_left_handler_exists_reaches_it);
    tcase_add_test(tc, shutdown_passes_over_an_empty_slot);
    suite_add_tcase(s, tc);
    TCase *own_loop = sl_test_tcase("own-loop", 30);
    tcase_add_test(own_loop, release_after_setup_cancelled_by_loop_destroy);
    tcase_add_test(own_loop, a_shutdown_cut_short_by_loop_destroy_still_reports_once);
    suite_add_tcase(s, own_loop);
    return sl_test_run(s);
}
