/*
 * Route and gather: the parallel first half of a block.
 *
 * route (any thread, over a range of items) hashes every id an item names once and records
 * which partition owns it. gather_first (partition p) then resolves, in item order, the ids p
 * owns:
 *   - whether the item's own id is in the table (id_slot), and the latest earlier item of the
 *     block with the same id (id_prev), so decide can tell duplicates inside a block apart;
 *   - the debit and credit accounts of plain and pending transfers: an account in the table
 *     gets an overlay entry in p's range (balances copied once per block, however many events
 *     touch it); an account not in the table is linked to the latest earlier create_accounts
 *     item with its id (dr_item, cr_item), in case the block creates it;
 *   - the pending transfer of a post, void or expiry: in the table it gets an overlay_pending
 *     entry (its state); else it is linked to the latest earlier transfer item with its id.
 * gather_second (partition p) resolves the accounts of pending transfers found in the table,
 * whose ids are only known after the first round; it runs only when the block needs it.
 *
 * Ownership: partition p writes only its own arrays (route lists, item list, found facts),
 * its own overlay ranges and its own maps, and reads the mutable state (balances, pending
 * state) only of its own records. Immutable transfer records are read by whichever partition
 * needs their ids. Route (over a range of items) lists, for every partition, the items of
 * the range in which it owns an id; gather_first of p visits only those. What p finds goes to
 * p's own `found` array, so partitions running at once never write the same cache line; the
 * driver merges the fields into block->facts before decide.
 *
 * Index lookups are independent, so gather_first runs them as a three-stage software pipeline:
 * prefetch the bucket heads of item i + 2D, read the heads of item i + D and prefetch the
 * records they name, then compare ids and copy the facts of item i. Map updates happen only in
 * the last stage, so items are still handled in order.
 */
#include "engine/internal.h"

#define BL_GATHER_DISTANCE 8u

/* Adds item i to the route list of partition q (once per item: callers pass the distinct
 * owners of the item's ids in any order; `mask` remembers which lists already have it). */
static inline void bl_route_add(bl_partition_t *part, uint64_t *mask, uint8_t q, uint32_t i) {
    if (q == BL_PARTITION_NONE || (*mask & (1ull << q))) return;
    *mask |= 1ull << q;
    part->route_lists[(uint64_t)q * part->route_range + part->route_counts[q]++] = i;
}

void bl_gather_route(bl_engine_t *engine, uint32_t p, uint32_t begin, uint32_t end) {
    bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];
    uint32_t n = engine->config.partitions;
    _Static_assert(BL_PARTITIONS_MAX <= 64, "route masks are 64-bit");
    BL_ASSERT(end - begin <= part->route_range);
    for (uint32_t q = 0; q < n; q++) part->route_counts[q] = 0;
    for (uint32_t i = begin; i < end; i++) {
        bl_fact_t *f = &block->facts[i];
        f->id_slot = f->id_prev = BL_SLOT_NONE;
        f->dr = f->cr = f->dr_item = f->cr_item = BL_SLOT_NONE;
        f->pending_item = BL_SLOT_NONE;
        f->id_partition = f->dr_partition = f->cr_partition = BL_PARTITION_NONE;
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
            f->dr_hash = bl_hash_id(t->debit_account_id);
            f->dr_partition = (uint8_t)bl_partition_of(f->dr_hash, n);
            f->cr_hash = bl_hash_id(t->credit_account_id);
            f->cr_partition = (uint8_t)bl_partition_of(f->cr_hash, n);
            break;
        }
        case BL_ITEM_POST_VOID: {
            const bl_transfer_t *t = block->items[i];
            f->id_hash = bl_hash_id(t->id);
            f->id_partition = (uint8_t)bl_partition_of(f->id_hash, n);
            f->pending_hash = bl_hash_id(t->pending_id);
            f->pending_partition = (uint8_t)bl_partition_of(f->pending_hash, n);
            f->pending_slot = BL_SLOT_NONE;
            break;
        }
        case BL_ITEM_EXPIRY: /* pending_slot and pending_partition set by the driver */
        case BL_ITEM_INVALID:
            break;
        default:
            BL_ASSERT(!"unknown item kind");
        }
        uint64_t mask = 0;
        bl_route_add(part, &mask, f->id_partition, i);
        bl_route_add(part, &mask, f->dr_partition, i);
        bl_route_add(part, &mask, f->cr_partition, i);
        if (f->kind == BL_ITEM_POST_VOID || f->kind == BL_ITEM_EXPIRY)
            bl_route_add(part, &mask, f->pending_partition, i);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Overlay entries made by gather.                                                            */

