/*
 * Pools and the lists that live in them: the per-account history lists (history.c) and the
 * posting lists of the query indexes (keys.c). An account's transfer lists are slot lists
 * (internal.h): runs of slots in a pool of runs, and a tail of the last few on the account's
 * line.
 *
 * A list is a sequence of elements of one pool, appended at its end. A list of n <=
 * BL_LIST_CHUNK elements lives in a block of max(4, 2^ceil(log2 n)) elements taken from the
 * pool; when it fills, the list moves to a block twice the size and the old block goes to the
 * free list of the partition that owns the list, for that size. In a pool of elements of at
 * most 4 bytes a list of one element keeps it in the list itself and takes no block (many
 * accounts take part in one transfer per side). Past BL_LIST_CHUNK elements a list stops
 * moving: its full block becomes the first of its chunks (blocks of BL_LIST_CHUNK elements),
 * each new chunk is taken as the last one fills, and a directory block holds the chunks'
 * offsets; only the directory moves as it grows, 8 bytes per chunk. A long list (a ledger's
 * or a code's transfers) so costs its elements and a chunk's rest, where doubling copied each
 * element once on average and left freed blocks the size of the live one.
 *
 * Blocks are cut from chunks of BL_POOL_CHUNK bytes, each partition from a chunk of its own
 * (bl_pool_share_t), so two partitions appending at once never write one cache line; the
 * shared bump offset is touched once per chunk. A block larger than a quarter of a chunk is
 * taken from the bump offset directly. When the next block does not fit in the rest of a
 * chunk, the rest goes to the share's free lists as blocks of the largest classes that fit.
 *
 * Bound: a live block holds at most 2n + 4 elements for a list of n <= BL_LIST_CHUNK, or 2n
 * where a list of one element takes no block, and the blocks a list outgrew sum to less than
 * its live one. A chunked list holds its n elements in less than n + BL_LIST_CHUNK, the blocks
 * it outgrew before (less than BL_LIST_CHUNK) and directories of 8 bytes per chunk (at most
 * twice that live, and less than that freed): under 3n for n > BL_LIST_CHUNK. So blocks for
 * 2 x (2 per element + 4 per list) elements are enough, and for small elements 4 per
 * element. A chunk is cut into blocks until less than a quarter of it is left, so the
 * chunks hold at most 4/3 of the blocks cut from them; with one chunk in use per partition,
 * bl_pool_init reserves 4/3 of the blocks' bytes and a chunk per partition more.
 */
#include <errno.h>
#include <string.h>

#include "engine/internal.h"

int bl_pool_init(bl_pool_t *pool, uint32_t element_size, uint64_t elements_max,
                 uint32_t partitions) {
    pool->element_size = element_size;
    /* The first minimal block is never handed out, so offset 0 means "none". */
    uint64_t blocks = elements_max * element_size;
    pool->bytes = blocks + blocks / 3 + 1 + (uint64_t)partitions * BL_POOL_CHUNK +
                  BL_LIST_MIN * element_size + 64;
    pool->base = bl_table_reserve(pool->bytes);
    if (pool->base == NULL) return -ENOMEM;
    /* The bump offset stays at a multiple of a cache line (chunks are, and so is every block
     * too large for one: 2^k elements of at most 1 KiB, past 64 KiB), so no line holds blocks
     * of two shares. */
    BL_ASSERT(element_size <= 1024);
    atomic_init(&pool->used, (BL_LIST_MIN * element_size + 63) & ~(uint64_t)63);
    return 0;
}

void bl_pool_deinit(bl_pool_t *pool) {
    bl_table_release(pool->base, pool->bytes);
    pool->base = NULL;
}

static void bl_pool_give(bl_pool_t *pool, bl_pool_share_t *share, uint64_t offset,
                         uint32_t capacity) {
    uint32_t class = bl_pool_class(capacity);
    memcpy(pool->base + offset, &share->free[class], sizeof(uint64_t));
    share->free[class] = offset;
}

/* `bytes` from the shared bump offset. */
static uint64_t bl_pool_bump(bl_pool_t *pool, uint64_t bytes) {
    uint64_t offset = atomic_fetch_add_explicit(&pool->used, bytes, memory_order_relaxed);
    BL_ASSERT(offset + bytes <= pool->bytes);
    return offset;
}

/* Gives the rest of the share's chunk to its free lists, largest blocks first. */
static void bl_pool_give_rest(bl_pool_t *pool, bl_pool_share_t *share) {
    uint32_t capacity = BL_LIST_MIN;
    while ((uint64_t)capacity * 2 * pool->element_size <= share->end - share->next) capacity *= 2;
    for (; capacity >= BL_LIST_MIN; capacity /= 2) {
        uint64_t bytes = (uint64_t)capacity * pool->element_size;
        if (share->end - share->next < bytes) continue;
        bl_pool_give(pool, share, share->next, capacity);
        share->next += bytes;
    }
}

static uint64_t bl_pool_take(bl_pool_t *pool, bl_pool_share_t *share, uint32_t capacity) {
    uint32_t class = bl_pool_class(capacity);
    uint64_t offset = share->free[class];
    if (offset != 0) {
        memcpy(&share->free[class], pool->base + offset, sizeof(uint64_t));
        /* The next take of this class reads the new head's first word: fetch it now. */
        __builtin_prefetch(pool->base + share->free[class]);
        return offset;
    }
    uint64_t bytes = (uint64_t)capacity * pool->element_size;
    if (bytes > BL_POOL_CHUNK / 4) return bl_pool_bump(pool, bytes);
    if (share->end - share->next < bytes) {
        bl_pool_give_rest(pool, share);
        share->next = bl_pool_bump(pool, BL_POOL_CHUNK);
        share->end = share->next + BL_POOL_CHUNK;
    }
    offset = share->next;
    share->next += bytes;
    return offset;
}

