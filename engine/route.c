/*
 * Route: the first step of a block, on every partition thread over a range of the items.
 *
 * For each item it finds the event (its request and index), its kind, and the result the
 * event decides alone: PROTOCOL.md's codes before `exists` (create_accounts 3-11,
 * create_transfers 3-20), checked here in that order by bl_account_check and
 * bl_transfer_check, so decide's serial pass starts at `exists`. Then it hashes every id the
 * item names once, records which partition owns it, and gives each id to its owner as a
 * lookup (the item, the id's role and its hash) on one of two lists: ids (an account's or
 * transfer's own id, and the pending transfer a post or void names) and accounts (the debit
 * and credit accounts of plain and pending transfers). Gather (gather.c) resolves them.
 *
 * Ownership: the thread routing a range writes only the facts of its items and its own route
 * lists (one per destination partition and list), so ranges routed at once never share a
 * cache line of output.
 */
#include <stddef.h>
#include <string.h>

#include "engine/internal.h"

/* ------------------------------------------------------------------------------------------ */
/* The checks an event decides alone, in PROTOCOL.md's order.                                 */

/* The first result, in PROTOCOL.md's precedence order, that the event decides alone (for
 * create_accounts codes 3 to 11, for create_transfers 3 to 20, a post or void's own set), or
 * ok. */
static uint8_t bl_account_check(const bl_account_t *a) {
    if (a->timestamp != 0) return BL_CREATE_ACCOUNT_TIMESTAMP_MUST_BE_ZERO;
    if (a->reserved != 0) return BL_CREATE_ACCOUNT_RESERVED_FIELD;
    if (a->flags & ~BL_ACCOUNT_FLAGS_KNOWN) return BL_CREATE_ACCOUNT_RESERVED_FLAG;
    if (a->id == 0) return BL_CREATE_ACCOUNT_ID_MUST_NOT_BE_ZERO;
    if (a->id == BL_U128_MAX) return BL_CREATE_ACCOUNT_ID_MUST_NOT_BE_INT_MAX;
    if ((a->flags & BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS) &&
        (a->flags & BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS))
        return BL_CREATE_ACCOUNT_FLAGS_ARE_MUTUALLY_EXCLUSIVE;
    if (a->debits_pending != 0 || a->debits_posted != 0 || a->credits_pending != 0 ||
        a->credits_posted != 0)
        return BL_CREATE_ACCOUNT_BALANCES_MUST_BE_ZERO;
    if (a->ledger == 0) return BL_CREATE_ACCOUNT_LEDGER_MUST_NOT_BE_ZERO;
    if (a->code == 0) return BL_CREATE_ACCOUNT_CODE_MUST_NOT_BE_ZERO;
    return BL_CREATE_ACCOUNT_OK;
}

