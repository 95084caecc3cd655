/*
 * get_account_transfers and get_account_balances on hand-built histories: order, sides,
 * timestamp ranges and paging, filters, invalid filters, expiry entries, rolled-back chains,
 * lists that outgrow their blocks, and the same answers after an image round trip. The
 * randomized comparison with the reference model is in differential_filters.c (part of
 * test_differential).
 */
#include <stdlib.h>
#include <unistd.h>

#include "tests/engine/helpers.h"

#define LEDGER 7
#define CODE 1

static bl_account_filter_t filter_make(bl_u128_t account_id, uint32_t flags, uint32_t limit) {
    bl_account_filter_t f;
    memset(&f, 0, sizeof(f));
    f.account_id = account_id;
    f.flags = flags;
    f.limit = limit;
    return f;
}

/* Accounts 1..4 on one ledger; 1 and 2 keep balance history. */
static void accounts_setup(bl_engine_t *engine) {
    bl_account_t accounts[4] = {
        account_make(1, LEDGER, CODE, BL_ACCOUNT_HISTORY),
        account_make(2, LEDGER, CODE, BL_ACCOUNT_HISTORY),
        account_make(3, LEDGER, CODE, 0),
        account_make(4, LEDGER, CODE, 0),
    };
    uint32_t codes[4];
    accounts_create(engine, accounts, 4, codes);
    for (int i = 0; i < 4; i++) assert_ar(codes[i], BL_CREATE_ACCOUNT_OK);
}

static uint32_t account_transfers(bl_engine_t *engine, bl_account_filter_t f, bl_transfer_t *out) {
    uint32_t n = bl_engine_account_transfers(engine, &f, out);
    assert_true(n <= f.limit);
    return n;
}

static void test_sides_and_order(void **state) {
    bl_engine_t *engine = *state;
    accounts_setup(engine);
    /* Transfer k (id 100 + k) alternates: 1 -> 3, 4 -> 1, 1 -> 4. */
    bl_transfer_t transfers[9];
    for (int k = 0; k < 9; k++) {
        bl_u128_t dr = k % 3 == 1 ? 4 : 1;
        bl_u128_t cr = k % 3 == 0 ? 3 : k % 3 == 1 ? 1 : 4;
        transfers[k] = transfer_make(100 + k, dr, cr, 10 + k, LEDGER, CODE, 0);
    }
    uint32_t codes[9];
    transfers_create(engine, transfers, 5, codes);
    transfers_create(engine, transfers + 5, 4, codes + 5);
    for (int k = 0; k < 9; k++) assert_tr(codes[k], BL_CREATE_TRANSFER_OK);

    bl_transfer_t out[16];
    uint32_t n =
        account_transfers(engine, filter_make(1, BL_FILTER_DEBITS | BL_FILTER_CREDITS, 16), out);
    assert_int_equal(n, 9);
    for (uint32_t i = 0; i < n; i++) {
        bl_transfer_t expected = transfer_must_get(engine, 100 + i);
        assert_memory_equal(&out[i], &expected, sizeof(expected));
        if (i > 0) assert_true(out[i].timestamp > out[i - 1].timestamp);
    }
    n = account_transfers(engine, filter_make(1, BL_FILTER_DEBITS, 16), out);
    assert_int_equal(n, 6); /* k % 3 != 1 */
    for (uint32_t i = 0; i < n; i++) assert_u128_equal(out[i].debit_account_id, 1);
    n = account_transfers(engine, filter_make(1, BL_FILTER_CREDITS | BL_FILTER_REVERSED, 16), out);
    assert_int_equal(n, 3);
    assert_u128_equal(out[0].id, 107);
    assert_u128_equal(out[1].id, 104);
    assert_u128_equal(out[2].id, 101);
    n = account_transfers(engine, filter_make(3, BL_FILTER_DEBITS, 16), out);
    assert_int_equal(n, 0); /* 3 is only ever credited */
    n = account_transfers(engine, filter_make(99, BL_FILTER_DEBITS | BL_FILTER_CREDITS, 16), out);
    assert_int_equal(n, 0); /* no such account */
}

