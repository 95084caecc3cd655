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
 * Entries are chained per partition and field in a bl_index_t with the same chained buckets
 * as the id indexes, and two filter bits per value (bl_key_filter). A value held by one object
 * of the partition is chained as that object's slot (a direct entry: 4 bytes of chain link,
 * its value read from the record when a lookup compares it); the second object with the value
 * turns it into a key, 32 bytes holding the value and its list header. So a field unique to
 * each object (a user_data_128 reference) costs no key at all. The indexes are not part of the
 * digest or the image: they are rebuilt when an image is loaded, and results never depend on
 * them (bl_engine_config_t.indexes_off gives the same answers by scanning).
 *
 * A value below BL_KEYS_SMALL (every code; most ledgers, and many user_data_32 enumerations)
 * takes none of this: its list is entry `value` of the partition's table for the field, so
 * it costs no hash, no chain and no key, and apply's append is a load and a store.
 */
#include <errno.h>
#include <string.h>

#include "engine/internal.h"

/* Keys a partition takes from its kind's store at a time. */
#define BL_KEYS_CHUNK 1024u

/* The hash of a value: each half multiplied by an odd constant into 128 bits, folded to 64
 * (high ^ low), the two folds combined. Every bit of a fold depends on every bit of its half,
 * the low ones (the bucket) too, and a zero half (every field but a wide user_data_128)
 * costs nothing: one multiply for the five values apply hashes per object. */
static inline uint64_t bl_key_fold(uint64_t half, uint64_t constant) {
    unsigned __int128 product = (unsigned __int128)half * constant;
    return (uint64_t)product ^ (uint64_t)(product >> 64);
}

static inline uint64_t bl_key_hash(bl_u128_t value) {
    return bl_key_fold((uint64_t)value, 0x9E3779B97F4A7C15ull) ^
           bl_key_fold((uint64_t)(value >> 64), 0xBF58476D1CE4E5B9ull);
}

/* A value's filter bits in its bucket's high half: two of the 32, from hash bits 32..41. The
 * id indexes set one bit per id; a key bucket holds up to 4 entries (a quarter of a bucket per
 * object), where one bit would let a lookup of an absent value past the filter 6-12% of the
 * time, and every entry it then walks is a random record (or key) and a random chain link.
 * With two bits: 1-5%. */
static inline uint64_t bl_key_filter(uint64_t hash) {
    return (1ull << (32 + ((hash >> 32) & 31))) | (1ull << (32 + ((hash >> 37) & 31)));
}

/* Accounts and transfers hold the user_data fields at the same offsets (ledger and code
 * differ). */
#define BL_KEY_OFFSETS_MATCH(member)                                                  \
    _Static_assert(offsetof(bl_account_t, member) == offsetof(bl_transfer_t, member), \
                   "accounts and transfers hold " #member " at one offset")
BL_KEY_OFFSETS_MATCH(user_data_128);
BL_KEY_OFFSETS_MATCH(user_data_64);
BL_KEY_OFFSETS_MATCH(user_data_32);

/* Field `field` of an account or transfer record (constant arguments inline to one load). */
static inline __attribute__((always_inline)) bl_u128_t
bl_key_value(uint32_t kind, const void *record, uint32_t field) {
    const bl_account_t *a = record;
    const bl_transfer_t *t = record;
    bool accounts = kind == BL_KEYS_ACCOUNTS;
    switch (field) {
    case BL_KEY_USER_DATA_128:
        return t->user_data_128;
    case BL_KEY_USER_DATA_64:
        return t->user_data_64;
    case BL_KEY_USER_DATA_32:
        return t->user_data_32;
    case BL_KEY_LEDGER:
        return accounts ? a->ledger : t->ledger;
    default:
        return accounts ? a->code : t->code;
    }
}

/* a == b, for two values of field `field` (a constant where inlined): only user_data_128
 * has a high half, so the others compare their low halves alone. */
static inline __attribute__((always_inline)) bool bl_key_equal(uint32_t field, bl_u128_t a,
                                                               bl_u128_t b) {
    return field == BL_KEY_USER_DATA_128 ? a == b : (uint64_t)a == (uint64_t)b;
}

/* Whether `value` is a non-zero one below BL_KEYS_SMALL (a constant comparison where the
 * field is known: 128-bit only for user_data_128). */
static inline bool bl_key_small(bl_u128_t value) {
    return value - 1 < BL_KEYS_SMALL - 1;
}

/* Partition part's list of small value `value` of `field`. */
static inline bl_list_t *bl_keys_small_list(const bl_partition_t *part, uint32_t kind,
                                            uint32_t field, bl_u128_t value) {
    return &part->small_keys[kind][field][(uint32_t)value];
}

void bl_key_values(uint32_t kind, const void *record, bl_u128_t values[BL_KEY_FIELDS]) {
    for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) values[f] = bl_key_value(kind, record, f);
}

