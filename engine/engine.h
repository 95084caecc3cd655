/*
 * The ballast state machine: accounts, transfers, balances, two-phase transfers, expiry, linked
 * chains and idempotency, as PROTOCOL.md specifies them.
 *
 * The engine is deterministic: its state is a function of the blocks it executed, and a block
 * is (timestamp T, the create requests in order). The caller (the node, a test, a benchmark)
 * chooses T; nothing here reads a clock for state. Executing the same blocks gives the same
 * results and the same state digest for every partition count.
 *
 * A block runs as DESIGN.md's pipeline over N partitions:
 *   route   hash every id of the block once;
 *   gather  each partition looks up the ids it owns and copies the facts the block needs;
 *   decide  one pass in event order over the gathered facts and a block-local overlay,
 *           producing each event's result and the block's effects;
 *   apply   each partition writes the effects on the records it owns.
 * A partition owns the accounts and transfers whose id hashes to it; only its own gather and
 * apply steps read or write their mutable state (balances, pending state, index chains).
 *
 * Thread model: one engine is driven by one thread at a time (the driver); with
 * partition_threads it also owns a thread for each partition but the first, which runs that
 * partition's part of every block (the driver runs partition 0's). All memory is reserved by
 * bl_engine_create; executing blocks allocates nothing.
 */
#ifndef BALLAST_ENGINE_H
#define BALLAST_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "ballast/protocol.h"

#define BL_PARTITIONS_MAX 64u
#define BL_ACCOUNTS_MAX_LIMIT ((1ull << 31) - 1) /* slots are 32-bit */
#define BL_TRANSFERS_MAX_LIMIT ((1ull << 31) - 1)
#define BL_BLOCK_EVENTS_MAX_LIMIT (1u << 20)

typedef struct bl_engine_config {
    uint32_t partitions;        /* 1..BL_PARTITIONS_MAX */
    uint64_t accounts_max;      /* 1..BL_ACCOUNTS_MAX_LIMIT: accounts the state can hold */
    uint64_t transfers_max;     /* 1..BL_TRANSFERS_MAX_LIMIT: transfers the state can hold */
    uint32_t block_events_max;  /* 1..BL_BLOCK_EVENTS_MAX_LIMIT: events of all create requests
                                   of one block; also the expiries processed per round */
    bool partition_threads;     /* each partition on a thread of its own (else all run on the
                                   caller's thread in turn); results are the same either way */
    bool pin_cpus;              /* with partition_threads: partition p >= 1's thread on CPU p
                                   (partition 0 runs on the caller's thread, not pinned) */
    uint32_t threads_items_min; /* with partition_threads: blocks with fewer items run on the
                                   caller's thread, cheaper than a hand-over (0: default) */
    bool indexes_off;           /* keep no query indexes and no per-account transfer lists:
                                   filter reads then scan every record (for measuring what the
                                   indexes cost); balance entries are kept either way */
    bool transfers_in_file;     /* transfer records in the store file `transfers_fd` (store.h)
                                   rather than in memory; images then carry the store's page
                                   checksums instead of the records */
    int transfers_fd;           /* with transfers_in_file: the store, open read-write; with
                                   transfers_from_store: one to read images' records from */
    bool transfers_from_store;  /* records in memory, but an image whose records are in a
                                   store loads them from transfers_fd, read only (a reader of
                                   a data directory that must not change it) */
    const char *transfers_path; /* with transfers_in_file: its name, for messages */
    uint64_t hot_transfers;     /* with transfers_in_file: the newest records kept in memory
                                   (at least; 0: every record) */
} bl_engine_config_t;

/* Defaults used when a field of the config is 0. */
#define BL_ENGINE_PARTITIONS_DEFAULT 1u
#define BL_ENGINE_ACCOUNTS_MAX_DEFAULT (1ull << 20)
#define BL_ENGINE_TRANSFERS_MAX_DEFAULT (1ull << 24)
#define BL_ENGINE_BLOCK_EVENTS_MAX_DEFAULT (2u * BL_BATCH_EVENTS_MAX)
#define BL_ENGINE_THREADS_ITEMS_MIN_DEFAULT 256u

typedef struct bl_engine bl_engine_t;

/* One create request of a block. `events` points at `count` bl_account_t (create_accounts) or
 * bl_transfer_t (create_transfers). The engine writes one bl_event_result_t per event whose
 * result is not ok, sorted by index, into `results` (room for `count` entries) and sets
 * `results_count`: exactly the reply body of PROTOCOL.md. */
