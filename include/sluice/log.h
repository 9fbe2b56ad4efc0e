/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <sluice/common.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * Logging. Each subsystem has its own level; a message below its subsystem's level costs one
 * relaxed load and one branch, and its arguments are not evaluated. Messages that pass are
 * formatted on the caller's stack and handed to one sink at a time (the sink is called under a
 * lock, so a sink need not be thread-safe). The default sink writes one line per message to
 * stderr in a single write(2).
 */

enum sl_log_level {
    SL_LOG_NONE = 0,
    SL_LOG_FATAL,
    SL_LOG_ERROR,
    SL_LOG_WARN,
    SL_LOG_INFO,
    SL_LOG_DEBUG,
    SL_LOG_TRACE,
};

/* XX(enum suffix, name used in SLUICE_LOG_LEVEL and in log lines) */
#define SL_LOG_SUBSYSTEM_MAP(XX) \
    XX(COMMON, "common")         \
    XX(LOOP, "loop")             \
    XX(CHANNEL, "channel")       \
    XX(SOCKET, "socket")         \
    XX(TLS, "tls")               \
    XX(DNS, "dns")               \
    XX(BOOTSTRAP, "bootstrap")   \
    XX(RETRY, "retry")           \
    XX(STREAM, "stream")         \
    XX(PROTO, "proto")           \
    XX(DAEMON, "daemon")         \
    XX(CLIENT, "client")         \
    XX(APP, "app")

#define SL__LOG_SUBSYSTEM_ENUM(name, str) SL_LS_##name,
enum sl_log_subsystem { SL_LOG_SUBSYSTEM_MAP(SL__LOG_SUBSYSTEM_ENUM) SL_LS_COUNT };
#undef SL__LOG_SUBSYSTEM_ENUM

/* One message, as a sink sees it. All pointers are borrowed for the duration of the call. */
struct sl_log_record {
    enum sl_log_level level;
    enum sl_log_subsystem subsystem;
    const char *file;
    int line;
    uint64_t wall_ns;   /* time of the message, nanoseconds since the Unix epoch */
    uint64_t thread_id; /* kernel thread id */
    const char *message;
    size_t message_len; /* the message is also NUL-terminated */
};

/* A sink must not log (messages logged from inside a sink are dropped). */
typedef void sl_log_sink_fn(const struct sl_log_record *rec, void *user_data);

/*
 * Replaces the sink (NULL restores the default stderr sink).
 * Thread: any; returns after any call into the old sink has finished.
 */
SL_API void sl_log_set_sink(sl_log_sink_fn *sink, void *user_data);

/* Sets one subsystem's level. Thread: any. */
SL_API void sl_log_set_level(enum sl_log_subsystem subsystem, enum sl_log_level level);

/* Sets every subsystem's level. Thread: any. */
SL_API void sl_log_set_level_all(enum sl_log_level level);

SL_API enum sl_log_level sl_log_get_level(enum sl_log_subsystem subsystem);

/*
 * Applies a level specification such as "debug" or "warn,loop=trace,tls=debug": a bare level
 * sets every subsystem, name=level sets one. The whole spec is checked before anything changes.
 * Errors: SL_E_INVAL for an unknown level or subsystem name, or a malformed spec.
 */
SL_API SL_MUST_CHECK int sl_log_configure(const char *spec);

/* Whether spec would be accepted by sl_log_configure, without applying it. Errors: as it. */
SL_API SL_MUST_CHECK int sl_log_configure_check(const char *spec);

/* Applies the SLUICE_LOG_LEVEL environment variable if set. Errors: as sl_log_configure. */
SL_API SL_MUST_CHECK int sl_log_configure_from_env(void);

/* "error", "warn", ... ; "?" for an out-of-range value. */
SL_API const char *sl_log_level_name(enum sl_log_level level);
SL_API const char *sl_log_subsystem_name(enum sl_log_subsystem subsystem);

/* Internal: the levels array read by the macros, and the slow path. */
SL_API extern atomic_int sl__log_levels[SL_LS_COUNT];
SL_API void sl__log_write(enum sl_log_subsystem subsystem, enum sl_log_level level,
                          const char *file, int line, const char *fmt, ...) SL_PRINTF(5, 6);

static inline bool sl_log_is_enabled(enum sl_log_subsystem subsystem, enum sl_log_level level)
{
    return (int)level <= atomic_load_explicit(&sl__log_levels[subsystem], memory_order_relaxed);
}

#define SL_LOG(subsystem, level, ...)                                             \
    do {                                                                          \
        if (SL_UNLIKELY(sl_log_is_enabled((subsystem), (level)))) {               \
            sl__log_write((subsystem), (level), __FILE__, __LINE__, __VA_ARGS__); \
        }                                                                         \
    } while (0)

#define SL_LOG_FATAL(subsystem, ...) SL_LOG(subsystem, SL_LOG_FATAL, __VA_ARGS__)
#define SL_LOG_ERROR(subsystem, ...) SL_LOG(subsystem, SL_LOG_ERROR, __VA_ARGS__)
#define SL_LOG_WARN(subsystem, ...)  SL_LOG(subsystem, SL_LOG_WARN, __VA_ARGS__)
#define SL_LOG_INFO(subsystem, ...)  SL_LOG(subsystem, SL_LOG_INFO, __VA_ARGS__)
#define SL_LOG_DEBUG(subsystem, ...) SL_LOG(subsystem, SL_LOG_DEBUG, __VA_ARGS__)
#define SL_LOG_TRACE(subsystem, ...) SL_LOG(subsystem, SL_LOG_TRACE, __VA_ARGS__)

SL_END_DECLS

#endif /* SL_LOG_H */
