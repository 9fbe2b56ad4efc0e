/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SLUICED_SOCKET_PATH_H
#define SLUICED_SOCKET_PATH_H

#include <stdbool.h>

/*
 * Where sluiced listens: /run/sluice/sluiced.sock as root, $XDG_RUNTIME_DIR/sluice/sluiced.sock
 * otherwise, /tmp/sluice-$UID/sluiced.sock when XDG_RUNTIME_DIR is unset (static storage).
 */
const char *sluiced_default_socket(void);

/*
 * Gets path ready for bind: creates its directory (0700 for a user, 0755 under /run as root)
 * and removes a stale socket nobody listens on. With own_dir (the default path), the directory
 * must be ours alone: no symlink, our uid (or root's), not writable by group or others.
 * Errors: -EADDRINUSE if a daemon answers there, -ENOTSOCK if something else is at path,
 * -EPERM for a directory that is not ours, -errno.
 */
int sluiced_prepare_socket_path(const char *path, bool own_dir);

#endif
