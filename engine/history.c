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
 * Memory: a list of n elements lives in a block of max(4, 2^ceil(log2 n)) elements taken from
 * its pool; when it fills, the list moves to a block twice the size and the old block goes to
 * the owning partition's free list for that size. Live blocks are at most twice their lists
 * (or 4 elements), and freed blocks sum to less than the live ones, so a pool reserved for
 * 2 x (4 per list + 2 per element) elements never runs out.
 */
#include <errno.h>
#include <string.h>

#include "engine/internal.h"

#define BL_LIST_MIN 4u

int bl_pool_init(bl_pool_t *pool, uint32_t element_size, uint64_t elements_max) {
    pool->element_size = element_size;
    /* The first minimal block is never handed out, so offset 0 means "none". */
    pool->bytes = (elements_max + BL_LIST_MIN) * element_size;
    pool->base = bl_table_reserve(pool->bytes);
    if (pool->base == NULL) return -ENOMEM;
    atomic_init(&pool->used, (uint64_t)BL_LIST_MIN * element_size);
    return 0;
}

void bl_pool_deinit(bl_pool_t *pool) {
    bl_table_release(pool->base, pool->bytes);
    pool->base = NULL;
}

/* The size class of a block of `capacity` elements (BL_LIST_MIN << class). */
static inline uint32_t bl_pool_class(uint32_t capacity) {
    return (uint32_t)__builtin_ctz(capacity / BL_LIST_MIN);
}

static uint64_t bl_pool_take(bl_pool_t *pool, uint64_t *free_heads, uint32_t capacity) {
    uint32_t class = bl_pool_class(capacity);
    uint64_t offset = free_heads[class];
    if (offset != 0) {
        memcpy(&free_heads[class], pool->base + offset, sizeof(uint64_t));
        return offset;
    }
    uint64_t bytes = (uint64_t)capacity * pool->element_size;
    offset = atomic_fetch_add_explicit(&pool->used, bytes, memory_order_relaxed);
    BL_ASSERT(offset + bytes <= pool->bytes);
    return offset;
}

static void bl_pool_give(bl_pool_t *pool, uint64_t *free_heads, uint64_t offset,
                         uint32_t capacity) {
    uint32_t class = bl_pool_class(capacity);
    memcpy(pool->base + offset, &free_heads[class], sizeof(uint64_t));
    free_heads[class] = offset;
}

void bl_history_append(bl_engine_t *engine, bl_partition_t *part, uint32_t slot, uint32_t kind,
                       const void *element) {
    uint32_t pool_index = kind == BL_LIST_BALANCES ? BL_POOL_BALANCES : BL_POOL_SLOTS;
    bl_pool_t *pool = &engine->pools[pool_index];
    uint64_t *free_heads = part->pool_free[pool_index];
    bl_list_t *list = &engine->account_aux[slot].lists[kind];
    uint32_t n = list->count;
    BL_ASSERT(n < UINT32_MAX);
    if (n == 0 || (n >= BL_LIST_MIN && (n & (n - 1)) == 0)) { /* full: move up a class */
        uint32_t capacity = n == 0 ? BL_LIST_MIN : 2 * n;
        uint64_t offset = bl_pool_take(pool, free_heads, capacity);
        if (n > 0) {
            memcpy(pool->base + offset, pool->base + list->offset, (uint64_t)n * pool->element_size);
            bl_pool_give(pool, free_heads, list->offset, n);
        }
        list->offset = offset;
    }
    memcpy(pool->base + list->offset + (uint64_t)n * pool->element_size, element,
           pool->element_size);
    list->count = n + 1;
}

/* Prefetches the place where the next slot of an account's list `kind` goes. The account's
 * aux line is warm: apply has just written its balances. */
static void bl_history_prefetch(const bl_engine_t *engine, const bl_block_t *block, uint64_t k,
                                uint32_t p) {
    for (uint32_t side = 0; side < 2; side++) {
        const bl_overlay_account_t *o = &block->overlay[block->transfers_new_accounts[k][side]];
        if (o->partition != p) continue;
        const bl_list_t *list = &engine->account_aux[o->slot].lists[side];
        __builtin_prefetch(engine->pools[BL_POOL_SLOTS].base + list->offset +
                               (uint64_t)list->count * sizeof(uint32_t), 1);
    }
}

#define BL_HISTORY_DISTANCE 8u

void bl_history_apply(bl_engine_t *engine, uint32_t p) {
    const bl_block_t *block = &engine->block;
    bl_partition_t *part = &engine->partitions[p];
    uint64_t transfers_created = engine->transfers_count - block->transfers_base;
    _Static_assert(BL_LIST_DEBITS == 0 && BL_LIST_CREDITS == 1, "list kind = side");
    for (uint64_t k = 0; k < transfers_created; k++) {
        if (k + BL_HISTORY_DISTANCE < transfers_created)
            bl_history_prefetch(engine, block, k + BL_HISTORY_DISTANCE, p);
        uint32_t slot = (uint32_t)(block->transfers_base + k);
        for (uint32_t side = 0; side < 2; side++) {
            const bl_overlay_account_t *o = &block->overlay[block->transfers_new_accounts[k][side]];
            if (o->partition != p) continue;
            bl_history_append(engine, part, o->slot, side == 0 ? BL_LIST_DEBITS : BL_LIST_CREDITS,
                              &slot);
        }
    }
    for (uint32_t k = 0; k < block->history_new_count; k++) {
        const bl_history_new_t *h = &block->history_new[k];
        const bl_overlay_account_t *o = &block->overlay[h->overlay];
        if (o->partition != p) continue;
        bl_history_append(engine, part, o->slot, BL_LIST_BALANCES, &h->entry);
    }
}
