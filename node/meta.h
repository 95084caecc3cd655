/*
 * ballast.meta: what a data directory is, fixed when it is created.
 *
 * Format (128 bytes, little-endian): magic "BLMETA01", accounts_max u64, transfers_max u64,
 * 96 reserved zero bytes, XXH3-64 of bytes 0..119. Capacities live here because they are part
 * of the state: capacity_exhausted depends on them, so a replay must use the same ones.
 * Written once, atomically (tmp, fsync, rename, directory fsync).
 */
#ifndef BALLAST_NODE_META_H
#define BALLAST_NODE_META_H

#include <stdint.h>

#include "wal/io.h"

typedef struct bl_meta_capacity {
    uint64_t accounts_max;
    uint64_t transfers_max;
} bl_meta_capacity_t;

/* 0; -ENOENT when there is none; -EBADMSG when it is damaged or not ballast's; -errno. */
int bl_meta_read(const bl_io_t *io, const char *dir, bl_meta_capacity_t *capacity);
int bl_meta_write(const bl_io_t *io, const char *dir, const bl_meta_capacity_t *capacity);

#endif /* BALLAST_NODE_META_H */
