/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SOCKET_H
#define SL_SOCKET_H

#include <sluice/buf.h>
#include <sluice/common.h>
#include <sluice/event_loop.h>
#include <sluice/write_req.h>

#include <stdbool.h>
#include <stdint.h>

SL_BEGIN_DECLS

/*
 * Non-blocking sockets: TCP and UDP over IPv4 and IPv6, Unix domain sockets (paths and Linux
 * abstract names), and vsock where the kernel has it.
 *
 * A socket is created unbound and unattached. connect, start_accept or assign_to_loop attach it
 * to one event loop; from then on it is used only on that loop's thread. Every asynchronous
 * result (connect, accept, readable, write done) is reported through its callback, on the loop
 * thread, never from inside the call that started it.
 *
 * Errors: operating-system errors pass through as -errno (-ECONNREFUSED refused, -ETIMEDOUT
 * timed out, -ENETUNREACH / -EHOSTUNREACH unreachable, -EADDRINUSE address in use,
 * -ECONNRESET reset), plus SL_E_CLOSED (closed by the peer or locally), SL_E_INVALID_ADDRESS
 * (an endpoint that does not parse for the domain) and SL_E_UNSUPPORTED (no vsock here).
 */

struct sl_socket;

enum sl_socket_domain {
    SL_SOCKET_IPV4,
    SL_SOCKET_IPV6,
    SL_SOCKET_LOCAL, /* Unix domain: a path, or "@name" for a Linux abstract name */
    SL_SOCKET_VSOCK, /* address is the context id in decimal ("1" is the local host) */
};

enum sl_socket_type {
    SL_SOCKET_STREAM,
    SL_SOCKET_DGRAM,
};

/* The default connect timeout when options leave it 0. */
#define SL_SOCKET_DEFAULT_CONNECT_TIMEOUT_MS 10000u

struct sl_socket_options {
    enum sl_socket_type type;
    enum sl_socket_domain domain;
    uint32_t connect_timeout_ms;    /* 0: SL_SOCKET_DEFAULT_CONNECT_TIMEOUT_MS */
    bool keep_alive;                /* TCP keep-alive probes on an idle connection */
    uint16_t keep_alive_interval_s; /* seconds between probes (0: kernel default) */
    uint16_t keep_alive_timeout_s;  /* idle seconds before the first probe (0: default) */
    uint16_t keep_alive_max_probes; /* unanswered probes before the connection dies (0: default) */
    bool no_delay;                  /* TCP_NODELAY: send small writes at once */
    bool dual_stack;                /* IPv6 sockets also serve IPv4-mapped addresses */
};

/* An address and port. For LOCAL the address is a path or "@abstract-name" and port is unused. */
struct sl_socket_endpoint {
    char address[108];
    uint32_t port;
};

typedef void sl_socket_connect_fn(struct sl_socket *socket, int status, void *user_data);
/*
 * A new connection (status 0; the callback owns `incoming`, not yet attached to any loop), or an
 * accept error (incoming NULL). After -EMFILE / -ENFILE the listener retries by itself 100 ms
 * later; the connection waits in the backlog meanwhile.
 */
typedef void sl_socket_accept_fn(struct sl_socket *listener, int status, struct sl_socket *incoming,
                                 void *user_data);
/*
 * The socket may be readable, or has hung up. status is 0, or an error the kernel holds for the
 * socket (e.g. -ECONNRESET), reported even by a reader that is not reading right now.
 */
typedef void sl_socket_readable_fn(struct sl_socket *socket, int status, void *user_data);

/* Lifecycle ------------------------------------------------------------------------------- */

/*
 * Creates the socket (non-blocking, close-on-exec) with options applied.
 * Thread: any. Ownership: returns owned; free with sl_socket_destroy.
 * Errors: SL_E_INVAL; SL_E_UNSUPPORTED (e.g. no vsock in this kernel); SL_E_NOMEM; -errno.
 */
SL_API SL_MUST_CHECK int sl_socket_new(const struct sl_socket_options *opts,
                                       struct sl_socket **out);

