/*
 * The engine: creation (every table reserved here, sized in one place), the block driver that
 * runs route -> gather -> merge -> decide -> apply, lookups, and status.
 *
 * A block first expires what is due, in rounds of at most block_events_max expiries (each
 * round a full pipeline pass, so a burst of expiries never needs unbounded memory; timestamps
 * continue across rounds, so the result is the same as one pass), then runs its requests as
 * one pass. Each partition's route and merge shares, gather and apply run on the partition's
 * own thread (workers.c) or, without partition threads, on the calling thread one partition
 * after the other; each touches only its own records (route and merge: only their range of
 * the block's items), so both give the same state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/internal.h"

static uint64_t bl_clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * BL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t bl_pow2_at_least(uint64_t n) {
    uint64_t p = 1;
    while (p < n) p *= 2;
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Creation. Every table is sized here.                                                       */

/* The block's working memory; `bytes` accumulates what it reserves. */
static int bl_block_init(bl_block_t *block, uint32_t events_max, uint32_t partitions,
                         uint64_t *bytes) {
    uint64_t n = events_max;
    /* undo: a transfer in a chain logs at most 2 balance saves, 1 create, 1 pending change
     * and 1 history mark; a chain is at most one request long. */
    uint64_t undo_max = 5ull * BL_BATCH_EVENTS_MAX;
    block->items_max = events_max;
    block->undo_max = (uint32_t)undo_max;
    block->overlay_range = 2 * events_max; /* every event names at most 2 accounts */
    struct {
        void **field;
        uint64_t size;
    } arrays[] = {
        {(void **)&block->items, n * sizeof(void *)},
        {(void **)&block->facts, n * sizeof(bl_fact_t)},
        {(void **)&block->item_slot, n * sizeof(uint32_t)},
        {(void **)&block->request_first, (n + 1) * sizeof(uint32_t)},
        /* a range per partition and one for decide: any partition may own every account */
        {(void **)&block->overlay, (partitions + 1ull) * 2 * n * sizeof(bl_overlay_account_t)},
        {(void **)&block->pending, partitions * n * sizeof(bl_overlay_pending_t)},
        {(void **)&block->undo, undo_max * sizeof(bl_undo_t)},
        {(void **)&block->accounts_new_records, n * sizeof(bl_account_t)},
        {(void **)&block->accounts_new_partition, n},
        {(void **)&block->accounts_new_hash, n * sizeof(uint64_t)},
        {(void **)&block->accounts_new_overlay, n * sizeof(uint32_t)},
        {(void **)&block->transfers_new_source, n * sizeof(bl_transfer_t *)},
        {(void **)&block->transfers_new_timestamp, n * sizeof(uint64_t)},
        {(void **)&block->transfers_new_records, n * sizeof(bl_transfer_t)},
        {(void **)&block->transfers_new_partition, n},
        {(void **)&block->transfers_new_hash, n * sizeof(uint64_t)},
        {(void **)&block->transfers_new_state, n},
        {(void **)&block->transfers_new_accounts, n * 2 * sizeof(uint32_t)},
        {(void **)&block->side_next, n * 2 * sizeof(uint32_t)},
        {(void **)&block->side_prev, n * 2 * sizeof(uint32_t)},
        {(void **)&block->sides_last, (partitions + 1ull) * 2 * n * sizeof(uint32_t)},
        {(void **)&block->history_new, n * 2 * sizeof(bl_history_new_t)}, /* 2 per event */
    };
    _Static_assert(BL_ARRAY_LEN(arrays) == BL_BLOCK_ARRAYS, "every array is released");
    for (size_t i = 0; i < BL_ARRAY_LEN(arrays); i++) {
        *arrays[i].field = bl_table_reserve(arrays[i].size);
        if (*arrays[i].field == NULL) return -ENOMEM;
        block->sizes[i] = arrays[i].size;
        block->arrays[i] = *arrays[i].field;
        *bytes += arrays[i].size;
    }
    return 0;
}

static void bl_block_deinit(bl_block_t *block) {
    for (size_t i = 0; i < BL_BLOCK_ARRAYS; i++)
        bl_table_release(block->arrays[i], block->sizes[i]);
}

