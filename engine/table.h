/*
 * Slots, the id indexes each partition keeps (bl_index_t over bl_records_t), the tables'
 * memory, and the block-local maps (bl_map_t): all implemented in table.c.
 */
#ifndef BALLAST_ENGINE_TABLE_H
#define BALLAST_ENGINE_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/assert.h"
#include "common/hash.h"
#include "engine/engine.h"
#include "engine/store.h"

#define BL_SLOT_NONE UINT32_MAX

/* Pending state of a transfer slot (transfer_state[]). */
enum {
    BL_STATE_NONE = 0, /* not a pending transfer */
    BL_STATE_PENDING = 1,
    BL_STATE_POSTED = 2,
    BL_STATE_VOIDED = 3,
    BL_STATE_EXPIRED = 4,
};

/* ------------------------------------------------------------------------------------------ */
/* Indexes (table.c).                                                                         */

typedef struct bl_index {
    uint64_t *buckets; /* low 32 bits: slot + 1 of the chain's first record (0: empty);
                          high 32 bits: filter of the chain's ids (bl_index_filter) */
    uint64_t mask;     /* buckets - 1 */
} bl_index_t;

/* The records an index points into: records of 2^shift bytes with the id (or key) at
 * offset 0. With `fingerprints` (transfers), a chain walk compares a record's id only when
 * its fingerprint matches, so a new id is shown new from memory alone, never from a record
 * (which may be cold, in the store); a record it does read goes through the store's check. */
typedef struct bl_records {
    uint8_t *base;
    uint32_t *next;          /* slot + 1 of the next record in the same bucket; 0: end of chain */
    uint16_t *fingerprints;  /* per slot: bl_fingerprint of its id's hash, or NULL */
    const bl_store_t *store; /* where the records are cold, or NULL */
    uint32_t shift;          /* log2 of the record size: 7 for accounts and transfers */
} bl_records_t;

/* 16 bits of an id's hash independent of its bucket and partition bits (a 64-bit mix of the
 * whole hash, high half). A chain walk reads a record only when a fingerprint matches: for a
 * new id, only past both filter bits (1-3%) and then with odds 2^-16 per entry, so a new id
 * reads a record about once in 4 million; 2 bytes per transfer. */
static inline uint16_t bl_fingerprint(uint64_t hash) {
    return (uint16_t)(((hash ^ (hash >> 31)) * 0xBF58476D1CE4E5B9ull) >> 48);
}

_Static_assert(offsetof(bl_account_t, id) == 0 && offsetof(bl_transfer_t, id) == 0,
               "indexes read the id at offset 0 of a record");

static inline const bl_u128_t *bl_records_id(const bl_records_t *records, uint32_t slot) {
    return (const bl_u128_t *)(records->base + ((uint64_t)slot << records->shift));
}

/* An id's filter bits in its bucket's high half: two of the 32, from hash bits 32..41 (the
 * bucket uses the low bits, the partition the high ones). A transfer bucket holds 1 to 2 ids
 * on average (engine.c), so a new id finds both its bits set (and walks the chain) 1-3% of
 * the time. */
static inline uint64_t bl_index_filter(uint64_t hash) {
    return (1ull << (32 + ((hash >> 32) & 31))) | (1ull << (32 + ((hash >> 37) & 31)));
}

static inline __attribute__((always_inline)) void bl_index_prefetch(const bl_index_t *index,
                                                                    uint64_t hash) {
    __builtin_prefetch(&index->buckets[hash & index->mask]);
}

/* The first slot of the chain that may hold the id of `hash`, or BL_SLOT_NONE when the
 * bucket's filter rules it out. */
static inline uint32_t bl_index_head(const bl_index_t *index, uint64_t hash) {
    uint64_t bucket = index->buckets[hash & index->mask];
    uint64_t filter = bl_index_filter(hash);
    if ((bucket & filter) != filter) return BL_SLOT_NONE;
    return (uint32_t)bucket - 1u;
}

/* Walks the chain from `slot` (a bucket head) to the record with `id` (whose hash is
 * `hash`); BL_SLOT_NONE if none. */
static inline uint32_t bl_index_walk(const bl_records_t *records, uint32_t slot, uint64_t hash,
                                     bl_u128_t id) {
    if (records->fingerprints != NULL) {
        uint16_t fingerprint = bl_fingerprint(hash);
        for (; slot != BL_SLOT_NONE; slot = records->next[slot] - 1u) {
            if (records->fingerprints[slot] != fingerprint) continue;
            if (records->store != NULL && bl_store_cold(records->store, slot)) {
                bl_u128_t copy[BL_RECORD_SIZE / sizeof(bl_u128_t)];
                bl_store_read_cold(records->store, slot, copy);
                if (copy[0] == id) return slot;
                continue;
            }
            if (*bl_records_id(records, slot) == id) return slot;
        }
        return BL_SLOT_NONE;
    }
    for (; slot != BL_SLOT_NONE; slot = records->next[slot] - 1u) {
        if (*bl_records_id(records, slot) == id) return slot;
    }
    return BL_SLOT_NONE;
}

