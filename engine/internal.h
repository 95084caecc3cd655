/*
 * Engine internals shared by the pipeline stages (table.c, expiry.c, gather.c, decide.c,
 * apply.c, engine.c). Nothing here is visible outside engine/.
 *
 * State layout
 * ------------
 * Records live in two global arrays indexed by slot: accounts[] and transfers[]. Slots are
 * handed out densely, in commit order, by the decide stage, so transfers[] is in timestamp
 * order and a slot never moves. A slot's record belongs to the partition its id hashes to:
 * only that partition's apply step writes it, and only its gather step reads its mutable parts
 * (account balances, a pending transfer's state). Transfer records never change once written,
 * so decide may read any of them directly (for `exists` and post/void comparisons); the same
 * holds for the immutable fields of an account (id, user_data, ledger, code, flags).
 *
 * Each partition indexes its own ids with a chained hash table: buckets[] (one 64-bit word
 * per bucket: the chain's first slot and a filter) and a shared next[] array parallel to the
 * records. Chaining rather than open addressing because a
 * partition's share of the ids is not bounded by capacity / N (ids are chosen by clients):
 * with chains, any distribution of ids over partitions fits as long as the global count does,
 * so capacity_exhausted depends only on the global count and results never depend on N.
 * Links store slot + 1, so 0 means "none" and freshly mapped zero pages are empty buckets.
 * A bucket also holds a 32-bit filter with one bit set per id in its chain, so a lookup of an
 * id that is not there (every new id) almost never reads a record.
 *
 * The block pipeline's working memory (bl_block_t) is reserved once, sized by
 * block_events_max, and reused by every block.
 */
#ifndef BALLAST_ENGINE_INTERNAL_H
#define BALLAST_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/assert.h"
#include "common/hash.h"
#include "engine/engine.h"
#include "engine/ring.h"

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
                          high 32 bits: filter of the chain's ids (bl_index_filter_bit) */
    uint64_t mask;     /* buckets - 1 */
} bl_index_t;

/* The records an index points into: records of 2^shift bytes with the id (or key) at
 * offset 0. */
typedef struct bl_records {
    uint8_t *base;
    uint32_t *next; /* slot + 1 of the next record in the same bucket; 0: end of chain */
    uint32_t shift; /* log2 of the record size: 7 for accounts and transfers */
} bl_records_t;

_Static_assert(offsetof(bl_account_t, id) == 0 && offsetof(bl_transfer_t, id) == 0,
               "indexes read the id at offset 0 of a record");

static inline const bl_u128_t *bl_records_id(const bl_records_t *records, uint32_t slot) {
    return (const bl_u128_t *)(records->base + ((uint64_t)slot << records->shift));
}

/* Bits 32..36 of the hash: the bucket uses the low bits, the partition the high ones. */
static inline uint64_t bl_index_filter_bit(uint64_t hash) {
    return 1ull << (32 + ((hash >> 32) & 31));
}

static inline __attribute__((always_inline)) void bl_index_prefetch(const bl_index_t *index,
                                                                   uint64_t hash) {
    __builtin_prefetch(&index->buckets[hash & index->mask]);
}

/* The first slot of the chain that may hold the id of `hash`, or BL_SLOT_NONE when the
 * bucket's filter rules it out. */
static inline uint32_t bl_index_head(const bl_index_t *index, uint64_t hash) {
    uint64_t bucket = index->buckets[hash & index->mask];
    if (!(bucket & bl_index_filter_bit(hash))) return BL_SLOT_NONE;
    return (uint32_t)bucket - 1u;
}

/* Walks the chain from `slot` (a bucket head) to the record with `id`; BL_SLOT_NONE if none. */
static inline uint32_t bl_index_walk(const bl_records_t *records, uint32_t slot, bl_u128_t id) {
    while (slot != BL_SLOT_NONE) {
        if (*bl_records_id(records, slot) == id) return slot;
        slot = records->next[slot] - 1u;
    }
    return BL_SLOT_NONE;
}

static inline uint32_t bl_index_find(const bl_index_t *index, const bl_records_t *records,
                                     uint64_t hash, bl_u128_t id) {
    return bl_index_walk(records, bl_index_head(index, hash), id);
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
    return bl_bucket_push(&index->buckets[hash & index->mask], bl_index_filter_bit(hash), link);
}

/* Links `slot` (whose record is already written) into the bucket of `hash`. */
static inline void bl_index_insert(bl_index_t *index, bl_records_t *records, uint64_t hash,
                                   uint32_t slot) {
    records->next[slot] = bl_index_push(index, hash, slot + 1);
}

int bl_index_init(bl_index_t *index, uint64_t buckets);
void bl_index_deinit(bl_index_t *index);

void *bl_table_reserve(uint64_t bytes);
void bl_table_release(void *memory, uint64_t bytes);

/* ------------------------------------------------------------------------------------------ */
/* Expiry queue (expiry.c): a binary min-heap of (deadline, slot), owned by decide.           */

typedef struct bl_expiry_entry {
    uint64_t deadline;
    uint32_t slot;
    uint32_t partition;
} bl_expiry_entry_t;

