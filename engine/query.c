/*
 * Reads of the filter ops: get_account_transfers, get_account_balances, query_accounts and
 * query_transfers (PROTOCOL.md "AccountFilter", "QueryFilter").
 *
 * Slots are in timestamp order, so a timestamp bound becomes a slot bound by one binary search
 * over the records, then a bound in each list of slots by a binary search over the list.
 * Account reads walk the account's history lists (history.c), merging the debit and credit
 * lists by slot; balance entries carry their own timestamps. Queries walk the lists of one
 * filter field's value (keys.c), merging the N partitions' lists by slot: of the filter's
 * non-zero fields, the one whose value the fewest objects hold, the other fields checked on
 * each record. A query with no field set walks the records of its range. So a page costs
 * O(N log n + m) where m is the number of objects holding the chosen field's value in the
 * range (k, the matches, when one field is set).
 *
 * With indexes_off every read that would use a list of slots scans the records instead.
 */
#include <string.h>

#include "engine/internal.h"

static bool bl_zero(const void *bytes, size_t size) {
    const uint8_t *p = bytes;
    for (size_t i = 0; i < size; i++) {
        if (p[i] != 0) return false;
    }
    return true;
}

/* The timestamp range of a filter as [min, max], both inclusive. */
static void bl_filter_range(uint64_t timestamp_min, uint64_t timestamp_max, uint64_t *min,
                            uint64_t *max) {
    *min = timestamp_min;
    *max = timestamp_max == 0 ? UINT64_MAX : timestamp_max;
}

static bool bl_account_filter_valid(const bl_account_filter_t *f) {
    if (f->account_id == 0 || f->account_id == BL_U128_MAX) return false;
    if (f->limit == 0 || f->limit > BL_FILTER_LIMIT_MAX) return false;
    if (!(f->flags & (BL_FILTER_DEBITS | BL_FILTER_CREDITS))) return false;
    if (f->flags & ~BL_ACCOUNT_FILTER_FLAGS_KNOWN) return false;
    if (f->reserved0 != 0 || !bl_zero(f->reserved1, sizeof(f->reserved1))) return false;
    if (f->timestamp_max != 0 && f->timestamp_min > f->timestamp_max) return false;
    return true;
}

static bool bl_account_filter_match(const bl_account_filter_t *f, const bl_transfer_t *t) {
    return (f->user_data_128 == 0 || f->user_data_128 == t->user_data_128) &&
           (f->user_data_64 == 0 || f->user_data_64 == t->user_data_64) &&
           (f->user_data_32 == 0 || f->user_data_32 == t->user_data_32) &&
           (f->code == 0 || f->code == t->code);
}


/* The objects of one kind, as the reads see them. */
typedef struct bl_objects {
    uint32_t kind; /* BL_KEYS_ACCOUNTS or BL_KEYS_TRANSFERS */
    const uint8_t *records;
    uint64_t count;
} bl_objects_t;

static bl_objects_t bl_objects(const bl_engine_t *e, uint32_t kind) {
    return kind == BL_KEYS_ACCOUNTS
               ? (bl_objects_t){kind, (const uint8_t *)e->accounts, e->accounts_count}
               : (bl_objects_t){kind, (const uint8_t *)e->transfers, e->transfers_count};
}

static const void *bl_object(const bl_objects_t *o, uint64_t slot) {
    return o->records + slot * 128;
}

static uint64_t bl_object_timestamp(const bl_objects_t *o, uint64_t slot) {
    return o->kind == BL_KEYS_ACCOUNTS ? ((const bl_account_t *)bl_object(o, slot))->timestamp
                                       : ((const bl_transfer_t *)bl_object(o, slot))->timestamp;
}

/* The first slot whose timestamp is at least `timestamp` (count if none). */
static uint32_t bl_object_slot_at(const bl_objects_t *o, uint64_t timestamp) {
    uint64_t lo = 0, hi = o->count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (bl_object_timestamp(o, mid) < timestamp) lo = mid + 1; else hi = mid;
    }
    return (uint32_t)lo;
}

/* The slot range [begin, end) of the timestamp range [min, max]. */
static void bl_object_slots(const bl_objects_t *o, uint64_t min, uint64_t max, uint32_t *begin,
                            uint32_t *end) {
    *begin = bl_object_slot_at(o, min);
    *end = max == UINT64_MAX ? (uint32_t)o->count : bl_object_slot_at(o, max + 1);
}

/* Keys of list elements for bl_list_lower: a slot, a balance entry's timestamp. */
static uint64_t bl_slot_key(const void *element) { return *(const uint32_t *)element; }

static uint64_t bl_entry_key(const void *element) {
    return ((const bl_balance_entry_t *)element)->timestamp;
}

/* A cursor over the slots at indexes [begin, end) of one list (a key's, or an account's slot
 * list), walked up or down; with neither (both NULL), over the slots [begin, end)
 * themselves. */
typedef struct bl_cursor {
    const bl_pool_t *pool;
    const bl_list_t *list;
    const bl_slot_list_t *slots;
    uint32_t begin;
    uint32_t end;
} bl_cursor_t;

