/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon_harness.h"
#include "test_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * sluiced under systemd, without systemd as PID 1: the test plays the service manager. It
 * passes a listening socket the way systemd does (LISTEN_FDS, LISTEN_PID, fd 3; also through
 * Debian's systemd-socket-activate), listens on a NOTIFY_SOCKET of its own for READY=1 and the
 * rest of sd_notify(3), gives stderr as a pipe named in $JOURNAL_STREAM, and runs
 * --check-config as ExecStartPre-style checks would.
 *
 * Every process a test starts and every file it makes is recorded in s_run, and the teardown
 * kills, reaps and removes them. Check runs the teardown after a failed assertion only with
 * CK_FORK=no; in fork mode a failed test ends with _exit. So the children also get
 * PR_SET_PDEATHSIG (they die with the test process), and a guardian process removes the test's
 * directory once the test process is gone, however it ended.
 */

#define MAX_CHILDREN 4
#define MAX_FDS      8

extern char **environ;

static struct {
    char dir[64];
    pid_t children[MAX_CHILDREN];
    int fds[MAX_FDS];
    struct raw_client client;
    pid_t guardian;
    int guardian_fd; /* the write end of the guardian's pipe: EOF when this process ends */
} s_run;

/* Empties and removes dir; false if it is still there (something added a file meanwhile). */
static bool remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        return true;
    }
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    return rmdir(dir) == 0;
}

/* Forks the guardian: it waits for EOF on a pipe only this process holds, then removes the
 * directory. Async-signal-safe enough: this process has no other threads here. */
static void start_guardian(void)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(fcntl(p[1], F_SETFD, FD_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* No Check calls in here: even a passing assertion writes to Check's message file. */
        setsid(); /* Check's fork mode kills the test's process group when the test ends */
        close(p[1]);
        char c;
        while (read(p[0], &c, 1) < 0 && errno == EINTR) {
        }
        /* The test's children die with it (PR_SET_PDEATHSIG), maybe a moment after this
         * wakes up: a daemon still binding its socket would refill the directory. */
        for (int i = 0; i < 20 && !getenv("SLUICED_TEST_KEEP_LOG") && !remove_dir(s_run.dir); i++) {
            nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
        }
        _exit(0);
    }
    close(p[0]);
    ck_assert_int_gt(pid, 0);
    s_run.guardian = pid;
    s_run.guardian_fd = p[1];
}

static void setup(void)
{
    memset(&s_run, 0, sizeof(s_run));
    for (size_t i = 0; i < MAX_FDS; i++) {
        s_run.fds[i] = -1;
    }
    s_run.client.fd = -1;
    snprintf(s_run.dir, sizeof(s_run.dir), "/tmp/sluiced-systemd-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s_run.dir));
    start_guardian();
}

static void teardown(void)
{
    if (s_run.client.fd >= 0) {
        raw_close(&s_run.client);
    }
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        if (s_run.children[i] > 0) {
            kill(s_run.children[i], SIGKILL);
            waitpid(s_run.children[i], NULL, 0);
            s_run.children[i] = 0;
        }
    }
    for (size_t i = 0; i < MAX_FDS; i++) {
        if (s_run.fds[i] >= 0) {
            close(s_run.fds[i]);
            s_run.fds[i] = -1;
        }
    }
    if (getenv("SLUICED_TEST_KEEP_LOG")) {
        fprintf(stderr, "kept %s\n", s_run.dir);
    } else {
        (void)remove_dir(s_run.dir); /* the guardian tries again if this fails */
    }
    if (s_run.guardian > 0) {
        close(s_run.guardian_fd);
        waitpid(s_run.guardian, NULL, 0);
        s_run.guardian = 0;
    }
}

/* Records fd for the teardown; returns it. */
static int keep_fd(int fd)
{
    ck_assert_int_ge(fd, 0);
    for (size_t i = 0; i < MAX_FDS; i++) {
        if (s_run.fds[i] < 0) {
            s_run.fds[i] = fd;
            return fd;
        }
    }
    ck_abort_msg("too many descriptors for one test");
    return -1;
}