/*
 * Closes the socket: stops watching, closes the descriptor, cancels a pending connect
 * (reported as SL_E_CANCELED) and fails queued writes with SL_E_CLOSED, all reported from a
 * task. Idempotent; safe inside any of the socket's callbacks.
 * Thread: the socket's loop thread once attached, otherwise any. Errors: SL_E_WRONG_THREAD.
 */
SL_API SL_MUST_CHECK int sl_socket_close(struct sl_socket *socket);

/*
 * Closes the socket if open and frees it. Callbacks not yet delivered (write completions, a
 * connect result) run now, inside this call, with their error, so nothing fires afterwards.
 * Thread: as sl_socket_close. NULL is ignored.
 */
SL_API void sl_socket_destroy(struct sl_socket *socket);

/* Connections ----------------------------------------------------------------------------- */

/*
 * Connects to remote, attaching the socket to loop. The outcome always arrives through
 * on_connect: 0, -ECONNREFUSED, -ETIMEDOUT (after connect_timeout_ms), SL_E_CANCELED if closed
 * first, ... For UDP this fixes the peer address; for Unix sockets it completes at once (still
 * reported from a task).
 * Thread: loop's thread. Ownership: borrows remote.
 * Errors (returned, no callback): SL_E_INVALID_ADDRESS; SL_E_STATE; SL_E_WRONG_THREAD.
 */
SL_API SL_MUST_CHECK int sl_socket_connect(struct sl_socket *socket,
                                           const struct sl_socket_endpoint *remote,
                                           struct sl_loop *loop, sl_socket_connect_fn *on_connect,
                                           void *user_data);

/*
 * Binds to local (port 0 picks a free port; see sl_socket_get_bound_address).
 * Thread: any, before the socket is attached. Errors: SL_E_INVALID_ADDRESS; -EADDRINUSE; ...
 */
SL_API SL_MUST_CHECK int sl_socket_bind(struct sl_socket *socket,
                                        const struct sl_socket_endpoint *local);

/* The address the socket is bound to (after bind or connect). Errors: -errno. */
SL_API SL_MUST_CHECK int sl_socket_get_bound_address(const struct sl_socket *socket,
                                                     struct sl_socket_endpoint *out);

/* The peer's address (connected sockets). Errors: -ENOTCONN; -errno. */
SL_API SL_MUST_CHECK int sl_socket_get_remote_address(const struct sl_socket *socket,
                                                      struct sl_socket_endpoint *out);

/* Starts listening (stream sockets, after bind). Errors: SL_E_STATE; -errno. */
SL_API SL_MUST_CHECK int sl_socket_listen(struct sl_socket *socket, int backlog);

/*
 * Attaches a listening socket to loop and reports each new connection through on_accept.
 * Accepting is fair: at most a bounded batch per tick, then the rest in a later tick.
 * Thread: loop's thread. Errors: SL_E_STATE; SL_E_WRONG_THREAD; errors of sl_loop_subscribe.
 */
SL_API SL_MUST_CHECK int sl_socket_start_accept(struct sl_socket *socket, struct sl_loop *loop,
                                                sl_socket_accept_fn *on_accept, void *user_data);

/*
 * Stops accepting; start_accept may be called again. Thread: the loop thread.
 * Errors: SL_E_STATE if not accepting; SL_E_WRONG_THREAD.
 */
SL_API SL_MUST_CHECK int sl_socket_stop_accept(struct sl_socket *socket);

/*
 * Attaches a connected socket (e.g. one just accepted) to loop, so it can read and write there.
 * Thread: loop's thread. Errors: SL_E_STATE if already attached; SL_E_WRONG_THREAD; subscribe
 * errors.
 */
SL_API SL_MUST_CHECK int sl_socket_assign_to_loop(struct sl_socket *socket, struct sl_loop *loop);

/* Reading and writing --------------------------------------------------------------------- */

/*
 * Calls on_readable whenever the socket may have data (edge-triggered: read until -EAGAIN).
 * Thread: the loop thread. Errors: SL_E_STATE if not attached.
 */
SL_API SL_MUST_CHECK int sl_socket_subscribe_to_readable_events(struct sl_socket *socket,
                                                                sl_socket_readable_fn *on_readable,
                                                                void *user_data);