/* The record of `slot` (a checked copy in `copy` when it is a cold transfer). */
static const void *bl_keys_record(const bl_engine_t *engine, uint32_t kind, uint32_t slot,
                                  bl_transfer_t *copy) {
    return kind == BL_KEYS_ACCOUNTS ? (const void *)&engine->accounts[slot]
                                    : (const void *)bl_transfer_read(engine, slot, copy);
}

/* A new key for partition `part`, from its chunk of the store. */
static uint32_t bl_keys_take(bl_key_store_t *store, uint64_t *next, uint64_t *end) {
    if (*next == *end) {
        uint64_t begin =
            atomic_fetch_add_explicit(&store->used, BL_KEYS_CHUNK, memory_order_relaxed);
        BL_ASSERT(begin + BL_KEYS_CHUNK <= store->capacity);
        *next = begin;
        *end = begin + BL_KEYS_CHUNK;
    }
    return (uint32_t)(*next)++;
}

/* Where a chain walk found an entry: the entry and the word linking to it (the bucket's low
 * half when `cell` is NULL). */
typedef struct bl_keys_at {
    uint32_t entry; /* BL_SLOT_NONE: the value has no entry */
    uint64_t *bucket;
    uint32_t *cell;
    uint64_t filter; /* the value's filter bits */
} bl_keys_at_t;

/* The entry of `value` in partition p's chain of `field` (inlined; where kind and field are
 * constants, a direct entry's value is one load from its record). */
static inline __attribute__((always_inline)) bl_keys_at_t
bl_keys_walk(const bl_engine_t *engine, const bl_partition_t *part, uint32_t kind, uint32_t field,
             bl_u128_t value, uint64_t hash) {
    const bl_key_store_t *store = &engine->key_stores[kind][field];
    const bl_index_t *index = &part->keys[kind][field];
    bl_keys_at_t at = {.entry = BL_SLOT_NONE,
                       .bucket = &index->buckets[hash & index->mask],
                       .filter = bl_key_filter(hash)};
    if ((*at.bucket & at.filter) != at.filter) return at;
    for (uint32_t link = (uint32_t)*at.bucket; link != 0;) {
        uint32_t entry = link - 1;
        uint32_t *next;
        if (entry & BL_KEY_DIRECT) {
            uint32_t slot = entry & ~BL_KEY_DIRECT;
            bl_transfer_t copy;
            if (bl_key_value(kind, bl_keys_record(engine, kind, slot, &copy), field) == value) {
                at.entry = entry;
                return at;
            }
            next = &store->direct_next[slot];
        } else {
            if (bl_key_equal(field, store->keys[entry].value, value)) {
                at.entry = entry;
                return at;
            }
            next = &store->next[entry];
        }
        at.cell = next;
        link = *next;
    }
    return at;
}

/* The key at the head of the chain of `hash` if it holds `value`, else NULL. An empty
 * chain's head (link 0) reads as a direct entry. */
static inline __attribute__((always_inline)) bl_key_t *
bl_keys_head(bl_engine_t *engine, const bl_partition_t *part, uint32_t kind, uint32_t field,
             bl_u128_t value, uint64_t hash) {
    const bl_index_t *index = &part->keys[kind][field];
    uint32_t head = (uint32_t)index->buckets[hash & index->mask] - 1;
    if (head & BL_KEY_DIRECT) return NULL;
    bl_key_t *key = &engine->key_stores[kind][field].keys[head];
    return bl_key_equal(field, key->value, value) ? key : NULL;
}

/* Where a lookup tries the key at its chain's head before the filter bits: a score per field
 * and block, up by one (to BL_KEYS_HEADS_MAX) for each lookup through the filter that ends at
 * a key at its chain's head, down by one for any other, and the head first from
 * BL_KEYS_HEADS_FIRST on (a lookup that finds its key there first leaves the score as is).
 * Where most lookups find a value many objects hold (a code, a user_data_32), that saves the
 * filter and the chain walk; where they insert new values, the filter comes first, so an
 * insert does not read a head's key (a random line) only to find it holds another value. */
#define BL_KEYS_HEADS_MAX 8u
#define BL_KEYS_HEADS_FIRST 4u

