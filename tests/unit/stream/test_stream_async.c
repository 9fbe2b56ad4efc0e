/* SPDX-License-Identifier: Apache-2.0 */
#include "scripted_stream.h"
#include "stream_tests.h"
#include "test_harness.h"

#include <sluice/alloc.h>
#include <sluice/async_stream.h>
#include <sluice/clock.h>
#include <sluice/error.h>
#include <sluice/future.h>
#include <sluice/stream.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Loop tests run once per completion mode: _i is an enum completion. */
enum { COMPLETION_MODES = 2 };

/* A scripted stream in mode; COMPLETE_ON_LOOP gets a running loop in *loop, else NULL. */
static struct scripted_stream *new_scripted(int mode, struct script script, struct sl_loop **loop)
{
    *loop = mode == COMPLETE_ON_LOOP ? start_loop() : NULL;
    script.completion = (enum completion)mode;
    script.loop = *loop;
    return scripted_stream_new(&script);
}

/* Waits for the future of a fill, returns its outcome, and writes its value to *at_end. */
static int wait_for_fill(struct sl_future *fill, bool *at_end)
{
    ck_assert_int_eq(sl_future_wait(fill, 10 * SL_NS_PER_SEC), 0);
    int rc = sl_future_result_bool(fill, at_end);
    sl_future_release(fill);
    return rc;
}

/* Drops the test's reference and loop, then checks the stream is gone. */
static void finish_scripted(struct scripted_stream *s, struct sl_loop *loop)
{
    sl_async_input_stream_release(&s->base);
    if (loop) {
        finish_loop(loop);
    }
    scripted_stream_free(s);
}

START_TEST(read_to_fill_collects_one_byte_reads_until_the_stream_ends)
{
    struct sl_loop *loop;
    struct script script = {.total = 300, .per_read = 1, .fail_at = SIZE_MAX};
    struct scripted_stream *s = new_scripted(_i, script, &loop);
    struct sl_buf dest;
    ck_assert_int_eq(sl_buf_init(&dest, 1000), 0);
    struct sl_future *fill = NULL;
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(&s->base, &dest, &fill), 0);
    if (_i == COMPLETE_INLINE) {
        ck_assert(sl_future_is_done(fill)); /* every read completed before returning */
    }
    bool at_end = false;
    ck_assert_int_eq(wait_for_fill(fill, &at_end), 0);
    ck_assert(at_end);
    ck_assert_uint_eq(dest.len, 300);
    ck_assert(holds_pattern(&dest, 0));
    ck_assert_uint_eq(s->reads, 301); /* the last read only finds the end */
    sl_buf_clean_up(&dest);
    finish_scripted(s, loop);
}
END_TEST

START_TEST(read_to_fill_stops_when_the_buffer_is_full_and_resumes_after)
{
    struct sl_loop *loop;
    struct script script = {.total = 1000, .per_read = 7, .fail_at = SIZE_MAX};
    struct scripted_stream *s = new_scripted(_i, script, &loop);
    uint8_t mem[50];
    struct sl_buf dest;
    sl_buf_init_fixed(&dest, mem, sizeof(mem));
    struct sl_future *fill = NULL;
    bool at_end = true;
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(&s->base, &dest, &fill), 0);
    ck_assert_int_eq(wait_for_fill(fill, &at_end), 0);
    ck_assert(!at_end);
    ck_assert_uint_eq(dest.len, 50);
    ck_assert(holds_pattern(&dest, 0));
    ck_assert_uint_eq(s->reads, 8); /* seven reads of 7 bytes and one of 1 */

    sl_buf_reset(&dest);
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(&s->base, &dest, &fill), 0);
    ck_assert_int_eq(wait_for_fill(fill, &at_end), 0);
    ck_assert(!at_end);
    ck_assert(holds_pattern(&dest, 50));
    finish_scripted(s, loop);
}
END_TEST

