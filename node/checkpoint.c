/*
 * Checkpoint files (see checkpoint.h): write (atomically, by rename), fork a writer, list,
 * load, prune.
 *
 * The forked child only calls write-side system calls and _exit: no allocation, no locks, no
 * io_uring, so it is safe to fork from a process with other threads.
 */
#define _GNU_SOURCE
#include "node/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/assert.h"

#define BL_CHECKPOINT_PATH_MAX 4096u

static int bl_checkpoint_path(char *path, const char *dir, uint64_t height, const char *suffix) {
    int n = snprintf(path, BL_CHECKPOINT_PATH_MAX, "%s/checkpoint-%020" PRIu64 ".%s", dir, height,
                     suffix);
    return n > 0 && n < (int)BL_CHECKPOINT_PATH_MAX ? 0 : -ENAMETOOLONG;
}

int bl_checkpoint_write(const bl_io_t *io, const char *dir, const bl_engine_t *engine,
                        uint64_t height) {
    char tmp[BL_CHECKPOINT_PATH_MAX], path[BL_CHECKPOINT_PATH_MAX];
    int rc = bl_checkpoint_path(tmp, dir, height, "tmp");
    if (rc == 0) rc = bl_checkpoint_path(path, dir, height, "img");
    if (rc != 0) return rc;
    int fd = io->open(io->ctx, tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return fd;
    rc = bl_engine_image_write(engine, fd, height);
    if (rc == 0) rc = io->fsync(io->ctx, fd);
    int rc_close = io->close(io->ctx, fd);
    if (rc == 0) rc = rc_close;
    if (rc == 0) rc = io->rename(io->ctx, tmp, path);
    if (rc == 0) rc = bl_io_dir_sync(io, dir);
    if (rc != 0) (void)io->unlink(io->ctx, tmp);
    return rc;
}

pid_t bl_checkpoint_fork(const bl_io_t *io, const char *dir, const bl_engine_t *engine,
                         uint64_t height) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        /* A writer whose node died stops: the restarted node recovers and checkpoints on its
         * own, and an orphan would hold the old memory and race its cleanup of .tmp files. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(1);
        int rc = bl_checkpoint_write(io, dir, engine, height);
        _exit(rc == 0 ? 0 : -rc < 256 ? -rc : EIO); /* the errno, for the parent to say */
    }
    return pid;
}

static int bl_u64_descending(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y;
}

int bl_checkpoint_list(const bl_io_t *io, const char *dir, uint64_t *heights, uint32_t max,
                       bool tidy) {
    DIR *d = opendir(dir);
    if (d == NULL) return -errno;
    uint32_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        uint64_t height;
        char suffix[4] = {0};
        if (strlen(entry->d_name) != 35 ||
            sscanf(entry->d_name, "checkpoint-%20" SCNu64 ".%3s", &height, suffix) != 2)
            continue;
        if (strcmp(suffix, "tmp") == 0) { /* an interrupted checkpoint */
            char path[BL_CHECKPOINT_PATH_MAX];
            if (tidy && bl_checkpoint_path(path, dir, height, "tmp") == 0)
                (void)io->unlink(io->ctx, path);
            continue;
        }
        if (strcmp(suffix, "img") != 0) continue;
        if (count == max) {
            closedir(d);
            return -EMFILE;
        }
        heights[count++] = height;
    }
    closedir(d);
    qsort(heights, count, sizeof(uint64_t), bl_u64_descending);
    return (int)count;
}

int bl_checkpoint_load(const bl_io_t *io, const char *dir, uint64_t height, bl_engine_t *engine) {
    char path[BL_CHECKPOINT_PATH_MAX];
    int rc = bl_checkpoint_path(path, dir, height, "img");
    if (rc != 0) return rc;
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0) return fd;
    uint64_t image_height = 0;
    rc = bl_engine_image_read(engine, fd, &image_height);
    io->close(io->ctx, fd);
    if (rc == 0 && image_height != height) rc = -EBADMSG; /* the name and the image disagree */
    return rc;
}

int bl_checkpoint_remove_below(const bl_io_t *io, const char *dir, uint64_t height) {
    uint64_t heights[BL_CHECKPOINTS_MAX];
    int count = bl_checkpoint_list(io, dir, heights, BL_CHECKPOINTS_MAX, true);
    if (count < 0) return count;
    int removed = 0;
    for (int i = 0; i < count; i++) {
        if (heights[i] >= height) continue;
        char path[BL_CHECKPOINT_PATH_MAX];
        int rc = bl_checkpoint_path(path, dir, heights[i], "img");
        if (rc == 0) rc = io->unlink(io->ctx, path);
        if (rc != 0 && rc != -ENOENT) return rc;
        removed++;
    }
    return removed > 0 ? bl_io_dir_sync(io, dir) : 0;
}
