/* SPDX-License-Identifier: Apache-2.0 */
#define _DEFAULT_SOURCE /* setgroups */

#include "daemon_harness.h"
#include "openssl_peer.h"
#include "peer_server.h"
#include "test_harness.h"
#include "tls_certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * The daemon's policy, authentication and identities with real config files: connects judged
 * by name, address, block and port (names resolved by the daemon from a hosts file of ours),
 * listeners by port, other uids and Ed25519 keys, TLS listeners with a named identity checked
 * by `openssl s_client`, client certificates checked by `openssl s_server -Verify`, keys that
 * stop the daemon from starting, and a SIGHUP that adds a rule mid-transfer.
 */

static struct tls_certs s_certs;
static char s_dir[64];
static char s_conf[128], s_hosts[128];
static struct daemon_proc s_daemon;

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

__attribute__((format(printf, 2, 3))) static void write_text(const char *path, const char *fmt, ...)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static void setup_once(void)
{
    char why[256];
    ck_assert_msg(tls_certs_make(&s_certs, why, sizeof(why)), "%s", why);
    ck_assert_int_eq(sodium_init() >= 0, 1);
}

static void teardown_once(void)
{
    tls_certs_remove(&s_certs);
}

static void setup(void)
{
    snprintf(s_dir, sizeof(s_dir), "/tmp/sl-policy-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s_dir));
    snprintf(s_conf, sizeof(s_conf), "%s/sluiced.conf", s_dir);
    snprintf(s_hosts, sizeof(s_hosts), "%s/hosts", s_dir);
    write_text(s_hosts, "127.0.0.1 allowed.test other.test\n127.0.0.2 evil.test\n");
    memset(&s_daemon, 0, sizeof(s_daemon));
}

static void teardown(void)
{
    peer_server_stop_all();
    if (s_daemon.pid > 0) {
        ck_assert_int_eq(daemon_stop(&s_daemon, 10000), 0);
    }
    unlink(s_conf);
    unlink(s_hosts);
    rmdir(s_dir);
}

static void start_with_config(void)
{
    const char *args[] = {"--config", s_conf, NULL};
    daemon_start(&s_daemon, args, s_hosts);
}

/* Frames ----------------------------------------------------------------------------------------
 */

/* Sends Open (TCP, optionally TLS with a client identity and our CA); returns its answer:
 * 0 for Opened, else OpenFailed's code. */
static int open_tcp(struct raw_client *c, uint32_t id, const char *host, uint32_t port,
                    const char *identity, bool tls)
{
    Sluice__V1__TcpTarget tcp;
    sluice__v1__tcp_target__init(&tcp);
    tcp.host = (char *)(uintptr_t)host;
    tcp.port = port;
    Sluice__V1__TlsClientOptions t;
    sluice__v1__tls_client_options__init(&t);
    t.server_name = "localhost";
    t.identity = (char *)(uintptr_t)(identity ? identity : "");
    t.trust_case = SLUICE__V1__TLS_CLIENT_OPTIONS__TRUST_STORE;
    t.store = "test-ca";
    Sluice__V1__Open o;
    sluice__v1__open__init(&o);
    o.channel_id = id;
    o.target_case = SLUICE__V1__OPEN__TARGET_TCP;
    o.tcp = &tcp;
    o.tls = tls ? &t : NULL;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_OPEN;
    f.open = &o;
    raw_send(c, &f);
    bool eof;
    sl_frame_t *r = raw_recv(c, 10000, &eof);
    ck_assert_ptr_nonnull(r);
    int code = -1;
    if (r->body_case == SLUICE__V1__FRAME__BODY_OPENED) {
        code = 0;
    } else if (r->body_case == SLUICE__V1__FRAME__BODY_OPEN_FAILED) {
        code = r->open_failed->status->code;
    }
    ck_assert_msg(code >= 0, "Open %u: got frame %d", id, (int)r->body_case);
    sl_frame_free(r);
    return code;
}

static int listen_port(struct raw_client *c, uint32_t id, uint32_t port, const char *identity,
                       uint32_t *bound_port)
{
    Sluice__V1__TlsServerOptions t;
    sluice__v1__tls_server_options__init(&t);
    t.identity = (char *)(uintptr_t)identity;
    Sluice__V1__Listen l;
    sluice__v1__listen__init(&l);
    l.listener_id = id;
    l.address = "127.0.0.1";
    l.port = port;
    l.tls = identity ? &t : NULL;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_LISTEN;
    f.listen = &l;
    raw_send(c, &f);
    bool eof;
    sl_frame_t *r = raw_recv(c, 10000, &eof);
    ck_assert_ptr_nonnull(r);
    int code = r->body_case == SLUICE__V1__FRAME__BODY_LISTENING ? 0
               : r->body_case == SLUICE__V1__FRAME__BODY_LISTEN_FAILED
                   ? (int)r->listen_failed->status->code
                   : -1;
    ck_assert_int_ge(code, 0);
    if (code == 0 && bound_port) {
        *bound_port = (uint32_t)atoi(strrchr(r->listening->bound_address, ':') + 1);
    }
    sl_frame_free(r);
    return code;
}

/* A free loopback port (bound, read, closed). */
static uint32_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

/* Connects and policy ----------------------------------------------------------------------------
 */

START_TEST(connects_are_judged_by_name_address_block_and_port)
{
    static struct peer_server peer;
    peer_server_start(&peer, PEER_ECHO, 0);
    uint32_t p = peer.port;
    write_text(s_conf,
               "[client me]\nuid = %u\n"
               "connect = allowed.test:%u, evil.test:%u, 127.0.0.0/8:%u\n"
               "deny = 127.0.0.2\n",
               (unsigned)getuid(), p, p, p);
    start_with_config();
    struct raw_client c;
    raw_attach(&c, &s_daemon, "policy");
    const int denied = SLUICE__V1__ERROR_CODE__ERROR_DENIED;
    ck_assert_int_eq(open_tcp(&c, 1, "allowed.test", p, NULL, false), 0);       /* by name */
    ck_assert_int_eq(open_tcp(&c, 2, "127.0.0.1", p, NULL, false), 0);          /* by block */
    ck_assert_int_eq(open_tcp(&c, 3, "127.0.0.1", p + 1, NULL, false), denied); /* port */
    ck_assert_int_eq(open_tcp(&c, 4, "other.test", p, NULL, false), denied);    /* name */
    ck_assert_int_eq(open_tcp(&c, 5, "evil.test", p, NULL, false), denied);     /* resolves badly */
    ck_assert_int_eq(open_tcp(&c, 6, "127.0.0.2", p, NULL, false), denied);     /* denied block */
    ck_assert_int_eq(open_tcp(&c, 7, "192.0.2.1", p, NULL, false), denied);     /* no block */
    raw_ping(&c, 1); /* a denial is not a fault: the session goes on */
    raw_close(&c);
    peer_server_stop(&peer);
}
END_TEST

START_TEST(listeners_identities_and_trust_are_granted_by_name)
{
    uint32_t granted = free_port();
    write_text(s_conf,
               "[identity web]\ncert = %s\nkey = %s\n"
               "[identity other]\ncert = %s\nkey = %s\n"
               "[trust test-ca]\nca_file = %s\n"
               "[client me]\nuid = %u\nlisten = %u\nidentities = web\ntrust = test-ca\n"
               "connect = 127.0.0.1:1-65535\nresolve = no\n",
               s_certs.server.cert, s_certs.server.key, s_certs.server_rsa.cert,
               s_certs.server_rsa.key, s_certs.ca_cert, (unsigned)getuid(), granted);
    start_with_config();
    struct raw_client c;
    raw_attach(&c, &s_daemon, "listener");
    const int denied = SLUICE__V1__ERROR_CODE__ERROR_DENIED;
    ck_assert_int_eq(listen_port(&c, 1, granted == 65535 ? 65534 : granted + 1, NULL, NULL),
                     denied);
    ck_assert_int_eq(listen_port(&c, 2, 0, NULL, NULL), denied); /* any port: not granted */
    ck_assert_int_eq(listen_port(&c, 3, granted, "other", NULL), denied); /* identity */
    ck_assert_int_eq(listen_port(&c, 4, granted, "missing", NULL),
                     SLUICE__V1__ERROR_CODE__ERROR_INVALID_ARGUMENT);
    ck_assert_int_eq(listen_port(&c, 5, granted, "web", NULL), 0);
    ck_assert_int_eq(open_tcp(&c, 6, "127.0.0.1", 9, "other", true), denied);
    /* Resolve is denied by `resolve = no`. */
    Sluice__V1__Resolve r;
    sluice__v1__resolve__init(&r);
    r.request_id = 9;
    r.host = "localhost";
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_RESOLVE;
    f.resolve = &r;
    raw_send(&c, &f);
    sl_frame_t *answer = raw_expect(&c, SLUICE__V1__FRAME__BODY_RESOLVED);
    ck_assert_int_eq(answer->resolved->status->code, denied);
    sl_frame_free(answer);
    raw_close(&c);
}
END_TEST

/* A free port under 1024 (root only), or 0 when none could be found. */
static uint32_t free_privileged_port(void)
{
    for (uint32_t port = 1000; port > 900; port--) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
        close(fd);
        if (ok) {
            return port;
        }
    }
    return 0;
}