/* Closes a descriptor keep_fd recorded. */
static void drop_fd(int fd)
{
    for (size_t i = 0; i < MAX_FDS; i++) {
        if (s_run.fds[i] == fd) {
            s_run.fds[i] = -1;
        }
    }
    close(fd);
}

static void path_in_dir(char *out, size_t len, const char *name)
{
    int n = snprintf(out, len, "%s/%s", s_run.dir, name);
    ck_assert(n > 0 && (size_t)n < len);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* The whole file as a string (empty if it cannot be read). */
static const char *read_text(const char *path)
{
    static char text[16384];
    text[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

/* Processes ------------------------------------------------------------------------------------ */

struct spawn_opts {
    const char *const *argv;      /* argv[0] is the program's path */
    const char *const *env_extra; /* "NAME=value" entries added to the environment, or NULL */
    const char *pid_var;          /* e.g. "WATCHDOG_PID": set to the child's own pid, or NULL */
    int listen_fd;                /* >= 0: passed as fd 3 (LISTEN_FDS=1 and LISTEN_PID are set) */
    int stderr_fd;                /* >= 0: the child's stdout and stderr, else DIR/log */
};

/* What systemd would set; a test's own environment must not leak them into the daemon. */
static bool is_service_var(const char *entry)
{
    static const char *const names[] = {
        "LISTEN_FDS=",    "LISTEN_PID=",   "LISTEN_FDNAMES=", "NOTIFY_SOCKET=",
        "WATCHDOG_USEC=", "WATCHDOG_PID=", "JOURNAL_STREAM=", "SLUICE_SOCKET="};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strncmp(entry, names[i], strlen(names[i])) == 0) {
            return true;
        }
    }
    return false;
}

/* Writes "NAME=pid" into buf without anything but async-signal-safe code (after fork). */
static void put_pid_var(char *buf, size_t cap, const char *name, pid_t pid)
{
    size_t n = 0;
    while (*name && n + 1 < cap) {
        buf[n++] = *name++;
    }
    buf[n++] = '=';
    char digits[16];
    size_t d = 0;
    unsigned long v = (unsigned long)pid;
    do {
        digits[d++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && d < sizeof(digits));
    while (d > 0 && n + 1 < cap) {
        buf[n++] = digits[--d];
    }
    buf[n] = '\0';
}

/* In the child: the descriptors, the pid variables, exec. Async-signal-safe only. */
static void exec_child(const struct spawn_opts *o, char **env, char *pid_vars[2], int log_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = o->stderr_fd >= 0 ? o->stderr_fd : log_fd;
    if (out >= 0) {
        dup2(out, STDOUT_FILENO);
        dup2(out, STDERR_FILENO);
    }
    if (o->listen_fd >= 0) {
        if (o->listen_fd == 3) {
            fcntl(3, F_SETFD, 0); /* dup2 onto itself would keep FD_CLOEXEC */
        } else {
            dup2(o->listen_fd, 3);
        }
        put_pid_var(pid_vars[0], 32, "LISTEN_PID", getpid());
    }
    if (o->pid_var) {
        put_pid_var(pid_vars[1], 32, o->pid_var, getpid());
    }
    execve(o->argv[0], (char *const *)(uintptr_t)o->argv, env);
    _exit(127);
}

/* Starts a child as systemd would start a service; the teardown kills it if a test does not. */
static pid_t spawn(const struct spawn_opts *o)
{
    size_t slot = 0;
    while (slot < MAX_CHILDREN && s_run.children[slot] > 0) {
        slot++;
    }
    ck_assert_uint_lt(slot, MAX_CHILDREN);
    char *env[256];
    size_t n = 0;
    for (size_t i = 0; environ[i] && n < 240; i++) {
        if (!is_service_var(environ[i])) {
            env[n++] = environ[i];
        }
    }
    for (size_t i = 0; o->env_extra && o->env_extra[i] && n < 250; i++) {
        env[n++] = (char *)(uintptr_t)o->env_extra[i];
    }
    char listen_pid[32], own_pid[32];
    char *pid_vars[2] = {listen_pid, own_pid};
    if (o->listen_fd >= 0) {
        env[n++] = "LISTEN_FDS=1";
        env[n++] = listen_pid; /* filled in by the child */
    }
    if (o->pid_var) {
        env[n++] = own_pid;
    }
    env[n] = NULL;
    char log[108];
    path_in_dir(log, sizeof(log), "log");
    int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ck_assert_int_ge(log_fd, 0);
    pid_t pid = fork();
    if (pid == 0) {
        exec_child(o, env, pid_vars, log_fd);
    }
    close(log_fd);
    ck_assert_int_gt(pid, 0);
    s_run.children[slot] = pid;
    return pid;
}

/* Waits up to timeout_ms for the child to exit: its exit code, 128+signal, or -1 (then it is
 * killed). */
static int wait_exit(pid_t pid, int timeout_ms)
{
    int status = 0;
    pid_t r = 0;
    for (long end = now_ms() + timeout_ms; r == 0 && now_ms() < end;) {
        r = waitpid(pid, &status, WNOHANG);
        if (r == 0) {
            sleep_ms(5);
        }
    }
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    for (size_t i = 0; i < MAX_CHILDREN; i++) {
        if (s_run.children[i] == pid) {
            s_run.children[i] = 0;
        }
    }
    if (r == 0) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int stop(pid_t pid)
{
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    return wait_exit(pid, 10000);
}

/* Sockets ---------------------------------------------------------------------------------------
 */

static int unix_socket_at(const char *path, int type, bool listening)
{
    int fd = keep_fd(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0, "bind %s: %s", path,
                  strerror(errno));
    if (listening) {
        ck_assert_int_eq(listen(fd, 16), 0);
    }
    return fd;
}

static bool is_socket_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Whether a Unix socket listens at path: /proc/net/unix flags it __SO_ACCEPTCON (0x10000).
 * Asked there rather than by connecting, which would itself start the activated daemon. */
static bool is_listening(const char *path)
{
    FILE *f = fopen("/proc/net/unix", "r");
    ck_assert_ptr_nonnull(f);
    char line[512], name[256];
    unsigned flags;
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        found = sscanf(line, "%*s %*s %*s %x %*s %*s %*s %255s", &flags, name) == 2 &&
                (flags & 0x10000) && strcmp(name, path) == 0;
    }
    fclose(f);
    return found;
}

static bool wait_for_listener(const char *path, int timeout_ms)
{
    for (long end = now_ms() + timeout_ms; now_ms() < end; sleep_ms(5)) {
        if (is_listening(path)) {
            return true;
        }
    }
    return false;
}

/* sd_notify(3) messages --------------------------------------------------------------------- */

/* The next datagram on the notify socket (NUL-terminated), or NULL after timeout_ms. */
static const char *notify_recv(int fd, int timeout_ms)
{
    static char msg[4096];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) <= 0) {
        return NULL;
    }
    ssize_t n = recv(fd, msg, sizeof(msg) - 1, 0);
    ck_assert_int_gt(n, 0);
    msg[n] = '\0';
    return msg;
}

