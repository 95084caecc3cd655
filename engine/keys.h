/*
 * The query indexes, implemented in keys.c.
 */
#ifndef BALLAST_ENGINE_KEYS_H
#define BALLAST_ENGINE_KEYS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/assert.h"
#include "common/hash.h"
#include "engine/engine.h"
#include "engine/pool.h"

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

#endif /* BALLAST_ENGINE_KEYS_H */
