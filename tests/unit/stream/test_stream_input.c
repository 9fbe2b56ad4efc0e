/* SPDX-License-Identifier: Apache-2.0 */
#include "stream_tests.h"
#include "test_harness.h"

#include <sluice/alloc.h>
#include <sluice/buf.h>
#include <sluice/error.h>
#include <sluice/stream.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char s_hello[] = "hello world";
#define HELLO_LEN (sizeof(s_hello) - 1)

static struct sl_input_stream *hello_stream(void)
{
    struct sl_input_stream *stream = NULL;
    ck_assert_int_eq(sl_input_stream_new_from_cursor(sl_cursor_from_cstr(s_hello), &stream), 0);
    return stream;
}

static struct sl_stream_status status_of(struct sl_input_stream *stream)
{
    struct sl_stream_status status;
    sl_input_stream_status(stream, &status);
    return status;
}

/* Reads into a fresh fixed buffer of cap bytes and checks what arrived. */
static void expect_read(struct sl_input_stream *stream, size_t cap, const char *want)
{
    char mem[64];
    ck_assert_uint_le(cap, sizeof(mem));
    struct sl_buf buf;
    sl_buf_init_fixed(&buf, mem, cap);
    ck_assert_int_eq(sl_input_stream_read(stream, &buf), 0);
    ck_assert(sl_cursor_eq_cstr(sl_buf_cursor(&buf), want));
}

START_TEST(memory_stream_reads_its_bytes_in_pieces_then_reports_the_end)
{
    struct sl_input_stream *stream = hello_stream();
    ck_assert(status_of(stream).is_valid);
    ck_assert(!status_of(stream).is_end_of_stream);
    expect_read(stream, 4, "hell");
    expect_read(stream, 4, "o wo");
    ck_assert(!status_of(stream).is_end_of_stream);
    expect_read(stream, 4, "rld");
    ck_assert(status_of(stream).is_end_of_stream);
    expect_read(stream, 4, "");
    ck_assert(status_of(stream).is_end_of_stream);
    ck_assert(status_of(stream).is_valid);
    sl_input_stream_release(stream);
}
END_TEST

START_TEST(memory_stream_seeks_from_the_beginning_and_from_the_end)
{
    struct sl_input_stream *stream = hello_stream();
    ck_assert_int_eq(sl_input_stream_seek(stream, 6, SL_STREAM_SEEK_BEGIN), 0);
    expect_read(stream, 16, "world");
    ck_assert(status_of(stream).is_end_of_stream);
    ck_assert_int_eq(sl_input_stream_seek(stream, -5, SL_STREAM_SEEK_END), 0);
    ck_assert(!status_of(stream).is_end_of_stream);
    expect_read(stream, 3, "wor");
    ck_assert_int_eq(sl_input_stream_seek(stream, 0, SL_STREAM_SEEK_END), 0);
    ck_assert(status_of(stream).is_end_of_stream);
    ck_assert_int_eq(sl_input_stream_seek(stream, HELLO_LEN, SL_STREAM_SEEK_BEGIN), 0);
    ck_assert_int_eq(sl_input_stream_seek(stream, 0, SL_STREAM_SEEK_BEGIN), 0);
    expect_read(stream, 5, "hello");
    sl_input_stream_release(stream);
}
END_TEST

START_TEST(memory_stream_refuses_seeks_outside_itself_and_stays_put)
{
    struct sl_input_stream *stream = hello_stream();
    ck_assert_int_eq(sl_input_stream_seek(stream, 2, SL_STREAM_SEEK_BEGIN), 0);
    const int out = SL_E_STREAM_SEEK_OUT_OF_RANGE;
    ck_assert_int_eq(sl_input_stream_seek(stream, HELLO_LEN + 1, SL_STREAM_SEEK_BEGIN), out);
    ck_assert_int_eq(sl_input_stream_seek(stream, -1, SL_STREAM_SEEK_BEGIN), out);
    ck_assert_int_eq(sl_input_stream_seek(stream, 1, SL_STREAM_SEEK_END), out);
    ck_assert_int_eq(sl_input_stream_seek(stream, -(int64_t)HELLO_LEN - 1, SL_STREAM_SEEK_END),
                     out);
    ck_assert_int_eq(sl_input_stream_seek(stream, INT64_MIN, SL_STREAM_SEEK_END), out);
    ck_assert_int_eq(sl_input_stream_seek(stream, INT64_MAX, SL_STREAM_SEEK_BEGIN), out);
    ck_assert_int_eq(sl_input_stream_seek(stream, 0, (enum sl_stream_seek_basis)7), SL_E_INVAL);
    ck_assert(status_of(stream).is_valid); /* refused seeks do not stick */
    expect_read(stream, 3, "llo");
    sl_input_stream_release(stream);
}
END_TEST

