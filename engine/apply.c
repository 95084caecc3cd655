/*
 * Apply: the parallel last half of a block.
 *
 * Partition p writes the block's effects on the records it owns, in a fixed order:
 *   1. accounts created by the block (record, index link, digest);
 *   2. transfers created by the block (record, index link, pending state, digest; a transfer
 *      the block created and then posted or voided also adds its id || state);
 *   3. balances of accounts the block changed: p's overlay range, and the accounts p owns
 *      among those the block created (decide's range); with each, the block's transfers on
 *      the account's debit and credit lists (history.c);
 *   4. pending transfers from the table the block posted, voided or expired (p's range);
 *   5. the balance entries of accounts with the history flag (history.c);
 *   6. the query indexes of the accounts and transfers p owns (keys.c).
 * New records come before balances, because a block may create an account and move money on
 * it. Each account's current record hash is kept in account_aux[], so a balance change costs
 * one XXH3-128, not two.
 *
 * The digest is a sum mod 2^128, so each partition keeps its own share and the engine's digest
 * is the sum of the shares: the same for any N.
 */
#include <string.h>

#include "engine/internal.h"

#define BL_APPLY_DISTANCE 8u

static void bl_digest_pending(bl_partition_t *part, bl_u128_t id, uint8_t state) {
    uint8_t bytes[17];
    memcpy(bytes, &id, 16);
    switch (state) {
    case BL_STATE_POSTED:
        bytes[16] = BL_PENDING_DIGEST_POSTED;
        break;
    case BL_STATE_VOIDED:
        bytes[16] = BL_PENDING_DIGEST_VOIDED;
        break;
    case BL_STATE_EXPIRED:
        bytes[16] = BL_PENDING_DIGEST_EXPIRED;
        break;
    default:
        BL_ASSERT(!"a pending change resolves the transfer");
    }
    part->digest += bl_hash128(bytes, sizeof(bytes));
}

static void bl_apply_balances(bl_engine_t *engine, bl_partition_t *part,
                              const bl_overlay_account_t *o) {
    bl_account_t *a = &engine->accounts[o->slot];
    a->debits_pending = o->debits_pending;
    a->debits_posted = o->debits_posted;
    a->credits_pending = o->credits_pending;
    a->credits_posted = o->credits_posted;
    BL_ASSERT(a->debits_pending + a->debits_posted >= a->debits_posted);
    BL_ASSERT(a->credits_pending + a->credits_posted >= a->credits_posted);
    bl_u128_t hash = bl_hash128(a, sizeof(*a));
    part->digest += hash - engine->account_aux[o->slot].hash;
    engine->account_aux[o->slot].hash = hash;
}

/* Step 3: the balances of the accounts the block changed, and with `lists` (a constant where
 * inlined) their transfer lists. */
static inline __attribute__((always_inline)) void bl_apply_changed_lists(bl_engine_t *engine,
                                                                         uint32_t p, bool lists) {
    const bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];
    const uint32_t range_base = p * block->overlay_range;
    const bl_overlay_account_t *range = &block->overlay[range_base];
    for (uint32_t k = 0; k < part->overlay_count; k++) {
        if (k + 2 * BL_APPLY_DISTANCE < part->overlay_count) {
            uint32_t ahead = range[k + 2 * BL_APPLY_DISTANCE].slot;
            __builtin_prefetch(&engine->accounts[ahead], 1);
            __builtin_prefetch((uint8_t *)&engine->accounts[ahead] + 64, 1); /* all hashed */
            __builtin_prefetch(&engine->account_aux[ahead], 1);
        }
        if (range[k].dirty) bl_apply_balances(engine, part, &range[k]);
        if (lists) bl_history_sides(engine, part, &range[k]);
    }
    for (uint32_t j = 0; j < part->own_accounts; j++) { /* its accounts the block created */
        const bl_overlay_account_t *o =
            &block->overlay[block->accounts_new_overlay[part->own_accounts_new[j]]];
        BL_ASSERT(o->partition == p);
        if (o->dirty) bl_apply_balances(engine, part, o);
        if (lists) bl_history_sides(engine, part, o);
    }
    if (lists) bl_pool_late_drain(&engine->pools[BL_POOL_RUNS], &part->pool_shares[BL_POOL_RUNS]);
}

/* Step 3, compiled apart from bl_apply (noinline) and once for each setting of the indexes, so
 * the list appends inlined here change neither how the transfer loop there compiles nor the
 * loop without them. */
static __attribute__((noinline)) void bl_apply_changed(bl_engine_t *engine, uint32_t p) {
    if (engine->config.indexes_off) {
        bl_apply_changed_lists(engine, p, false);
    } else {
        bl_apply_changed_lists(engine, p, true);
    }
}

void bl_apply(bl_engine_t *engine, uint32_t p) {
    const bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];

    for (uint32_t j = 0; j < part->own_accounts; j++) {
        uint32_t k = part->own_accounts_new[j];
        uint32_t slot = (uint32_t)(block->accounts_base + k);
        bl_account_t *a = &engine->accounts[slot];
        *a = block->accounts_new_records[k];
        BL_ASSERT(a->timestamp != 0 && a->debits_pending == 0 && a->credits_posted == 0);
        bl_index_insert(&part->accounts, &engine->accounts_records, block->accounts_new_hash[k],
                        slot);
        engine->account_aux[slot].hash = bl_hash128(a, sizeof(*a));
        part->digest += engine->account_aux[slot].hash;
    }

    const uint32_t *own = part->own_transfers_new;
    for (uint32_t j = 0; j < part->own_transfers; j++) {
        if (j + BL_APPLY_DISTANCE < part->own_transfers)
            bl_index_prefetch(&part->transfers,
                              block->transfers_new_hash[own[j + BL_APPLY_DISTANCE]]);
        uint32_t k = own[j];
        uint32_t slot = (uint32_t)(block->transfers_base + k);
        bl_transfer_t *t = &engine->transfers[slot], record = *block->transfers_new_source[k];
        record.timestamp = block->transfers_new_timestamp[k];
        *t = record;
        BL_ASSERT(t->timestamp != 0 && t->amount != 0);
        uint8_t state = block->transfers_new_state[k];
        engine->transfer_state[slot] = state;
        bl_index_insert(&part->transfers, &engine->transfers_records, block->transfers_new_hash[k],
                        slot);
        /* Hashed from the copy, not from the table line the store just missed. */
        part->digest += bl_hash128(&record, sizeof(record));
        if (state != BL_STATE_NONE && state != BL_STATE_PENDING)
            bl_digest_pending(part, t->id, state);
    }

    bl_apply_changed(engine, p);

    const bl_overlay_pending_t *pending = &block->pending[(uint64_t)p * block->items_max];
    for (uint32_t k = 0; k < part->pending_count; k++) {
        if (pending[k].state == pending[k].state_start) continue;
        BL_ASSERT(pending[k].state_start == BL_STATE_PENDING);
        engine->transfer_state[pending[k].slot] = pending[k].state;
        bl_transfer_t copy;
        bl_digest_pending(part, bl_transfer_read(engine, pending[k].slot, &copy)->id,
                          pending[k].state);
    }

    bl_history_apply(engine, p);
    if (!engine->config.indexes_off) bl_keys_apply(engine, p);
}