/* Appends `slot` to the list of `value` (non-zero) in partition p's index of `field`, and
 * returns that value's key; NULL when the slot is the first with the value, chained as a
 * direct entry. `heads`: the field's score (NULL: the filter first). */
static inline __attribute__((always_inline)) bl_key_t *
bl_keys_get(bl_engine_t *engine, bl_partition_t *part, uint32_t kind, uint32_t field,
            bl_u128_t value, uint64_t hash, uint32_t slot, uint8_t *heads) {
    bl_key_store_t *store = &engine->key_stores[kind][field];
    bl_pool_t *pool = &engine->pools[BL_POOL_SLOTS];
    bl_pool_share_t *share = &part->pool_shares[BL_POOL_SLOTS];
    if (heads != NULL && *heads >= BL_KEYS_HEADS_FIRST) {
        bl_key_t *key = bl_keys_head(engine, part, kind, field, value, hash);
        if (key != NULL) {
            bl_list_append_slot(pool, share, &key->slots, slot);
            return key;
        }
    }
    bl_keys_at_t at = bl_keys_walk(engine, part, kind, field, value, hash);
    bool head = at.entry != BL_SLOT_NONE && !(at.entry & BL_KEY_DIRECT) && at.cell == NULL;
    if (heads != NULL && head && *heads < BL_KEYS_HEADS_MAX) ++*heads;
    if (heads != NULL && !head && *heads > 0) --*heads;
    if (at.entry == BL_SLOT_NONE) {
        store->direct_next[slot] = bl_bucket_push(at.bucket, at.filter, (slot | BL_KEY_DIRECT) + 1);
        return NULL;
    }
    if (!(at.entry & BL_KEY_DIRECT)) {
        bl_key_t *key = &store->keys[at.entry];
        bl_list_append_slot(pool, share, &key->slots, slot);
        return key;
    }
    /* A second object with the value: the direct entry becomes a key, in its place. */
    uint32_t first = at.entry & ~BL_KEY_DIRECT;
    uint32_t k = bl_keys_take(store, &part->keys_next[kind][field], &part->keys_end[kind][field]);
    BL_ASSERT(k < BL_KEY_DIRECT);
    bl_key_t *key = &store->keys[k];
    *key = (bl_key_t){.value = value};
    bl_list_append_slot(pool, share, &key->slots, first);
    bl_list_append_slot(pool, share, &key->slots, slot);
    store->next[k] = store->direct_next[first];
    if (at.cell != NULL) {
        *at.cell = k + 1;
    } else {
        *at.bucket = (*at.bucket & 0xFFFFFFFF00000000ull) | (k + 1ull);
    }
    return key;
}

void bl_keys_insert(bl_engine_t *engine, uint32_t p, uint32_t kind, uint32_t slot) {
    bl_partition_t *part = &engine->partitions[p];
    bl_transfer_t copy;
    const void *record = bl_keys_record(engine, kind, slot, &copy);
    for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
        bl_u128_t value = bl_key_value(kind, record, f);
        if (bl_key_small(value)) {
            bl_list_append_slot(&engine->pools[BL_POOL_SLOTS], &part->pool_shares[BL_POOL_SLOTS],
                                bl_keys_small_list(part, kind, f, value), slot);
        } else if (value != 0) {
            bl_keys_get(engine, part, kind, f, value, bl_key_hash(value), slot, NULL);
        }
    }
}

/* Apply indexes a block's objects in two walks over them, BL_KEYS_DISTANCE objects apart.
 * The one ahead notes which fields of each object hold a small value (bl_key_small) and
 * which a hashed one (non-zero, not small); it compares a hashed value with that field's last
 * hashed value, and a new one it hashes, and prefetches its bucket. The one behind appends
 * small values to their tables, finds the keys of new hashed values and appends; an object
 * whose value is its field's last one goes on the last key found (consecutive objects often
 * share a value: a batch's user_data), so it costs no lookup and no comparison. The misses
 * of several lookups overlap. Each field is written out with a constant field number, so its
 * reads and comparisons compile to the field's own width. */
#define BL_KEYS_DISTANCE 8u

typedef struct bl_keys_walk {
    bl_u128_t ahead[BL_KEY_FIELDS]; /* the walk ahead's last hashed value per field */
    bl_key_t *last[BL_KEY_FIELDS];  /* the walk behind's last key (NULL: a direct entry) */
    /* per object in flight: hashes of its new values, and which of its fields are hashed
     * (bit f), new (bit BL_KEYS_NEW + f) and small (bit BL_KEYS_SMALL_BIT + f) */
    uint64_t hashes[BL_KEYS_DISTANCE][BL_KEY_FIELDS];
    uint32_t fields[BL_KEYS_DISTANCE];
    uint8_t heads[BL_KEY_FIELDS]; /* bl_keys_get's scores */
} bl_keys_walk_t;

