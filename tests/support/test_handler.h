/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TEST_HANDLER_H
#define SL_TEST_HANDLER_H

/*
 * A configurable channel handler for tests: it records what reaches it (in a struct
 * test_record the test owns, so the record outlives the handler), and can echo, forward,
 * hold its window shut, or finish shutdown later. Every event bumps the record's latch.
 */

#include <sluice/channel.h>

#include "test_harness.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Shared by the handlers of one channel: "name:read", "name:write", "name:destroy", in order. */
struct test_order_log {
    pthread_mutex_t lock;
    char entries[32][24];
    int count;
};

struct test_record {
    pthread_mutex_t lock;
    struct sl_test_latch latch;
    uint8_t *read_data; /* bytes of read messages, in order (malloc) */
    size_t read_len;
    size_t read_cap;
    uint64_t write_bytes; /* bytes of write messages that reached it (leftmost handler) */
    uint32_t read_messages;
    size_t max_read_message;
    bool end_of_stream;
    uint32_t window_updates; /* on_window_update calls */
    uint64_t window_bytes;   /* their sum */
    int shutdown_calls[2];   /* by direction */
    int shutdown_status[2];
    bool destroyed;
    uint32_t destroy_count; /* for records shared by many handlers */
};

struct test_handler_options {
    const char *name;
    size_t initial_window;
    bool auto_increment;        /* re-open the window by what each read message carried */
    bool echo;                  /* write every read message back */
    bool passthrough;           /* forward reads right, writes left, window increments left */
    bool finish_shutdown_later; /* complete each shutdown pass from a task, not inline */
    size_t message_overhead;
    struct test_record *record; /* required */
    struct test_order_log *log; /* optional */
};

void test_record_init(struct test_record *record);
void test_record_clean_up(struct test_record *record);
/* Copies of the counters, taken under the lock. */
size_t test_record_read_len(struct test_record *record);
bool test_record_end_of_stream(struct test_record *record);

void test_order_log_init(struct test_order_log *log);
void test_order_log_add(struct test_order_log *log, const char *name, const char *what);

int test_handler_new(const struct test_handler_options *opts, struct sl_handler **out);

/*
 * Writes len bytes as a series of maximum-size write messages from the handler's slot; each
 * carries on_complete (may be NULL). Loop thread. Returns the first error of sl_slot_send.
 */
int test_handler_write(struct sl_handler *handler, const void *data, size_t len,
                       sl_msg_complete_fn *on_complete, void *user_data);

/* Sends an empty SL_MSG_END_OF_STREAM write message (half-close). Loop thread. */
int test_handler_write_end_of_stream(struct sl_handler *handler);

/* Opens the handler's read window by bytes. Loop thread. */
void test_handler_increment(struct sl_handler *handler, size_t bytes);

/* The pattern byte at offset i: tests send and check it. */
static inline uint8_t test_pattern(size_t i)
{
    return (uint8_t)((i * 131u + (i >> 8) * 7u) & 0xff);
}

#endif /* SL_TEST_HANDLER_H */