typedef struct bl_expiry {
    bl_expiry_entry_t *entries;
    uint64_t count;
    uint64_t capacity;
} bl_expiry_t;

int bl_expiry_init(bl_expiry_t *expiry, uint64_t capacity);
void bl_expiry_deinit(bl_expiry_t *expiry);
void bl_expiry_push(bl_expiry_t *expiry, bl_expiry_entry_t entry);
/* Pops the least entry if its deadline is at or before `timestamp`. */
bool bl_expiry_pop_due(bl_expiry_t *expiry, uint64_t timestamp, bl_expiry_entry_t *entry);

/* ------------------------------------------------------------------------------------------ */
/* Per-account history (history.c).                                                           */

/* Each account has three lists, in timestamp order: the slots of the transfers it is the debit
 * side of (a slot list, bl_slot_list_t), of those it is the credit side of, and (history flag
 * only) its balance entries (a list of the balances pool). */
enum { BL_LIST_DEBITS = 0, BL_LIST_CREDITS = 1 };

typedef struct bl_list {
    uint64_t offset; /* of its block in the pool (0: no block yet) */
    uint32_t count;
    /* Pools of elements of at most 4 bytes: the element of a 1-element list. Past
     * BL_LIST_CHUNK elements: the offset of the last chunk in BL_LIST_LAST_UNIT bytes (0: too
     * far for 32 bits), so an append reaches it without reading the directory. */
    uint32_t first;
} bl_list_t;

#define BL_LIST_LAST_UNIT 16u

/* One AccountBalance entry, with what selects it: the transfer that caused it (for an expiry:
 * the pending transfer) and the account's side of that transfer. */
typedef struct bl_balance_entry {
    bl_u128_t debits_pending;
    bl_u128_t debits_posted;
    bl_u128_t credits_pending;
    bl_u128_t credits_posted;
    uint64_t timestamp;
    uint32_t transfer_slot;
    uint32_t side; /* BL_FILTER_DEBITS or BL_FILTER_CREDITS */
} bl_balance_entry_t;

/* List blocks come from a pool per element kind (pool.c): one reservation, a shared bump
 * offset (the only word partitions share; they take chunks from it with an atomic add) and,
 * per partition, a share: the chunk it cuts blocks from and a free list per size class. A
 * list of n <= BL_LIST_CHUNK elements lives in a block of max(4, 2^ceil(log2 n)) elements;
 * outgrowing it moves the list to a block twice the size. A longer list is chunked: its
 * elements are in blocks of BL_LIST_CHUNK, and `offset` is that of its directory, the
 * blocks' offsets in order (uint64_t each), so no element moves again. */
#define BL_POOL_CLASSES 32
#define BL_LIST_MIN 4u /* elements of the smallest block */
#define BL_LIST_CHUNK 64u /* elements of a chunked list's blocks */
#define BL_POOL_CHUNK (256u * 1024) /* bytes a partition takes from the bump offset at a time */

typedef struct bl_pool {
    uint8_t *base;
    uint64_t bytes;
    uint32_t element_size;
    _Atomic uint64_t used; /* bytes handed out from the bump offset */
} bl_pool_t;

/* The size class of a block of `capacity` elements (BL_LIST_MIN << class). */
static inline uint32_t bl_pool_class(uint32_t capacity) {
    return (uint32_t)__builtin_ctz(capacity / BL_LIST_MIN);
}

/* The capacity of the block the next append moves a list of n < BL_LIST_CHUNK elements to,
 * or 0 when the element fits where the list is: its block, or (small: elements of at most 4
 * bytes) the list itself for a first element. */
static inline uint32_t bl_list_next_block(uint32_t n, bool small) {
    if (n == 0) return small ? 0 : BL_LIST_MIN;
    if (n == 1 && small) return BL_LIST_MIN;
    return n >= BL_LIST_MIN && (n & (n - 1)) == 0 ? 2 * n : 0;
}

#define BL_RUN 4u

typedef struct bl_run {
    uint32_t slots[BL_RUN];
} bl_run_t;

/* Runs on their way to the runs pool (a slot list's full run, where its list has room): the
 * run's line is prefetched when the run fills and the run written BL_POOL_LATE runs later, so
 * apply does not stall on the store's miss (the account was last touched many blocks ago:
 * its runs' line is in no cache). `at`: the run's offset in the pool, 0 for none. */
#define BL_POOL_LATE 8u

typedef struct bl_pool_late {
    uint64_t at;
    bl_run_t run;
} bl_pool_late_t;

/* A partition's share of a pool: the rest of its chunk, [next, end), and per size class the
 * offset of its first free block (each holds the next in its first 8 bytes; 0: none). Blocks
 * of one partition's lists thus never share a cache line with another partition's, but at
 * the ends of a chunk or of a block too large for one. In the runs pool also the partition's
 * late stores (the next run queued takes entry late_next % BL_POOL_LATE). */
typedef struct bl_pool_share {
    uint64_t next;
    uint64_t end;
    uint64_t free[BL_POOL_CLASSES];
    bl_pool_late_t late[BL_POOL_LATE];
    uint32_t late_next;
} bl_pool_share_t;

