/*
 * Per-account history: the lists behind get_account_transfers and get_account_balances.
 *
 * Every account has a debit list and a credit list of transfer slots (slot lists, kept on the
 * account's aux line with their last few slots), and, with the history flag, a list of
 * balance entries (account_balances). Slots are handed out in timestamp order and blocks append
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

void bl_history_append_transfer(bl_engine_t *engine, bl_partition_t *part, uint32_t account,
                                uint32_t side, uint32_t transfer) {
    bl_slot_list_append(&engine->pools[BL_POOL_RUNS], &part->pool_shares[BL_POOL_RUNS],
                        &engine->account_aux[account].transfers[side], transfer);
}

void bl_history_append_balance(bl_engine_t *engine, bl_partition_t *part, uint32_t account,
                               const bl_balance_entry_t *entry) {
    bl_list_append(&engine->pools[BL_POOL_BALANCES], &part->pool_shares[BL_POOL_BALANCES],
                   &engine->account_balances[account], entry);
}

/* The list a pair (k << 1 | side) of own_sides goes on: its account's list for its side. */
static inline bl_slot_list_t *bl_history_pair_list(bl_engine_t *engine, uint32_t pair) {
    const bl_block_t *block = &engine->block;
    _Static_assert(BL_LIST_DEBITS == 0 && BL_LIST_CREDITS == 1, "list kind = side");
    uint32_t account = block->transfers_new_slots[pair >> 1][pair & 1];
    return &engine->account_aux[account].transfers[pair & 1];
}

/* Pairs go in transfer order, so each list grows in slot order, in three walks
 * BL_HISTORY_DISTANCE pairs apart: the first finds the pair's list and fetches the account's
 * aux line (the list and its tail), the second the end of the list's runs when the append
 * moves a run there (one in BL_RUN), the last appends. Uniform transfers spread a block over
 * as many accounts as it has sides, so the misses of several appends overlap. The lists
 * found wait in a ring of 2 x BL_HISTORY_DISTANCE. */
#define BL_HISTORY_DISTANCE 8u

void bl_history_transfers(bl_engine_t *engine, uint32_t p) {
    const bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];
    bl_pool_t *runs = &engine->pools[BL_POOL_RUNS];
    bl_pool_share_t *share = &part->pool_shares[BL_POOL_RUNS];
    /* The (k << 1 | side) whose side's account p owns: the pairs' owners are in that order. */
    part->own_sides_count =
        bl_apply_own(&block->transfers_new_owners[0][0],
                     2 * (engine->transfers_count - block->transfers_base), p, part->own_sides);
    const uint32_t *pairs = part->own_sides, count = part->own_sides_count;
    const uint32_t d = BL_HISTORY_DISTANCE, ring = 2 * BL_HISTORY_DISTANCE;
    bl_slot_list_t *lists[2 * BL_HISTORY_DISTANCE];
    for (uint32_t j = 0; j < count + 2 * d; j++) {
        /* last walk first: the ring's entry j % ring is pair j - 2d's until it appends */
        if (j >= 2 * d) {
            uint32_t k = pairs[j - 2 * d] >> 1;
            bl_slot_list_append(runs, share, lists[j % ring],
                                (uint32_t)(block->transfers_base + k));
        }
        if (j >= d && j - d < count) bl_slot_list_prefetch(runs, share, lists[(j - d) % ring]);
        if (j < count) {
            lists[j % ring] = bl_history_pair_list(engine, pairs[j]);
            __builtin_prefetch(lists[j % ring], 1);
        }
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
        bl_history_append_balance(engine, part, o->slot, &h->entry);
    }
}