static inline uint32_t bl_index_find(const bl_index_t *index, const bl_records_t *records,
                                     uint64_t hash, bl_u128_t id) {
    return bl_index_walk(records, bl_index_head(index, hash), hash, id);
}

/* Makes `link` (an entry + 1) the first of `bucket`'s chain and adds `filter` to its filter
 * bits; returns the link to the old first, for the new entry's next. */
static inline uint32_t bl_bucket_push(uint64_t *bucket, uint64_t filter, uint32_t link) {
    uint32_t old = (uint32_t)*bucket;
    *bucket = (*bucket & 0xFFFFFFFF00000000ull) | filter | link;
    return old;
}

/* bl_bucket_push into the bucket of `hash`, with the id's filter bit. */
static inline uint32_t bl_index_push(bl_index_t *index, uint64_t hash, uint32_t link) {
    return bl_bucket_push(&index->buckets[hash & index->mask], bl_index_filter(hash), link);
}

/* Links `slot` (whose record is already written) into the bucket of `hash`. */
static inline void bl_index_insert(bl_index_t *index, bl_records_t *records, uint64_t hash,
                                   uint32_t slot) {
    if (records->fingerprints != NULL) records->fingerprints[slot] = bl_fingerprint(hash);
    records->next[slot] = bl_index_push(index, hash, slot + 1);
}

int bl_index_init(bl_index_t *index, uint64_t buckets);
void bl_index_deinit(bl_index_t *index);

void *bl_table_reserve(uint64_t bytes);
void bl_table_release(void *memory, uint64_t bytes);

/* ------------------------------------------------------------------------------------------ */
/* Block-local maps (table.c).                                                                */

/* Map from a 128-bit key (an id, or a slot) with its hash to a 32-bit value. Entries whose
 * generation is not the map's are empty, so clearing is O(1): bump `gen`. Open addressing with
 * linear probing at load at most 1/2; no removal. */
typedef struct bl_map_entry {
    bl_u128_t key;
    uint32_t gen;
    uint32_t value;
    uint64_t pad;
} bl_map_entry_t;

typedef struct bl_map {
    bl_map_entry_t *entries;
    uint64_t mask;
    uint32_t gen;
    uint32_t count;
} bl_map_t;

int bl_map_init(bl_map_t *map, uint64_t capacity);
void bl_map_deinit(bl_map_t *map);
void bl_map_clear(bl_map_t *map);

static inline uint64_t bl_map_slot_hash(uint32_t slot) {
    uint64_t h = (uint64_t)slot * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static inline bl_map_entry_t *bl_map_probe(bl_map_t *map, uint64_t hash, bl_u128_t key) {
    uint64_t i = hash & map->mask;
    for (;;) {
        bl_map_entry_t *entry = &map->entries[i];
        if (entry->gen != map->gen || entry->key == key) return entry;
        i = (i + 1) & map->mask;
    }
}

/* The entry a probe for `hash` starts at, into the cache ahead of the probe. */
static inline __attribute__((always_inline)) void bl_map_prefetch(const bl_map_t *map,
                                                                  uint64_t hash) {
    __builtin_prefetch(&map->entries[hash & map->mask], 1);
}

/* The value stored for `key`, or BL_SLOT_NONE. */
static inline uint32_t bl_map_find(bl_map_t *map, uint64_t hash, bl_u128_t key) {
    if (map->count == 0) return BL_SLOT_NONE;
    bl_map_entry_t *entry = bl_map_probe(map, hash, key);
    return entry->gen == map->gen ? entry->value : BL_SLOT_NONE;
}

/* Sets `key` to `value`; returns the value it had, or BL_SLOT_NONE. */
static inline uint32_t bl_map_put(bl_map_t *map, uint64_t hash, bl_u128_t key, uint32_t value) {
    bl_map_entry_t *entry = bl_map_probe(map, hash, key);
    uint32_t previous = BL_SLOT_NONE;
    if (entry->gen == map->gen) {
        previous = entry->value;
    } else {
        BL_ASSERT((uint64_t)map->count * 2 < map->mask + 1);
        entry->key = key;
        entry->gen = map->gen;
        map->count++;
    }
    entry->value = value;
    return previous;
}

#endif /* BALLAST_ENGINE_TABLE_H */
