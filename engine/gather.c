/*
 * Gather: the parallel first half of a block, after route (route.c) has given each partition
 * its lookups. Each partition gets two lists per range: ids (an account's or transfer's own
 * id, and the pending transfer a post, void or expiry names) and accounts (the debit and
 * credit accounts of plain and pending transfers). gather_first (partition p) resolves its
 * lookups, the ids list first, then the accounts list, each in item order:
 *   - ids: whether the item's own id is in the table (id_slot), and the latest earlier item of
 *     the block with the same id (id_prev), so decide can tell duplicates inside a block
 *     apart; the pending transfer of a post, void or expiry: in the table it gets an
 *     overlay_pending entry (its state); else it is linked to the latest earlier transfer item
 *     with its id;
 *   - accounts: an account in the table gets an overlay entry in p's range (balances copied
 *     once per block, however many events touch it); an account not in the table is linked
 *     to the latest earlier create_accounts item with its id (dr_item, cr_item), in case the
 *     block creates it. The ids round has put every create_accounts item of the block in the
 *     map by then, so the link walks back from the latest one along id_prev to the latest
 *     one before the transfer.
 * A list holds one kind of lookup and only p's, so p's loops test no ownership per id: a test
 * that fails at random for half the ids at N = 2 costs a mispredicted branch each time.
 * gather_second (partition p) resolves the accounts of pending transfers found in the table,
 * whose ids are only known after the first round; it runs only when the block needs it.
 *
 * Ownership: partition p writes only its own arrays (route lists, lookups, found facts), its
 * own overlay ranges and its own maps, and reads the mutable state (balances, pending state)
 * only of its own records. Immutable transfer records are read by whichever partition needs
 * their ids. What p finds goes to p's own `found` array, so partitions running at once never
 * write the same cache line. The merge, a step of its own, then copies each item's fields
 * into block->facts for decide: each partition thread a range of the items, as in route, so
 * the merge's reads of N partitions' findings (more of them out of cache as N grows) are
 * spread over N cores instead of waiting on the driver alone.
 *
 * Index lookups are independent, so each round runs as a three-stage software pipeline:
 * prefetch the bucket heads of lookup j + 2D, read the heads of lookup j + D and prefetch the
 * records they name, then compare ids and copy the facts of lookup j. Map updates happen only
 * in the last stage, so lookups are still handled in order.
 */
#include <stddef.h>
#include <string.h>

#include "engine/internal.h"

#define BL_GATHER_DISTANCE 8u

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
    o->sides_first = BL_SLOT_NONE;
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
    block->pending[index] =
        (bl_overlay_pending_t){.slot = slot, .state_start = state, .state = state};
    bl_map_put(&part->pending_slots, bl_map_slot_hash(slot), slot, index);
    return index;
}

/* ------------------------------------------------------------------------------------------ */
/* First round: p's lookups, ids then accounts. `g` is p's found facts of the lookup's item.  */

static void bl_prefetch_record(const void *record) {
    __builtin_prefetch(record);
    __builtin_prefetch((const uint8_t *)record + 64);
}

/* An account record and its block mark. */
static void bl_prefetch_account(const bl_engine_t *engine, uint32_t slot) {
    bl_prefetch_record(&engine->accounts[slot]);
    __builtin_prefetch(&engine->account_mark[slot]);
}

/* The pending transfer of a post, void or expiry is in the table (g->pending_slot): take its
 * overlay entry and route its accounts for the second round. */
static void bl_gather_pending(bl_engine_t *engine, bl_partition_t *part, bl_fact_t *g) {
    uint32_t n = engine->config.partitions;
    bl_transfer_t copy;
    const bl_transfer_t *pending = bl_transfer_read(engine, g->pending_slot, &copy);
    g->pending_ov = bl_gather_overlay_pending(engine, part, g->pending_slot);
    g->dr_partition = g->cr_partition = BL_PARTITION_NONE;
    if (pending->flags & BL_TRANSFER_PENDING) {
        g->dr_hash = bl_hash_id(pending->debit_account_id);
        g->dr_partition = (uint8_t)bl_partition_of(g->dr_hash, n);
        g->cr_hash = bl_hash_id(pending->credit_account_id);
        g->cr_partition = (uint8_t)bl_partition_of(g->cr_hash, n);
    }
}

/* Ids, stage 1: prefetch the bucket (and the block map entry) of the id. Always inlined: GCC
 * judges a function that only prefetches free of side effects and drops calls to it. */