/* Slots (the query indexes' lists), balance entries, and runs of slots (slot lists). */
enum { BL_POOL_SLOTS = 0, BL_POOL_BALANCES = 1, BL_POOL_RUNS = 2, BL_POOLS = 3 };

/* Reserves a pool for `elements_max` elements' worth of blocks (freed blocks included) cut
 * by `partitions` shares. */
int bl_pool_init(bl_pool_t *pool, uint32_t element_size, uint64_t elements_max,
                 uint32_t partitions);
void bl_pool_deinit(bl_pool_t *pool);
/* Appends one element to `list`, whose blocks come from and go back to `share` (that of the
 * partition that owns the list). */
void bl_list_append(bl_pool_t *pool, bl_pool_share_t *share, bl_list_t *list,
                    const void *element);

/* bl_list_append of a slot to an empty list or one that takes a new block or chunk (pool.c). */
void bl_list_append_slot_grow(bl_pool_t *pool, bl_pool_share_t *share, bl_list_t *list,
                              uint32_t slot);

/* Where the next element of `size` bytes (a constant where inlined) goes where the list's
 * block or last chunk has room; NULL where the list takes a new block or chunk (a list of
 * 2 <= n <= BL_LIST_CHUNK elements has a block of max(4, 2^ceil(log2 n)) of them; a longer
 * one a new chunk every BL_LIST_CHUNK). Long lists (chunked) first: a key's list is most
 * often one. */
static inline __attribute__((always_inline)) uint8_t *
bl_list_end_in_place(const bl_pool_t *pool, const bl_list_t *list, uint32_t size) {
    uint32_t n = list->count;
    uint8_t *base = pool->base;
    if (n > BL_LIST_CHUNK && n % BL_LIST_CHUNK != 0) {
        uint64_t chunk = (uint64_t)list->first * BL_LIST_LAST_UNIT;
        if (BL_UNLIKELY(chunk == 0))
            chunk = ((const uint64_t *)(base + list->offset))[n / BL_LIST_CHUNK];
        return base + chunk + (uint64_t)(n % BL_LIST_CHUNK) * size;
    }
    if (n != 0 && n < BL_LIST_CHUNK && bl_list_next_block(n, size <= sizeof(list->first)) == 0)
        return base + list->offset + (uint64_t)n * size;
    return NULL;
}

/* bl_list_append where the list has room (bl_list_end_in_place): true; false, and nothing
 * written, where it takes a new block or chunk. */
static inline __attribute__((always_inline)) bool
bl_list_append_in_place(bl_pool_t *pool, bl_list_t *list, const void *element, uint32_t size) {
    uint8_t *at = bl_list_end_in_place(pool, list, size);
    if (at == NULL) return false;
    memcpy(at, element, size);
    list->count++;
    return true;
}

/* bl_list_append of a slot to a list in a pool of slots, inline unless the list takes a new
 * block. */
static inline __attribute__((always_inline)) void
bl_list_append_slot(bl_pool_t *pool, bl_pool_share_t *share, bl_list_t *list, uint32_t slot) {
    if (!bl_list_append_in_place(pool, list, &slot, sizeof(slot)))
        bl_list_append_slot_grow(pool, share, list, slot);
}

/* Element i < count of `list`. */
static inline const void *bl_list_at(const bl_pool_t *pool, const bl_list_t *list, uint32_t i) {
    uint32_t size = pool->element_size;
    if (list->count == 1 && size <= sizeof(list->first)) return &list->first;
    if (list->count <= BL_LIST_CHUNK) return pool->base + list->offset + (uint64_t)i * size;
    const uint64_t *directory = (const uint64_t *)(pool->base + list->offset);
    return pool->base + directory[i / BL_LIST_CHUNK] + (uint64_t)(i % BL_LIST_CHUNK) * size;
}

/* The first index i of `list` (sorted by `key`) whose key is at least `value` (count if none);
 * key(element) is a slot or timestamp. */
uint32_t bl_list_lower(const bl_pool_t *pool, const bl_list_t *list,
                       uint64_t (*key)(const void *element), uint64_t value);

/* A slot list: an account's debit or credit transfers, kept on the account's own line. Its
 * last count % BL_RUN slots wait in `tail`; the others, in order, are runs of BL_RUN slots
 * (bl_run_t), the elements of a list in the runs pool (offset, and count / BL_RUN of them).
 * So three appends in four write only the line the list header is on, and the fourth moves a
 * full run to the pool: apply misses a list's end once per BL_RUN transfers, not at every
 * one, and that store waits in the share's late stores while its line is fetched. */
typedef struct bl_slot_list {
    uint64_t offset; /* of the runs' list in BL_POOL_RUNS (bl_list_t.offset) */
    uint32_t count;  /* slots */
    uint32_t tail[BL_RUN - 1];
} bl_slot_list_t;

/* The runs of `list`, as a list of the runs pool. */
static inline bl_list_t bl_slot_list_runs(const bl_slot_list_t *list) {
    return (bl_list_t){.offset = list->offset, .count = list->count / BL_RUN};
}

/* Appends `run` (the tail and one slot) where the runs' list takes a new block or chunk
 * (pool.c). */