START_TEST(memory_stream_knows_its_length_and_an_empty_one_is_at_its_end)
{
    struct sl_input_stream *stream = hello_stream();
    uint64_t len = 0;
    ck_assert_int_eq(sl_input_stream_length(stream, &len), 0);
    ck_assert_uint_eq(len, HELLO_LEN);
    expect_read(stream, 4, "hell");
    ck_assert_int_eq(sl_input_stream_length(stream, &len), 0);
    ck_assert_uint_eq(len, HELLO_LEN); /* the whole length, not what is left */
    sl_input_stream_release(stream);

    ck_assert_int_eq(sl_input_stream_new_from_cursor(sl_cursor_from(NULL, 0), &stream), 0);
    ck_assert(status_of(stream).is_end_of_stream);
    ck_assert_int_eq(sl_input_stream_length(stream, &len), 0);
    ck_assert_uint_eq(len, 0);
    expect_read(stream, 4, "");
    sl_input_stream_release(stream);
}
END_TEST

START_TEST(reading_into_a_full_buffer_is_refused_without_harm)
{
    struct sl_input_stream *stream = hello_stream();
    char mem[2];
    struct sl_buf buf;
    sl_buf_init_fixed(&buf, mem, sizeof(mem));
    ck_assert_int_eq(sl_input_stream_read(stream, &buf), 0);
    ck_assert_int_eq(sl_input_stream_read(stream, &buf), SL_E_BUF_FULL);
    ck_assert_uint_eq(buf.len, 2);
    ck_assert(status_of(stream).is_valid);
    ck_assert_int_eq(sl_input_stream_read(stream, NULL), SL_E_INVAL);
    ck_assert_int_eq(sl_input_stream_new_from_cursor((struct sl_cursor){.len = 3}, &stream),
                     SL_E_INVAL);
    expect_read(stream, 3, "llo");
    sl_input_stream_release(stream);
}
END_TEST

/* A stream whose every read fails, that cannot seek and does not know its length. */
struct failing_stream {
    struct sl_input_stream base;
    int reads;
};

static int failing_read(struct sl_input_stream *stream, struct sl_buf *dest)
{
    (void)dest;
    sl_container_of(stream, struct failing_stream, base)->reads++;
    return -EIO;
}

static bool failing_is_end_of_stream(struct sl_input_stream *stream)
{
    (void)stream;
    return false;
}

static void failing_destroy(struct sl_input_stream *stream)
{
    (void)stream; /* lives on the test's stack */
}

static const struct sl_input_stream_vtable s_failing_vtable = {
    .read = failing_read,
    .is_end_of_stream = failing_is_end_of_stream,
    .destroy = failing_destroy,
};

START_TEST(a_read_error_sticks_and_optional_operations_are_reported_missing)
{
    struct failing_stream f = {.reads = 0};
    sl_input_stream_init(&f.base, &s_failing_vtable);
    uint64_t len;
    ck_assert_int_eq(sl_input_stream_length(&f.base, &len), SL_E_STREAM_LENGTH_UNKNOWN);
    ck_assert_int_eq(sl_input_stream_seek(&f.base, 0, SL_STREAM_SEEK_BEGIN),
                     SL_E_STREAM_NOT_SEEKABLE);
    char mem[8];
    struct sl_buf buf;
    sl_buf_init_fixed(&buf, mem, sizeof(mem));
    ck_assert_int_eq(sl_input_stream_read(&f.base, &buf), -EIO);
    ck_assert(!status_of(&f.base).is_valid);
    ck_assert(!status_of(&f.base).is_end_of_stream);
    ck_assert_int_eq(sl_input_stream_read(&f.base, &buf), -EIO);
    ck_assert_int_eq(sl_input_stream_seek(&f.base, 0, SL_STREAM_SEEK_BEGIN), -EIO);
    ck_assert_int_eq(f.reads, 1); /* the second read never reached the implementation */
    sl_input_stream_release(&f.base);
}
END_TEST

/* File streams ---------------------------------------------------------------------------- */

enum { FILE_LEN = 100000 };

static uint8_t *make_pattern(size_t len)
{
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++) {
        data[i] = test_pattern_byte(i);
    }
    return data;
}

/* Reads the stream to its end in reads of at most chunk bytes into an owned buffer. */
static int read_all(struct sl_input_stream *stream, size_t chunk, struct sl_buf *out)
{
    uint8_t *mem = malloc(chunk);
    int rc = 0;
    for (;;) {
        struct sl_buf piece;
        sl_buf_init_fixed(&piece, mem, chunk);
        rc = sl_input_stream_read(stream, &piece);
        if (rc < 0 || piece.len == 0) {
            break;
        }
        ck_assert_int_eq(sl_buf_append(out, sl_buf_cursor(&piece)), 0);
    }
    free(mem);
    return rc;
}

