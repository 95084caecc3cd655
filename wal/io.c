/*
 * The real disk seam: thin wrappers that turn errno into -errno, and helpers that loop over
 * short reads and writes. See io.h.
 */
#define _GNU_SOURCE
#include "wal/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int bl_sys_open(void *ctx, const char *path, int flags, mode_t mode) {
    (void)ctx;
    int fd = open(path, flags | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

static int bl_sys_close(void *ctx, int fd) {
    (void)ctx;
    return close(fd) < 0 ? -errno : 0;
}

static ssize_t bl_sys_pread(void *ctx, int fd, void *buffer, size_t size, off_t offset) {
    (void)ctx;
    ssize_t n = pread(fd, buffer, size, offset);
    return n < 0 ? -errno : n;
}

static ssize_t bl_sys_pwrite(void *ctx, int fd, const void *buffer, size_t size, off_t offset) {
    (void)ctx;
    ssize_t n = pwrite(fd, buffer, size, offset);
    return n < 0 ? -errno : n;
}

static int bl_sys_fdatasync(void *ctx, int fd) {
    (void)ctx;
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int bl_sys_fsync(void *ctx, int fd) {
    (void)ctx;
    return fsync(fd) < 0 ? -errno : 0;
}

static int bl_sys_fallocate(void *ctx, int fd, off_t size) {
    (void)ctx;
    if (fallocate(fd, 0, 0, size) == 0) return 0;
    if (errno != EOPNOTSUPP) return -errno;
    return ftruncate(fd, size) < 0 ? -errno : 0; /* filesystems without fallocate */
}

static int bl_sys_rename(void *ctx, const char *from, const char *to) {
    (void)ctx;
    return rename(from, to) < 0 ? -errno : 0;
}

static int bl_sys_unlink(void *ctx, const char *path) {
    (void)ctx;
    return unlink(path) < 0 ? -errno : 0;
}

static int64_t bl_sys_append_fault(void *ctx, uint64_t offset, uint32_t size) {
    (void)ctx;
    (void)offset;
    (void)size;
    return 0;
}

const bl_io_t bl_io_system = {
    .ctx = NULL,
    .open = bl_sys_open,
    .close = bl_sys_close,
    .pread = bl_sys_pread,
    .pwrite = bl_sys_pwrite,
    .fdatasync = bl_sys_fdatasync,
    .fsync = bl_sys_fsync,
    .fallocate = bl_sys_fallocate,
    .rename = bl_sys_rename,
    .unlink = bl_sys_unlink,
    .append_fault = bl_sys_append_fault,
};

int bl_io_pwrite_all(const bl_io_t *io, int fd, const void *buffer, size_t size, off_t offset) {
    const uint8_t *p = buffer;
    while (size > 0) {
        ssize_t n = io->pwrite(io->ctx, fd, p, size, offset);
        if (n == -EINTR) continue;
        if (n < 0) return (int)n;
        if (n == 0) return -EIO;
        p += n;
        offset += n;
        size -= (size_t)n;
    }
    return 0;
}

ssize_t bl_io_pread_all(const bl_io_t *io, int fd, void *buffer, size_t size, off_t offset) {
    uint8_t *p = buffer;
    size_t done = 0;
    while (done < size) {
        ssize_t n = io->pread(io->ctx, fd, p + done, size - done, offset + (off_t)done);
        if (n == -EINTR) continue;
        if (n < 0) return n;
        if (n == 0) break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int bl_io_dir_sync(const bl_io_t *io, const char *dir) {
    int fd = io->open(io->ctx, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return fd;
    int rc = io->fsync(io->ctx, fd);
    io->close(io->ctx, fd);
    return rc;
}