void bl_slot_list_flush(bl_pool_t *runs, bl_pool_share_t *share, bl_slot_list_t *list,
                        const bl_run_t *run);

/* Writes the share's late stores: before any list of the share moves or is read. */
void bl_pool_late_drain(bl_pool_t *runs, bl_pool_share_t *share);

/* Queues `run` for `at` (in place in its list) among the share's late stores, and writes the
 * one queued BL_POOL_LATE runs ago. */
static inline __attribute__((always_inline)) void
bl_pool_late_store(bl_pool_t *runs, bl_pool_share_t *share, uint8_t *at, const bl_run_t *run) {
    __builtin_prefetch(at, 1);
    bl_pool_late_t *late = &share->late[share->late_next++ % BL_POOL_LATE];
    if (late->at != 0) memcpy(runs->base + late->at, &late->run, sizeof(late->run));
    late->at = (uint64_t)(at - runs->base);
    late->run = *run;
}

static inline __attribute__((always_inline)) void
bl_slot_list_append(bl_pool_t *runs, bl_pool_share_t *share, bl_slot_list_t *list,
                    uint32_t slot) {
    uint32_t n = list->count;
    if (n % BL_RUN != BL_RUN - 1) {
        list->tail[n % BL_RUN] = slot;
        list->count = n + 1;
        return;
    }
    BL_ASSERT(n < UINT32_MAX);
    bl_run_t run;
    memcpy(run.slots, list->tail, sizeof(list->tail));
    run.slots[BL_RUN - 1] = slot;
    bl_list_t r = bl_slot_list_runs(list);
    uint8_t *at = bl_list_end_in_place(runs, &r, sizeof(run));
    if (at != NULL) {
        bl_pool_late_store(runs, share, at, &run);
        list->count = n + 1;
    } else {
        bl_slot_list_flush(runs, share, list, &run);
    }
}

/* Slot i < count of `list`. */
static inline uint32_t bl_slot_list_at(const bl_pool_t *runs, const bl_slot_list_t *list,
                                       uint32_t i) {
    if (i >= list->count - list->count % BL_RUN) return list->tail[i % BL_RUN];
    bl_list_t r = bl_slot_list_runs(list);
    return ((const bl_run_t *)bl_list_at(runs, &r, i / BL_RUN))->slots[i % BL_RUN];
}

/* The first index i of `list` whose slot is at least `slot` (count if none). */
uint32_t bl_slot_list_lower(const bl_pool_t *runs, const bl_slot_list_t *list, uint32_t slot);

/* ------------------------------------------------------------------------------------------ */
/* Query indexes (keys.c).                                                                    */

/* The fields a QueryFilter selects on; each is indexed for accounts and for transfers. */
enum {
    BL_KEY_USER_DATA_128 = 0,
    BL_KEY_USER_DATA_64 = 1,
    BL_KEY_USER_DATA_32 = 2,
    BL_KEY_LEDGER = 3,
    BL_KEY_CODE = 4,
    BL_KEY_FIELDS = 5,
};
enum { BL_KEYS_ACCOUNTS = 0, BL_KEYS_TRANSFERS = 1, BL_KEYS_KINDS = 2 };

/* One value of one field in one partition: the slots of that partition's objects holding the
 * value, in slot (so timestamp) order, in the slot pool. */
typedef struct bl_key {
    bl_u128_t value;
    bl_list_t slots;
} bl_key_t;

_Static_assert(sizeof(bl_key_t) == 32, "two keys to a cache line");

/* The keys of one field of one kind of object, for every partition: one reservation handed
 * out to partitions in chunks (so they share no line while apply runs); each partition chains
 * its entries in an index of its own. An entry is a key, or (BL_KEY_DIRECT set) the slot of
 * the one object of that partition holding its value: a key is made only for a value two
 * objects hold, so there are at most half as many keys as objects, and key numbers and slots
 * both fit 31 bits. A chain links an entry to the next (entry + 1; 0: end) through `next` of
 * a key or `direct_next` of an object slot. */
#define BL_KEY_DIRECT 0x80000000u

/* Values below BL_KEYS_SMALL (every code, and most ledgers) are not hashed: each partition
 * keeps, per kind and field, a table of the lists of its objects holding each value 1 ..
 * BL_KEYS_SMALL - 1 (1 MiB reserved, its pages committed as values use them). */
#define BL_KEYS_SMALL 65536u

typedef struct bl_key_store {
    bl_key_t *keys;
    uint32_t *next;        /* per key */
    uint32_t *direct_next; /* per object slot */
    uint64_t capacity;     /* keys */
    uint64_t objects;      /* object slots */
    _Atomic uint64_t used; /* keys handed out, in chunks */
} bl_key_store_t;

/* Reserves every key store and each partition's key indexes: 0 or -ENOMEM. */
int bl_keys_init(bl_engine_t *engine);
void bl_keys_deinit(bl_engine_t *engine);
/* The filter fields of an account or transfer record as 128-bit values (0: not set). */
void bl_key_values(uint32_t kind, const void *record, bl_u128_t values[BL_KEY_FIELDS]);
/* Indexes the object at `slot` (record written) under its non-zero fields, in partition p. */
void bl_keys_insert(bl_engine_t *engine, uint32_t p, uint32_t kind, uint32_t slot);
/* Apply's step: indexes the objects the block created that partition p owns. */
void bl_keys_apply(bl_engine_t *engine, uint32_t p);
/* Partition p's list of the slots with `value` in `field`, copied to *list (a list of one
 * slot holds it in `first`, so the copy is readable with bl_list_at); false if none. */