/* The overlay index of account `slot` (owned by partition p), copying its balances the first
 * time the pass names it. account_mark[slot] remembers the pass and the index. */
static uint32_t bl_gather_overlay_account(bl_engine_t *engine, bl_partition_t *part,
                                          uint32_t slot) {
    bl_block_t *block = &engine->block;
    uint64_t mark = engine->account_mark[slot];
    if ((uint32_t)(mark >> 32) == engine->pass) return (uint32_t)mark;
    BL_ASSERT(part->overlay_count < block->overlay_range);
    uint32_t index = part->index * block->overlay_range + part->overlay_count++;
    const bl_account_t *a = &engine->accounts[slot];
    bl_overlay_account_t *o = &block->overlay[index];
    o->debits_pending = a->debits_pending;
    o->debits_posted = a->debits_posted;
    o->credits_pending = a->credits_pending;
    o->credits_posted = a->credits_posted;
    o->slot = slot;
    o->ledger = a->ledger;
    o->flags = a->flags;
    o->partition = (uint8_t)part->index;
    o->dirty = 0;
    engine->account_mark[slot] = ((uint64_t)engine->pass << 32) | index;
    return index;
}

/* The overlay_pending index of pending transfer `slot` (owned by partition p). */
static uint32_t bl_gather_overlay_pending(bl_engine_t *engine, bl_partition_t *part,
                                          uint32_t slot) {
    bl_block_t *block = &engine->block;
    uint32_t found = bl_map_find(&part->pending_slots, bl_map_slot_hash(slot), slot);
    if (found != BL_SLOT_NONE) return found;
    BL_ASSERT(part->pending_count < block->items_max);
    uint32_t index = part->index * block->items_max + part->pending_count++;
    uint8_t state = engine->transfer_state[slot];
    block->pending[index] = (bl_overlay_pending_t){
        .slot = slot, .state_start = state, .state = state};
    bl_map_put(&part->pending_slots, bl_map_slot_hash(slot), slot, index);
    return index;
}

/* ------------------------------------------------------------------------------------------ */
/* First round. `f` is the item's route facts (read only), `g` partition p's found facts.     */

static void bl_prefetch_record(const void *record) {
    __builtin_prefetch(record);
    __builtin_prefetch((const uint8_t *)record + 64);
}

/* Stage 1: prefetch the buckets of the ids of the item that partition p owns. Always inlined:
 * GCC judges a function that only prefetches free of side effects and drops calls to it. */
