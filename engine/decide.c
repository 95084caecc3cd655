/*
 * Decide: the serial middle of a block.
 *
 * One pass over the block's items in order, on one thread, producing every event's result
 * (PROTOCOL.md's precedence order) and the block's effects. The results an event decides
 * alone, before `exists` in that order, route has found on the partition threads
 * (bl_account_check, bl_transfer_check in route.c; fact.check), so the serial pass starts
 * there.
 * It reads the facts gather copied (existing ids, links to earlier items of the block),
 * immutable records (for `exists` and post/void comparisons), and the overlay that gather
 * filled and decide updates:
 *   overlay      current balances of every account the block touches
 *   pending      current state of every pending transfer from the table the block names
 *   item_slot    per item, the object with its id that the block created so far (if any)
 * Every access is an array index: no hashing, no map, so the pass stays in cache.
 * It writes no table: apply does, per partition, from the overlay and the new records.
 *
 * Linked chains: while a chain is open every overlay change is logged in `undo`; if an event
 * of the chain fails, the log is replayed backwards, which restores the overlay exactly, the
 * chain's item_slot entries are recomputed as if nothing was created, and the chain's results
 * are rewritten: its failing event keeps its own code, the others get linked_event_failed.
 *
 * Invariant kept for every account: debits_pending + debits_posted and credits_pending +
 * credits_posted never exceed 2^128 - 1 (the overflow checks refuse any event that would).
 */
#include <errno.h>
#include <string.h>

#include "engine/internal.h"

/* ------------------------------------------------------------------------------------------ */
/* The overlay and its undo log.                                                              */

static inline bl_undo_t *bl_undo_push(bl_block_t *block, uint32_t kind, uint32_t index) {
    BL_ASSERT(block->undo_count < block->undo_max);
    bl_undo_t *undo = &block->undo[block->undo_count++];
    undo->kind = kind;
    undo->index = index;
    return undo;
}

/* Call before changing an overlay account's balances. */
static void bl_overlay_touch(bl_block_t *block, uint32_t index) {
    bl_overlay_account_t *o = &block->overlay[index];
    if (block->undo_on) {
        bl_undo_t *undo = bl_undo_push(block, BL_UNDO_BALANCES, index);
        undo->balances[0] = o->debits_pending;
        undo->balances[1] = o->debits_posted;
        undo->balances[2] = o->credits_pending;
        undo->balances[3] = o->credits_posted;
    }
    o->dirty = 1;
}

/* Puts side `side` (k << 1 | side of new transfer k) last on overlay account `index`'s chain
 * of sides. */
static inline void bl_sides_push(bl_block_t *block, uint32_t index, uint32_t side) {
    bl_overlay_account_t *o = &block->overlay[index];
    uint32_t *last = &block->sides_last[index];
    uint32_t prev = o->sides_first == BL_SLOT_NONE ? BL_SLOT_NONE : *last;
    if (prev == BL_SLOT_NONE) {
        o->sides_first = side;
    } else {
        block->side_next[prev] = side;
    }
    if (block->undo_on) block->side_prev[side] = prev; /* read only by a chain's rollback */
    block->side_next[side] = BL_SLOT_NONE;
    *last = side;
}

/* Takes the last side, `side`, off overlay account `index`'s chain (a rollback). */
static void bl_sides_pop(bl_block_t *block, uint32_t index, uint32_t side) {
    uint32_t *last = &block->sides_last[index];
    BL_ASSERT(block->overlay[index].sides_first != BL_SLOT_NONE && *last == side);
    *last = block->side_prev[side];
    if (*last == BL_SLOT_NONE) {
        block->overlay[index].sides_first = BL_SLOT_NONE;
    } else {
        block->side_next[*last] = BL_SLOT_NONE;
    }
}

