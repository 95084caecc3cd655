/*
 * Route and gather: the parallel first half of a block.
 *
 * route (any thread, over a range of items) hashes every id an item names once and records
 * which partition owns it. gather_first (partition p) then resolves the ids p owns: whether a
 * transfer or account id exists, the debit and credit accounts of plain and pending transfers
 * (copying balances, ledger and flags into the item's fact), and the pending transfer of a
 * post, void or expiry (its slot and its state). gather_second (partition p) resolves the
 * accounts of those pending transfers, whose ids are only known once the pending transfer was
 * found in the first round; it runs only when the block has post/void or expiry items.
 *
 * Ownership: a partition writes only the fact fields of the ids it owns (dr.* for a debit
 * account it owns, and so on) and reads only its own records' mutable state. Immutable
 * transfer records are read by whichever partition needs their ids.
 *
 * Lookups are independent, so gather_first runs them as a three-stage software pipeline over
 * the items: prefetch the bucket heads of item i + 2D, read the heads of item i + D and
 * prefetch the records they name, then compare ids and copy the facts of item i. A random
 * lookup then costs about one memory latency divided by the memory parallelism, not two full
 * latencies in a row.
 */
#include "engine/internal.h"

#define BL_GATHER_DISTANCE 8u
#define BL_PARTITION_NONE 0xFFu

static void bl_account_fact_none(bl_account_fact_t *fact) {
    fact->slot = BL_SLOT_NONE;
    fact->partition = BL_PARTITION_NONE;
}

static void bl_account_fact_route(bl_account_fact_t *fact, bl_u128_t id, uint32_t partitions) {
    fact->hash = bl_hash_id(id);
    fact->partition = (uint8_t)bl_partition_of(fact->hash, partitions);
    fact->slot = BL_SLOT_NONE;
}

void bl_gather_route(bl_engine_t *engine, uint32_t begin, uint32_t end) {
    bl_block_t *block = &engine->block;
    uint32_t n = engine->config.partitions;
    for (uint32_t i = begin; i < end; i++) {
        bl_fact_t *f = &block->facts[i];
        f->id_slot = BL_SLOT_NONE;
        switch (f->kind) {
        case BL_ITEM_ACCOUNT: {
            const bl_account_t *a = block->items[i];
            f->id_hash = bl_hash_id(a->id);
            f->id_partition = (uint8_t)bl_partition_of(f->id_hash, n);
            break;
        }
        case BL_ITEM_TRANSFER: {
            const bl_transfer_t *t = block->items[i];
            f->id_hash = bl_hash_id(t->id);
            f->id_partition = (uint8_t)bl_partition_of(f->id_hash, n);
            bl_account_fact_route(&f->dr, t->debit_account_id, n);
            bl_account_fact_route(&f->cr, t->credit_account_id, n);
            break;
        }
        case BL_ITEM_POST_VOID: {
            const bl_transfer_t *t = block->items[i];
            f->id_hash = bl_hash_id(t->id);
            f->id_partition = (uint8_t)bl_partition_of(f->id_hash, n);
            f->pending_hash = bl_hash_id(t->pending_id);
            f->pending_partition = (uint8_t)bl_partition_of(f->pending_hash, n);
            f->pending_slot = BL_SLOT_NONE;
            bl_account_fact_none(&f->dr);
            bl_account_fact_none(&f->cr);
            break;
        }
        case BL_ITEM_EXPIRY: /* pending_slot and pending_partition set by the driver */
            f->id_partition = BL_PARTITION_NONE;
            bl_account_fact_none(&f->dr);
            bl_account_fact_none(&f->cr);
            break;
        case BL_ITEM_INVALID:
            f->id_partition = BL_PARTITION_NONE;
            break;
        default:
            BL_ASSERT(!"unknown item kind");
        }
    }
}

