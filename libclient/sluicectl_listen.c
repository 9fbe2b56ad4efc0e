/* SPDX-License-Identifier: Apache-2.0 */

/*
 * sluicectl listen: asks the daemon to listen and prints the bound address on stderr
 * ("listening on 127.0.0.1:41234"), so a script can learn the port the system picked. Then
 * either --once: the first connection is bridged to stdin and stdout, and the command ends
 * with it; or -- CMD ARGS: every connection gets a CMD process with its stdin and stdout
 * bridged to it (inetd, socat EXEC), several at once, until SIGINT or SIGTERM.
 *
 * Signals reach the poll loop through a self-pipe: the handler only writes the signal's number
 * to it, which is async-signal-safe, and the loop does the rest.
 */

#include "sluicectl_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/*
 * Connections served at once with -- CMD. Each holds two bridge buffers (128 KiB); beyond
 * this, connections wait, accepted, in the library (each up to its window) and the daemon's
 * backlog until one ends.
 */
#define MAX_CONNECTIONS 32
/* How long children get to exit after SIGTERM when the command stops, before SIGKILL. */
#define CHILD_EXIT_WAIT_MS 2000

struct listen_args {
    struct sl_client_listen_options opts;
    bool once;
    char **cmd; /* NULL-terminated, or NULL */
    char address[256];
};

/* One connection of -- CMD: its channel, bridged to the pipes of its child. */
struct conn {
    struct sl_client_channel *ch; /* NULL once closed */
    pid_t pid;                    /* 0 once reaped */
    char remote[128];
    struct ctl_bridge bridge;
};

static struct conn s_conns[MAX_CONNECTIONS];
static int s_signal_pipe[2] = {-1, -1};

/* Arguments ------------------------------------------------------------------------------------ */

/* "PORT", "ADDR:PORT", "[V6]:PORT" or "unix:PATH" into a->opts. */
static int parse_address(struct listen_args *a, const char *text)
{
    if (strncmp(text, "unix:", 5) == 0 && text[5] != '\0') {
        a->opts.address = text + 5;
        return 0;
    }
    const char *colon = strrchr(text, ':');
    const char *port = colon ? colon + 1 : text;
    size_t len = colon ? (size_t)(colon - text) : 0;
    const char *addr = text;
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        addr++;
        len -= 2;
    } else if (len > 0 && memchr(text, ':', len)) {
        return ctl_usage_error("an IPv6 address goes in brackets: [ADDRESS]:PORT", text);
    }
    if (len >= sizeof(a->address)) {
        return ctl_usage_error("the address is too long", text);
    }
    if (!ctl_parse_port(port, true, &a->opts.port)) {
        return ctl_usage_error("the port is a number from 0 to 65535", port);
    }
    memcpy(a->address, addr, len);
    a->address[len] = '\0';
    a->opts.address = a->address; /* "" listens on every address */
    return 0;
}

static int parse_args(struct listen_args *a, int argc, char **argv)
{
    const char *address = NULL;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--once") == 0) {
            a->once = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return ctl_usage_error("unknown option for listen", argv[i]);
        } else if (address) {
            return ctl_usage_error("listen takes one [ADDR:]PORT", argv[i]);
        } else {
            address = argv[i];
        }
    }
    if (i < argc) {
        if (i + 1 == argc) {
            return ctl_usage_error("-- needs a command after it", NULL);
        }
        a->cmd = argv + i + 1;
    }
    if (!address) {
        return ctl_usage_error("listen needs [ADDR:]PORT", NULL);
    }
    if (a->once == (a->cmd != NULL)) {
        return ctl_usage_error("listen needs either --once or -- CMD (not both)", NULL);
    }
    return parse_address(a, address);
}

/* Signals -------------------------------------------------------------------------------------- */

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char byte = (unsigned char)sig;
    /* A full pipe already holds a wake-up; the loop reads every byte it finds. */
    ssize_t n = write(s_signal_pipe[1], &byte, 1);
    (void)n;
    errno = saved;
}

static bool set_flag(int fd, int get, int set, int flag)
{
    int fl = fcntl(fd, get);
    return fl >= 0 && fcntl(fd, set, fl | flag) == 0;
}

