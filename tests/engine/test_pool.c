/*
 * List pools (engine/pool.c): lists appended through partition shares keep their elements in
 * order, and blocks of two shares never share a cache line, whatever the mix of list sizes
 * (small blocks cut from chunks, the rests of chunks reused, long lists chunked, directories
 * larger than a quarter of a chunk from the bump offset).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "engine/internal.h"
#include "tests/common/util.h"

#define POOL_SHARES 3u

/* The element a list holds at index i: the list and the index, so order is checkable. */
static uint32_t pool_element(uint32_t list, uint32_t i) {
    return list << 20 | i;
}

/* Capacity of a block of slots holding n of them (n >= 2). */
static uint64_t pool_capacity(uint64_t n) {
    uint64_t capacity = BL_LIST_MIN;
    while (capacity < n) capacity *= 2;
    return capacity;
}

/* Marks the lines of the block of `capacity` slots at `offset` as the share's (share + 1 in
 * `owner`), failing if a line holds another share's block. */
static void pool_own(uint8_t *owner, uint64_t used, uint64_t offset, uint64_t capacity,
                     uint8_t share) {
    uint64_t end = offset + capacity * sizeof(uint32_t);
    assert_true(offset > 0 && end <= used);
    for (uint64_t line = offset / 64; line <= (end - 1) / 64; line++) {
        if (owner[line] != 0 && owner[line] != share + 1)
            fail_msg("line %llu holds blocks of shares %u and %u (seed %llu)",
                     (unsigned long long)line, owner[line] - 1, share, (unsigned long long)g_seed);
        owner[line] = share + 1;
    }
}

/* Marks every block of list l: its one block, or its chunks and their directory. */
static void pool_own_list(const bl_pool_t *pool, const bl_list_t *list, uint8_t *owner,
                          uint64_t used, uint8_t share) {
    if (list->count < 2) return; /* held in the list itself */
    if (list->count <= BL_LIST_CHUNK) {
        pool_own(owner, used, list->offset, pool_capacity(list->count), share);
        return;
    }
    uint64_t chunks = (list->count + BL_LIST_CHUNK - 1) / BL_LIST_CHUNK;
    /* the directory: the fewest slots (2^k >= 4) holding 8 bytes per chunk */
    pool_own(owner, used, list->offset, pool_capacity(2 * chunks), share);
    const uint64_t *directory = (const uint64_t *)(pool->base + list->offset);
    for (uint64_t c = 0; c < chunks; c++) pool_own(owner, used, directory[c], BL_LIST_CHUNK, share);
}

/* Appends `appends` slots to `lists` lists, list l through share l % POOL_SHARES; list 0
 * takes a quarter of them (chunked, its directory outgrows a chunk's quarter), the rest go at
 * random. */
static void pool_run(uint32_t lists, uint32_t appends) {
    bl_pool_t pool;
    bl_pool_share_t shares[POOL_SHARES] = {0};
    assert_int_equal(bl_pool_init(&pool, sizeof(uint32_t), 4ull * appends, POOL_SHARES), 0);
    bl_list_t *list = calloc(lists, sizeof(bl_list_t));
    assert_non_null(list);
    for (uint32_t k = 0; k < appends; k++) {
        uint32_t l = rng() % 4 == 0 ? 0 : (uint32_t)(rng() % lists);
        uint32_t element = pool_element(l, list[l].count);
        /* lists l % 5 == 4 append through the directory, as if their last chunk lay further
         * than its 32-bit offset reaches */
        if (l % 5 == 4 && list[l].count > BL_LIST_CHUNK) list[l].first = 0;
        bl_list_append_slot(&pool, &shares[l % POOL_SHARES], &list[l], element);
    }
    assert_true(list[0].count / BL_LIST_CHUNK * sizeof(uint64_t) > BL_POOL_CHUNK / 4);

    uint64_t used = atomic_load(&pool.used);
    assert_true(used <= pool.bytes);
    uint8_t *owner = calloc(used / 64 + 1, 1); /* share + 1 of each line; 0: none */
    assert_non_null(owner);
    uint64_t total = 0;
    for (uint32_t l = 0; l < lists; l++) {
        for (uint32_t i = 0; i < list[l].count; i++) {
            uint32_t item = *(const uint32_t *)bl_list_at(&pool, &list[l], i);
            if (item != pool_element(l, i))
                fail_msg("list %u holds %#x at %u (seed %llu)", l, item, i,
                         (unsigned long long)g_seed);
        }
        total += list[l].count;
        pool_own_list(&pool, &list[l], owner, used, (uint8_t)(l % POOL_SHARES));
    }
    assert_int_equal(total, appends);
    free(owner);
    free(list);
    bl_pool_deinit(&pool);
}