/* Stage 1: prefetch the buckets of the ids of item i that partition p owns. */
static void bl_gather_stage_buckets(bl_engine_t *engine, const bl_partition_t *part,
                                    const bl_fact_t *f) {
    uint32_t p = part->index;
    switch (f->kind) {
    case BL_ITEM_ACCOUNT:
        if (f->id_partition == p) bl_index_prefetch(&part->accounts, f->id_hash);
        break;
    case BL_ITEM_TRANSFER:
        if (f->id_partition == p) bl_index_prefetch(&part->transfers, f->id_hash);
        if (f->dr.partition == p) bl_index_prefetch(&part->accounts, f->dr.hash);
        if (f->cr.partition == p) bl_index_prefetch(&part->accounts, f->cr.hash);
        break;
    case BL_ITEM_POST_VOID:
        if (f->id_partition == p) bl_index_prefetch(&part->transfers, f->id_hash);
        if (f->pending_partition == p) bl_index_prefetch(&part->transfers, f->pending_hash);
        break;
    case BL_ITEM_EXPIRY:
        if (f->pending_partition == p) {
            __builtin_prefetch(&engine->transfers[f->pending_slot]);
            __builtin_prefetch(&engine->transfer_state[f->pending_slot]);
        }
        break;
    }
}

static void bl_prefetch_record(const void *record) {
    __builtin_prefetch(record);
    __builtin_prefetch((const uint8_t *)record + 64);
}

/* Stage 2: read the bucket heads (now cached) and prefetch the records they name. */
static void bl_gather_stage_heads(bl_engine_t *engine, const bl_partition_t *part,
                                  bl_fact_t *f) {
    uint32_t p = part->index;
    switch (f->kind) {
    case BL_ITEM_ACCOUNT:
        if (f->id_partition == p) {
            f->id_slot = bl_index_head(&part->accounts, f->id_hash);
            if (f->id_slot != BL_SLOT_NONE) __builtin_prefetch(&engine->accounts[f->id_slot]);
        }
        break;
    case BL_ITEM_TRANSFER:
        if (f->id_partition == p) {
            f->id_slot = bl_index_head(&part->transfers, f->id_hash);
            if (f->id_slot != BL_SLOT_NONE) __builtin_prefetch(&engine->transfers[f->id_slot]);
        }
        if (f->dr.partition == p) {
            f->dr.slot = bl_index_head(&part->accounts, f->dr.hash);
            if (f->dr.slot != BL_SLOT_NONE) bl_prefetch_record(&engine->accounts[f->dr.slot]);
        }
        if (f->cr.partition == p) {
            f->cr.slot = bl_index_head(&part->accounts, f->cr.hash);
            if (f->cr.slot != BL_SLOT_NONE) bl_prefetch_record(&engine->accounts[f->cr.slot]);
        }
        break;
    case BL_ITEM_POST_VOID:
        if (f->id_partition == p) {
            f->id_slot = bl_index_head(&part->transfers, f->id_hash);
            if (f->id_slot != BL_SLOT_NONE) __builtin_prefetch(&engine->transfers[f->id_slot]);
        }
        if (f->pending_partition == p) {
            f->pending_slot = bl_index_head(&part->transfers, f->pending_hash);
            if (f->pending_slot != BL_SLOT_NONE) {
                bl_prefetch_record(&engine->transfers[f->pending_slot]);
                __builtin_prefetch(&engine->transfer_state[f->pending_slot]);
            }
        }
        break;
    }
}

static void bl_account_fact_copy(bl_account_fact_t *fact, const bl_account_t *account) {
    fact->debits_pending = account->debits_pending;
    fact->debits_posted = account->debits_posted;
    fact->credits_pending = account->credits_pending;
    fact->credits_posted = account->credits_posted;
    fact->ledger = account->ledger;
    fact->flags = account->flags;
}

static void bl_account_fact_resolve(bl_engine_t *engine, bl_account_fact_t *fact, bl_u128_t id) {
    fact->slot = bl_index_walk(&engine->accounts_records, fact->slot, id);
    if (fact->slot != BL_SLOT_NONE) bl_account_fact_copy(fact, &engine->accounts[fact->slot]);
}

/* The pending transfer of a post, void or expiry is found: note its state, and route its
 * accounts for the second round. */
