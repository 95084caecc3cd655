/*
 * Pools and the lists that live in them: the per-account history lists (history.c) and the
 * posting lists of the query indexes (keys.c).
 *
 * A list is an array of elements of one pool, appended at its end. A list of n elements lives
 * in a block of max(4, 2^ceil(log2 n)) elements taken from the pool; when it fills, the list
 * moves to a block twice the size and the old block goes to the free list of the partition
 * that owns the list, for that size. In a pool of elements of at most 4 bytes a list of one
 * element keeps it in the list itself and takes no block (most query index keys name one
 * object).
 *
 * Bound: a live block holds at most 2n + 4 elements for a list of n, or 2n where a list of
 * one element takes no block, and the blocks a list outgrew sum to less than its live one, so
 * a pool reserved for 2 x (2 per element + 4 per list) elements never runs out, and for small
 * elements 4 per element is enough.
 */
#include <errno.h>
#include <string.h>

#include "engine/internal.h"

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
        /* The next take of this class reads the new head's first word: fetch it now. */
        __builtin_prefetch(pool->base + free_heads[class]);
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

void bl_list_append(bl_pool_t *pool, uint64_t *free_heads, bl_list_t *list, const void *element) {
    uint32_t n = list->count;
    uint32_t size = pool->element_size;
    BL_ASSERT(n < UINT32_MAX);
    bool small = size <= sizeof(list->first);
    if (n == 0 && small) {
        memcpy(&list->first, element, size);
        list->count = 1;
        return;
    }
    if (n == 0 || (n >= BL_LIST_MIN && (n & (n - 1)) == 0) || (n == 1 && small)) {
        /* full (or the one element held in place): move up a class */
        uint32_t capacity = n < BL_LIST_MIN ? BL_LIST_MIN : 2 * n;
        uint64_t offset = bl_pool_take(pool, free_heads, capacity);
        if (n == 1) {
            memcpy(pool->base + offset, &list->first, size);
        } else if (n > 0) {
            memcpy(pool->base + offset, pool->base + list->offset, (uint64_t)n * size);
            bl_pool_give(pool, free_heads, list->offset, n);
        }
        list->offset = offset;
    }
    memcpy(pool->base + list->offset + (uint64_t)n * size, element, size);
    list->count = n + 1;
}
