/*
 * The reference model of PROTOCOL.md: the obviously-correct, serial version of what the engine
 * does with gather/decide/apply over partitions. It exists to be compared against, so every
 * rule is written once, in the order the protocol states it, with no caching, no overlay and
 * no cleverness; where a faster way would be less plainly right, this file takes the slow one.
 *
 * State:
 *   - accounts and transfers live in two arrays in creation order (so a transfer's position is
 *     also its commit order), each with an id index: open addressing, linear probing, a
 *     trivial mix of the 128-bit id, slots holding (id, position + 1), 0 meaning empty;
 *   - a transfer created with the pending flag carries its resolution: still pending, or
 *     posted / voided / expired (the same numbers as the digest byte);
 *   - `expiring` lists the positions of pending transfers with a timeout that may still expire;
 *     it is refreshed only at the start of a block, so it never sees a chain's tentative work;
 *   - `history` holds every AccountBalance entry of every account with the history flag, each
 *     with the account's id and the position of the transfer that caused it (for an expiry: the
 *     pending transfer), appended after each transfer or expiry that changed the balances.
 *
 * Every object and every entry is appended when it gets its timestamp, so the three arrays
 * are in timestamp order (strictly for accounts and transfers; a transfer's two entries share
 * one). Insertion asserts it, and the filter reads rely on it: they walk an array from one end,
 * test each record against the filter's fields and timestamp range, and stop at the limit.
 *
 * Linked chains are evaluated directly on the state and undone by restoring a snapshot: the
 * first time a chain touches an existing account or transfer, its whole record is copied
 * aside (each record at most once per chain, marked by the chain's epoch); objects the chain
 * created are the tails of the two arrays. Rolling back writes the copies back and cuts the
 * tails off. Cutting an index entry by emptying its slot is exact here because entries are
 * removed in the reverse order of insertion and the index is never rehashed inside a request:
 * emptying the slot of the newest entry restores the slot array to what it was before that
 * insertion (no later insertion probed past it, since those were removed first).
 *
 * Single events (not part of a longer chain) validate completely before changing anything, so
 * a failure needs no rollback.
 *
 * Memory grows with realloc between requests, never inside one, so positions and pointers
 * taken while an event is evaluated stay valid. The one exception is `history`, which nothing
 * points into: it grows as entries are appended.
 */
#include "model.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* ------------------------------------------------------------------------------------------ */
/* Types.                                                                                     */

typedef struct model_account {
    bl_account_t record;
    uint64_t chain_epoch; /* the chain that already saved this record's pre-chain value */
} model_account_t;

typedef struct model_transfer {
    bl_transfer_t record;
    uint8_t resolution; /* 0: not resolved; else BL_PENDING_DIGEST_POSTED/VOIDED/EXPIRED */
    uint64_t chain_epoch;
} model_transfer_t;

/* One AccountBalance entry of an account with the history flag. */
typedef struct model_balance {
    bl_u128_t account_id;
    uint64_t cause_position;      /* the transfer that caused it (an expiry: the pending one) */
    bl_account_balance_t balance; /* reserved bytes zero */
} model_balance_t;

typedef struct model_slot {
    bl_u128_t id;
    uint64_t position_plus_one; /* 0: empty */
} model_slot_t;

typedef struct model_index {
    model_slot_t *slots;
    uint64_t mask; /* slots - 1, a power of two minus one */
    uint64_t entries;
} model_index_t;

typedef struct model_saved_account {
    uint64_t position;
    model_account_t value;
} model_saved_account_t;

typedef struct model_saved_transfer {
    uint64_t position;
    model_transfer_t value;
} model_saved_transfer_t;

struct bl_model {
    uint64_t accounts_max;
    uint64_t transfers_max;

    model_account_t *accounts;
    uint64_t accounts_count;
    uint64_t accounts_capacity;
    model_index_t accounts_index;

    model_transfer_t *transfers;
    uint64_t transfers_count;
    uint64_t transfers_capacity;
    model_index_t transfers_index;

    uint64_t *expiring; /* transfer positions */
    uint64_t expiring_count;
    uint64_t expiring_capacity;
    uint64_t expiring_scanned; /* transfers below this position were considered */

    model_balance_t *history;
    uint64_t history_count;
    uint64_t history_capacity;

    uint64_t timestamp_last;

    /* The chain being evaluated, if any. */
    bool chain_active;
    uint64_t chain_epoch;
    uint64_t chain_accounts_count; /* counts when the chain began */
    uint64_t chain_transfers_count;
    uint64_t chain_history_count;
    model_saved_account_t *saved_accounts;
    uint64_t saved_accounts_count;
    uint64_t saved_accounts_capacity;
    model_saved_transfer_t *saved_transfers;
    uint64_t saved_transfers_count;
    uint64_t saved_transfers_capacity;

    uint32_t codes[BL_BATCH_EVENTS_MAX]; /* per-event results of the request being executed */
};

/* ------------------------------------------------------------------------------------------ */
/* Small helpers.                                                                             */

static void *model_alloc_or_die(void *p) {
    if (p == NULL) {
        fprintf(stderr, "model: out of memory\n");
        abort();
    }
    return p;
}

