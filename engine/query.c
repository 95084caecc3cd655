/*
 * Reads of the filter ops: get_account_transfers, get_account_balances, query_accounts and
 * query_transfers (PROTOCOL.md "AccountFilter", "QueryFilter").
 *
 * Account reads walk the account's history lists (history.c). Transfer slots are in timestamp
 * order, so a timestamp bound becomes a slot bound by one binary search over the transfers,
 * then a bound in each list by a binary search over its slots; the debit and credit lists are
 * merged by slot. Balance entries carry their own timestamps.
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


/* The first transfer slot whose timestamp is at least `timestamp` (transfers_count if none). */
static uint32_t bl_transfer_slot_at(const bl_engine_t *e, uint64_t timestamp) {
    uint64_t lo = 0, hi = e->transfers_count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (e->transfers[mid].timestamp < timestamp) lo = mid + 1; else hi = mid;
    }
    return (uint32_t)lo;
}

/* The first index of `slots` (sorted, n of them) holding a slot at least `slot`. */
static uint32_t bl_slots_lower(const uint32_t *slots, uint32_t n, uint32_t slot) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (slots[mid] < slot) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* A cursor over one list's slots in [begin, end), walked up or down. */
typedef struct bl_cursor {
    const uint32_t *slots;
    uint32_t begin;
    uint32_t end;
} bl_cursor_t;

static bool bl_cursor_peek(const bl_cursor_t *c, bool reversed, uint32_t *slot) {
    if (c->begin >= c->end) return false;
    *slot = reversed ? c->slots[c->end - 1] : c->slots[c->begin];
    return true;
}

static void bl_cursor_next(bl_cursor_t *c, bool reversed) {
    if (reversed) c->end--; else c->begin++;
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
    uint32_t slot_begin = bl_transfer_slot_at(e, min);
    uint32_t slot_end = max == UINT64_MAX ? (uint32_t)e->transfers_count
                                          : bl_transfer_slot_at(e, max + 1);
    bool reversed = (f->flags & BL_FILTER_REVERSED) != 0;

    bl_cursor_t cursors[2];
    uint32_t cursors_count = 0;
    const uint32_t kinds[2] = {BL_LIST_DEBITS, BL_LIST_CREDITS};
    const uint32_t sides[2] = {BL_FILTER_DEBITS, BL_FILTER_CREDITS};
    for (uint32_t k = 0; k < 2; k++) {
        if (!(f->flags & sides[k])) continue;
        const bl_list_t *list = &e->account_aux[account].lists[kinds[k]];
        const uint32_t *slots = bl_list_items(&e->pools[BL_POOL_SLOTS], list);
        cursors[cursors_count++] = (bl_cursor_t){
            .slots = slots,
            .begin = bl_slots_lower(slots, list->count, slot_begin),
            .end = bl_slots_lower(slots, list->count, slot_end),
        };
    }

    uint32_t found = 0;
    while (found < f->limit) {
        /* The next slot in order from either list (an account is never both sides). */
        uint32_t best = 0, best_slot = 0;
        bool any = false;
        for (uint32_t k = 0; k < cursors_count; k++) {
            uint32_t slot;
            if (!bl_cursor_peek(&cursors[k], reversed, &slot)) continue;
            if (!any || (reversed ? slot > best_slot : slot < best_slot)) {
                best = k;
                best_slot = slot;
                any = true;
            }
        }
        if (!any) break;
        bl_cursor_next(&cursors[best], reversed);
        const bl_transfer_t *t = &e->transfers[best_slot];
        if (bl_account_filter_match(f, t)) out[found++] = *t;
    }
    return found;
}

/* The first index of `entries` (sorted by timestamp) with a timestamp at least `timestamp`. */
static uint32_t bl_entries_lower(const bl_balance_entry_t *entries, uint32_t n,
                                 uint64_t timestamp) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (entries[mid].timestamp < timestamp) lo = mid + 1; else hi = mid;
    }
    return lo;
}

uint32_t bl_engine_account_balances(const bl_engine_t *e, const bl_account_filter_t *f,
                                    bl_account_balance_t *out) {
    uint32_t account;
    uint64_t min, max;
    if (!bl_account_filter_open(e, f, &account, &min, &max)) return 0;
    const bl_list_t *list = &e->account_aux[account].lists[BL_LIST_BALANCES];
    const bl_balance_entry_t *entries = bl_list_items(&e->pools[BL_POOL_BALANCES], list);
    uint32_t begin = bl_entries_lower(entries, list->count, min);
    uint32_t end = max == UINT64_MAX ? list->count : bl_entries_lower(entries, list->count, max + 1);
    bool reversed = (f->flags & BL_FILTER_REVERSED) != 0;

    uint32_t found = 0;
    for (uint32_t n = begin; n < end && found < f->limit; n++) {
        const bl_balance_entry_t *entry = &entries[reversed ? end - 1 - (n - begin) : n];
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

/* The fields query filters compare, common to accounts and transfers. */
typedef struct bl_query_key {
    bl_u128_t user_data_128;
    uint64_t user_data_64;
    uint32_t user_data_32;
    uint32_t ledger;
    uint16_t code;
    uint64_t timestamp;
} bl_query_key_t;

static bool bl_query_match(const bl_query_filter_t *f, const bl_query_key_t *k) {
    return (f->user_data_128 == 0 || f->user_data_128 == k->user_data_128) &&
           (f->user_data_64 == 0 || f->user_data_64 == k->user_data_64) &&
           (f->user_data_32 == 0 || f->user_data_32 == k->user_data_32) &&
           (f->ledger == 0 || f->ledger == k->ledger) && (f->code == 0 || f->code == k->code);
}

#define BL_QUERY_KEY(r)                                                                     \
    ((bl_query_key_t){(r)->user_data_128, (r)->user_data_64, (r)->user_data_32, (r)->ledger, \
                      (r)->code, (r)->timestamp})

/* Records are in slot order, which is timestamp order for both accounts and transfers. */
static uint32_t bl_query_scan(const bl_query_filter_t *f, const uint8_t *records, uint64_t count,
                              bool accounts, void *out) {
    uint64_t min, max;
    bl_filter_range(f->timestamp_min, f->timestamp_max, &min, &max);
    bool reversed = (f->flags & BL_QUERY_REVERSED) != 0;
    uint32_t found = 0;
    for (uint64_t n = 0; n < count && found < f->limit; n++) {
        const uint8_t *record = records + (reversed ? count - 1 - n : n) * 128;
        bl_query_key_t key = accounts ? BL_QUERY_KEY((const bl_account_t *)record)
                                      : BL_QUERY_KEY((const bl_transfer_t *)record);
        if (key.timestamp < min || key.timestamp > max || !bl_query_match(f, &key)) continue;
        memcpy((uint8_t *)out + (uint64_t)found * 128, record, 128);
        found++;
    }
    return found;
}

uint32_t bl_engine_query_accounts(const bl_engine_t *e, const bl_query_filter_t *f,
                                  bl_account_t *out) {
    if (!bl_query_filter_valid(f)) return 0;
    return bl_query_scan(f, (const uint8_t *)e->accounts, e->accounts_count, true, out);
}

uint32_t bl_engine_query_transfers(const bl_engine_t *e, const bl_query_filter_t *f,
                                   bl_transfer_t *out) {
    if (!bl_query_filter_valid(f)) return 0;
    return bl_query_scan(f, (const uint8_t *)e->transfers, e->transfers_count, false, out);
}
