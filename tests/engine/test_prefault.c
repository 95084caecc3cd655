/*
 * Prefault (engine/prefault.c): with partition threads, the memory the next blocks write into
 * is committed while the driver decides, past what the block itself wrote; without threads
 * nothing is; bl_engine_precommit commits it all at once, and a memory budget what it plans;
 * either way the state is the same.
 *
 * Residency is read with mincore(2): a page of the transfer table past the last transfer
 * written is resident only if something committed it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/internal.h"
#include "tests/common/util.h"

#define PREFAULT_ACCOUNTS 64u
#define PREFAULT_TRANSFERS 3000u
#define PREFAULT_EVENTS_MAX 8192u

static bl_engine_t *prefault_engine_sized(uint32_t partitions, bool threads,
                                          uint64_t transfers_max) {
    bl_engine_config_t config = {
        .partitions = partitions,
        .accounts_max = 1024,
        .transfers_max = transfers_max,
        .block_events_max = PREFAULT_EVENTS_MAX,
        .partition_threads = threads,
        .threads_items_min = 1,
    };
    bl_engine_t *engine = NULL;
    assert_int_equal(bl_engine_create(&engine, &config), 0);
    return engine;
}

static bl_engine_t *prefault_engine(uint32_t partitions, bool threads) {
    return prefault_engine_sized(partitions, threads, 1u << 20);
}

/* Accounts 1..PREFAULT_ACCOUNTS, then one block of PREFAULT_TRANSFERS transfers among them. */
static void prefault_load(bl_engine_t *engine) {
    static bl_account_t accounts[PREFAULT_ACCOUNTS];
    static bl_transfer_t transfers[PREFAULT_TRANSFERS];
    static bl_event_result_t results[PREFAULT_TRANSFERS];
    for (uint32_t i = 0; i < PREFAULT_ACCOUNTS; i++)
        accounts[i] = (bl_account_t){.id = i + 1, .ledger = 1, .code = 1};
    bl_request_t request = {.op = BL_OP_CREATE_ACCOUNTS,
                            .count = PREFAULT_ACCOUNTS,
                            .events = accounts,
                            .results = results};
    assert_int_equal(bl_engine_block_execute(engine, 1, &request, 1), 0);
    assert_int_equal(request.results_count, 0);
    for (uint32_t i = 0; i < PREFAULT_TRANSFERS; i++) {
        transfers[i] = (bl_transfer_t){.id = 1000 + i,
                                       .debit_account_id = 1 + i % PREFAULT_ACCOUNTS,
                                       .credit_account_id = 1 + (i + 1) % PREFAULT_ACCOUNTS,
                                       .amount = 1 + i,
                                       .ledger = 1,
                                       .code = 1};
    }
    request = (bl_request_t){
        .op = BL_OP_CREATE_TRANSFERS, .count = 1000, .events = transfers, .results = results};
    for (uint32_t b = 0; b < PREFAULT_TRANSFERS / 1000; b++) {
        request.events = &transfers[b * 1000];
        assert_int_equal(
            bl_engine_block_execute(engine, bl_engine_timestamp_last(engine) + 1, &request, 1), 0);
        assert_int_equal(request.results_count, 0);
    }
    assert_int_equal(bl_engine_transfers_count(engine), PREFAULT_TRANSFERS);
}