static bool bl_cursor_peek(const bl_cursor_t *c, bool reversed, uint32_t *slot) {
    if (c->begin >= c->end) return false;
    uint32_t i = reversed ? c->end - 1 : c->begin;
    if (c->list != NULL) {
        *slot = *(const uint32_t *)bl_list_at(c->pool, c->list, i);
    } else if (c->slots != NULL) {
        *slot = bl_slot_list_at(c->pool, c->slots, i);
    } else {
        *slot = i;
    }
    return true;
}

static void bl_cursor_next(bl_cursor_t *c, bool reversed) {
    if (reversed) c->end--; else c->begin++;
}

/* A cursor over the part of `list` (in `pool`) in the slot range [begin, end). */
static bl_cursor_t bl_cursor_open(const bl_pool_t *pool, const bl_list_t *list, uint32_t begin,
                                  uint32_t end) {
    return (bl_cursor_t){.pool = pool,
                         .list = list,
                         .begin = bl_list_lower(pool, list, bl_slot_key, begin),
                         .end = bl_list_lower(pool, list, bl_slot_key, end)};
}

/* Takes the next slot in order from `n` cursors over disjoint lists; false when all are
 * done. */
static bool bl_cursors_next(bl_cursor_t *cursors, uint32_t n, bool reversed, uint32_t *slot) {
    uint32_t best = 0;
    bool any = false;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t s;
        if (!bl_cursor_peek(&cursors[k], reversed, &s)) continue;
        if (!any || (reversed ? s > *slot : s < *slot)) {
            best = k;
            *slot = s;
            any = true;
        }
    }
    if (any) bl_cursor_next(&cursors[best], reversed);
    return any;
}

/* A valid filter naming an account that exists: its slot and timestamp range. */
static bool bl_account_filter_open(const bl_engine_t *e, const bl_account_filter_t *f,
                                   uint32_t *account, uint64_t *min, uint64_t *max) {
    if (!bl_account_filter_valid(f)) return false;
    *account = bl_engine_find(e, true, f->account_id);
    bl_filter_range(f->timestamp_min, f->timestamp_max, min, max);
    return *account != BL_SLOT_NONE;
}

uint32_t bl_engine_account_transfers(const bl_engine_t *e, const bl_account_filter_t *f,
                                     bl_transfer_t *out) {
    uint32_t account;
    uint64_t min, max;
    if (!bl_account_filter_open(e, f, &account, &min, &max)) return 0;
    bl_objects_t transfers = bl_objects(e, BL_KEYS_TRANSFERS);
    uint32_t slot_begin, slot_end;
    bl_object_slots(&transfers, min, max, &slot_begin, &slot_end);
    bool reversed = (f->flags & BL_FILTER_REVERSED) != 0;

    /* The account's debit and credit lists (disjoint: an account is never both sides), or
     * without lists every transfer of the range. */
    bl_cursor_t cursors[2];
    uint32_t cursors_count = 0;
    const uint32_t kinds[2] = {BL_LIST_DEBITS, BL_LIST_CREDITS};
    const uint32_t sides[2] = {BL_FILTER_DEBITS, BL_FILTER_CREDITS};
    const bl_pool_t *runs = &e->pools[BL_POOL_RUNS];
    for (uint32_t k = 0; k < 2 && !e->config.indexes_off; k++) {
        if (!(f->flags & sides[k])) continue;
        const bl_slot_list_t *list = &e->account_aux[account].transfers[kinds[k]];
        cursors[cursors_count++] =
            (bl_cursor_t){.pool = runs,
                          .slots = list,
                          .begin = bl_slot_list_lower(runs, list, slot_begin),
                          .end = bl_slot_list_lower(runs, list, slot_end)};
    }
    if (e->config.indexes_off)
        cursors[cursors_count++] = (bl_cursor_t){.begin = slot_begin, .end = slot_end};
    uint32_t found = 0, slot;
    while (found < f->limit && bl_cursors_next(cursors, cursors_count, reversed, &slot)) {
        const bl_transfer_t *t = &e->transfers[slot];
        bool side = ((f->flags & BL_FILTER_DEBITS) && t->debit_account_id == f->account_id) ||
                    ((f->flags & BL_FILTER_CREDITS) && t->credit_account_id == f->account_id);
        if (side && bl_account_filter_match(f, t)) out[found++] = *t;
    }
    return found;
}

uint32_t bl_engine_account_balances(const bl_engine_t *e, const bl_account_filter_t *f,
                                    bl_account_balance_t *out) {
    uint32_t account;
    uint64_t min, max;
    if (!bl_account_filter_open(e, f, &account, &min, &max)) return 0;
    const bl_list_t *list = &e->account_balances[account];
    const bl_pool_t *pool = &e->pools[BL_POOL_BALANCES];
    uint32_t begin = bl_list_lower(pool, list, bl_entry_key, min);
    uint32_t end =
        max == UINT64_MAX ? list->count : bl_list_lower(pool, list, bl_entry_key, max + 1);
    bool reversed = (f->flags & BL_FILTER_REVERSED) != 0;

    uint32_t found = 0;
    for (uint32_t n = begin; n < end && found < f->limit; n++) {
        uint32_t i = reversed ? end - 1 - (n - begin) : n;
        const bl_balance_entry_t *entry = bl_list_at(pool, list, i);
        if (!(f->flags & entry->side)) continue;
        if (!bl_account_filter_match(f, &e->transfers[entry->transfer_slot])) continue;
        bl_account_balance_t *b = &out[found++];
        memset(b, 0, sizeof(*b));
        b->debits_pending = entry->debits_pending;
        b->debits_posted = entry->debits_posted;
        b->credits_pending = entry->credits_pending;
        b->credits_posted = entry->credits_posted;
        b->timestamp = entry->timestamp;
    }
    return found;
}

