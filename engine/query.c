/*
 * Reads of the filter ops: get_account_transfers, get_account_balances, query_accounts and
 * query_transfers (PROTOCOL.md "AccountFilter", "QueryFilter").
 *
 * Slots are in timestamp order, so a timestamp bound becomes a slot bound by one binary search
 * over the records, then a bound in each list of slots by a binary search over the list.
 * Account reads walk the account's history lists (history.c), merging the debit and credit
 * lists by slot; balance entries carry their own timestamps. Queries intersect, in each
 * partition, the lists of every non-zero filter field's value (keys.c) by leapfrogging with
 * galloping searches (bl_meet_t), and merge the N partitions' matches by slot; no record is
 * read but a match. A query with no field set walks the records of its range. With one field
 * a page costs O(N log n + k) for k matches; with several, the walk skips every run of slots
 * that one of the lists lacks in O(log) steps, so disjoint lists, or a rare value beside a
 * common one, cost O(log) per run. The worst case is lists that interleave slot by slot
 * without a common slot (odd slots hold one value, even ones the other): every run is one
 * slot long and a page walks both lists, O(m) list reads (no record reads) for m slots of
 * the lists in the range. That is why the server bounds how many reads one connection has
 * at the node (net/server.c): a costly read delays the others by its own time, not by
 * every read queued behind it.
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
    const bl_store_t *store; /* transfers: where records may be cold */
} bl_objects_t;

static bl_objects_t bl_objects(const bl_engine_t *e, uint32_t kind) {
    return kind == BL_KEYS_ACCOUNTS
               ? (bl_objects_t){kind, (const uint8_t *)e->accounts, e->accounts_count, NULL}
               : (bl_objects_t){kind, (const uint8_t *)e->transfers, e->transfers_count, &e->store};
}

/* The record in `slot`, or, when it is cold (in the store), a checked copy in `copy`. */
static const void *bl_object(const bl_objects_t *o, uint64_t slot, bl_transfer_t *copy) {
    if (o->store == NULL || !bl_store_cold(o->store, slot))
        return o->records + slot * BL_RECORD_SIZE;
    bl_store_read_cold(o->store, slot, copy);
    return copy;
}

static uint64_t bl_object_timestamp(const bl_objects_t *o, uint64_t slot) {
    bl_transfer_t copy;
    const void *record = bl_object(o, slot, &copy);
    return o->kind == BL_KEYS_ACCOUNTS ? ((const bl_account_t *)record)->timestamp
                                       : ((const bl_transfer_t *)record)->timestamp;
}

/* The first slot whose timestamp is at least `timestamp` (count if none). */
static uint32_t bl_object_slot_at(const bl_objects_t *o, uint64_t timestamp) {
    uint64_t lo = 0, hi = o->count;
    if (o->store != NULL) bl_store_narrow(o->store, o->count, timestamp, &lo, &hi);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (bl_object_timestamp(o, mid) < timestamp)
            lo = mid + 1;
        else
            hi = mid;
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
static uint64_t bl_slot_key(const void *element) {
    return *(const uint32_t *)element;
}

static uint64_t bl_entry_key(const void *element) {
    return ((const bl_balance_entry_t *)element)->timestamp;
}

/* A cursor over the slots at indexes [begin, end) of an account's slot list, walked up or
 * down; without one (NULL), over the slots [begin, end) themselves. */
typedef struct bl_cursor {
    const bl_pool_t *pool;
    const bl_slot_list_t *slots;
    uint32_t begin;
    uint32_t end;
} bl_cursor_t;

static bool bl_cursor_peek(const bl_cursor_t *c, bool reversed, uint32_t *slot) {
    if (c->begin >= c->end) return false;
    uint32_t i = reversed ? c->end - 1 : c->begin;
    if (c->slots != NULL) {
        *slot = bl_slot_list_at(c->pool, c->slots, i);
    } else {
        *slot = i;
    }
    return true;
}

static void bl_cursor_next(bl_cursor_t *c, bool reversed) {
    if (reversed)
        c->end--;
    else
        c->begin++;
}

/* Of `n` sources of `size` bytes each (cursors, or one partition's meet each), walked up or
 * down, the one whose next slot (`peek` gives it) comes first, its slot in *slot; n when all
 * are done. The sources hold disjoint slots, so there are no ties. */
static uint32_t bl_sources_first(void *sources, size_t size, uint32_t n, bool reversed,
                                 bool (*peek)(void *source, bool reversed, uint32_t *slot),
                                 uint32_t *slot) {
    uint32_t best = n;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t s;
        if (!peek((uint8_t *)sources + k * size, reversed, &s)) continue;
        if (best == n || (reversed ? s > *slot : s < *slot)) {
            best = k;
            *slot = s;
        }
    }
    return best;
}