static void bl_gather_pending(bl_engine_t *engine, bl_fact_t *f) {
    uint32_t n = engine->config.partitions;
    const bl_transfer_t *pending = &engine->transfers[f->pending_slot];
    f->pending_state = engine->transfer_state[f->pending_slot];
    if (pending->flags & BL_TRANSFER_PENDING) {
        bl_account_fact_route(&f->dr, pending->debit_account_id, n);
        bl_account_fact_route(&f->cr, pending->credit_account_id, n);
    }
}

/* Stage 3: follow the chains to the exact ids and copy the facts. */
static void bl_gather_stage_resolve(bl_engine_t *engine, const bl_partition_t *part,
                                    bl_fact_t *f, const void *item) {
    uint32_t p = part->index;
    switch (f->kind) {
    case BL_ITEM_ACCOUNT: {
        const bl_account_t *a = item;
        if (f->id_partition == p)
            f->id_slot = bl_index_walk(&engine->accounts_records, f->id_slot, a->id);
        break;
    }
    case BL_ITEM_TRANSFER: {
        const bl_transfer_t *t = item;
        if (f->id_partition == p)
            f->id_slot = bl_index_walk(&engine->transfers_records, f->id_slot, t->id);
        if (f->dr.partition == p) bl_account_fact_resolve(engine, &f->dr, t->debit_account_id);
        if (f->cr.partition == p) bl_account_fact_resolve(engine, &f->cr, t->credit_account_id);
        break;
    }
    case BL_ITEM_POST_VOID: {
        const bl_transfer_t *t = item;
        if (f->id_partition == p)
            f->id_slot = bl_index_walk(&engine->transfers_records, f->id_slot, t->id);
        if (f->pending_partition == p) {
            f->pending_slot =
                bl_index_walk(&engine->transfers_records, f->pending_slot, t->pending_id);
            if (f->pending_slot != BL_SLOT_NONE) bl_gather_pending(engine, f);
        }
        break;
    }
    case BL_ITEM_EXPIRY:
        if (f->pending_partition == p) bl_gather_pending(engine, f);
        break;
    }
}

void bl_gather_first(bl_engine_t *engine, uint32_t p) {
    bl_block_t *block = &engine->block;
    const bl_partition_t *part = &engine->partitions[p];
    uint32_t n = block->items_count;
    const uint32_t d = BL_GATHER_DISTANCE;
    for (uint32_t i = 0; i < n + 2 * d; i++) {
        if (i < n) bl_gather_stage_buckets(engine, part, &block->facts[i]);
        if (i >= d && i - d < n) bl_gather_stage_heads(engine, part, &block->facts[i - d]);
        if (i >= 2 * d) {
            uint32_t k = i - 2 * d;
            bl_gather_stage_resolve(engine, part, &block->facts[k], block->items[k]);
        }
    }
}

void bl_gather_second(bl_engine_t *engine, uint32_t p) {
    bl_block_t *block = &engine->block;
    const bl_partition_t *part = &engine->partitions[p];
    for (uint32_t i = 0; i < block->items_count; i++) {
        bl_fact_t *f = &block->facts[i];
        if (f->kind != BL_ITEM_POST_VOID && f->kind != BL_ITEM_EXPIRY) continue;
        if (f->dr.partition != p && f->cr.partition != p) continue;
        BL_ASSERT(f->pending_slot != BL_SLOT_NONE);
        const bl_transfer_t *pending = &engine->transfers[f->pending_slot];
        if (f->dr.partition == p) {
            f->dr.slot = bl_index_head(&part->accounts, f->dr.hash);
            bl_account_fact_resolve(engine, &f->dr, pending->debit_account_id);
            BL_ASSERT(f->dr.slot != BL_SLOT_NONE); /* accounts are never removed */
        }
        if (f->cr.partition == p) {
            f->cr.slot = bl_index_head(&part->accounts, f->cr.hash);
            bl_account_fact_resolve(engine, &f->cr, pending->credit_account_id);
            BL_ASSERT(f->cr.slot != BL_SLOT_NONE);
        }
    }
}
