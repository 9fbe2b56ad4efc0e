/* SPDX-License-Identifier: Apache-2.0 */
#include "poller.h"

#include <stddef.h>

/* The back ends built on Linux, default first. CMake picks this file for Linux builds. */
const struct sl_poller_ops *const sl__pollers[] = {
    &sl__poller_epoll_ops,
    NULL,
};
