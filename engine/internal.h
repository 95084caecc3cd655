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
 * Each partition indexes its own ids with a chained hash table: heads[] (one per bucket) and a
 * shared next[] array parallel to the records. Chaining rather than open addressing because a
 * partition's share of the ids is not bounded by capacity / N (ids are chosen by clients):
 * with chains, any distribution of ids over partitions fits as long as the global count does,
 * so capacity_exhausted depends only on the global count and results never depend on N.
 * Links store slot + 1, so 0 means "none" and freshly mapped zero pages are empty buckets.
 *
 * The block pipeline's working memory (bl_block_t) is reserved once, sized by
 * block_events_max, and reused by every block.
 */
#ifndef BALLAST_ENGINE_INTERNAL_H
#define BALLAST_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/assert.h"
#include "common/hash.h"
#include "engine/engine.h"

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
    uint32_t *heads; /* slot + 1 of the first record of each bucket; 0: empty */
    uint64_t mask;   /* buckets - 1 */
} bl_index_t;

/* The records an index points into: 128-byte records with the id at offset 0. */
typedef struct bl_records {
    uint8_t *base;
    uint32_t *next; /* slot + 1 of the next record in the same bucket; 0: end of chain */
} bl_records_t;

_Static_assert(offsetof(bl_account_t, id) == 0 && offsetof(bl_transfer_t, id) == 0,
               "indexes read the id at offset 0 of a record");

static inline const bl_u128_t *bl_records_id(const bl_records_t *records, uint32_t slot) {
    return (const bl_u128_t *)(records->base + (uint64_t)slot * 128u);
}

static inline void bl_index_prefetch(const bl_index_t *index, uint64_t hash) {
    __builtin_prefetch(&index->heads[hash & index->mask]);
}

/* The first slot of the bucket of `hash`, or BL_SLOT_NONE. */
static inline uint32_t bl_index_head(const bl_index_t *index, uint64_t hash) {
    return index->heads[hash & index->mask] - 1u;
}

/* Walks the chain from `slot` (a bucket head) to the record with `id`; BL_SLOT_NONE if none. */
static inline uint32_t bl_index_walk(const bl_records_t *records, uint32_t slot, bl_u128_t id) {
    uint32_t steps = 0;
    while (slot != BL_SLOT_NONE) {
        if (*bl_records_id(records, slot) == id) return slot;
        slot = records->next[slot] - 1u;
        steps++;
        BL_ASSERT(steps <= UINT32_MAX - 1); /* a chain is never longer than the table */
    }
    return BL_SLOT_NONE;
}

static inline uint32_t bl_index_find(const bl_index_t *index, const bl_records_t *records,
                                     uint64_t hash, bl_u128_t id) {
    return bl_index_walk(records, bl_index_head(index, hash), id);
}

/* Links `slot` (whose record is already written) into the bucket of `hash`. */
static inline void bl_index_insert(bl_index_t *index, bl_records_t *records, uint64_t hash,
                                   uint32_t slot) {
    uint32_t *head = &index->heads[hash & index->mask];
    records->next[slot] = *head;
    *head = slot + 1u;
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
/* A partition: the indexes of the ids it owns and its share of the digest.                   */

typedef struct bl_partition {
    bl_index_t accounts;
    bl_index_t transfers;
    bl_u128_t digest; /* sum of this partition's records' hashes, mod 2^128 */
    uint32_t index;
} __attribute__((aligned(64))) bl_partition_t;

/* ------------------------------------------------------------------------------------------ */
/* The block pipeline's working memory (bl_block_t).                                          */

enum {
    BL_ITEM_ACCOUNT = 1,   /* a create_accounts event */
    BL_ITEM_TRANSFER = 2,  /* a plain or pending create_transfers event */
    BL_ITEM_POST_VOID = 3, /* a post_pending or void_pending event */
    BL_ITEM_EXPIRY = 4,    /* a pending transfer whose deadline has passed */
    BL_ITEM_INVALID = 5,   /* a transfer whose flags name two of pending/post/void: no lookups */
};

/* What gather found about one account, copied so that decide need not touch the tables. */
typedef struct bl_account_fact {
    bl_u128_t debits_pending;
    bl_u128_t debits_posted;
    bl_u128_t credits_pending;
    bl_u128_t credits_posted;
    uint64_t hash;
    uint32_t slot; /* BL_SLOT_NONE: not in the table at the start of the block */
    uint32_t ledger;
    uint16_t flags;
    uint8_t partition;
} bl_account_fact_t;

/* Everything gather learns about one item of the block. */
typedef struct bl_fact {
    bl_account_fact_t dr;
    bl_account_fact_t cr;
    uint64_t id_hash;
    uint64_t pending_hash;
    uint32_t id_slot;      /* existing record with the item's id, or BL_SLOT_NONE */
    uint32_t pending_slot; /* post/void/expiry: the pending transfer, or BL_SLOT_NONE */
    uint8_t kind;
    uint8_t id_partition;
    uint8_t pending_partition;
    uint8_t pending_state; /* the pending transfer's state at the start of the block */
} bl_fact_t;

/* Decide's view of one account touched by the block: its balances so far. */
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
} bl_overlay_account_t;