static inline __attribute__((always_inline)) void
bl_gather_stage_buckets(bl_engine_t *engine, const bl_partition_t *part, const bl_fact_t *f) {
    uint32_t p = part->index;
    switch (f->kind) {
    case BL_ITEM_ACCOUNT:
        if (f->id_partition == p) {
            bl_index_prefetch(&part->accounts, f->id_hash);
            bl_map_prefetch(&part->account_items, f->id_hash);
        }
        break;
    case BL_ITEM_TRANSFER:
        if (f->id_partition == p) {
            bl_index_prefetch(&part->transfers, f->id_hash);
            bl_map_prefetch(&part->transfer_items, f->id_hash);
        }
        if (f->dr_partition == p) bl_index_prefetch(&part->accounts, f->dr_hash);
        if (f->cr_partition == p) bl_index_prefetch(&part->accounts, f->cr_hash);
        break;
    case BL_ITEM_POST_VOID:
        if (f->id_partition == p) {
            bl_index_prefetch(&part->transfers, f->id_hash);
            bl_map_prefetch(&part->transfer_items, f->id_hash);
        }
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

/* An account record and its block mark. */
static void bl_prefetch_account(const bl_engine_t *engine, uint32_t slot) {
    bl_prefetch_record(&engine->accounts[slot]);
    __builtin_prefetch(&engine->account_mark[slot]);
}

/* Stage 2: read the bucket heads (now cached) into the slot fields and prefetch the records
 * they name. */
static void bl_gather_stage_heads(bl_engine_t *engine, const bl_partition_t *part,
                                  const bl_fact_t *f, bl_fact_t *g) {
    uint32_t p = part->index;
    switch (f->kind) {
    case BL_ITEM_ACCOUNT:
        if (f->id_partition == p) {
            g->id_slot = bl_index_head(&part->accounts, f->id_hash);
            if (g->id_slot != BL_SLOT_NONE) __builtin_prefetch(&engine->accounts[g->id_slot]);
        }
        break;
    case BL_ITEM_TRANSFER:
        if (f->id_partition == p) {
            g->id_slot = bl_index_head(&part->transfers, f->id_hash);
            if (g->id_slot != BL_SLOT_NONE) __builtin_prefetch(&engine->transfers[g->id_slot]);
        }
        if (f->dr_partition == p) {
            g->dr = bl_index_head(&part->accounts, f->dr_hash);
            if (g->dr != BL_SLOT_NONE) bl_prefetch_account(engine, g->dr);
        }
        if (f->cr_partition == p) {
            g->cr = bl_index_head(&part->accounts, f->cr_hash);
            if (g->cr != BL_SLOT_NONE) bl_prefetch_account(engine, g->cr);
        }
        break;
    case BL_ITEM_POST_VOID:
        if (f->id_partition == p) {
            g->id_slot = bl_index_head(&part->transfers, f->id_hash);
            if (g->id_slot != BL_SLOT_NONE) __builtin_prefetch(&engine->transfers[g->id_slot]);
        }
        if (f->pending_partition == p) {
            g->pending_slot = bl_index_head(&part->transfers, f->pending_hash);
            if (g->pending_slot != BL_SLOT_NONE) {
                bl_prefetch_record(&engine->transfers[g->pending_slot]);
                __builtin_prefetch(&engine->transfer_state[g->pending_slot]);
            }
        }
        break;
    }
}

/* An account a transfer names, owned by p: its overlay entry if it is in the table, else the
 * latest earlier item of the block that creates it. `*ov` holds the bucket head on entry. */
static void bl_gather_account(bl_engine_t *engine, bl_partition_t *part, uint32_t *ov,
                              uint32_t *item, uint64_t hash, bl_u128_t id) {
    uint32_t slot = bl_index_walk(&engine->accounts_records, *ov, id);
    *item = BL_SLOT_NONE;
    if (slot != BL_SLOT_NONE) {
        *ov = bl_gather_overlay_account(engine, part, slot);
    } else {
        *ov = BL_SLOT_NONE;
        *item = bl_map_find(&part->account_items, hash, id);
    }
}

/* The pending transfer of a post, void or expiry is in the table (g->pending_slot): take its
 * overlay entry and route its accounts for the second round. */
static void bl_gather_pending(bl_engine_t *engine, bl_partition_t *part, bl_fact_t *g) {
    uint32_t n = engine->config.partitions;
    const bl_transfer_t *pending = &engine->transfers[g->pending_slot];
    g->pending_ov = bl_gather_overlay_pending(engine, part, g->pending_slot);
    g->dr_partition = g->cr_partition = BL_PARTITION_NONE;
    if (pending->flags & BL_TRANSFER_PENDING) {
        g->dr_hash = bl_hash_id(pending->debit_account_id);
        g->dr_partition = (uint8_t)bl_partition_of(g->dr_hash, n);
        g->cr_hash = bl_hash_id(pending->credit_account_id);
        g->cr_partition = (uint8_t)bl_partition_of(g->cr_hash, n);
    }
}

/* Stage 3: follow the chains to the exact ids, make overlay entries, link earlier items. */
static void bl_gather_stage_resolve(bl_engine_t *engine, bl_partition_t *part,
                                    const bl_fact_t *f, bl_fact_t *g, const void *event,
                                    uint32_t item) {
    uint32_t p = part->index;
    switch (f->kind) {
    case BL_ITEM_ACCOUNT: {
        const bl_account_t *a = event;
        if (f->id_partition != p) break;
        g->id_slot = bl_index_walk(&engine->accounts_records, g->id_slot, a->id);
        g->id_prev = bl_map_put(&part->account_items, f->id_hash, a->id, item);
        break;
    }
    case BL_ITEM_TRANSFER: {
        const bl_transfer_t *t = event;
        if (f->dr_partition == p)
            bl_gather_account(engine, part, &g->dr, &g->dr_item, f->dr_hash, t->debit_account_id);
        if (f->cr_partition == p)
            bl_gather_account(engine, part, &g->cr, &g->cr_item, f->cr_hash,
                              t->credit_account_id);
        if (f->id_partition == p) {
            g->id_slot = bl_index_walk(&engine->transfers_records, g->id_slot, t->id);
            g->id_prev = bl_map_put(&part->transfer_items, f->id_hash, t->id, item);
        }
        break;
    }
    case BL_ITEM_POST_VOID: {
        const bl_transfer_t *t = event;
        if (f->pending_partition == p) {
            g->pending_slot =
                bl_index_walk(&engine->transfers_records, g->pending_slot, t->pending_id);
            g->pending_item = BL_SLOT_NONE;
            if (g->pending_slot != BL_SLOT_NONE) {
                bl_gather_pending(engine, part, g);
            } else {
                g->pending_item = bl_map_find(&part->transfer_items, f->pending_hash, t->pending_id);
            }
        }
        if (f->id_partition == p) {
            g->id_slot = bl_index_walk(&engine->transfers_records, g->id_slot, t->id);
            g->id_prev = bl_map_put(&part->transfer_items, f->id_hash, t->id, item);
        }
        break;
    }
    case BL_ITEM_EXPIRY:
        if (f->pending_partition == p) {
            g->pending_slot = f->pending_slot;
            bl_gather_pending(engine, part, g);
        }
        break;
    }
}

/* Partition p's items: the route lists for p of every range, in range order. */
static void bl_gather_items(bl_engine_t *engine, bl_partition_t *part) {
    uint32_t n = engine->config.partitions;
    uint32_t count = 0;
    for (uint32_t r = 0; r < n; r++) {
        const bl_partition_t *router = &engine->partitions[r];
        uint32_t c = router->route_counts[part->index];
        const uint32_t *list = &router->route_lists[(uint64_t)part->index * router->route_range];
        for (uint32_t k = 0; k < c; k++) part->items[count++] = list[k];
    }
    part->items_count = count;
}

void bl_gather_first(bl_engine_t *engine, uint32_t p) {
    bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];
    part->overlay_count = 0;
    part->pending_count = 0;
    bl_map_t *maps[] = BL_PARTITION_MAPS(part);
    for (size_t m = 0; m < BL_ARRAY_LEN(maps); m++) bl_map_clear(maps[m]);
    bl_gather_items(engine, part);

    const uint32_t *items = part->items;
    uint32_t n = part->items_count;
    const uint32_t d = BL_GATHER_DISTANCE;
    for (uint32_t j = 0; j < n + 2 * d; j++) {
        if (j < n) bl_gather_stage_buckets(engine, part, &block->facts[items[j]]);
        if (j >= d && j - d < n) {
            uint32_t i = items[j - d];
            bl_gather_stage_heads(engine, part, &block->facts[i], &part->found[i]);
        }
        if (j >= 2 * d) {
            uint32_t i = items[j - 2 * d];
            bl_gather_stage_resolve(engine, part, &block->facts[i], &part->found[i],
                                    block->items[i], i);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Second round: the accounts of pending transfers found in the first.                        */

/* The found facts of item i's pending transfer, if it is in the table; else NULL. */
static const bl_fact_t *bl_gather_pending_found(const bl_engine_t *engine, const bl_fact_t *f,
                                                uint32_t i) {
    if (f->kind != BL_ITEM_POST_VOID && f->kind != BL_ITEM_EXPIRY) return NULL;
    const bl_fact_t *pf = &engine->partitions[f->pending_partition].found[i];
    return pf->pending_slot != BL_SLOT_NONE ? pf : NULL;
}

void bl_gather_second(bl_engine_t *engine, uint32_t p) {
    bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];
    for (uint32_t i = 0; i < block->items_count; i++) {
        const bl_fact_t *pf = bl_gather_pending_found(engine, &block->facts[i], i);
        if (pf == NULL || (pf->dr_partition != p && pf->cr_partition != p)) continue;
        const bl_transfer_t *pending = &engine->transfers[pf->pending_slot];
        bl_fact_t *g = &part->found[i];
        if (pf->dr_partition == p) {
            uint32_t slot = bl_index_find(&part->accounts, &engine->accounts_records, pf->dr_hash,
                                          pending->debit_account_id);
            BL_ASSERT(slot != BL_SLOT_NONE); /* accounts are never removed */
            g->dr = bl_gather_overlay_account(engine, part, slot);
        }
        if (pf->cr_partition == p) {
            uint32_t slot = bl_index_find(&part->accounts, &engine->accounts_records, pf->cr_hash,
                                          pending->credit_account_id);
            BL_ASSERT(slot != BL_SLOT_NONE);
            g->cr = bl_gather_overlay_account(engine, part, slot);
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Merge: every gathered field from the partition that owns it.                               */

void bl_gather_merge(bl_engine_t *engine) {
    bl_block_t *block = &engine->block;
    bl_partition_t *parts = engine->partitions;
    for (uint32_t i = 0; i < block->items_count; i++) {
        bl_fact_t *f = &block->facts[i];
        if (f->id_partition != BL_PARTITION_NONE) {
            const bl_fact_t *g = &parts[f->id_partition].found[i];
            f->id_slot = g->id_slot;
            f->id_prev = g->id_prev;
        }
        switch (f->kind) {
        case BL_ITEM_TRANSFER: {
            const bl_fact_t *dr = &parts[f->dr_partition].found[i];
            const bl_fact_t *cr = &parts[f->cr_partition].found[i];
            f->dr = dr->dr;
            f->dr_item = dr->dr_item;
            f->cr = cr->cr;
            f->cr_item = cr->cr_item;
            break;
        }
        case BL_ITEM_POST_VOID:
        case BL_ITEM_EXPIRY: {
            const bl_fact_t *pf = &parts[f->pending_partition].found[i];
            f->pending_slot = pf->pending_slot;
            f->pending_item = f->kind == BL_ITEM_POST_VOID ? pf->pending_item : BL_SLOT_NONE;
            f->dr = f->cr = BL_SLOT_NONE;
            if (pf->pending_slot == BL_SLOT_NONE) break;
            f->pending_ov = pf->pending_ov;
            f->dr_partition = pf->dr_partition;
            f->cr_partition = pf->cr_partition;
            if (pf->dr_partition != BL_PARTITION_NONE) {
                f->dr = parts[pf->dr_partition].found[i].dr;
                f->cr = parts[pf->cr_partition].found[i].cr;
            }
            break;
        }
        default:
            break;
        }
    }
}
