/*
 * Block headers by height (see blocks.h).
 */
#include "wal/blocks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BL_BLOCKS_FILE "blocks.hdr"

int bl_blocks_open(bl_blocks_t *blocks, const bl_io_t *io, const char *dir) {
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", dir, BL_BLOCKS_FILE) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    blocks->io = io;
    blocks->fd = io->open(io->ctx, path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (blocks->fd < 0) return blocks->fd;
    struct stat st;
    if (fstat(blocks->fd, &st) != 0) {
        int rc = -errno;
        bl_blocks_close(blocks);
        return rc;
    }
    blocks->count = (uint64_t)st.st_size / sizeof(bl_block_header_t); /* a torn tail is cut */
    return 0;
}

void bl_blocks_close(bl_blocks_t *blocks) {
    if (blocks->fd >= 0) blocks->io->close(blocks->io->ctx, blocks->fd);
    blocks->fd = -1;
}

int bl_blocks_put(bl_blocks_t *blocks, const bl_block_header_t *header) {
    if (header->height == 0) return -EINVAL;
    int rc = bl_io_pwrite_all(blocks->io, blocks->fd, header, sizeof(*header),
                              (off_t)((header->height - 1) * sizeof(*header)));
    if (rc == 0 && header->height > blocks->count) blocks->count = header->height;
    return rc;
}

int bl_blocks_get(bl_blocks_t *blocks, uint64_t height, bl_block_header_t *header) {
    if (height == 0 || height > blocks->count) return -ENOENT;
    ssize_t n = bl_io_pread_all(blocks->io, blocks->fd, header, sizeof(*header),
                                (off_t)((height - 1) * sizeof(*header)));
    if (n < 0) return (int)n;
    /* A hole (heights below the oldest log segment that were never written here) reads as
     * zeros: not held. */
    return n == (ssize_t)sizeof(*header) && header->height == height ? 0 : -ENOENT;
}

int bl_blocks_truncate(bl_blocks_t *blocks, uint64_t count) {
    if (ftruncate(blocks->fd, (off_t)(count * sizeof(bl_block_header_t))) != 0) return -errno;
    blocks->count = count;
    return 0;
}

int bl_blocks_sync(bl_blocks_t *blocks) {
    return blocks->io->fdatasync(blocks->io->ctx, blocks->fd);
}
