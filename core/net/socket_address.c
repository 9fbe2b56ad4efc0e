/* SPDX-License-Identifier: Apache-2.0 */

/* AF_VSOCK and its sockaddr come from Linux headers that want GNU definitions. */
#define _GNU_SOURCE

#include "socket_internal.h"

#include <sluice/error.h>

#include "guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

/*
 * Endpoint parsing is a parser of outside input (addresses come from configs and clients), so
 * it rejects anything it does not fully understand with SL_E_INVALID_ADDRESS and never reads
 * past the fixed-size fields.
 */

int sl__domain_family(enum sl_socket_domain domain)
{
    switch (domain) {
    case SL_SOCKET_IPV4:
        return AF_INET;
    case SL_SOCKET_IPV6:
        return AF_INET6;
    case SL_SOCKET_LOCAL:
        return AF_UNIX;
    case SL_SOCKET_VSOCK:
        return AF_VSOCK;
    }
    return -1;
}

/* Length of the address string, or SIZE_MAX if it is not NUL-terminated within the field. */
static size_t address_length(const struct sl_socket_endpoint *ep)
{
    const char *nul = memchr(ep->address, '\0', sizeof(ep->address));
    return nul ? (size_t)(nul - ep->address) : SIZE_MAX;
}

static int parse_inet(int family, const struct sl_socket_endpoint *ep, void *out, uint32_t *len)
{
    SL_ENSURE(ep->port <= 65535, SL_E_INVALID_ADDRESS);
    if (family == AF_INET) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ep->port)};
        SL_ENSURE(inet_pton(AF_INET, ep->address, &sin.sin_addr) == 1, SL_E_INVALID_ADDRESS);
        memcpy(out, &sin, sizeof(sin));
        *len = sizeof(sin);
        return 0;
    }
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)ep->port)};
    SL_ENSURE(inet_pton(AF_INET6, ep->address, &sin6.sin6_addr) == 1, SL_E_INVALID_ADDRESS);
    memcpy(out, &sin6, sizeof(sin6));
    *len = sizeof(sin6);
    return 0;
}

static int parse_local(const struct sl_socket_endpoint *ep, size_t n, void *out, uint32_t *len)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    SL_ENSURE(n > 0 && n < sizeof(sun.sun_path), SL_E_INVALID_ADDRESS);
    if (ep->address[0] == '@') {
        /* Linux abstract name: a leading NUL, then exactly the name's bytes (no terminator). */
        SL_ENSURE(n > 1, SL_E_INVALID_ADDRESS);
        memcpy(sun.sun_path + 1, ep->address + 1, n - 1);
        *len = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        memcpy(sun.sun_path, ep->address, n);
        *len = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    memcpy(out, &sun, sizeof(sun));
    return 0;
}

static int parse_vsock(const struct sl_socket_endpoint *ep, size_t n, void *out, uint32_t *len)
{
    SL_ENSURE(n > 0 && n <= 10, SL_E_INVALID_ADDRESS);
    uint64_t cid = 0;
    for (size_t i = 0; i < n; i++) {
        SL_ENSURE(ep->address[i] >= '0' && ep->address[i] <= '9', SL_E_INVALID_ADDRESS);
        cid = cid * 10 + (uint64_t)(ep->address[i] - '0');
    }
    SL_ENSURE(cid <= UINT32_MAX, SL_E_INVALID_ADDRESS);
    struct sockaddr_vm svm = {
        .svm_family = AF_VSOCK, .svm_cid = (unsigned)cid, .svm_port = ep->port};
    memcpy(out, &svm, sizeof(svm));
    *len = sizeof(svm);
    return 0;
}

int sl_socket_endpoint_parse(enum sl_socket_domain domain,
                             const struct sl_socket_endpoint *endpoint, void *sockaddr_out,
                             uint32_t *len_out)
{
    SL_ENSURE_ARG(endpoint && sockaddr_out && len_out);
    size_t n = address_length(endpoint);
    SL_ENSURE(n != SIZE_MAX, SL_E_INVALID_ADDRESS);
    switch (domain) {
    case SL_SOCKET_IPV4:
        return parse_inet(AF_INET, endpoint, sockaddr_out, len_out);
    case SL_SOCKET_IPV6:
        return parse_inet(AF_INET6, endpoint, sockaddr_out, len_out);
    case SL_SOCKET_LOCAL:
        return parse_local(endpoint, n, sockaddr_out, len_out);
    case SL_SOCKET_VSOCK:
        return parse_vsock(endpoint, n, sockaddr_out, len_out);
    }
    return SL_E_INVAL;
}

static int format_local(const struct sockaddr_un *sun, socklen_t len,
                        struct sl_socket_endpoint *out)
{
    size_t path_len = len > offsetof(struct sockaddr_un, sun_path)
                          ? (size_t)len - offsetof(struct sockaddr_un, sun_path)
                          : 0;
    if (path_len == 0) {
        return 0; /* unnamed (e.g. the client end of a connection) */
    }
    if (sun->sun_path[0] == '\0') {
        /* '@', the name, and a terminator must fit: a peer may pick a 107-byte name. */
        size_t name_len = path_len - 1;
        SL_ENSURE(name_len + 2 <= sizeof(out->address), SL_E_INVALID_ADDRESS);
        out->address[0] = '@';
        memcpy(out->address + 1, sun->sun_path + 1, name_len);
        out->address[name_len + 1] = '\0';
        return 0;
    }
    size_t n = strnlen(sun->sun_path, path_len);
    SL_ENSURE(n + 1 <= sizeof(out->address), SL_E_INVALID_ADDRESS);
    memcpy(out->address, sun->sun_path, n);
    out->address[n] = '\0';
    return 0;
}

int sl__endpoint_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                               struct sl_socket_endpoint *out)
{
    memset(out, 0, sizeof(*out));
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, out->address, sizeof(out->address));
        out->port = ntohs(sin->sin_port);
        return 0;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, out->address, sizeof(out->address));
        out->port = ntohs(sin6->sin6_port);
        return 0;
    }
    case AF_UNIX:
        return format_local((const struct sockaddr_un *)(const void *)sa, len, out);
    case AF_VSOCK: {
        const struct sockaddr_vm *svm = (const struct sockaddr_vm *)(const void *)sa;
        snprintf(out->address, sizeof(out->address), "%u", svm->svm_cid);
        out->port = svm->svm_port;
        return 0;
    }
    default:
        return SL_E_INVALID_ADDRESS;
    }
}