/*
 * A pipe, both ends close-on-exec, and non-blocking where nonblock says (0 and 1: that end).
 * A child's end must stay blocking: dup2 shares the open file description, and with it
 * O_NONBLOCK, so a child's read would fail with EAGAIN.
 */
static int make_pipe(int fds[2], const bool nonblock[2])
{
    if (pipe(fds) != 0) {
        return -errno;
    }
    for (int i = 0; i < 2; i++) {
        if (!set_flag(fds[i], F_GETFD, F_SETFD, FD_CLOEXEC) ||
            (nonblock[i] && !set_flag(fds[i], F_GETFL, F_SETFL, O_NONBLOCK))) {
            int rc = -errno;
            (void)close(fds[0]);
            (void)close(fds[1]);
            return rc;
        }
    }
    return 0;
}

static int catch_signals(void)
{
    int rc = make_pipe(s_signal_pipe, (const bool[2]){true, true});
    if (rc < 0) {
        return rc;
    }
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
    (void)sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGINT, SIGTERM, SIGCHLD};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (sigaction(sigs[i], &sa, NULL) != 0) {
            return -errno;
        }
    }
    return 0;
}

/* Reads what the handler wrote; true if SIGINT or SIGTERM came. */
static bool drain_signals(void)
{
    unsigned char bytes[64];
    bool stop = false;
    ssize_t n;
    while ((n = read(s_signal_pipe[0], bytes, sizeof(bytes))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            stop = stop || bytes[i] == SIGINT || bytes[i] == SIGTERM;
        }
    }
    return stop;
}

/* --once --------------------------------------------------------------------------------------- */

static struct ctl_bridge s_once_bridge;

/* Waits for the first connection; 1 if a signal came first, or an error from accept. */
static int wait_for_connection(struct sl_client *client, struct sl_client_listener *l,
                               struct sl_client_channel **out)
{
    for (;;) {
        int rc = sl_client_accept(l, 0, out);
        if (rc != -EAGAIN) {
            return rc;
        }
        struct pollfd fds[2] = {
            {.fd = sl_client_fd(client), .events = sl_client_poll_events(client)},
            {.fd = s_signal_pipe[0], .events = POLLIN},
        };
        if (poll(fds, 2, -1) < 0 && errno != EINTR) {
            return -errno;
        }
        if (fds[1].revents != 0 && drain_signals()) {
            return 1;
        }
        if (fds[0].revents != 0 && (rc = sl_client_process(client)) < 0) {
            return rc;
        }
    }
}

static void print_connection(const struct sl_client_channel *ch)
{
    const struct sl_client_channel_info *info = sl_client_channel_info(ch);
    (void)fprintf(stderr, "connection from %s\n",
                  info && info->remote_address[0] ? info->remote_address : "an unnamed socket");
}

static int serve_once(struct sl_client *client, struct sl_client_listener *l)
{
    struct sl_client_channel *ch = NULL;
    int rc = wait_for_connection(client, l, &ch);
    sl_client_unlisten(l); /* one connection only: the next ones are refused */
    if (rc == 1) {
        return 0;
    }
    if (rc < 0) {
        ctl_print_failure("listen", rc, client);
        return ctl_exit_status(client, rc);
    }
    print_connection(ch);
    ctl_fd_prepare(STDIN_FILENO);
    ctl_fd_prepare(STDOUT_FILENO);
    ctl_bridge_init(&s_once_bridge, ch, STDIN_FILENO, STDOUT_FILENO, false, false);
    int status = ctl_bridge_run(client, &s_once_bridge, s_signal_pipe[0], "connection");
    ctl_fd_restore(STDIN_FILENO);
    ctl_fd_restore(STDOUT_FILENO);
    sl_client_channel_close(ch, status != 0);
    return status;
}

/* -- CMD ----------------------------------------------------------------------------------------
 */

/* Starts cmd with its stdin reading to_child[0] and its stdout writing from_child[1]. */
static int spawn_child(char **cmd, const int to_child[2], const int from_child[2], pid_t *pid)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) {
        return -rc;
    }
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) {
        (void)posix_spawn_file_actions_destroy(&actions);
        return -rc;
    }
    /* The pipes are close-on-exec; dup2 gives the child its own two ends without that flag. */
    (void)posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    (void)posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    /* The child starts as from a shell: nothing blocked, SIGPIPE (ignored here) at default. */
    sigset_t none;
    sigset_t defaults;
    (void)sigemptyset(&none);
    (void)sigemptyset(&defaults);
    (void)sigaddset(&defaults, SIGPIPE);
    (void)posix_spawnattr_setsigmask(&attr, &none);
    (void)posix_spawnattr_setsigdefault(&attr, &defaults);
    (void)posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawnp(pid, cmd[0], &actions, &attr, cmd, environ);
    (void)posix_spawnattr_destroy(&attr);
    (void)posix_spawn_file_actions_destroy(&actions);
    return -rc;
}

