/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CLIENT_H
#define SL_CLIENT_H

/*
 * libsluice-client: a thin client of sluiced (docs/protocol.md). No threads, no OpenSSL, no
 * libsluice: it speaks the IPC protocol over one Unix socket. This first part covers the
 * session (connect and handshake), Ping, Resolve and Stats, channels and listeners.
 *
 * Errors are negative: -errno for system errors (-ECONNREFUSED when no daemon listens,
 * -ENOENT when the socket does not exist, -ETIMEDOUT), and SL_CLIENT_E_* for protocol errors:
 * SL_CLIENT_E_PROTOCOL(code) for an ErrorCode the daemon sent (sluice.proto), plus the local
 * ones below. sl_client_strerror gives a one-line message for any of them, and
 * sl_client_error_message the daemon's own words about the last failure, when it sent some.
 *
 * Thread: a client is used by one thread at a time; different clients are independent.
 * Every call blocks for at most its timeout (poll(2) on the session's socket).
 *
 * Session faults. When the daemon sends an Error frame, closes the socket, or sends bytes that
 * are not a valid frame, the session is over: the call that saw it and every later call on
 * the client return the same code (SL_CLIENT_E_PROTOCOL(code) for an Error frame, a code this
 * library does not know read as ERROR_INTERNAL; SL_CLIENT_E_CLOSED; SL_CLIENT_E_BAD_FRAME), and
 * only sl_client_close and the queries remain useful. GoAway is not a fault: it is remembered
 * (sl_client_has_go_away) and requests go on until the daemon sends its Error.
 * A timeout is not a session fault: the late answer is recognised by its id and discarded.
 */

#include <sluice/common.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

SL_BEGIN_DECLS

#define SL_CLIENT_E_BASE (-20000)
/* The daemon's ErrorCode `code` (e.g. ERROR_NAME_NOT_FOUND = 42) as a return value. */
#define SL_CLIENT_E_PROTOCOL(code) (SL_CLIENT_E_BASE - (int)(code))
/* True when rc is SL_CLIENT_E_PROTOCOL(code) for some code, which SL_CLIENT_E_CODE gives. */
#define SL_CLIENT_E_IS_PROTOCOL(rc) ((rc) < SL_CLIENT_E_BASE && (rc) > SL_CLIENT_E_BASE - 1000)
#define SL_CLIENT_E_CODE(rc)        (SL_CLIENT_E_BASE - (rc))
/*
 * Local errors, below every protocol code: the daemon closed the session (CLOSED); it sent a
 * frame this library cannot use, oversized, undecodable or out of place (BAD_FRAME); it
 * speaks no protocol version in common (VERSION); out of memory (NOMEM); a bad argument, a
 * caller bug (INVAL).
 */
#define SL_CLIENT_E_CLOSED    (SL_CLIENT_E_BASE - 1000)
#define SL_CLIENT_E_BAD_FRAME (SL_CLIENT_E_BASE - 1001)
#define SL_CLIENT_E_VERSION   (SL_CLIENT_E_BASE - 1002)
#define SL_CLIENT_E_NOMEM     (SL_CLIENT_E_BASE - 1003)
#define SL_CLIENT_E_INVAL     (SL_CLIENT_E_BASE - 1004)
/* The channel ended with the daemon's clean Close; writes after sl_client_channel_shutdown. */
#define SL_CLIENT_E_CHANNEL_CLOSED (SL_CLIENT_E_BASE - 1005)
#define SL_CLIENT_E_CHANNEL_SHUT   (SL_CLIENT_E_BASE - 1006)

/* The protocol version this library speaks (ServerHello.versions must contain it). */
#define SL_CLIENT_PROTOCOL_VERSION 1u
/* The default of every timeout_ms that is 0. */
#define SL_CLIENT_DEFAULT_TIMEOUT_MS 5000u

struct sl_client;

struct sl_client_options {
    /* NULL: the default path (sl_client_default_socket). */
    const char *socket_path;
    /* Shown in the daemon's logs and stats; NULL: "libsluice-client"; at most 255 bytes. */
    const char *client_name;
    /* For connecting and the handshake; 0: 5 s. */
    uint32_t timeout_ms;
    /*
     * NULL, or a key file written by sl_client_keygen / `sluicectl keygen`: the session then
     * authenticates with Ed25519 (docs/protocol.md §3.3), for daemons whose policy names keys.
     * A daemon that does not know the key answers SL_CLIENT_E_PROTOCOL(ERROR_DENIED); a bad
     * signature is SL_CLIENT_E_PROTOCOL(ERROR_AUTH_FAILED). The secret is read into locked
     * memory and wiped once Hello is signed.
     */
    const char *key_file;
    /*
     * NULL, or error_buf_len bytes that get a one-line detail when sl_client_connect fails
     * (the daemon's message in its Error frame, ...), "" when there is none; untouched on
     * success. The client does not exist then, so sl_client_error_message cannot give it.
     */
    char *error_buf;
    size_t error_buf_len;
};

