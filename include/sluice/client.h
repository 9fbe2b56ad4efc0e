/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CLIENT_H
#define SL_CLIENT_H

/*
 * libsluice-client: a thin client of sluiced (docs/protocol.md). No threads, no OpenSSL, no
 * libsluice: it speaks the IPC protocol over one Unix socket. This first part covers the
 * session (connect and handshake), Ping and Resolve; channels and listeners follow.
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
 * $XDG_RUNTIME_DIR/sluice/sluiced.sock otherwise. NULL when none applies (XDG_RUNTIME_DIR unset
 * or empty for a user other than root): there is no default, and sl_client_connect with
 * socket_path NULL fails with -ENOENT.
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
