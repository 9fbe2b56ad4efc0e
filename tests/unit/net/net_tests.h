/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_NET_TESTS_H
#define SL_NET_TESTS_H

#include <check.h>
#include <sluice/event_loop.h>

/* Two running loops per test (the fixture in test_net_main.c). */
extern struct sl_loop *g_loop_a;
extern struct sl_loop *g_loop_b;

void add_address_tests(Suite *s);
void add_connect_tests(Suite *s);
void add_echo_tests(Suite *s);
void add_flow_tests(Suite *s);
void add_scale_tests(Suite *s);
void add_lifetime_tests(Suite *s);

/* A TCase with the leak check and the two-loop fixture. */
TCase *net_tcase(const char *name, double timeout_s);

#endif