/* Gives ch a child and a bridge in c; on failure says why and closes ch. */
static void start_conn(struct conn *c, struct sl_client_channel *ch, char **cmd)
{
    const struct sl_client_channel_info *info = sl_client_channel_info(ch);
    (void)snprintf(c->remote, sizeof(c->remote), "%s",
                   info && info->remote_address[0] ? info->remote_address : "an unnamed socket");
    (void)fprintf(stderr, "connection from %s\n", c->remote);
    int to_child[2];
    int from_child[2];
    int rc = make_pipe(to_child, (const bool[2]){false, true});
    if (rc == 0 && (rc = make_pipe(from_child, (const bool[2]){true, false})) < 0) {
        (void)close(to_child[0]);
        (void)close(to_child[1]);
    }
    if (rc == 0) {
        rc = spawn_child(cmd, to_child, from_child, &c->pid);
        (void)close(to_child[0]); /* the child's ends are its own now */
        (void)close(from_child[1]);
        if (rc < 0) {
            (void)close(to_child[1]);
            (void)close(from_child[0]);
        }
    }
    if (rc < 0) {
        (void)fprintf(stderr, "sluicectl: cannot run %s for %s: %s\n", cmd[0], c->remote,
                      strerror(-rc));
        sl_client_channel_close(ch, true);
        c->pid = 0;
        return;
    }
    c->ch = ch;
    ctl_bridge_init(&c->bridge, ch, from_child[0], to_child[1], true, false);
    ctl_bridge_step(&c->bridge, NULL); /* what came with Accepted is in the library already */
}

/* Closes the connection's channel once it is over, saying why if it failed. */
static void end_conn_if_over(struct conn *c)
{
    struct ctl_bridge *b = &c->bridge;
    /*
     * Over when both directions are, or when the child has exited and its output is all sent:
     * what the peer still sends has nobody to read it then (as with inetd).
     */
    if (!c->ch || !(ctl_bridge_is_done(b) || (b->up_done && c->pid == 0))) {
        return;
    }
    /* A child that stopped reading its stdin (EPIPE) is its own business, not a failure. */
    bool quiet = b->error == 0 || (b->where == CTL_WHERE_OUTPUT && b->error == -EPIPE);
    if (!quiet) {
        (void)fprintf(stderr, "sluicectl: connection from %s: %s%s%s\n", c->remote,
                      b->where == CTL_WHERE_INPUT ? "reading the command's output: " : "",
                      b->where == CTL_WHERE_OUTPUT ? "writing the command's input: " : "",
                      b->where == CTL_WHERE_CHANNEL ? sl_client_strerror(b->error)
                                                    : strerror(-b->error));
    }
    ctl_bridge_clean_up(b);
    sl_client_channel_close(c->ch, b->error != 0 && b->where == CTL_WHERE_INPUT);
    c->ch = NULL;
}

static void reap_children(void)
{
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
            if (s_conns[i].pid == pid) {
                s_conns[i].pid = 0;
            }
        }
    }
}

/* Takes accepted connections while there is room; 0, or the error that ends the listener. */
static int accept_connections(struct sl_client_listener *l, char **cmd)
{
    for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
        struct conn *c = &s_conns[i];
        if (c->ch || c->pid != 0) {
            continue;
        }
        struct sl_client_channel *ch = NULL;
        int rc = sl_client_accept(l, 0, &ch);
        if (rc == -EAGAIN) {
            return 0;
        }
        if (rc < 0) {
            return rc;
        }
        start_conn(c, ch, cmd);
    }
    return 0;
}

/*
 * How long the next poll may wait. A channel call of one connection may sort frames for
 * another, which its fds then never announce: 0 while a bridge can move something now. End of
 * file cannot be seen that way (ctl_bridge_can_progress), so with connections open the loop
 * also looks again every second.
 */