static void bl_undo_rollback(bl_engine_t *engine) {
    bl_block_t *block = &engine->block;
    while (block->undo_count > 0) {
        const bl_undo_t *undo = &block->undo[--block->undo_count];
        switch (undo->kind) {
        case BL_UNDO_BALANCES: {
            bl_overlay_account_t *o = &block->overlay[undo->index];
            o->debits_pending = undo->balances[0];
            o->debits_posted = undo->balances[1];
            o->credits_pending = undo->balances[2];
            o->credits_posted = undo->balances[3];
            break;
        }
        case BL_UNDO_ACCOUNT: {
            engine->accounts_count--;
            block->overlay_new_count--;
            uint32_t k = (uint32_t)(engine->accounts_count - block->accounts_base);
            bl_partition_t *owner = &engine->partitions[block->accounts_new_partition[k]];
            BL_ASSERT(owner->own_accounts > 0 &&
                      owner->own_accounts_new[owner->own_accounts - 1] == k);
            owner->own_accounts--;
            break;
        }
        case BL_UNDO_TRANSFER: {
            engine->transfers_count--;
            BL_ASSERT(engine->transfers_count == undo->index); /* undone last first */
            uint32_t k = (uint32_t)(undo->index - block->transfers_base);
            bl_partition_t *owner = &engine->partitions[block->transfers_new_partition[k]];
            BL_ASSERT(owner->own_transfers > 0 &&
                      owner->own_transfers_new[owner->own_transfers - 1] == k);
            owner->own_transfers--;
            bl_sides_pop(block, block->transfers_new_accounts[k][1], k << 1 | 1);
            bl_sides_pop(block, block->transfers_new_accounts[k][0], k << 1);
            break;
        }
        case BL_UNDO_PENDING:
            block->pending[undo->index].state = (uint8_t)undo->state;
            break;
        case BL_UNDO_PENDING_NEW:
            block->transfers_new_state[undo->index] = (uint8_t)undo->state;
            break;
        case BL_UNDO_HISTORY:
            block->history_new_count = undo->index;
            break;
        default:
            BL_ASSERT(!"unknown undo kind");
        }
    }
}

/* Balance history: after an event changed the balances of accounts `dr` and `cr` (overlay
 * indexes), each with the history flag gets an entry for `transfer_slot` at `timestamp`. */
static void bl_history_record(bl_block_t *block, uint32_t dr, uint32_t cr, uint64_t timestamp,
                              uint32_t transfer_slot) {
    if (!((block->overlay[dr].flags | block->overlay[cr].flags) & BL_ACCOUNT_HISTORY)) return;
    if (block->undo_on) bl_undo_push(block, BL_UNDO_HISTORY, block->history_new_count);
    const uint32_t accounts[2] = {dr, cr};
    for (uint32_t side = 0; side < 2; side++) {
        const bl_overlay_account_t *o = &block->overlay[accounts[side]];
        if (!(o->flags & BL_ACCOUNT_HISTORY)) continue;
        BL_ASSERT(block->history_new_count < 2 * block->items_max);
        bl_history_new_t *h = &block->history_new[block->history_new_count++];
        h->entry = (bl_balance_entry_t){
            .debits_pending = o->debits_pending,
            .debits_posted = o->debits_posted,
            .credits_pending = o->credits_pending,
            .credits_posted = o->credits_posted,
            .timestamp = timestamp,
            .transfer_slot = transfer_slot,
            .side = side == 0 ? BL_FILTER_DEBITS : BL_FILTER_CREDITS,
        };
        h->overlay = accounts[side];
        h->reserved = 0;
    }
}

/* The slot of the object with item i's id created earlier in this block, or BL_SLOT_NONE:
 * item_slot of the latest earlier item with that id already accounts for all before it. */
static inline uint32_t bl_block_created(const bl_block_t *block, uint32_t prev) {
    return prev == BL_SLOT_NONE ? BL_SLOT_NONE : block->item_slot[prev];
}

/* The overlay entry of the account that create_accounts item `item` (or one before it with the
 * same id) created in this block, or BL_SLOT_NONE. */
static inline uint32_t bl_account_created(const bl_block_t *block, uint32_t item) {
    uint32_t slot = bl_block_created(block, item);
    if (slot == BL_SLOT_NONE) return BL_SLOT_NONE;
    return block->accounts_new_overlay[slot - block->accounts_base];
}

/* ------------------------------------------------------------------------------------------ */
/* create_accounts.                                                                           */

static bool bl_account_same(const bl_account_t *a, const bl_account_t *stored) {
    return a->user_data_128 == stored->user_data_128 && a->user_data_64 == stored->user_data_64 &&
           a->user_data_32 == stored->user_data_32 && a->ledger == stored->ledger &&
           a->code == stored->code &&
           (a->flags & ~BL_ACCOUNT_LINKED) == (stored->flags & ~BL_ACCOUNT_LINKED);
}