/* ------------------------------------------------------------------------------------------ */
/* Queries.                                                                                   */

static bool bl_query_filter_valid(const bl_query_filter_t *f) {
    if (f->limit == 0 || f->limit > BL_FILTER_LIMIT_MAX) return false;
    if (f->flags & ~BL_QUERY_FILTER_FLAGS_KNOWN) return false;
    if (!bl_zero(f->reserved0, sizeof(f->reserved0)) ||
        !bl_zero(f->reserved1, sizeof(f->reserved1)))
        return false;
    if (f->timestamp_max != 0 && f->timestamp_min > f->timestamp_max) return false;
    return true;
}

/* Whether a record's field values equal every non-zero one of the filter's. */
static bool bl_query_match(const bl_u128_t wanted[BL_KEY_FIELDS],
                           const bl_u128_t values[BL_KEY_FIELDS]) {
    for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
        if (wanted[f] != 0 && wanted[f] != values[f]) return false;
    }
    return true;
}

/* Opens one cursor per partition over the slots, in [begin, end), of the objects holding the
 * value of the filter field that the fewest objects hold; the cursors read `lists` (the
 * caller's, kept while they are used). Returns the number of cursors, or -1 when the filter
 * sets no field (every object of the range is a candidate). */
static int bl_query_cursors(const bl_engine_t *e, uint32_t kind,
                            const bl_u128_t wanted[BL_KEY_FIELDS], uint32_t begin, uint32_t end,
                            bl_list_t lists[BL_PARTITIONS_MAX], bl_cursor_t *cursors) {
    const uint32_t n = e->config.partitions;
    uint64_t best_total = UINT64_MAX;
    for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
        if (wanted[f] == 0) continue;
        bl_list_t found[BL_PARTITIONS_MAX];
        uint64_t total = 0;
        for (uint32_t p = 0; p < n; p++) {
            if (!bl_keys_find(e, p, kind, f, wanted[f], &found[p])) found[p].count = 0;
            total += found[p].count;
        }
        if (total < best_total) {
            best_total = total;
            memcpy(lists, found, n * sizeof(found[0]));
        }
    }
    if (best_total == UINT64_MAX) return -1;
    int count = 0;
    for (uint32_t p = 0; p < n; p++) {
        if (lists[p].count != 0)
            cursors[count++] = bl_cursor_open(&e->pools[BL_POOL_SLOTS], &lists[p], begin, end);
    }
    return count;
}

static uint32_t bl_query(const bl_engine_t *e, uint32_t kind, const bl_query_filter_t *f,
                         void *out) {
    if (!bl_query_filter_valid(f)) return 0;
    const bl_u128_t wanted[BL_KEY_FIELDS] = {f->user_data_128, f->user_data_64, f->user_data_32,
                                             f->ledger, f->code};
    bl_objects_t objects = bl_objects(e, kind);
    uint64_t min, max;
    bl_filter_range(f->timestamp_min, f->timestamp_max, &min, &max);
    uint32_t begin, end;
    bl_object_slots(&objects, min, max, &begin, &end);
    bool reversed = (f->flags & BL_QUERY_REVERSED) != 0;

    bl_list_t lists[BL_PARTITIONS_MAX];
    bl_cursor_t cursors[BL_PARTITIONS_MAX];
    int count =
        e->config.indexes_off ? -1 : bl_query_cursors(e, kind, wanted, begin, end, lists, cursors);
    if (count < 0) { /* every slot of the range is a candidate */
        cursors[0] = (bl_cursor_t){.begin = begin, .end = end};
        count = 1;
    }
    uint32_t found = 0, slot;
    while (found < f->limit && bl_cursors_next(cursors, (uint32_t)count, reversed, &slot)) {
        const void *record = bl_object(&objects, slot);
        bl_u128_t values[BL_KEY_FIELDS];
        bl_key_values(kind, record, values);
        if (!bl_query_match(wanted, values)) continue;
        memcpy((uint8_t *)out + (uint64_t)found * 128, record, 128);
        found++;
    }
    return found;
}

uint32_t bl_engine_query_accounts(const bl_engine_t *e, const bl_query_filter_t *f,
                                  bl_account_t *out) {
    return bl_query(e, BL_KEYS_ACCOUNTS, f, out);
}

uint32_t bl_engine_query_transfers(const bl_engine_t *e, const bl_query_filter_t *f,
                                   bl_transfer_t *out) {
    return bl_query(e, BL_KEYS_TRANSFERS, f, out);
}