bool bl_keys_find(const bl_engine_t *engine, uint32_t p, uint32_t kind, uint32_t field,
                  bl_u128_t value, bl_list_t *list);

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

/* ------------------------------------------------------------------------------------------ */
/* The block pipeline's working memory.                                                       */

enum {
    BL_ITEM_ACCOUNT = 1,   /* a create_accounts event */
    BL_ITEM_TRANSFER = 2,  /* a plain or pending create_transfers event */
    BL_ITEM_POST_VOID = 3, /* a post_pending or void_pending event */
    BL_ITEM_EXPIRY = 4,    /* a pending transfer whose deadline has passed */
    BL_ITEM_INVALID = 5,   /* a transfer whose flags name two of pending/post/void: no lookups */
};

#define BL_PARTITION_NONE 0xFFu

/* Decide's view of one account the block touches: its balances so far. Entries of accounts
 * that were in the table are made by the owning partition's gather (copying the balances once
 * per block, however many events touch the account); entries of accounts created in the block
 * are made by decide. */
typedef struct bl_overlay_account {
    bl_u128_t debits_pending;
    bl_u128_t debits_posted;
    bl_u128_t credits_pending;
    bl_u128_t credits_posted;
    uint32_t slot;
    uint32_t ledger;
    uint16_t flags;
    uint8_t partition;
    uint8_t dirty; /* balances changed: apply writes them */
    /* The first of the block's new transfers on the account, as a side (k << 1 | side,
     * k = slot - transfers_base), chained in slot order through block->side_next;
     * BL_SLOT_NONE: none. Apply appends them to the account's lists. */
    uint32_t sides_first;
} bl_overlay_account_t;

/* A pending transfer from the table that the block names (post, void or expiry). */
typedef struct bl_overlay_pending {
    uint32_t slot;
    uint8_t state_start;
    uint8_t state;
} bl_overlay_pending_t;

/* What gather learns about one item. Indexes of earlier items of the block ("prev", "item")
 * let decide see what the block itself created without a map of its own. */
typedef struct bl_fact {
    uint64_t id_hash;
    uint64_t pending_hash;
    uint64_t dr_hash;
    uint64_t cr_hash;
    uint32_t id_slot;      /* table record with the item's id, or BL_SLOT_NONE */
    uint32_t id_prev;      /* latest earlier item creating the same kind of object, same id */
    uint32_t dr;           /* overlay index of the debit account if in the table */
    uint32_t cr;           /* overlay index of the credit account if in the table */
    uint32_t dr_item;      /* else: latest earlier create_accounts item with the debit id */
    uint32_t cr_item;
    uint32_t pending_slot; /* post/void/expiry: the pending transfer in the table */
    uint32_t pending_ov;   /* its overlay_pending index */
    uint32_t pending_item; /* post/void, pending not in the table: latest earlier transfer item
                              with id == pending_id */
    uint8_t kind;
    uint8_t check; /* route: the result the event alone decides (route.c) */
    uint8_t id_partition;
    uint8_t dr_partition;
    uint8_t cr_partition;
    uint8_t pending_partition;
} bl_fact_t;

/* An id route gives to the partition that owns it, for gather. Two lists: ids (an item's own
 * id, and the pending transfer a post, void or expiry names) and accounts (a transfer's debit
 * or credit account; role is the side). */
enum { BL_LOOKUP_IDS = 0, BL_LOOKUP_ACCOUNTS = 1, BL_LOOKUP_LISTS = 2 };
enum {
    BL_LOOKUP_ACCOUNT_ID = 0,  /* a create_accounts item's id */
    BL_LOOKUP_TRANSFER_ID = 1, /* a create_transfers item's id */
    BL_LOOKUP_PENDING = 2,     /* the pending_id of a post or void */
    BL_LOOKUP_EXPIRY = 3,      /* the pending transfer of an expiry; hash is its slot */
};
enum { BL_SIDE_DEBIT = 0, BL_SIDE_CREDIT = 1 };

typedef struct bl_lookup {
    uint64_t hash;
    uint32_t item;
    uint32_t role;
} bl_lookup_t;

/* One change to decide's state inside a linked chain, undone if the chain fails. */
enum {
    BL_UNDO_BALANCES = 1,    /* overlay account `index` had `balances` */
    BL_UNDO_ACCOUNT = 2,     /* an account (and its overlay entry) was created */
    BL_UNDO_TRANSFER = 3,    /* a transfer was created */
    BL_UNDO_PENDING = 4,     /* overlay_pending `index` had state `state` */
    BL_UNDO_PENDING_NEW = 5, /* new transfer `index` (slot - base) had state `state` */
    BL_UNDO_HISTORY = 6,     /* history_new_count was `index` */
};