static void test_paging_and_ranges(void **state) {
    bl_engine_t *engine = *state;
    accounts_setup(engine);
    enum { COUNT = 300 }; /* outgrows several list blocks */
    static bl_transfer_t transfers[COUNT];
    static uint32_t codes[COUNT];
    for (int k = 0; k < COUNT; k++) {
        transfers[k] = transfer_make(1000 + k, k % 2 ? 1 : 3, k % 2 ? 4 : 1, 1, LEDGER,
                                     (uint16_t)(1 + k % 3), 0);
        transfers[k].user_data_64 = (uint64_t)(k % 5);
    }
    for (int k = 0; k < COUNT; k += 100) transfers_create(engine, transfers + k, 100, codes + k);
    for (int k = 0; k < COUNT; k++) assert_tr(codes[k], BL_CREATE_TRANSFER_OK);

    /* Pages of 7, forward: next page from the last timestamp + 1. */
    bl_account_filter_t f = filter_make(1, BL_FILTER_DEBITS | BL_FILTER_CREDITS, 7);
    bl_transfer_t out[64];
    uint32_t seen = 0;
    for (;;) {
        uint32_t n = account_transfers(engine, f, out);
        for (uint32_t i = 0; i < n; i++) assert_u128_equal(out[i].id, 1000 + seen + i);
        seen += n;
        if (n < f.limit) break;
        f.timestamp_min = out[n - 1].timestamp + 1;
    }
    assert_int_equal(seen, COUNT);

    /* Backward, from the end. */
    f = filter_make(1, BL_FILTER_DEBITS | BL_FILTER_CREDITS | BL_FILTER_REVERSED, 16);
    seen = 0;
    for (;;) {
        uint32_t n = account_transfers(engine, f, out);
        for (uint32_t i = 0; i < n; i++) assert_u128_equal(out[i].id, 1000 + COUNT - 1 - seen - i);
        seen += n;
        if (n < f.limit) break;
        f.timestamp_max = out[n - 1].timestamp - 1;
    }
    assert_int_equal(seen, COUNT);

    /* An inclusive range by exact timestamps: transfers 10..19. */
    bl_transfer_t t10 = transfer_must_get(engine, 1010), t19 = transfer_must_get(engine, 1019);
    f = filter_make(1, BL_FILTER_DEBITS | BL_FILTER_CREDITS, 16);
    f.timestamp_min = t10.timestamp;
    f.timestamp_max = t19.timestamp;
    assert_int_equal(account_transfers(engine, f, out), 10);
    assert_u128_equal(out[0].id, 1010);
    assert_u128_equal(out[9].id, 1019);

    /* Field filters: code 2 and user_data_64 3 -> k % 3 == 1 and k % 5 == 3: k = 13 + 15j. */
    f = filter_make(1, BL_FILTER_DEBITS | BL_FILTER_CREDITS, 64);
    f.code = 2;
    f.user_data_64 = 3;
    uint32_t n = account_transfers(engine, f, out);
    assert_int_equal(n, COUNT / 15);
    for (uint32_t i = 0; i < n; i++) assert_u128_equal(out[i].id, 1000 + 13 + 15 * i);
    f.user_data_32 = 1; /* nothing has it */
    assert_int_equal(account_transfers(engine, f, out), 0);
}

static void test_invalid_filters(void **state) {
    bl_engine_t *engine = *state;
    accounts_setup(engine);
    assert_tr(transfer_create(engine, transfer_make(50, 1, 2, 5, LEDGER, CODE, 0)),
              BL_CREATE_TRANSFER_OK);
    bl_transfer_t out[4];
    bl_account_filter_t good = filter_make(1, BL_FILTER_DEBITS, 4);
    assert_int_equal(account_transfers(engine, good, out), 1);

    bl_account_filter_t bad[9];
    for (int i = 0; i < 9; i++) bad[i] = good;
    bad[0].account_id = 0;
    bad[1].account_id = BL_U128_MAX;
    bad[2].limit = 0;
    bad[3].limit = BL_FILTER_LIMIT_MAX + 1;
    bad[4].flags = BL_FILTER_REVERSED; /* no side */
    bad[5].flags |= 1u << 3;
    bad[6].reserved0 = 1;
    bad[7].reserved1[55] = 1;
    bad[8].timestamp_min = 10;
    bad[8].timestamp_max = 9;
    for (int i = 0; i < 9; i++) {
        assert_int_equal(bl_engine_account_transfers(engine, &bad[i], out), 0);
        bl_account_balance_t balances[4];
        assert_int_equal(bl_engine_account_balances(engine, &bad[i], balances), 0);
    }
}

static void balance_assert(const bl_account_balance_t *b, bl_u128_t dp, bl_u128_t dpo, bl_u128_t cp,
                           bl_u128_t cpo, uint64_t timestamp) {
    assert_u128_equal(b->debits_pending, dp);
    assert_u128_equal(b->debits_posted, dpo);
    assert_u128_equal(b->credits_pending, cp);
    assert_u128_equal(b->credits_posted, cpo);
    assert_int_equal(b->timestamp, timestamp);
    static const uint8_t zeros[56];
    assert_memory_equal(b->reserved, zeros, sizeof(zeros));
}

