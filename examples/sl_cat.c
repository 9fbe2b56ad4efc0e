/* SPDX-License-Identifier: Apache-2.0 */

/*
 * sl_cat: copies standard input to standard output through a Sluice event loop, with a
 * heartbeat on standard error every second. A small tour of the foundation: an event loop
 * group, an edge-triggered IO subscription on a pipe or terminal, a timed task that reschedules
 * itself, and a clean shutdown that cancels what is still pending.
 *
 *   printf 'hello\n' | ./sl_cat
 *   (echo one; sleep 2; echo two) | ./sl_cat
 *
 * Standard input must be a pipe, socket or terminal: epoll does not watch regular files.
 */

#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/event_loop_group.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct cat {
    struct sl_loop *loop;
    struct sl_io_subscription *sub;
    struct sl_task heartbeat;
    uint64_t started_ns;
    size_t copied;
    pthread_mutex_t lock;
    pthread_cond_t finished_cond;
    bool finished;
    bool failed;
};

static void finish(struct cat *cat)
{
    sl_loop_unsubscribe(cat->loop, cat->sub);
    sl_loop_cancel(cat->loop, &cat->heartbeat);
    pthread_mutex_lock(&cat->lock);
    cat->finished = true;
    pthread_cond_signal(&cat->finished_cond);
    pthread_mutex_unlock(&cat->lock);
}

static void on_stdin(struct sl_loop *loop, struct sl_io_subscription *sub, int events, void *ud)
{
    (void)loop;
    (void)sub;
    (void)events;
    struct cat *cat = ud;
    char buf[16384];
    /* Edge-triggered: read until the kernel says there is nothing more for now. */
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
        if (n > 0) {
            if (write(STDOUT_FILENO, buf, (size_t)n) != n) {
                finish(cat);
                return;
            }
            cat->copied += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        finish(cat); /* EOF or a read error */
        return;
    }
}

static void on_heartbeat(struct sl_task *task, void *arg, enum sl_task_status status)
{
    struct cat *cat = arg;
    if (status == SL_TASK_CANCELED) {
        return;
    }
    uint64_t elapsed = sl_loop_now_ns(cat->loop) - cat->started_ns;
    fprintf(stderr, "sl_cat: %.1f s, %zu bytes copied\n", (double)elapsed / 1e9, cat->copied);
    sl_loop_schedule_at(cat->loop, task, sl_loop_now_ns(cat->loop) + SL_NS_PER_SEC);
}

static void start(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    struct cat *cat = arg;
    if (status == SL_TASK_CANCELED) {
        return;
    }
    int rc = sl_loop_subscribe(cat->loop, STDIN_FILENO, SL_IO_READABLE, on_stdin, cat, &cat->sub);
    if (rc < 0) {
        fprintf(stderr, "sl_cat: cannot watch stdin: %s (%s)\n", sl_strerror(rc),
                sl_error_name(rc));
        pthread_mutex_lock(&cat->lock);
        cat->failed = true;
        cat->finished = true;
        pthread_cond_signal(&cat->finished_cond);
        pthread_mutex_unlock(&cat->lock);
        return;
    }
    cat->started_ns = sl_loop_now_ns(cat->loop);
    sl_task_init(&cat->heartbeat, on_heartbeat, cat, "heartbeat");
    sl_loop_schedule_at(cat->loop, &cat->heartbeat, cat->started_ns + SL_NS_PER_SEC);
}

int main(void)
{
    if (fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK) != 0) {
        perror("sl_cat: fcntl");
        return 1;
    }
    struct sl_loop_group_options opts = {.loop_count = 1, .name = "sl-cat"};
    struct sl_loop_group *group;
    int rc = sl_loop_group_new(&opts, &group);
    if (rc < 0) {
        fprintf(stderr, "sl_cat: %s\n", sl_strerror(rc));
        return 1;
    }
    struct cat cat = {.loop = sl_loop_group_get_next(group)};
    pthread_mutex_init(&cat.lock, NULL);
    pthread_cond_init(&cat.finished_cond, NULL);
    struct sl_task start_task;
    sl_task_init(&start_task, start, &cat, "start");
    sl_loop_schedule_now(cat.loop, &start_task);

    pthread_mutex_lock(&cat.lock);
    while (!cat.finished) {
        pthread_cond_wait(&cat.finished_cond, &cat.lock);
    }
    pthread_mutex_unlock(&cat.lock);
    rc = sl_loop_group_destroy(group);
    fprintf(stderr, "sl_cat: done, %zu bytes\n", cat.copied);
    return rc == 0 && !cat.failed ? 0 : 1;
}