static uint64_t bl_partition_route_bytes(const bl_partition_t *part, uint32_t partitions) {
    return (uint64_t)partitions * BL_LOOKUP_LISTS * part->route_capacity * sizeof(bl_lookup_t);
}

/* A partition's indexes and its gather maps; `bytes` accumulates the maps. */
static int bl_partition_init(bl_partition_t *part, uint32_t index, uint32_t partitions,
                             uint64_t account_buckets, uint64_t transfer_buckets,
                             uint32_t events_max, uint64_t *bytes) {
    part->index = index;
    if (bl_index_init(&part->accounts, account_buckets) != 0) return -ENOMEM;
    if (bl_index_init(&part->transfers, transfer_buckets) != 0) return -ENOMEM;
    part->route_capacity = 2 * (events_max / partitions + 1);
    part->route_lists = bl_table_reserve(bl_partition_route_bytes(part, partitions));
    part->found = bl_table_reserve((uint64_t)events_max * sizeof(bl_fact_t));
    part->own_accounts_new = bl_table_reserve((uint64_t)events_max * sizeof(uint32_t));
    part->own_transfers_new = bl_table_reserve((uint64_t)events_max * sizeof(uint32_t));
    if (!part->route_lists || !part->found || !part->own_accounts_new || !part->own_transfers_new)
        return -ENOMEM;
    *bytes += bl_partition_route_bytes(part, partitions) +
              (uint64_t)events_max * (2 * sizeof(uint32_t) + sizeof(bl_fact_t));
    bl_map_t *maps[] = BL_PARTITION_MAPS(part);
    for (size_t i = 0; i < BL_ARRAY_LEN(maps); i++) {
        if (bl_map_init(maps[i], events_max) != 0) return -ENOMEM;
        *bytes += (maps[i]->mask + 1) * sizeof(bl_map_entry_t);
    }
    return 0;
}

static void bl_partition_deinit(bl_partition_t *part, uint32_t partitions, uint32_t events_max) {
    bl_table_release(part->route_lists, bl_partition_route_bytes(part, partitions));
    bl_table_release(part->found, (uint64_t)events_max * sizeof(bl_fact_t));
    bl_table_release(part->own_accounts_new, (uint64_t)events_max * sizeof(uint32_t));
    bl_table_release(part->own_transfers_new, (uint64_t)events_max * sizeof(uint32_t));
    if (part->accounts.buckets) bl_index_deinit(&part->accounts);
    if (part->transfers.buckets) bl_index_deinit(&part->transfers);
    bl_map_t *maps[] = BL_PARTITION_MAPS(part);
    for (size_t i = 0; i < BL_ARRAY_LEN(maps); i++) {
        if (maps[i]->entries) bl_map_deinit(maps[i]);
    }
}

static int bl_engine_config_resolve(bl_engine_config_t *c) {
    if (c->partitions == 0) c->partitions = BL_ENGINE_PARTITIONS_DEFAULT;
    if (c->accounts_max == 0) c->accounts_max = BL_ENGINE_ACCOUNTS_MAX_DEFAULT;
    if (c->transfers_max == 0) c->transfers_max = BL_ENGINE_TRANSFERS_MAX_DEFAULT;
    if (c->block_events_max == 0) c->block_events_max = BL_ENGINE_BLOCK_EVENTS_MAX_DEFAULT;
    if (c->threads_items_min == 0) c->threads_items_min = BL_ENGINE_THREADS_ITEMS_MIN_DEFAULT;
    if (c->partitions > BL_PARTITIONS_MAX) return -EINVAL;
    if (c->accounts_max > BL_ACCOUNTS_MAX_LIMIT) return -EINVAL;
    if (c->transfers_max > BL_TRANSFERS_MAX_LIMIT) return -EINVAL;
    if (c->block_events_max > BL_BLOCK_EVENTS_MAX_LIMIT) return -EINVAL;
    return 0;
}