struct sl_client_address {
    char address[64]; /* "127.0.0.1", "::1" */
    int family;       /* 4 or 6 */
    uint32_t ttl_s;
};

/* Lifecycle ------------------------------------------------------------------------------------ */

/*
 * The socket path sl_client_connect would use with socket_path NULL (docs/protocol.md §1):
 * $SLUICE_SOCKET when set and not empty; /run/sluice/sluiced.sock for root;
 * $XDG_RUNTIME_DIR/sluice/sluiced.sock for others; /tmp/sluice-UID/sluiced.sock when
 * XDG_RUNTIME_DIR is unset or empty (the daemon checks that directory is its own, 0700).
 * Thread: not thread-safe (the result is in static storage, rewritten by each call).
 */
SL_API const char *sl_client_default_socket(void);

/*
 * Connects and completes the handshake (blocking, opts->timeout_ms in all). opts may be NULL
 * (all defaults).
 * Ownership: borrows opts; *out is returned owned (free it with sl_client_close).
 * Errors: -errno from socket(2)/connect(2) (-ENOENT, also when there is no default path;
 * -ECONNREFUSED; -EACCES; -ENAMETOOLONG for a path over the 107 bytes of sockaddr_un);
 * -ETIMEDOUT; SL_CLIENT_E_VERSION when the daemon does not speak SL_CLIENT_PROTOCOL_VERSION;
 * SL_CLIENT_E_PROTOCOL(code) when it refuses the session with an Error frame (its message in
 * opts->error_buf); SL_CLIENT_E_CLOSED; SL_CLIENT_E_BAD_FRAME; SL_CLIENT_E_NOMEM;
 * SL_CLIENT_E_INVAL (out NULL, client_name over 255 bytes).
 */
SL_API SL_MUST_CHECK int sl_client_connect(const struct sl_client_options *opts,
                                           struct sl_client **out);

/*
 * Makes an Ed25519 key pair: path (mode 0600, the secret key in base64) and path.pub (the
 * public key in base64, what the daemon's `public_key =` takes). Neither may exist yet.
 * Errors: -errno (-EEXIST, -EACCES, ...), SL_CLIENT_E_INVAL, SL_CLIENT_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_client_keygen(const char *path);

/* Closes the session and frees the client (NULL is ignored). Never blocks. */
SL_API void sl_client_close(struct sl_client *client);

/* Operations ----------------------------------------------------------------------------------- */

/*
 * Round trip to the daemon: Ping, then waits for the Pong with the same payload. *rtt_ns (may
 * be NULL) gets its time. timeout_ms 0: 5 s.
 * Errors: -ETIMEDOUT (the session goes on), a session fault (see above), -errno.
 */
SL_API SL_MUST_CHECK int sl_client_ping(struct sl_client *client, uint32_t timeout_ms,
                                        uint64_t *rtt_ns);

/*
 * Resolves host through the daemon's caching resolver. family: 0 any, 4 or 6. Fills up to cap
 * addresses (out may be NULL when cap is 0); *count gets how many were filled, so it is at
 * most cap: extra addresses are left out. timeout_ms 0: 5 s.
 * Errors: SL_CLIENT_E_PROTOCOL(ERROR_NAME_NOT_FOUND), (ERROR_DNS_TEMPORARY), (ERROR_DENIED),
 * ... from the daemon (its message in sl_client_error_message; the session goes on),
 * -ETIMEDOUT (the session goes on), SL_CLIENT_E_INVAL for an empty host, one over 255 bytes or
 * a bad family, a session fault, -errno.
 */
SL_API SL_MUST_CHECK int sl_client_resolve(struct sl_client *client, const char *host, int family,
                                           uint32_t timeout_ms, struct sl_client_address *out,
                                           size_t cap, size_t *count);

/* Channels (docs/protocol.md §4-6) ------------------------------------------------------------ */

