/*
 * The disk seam: every file operation of the log and of checkpoints goes through this table,
 * so tests can make any of them fail (EIO, ENOSPC), write only part of a buffer (a torn
 * write), or count them. bl_io_system is the real thing.
 *
 * Each function returns what the system call returns, but as 0 / a byte count or -errno,
 * never through errno. `append_fault` is consulted before each log append is handed to
 * io_uring: 0 lets it go; -errno fails it without writing; a positive n smaller than the
 * record writes only its first n bytes (synchronously) and then fails it with -EIO.
 */
#ifndef BALLAST_WAL_IO_H
#define BALLAST_WAL_IO_H

#include <stdint.h>
#include <sys/types.h>

typedef struct bl_io {
    void *ctx;
    int (*open)(void *ctx, const char *path, int flags, mode_t mode);
    int (*close)(void *ctx, int fd);
    ssize_t (*pread)(void *ctx, int fd, void *buffer, size_t size, off_t offset);
    ssize_t (*pwrite)(void *ctx, int fd, const void *buffer, size_t size, off_t offset);
    int (*fdatasync)(void *ctx, int fd);
    int (*fsync)(void *ctx, int fd);
    int (*fallocate)(void *ctx, int fd, off_t size);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int64_t (*append_fault)(void *ctx, uint64_t offset, uint32_t size);
} bl_io_t;

extern const bl_io_t bl_io_system;

/* Writes all of `size` bytes at `offset` (looping over short writes); 0 or -errno. */
int bl_io_pwrite_all(const bl_io_t *io, int fd, const void *buffer, size_t size, off_t offset);
/* Reads up to `size` bytes at `offset` (looping until end of file); the count or -errno. */
ssize_t bl_io_pread_all(const bl_io_t *io, int fd, void *buffer, size_t size, off_t offset);
/* fsync of the directory holding `path`'s entry, so a create, rename or unlink is durable. */
int bl_io_dir_sync(const bl_io_t *io, const char *dir);

#endif /* BALLAST_WAL_IO_H */
