/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/log.h>

#include <sluice/clock.h>
#include <sluice/thread.h>

#include "guard.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Messages are formatted into a fixed stack buffer: logging never allocates, so it works when
 * memory is short and does not disturb the counting allocator in tests. Longer messages are
 * cut and end in "...".
 */
#define MESSAGE_MAX  1024
#define LINE_MAX_LEN (MESSAGE_MAX + 160)

#define LEVEL_INIT(name, str) SL_LOG_WARN,
atomic_int sl__log_levels[SL_LS_COUNT] = {SL_LOG_SUBSYSTEM_MAP(LEVEL_INIT)};
#undef LEVEL_INIT

#define SUBSYSTEM_NAME(name, str) str,
static const char *const s_subsystem_names[] = {SL_LOG_SUBSYSTEM_MAP(SUBSYSTEM_NAME)};
#undef SUBSYSTEM_NAME

static const char *const s_level_names[] = {"none", "fatal", "error", "warn",
                                            "info", "debug", "trace"};

static void stderr_sink(const struct sl_log_record *rec, void *user_data);

static pthread_mutex_t s_sink_lock = PTHREAD_MUTEX_INITIALIZER;
static sl_log_sink_fn *s_sink = stderr_sink;
static void *s_sink_user_data;
/* Set while this thread is inside the sink, so a sink that logs cannot deadlock on the lock. */
static _Thread_local bool tl_in_sink;

const char *sl_log_level_name(enum sl_log_level level)
{
    return (unsigned)level < SL_ARRAY_LEN(s_level_names) ? s_level_names[level] : "?";
}

const char *sl_log_subsystem_name(enum sl_log_subsystem subsystem)
{
    return (unsigned)subsystem < SL_ARRAY_LEN(s_subsystem_names) ? s_subsystem_names[subsystem]
                                                                 : "?";
}

void sl_log_set_level(enum sl_log_subsystem subsystem, enum sl_log_level level)
{
    if ((unsigned)subsystem < SL_LS_COUNT) {
        atomic_store_explicit(&sl__log_levels[subsystem], (int)level, memory_order_relaxed);
    }
}

void sl_log_set_level_all(enum sl_log_level level)
{
    for (int i = 0; i < SL_LS_COUNT; i++) {
        sl_log_set_level((enum sl_log_subsystem)i, level);
    }
}

enum sl_log_level sl_log_get_level(enum sl_log_subsystem subsystem)
{
    return (enum sl_log_level)atomic_load_explicit(&sl__log_levels[subsystem],
                                                   memory_order_relaxed);
}

void sl_log_set_sink(sl_log_sink_fn *sink, void *user_data)
{
    pthread_mutex_lock(&s_sink_lock);
    s_sink = sink ? sink : stderr_sink;
    s_sink_user_data = sink ? user_data : NULL;
    pthread_mutex_unlock(&s_sink_lock);
}

/* Looks up a name of len bytes in names[count]; returns its index or -1. */
static int find_name(const char *const *names, int count, const char *name, size_t len)
{
    for (int i = 0; i < count; i++) {
        if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}

/*
 * Parses one comma-separated item ("level" or "subsystem=level") of len bytes. Returns the
 * subsystem (SL_LS_COUNT for "all") and the level, or SL_E_INVAL.
 */
static int parse_item(const char *item, size_t len, int *subsystem, int *level)
{
    const char *eq = memchr(item, '=', len);
    const char *level_name = eq ? eq + 1 : item;
    size_t level_len = eq ? len - (size_t)(eq - item) - 1 : len;
    *subsystem = SL_LS_COUNT;
    if (eq) {
        *subsystem = find_name(s_subsystem_names, SL_LS_COUNT, item, (size_t)(eq - item));
        SL_ENSURE(*subsystem >= 0, SL_E_INVAL);
    }
    *level = find_name(s_level_names, (int)SL_ARRAY_LEN(s_level_names), level_name, level_len);
    SL_ENSURE(*level >= 0, SL_E_INVAL);
    return 0;
}

/* Walks the spec; applies the items only when `apply` is set, so a bad spec changes nothing. */
static int walk_spec(const char *spec, bool apply)
{
    const char *item = spec;
    for (;;) {
        const char *comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        int subsystem, level;
        SL_TRY(parse_item(item, len, &subsystem, &level));
        if (apply && subsystem == SL_LS_COUNT) {
            sl_log_set_level_all((enum sl_log_level)level);
        } else if (apply) {
            sl_log_set_level((enum sl_log_subsystem)subsystem, (enum sl_log_level)level);
        }
        if (!comma) {
            return 0;
        }
        item = comma + 1;
    }
}

int sl_log_configure(const char *spec)
{
    SL_ENSURE_ARG(spec && *spec);
    SL_TRY(walk_spec(spec, false));
    return walk_spec(spec, true);
}

int sl_log_configure_check(const char *spec)
{
    SL_ENSURE_ARG(spec && *spec);
    return walk_spec(spec, false);
}

int sl_log_configure_from_env(void)
{
    const char *spec = getenv("SLUICE_LOG_LEVEL");
    return spec && *spec ? sl_log_configure(spec) : 0;
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* stderr is gone; there is nobody left to tell */
        }
        p += n;
        len -= (size_t)n;
    }
}