/*
 * A channel is one network connection the daemon made (Open) or accepted (a listener's
 * Accepted). The library keeps the flow control of the protocol for the application:
 *
 *  - Receiving: the daemon may send at most the receive window (opts.window) of unread payload;
 *    the library buffers it (so a channel holds at most one window) and returns credit in
 *    Window frames as the application reads, in batches of half the window.
 *  - Sending: a write sends at most the credit the daemon granted; the rest waits (blocking
 *    calls) or is left to the caller (timeout 0).
 *
 * Timeouts of channel calls are poll(2)'s: -1 waits without limit, 0 never waits (a call that
 * would have to returns -EAGAIN), n > 0 waits at most n ms (-ETIMEDOUT). While one call waits,
 * the library reads and sorts every frame that arrives, for all channels and listeners of the
 * session, so a program may block on one channel while others receive (up to their windows).
 *
 * Non-blocking use: poll sl_client_fd() for sl_client_poll_events(); when it is ready call
 * sl_client_process(), then the channel calls with timeout 0, which never block. Calls with
 * timeout 0 send (what the socket takes at once) but never read the socket: only
 * sl_client_process (and calls that wait) sort what arrived. So after sl_client_process an
 * application can serve every channel until each says -EAGAIN, then poll again, and nothing
 * that arrived meanwhile is left unseen.
 *
 * A channel handle stays valid until sl_client_channel_close (or sl_client_close, which frees
 * every handle). After the channel ended (the daemon's Close) the handle answers every call
 * with the end's code, until it is closed.
 */

struct sl_client_channel;
struct sl_client_listener;

enum sl_client_target {
    SL_CLIENT_TARGET_TCP = 0,
    SL_CLIENT_TARGET_UNIX = 1, /* host is a path, or "@name" for an abstract socket */
    SL_CLIENT_TARGET_UDP = 2,  /* each write is one datagram, each read returns one */
};

struct sl_client_open_options {
    enum sl_client_target target;
    const char *host;            /* a name or IP literal (no brackets); for UNIX the path */
    uint16_t port;               /* 1 .. 65535 for TCP and UDP; ignored for UNIX */
    int family;                  /* 0 any, 4 or 6 */
    uint32_t connect_timeout_ms; /* the daemon's limit for resolving and connecting; 0: 10 s */
    uint32_t window;             /* the receive window; 0: the daemon's default (Welcome) */

    /* TLS (TCP and UNIX targets only): the daemon is the TLS client. */
    bool tls;
    const char *server_name; /* SNI and the name checked; NULL: host */
    const char *alpn;        /* "h2,http/1.1" (',' or ';' between names); NULL: no ALPN */
    bool insecure_skip_verify;
    /* Trust, at most one: CA certificates in PEM (what sluicectl --cafile reads), or a trust
     * store the daemon's configuration names; neither: the daemon's system store. */
    const void *ca_pem;
    size_t ca_pem_len;
    const char *trust_store;
    uint32_t handshake_timeout_ms; /* 0: 10 s */
};

/* What Opened or Accepted said about a channel. Strings are "" when absent. */
struct sl_client_channel_info {
    uint32_t channel_id;
    uint32_t listener_id; /* the listener's id for an accepted channel, else 0 */
    char local_address[128];
    char remote_address[128];
    uint32_t send_window;    /* the daemon's receive window (Opened/Accepted.window) */
    uint32_t receive_window; /* ours */
    bool tls;
    char tls_version[16];
    char tls_cipher[64];
    char alpn[256];
    bool tls_resumed;
    bool peer_certificate;
    char peer_subject[256];
    char peer_issuer[256];
    char peer_sans[512]; /* "DNS:a, IP:b" joined with ", " */
    int64_t peer_not_before;
    int64_t peer_not_after;
};

/*
 * Opens a channel: sends Open, then waits up to timeout_ms (poll(2) style, see above) for
 * Opened or OpenFailed. With timeout 0 (or when the wait times out) *out is returned in the
 * opening state and sl_client_channel_status tells when it is open; the handle is owned by the
 * caller in every case where *out is set.
 * Errors: SL_CLIENT_E_PROTOCOL(code) from OpenFailed (ERROR_REFUSED, ERROR_NAME_NOT_FOUND,
 * ERROR_TLS_UNKNOWN_CA, ...; its message in sl_client_error_message; *out is NULL and the
 * session goes on); -EINPROGRESS (timeout 0) and -ETIMEDOUT with *out set, still opening;
 * SL_CLIENT_E_INVAL for bad options (no host, port 0, TLS with UDP, both ca_pem and
 * trust_store, an ALPN name empty or over 255 bytes, window 1 .. 1023, family not 0, 4 or 6);
 * a session fault; -errno.
 */
