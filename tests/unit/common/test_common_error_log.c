/* SPDX-License-Identifier: Apache-2.0 */
#include "common_tests.h"
#include "test_harness.h"

#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/thread.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(sluice_codes_have_names_and_messages)
{
    ck_assert_int_eq(SL_E_UNKNOWN, -10000);
    ck_assert_str_eq(sl_error_name(SL_E_TIMED_OUT), "SL_E_TIMED_OUT");
    ck_assert_str_eq(sl_strerror(SL_E_TIMED_OUT), "operation timed out");
    ck_assert_str_eq(sl_error_name(0), "OK");
    ck_assert_str_eq(sl_strerror(0), "success");
    for (int i = 0; i < SL__EI_COUNT; i++) {
        int code = SL_E_BASE - i;
        ck_assert(code <= -10000);
        ck_assert_int_eq(strncmp(sl_error_name(code), "SL_E_", 5), 0);
        ck_assert(strlen(sl_strerror(code)) > 0);
        for (int j = 0; j < i; j++) {
            ck_assert_str_ne(sl_error_name(code), sl_error_name(SL_E_BASE - j));
        }
    }
}
END_TEST

START_TEST(errno_values_map_to_their_names)
{
    ck_assert_int_eq(sl_error_from_errno(ECONNREFUSED), -ECONNREFUSED);
    ck_assert_str_eq(sl_error_name(-ECONNREFUSED), "ECONNREFUSED");
    ck_assert_str_eq(sl_strerror(-ECONNREFUSED), strerror(ECONNREFUSED));
    ck_assert_str_eq(sl_error_name(-EADDRINUSE), "EADDRINUSE");
    ck_assert_int_eq(sl_error_from_errno(0), SL_E_UNKNOWN);
}
END_TEST

START_TEST(unknown_codes_read_as_unknown)
{
    ck_assert_str_eq(sl_error_name(-9999), "SL_E_UNKNOWN");
    ck_assert_str_eq(sl_error_name(SL_E_BASE - 5000), "SL_E_UNKNOWN");
    ck_assert_str_eq(sl_error_name(42), "SL_E_UNKNOWN");
    ck_assert_str_eq(sl_strerror(SL_E_BASE - 5000), "unknown error");
}
END_TEST

/* A sink that keeps the last message and counts calls (called under the log lock). */
static struct {
    int calls;
    char message[2048];
    size_t message_len;
    enum sl_log_level level;
    enum sl_log_subsystem subsystem;
    char file[64];
} s_seen;

static void capture_sink(const struct sl_log_record *rec, void *user_data)
{
    (void)user_data;
    s_seen.calls++;
    s_seen.level = rec->level;
    s_seen.subsystem = rec->subsystem;
    s_seen.message_len = rec->message_len;
    memcpy(s_seen.message, rec->message, rec->message_len + 1);
    strncpy(s_seen.file, rec->file, sizeof(s_seen.file) - 1);
}

static void log_setup(void)
{
    memset(&s_seen, 0, sizeof(s_seen));
    sl_log_set_sink(capture_sink, NULL);
    sl_log_set_level_all(SL_LOG_INFO);
}

static void log_teardown(void)
{
    sl_log_set_sink(NULL, NULL);
    sl_log_set_level_all(SL_LOG_WARN);
}

static int s_evaluations;

static int count_evaluation(void)
{
    return ++s_evaluations;
}

START_TEST(disabled_level_does_not_evaluate_arguments)
{
    s_evaluations = 0;
    SL_LOG_DEBUG(SL_LS_LOOP, "value %d", count_evaluation());
    ck_assert_int_eq(s_evaluations, 0);
    ck_assert_int_eq(s_seen.calls, 0);
    SL_LOG_INFO(SL_LS_LOOP, "value %d", count_evaluation());
    ck_assert_int_eq(s_evaluations, 1);
    ck_assert_int_eq(s_seen.calls, 1);
}
END_TEST

START_TEST(sink_receives_level_subsystem_file_and_message)
{
    SL_LOG_WARN(SL_LS_TLS, "handshake with %s failed: %d", "peer", 42);
    ck_assert_int_eq(s_seen.calls, 1);
    ck_assert_int_eq(s_seen.level, SL_LOG_WARN);
    ck_assert_int_eq(s_seen.subsystem, SL_LS_TLS);
    ck_assert_str_eq(s_seen.message, "handshake with peer failed: 42");
    ck_assert_uint_eq(s_seen.message_len, strlen(s_seen.message));
    ck_assert_str_eq(s_seen.file, "test_common_error_log.c");
}
END_TEST