/* The daemon binds a privileged port for a client the policy lets listen there. */
START_TEST(a_granted_privileged_port_is_bound_for_the_client)
{
    uint32_t port = geteuid() == 0 ? free_privileged_port() : 0;
    if (port == 0) {
        fprintf(stderr,
                "skipped: binding a port under 1024 needs root (or CAP_NET_BIND_SERVICE)\n");
        return;
    }
    write_text(s_conf, "[client me]\nuid = %u\nlisten = 1-1023\n", (unsigned)getuid());
    start_with_config();
    struct raw_client c;
    raw_attach(&c, &s_daemon, "privileged");
    uint32_t bound = 0;
    ck_assert_int_eq(listen_port(&c, 1, port, NULL, &bound), 0);
    ck_assert_uint_eq(bound, port);
    ck_assert_int_eq(listen_port(&c, 2, 8080, NULL, NULL), SLUICE__V1__ERROR_CODE__ERROR_DENIED);
    raw_close(&c);
}
END_TEST

/* Other uids (root only: the test switches uid in a child) ------------------------------------ */

/* In a child running as uid/gid: attach and report what the daemon answered Hello with. */
static int attach_as(uid_t uid, const char *socket_path)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0) {
            _exit(10);
        }
        struct daemon_proc d = {0};
        snprintf(d.socket_path, sizeof(d.socket_path), "%s", socket_path);
        struct raw_client c;
        raw_connect(&c, &d);
        bool eof;
        sl_frame_t *hello = raw_recv(&c, 5000, &eof);
        sl_frame_free(hello);
        Sluice__V1__Hello h;
        sluice__v1__hello__init(&h);
        h.version = 1;
        h.client_name = "other-uid";
        sl_frame_t f;
        sluice__v1__frame__init(&f);
        f.body_case = SLUICE__V1__FRAME__BODY_HELLO;
        f.hello = &h;
        raw_send(&c, &f);
        sl_frame_t *r = raw_recv(&c, 5000, &eof);
        int code = !r                                                ? 11
                   : r->body_case == SLUICE__V1__FRAME__BODY_WELCOME ? 0
                   : r->body_case == SLUICE__V1__FRAME__BODY_ERROR   ? (int)r->error->status->code
                                                                     : 12;
        _exit(code);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

