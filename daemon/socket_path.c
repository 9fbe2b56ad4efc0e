/* SPDX-License-Identifier: Apache-2.0 */
#include "socket_path.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

const char *sluiced_default_socket(void)
{
    static char path[108];
    if (geteuid() == 0) {
        return "/run/sluice/sluiced.sock";
    }
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    if (runtime && *runtime) {
        snprintf(path, sizeof(path), "%s/sluice/sluiced.sock", runtime);
    } else {
        snprintf(path, sizeof(path), "/tmp/sluice-%u/sluiced.sock", (unsigned)geteuid());
    }
    return path;
}

static int make_parent_dir(const char *path, bool own_dir)
{
    char dir[108];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        return 0; /* a bare name or a file in / */
    }
    *slash = 0;
    mode_t mode = geteuid() == 0 ? 0755 : 0700;
    if (mkdir(dir, mode) != 0 && errno != EEXIST) {
        return -errno;
    }
    if (!own_dir) {
        return 0; /* a directory the operator chose */
    }
    /* A directory someone else made (a shared /tmp) could hold their socket, not ours. */
    struct stat st;
    if (lstat(dir, &st) != 0) {
        return -errno;
    }
    if (!S_ISDIR(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return -EPERM;
    }
    return 0;
}

/* True if a daemon accepts connections at path. */
static bool someone_listens(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    bool listening = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    close(fd);
    return listening;
}

int sluiced_prepare_socket_path(const char *path, bool own_dir)
{
    if (path[0] == '@') {
        return 0; /* an abstract name: nothing on disk */
    }
    int rc = make_parent_dir(path, own_dir);
    if (rc < 0) {
        return rc;
    }
    struct stat st;
    if (lstat(path, &st) != 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (!S_ISSOCK(st.st_mode)) {
        return -ENOTSOCK;
    }
    if (someone_listens(path)) {
        return -EADDRINUSE;
    }
    return unlink(path) == 0 ? 0 : -errno; /* a previous daemon's leftover */
}