/* Elements of the directory block of a chunked list with `chunks` chunks: the fewest
 * (2^k >= BL_LIST_MIN) whose bytes hold their offsets. The directory moves when this grows. */
static uint32_t bl_list_directory_capacity(uint32_t element_size, uint64_t chunks) {
    uint32_t capacity = BL_LIST_MIN;
    while ((uint64_t)capacity * element_size < chunks * sizeof(uint64_t)) capacity *= 2;
    return capacity;
}

/* Gives a list of n elements (n a multiple of BL_LIST_CHUNK) its next chunk: a full list of
 * BL_LIST_CHUNK elements keeps its block as the first chunk and takes a directory. */
static void bl_list_add_chunk(bl_pool_t *pool, bl_pool_share_t *share, bl_list_t *list) {
    uint32_t size = pool->element_size;
    uint64_t chunks = list->count / BL_LIST_CHUNK; /* before this one */
    uint64_t chunk = bl_pool_take(pool, share, BL_LIST_CHUNK);
    uint32_t capacity = bl_list_directory_capacity(size, chunks);
    uint32_t grown = bl_list_directory_capacity(size, chunks + 1);
    uint64_t directory = list->offset;
    if (chunks == 1) {
        directory = bl_pool_take(pool, share, grown);
        memcpy(pool->base + directory, &list->offset, sizeof(uint64_t));
    } else if (grown != capacity) {
        directory = bl_pool_take(pool, share, grown);
        memcpy(pool->base + directory, pool->base + list->offset, chunks * sizeof(uint64_t));
        bl_pool_give(pool, share, list->offset, capacity);
    }
    memcpy(pool->base + directory + chunks * sizeof(uint64_t), &chunk, sizeof(uint64_t));
    list->offset = directory;
    bool near = chunk % BL_LIST_LAST_UNIT == 0 && chunk / BL_LIST_LAST_UNIT <= UINT32_MAX;
    list->first = near ? (uint32_t)(chunk / BL_LIST_LAST_UNIT) : 0;
}

/* bl_list_append with the pool's element size as an argument: inlined for each size the
 * pools use, its copies compile to fixed-size moves. */
static inline __attribute__((always_inline)) void
bl_list_append_sized(bl_pool_t *pool, bl_pool_share_t *share, bl_list_t *list, const void *element,
                     uint32_t size) {
    uint32_t n = list->count;
    BL_ASSERT(n < UINT32_MAX && size == pool->element_size);
    bool small = size <= sizeof(list->first);
    if (n == 0 && small) {
        memcpy(&list->first, element, size);
        list->count = 1;
        return;
    }
    if (n >= BL_LIST_CHUNK) {
        if (n % BL_LIST_CHUNK == 0) bl_list_add_chunk(pool, share, list);
    } else if (bl_list_next_block(n, small) != 0) {
        /* full (or the one element held in place): move up a class */
        uint64_t offset = bl_pool_take(pool, share, bl_list_next_block(n, small));
        if (n == 1 && small) {
            memcpy(pool->base + offset, &list->first, size);
        } else if (n > 0) {
            memcpy(pool->base + offset, pool->base + list->offset, (uint64_t)n * size);
            bl_pool_give(pool, share, list->offset, n);
        }
        list->offset = offset;
    }
    list->count = n + 1;
    memcpy((void *)bl_list_at(pool, list, n), element, size);
}

void bl_list_append(bl_pool_t *pool, bl_pool_share_t *share, bl_list_t *list, const void *element) {
    switch (pool->element_size) {
    case sizeof(uint32_t): /* slots */
        bl_list_append_sized(pool, share, list, element, sizeof(uint32_t));
        break;
    case sizeof(bl_run_t):
        bl_list_append_sized(pool, share, list, element, sizeof(bl_run_t));
        break;
    default:
        bl_list_append_sized(pool, share, list, element, pool->element_size);
    }
}

void bl_list_append_slot_grow(bl_pool_t *pool, bl_pool_share_t *share, bl_list_t *list,
                              uint32_t slot) {
    bl_list_append(pool, share, list, &slot);
}

uint32_t bl_list_lower(const bl_pool_t *pool, const bl_list_t *list,
                       uint64_t (*key)(const void *element), uint64_t value) {
    uint32_t lo = 0, hi = list->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (key(bl_list_at(pool, list, mid)) < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void bl_pool_late_drain(bl_pool_t *runs, bl_pool_share_t *share) {
    for (uint32_t i = 0; i < BL_POOL_LATE; i++) {
        bl_pool_late_t *late = &share->late[i];
        if (late->at == 0) continue;
        memcpy(runs->base + late->at, &late->run, sizeof(late->run));
        late->at = 0;
    }
}

void bl_slot_list_flush(bl_pool_t *runs, bl_pool_share_t *share, bl_slot_list_t *list,
                        const bl_run_t *run) {
    BL_ASSERT(list->count % BL_RUN == BL_RUN - 1 && list->count < UINT32_MAX);
    bl_list_t r = bl_slot_list_runs(list);
    /* The runs move to a block twice the size: those still queued land first. */
    if (r.count != 0) bl_pool_late_drain(runs, share);
    bl_list_append(runs, share, &r, run);
    list->offset = r.offset;
    list->count++;
}

uint32_t bl_slot_list_lower(const bl_pool_t *runs, const bl_slot_list_t *list, uint32_t slot) {
    uint32_t lo = 0, hi = list->count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (bl_slot_list_at(runs, list, mid) < slot)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
