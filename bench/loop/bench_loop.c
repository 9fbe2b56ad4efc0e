/* SPDX-License-Identifier: Apache-2.0 */

/*
 * bench_loop: task throughput and wake-up latency of one event loop.
 *
 *   same_thread_tasks_per_s   a task that schedules the next one, on the loop thread
 *   cross_thread_tasks_per_s  1,000,000 tasks scheduled from another thread
 *   wake_latency_p50_us/p99   another thread schedules one task on an idle loop; time until it
 *                             runs. Baseline: a bare eventfd ping between two threads, one
 *                             blocked in epoll_wait, measured in the same run.
 *
 * The loop runs on the first allowed CPU and the other side on the second, so every wake-up
 * crosses cores the same way for Sluice and for the baseline. Figures are medians of --runs.
 */

#include "bench_util.h"

#include <sluice/clock.h>
#include <sluice/event_loop.h>
#include <sluice/thread.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int s_loop_cpu, s_other_cpu;

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_loop: %s failed: %d\n", what, rc);
    exit(1);
}

static void sleep_us(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static struct sl_loop *new_running_loop(void)
{
    struct sl_loop_options opts = {.name = "bench-loop", .cpu = s_loop_cpu};
    struct sl_loop *loop;
    int rc = sl_loop_new(&opts, &loop);
    if (rc == 0) {
        rc = sl_loop_run(loop);
    }
    if (rc != 0) {
        die("starting the loop", rc);
    }
    return loop;
}

static void destroy_loop(struct sl_loop *loop)
{
    int rc = sl_loop_destroy(loop);
    if (rc != 0) {
        die("sl_loop_destroy", rc);
    }
}

/* same_thread_tasks_per_s ------------------------------------------------------------------ */

struct chain {
    struct sl_task task;
    struct sl_loop *loop;
    uint64_t left;
    uint64_t start_ns;
    uint64_t end_ns;
    struct bench_done done;
};

static void chain_step(struct sl_task *task, void *arg, enum sl_task_status status)
{
    struct chain *c = arg;
    if (status != SL_TASK_RUN || --c->left == 0) {
        c->end_ns = sl_clock_now_ns();
        bench_done_signal(&c->done);
        return;
    }
    sl_loop_schedule_now(c->loop, task);
}

static void chain_start(struct sl_task *task, void *arg, enum sl_task_status status)
{
    struct chain *c = arg;
    c->start_ns = sl_clock_now_ns();
    sl_task_init(task, chain_step, c, "chain");
    chain_step(task, arg, status);
}

static double measure_same_thread(uint64_t count)
{
    struct sl_loop *loop = new_running_loop();
    struct chain c = {.loop = loop, .left = count};
    bench_done_init(&c.done);
    sl_task_init(&c.task, chain_start, &c, "chain_start");
    sl_loop_schedule_now(loop, &c.task);
    bench_done_wait(&c.done);
    bench_done_clean_up(&c.done);
    destroy_loop(loop);
    return (double)count / ((double)(c.end_ns - c.start_ns) / 1e9);
}

/* cross_thread_tasks_per_s ----------------------------------------------------------------- */

struct cross_run {
    uint64_t ran; /* loop thread only */
    uint64_t count;
    uint64_t end_ns;
    struct bench_done done;
};

struct cross_task {
    struct sl_task task;
    struct cross_run *run;
};

static void cross_step(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status;
    struct cross_run *run = ((struct cross_task *)arg)->run;
    if (++run->ran == run->count) {
        run->end_ns = sl_clock_now_ns();
        bench_done_signal(&run->done);
    }
}

static double measure_cross_thread(uint64_t count)
{
    struct sl_loop *loop = new_running_loop();
    struct cross_task *tasks = calloc(count, sizeof(*tasks));
    struct cross_run run = {.count = count};
    bench_done_init(&run.done);
    for (uint64_t i = 0; i < count; i++) {
        tasks[i].run = &run;
        sl_task_init(&tasks[i].task, cross_step, &tasks[i], "cross");
    }
    uint64_t start = sl_clock_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        sl_loop_schedule_now(loop, &tasks[i].task);
    }
    bench_done_wait(&run.done);
    bench_done_clean_up(&run.done);
    destroy_loop(loop);
    free(tasks);
    return (double)count / ((double)(run.end_ns - start) / 1e9);
}

/* wake latency: Sluice ---------------------------------------------------------------------- */

struct wake_probe {
    struct sl_task task;
    uint64_t ran_at_ns;
    atomic_bool ran;
};

static void wake_step(struct sl_task *task, void *arg, enum sl_task_status status)
{
    (void)task;
    (void)status;
    struct wake_probe *p = arg;
    p->ran_at_ns = sl_clock_now_ns();
    atomic_store_explicit(&p->ran, true, memory_order_release);
}

/* Lets the other side go back to sleep in epoll_wait before the next sample. */
#define IDLE_GAP_US 200