/* A pending transfer whose state the block changed. */
typedef struct bl_pending_change {
    uint32_t slot;
    uint8_t state;
    uint8_t partition;
} bl_pending_change_t;

/* Block-local map from a key (an id hash and id, or a slot) to a 32-bit value. Entries whose
 * generation is not the block's are empty, so a new block clears the map by bumping `gen`.
 * Open addressing with linear probing; removal is only ever of the most recent insertion
 * (chain rollback), which restores the map exactly. */
typedef struct bl_map_entry {
    bl_u128_t id;
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

/* One change to decide's state inside a linked chain, undone if the chain fails. */
enum {
    BL_UNDO_BALANCES = 1,  /* overlay account `index` had `balances` */
    BL_UNDO_OVERLAY = 2,   /* overlay account `index` was added (pop it) */
    BL_UNDO_ACCOUNT = 3,   /* an account was created (unmap its id, give back the slot) */
    BL_UNDO_TRANSFER = 4,  /* a transfer was created (unmap its id, give back the slot) */
    BL_UNDO_PENDING = 5,   /* pending change `index` was added (pop it) */
};

typedef struct bl_undo {
    bl_u128_t balances[4];
    uint32_t kind;
    uint32_t index;
    uint64_t hash;
    bl_u128_t id;
} bl_undo_t;

typedef struct bl_block {
    /* The block being executed. */
    uint64_t timestamp;      /* T */
    uint64_t timestamp_next; /* the next timestamp to hand out */
    uint32_t items_count;
    uint32_t items_max;
    const void **items;   /* the event of each item (NULL for expiries) */
    bl_fact_t *facts;     /* one per item */
    bool has_post_void;   /* gather needs its second round */

    /* Decide's overlay. */
    bl_map_t accounts_new;  /* id of an account created in this block -> slot */
    bl_map_t transfers_new; /* id of a transfer created in this block -> slot */
    bl_map_t overlay_map;   /* account slot -> overlay index */
    bl_map_t pending_map;   /* transfer slot -> pending change index */
    bl_overlay_account_t *overlay;
    uint32_t overlay_count;
    bl_pending_change_t *pending;
    uint32_t pending_count;
    bl_undo_t *undo;
    uint32_t undo_count;
    uint32_t undo_max;
    bool undo_on; /* inside a linked chain */

    /* Effects: records created by this block, indexed by slot - base. */
    uint64_t accounts_base;
    uint64_t transfers_base;
    bl_account_t *accounts_new_records;
    uint8_t *accounts_new_partition;
    uint64_t *accounts_new_hash;
    bl_transfer_t *transfers_new_records;
    uint8_t *transfers_new_partition;
    uint64_t *transfers_new_hash;
    uint32_t (*transfers_new_accounts)[2]; /* overlay indexes of debit and credit accounts */
} bl_block_t;

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

    /* Decide-owned. */
    uint64_t accounts_count;
    uint64_t transfers_count;
    uint64_t timestamp_last;
    bl_expiry_t expiry;

    bl_block_t block;
    bl_engine_stats_t stats;
    bl_engine_memory_t memory;
};

/* The partition that owns an id hash: the high 32 bits, scaled to N (bucket indexes use the
 * low bits, so the two are independent). */
static inline uint32_t bl_partition_of(uint64_t hash, uint32_t partitions) {
    return (uint32_t)(((hash >> 32) * (uint64_t)partitions) >> 32);
}

/* Pipeline stages. Each gather and apply call touches only partition `p`'s records. */
void bl_gather_route(bl_engine_t *engine, uint32_t begin, uint32_t end);
void bl_gather_first(bl_engine_t *engine, uint32_t p);
void bl_gather_second(bl_engine_t *engine, uint32_t p);
void bl_decide_expiries(bl_engine_t *engine);
void bl_decide_requests(bl_engine_t *engine, bl_request_t *requests, uint32_t requests_count);
void bl_apply(bl_engine_t *engine, uint32_t p);

/* Block-local maps (decide.c). */
int bl_map_init(bl_map_t *map, uint64_t capacity);
void bl_map_deinit(bl_map_t *map);
void bl_map_clear(bl_map_t *map);

#endif /* BALLAST_ENGINE_INTERNAL_H */