#define MODEL_ASSERT(expr)                                                                       \
    do {                                                                                         \
        if (!(expr)) {                                                                           \
            fprintf(stderr, "model: assertion failed: %s (%s:%d)\n", #expr, __FILE__, __LINE__); \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

/* Grows *array (of `size`-byte items) so that it holds at least `needed` items. */
static void model_array_reserve(void **array, uint64_t *capacity, uint64_t needed, size_t size) {
    if (needed <= *capacity) {
        return;
    }
    uint64_t capacity_new = *capacity ? *capacity : 64;
    while (capacity_new < needed) {
        capacity_new *= 2;
    }
    *array = model_alloc_or_die(realloc(*array, capacity_new * size));
    *capacity = capacity_new;
}

/* a + b > 2^128 - 1 */
static bool model_add_overflows(bl_u128_t a, bl_u128_t b) {
    return a > BL_U128_MAX - b;
}

/* a + b + c > 2^128 - 1 */
static bool model_add3_overflows(bl_u128_t a, bl_u128_t b, bl_u128_t c) {
    return model_add_overflows(a, b) || model_add_overflows(a + b, c);
}

/* ------------------------------------------------------------------------------------------ */
/* Id index.                                                                                  */

static uint64_t model_id_mix(bl_u128_t id) {
    uint64_t h = (uint64_t)id ^ ((uint64_t)(id >> 64) * 0x9E3779B97F4A7C15ull);
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}

static void model_index_init(model_index_t *index) {
    index->mask = 1023;
    index->entries = 0;
    index->slots = model_alloc_or_die(calloc(index->mask + 1, sizeof(model_slot_t)));
}

/* The slot holding `id`, or the empty slot where it would go. */
static model_slot_t *model_index_probe(const model_index_t *index, bl_u128_t id) {
    uint64_t i = model_id_mix(id) & index->mask;
    while (index->slots[i].position_plus_one != 0 && index->slots[i].id != id) {
        i = (i + 1) & index->mask;
    }
    return &index->slots[i];
}

static uint64_t model_index_find(const model_index_t *index, bl_u128_t id) {
    const model_slot_t *slot = model_index_probe(index, id);
    return slot->position_plus_one ? slot->position_plus_one - 1 : UINT64_MAX;
}

static void model_index_insert(model_index_t *index, bl_u128_t id, uint64_t position) {
    model_slot_t *slot = model_index_probe(index, id);
    MODEL_ASSERT(slot->position_plus_one == 0);
    slot->id = id;
    slot->position_plus_one = position + 1;
    index->entries++;
}

/* Removes the newest entry (see the file header for why emptying its slot is exact). */
static void model_index_remove_newest(model_index_t *index, bl_u128_t id, uint64_t position) {
    model_slot_t *slot = model_index_probe(index, id);
    MODEL_ASSERT(slot->position_plus_one == position + 1);
    memset(slot, 0, sizeof(*slot));
    index->entries--;
}

/* Keeps the load at most 1/2 for `entries` entries; rehashes, so only between requests. */
static void model_index_reserve(model_index_t *index, uint64_t entries) {
    if (entries * 2 <= index->mask + 1) {
        return;
    }
    model_index_t bigger = {.mask = index->mask, .entries = 0};
    while (entries * 2 > bigger.mask + 1) {
        bigger.mask = bigger.mask * 2 + 1;
    }
    bigger.slots = model_alloc_or_die(calloc(bigger.mask + 1, sizeof(model_slot_t)));
    for (uint64_t i = 0; i <= index->mask; i++) {
        if (index->slots[i].position_plus_one != 0) {
            model_index_insert(&bigger, index->slots[i].id, index->slots[i].position_plus_one - 1);
        }
    }
    free(index->slots);
    *index = bigger;
}

/* ------------------------------------------------------------------------------------------ */
/* Lookups by id.                                                                             */

static model_account_t *model_account_find(bl_model_t *m, bl_u128_t id) {
    uint64_t position = model_index_find(&m->accounts_index, id);
    return position == UINT64_MAX ? NULL : &m->accounts[position];
}

static model_transfer_t *model_transfer_find(bl_model_t *m, bl_u128_t id) {
    uint64_t position = model_index_find(&m->transfers_index, id);
    return position == UINT64_MAX ? NULL : &m->transfers[position];
}

/* ------------------------------------------------------------------------------------------ */
/* Chain snapshots.                                                                           */

static void model_chain_begin(bl_model_t *m) {
    MODEL_ASSERT(!m->chain_active);
    m->chain_active = true;
    m->chain_epoch++;
    m->chain_accounts_count = m->accounts_count;
    m->chain_transfers_count = m->transfers_count;
    m->chain_history_count = m->history_count;
    m->saved_accounts_count = 0;
    m->saved_transfers_count = 0;
}

/* Call before changing an existing account: inside a chain, keeps its pre-chain value. */
static void model_account_touch(bl_model_t *m, model_account_t *account) {
    if (!m->chain_active || account->chain_epoch == m->chain_epoch) {
        return;
    }
    model_array_reserve((void **)&m->saved_accounts, &m->saved_accounts_capacity,
                        m->saved_accounts_count + 1, sizeof(model_saved_account_t));
    model_saved_account_t *saved = &m->saved_accounts[m->saved_accounts_count++];
    saved->position = (uint64_t)(account - m->accounts);
    saved->value = *account;
    account->chain_epoch = m->chain_epoch;
}

static void model_transfer_touch(bl_model_t *m, model_transfer_t *transfer) {
    if (!m->chain_active || transfer->chain_epoch == m->chain_epoch) {
        return;
    }
    model_array_reserve((void **)&m->saved_transfers, &m->saved_transfers_capacity,
                        m->saved_transfers_count + 1, sizeof(model_saved_transfer_t));
    model_saved_transfer_t *saved = &m->saved_transfers[m->saved_transfers_count++];
    saved->position = (uint64_t)(transfer - m->transfers);
    saved->value = *transfer;
    transfer->chain_epoch = m->chain_epoch;
}

/* Puts the state back exactly as it was at model_chain_begin. */
static void model_chain_rollback(bl_model_t *m) {
    MODEL_ASSERT(m->chain_active);
    for (uint64_t i = 0; i < m->saved_accounts_count; i++) {
        m->accounts[m->saved_accounts[i].position] = m->saved_accounts[i].value;
    }
    for (uint64_t i = 0; i < m->saved_transfers_count; i++) {
        m->transfers[m->saved_transfers[i].position] = m->saved_transfers[i].value;
    }
    while (m->accounts_count > m->chain_accounts_count) {
        m->accounts_count--;
        model_index_remove_newest(&m->accounts_index, m->accounts[m->accounts_count].record.id,
                                  m->accounts_count);
    }
    while (m->transfers_count > m->chain_transfers_count) {
        m->transfers_count--;
        model_index_remove_newest(&m->transfers_index, m->transfers[m->transfers_count].record.id,
                                  m->transfers_count);
    }
    MODEL_ASSERT(m->history_count >= m->chain_history_count);
    m->history_count = m->chain_history_count; /* entries the chain appended */
    MODEL_ASSERT(m->expiring_scanned <= m->transfers_count);
}

static void model_chain_end(bl_model_t *m) {
    MODEL_ASSERT(m->chain_active);
    m->chain_active = false;
}

/* ------------------------------------------------------------------------------------------ */
/* Balance history.                                                                           */

static bool model_balances_equal(const bl_account_t *a, const bl_account_t *b) {
    return a->debits_pending == b->debits_pending && a->debits_posted == b->debits_posted &&
           a->credits_pending == b->credits_pending && a->credits_posted == b->credits_posted;
}

/* After a transfer or an expiry at `timestamp` (caused by the transfer at `cause_position`)
 * took `account` from `before` to `after`: PROTOCOL.md keeps an entry when the account has the
 * history flag and its balances changed. Nothing holds a pointer into `history`, so it may
 * grow here, inside a request. */
static void model_history_note(bl_model_t *m, const bl_account_t *before, const bl_account_t *after,
                               uint64_t timestamp, uint64_t cause_position) {
    MODEL_ASSERT(before->id == after->id);
    MODEL_ASSERT(cause_position < m->transfers_count);
    if (!(after->flags & BL_ACCOUNT_HISTORY) || model_balances_equal(before, after)) {
        return;
    }
    MODEL_ASSERT(m->history_count == 0 ||
                 m->history[m->history_count - 1].balance.timestamp <= timestamp);
    model_array_reserve((void **)&m->history, &m->history_capacity, m->history_count + 1,
                        sizeof(model_balance_t));
    model_balance_t *entry = &m->history[m->history_count++];
    memset(entry, 0, sizeof(*entry));
    entry->account_id = after->id;
    entry->cause_position = cause_position;
    entry->balance.debits_pending = after->debits_pending;
    entry->balance.debits_posted = after->debits_posted;
    entry->balance.credits_pending = after->credits_pending;
    entry->balance.credits_posted = after->credits_posted;
    entry->balance.timestamp = timestamp;
}

/* ------------------------------------------------------------------------------------------ */
/* create_accounts.                                                                           */

/* "every field the client set": user_data, ledger, code, flags but `linked`. */
static bool model_account_equal(const bl_account_t *stored, const bl_account_t *a) {
    return stored->user_data_128 == a->user_data_128 && stored->user_data_64 == a->user_data_64 &&
           stored->user_data_32 == a->user_data_32 && stored->ledger == a->ledger &&
           stored->code == a->code &&
           (stored->flags & ~BL_ACCOUNT_LINKED) == (a->flags & ~BL_ACCOUNT_LINKED);
}

/* Checks one account in PROTOCOL.md's order and creates it when the result is ok. */
static uint32_t model_account_create(bl_model_t *m, const bl_account_t *a, uint64_t timestamp) {
    if (a->timestamp != 0) {
        return BL_CREATE_ACCOUNT_TIMESTAMP_MUST_BE_ZERO;
    }
    if (a->reserved != 0) {
        return BL_CREATE_ACCOUNT_RESERVED_FIELD;
    }
    if (a->flags & ~BL_ACCOUNT_FLAGS_KNOWN) {
        return BL_CREATE_ACCOUNT_RESERVED_FLAG;
    }
    if (a->id == 0) {
        return BL_CREATE_ACCOUNT_ID_MUST_NOT_BE_ZERO;
    }
    if (a->id == BL_U128_MAX) {
        return BL_CREATE_ACCOUNT_ID_MUST_NOT_BE_INT_MAX;
    }
    if ((a->flags & BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS) &&
        (a->flags & BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS)) {
        return BL_CREATE_ACCOUNT_FLAGS_ARE_MUTUALLY_EXCLUSIVE;
    }
    if (a->debits_pending != 0 || a->debits_posted != 0 || a->credits_pending != 0 ||
        a->credits_posted != 0) {
        return BL_CREATE_ACCOUNT_BALANCES_MUST_BE_ZERO;
    }
    if (a->ledger == 0) {
        return BL_CREATE_ACCOUNT_LEDGER_MUST_NOT_BE_ZERO;
    }
    if (a->code == 0) {
        return BL_CREATE_ACCOUNT_CODE_MUST_NOT_BE_ZERO;
    }
    const model_account_t *stored = model_account_find(m, a->id);
    if (stored != NULL) {
        return model_account_equal(&stored->record, a)
                   ? BL_CREATE_ACCOUNT_EXISTS
                   : BL_CREATE_ACCOUNT_EXISTS_WITH_DIFFERENT_FIELDS;
    }
    if (m->accounts_count >= m->accounts_max) {
        return BL_CREATE_ACCOUNT_CAPACITY_EXHAUSTED;
    }

    MODEL_ASSERT(m->accounts_count < m->accounts_capacity);
    MODEL_ASSERT(m->accounts_count == 0 ||
                 m->accounts[m->accounts_count - 1].record.timestamp < timestamp);
    model_account_t *created = &m->accounts[m->accounts_count];
    memset(created, 0, sizeof(*created));
    created->record = *a;
    created->record.timestamp = timestamp;
    model_index_insert(&m->accounts_index, a->id, m->accounts_count);
    m->accounts_count++;
    return BL_CREATE_ACCOUNT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* create_transfers.                                                                          */

static bool model_transfer_is_post_or_void(const bl_transfer_t *t) {
    return (t->flags & (BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING)) != 0;
}

/* Plain and pending: every field the client set, but `linked`. */
static bool model_transfer_equal(const bl_transfer_t *s, const bl_transfer_t *t) {
    return s->debit_account_id == t->debit_account_id &&
           s->credit_account_id == t->credit_account_id && s->amount == t->amount &&
           s->pending_id == t->pending_id && s->user_data_128 == t->user_data_128 &&
           s->user_data_64 == t->user_data_64 && s->user_data_32 == t->user_data_32 &&
           s->timeout == t->timeout && s->ledger == t->ledger && s->code == t->code &&
           (s->flags & ~BL_TRANSFER_LINKED) == (t->flags & ~BL_TRANSFER_LINKED);
}

/* Post and void: as above, but a 0 in debit_account_id, credit_account_id, ledger, code or
 * amount matches whatever is stored (the stored record holds the resolved values). */
static bool model_transfer_equal_post_void(const bl_transfer_t *s, const bl_transfer_t *t) {
    return (t->debit_account_id == 0 || s->debit_account_id == t->debit_account_id) &&
           (t->credit_account_id == 0 || s->credit_account_id == t->credit_account_id) &&
           (t->amount == 0 || s->amount == t->amount) && s->pending_id == t->pending_id &&
           s->user_data_128 == t->user_data_128 && s->user_data_64 == t->user_data_64 &&
           s->user_data_32 == t->user_data_32 && s->timeout == t->timeout &&
           (t->ledger == 0 || s->ledger == t->ledger) && (t->code == 0 || s->code == t->code) &&
           (s->flags & ~BL_TRANSFER_LINKED) == (t->flags & ~BL_TRANSFER_LINKED);
}

/* Appends a transfer record (already resolved and timestamped) to the table. */
static model_transfer_t *model_transfer_insert(bl_model_t *m, const bl_transfer_t *record) {
    MODEL_ASSERT(m->transfers_count < m->transfers_capacity);
    MODEL_ASSERT(m->transfers_count == 0 ||
                 m->transfers[m->transfers_count - 1].record.timestamp < record->timestamp);
    model_transfer_t *created = &m->transfers[m->transfers_count];
    memset(created, 0, sizeof(*created));
    created->record = *record;
    model_index_insert(&m->transfers_index, record->id, m->transfers_count);
    m->transfers_count++;
    return created;
}

/* Plain and pending transfers, from code 8 on (3..7 are checked by the caller). */
static uint32_t model_transfer_create_plain(bl_model_t *m, const bl_transfer_t *t,
                                            uint64_t timestamp) {
    bool pending = (t->flags & BL_TRANSFER_PENDING) != 0;

    if (t->debit_account_id == 0) {
        return BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO;
    }
    if (t->debit_account_id == BL_U128_MAX) {
        return BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX;
    }
    if (t->credit_account_id == 0) {
        return BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO;
    }
    if (t->credit_account_id == BL_U128_MAX) {
        return BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX;
    }
    if (t->debit_account_id == t->credit_account_id) {
        return BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT;
    }
    if (t->pending_id != 0) {
        return BL_CREATE_TRANSFER_PENDING_ID_MUST_BE_ZERO;
    }
    if (!pending && t->timeout != 0) {
        return BL_CREATE_TRANSFER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER;
    }
    if (t->amount == 0) {
        return BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO;
    }
    if (t->ledger == 0) {
        return BL_CREATE_TRANSFER_LEDGER_MUST_NOT_BE_ZERO;
    }
    if (t->code == 0) {
        return BL_CREATE_TRANSFER_CODE_MUST_NOT_BE_ZERO;
    }
    const model_transfer_t *stored = model_transfer_find(m, t->id);
    if (stored != NULL) {
        return model_transfer_equal(&stored->record, t)
                   ? BL_CREATE_TRANSFER_EXISTS
                   : BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS;
    }
    model_account_t *dr = model_account_find(m, t->debit_account_id);
    if (dr == NULL) {
        return BL_CREATE_TRANSFER_DEBIT_ACCOUNT_NOT_FOUND;
    }
    model_account_t *cr = model_account_find(m, t->credit_account_id);
    if (cr == NULL) {
        return BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND;
    }
    if (dr->record.ledger != cr->record.ledger) {
        return BL_CREATE_TRANSFER_ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER;
    }
    if (t->ledger != dr->record.ledger) {
        return BL_CREATE_TRANSFER_TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS;
    }

    const bl_account_t *d = &dr->record;
    const bl_account_t *c = &cr->record;
    if (pending) {
        if (model_add_overflows(d->debits_pending, t->amount)) {
            return BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_PENDING;
        }
        if (model_add_overflows(c->credits_pending, t->amount)) {
            return BL_CREATE_TRANSFER_OVERFLOWS_CREDITS_PENDING;
        }
    } else {
        if (model_add_overflows(d->debits_posted, t->amount)) {
            return BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_POSTED;
        }
        if (model_add_overflows(c->credits_posted, t->amount)) {
            return BL_CREATE_TRANSFER_OVERFLOWS_CREDITS_POSTED;
        }
    }
    if (model_add3_overflows(d->debits_pending, d->debits_posted, t->amount)) {
        return BL_CREATE_TRANSFER_OVERFLOWS_DEBITS;
    }
    if (model_add3_overflows(c->credits_pending, c->credits_posted, t->amount)) {
        return BL_CREATE_TRANSFER_OVERFLOWS_CREDITS;
    }
    if (pending && (bl_u128_t)timestamp + (bl_u128_t)t->timeout * BL_NS_PER_S > UINT64_MAX) {
        return BL_CREATE_TRANSFER_OVERFLOWS_TIMEOUT;
    }
    /* No overflow past here: the sums were just checked. */
    if ((d->flags & BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS) &&
        d->debits_pending + d->debits_posted + t->amount > d->credits_posted) {
        return BL_CREATE_TRANSFER_EXCEEDS_CREDITS;
    }
    if ((c->flags & BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS) &&
        c->credits_pending + c->credits_posted + t->amount > c->debits_posted) {
        return BL_CREATE_TRANSFER_EXCEEDS_DEBITS;
    }
    if (m->transfers_count >= m->transfers_max) {
        return BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED;
    }

    model_account_touch(m, dr);
    model_account_touch(m, cr);
    bl_account_t dr_before = dr->record, cr_before = cr->record;
    if (pending) {
        dr->record.debits_pending += t->amount;
        cr->record.credits_pending += t->amount;
    } else {
        dr->record.debits_posted += t->amount;
        cr->record.credits_posted += t->amount;
    }
    bl_transfer_t record = *t;
    record.timestamp = timestamp;
    uint64_t position = (uint64_t)(model_transfer_insert(m, &record) - m->transfers);
    model_history_note(m, &dr_before, &dr->record, timestamp, position);
    model_history_note(m, &cr_before, &cr->record, timestamp, position);
    return BL_CREATE_TRANSFER_OK;
}

/* post_pending and void_pending, in the order PROTOCOL.md gives for them (3..7 are checked by
 * the caller). */
static uint32_t model_transfer_create_post_void(bl_model_t *m, const bl_transfer_t *t,
                                                uint64_t timestamp) {
    bool post = (t->flags & BL_TRANSFER_POST_PENDING) != 0;

    if (t->debit_account_id == BL_U128_MAX) {
        return BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX;
    }
    if (t->credit_account_id == BL_U128_MAX) {
        return BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX;
    }
    if (t->debit_account_id != 0 && t->credit_account_id != 0 &&
        t->debit_account_id == t->credit_account_id) {
        return BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT;
    }
    if (t->pending_id == 0) {
        return BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_ZERO;
    }
    if (t->pending_id == BL_U128_MAX) {
        return BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_INT_MAX;
    }
    if (t->pending_id == t->id) {
        return BL_CREATE_TRANSFER_PENDING_ID_MUST_BE_DIFFERENT;
    }
    if (t->timeout != 0) {
        return BL_CREATE_TRANSFER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER;
    }
    const model_transfer_t *stored = model_transfer_find(m, t->id);
    if (stored != NULL) {
        return model_transfer_equal_post_void(&stored->record, t)
                   ? BL_CREATE_TRANSFER_EXISTS
                   : BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS;
    }
    model_transfer_t *pending = model_transfer_find(m, t->pending_id);
    if (pending == NULL) {
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_FOUND;
    }
    const bl_transfer_t *p = &pending->record;
    if (!(p->flags & BL_TRANSFER_PENDING)) {
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_PENDING;
    }
    if (t->debit_account_id != 0 && t->debit_account_id != p->debit_account_id) {
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID;
    }
    if (t->credit_account_id != 0 && t->credit_account_id != p->credit_account_id) {
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID;
    }
    if (t->ledger != 0 && t->ledger != p->ledger) {
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_LEDGER;
    }
    if (t->code != 0 && t->code != p->code) {
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_CODE;
    }
    if (pending->resolution == BL_PENDING_DIGEST_POSTED) {
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_POSTED;
    }
    if (pending->resolution == BL_PENDING_DIGEST_VOIDED) {
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_VOIDED;
    }
    if (pending->resolution == BL_PENDING_DIGEST_EXPIRED) {
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_EXPIRED;
    }
    MODEL_ASSERT(pending->resolution == 0);
    if (post && t->amount > p->amount) {
        return BL_CREATE_TRANSFER_EXCEEDS_PENDING_TRANSFER_AMOUNT;
    }
    if (!post && t->amount != 0 && t->amount != p->amount) {
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT;
    }

    /* The pending transfer's accounts exist: accounts are never removed, and a chain that
     * created the pending transfer and rolled back removed the pending transfer too. */
    model_account_t *dr = model_account_find(m, p->debit_account_id);
    model_account_t *cr = model_account_find(m, p->credit_account_id);
    MODEL_ASSERT(dr != NULL && cr != NULL);
    MODEL_ASSERT(dr->record.debits_pending >= p->amount);
    MODEL_ASSERT(cr->record.credits_pending >= p->amount);
    bl_u128_t amount = post ? (t->amount != 0 ? t->amount : p->amount) : p->amount;
    if (post) {
        /* After the post: *_pending lose p->amount, *_posted gain `amount`. */
        const bl_account_t *d = &dr->record;
        const bl_account_t *c = &cr->record;
        if (model_add_overflows(d->debits_posted, amount)) {
            return BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_POSTED;
        }
        if (model_add_overflows(c->credits_posted, amount)) {
            return BL_CREATE_TRANSFER_OVERFLOWS_CREDITS_POSTED;
        }
        if (model_add3_overflows(d->debits_pending - p->amount, d->debits_posted, amount)) {
            return BL_CREATE_TRANSFER_OVERFLOWS_DEBITS;
        }
        if (model_add3_overflows(c->credits_pending - p->amount, c->credits_posted, amount)) {
            return BL_CREATE_TRANSFER_OVERFLOWS_CREDITS;
        }
    }
    if (m->transfers_count >= m->transfers_max) {
        return BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED;
    }

    model_account_touch(m, dr);
    model_account_touch(m, cr);
    model_transfer_touch(m, pending);
    bl_account_t dr_before = dr->record, cr_before = cr->record;
    dr->record.debits_pending -= p->amount;
    cr->record.credits_pending -= p->amount;
    if (post) {
        dr->record.debits_posted += amount;
        cr->record.credits_posted += amount;
    }
    pending->resolution = post ? BL_PENDING_DIGEST_POSTED : BL_PENDING_DIGEST_VOIDED;

    bl_transfer_t record = *t;
    record.debit_account_id = p->debit_account_id;
    record.credit_account_id = p->credit_account_id;
    record.ledger = p->ledger;
    record.code = p->code;
    record.amount = amount;
    record.timestamp = timestamp;
    /* `pending` may move if the array grew; it cannot here (reserved per request), but take
     * nothing from it after the insert anyway. */
    uint64_t position = (uint64_t)(model_transfer_insert(m, &record) - m->transfers);
    model_history_note(m, &dr_before, &dr->record, timestamp, position);
    model_history_note(m, &cr_before, &cr->record, timestamp, position);
    return BL_CREATE_TRANSFER_OK;
}

static uint32_t model_transfer_create(bl_model_t *m, const bl_transfer_t *t, uint64_t timestamp) {
    if (t->timestamp != 0) {
        return BL_CREATE_TRANSFER_TIMESTAMP_MUST_BE_ZERO;
    }
    if (t->flags & ~BL_TRANSFER_FLAGS_KNOWN) {
        return BL_CREATE_TRANSFER_RESERVED_FLAG;
    }
    if (t->id == 0) {
        return BL_CREATE_TRANSFER_ID_MUST_NOT_BE_ZERO;
    }
    if (t->id == BL_U128_MAX) {
        return BL_CREATE_TRANSFER_ID_MUST_NOT_BE_INT_MAX;
    }
    int kinds = !!(t->flags & BL_TRANSFER_PENDING) + !!(t->flags & BL_TRANSFER_POST_PENDING) +
                !!(t->flags & BL_TRANSFER_VOID_PENDING);
    if (kinds > 1) {
        return BL_CREATE_TRANSFER_FLAGS_ARE_MUTUALLY_EXCLUSIVE;
    }
    if (model_transfer_is_post_or_void(t)) {
        return model_transfer_create_post_void(m, t, timestamp);
    }
    return model_transfer_create_plain(m, t, timestamp);
}

/* ------------------------------------------------------------------------------------------ */
/* Expiry.                                                                                    */

static uint64_t model_transfer_deadline(const bl_transfer_t *t) {
    /* create_transfers refused (overflows_timeout) any deadline past 2^64 - 1. */
    bl_u128_t deadline = (bl_u128_t)t->timestamp + (bl_u128_t)t->timeout * BL_NS_PER_S;
    MODEL_ASSERT(deadline <= UINT64_MAX);
    return (uint64_t)deadline;
}

static const bl_model_t *model_sort_context; /* for qsort; the model is single-threaded */

static int model_expiry_compare(const void *a, const void *b) {
    const bl_transfer_t *x = &model_sort_context->transfers[*(const uint64_t *)a].record;
    const bl_transfer_t *y = &model_sort_context->transfers[*(const uint64_t *)b].record;
    uint64_t dx = model_transfer_deadline(x), dy = model_transfer_deadline(y);
    if (dx != dy) {
        return dx < dy ? -1 : 1;
    }
    return x->timestamp < y->timestamp ? -1 : (x->timestamp > y->timestamp);
}

/* Expires every still-pending transfer whose deadline is at or before the block's timestamp,
 * in (deadline, timestamp) order, each taking the next timestamp from *timestamp_next. */
static void model_block_expire(bl_model_t *m, uint64_t block_timestamp, uint64_t *timestamp_next) {
    for (uint64_t position = m->expiring_scanned; position < m->transfers_count; position++) {
        const bl_transfer_t *t = &m->transfers[position].record;
        if ((t->flags & BL_TRANSFER_PENDING) && t->timeout > 0) {
            model_array_reserve((void **)&m->expiring, &m->expiring_capacity, m->expiring_count + 1,
                                sizeof(uint64_t));
            m->expiring[m->expiring_count++] = position;
        }
    }
    m->expiring_scanned = m->transfers_count;

    /* Split `expiring` into the due (moved to the front, then sorted) and the rest; drop the
     * transfers that were posted or voided meanwhile. */
    uint64_t *due = model_alloc_or_die(malloc((m->expiring_count + 1) * sizeof(uint64_t)));
    uint64_t due_count = 0;
    uint64_t kept = 0;
    for (uint64_t i = 0; i < m->expiring_count; i++) {
        uint64_t position = m->expiring[i];
        const model_transfer_t *t = &m->transfers[position];
        if (t->resolution != 0) {
            continue;
        }
        if (model_transfer_deadline(&t->record) <= block_timestamp) {
            due[due_count++] = position;
        } else {
            m->expiring[kept++] = position;
        }
    }
    m->expiring_count = kept;

    model_sort_context = m;
    qsort(due, due_count, sizeof(uint64_t), model_expiry_compare);
    for (uint64_t i = 0; i < due_count; i++) {
        model_transfer_t *pending = &m->transfers[due[i]];
        model_account_t *dr = model_account_find(m, pending->record.debit_account_id);
        model_account_t *cr = model_account_find(m, pending->record.credit_account_id);
        MODEL_ASSERT(dr != NULL && cr != NULL);
        MODEL_ASSERT(dr->record.debits_pending >= pending->record.amount);
        MODEL_ASSERT(cr->record.credits_pending >= pending->record.amount);
        bl_account_t dr_before = dr->record, cr_before = cr->record;
        dr->record.debits_pending -= pending->record.amount;
        cr->record.credits_pending -= pending->record.amount;
        pending->resolution = BL_PENDING_DIGEST_EXPIRED;
        MODEL_ASSERT(*timestamp_next != 0); /* no wrap past 2^64 - 1 */
        uint64_t timestamp = (*timestamp_next)++;
        model_history_note(m, &dr_before, &dr->record, timestamp, due[i]);
        model_history_note(m, &cr_before, &cr->record, timestamp, due[i]);
    }
    free(due);
}

/* ------------------------------------------------------------------------------------------ */
/* Requests and linked chains.                                                                */

static uint32_t model_event_execute(bl_model_t *m, uint16_t op, const void *events, uint32_t i,
                                    uint64_t timestamp) {
    if (op == BL_OP_CREATE_ACCOUNTS) {
        return model_account_create(m, &((const bl_account_t *)events)[i], timestamp);
    }
    return model_transfer_create(m, &((const bl_transfer_t *)events)[i], timestamp);
}

static bool model_event_linked(uint16_t op, const void *events, uint32_t i) {
    if (op == BL_OP_CREATE_ACCOUNTS) {
        return (((const bl_account_t *)events)[i].flags & BL_ACCOUNT_LINKED) != 0;
    }
    return (((const bl_transfer_t *)events)[i].flags & BL_TRANSFER_LINKED) != 0;
}

/* Events [first, last] form one closed chain (a single event when first == last). */
static void model_chain_execute(bl_model_t *m, uint16_t op, const void *events, uint32_t first,
                                uint32_t last, uint64_t *timestamp_next) {
    /* Both tables number these the same; checked by the static asserts below. */
    const uint32_t code_exists =
        op == BL_OP_CREATE_ACCOUNTS ? BL_CREATE_ACCOUNT_EXISTS : BL_CREATE_TRANSFER_EXISTS;
    bool chained = last > first;
    if (chained) {
        model_chain_begin(m);
    }
    uint32_t failed_index = UINT32_MAX;
    for (uint32_t i = first; i <= last; i++) {
        uint64_t timestamp = (*timestamp_next)++; /* taken whether the event runs or not */
        MODEL_ASSERT(timestamp != UINT64_MAX);
        if (failed_index != UINT32_MAX) {
            continue;
        }
        m->codes[i] = model_event_execute(m, op, events, i, timestamp);
        if (m->codes[i] != 0 && m->codes[i] != code_exists) {
            failed_index = i;
        }
    }
    if (!chained) {
        return;
    }
    if (failed_index != UINT32_MAX) {
        model_chain_rollback(m);
        for (uint32_t i = first; i <= last; i++) {
            if (i != failed_index) {
                m->codes[i] = BL_CREATE_TRANSFER_LINKED_EVENT_FAILED;
            }
        }
    }
    model_chain_end(m);
}

_Static_assert((int)BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED ==
                   (int)BL_CREATE_TRANSFER_LINKED_EVENT_FAILED,
               "linked_event_failed is 1 in both tables");
_Static_assert((int)BL_CREATE_ACCOUNT_LINKED_EVENT_CHAIN_OPEN ==
                   (int)BL_CREATE_TRANSFER_LINKED_EVENT_CHAIN_OPEN,
               "linked_event_chain_open is 2 in both tables");

static void model_request_execute(bl_model_t *m, bl_request_t *request, uint64_t *timestamp_next) {
    uint32_t count = request->count;
    /* Room for everything this request could create, so nothing moves or rehashes inside it
     * (see the file header). */
    if (request->op == BL_OP_CREATE_ACCOUNTS) {
        model_array_reserve((void **)&m->accounts, &m->accounts_capacity, m->accounts_count + count,
                            sizeof(model_account_t));
        model_index_reserve(&m->accounts_index, m->accounts_count + count);
    } else {
        model_array_reserve((void **)&m->transfers, &m->transfers_capacity,
                            m->transfers_count + count, sizeof(model_transfer_t));
        model_index_reserve(&m->transfers_index, m->transfers_count + count);
    }

    uint32_t first = 0;
    while (first < count) {
        uint32_t last = first;
        while (last < count && model_event_linked(request->op, request->events, last)) {
            last++;
        }
        if (last == count) {
            /* Open chain: nothing in it is evaluated; every event still takes a timestamp. */
            for (uint32_t i = first; i < count; i++) {
                m->codes[i] = i == count - 1 ? BL_CREATE_TRANSFER_LINKED_EVENT_CHAIN_OPEN
                                             : BL_CREATE_TRANSFER_LINKED_EVENT_FAILED;
                (*timestamp_next)++;
            }
            break;
        }
        model_chain_execute(m, request->op, request->events, first, last, timestamp_next);
        first = last + 1;
    }

    request->results_count = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (m->codes[i] != 0) {
            request->results[request->results_count].index = i;
            request->results[request->results_count].result = m->codes[i];
            request->results_count++;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Public API.                                                                                */

bl_model_t *bl_model_create(uint64_t accounts_max, uint64_t transfers_max) {
    bl_model_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->accounts_max = accounts_max;
    m->transfers_max = transfers_max;
    model_index_init(&m->accounts_index);
    model_index_init(&m->transfers_index);
    return m;
}

void bl_model_destroy(bl_model_t *m) {
    if (m == NULL) {
        return;
    }
    free(m->accounts);
    free(m->transfers);
    free(m->accounts_index.slots);
    free(m->transfers_index.slots);
    free(m->expiring);
    free(m->history);
    free(m->saved_accounts);
    free(m->saved_transfers);
    free(m);
}

int bl_model_block_execute(bl_model_t *m, uint64_t timestamp, bl_request_t *requests,
                           uint32_t requests_count) {
    if (timestamp <= m->timestamp_last) {
        return -EINVAL;
    }
    for (uint32_t r = 0; r < requests_count; r++) {
        if (requests[r].op != BL_OP_CREATE_ACCOUNTS && requests[r].op != BL_OP_CREATE_TRANSFERS) {
            return -EINVAL;
        }
        if (requests[r].count == 0 || requests[r].count > BL_BATCH_EVENTS_MAX) {
            return -EINVAL;
        }
    }
    uint64_t timestamp_next = timestamp;
    model_block_expire(m, timestamp, &timestamp_next);
    for (uint32_t r = 0; r < requests_count; r++) {
        model_request_execute(m, &requests[r], &timestamp_next);
    }
    /* A block that hands out no timestamp (no expiry, no request) still uses up its T: the
     * next block's T must be past it, so block timestamps strictly increase. PROTOCOL.md
     * leaves this open; engine.h's "0 before the first block" and "the next block's T must be
     * greater" read this way. */
    m->timestamp_last = timestamp_next > timestamp ? timestamp_next - 1 : timestamp;
    return 0;
}

uint32_t bl_model_lookup_accounts(bl_model_t *m, const bl_u128_t *ids, uint32_t n,
                                  bl_account_t *out) {
    uint32_t found = 0;
    for (uint32_t i = 0; i < n; i++) {
        const model_account_t *account = model_account_find(m, ids[i]);
        if (account != NULL) {
            out[found++] = account->record;
        }
    }
    return found;
}

uint32_t bl_model_lookup_transfers(bl_model_t *m, const bl_u128_t *ids, uint32_t n,
                                   bl_transfer_t *out) {
    uint32_t found = 0;
    for (uint32_t i = 0; i < n; i++) {
        const model_transfer_t *transfer = model_transfer_find(m, ids[i]);
        if (transfer != NULL) {
            out[found++] = transfer->record;
        }
    }
    return found;
}

/* ------------------------------------------------------------------------------------------ */
/* Filter reads: PROTOCOL.md "AccountFilter", "AccountBalance" and "QueryFilter".             */

static bool model_bytes_zero(const void *bytes, size_t size) {
    const uint8_t *b = bytes;
    for (size_t i = 0; i < size; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

/* The rules both filters share: limit 1..8192, no unknown flag, a range that is not empty by
 * its bounds (timestamp_max 0 is no bound, whatever timestamp_min is). */
static bool model_filter_common_valid(uint32_t limit, uint32_t flags, uint32_t flags_known,
                                      uint64_t timestamp_min, uint64_t timestamp_max) {
    return limit >= 1 && limit <= BL_FILTER_LIMIT_MAX && (flags & ~flags_known) == 0 &&
           (timestamp_max == 0 || timestamp_min <= timestamp_max);
}

static bool model_account_filter_valid(const bl_account_filter_t *f) {
    return f->account_id != 0 && f->account_id != BL_U128_MAX &&
           (f->flags & (BL_FILTER_DEBITS | BL_FILTER_CREDITS)) != 0 && f->reserved0 == 0 &&
           model_bytes_zero(f->reserved1, sizeof(f->reserved1)) &&
           model_filter_common_valid(f->limit, f->flags, BL_ACCOUNT_FILTER_FLAGS_KNOWN,
                                     f->timestamp_min, f->timestamp_max);
}

static bool model_query_filter_valid(const bl_query_filter_t *f) {
    return model_bytes_zero(f->reserved0, sizeof(f->reserved0)) &&
           model_bytes_zero(f->reserved1, sizeof(f->reserved1)) &&
           model_filter_common_valid(f->limit, f->flags, BL_QUERY_FILTER_FLAGS_KNOWN,
                                     f->timestamp_min, f->timestamp_max);
}

/* Inclusive bounds; 0 is no bound. */
static bool model_timestamp_in_range(uint64_t timestamp, uint64_t min, uint64_t max) {
    return (min == 0 || timestamp >= min) && (max == 0 || timestamp <= max);
}

/* An AccountFilter against a transfer (for a balance entry: the transfer that caused it): the
 * account on a chosen side, and every non-zero user_data and code field equal. */
static bool model_account_filter_matches(const bl_account_filter_t *f, const bl_transfer_t *t) {
    bool side = ((f->flags & BL_FILTER_DEBITS) && t->debit_account_id == f->account_id) ||
                ((f->flags & BL_FILTER_CREDITS) && t->credit_account_id == f->account_id);
    return side && (f->user_data_128 == 0 || t->user_data_128 == f->user_data_128) &&
           (f->user_data_64 == 0 || t->user_data_64 == f->user_data_64) &&
           (f->user_data_32 == 0 || t->user_data_32 == f->user_data_32) &&
           (f->code == 0 || t->code == f->code);
}

/* A QueryFilter against an object's fields: every non-zero filter field equal. */
static bool model_query_filter_matches(const bl_query_filter_t *f, bl_u128_t user_data_128,
                                       uint64_t user_data_64, uint32_t user_data_32,
                                       uint32_t ledger, uint16_t code) {
    return (f->user_data_128 == 0 || user_data_128 == f->user_data_128) &&
           (f->user_data_64 == 0 || user_data_64 == f->user_data_64) &&
           (f->user_data_32 == 0 || user_data_32 == f->user_data_32) &&
           (f->ledger == 0 || ledger == f->ledger) && (f->code == 0 || code == f->code);
}

/* The k-th position of an array of `count` in timestamp order: ascending, or descending when
 * reversed (the arrays are in timestamp order; see the file header). */
static uint64_t model_position(uint64_t count, bool reversed, uint64_t k) {
    MODEL_ASSERT(k < count);
    return reversed ? count - 1 - k : k;
}

uint32_t bl_model_account_transfers(bl_model_t *m, const bl_account_filter_t *filter,
                                    bl_transfer_t *out) {
    if (!model_account_filter_valid(filter)) {
        return 0;
    }
    bool reversed = (filter->flags & BL_FILTER_REVERSED) != 0;
    uint32_t found = 0;
    for (uint64_t k = 0; k < m->transfers_count && found < filter->limit; k++) {
        const bl_transfer_t *t =
            &m->transfers[model_position(m->transfers_count, reversed, k)].record;
        if (model_account_filter_matches(filter, t) &&
            model_timestamp_in_range(t->timestamp, filter->timestamp_min, filter->timestamp_max)) {
            out[found++] = *t;
        }
    }
    return found;
}

uint32_t bl_model_account_balances(bl_model_t *m, const bl_account_filter_t *filter,
                                   bl_account_balance_t *out) {
    if (!model_account_filter_valid(filter)) {
        return 0;
    }
    /* Only accounts created with the history flag have entries (model_history_note). */
    bool reversed = (filter->flags & BL_FILTER_REVERSED) != 0;
    uint32_t found = 0;
    for (uint64_t k = 0; k < m->history_count && found < filter->limit; k++) {
        const model_balance_t *entry = &m->history[model_position(m->history_count, reversed, k)];
        if (entry->account_id != filter->account_id) {
            continue;
        }
        const bl_transfer_t *cause = &m->transfers[entry->cause_position].record;
        if (model_account_filter_matches(filter, cause) &&
            model_timestamp_in_range(entry->balance.timestamp, filter->timestamp_min,
                                     filter->timestamp_max)) {
            out[found++] = entry->balance;
        }
    }
    return found;
}

uint32_t bl_model_query_accounts(bl_model_t *m, const bl_query_filter_t *filter,
                                 bl_account_t *out) {
    if (!model_query_filter_valid(filter)) {
        return 0;
    }
    bool reversed = (filter->flags & BL_QUERY_REVERSED) != 0;
    uint32_t found = 0;
    for (uint64_t k = 0; k < m->accounts_count && found < filter->limit; k++) {
        const bl_account_t *a = &m->accounts[model_position(m->accounts_count, reversed, k)].record;
        if (model_query_filter_matches(filter, a->user_data_128, a->user_data_64, a->user_data_32,
                                       a->ledger, a->code) &&
            model_timestamp_in_range(a->timestamp, filter->timestamp_min, filter->timestamp_max)) {
            out[found++] = *a;
        }
    }
    return found;
}

uint32_t bl_model_query_transfers(bl_model_t *m, const bl_query_filter_t *filter,
                                  bl_transfer_t *out) {
    if (!model_query_filter_valid(filter)) {
        return 0;
    }
    bool reversed = (filter->flags & BL_QUERY_REVERSED) != 0;
    uint32_t found = 0;
    for (uint64_t k = 0; k < m->transfers_count && found < filter->limit; k++) {
        const bl_transfer_t *t =
            &m->transfers[model_position(m->transfers_count, reversed, k)].record;
        if (model_query_filter_matches(filter, t->user_data_128, t->user_data_64, t->user_data_32,
                                       t->ledger, t->code) &&
            model_timestamp_in_range(t->timestamp, filter->timestamp_min, filter->timestamp_max)) {
            out[found++] = *t;
        }
    }
    return found;
}

static bl_u128_t model_hash128(const void *data, size_t size) {
    XXH128_hash_t h = XXH3_128bits(data, size);
    return ((bl_u128_t)h.high64 << 64) | h.low64;
}

bl_u128_t bl_model_digest(const bl_model_t *m) {
    bl_u128_t digest = 0; /* sums wrap modulo 2^128 by unsigned arithmetic */
    for (uint64_t i = 0; i < m->accounts_count; i++) {
        digest += model_hash128(&m->accounts[i].record, sizeof(bl_account_t));
    }
    for (uint64_t i = 0; i < m->transfers_count; i++) {
        const model_transfer_t *t = &m->transfers[i];
        digest += model_hash128(&t->record, sizeof(bl_transfer_t));
        if (t->resolution != 0) {
            uint8_t bytes[17];
            memcpy(bytes, &t->record.id, 16); /* little-endian, as on the wire */
            bytes[16] = t->resolution;
            digest += model_hash128(bytes, sizeof(bytes));
        }
    }
    return digest;
}

uint64_t bl_model_accounts_count(const bl_model_t *m) {
    return m->accounts_count;
}

uint64_t bl_model_transfers_count(const bl_model_t *m) {
    return m->transfers_count;
}

uint64_t bl_model_timestamp_last(const bl_model_t *m) {
    return m->timestamp_last;
}