typedef struct bl_undo {
    bl_u128_t balances[4];
    uint32_t kind;
    uint32_t index;
    uint32_t state;
} bl_undo_t;

/* A balance entry the block made, for the account at overlay index `overlay`. */
typedef struct bl_history_new {
    bl_balance_entry_t entry;
    uint32_t overlay;
    uint32_t reserved;
} bl_history_new_t;

typedef struct bl_block {
    uint64_t timestamp;      /* T */
    uint64_t timestamp_next; /* the next timestamp to hand out */
    uint32_t items_count;
    uint32_t items_max;
    const void **items; /* the event of each item (NULL for expiries) */
    bl_fact_t *facts;   /* one per item */
    bool has_post_void; /* gather needs its second round */
    /* A pass over requests (requests_count > 0): request r's events are items request_first[r]
     * to request_first[r + 1] - 1; route fills in their items and kinds. An expiry pass has
     * none: the driver sets its items' facts. */
    const bl_request_t *requests;
    uint32_t requests_count;
    uint32_t *request_first; /* items_max + 1 */

    /* Decide's output per item: the slot of the object with the item's id as of that item
     * (created by it or by an earlier item of the block). A created account's overlay entry
     * is accounts_new_overlay[slot - accounts_base]. */
    uint32_t *item_slot;

    /* Overlay accounts: N + 1 ranges of `overlay_range` entries, range p filled by partition
     * p's gather, range N by decide (accounts created in the block). */
    bl_overlay_account_t *overlay;
    uint32_t overlay_range;
    uint32_t overlay_new_count; /* entries used in range N */
    /* Overlay pending transfers: N ranges of items_max entries, range p filled by p. */
    bl_overlay_pending_t *pending;

    bl_undo_t *undo;
    uint32_t undo_count;
    uint32_t undo_max;
    bool undo_on; /* inside a linked chain */

    /* Effects: records created by this pass, indexed by slot - base. */
    uint64_t accounts_base;
    uint64_t transfers_base;
    bl_account_t *accounts_new_records;
    uint8_t *accounts_new_partition;
    uint64_t *accounts_new_hash;
    uint32_t *accounts_new_overlay;
    /* A created transfer's record is *transfers_new_source[k] with its timestamp set to
     * transfers_new_timestamp[k]: the source is the event itself when the record is the event
     * (a plain or pending transfer; decide copies nothing), else the record decide assembled
     * (a post or void, its fields resolved from the pending transfer) in
     * transfers_new_records[k]. Events outlive the block's apply. */
    const bl_transfer_t **transfers_new_source;
    uint64_t *transfers_new_timestamp;
    bl_transfer_t *transfers_new_records;
    uint8_t *transfers_new_partition;
    uint64_t *transfers_new_hash;
    uint8_t *transfers_new_state;
    uint32_t (*transfers_new_accounts)[2]; /* overlay indexes of debit and credit accounts */
    /* Per side (k << 1 | side) of a new transfer, the chain of its account's sides: the next
     * (BL_SLOT_NONE: the last) and, for sides pushed inside a linked chain, the one before
     * (for the chain's rollback); and per overlay entry whose chain is not empty, its last
     * side. */
    uint32_t *side_next;
    uint32_t *side_prev;
    uint32_t *sides_last;
    /* Balance entries for accounts with the history flag, in event order. */
    bl_history_new_t *history_new;
    uint32_t history_new_count;

    /* Every array above, with its size, as reserved (for release). */
#define BL_BLOCK_ARRAYS 22
    void *arrays[BL_BLOCK_ARRAYS];
    uint64_t sizes[BL_BLOCK_ARRAYS];
} bl_block_t;

/* ------------------------------------------------------------------------------------------ */
/* A partition: the indexes of the ids it owns, its share of the digest, and its block-local
 * gather state.                                                                              */

typedef struct bl_partition {
    bl_index_t accounts;
    bl_index_t transfers;
    bl_u128_t digest; /* sum of this partition's records' hashes, mod 2^128 */
    uint32_t index;
    /* Route's output (this partition routes a range of the items): for each partition q and
     * list, the lookups of the range that q owns, at route_lists + (q * BL_LOOKUP_LISTS +
     * list) * route_capacity (an item makes at most 2 lookups per list). */
    bl_lookup_t *route_lists;
    uint32_t route_capacity;
    uint32_t route_counts[BL_PARTITIONS_MAX][BL_LOOKUP_LISTS];
    bool route_post_void; /* the range holds a post or void */
    /* Gather's output: per item, the facts this partition found (only the fields of the ids
     * it owns are written). Gather reads its lookups from every range's route lists, where
     * they were written. Each partition writes only its own arrays, so no cache line is
     * shared between them; the merge (bl_gather_merge) takes every field from the partition
     * that owns it. */
    bl_fact_t *found;
    /* Gather's per-pass state. */
    bl_map_t pending_slots;   /* pending transfer slot -> overlay_pending index */
    bl_map_t account_items;   /* account id -> latest create_accounts item so far */
    bl_map_t transfer_items;  /* transfer id -> latest create_transfers item so far */
    uint32_t overlay_count;   /* entries used in this partition's overlay range */
    uint32_t pending_count;
    /* Apply's input, written by decide as it creates objects (a chain rolled back takes its
     * own off again): the block's new accounts this partition owns (k from accounts_base) and
     * its new transfers (k from transfers_base), each in slot order. Apply's loops then visit
     * only their own objects, with no pass over the block's to find them and no ownership
     * test to mispredict, and prefetch a fixed number of their own objects ahead. */
    uint32_t *own_accounts_new, *own_transfers_new; /* events_max each */
    uint32_t own_accounts, own_transfers;
    /* Where the blocks of the lists this partition owns come from, per pool. */
    bl_pool_share_t pool_shares[BL_POOLS];
    /* Query indexes of the objects this partition owns: per kind and field, its keys, its
     * table of small values, and the chunk of that field's key store it takes new keys from,
     * [next, end). */
    bl_index_t keys[BL_KEYS_KINDS][BL_KEY_FIELDS];
    bl_list_t *small_keys[BL_KEYS_KINDS][BL_KEY_FIELDS]; /* lists by value < BL_KEYS_SMALL */
    uint64_t keys_next[BL_KEYS_KINDS][BL_KEY_FIELDS];
    uint64_t keys_end[BL_KEYS_KINDS][BL_KEY_FIELDS];
} __attribute__((aligned(64))) bl_partition_t;