typedef struct bl_request {
    uint16_t op;
    uint32_t count;
    const void *events;
    bl_event_result_t *results;
    uint32_t results_count;
} bl_request_t;

/* Time spent per phase, summed over every block executed (for benchmarks; not state). */
typedef struct bl_engine_stats {
    uint64_t blocks;
    uint64_t events;
    uint64_t expiries;
    uint64_t gather_ns; /* route, gather and merge */
    uint64_t merge_ns;  /* of gather_ns, the merge of the partitions' findings */
    uint64_t decide_ns;
    uint64_t apply_ns;
} bl_engine_stats_t;

/* Memory reserved for the tables, in bytes, split by what it scales with. */
typedef struct bl_engine_memory {
    uint64_t per_account_bytes;  /* (record + index) / accounts_max */
    uint64_t per_transfer_bytes; /* (record + index + pending state + expiry queue) /
                                    transfers_max */
    uint64_t block_bytes;        /* per-block working memory (facts, overlay, effects) */
    uint64_t total_bytes;
} bl_engine_memory_t;

/* The transfer store (engine/store.h), with transfers_in_file. */
typedef struct bl_engine_store_stats {
    uint64_t records;     /* transfer records in the file */
    uint64_t file_bytes;  /* bytes allocated to it on disk */
    uint64_t hot_records; /* of the records, those read as memory (the rest are checked) */
    uint64_t cold_checks; /* pages checked on a cold read since start */
} bl_engine_store_stats_t;

/* Creates an engine with every table reserved. Returns 0, -EINVAL for a config out of range,
 * or -ENOMEM. Zero fields of `config` take the defaults above. */
int bl_engine_create(bl_engine_t **engine, const bl_engine_config_t *config);
void bl_engine_destroy(bl_engine_t *engine);

/* Executes one block: first the expiries due at `timestamp` (every pending transfer whose
 * deadline is at or before it), then the requests in order. Timestamps are handed out one by
 * one from `timestamp`, as PROTOCOL.md says. A block with no requests only expires.
 * Returns 0; -EINVAL (nothing executed) when `timestamp` is not past the last timestamp
 * handed out, an op is not a create op, a count is 0 or above BL_BATCH_EVENTS_MAX, the
 * block's events exceed block_events_max, or `timestamp` is so close to 2^64 - 1 ns (the
 * year 2554) that the block's events plus every queued expiry might not get a timestamp. */
int bl_engine_block_execute(bl_engine_t *engine, uint64_t timestamp, bl_request_t *requests,
                            uint32_t requests_count);

/* Lookups: copy the record of each id that exists, in request order, duplicates included, to
 * `out` (room for `count`); return how many were copied. */
uint32_t bl_engine_lookup_accounts(bl_engine_t *engine, const bl_u128_t *ids, uint32_t count,
                                   bl_account_t *out);
uint32_t bl_engine_lookup_transfers(bl_engine_t *engine, const bl_u128_t *ids, uint32_t count,
                                    bl_transfer_t *out);

/* Reads of PROTOCOL.md's filter ops. Each writes at most filter->limit records to `out` (room
 * for BL_FILTER_LIMIT_MAX is always enough) and returns how many; an invalid filter (the rules
 * of AccountFilter and QueryFilter) gives 0.
 *   account_transfers  get_account_transfers: the account's transfers on the chosen sides;
 *   account_balances   get_account_balances: its balances after each change (history flag);
 *   query_accounts     query_accounts, query_transfers: every object matching the fields. */
uint32_t bl_engine_account_transfers(const bl_engine_t *engine, const bl_account_filter_t *filter,
                                     bl_transfer_t *out);
uint32_t bl_engine_account_balances(const bl_engine_t *engine, const bl_account_filter_t *filter,
                                    bl_account_balance_t *out);
uint32_t bl_engine_query_accounts(const bl_engine_t *engine, const bl_query_filter_t *filter,
                                  bl_account_t *out);
uint32_t bl_engine_query_transfers(const bl_engine_t *engine, const bl_query_filter_t *filter,
                                   bl_transfer_t *out);

/* The state digest of PROTOCOL.md ("ServerStatus.state_digest"). */
bl_u128_t bl_engine_digest(const bl_engine_t *engine);