SL_API SL_MUST_CHECK int sl_client_open(struct sl_client *client,
                                        const struct sl_client_open_options *opts, int timeout_ms,
                                        struct sl_client_channel **out);

/*
 * 0 while the channel is open (including half-closed), -EINPROGRESS while opening, or the code
 * that ended it: SL_CLIENT_E_PROTOCOL(code) from OpenFailed or an error Close,
 * SL_CLIENT_E_CHANNEL_CLOSED after a clean Close, or the session fault.
 */
SL_API int sl_client_channel_status(const struct sl_client_channel *ch);

/*
 * Filled once the channel is open (Opened or Accepted): channel_id and receive_window are set
 * from the start, the rest is "" and 0 while opening. Valid until sl_client_channel_close.
 */
SL_API const struct sl_client_channel_info *
sl_client_channel_info(const struct sl_client_channel *ch);

/*
 * Reads up to len bytes of payload. Returns the count (> 0), 0 at the end of the peer's
 * direction (Shutdown received and everything before it read: end of file), or an error:
 * -EAGAIN / -ETIMEDOUT, the channel's end (SL_CLIENT_E_PROTOCOL(ERROR_RESET), ...) once its
 * buffered bytes are read, a session fault, SL_CLIENT_E_INVAL for len 0. UDP: one datagram
 * per call; bytes beyond len are discarded. Credit goes back to the daemon as bytes are read
 * (a Window frame once half the window has been read, docs/protocol.md §6.2).
 */
SL_API long sl_client_channel_read(struct sl_client_channel *ch, void *buf, size_t len,
                                   int timeout_ms);

/*
 * Writes len bytes of payload, as Data frames within the daemon's credit. Blocks (up to
 * timeout_ms) until all is sent; with timeout 0 it sends what credit and the socket allow
 * right now. Returns the number of bytes taken (len, or fewer when the wait ran out: a partial
 * write, never an error once some were taken), or an error when none were: -EAGAIN /
 * -ETIMEDOUT, SL_CLIENT_E_CHANNEL_SHUT after sl_client_channel_shutdown, the channel's end, a
 * session fault. len 0 returns 0. UDP: one datagram, all or nothing (len at most
 * max_frame - 16, else SL_CLIENT_E_INVAL).
 * The payload goes from buf to the socket without a copy; only what the socket does not take
 * of a frame already begun is copied into the output queue, so buf is free on return. A
 * blocking write (timeout not 0) also waits until that queue has gone to the daemon; after a
 * timeout-0 write, keep calling sl_client_process while sl_client_poll_events asks for POLLOUT.
 */
SL_API long sl_client_channel_write(struct sl_client_channel *ch, const void *buf, size_t len,
                                    int timeout_ms);

/*
 * Half-close: no more writes (Shutdown). The peer sees end of file after the bytes written.
 * A second call does nothing. Errors: the channel's end, a session fault, SL_CLIENT_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_client_channel_shutdown(struct sl_client_channel *ch);

/*
 * Ends the channel and frees the handle. abort false: Close ERROR_NONE (the daemon writes
 * what it got, then closes cleanly); true: Close with ERROR_RESET (the connection is reset,
 * unwritten data discarded). Never blocks; NULL is ignored. Payload still on its way for the
 * channel is dropped quietly, and its id is not reused until the daemon has answered.
 */
SL_API void sl_client_channel_close(struct sl_client_channel *ch, bool abort);

/* Unread payload bytes buffered, and the credit to send (what a write can take now). */
SL_API size_t sl_client_channel_readable(const struct sl_client_channel *ch);
SL_API size_t sl_client_channel_writable(const struct sl_client_channel *ch);
SL_API uint32_t sl_client_channel_id(const struct sl_client_channel *ch);

/* Listeners (docs/protocol.md §7) -------------------------------------------------------------- */

struct sl_client_listen_options {
    const char *address; /* NULL or "": every address (dual-stack); an IP literal; a path
                            starting with '/' or "@name": a Unix listener */
    uint16_t port;       /* 0: any */
    uint32_t backlog;    /* 0: 1024 */
    uint32_t window;     /* the receive window of each accepted channel; 0: daemon default */
};

/*
 * Asks the daemon to listen and waits (timeout_ms, poll(2) style, not 0) for Listening.
 * Errors: SL_CLIENT_E_PROTOCOL(code) from ListenFailed (ERROR_ADDRESS_IN_USE, ERROR_ACCESS,
 * ERROR_DENIED, ...; the session goes on), -ETIMEDOUT, SL_CLIENT_E_INVAL, a session fault.
 */