START_TEST(levels_are_per_subsystem)
{
    sl_log_set_level(SL_LS_DNS, SL_LOG_TRACE);
    sl_log_set_level(SL_LS_LOOP, SL_LOG_ERROR);
    SL_LOG_TRACE(SL_LS_DNS, "dns trace");
    SL_LOG_WARN(SL_LS_LOOP, "loop warn");
    ck_assert_int_eq(s_seen.calls, 1);
    ck_assert_str_eq(s_seen.message, "dns trace");
    ck_assert_int_eq(sl_log_get_level(SL_LS_DNS), SL_LOG_TRACE);
}
END_TEST

START_TEST(configure_applies_whole_spec_or_nothing)
{
    ck_assert_int_eq(sl_log_configure("error,loop=trace,tls=debug"), 0);
    ck_assert_int_eq(sl_log_get_level(SL_LS_COMMON), SL_LOG_ERROR);
    ck_assert_int_eq(sl_log_get_level(SL_LS_LOOP), SL_LOG_TRACE);
    ck_assert_int_eq(sl_log_get_level(SL_LS_TLS), SL_LOG_DEBUG);

    ck_assert_int_eq(sl_log_configure("debug,loop=loud"), SL_E_INVAL);
    ck_assert_int_eq(sl_log_configure("nosuch=debug"), SL_E_INVAL);
    ck_assert_int_eq(sl_log_configure("debug,"), SL_E_INVAL);
    ck_assert_int_eq(sl_log_configure(""), SL_E_INVAL);
    ck_assert_int_eq(sl_log_configure("=debug"), SL_E_INVAL);
    ck_assert_int_eq(sl_log_get_level(SL_LS_COMMON), SL_LOG_ERROR);
    ck_assert_int_eq(sl_log_get_level(SL_LS_LOOP), SL_LOG_TRACE);
    ck_assert_str_eq(sl_log_level_name(SL_LOG_DEBUG), "debug");
    ck_assert_str_eq(sl_log_subsystem_name(SL_LS_DNS), "dns");
}
END_TEST

START_TEST(long_messages_are_cut_with_an_ellipsis)
{
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    SL_LOG_ERROR(SL_LS_APP, "%s", big);
    ck_assert_uint_eq(s_seen.message_len, 1023);
    ck_assert_str_eq(s_seen.message + s_seen.message_len - 3, "...");
}
END_TEST

static void logging_sink(const struct sl_log_record *rec, void *user_data)
{
    (void)rec;
    (void)user_data;
    s_seen.calls++;
    SL_LOG_ERROR(SL_LS_APP, "from inside the sink"); /* must be dropped, not deadlock */
}

START_TEST(a_sink_that_logs_does_not_deadlock)
{
    sl_log_set_sink(logging_sink, NULL);
    SL_LOG_ERROR(SL_LS_APP, "outer");
    ck_assert_int_eq(s_seen.calls, 1);
}
END_TEST

static void log_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        SL_LOG_INFO(SL_LS_APP, "message %d", i);
    }
}

