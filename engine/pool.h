/*
 * Lists and the pools they live in (pool.c): per-account transfer lists (slot lists), balance
 * entries, the query indexes' lists. history.c and keys.c append to them.
 */
#ifndef BALLAST_ENGINE_POOL_H
#define BALLAST_ENGINE_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/assert.h"
#include "common/hash.h"
#include "engine/engine.h"
#include "engine/table.h"

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
#define BL_LIST_MIN 4u              /* elements of the smallest block */
#define BL_LIST_CHUNK 64u           /* elements of a chunked list's blocks */
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
void bl_list_append(bl_pool_t *pool, bl_pool_share_t *share, bl_list_t *list, const void *element);

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
bl_slot_list_append(bl_pool_t *runs, bl_pool_share_t *share, bl_slot_list_t *list, uint32_t slot) {
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

#endif /* BALLAST_ENGINE_POOL_H */