/* What apply keeps per account beside the record, on one cache line: the record's hash as
 * counted in the digest and the account's transfer lists (their tails included). A balance
 * change and the list appends of the same transfer then touch the same line, and most appends
 * no other. Owned by the account's partition. */
typedef struct bl_account_aux {
    bl_u128_t hash;                /* XXH3-128 of the account record */
    bl_slot_list_t transfers[2];   /* BL_LIST_DEBITS, BL_LIST_CREDITS */
} __attribute__((aligned(64))) bl_account_aux_t;

_Static_assert(sizeof(bl_account_aux_t) == 64, "one cache line per account");

/* ------------------------------------------------------------------------------------------ */
/* Partition threads (workers.c).                                                             */

typedef enum {
    BL_STEP_ROUTE = 1,
    BL_STEP_GATHER_FIRST = 2,
    BL_STEP_GATHER_SECOND = 3,
    BL_STEP_APPLY = 4,
    BL_STEP_PREFAULT = 5, /* the last partition thread only, while the driver decides */
    BL_STEP_MERGE = 6,
} bl_step_t;

/* A region of memory the state grows into (prefault.c): its frontier is the account or
 * transfer slot count times `unit`, or a bump offset (`used`, in units). */
enum { BL_PREFAULT_ACCOUNTS = 1, BL_PREFAULT_TRANSFERS = 2, BL_PREFAULT_BUMP = 3 };
#define BL_PREFAULT_REGIONS (7 + BL_POOLS + 2 * BL_KEYS_KINDS * BL_KEY_FIELDS)

typedef struct bl_prefault_region {
    void *base;
    uint64_t bytes; /* reserved */
    const _Atomic uint64_t *used;
    uint64_t want; /* bytes from base to have committed: set by the driver before the step */
    uint64_t done; /* bytes from base committed so far: the prefaulting thread's */
    uint32_t unit;
    uint8_t by;
} bl_prefault_region_t;

typedef struct bl_prefault {
    bl_prefault_region_t regions[BL_PREFAULT_REGIONS];
    uint32_t count;
    bool off;     /* the kernel refused once: stop asking */
    bool running; /* a step is out on a thread */
} bl_prefault_t;

typedef struct bl_worker {
    bl_ring_t commands; /* driver -> partition: the step to run */
    bl_ring_t done;     /* partition -> driver: the step it ran */
    struct bl_engine *engine;
    pthread_t thread;
    uint32_t partition;
    bool started;
} bl_worker_t;

/* ------------------------------------------------------------------------------------------ */
/* The engine.                                                                                */

struct bl_engine {
    bl_engine_config_t config;
    bl_partition_t *partitions;

    bl_account_t *accounts;
    bl_records_t accounts_records;
    bl_transfer_t *transfers;
    bl_records_t transfers_records;
    uint8_t *transfer_state;
    bl_account_aux_t *account_aux; /* per account slot: record hash and transfer lists */
    bl_list_t *account_balances;   /* per account slot: its balance entries (history flag) */
    uint64_t *account_mark;  /* per account slot: gather pass (high 32) and overlay index (low
                                32) of its overlay entry in that pass; owned by its partition */
    uint32_t pass;           /* gather passes so far, the generation of account_mark */
    bl_pool_t pools[BL_POOLS];
    bl_key_store_t key_stores[BL_KEYS_KINDS][BL_KEY_FIELDS];

    /* Decide-owned. */
    uint64_t accounts_count;
    uint64_t transfers_count;
    uint64_t timestamp_last;
    bl_expiry_t expiry;

    bl_block_t block;
    bl_worker_t *workers; /* with config.partition_threads, one per partition (threads for
                             1..N-1; partition 0 runs on the driver), else NULL */
    atomic_uint in_block; /* set by the driver while it runs a block (workers.c) */
    bl_prefault_t prefault;
    bl_engine_stats_t stats;
    bl_engine_memory_t memory;
};