START_TEST(other_uids_are_refused_unless_a_section_admits_them)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: switching uid needs root\n");
        return;
    }
    write_text(s_conf, "[daemon]\nsocket_mode = 0666\n[client nobody]\nuid = 65534\n");
    start_with_config();
    ck_assert_int_eq(chmod(s_daemon.dir, 0755), 0); /* let the other uids reach the socket */
    ck_assert_int_eq(attach_as(65534, s_daemon.socket_path), 0);
    ck_assert_int_eq(attach_as(65533, s_daemon.socket_path), SLUICE__V1__ERROR_CODE__ERROR_DENIED);
    /* root itself has no section now: refused too. */
    ck_assert_int_eq(attach_as(0, s_daemon.socket_path), SLUICE__V1__ERROR_CODE__ERROR_DENIED);
}
END_TEST

START_TEST(without_a_config_other_uids_are_refused)
{
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: switching uid needs root\n");
        return;
    }
    daemon_start(&s_daemon, NULL, NULL);
    ck_assert_int_eq(chmod(s_daemon.dir, 0755), 0);
    ck_assert_int_eq(chmod(s_daemon.socket_path, 0666), 0); /* only the policy stands between */
    ck_assert_int_eq(attach_as(65534, s_daemon.socket_path), SLUICE__V1__ERROR_CODE__ERROR_DENIED);
    ck_assert_int_eq(attach_as(0, s_daemon.socket_path), 0);
}
END_TEST

