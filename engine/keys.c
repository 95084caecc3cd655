/*
 * Query indexes: what makes query_accounts and query_transfers cost O(k log n).
 *
 * Every filter field of a QueryFilter (user_data_128, user_data_64, user_data_32, ledger, code)
 * is indexed, for accounts and for transfers, by value: a key per distinct non-zero value
 * holds the list of slots of the objects with that value. Zero values are not indexed: a zero
 * filter field means "any", so no query looks them up.
 *
 * Each partition indexes the objects it owns (apply writes them, like the records), so the
 * index of a field is N partial ones: a query merges the N lists of its value by slot
 * (query.c). Slots are handed out in timestamp order and apply appends in slot order, so each
 * list is sorted by timestamp and a timestamp range is found by binary search.
 *
 * Keys are chained per partition and field in a bl_index_t with the same chained buckets and
 * filter bits as the id indexes; a key is 32 bytes (the value and its list header) and a list
 * of one slot is kept in its header, so a value held by one object costs a key and nothing
 * more. The indexes are not part of the digest or the image: they are rebuilt when an image
 * is loaded, and results never depend on them (bl_engine_config_t.indexes_off gives the same
 * answers by scanning).
 */
#include <errno.h>
#include <string.h>

#include "engine/internal.h"

/* Keys a partition takes from its kind's store at a time. */
#define BL_KEYS_CHUNK 1024u

/* The hash of a value: its halves combined, then the splitmix64 finalizer, so every bit of
 * the result (the bucket takes the low ones, the filter bits 32..36) depends on every bit of
 * the value. Cheaper than XXH3 for the five values apply hashes per object. */
static inline uint64_t bl_key_hash(bl_u128_t value) {
    uint64_t h = (uint64_t)value + (uint64_t)(value >> 64) * 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    return h ^ (h >> 31);
}

/* Field `field` of an account or transfer record. */
static inline bl_u128_t bl_key_value(uint32_t kind, const void *record, uint32_t field) {
    const bl_account_t *a = record;
    const bl_transfer_t *t = record;
    bool accounts = kind == BL_KEYS_ACCOUNTS;
    switch (field) {
    case BL_KEY_USER_DATA_128: return accounts ? a->user_data_128 : t->user_data_128;
    case BL_KEY_USER_DATA_64: return accounts ? a->user_data_64 : t->user_data_64;
    case BL_KEY_USER_DATA_32: return accounts ? a->user_data_32 : t->user_data_32;
    case BL_KEY_LEDGER: return accounts ? a->ledger : t->ledger;
    default: return accounts ? a->code : t->code;
    }
}

void bl_key_values(uint32_t kind, const void *record, bl_u128_t values[BL_KEY_FIELDS]) {
    for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) values[f] = bl_key_value(kind, record, f);
}

static const void *bl_keys_record(const bl_engine_t *engine, uint32_t kind, uint32_t slot) {
    return kind == BL_KEYS_ACCOUNTS ? (const void *)&engine->accounts[slot]
                                    : (const void *)&engine->transfers[slot];
}

/* A new key for partition `part`, from its chunk of the store. */
static uint32_t bl_keys_take(bl_key_store_t *store, uint64_t *next, uint64_t *end) {
    if (*next == *end) {
        uint64_t begin = atomic_fetch_add_explicit(&store->used, BL_KEYS_CHUNK,
                                                   memory_order_relaxed);
        BL_ASSERT(begin + BL_KEYS_CHUNK <= store->capacity);
        *next = begin;
        *end = begin + BL_KEYS_CHUNK;
    }
    return (uint32_t)(*next)++;
}

/* The key of `value` in partition p's index of `field`, made if new. */
static bl_key_t *bl_keys_get(bl_engine_t *engine, bl_partition_t *part, uint32_t kind,
                             uint32_t field, bl_u128_t value, uint64_t hash) {
    bl_key_store_t *store = &engine->key_stores[kind][field];
    bl_index_t *index = &part->keys[kind][field];
    uint32_t k = bl_index_find(index, &store->records, hash, value);
    if (k == BL_SLOT_NONE) {
        k = bl_keys_take(store, &part->keys_next[kind][field], &part->keys_end[kind][field]);
        ((bl_key_t *)store->records.base)[k] = (bl_key_t){.value = value};
        bl_index_insert(index, &store->records, hash, k);
    }
    return (bl_key_t *)store->records.base + k;
}

static void bl_keys_append(bl_engine_t *engine, bl_partition_t *part, bl_key_t *key,
                           uint32_t slot) {
    bl_list_append_slot(&engine->pools[BL_POOL_SLOTS], part->pool_free[BL_POOL_SLOTS],
                        &key->slots, slot);
}

void bl_keys_insert(bl_engine_t *engine, uint32_t p, uint32_t kind, uint32_t slot) {
    bl_partition_t *part = &engine->partitions[p];
    bl_u128_t values[BL_KEY_FIELDS];
    bl_key_values(kind, bl_keys_record(engine, kind, slot), values);
    for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
        if (values[f] == 0) continue;
        bl_keys_append(engine, part,
                       bl_keys_get(engine, part, kind, f, values[f], bl_key_hash(values[f])),
                       slot);
    }
}