/* The partition that owns an id hash: the high 32 bits, scaled to N (bucket indexes use the
 * low bits, so the two are independent). */
static inline uint32_t bl_partition_of(uint64_t hash, uint32_t partitions) {
    return (uint32_t)(((hash >> 32) * (uint64_t)partitions) >> 32);
}

/* The partition that owns the id of `hash`. */
static inline bl_partition_t *bl_engine_owner(const bl_engine_t *engine, uint64_t hash) {
    return &engine->partitions[bl_partition_of(hash, engine->config.partitions)];
}

/* The slot of the account (or transfer) with `id`, found by the partition that owns it, or
 * BL_SLOT_NONE. */
static inline uint32_t bl_engine_find(const bl_engine_t *engine, bool accounts, bl_u128_t id) {
    uint64_t hash = bl_hash_id(id);
    const bl_partition_t *part = bl_engine_owner(engine, hash);
    return accounts ? bl_index_find(&part->accounts, &engine->accounts_records, hash, id)
                    : bl_index_find(&part->transfers, &engine->transfers_records, hash, id);
}

/* A partition's gather maps, each holding at most one entry per event of a block. */
#define BL_PARTITION_MAPS(part)                                                                  \
    {&(part)->pending_slots, &(part)->account_items, &(part)->transfer_items}

/* Pipeline stages. Each gather and apply call touches only partition `p`'s records. */
void bl_route(bl_engine_t *engine, uint32_t p, uint32_t begin, uint32_t end);
void bl_gather_first(bl_engine_t *engine, uint32_t p);
void bl_gather_second(bl_engine_t *engine, uint32_t p);
/* After gather, for items [begin, end) (a range per partition, like route's): copies every
 * gathered field into block->facts. */
void bl_gather_merge(bl_engine_t *engine, uint32_t begin, uint32_t end);
void bl_decide_expiries(bl_engine_t *engine);
void bl_decide_requests(bl_engine_t *engine, bl_request_t *requests, uint32_t requests_count);
void bl_apply(bl_engine_t *engine, uint32_t p);
/* The expensive cross-checks (verify.c): balances against the transfers. Nothing unless
 * BL_VERIFY_ENABLED. */
void bl_engine_verify(const bl_engine_t *engine);
/* Runs one parallel step for every partition: on their threads, or here in turn. */
void bl_engine_step(bl_engine_t *engine, bl_step_t step);
int bl_workers_start(bl_engine_t *engine);
void bl_workers_stop(bl_engine_t *engine);
/* Prefault (prefault.c): the regions, registered once the tables exist; the driver's plan of
 * how far each may grow before the next decide; the step that commits it. */
void bl_prefault_init(bl_engine_t *engine);
int bl_prefault_all(bl_engine_t *engine); /* every region whole: 0 or -errno */
void bl_prefault_plan(bl_engine_t *engine);
void bl_prefault_run(bl_engine_t *engine);
/* Before decide: hands the prefault step to the last partition thread (the next step takes
 * its return). */
void bl_workers_prefault_begin(bl_engine_t *engine);
/* Around each block of `events` requests' events: if the block is large enough to run its
 * steps on the partition threads, they spin rather than park between its steps. */
void bl_workers_block_begin(bl_engine_t *engine, uint64_t events);
void bl_workers_block_end(bl_engine_t *engine);
/* Apply's balance history step: appends the block's balance entries to the balances lists of
 * the accounts with the history flag that partition p owns. */
void bl_history_apply(bl_engine_t *engine, uint32_t p);
/* Appends the block's new transfers on overlay account `o` (owned by `part`) to its debit
 * and credit lists (history.c's concept, inline in apply's balance step). That step has
 * just written the account's record hash on its aux line: the lists and their tails are on
 * that line too, so the appends cost no miss of their own but one in BL_RUN, which moves a
 * run to the runs pool. Decide chained each account's sides in slot order, so each list
 * grows in slot order. */
static inline __attribute__((always_inline)) void
bl_history_sides(bl_engine_t *engine, bl_partition_t *part, const bl_overlay_account_t *o) {
    const bl_block_t *block = &engine->block;
    _Static_assert(BL_LIST_DEBITS == 0 && BL_LIST_CREDITS == 1, "list kind = side");
    bl_account_aux_t *aux = &engine->account_aux[o->slot];
    for (uint32_t side = o->sides_first; side != BL_SLOT_NONE; side = block->side_next[side]) {
        bl_slot_list_append(&engine->pools[BL_POOL_RUNS], &part->pool_shares[BL_POOL_RUNS],
                            &aux->transfers[side & 1],
                            (uint32_t)(block->transfers_base + (side >> 1)));
    }
}

/* Appends transfer `transfer` to the debit or credit list (`side`) of account `account`, or
 * a balance entry to its balances, the account owned by partition `part`. */
void bl_history_append_transfer(bl_engine_t *engine, bl_partition_t *part, uint32_t account,
                                uint32_t side, uint32_t transfer);
void bl_history_append_balance(bl_engine_t *engine, bl_partition_t *part, uint32_t account,
                               const bl_balance_entry_t *entry);

#endif /* BALLAST_ENGINE_INTERNAL_H */
