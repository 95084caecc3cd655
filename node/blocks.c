/*
 * Block headers by height (see blocks.h).
 */
#include "node/blocks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BL_BLOCKS_FILE "blocks.hdr"

int bl_blocks_open(bl_blocks_t *blocks, const bl_io_t *io, const char *dir, bl_blocks_mode_t mode) {
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/%s", dir, BL_BLOCKS_FILE) >= (int)sizeof(path))
        return -ENAMETOOLONG;
    blocks->io = io;
    int flags = mode == BL_BLOCKS_READ     ? O_RDONLY
                : mode == BL_BLOCKS_CREATE ? O_RDWR | O_CREAT
                                           : O_RDWR;
    blocks->fd = io->open(io->ctx, path, flags | O_CLOEXEC, 0644);
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

int bl_blocks_acknowledged(bl_blocks_t *blocks, uint64_t *height) {
    /* Backwards from the end, a chunk of entries at a time. */
    enum { CHUNK = 512 };
    bl_block_header_t *chunk = malloc(CHUNK * sizeof(bl_block_header_t));
    if (chunk == NULL) return -ENOMEM;
    uint64_t end = blocks->count;
    int rc = 0;
    *height = 0;
    while (end > 0 && rc == 0 && *height == 0) {
        uint64_t start = end > CHUNK ? end - CHUNK : 0;
        size_t size = (size_t)(end - start) * sizeof(bl_block_header_t);
        ssize_t n = bl_io_pread_all(blocks->io, blocks->fd, chunk, size,
                                    (off_t)(start * sizeof(bl_block_header_t)));
        rc = n < 0 ? (int)n : (size_t)n != size ? -EIO : 0; /* -EIO: it shrank under us */
        for (uint64_t i = end - start; rc == 0 && i > 0 && *height == 0; i--) {
            const uint8_t *entry = (const uint8_t *)&chunk[i - 1];
            for (size_t b = 0; b < sizeof(bl_block_header_t) && *height == 0; b++)
                if (entry[b] != 0) *height = start + i;
        }
        end = start;
    }
    free(chunk);
    return rc;
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