/*
 * The syslog priority journald reads from a "<N>" line prefix (sd-daemon(3), the SD_ERR family),
 * per level. Fatal is SD_CRIT; none never reaches a sink but gets info to be safe.
 */
static const char *const s_journal_prefixes[] = {"<6>", "<2>", "<3>", "<4>", "<6>", "<7>", "<7>"};

/* Parses the decimal number at *p up to `stop`; false unless it is all digits and fits. */
static bool parse_decimal(const char **p, char stop, unsigned long long *out)
{
    const char *s = *p;
    unsigned long long v = 0;
    if (*s < '0' || *s > '9') {
        return false;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (ULLONG_MAX - (unsigned)(*s - '0')) / 10) {
            return false;
        }
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (*s != stop) {
        return false;
    }
    *p = stop ? s + 1 : s;
    *out = v;
    return true;
}

/*
 * Whether stderr is the journal: systemd sets $JOURNAL_STREAM to "DEVICE:INODE" of the stream
 * it connected (systemd.exec(5)). A process that inherited the variable but whose stderr was
 * redirected since (a child with a pipe or a file as stderr) must not use the journal format,
 * hence the comparison with what stderr is now. Checked on every line rather than cached, so a
 * later dup2 onto stderr is honoured; one fstat is small next to the write(2) that follows.
 * getenv here assumes nobody calls setenv concurrently, as every getenv in a threaded process
 * does.
 */
static bool stderr_is_journal(void)
{
    const char *p = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    if (!p || !parse_decimal(&p, ':', &dev) || !parse_decimal(&p, '\0', &ino)) {
        return false;
    }
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0) {
        return false;
    }
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* The journal's line: priority prefix, no timestamp (journald records its own). */
static int format_journal_line(const struct sl_log_record *rec, char *line, size_t cap)
{
    const char *prio = (unsigned)rec->level < SL_ARRAY_LEN(s_journal_prefixes)
                           ? s_journal_prefixes[rec->level]
                           : "<6>";
    return snprintf(line, cap, "%s[%s] %llu %s:%d: %s\n", prio,
                    sl_log_subsystem_name(rec->subsystem), (unsigned long long)rec->thread_id,
                    rec->file, rec->line, rec->message);
}

static int format_plain_line(const struct sl_log_record *rec, char *line, size_t cap)
{
    time_t secs = (time_t)(rec->wall_ns / SL_NS_PER_SEC);
    struct tm tm;
    gmtime_r(&secs, &tm);
    return snprintf(line, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ %-5s [%s] %llu %s:%d: %s\n",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                    (unsigned)(rec->wall_ns % SL_NS_PER_SEC / 1000), sl_log_level_name(rec->level),
                    sl_log_subsystem_name(rec->subsystem), (unsigned long long)rec->thread_id,
                    rec->file, rec->line, rec->message);
}

static void stderr_sink(const struct sl_log_record *rec, void *user_data)
{
    (void)user_data;
    char line[LINE_MAX_LEN];
    int n = stderr_is_journal() ? format_journal_line(rec, line, sizeof(line))
                                : format_plain_line(rec, line, sizeof(line));
    if (n > 0) {
        write_all(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    }
}

/* Keeps the last path component: log lines name the file, not the build tree. */
static const char *base_name(const char *file)
{
    const char *slash = strrchr(file, '/');
    return slash ? slash + 1 : file;
}

void sl__log_write(enum sl_log_subsystem subsystem, enum sl_log_level level, const char *file,
                   int line, const char *fmt, ...)
{
    if (tl_in_sink) {
        return;
    }
    char message[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n;
    if (len >= sizeof(message)) {
        len = sizeof(message) - 1;
        memcpy(message + len - 3, "...", 3);
    }
    struct sl_log_record rec = {
        .level = level,
        .subsystem = subsystem,
        .file = base_name(file),
        .line = line,
        .wall_ns = sl_clock_wall_ns(),
        .thread_id = sl_thread_current_id(),
        .message = message,
        .message_len = len,
    };
    pthread_mutex_lock(&s_sink_lock);
    tl_in_sink = true;
    s_sink(&rec, s_sink_user_data);
    tl_in_sink = false;
    pthread_mutex_unlock(&s_sink_lock);
}
