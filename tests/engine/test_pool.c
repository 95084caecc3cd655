/*
 * List pools (engine/pool.c): lists appended through partition shares keep their elements in
 * order, and blocks of two shares never share a cache line, whatever the mix of list sizes
 * (small blocks cut from chunks, the rests of chunks reused, blocks larger than a quarter of a
 * chunk from the bump offset).
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
static uint32_t pool_element(uint32_t list, uint32_t i) { return list << 20 | i; }

/* Capacity of the live block of a list of n elements (n >= 2 in a pool of slots). */
static uint64_t pool_capacity(uint32_t n) {
    uint64_t capacity = BL_LIST_MIN;
    while (capacity < n) capacity *= 2;
    return capacity;
}

/* Appends `appends` slots to `lists` lists, list l through share l % POOL_SHARES; list 0
 * takes a quarter of them (its block outgrows a chunk's quarter), the rest go at random. */
static void pool_run(uint32_t lists, uint32_t appends) {
    bl_pool_t pool;
    bl_pool_share_t shares[POOL_SHARES] = {0};
    assert_int_equal(bl_pool_init(&pool, sizeof(uint32_t), 4ull * appends, POOL_SHARES), 0);
    bl_list_t *list = calloc(lists, sizeof(bl_list_t));
    assert_non_null(list);
    for (uint32_t k = 0; k < appends; k++) {
        uint32_t l = rng() % 4 == 0 ? 0 : (uint32_t)(rng() % lists);
        uint32_t element = pool_element(l, list[l].count);
        bl_list_append_slot(&pool, &shares[l % POOL_SHARES], &list[l], element);
    }
    assert_true(list[0].count * sizeof(uint32_t) > BL_POOL_CHUNK / 4);

    uint64_t used = atomic_load(&pool.used);
    assert_true(used <= pool.bytes);
    uint8_t *owner = calloc(used / 64 + 1, 1); /* share + 1 of each line; 0: none */
    assert_non_null(owner);
    uint64_t total = 0;
    for (uint32_t l = 0; l < lists; l++) {
        const uint32_t *items = bl_list_items(&pool, &list[l]);
        for (uint32_t i = 0; i < list[l].count; i++) {
            if (items[i] != pool_element(l, i))
                fail_msg("list %u holds %#x at %u (seed %llu)", l, items[i], i,
                         (unsigned long long)g_seed);
        }
        total += list[l].count;
        if (list[l].count < 2) continue; /* held in the list itself */
        uint64_t begin = list[l].offset;
        uint64_t end = begin + pool_capacity(list[l].count) * sizeof(uint32_t);
        assert_true(end <= used);
        for (uint64_t line = begin / 64; line <= (end - 1) / 64; line++) {
            uint8_t share = (uint8_t)(l % POOL_SHARES + 1);
            if (owner[line] != 0 && owner[line] != share)
                fail_msg("line %llu holds blocks of shares %u and %u (seed %llu)",
                         (unsigned long long)line, owner[line] - 1, share - 1,
                         (unsigned long long)g_seed);
            owner[line] = share;
        }
    }
    assert_int_equal(total, appends);
    free(owner);
    free(list);
    bl_pool_deinit(&pool);
}

static void test_pool_few_long_lists(void **state) {
    (void)state;
    pool_run(50, 400000);
}

static void test_pool_many_short_lists(void **state) {
    (void)state;
    pool_run(100000, 400000);
}

/* Elements wider than a slot (balance entries): a list of one element takes a block too. */
static void test_pool_wide_elements(void **state) {
    (void)state;
    bl_pool_t pool;
    bl_pool_share_t shares[2] = {0};
    const uint32_t lists = 2000, appends = 100000;
    assert_int_equal(bl_pool_init(&pool, sizeof(bl_balance_entry_t), 4ull * appends, 2), 0);
    bl_list_t *list = calloc(lists, sizeof(bl_list_t));
    assert_non_null(list);
    for (uint32_t k = 0; k < appends; k++) {
        uint32_t l = (uint32_t)(rng() % lists);
        bl_balance_entry_t entry = {.timestamp = ((uint64_t)l << 32) | list[l].count};
        bl_list_append(&pool, &shares[l % 2], &list[l], &entry);
    }
    uint64_t total = 0;
    for (uint32_t l = 0; l < lists; l++) {
        const bl_balance_entry_t *entries = bl_list_items(&pool, &list[l]);
        for (uint32_t i = 0; i < list[l].count; i++)
            assert_int_equal(entries[i].timestamp, ((uint64_t)l << 32) | i);
        total += list[l].count;
    }
    assert_int_equal(total, appends);
    free(list);
    bl_pool_deinit(&pool);
}

int main(void) {
    seed_init("test_pool");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_few_long_lists),
        cmocka_unit_test(test_pool_many_short_lists),
        cmocka_unit_test(test_pool_wide_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
