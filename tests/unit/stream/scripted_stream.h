/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SCRIPTED_STREAM_H
#define SL_SCRIPTED_STREAM_H

/*
 * A scripted asynchronous input stream for the tests: it produces test_pattern_byte(0..total)
 * in reads of at most per_read bytes, completes each read inline or from a task on a loop, and
 * can fail midway or misbehave on purpose.
 */

#include <sluice/async_stream.h>
#include <sluice/event_loop.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum completion {
    COMPLETE_INLINE,  /* the future is done before read() returns */
    COMPLETE_ON_LOOP, /* a task on loop appends the bytes and completes the future */
};

struct script {
    enum completion completion;
    struct sl_loop *loop;    /* for COMPLETE_ON_LOOP */
    size_t total;            /* bytes before the end */
    size_t per_read;         /* bytes per read at most; 0 makes a stream that never progresses */
    size_t fail_at;          /* the read that starts at this byte fails; SIZE_MAX: never */
    int fail_error;          /* the error it fails with */
    bool end_with_last_byte; /* report the end with the last bytes, not on the next read */
};

struct scripted_stream {
    struct sl_async_input_stream base;
    struct script script;
    size_t produced;
    uint64_t reads;
    atomic_bool destroyed; /* set by destroy; the struct is freed by scripted_stream_free */

    /* The read in flight, for COMPLETE_ON_LOOP; the task holds a reference to both. */
    struct sl_task task;
    struct sl_future *pending;
    struct sl_buf *dest;

    /* The lowest and highest frame address seen in read(): how deep the stack went. */
    uintptr_t lowest_frame;
    uintptr_t highest_frame;
};

/* A new stream (one reference) following script. Free with scripted_stream_free. */
struct scripted_stream *scripted_stream_new(const struct script *script);

/* Checks that the stream was destroyed (its last reference released) and frees it. */
void scripted_stream_free(struct scripted_stream *s);

/* True when buf holds test_pattern_byte(first .. first + buf->len). */
bool holds_pattern(const struct sl_buf *buf, size_t first);

#endif