/* How many of the pages of the transfer table from `from` to `to` (slots) are resident. */
static size_t prefault_resident_pages(const bl_engine_t *engine, uint64_t from, uint64_t to) {
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t begin = ((uintptr_t)&engine->transfers[from] + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t end = (uintptr_t)&engine->transfers[to] & ~(uintptr_t)(page - 1);
    assert_true(end > begin);
    size_t pages = (end - begin) / page, resident = 0;
    unsigned char *vec = malloc(pages);
    assert_non_null(vec);
    assert_int_equal(mincore((void *)begin, end - begin, vec), 0);
    for (size_t i = 0; i < pages; i++) resident += vec[i] & 1;
    free(vec);
    return resident;
}

/* The pages between the last transfer written and 2 x events_max slots on (where the last
 * block's prefault reached), less a huge page past the written part. */
static size_t prefault_ahead_resident(const bl_engine_t *engine, size_t *pages) {
    uint64_t written = PREFAULT_TRANSFERS * sizeof(bl_transfer_t);
    uint64_t skip = ((written + (2u << 20) - 1) & ~((2ull << 20) - 1)) / sizeof(bl_transfer_t);
    uint64_t reach = PREFAULT_TRANSFERS - 1000 + 2ull * PREFAULT_EVENTS_MAX;
    assert_true(reach > skip);
    long page = sysconf(_SC_PAGESIZE);
    *pages = (reach - skip) * sizeof(bl_transfer_t) / (size_t)page - 1;
    return prefault_resident_pages(engine, skip, reach);
}

static void test_prefault_threads_commit_ahead(void **state) {
    (void)state;
    bl_engine_t *engine = prefault_engine(2, true);
    prefault_load(engine);
    size_t pages = 0, resident = prefault_ahead_resident(engine, &pages);
    assert_true(pages > 0);
    if (engine->prefault.off) {
        skip(); /* the kernel has no MADV_POPULATE_WRITE */
    }
    assert_true(resident >= pages);
    bl_engine_destroy(engine);
}

static void test_prefault_none_without_threads(void **state) {
    (void)state;
    bl_engine_t *engine = prefault_engine(2, false);
    prefault_load(engine);
    size_t pages = 0;
    assert_int_equal(prefault_ahead_resident(engine, &pages), 0);
    bl_engine_destroy(engine);
}

/* Loads `engine` and a single-partition engine without threads alike: same digest. */
static void prefault_expect_same_state(bl_engine_t *engine, bl_engine_t *single) {
    prefault_load(engine);
    prefault_load(single);
    bl_u128_t a = bl_engine_digest(engine), b = bl_engine_digest(single);
    assert_memory_equal(&a, &b, sizeof(a));
    bl_engine_destroy(engine);
    bl_engine_destroy(single);
}

/* bl_engine_precommit: every page of the transfer table is resident before any transfer is
 * written, even without threads, and the state is what it would have been. */
static void test_prefault_precommit(void **state) {
    (void)state;
    bl_engine_t *committed = prefault_engine_sized(2, false, 1u << 14);
    bl_engine_t *single = prefault_engine_sized(1, false, 1u << 14);
    int rc = bl_engine_precommit(committed);
    if (rc == -EINVAL) {
        bl_engine_destroy(committed);
        bl_engine_destroy(single);
        skip(); /* the kernel has no MADV_POPULATE_WRITE */
    }
    assert_int_equal(rc, 0);
    uint64_t slots = committed->config.transfers_max;
    size_t pages = (size_t)(slots * sizeof(bl_transfer_t) / (size_t)sysconf(_SC_PAGESIZE));
    assert_true(prefault_resident_pages(committed, 0, slots) + 1 >= pages);
    prefault_expect_same_state(committed, single);
}

static void test_prefault_same_state(void **state) {
    (void)state;
    prefault_expect_same_state(prefault_engine(2, true), prefault_engine(1, false));
}

/* The memory budget (engine/budget.c): a plan holds, in order, the id indexes, every account
 * and then as many transfers as the rest allows; committing it makes the planned part of the
 * transfer table resident and leaves the rest untouched; the state is what it would have
 * been. */
static void test_budget_commits_what_it_plans(void **state) {
    (void)state;
    bl_engine_t *committed = prefault_engine_sized(1, false, 1u << 16);
    bl_engine_t *single = prefault_engine_sized(1, false, 1u << 16);
    bl_engine_budget_t whole, budget;
    bl_engine_budget_plan(committed, UINT64_MAX / 2, &whole);
    assert_true(whole.indexes_fit);
    assert_int_equal(whole.accounts, 1024);
    assert_int_equal(whole.transfers, 1u << 16);
    assert_true(whole.transfer_bytes >= sizeof(bl_transfer_t) + 9);

    uint64_t planned = 5000;
    uint64_t bytes = whole.indexes_bytes + 1024 * whole.account_bytes +
                     planned * whole.transfer_bytes + whole.transfer_bytes - 1;
    bl_engine_budget_plan(committed, bytes, &budget);
    assert_true(budget.indexes_fit);
    assert_int_equal(budget.accounts, 1024);
    assert_int_equal(budget.transfers, planned);
    assert_int_equal(budget.planned_bytes, whole.indexes_bytes + 1024 * whole.account_bytes +
                                               planned * whole.transfer_bytes);

    bl_engine_budget_t small;
    bl_engine_budget_plan(committed, whole.indexes_bytes - 1, &small);
    assert_false(small.indexes_fit);
    /* What the indexes would have taken goes to the accounts, then the transfers. */
    assert_int_equal(small.accounts, 1024);
    assert_int_equal(small.transfers,
                     (whole.indexes_bytes - 1 - 1024 * whole.account_bytes) / whole.transfer_bytes);

    int rc = bl_engine_budget_commit(committed, &budget);
    if (rc == -EINVAL) {
        bl_engine_destroy(committed);
        bl_engine_destroy(single);
        skip(); /* the kernel has no MADV_POPULATE_WRITE */
    }
    assert_int_equal(rc, 0);
    assert_true(budget.committed_bytes >= whole.indexes_bytes + planned * sizeof(bl_transfer_t));
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t planned_pages = planned * sizeof(bl_transfer_t) / page;
    assert_true(prefault_resident_pages(committed, 0, planned) + 1 >= planned_pages);
    /* Past the plan, beyond the huge page it ends in: nothing. */
    uint64_t huge_slots = (2u << 20) / sizeof(bl_transfer_t);
    uint64_t past = (planned + huge_slots - 1) / huge_slots * huge_slots + huge_slots;
    assert_int_equal(prefault_resident_pages(committed, past, 1u << 16), 0);
    prefault_expect_same_state(committed, single);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefault_threads_commit_ahead),
        cmocka_unit_test(test_prefault_none_without_threads),
        cmocka_unit_test(test_prefault_same_state),
        cmocka_unit_test(test_prefault_precommit),
        cmocka_unit_test(test_budget_commits_what_it_plans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