static uint32_t bl_decide_account(bl_engine_t *engine, uint32_t i, uint64_t timestamp) {
    bl_block_t *block = &engine->block;
    const bl_account_t *a = block->items[i];
    const bl_fact_t *f = &block->facts[i];
    if (f->check != BL_CREATE_ACCOUNT_OK) return f->check; /* route's: codes 3 to 11 */

    const bl_account_t *existing = NULL;
    if (f->id_slot != BL_SLOT_NONE) {
        existing = &engine->accounts[f->id_slot];
    } else {
        uint32_t slot = bl_block_created(block, f->id_prev);
        if (slot != BL_SLOT_NONE)
            existing = &block->accounts_new_records[slot - block->accounts_base];
    }
    if (existing != NULL) {
        return bl_account_same(a, existing) ? BL_CREATE_ACCOUNT_EXISTS
                                            : BL_CREATE_ACCOUNT_EXISTS_WITH_DIFFERENT_FIELDS;
    }
    if (engine->accounts_count >= engine->config.accounts_max)
        return BL_CREATE_ACCOUNT_CAPACITY_EXHAUSTED;

    uint32_t slot = (uint32_t)engine->accounts_count++;
    uint64_t k = slot - block->accounts_base;
    block->accounts_new_records[k] = *a;
    block->accounts_new_records[k].timestamp = timestamp;
    block->accounts_new_partition[k] = f->id_partition;
    block->accounts_new_hash[k] = f->id_hash;
    bl_partition_t *owner = &engine->partitions[f->id_partition];
    owner->own_accounts_new[owner->own_accounts++] = (uint32_t)k;

    /* Its overlay entry, in decide's range, for transfers later in the block. */
    BL_ASSERT(block->overlay_new_count < block->overlay_range);
    uint32_t ov = engine->config.partitions * block->overlay_range + block->overlay_new_count++;
    bl_overlay_account_t *o = &block->overlay[ov];
    o->debits_pending = o->debits_posted = o->credits_pending = o->credits_posted = 0;
    o->slot = slot;
    o->ledger = a->ledger;
    o->flags = a->flags;
    o->partition = f->id_partition;
    o->dirty = 0;
    o->sides_first = BL_SLOT_NONE;
    block->accounts_new_overlay[k] = ov;
    block->item_slot[i] = slot;
    if (block->undo_on) bl_undo_push(block, BL_UNDO_ACCOUNT, slot);
    return BL_CREATE_ACCOUNT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* create_transfers.                                                                          */

/* A sum of balances that would pass 2^128 - 1. */
static inline bool bl_add_overflows(bl_u128_t a, bl_u128_t b) {
    return a + b < a;
}

static inline bool bl_add3_overflows(bl_u128_t a, bl_u128_t b, bl_u128_t c) {
    return bl_add_overflows(a, b) || bl_add_overflows(a + b, c);
}

/* The stored transfer with the event's id, from the table (or a copy of it, when it is cold)
 * or from this block; NULL if none. */
static const bl_transfer_t *bl_transfer_existing(bl_engine_t *engine, const bl_fact_t *f,
                                                 bl_transfer_t *copy) {
    bl_block_t *block = &engine->block;
    if (f->id_slot != BL_SLOT_NONE) return bl_transfer_read(engine, f->id_slot, copy);
    uint32_t slot = bl_block_created(block, f->id_prev);
    return slot != BL_SLOT_NONE ? block->transfers_new_source[slot - block->transfers_base]
                                : NULL; /* its timestamp unset: not compared */
}

/* Idempotency: does the event equal the stored transfer in every field the client set? For
 * post and void, a 0 in the accounts, ledger, code or amount matches the resolved value. */
static bool bl_transfer_same(const bl_transfer_t *t, const bl_transfer_t *s) {
    bool resolved = (t->flags & (BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING)) != 0;
#define BL_SAME_OR_RESOLVED(field) (t->field == s->field || (resolved && t->field == 0))
    return BL_SAME_OR_RESOLVED(debit_account_id) && BL_SAME_OR_RESOLVED(credit_account_id) &&
           BL_SAME_OR_RESOLVED(amount) && BL_SAME_OR_RESOLVED(ledger) &&
           BL_SAME_OR_RESOLVED(code) && t->pending_id == s->pending_id &&
           t->user_data_128 == s->user_data_128 && t->user_data_64 == s->user_data_64 &&
           t->user_data_32 == s->user_data_32 && t->timeout == s->timeout &&
           (t->flags & ~BL_TRANSFER_LINKED) == (s->flags & ~BL_TRANSFER_LINKED);
#undef BL_SAME_OR_RESOLVED
}

/* Takes the next transfer slot for `record` at `timestamp` (the caller has checked capacity):
 * the record is kept by reference when it is the event, else copied. */
static uint32_t bl_transfer_create(bl_engine_t *engine, uint32_t i, const bl_transfer_t *record,
                                   uint64_t timestamp, uint32_t dr, uint32_t cr) {
    const bl_fact_t *f = &engine->block.facts[i];
    bl_block_t *block = &engine->block;
    BL_ASSERT(engine->transfers_count < engine->config.transfers_max);
    uint32_t slot = (uint32_t)engine->transfers_count++;
    uint64_t k = slot - block->transfers_base;
    if (record != block->items[i]) {
        block->transfers_new_records[k] = *record;
        record = &block->transfers_new_records[k];
    }
    block->transfers_new_source[k] = record;
    block->transfers_new_timestamp[k] = timestamp;
    block->transfers_new_partition[k] = f->id_partition;
    block->transfers_new_hash[k] = f->id_hash;
    bl_partition_t *owner = &engine->partitions[f->id_partition];
    owner->own_transfers_new[owner->own_transfers++] = (uint32_t)k;
    block->transfers_new_accounts[k][0] = dr;
    block->transfers_new_accounts[k][1] = cr;
    bl_sides_push(block, dr, (uint32_t)k << 1);
    bl_sides_push(block, cr, (uint32_t)k << 1 | 1);
    block->transfers_new_state[k] =
        (record->flags & BL_TRANSFER_PENDING) ? BL_STATE_PENDING : BL_STATE_NONE;
    block->item_slot[i] = slot;
    if (block->undo_on) bl_undo_push(block, BL_UNDO_TRANSFER, slot);
    return slot;
}

/* A post or void, past route's checks. */
static uint32_t bl_decide_post_void(bl_engine_t *engine, uint32_t i, uint64_t timestamp) {
    bl_block_t *block = &engine->block;
    const bl_transfer_t *t = block->items[i];
    const bl_fact_t *f = &block->facts[i];

    bl_transfer_t copy;
    const bl_transfer_t *existing = bl_transfer_existing(engine, f, &copy);
    if (existing != NULL) {
        return bl_transfer_same(t, existing) ? BL_CREATE_TRANSFER_EXISTS
                                             : BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS;
    }

    /* The pending transfer: in the table, or created earlier in this block. */
    /* The pending transfer, in the table or created earlier in this block, and where its
     * state lives: overlay_pending for the one, the new transfer's state for the other. */
    const bl_transfer_t *p;
    bl_transfer_t p_copy;
    uint8_t *state;
    uint32_t undo_kind, undo_index, dr, cr;
    if (f->pending_slot != BL_SLOT_NONE) {
        p = bl_transfer_read(engine, f->pending_slot, &p_copy);
        state = &block->pending[f->pending_ov].state;
        undo_kind = BL_UNDO_PENDING;
        undo_index = f->pending_ov;
        dr = f->dr;
        cr = f->cr;
    } else {
        uint32_t slot = bl_block_created(block, f->pending_item);
        if (slot == BL_SLOT_NONE) return BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_FOUND;
        uint32_t k = (uint32_t)(slot - block->transfers_base);
        p = block->transfers_new_source[k];
        state = &block->transfers_new_state[k];
        undo_kind = BL_UNDO_PENDING_NEW;
        undo_index = k;
        dr = block->transfers_new_accounts[k][0];
        cr = block->transfers_new_accounts[k][1];
    }
    if (!(p->flags & BL_TRANSFER_PENDING)) return BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_PENDING;
    if (t->debit_account_id != 0 && t->debit_account_id != p->debit_account_id)
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID;
    if (t->credit_account_id != 0 && t->credit_account_id != p->credit_account_id)
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID;
    if (t->ledger != 0 && t->ledger != p->ledger)
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_LEDGER;
    if (t->code != 0 && t->code != p->code)
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_CODE;
    if (*state == BL_STATE_POSTED) return BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_POSTED;
    if (*state == BL_STATE_VOIDED) return BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_VOIDED;
    if (*state == BL_STATE_EXPIRED) return BL_CREATE_TRANSFER_PENDING_TRANSFER_EXPIRED;
    BL_ASSERT(*state == BL_STATE_PENDING);
    BL_ASSERT(dr != BL_SLOT_NONE && cr != BL_SLOT_NONE);

    bool post = (t->flags & BL_TRANSFER_POST_PENDING) != 0;
    if (post && t->amount > p->amount) return BL_CREATE_TRANSFER_EXCEEDS_PENDING_TRANSFER_AMOUNT;
    if (!post && t->amount != 0 && t->amount != p->amount)
        return BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT;
    bl_u128_t amount = post ? (t->amount != 0 ? t->amount : p->amount) : p->amount;

    bl_overlay_account_t *d = &block->overlay[dr];
    bl_overlay_account_t *c = &block->overlay[cr];
    BL_ASSERT(d->debits_pending >= p->amount && c->credits_pending >= p->amount);
    if (post) {
        /* Posting moves the pending amount out and `amount` (at most that) in, so pending +
         * posted never grows; 42 and 43 are checked on the balances as they would be after. */
        if (bl_add_overflows(d->debits_posted, amount))
            return BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_POSTED;
        if (bl_add_overflows(c->credits_posted, amount))
            return BL_CREATE_TRANSFER_OVERFLOWS_CREDITS_POSTED;
        if (bl_add_overflows(d->debits_pending - p->amount, d->debits_posted + amount))
            return BL_CREATE_TRANSFER_OVERFLOWS_DEBITS;
        if (bl_add_overflows(c->credits_pending - p->amount, c->credits_posted + amount))
            return BL_CREATE_TRANSFER_OVERFLOWS_CREDITS;
    }
    if (engine->transfers_count >= engine->config.transfers_max)
        return BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED;

    bl_transfer_t record = *t;
    record.debit_account_id = p->debit_account_id;
    record.credit_account_id = p->credit_account_id;
    record.ledger = p->ledger;
    record.code = p->code;
    record.amount = amount;
    record.timestamp = timestamp;
    uint32_t slot = bl_transfer_create(engine, i, &record, timestamp, dr, cr);

    bl_overlay_touch(block, dr);
    bl_overlay_touch(block, cr);
    d->debits_pending -= p->amount;
    c->credits_pending -= p->amount;
    if (post) {
        d->debits_posted += amount;
        c->credits_posted += amount;
    }
    bl_history_record(block, dr, cr, timestamp, slot);
    if (block->undo_on) bl_undo_push(block, undo_kind, undo_index)->state = *state;
    *state = post ? BL_STATE_POSTED : BL_STATE_VOIDED;
    return BL_CREATE_TRANSFER_OK;
}

static uint32_t bl_decide_transfer(bl_engine_t *engine, uint32_t i, uint64_t timestamp) {
    bl_block_t *block = &engine->block;
    const bl_transfer_t *t = block->items[i];
    const bl_fact_t *f = &block->facts[i];
    if (f->check != BL_CREATE_TRANSFER_OK) return f->check; /* route's: codes 3 to 20 */
    BL_ASSERT(f->kind != BL_ITEM_INVALID);                  /* route's check fails on its flags */
    if (f->kind == BL_ITEM_POST_VOID) return bl_decide_post_void(engine, i, timestamp);
    bool pending = (t->flags & BL_TRANSFER_PENDING) != 0;

    bl_transfer_t copy;
    const bl_transfer_t *existing = bl_transfer_existing(engine, f, &copy);
    if (existing != NULL) {
        return bl_transfer_same(t, existing) ? BL_CREATE_TRANSFER_EXISTS
                                             : BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS;
    }

    uint32_t dr = f->dr != BL_SLOT_NONE ? f->dr : bl_account_created(block, f->dr_item);
    if (dr == BL_SLOT_NONE) return BL_CREATE_TRANSFER_DEBIT_ACCOUNT_NOT_FOUND;
    uint32_t cr = f->cr != BL_SLOT_NONE ? f->cr : bl_account_created(block, f->cr_item);
    if (cr == BL_SLOT_NONE) return BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND;
    bl_overlay_account_t *d = &block->overlay[dr];
    bl_overlay_account_t *c = &block->overlay[cr];
    if (d->ledger != c->ledger) return BL_CREATE_TRANSFER_ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER;
    if (t->ledger != d->ledger)
        return BL_CREATE_TRANSFER_TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS;

    bl_u128_t amount = t->amount;
    if (pending) {
        if (bl_add_overflows(d->debits_pending, amount))
            return BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_PENDING;
        if (bl_add_overflows(c->credits_pending, amount))
            return BL_CREATE_TRANSFER_OVERFLOWS_CREDITS_PENDING;
    } else {
        if (bl_add_overflows(d->debits_posted, amount))
            return BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_POSTED;
        if (bl_add_overflows(c->credits_posted, amount))
            return BL_CREATE_TRANSFER_OVERFLOWS_CREDITS_POSTED;
    }
    if (bl_add3_overflows(d->debits_pending, d->debits_posted, amount))
        return BL_CREATE_TRANSFER_OVERFLOWS_DEBITS;
    if (bl_add3_overflows(c->credits_pending, c->credits_posted, amount))
        return BL_CREATE_TRANSFER_OVERFLOWS_CREDITS;
    if (pending && t->timeout != 0 && timestamp > UINT64_MAX - (uint64_t)t->timeout * BL_NS_PER_S)
        return BL_CREATE_TRANSFER_OVERFLOWS_TIMEOUT;
    if ((d->flags & BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS) &&
        d->debits_pending + d->debits_posted + amount > d->credits_posted)
        return BL_CREATE_TRANSFER_EXCEEDS_CREDITS;
    if ((c->flags & BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS) &&
        c->credits_pending + c->credits_posted + amount > c->debits_posted)
        return BL_CREATE_TRANSFER_EXCEEDS_DEBITS;
    if (engine->transfers_count >= engine->config.transfers_max)
        return BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED;

    uint32_t slot = bl_transfer_create(engine, i, t, timestamp, dr, cr);
    bl_overlay_touch(block, dr);
    bl_overlay_touch(block, cr);
    if (pending) {
        d->debits_pending += amount;
        c->credits_pending += amount;
    } else {
        d->debits_posted += amount;
        c->credits_posted += amount;
    }
    bl_history_record(block, dr, cr, timestamp, slot);
    return BL_CREATE_TRANSFER_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Requests, chains and expiries.                                                             */

static inline bool bl_event_linked(uint16_t op, const void *event) {
    if (op == BL_OP_CREATE_ACCOUNTS)
        return ((const bl_account_t *)event)->flags & BL_ACCOUNT_LINKED;
    return ((const bl_transfer_t *)event)->flags & BL_TRANSFER_LINKED;
}

/* An item that creates nothing inherits what the block created before it under its id. */
static inline void bl_item_inherit(bl_block_t *block, uint32_t item) {
    block->item_slot[item] = bl_block_created(block, block->facts[item].id_prev);
}

static inline uint32_t bl_decide_event(bl_engine_t *engine, uint16_t op, uint32_t item,
                                       uint64_t timestamp) {
    bl_item_inherit(&engine->block, item);
    if (op == BL_OP_CREATE_ACCOUNTS) return bl_decide_account(engine, item, timestamp);
    return bl_decide_transfer(engine, item, timestamp);
}

static inline void bl_result_add(bl_request_t *request, uint32_t index, uint32_t result) {
    BL_ASSERT(request->results_count < request->count);
    request->results[request->results_count++] = (bl_event_result_t){index, result};
}

/* Events [first, last] of a request form a closed chain (last is the only one not linked). */
static void bl_decide_chain(bl_engine_t *engine, bl_request_t *request, uint32_t item0,
                            uint32_t first, uint32_t last, uint64_t timestamp0) {
    bl_block_t *block = &engine->block;
    uint32_t results_mark = request->results_count;
    uint32_t ok = BL_CREATE_TRANSFER_OK; /* 0 for both ops */
    uint32_t exists =
        request->op == BL_OP_CREATE_ACCOUNTS ? BL_CREATE_ACCOUNT_EXISTS : BL_CREATE_TRANSFER_EXISTS;
    _Static_assert(BL_CREATE_ACCOUNT_OK == 0 && BL_CREATE_TRANSFER_OK == 0, "ok is 0");
    _Static_assert((int)BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED ==
                       (int)BL_CREATE_TRANSFER_LINKED_EVENT_FAILED,
                   "linked_event_failed is shared");

    block->undo_on = true;
    block->undo_count = 0;
    for (uint32_t e = first; e <= last; e++) {
        uint32_t result = bl_decide_event(engine, request->op, item0 + e, timestamp0 + e);
        if (result == ok) continue;
        if (result == exists) {
            bl_result_add(request, e, result);
            continue;
        }
        bl_undo_rollback(engine);
        request->results_count = results_mark;
        for (uint32_t k = first; k <= last; k++) {
            bl_item_inherit(block, item0 + k); /* in order: a later k may inherit from k */
            bl_result_add(request, k,
                          k == e ? result : (uint32_t)BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
        }
        break;
    }
    block->undo_on = false;
    block->undo_count = 0;
}

/* Decides the events of one request; item0 is the block item of its event 0 and timestamp0
 * the timestamp of its event 0. */
static void bl_decide_request(bl_engine_t *engine, bl_request_t *request, uint32_t item0,
                              uint64_t timestamp0) {
    bl_block_t *block = &engine->block;
    uint32_t count = request->count;
    request->results_count = 0;
    uint32_t e = 0;
    while (e < count) {
        uint32_t last = e;
        while (last < count && bl_event_linked(request->op, block->items[item0 + last])) last++;
        if (last == count) { /* open chain: nothing of it is evaluated */
            for (uint32_t k = e; k < count; k++) bl_item_inherit(block, item0 + k);
            for (uint32_t k = e; k + 1 < count; k++)
                bl_result_add(request, k, BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
            bl_result_add(request, count - 1, BL_CREATE_TRANSFER_LINKED_EVENT_CHAIN_OPEN);
            _Static_assert((int)BL_CREATE_ACCOUNT_LINKED_EVENT_CHAIN_OPEN ==
                               (int)BL_CREATE_TRANSFER_LINKED_EVENT_CHAIN_OPEN,
                           "linked_event_chain_open is shared");
            break;
        }
        if (last == e) {
            uint32_t result = bl_decide_event(engine, request->op, item0 + e, timestamp0 + e);
            if (result != 0) bl_result_add(request, e, result);
        } else {
            bl_decide_chain(engine, request, item0, e, last, timestamp0);
        }
        e = last + 1;
    }
}

/* New pending transfers with a timeout join the expiry queue once the block is decided. */
static void bl_decide_expiry_push(bl_engine_t *engine) {
    const bl_block_t *block = &engine->block;
    uint64_t created = engine->transfers_count - block->transfers_base;
    for (uint64_t k = 0; k < created; k++) {
        const bl_transfer_t *t = block->transfers_new_source[k];
        if (!(t->flags & BL_TRANSFER_PENDING) || t->timeout == 0) continue;
        uint64_t timestamp = block->transfers_new_timestamp[k];
        bl_expiry_push(
            &engine->expiry,
            (bl_expiry_entry_t){.deadline = timestamp + (uint64_t)t->timeout * BL_NS_PER_S,
                                .slot = (uint32_t)(block->transfers_base + k),
                                .partition = block->transfers_new_partition[k]});
    }
}

void bl_decide_requests(bl_engine_t *engine, bl_request_t *requests, uint32_t requests_count) {
    bl_block_t *block = &engine->block;
    uint32_t item0 = 0;
    for (uint32_t r = 0; r < requests_count; r++) {
        bl_decide_request(engine, &requests[r], item0, block->timestamp_next);
        item0 += requests[r].count;
        block->timestamp_next += requests[r].count;
    }
    BL_ASSERT(item0 == block->items_count);
    bl_decide_expiry_push(engine);
}

void bl_decide_expiries(bl_engine_t *engine) {
    bl_block_t *block = &engine->block;
    for (uint32_t i = 0; i < block->items_count; i++) {
        const bl_fact_t *f = &block->facts[i];
        BL_ASSERT(f->kind == BL_ITEM_EXPIRY);
        bl_overlay_pending_t *pending = &block->pending[f->pending_ov];
        if (pending->state != BL_STATE_PENDING) continue; /* posted or voided in time */
        uint64_t timestamp = block->timestamp_next++;
        bl_transfer_t p_copy;
        const bl_transfer_t *p = bl_transfer_read(engine, f->pending_slot, &p_copy);
        uint32_t dr = f->dr, cr = f->cr;
        bl_overlay_touch(block, dr);
        bl_overlay_touch(block, cr);
        BL_ASSERT(block->overlay[dr].debits_pending >= p->amount);
        BL_ASSERT(block->overlay[cr].credits_pending >= p->amount);
        block->overlay[dr].debits_pending -= p->amount;
        block->overlay[cr].credits_pending -= p->amount;
        pending->state = BL_STATE_EXPIRED;
        bl_history_record(block, dr, cr, timestamp, f->pending_slot);
    }
}