/*
 * Reads into buf's free space (data[len..cap)) and commits what arrived to buf->len; *amount
 * gets the count. A datagram socket reads one datagram (possibly empty; a longer one is cut).
 * Thread: the loop thread.
 * Errors: -EAGAIN (nothing now); SL_E_CLOSED (the peer closed a stream: end of file);
 * SL_E_BUF_FULL (no free space); -errno (-ECONNRESET, ...).
 */
SL_API SL_MUST_CHECK int sl_socket_read(struct sl_socket *socket, struct sl_buf *buf,
                                        size_t *amount);

/*
 * Queues data for writing after earlier writes; on_done reports it (see sl_write_done_fn).
 * The bytes are tried at once when nothing is queued before them; the rest go out as the
 * socket drains, several queued writes per syscall (stream sockets; one datagram per write on
 * datagram sockets).
 * Thread: the loop thread. Ownership: keeps req and the bytes data views until on_done.
 * On a datagram socket each write is one datagram (at most 65,507 bytes over IPv4); a failed
 * one (-EMSGSIZE, -ECONNREFUSED from an ICMP error) fails alone.
 * Errors (returned, no callback): SL_E_CLOSED if closed or not connected; SL_E_STATE if a
 * half-close was already requested.
 */
SL_API SL_MUST_CHECK int sl_socket_write(struct sl_socket *socket, struct sl_write_req *req,
                                         struct sl_cursor data, sl_write_done_fn *on_done,
                                         void *user_data);

/*
 * Sends what it can of data at once (one non-blocking send) if no write is queued and no
 * half-close requested; *written gets the bytes taken (0 if it would block or must queue).
 * Stream sockets only. Errors are left for the queued writes to find and report.
 * Thread: the loop thread.
 */
SL_API void sl_socket_write_now(struct sl_socket *socket, struct sl_cursor data, size_t *written);

/*
 * Half-closes the sending side (shutdown SHUT_WR) once every queued write has gone out; the
 * peer then reads end of file while this side can still read. Thread: the loop thread.
 * Errors: SL_E_CLOSED; -errno.
 */
SL_API SL_MUST_CHECK int sl_socket_shutdown_write(struct sl_socket *socket);

/* Applies options anew (keep-alive, no-delay; type and domain must match). Errors: -errno. */
/*
 * Wraps fd, a stream socket already listening (one systemd passed with socket activation), as a
 * listening socket; it then belongs to the new socket (closed with it). opts describe it (type,
 * domain). Errors: SL_E_INVAL (not listening); -errno; SL_E_NOMEM.
 */
SL_API SL_MUST_CHECK int sl_socket_adopt_listening(int fd, const struct sl_socket_options *opts,
                                                   struct sl_socket **out);

SL_API SL_MUST_CHECK int sl_socket_set_options(struct sl_socket *socket,
                                               const struct sl_socket_options *opts);

/* Queries --------------------------------------------------------------------------------- */

SL_API const struct sl_socket_options *sl_socket_get_options(const struct sl_socket *socket);
/* The descriptor, or -1 once closed. Ownership: the socket keeps it. */
SL_API int sl_socket_fd(const struct sl_socket *socket);
SL_API bool sl_socket_is_open(const struct sl_socket *socket);
SL_API struct sl_loop *sl_socket_loop(const struct sl_socket *socket);
/* Bytes queued and not yet written to the kernel. */
SL_API size_t sl_socket_queued_bytes(const struct sl_socket *socket);

/*
 * Parses endpoint for domain into a struct sockaddr (storage of at least 128 bytes).
 * Errors: SL_E_INVALID_ADDRESS: not an address literal of that family, a port above 65535, an
 * empty or over-long Unix path, a vsock id that is not a number. Exposed for tests and tools.
 */
SL_API SL_MUST_CHECK int sl_socket_endpoint_parse(enum sl_socket_domain domain,
                                                  const struct sl_socket_endpoint *endpoint,
                                                  void *sockaddr_out, uint32_t *len_out);

SL_END_DECLS

#endif /* SL_SOCKET_H */
