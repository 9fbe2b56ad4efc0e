/* SPDX-License-Identifier: Apache-2.0 */
#include "dnsmasq.h"

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

int dnsmasq_unused_port(void)
{
    /* dnsmasq serves TCP too, so the port must be free for both protocols. */
    for (int attempt = 0; attempt < 100; attempt++) {
        int udp = bind_loopback(SOCK_DGRAM, 0);
        if (udp < 0) {
            return -1;
        }
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);
        int rc = getsockname(udp, (struct sockaddr *)&sin, &len);
        close(udp);
        if (rc != 0) {
            return -1;
        }
        int port = ntohs(sin.sin_port);
        int tcp = bind_loopback(SOCK_STREAM, port);
        if (tcp >= 0) {
            close(tcp);
            return port;
        }
    }
    return -1;
}

static int write_config(const struct dnsmasq *d, const char *config, bool log_queries)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/dnsmasq.conf", d->dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        return -1;
    }
    const struct passwd *pw = getpwuid(getuid());
    fprintf(f,
            "port=%d\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
            "no-daemon\nlog-facility=%s\nuser=%s\npid-file=\n%s%s\n",
            d->port, d->log_path, pw ? pw->pw_name : "root", log_queries ? "log-queries\n" : "",
            config ? config : "");
    return fclose(f) == 0 ? 0 : -1;
}

/* dnsmasq is up once its UDP port is taken. */
static bool port_is_bound(int port)
{
    int fd = bind_loopback(SOCK_DGRAM, port);
    if (fd >= 0) {
        close(fd);
        return false;
    }
    return errno == EADDRINUSE;
}

/* Starts dnsmasq on a free port; false if it exited (e.g. someone took the port meanwhile). */
static bool try_start(struct dnsmasq *d, const char *config, bool log_queries)
{
    d->port = dnsmasq_unused_port();
    if (d->port < 0 || write_config(d, config, log_queries) != 0) {
        return false;
    }
    snprintf(d->servers, sizeof(d->servers), "127.0.0.1:%d", d->port);
    char conf[128];
    snprintf(conf, sizeof(conf), "--conf-file=%s/dnsmasq.conf", d->dir);
    d->pid = fork();
    if (d->pid < 0) {
        d->pid = 0;
        return false;
    }
    if (d->pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO); /* what it says is in the log file */
        execl("/usr/sbin/dnsmasq", "dnsmasq", conf, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && !port_is_bound(d->port); i++) {
        struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            return false;
        }
    }
    return port_is_bound(d->port);
}

int dnsmasq_start(struct dnsmasq *d, const char *config, bool log_queries, char *why,
                  size_t why_len)
{
    memset(d, 0, sizeof(*d));
    strcpy(d->dir, "/tmp/sluice-dns-XXXXXX");
    if (!mkdtemp(d->dir)) {
        snprintf(why, why_len, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    snprintf(d->log_path, sizeof(d->log_path), "%s/dnsmasq.log", d->dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        if (try_start(d, config, log_queries)) {
            return 0;
        }
    }
    /* The directory stays, so its log can say why. */
    snprintf(why, why_len, "dnsmasq did not start (is dnsmasq-base installed? see %s)",
             d->log_path);
    return -1;
}

int dnsmasq_stop(struct dnsmasq *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        int status;
        waitpid(d->pid, &status, 0);
        d->pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
    return system(cmd) == 0 ? 0 : -1;
}