START_TEST(read_to_fill_reports_a_stream_that_ends_early)
{
    struct sl_loop *loop;
    struct script script = {
        .total = 10, .per_read = 3, .fail_at = SIZE_MAX, .end_with_last_byte = true};
    struct scripted_stream *s = new_scripted(_i, script, &loop);
    struct sl_buf dest;
    ck_assert_int_eq(sl_buf_init(&dest, 100), 0);
    struct sl_future *fill = NULL;
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(&s->base, &dest, &fill), 0);
    bool at_end = false;
    ck_assert_int_eq(wait_for_fill(fill, &at_end), 0);
    ck_assert(at_end);
    ck_assert_uint_eq(dest.len, 10);
    ck_assert(holds_pattern(&dest, 0));
    ck_assert_uint_eq(s->reads, 4);
    sl_buf_clean_up(&dest);
    finish_scripted(s, loop);
}
END_TEST

START_TEST(read_to_fill_passes_on_an_error_midway_and_keeps_what_arrived)
{
    struct sl_loop *loop;
    struct script script = {.total = 100, .per_read = 10, .fail_at = 37, .fail_error = -ECONNRESET};
    struct scripted_stream *s = new_scripted(_i, script, &loop);
    struct sl_buf dest;
    ck_assert_int_eq(sl_buf_init(&dest, 100), 0);
    struct sl_future *fill = NULL;
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(&s->base, &dest, &fill), 0);
    bool at_end = false;
    ck_assert_int_eq(wait_for_fill(fill, &at_end), -ECONNRESET);
    ck_assert_uint_eq(dest.len, 37);
    ck_assert(holds_pattern(&dest, 0));
    sl_buf_clean_up(&dest);
    finish_scripted(s, loop);
}
END_TEST

START_TEST(read_to_fill_reports_a_read_that_makes_no_progress)
{
    struct sl_loop *loop;
    struct script script = {.total = 10, .per_read = 0, .fail_at = SIZE_MAX};
    struct scripted_stream *s = new_scripted(_i, script, &loop);
    uint8_t mem[8];
    struct sl_buf dest;
    sl_buf_init_fixed(&dest, mem, sizeof(mem));
    struct sl_future *fill = NULL;
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(&s->base, &dest, &fill), 0);
    bool at_end = false;
    ck_assert_int_eq(wait_for_fill(fill, &at_end), SL_E_STREAM_NO_PROGRESS);
    ck_assert_uint_eq(s->reads, 1);
    finish_scripted(s, loop);
}
END_TEST

START_TEST(a_single_read_reports_its_bytes_through_its_future)
{
    struct sl_loop *loop;
    struct script script = {
        .total = 5, .per_read = 100, .fail_at = SIZE_MAX, .end_with_last_byte = true};
    struct scripted_stream *s = new_scripted(_i, script, &loop);
    uint8_t mem[16];
    struct sl_buf dest;
    sl_buf_init_fixed(&dest, mem, sizeof(mem));
    struct sl_future *read = NULL;
    ck_assert_int_eq(sl_async_input_stream_read(&s->base, &dest, &read), 0);
    bool at_end = false;
    ck_assert_int_eq(wait_for_fill(read, &at_end), 0);
    ck_assert(at_end);
    ck_assert_uint_eq(dest.len, 5);
    ck_assert(holds_pattern(&dest, 0));
    finish_scripted(s, loop);
}
END_TEST

START_TEST(reading_into_a_full_buffer_is_refused_without_a_future)
{
    struct script script = {.total = 10, .per_read = 1, .fail_at = SIZE_MAX};
    struct scripted_stream *s = scripted_stream_new(&script);
    uint8_t mem[1] = {0};
    struct sl_buf dest;
    sl_buf_init_fixed(&dest, mem, 0);
    struct sl_future *future = NULL;
    ck_assert_int_eq(sl_async_input_stream_read(&s->base, &dest, &future), SL_E_BUF_FULL);
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(&s->base, &dest, &future), SL_E_BUF_FULL);
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(&s->base, NULL, &future), SL_E_INVAL);
    ck_assert_int_eq(sl_async_input_stream_read(NULL, &dest, &future), SL_E_INVAL);
    ck_assert_ptr_null(future);
    ck_assert_uint_eq(s->reads, 0);
    finish_scripted(s, NULL);
}
END_TEST