int bl_engine_create(bl_engine_t **out, const bl_engine_config_t *config) {
    bl_engine_config_t c = *config;
    int rc = bl_engine_config_resolve(&c);
    if (rc != 0) return rc;

    bl_engine_t *e = calloc(1, sizeof(*e));
    if (e == NULL) return -ENOMEM;
    e->config = c;
    e->partitions = aligned_alloc(64, c.partitions * sizeof(bl_partition_t));
    if (e->partitions == NULL) goto fail;
    memset(e->partitions, 0, c.partitions * sizeof(bl_partition_t));

    uint64_t accounts_bytes = 0, transfers_bytes = 0, block_bytes = 0;
    /* Records, and the chain link of each record. */
    e->accounts = bl_table_reserve(c.accounts_max * sizeof(bl_account_t));
    e->accounts_records.next = bl_table_reserve(c.accounts_max * sizeof(uint32_t));
    e->store.fd = -1;
    if (c.transfers_in_file) {
        uint8_t *records = NULL;
        int rc_store = bl_store_open(&e->store, c.transfers_fd, c.transfers_path, c.transfers_max,
                                     c.hot_transfers, &records);
        if (rc_store != 0) {
            bl_engine_destroy(e);
            return rc_store;
        }
        e->transfers = (bl_transfer_t *)records;
        e->transfers_records.store = &e->store;
    } else {
        e->transfers = bl_table_reserve(c.transfers_max * sizeof(bl_transfer_t));
    }
    e->transfers_records.next = bl_table_reserve(c.transfers_max * sizeof(uint32_t));
    e->transfers_records.fingerprints = bl_table_reserve(c.transfers_max * sizeof(uint16_t));
    /* The pending state of each transfer slot; each account's record hash and lists. */
    e->transfer_state = bl_table_reserve(c.transfers_max);
    e->account_aux = bl_table_reserve(c.accounts_max * sizeof(bl_account_aux_t));
    e->account_balances = bl_table_reserve(c.accounts_max * sizeof(bl_list_t));
    e->account_mark = bl_table_reserve(c.accounts_max * sizeof(uint64_t));
    if (!e->accounts || !e->accounts_records.next || !e->transfers || !e->transfers_records.next ||
        !e->transfers_records.fingerprints || !e->transfer_state || !e->account_aux ||
        !e->account_balances || !e->account_mark)
        goto fail;
    e->accounts_records.base = (uint8_t *)e->accounts;
    e->accounts_records.shift = 7;
    e->transfers_records.base = (uint8_t *)e->transfers;
    e->transfers_records.shift = 7;
    accounts_bytes +=
        c.accounts_max * (sizeof(bl_account_t) + sizeof(uint32_t) + sizeof(bl_account_aux_t) +
                          sizeof(bl_list_t) + sizeof(uint64_t));
    /* Pools (pool.c): 4 x their elements (slots), 2 x (2 per element + 4 per list) (balance
     * entries, runs). With indexes, every object joins up to BL_KEY_FIELDS key lists and each
     * transfer 2 account lists, so makes at most 2 / BL_RUN runs, each in a list that holds
     * one at least (2 x (2 + 4) per run); each transfer and each expiry adds at most 2
     * balance entries, to one list per account. */
    uint64_t slot_elements = BL_KEY_FIELDS * (c.accounts_max + c.transfers_max);
    uint64_t runs = 2 * c.transfers_max / BL_RUN;
    if (bl_pool_init(&e->pools[BL_POOL_SLOTS], sizeof(uint32_t),
                     c.indexes_off ? 0 : 4 * slot_elements, c.partitions) != 0 ||
        bl_pool_init(&e->pools[BL_POOL_RUNS], sizeof(bl_run_t), c.indexes_off ? 0 : 12 * runs,
                     c.partitions) != 0 ||
        bl_pool_init(&e->pools[BL_POOL_BALANCES], sizeof(bl_balance_entry_t),
                     2 * (4 * c.accounts_max + 2 * 4 * c.transfers_max), c.partitions) != 0)
        goto fail;
    if (!c.indexes_off && bl_keys_init(e) != 0) goto fail;
    transfers_bytes += c.transfers_max * ((c.transfers_in_file ? 0 : sizeof(bl_transfer_t)) +
                                          sizeof(uint32_t) + sizeof(uint16_t) + 1);
    /* Expiry queue: every transfer joins it at most once. */
    if (bl_expiry_init(&e->expiry, c.transfers_max) != 0) goto fail;
    transfers_bytes += c.transfers_max * sizeof(bl_expiry_entry_t);

    /* Index buckets. Accounts: each partition gets 2x its even share, rounded up to a power of
     * two, so chains average at most 1/2 a record beyond the head when ids spread evenly.
     * Transfers, which are many more and mostly looked up to be shown new: half the share, so
     * a bucket costs 4 to 8 bytes per transfer of capacity, not 16, and chains average 1 to 2
     * records; a new id is still shown new from its bucket's filter bits alone 97-99% of the
     * time (table.h). */
    uint64_t account_share = (c.accounts_max + c.partitions - 1) / c.partitions;
    uint64_t transfer_share = (c.transfers_max + c.partitions - 1) / c.partitions;
    uint64_t account_buckets = bl_pow2_at_least(2 * account_share);
    uint64_t transfer_buckets = bl_pow2_at_least((transfer_share + 1) / 2);
    for (uint32_t p = 0; p < c.partitions; p++) {
        if (bl_partition_init(&e->partitions[p], p, c.partitions, account_buckets, transfer_buckets,
                              c.block_events_max, &block_bytes) != 0)
            goto fail;
        accounts_bytes += account_buckets * sizeof(uint64_t);
        transfers_bytes += transfer_buckets * sizeof(uint64_t);
    }
    if (bl_block_init(&e->block, c.block_events_max, c.partitions, &block_bytes) != 0) goto fail;

    e->memory.per_account_bytes = accounts_bytes / c.accounts_max;
    e->memory.per_transfer_bytes = transfers_bytes / c.transfers_max;
    e->memory.block_bytes = block_bytes;
    e->memory.total_bytes = accounts_bytes + transfers_bytes + block_bytes;
    bl_prefault_init(e);
    bl_engine_image_inherit(e);
    if (c.partition_threads) {
        int rc_threads = bl_workers_start(e);
        if (rc_threads != 0) {
            bl_engine_destroy(e);
            return rc_threads;
        }
    }
    *out = e;
    return 0;
fail:
    bl_engine_destroy(e);
    return -ENOMEM;
}

