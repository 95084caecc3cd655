/*
 * Per-account history: the lists behind get_account_transfers and get_account_balances.
 *
 * Every account has a debit list and a credit list of transfer slots (slot lists, kept on the
 * account's aux line with their last few slots), and, with the history flag, a list of
 * balance entries (account_balances). Slots are handed out in timestamp order and blocks append
 * in slot order, so every list is sorted by timestamp, and a read finds any timestamp by
 * binary search: a page costs O(log n + rows) however long the account's history.
 *
 * The lists are written by apply, each by the partition that owns the account (the transfer
 * lists by bl_history_sides, inline in apply's balance step: internal.h), and are kept
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