START_TEST(a_pending_fill_keeps_the_stream_alive_until_its_loop_cancels_it)
{
    struct sl_loop_options opts = {.cpu = -1};
    struct sl_loop *loop;
    ck_assert_int_eq(sl_loop_new(&opts, &loop), 0); /* never run: the first read stays pending */
    struct script script = {.completion = COMPLETE_ON_LOOP,
                            .loop = loop,
                            .total = 10,
                            .per_read = 1,
                            .fail_at = SIZE_MAX};
    struct scripted_stream *s = scripted_stream_new(&script);
    uint8_t mem[8];
    struct sl_buf dest;
    sl_buf_init_fixed(&dest, mem, sizeof(mem));
    struct sl_future *fill = NULL;
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(&s->base, &dest, &fill), 0);
    sl_async_input_stream_release(&s->base);
    ck_assert(!atomic_load(&s->destroyed));
    ck_assert(!sl_future_is_done(fill));
    finish_loop(loop); /* cancels the read task: the read, then the fill, fail */
    bool at_end = false;
    ck_assert_int_eq(wait_for_fill(fill, &at_end), SL_E_CANCELED);
    ck_assert_uint_eq(dest.len, 0);
    scripted_stream_free(s);
}
END_TEST

/* The adapter from synchronous streams ------------------------------------------------------ */

static struct sl_async_input_stream *adapt(struct sl_input_stream *source)
{
    struct sl_async_input_stream *stream = NULL;
    ck_assert_int_eq(sl_async_input_stream_new_from_sync(source, &stream), 0);
    sl_input_stream_release(source); /* the adapter keeps its own reference */
    return stream;
}

START_TEST(adapter_over_a_memory_stream_completes_every_read_at_once)
{
    struct sl_input_stream *source = NULL;
    ck_assert_int_eq(sl_input_stream_new_from_cursor(sl_cursor_from_cstr("hello world"), &source),
                     0);
    struct sl_async_input_stream *stream = adapt(source);
    uint8_t mem[16];
    struct sl_buf dest;
    sl_buf_init_fixed(&dest, mem, 5);
    struct sl_future *future = NULL;
    bool at_end = true;
    ck_assert_int_eq(sl_async_input_stream_read(stream, &dest, &future), 0);
    ck_assert(sl_future_is_done(future));
    ck_assert_int_eq(wait_for_fill(future, &at_end), 0);
    ck_assert(!at_end);
    ck_assert(sl_cursor_eq_cstr(sl_buf_cursor(&dest), "hello"));

    sl_buf_init_fixed(&dest, mem, sizeof(mem));
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(stream, &dest, &future), 0);
    ck_assert(sl_future_is_done(future));
    ck_assert_int_eq(wait_for_fill(future, &at_end), 0);
    ck_assert(at_end);
    ck_assert(sl_cursor_eq_cstr(sl_buf_cursor(&dest), " world"));
    ck_assert_int_eq(sl_async_input_stream_new_from_sync(NULL, &stream), SL_E_INVAL);
    sl_async_input_stream_release(stream);
}
END_TEST

