/*
 * Apply: the parallel last half of a block.
 *
 * Partition p writes the block's effects on the records it owns, in a fixed order:
 *   1. accounts created by the block (record, index link, digest);
 *   2. transfers created by the block (record, index link, pending state, digest);
 *   3. balances of accounts the block changed (digest: minus the old record, plus the new);
 *   4. pending transfers the block posted, voided or expired (state, digest of id || state).
 * New records come before balances and pending changes, because a block may create an
 * account and move money on it, or create a pending transfer and post it.
 *
 * The digest is a sum mod 2^128, so each partition keeps its own share and the engine's digest
 * is the sum of the shares: the same for any N.
 */
#include <string.h>

#include "engine/internal.h"

static void bl_digest_pending(bl_partition_t *part, bl_u128_t id, uint8_t state) {
    uint8_t bytes[17];
    memcpy(bytes, &id, 16);
    switch (state) {
    case BL_STATE_POSTED: bytes[16] = BL_PENDING_DIGEST_POSTED; break;
    case BL_STATE_VOIDED: bytes[16] = BL_PENDING_DIGEST_VOIDED; break;
    case BL_STATE_EXPIRED: bytes[16] = BL_PENDING_DIGEST_EXPIRED; break;
    default: BL_ASSERT(!"a pending change resolves the transfer");
    }
    part->digest += bl_hash128(bytes, sizeof(bytes));
}

void bl_apply(bl_engine_t *engine, uint32_t p) {
    const bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];

    uint64_t accounts_created = engine->accounts_count - block->accounts_base;
    for (uint64_t k = 0; k < accounts_created; k++) {
        if (block->accounts_new_partition[k] != p) continue;
        uint32_t slot = (uint32_t)(block->accounts_base + k);
        bl_account_t *a = &engine->accounts[slot];
        *a = block->accounts_new_records[k];
        BL_ASSERT(a->timestamp != 0 && a->debits_pending == 0 && a->credits_posted == 0);
        bl_index_insert(&part->accounts, &engine->accounts_records,
                        block->accounts_new_hash[k], slot);
        part->digest += bl_hash128(a, sizeof(*a));
    }

    uint64_t transfers_created = engine->transfers_count - block->transfers_base;
    for (uint64_t k = 0; k < transfers_created; k++) {
        if (block->transfers_new_partition[k] != p) continue;
        uint32_t slot = (uint32_t)(block->transfers_base + k);
        bl_transfer_t *t = &engine->transfers[slot];
        *t = block->transfers_new_records[k];
        BL_ASSERT(t->timestamp != 0 && t->amount != 0);
        engine->transfer_state[slot] =
            (t->flags & BL_TRANSFER_PENDING) ? BL_STATE_PENDING : BL_STATE_NONE;
        bl_index_insert(&part->transfers, &engine->transfers_records,
                        block->transfers_new_hash[k], slot);
        part->digest += bl_hash128(t, sizeof(*t));
    }

    for (uint32_t k = 0; k < block->overlay_count; k++) {
        const bl_overlay_account_t *o = &block->overlay[k];
        if (o->partition != p || !o->dirty) continue;
        bl_account_t *a = &engine->accounts[o->slot];
        part->digest -= bl_hash128(a, sizeof(*a));
        a->debits_pending = o->debits_pending;
        a->debits_posted = o->debits_posted;
        a->credits_pending = o->credits_pending;
        a->credits_posted = o->credits_posted;
        part->digest += bl_hash128(a, sizeof(*a));
    }

    for (uint32_t k = 0; k < block->pending_count; k++) {
        const bl_pending_change_t *c = &block->pending[k];
        if (c->partition != p) continue;
        BL_ASSERT(engine->transfer_state[c->slot] == BL_STATE_PENDING);
        engine->transfer_state[c->slot] = c->state;
        bl_digest_pending(part, engine->transfers[c->slot].id, c->state);
    }
}
