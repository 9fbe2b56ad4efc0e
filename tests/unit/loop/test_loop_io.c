/* SPDX-License-Identifier: Apache-2.0 */

/* pipe2 and O_NONBLOCK helpers are GNU extensions. */
#define _GNU_SOURCE

#include "loop_tests.h"
#include "test_harness.h"

#include <sluice/error.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* One watched descriptor and what its callback saw. */
struct watch {
    struct sl_loop *loop;
    int fd;
    int events_wanted;
    struct sl_io_subscription *sub;
    int subscribe_rc;
    atomic_int calls;
    atomic_int seen_events; /* union of every report */
    atomic_size_t bytes_read;
    bool unsubscribe_self;           /* unsubscribe inside its own callback */
    struct watch *unsubscribe_other; /* unsubscribe another watch inside this callback */
    struct sl_test_latch latch;
};

static void drain(int fd, struct watch *w)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            return; /* EAGAIN (edge consumed), EOF or error */
        }
        atomic_fetch_add(&w->bytes_read, (size_t)n);
    }
}

static void on_io(struct sl_loop *loop, struct sl_io_subscription *sub, int events, void *ud)
{
    struct watch *w = ud;
    ck_assert_ptr_eq(sub, w->sub);
    ck_assert(sl_loop_is_on_callers_thread(loop));
    atomic_fetch_add(&w->calls, 1);
    atomic_fetch_or(&w->seen_events, events);
    if (events & SL_IO_READABLE) {
        drain(w->fd, w);
    }
    if (w->unsubscribe_other && w->unsubscribe_other->sub) {
        sl_loop_unsubscribe(loop, w->unsubscribe_other->sub);
        w->unsubscribe_other->sub = NULL;
    }
    if (w->unsubscribe_self) {
        sl_loop_unsubscribe(loop, sub);
        w->sub = NULL;
    }
    sl_test_latch_add(&w->latch, 1);
}

static void watch_init(struct watch *w, struct sl_loop *loop, int fd, int events)
{
    memset(w, 0, sizeof(*w));
    w->loop = loop;
    w->fd = fd;
    w->events_wanted = events;
    sl_test_latch_init(&w->latch);
}

static void subscribe_on_loop(void *arg)
{
    struct watch *w = arg;
    w->subscribe_rc = sl_loop_subscribe(w->loop, w->fd, w->events_wanted, on_io, w, &w->sub);
}

static void unsubscribe_on_loop(void *arg)
{
    struct watch *w = arg;
    if (w->sub) {
        sl_loop_unsubscribe(w->loop, w->sub);
        w->sub = NULL;
    }
}

static void watch_start(struct watch *w)
{
    sl_test_run_on_loop(w->loop, subscribe_on_loop, w);
    ck_assert_int_eq(w->subscribe_rc, 0);
}

static void watch_stop(struct watch *w)
{
    sl_test_run_on_loop(w->loop, unsubscribe_on_loop, w);
    sl_test_latch_clean_up(&w->latch);
}