/* Whether one of msg's lines is `key` exactly, or starts with it when key ends in '='. */
static const char *find_line(const char *msg, const char *key)
{
    size_t klen = strlen(key);
    bool prefix = key[klen - 1] == '=';
    for (const char *line = msg; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (prefix ? len >= klen && strncmp(line, key, klen) == 0
                   : len == klen && strncmp(line, key, klen) == 0) {
            return line;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

/* The next state change (READY=1, RELOADING=1 or STOPPING=1), skipping STATUS= and the
 * watchdog; NULL if none comes within timeout_ms. */
static const char *next_state(int fd, int timeout_ms)
{
    static const char *const states[] = {"READY=1", "RELOADING=1", "STOPPING=1"};
    for (long end = now_ms() + timeout_ms; now_ms() < end;) {
        const char *msg = notify_recv(fd, (int)(end - now_ms()));
        for (size_t i = 0; msg && i < 3; i++) {
            if (find_line(msg, states[i])) {
                return states[i];
            }
        }
    }
    return NULL;
}

/* Waits for a message with a `key` line; copies that line (without the newline) to out. */
static bool wait_line(int fd, const char *key, int timeout_ms, char *out, size_t out_len)
{
    for (long end = now_ms() + timeout_ms; now_ms() < end;) {
        const char *msg = notify_recv(fd, (int)(end - now_ms()));
        const char *line = msg ? find_line(msg, key) : NULL;
        if (line) {
            snprintf(out, out_len, "%.*s", (int)strcspn(line, "\n"), line);
            return true;
        }
    }
    return false;
}

/* WATCHDOG=1 messages within window_ms. */
static int count_watchdog(int fd, int window_ms)
{
    int pings = 0;
    for (long end = now_ms() + window_ms; now_ms() < end;) {
        const char *msg = notify_recv(fd, (int)(end - now_ms()));
        pings += msg && find_line(msg, "WATCHDOG=1");
    }
    return pings;
}

/* A daemon on its own socket in the test's directory, with NOTIFY_SOCKET; returns its pid. */
static pid_t start_notified(int *notify_fd, const char *config, const char *const *env_more,
                            const char *pid_var)
{
    char notify_path[108], notify_var[160], socket[108];
    path_in_dir(notify_path, sizeof(notify_path), "notify");
    path_in_dir(socket, sizeof(socket), "sluiced.sock");
    *notify_fd = unix_socket_at(notify_path, SOCK_DGRAM, false);
    snprintf(notify_var, sizeof(notify_var), "NOTIFY_SOCKET=%s", notify_path);
    const char *env[4] = {notify_var};
    for (size_t i = 0; env_more && env_more[i] && i < 2; i++) {
        env[i + 1] = env_more[i];
    }
    const char *argv[] = {SLUICED_PATH, "--foreground", "--config", config, "--socket",
                          socket,       "--threads",    "2",        NULL};
    struct spawn_opts o = {
        .argv = argv, .env_extra = env, .pid_var = pid_var, .listen_fd = -1, .stderr_fd = -1};
    return spawn(&o);
}

/* Tests -----------------------------------------------------------------------------------------
 */

/* A handshake and a ping over the socket at path, through the fixture's client. */
static void attach_and_ping(const char *path)
{
    struct daemon_proc d = {0};
    snprintf(d.socket_path, sizeof(d.socket_path), "%s", path);
    ck_assert_uint_gt(raw_attach(&s_run.client, &d, "systemd-test"), 0);
    raw_ping(&s_run.client, 42);
    raw_close(&s_run.client);
}

START_TEST(socket_activation_serves_on_the_passed_socket_and_leaves_it)
{
    char path[108], unused[108];
    path_in_dir(path, sizeof(path), "activated.sock");
    path_in_dir(unused, sizeof(unused), "not-this.sock");
    int lfd = unix_socket_at(path, SOCK_STREAM, true);
    /* --socket names another path: the daemon must not bind it when it was given one. */
    const char *argv[] = {SLUICED_PATH, "--foreground", "--config", "/dev/null",
                          "--socket",   unused,         NULL};
    struct spawn_opts o = {.argv = argv, .listen_fd = lfd, .stderr_fd = -1};
    pid_t pid = spawn(&o);
    attach_and_ping(path);
    ck_assert_int_eq(stop(pid), 0);
    ck_assert_msg(is_socket_file(path), "sluiced removed the socket systemd owns");
    ck_assert(!is_socket_file(unused));
    char log[108];
    path_in_dir(log, sizeof(log), "log");
    ck_assert_ptr_nonnull(strstr(read_text(log), "listening on the socket systemd passed"));

    /* As after `systemctl restart`: a client that connects while no daemon runs waits in the
     * socket's queue (so sluiced did not shut the shared socket down), and the next daemon
     * given the same socket serves it. */
    struct daemon_proc d = {0};
    snprintf(d.socket_path, sizeof(d.socket_path), "%s", path);
    raw_connect(&s_run.client, &d);
    pid = spawn(&o);
    sl_frame_t *hello = raw_expect(&s_run.client, SLUICE__V1__FRAME__BODY_SERVER_HELLO);
    sl_frame_free(hello);
    raw_close(&s_run.client);
    ck_assert_int_eq(stop(pid), 0);
    ck_assert(is_socket_file(path));
}
END_TEST

START_TEST(systemd_socket_activate_starts_it_on_the_first_connection)
{
#ifdef SYSTEMD_SOCKET_ACTIVATE
    char path[108];
    path_in_dir(path, sizeof(path), "activated.sock");
    const char *argv[] = {SYSTEMD_SOCKET_ACTIVATE,
                          "-l",
                          path,
                          SLUICED_PATH,
                          "--foreground",
                          "--config",
                          "/dev/null",
                          "--socket",
                          "/nonexistent/unused.sock",
                          NULL};
    struct spawn_opts o = {.argv = argv, .listen_fd = -1, .stderr_fd = -1};
    pid_t pid = spawn(&o);
    ck_assert_msg(wait_for_listener(path, 5000), "systemd-socket-activate did not listen");
    /* It execs sluiced in place (same pid) once a connection is waiting. */
    attach_and_ping(path);
    ck_assert_int_eq(stop(pid), 0);
    ck_assert_msg(is_socket_file(path), "sluiced removed the socket systemd owns");
#else
    fprintf(stderr, "systemd-socket-activate not found: tested with our own activation only\n");
#endif
}
END_TEST

START_TEST(socket_activation_with_anything_but_a_listening_unix_socket_is_refused)
{
    char path[108];
    path_in_dir(path, sizeof(path), "dgram.sock");
    int fd = unix_socket_at(path, SOCK_DGRAM, false);
    const char *argv[] = {SLUICED_PATH, "--foreground", "--config",
                          "/dev/null",  "--socket",     "/nonexistent/unused.sock",
                          NULL};
    struct spawn_opts o = {.argv = argv, .listen_fd = fd, .stderr_fd = -1};
    ck_assert_int_eq(wait_exit(spawn(&o), 10000), 2);
    char log[108];
    path_in_dir(log, sizeof(log), "log");
    ck_assert_ptr_nonnull(strstr(read_text(log), "not one listening Unix socket"));
}
END_TEST

START_TEST(notify_tells_ready_status_reloading_and_stopping)
{
    char config[108], socket[108], line[256];
    path_in_dir(config, sizeof(config), "sluiced.conf");
    path_in_dir(socket, sizeof(socket), "sluiced.sock");
    write_file(config, "[daemon]\nthreads = 1\n");
    int nfd;
    pid_t pid = start_notified(&nfd, config, NULL, NULL);
    ck_assert_str_eq(next_state(nfd, 10000), "READY=1");
    /* READY=1 means listening: a client gets through at once. */
    attach_and_ping(socket);
    ck_assert(wait_line(nfd, "STATUS=", 10000, line, sizeof(line)));
    ck_assert_msg(strstr(line, "sessions") != NULL, "%s", line);

    ck_assert_int_eq(kill(pid, SIGHUP), 0);
    ck_assert_str_eq(next_state(nfd, 10000), "RELOADING=1");
    ck_assert_str_eq(next_state(nfd, 10000), "READY=1");
    /* A bad file is refused and the daemon goes on: still RELOADING=1, then READY=1. */
    write_file(config, "[daemon]\nthreads = two\n");
    ck_assert_int_eq(kill(pid, SIGHUP), 0);
    ck_assert_str_eq(next_state(nfd, 10000), "RELOADING=1");
    ck_assert_str_eq(next_state(nfd, 10000), "READY=1");
    attach_and_ping(socket);

    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    ck_assert_str_eq(next_state(nfd, 10000), "STOPPING=1");
    ck_assert_int_eq(wait_exit(pid, 10000), 0);
}
END_TEST

START_TEST(ready_names_the_main_pid)
{
    char line[256], expected[64];
    int nfd;
    pid_t pid = start_notified(&nfd, "/dev/null", NULL, NULL);
    ck_assert(wait_line(nfd, "MAINPID=", 10000, line, sizeof(line)));
    snprintf(expected, sizeof(expected), "MAINPID=%d", (int)pid);
    ck_assert_str_eq(line, expected);
    ck_assert_int_eq(stop(pid), 0);
}
END_TEST

START_TEST(watchdog_pings_repeatedly_while_the_loops_answer)
{
    const char *env[] = {"WATCHDOG_USEC=400000", NULL};
    int nfd;
    pid_t pid = start_notified(&nfd, "/dev/null", env, "WATCHDOG_PID");
    ck_assert_str_eq(next_state(nfd, 10000), "READY=1");
    /* Every 100 ms (a quarter of the period); 3 in 1.5 s leaves room for a slow machine. */
    int pings = count_watchdog(nfd, 1500);
    ck_assert_msg(pings >= 3, "%d WATCHDOG=1 in 1.5 s", pings);
    ck_assert_int_eq(stop(pid), 0);
}
END_TEST

START_TEST(watchdog_meant_for_another_pid_is_not_pinged)
{
    /* sd_watchdog_enabled(3): WATCHDOG_PID names who is watched, and it is not sluiced. */
    const char *env[] = {"WATCHDOG_USEC=400000", "WATCHDOG_PID=1", NULL};
    int nfd;
    pid_t pid = start_notified(&nfd, "/dev/null", env, NULL);
    ck_assert_str_eq(next_state(nfd, 10000), "READY=1");
    ck_assert_int_eq(count_watchdog(nfd, 600), 0);
    ck_assert_int_eq(stop(pid), 0);
}
END_TEST

/* Starts sluiced with stderr on a pipe and $JOURNAL_STREAM naming that pipe (its inode plus
 * ino_delta: 1 names another stream); stops it and returns everything it wrote. */
static const char *run_with_stderr_pipe(unsigned long long ino_delta)
{
    static char out[16384];
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    keep_fd(p[0]);
    keep_fd(p[1]);
    ck_assert_int_eq(fcntl(p[0], F_SETFD, FD_CLOEXEC), 0);
    ck_assert_int_eq(fcntl(p[1], F_SETFD, FD_CLOEXEC), 0);
    struct stat st;
    ck_assert_int_eq(fstat(p[1], &st), 0);
    char stream[96], socket[108];
    snprintf(stream, sizeof(stream), "JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino + ino_delta);
    path_in_dir(socket, sizeof(socket), "sluiced.sock");
    const char *env[] = {stream, NULL};
    const char *argv[] = {SLUICED_PATH, "--foreground", "--config", "/dev/null", "--socket",
                          socket,       "--log-level",  "debug",    NULL};
    struct spawn_opts o = {.argv = argv, .env_extra = env, .listen_fd = -1, .stderr_fd = p[1]};
    pid_t pid = spawn(&o);
    drop_fd(p[1]); /* the daemon holds the only write end: EOF when it exits */
    size_t len = 0;
    bool stopped = false;
    for (long end = now_ms() + 10000; now_ms() < end && len + 1 < sizeof(out);) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        ck_assert_int_gt(poll(&pfd, 1, 10000), 0);
        ssize_t n = read(p[0], out + len, sizeof(out) - 1 - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        out[len] = '\0';
        if (!stopped && strstr(out, "listening on")) {
            stopped = true;
            ck_assert_int_eq(kill(pid, SIGTERM), 0);
        }
    }
    ck_assert_int_eq(wait_exit(pid, 10000), 0);
    drop_fd(p[0]);
    ck_assert_msg(stopped, "no \"listening on\" line: %s", out);
    return out;
}

START_TEST(journal_stream_on_stderr_gets_syslog_priorities)
{
    const char *out = run_with_stderr_pipe(0);
    ck_assert_msg(strstr(out, "<6>[daemon] ") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "<7>[daemon] ") != NULL, "%s", out); /* --log-level debug */
    for (const char *line = out; *line; line = strchr(line, '\n') + 1) {
        if (strncmp(line, "sluiced: ", 9) == 0) {
            /* Written before the logger starts, e.g. identities_init's note that the secure
             * heap could not be locked; journald gives such lines its default priority. */
            ck_assert_ptr_nonnull(strchr(line, '\n'));
            continue;
        }
        ck_assert_msg(line[0] == '<' && strchr("234567", line[1]) && line[2] == '>',
                      "a line without a priority: %s", line);
        ck_assert_ptr_nonnull(strchr(line, '\n'));
        const char *listening = strstr(line, "listening on");
        if (listening && listening < strchr(line, '\n')) {
            ck_assert_msg(strncmp(line, "<6>", 3) == 0, "%s", line);
        }
    }
}
END_TEST

START_TEST(journal_stream_of_another_stream_keeps_plain_lines)
{
    const char *out = run_with_stderr_pipe(1);
    ck_assert_msg(out[0] >= '0' && out[0] <= '9', "%s", out);
    ck_assert_msg(strstr(out, "Z info  [daemon] ") != NULL, "%s", out);
    ck_assert_ptr_null(strstr(out, "<6>"));
}
END_TEST

/* Runs `sluiced --check-config [--config path]`; returns its exit code, and its stdout and
 * stderr in out (static). */
static int check_config(const char *path, const char **out)
{
    char log[108];
    path_in_dir(log, sizeof(log), "check.out");
    int fd = keep_fd(open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    const char *argv[] = {SLUICED_PATH, "--check-config", "--config", path, NULL};
    struct spawn_opts o = {.argv = argv, .listen_fd = -1, .stderr_fd = fd};
    int rc = wait_exit(spawn(&o), 10000);
    drop_fd(fd);
    *out = read_text(log);
    return rc;
}

START_TEST(check_config_accepts_good_files_and_names_the_bad_line)
{
    char good[108], bad[108], missing[108], expected[256];
    const char *out;
    path_in_dir(good, sizeof(good), "good.conf");
    write_file(good, "[daemon]\nthreads = 2\ndrain_ms = 100\n[limits]\nmax_channels = 10\n");
    ck_assert_int_eq(check_config(good, &out), 0);
    ck_assert_msg(strstr(out, "OK") != NULL, "%s", out);

    /* The sample the package installs is a valid file as it stands. */
    ck_assert_int_eq(check_config(SLUICE_SAMPLE_CONFIG, &out), 0);

    path_in_dir(bad, sizeof(bad), "bad.conf");
    write_file(bad, "[daemon]\nthreads = 2\n\nthreads = 3\n");
    ck_assert_int_eq(check_config(bad, &out), 2);
    snprintf(expected, sizeof(expected), "%s:4: threads is set twice in [daemon]", bad);
    ck_assert_msg(strstr(out, expected) != NULL, "%s", out);

    write_file(bad, "[daemon]\nthreads = two\n");
    ck_assert_int_eq(check_config(bad, &out), 2);
    snprintf(expected, sizeof(expected), "%s:2: threads = two: not a whole number", bad);
    ck_assert_msg(strstr(out, expected) != NULL, "%s", out);

    path_in_dir(missing, sizeof(missing), "missing.conf");
    ck_assert_int_eq(check_config(missing, &out), 2);
    ck_assert_msg(strstr(out, missing) != NULL, "%s", out);
}
END_TEST

START_TEST(a_missing_config_file_stops_the_start)
{
    char missing[108], socket[108];
    path_in_dir(missing, sizeof(missing), "missing.conf");
    path_in_dir(socket, sizeof(socket), "sluiced.sock");
    const char *argv[] = {SLUICED_PATH, "--foreground", "--config", missing,
                          "--socket",   socket,         NULL};
    struct spawn_opts o = {.argv = argv, .listen_fd = -1, .stderr_fd = -1};
    ck_assert_int_eq(wait_exit(spawn(&o), 10000), 2);
    ck_assert(!is_socket_file(socket));
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("daemon_systemd");
    TCase *tc = sl_test_tcase("activation", 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, socket_activation_serves_on_the_passed_socket_and_leaves_it);
    tcase_add_test(tc, systemd_socket_activate_starts_it_on_the_first_connection);
    tcase_add_test(tc, socket_activation_with_anything_but_a_listening_unix_socket_is_refused);
    suite_add_tcase(suite, tc);

    tc = sl_test_tcase("notify", 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, notify_tells_ready_status_reloading_and_stopping);
    tcase_add_test(tc, ready_names_the_main_pid);
    tcase_add_test(tc, watchdog_pings_repeatedly_while_the_loops_answer);
    tcase_add_test(tc, watchdog_meant_for_another_pid_is_not_pinged);
    suite_add_tcase(suite, tc);

    tc = sl_test_tcase("journal", 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, journal_stream_on_stderr_gets_syslog_priorities);
    tcase_add_test(tc, journal_stream_of_another_stream_keeps_plain_lines);
    suite_add_tcase(suite, tc);

    tc = sl_test_tcase("config", 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, check_config_accepts_good_files_and_names_the_bad_line);
    tcase_add_test(tc, a_missing_config_file_stops_the_start);
    suite_add_tcase(suite, tc);
    return sl_test_run(suite);
}