void bl_engine_destroy(bl_engine_t *e) {
    if (e == NULL) return;
    const bl_engine_config_t *c = &e->config;
    bl_workers_stop(e);
    if (e->accounts != NULL) bl_engine_verify(e);
    bl_keys_deinit(e);
    if (e->partitions != NULL) {
        for (uint32_t p = 0; p < c->partitions; p++)
            bl_partition_deinit(&e->partitions[p], c->partitions, c->block_events_max);
        free(e->partitions);
    }
    bl_table_release(e->accounts, c->accounts_max * sizeof(bl_account_t));
    bl_table_release(e->accounts_records.next, c->accounts_max * sizeof(uint32_t));
    if (c->transfers_in_file)
        bl_store_close(&e->store);
    else
        bl_table_release(e->transfers, c->transfers_max * sizeof(bl_transfer_t));
    bl_table_release(e->transfers_records.next, c->transfers_max * sizeof(uint32_t));
    bl_table_release(e->transfers_records.fingerprints, c->transfers_max * sizeof(uint16_t));
    bl_table_release(e->transfer_state, c->transfers_max);
    bl_table_release(e->account_aux, c->accounts_max * sizeof(bl_account_aux_t));
    bl_table_release(e->account_balances, c->accounts_max * sizeof(bl_list_t));
    bl_table_release(e->account_mark, c->accounts_max * sizeof(uint64_t));
    for (size_t i = 0; i < BL_POOLS; i++) {
        if (e->pools[i].base) bl_pool_deinit(&e->pools[i]);
    }
    if (e->expiry.entries) bl_expiry_deinit(&e->expiry);
    bl_block_deinit(&e->block);
    free(e);
}

/* ------------------------------------------------------------------------------------------ */
/* The block driver.                                                                          */

typedef enum { BL_PASS_EXPIRIES, BL_PASS_REQUESTS } bl_pass_t;

