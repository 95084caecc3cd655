/*
 * The data directory's lock (see lock.h).
 */
#define _GNU_SOURCE
#include "wal/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#define BL_LOCK_WAIT_MS 2000u

int bl_dir_lock(const char *dir, bool exclusive, int *fd, pid_t *holder) {
    char path[4200];
    *holder = 0;
    *fd = -1;
    if (snprintf(path, sizeof(path), "%s/%s", dir, BL_LOCK_FILE) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    /* A reader that may not create files still locks an existing lock file. */
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0 && !exclusive && (errno == EACCES || errno == EROFS))
        f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return errno == ENOENT && !exclusive ? 0 : -errno; /* nothing to share */
    /* A writer waits a little: a killed server's checkpoint child shares its lock until the
     * kernel has delivered its own SIGKILL (PR_SET_PDEATHSIG), a few milliseconds. */
    uint32_t waits = exclusive ? BL_LOCK_WAIT_MS / 10 : 0;
    while (flock(f, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK && waits-- > 0) {
            usleep(10000);
            continue;
        }
        int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        char text[32] = {0};
        if (rc == -EBUSY && pread(f, text, sizeof(text) - 1, 0) > 0) *holder = atoi(text);
        close(f);
        return rc;
    }
    if (exclusive) {
        char text[32];
        int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
        if (ftruncate(f, 0) != 0 || pwrite(f, text, (size_t)n, 0) != n) { /* the pid is a hint */
        }
    }
    *fd = f;
    return 0;
}
