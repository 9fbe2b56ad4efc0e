/* SPDX-License-Identifier: Apache-2.0 */
#include "task_scheduler.h"

#include "guard.h"

void sl_task_init(struct sl_task *task, sl_task_fn *fn, void *arg, const char *name)
{
    *task = (struct sl_task){.fn = fn, .arg = arg, .name = name ? name : "task"};
}

bool sl_task_is_scheduled(const struct sl_task *task)
{
    return task->state != SL__TASK_IDLE;
}

static bool timed_task_less(const struct sl_heap_node *a, const struct sl_heap_node *b)
{
    const struct sl_task *ta = sl_container_of(a, const struct sl_task, link.heap);
    const struct sl_task *tb = sl_container_of(b, const struct sl_task, link.heap);
    /* The sequence number makes tasks due at the same time leave in the order they came. */
    if (ta->run_at_ns != tb->run_at_ns) {
        return ta->run_at_ns < tb->run_at_ns;
    }
    /*
     * A 32-bit sequence that wraps: compared as a serial number (RFC 1982), which is right as
     * long as fewer than 2^31 timed tasks are scheduled between two that share a deadline.
     */
    return (int32_t)(ta->seq - tb->seq) < 0;
}

void sl__scheduler_init(struct sl_scheduler *s)
{
    sl_list_init(&s->asap);
    sl_list_init(&s->running);
    sl_heap_init(&s->timed, timed_task_less);
    s->next_seq = 0;
}

void sl__scheduler_schedule_now(struct sl_scheduler *s, struct sl_task *task)
{
    SL_ASSERT(task->state == SL__TASK_IDLE || task->state == SL__TASK_CROSS);
    task->state = SL__TASK_ASAP;
    task->run_at_ns = 0;
    sl_list_push_back(&s->asap, &task->link.list);
}

void sl__scheduler_schedule_at(struct sl_scheduler *s, struct sl_task *task, uint64_t run_at_ns)
{
    SL_ASSERT(task->state == SL__TASK_IDLE || task->state == SL__TASK_CROSS);
    task->state = SL__TASK_TIMED;
    task->run_at_ns = run_at_ns;
    task->seq = s->next_seq++;
    sl_heap_push(&s->timed, &task->link.heap);
}

static void run_task(struct sl_task *task, enum sl_task_status status)
{
    /* Idle before the call, so the function may schedule its own task again. */
    task->state = SL__TASK_IDLE;
    task->fn(task, task->arg, status);
}

void sl__scheduler_cancel(struct sl_scheduler *s, struct sl_task *task)
{
    switch ((enum sl__task_state)task->state) {
    case SL__TASK_ASAP:
        sl_list_remove(&task->link.list);
        break;
    case SL__TASK_TIMED:
        sl_heap_remove(&s->timed, &task->link.heap);
        break;
    case SL__TASK_IDLE:
    case SL__TASK_CROSS:
        return; /* not ours: already ran, or still in a loop's cross-thread queue */
    }
    run_task(task, SL_TASK_CANCELED);
}

size_t sl__scheduler_run_due(struct sl_scheduler *s, uint64_t now)
{
    sl_list_splice_back(&s->running, &s->asap);
    struct sl_heap_node *top;
    while ((top = sl_heap_peek(&s->timed)) != NULL &&
           sl_container_of(top, struct sl_task, link.heap)->run_at_ns <= now) {
        struct sl_task *task = sl_container_of(sl_heap_pop(&s->timed), struct sl_task, link.heap);
        task->state = SL__TASK_ASAP;
        sl_list_push_back(&s->running, &task->link.list);
    }
    /* Pop one at a time: a running task may cancel others still in the running list. */
    size_t ran = 0;
    struct sl_list_node *node;
    while ((node = sl_list_pop_front(&s->running)) != NULL) {
        run_task(sl_container_of(node, struct sl_task, link.list), SL_TASK_RUN);
        ran++;
    }
    return ran;
}

bool sl__scheduler_has_asap(const struct sl_scheduler *s)
{
    return !sl_list_is_empty(&s->asap);
}

bool sl__scheduler_next_deadline(const struct sl_scheduler *s, uint64_t *run_at_ns)
{
    const struct sl_heap_node *top = sl_heap_peek(&s->timed);
    if (!top) {
        return false;
    }
    *run_at_ns = sl_container_of(top, const struct sl_task, link.heap)->run_at_ns;
    return true;
}

bool sl__scheduler_is_empty(const struct sl_scheduler *s)
{
    return sl_list_is_empty(&s->asap) && sl_list_is_empty(&s->running) &&
           sl_heap_is_empty(&s->timed);
}

void sl__scheduler_cancel_all(struct sl_scheduler *s)
{
    for (;;) {
        struct sl_list_node *node = sl_list_pop_front(&s->running);
        if (!node) {
            node = sl_list_pop_front(&s->asap);
        }
        if (node) {
            run_task(sl_container_of(node, struct sl_task, link.list), SL_TASK_CANCELED);
            continue;
        }
        struct sl_heap_node *top = sl_heap_pop(&s->timed);
        if (!top) {
            return;
        }
        run_task(sl_container_of(top, struct sl_task, link.heap), SL_TASK_CANCELED);
    }
}
