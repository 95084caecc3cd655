/*
 * Per-account history: the lists behind get_account_transfers and get_account_balances.
 *
 * Every account has a debit list and a credit list of transfer slots, and, with the history
 * flag, a list of balance entries. Slots are handed out in timestamp order and blocks append
 * in slot order, so every list is sorted by timestamp, and a read finds any timestamp by
 * binary search: a page costs O(log n + rows) however long the account's history.
 *
 * The lists are written by apply, each by the partition that owns the account, and are kept
 * out of the digest and the image (the image holds only the balance entries, which cannot be
 * derived from the records): they are rebuilt on load.
 *
 * Lists and their memory: pool.c.
 */

#include "engine/internal.h"

void bl_history_append(bl_engine_t *engine, bl_partition_t *part, uint32_t slot, uint32_t kind,
                       const void *element) {
    uint32_t pool_index = kind == BL_LIST_BALANCES ? BL_POOL_BALANCES : BL_POOL_SLOTS;
    bl_list_append(&engine->pools[pool_index], &part->pool_shares[pool_index],
                   &engine->account_aux[slot].lists[kind], element);
}

/* Apply appends a block's transfers to their accounts' lists account by account, while it
 * writes the accounts' balances (apply.c): the account's aux line is then in cache already,
 * and the list tails are prefetched with it. bl_history_link chains the block's transfers by
 * account and side first, in slot order, so each list still grows in slot order. Chains hold
 * k + 1 for transfer k (0: none) and bl_history_account empties each one it walks, so every
 * chain is empty between blocks (as the zero pages of a new reservation are) and linking
 * needs no reset pass. */
static uint32_t (*bl_history_next(const bl_engine_t *engine, uint32_t p))[2] {
    const bl_block_t *block = &engine->block;
    return &block->transfers_next[(uint64_t)p * block->items_max];
}

/* The (k << 1 | side) of the block's transfers whose side's account p owns, in order, into
 * part->own_sides. p's overlay range is p's, and only the entries of accounts the block
 * created (after every range) need a read, so the test costs no miss per transfer; every
 * pair is written and only p's advance the count, so it costs no mispredicted branch either. */
static void bl_history_own_sides(bl_engine_t *engine, bl_partition_t *part) {
    const bl_block_t *block = &engine->block;
    uint32_t created = (uint32_t)(engine->transfers_count - block->transfers_base);
    const uint32_t range = block->overlay_range, range_base = part->index * range;
    const uint32_t created_base = engine->config.partitions * range;
    uint32_t n = 0;
    for (uint32_t k = 0; k < created; k++) {
        for (uint32_t side = 0; side < 2; side++) {
            uint32_t o = block->transfers_new_accounts[k][side];
            bool created_now = o >= created_base;
            uint32_t read = created_now ? o : created_base; /* any entry: ignored then */
            bool own = (o - range_base < range) |
                       (created_now & (block->overlay[read].partition == part->index));
            part->own_sides[n] = k << 1 | side;
            n += own;
        }
    }
    part->own_sides_count = n;
}

void bl_history_link(bl_engine_t *engine, uint32_t p) {
    bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];
    uint32_t(*next)[2] = bl_history_next(engine, p);
    _Static_assert(BL_LIST_DEBITS == 0 && BL_LIST_CREDITS == 1, "list kind = side");
    bl_history_own_sides(engine, part);
    for (uint32_t j = 0; j < part->own_sides_count; j++) {
        uint32_t k = part->own_sides[j] >> 1, side = part->own_sides[j] & 1;
        uint32_t *chain = block->transfers_chain[block->transfers_new_accounts[k][side]][side];
        next[k][side] = 0;
        if (chain[0] == 0) {
            chain[0] = k + 1;
        } else {
            next[chain[1] - 1][side] = k + 1;
        }
        chain[1] = k + 1;
    }
}

void bl_history_prefetch_account(const bl_engine_t *engine, uint32_t o) {
    const bl_block_t *block = &engine->block;
    const bl_account_aux_t *aux = &engine->account_aux[block->overlay[o].slot];
    for (uint32_t side = 0; side < 2; side++) {
        if (block->transfers_chain[o][side][0] == 0) continue;
        bl_list_prefetch_end(&engine->pools[BL_POOL_SLOTS], &aux->lists[side]);
    }
}

void bl_history_account(bl_engine_t *engine, bl_partition_t *part, uint32_t o) {
    bl_block_t *block = &engine->block;
    bl_account_aux_t *aux = &engine->account_aux[block->overlay[o].slot];
    const uint32_t(*next)[2] = (const uint32_t(*)[2])bl_history_next(engine, part->index);
    for (uint32_t side = 0; side < 2; side++) {
        uint32_t *chain = block->transfers_chain[o][side];
        for (uint32_t k = chain[0]; k != 0; k = next[k - 1][side]) {
            bl_list_append_slot(&engine->pools[BL_POOL_SLOTS], &part->pool_shares[BL_POOL_SLOTS],
                                &aux->lists[side], (uint32_t)(block->transfers_base + k - 1));
        }
        chain[0] = chain[1] = 0;
    }
}

/* The balance entries of accounts with the history flag, in event order. */
void bl_history_apply(bl_engine_t *engine, uint32_t p) {
    const bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];
    for (uint32_t k = 0; k < block->history_new_count; k++) {
        const bl_history_new_t *h = &block->history_new[k];
        const bl_overlay_account_t *o = &block->overlay[h->overlay];
        if (o->partition != p) continue;
        bl_history_append(engine, part, o->slot, BL_LIST_BALANCES, &h->entry);
    }
}