static void test_balances(void **state) {
    bl_engine_t *engine = *state;
    accounts_setup(engine);
    /* 1 -> 2 plain 10; 1 -> 3 pending 5 (timeout 1 s); 4 -> 1 plain 7 (same block). */
    bl_transfer_t transfers[3] = {
        transfer_make(200, 1, 2, 10, LEDGER, CODE, 0),
        transfer_make(201, 1, 3, 5, LEDGER, CODE, BL_TRANSFER_PENDING),
        transfer_make(202, 4, 1, 7, LEDGER, CODE, 0),
    };
    transfers[1].timeout = 1;
    uint32_t codes[3];
    transfers_create(engine, transfers, 3, codes);
    for (int k = 0; k < 3; k++) assert_tr(codes[k], BL_CREATE_TRANSFER_OK);
    uint64_t t200 = transfer_must_get(engine, 200).timestamp;
    uint64_t t202 = transfer_must_get(engine, 202).timestamp;

    /* A chain that fails changes nothing, so leaves no entry. */
    bl_transfer_t chain[2] = {
        transfer_make(203, 1, 2, 1, LEDGER, CODE, BL_TRANSFER_LINKED),
        transfer_make(204, 1, 2, 0, LEDGER, CODE, 0), /* amount 0 fails */
    };
    transfers_create(engine, chain, 2, codes);
    assert_tr(codes[1], BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO);

    /* The pending transfer expires at the next block past its deadline, before its requests. */
    uint64_t expiry_block = transfer_must_get(engine, 201).timestamp + BL_NS_PER_S;
    block_empty_at(engine, expiry_block);

    bl_account_balance_t out[8];
    bl_account_filter_t f = filter_make(1, BL_FILTER_DEBITS | BL_FILTER_CREDITS, 8);
    assert_int_equal(bl_engine_account_balances(engine, &f, out), 4);
    balance_assert(&out[0], 0, 10, 0, 0, t200);
    balance_assert(&out[1], 5, 10, 0, 0, t200 + 1);
    balance_assert(&out[2], 5, 10, 0, 7, t202);
    balance_assert(&out[3], 0, 10, 0, 7, expiry_block); /* the expiry's own timestamp */

    /* Sides select by the causing transfer (the pending one for the expiry). */
    f.flags = BL_FILTER_CREDITS;
    assert_int_equal(bl_engine_account_balances(engine, &f, out), 1);
    assert_int_equal(out[0].timestamp, t202);
    f.flags = BL_FILTER_DEBITS | BL_FILTER_REVERSED;
    assert_int_equal(bl_engine_account_balances(engine, &f, out), 3);
    assert_int_equal(out[0].timestamp, expiry_block);
    assert_int_equal(out[2].timestamp, t200);
    f.flags = BL_FILTER_DEBITS | BL_FILTER_CREDITS;
    f.timestamp_min = t200 + 1;
    f.timestamp_max = t202;
    assert_int_equal(bl_engine_account_balances(engine, &f, out), 2);

    /* 2 has history too; 3 does not keep any. */
    f = filter_make(2, BL_FILTER_DEBITS | BL_FILTER_CREDITS, 8);
    assert_int_equal(bl_engine_account_balances(engine, &f, out), 1);
    balance_assert(&out[0], 0, 0, 0, 10, t200);
    f.account_id = 3;
    assert_int_equal(bl_engine_account_balances(engine, &f, out), 0);
    bl_transfer_t transfers_out[8];
    assert_int_equal(bl_engine_account_transfers(engine, &f, transfers_out), 1);
}