#define BL_KEYS_NEW 8u
#define BL_KEYS_SMALL_BIT 16u

/* The walk ahead at one field of an object: its bits of bl_keys_walk_t.fields. */
static inline __attribute__((always_inline)) uint32_t
bl_keys_ahead_field(const bl_partition_t *part, uint32_t kind, uint32_t field, const void *record,
                    bl_keys_walk_t *walk, uint32_t ring) {
    bl_u128_t value = bl_key_value(kind, record, field);
    if (value < BL_KEYS_SMALL) return (uint32_t)(value != 0) << (BL_KEYS_SMALL_BIT + field);
    if (bl_key_equal(field, value, walk->ahead[field])) return 1u << field;
    uint64_t hash = bl_key_hash(value);
    walk->hashes[ring][field] = hash;
    bl_index_prefetch(&part->keys[kind][field], hash);
    walk->ahead[field] = value;
    return (1u << field) | (1u << (BL_KEYS_NEW + field));
}

static inline __attribute__((always_inline)) void
bl_keys_behind_field(bl_engine_t *engine, bl_partition_t *part, uint32_t kind, uint32_t field,
                     const void *record, uint32_t slot, bl_keys_walk_t *walk, uint32_t ring,
                     uint32_t fields) {
    if (fields >> (BL_KEYS_SMALL_BIT + field) & 1) {
        bl_list_append_slot(
            &engine->pools[BL_POOL_SLOTS], &part->pool_shares[BL_POOL_SLOTS],
            bl_keys_small_list(part, kind, field, bl_key_value(kind, record, field)), slot);
        return;
    }
    if (!(fields >> field & 1)) return;
    bool fresh = fields >> (BL_KEYS_NEW + field) & 1;
    bl_key_t **last = &walk->last[field];
    if (!fresh && *last != NULL) {
        bl_list_append_slot(&engine->pools[BL_POOL_SLOTS], &part->pool_shares[BL_POOL_SLOTS],
                            &(*last)->slots, slot);
        return;
    }
    /* A new value, or the second object with the last one (its first is a direct entry). */
    bl_u128_t value = bl_key_value(kind, record, field);
    uint64_t hash = fresh ? walk->hashes[ring][field] : bl_key_hash(value);
    *last = bl_keys_get(engine, part, kind, field, value, hash, slot, &walk->heads[field]);
}

#define BL_KEYS_EACH_FIELD(call)    \
    do {                            \
        call(BL_KEY_USER_DATA_128); \
        call(BL_KEY_USER_DATA_64);  \
        call(BL_KEY_USER_DATA_32);  \
        call(BL_KEY_LEDGER);        \
        call(BL_KEY_CODE);          \
    } while (0)

/* Indexes the slots base + own[j], j < count (inlined for each kind, so the kind is a
 * constant too). */
static inline __attribute__((always_inline)) void
bl_keys_apply_kind(bl_engine_t *engine, uint32_t p, uint32_t kind, uint64_t base,
                   const uint32_t *own, uint32_t count) {
    bl_partition_t *part = &engine->partitions[p];
    /* the block's new objects: hot, read in place */
    const uint8_t *records = kind == BL_KEYS_ACCOUNTS ? (const uint8_t *)engine->accounts
                                                      : (const uint8_t *)engine->transfers;
    const size_t size = kind == BL_KEYS_ACCOUNTS ? sizeof(bl_account_t) : sizeof(bl_transfer_t);
    bl_keys_walk_t walk = {0};
    for (uint32_t j = 0; j < count + BL_KEYS_DISTANCE; j++) {
        /* object j - BL_KEYS_DISTANCE behind, then object j ahead in the ring entry it
         * frees */
        uint32_t ring = j % BL_KEYS_DISTANCE;
        if (j >= BL_KEYS_DISTANCE) {
            uint32_t slot = (uint32_t)(base + own[j - BL_KEYS_DISTANCE]);
            const void *record = records + slot * size;
            uint32_t fields = walk.fields[ring];
#define BL_KEYS_BEHIND(f) \
    bl_keys_behind_field(engine, part, kind, f, record, slot, &walk, ring, fields)
            BL_KEYS_EACH_FIELD(BL_KEYS_BEHIND);
#undef BL_KEYS_BEHIND
        }
        if (j < count) {
            const void *record = records + (base + own[j]) * size;
            uint32_t fields = 0;
#define BL_KEYS_AHEAD(f) fields |= bl_keys_ahead_field(part, kind, f, record, &walk, ring)
            BL_KEYS_EACH_FIELD(BL_KEYS_AHEAD);
#undef BL_KEYS_AHEAD
            walk.fields[ring] = fields;
        }
    }
}