/* Ed25519 ---------------------------------------------------------------------------------------
 */

struct signed_hello {
    uint8_t pk[32];
    uint8_t sig[64];
};

/* What the protocol says a client signs (docs/protocol.md §3.3), built independently here. */
static void sign_hello(const uint8_t nonce[32], const uint8_t pk[32], const uint8_t sk[64],
                       const char *name, uint8_t sig[64])
{
    uint8_t msg[15 + 32 + 32 + 64];
    size_t n = 0;
    memcpy(msg, "sluice-auth-v1", 15); /* with its NUL */
    n += 15;
    memcpy(msg + n, nonce, 32);
    n += 32;
    memcpy(msg + n, pk, 32);
    n += 32;
    memcpy(msg + n, name, strlen(name));
    n += strlen(name);
    crypto_sign_detached(sig, NULL, msg, n, sk);
}

/* Connects, reads the nonce, sends Hello with pk and sig (made by make_sig from the nonce
 * unless replay is given), returns 0 for Welcome or the Error's code. */
static int attach_signed(const uint8_t pk[32], const uint8_t sk[64], const uint8_t *replay_sig,
                         uint8_t sig_out[64])
{
    struct raw_client c;
    raw_connect(&c, &s_daemon);
    sl_frame_t *hello = raw_expect(&c, SLUICE__V1__FRAME__BODY_SERVER_HELLO);
    uint8_t sig[64];
    if (replay_sig) {
        memcpy(sig, replay_sig, 64);
    } else {
        sign_hello(hello->server_hello->nonce.data, pk, sk, "keyed", sig);
    }
    sl_frame_free(hello);
    if (sig_out) {
        memcpy(sig_out, sig, 64);
    }
    Sluice__V1__Hello h;
    sluice__v1__hello__init(&h);
    h.version = 1;
    h.client_name = "keyed";
    h.auth_public_key = (ProtobufCBinaryData){.len = 32, .data = (uint8_t *)(uintptr_t)pk};
    h.auth_signature = (ProtobufCBinaryData){.len = 64, .data = sig};
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_HELLO;
    f.hello = &h;
    raw_send(&c, &f);
    bool eof;
    sl_frame_t *r = raw_recv(&c, 5000, &eof);
    ck_assert_ptr_nonnull(r);
    int code = r->body_case == SLUICE__V1__FRAME__BODY_WELCOME ? 0
               : r->body_case == SLUICE__V1__FRAME__BODY_ERROR ? (int)r->error->status->code
                                                               : -1;
    sl_frame_free(r);
    raw_close(&c);
    return code;
}