static void test_post_and_void_entries(void **state) {
    bl_engine_t *engine = *state;
    accounts_setup(engine);
    assert_tr(
        transfer_create(engine, transfer_make(300, 1, 2, 9, LEDGER, CODE, BL_TRANSFER_PENDING)),
        BL_CREATE_TRANSFER_OK);
    assert_tr(
        transfer_create(engine, transfer_make(301, 2, 1, 4, LEDGER, CODE, BL_TRANSFER_PENDING)),
        BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(engine, transfer_resolve(302, 300, 6, BL_TRANSFER_POST_PENDING)),
              BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(engine, transfer_resolve(303, 301, 0, BL_TRANSFER_VOID_PENDING)),
              BL_CREATE_TRANSFER_OK);
    bl_account_balance_t out[8];
    bl_account_filter_t f = filter_make(1, BL_FILTER_DEBITS | BL_FILTER_CREDITS, 8);
    assert_int_equal(bl_engine_account_balances(engine, &f, out), 4);
    balance_assert(&out[0], 9, 0, 0, 0, transfer_must_get(engine, 300).timestamp);
    balance_assert(&out[1], 9, 0, 4, 0, transfer_must_get(engine, 301).timestamp);
    balance_assert(&out[2], 0, 6, 4, 0, transfer_must_get(engine, 302).timestamp);
    balance_assert(&out[3], 0, 6, 0, 0, transfer_must_get(engine, 303).timestamp);
    /* Post and void records are the account's transfers too, on the pending's sides. */
    bl_transfer_t transfers_out[8];
    f.flags = BL_FILTER_DEBITS;
    assert_int_equal(bl_engine_account_transfers(engine, &f, transfers_out), 2);
    assert_u128_equal(transfers_out[0].id, 300);
    assert_u128_equal(transfers_out[1].id, 302);
}

static void test_image_round_trip(void **state) {
    bl_engine_t *engine = *state;
    accounts_setup(engine);
    static bl_transfer_t transfers[200];
    static uint32_t codes[200];
    for (int k = 0; k < 200; k++) {
        transfers[k] = transfer_make(400 + k, 1 + k % 4, 1 + (k + 1) % 4, 1 + k, LEDGER, CODE,
                                     k % 7 == 0 ? BL_TRANSFER_PENDING : 0);
        transfers[k].timeout = k % 7 == 0 ? 1 : 0;
    }
    transfers_create(engine, transfers, 200, codes);
    for (int k = 0; k < 200; k++) assert_tr(codes[k], BL_CREATE_TRANSFER_OK);
    block_empty_at(engine, ts_next(engine) + 2 * BL_NS_PER_S); /* the pending ones expire */

    bl_engine_t *loaded = engine_reload(engine, g_partitions == 1 ? 3 : 1);

    static bl_transfer_t a[256], b[256];
    static bl_account_balance_t c[256], d[256];
    for (bl_u128_t id = 1; id <= 4; id++) {
        uint32_t flag_sets[3] = {BL_FILTER_DEBITS, BL_FILTER_CREDITS,
                                 BL_FILTER_DEBITS | BL_FILTER_CREDITS | BL_FILTER_REVERSED};
        for (int s = 0; s < 3; s++) {
            bl_account_filter_t f = filter_make(id, flag_sets[s], 256);
            uint32_t n = bl_engine_account_transfers(engine, &f, a);
            assert_true(n > 0);
            assert_int_equal(bl_engine_account_transfers(loaded, &f, b), n);
            assert_memory_equal(a, b, n * sizeof(a[0]));
            n = bl_engine_account_balances(engine, &f, c);
            assert_true(id > 2 || n > 0);
            assert_int_equal(bl_engine_account_balances(loaded, &f, d), n);
            assert_memory_equal(c, d, n * sizeof(c[0]));
        }
    }
    /* Both keep appending the same way. */
    uint64_t timestamp = ts_next(engine);
    assert_tr(transfer_create_at(engine, timestamp, transfer_make(900, 1, 2, 1, LEDGER, CODE, 0)),
              BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create_at(loaded, timestamp, transfer_make(900, 1, 2, 1, LEDGER, CODE, 0)),
              BL_CREATE_TRANSFER_OK);
    bl_account_filter_t f = filter_make(1, BL_FILTER_DEBITS | BL_FILTER_CREDITS, 256);
    uint32_t n = bl_engine_account_balances(engine, &f, c);
    assert_int_equal(bl_engine_account_balances(loaded, &f, d), n);
    assert_memory_equal(c, d, n * sizeof(c[0]));
    bl_engine_destroy(loaded);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, engine_setup, engine_teardown)
    const struct CMUnitTest tests[] = {
        T(test_sides_and_order), T(test_paging_and_ranges),     T(test_invalid_filters),
        T(test_balances),        T(test_post_and_void_entries), T(test_image_round_trip),
    };
    int failed = 0;
    g_partitions = 1;
    failed += cmocka_run_group_tests_name("history, 1 partition", tests, NULL, NULL);
    g_partitions = 4;
    failed += cmocka_run_group_tests_name("history, 4 partitions", tests, NULL, NULL);
    g_indexes_off = true;
    failed += cmocka_run_group_tests_name("history, 4 partitions, no transfer lists (scans)", tests,
                                          NULL, NULL);
    return failed;
}