static void test_pool_few_long_lists(void **state) {
    (void)state;
    pool_run(50, 2400000);
}

static void test_pool_many_short_lists(void **state) {
    (void)state;
    pool_run(100000, 2400000);
}

/* Elements wider than a slot (balance entries): a list of one element takes a block too;
 * list 0 takes a quarter of the appends, so its directory grows. */
static void test_pool_wide_elements(void **state) {
    (void)state;
    bl_pool_t pool;
    bl_pool_share_t shares[2] = {0};
    const uint32_t lists = 2000, appends = 100000;
    assert_int_equal(bl_pool_init(&pool, sizeof(bl_balance_entry_t), 4ull * appends, 2), 0);
    bl_list_t *list = calloc(lists, sizeof(bl_list_t));
    assert_non_null(list);
    for (uint32_t k = 0; k < appends; k++) {
        uint32_t l = rng() % 4 == 0 ? 0 : (uint32_t)(rng() % lists);
        bl_balance_entry_t entry = {.timestamp = ((uint64_t)l << 32) | list[l].count};
        bl_list_append(&pool, &shares[l % 2], &list[l], &entry);
    }
    uint64_t total = 0;
    for (uint32_t l = 0; l < lists; l++) {
        for (uint32_t i = 0; i < list[l].count; i++) {
            const bl_balance_entry_t *entry = bl_list_at(&pool, &list[l], i);
            assert_int_equal(entry->timestamp, ((uint64_t)l << 32) | i);
        }
        total += list[l].count;
    }
    assert_int_equal(total, appends);
    free(list);
    bl_pool_deinit(&pool);
}

/* Slot lists (an account's transfers): every slot is found where it was appended, whether in
 * a run in the pool or in the tail, and bl_slot_list_lower finds each value's place, for
 * lists of every length from empty to hundreds of runs (list 0 is chunked), with runs queued
 * in the late stores while their lists move to larger blocks. */
static void test_pool_slot_lists(void **state) {
    (void)state;
    bl_pool_t runs;
    bl_pool_share_t shares[2] = {0};
    const uint32_t lists = 3000, appends = 400000;
    assert_int_equal(bl_pool_init(&runs, sizeof(bl_run_t), 12ull * appends / BL_RUN, 2), 0);
    bl_slot_list_t *list = calloc(lists, sizeof(bl_slot_list_t));
    assert_non_null(list);
    for (uint32_t k = 0; k < appends; k++) {
        uint32_t l = rng() % 4 == 0 ? 0 : (uint32_t)(rng() % lists);
        /* increasing and spaced by 2, so an odd value falls between two slots */
        bl_slot_list_append(&runs, &shares[l % 2], &list[l], 2 * k + 2);
    }
    /* as apply does at the end of its step: the runs still queued land */
    for (uint32_t s = 0; s < 2; s++) bl_pool_late_drain(&runs, &shares[s]);
    assert_true(list[0].count / BL_RUN > BL_LIST_CHUNK);
    uint64_t total = 0;
    for (uint32_t l = 0; l < lists; l++) {
        const bl_slot_list_t *s = &list[l];
        uint32_t previous = 0;
        for (uint32_t i = 0; i < s->count; i++) {
            uint32_t slot = bl_slot_list_at(&runs, s, i);
            if (slot <= previous || slot % 2 != 0)
                fail_msg("list %u holds %u at %u after %u (seed %llu)", l, slot, i, previous,
                         (unsigned long long)g_seed);
            assert_int_equal(bl_slot_list_lower(&runs, s, slot), i);
            assert_int_equal(bl_slot_list_lower(&runs, s, slot + 1), i + 1);
            assert_int_equal(bl_slot_list_lower(&runs, s, slot - 1), i);
            previous = slot;
        }
        assert_int_equal(bl_slot_list_lower(&runs, s, UINT32_MAX), s->count);
        total += s->count;
    }
    assert_int_equal(total, appends);
    /* every slot went to one list: their values are 2, 4, ..., 2 x appends */
    uint64_t sum = 0;
    for (uint32_t l = 0; l < lists; l++)
        for (uint32_t i = 0; i < list[l].count; i++) sum += bl_slot_list_at(&runs, &list[l], i);
    assert_int_equal(sum, (uint64_t)appends * (appends + 1));
    free(list);
    bl_pool_deinit(&runs);
}

int main(void) {
    seed_init("test_pool");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_few_long_lists),
        cmocka_unit_test(test_pool_many_short_lists),
        cmocka_unit_test(test_pool_wide_elements),
        cmocka_unit_test(test_pool_slot_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