START_TEST(file_stream_reads_a_real_file_to_its_end)
{
    char dir[TEST_PATH_CAP], path[TEST_PATH_CAP];
    make_temp_dir(dir);
    temp_path(path, dir, "body.bin");
    uint8_t *data = make_pattern(FILE_LEN);
    write_file(path, data, FILE_LEN);

    struct sl_input_stream *stream = NULL;
    ck_assert_int_eq(sl_input_stream_new_from_file(path, &stream), 0);
    uint64_t len = 0;
    ck_assert_int_eq(sl_input_stream_length(stream, &len), 0);
    ck_assert_uint_eq(len, FILE_LEN);
    struct sl_buf all;
    ck_assert_int_eq(sl_buf_init(&all, 0), 0);
    ck_assert_int_eq(read_all(stream, 4093, &all), 0);
    ck_assert(sl_cursor_eq(sl_buf_cursor(&all), sl_cursor_from(data, FILE_LEN)));
    ck_assert(status_of(stream).is_end_of_stream);
    ck_assert(status_of(stream).is_valid);

    ck_assert_int_eq(sl_input_stream_seek(stream, -10, SL_STREAM_SEEK_END), 0);
    ck_assert(!status_of(stream).is_end_of_stream);
    sl_buf_reset(&all);
    ck_assert_int_eq(read_all(stream, 4, &all), 0);
    ck_assert(sl_cursor_eq(sl_buf_cursor(&all), sl_cursor_from(data + FILE_LEN - 10, 10)));
    ck_assert_int_eq(sl_input_stream_seek(stream, FILE_LEN + 1, SL_STREAM_SEEK_BEGIN),
                     SL_E_STREAM_SEEK_OUT_OF_RANGE);

    sl_buf_clean_up(&all);
    sl_input_stream_release(stream);
    free(data);
    remove_temp_dir(dir);
}
END_TEST

START_TEST(file_stream_reports_a_file_that_shrinks_while_being_read)
{
    char dir[TEST_PATH_CAP], path[TEST_PATH_CAP];
    make_temp_dir(dir);
    temp_path(path, dir, "shrinking.bin");
    uint8_t *data = make_pattern(FILE_LEN);
    write_file(path, data, FILE_LEN);

    struct sl_input_stream *stream = NULL;
    ck_assert_int_eq(sl_input_stream_new_from_file(path, &stream), 0);
    uint8_t mem[4096];
    struct sl_buf buf;
    sl_buf_init_fixed(&buf, mem, sizeof(mem));
    ck_assert_int_eq(sl_input_stream_read(stream, &buf), 0);
    ck_assert_uint_eq(buf.len, sizeof(mem));
    ck_assert_int_eq(truncate(path, 3 * 4096), 0); /* another writer cuts the file short */

    struct sl_buf rest;
    ck_assert_int_eq(sl_buf_init(&rest, 0), 0);
    ck_assert_int_eq(read_all(stream, 1000, &rest), SL_E_STREAM_TRUNCATED);
    ck_assert_uint_eq(rest.len, 2 * 4096); /* everything up to the new end arrived first */
    ck_assert(!status_of(stream).is_valid);
    ck_assert(!status_of(stream).is_end_of_stream);
    sl_buf_reset(&buf);
    ck_assert_int_eq(sl_input_stream_read(stream, &buf), SL_E_STREAM_TRUNCATED);

    sl_buf_clean_up(&rest);
    sl_input_stream_release(stream);
    free(data);
    remove_temp_dir(dir);
}
END_TEST

START_TEST(file_stream_passes_a_read_error_through_as_errno)
{
    char dir[TEST_PATH_CAP], path[TEST_PATH_CAP];
    make_temp_dir(dir);
    temp_path(path, dir, "write-only.bin");
    write_file(path, s_hello, HELLO_LEN);
    int fd = open(path, O_WRONLY | O_CLOEXEC); /* read(2) on it fails with EBADF */
    ck_assert_int_ge(fd, 0);

    struct sl_input_stream *stream = NULL;
    ck_assert_int_eq(sl_input_stream_new_from_fd(fd, &stream), 0);
    char mem[8];
    struct sl_buf buf;
    sl_buf_init_fixed(&buf, mem, sizeof(mem));
    ck_assert_int_eq(sl_input_stream_read(stream, &buf), -EBADF);
    ck_assert(!status_of(stream).is_valid);
    ck_assert_uint_eq(buf.len, 0);
    sl_input_stream_release(stream); /* closes fd: the harness checks for leaked descriptors */
    remove_temp_dir(dir);
}
END_TEST

