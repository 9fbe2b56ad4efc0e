/* SPDX-License-Identifier: Apache-2.0 */

/* sched_setaffinity and CPU_SET are Linux extensions. */
#define _GNU_SOURCE

#include "relay_procs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CHILDREN = 8 };

/* Everything below is guarded by s_lock; cleanup may run on the signal thread or a sink. */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t s_children[MAX_CHILDREN];
static char s_dir[256];
static bool s_cleaned;
static void (*s_cleanup_fn)(void *);
static void *s_cleanup_arg;

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void forget_child(pid_t pid)
{
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (s_children[i] == pid) {
            s_children[i] = 0;
        }
    }
    pthread_mutex_unlock(&s_lock);
}

/*
 * SIGTERM to the group (socat's per-connection children too), SIGKILL if it lingers. The
 * leader is reaped only after the group's stragglers got their SIGKILL: until then its pid,
 * which is the group's id, cannot be reused, so no one else's process is ever signalled.
 */
static int stop_group(pid_t pid)
{
    (void)kill(-pid, SIGTERM);
    for (int waited = 0;; waited += 10) {
        siginfo_t info = {0};
        int rc = waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT);
        if ((rc == 0 && info.si_pid == pid) || (rc != 0 && errno != EINTR)) {
            break;
        }
        if (waited >= 3000) {
            (void)kill(-pid, SIGKILL);
        }
        sleep_ms(10);
    }
    (void)kill(-pid, SIGKILL);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int relay_stop(pid_t pid)
{
    if (pid <= 0) {
        return -1;
    }
    forget_child(pid);
    return stop_group(pid);
}

static void remove_dir(void)
{
    DIR *dir = opendir(s_dir);
    if (!dir) {
        return;
    }
    struct dirent *e;
    char path[512];
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", s_dir, e->d_name);
            (void)unlink(path);
        }
    }
    closedir(dir);
    (void)rmdir(s_dir);
}

void relay_cleanup(void)
{
    pthread_mutex_lock(&s_lock);
    if (!s_cleaned) {
        s_cleaned = true;
        for (int i = 0; i < MAX_CHILDREN; i++) {
            if (s_children[i] > 0) {
                (void)stop_group(s_children[i]);
                s_children[i] = 0;
            }
        }
        if (s_cleanup_fn) {
            s_cleanup_fn(s_cleanup_arg);
        }
        if (s_dir[0]) {
            remove_dir();
        }
    }
    pthread_mutex_unlock(&s_lock);
}

/* The last lines of DIR/log_name, to stderr: what a relay said before something failed. */
static void print_log(const char *log_name)
{
    enum { TAIL_LINES = 20 };
    static char lines[TAIL_LINES][256];
    char path[512];
    relay_tmp_path(log_name, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f) {
        return;
    }
    size_t n = 0;
    while (fgets(lines[n % TAIL_LINES], sizeof(lines[0]), f)) {
        n++;
    }
    fclose(f);
    fprintf(stderr, "--- %s (last lines)\n", log_name);
    for (size_t i = n > TAIL_LINES ? n - TAIL_LINES : 0; i < n; i++) {
        fputs(lines[i % TAIL_LINES], stderr);
    }
}

/* Every relay's log, for a failure whose cause may be in any of them. */
static void print_logs(void)
{
    DIR *dir = s_dir[0] ? opendir(s_dir) : NULL;
    if (!dir) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".log") == 0) {
            print_log(e->d_name);
        }
    }
    closedir(dir);
}

void relay_die(const char *fmt, ...)
{
    /* One thread reports and cleans up; another failing meanwhile waits for its _exit. */
    static atomic_flag dying = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&dying)) {
        for (;;) {
            pause();
        }
    }
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_relay: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stdout);
    pthread_mutex_lock(&s_lock);
    if (!s_cleaned) {
        print_logs();
    }
    pthread_mutex_unlock(&s_lock);
    relay_cleanup();
    _exit(1);
}

/* The one thread that receives the stop signals, so cleanup runs outside a signal handler. */
static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig = 0;
    while (sigwait(set, &sig) != 0) {
    }
    relay_die("%s", sig == SIGALRM ? "watchdog: the benchmark took too long" : "interrupted");
}

void relay_procs_init(unsigned watchdog_s)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(s_dir, sizeof(s_dir), "%s/bench-relay-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s_dir)) {
        s_dir[0] = '\0';
        relay_die("mkdtemp: %s", strerror(errno));
    }
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGALRM);
    pthread_t thread;
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
        pthread_create(&thread, NULL, signal_thread, &set) != 0) {
        relay_die("cannot start the signal thread");
    }
    pthread_detach(thread);
    if (watchdog_s > 0) {
        alarm(watchdog_s);
    }
}

void relay_procs_on_cleanup(void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&s_lock);
    s_cleanup_fn = fn;
    s_cleanup_arg = arg;
    pthread_mutex_unlock(&s_lock);
}

const char *relay_tmp_dir(void)
{
    return s_dir;
}

void relay_tmp_path(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", s_dir, name);
}

static void pin_pid(pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(pid, sizeof(set), &set);
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void exec_child(const char *const *argv, int cpu, int log_fd)
{
    (void)setpgid(0, 0);
    if (cpu >= 0) {
        pin_pid(0, cpu);
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
        dup2(log_fd, STDERR_FILENO) < 0) {
        _exit(126);
    }
    execv(argv[0], (char *const *)(uintptr_t)argv);
    _exit(127);
}

pid_t relay_spawn(const char *const *argv, int cpu, const char *log_name)
{
    char log_path[512];
    relay_tmp_path(log_name, log_path, sizeof(log_path));
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log_fd < 0) {
        relay_die("%s: %s", log_path, strerror(errno));
    }
    pthread_mutex_lock(&s_lock);
    int slot = 0;
    while (slot < MAX_CHILDREN && s_children[slot] != 0) {
        slot++;
    }
    pid_t pid = slot < MAX_CHILDREN ? fork() : -1;
    if (pid == 0) {
        exec_child(argv, cpu, log_fd);
    }
    if (pid > 0) {
        s_children[slot] = pid;
        /* Also from here: the group must exist before anyone signals it. */
        (void)setpgid(pid, pid);
    }
    pthread_mutex_unlock(&s_lock);
    close(log_fd);
    if (pid < 0) {
        relay_die("cannot start %s", argv[0]);
    }
    return pid;
}

static bool socket_is_ready(const char *path, bool probe)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        return false;
    }
    if (!probe) {
        return true;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

void relay_wait_for_socket(const char *path, bool probe, pid_t pid, const char *log_name,
                           int timeout_ms)
{
    for (int waited = 0; !socket_is_ready(path, probe); waited += 10) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            forget_child(pid);
            relay_die("%s exited before listening on %s", log_name, path);
        }
        if (waited >= timeout_ms) {
            relay_die("%s does not listen on %s after %d ms", log_name, path, timeout_ms);
        }
        sleep_ms(10);
    }
}

bool relay_pin_process(pid_t pid, int cpu)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir) {
        return false;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    bool ok = true;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid > 0 && sched_setaffinity(tid, sizeof(set), &set) != 0) {
            ok = false;
        }
    }
    closedir(dir);
    return ok;
}

bool relay_find_program(const char *name, char *out, size_t cap)
{
    if (name[0] == '/') {
        snprintf(out, cap, "%s", name);
        return access(out, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(out, cap, "%.*s/%s", (int)n, path, name);
        if (n > 0 && access(out, X_OK) == 0) {
            return true;
        }
        path += n + (path[n] == ':');
    }
    return false;
}