static inline __attribute__((always_inline)) void
bl_gather_ids_buckets(bl_engine_t *engine, bl_partition_t *part, const bl_lookup_t *l) {
    switch (l->role) {
    case BL_LOOKUP_ACCOUNT_ID:
        bl_index_prefetch(&part->accounts, l->hash);
        bl_map_prefetch(&part->account_items, l->hash);
        break;
    case BL_LOOKUP_TRANSFER_ID:
        bl_index_prefetch(&part->transfers, l->hash);
        bl_map_prefetch(&part->transfer_items, l->hash);
        break;
    case BL_LOOKUP_PENDING:
        bl_index_prefetch(&part->transfers, l->hash);
        break;
    case BL_LOOKUP_EXPIRY:
        __builtin_prefetch(&engine->transfers[l->hash]);
        __builtin_prefetch(&engine->transfer_state[l->hash]);
        break;
    }
}

/* Ids, stage 2: read the bucket head (now cached) into the slot field and prefetch the record
 * it names. */
static inline __attribute__((always_inline)) void
bl_gather_ids_heads(bl_engine_t *engine, bl_partition_t *part, const bl_lookup_t *l) {
    bl_fact_t *g = &part->found[l->item];
    switch (l->role) {
    case BL_LOOKUP_ACCOUNT_ID:
        g->id_slot = bl_index_head(&part->accounts, l->hash);
        if (g->id_slot != BL_SLOT_NONE) __builtin_prefetch(&engine->accounts[g->id_slot]);
        break;
    case BL_LOOKUP_TRANSFER_ID:
        g->id_slot = bl_index_head(&part->transfers, l->hash);
        if (g->id_slot != BL_SLOT_NONE) __builtin_prefetch(&engine->transfers[g->id_slot]);
        break;
    case BL_LOOKUP_PENDING:
        g->pending_slot = bl_index_head(&part->transfers, l->hash);
        if (g->pending_slot != BL_SLOT_NONE) {
            bl_prefetch_record(&engine->transfers[g->pending_slot]);
            __builtin_prefetch(&engine->transfer_state[g->pending_slot]);
        }
        break;
    }
}

/* Ids, stage 3: follow the chain to the exact id, link earlier items, make overlay entries. */
static inline __attribute__((always_inline)) void
bl_gather_ids_resolve(bl_engine_t *engine, bl_partition_t *part, const bl_lookup_t *l) {
    bl_fact_t *g = &part->found[l->item];
    const void *event = engine->block.items[l->item];
    switch (l->role) {
    case BL_LOOKUP_ACCOUNT_ID: {
        bl_u128_t id = ((const bl_account_t *)event)->id;
        g->id_slot = bl_index_walk(&engine->accounts_records, g->id_slot, l->hash, id);
        g->id_prev = bl_map_put(&part->account_items, l->hash, id, l->item);
        break;
    }
    case BL_LOOKUP_TRANSFER_ID: {
        bl_u128_t id = ((const bl_transfer_t *)event)->id;
        g->id_slot = bl_index_walk(&engine->transfers_records, g->id_slot, l->hash, id);
        g->id_prev = bl_map_put(&part->transfer_items, l->hash, id, l->item);
        break;
    }
    case BL_LOOKUP_PENDING: {
        bl_u128_t id = ((const bl_transfer_t *)event)->pending_id;
        g->pending_slot = bl_index_walk(&engine->transfers_records, g->pending_slot, l->hash, id);
        g->pending_item = BL_SLOT_NONE;
        if (g->pending_slot != BL_SLOT_NONE) {
            bl_gather_pending(engine, part, g);
        } else {
            g->pending_item = bl_map_find(&part->transfer_items, l->hash, id);
        }
        break;
    }
    case BL_LOOKUP_EXPIRY:
        g->pending_slot = (uint32_t)l->hash;
        bl_gather_pending(engine, part, g);
        break;
    }
}

/* The found fields of a transfer's debit or credit account, by offset rather than by a
 * branch: debits and credits alternate in the list, and a branch would follow them. */
_Static_assert(offsetof(bl_fact_t, cr) - offsetof(bl_fact_t, dr) ==
                   offsetof(bl_fact_t, cr_item) - offsetof(bl_fact_t, dr_item),
               "credit fields sit as far from the debit fields");
static inline uint32_t *bl_gather_side(bl_fact_t *g, size_t debit_field, uint32_t side) {
    size_t step = offsetof(bl_fact_t, cr) - offsetof(bl_fact_t, dr);
    return (uint32_t *)((uint8_t *)g + debit_field + side * step);
}

/* Accounts, stage 1: prefetch the bucket. */
static inline __attribute__((always_inline)) void
bl_gather_accounts_buckets(bl_engine_t *engine, bl_partition_t *part, const bl_lookup_t *l) {
    (void)engine;
    bl_index_prefetch(&part->accounts, l->hash);
}

/* Accounts, stage 2: read the bucket head, prefetch the record and its block mark. */
static inline __attribute__((always_inline)) void
bl_gather_accounts_heads(bl_engine_t *engine, bl_partition_t *part, const bl_lookup_t *l) {
    uint32_t head = bl_index_head(&part->accounts, l->hash);
    *bl_gather_side(&part->found[l->item], offsetof(bl_fact_t, dr), l->role) = head;
    if (head != BL_SLOT_NONE) bl_prefetch_account(engine, head);
}