uint64_t bl_engine_accounts_count(const bl_engine_t *engine);
uint64_t bl_engine_transfers_count(const bl_engine_t *engine);
/* The last timestamp the engine used: the last one handed out to an expiry or event, or the
 * last block's T if that block handed out none (a block's T is used either way, so block
 * timestamps strictly increase). 0 before the first block. The next block's T must be
 * greater. */
uint64_t bl_engine_timestamp_last(const bl_engine_t *engine);
uint32_t bl_engine_partitions(const bl_engine_t *engine);

/* The earliest deadline of a pending transfer that may still expire, or UINT64_MAX. A block
 * whose timestamp is at or past it will expire something (or find it posted or voided). */
uint64_t bl_engine_expiry_deadline_next(const bl_engine_t *engine);

/* Images (engine/image.c): the whole state at block `height`, for checkpoints.
 * bl_engine_image_write writes one to `fd` from offset 0; 0 or -errno.
 * bl_engine_image_height reads and checks only the header; 0, -EBADMSG or -errno.
 * bl_engine_image_read loads one into a new, empty engine whose accounts_max and transfers_max
 * equal the image's (-EINVAL otherwise); any partition count. It checks both checksums and
 * that the rebuilt digest equals the stored one: 0, -EBADMSG (corrupt or torn) or -errno. On
 * failure the engine holds partial state and must be destroyed. */
int bl_engine_image_write(const bl_engine_t *engine, int fd, uint64_t height);
int bl_engine_image_height(int fd, uint64_t *height);
int bl_engine_image_read(bl_engine_t *engine, int fd, uint64_t *height);

void bl_engine_stats_get(const bl_engine_t *engine, bl_engine_stats_t *stats);
void bl_engine_store_stats_get(const bl_engine_t *engine, bl_engine_store_stats_t *stats);
/* Makes the transfer store's file room for `events` more transfers, so the block that holds
 * them cannot fail for disk space once it is logged: 0, or -errno (-ENOSPC: the disk is full).
 * Without transfers_in_file, 0. */
int bl_engine_store_room(bl_engine_t *engine, uint64_t events);
/* Why the last bl_engine_image_read failed, when it can say more than its code ("" if not). */
const char *bl_engine_error(const bl_engine_t *engine);
/* Commits now every table the state grows into (records, their links, pending states, list
 * pools and key stores), whole, so no later block faults a page of them in: for a benchmark
 * that measures the partitions' work apart from the machine's cost of first-touched memory.
 * That is their whole reservation (bl_engine_memory_t's per-account and per-transfer bytes
 * times the maxima, and the pools and key stores beyond). 0, or -errno (the kernel has no
 * MADV_POPULATE_WRITE, or too little memory); the state is unchanged either way. */
int bl_engine_precommit(bl_engine_t *engine);
/* What a memory budget holds (engine/budget.c): committed at start, in this order, while it
 * lasts: the id indexes (whole or not at all), the store's hot window (page cache: counted,
 * not committed), every account slot's tables, then the first transfers' tables. */
typedef struct bl_engine_budget {
    uint64_t bytes;           /* the budget */
    uint64_t indexes_bytes;   /* the id indexes' buckets (4 to 8 bytes per transfer of capacity) */
    bool indexes_fit;         /* within the budget, so committed */
    uint64_t hot_bytes;       /* the store's hot window */
    uint64_t accounts;        /* account slots whose tables fit */
    uint64_t account_bytes;   /* per account slot */
    uint64_t transfers;       /* transfers whose tables fit */
    uint64_t transfer_bytes;  /* per transfer: chain link, fingerprint, pending state, and an
                                 estimate of its account list and query index entries */
    uint64_t planned_bytes;   /* what the plan commits: the indexes if they fit, the accounts'
                                 and the transfers' tables */
    uint64_t committed_bytes; /* set by bl_engine_budget_commit */
} bl_engine_budget_t;

/* Plans what `bytes` of memory hold for this engine's capacities. */
void bl_engine_budget_plan(const bl_engine_t *engine, uint64_t bytes, bl_engine_budget_t *budget);
/* Commits what the plan holds: 0, or -errno (no MADV_POPULATE_WRITE, or not enough memory;
 * the state is unchanged either way, and tables then fault in as they are written). */
int bl_engine_budget_commit(bl_engine_t *engine, bl_engine_budget_t *budget);
void bl_engine_memory_get(const bl_engine_t *engine, bl_engine_memory_t *memory);

#endif /* BALLAST_ENGINE_H */