START_TEST(adapter_over_a_shrinking_file_fails_the_fill_with_truncated)
{
    char dir[TEST_PATH_CAP], path[TEST_PATH_CAP];
    make_temp_dir(dir);
    temp_path(path, dir, "upload.bin");
    enum { LEN = 65536 };
    uint8_t *data = malloc(LEN);
    for (size_t i = 0; i < LEN; i++) {
        data[i] = test_pattern_byte(i);
    }
    write_file(path, data, LEN);
    struct sl_input_stream *source = NULL;
    ck_assert_int_eq(sl_input_stream_new_from_file(path, &source), 0);
    struct sl_async_input_stream *stream = adapt(source);

    struct sl_buf dest;
    ck_assert_int_eq(sl_buf_init(&dest, 4096), 0);
    struct sl_future *fill = NULL;
    bool at_end = true;
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(stream, &dest, &fill), 0);
    ck_assert_int_eq(wait_for_fill(fill, &at_end), 0);
    ck_assert(!at_end);
    ck_assert(holds_pattern(&dest, 0));
    ck_assert_int_eq(truncate(path, 8192), 0);
    sl_buf_clean_up(&dest);
    ck_assert_int_eq(sl_buf_init(&dest, LEN), 0);
    ck_assert_int_eq(sl_async_input_stream_read_to_fill(stream, &dest, &fill), 0);
    ck_assert_int_eq(wait_for_fill(fill, &at_end), SL_E_STREAM_TRUNCATED);
    ck_assert_uint_eq(dest.len, 4096);
    ck_assert(holds_pattern(&dest, 4096));

    sl_buf_clean_up(&dest);
    sl_async_input_stream_release(stream);
    free(data);
    remove_temp_dir(dir);
}
END_TEST

/* OOM torture (STYLE.md §10): fail each allocation of a fill in turn; nothing may leak. */
START_TEST(read_to_fill_survives_every_allocation_failure)
{
    for (uint64_t n = 1;; n++) {
        struct sl_input_stream *source = NULL;
        ck_assert_int_eq(sl_input_stream_new_from_cursor(sl_cursor_from_cstr("abcdef"), &source),
                         0);
        struct sl_async_input_stream *stream = adapt(source);
        uint8_t mem[4];
        struct sl_buf dest;
        sl_buf_init_fixed(&dest, mem, sizeof(mem));
        struct sl_future *fill = NULL;
        ck_assert_int_eq(sl_alloc_fail_at(n), 0);
        int rc = sl_async_input_stream_read_to_fill(stream, &dest, &fill);
        bool at_end = false;
        if (rc == 0) {
            rc = wait_for_fill(fill, &at_end);
        }
        ck_assert_int_eq(sl_alloc_fail_at(0), 0);
        sl_async_input_stream_release(stream);
        if (rc == 0) {
            ck_assert(sl_cursor_eq_cstr(sl_buf_cursor(&dest), "abcd"));
            break;
        }
        ck_assert_int_eq(rc, SL_E_NOMEM);
        ck_assert(n < 100);
    }
}
END_TEST

void add_async_stream_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("async_stream", 60);
    tcase_add_loop_test(tc, read_to_fill_collects_one_byte_reads_until_the_stream_ends, 0,
                        COMPLETION_MODES);
    tcase_add_loop_test(tc, read_to_fill_stops_when_the_buffer_is_full_and_resumes_after, 0,
                        COMPLETION_MODES);
    tcase_add_loop_test(tc, read_to_fill_reports_a_stream_that_ends_early, 0, COMPLETION_MODES);
    tcase_add_loop_test(tc, read_to_fill_passes_on_an_error_midway_and_keeps_what_arrived, 0,
                        COMPLETION_MODES);
    tcase_add_loop_test(tc, read_to_fill_reports_a_read_that_makes_no_progress, 0,
                        COMPLETION_MODES);
    tcase_add_loop_test(tc, a_single_read_reports_its_bytes_through_its_future, 0,
                        COMPLETION_MODES);
    tcase_add_test(tc, reading_into_a_full_buffer_is_refused_without_a_future);
    tcase_add_test(tc, a_pending_fill_keeps_the_stream_alive_until_its_loop_cancels_it);
    tcase_add_test(tc, adapter_over_a_memory_stream_completes_every_read_at_once);
    tcase_add_test(tc, adapter_over_a_shrinking_file_fails_the_fill_with_truncated);
    tcase_add_test(tc, read_to_fill_survives_every_allocation_failure);
    suite_add_tcase(s, tc);
}