/* Apply indexes a block's objects one field at a time. Consecutive objects often share a
 * value (a ledger, a code, a batch's user_data), so the last key found is reused without a
 * lookup; other values are hashed BL_KEYS_DISTANCE objects ahead and their buckets
 * prefetched, so the misses of several lookups overlap. */
#define BL_KEYS_DISTANCE 8u

/* Indexes field `field` of the slots base + k, for the k < count whose partitions[k] is p.
 * Two walks over the same sequence of values, BL_KEYS_DISTANCE apart: the one ahead hashes
 * each value that differs from the one before it and prefetches its bucket, the one behind
 * finds (or reuses) the key and appends. */
static void bl_keys_apply_field(bl_engine_t *engine, uint32_t p, uint32_t kind, uint32_t field,
                                uint64_t base, uint64_t count, const uint8_t *partitions) {
    bl_partition_t *part = &engine->partitions[p];
    const bl_index_t *index = &part->keys[kind][field];
    uint64_t hashes[BL_KEYS_DISTANCE];
    bl_u128_t ahead_last = 0; /* the last non-zero value the walk ahead saw */
    bl_key_t *last = NULL;    /* the key of the last value the walk behind appended to */
    for (uint64_t k = 0; k < count + BL_KEYS_DISTANCE; k++) {
        if (k >= BL_KEYS_DISTANCE && partitions[k - BL_KEYS_DISTANCE] == p) {
            uint32_t slot = (uint32_t)(base + k - BL_KEYS_DISTANCE);
            bl_u128_t v = bl_key_value(kind, bl_keys_record(engine, kind, slot), field);
            if (v != 0) {
                if (last == NULL || v != last->value)
                    last = bl_keys_get(engine, part, kind, field, v,
                                       hashes[(k - BL_KEYS_DISTANCE) % BL_KEYS_DISTANCE]);
                bl_keys_append(engine, part, last, slot);
            }
        }
        if (k < count && partitions[k] == p) {
            bl_u128_t v = bl_key_value(kind, bl_keys_record(engine, kind, (uint32_t)(base + k)),
                                       field);
            if (v != 0 && v != ahead_last) {
                hashes[k % BL_KEYS_DISTANCE] = bl_key_hash(v);
                bl_index_prefetch(index, hashes[k % BL_KEYS_DISTANCE]);
                ahead_last = v;
            }
        }
    }
}

void bl_keys_apply(bl_engine_t *engine, uint32_t p) {
    const bl_block_t *block = &engine->block;
    for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
        bl_keys_apply_field(engine, p, BL_KEYS_ACCOUNTS, f, block->accounts_base,
                            engine->accounts_count - block->accounts_base,
                            block->accounts_new_partition);
        bl_keys_apply_field(engine, p, BL_KEYS_TRANSFERS, f, block->transfers_base,
                            engine->transfers_count - block->transfers_base,
                            block->transfers_new_partition);
    }
}

const bl_list_t *bl_keys_find(const bl_engine_t *engine, uint32_t p, uint32_t kind,
                              uint32_t field, bl_u128_t value) {
    const bl_key_store_t *store = &engine->key_stores[kind][field];
    uint32_t k = bl_index_find(&engine->partitions[p].keys[kind][field], &store->records,
                               bl_key_hash(value), value);
    if (k == BL_SLOT_NONE) return NULL;
    return &((const bl_key_t *)store->records.base)[k].slots;
}

int bl_keys_init(bl_engine_t *engine) {
    const bl_engine_config_t *c = &engine->config;
    const uint64_t objects[BL_KEYS_KINDS] = {c->accounts_max, c->transfers_max};
    for (uint32_t kind = 0; kind < BL_KEYS_KINDS; kind++) {
        /* Each partition's buckets: its even share of the objects (load at most 1 then). */
        uint64_t buckets = 1024;
        while (buckets < objects[kind] / c->partitions + 1) buckets *= 2;
        for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
            bl_key_store_t *store = &engine->key_stores[kind][f];
            store->capacity = objects[kind] + (uint64_t)c->partitions * BL_KEYS_CHUNK;
            store->records.base = bl_table_reserve(store->capacity * sizeof(bl_key_t));
            store->records.next = bl_table_reserve(store->capacity * sizeof(uint32_t));
            store->records.shift = 5;
            atomic_init(&store->used, 0);
            if (!store->records.base || !store->records.next) return -ENOMEM;
            for (uint32_t p = 0; p < c->partitions; p++) {
                if (bl_index_init(&engine->partitions[p].keys[kind][f], buckets) != 0)
                    return -ENOMEM;
            }
        }
    }
    return 0;
}

void bl_keys_deinit(bl_engine_t *engine) {
    for (uint32_t kind = 0; kind < BL_KEYS_KINDS; kind++) {
        for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
            bl_key_store_t *store = &engine->key_stores[kind][f];
            bl_table_release(store->records.base, store->capacity * sizeof(bl_key_t));
            bl_table_release(store->records.next, store->capacity * sizeof(uint32_t));
            store->records.base = NULL;
            store->records.next = NULL;
            for (uint32_t p = 0; engine->partitions != NULL && p < engine->config.partitions;
                 p++) {
                bl_index_t *index = &engine->partitions[p].keys[kind][f];
                if (index->buckets) bl_index_deinit(index);
            }
        }
    }
}