static uint8_t bl_transfer_check(const bl_transfer_t *t) {
    if (t->timestamp != 0) return BL_CREATE_TRANSFER_TIMESTAMP_MUST_BE_ZERO;
    if (t->flags & ~BL_TRANSFER_FLAGS_KNOWN) return BL_CREATE_TRANSFER_RESERVED_FLAG;
    if (t->id == 0) return BL_CREATE_TRANSFER_ID_MUST_NOT_BE_ZERO;
    if (t->id == BL_U128_MAX) return BL_CREATE_TRANSFER_ID_MUST_NOT_BE_INT_MAX;
    uint32_t kinds =
        t->flags & (BL_TRANSFER_PENDING | BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING);
    if (kinds & (kinds - 1)) return BL_CREATE_TRANSFER_FLAGS_ARE_MUTUALLY_EXCLUSIVE;
    if (kinds & (BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING)) {
        if (t->debit_account_id == BL_U128_MAX)
            return BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX;
        if (t->credit_account_id == BL_U128_MAX)
            return BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX;
        if (t->debit_account_id != 0 && t->debit_account_id == t->credit_account_id)
            return BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT;
        if (t->pending_id == 0) return BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_ZERO;
        if (t->pending_id == BL_U128_MAX) return BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_INT_MAX;
        if (t->pending_id == t->id) return BL_CREATE_TRANSFER_PENDING_ID_MUST_BE_DIFFERENT;
        if (t->timeout != 0) return BL_CREATE_TRANSFER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER;
        return BL_CREATE_TRANSFER_OK;
    }
    if (t->debit_account_id == 0) return BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO;
    if (t->debit_account_id == BL_U128_MAX)
        return BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX;
    if (t->credit_account_id == 0) return BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO;
    if (t->credit_account_id == BL_U128_MAX)
        return BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX;
    if (t->debit_account_id == t->credit_account_id)
        return BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT;
    if (t->pending_id != 0) return BL_CREATE_TRANSFER_PENDING_ID_MUST_BE_ZERO;
    if (t->timeout != 0 && !(t->flags & BL_TRANSFER_PENDING))
        return BL_CREATE_TRANSFER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER;
    if (t->amount == 0) return BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO;
    if (t->ledger == 0) return BL_CREATE_TRANSFER_LEDGER_MUST_NOT_BE_ZERO;
    if (t->code == 0) return BL_CREATE_TRANSFER_CODE_MUST_NOT_BE_ZERO;
    return BL_CREATE_TRANSFER_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Route.                                                                                     */

/* Gives partition q the lookup (item i, role, hash) on `list`. */
static inline void bl_route_add(bl_partition_t *part, uint32_t list, uint8_t q, uint32_t i,
                                uint32_t role, uint64_t hash) {
    uint32_t *count = &part->route_counts[q][list];
    part->route_lists[((uint64_t)q * BL_LOOKUP_LISTS + list) * part->route_capacity + (*count)++] =
        (bl_lookup_t){.hash = hash, .item = i, .role = role};
}

/* The request holding item i: the last r with request_first[r] <= i. */
static uint32_t bl_route_request(const bl_block_t *block, uint32_t i) {
    uint32_t low = 0, high = block->requests_count - 1;
    while (low < high) {
        uint32_t mid = (low + high + 1) / 2;
        if (block->request_first[mid] <= i) {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    return low;
}

/* The kind of a create_transfers event: which of the three lookups it needs. */
static uint8_t bl_route_transfer_kind(const bl_transfer_t *t) {
    uint32_t kinds =
        t->flags & (BL_TRANSFER_PENDING | BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING);
    if (kinds & (kinds - 1)) return BL_ITEM_INVALID;
    if (kinds & (BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING)) return BL_ITEM_POST_VOID;
    return BL_ITEM_TRANSFER;
}

void bl_route(bl_engine_t *engine, uint32_t p, uint32_t begin, uint32_t end) {
    bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];
    uint32_t n = engine->config.partitions;
    BL_ASSERT(2 * (uint64_t)(end - begin) <= part->route_capacity);
    for (uint32_t q = 0; q < n; q++) part->route_counts[q][0] = part->route_counts[q][1] = 0;
    part->route_post_void = false;
    uint32_t r = begin < end && block->requests_count > 0 ? bl_route_request(block, begin) : 0;
    for (uint32_t i = begin; i < end; i++) {
        bl_fact_t *f = &block->facts[i];
        if (block->requests_count > 0) { /* the item's event and kind, from its request */
            while (block->request_first[r + 1] <= i) r++;
            const bl_request_t *req = &block->requests[r];
            uint32_t e = i - block->request_first[r];
            if (req->op == BL_OP_CREATE_ACCOUNTS) {
                block->items[i] = (const bl_account_t *)req->events + e;
                f->kind = BL_ITEM_ACCOUNT;
                f->check = bl_account_check(block->items[i]);
            } else {
                block->items[i] = (const bl_transfer_t *)req->events + e;
                f->kind = bl_route_transfer_kind(block->items[i]);
                f->check = bl_transfer_check(block->items[i]);
                part->route_post_void |= f->kind == BL_ITEM_POST_VOID;
            }
        }
        f->id_slot = f->id_prev = BL_SLOT_NONE;
        f->dr = f->cr = f->dr_item = f->cr_item = BL_SLOT_NONE;
        f->pending_item = BL_SLOT_NONE;
        f->id_partition = f->dr_partition = f->cr_partition = BL_PARTITION_NONE;
        switch (f->kind) {
        case BL_ITEM_ACCOUNT: {
            const bl_account_t *a = block->items[i];
            f->id_hash = bl_hash_id(a->id);
            f->id_partition = (uint8_t)bl_partition_of(f->id_hash, n);
            bl_route_add(part, BL_LOOKUP_IDS, f->id_partition, i, BL_LOOKUP_ACCOUNT_ID, f->id_hash);
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
            bl_route_add(part, BL_LOOKUP_IDS, f->id_partition, i, BL_LOOKUP_TRANSFER_ID,
                         f->id_hash);
            bl_route_add(part, BL_LOOKUP_ACCOUNTS, f->dr_partition, i, BL_SIDE_DEBIT, f->dr_hash);
            bl_route_add(part, BL_LOOKUP_ACCOUNTS, f->cr_partition, i, BL_SIDE_CREDIT, f->cr_hash);
            break;
        }
        case BL_ITEM_POST_VOID: {
            const bl_transfer_t *t = block->items[i];
            f->id_hash = bl_hash_id(t->id);
            f->id_partition = (uint8_t)bl_partition_of(f->id_hash, n);
            f->pending_hash = bl_hash_id(t->pending_id);
            f->pending_partition = (uint8_t)bl_partition_of(f->pending_hash, n);
            f->pending_slot = BL_SLOT_NONE;
            /* The pending id before the item's own id: its link sees only earlier items. */
            bl_route_add(part, BL_LOOKUP_IDS, f->pending_partition, i, BL_LOOKUP_PENDING,
                         f->pending_hash);
            bl_route_add(part, BL_LOOKUP_IDS, f->id_partition, i, BL_LOOKUP_TRANSFER_ID,
                         f->id_hash);
            break;
        }
        case BL_ITEM_EXPIRY: /* pending_slot and pending_partition set by the driver */
            bl_route_add(part, BL_LOOKUP_IDS, f->pending_partition, i, BL_LOOKUP_EXPIRY,
                         f->pending_slot);
            break;
        case BL_ITEM_INVALID:
            break;
        default:
            BL_ASSERT(!"unknown item kind");
        }
    }
}
