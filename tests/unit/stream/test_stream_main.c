/* SPDX-License-Identifier: Apache-2.0 */
#include "stream_tests.h"
#include "test_harness.h"

#include <sluice/event_loop.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct sl_loop *start_loop(void)
{
    struct sl_loop_options opts = {.name = "sl-test-loop", .cpu = -1};
    struct sl_loop *loop = NULL;
    ck_assert_int_eq(sl_loop_new(&opts, &loop), 0);
    ck_assert_int_eq(sl_loop_run(loop), 0);
    return loop;
}

void finish_loop(struct sl_loop *loop)
{
    ck_assert_int_eq(sl_loop_destroy(loop), 0);
}

void make_temp_dir(char *dir)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(dir, TEST_PATH_CAP, "%s/sl-stream-XXXXXX", base && *base ? base : "/tmp");
    ck_assert(n > 0 && n < TEST_PATH_CAP);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

void temp_path(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, TEST_PATH_CAP, "%s/%s", dir, name);
    ck_assert(n > 0 && n < TEST_PATH_CAP);
}

void remove_temp_dir(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] != '.') {
            char path[TEST_PATH_CAP];
            temp_path(path, dir, entry->d_name);
            ck_assert_int_eq(unlink(path), 0);
        }
    }
    closedir(d);
    ck_assert_int_eq(rmdir(dir), 0);
}

void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    ck_assert_int_eq(close(fd), 0);
}

int main(void)
{
    Suite *s = suite_create("stream");
    add_future_tests(s);
    add_input_stream_tests(s);
    add_async_stream_tests(s);
    add_fill_depth_tests(s);
    return sl_test_run(s);
}