START_TEST(ed25519_keys_admit_and_replays_fail)
{
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(pk2, sk2);
    char b64[64];
    sodium_bin2base64(b64, sizeof(b64), pk, 32, sodium_base64_VARIANT_ORIGINAL);
    /* Only the key admits: no section matches our uid. */
    write_text(s_conf, "[client keyed]\npublic_key = %s\n", b64);
    start_with_config();
    uint8_t used[64];
    ck_assert_int_eq(attach_signed(pk, sk, NULL, used), 0);
    /* Our public key, another key's signature: not us. */
    uint8_t forged[64];
    ck_assert_int_eq(attach_signed(pk, sk2, NULL, forged),
                     SLUICE__V1__ERROR_CODE__ERROR_AUTH_FAILED);
    /* A good signature by a key the config does not know. */
    ck_assert_int_eq(attach_signed(pk2, sk2, NULL, NULL), SLUICE__V1__ERROR_CODE__ERROR_DENIED);
    /* The first session's signature, replayed: the nonce is new, so it fails. */
    ck_assert_int_eq(attach_signed(pk, sk, used, NULL), SLUICE__V1__ERROR_CODE__ERROR_AUTH_FAILED);
    /* Without a key at all. */
    struct raw_client c;
    raw_connect(&c, &s_daemon);
    sl_frame_free(raw_expect(&c, SLUICE__V1__FRAME__BODY_SERVER_HELLO));
    Sluice__V1__Hello h;
    sluice__v1__hello__init(&h);
    h.version = 1;
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_HELLO;
    f.hello = &h;
    raw_send(&c, &f);
    raw_expect_fault(&c, SLUICE__V1__ERROR_CODE__ERROR_DENIED);
    raw_close(&c);
}
END_TEST

