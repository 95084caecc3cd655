/*
 * Block headers by height, for lookup_blocks: the file `blocks.hdr` in the data directory
 * holds the BlockHeader of height h at offset (h - 1) x 128.
 *
 * The log is the truth and this file a copy the node keeps beside it: a header is written
 * (to the page cache) once its block is durable and before any of its requests is answered,
 * the file is synced within 0.1 s under load and 2 ms after the node goes idle, and before a
 * checkpoint lets old log segments go; recovery rewrites the headers of every block
 * it replays. So every header the log still holds is right, and every older one was made
 * durable before its log was removed.
 *
 * It is also the evidence that outlives each block's fdatasync: an entry at height h that is
 * not all zeros says block h was durable and acknowledged (bl_blocks_acknowledged). A log
 * that ends below it has lost acknowledged blocks, and recovery refuses instead of cutting
 * them as a torn tail (log.h). Entries of zeros (a hole below the oldest segment, or a file
 * extended by a crash before its data reached the disk) say nothing.
 */
#ifndef BALLAST_NODE_BLOCKS_H
#define BALLAST_NODE_BLOCKS_H

#include <stdbool.h>
#include <stdint.h>

#include "ballast/protocol.h"
#include "wal/io.h"

typedef struct bl_blocks {
    const bl_io_t *io;
    int fd;
    uint64_t count; /* headers held: heights 1..count */
} bl_blocks_t;

typedef enum bl_blocks_mode {
    BL_BLOCKS_CREATE,   /* read and write; created when missing */
    BL_BLOCKS_EXISTING, /* read and write; -ENOENT when missing */
    BL_BLOCKS_READ      /* read only; -ENOENT when missing */
} bl_blocks_mode_t;

/* Opens dir/blocks.hdr. 0, -ENOENT or -errno. */
int bl_blocks_open(bl_blocks_t *blocks, const bl_io_t *io, const char *dir, bl_blocks_mode_t mode);
/* The height of the last entry that is not all zeros (0 for none) in *height: blocks up to it
 * were acknowledged. 0 or -errno. */
int bl_blocks_acknowledged(bl_blocks_t *blocks, uint64_t *height);
void bl_blocks_close(bl_blocks_t *blocks);
/* Writes the header of its height (not synced). 0 or -errno. */
int bl_blocks_put(bl_blocks_t *blocks, const bl_block_header_t *header);
/* The header of `height`: 0, -ENOENT (not held) or -errno. */
int bl_blocks_get(bl_blocks_t *blocks, uint64_t height, bl_block_header_t *header);
/* Keeps heights 1..count only. 0 or -errno. */
int bl_blocks_truncate(bl_blocks_t *blocks, uint64_t count);
int bl_blocks_sync(bl_blocks_t *blocks);

#endif /* BALLAST_NODE_BLOCKS_H */