START_TEST(file_stream_starts_at_the_descriptors_offset)
{
    char dir[TEST_PATH_CAP], path[TEST_PATH_CAP];
    make_temp_dir(dir);
    temp_path(path, dir, "offset.txt");
    write_file(path, s_hello, HELLO_LEN);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(lseek(fd, 6, SEEK_SET), 6);

    struct sl_input_stream *stream = NULL;
    ck_assert_int_eq(sl_input_stream_new_from_fd(fd, &stream), 0);
    expect_read(stream, 16, "world");
    expect_read(stream, 16, "");
    ck_assert(status_of(stream).is_end_of_stream);
    ck_assert_int_eq(sl_input_stream_seek(stream, 0, SL_STREAM_SEEK_BEGIN), 0);
    expect_read(stream, 5, "hello");
    sl_input_stream_release(stream);
    remove_temp_dir(dir);
}
END_TEST

START_TEST(file_stream_over_a_pipe_cannot_seek_and_has_no_length)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], "abc", 3), 3);
    ck_assert_int_eq(close(fds[1]), 0);
    struct sl_input_stream *stream = NULL;
    ck_assert_int_eq(sl_input_stream_new_from_fd(fds[0], &stream), 0);
    uint64_t len;
    ck_assert_int_eq(sl_input_stream_length(stream, &len), SL_E_STREAM_LENGTH_UNKNOWN);
    ck_assert_int_eq(sl_input_stream_seek(stream, 0, SL_STREAM_SEEK_BEGIN),
                     SL_E_STREAM_NOT_SEEKABLE);
    expect_read(stream, 8, "abc");
    ck_assert(!status_of(stream).is_end_of_stream);
    expect_read(stream, 8, "");
    ck_assert(status_of(stream).is_end_of_stream);
    ck_assert(status_of(stream).is_valid);
    sl_input_stream_release(stream);
}
END_TEST

START_TEST(opening_a_missing_file_or_a_directory_fails_without_leaks)
{
    char dir[TEST_PATH_CAP], path[TEST_PATH_CAP];
    make_temp_dir(dir);
    temp_path(path, dir, "missing");
    struct sl_input_stream *stream = NULL;
    ck_assert_int_eq(sl_input_stream_new_from_file(path, &stream), -ENOENT);
    ck_assert_int_eq(sl_input_stream_new_from_file(dir, &stream), -EISDIR);
    ck_assert_int_eq(sl_input_stream_new_from_file(NULL, &stream), SL_E_INVAL);
    ck_assert_int_eq(sl_input_stream_new_from_fd(-1, &stream), SL_E_INVAL);
    ck_assert_ptr_null(stream);

    temp_path(path, dir, "present");
    write_file(path, s_hello, HELLO_LEN);
    ck_assert_int_eq(sl_alloc_fail_at(1), 0);
    ck_assert_int_eq(sl_input_stream_new_from_file(path, &stream), SL_E_NOMEM);
    ck_assert_int_eq(sl_alloc_fail_at(1), 0);
    ck_assert_int_eq(sl_input_stream_new_from_cursor(sl_cursor_from_cstr(s_hello), &stream),
                     SL_E_NOMEM);
    ck_assert_int_eq(sl_alloc_fail_at(0), 0);
    ck_assert_ptr_null(stream);
    remove_temp_dir(dir);
}
END_TEST

void add_input_stream_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("input_stream", 30);
    tcase_add_test(tc, memory_stream_reads_its_bytes_in_pieces_then_reports_the_end);
    tcase_add_test(tc, memory_stream_seeks_from_the_beginning_and_from_the_end);
    tcase_add_test(tc, memory_stream_refuses_seeks_outside_itself_and_stays_put);
    tcase_add_test(tc, memory_stream_knows_its_length_and_an_empty_one_is_at_its_end);
    tcase_add_test(tc, reading_into_a_full_buffer_is_refused_without_harm);
    tcase_add_test(tc, a_read_error_sticks_and_optional_operations_are_reported_missing);
    tcase_add_test(tc, file_stream_reads_a_real_file_to_its_end);
    tcase_add_test(tc, file_stream_reports_a_file_that_shrinks_while_being_read);
    tcase_add_test(tc, file_stream_passes_a_read_error_through_as_errno);
    tcase_add_test(tc, file_stream_starts_at_the_descriptors_offset);
    tcase_add_test(tc, file_stream_over_a_pipe_cannot_seek_and_has_no_length);
    tcase_add_test(tc, opening_a_missing_file_or_a_directory_fails_without_leaks);
    suite_add_tcase(s, tc);
}
