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
#include <string.h>

#include "engine/internal.h"

void bl_history_append(bl_engine_t *engine, bl_partition_t *part, uint32_t slot, uint32_t kind,
                       const void *element) {
    uint32_t pool_index = kind == BL_LIST_BALANCES ? BL_POOL_BALANCES : BL_POOL_SLOTS;
    bl_list_append(&engine->pools[pool_index], part->pool_free[pool_index],
                   &engine->account_aux[slot].lists[kind], element);
}

/* Apply appends a block's transfers to their accounts' lists in a pipeline of prefetches, each
 * stage BL_HISTORY_DISTANCE transfers ahead of the next: the accounts' overlay entries, then
 * the aux lines (the list headers) of the accounts partition p owns, then the places where
 * their next slots go. Each stage reads only lines the stage before fetched, so no load in the
 * pipeline waits on memory, and no partition reads another's list headers. */
#define BL_HISTORY_DISTANCE 8u

static void bl_history_prefetch(const bl_engine_t *engine, const bl_block_t *block, uint64_t k,
                                uint32_t p, uint32_t stage) {
    for (uint32_t side = 0; side < 2; side++) {
        const bl_overlay_account_t *o = &block->overlay[block->transfers_new_accounts[k][side]];
        if (stage == 0) {
            __builtin_prefetch(o);
            continue;
        }
        if (o->partition != p) continue;
        if (stage == 1) {
            __builtin_prefetch(&engine->account_aux[o->slot]);
            continue;
        }
        const bl_list_t *list = &engine->account_aux[o->slot].lists[side];
        __builtin_prefetch(engine->pools[BL_POOL_SLOTS].base + list->offset +
                               (uint64_t)list->count * sizeof(uint32_t), 1);
    }
}

void bl_history_apply(bl_engine_t *engine, uint32_t p) {
    const bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];
    uint64_t transfers_created = engine->transfers_count - block->transfers_base;
    _Static_assert(BL_LIST_DEBITS == 0 && BL_LIST_CREDITS == 1, "list kind = side");
    if (engine->config.indexes_off) transfers_created = 0; /* no transfer lists */
    for (uint64_t k = 0; k < transfers_created; k++) {
        for (uint32_t stage = 0; stage < 3; stage++) {
            uint64_t ahead = k + (3 - stage) * BL_HISTORY_DISTANCE;
            if (ahead < transfers_created) bl_history_prefetch(engine, block, ahead, p, stage);
        }
        uint32_t slot = (uint32_t)(block->transfers_base + k);
        for (uint32_t side = 0; side < 2; side++) {
            const bl_overlay_account_t *o = &block->overlay[block->transfers_new_accounts[k][side]];
            if (o->partition != p) continue;
            bl_list_append_slot(&engine->pools[BL_POOL_SLOTS], part->pool_free[BL_POOL_SLOTS],
                                &engine->account_aux[o->slot].lists[side], slot);
        }
    }
    for (uint32_t k = 0; k < block->history_new_count; k++) {
        const bl_history_new_t *h = &block->history_new[k];
        const bl_overlay_account_t *o = &block->overlay[h->overlay];
        if (o->partition != p) continue;
        bl_history_append(engine, part, o->slot, BL_LIST_BALANCES, &h->entry);
    }
}
