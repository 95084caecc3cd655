/*
 * Hashes used by ballast, all from xxHash, inlined: XXH3-64 for table indexes and frame
 * checksums, XXH3-128 for the state digest. Seeds are always 0: a hash that varied per process
 * would make state layout, and so iteration order, differ between replays.
 */
#ifndef BALLAST_COMMON_HASH_H
#define BALLAST_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ballast/protocol.h"

static inline uint64_t bl_hash64(const void *data, size_t size) {
    return XXH3_64bits(data, size);
}

static inline uint64_t bl_hash_id(bl_u128_t id) {
    return XXH3_64bits(&id, sizeof(id));
}

/* XXH3-128 as the integer high64 * 2^64 + low64, the form the state digest sums. */
static inline bl_u128_t bl_hash128(const void *data, size_t size) {
    XXH128_hash_t h = XXH3_128bits(data, size);
    return ((bl_u128_t)h.high64 << 64) | h.low64;
}

#endif /* BALLAST_COMMON_HASH_H */
