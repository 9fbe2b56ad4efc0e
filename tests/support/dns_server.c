/* SPDX-License-Identifier: Apache-2.0 */
#include "dns_server.h"

#include "test_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int bind_loopback(int type, int port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
        return fd;
    }
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

int test_unused_udp_port(void)
{
    /* dnsmasq serves TCP too, so the port must be free for both protocols. */
    for (int attempt = 0; attempt < 100; attempt++) {
        int udp = bind_loopback(SOCK_DGRAM, 0);
        ck_assert_int_ge(udp, 0);
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);
        ck_assert_int_eq(getsockname(udp, (struct sockaddr *)&sin, &len), 0);
        int port = ntohs(sin.sin_port);
        int tcp = bind_loopback(SOCK_STREAM, port);
        close(udp);
        if (tcp >= 0) {
            close(tcp);
            return port;
        }
    }
    ck_abort_msg("no port free for both UDP and TCP");
    return -1;
}

static void write_config(struct test_dns_server *s, const char *records)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/dnsmasq.conf", s->dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    const struct passwd *pw = getpwuid(getuid());
    fprintf(f,
            "port=%d\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
            "no-daemon\nlog-queries\nlog-facility=%s\nlocal=/test/\nuser=%s\n"
            "pid-file=\n%s\n",
            s->port, s->log_path, pw ? pw->pw_name : "root", records ? records : "");
    fclose(f);
}

/* dnsmasq is up once its UDP port is taken. */
static bool port_is_bound(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool bound = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 && errno == EADDRINUSE;
    close(fd);
    return bound;
}

/* Starts dnsmasq on the chosen port; false if it exited (e.g. someone took the port). */
static bool try_start(struct test_dns_server *s, const char *records)
{
    s->port = test_unused_udp_port();
    snprintf(s->servers, sizeof(s->servers), "127.0.0.1:%d", s->port);
    write_config(s, records);
    char conf[128];
    snprintf(conf, sizeof(conf), "--conf-file=%s/dnsmasq.conf", s->dir);
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO); /* queries are in the log file */
        execl("/usr/sbin/dnsmasq", "dnsmasq", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && !port_is_bound(s->port); i++) {
        struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int status;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return false;
        }
    }
    return port_is_bound(s->port);
}

void test_dns_server_start(struct test_dns_server *s, const char *records)
{
    memset(s, 0, sizeof(*s));
    strcpy(s->dir, "/tmp/sluice-dns-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->dir));
    snprintf(s->log_path, sizeof(s->log_path), "%s/queries.log", s->dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        if (try_start(s, records)) {
            return;
        }
    }
    ck_abort_msg("dnsmasq did not start (see %s)", s->log_path);
}

void test_dns_server_stop(struct test_dns_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int status;
        waitpid(s->pid, &status, 0);
        s->pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    ck_assert_int_eq(system(cmd), 0);
}

int test_dns_server_queries(const struct test_dns_server *s, const char *type, const char *name)
{
    FILE *f = fopen(s->log_path, "r");
    if (!f) {
        return 0;
    }
    char needle[160];
    snprintf(needle, sizeof(needle), "query[%s] %s from", type, name);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        n += strstr(line, needle) != NULL;
    }
    fclose(f);
    return n;
}
