/*
 * The data directory's lock (see lock.h).
 */
#define _GNU_SOURCE
#include "node/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define BL_LOCK_WAIT_MS 2000u
#define BL_LOCK_PATH_MAX 4200u

/* The pid the last exclusive holder wrote, or 0. */
static pid_t bl_lock_holder(const char *path) {
    char text[32] = {0};
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return 0;
    ssize_t n = pread(f, text, sizeof(text) - 1, 0);
    close(f);
    return n > 0 ? (pid_t)atol(text) : 0;
}

int bl_dir_lock(const char *dir, bool exclusive, int *fd, pid_t *holder) {
    char path[BL_LOCK_PATH_MAX];
    *holder = 0;
    *fd = -1;
    if (snprintf(path, sizeof(path), "%s/%s", dir, BL_LOCK_FILE) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) return -errno;
    /* A writer waits a little: a killed server's checkpoint child shares its lock until the
     * kernel has delivered its own SIGKILL (PR_SET_PDEATHSIG), a few milliseconds. */
    uint32_t waits = exclusive ? BL_LOCK_WAIT_MS / 10 : 0;
    while (flock(d, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK && waits-- > 0) {
            usleep(10000);
            continue;
        }
        int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        if (rc == -EBUSY) *holder = bl_lock_holder(path);
        close(d);
        return rc;
    }
    if (exclusive) { /* the pid is a hint for the message of the next one */
        int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (f >= 0) {
            char text[32];
            int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
            if (write(f, text, (size_t)n) != n) { /* a hint only */
            }
            close(f);
        }
    }
    *fd = d;
    return 0;
}

void bl_dir_lock_note(const char *dir, const char *text) {
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", dir, BL_LOCK_FILE) >= (int)sizeof(path)) return;
    int f = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (f < 0) return;
    if (write(f, text, strlen(text)) < 0) { /* a hint only */
    }
    close(f);
}