/* One pipeline pass over the block's items (already in block->items and facts[].kind). */
static void bl_engine_pass(bl_engine_t *e, bl_pass_t pass, bl_request_t *requests,
                           uint32_t requests_count) {
    bl_block_t *block = &e->block;
    block->accounts_base = e->accounts_count;
    block->transfers_base = e->transfers_count;
    block->overlay_new_count = 0;
    block->history_new_count = 0;
    block->undo_count = 0;
    if (++e->pass == 0) { /* wrapped: a mark of an old pass could look current */
        memset(e->account_mark, 0, e->config.accounts_max * sizeof(uint64_t));
        e->pass = 1;
    }
    block->undo_on = false;
    for (uint32_t p = 0; p < e->config.partitions; p++)
        e->partitions[p].own_accounts = e->partitions[p].own_transfers = 0;

    uint64_t t0 = bl_clock_ns();
    bl_engine_step(e, BL_STEP_ROUTE);
    if (pass == BL_PASS_REQUESTS) {
        block->has_post_void = false;
        for (uint32_t p = 0; p < e->config.partitions; p++)
            block->has_post_void |= e->partitions[p].route_post_void;
    }
    bl_engine_step(e, BL_STEP_GATHER_FIRST);
    if (block->has_post_void) bl_engine_step(e, BL_STEP_GATHER_SECOND);
    uint64_t t_merge = bl_clock_ns();
    bl_engine_step(e, BL_STEP_MERGE);
    uint64_t t1 = bl_clock_ns();
    bl_workers_prefault_begin(e);
    if (pass == BL_PASS_EXPIRIES) {
        bl_decide_expiries(e);
    } else {
        bl_decide_requests(e, requests, requests_count);
    }
    uint64_t t2 = bl_clock_ns();
    bl_engine_step(e, BL_STEP_APPLY);
    uint64_t t3 = bl_clock_ns();

    e->stats.gather_ns += t1 - t0;
    e->stats.merge_ns += t1 - t_merge;
    e->stats.decide_ns += t2 - t1;
    e->stats.apply_ns += t3 - t2;
}

/* Expires everything due at the block's timestamp, in rounds of at most items_max. */
static void bl_engine_expire(bl_engine_t *e) {
    bl_block_t *block = &e->block;
    for (;;) {
        uint32_t count = 0;
        bl_expiry_entry_t entry;
        while (count < block->items_max &&
               bl_expiry_pop_due(&e->expiry, block->timestamp, &entry)) {
            bl_fact_t *f = &block->facts[count];
            f->kind = BL_ITEM_EXPIRY;
            f->pending_slot = entry.slot;
            f->pending_partition = (uint8_t)entry.partition;
            block->items[count] = NULL;
            count++;
        }
        if (count == 0) return;
        block->items_count = count;
        block->requests_count = 0;
        block->has_post_void = true;
        uint64_t before = block->timestamp_next;
        bl_engine_pass(e, BL_PASS_EXPIRIES, NULL, 0);
        e->stats.expiries += block->timestamp_next - before;
    }
}

/* Whether the block may run; sets *events_out to its requests' events. */
static bool bl_engine_block_valid(const bl_engine_t *e, uint64_t timestamp,
                                  const bl_request_t *requests, uint32_t requests_count,
                                  uint64_t *events_out) {
    if (timestamp <= e->timestamp_last) return false;
    uint64_t events = 0;
    for (uint32_t r = 0; r < requests_count; r++) {
        const bl_request_t *req = &requests[r];
        if (req->op != BL_OP_CREATE_ACCOUNTS && req->op != BL_OP_CREATE_TRANSFERS) return false;
        if (req->count == 0 || req->count > BL_BATCH_EVENTS_MAX) return false;
        if (req->events == NULL || req->results == NULL) return false;
        events += req->count;
    }
    if (events > e->config.block_events_max) return false;
    *events_out = events;
    /* Every timestamp the block can hand out (expiries included) must fit in 64 bits. */
    return timestamp <= UINT64_MAX - events - e->expiry.count;
}

int bl_engine_store_room(bl_engine_t *e, uint64_t events) {
    uint64_t count = e->transfers_count + events;
    return bl_store_room(&e->store,
                         count < e->config.transfers_max ? count : e->config.transfers_max);
}

void bl_engine_store_stats_get(const bl_engine_t *e, bl_engine_store_stats_t *stats) {
    memset(stats, 0, sizeof(*stats));
    if (e->store.fd < 0) return;
    stats->records = e->transfers_count;
    stats->file_bytes = e->store.allocated;
    stats->hot_records = e->transfers_count - e->store.cold_below;
    stats->cold_checks = atomic_load_explicit(&e->store.cold_reads, memory_order_relaxed);
}

