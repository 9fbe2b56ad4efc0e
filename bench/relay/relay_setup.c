/* SPDX-License-Identifier: Apache-2.0 */
#include "relay_setup.h"

#include "bench_util.h"
#include "relay_procs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a relay may take to start listening (ASan builds on a busy CI machine). */
enum { START_TIMEOUT_MS = 20000 };

static void remove_certs(void *arg)
{
    tls_certs_remove(arg);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        relay_die("%s: %s", path, strerror(errno));
    }
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap) {
            cap = cap ? cap * 2 : 4096;
            char *grown = realloc(buf, cap);
            if (!grown) {
                relay_die("out of memory");
            }
            buf = grown;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0) {
            break;
        }
        *len += n;
    }
    fclose(f);
    return buf;
}

static void make_certs(struct relay_setup *s)
{
    char why[512];
    if (!tls_certs_make(&s->certs, why, sizeof(why))) {
        relay_die("certificates: %s", why);
    }
    relay_procs_on_cleanup(remove_certs, &s->certs);
    s->ca_pem = read_file(s->certs.ca_cert, &s->ca_pem_len);
    relay_peers_tls_init(s->certs.server.cert, s->certs.server.key);
}

static void start_sluiced(struct relay_setup *s)
{
    relay_tmp_path("sluiced.sock", s->sluiced_socket, sizeof(s->sluiced_socket));
    /*
     * One loop thread: the relays compared with it use one CPU too. BENCH_RELAY_SLUICED_CONFIG
     * names a configuration file for experiments (a larger default_window, ...).
     */
    const char *config = getenv("BENCH_RELAY_SLUICED_CONFIG");
    const char *argv[9] = {SLUICED_PATH,      "--foreground", "--socket",
                           s->sluiced_socket, "--threads",    "1"};
    if (config && *config) {
        argv[6] = "--config";
        argv[7] = config;
    }
    s->sluiced = relay_spawn(argv, s->cpu_far, "sluiced.log");
    relay_wait_for_socket(s->sluiced_socket, true, s->sluiced, "sluiced.log", START_TIMEOUT_MS);
    char why[256] = "";
    struct sl_client_options opts = {.socket_path = s->sluiced_socket,
                                     .client_name = "bench_relay",
                                     .timeout_ms = START_TIMEOUT_MS,
                                     .error_buf = why,
                                     .error_buf_len = sizeof(why)};
    int rc = sl_client_connect(&opts, &s->client);
    if (rc != 0) {
        relay_die("sl_client_connect: %s %s", sl_client_strerror(rc), why);
    }
}

/*
 * socat in sluiced's place: `socat -b 65536 UNIX-LISTEN:DIR/name,fork TCP:127.0.0.1:port`, plus
 * TCP_NODELAY for the ping-pong instance (sluiced sets it on every TCP connection; without it
 * a relay's small writes may wait for acknowledgements). Returns 0 when socat is missing.
 */
static pid_t start_socat(const char *name, uint16_t port, int cpu, bool nodelay, char *sock,
                         size_t sock_cap)
{
    char path[512], listen[600], connect[64], log[64];
    if (!relay_find_program("socat", path, sizeof(path))) {
        return 0;
    }
    relay_tmp_path(name, sock, sock_cap);
    snprintf(listen, sizeof(listen), "UNIX-LISTEN:%s,fork", sock);
    snprintf(connect, sizeof(connect), "TCP:127.0.0.1:%u%s", (unsigned)port,
             nodelay ? ",nodelay" : "");
    snprintf(log, sizeof(log), "%s.log", name);
    const char *const argv[] = {path, "-b", "65536", listen, connect, NULL};
    pid_t pid = relay_spawn(argv, cpu, log);
    relay_wait_for_socket(sock, false, pid, log, START_TIMEOUT_MS);
    return pid;
}

/*
 * stunnel in sluiced's place: a TLS 1.3 client listening on a Unix socket, verifying the
 * sink's chain against the test CA and its address against the certificate, as the daemon
 * does for an IP literal.
 */
static void write_stunnel_conf(const struct relay_setup *s, const char *conf_path)
{
    FILE *f = fopen(conf_path, "w");
    if (!f) {
        relay_die("%s: %s", conf_path, strerror(errno));
    }
    fprintf(f,
            "foreground = yes\n"
            "pid =\n"
            "debug = warning\n"
            "[relay]\n"
            "client = yes\n"
            "accept = %s\n"
            "connect = 127.0.0.1:%u\n"
            "CAfile = %s\n"
            "verifyChain = yes\n"
            "checkIP = 127.0.0.1\n"
            "sslVersionMin = TLSv1.3\n",
            s->stunnel_socket, (unsigned)s->tls_sink.port, s->certs.ca_cert);
    if (fclose(f) != 0) {
        relay_die("%s: %s", conf_path, strerror(errno));
    }
}

static void start_stunnel(struct relay_setup *s)
{
    char path[512], conf[512];
    if (!relay_find_program("stunnel4", path, sizeof(path)) &&
        !relay_find_program("stunnel", path, sizeof(path))) {
        fprintf(stderr, "bench_relay: warning: stunnel4 not found: no stunnel baseline\n");
        return;
    }
    relay_tmp_path("stunnel.sock", s->stunnel_socket, sizeof(s->stunnel_socket));
    relay_tmp_path("stunnel.conf", conf, sizeof(conf));
    write_stunnel_conf(s, conf);
    const char *const argv[] = {path, conf, NULL};
    s->stunnel = relay_spawn(argv, s->cpu_far, "stunnel.log");
    relay_wait_for_socket(s->stunnel_socket, false, s->stunnel, "stunnel.log", START_TIMEOUT_MS);
}

void relay_setup_start(struct relay_setup *s)
{
    bench_pick_cpus(&s->cpu_near, &s->cpu_far);
    bench_pin(s->cpu_near);
    make_certs(s);
    relay_listener_open(&s->sink);
    relay_listener_open(&s->tls_sink);
    relay_listener_open(&s->echo);
    start_sluiced(s);
    s->socat = start_socat("socat", s->sink.port, s->cpu_far, false, s->socat_socket,
                           sizeof(s->socat_socket));
    /* Only the one-CPU ping-pong uses this one. */
    s->socat_echo = start_socat("socat-echo", s->echo.port, s->cpu_near, true, s->socat_echo_socket,
                                sizeof(s->socat_echo_socket));
    if (s->socat == 0) {
        fprintf(stderr, "bench_relay: warning: socat not found: no socat baselines\n");
    }
    start_stunnel(s);
}

bool relay_setup_move_sluiced(struct relay_setup *s, int cpu)
{
    return cpu >= 0 && relay_pin_process(s->sluiced, cpu);
}

void relay_setup_stop(struct relay_setup *s)
{
    sl_client_close(s->client);
    s->client = NULL;
    /* The figures are printed by now; the daemon's own tests judge how it exits. */
    int status = relay_stop(s->sluiced);
    if (status != 0) {
        fprintf(stderr, "bench_relay: warning: sluiced exited with status %d on SIGTERM\n", status);
    }
    (void)relay_stop(s->socat);
    (void)relay_stop(s->socat_echo);
    (void)relay_stop(s->stunnel);
    relay_listener_close(&s->sink);
    relay_listener_close(&s->tls_sink);
    relay_listener_close(&s->echo);
    relay_peers_tls_clean_up();
    free(s->ca_pem);
    s->ca_pem = NULL;
}
