/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_RELAY_PROCS_H
#define SL_BENCH_RELAY_PROCS_H

/*
 * The processes bench_relay runs (sluiced, socat, stunnel) and the temporary directory they
 * share. Whatever happens (a normal end, relay_die from any thread, SIGINT, SIGTERM, or the
 * watchdog's SIGALRM) every child is stopped and the directory removed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Makes the temporary directory, blocks SIGINT, SIGTERM and SIGALRM in the calling thread (so
 * in every thread started later) and starts the thread that takes them. watchdog_s > 0 arms
 * alarm(2): a run that hangs fails then instead of blocking CI. Call it before any thread.
 */
void relay_procs_init(unsigned watchdog_s);

/* An extra cleanup step run before the directory is removed (the certificates); one only. */
void relay_procs_on_cleanup(void (*fn)(void *), void *arg);

/* The directory for sockets, logs and configuration files (removed with everything in it). */
const char *relay_tmp_dir(void);

/* DIR/name into out. */
void relay_tmp_path(const char *name, char *out, size_t cap);

/* Prints "bench_relay: " and the message to stderr, cleans up, exits with status 1. */
_Noreturn void relay_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Starts argv[0] (a path) in its own process group, pinned to cpu (-1: not pinned) from its
 * first instruction, so threads and children it makes later inherit the CPU. Its stdin is
 * /dev/null and its stdout and stderr go to DIR/<log_name>. Registers it for cleanup.
 */
pid_t relay_spawn(const char *const *argv, int cpu, const char *log_name);

/*
 * Waits until path is a Unix socket that accepts connections (probe: true) or merely exists
 * as one (probe: false, for relays that would forward a probe to the sink), for at most
 * timeout_ms. Dies, with the child's log, if pid exits first or time runs out.
 */
void relay_wait_for_socket(const char *path, bool probe, pid_t pid, const char *log_name,
                           int timeout_ms);

/* Stops a child of relay_spawn: SIGTERM to its group, SIGKILL after 3 s. Returns its status. */
int relay_stop(pid_t pid);

/* Pins every thread of a running process (sched_setaffinity per task); false on failure. */
bool relay_pin_process(pid_t pid, int cpu);

/* Finds an executable name on PATH (or accepts an absolute path); false when there is none. */
bool relay_find_program(const char *name, char *out, size_t cap);

/* Stops every child and removes the directory; safe to call more than once and from any thread. */
void relay_cleanup(void);

#endif