const char *bl_engine_error(const bl_engine_t *e) {
    return e->error;
}

int bl_engine_block_execute(bl_engine_t *e, uint64_t timestamp, bl_request_t *requests,
                            uint32_t requests_count) {
    uint64_t events = 0;
    if (!bl_engine_block_valid(e, timestamp, requests, requests_count, &events)) return -EINVAL;
    int rc_room = bl_engine_store_room(e, events);
    if (rc_room != 0) return rc_room; /* nothing executed */
    bl_block_t *block = &e->block;
    block->timestamp = timestamp;
    block->timestamp_next = timestamp;
    uint32_t count = 0; /* the requests' events (the expiry passes leave request_first alone) */
    for (uint32_t r = 0; r < requests_count; r++) {
        block->request_first[r] = count;
        count += requests[r].count;
    }
    block->request_first[requests_count] = count;
    bl_workers_block_begin(e, count);

    bl_engine_expire(e);

    if (requests_count > 0) {
        block->requests = requests;
        block->requests_count = requests_count;
        block->items_count = count;
        bl_engine_pass(e, BL_PASS_REQUESTS, requests, requests_count);
        e->stats.events += count;
    }

    bl_workers_block_end(e);
    bl_store_advance(&e->store, e->transfers_count);
    e->timestamp_last = block->timestamp_next > timestamp ? block->timestamp_next - 1 : timestamp;
    e->stats.blocks++;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Lookups and status.                                                                        */

/* Each id is found by the partition that owns it; records are copied out in request order. */
static uint32_t bl_engine_lookup(const bl_engine_t *e, bool accounts, const bl_u128_t *ids,
                                 uint32_t count, void *out) {
    uint32_t found = 0;
    const bl_records_t *records = accounts ? &e->accounts_records : &e->transfers_records;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t slot = bl_engine_find(e, accounts, ids[i]);
        if (slot == BL_SLOT_NONE) continue;
        uint8_t *to = (uint8_t *)out + (uint64_t)found * BL_RECORD_SIZE;
        if (!accounts && bl_store_cold(&e->store, slot))
            bl_store_read_cold(&e->store, slot, to);
        else
            memcpy(to, records->base + (uint64_t)slot * BL_RECORD_SIZE, BL_RECORD_SIZE);
        found++;
    }
    return found;
}

uint32_t bl_engine_lookup_accounts(bl_engine_t *e, const bl_u128_t *ids, uint32_t count,
                                   bl_account_t *out) {
    return bl_engine_lookup(e, true, ids, count, out);
}

uint32_t bl_engine_lookup_transfers(bl_engine_t *e, const bl_u128_t *ids, uint32_t count,
                                    bl_transfer_t *out) {
    return bl_engine_lookup(e, false, ids, count, out);
}

bl_u128_t bl_engine_digest(const bl_engine_t *e) {
    bl_u128_t digest = 0;
    for (uint32_t p = 0; p < e->config.partitions; p++) digest += e->partitions[p].digest;
    return digest;
}

uint64_t bl_engine_accounts_count(const bl_engine_t *e) {
    return e->accounts_count;
}

uint64_t bl_engine_transfers_count(const bl_engine_t *e) {
    return e->transfers_count;
}

uint64_t bl_engine_timestamp_last(const bl_engine_t *e) {
    return e->timestamp_last;
}

uint64_t bl_engine_expiry_deadline_next(const bl_engine_t *e) {
    return e->expiry.count > 0 ? e->expiry.entries[0].deadline : UINT64_MAX;
}

uint32_t bl_engine_partitions(const bl_engine_t *e) {
    return e->config.partitions;
}

int bl_engine_precommit(bl_engine_t *e) {
    return bl_prefault_all(e);
}

void bl_engine_stats_get(const bl_engine_t *e, bl_engine_stats_t *stats) {
    *stats = e->stats;
}

void bl_engine_memory_get(const bl_engine_t *e, bl_engine_memory_t *memory) {
    *memory = e->memory;
}
