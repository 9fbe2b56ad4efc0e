/* SPDX-License-Identifier: Apache-2.0 */
#include "scripted_stream.h"
#include "stream_tests.h"
#include "test_harness.h"

#include <sluice/async_stream.h>
#include <sluice/error.h>
#include <sluice/future.h>

#include <pthread.h>

/*
 * read_to_fill over a stream that completes every read before returning, a million times.
 * A version that chained reads through callbacks would nest a few frames per read and need
 * hundreds of megabytes of stack. This one must run on a deliberately small thread stack, and
 * every read() must be entered at the same depth.
 */
enum {
    MILLION = 1000000,
    SMALL_STACK_BYTES = 256 * 1024, /* room for ASan's larger frames, far below 1M frames */
    DEPTH_SLACK_BYTES = 512,        /* the frame address of read() may wobble, never grow */
};

struct million_fill {
    struct scripted_stream *stream;
    struct sl_buf dest;
    int start_rc;
    bool done_on_return;
    int result;
    bool at_end;
};

static void *fill_a_million(void *arg)
{
    struct million_fill *m = arg;
    struct sl_future *fill = NULL;
    m->start_rc = sl_async_input_stream_read_to_fill(&m->stream->base, &m->dest, &fill);
    if (m->start_rc == 0) {
        m->done_on_return = sl_future_is_done(fill);
        m->result = sl_future_result_bool(fill, &m->at_end);
        sl_future_release(fill);
    }
    return NULL;
}

START_TEST(a_million_synchronous_reads_fill_without_growing_the_stack)
{
    struct script script = {
        .completion = COMPLETE_INLINE, .total = MILLION, .per_read = 1, .fail_at = SIZE_MAX};
    struct million_fill m = {.stream = scripted_stream_new(&script)};
    ck_assert_int_eq(sl_buf_init(&m.dest, MILLION), 0);

    pthread_attr_t attr;
    ck_assert_int_eq(pthread_attr_init(&attr), 0);
    ck_assert_int_eq(pthread_attr_setstacksize(&attr, SMALL_STACK_BYTES), 0);
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, &attr, fill_a_million, &m), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    pthread_attr_destroy(&attr);

    ck_assert_int_eq(m.start_rc, 0);
    ck_assert(m.done_on_return);
    ck_assert_int_eq(m.result, 0);
    ck_assert(!m.at_end); /* the buffer filled up exactly as the bytes ran out */
    ck_assert_uint_eq(m.dest.len, MILLION);
    ck_assert(holds_pattern(&m.dest, 0));
    ck_assert_uint_eq(m.stream->reads, MILLION);
    ck_assert_uint_le(m.stream->highest_frame - m.stream->lowest_frame, DEPTH_SLACK_BYTES);

    sl_buf_clean_up(&m.dest);
    sl_async_input_stream_release(&m.stream->base);
    scripted_stream_free(m.stream);
}
END_TEST

void add_fill_depth_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("fill_depth", 120);
    tcase_add_test(tc, a_million_synchronous_reads_fill_without_growing_the_stack);
    suite_add_tcase(s, tc);
}
