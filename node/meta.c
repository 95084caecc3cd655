/*
 * ballast.meta (see meta.h).
 */
#include "node/meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/hash.h"

#define BL_META_MAGIC "BLMETA01"
#define BL_META_PATH_MAX 4200u

typedef struct bl_meta {
    uint8_t magic[8];
    uint64_t accounts_max;
    uint64_t transfers_max;
    uint8_t reserved[96];
    uint64_t checksum; /* XXH3-64 of bytes 0..119 */
} bl_meta_t;

_Static_assert(sizeof(bl_meta_t) == 128, "meta size");

static int bl_meta_path(char *path, const char *dir, const char *suffix) {
    int n = snprintf(path, BL_META_PATH_MAX, "%s/ballast.meta%s", dir, suffix);
    return n > 0 && n < (int)BL_META_PATH_MAX ? 0 : -ENAMETOOLONG;
}

int bl_meta_read(const bl_io_t *io, const char *dir, bl_meta_capacity_t *capacity) {
    char path[BL_META_PATH_MAX];
    int rc = bl_meta_path(path, dir, "");
    if (rc != 0) return rc;
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0) return fd;
    bl_meta_t meta;
    ssize_t n = bl_io_pread_all(io, fd, &meta, sizeof(meta), 0);
    io->close(io->ctx, fd);
    if (n < 0) return (int)n;
    if (n != sizeof(meta) || memcmp(meta.magic, BL_META_MAGIC, 8) != 0 ||
        meta.checksum != bl_hash64(&meta, offsetof(bl_meta_t, checksum)))
        return -EBADMSG;
    capacity->accounts_max = meta.accounts_max;
    capacity->transfers_max = meta.transfers_max;
    return 0;
}

int bl_meta_write(const bl_io_t *io, const char *dir, const bl_meta_capacity_t *capacity) {
    char path[BL_META_PATH_MAX], tmp[BL_META_PATH_MAX];
    int rc = bl_meta_path(path, dir, "");
    if (rc == 0) rc = bl_meta_path(tmp, dir, ".tmp");
    if (rc != 0) return rc;
    bl_meta_t meta;
    memset(&meta, 0, sizeof(meta));
    memcpy(meta.magic, BL_META_MAGIC, 8);
    meta.accounts_max = capacity->accounts_max;
    meta.transfers_max = capacity->transfers_max;
    meta.checksum = bl_hash64(&meta, offsetof(bl_meta_t, checksum));
    int fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return fd;
    rc = bl_io_pwrite_all(io, fd, &meta, sizeof(meta), 0);
    if (rc == 0) rc = io->fsync(io->ctx, fd);
    io->close(io->ctx, fd);
    if (rc == 0) rc = io->rename(io->ctx, tmp, path);
    if (rc == 0) rc = bl_io_dir_sync(io, dir);
    return rc;
}