/* Runs argv (as this user); returns its exit status with stdout+stderr in out. */
static int run_cmd(const char *const *argv, char *out, size_t out_len)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < out_len && (n = read(fds[0], out + got, out_len - 1 - got)) > 0) {
        got += (size_t)n;
    }
    out[got] = '\0';
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The client side of keys: sluicectl keygen writes them, --key (libsluice-client) signs. */
START_TEST(sluicectl_keys_admit_a_session)
{
    char key[128], other[128], pub[160], out[2048], b64[128] = "";
    snprintf(key, sizeof(key), "%s/id", s_dir);
    snprintf(other, sizeof(other), "%s/other", s_dir);
    snprintf(pub, sizeof(pub), "%s.pub", key);
    const char *gen[] = {SLUICECTL_PATH, "keygen", key, NULL};
    ck_assert_int_eq(run_cmd(gen, out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "public_key = "), "%s", out);
    const char *gen2[] = {SLUICECTL_PATH, "keygen", other, NULL};
    ck_assert_int_eq(run_cmd(gen2, out, sizeof(out)), 0);
    ck_assert_int_eq(run_cmd(gen, out, sizeof(out)), 3); /* never overwrites a key */
    struct stat st;
    ck_assert_int_eq(stat(key, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    FILE *f = fopen(pub, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(b64, sizeof(b64), f));
    fclose(f);
    b64[strcspn(b64, "\n")] = '\0';
    write_text(s_conf, "[client keyed]\npublic_key = %s\n", b64);
    start_with_config();
    const char *with_key[] = {SLUICECTL_PATH, "--socket", s_daemon.socket_path, "--key", key,
                              "ping",         NULL};
    ck_assert_msg(run_cmd(with_key, out, sizeof(out)) == 0, "%s", out);
    const char *with_other[] = {SLUICECTL_PATH, "--socket", s_daemon.socket_path, "--key", other,
                                "ping",         NULL};
    ck_assert_int_eq(run_cmd(with_other, out, sizeof(out)), 2);
    ck_assert_msg(strstr(out, "denied") || strstr(out, "policy"), "%s", out);
    const char *without[] = {SLUICECTL_PATH, "--socket", s_daemon.socket_path, "ping", NULL};
    ck_assert_int_eq(run_cmd(without, out, sizeof(out)), 2);
    const char *bad_file[] = {SLUICECTL_PATH, "--socket", s_daemon.socket_path, "--key", pub,
                              "ping",         NULL};
    ck_assert_int_eq(run_cmd(bad_file, out, sizeof(out)), 2);
    ck_assert_msg(strstr(out, "not a key"), "%s", out);
    unlink(key);
    unlink(pub);
    unlink(other);
    snprintf(pub, sizeof(pub), "%s.pub", other);
    unlink(pub);
}
END_TEST

/* Identities with real OpenSSL peers ---------------------------------------------------------- */

START_TEST(a_tls_listener_serves_a_named_identity)
{
    /* This identity comes from PKCS#12 (the mTLS test below uses PEM files). */
    write_text(s_conf,
               "[identity web]\npkcs12 = %s\npkcs12_password = secret\n"
               "[client me]\nuid = %u\nlisten = *\nidentities = web\n",
               s_certs.server_p12, (unsigned)getuid());
    start_with_config();
    struct raw_client c;
    raw_attach(&c, &s_daemon, "tls-listener");
    uint32_t port = 0;
    ck_assert_int_eq(listen_port(&c, 1, 0, "web", &port), 0);
    char connect[32];
    snprintf(connect, sizeof(connect), "127.0.0.1:%u", port);
    const char *argv[] = {"s_client",    "-connect",      connect,
                          "-CAfile",     s_certs.ca_cert, "-verify_return_error",
                          "-servername", "localhost",     "-verify_hostname",
                          "localhost",   "-quiet",        NULL};
    struct openssl_peer client;
    char why[256];
    ck_assert_msg(openssl_peer_start(&client, argv, why, sizeof(why)), "%s", why);
    sl_frame_t *acc = raw_expect(&c, SLUICE__V1__FRAME__BODY_ACCEPTED);
    ck_assert_ptr_nonnull(acc->accepted->tls);
    ck_assert_str_eq(acc->accepted->tls->version, "TLSv1.3");
    uint32_t id = acc->accepted->channel_id;
    sl_frame_free(acc);
    ck_assert(openssl_peer_write(&client, "verified\n", 9));
    sl_frame_t *data = raw_expect(&c, SLUICE__V1__FRAME__BODY_DATA);
    ck_assert_uint_eq(data->data->channel_id, id);
    ck_assert_int_eq(memcmp(data->data->payload.data, "verified\n", 9), 0);
    sl_frame_free(data);
    openssl_peer_close_stdin(&client);
    openssl_peer_stop(&client, 5000);
    ck_assert_msg(!strstr(client.err ? client.err : "", "verify error"), "%s", client.err);
    openssl_peer_free(&client);
    raw_close(&c);
}
END_TEST

START_TEST(an_identity_is_a_client_certificate_for_mtls)
{
    const char *args[] = {"-Verify",
                          "1",
                          "-CAfile",
                          s_certs.ca_cert,
                          "-verify_return_error",
                          "-cert",
                          s_certs.server.cert,
                          "-key",
                          s_certs.server.key,
                          "-naccept",
                          "1",
                          NULL};
    struct openssl_peer server;
    int port = 0;
    char why[256];
    ck_assert_msg(openssl_peer_start_server(&server, args, &port, 10000, why, sizeof(why)), "%s",
                  why);
    write_text(s_conf,
               "[identity client]\ncert = %s\nkey = %s\n"
               "[trust test-ca]\nca_file = %s\n"
               "[client me]\nuid = %u\nconnect = 127.0.0.1:%d\nidentities = client\n"
               "trust = test-ca\n",
               s_certs.client.cert, s_certs.client.key, s_certs.ca_cert, (unsigned)getuid(), port);
    start_with_config();
    struct raw_client c;
    raw_attach(&c, &s_daemon, "mtls");
    ck_assert_int_eq(open_tcp(&c, 1, "127.0.0.1", (uint32_t)port, "client", true), 0);
    /* s_server verified our certificate: it names the client's subject. */
    ck_assert_msg(openssl_peer_wait_for(&server, "test-client", true, 5000) ||
                      openssl_peer_wait_for(&server, "test-client", false, 100),
                  "s_server saw no client certificate: %s", server.err ? server.err : "");
    openssl_peer_stop(&server, 2000);
    openssl_peer_free(&server);
    raw_close(&c);
}
END_TEST

/* Start-up errors -------------------------------------------------------------------------------
 */

/* Runs sluiced --check-config (as uid when >= 0); returns its exit status, stderr in err. */
static int check_config(int uid, char *err, size_t err_len)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        dup2(fds[1], STDOUT_FILENO);
        if (uid >= 0 &&
            (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0)) {
            _exit(99);
        }
        execl(SLUICED_PATH, SLUICED_PATH, "--config", s_conf, "--check-config", (char *)NULL);
        _exit(98);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < err_len && (n = read(fds[0], err + got, err_len - 1 - got)) > 0) {
        got += (size_t)n;
    }
    err[got] = '\0';
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

START_TEST(bad_and_unreadable_keys_stop_the_start)
{
    char garbage[128], err[2048], expect[1024];
    snprintf(garbage, sizeof(garbage), "%s/garbage.key", s_dir);
    write_text(garbage, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
    write_text(s_conf, "[identity web]\ncert = %s\nkey = %s\n", s_certs.server.cert, garbage);
    ck_assert_int_eq(check_config(-1, err, sizeof(err)), 2);
    snprintf(expect, sizeof(expect), "%s:3: [identity web] cannot be used", s_conf);
    ck_assert_msg(strstr(err, expect), "%s", err);
    unlink(garbage);

    write_text(s_conf, "[identity web]\ncert = %s\nkey = %s\n", s_certs.server.cert,
               s_certs.server.key);
    ck_assert_int_eq(check_config(-1, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, "OK"), "%s", err);
    if (geteuid() == 0) { /* as another user, the key (0600, ours) is unreadable */
        ck_assert_int_eq(chmod(s_dir, 0755), 0);
        ck_assert_int_eq(chmod(s_conf, 0644), 0);
        ck_assert_int_eq(chmod(s_certs.server.key, 0600), 0);
        ck_assert_int_eq(chmod(s_certs.dir, 0755), 0);
        ck_assert_int_eq(check_config(65534, err, sizeof(err)), 2);
        snprintf(expect, sizeof(expect), "%s:3: key %s cannot be read: Permission denied", s_conf,
                 s_certs.server.key);
        ck_assert_msg(strstr(err, expect), "%s", err);
    }
}
END_TEST

/* SIGHUP ----------------------------------------------------------------------------------------
 */

static void send_data(struct raw_client *c, uint32_t id, const uint8_t *p, size_t len)
{
    Sluice__V1__Data d;
    sluice__v1__data__init(&d);
    d.channel_id = id;
    d.payload = (ProtobufCBinaryData){.len = len, .data = (uint8_t *)(uintptr_t)p};
    sl_frame_t f;
    sluice__v1__frame__init(&f);
    f.body_case = SLUICE__V1__FRAME__BODY_DATA;
    f.data = &d;
    raw_send(c, &f);
}

START_TEST(sighup_adds_a_rule_while_a_transfer_goes_on)
{
    static struct peer_server echo, other;
    peer_server_start(&echo, PEER_ECHO, 0);
    peer_server_start(&other, PEER_ECHO, 0);
#define RELOAD_CONF "[client me]\nuid = %u\nconnect = 127.0.0.1:%u%s\n"
    write_text(s_conf, RELOAD_CONF, (unsigned)getuid(), echo.port, "");
    start_with_config();
    struct raw_client c;
    raw_attach(&c, &s_daemon, "reload");
    ck_assert_int_eq(open_tcp(&c, 1, "127.0.0.1", echo.port, NULL, false), 0);
    ck_assert_int_eq(open_tcp(&c, 2, "127.0.0.1", other.port, NULL, false),
                     SLUICE__V1__ERROR_CODE__ERROR_DENIED);
    /* A steady echo on channel 1 (in 16 KiB steps, within the 256 KiB windows both ways),
     * with the reload in the middle of it. */
    static uint8_t chunk[16384];
    uint64_t sent = 0, received = 0, sent_hash = 1469598103934665603ull,
             recv_hash = 1469598103934665603ull;
    bool reloaded = false, opened = false;
    uint64_t owed = 0;
    for (int round = 0; round < 400; round++) {
        for (size_t i = 0; i < sizeof(chunk); i++) {
            chunk[i] = (uint8_t)(sent + i);
            sent_hash = (sent_hash ^ chunk[i]) * 1099511628211ull;
        }
        send_data(&c, 1, chunk, sizeof(chunk));
        sent += sizeof(chunk);
        while (received < sent) {
            bool eof;
            sl_frame_t *f = raw_recv(&c, 10000, &eof);
            ck_assert_msg(f, "the transfer stalled at %llu", (unsigned long long)received);
            if (f->body_case == SLUICE__V1__FRAME__BODY_DATA) {
                ck_assert_uint_eq(f->data->channel_id, 1);
                for (size_t i = 0; i < f->data->payload.len; i++) {
                    recv_hash = (recv_hash ^ f->data->payload.data[i]) * 1099511628211ull;
                }
                received += f->data->payload.len;
                owed += f->data->payload.len;
                if (owed >= 128 * 1024) { /* give the daemon its credit back (§6.2) */
                    Sluice__V1__Window w;
                    sluice__v1__window__init(&w);
                    w.channel_id = 1;
                    w.increment = (uint32_t)owed;
                    sl_frame_t wf;
                    sluice__v1__frame__init(&wf);
                    wf.body_case = SLUICE__V1__FRAME__BODY_WINDOW;
                    wf.window = &w;
                    raw_send(&c, &wf);
                    owed = 0;
                }
            } else if (f->body_case == SLUICE__V1__FRAME__BODY_OPENED) {
                opened = f->opened->channel_id == 3;
            } else {
                ck_assert_int_eq(f->body_case, SLUICE__V1__FRAME__BODY_WINDOW);
            }
            sl_frame_free(f);
        }
        if (round == 100) {
            char extra[32];
            snprintf(extra, sizeof(extra), ", 127.0.0.1:%u", other.port);
            write_text(s_conf, RELOAD_CONF, (unsigned)getuid(), echo.port, extra);
            ck_assert_int_eq(kill(s_daemon.pid, SIGHUP), 0);
            reloaded = true;
        }
        if (reloaded && round >= 150 && !opened && round % 10 == 0) {
            /* The rule applies to new Opens once the reload is done; keep asking. */
            Sluice__V1__TcpTarget tcp;
            sluice__v1__tcp_target__init(&tcp);
            tcp.host = "127.0.0.1";
            tcp.port = other.port;
            Sluice__V1__Open o;
            sluice__v1__open__init(&o);
            o.channel_id = 3;
            o.target_case = SLUICE__V1__OPEN__TARGET_TCP;
            o.tcp = &tcp;
            sl_frame_t f;
            sluice__v1__frame__init(&f);
            f.body_case = SLUICE__V1__FRAME__BODY_OPEN;
            f.open = &o;
            raw_send(&c, &f);
            nap_ms(5);
        }
    }
    ck_assert(opened);
    ck_assert_uint_eq(received, sent);
    ck_assert_uint_eq(recv_hash, sent_hash); /* not a byte lost or changed across the reload */
    raw_close(&c);
    peer_server_stop(&echo);
    peer_server_stop(&other);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("daemon_policy");
    TCase *tc = sl_test_tcase("policy", 120);
    tcase_add_unchecked_fixture(tc, setup_once, teardown_once);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, connects_are_judged_by_name_address_block_and_port);
    tcase_add_test(tc, listeners_identities_and_trust_are_granted_by_name);
    tcase_add_test(tc, a_granted_privileged_port_is_bound_for_the_client);
    tcase_add_test(tc, other_uids_are_refused_unless_a_section_admits_them);
    tcase_add_test(tc, without_a_config_other_uids_are_refused);
    tcase_add_test(tc, ed25519_keys_admit_and_replays_fail);
    tcase_add_test(tc, sluicectl_keys_admit_a_session);
    tcase_add_test(tc, a_tls_listener_serves_a_named_identity);
    tcase_add_test(tc, an_identity_is_a_client_certificate_for_mtls);
    tcase_add_test(tc, bad_and_unreadable_keys_stop_the_start);
    tcase_add_test(tc, sighup_adds_a_rule_while_a_transfer_goes_on);
    suite_add_tcase(suite, tc);
    return sl_test_run(suite);
}