SL_API SL_MUST_CHECK int sl_client_listen(struct sl_client *client,
                                          const struct sl_client_listen_options *opts,
                                          int timeout_ms, struct sl_client_listener **out);

/* Listening.bound_address: "127.0.0.1:41234", "[::]:41234" or the path. */
SL_API const char *sl_client_listener_address(const struct sl_client_listener *l);

/*
 * The next accepted connection as an open channel (owned by the caller). Its receive window
 * is the listener's window; the peer may already have sent data, or even ended it.
 * Errors: -EAGAIN / -ETIMEDOUT, SL_CLIENT_E_PROTOCOL(code) once the daemon closed the listener
 * (ListenerClosed), a session fault, SL_CLIENT_E_INVAL.
 */
SL_API SL_MUST_CHECK int sl_client_accept(struct sl_client_listener *l, int timeout_ms,
                                          struct sl_client_channel **out);

/*
 * Stops listening (Unlisten) and frees the handle; never blocks. Connections accepted but not
 * yet taken by sl_client_accept are closed. NULL is ignored.
 */
SL_API void sl_client_unlisten(struct sl_client_listener *l);

/* Stats (docs/protocol.md §8) ------------------------------------------------------------------ */

struct sl_client_channel_stats {
    uint32_t channel_id;
    char remote_address[128];
    uint64_t bytes_in;  /* network -> client */
    uint64_t bytes_out; /* client -> network */
    uint32_t send_window;
    uint32_t receive_window;
    char state[16]; /* "opening", "open", "half-closed", "closing" */
};

struct sl_client_stats {
    uint64_t sessions, channels, listeners, bytes_in, bytes_out, uptime_s;
    size_t channel_count;                    /* entries in session */
    struct sl_client_channel_stats *session; /* this session's channels, owned by the stats */
};

/* Daemon totals and this session's channels. Free with sl_client_stats_free. timeout_ms 0: 5 s. */
SL_API SL_MUST_CHECK int sl_client_stats(struct sl_client *client, uint32_t timeout_ms,
                                         struct sl_client_stats *out);
SL_API void sl_client_stats_free(struct sl_client_stats *stats);

/* The event loop (non-blocking use) ------------------------------------------------------------ */

/*
 * The poll(2) events to wait for on sl_client_fd(): POLLIN always, POLLOUT while frames are
 * queued for the daemon (a timeout-0 call could not send all of them) or after a timeout-0
 * write found the socket full (until the next sl_client_process).
 */
SL_API short sl_client_poll_events(const struct sl_client *client);

/*
 * Never blocks: sends queued frames the socket takes, reads what is there and sorts it into
 * channels and listeners. Then the channel calls with timeout 0 see what arrived.
 * Errors: a session fault (the session is over).
 */
SL_API SL_MUST_CHECK int sl_client_process(struct sl_client *client);

/* Queries -------------------------------------------------------------------------------------- */

/*
 * The session's file descriptor (for poll/epoll; non-blocking; -1 once the session has
 * failed), and the id the daemon gave it in Welcome.
 */
SL_API int sl_client_fd(const struct sl_client *client);
SL_API uint64_t sl_client_session_id(const struct sl_client *client);

/*
 * The session fault (see the top of this file) once the session has ended, 0 while it runs.
 * A call that failed with a fault returns the same code; other failures (a timeout, a failed
 * Resolve) leave this 0.
 */
SL_API int sl_client_fault(const struct sl_client *client);

/* What the daemon calls itself in ServerHello ("sluiced 0.1.0"); valid until sl_client_close. */
SL_API const char *sl_client_daemon_name(const struct sl_client *client);

/*
 * The daemon's own message about the last failed call on client (Status.message of an Error
 * frame or of a failed Resolve), or a local detail (the size of an oversized frame); "" when
 * there is none. Valid until the next call on client.
 */
SL_API const char *sl_client_error_message(const struct sl_client *client);

/*
 * True once the daemon announced with GoAway that it is stopping: it accepts no new channels
 * and closes the open ones after *deadline_ms. deadline_ms and reason may be NULL; *reason is
 * valid until sl_client_close.
 */
SL_API bool sl_client_has_go_away(const struct sl_client *client, uint32_t *deadline_ms,
                                  const char **reason);

/* A one-line message for any return code of this library. */
SL_API const char *sl_client_strerror(int code);

SL_END_DECLS

#endif /* SL_CLIENT_H */