static bool bl_cursor_peek_any(void *cursor, bool reversed, uint32_t *slot) {
    return bl_cursor_peek(cursor, reversed, slot);
}

/* Takes the next slot in order from `n` cursors over disjoint lists; false when all are
 * done. */
static bool bl_cursors_next(bl_cursor_t *cursors, uint32_t n, bool reversed, uint32_t *slot) {
    uint32_t best =
        bl_sources_first(cursors, sizeof(*cursors), n, reversed, bl_cursor_peek_any, slot);
    if (best == n) return false;
    bl_cursor_next(&cursors[best], reversed);
    return true;
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
    if (e->store.cold_below > 0) { /* the page's cold rows: their pages read in parallel */
        bl_cursor_t ahead[2];
        memcpy(ahead, cursors, cursors_count * sizeof(cursors[0]));
        for (uint32_t n = 0; n < f->limit && bl_cursors_next(ahead, cursors_count, reversed, &slot);
             n++) {
            if (bl_store_cold(&e->store, slot)) bl_store_prefetch(&e->store, slot);
        }
    }
    while (found < f->limit && bl_cursors_next(cursors, cursors_count, reversed, &slot)) {
        bl_transfer_t copy;
        const bl_transfer_t *t = bl_transfer_read(e, slot, &copy);
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
        bl_transfer_t copy;
        if (!bl_account_filter_match(f, bl_transfer_read(e, entry->transfer_slot, &copy))) continue;
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

/* The slots that every one of `count` lists of one partition holds (the lists of the
 * filter's fields, each sorted by slot), walked up or down by leapfrogging: a candidate slot
 * is sought in each list in turn (galloping from where that list was left: 1, 2, 4, ...
 * elements, then a binary search), and a list whose next slot lies past it makes that slot
 * the candidate. A slot all lists agree on is a match. Each list is walked once at most, in
 * steps that skip any run of slots that cannot match, so lists that are disjoint in blocks
 * or of very different sizes cost O(k log m), not O(m). */
typedef struct bl_meet {
    const bl_pool_t *pool;
    bl_list_t lists[BL_KEY_FIELDS];
    uint32_t begin[BL_KEY_FIELDS]; /* each list's part still to walk: [begin, end) */
    uint32_t end[BL_KEY_FIELDS];
    uint32_t count; /* lists; 0 once any list is walked to its end: nothing more matches */
} bl_meet_t;

static uint32_t bl_meet_at(const bl_meet_t *m, uint32_t i, uint32_t index) {
    return *(const uint32_t *)bl_list_at(m->pool, &m->lists[i], index);
}

/* Whether walked-from element `index` of list i is at or past `target` in walk order. */
static bool bl_meet_reached(const bl_meet_t *m, uint32_t i, uint32_t index, bool reversed,
                            uint32_t target) {
    uint32_t slot = bl_meet_at(m, i, index);
    return reversed ? slot <= target : slot >= target;
}

/* Walks list i to its first element at or past `target` (in walk order) and returns it in
 * *slot; false when the list has none. */
static bool bl_meet_seek(bl_meet_t *m, uint32_t i, bool reversed, uint32_t target, uint32_t *slot) {
#define BL_MEET_INDEX(d) (reversed ? m->end[i] - 1 - (d) : m->begin[i] + (d))
    uint32_t left = m->end[i] - m->begin[i]; /* elements still to walk */
    /* Distances from the walk's next element: the answer lies in (behind, ahead]; ahead ==
     * left means the list has none. */
    uint32_t behind = 0, ahead = 0;
    if (left > 0 && !bl_meet_reached(m, i, BL_MEET_INDEX(0), reversed, target)) {
        for (uint32_t step = 1;; step *= 2) { /* gallop */
            ahead = step < left - behind ? behind + step : left;
            if (ahead == left || bl_meet_reached(m, i, BL_MEET_INDEX(ahead), reversed, target))
                break;
            behind = ahead;
        }
        while (ahead - behind > 1) { /* then bisect */
            uint32_t mid = behind + (ahead - behind) / 2;
            if (bl_meet_reached(m, i, BL_MEET_INDEX(mid), reversed, target)) {
                ahead = mid;
            } else {
                behind = mid;
            }
        }
    }
    if (reversed)
        m->end[i] -= ahead;
    else
        m->begin[i] += ahead;
    if (ahead == left) return false;
    *slot = bl_meet_at(m, i, BL_MEET_INDEX(0));
#undef BL_MEET_INDEX
    return true;
}

/* The next slot every list holds, left at the head of each (so peeking again is cheap and
 * gives the same slot); false when there is none. */
static bool bl_meet_peek(bl_meet_t *m, bool reversed, uint32_t *slot) {
    if (m->count == 0) return false;
    uint32_t target;
    if (!bl_meet_seek(m, 0, reversed, reversed ? UINT32_MAX : 0, &target)) {
        m->count = 0;
        return false;
    }
    for (uint32_t agree = 1, i = 1 % m->count; agree < m->count; i = (i + 1) % m->count) {
        uint32_t s;
        if (!bl_meet_seek(m, i, reversed, target, &s)) {
            m->count = 0;
            return false;
        }
        if (s == target) {
            agree++;
        } else {
            target = s;
            agree = 1;
        }
    }
    *slot = target;
    return true;
}

/* Past the slot bl_meet_peek gave: it heads every list. */
static void bl_meet_next(bl_meet_t *m, bool reversed) {
    for (uint32_t i = 0; i < m->count; i++) {
        if (reversed)
            m->end[i]--;
        else
            m->begin[i]++;
    }
}

static bool bl_meet_peek_any(void *meet, bool reversed, uint32_t *slot) {
    return bl_meet_peek(meet, reversed, slot);
}

/* Takes the next slot in order from `n` partitions' meets (disjoint: an object is one
 * partition's); false when all are done. */
static bool bl_meets_next(bl_meet_t *meets, uint32_t n, bool reversed, uint32_t *slot) {
    uint32_t best = bl_sources_first(meets, sizeof(*meets), n, reversed, bl_meet_peek_any, slot);
    if (best == n) return false;
    bl_meet_next(&meets[best], reversed);
    return true;
}

static void bl_meet_swap(bl_meet_t *m, uint32_t i) {
    bl_list_t list = m->lists[i];
    uint32_t begin = m->begin[i], end = m->end[i];
    m->lists[i] = m->lists[i + 1], m->begin[i] = m->begin[i + 1], m->end[i] = m->end[i + 1];
    m->lists[i + 1] = list, m->begin[i + 1] = begin, m->end[i + 1] = end;
}

/* Opens, per partition, the meet of the lists of every non-zero field of the filter, each
 * cut to the slots [begin, end), the shortest list first (it gives the first candidates).
 * Returns the number of meets, or -1 when the filter sets no field (every object of the
 * range is a candidate). */
static int bl_query_meets(const bl_engine_t *e, uint32_t kind,
                          const bl_u128_t wanted[BL_KEY_FIELDS], uint32_t begin, uint32_t end,
                          bl_meet_t *meets) {
    const uint32_t n = e->config.partitions;
    const bl_pool_t *pool = &e->pools[BL_POOL_SLOTS];
    bool any = false;
    int count = 0;
    for (uint32_t p = 0; p < n; p++) {
        bl_meet_t *m = &meets[count];
        *m = (bl_meet_t){.pool = pool};
        bool empty = false;
        for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
            if (wanted[f] == 0) continue;
            any = true;
            bl_list_t list;
            if (!bl_keys_find(e, p, kind, f, wanted[f], &list)) list.count = 0;
            uint32_t i = m->count++;
            m->lists[i] = list;
            m->begin[i] = list.count ? bl_list_lower(pool, &m->lists[i], bl_slot_key, begin) : 0;
            m->end[i] = list.count ? bl_list_lower(pool, &m->lists[i], bl_slot_key, end) : 0;
            empty = empty || m->begin[i] == m->end[i];
            for (; i > 0 && m->end[i] - m->begin[i] < m->end[i - 1] - m->begin[i - 1]; i--)
                bl_meet_swap(m, i - 1); /* shortest first */
        }
        if (!empty && m->count > 0) count++;
    }
    return any ? count : -1;
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

    bl_meet_t meets[BL_PARTITIONS_MAX];
    int count = e->config.indexes_off ? -1 : bl_query_meets(e, kind, wanted, begin, end, meets);
    /* every slot of the range is a candidate: the records are checked one by one */
    bl_cursor_t scan = {.begin = begin, .end = end};
    uint32_t found = 0, slot;
    while (found < f->limit) {
        if (count < 0 ? !bl_cursors_next(&scan, 1, reversed, &slot)
                      : !bl_meets_next(meets, (uint32_t)count, reversed, &slot))
            break;
        bl_transfer_t copy;
        const void *record = bl_object(&objects, slot, &copy);
        bl_u128_t values[BL_KEY_FIELDS];
        bl_key_values(kind, record, values);
        if (!bl_query_match(wanted, values)) {
            BL_ASSERT(count < 0); /* the lists hold exactly the objects with their value */
            continue;
        }
        memcpy((uint8_t *)out + (uint64_t)found * BL_RECORD_SIZE, record, BL_RECORD_SIZE);
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