/* Accounts, stage 3: the account's overlay entry if it is in the table, else the latest
 * create_accounts item of the block before this one with its id. The map holds the latest of
 * the whole block (the ids round is done); id_prev links each to the one before. */
static inline __attribute__((always_inline)) void
bl_gather_accounts_resolve(bl_engine_t *engine, bl_partition_t *part, const bl_lookup_t *l) {
    bl_fact_t *g = &part->found[l->item];
    const bl_transfer_t *t = engine->block.items[l->item];
    _Static_assert(offsetof(bl_transfer_t, credit_account_id) ==
                       offsetof(bl_transfer_t, debit_account_id) + sizeof(bl_u128_t),
                   "the credit account id follows the debit account id");
    bl_u128_t id;
    memcpy(&id,
           (const uint8_t *)t + offsetof(bl_transfer_t, debit_account_id) +
               l->role * sizeof(bl_u128_t),
           sizeof(id));
    uint32_t *ov = bl_gather_side(g, offsetof(bl_fact_t, dr), l->role);
    uint32_t *item = bl_gather_side(g, offsetof(bl_fact_t, dr_item), l->role);
    uint32_t slot = bl_index_walk(&engine->accounts_records, *ov, l->hash, id);
    *item = BL_SLOT_NONE;
    if (slot != BL_SLOT_NONE) {
        *ov = bl_gather_overlay_account(engine, part, slot);
        return;
    }
    *ov = BL_SLOT_NONE;
    uint32_t j = bl_map_find(&part->account_items, l->hash, id);
    while (j != BL_SLOT_NONE && j > l->item) j = part->found[j].id_prev;
    *item = j;
}

/* Runs a round's three stages over `count` lookups, BL_GATHER_DISTANCE apart (a macro, so
 * each round's stages are inlined). */
#define BL_GATHER_PIPELINE(engine, part, lookups, count, buckets, heads, resolve)            \
    do {                                                                                     \
        const uint32_t d_ = BL_GATHER_DISTANCE;                                              \
        for (uint32_t j_ = 0; j_ < (count) + 2 * d_; j_++) {                                 \
            if (j_ < (count)) buckets((engine), (part), &(lookups)[j_]);                     \
            if (j_ >= d_ && j_ - d_ < (count)) heads((engine), (part), &(lookups)[j_ - d_]); \
            if (j_ >= 2 * d_) resolve((engine), (part), &(lookups)[j_ - 2 * d_]);            \
        }                                                                                    \
    } while (0)

/* Runs a round's pipeline over partition p's lookups on `list`: the route list for p of each
 * range, range after range, so in item order. Each list is read where route wrote it. */
#define BL_GATHER_ROUND(engine, part, list, buckets, heads, resolve)                         \
    do {                                                                                     \
        for (uint32_t r_ = 0; r_ < (engine)->config.partitions; r_++) {                      \
            const bl_partition_t *router_ = &(engine)->partitions[r_];                       \
            const bl_lookup_t *lookups_ =                                                    \
                &router_->route_lists[((uint64_t)(part)->index * BL_LOOKUP_LISTS + (list)) * \
                                      router_->route_capacity];                              \
            uint32_t count_ = router_->route_counts[(part)->index][(list)];                  \
            BL_GATHER_PIPELINE(engine, part, lookups_, count_, buckets, heads, resolve);     \
        }                                                                                    \
    } while (0)

void bl_gather_first(bl_engine_t *engine, uint32_t p) {
    bl_partition_t *part = &engine->partitions[p];
    part->overlay_count = 0;
    part->pending_count = 0;
    bl_map_t *maps[] = BL_PARTITION_MAPS(part);
    for (size_t m = 0; m < BL_ARRAY_LEN(maps); m++) bl_map_clear(maps[m]);

    BL_GATHER_ROUND(engine, part, BL_LOOKUP_IDS, bl_gather_ids_buckets, bl_gather_ids_heads,
                    bl_gather_ids_resolve);
    BL_GATHER_ROUND(engine, part, BL_LOOKUP_ACCOUNTS, bl_gather_accounts_buckets,
                    bl_gather_accounts_heads, bl_gather_accounts_resolve);
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
        bl_transfer_t copy;
        const bl_transfer_t *pending = bl_transfer_read(engine, pf->pending_slot, &copy);
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

void bl_gather_merge(bl_engine_t *engine, uint32_t begin, uint32_t end) {
    bl_block_t *block = &engine->block;
    bl_partition_t *parts = engine->partitions;
    for (uint32_t i = begin; i < end; i++) {
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