static int poll_timeout_ms(void)
{
    int timeout = -1;
    for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
        if (s_conns[i].ch) {
            if (ctl_bridge_can_progress(&s_conns[i].bridge)) {
                return 0;
            }
            timeout = 1000;
        }
    }
    return timeout;
}

/* One poll over the session, the signal pipe and every connection's pipes. 1: stop. */
static int serve_step(struct sl_client *client)
{
    struct pollfd fds[2 + 2 * MAX_CONNECTIONS];
    fds[0] = (struct pollfd){.fd = sl_client_fd(client), .events = sl_client_poll_events(client)};
    fds[1] = (struct pollfd){.fd = s_signal_pipe[0], .events = POLLIN};
    for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
        fds[2 + 2 * i] = fds[3 + 2 * i] = (struct pollfd){.fd = -1};
        if (s_conns[i].ch) {
            ctl_bridge_want(&s_conns[i].bridge, &fds[2 + 2 * i]);
        }
    }
    if (poll(fds, 2 + 2 * MAX_CONNECTIONS, poll_timeout_ms()) < 0 && errno != EINTR) {
        return -errno;
    }
    bool stop = fds[1].revents != 0 && drain_signals();
    reap_children(); /* SIGCHLD or not: cheap, and a lost wake-up costs nothing */
    int rc = fds[0].revents != 0 ? sl_client_process(client) : 0;
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
        if (s_conns[i].ch) {
            ctl_bridge_step(&s_conns[i].bridge, &fds[2 + 2 * i]);
            end_conn_if_over(&s_conns[i]);
        }
    }
    return stop ? 1 : 0;
}

/* Stops every connection: channels closed, children told to stop, then made to. */
static void stop_connections(void)
{
    for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
        struct conn *c = &s_conns[i];
        if (c->ch) {
            ctl_bridge_clean_up(&c->bridge);
            sl_client_channel_close(c->ch, false);
            c->ch = NULL;
        }
        if (c->pid != 0) {
            (void)kill(c->pid, SIGTERM);
        }
    }
    for (int waited = 0; waited <= CHILD_EXIT_WAIT_MS; waited += 10) {
        reap_children();
        bool left = false;
        for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
            left = left || s_conns[i].pid != 0;
        }
        if (!left) {
            return;
        }
        struct timespec ts = {.tv_nsec = 10 * 1000000L};
        (void)nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
        if (s_conns[i].pid != 0) {
            (void)kill(s_conns[i].pid, SIGKILL);
            (void)waitpid(s_conns[i].pid, NULL, 0);
            s_conns[i].pid = 0;
        }
    }
}

static int serve_command(struct sl_client *client, struct sl_client_listener *l, char **cmd)
{
    int rc = 0;
    while (rc == 0) {
        rc = accept_connections(l, cmd);
        if (rc == 0) {
            rc = serve_step(client);
        }
    }
    stop_connections();
    sl_client_unlisten(l);
    if (rc == 1) {
        return 0;
    }
    ctl_print_failure("listen", rc, client);
    return ctl_exit_status(client, rc);
}

/* The command ---------------------------------------------------------------------------------- */

int ctl_run_listen(const struct ctl *ctl, int argc, char **argv)
{
    struct listen_args a = {.once = false};
    int status = parse_args(&a, argc, argv);
    if (status != 0) {
        return status;
    }
    struct sl_client *client = NULL;
    status = ctl_connect(ctl, &client);
    if (status != 0) {
        return status;
    }
    struct sl_client_listener *l = NULL;
    int timeout = ctl->timeout_ms ? (int)ctl->timeout_ms : (int)SL_CLIENT_DEFAULT_TIMEOUT_MS;
    int rc = sl_client_listen(client, &a.opts, timeout, &l);
    if (rc == 0) {
        rc = catch_signals();
    }
    if (rc < 0) {
        ctl_print_failure("listen", rc, client);
        status = ctl_exit_status(client, rc);
        sl_client_unlisten(l);
        sl_client_close(client);
        return status;
    }
    (void)fprintf(stderr, "listening on %s\n", sl_client_listener_address(l));
    status = a.once ? serve_once(client, l) : serve_command(client, l, a.cmd);
    sl_client_close(client);
    return status;
}