void bl_keys_apply(bl_engine_t *engine, uint32_t p) {
    const bl_block_t *block = &engine->block;
    const bl_partition_t *part = &engine->partitions[p];
    bl_keys_apply_kind(engine, p, BL_KEYS_ACCOUNTS, block->accounts_base, part->own_accounts_new,
                       part->own_accounts);
    bl_keys_apply_kind(engine, p, BL_KEYS_TRANSFERS, block->transfers_base, part->own_transfers_new,
                       part->own_transfers);
}

bool bl_keys_find(const bl_engine_t *engine, uint32_t p, uint32_t kind, uint32_t field,
                  bl_u128_t value, bl_list_t *list) {
    if (bl_key_small(value)) {
        *list = *bl_keys_small_list(&engine->partitions[p], kind, field, value);
        return list->count != 0;
    }
    bl_keys_at_t at =
        bl_keys_walk(engine, &engine->partitions[p], kind, field, value, bl_key_hash(value));
    if (at.entry == BL_SLOT_NONE) return false;
    if (at.entry & BL_KEY_DIRECT) {
        *list = (bl_list_t){.count = 1, .first = at.entry & ~BL_KEY_DIRECT};
    } else {
        *list = engine->key_stores[kind][field].keys[at.entry].slots;
    }
    return true;
}

int bl_keys_init(bl_engine_t *engine) {
    const bl_engine_config_t *c = &engine->config;
    const uint64_t objects[BL_KEYS_KINDS] = {c->accounts_max, c->transfers_max};
    for (uint32_t kind = 0; kind < BL_KEYS_KINDS; kind++) {
        /* Each partition's buckets: a quarter of its even share of the objects, so a field
         * unique to every object loads each bucket with 4 entries at most. A lookup of an
         * absent value (every insert of a unique one) stops at the bucket's filter bits, and
         * a field with few values (most) commits a quarter of the bucket pages it would. */
        uint64_t buckets = 1024;
        while (buckets < objects[kind] / c->partitions / 4 + 1) buckets *= 2;
        for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
            bl_key_store_t *store = &engine->key_stores[kind][f];
            /* A key per two objects of a partition at most, and a chunk per partition. */
            store->capacity = objects[kind] / 2 + (uint64_t)c->partitions * BL_KEYS_CHUNK;
            store->objects = objects[kind];
            store->keys = bl_table_reserve(store->capacity * sizeof(bl_key_t));
            store->next = bl_table_reserve(store->capacity * sizeof(uint32_t));
            store->direct_next = bl_table_reserve(store->objects * sizeof(uint32_t));
            atomic_init(&store->used, 0);
            if (!store->keys || !store->next || !store->direct_next) return -ENOMEM;
            for (uint32_t p = 0; p < c->partitions; p++) {
                bl_partition_t *part = &engine->partitions[p];
                if (bl_index_init(&part->keys[kind][f], buckets) != 0) return -ENOMEM;
                part->small_keys[kind][f] = bl_table_reserve(BL_KEYS_SMALL * sizeof(bl_list_t));
                if (part->small_keys[kind][f] == NULL) return -ENOMEM;
            }
        }
    }
    return 0;
}

void bl_keys_deinit(bl_engine_t *engine) {
    for (uint32_t kind = 0; kind < BL_KEYS_KINDS; kind++) {
        for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
            bl_key_store_t *store = &engine->key_stores[kind][f];
            bl_table_release(store->keys, store->capacity * sizeof(bl_key_t));
            bl_table_release(store->next, store->capacity * sizeof(uint32_t));
            bl_table_release(store->direct_next, store->objects * sizeof(uint32_t));
            store->keys = NULL;
            store->next = store->direct_next = NULL;
            for (uint32_t p = 0; engine->partitions != NULL && p < engine->config.partitions; p++) {
                bl_partition_t *part = &engine->partitions[p];
                if (part->keys[kind][f].buckets) bl_index_deinit(&part->keys[kind][f]);
                bl_table_release(part->small_keys[kind][f], BL_KEYS_SMALL * sizeof(bl_list_t));
                part->small_keys[kind][f] = NULL;
            }
        }
    }
}