START_TEST(logging_from_many_threads_loses_nothing)
{
    struct sl_thread *threads[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(sl_thread_start(NULL, log_many, NULL, &threads[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(sl_thread_join(threads[i]), 0);
    }
    ck_assert_int_eq(s_seen.calls, 40000);
}
END_TEST

/*
 * The default sink's journald format. stderr is swapped for a pipe during each test and put back
 * in the teardown, which Check runs after a failed assertion too.
 */
static struct {
    int saved_stderr;
    int pipe[2];
    char env[64]; /* "DEV:INODE" of the pipe's write end */
} s_journal;

static void journal_setup(void)
{
    sl_log_set_sink(NULL, NULL);
    sl_log_set_level_all(SL_LOG_TRACE);
    s_journal.saved_stderr = dup(STDERR_FILENO);
    ck_assert_int_ge(s_journal.saved_stderr, 0);
    ck_assert_int_eq(pipe(s_journal.pipe), 0);
    ck_assert_int_eq(fcntl(s_journal.pipe[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(dup2(s_journal.pipe[1], STDERR_FILENO), STDERR_FILENO);
    struct stat st;
    ck_assert_int_eq(fstat(s_journal.pipe[1], &st), 0);
    snprintf(s_journal.env, sizeof(s_journal.env), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
}

static void journal_teardown(void)
{
    unsetenv("JOURNAL_STREAM");
    dup2(s_journal.saved_stderr, STDERR_FILENO);
    close(s_journal.saved_stderr);
    close(s_journal.pipe[0]);
    close(s_journal.pipe[1]);
    sl_log_set_level_all(SL_LOG_WARN);
}

/* What the sink wrote to the pipe so far (NUL-terminated). */
static const char *journal_output(void)
{
    static char out[8192];
    ssize_t n = read(s_journal.pipe[0], out, sizeof(out) - 1);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

START_TEST(journal_stream_on_stderr_prefixes_syslog_priorities)
{
    ck_assert_int_eq(setenv("JOURNAL_STREAM", s_journal.env, 1), 0);
    SL_LOG_FATAL(SL_LS_APP, "f");
    SL_LOG_ERROR(SL_LS_APP, "e");
    SL_LOG_WARN(SL_LS_DNS, "w");
    SL_LOG_INFO(SL_LS_DAEMON, "i %d", 6);
    SL_LOG_DEBUG(SL_LS_LOOP, "d");
    SL_LOG_TRACE(SL_LS_TLS, "t");
    const char *out = journal_output();
    /* No timestamp and no level word: journald has both. */
    const char *expected[] = {"<2>[app] ",    "<3>[app] ",  "<4>[dns] ",
                              "<6>[daemon] ", "<7>[loop] ", "<7>[tls] "};
    const char *messages[] = {": f\n", ": e\n", ": w\n", ": i 6\n", ": d\n", ": t\n"};
    for (size_t i = 0; i < 6; i++) {
        const char *end = strchr(out, '\n');
        ck_assert_ptr_nonnull(end);
        ck_assert_msg(strncmp(out, expected[i], strlen(expected[i])) == 0, "line %zu: %.*s", i,
                      (int)(end - out), out);
        size_t tail = strlen(messages[i]);
        ck_assert_msg(strncmp(end + 1 - tail, messages[i], tail) == 0, "line %zu: %.*s", i,
                      (int)(end - out), out);
        ck_assert_ptr_nonnull(strstr(out, "test_common_error_log.c:"));
        out = end + 1;
    }
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(journal_stream_of_another_file_keeps_plain_lines)
{
    /* Inherited from a parent whose stderr was the journal, but ours is another stream. */
    struct stat st;
    ck_assert_int_eq(fstat(s_journal.pipe[1], &st), 0);
    char other_ino[64], other_dev[64];
    snprintf(other_ino, sizeof(other_ino), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + 1);
    snprintf(other_dev, sizeof(other_dev), "%llu:%llu", (unsigned long long)st.st_dev + 1,
             (unsigned long long)st.st_ino);
    const char *const values[] = {other_ino, other_dev,
                                  "",        "12",
                                  "12:",     ":34",
                                  "a:b",     "1:2x",
                                  "1:2:3",   "99999999999999999999999:1"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        ck_assert_int_eq(setenv("JOURNAL_STREAM", values[i], 1), 0);
        SL_LOG_ERROR(SL_LS_APP, "plain");
        const char *out = journal_output();
        ck_assert_msg(out[0] >= '0' && out[0] <= '9', "JOURNAL_STREAM=%s: %s", values[i], out);
        ck_assert_msg(strstr(out, "Z error [app] ") != NULL, "JOURNAL_STREAM=%s: %s", values[i],
                      out);
    }
    unsetenv("JOURNAL_STREAM");
    SL_LOG_WARN(SL_LS_APP, "unset");
    ck_assert_ptr_nonnull(strstr(journal_output(), "Z warn  [app] "));
}
END_TEST

void add_error_log_tests(Suite *s)
{
    TCase *tc = sl_test_tcase("error", 10);
    tcase_add_test(tc, sluice_codes_have_names_and_messages);
    tcase_add_test(tc, errno_values_map_to_their_names);
    tcase_add_test(tc, unknown_codes_read_as_unknown);
    suite_add_tcase(s, tc);

    tc = sl_test_tcase("log", 30);
    tcase_add_checked_fixture(tc, log_setup, log_teardown);
    tcase_add_test(tc, disabled_level_does_not_evaluate_arguments);
    tcase_add_test(tc, sink_receives_level_subsystem_file_and_message);
    tcase_add_test(tc, levels_are_per_subsystem);
    tcase_add_test(tc, configure_applies_whole_spec_or_nothing);
    tcase_add_test(tc, long_messages_are_cut_with_an_ellipsis);
    tcase_add_test(tc, a_sink_that_logs_does_not_deadlock);
    tcase_add_test(tc, logging_from_many_threads_loses_nothing);
    suite_add_tcase(s, tc);

    tc = sl_test_tcase("log_journal", 10);
    tcase_add_checked_fixture(tc, journal_setup, journal_teardown);
    tcase_add_test(tc, journal_stream_on_stderr_prefixes_syslog_priorities);
    tcase_add_test(tc, journal_stream_of_another_file_keeps_plain_lines);
    suite_add_tcase(s, tc);
}