static void measure_sluice_wake(double *samples_us, size_t n)
{
    struct sl_loop *loop = new_running_loop();
    struct wake_probe p;
    for (size_t i = 0; i < n; i++) {
        atomic_init(&p.ran, false);
        sl_task_init(&p.task, wake_step, &p, "wake");
        sleep_us(IDLE_GAP_US);
        uint64_t start = sl_clock_now_ns();
        sl_loop_schedule_now(loop, &p.task);
        while (!atomic_load_explicit(&p.ran, memory_order_acquire)) {
        }
        samples_us[i] = (double)(p.ran_at_ns - start) / 1e3;
    }
    destroy_loop(loop);
}

/* wake latency: bare eventfd + epoll baseline ---------------------------------------------- */

struct eventfd_pong {
    int epfd;
    int efd;
    uint64_t woke_at_ns;
    atomic_bool woke;
    atomic_bool stop;
};

static void eventfd_waiter(void *arg)
{
    struct eventfd_pong *e = arg;
    bench_pin(s_loop_cpu);
    while (!atomic_load(&e->stop)) {
        struct epoll_event ev;
        if (epoll_wait(e->epfd, &ev, 1, -1) != 1) {
            continue;
        }
        uint64_t value;
        if (read(e->efd, &value, sizeof(value)) != sizeof(value)) {
            continue;
        }
        e->woke_at_ns = sl_clock_now_ns();
        atomic_store_explicit(&e->woke, true, memory_order_release);
    }
}

static void ping(struct eventfd_pong *e)
{
    uint64_t one = 1;
    if (write(e->efd, &one, sizeof(one)) != sizeof(one)) {
        die("eventfd write", -errno);
    }
}

static void measure_eventfd_wake(double *samples_us, size_t n)
{
    struct eventfd_pong e = {.epfd = epoll_create1(EPOLL_CLOEXEC),
                             .efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    atomic_init(&e.woke, false);
    atomic_init(&e.stop, false);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = e.efd};
    if (e.epfd < 0 || e.efd < 0 || epoll_ctl(e.epfd, EPOLL_CTL_ADD, e.efd, &ev) != 0) {
        die("eventfd baseline setup", -errno);
    }
    struct sl_thread *waiter;
    int rc = sl_thread_start(NULL, eventfd_waiter, &e, &waiter);
    if (rc != 0) {
        die("sl_thread_start", rc);
    }
    for (size_t i = 0; i < n; i++) {
        atomic_store(&e.woke, false);
        sleep_us(IDLE_GAP_US);
        uint64_t start = sl_clock_now_ns();
        ping(&e);
        while (!atomic_load_explicit(&e.woke, memory_order_acquire)) {
        }
        samples_us[i] = (double)(e.woke_at_ns - start) / 1e3;
    }
    atomic_store(&e.stop, true);
    ping(&e);
    rc = sl_thread_join(waiter);
    if (rc != 0) {
        die("sl_thread_join", rc);
    }
    close(e.efd);
    close(e.epfd);
}

int main(int argc, char **argv)
{
    struct bench_args args;
    bench_parse_args(argc, argv, "loop", &args);
    bench_pick_cpus(&s_loop_cpu, &s_other_cpu);
    bench_pin(s_other_cpu);

    uint64_t chain_count = args.quick ? 200000 : 10000000;
    uint64_t cross_count = args.quick ? 100000 : 1000000;
    size_t wake_samples = args.quick ? 300 : 5000;

    double *same = calloc((size_t)args.runs, sizeof(double));
    double *cross = calloc((size_t)args.runs, sizeof(double));
    double *p50 = calloc((size_t)args.runs, sizeof(double));
    double *p99 = calloc((size_t)args.runs, sizeof(double));
    double *base_p50 = calloc((size_t)args.runs, sizeof(double));
    double *base_p99 = calloc((size_t)args.runs, sizeof(double));
    double *samples = calloc(wake_samples, sizeof(double));

    /* Interleave Sluice and baseline in every run, so drift hits both alike. */
    for (int r = 0; r < args.runs; r++) {
        same[r] = measure_same_thread(chain_count);
        cross[r] = measure_cross_thread(cross_count);
        measure_sluice_wake(samples, wake_samples);
        p50[r] = bench_percentile(samples, wake_samples, 50);
        p99[r] = bench_percentile(samples, wake_samples, 99);
        measure_eventfd_wake(samples, wake_samples);
        base_p50[r] = bench_percentile(samples, wake_samples, 50);
        base_p99[r] = bench_percentile(samples, wake_samples, 99);
    }

    size_t runs = (size_t)args.runs;
    bench_report("loop", "same_thread_tasks_per_s", bench_median(same, runs), "tasks/s", 0);
    bench_report("loop", "cross_thread_tasks_per_s", bench_median(cross, runs), "tasks/s", 0);
    bench_report("loop", "wake_latency_p50_us", bench_median(p50, runs), "us",
                 bench_median(base_p50, runs));
    bench_report("loop", "wake_latency_p99_us", bench_median(p99, runs), "us",
                 bench_median(base_p99, runs));

    free(same);
    free(cross);
    free(p50);
    free(p99);
    free(base_p50);
    free(base_p99);
    free(samples);
    return 0;
}
