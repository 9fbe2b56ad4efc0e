/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_STREAM_TESTS_H
#define SL_STREAM_TESTS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

struct sl_loop;

void add_future_tests(Suite *s);
void add_input_stream_tests(Suite *s);
void add_async_stream_tests(Suite *s);
void add_fill_depth_tests(Suite *s);

/* The test data: byte i of every generated body, recognisable at any offset. */
static inline uint8_t test_pattern_byte(size_t i)
{
    return (uint8_t)(i * 7 + i / 251);
}

/* Creates and runs a loop on the default back end; fails the test on error. */
struct sl_loop *start_loop(void);

/* Destroys a loop, failing the test on error. */
void finish_loop(struct sl_loop *loop);

/*
 * A fresh directory of the test's own (mkdtemp under $TMPDIR, or /tmp) written into dir, which
 * holds at least TEST_PATH_CAP bytes.
 */
enum { TEST_PATH_CAP = 512 };
void make_temp_dir(char *dir);

/* Removes the files in dir, then dir itself. */
void remove_temp_dir(const char *dir);

/* dir + "/" + name into out (TEST_PATH_CAP bytes). */
void temp_path(char *out, const char *dir, const char *name);

/* Creates (or replaces) the file at path holding len bytes of data. */
void write_file(const char *path, const void *data, size_t len);

#endif
