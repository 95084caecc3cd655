/*
 * Engine internals shared by the pipeline stages: the partitions, the engine itself, and the
 * stages' entry points. Each concept's types are in the header of the file that implements
 * it: table.h (slots, indexes, maps), expiry.h, pool.h (lists and pools), keys.h (query
 * indexes), block.h (the block's arrays). Nothing here is visible outside engine/.
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
 * A bucket also holds a 32-bit filter with two bits set per id in its chain, so a lookup of
 * an id that is not there (every new id) almost never reads a record, nor even a chain link.
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

#include "engine/block.h"
#include "engine/expiry.h"
#include "engine/keys.h"
#include "engine/pool.h"
#include "engine/store.h"
#include "engine/table.h"

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
    bl_map_t pending_slots;  /* pending transfer slot -> overlay_pending index */
    bl_map_t account_items;  /* account id -> latest create_accounts item so far */
    bl_map_t transfer_items; /* transfer id -> latest create_transfers item so far */
    uint32_t overlay_count;  /* entries used in this partition's overlay range */
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
    bl_u128_t hash;              /* XXH3-128 of the account record */
    bl_slot_list_t transfers[2]; /* BL_LIST_DEBITS, BL_LIST_CREDITS */
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
    bool frontier; /* a file's mapping (the store): only ever committed ahead of the records,
                      from the frontier on, never whole (that would read or allocate it all) */
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
    uint64_t *account_mark;        /* per account slot: gather pass (high 32) and overlay index (low
                                      32) of its overlay entry in that pass; owned by its partition */
    uint32_t pass;                 /* gather passes so far, the generation of account_mark */
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
    bl_store_t store; /* the transfer records' file, or fd -1 */
    char error[512];  /* bl_engine_error */
};

/* The transfer in `slot`: the record itself when it is hot, or, when it is cold (in the
 * store), a checked copy read into `copy`. */
static inline const bl_transfer_t *bl_transfer_read(const bl_engine_t *engine, uint32_t slot,
                                                    bl_transfer_t *copy) {
    if (!bl_store_cold(&engine->store, slot)) return &engine->transfers[slot];
    bl_store_read_cold(&engine->store, slot, copy);
    return copy;
}

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
#define BL_PARTITION_MAPS(part) \
    { &(part)->pending_slots, &(part)->account_items, &(part)->transfer_items }

/* Marks the tables the image writer reads to be inherited by a forked process (the checkpoint
 * child); no other table is (image.c). */
void bl_engine_image_inherit(const bl_engine_t *engine);

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
