/* SPDX-License-Identifier: Apache-2.0 */
#include <sluice/error.h>

#include "guard.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The tables come from SL_ERROR_MAP, so a new code needs one line in error.h and nothing here.
 * Errno names are our own short table rather than strerrorname_np(), a recent GNU extension;
 * the errnos listed are the ones socket, file and thread calls return.
 */

#define MSG_ENTRY(name, msg)  msg,
#define NAME_ENTRY(name, msg) "SL_E_" #name,
static const char *const s_messages[] = {SL_ERROR_MAP(MSG_ENTRY)};
static const char *const s_names[] = {SL_ERROR_MAP(NAME_ENTRY)};
#undef MSG_ENTRY
#undef NAME_ENTRY

#define ERRNO_ENTRY(e) \
    {                  \
        e, #e          \
    }
static const struct {
    int err;
    const char *name;
} s_errno_names[] = {
    ERRNO_ENTRY(EPERM),        ERRNO_ENTRY(ENOENT),
    ERRNO_ENTRY(ESRCH),        ERRNO_ENTRY(EINTR),
    ERRNO_ENTRY(EIO),          ERRNO_ENTRY(ENXIO),
    ERRNO_ENTRY(E2BIG),        ERRNO_ENTRY(EBADF),
    ERRNO_ENTRY(ECHILD),       ERRNO_ENTRY(EAGAIN),
    ERRNO_ENTRY(ENOMEM),       ERRNO_ENTRY(EACCES),
    ERRNO_ENTRY(EFAULT),       ERRNO_ENTRY(EBUSY),
    ERRNO_ENTRY(EEXIST),       ERRNO_ENTRY(ENODEV),
    ERRNO_ENTRY(ENOTDIR),      ERRNO_ENTRY(EISDIR),
    ERRNO_ENTRY(EINVAL),       ERRNO_ENTRY(ENFILE),
    ERRNO_ENTRY(EMFILE),       ERRNO_ENTRY(EFBIG),
    ERRNO_ENTRY(ENOSPC),       ERRNO_ENTRY(ESPIPE),
    ERRNO_ENTRY(EROFS),        ERRNO_ENTRY(EPIPE),
    ERRNO_ENTRY(ERANGE),       ERRNO_ENTRY(EDEADLK),
    ERRNO_ENTRY(ENAMETOOLONG), ERRNO_ENTRY(ENOSYS),
    ERRNO_ENTRY(ENOTEMPTY),    ERRNO_ENTRY(ELOOP),
    ERRNO_ENTRY(ENOTSOCK),     ERRNO_ENTRY(EDESTADDRREQ),
    ERRNO_ENTRY(EMSGSIZE),     ERRNO_ENTRY(EPROTOTYPE),
    ERRNO_ENTRY(ENOPROTOOPT),  ERRNO_ENTRY(EPROTONOSUPPORT),
    ERRNO_ENTRY(EOPNOTSUPP),   ERRNO_ENTRY(EAFNOSUPPORT),
    ERRNO_ENTRY(EADDRINUSE),   ERRNO_ENTRY(EADDRNOTAVAIL),
    ERRNO_ENTRY(ENETDOWN),     ERRNO_ENTRY(ENETUNREACH),
    ERRNO_ENTRY(ECONNABORTED), ERRNO_ENTRY(ECONNRESET),
    ERRNO_ENTRY(ENOBUFS),      ERRNO_ENTRY(EISCONN),
    ERRNO_ENTRY(ENOTCONN),     ERRNO_ENTRY(ETIMEDOUT),
    ERRNO_ENTRY(ECONNREFUSED), ERRNO_ENTRY(EHOSTUNREACH),
    ERRNO_ENTRY(EALREADY),     ERRNO_ENTRY(EINPROGRESS),
    ERRNO_ENTRY(ECANCELED),    ERRNO_ENTRY(EOVERFLOW),
};
#undef ERRNO_ENTRY

static const char *errno_name(int err)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(s_errno_names); i++) {
        if (s_errno_names[i].err == err) {
            return s_errno_names[i].name;
        }
    }
    return NULL;
}

/* Index into the tables for one of our codes, or -1. */
static int sluice_index(int code)
{
    int index = SL_E_BASE - code;
    return index >= 0 && index < SL__EI_COUNT ? index : -1;
}

const char *sl_strerror(int code)
{
    if (code == 0) {
        return "success";
    }
    int index = sluice_index(code);
    if (index >= 0) {
        return s_messages[index];
    }
    if (code < 0 && code > SL_E_BASE) {
        /* strerror is thread-safe in glibc and musl for valid errnos, which is all we pass. */
        return errno_name(-code) ? strerror(-code) : s_messages[SL__EI_UNKNOWN];
    }
    return s_messages[SL__EI_UNKNOWN];
}

const char *sl_error_name(int code)
{
    if (code == 0) {
        return "OK";
    }
    int index = sluice_index(code);
    if (index >= 0) {
        return s_names[index];
    }
    const char *name = code < 0 && code > SL_E_BASE ? errno_name(-code) : NULL;
    return name ? name : s_names[SL__EI_UNKNOWN];
}

void sl__assert_fail(const char *cond, const char *file, int line)
{
    /* No allocation and no logging machinery: the process may be in a broken state. */
    fprintf(stderr, "sluice: assertion failed: %s (%s:%d)\n", cond, file, line);
    abort();
}