static void make_pipe(int fds[2])
{
    ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

START_TEST(pipe_readiness_is_reported_for_each_new_write)
{
    struct sl_loop *loop = start_loop(_i);
    int fds[2];
    make_pipe(fds);
    struct watch w;
    watch_init(&w, loop, fds[0], SL_IO_READABLE);
    watch_start(&w);
    ck_assert_uint_eq(sl_loop_load(loop), 1);
    ck_assert_int_eq(write(fds[1], "hello", 5), 5);
    ck_assert(sl_test_latch_wait(&w.latch, 1, 10000));
    ck_assert_int_eq(write(fds[1], "again", 5), 5); /* a new edge after the drain */
    ck_assert(sl_test_latch_wait(&w.latch, 2, 10000));
    ck_assert_uint_eq(atomic_load(&w.bytes_read), 10);
    ck_assert(atomic_load(&w.seen_events) & SL_IO_READABLE);
    watch_stop(&w);
    ck_assert_uint_eq(sl_loop_load(loop), 0);
    close(fds[0]);
    close(fds[1]);
    finish_loop(loop);
}
END_TEST

START_TEST(pipe_write_end_reports_writable_then_error_when_reader_goes)
{
    struct sl_loop *loop = start_loop(_i);
    int fds[2];
    make_pipe(fds);
    struct watch w;
    watch_init(&w, loop, fds[1], SL_IO_WRITABLE);
    watch_start(&w);
    ck_assert(sl_test_latch_wait(&w.latch, 1, 10000)); /* an empty pipe is writable */
    ck_assert(atomic_load(&w.seen_events) & SL_IO_WRITABLE);
    close(fds[0]);
    ck_assert(sl_test_latch_wait(&w.latch, 2, 10000));
    ck_assert(atomic_load(&w.seen_events) & (SL_IO_ERROR | SL_IO_CLOSED));
    watch_stop(&w);
    close(fds[1]);
    finish_loop(loop);
}
END_TEST

START_TEST(eventfd_readiness_is_reported)
{
    struct sl_loop *loop = start_loop(_i);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ck_assert_int_ge(efd, 0);
    struct watch w;
    watch_init(&w, loop, efd, SL_IO_READABLE);
    watch_start(&w);
    uint64_t one = 1;
    ck_assert_int_eq(write(efd, &one, sizeof(one)), sizeof(one));
    ck_assert(sl_test_latch_wait(&w.latch, 1, 10000));
    ck_assert_uint_eq(atomic_load(&w.bytes_read), sizeof(uint64_t));
    watch_stop(&w);
    close(efd);
    finish_loop(loop);
}
END_TEST

START_TEST(peer_hang_up_is_reported_as_closed)
{
    struct sl_loop *loop = start_loop(_i);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    struct watch w;
    watch_init(&w, loop, sv[0], SL_IO_READABLE);
    watch_start(&w);
    close(sv[1]);
    ck_assert(sl_test_latch_wait(&w.latch, 1, 10000));
    ck_assert(atomic_load(&w.seen_events) & SL_IO_CLOSED);
    watch_stop(&w);
    close(sv[0]);
    finish_loop(loop);
}
END_TEST

START_TEST(unsubscribing_inside_its_own_callback_is_safe)
{
    struct sl_loop *loop = start_loop(_i);
    int fds[2];
    make_pipe(fds);
    struct watch w;
    watch_init(&w, loop, fds[0], SL_IO_READABLE);
    w.unsubscribe_self = true;
    watch_start(&w);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert(sl_test_latch_wait(&w.latch, 1, 10000));
    ck_assert_int_eq(write(fds[1], "y", 1), 1);
    /* A round trip through the loop proves the second write produced no callback. */
    sl_test_run_on_loop(loop, unsubscribe_on_loop, &w);
    sl_test_run_on_loop(loop, unsubscribe_on_loop, &w);
    ck_assert_int_eq(atomic_load(&w.calls), 1);
    ck_assert_uint_eq(sl_loop_load(loop), 0);
    sl_test_latch_clean_up(&w.latch);
    close(fds[0]);
    close(fds[1]);
    finish_loop(loop);
}
END_TEST

struct pair_of_watches {
    struct watch a, b;
    int pipe_a[2], pipe_b[2];
};

static void make_both_ready(void *arg)
{
    struct pair_of_watches *p = arg;
    /* Written from the loop thread, so both reports arrive in the same next wait. */
    ck_assert_int_eq(write(p->pipe_a[1], "a", 1), 1);
    ck_assert_int_eq(write(p->pipe_b[1], "b", 1), 1);
}

START_TEST(unsubscribing_another_ready_watch_in_the_same_tick_is_safe)
{
    struct sl_loop *loop = start_loop(_i);
    struct pair_of_watches p;
    make_pipe(p.pipe_a);
    make_pipe(p.pipe_b);
    watch_init(&p.a, loop, p.pipe_a[0], SL_IO_READABLE);
    watch_init(&p.b, loop, p.pipe_b[0], SL_IO_READABLE);
    p.a.unsubscribe_other = &p.b;
    p.b.unsubscribe_other = &p.a;
    watch_start(&p.a);
    watch_start(&p.b);
    sl_test_run_on_loop(loop, make_both_ready, &p);
    sl_test_run_on_loop(loop, unsubscribe_on_loop, &p.a); /* one more tick has passed */
    /* Whichever callback ran first removed the other: exactly one call in all. */
    ck_assert_int_eq(atomic_load(&p.a.calls) + atomic_load(&p.b.calls), 1);
    watch_stop(&p.a);
    watch_stop(&p.b);
    for (int i = 0; i < 2; i++) {
        close(p.pipe_a[i]);
        close(p.pipe_b[i]);
    }
    finish_loop(loop);
}
END_TEST

struct bad_subscribe {
    struct sl_loop *loop;
    int fd;
    int rc_invalid_fd, rc_no_events, rc_twice;
    struct sl_io_subscription *sub;
};

static void subscribe_badly(void *arg)
{
    struct bad_subscribe *b = arg;
    struct sl_io_subscription *sub = NULL;
    b->rc_invalid_fd = sl_loop_subscribe(b->loop, -1, SL_IO_READABLE, on_io, NULL, &sub);
    b->rc_no_events = sl_loop_subscribe(b->loop, b->fd, 0, on_io, NULL, &sub);
    ck_assert_int_eq(sl_loop_subscribe(b->loop, b->fd, SL_IO_READABLE, on_io, NULL, &b->sub), 0);
    b->rc_twice = sl_loop_subscribe(b->loop, b->fd, SL_IO_READABLE, on_io, NULL, &sub);
    sl_loop_unsubscribe(b->loop, b->sub);
}

START_TEST(bad_subscriptions_get_specific_errors)
{
    struct sl_loop *loop = start_loop(_i);
    int fds[2];
    make_pipe(fds);
    struct sl_io_subscription *sub = NULL;
    ck_assert_int_eq(sl_loop_subscribe(loop, fds[0], SL_IO_READABLE, on_io, NULL, &sub),
                     SL_E_WRONG_THREAD);
    struct bad_subscribe b = {.loop = loop, .fd = fds[0]};
    sl_test_run_on_loop(loop, subscribe_badly, &b);
    ck_assert_int_eq(b.rc_invalid_fd, SL_E_INVAL);
    ck_assert_int_eq(b.rc_no_events, SL_E_INVAL);
    ck_assert_int_eq(b.rc_twice, -EEXIST);
    ck_assert_uint_eq(sl_loop_load(loop), 0);
    close(fds[0]);
    close(fds[1]);
    finish_loop(loop);
}
END_TEST

START_TEST(destroy_releases_forgotten_subscriptions)
{
    struct sl_loop *loop = start_loop(_i);
    int fds[2];
    make_pipe(fds);
    struct watch w;
    watch_init(&w, loop, fds[0], SL_IO_READABLE);
    watch_start(&w);
    finish_loop(loop); /* logs a warning; the counting allocator proves it freed the watch */
    sl_test_latch_clean_up(&w.latch);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

void add_io_tests(Suite *s)
{
    int backends = loop_backend_count();
    TCase *tc = sl_test_tcase("io", 60);
    tcase_add_loop_test(tc, pipe_readiness_is_reported_for_each_new_write, 0, backends);
    tcase_add_loop_test(tc, pipe_write_end_reports_writable_then_error_when_reader_goes, 0,
                        backends);
    tcase_add_loop_test(tc, eventfd_readiness_is_reported, 0, backends);
    tcase_add_loop_test(tc, peer_hang_up_is_reported_as_closed, 0, backends);
    tcase_add_loop_test(tc, unsubscribing_inside_its_own_callback_is_safe, 0, backends);
    tcase_add_loop_test(tc, unsubscribing_another_ready_watch_in_the_same_tick_is_safe, 0,
                        backends);
    tcase_add_loop_test(tc, bad_subscriptions_get_specific_errors, 0, backends);
    tcase_add_loop_test(tc, destroy_releases_forgotten_subscriptions, 0, backends);
    suite_add_tcase(s, tc);
}
