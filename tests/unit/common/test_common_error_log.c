/* SPDX-License-Identifier: Apache-2.0 */
#include "common_tests.h"
#include "test_harness.h"

#include <sluice/error.h>
#include <sluice/log.h>
#include <sluice/thread.h>

#include <errno.h>
#include <string.h>

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
}
