/*
 * create_transfers and lookup_transfers through the engine, against PROTOCOL.md: one test per
 * result code 0..47 (each event built to trigger exactly that code, for plain, pending,
 * post_pending and void_pending where the code applies), the precedence orders (plain/pending
 * and post/void), and behaviour: balances after plain, pending, post and void, expiry, the
 * resolved fields of stored post/void records, linked chains, balance limits, overflow near
 * 2^128-1, capacity, timestamps and the state digest recomputed from lookups.
 *
 * Each test gets a fresh engine holding the accounts of accounts_setup() (ledger LEDGER unless
 * noted): 1..6 plain, 7 on ledger OTHER_LEDGER, 10 with debits_must_not_exceed_credits, 11
 * with credits_must_not_exceed_debits, 20..29 plain (for the overflow tests). Transfer ids
 * start at 1000 so that they are never mistaken for account ids. The whole group runs once with
 * 1 partition and once with 4.
 */
#include "helpers.h"

#define E(state) ((bl_engine_t *)*(state))

#define LEDGER 1u
#define OTHER_LEDGER 2u
#define TCODE 5u
#define NS_PER_S 1000000000ull

static const bl_u128_t ACCOUNT_IDS[] = {1,  2,  3,  4,  5,  6,  7,  10, 11, 20,
                                        21, 22, 23, 24, 25, 26, 27, 28, 29};
#define ACCOUNTS_COUNT ((uint32_t)(sizeof(ACCOUNT_IDS) / sizeof(ACCOUNT_IDS[0])))

static void accounts_setup(bl_engine_t *e) {
    bl_account_t accounts[ACCOUNTS_COUNT];
    for (uint32_t i = 0; i < ACCOUNTS_COUNT; i++) {
        bl_u128_t id = ACCOUNT_IDS[i];
        uint16_t flags = id == 10   ? BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS
                         : id == 11 ? BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS
                                    : 0;
        accounts[i] = account_make(id, id == 7 ? OTHER_LEDGER : LEDGER, 1, flags);
    }
    uint32_t codes[ACCOUNTS_COUNT];
    accounts_create(e, accounts, ACCOUNTS_COUNT, codes);
    for (uint32_t i = 0; i < ACCOUNTS_COUNT; i++) {
        assert_ar(codes[i], BL_CREATE_ACCOUNT_OK);
    }
}

static bl_engine_t *engine_with_accounts(uint64_t transfers_max) {
    bl_engine_t *e = engine_new(TEST_ACCOUNTS_MAX, transfers_max);
    accounts_setup(e);
    return e;
}

static int setup(void **state) {
    *state = engine_with_accounts(TEST_TRANSFERS_MAX);
    return 0;
}

static int teardown(void **state) {
    bl_engine_destroy(*state);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Builders.                                                                                  */

static bl_transfer_t plain(bl_u128_t id, bl_u128_t debit, bl_u128_t credit, bl_u128_t amount) {
    return transfer_make(id, debit, credit, amount, LEDGER, TCODE, 0);
}

static bl_transfer_t pending(bl_u128_t id, bl_u128_t debit, bl_u128_t credit, bl_u128_t amount,
                             uint32_t timeout) {
    bl_transfer_t t = transfer_make(id, debit, credit, amount, LEDGER, TCODE, BL_TRANSFER_PENDING);
    t.timeout = timeout;
    return t;
}

static bl_transfer_t post(bl_u128_t id, bl_u128_t pending_id, bl_u128_t amount) {
    return transfer_resolve(id, pending_id, amount, BL_TRANSFER_POST_PENDING);
}

static bl_transfer_t voiding(bl_u128_t id, bl_u128_t pending_id, bl_u128_t amount) {
    return transfer_resolve(id, pending_id, amount, BL_TRANSFER_VOID_PENDING);
}

static bl_transfer_t linked(bl_transfer_t t) {
    t.flags |= BL_TRANSFER_LINKED;
    return t;
}

static bool transfer_exists(bl_engine_t *e, bl_u128_t id) {
    bl_transfer_t t;
    return transfer_get(e, id, &t);
}

/* Funding transfers use ids far from the tests' own. */
static bl_u128_t g_fund_id = (bl_u128_t)1 << 64;

/* Credits `account` (credits_posted) with `amount` from account 6. */
static void fund(bl_engine_t *e, bl_u128_t account, bl_u128_t amount) {
    assert_tr(transfer_create(e, plain(g_fund_id++, 6, account, amount)), BL_CREATE_TRANSFER_OK);
}

/* Debits `account` (debits_posted) with `amount` to account 6. */
static void drain(bl_engine_t *e, bl_u128_t account, bl_u128_t amount) {
    assert_tr(transfer_create(e, plain(g_fund_id++, account, 6, amount)), BL_CREATE_TRANSFER_OK);
}

/* The deadline of a stored pending transfer. */
static uint64_t deadline_of(bl_engine_t *e, bl_u128_t id) {
    bl_transfer_t t = transfer_must_get(e, id);
    assert_true(t.timeout > 0);
    return t.timestamp + (uint64_t)t.timeout * NS_PER_S;
}

/* ------------------------------------------------------------------------------------------ */
/* Result codes 0..20: validation.                                                            */

static void test_ok_plain(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = plain(1000, 1, 2, 25);
    t.user_data_128 = ((bl_u128_t)3 << 80) | 4;
    t.user_data_64 = 5;
    t.user_data_32 = 6;
    uint64_t ts = ts_next(e);
    assert_tr(transfer_create_at(e, ts, t), BL_CREATE_TRANSFER_OK);
    bl_transfer_t stored = transfer_must_get(e, 1000);
    t.timestamp = ts;
    assert_memory_equal(&stored, &t, sizeof(t));
    assert_int_equal(bl_engine_transfers_count(e), 1);
    assert_balances(e, 1, 0, 25, 0, 0);
    assert_balances(e, 2, 0, 0, 0, 25);
}

static void test_ok_pending(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = pending(1000, 1, 2, 25, 60);
    uint64_t ts = ts_next(e);
    assert_tr(transfer_create_at(e, ts, t), BL_CREATE_TRANSFER_OK);
    bl_transfer_t stored = transfer_must_get(e, 1000);
    t.timestamp = ts;
    assert_memory_equal(&stored, &t, sizeof(t));
    assert_balances(e, 1, 25, 0, 0, 0);
    assert_balances(e, 2, 0, 0, 25, 0);
}

static void test_linked_event_failed(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t chain[2] = {linked(plain(1000, 1, 2, 10)), plain(1001, 1, 99, 10)};
    uint32_t codes[2];
    transfers_create(e, chain, 2, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND);
    assert_false(transfer_exists(e, 1000));
    assert_balances(e, 1, 0, 0, 0, 0);
    assert_balances(e, 2, 0, 0, 0, 0);
}

static void test_linked_event_chain_open(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, linked(plain(1000, 1, 2, 10))),
              BL_CREATE_TRANSFER_LINKED_EVENT_CHAIN_OPEN);
    assert_false(transfer_exists(e, 1000));

    bl_transfer_t events[3] = {plain(1001, 1, 2, 1), linked(pending(1002, 1, 2, 2, 0)),
                               linked(plain(1003, 0, 0, 0))};
    uint32_t codes[3];
    transfers_create(e, events, 3, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_OK);
    assert_tr(codes[1], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[2], BL_CREATE_TRANSFER_LINKED_EVENT_CHAIN_OPEN);
    assert_true(transfer_exists(e, 1001));
    assert_false(transfer_exists(e, 1002));
    assert_balances(e, 1, 0, 1, 0, 0);
    assert_int_equal(bl_engine_transfers_count(e), 1);
}

static void test_timestamp_must_be_zero(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = plain(1000, 1, 2, 10);
    t.timestamp = 1;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_TIMESTAMP_MUST_BE_ZERO);
    t = pending(1000, 1, 2, 10, 0);
    t.timestamp = UINT64_MAX;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_TIMESTAMP_MUST_BE_ZERO);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    t = post(1002, 1001, 0);
    t.timestamp = 5;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_TIMESTAMP_MUST_BE_ZERO);
    assert_false(transfer_exists(e, 1000));
    assert_false(transfer_exists(e, 1002));
}

static void test_reserved_flag(void **state) {
    bl_engine_t *e = E(state);
    for (uint32_t bit = 4; bit < 16; bit++) {
        bl_transfer_t t = plain(1000, 1, 2, 10);
        t.flags = (uint16_t)(1u << bit);
        assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_RESERVED_FLAG);
    }
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t t = post(1002, 1001, 0);
    t.flags |= 0x10;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_RESERVED_FLAG);
    assert_false(transfer_exists(e, 1000));
    assert_false(transfer_exists(e, 1002));
}

static void test_id_must_not_be_zero(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(0, 1, 2, 10)), BL_CREATE_TRANSFER_ID_MUST_NOT_BE_ZERO);
    assert_tr(transfer_create(e, pending(0, 1, 2, 10, 0)), BL_CREATE_TRANSFER_ID_MUST_NOT_BE_ZERO);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(0, 1001, 0)), BL_CREATE_TRANSFER_ID_MUST_NOT_BE_ZERO);
    assert_tr(transfer_create(e, voiding(0, 1001, 0)), BL_CREATE_TRANSFER_ID_MUST_NOT_BE_ZERO);
    assert_int_equal(bl_engine_transfers_count(e), 1);
    assert_balances(e, 1, 10, 0, 0, 0);
}

static void test_id_must_not_be_int_max(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(BL_U128_MAX, 1, 2, 10)),
              BL_CREATE_TRANSFER_ID_MUST_NOT_BE_INT_MAX);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(BL_U128_MAX, 1001, 0)),
              BL_CREATE_TRANSFER_ID_MUST_NOT_BE_INT_MAX);
    assert_false(transfer_exists(e, BL_U128_MAX));
    assert_tr(transfer_create(e, plain(BL_U128_MAX - 1, 1, 2, 10)), BL_CREATE_TRANSFER_OK);
}

static void test_flags_are_mutually_exclusive(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    const uint16_t combos[4] = {
        BL_TRANSFER_PENDING | BL_TRANSFER_POST_PENDING,
        BL_TRANSFER_PENDING | BL_TRANSFER_VOID_PENDING,
        BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING,
        BL_TRANSFER_PENDING | BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING,
    };
    for (int i = 0; i < 4; i++) {
        bl_transfer_t t = post(1002, 1001, 0);
        t.flags = combos[i];
        assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_FLAGS_ARE_MUTUALLY_EXCLUSIVE);
        t = plain(1003, 1, 2, 10);
        t.flags = combos[i] | BL_TRANSFER_LINKED;
        /* (a linked last event would be an open chain: end the chain with a valid event) */
        bl_transfer_t chain[2] = {t, plain(1004, 1, 2, 1)};
        uint32_t codes[2];
        transfers_create(e, chain, 2, codes);
        assert_tr(codes[0], BL_CREATE_TRANSFER_FLAGS_ARE_MUTUALLY_EXCLUSIVE);
        assert_tr(codes[1], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    }
    assert_int_equal(bl_engine_transfers_count(e), 1);
    assert_balances(e, 1, 10, 0, 0, 0);
}

static void test_debit_account_id_must_not_be_zero(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 0, 2, 10)),
              BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO);
    assert_tr(transfer_create(e, pending(1000, 0, 2, 10, 0)),
              BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO);
    assert_false(transfer_exists(e, 1000));
}

static void test_debit_account_id_must_not_be_int_max(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, BL_U128_MAX, 2, 10)),
              BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t t = post(1002, 1001, 0);
    t.debit_account_id = BL_U128_MAX;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX);
    t = voiding(1002, 1001, 0);
    t.debit_account_id = BL_U128_MAX;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX);
    assert_false(transfer_exists(e, 1000));
    assert_false(transfer_exists(e, 1002));
}

static void test_credit_account_id_must_not_be_zero(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 1, 0, 10)),
              BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO);
    assert_tr(transfer_create(e, pending(1000, 1, 0, 10, 0)),
              BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO);
    assert_false(transfer_exists(e, 1000));
}

static void test_credit_account_id_must_not_be_int_max(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 1, BL_U128_MAX, 10)),
              BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t t = post(1002, 1001, 0);
    t.credit_account_id = BL_U128_MAX;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX);
    t = voiding(1002, 1001, 0);
    t.credit_account_id = BL_U128_MAX;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX);
    assert_false(transfer_exists(e, 1002));
}

static void test_accounts_must_be_different(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 1, 1, 10)),
              BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT);
    assert_tr(transfer_create(e, pending(1000, 2, 2, 10, 0)),
              BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t t = post(1002, 1001, 0);
    t.debit_account_id = 1;
    t.credit_account_id = 1;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT);
    t = voiding(1002, 1001, 0);
    t.debit_account_id = 2;
    t.credit_account_id = 2;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT);
    /* Only when both are non-zero: one given (and matching), the other 0, is fine. */
    t = post(1002, 1001, 0);
    t.debit_account_id = 1;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_OK);
    assert_false(transfer_exists(e, 1000));
}

static void test_pending_id_must_be_zero(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t t = plain(1000, 1, 2, 10);
    t.pending_id = 1001;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_ID_MUST_BE_ZERO);
    t = pending(1000, 1, 2, 10, 0);
    t.pending_id = 1;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_ID_MUST_BE_ZERO);
    assert_false(transfer_exists(e, 1000));
}

static void test_pending_id_must_not_be_zero(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, post(1000, 0, 0)), BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_ZERO);
    assert_tr(transfer_create(e, voiding(1000, 0, 0)),
              BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_ZERO);
    assert_false(transfer_exists(e, 1000));
}

static void test_pending_id_must_not_be_int_max(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, post(1000, BL_U128_MAX, 0)),
              BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_INT_MAX);
    assert_tr(transfer_create(e, voiding(1000, BL_U128_MAX, 0)),
              BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_INT_MAX);
    assert_false(transfer_exists(e, 1000));
}

static void test_pending_id_must_be_different(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, post(1000, 1000, 0)),
              BL_CREATE_TRANSFER_PENDING_ID_MUST_BE_DIFFERENT);
    assert_tr(transfer_create(e, voiding(1000, 1000, 0)),
              BL_CREATE_TRANSFER_PENDING_ID_MUST_BE_DIFFERENT);
    assert_false(transfer_exists(e, 1000));
}

static void test_timeout_reserved_for_pending_transfer(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = plain(1000, 1, 2, 10);
    t.timeout = 1;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    t = post(1002, 1001, 0);
    t.timeout = 30;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER);
    t = voiding(1002, 1001, 0);
    t.timeout = UINT32_MAX;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER);
    assert_false(transfer_exists(e, 1000));
    assert_false(transfer_exists(e, 1002));
    assert_balances(e, 1, 10, 0, 0, 0);
}

static void test_amount_must_not_be_zero(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 1, 2, 0)), BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 0, 5)),
              BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO);
    assert_false(transfer_exists(e, 1000));
    /* Not for post and void: 0 means the pending amount. */
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1002, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1003, 1001, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1004, 1002, 0)), BL_CREATE_TRANSFER_OK);
}

static void test_ledger_must_not_be_zero(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = plain(1000, 1, 2, 10);
    t.ledger = 0;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_LEDGER_MUST_NOT_BE_ZERO);
    t = pending(1000, 1, 2, 10, 0);
    t.ledger = 0;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_LEDGER_MUST_NOT_BE_ZERO);
    assert_false(transfer_exists(e, 1000));
}

static void test_code_must_not_be_zero(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = plain(1000, 1, 2, 10);
    t.code = 0;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_CODE_MUST_NOT_BE_ZERO);
    t = pending(1000, 1, 2, 10, 0);
    t.code = 0;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_CODE_MUST_NOT_BE_ZERO);
    assert_false(transfer_exists(e, 1000));
}

/* ------------------------------------------------------------------------------------------ */
/* 21, 22: idempotency.                                                                       */

static void test_exists_with_different_fields_plain(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = plain(1000, 1, 2, 10);
    t.user_data_128 = 11;
    t.user_data_64 = 12;
    t.user_data_32 = 13;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_OK);
    bl_transfer_t stored = transfer_must_get(e, 1000);
    bl_u128_t digest = bl_engine_digest(e);

    for (int field = 0; field < 10; field++) {
        bl_transfer_t b = t;
        switch (field) {
        case 0:
            b.debit_account_id = 3;
            break;
        case 1:
            b.credit_account_id = 3;
            break;
        case 2:
            b.amount = 11;
            break;
        case 3:
            b.amount = t.amount | ((bl_u128_t)1 << 127);
            break;
        case 4:
            b.user_data_128 = 0;
            break;
        case 5:
            b.user_data_64 = 1;
            break;
        case 6:
            b.user_data_32 = 14;
            break;
        case 7:
            b.ledger = OTHER_LEDGER;
            break;
        case 8:
            b.code = TCODE + 1;
            break;
        case 9:
            b.flags = BL_TRANSFER_PENDING;
            break;
        }
        uint32_t code = transfer_create(e, b);
        if (code != BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS) {
            print_error("field case %d\n", field);
        }
        assert_tr(code, BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    }
    bl_transfer_t after = transfer_must_get(e, 1000);
    assert_memory_equal(&after, &stored, sizeof(stored));
    assert_u128_equal(bl_engine_digest(e), digest);
    assert_balances(e, 1, 0, 10, 0, 0);
    assert_int_equal(bl_engine_transfers_count(e), 1);
}

static void test_exists_with_different_fields_pending(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 30)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 31)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_tr(transfer_create(e, plain(1000, 1, 2, 10)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 30)), BL_CREATE_TRANSFER_EXISTS);
    assert_balances(e, 1, 10, 0, 0, 0);
}

static void test_exists_with_different_fields_post(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1001, 3, 4, 10, 0)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t q = post(1002, 1000, 0);
    q.user_data_64 = 77;
    assert_tr(transfer_create(e, q), BL_CREATE_TRANSFER_OK);
    bl_transfer_t stored = transfer_must_get(e, 1002);

    for (int field = 0; field < 8; field++) {
        bl_transfer_t b = q;
        switch (field) {
        case 0:
            b.amount = 9;
            break;
        case 1:
            b.debit_account_id = 3;
            break;
        case 2:
            b.credit_account_id = 1;
            break;
        case 3:
            b.ledger = OTHER_LEDGER;
            break;
        case 4:
            b.code = TCODE + 1;
            break;
        case 5:
            b.user_data_64 = 78;
            break;
        case 6:
            b.pending_id = 1001;
            break;
        case 7:
            b.flags = BL_TRANSFER_VOID_PENDING;
            break;
        }
        uint32_t code = transfer_create(e, b);
        if (code != BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS) {
            print_error("field case %d\n", field);
        }
        assert_tr(code, BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    }
    bl_transfer_t after = transfer_must_get(e, 1002);
    assert_memory_equal(&after, &stored, sizeof(stored));
    assert_balances(e, 1, 0, 10, 0, 0);
    assert_balances(e, 3, 10, 0, 0, 0);
}

static void test_exists_plain_and_pending(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = plain(1000, 1, 2, 10);
    t.user_data_32 = 3;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_OK);
    bl_transfer_t stored = transfer_must_get(e, 1000);
    bl_u128_t digest = bl_engine_digest(e);
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_EXISTS);
    assert_u128_equal(bl_engine_digest(e), digest);
    assert_balances(e, 1, 0, 10, 0, 0);
    bl_transfer_t after = transfer_must_get(e, 1000);
    assert_memory_equal(&after, &stored, sizeof(stored));

    /* The linked flag is not compared. */
    bl_transfer_t chain[2] = {linked(t), plain(1001, 1, 2, 1)};
    uint32_t codes[2];
    transfers_create(e, chain, 2, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_EXISTS);
    assert_tr(codes[1], BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 0, 11, 0, 0);

    assert_tr(transfer_create(e, pending(1002, 3, 4, 5, 100)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1002, 3, 4, 5, 100)), BL_CREATE_TRANSFER_EXISTS);
    assert_balances(e, 3, 5, 0, 0, 0);
}

static void test_exists_post_zero_fields_match_resolved(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1001, 1000, 4)), BL_CREATE_TRANSFER_OK);
    /* Resent as sent: exists (not pending_transfer_already_posted). */
    assert_tr(transfer_create(e, post(1001, 1000, 4)), BL_CREATE_TRANSFER_EXISTS);
    /* Resent with amount 0 (matches the stored 4) and with every resolved field given. */
    assert_tr(transfer_create(e, post(1001, 1000, 0)), BL_CREATE_TRANSFER_EXISTS);
    bl_transfer_t full = transfer_make(1001, 1, 2, 4, LEDGER, TCODE, BL_TRANSFER_POST_PENDING);
    full.pending_id = 1000;
    assert_tr(transfer_create(e, full), BL_CREATE_TRANSFER_EXISTS);
    assert_balances(e, 1, 0, 4, 0, 0);

    /* A void: resent with 0 or with the pending amount. */
    assert_tr(transfer_create(e, pending(1002, 3, 4, 7, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1003, 1002, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1003, 1002, 0)), BL_CREATE_TRANSFER_EXISTS);
    assert_tr(transfer_create(e, voiding(1003, 1002, 7)), BL_CREATE_TRANSFER_EXISTS);
    assert_tr(transfer_create(e, voiding(1003, 1002, 6)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_balances(e, 3, 0, 0, 0, 0);
}

static void test_exists_within_one_request(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t events[4] = {plain(1000, 1, 2, 10), plain(1000, 1, 2, 10),
                               pending(1001, 1, 2, 3, 0), pending(1001, 1, 2, 4, 0)};
    uint32_t codes[4];
    transfers_create(e, events, 4, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_OK);
    assert_tr(codes[1], BL_CREATE_TRANSFER_EXISTS);
    assert_tr(codes[2], BL_CREATE_TRANSFER_OK);
    assert_tr(codes[3], BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_balances(e, 1, 3, 10, 0, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* 23..26: accounts and ledgers.                                                              */

static void test_debit_account_not_found(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 99, 2, 10)),
              BL_CREATE_TRANSFER_DEBIT_ACCOUNT_NOT_FOUND);
    assert_tr(transfer_create(e, pending(1000, 99, 2, 10, 0)),
              BL_CREATE_TRANSFER_DEBIT_ACCOUNT_NOT_FOUND);
    assert_false(transfer_exists(e, 1000));
    assert_balances(e, 2, 0, 0, 0, 0);
}

static void test_credit_account_not_found(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 1, 99, 10)),
              BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND);
    assert_tr(transfer_create(e, pending(1000, 1, 99, 10, 0)),
              BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND);
    assert_false(transfer_exists(e, 1000));
    assert_balances(e, 1, 0, 0, 0, 0);
}

static void test_accounts_must_have_the_same_ledger(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 1, 7, 10)),
              BL_CREATE_TRANSFER_ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER);
    assert_tr(transfer_create(e, pending(1000, 7, 1, 10, 0)),
              BL_CREATE_TRANSFER_ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER);
    assert_false(transfer_exists(e, 1000));
}

static void test_transfer_must_have_the_same_ledger_as_accounts(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = plain(1000, 1, 2, 10);
    t.ledger = OTHER_LEDGER;
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS);
    t = pending(1000, 1, 2, 10, 0);
    t.ledger = 3;
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS);
    assert_false(transfer_exists(e, 1000));
    /* Accounts and transfers have separate id spaces: transfer id 1 is fine. */
    assert_tr(transfer_create(e, plain(1, 1, 2, 10)), BL_CREATE_TRANSFER_OK);
}

/* ------------------------------------------------------------------------------------------ */
/* 27..37: post and void.                                                                     */

static void test_pending_transfer_not_found(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, post(1000, 999, 0)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_FOUND);
    assert_tr(transfer_create(e, voiding(1000, 999, 0)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_FOUND);
    /* Account ids are not transfer ids. */
    assert_tr(transfer_create(e, post(1000, 1, 0)), BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_FOUND);
    assert_false(transfer_exists(e, 1000));
}

static void test_pending_transfer_not_pending(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 1, 2, 10)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1001, 1000, 0)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_PENDING);
    assert_tr(transfer_create(e, voiding(1001, 1000, 0)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_PENDING);
    /* A post is not a pending transfer either. */
    assert_tr(transfer_create(e, pending(1002, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1003, 1002, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1004, 1003, 0)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_PENDING);
    assert_false(transfer_exists(e, 1001));
    assert_false(transfer_exists(e, 1004));
}

/* Posts and voids of pending 1000 (1 -> 2, 10) that differ in one resolved field. */
static void different_field_check(bl_engine_t *e, int field, uint32_t want) {
    for (int kind = 0; kind < 2; kind++) {
        bl_transfer_t t = kind == 0 ? post(1001, 1000, 0) : voiding(1001, 1000, 0);
        switch (field) {
        case 0:
            t.debit_account_id = 3;
            break;
        case 1:
            t.credit_account_id = 3;
            break;
        case 2:
            t.ledger = OTHER_LEDGER;
            break;
        case 3:
            t.code = TCODE + 1;
            break;
        }
        assert_tr(transfer_create(e, t), want);
    }
    assert_false(transfer_exists(e, 1001));
    assert_balances(e, 1, 10, 0, 0, 0);
}

static void test_pending_transfer_has_different_debit_account_id(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    different_field_check(e, 0, BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID);
    /* Even to an account that does not exist. */
    bl_transfer_t t = post(1001, 1000, 0);
    t.debit_account_id = 99;
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID);
}

static void test_pending_transfer_has_different_credit_account_id(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    different_field_check(e, 1,
                          BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID);
}

static void test_pending_transfer_has_different_ledger(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    different_field_check(e, 2, BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_LEDGER);
}

static void test_pending_transfer_has_different_code(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    different_field_check(e, 3, BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_CODE);
}

static void test_exceeds_pending_transfer_amount(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1001, 1000, 11)),
              BL_CREATE_TRANSFER_EXCEEDS_PENDING_TRANSFER_AMOUNT);
    assert_tr(transfer_create(e, post(1001, 1000, BL_U128_MAX - 1)),
              BL_CREATE_TRANSFER_EXCEEDS_PENDING_TRANSFER_AMOUNT);
    assert_false(transfer_exists(e, 1001));
    assert_balances(e, 1, 10, 0, 0, 0);
    /* The pending amount itself is fine. */
    assert_tr(transfer_create(e, post(1001, 1000, 10)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 0, 10, 0, 0);
}

static void test_pending_transfer_has_different_amount(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1001, 1000, 9)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT);
    assert_tr(transfer_create(e, voiding(1001, 1000, 11)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT);
    assert_tr(transfer_create(e, voiding(1001, 1000, 1)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT);
    assert_false(transfer_exists(e, 1001));
    assert_balances(e, 1, 10, 0, 0, 0);
    assert_tr(transfer_create(e, voiding(1001, 1000, 10)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 0, 0, 0, 0);
}

static void test_pending_transfer_already_posted(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1001, 1000, 3)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1002, 1000, 3)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_POSTED);
    assert_tr(transfer_create(e, voiding(1002, 1000, 0)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_POSTED);
    assert_false(transfer_exists(e, 1002));
    assert_balances(e, 1, 0, 3, 0, 0);
    assert_balances(e, 2, 0, 0, 0, 3);
}

static void test_pending_transfer_already_voided(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1001, 1000, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1002, 1000, 0)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_VOIDED);
    assert_tr(transfer_create(e, voiding(1002, 1000, 0)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_VOIDED);
    assert_false(transfer_exists(e, 1002));
    assert_balances(e, 1, 0, 0, 0, 0);
}

static void test_pending_transfer_expired(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 1)), BL_CREATE_TRANSFER_OK);
    block_empty_at(e, deadline_of(e, 1000));
    assert_balances(e, 1, 0, 0, 0, 0);
    assert_tr(transfer_create(e, post(1001, 1000, 0)), BL_CREATE_TRANSFER_PENDING_TRANSFER_EXPIRED);
    assert_tr(transfer_create(e, voiding(1001, 1000, 0)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_EXPIRED);
    assert_false(transfer_exists(e, 1001));
    assert_balances(e, 1, 0, 0, 0, 0);
    assert_balances(e, 2, 0, 0, 0, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* 38..46: overflow and balance limits.                                                       */

static void test_overflows_debits_pending(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 20, 21, BL_U128_MAX, 0)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 20, BL_U128_MAX, 0, 0, 0);
    assert_tr(transfer_create(e, pending(1001, 20, 22, 1, 0)),
              BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_PENDING);
    assert_balances(e, 20, BL_U128_MAX, 0, 0, 0);
    assert_balances(e, 22, 0, 0, 0, 0);
    assert_false(transfer_exists(e, 1001));
}

static void test_overflows_credits_pending(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 20, 21, BL_U128_MAX, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1001, 23, 21, 1, 0)),
              BL_CREATE_TRANSFER_OVERFLOWS_CREDITS_PENDING);
    assert_balances(e, 21, 0, 0, BL_U128_MAX, 0);
    assert_balances(e, 23, 0, 0, 0, 0);
    /* Both sides overflow: debits_pending first. */
    assert_tr(transfer_create(e, pending(1001, 20, 21, 1, 0)),
              BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_PENDING);
}

static void test_overflows_debits_posted(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 24, 25, BL_U128_MAX)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 24, 0, BL_U128_MAX, 0, 0);
    assert_tr(transfer_create(e, plain(1001, 24, 26, 1)),
              BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_POSTED);
    assert_balances(e, 24, 0, BL_U128_MAX, 0, 0);
    assert_balances(e, 26, 0, 0, 0, 0);
}

static void test_overflows_credits_posted(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 24, 25, BL_U128_MAX)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1001, 27, 25, 1)),
              BL_CREATE_TRANSFER_OVERFLOWS_CREDITS_POSTED);
    assert_balances(e, 25, 0, 0, 0, BL_U128_MAX);
    assert_balances(e, 27, 0, 0, 0, 0);
    /* Both sides overflow: debits_posted first. */
    assert_tr(transfer_create(e, plain(1001, 24, 25, 1)),
              BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_POSTED);
}

static void test_overflows_debits(void **state) {
    bl_engine_t *e = E(state);
    /* debits_pending 5, then a plain transfer of 2^128-5: posted fits, the sum does not. */
    assert_tr(transfer_create(e, pending(1000, 20, 21, 5, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1001, 20, 22, BL_U128_MAX - 4)),
              BL_CREATE_TRANSFER_OVERFLOWS_DEBITS);
    assert_balances(e, 20, 5, 0, 0, 0);
    assert_balances(e, 22, 0, 0, 0, 0);
    /* The largest amount that fits. */
    assert_tr(transfer_create(e, plain(1001, 20, 22, BL_U128_MAX - 5)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 20, 5, BL_U128_MAX - 5, 0, 0);
    /* And a pending transfer on top of posted debits. */
    assert_tr(transfer_create(e, pending(1002, 20, 23, 1, 0)), BL_CREATE_TRANSFER_OVERFLOWS_DEBITS);
}

static void test_overflows_credits(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 20, 21, 5, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1001, 22, 21, BL_U128_MAX - 4)),
              BL_CREATE_TRANSFER_OVERFLOWS_CREDITS);
    assert_balances(e, 21, 0, 0, 5, 0);
    assert_balances(e, 22, 0, 0, 0, 0);
    /* Both sums overflow: debits first. */
    assert_tr(transfer_create(e, pending(1002, 23, 24, 7, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1003, 23, 21, BL_U128_MAX - 4)),
              BL_CREATE_TRANSFER_OVERFLOWS_DEBITS);
}

static void test_exceeds_credits(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 10, 2, 1)), BL_CREATE_TRANSFER_EXCEEDS_CREDITS);
    assert_tr(transfer_create(e, pending(1000, 10, 2, 1, 0)), BL_CREATE_TRANSFER_EXCEEDS_CREDITS);
    fund(e, 10, 100);
    /* Up to credits_posted exactly. */
    assert_tr(transfer_create(e, pending(1001, 10, 2, 60, 0)), BL_CREATE_TRANSFER_OK);
    /* Pending debits count: 60 + 41 > 100. */
    assert_tr(transfer_create(e, plain(1002, 10, 2, 41)), BL_CREATE_TRANSFER_EXCEEDS_CREDITS);
    assert_tr(transfer_create(e, plain(1002, 10, 2, 40)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1003, 10, 2, 1)), BL_CREATE_TRANSFER_EXCEEDS_CREDITS);
    assert_balances(e, 10, 60, 40, 0, 100);
    /* Pending credits do not count as credits. */
    assert_tr(transfer_create(e, pending(1004, 2, 10, 50, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1003, 10, 2, 1)), BL_CREATE_TRANSFER_EXCEEDS_CREDITS);
    /* Voiding a pending debit makes room again. */
    assert_tr(transfer_create(e, voiding(1005, 1001, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1003, 10, 2, 60)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 10, 0, 100, 50, 100);
    /* Credit side of the rule: receiving is always fine. */
    assert_tr(transfer_create(e, plain(1006, 3, 10, 5)), BL_CREATE_TRANSFER_OK);
}

static void test_exceeds_debits(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 2, 11, 1)), BL_CREATE_TRANSFER_EXCEEDS_DEBITS);
    assert_tr(transfer_create(e, pending(1000, 2, 11, 1, 0)), BL_CREATE_TRANSFER_EXCEEDS_DEBITS);
    drain(e, 11, 100);
    assert_tr(transfer_create(e, pending(1001, 2, 11, 60, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1002, 2, 11, 41)), BL_CREATE_TRANSFER_EXCEEDS_DEBITS);
    assert_tr(transfer_create(e, plain(1002, 2, 11, 40)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1003, 2, 11, 1)), BL_CREATE_TRANSFER_EXCEEDS_DEBITS);
    assert_balances(e, 11, 0, 100, 60, 40);
    /* Pending debits do not count as debits. */
    assert_tr(transfer_create(e, pending(1004, 11, 3, 50, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1003, 2, 11, 1)), BL_CREATE_TRANSFER_EXCEEDS_DEBITS);
    /* Debiting the account is always fine. */
    assert_tr(transfer_create(e, plain(1005, 11, 3, 5)), BL_CREATE_TRANSFER_OK);
}

static void test_capacity_exhausted(void **state) {
    bl_engine_t *e = engine_with_accounts(3);
    bl_transfer_t setup_events[3] = {plain(1000, 1, 2, 10), pending(1001, 1, 2, 20, 0),
                                     pending(1002, 3, 4, 30, 0)};
    uint32_t codes[8];
    transfers_create(e, setup_events, 3, codes);
    for (int i = 0; i < 3; i++) {
        assert_tr(codes[i], BL_CREATE_TRANSFER_OK);
    }
    assert_int_equal(bl_engine_transfers_count(e), 3);

    bl_transfer_t events[8] = {
        plain(1003, 1, 2, 1),      /* new plain: 47 */
        pending(1003, 1, 2, 1, 0), /* new pending: 47 */
        post(1003, 1001, 0),       /* post takes a slot: 47 */
        voiding(1003, 1002, 0),    /* void takes a slot: 47 */
        plain(1000, 1, 2, 10),     /* exists */
        plain(1004, 1, 2, 0),      /* its own code */
        post(1004, 1001, 21),      /* its own code */
        plain(1004, 10, 2, 1),     /* exceeds_credits before capacity */
    };
    transfers_create(e, events, 8, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED);
    assert_tr(codes[2], BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED);
    assert_tr(codes[3], BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED);
    assert_tr(codes[4], BL_CREATE_TRANSFER_EXISTS);
    assert_tr(codes[5], BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO);
    assert_tr(codes[6], BL_CREATE_TRANSFER_EXCEEDS_PENDING_TRANSFER_AMOUNT);
    assert_tr(codes[7], BL_CREATE_TRANSFER_EXCEEDS_CREDITS);
    /* Nothing changed: the pendings are still pending. */
    assert_int_equal(bl_engine_transfers_count(e), 3);
    assert_false(transfer_exists(e, 1003));
    assert_balances(e, 1, 20, 10, 0, 0);
    assert_balances(e, 3, 30, 0, 0, 0);
    bl_engine_destroy(e);
}

static void test_capacity_expiry_takes_no_slot(void **state) {
    bl_engine_t *e = engine_with_accounts(2);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 1)), BL_CREATE_TRANSFER_OK);
    block_empty_at(e, deadline_of(e, 1000));
    assert_balances(e, 1, 0, 0, 0, 0);
    assert_int_equal(bl_engine_transfers_count(e), 1);
    assert_tr(transfer_create(e, plain(1001, 1, 2, 10)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1002, 1, 2, 10)), BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED);
    bl_engine_destroy(e);
}

/* ------------------------------------------------------------------------------------------ */
/* Precedence: plain and pending.                                                             */

static void test_precedence_plain_validation_order(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t;

    t = plain(0, 0, 0, 0);
    t.ledger = 0;
    t.code = 0;
    t.timestamp = 1;
    t.flags = 0x40;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_TIMESTAMP_MUST_BE_ZERO); /* 3 < 4 */
    t.timestamp = 0;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_RESERVED_FLAG); /* 4 < 5 */
    t.flags = BL_TRANSFER_PENDING | BL_TRANSFER_VOID_PENDING;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_ID_MUST_NOT_BE_ZERO); /* 5 < 7 */
    t.id = BL_U128_MAX;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_ID_MUST_NOT_BE_INT_MAX); /* 6 < 7 */
    t.id = 1000;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_FLAGS_ARE_MUTUALLY_EXCLUSIVE); /* 7 < 8 */
    t.flags = 0;
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO); /* 8<10 */
    t.debit_account_id = BL_U128_MAX;
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX); /* 9 < 10 */
    t.debit_account_id = 1;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO);
    t.credit_account_id = BL_U128_MAX;
    t.debit_account_id = BL_U128_MAX;
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX); /* 9 < 11, 12 */
    t.debit_account_id = 1;
    t.credit_account_id = 1;
    t.pending_id = 5;
    t.timeout = 3;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT); /* 12 < 13 */
    t.credit_account_id = 99; /* missing, but found only later */
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_ID_MUST_BE_ZERO); /* 13 < 17 */
    t.pending_id = 0;
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER); /* 17 < 18 */
    t.timeout = 0;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO); /* 18 < 19 */
    t.amount = 1;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_LEDGER_MUST_NOT_BE_ZERO); /* 19 < 20 */
    t.ledger = LEDGER;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_CODE_MUST_NOT_BE_ZERO); /* 20 < 23 */
    t.code = TCODE;
    t.debit_account_id = 98;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_DEBIT_ACCOUNT_NOT_FOUND); /* 23 < 24 */
    t.debit_account_id = 7;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND); /* 24 < 25 */
    t.credit_account_id = 2;
    t.ledger = 9;
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER); /* 25 < 26 */
    t.debit_account_id = 10;                                          /* would exceed credits */
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS); /* 26 < 45 */
    t.ledger = LEDGER;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_EXCEEDS_CREDITS);
    assert_false(transfer_exists(e, 1000));
    assert_int_equal(bl_engine_transfers_count(e), 0);
}

static void test_precedence_code_before_exists(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 1, 2, 10)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t t = plain(1000, 1, 2, 10);
    t.code = 0;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_CODE_MUST_NOT_BE_ZERO);
    t = plain(1000, 1, 2, 0);
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO);
}

static void test_precedence_exists_with_different_fields_before_not_found(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 1, 2, 10)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1000, 99, 2, 10)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_tr(transfer_create(e, plain(1000, 1, 98, 10)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_tr(transfer_create(e, plain(1000, 1, 7, 10)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
}

static void test_precedence_exists_before_exceeds_credits(void **state) {
    bl_engine_t *e = E(state);
    fund(e, 10, 10);
    assert_tr(transfer_create(e, plain(1000, 10, 2, 10)), BL_CREATE_TRANSFER_OK);
    /* The same transfer would now exceed credits, but it exists. */
    assert_tr(transfer_create(e, plain(1000, 10, 2, 10)), BL_CREATE_TRANSFER_EXISTS);
    assert_tr(transfer_create(e, plain(1000, 10, 2, 11)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_balances(e, 10, 0, 10, 0, 10);
}

static void test_precedence_overflow_before_exceeds_credits(void **state) {
    bl_engine_t *e = E(state);
    /* Account 10 (debits_must_not_exceed_credits) with credits 2^128-1 and debits 2^128-1:
     * one more debit both overflows and exceeds credits. */
    fund(e, 10, BL_U128_MAX);
    drain(e, 10, BL_U128_MAX);
    assert_balances(e, 10, 0, BL_U128_MAX, 0, BL_U128_MAX);
    assert_tr(transfer_create(e, plain(1000, 10, 2, 1)),
              BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_POSTED);
    assert_tr(transfer_create(e, pending(1000, 10, 2, 1, 0)), BL_CREATE_TRANSFER_OVERFLOWS_DEBITS);
    /* Mirror: account 11 (credits_must_not_exceed_debits) with debits and credits at the
     * top (counterparts 28 and 29: account 6 is already at the top). */
    assert_tr(transfer_create(e, plain(g_fund_id++, 11, 28, BL_U128_MAX)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(g_fund_id++, 29, 11, BL_U128_MAX)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 11, 0, BL_U128_MAX, 0, BL_U128_MAX);
    assert_tr(transfer_create(e, plain(1000, 2, 11, 1)),
              BL_CREATE_TRANSFER_OVERFLOWS_CREDITS_POSTED);
    assert_tr(transfer_create(e, pending(1000, 2, 11, 1, 0)), BL_CREATE_TRANSFER_OVERFLOWS_CREDITS);
}

static void test_precedence_pending_overflow_before_exceeds_credits(void **state) {
    bl_engine_t *e = E(state);
    fund(e, 10, BL_U128_MAX);
    assert_tr(transfer_create(e, pending(1000, 10, 2, BL_U128_MAX, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1001, 10, 3, 1, 0)),
              BL_CREATE_TRANSFER_OVERFLOWS_DEBITS_PENDING);
}

static void test_precedence_exceeds_credits_before_capacity(void **state) {
    bl_engine_t *e = engine_with_accounts(1);
    assert_tr(transfer_create(e, plain(1000, 1, 2, 10)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1001, 10, 2, 10)), BL_CREATE_TRANSFER_EXCEEDS_CREDITS);
    assert_tr(transfer_create(e, plain(1001, 2, 11, 10)), BL_CREATE_TRANSFER_EXCEEDS_DEBITS);
    assert_tr(transfer_create(e, plain(1001, 1, 99, 10)),
              BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND);
    assert_tr(transfer_create(e, plain(1001, 1, 2, 10)), BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED);
    bl_engine_destroy(e);
}

/* ------------------------------------------------------------------------------------------ */
/* Precedence: post and void (3, 4, 5, 6, 7, 9, 11, 12, 14, 15, 16, 17, 21, 22, 27, 28, 29,  */
/* 30, 31, 32, 35, 36, 37, 33, 34, 40..43, 47).                                               */

static void test_precedence_post_validation_order(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = post(0, 0, 0);
    t.timestamp = 9;
    t.flags |= 0x100;
    t.timeout = 1;
    t.debit_account_id = BL_U128_MAX;
    t.credit_account_id = BL_U128_MAX;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_TIMESTAMP_MUST_BE_ZERO);
    t.timestamp = 0;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_RESERVED_FLAG);
    t.flags = BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_ID_MUST_NOT_BE_ZERO);
    t.id = BL_U128_MAX;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_ID_MUST_NOT_BE_INT_MAX);
    t.id = 1000;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_FLAGS_ARE_MUTUALLY_EXCLUSIVE);
    t.flags = BL_TRANSFER_POST_PENDING;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX);
    t.debit_account_id = 3;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX);
    t.credit_account_id = 3;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT);
    t.credit_account_id = 4;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_ZERO);
    t.pending_id = BL_U128_MAX;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_INT_MAX);
    t.pending_id = 1000;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_ID_MUST_BE_DIFFERENT);
    t.pending_id = 2000;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER);
    t.timeout = 0;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_FOUND);
    assert_false(transfer_exists(e, 1000));
}

static void test_precedence_post_timeout_before_exists(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1001, 1000, 0)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t t = post(1001, 1000, 0);
    t.timeout = 5;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER);
    t = post(1001, 0, 0);
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_ID_MUST_NOT_BE_ZERO);
}

static void test_precedence_post_exists_before_pending_checks(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1001, 1000, 0)), BL_CREATE_TRANSFER_OK);
    /* 22 before 35: the pending is posted, but this post is the one that posted it. */
    assert_tr(transfer_create(e, post(1001, 1000, 0)), BL_CREATE_TRANSFER_EXISTS);
    /* 21 before 27: a different (missing) pending_id. */
    assert_tr(transfer_create(e, post(1001, 5555, 0)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    /* 21 before 33: an amount above the pending amount. */
    assert_tr(transfer_create(e, post(1001, 1000, 11)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    /* An existing plain transfer's id sent as a post: 21. */
    assert_tr(transfer_create(e, plain(1002, 1, 2, 5)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1002, 1000, 0)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    /* The pending's own id as a post id: 21, not 16 (they differ) nor 35. */
    assert_tr(transfer_create(e, pending(1003, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1003, 1000, 0)),
              BL_CREATE_TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_balances(e, 1, 10, 15, 0, 0);
}

static void test_precedence_post_not_pending_before_different_fields(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(1000, 1, 2, 10)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t t = post(1001, 1000, 99);
    t.debit_account_id = 3;
    t.code = 77;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_TRANSFER_NOT_PENDING);
}

static void test_precedence_post_different_fields_order(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t t = post(1001, 1000, 0);
    t.debit_account_id = 3;
    t.credit_account_id = 4;
    t.ledger = OTHER_LEDGER;
    t.code = TCODE + 1;
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID);
    t.debit_account_id = 1;
    assert_tr(transfer_create(e, t),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID);
    t.credit_account_id = 0;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_LEDGER);
    t.ledger = LEDGER;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_CODE);
    t.code = 0;
    t.amount = 11;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_EXCEEDS_PENDING_TRANSFER_AMOUNT);
    t.amount = 10;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_OK);
}

static void test_precedence_different_fields_before_already_resolved(void **state) {
    /* 29..32 come before 35..37. */
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1002, 1, 2, 10, 1)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1010, 1000, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1011, 1001, 0)), BL_CREATE_TRANSFER_OK);
    block_empty_at(e, deadline_of(e, 1002));

    const bl_u128_t pendings[3] = {1000, 1001, 1002};
    for (int i = 0; i < 3; i++) {
        for (int field = 0; field < 4; field++) {
            bl_transfer_t t = i == 1 ? voiding(1020, pendings[i], 0) : post(1020, pendings[i], 0);
            uint32_t want = 0;
            switch (field) {
            case 0:
                t.debit_account_id = 3;
                want = BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID;
                break;
            case 1:
                t.credit_account_id = 3;
                want = BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID;
                break;
            case 2:
                t.ledger = OTHER_LEDGER;
                want = BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_LEDGER;
                break;
            case 3:
                t.code = TCODE + 1;
                want = BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_CODE;
                break;
            }
            assert_tr(transfer_create(e, t), want);
        }
    }
}

static void test_precedence_already_posted_before_exceeds_amount(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1001, 1000, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1002, 1000, 11)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_POSTED);
    assert_tr(transfer_create(e, voiding(1002, 1000, 3)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_POSTED);
}

static void test_precedence_already_voided_before_amount_checks(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1001, 1000, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1002, 1000, 3)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_VOIDED);
    assert_tr(transfer_create(e, post(1002, 1000, 11)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_VOIDED);
}

static void test_precedence_expired_before_amount_checks(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 1)), BL_CREATE_TRANSFER_OK);
    block_empty_at(e, deadline_of(e, 1000) + 5);
    assert_tr(transfer_create(e, post(1001, 1000, 11)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_EXPIRED);
    assert_tr(transfer_create(e, voiding(1001, 1000, 3)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_EXPIRED);
}

static void test_precedence_post_resolved_before_capacity(void **state) {
    bl_engine_t *e = engine_with_accounts(3);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1002, 1000, 0)), BL_CREATE_TRANSFER_OK);
    /* Full. */
    assert_tr(transfer_create(e, post(1003, 1000, 0)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_POSTED);
    assert_tr(transfer_create(e, post(1002, 1000, 0)), BL_CREATE_TRANSFER_EXISTS);
    assert_tr(transfer_create(e, voiding(1003, 1001, 1)),
              BL_CREATE_TRANSFER_PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT);
    assert_tr(transfer_create(e, voiding(1003, 1001, 0)), BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED);
    assert_balances(e, 1, 10, 10, 0, 0);
    bl_engine_destroy(e);
}

/* ------------------------------------------------------------------------------------------ */
/* Behaviour: balances, post, void, stored records.                                           */

static void test_plain_balances(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t events[3] = {plain(1000, 1, 2, 100), plain(1001, 2, 3, 30), plain(1002, 3, 1, 5)};
    uint32_t codes[3];
    transfers_create(e, events, 3, codes);
    assert_balances(e, 1, 0, 100, 0, 5);
    assert_balances(e, 2, 0, 30, 0, 100);
    assert_balances(e, 3, 0, 5, 0, 30);
}

static void test_post_full_amount_zero(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 100, 0)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 100, 0, 0, 0);
    assert_balances(e, 2, 0, 0, 100, 0);
    assert_tr(transfer_create(e, post(1001, 1000, 0)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 0, 100, 0, 0);
    assert_balances(e, 2, 0, 0, 0, 100);
    assert_u128_equal(transfer_must_get(e, 1001).amount, 100);
}

static void test_post_partial(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 100, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 50, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, post(1002, 1000, 30)), BL_CREATE_TRANSFER_OK);
    /* The whole pending amount of 1000 leaves pending; 30 is posted. */
    assert_balances(e, 1, 50, 30, 0, 0);
    assert_balances(e, 2, 0, 0, 50, 30);
    assert_u128_equal(transfer_must_get(e, 1002).amount, 30);
    /* Post of the exact pending amount. */
    assert_tr(transfer_create(e, post(1003, 1001, 50)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 0, 80, 0, 0);
    assert_balances(e, 2, 0, 0, 0, 80);
}

static void test_void(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 100, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1001, 1, 2, 50, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1002, 1000, 0)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 50, 0, 0, 0);
    assert_balances(e, 2, 0, 0, 50, 0);
    assert_tr(transfer_create(e, voiding(1003, 1001, 50)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 0, 0, 0, 0);
    assert_balances(e, 2, 0, 0, 0, 0);
    /* The pending transfers themselves are unchanged. */
    bl_transfer_t p = transfer_must_get(e, 1000);
    assert_int_equal(p.flags, BL_TRANSFER_PENDING);
    assert_u128_equal(p.amount, 100);
}

static void test_post_void_stored_records_resolved(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t p = pending(1000, 3, 4, 100, 3600);
    p.code = 33;
    p.user_data_128 = 1;
    assert_tr(transfer_create(e, p), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1001, 4, 5, 70, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1002, 5, 3, 40, 0)), BL_CREATE_TRANSFER_OK);

    /* A post with every optional field 0 and user data of its own. */
    bl_transfer_t q = post(1010, 1000, 0);
    q.user_data_128 = 9;
    q.user_data_64 = 8;
    q.user_data_32 = 7;
    uint64_t ts = ts_next(e);
    assert_tr(transfer_create_at(e, ts, q), BL_CREATE_TRANSFER_OK);
    bl_transfer_t want = transfer_make(1010, 3, 4, 100, LEDGER, 33, BL_TRANSFER_POST_PENDING);
    want.pending_id = 1000;
    want.user_data_128 = 9;
    want.user_data_64 = 8;
    want.user_data_32 = 7;
    want.timestamp = ts;
    bl_transfer_t got = transfer_must_get(e, 1010);
    assert_memory_equal(&got, &want, sizeof(want));

    /* A partial post with the fields given explicitly. */
    bl_transfer_t r = transfer_make(1011, 4, 5, 20, LEDGER, TCODE, BL_TRANSFER_POST_PENDING);
    r.pending_id = 1001;
    ts = ts_next(e);
    assert_tr(transfer_create_at(e, ts, r), BL_CREATE_TRANSFER_OK);
    r.timestamp = ts;
    got = transfer_must_get(e, 1011);
    assert_memory_equal(&got, &r, sizeof(r));

    /* A void: the stored amount is the pending amount. */
    bl_transfer_t v = voiding(1012, 1002, 0);
    v.code = TCODE; /* given, equal */
    ts = ts_next(e);
    assert_tr(transfer_create_at(e, ts, v), BL_CREATE_TRANSFER_OK);
    want = transfer_make(1012, 5, 3, 40, LEDGER, TCODE, BL_TRANSFER_VOID_PENDING);
    want.pending_id = 1002;
    want.timestamp = ts;
    got = transfer_must_get(e, 1012);
    assert_memory_equal(&got, &want, sizeof(want));

    /* A linked post keeps its linked flag. */
    assert_tr(transfer_create(e, pending(1003, 1, 2, 1, 0)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t chain[2] = {linked(post(1013, 1003, 0)), plain(1014, 1, 2, 1)};
    uint32_t codes[2];
    transfers_create(e, chain, 2, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_OK);
    assert_tr(codes[1], BL_CREATE_TRANSFER_OK);
    assert_int_equal(transfer_must_get(e, 1013).flags,
                     BL_TRANSFER_POST_PENDING | BL_TRANSFER_LINKED);
}

static void test_lookup_transfers(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t events[2] = {plain(1000, 1, 2, 1), plain(1001, 1, 2, 2)};
    uint32_t codes[2];
    transfers_create(e, events, 2, codes);
    bl_u128_t ids[6] = {1001, 5, 1000, 1001, 0, 1000};
    bl_transfer_t out[6];
    assert_int_equal(bl_engine_lookup_transfers(e, ids, 6, out), 4);
    assert_u128_equal(out[0].id, 1001);
    assert_u128_equal(out[1].id, 1000);
    assert_u128_equal(out[2].id, 1001);
    assert_u128_equal(out[3].id, 1000);
    assert_u128_equal(out[2].amount, 2);
    assert_int_equal(out[1].timestamp + 1, out[0].timestamp);
}

static void test_timestamps_per_event(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t events[4] = {plain(1000, 1, 2, 1), plain(1001, 1, 99, 1),
                               pending(1002, 1, 2, 1, 0), post(1003, 1002, 0)};
    uint32_t codes[4];
    uint64_t t = ts_next(e) + 1000;
    block_run_at(e, t, BL_OP_CREATE_TRANSFERS, events, 4, codes);
    assert_tr(codes[1], BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND);
    assert_int_equal(transfer_must_get(e, 1000).timestamp, t);
    assert_int_equal(transfer_must_get(e, 1002).timestamp, t + 2);
    assert_int_equal(transfer_must_get(e, 1003).timestamp, t + 3);
    assert_int_equal(bl_engine_timestamp_last(e), t + 3);
    assert_balances(e, 1, 0, 2, 0, 0);
}

static void test_accounts_and_transfers_in_one_block(void **state) {
    bl_engine_t *e = E(state);
    bl_account_t accounts[2] = {account_make(100, LEDGER, 1, 0), account_make(101, LEDGER, 1, 0)};
    bl_transfer_t transfers[1] = {plain(1000, 100, 101, 9)};
    bl_event_result_t r1[2], r2[1];
    bl_request_t requests[2] = {
        {.op = BL_OP_CREATE_ACCOUNTS, .count = 2, .events = accounts, .results = r1},
        {.op = BL_OP_CREATE_TRANSFERS, .count = 1, .events = transfers, .results = r2},
    };
    uint64_t t = ts_next(e);
    assert_int_equal(bl_engine_block_execute(e, t, requests, 2), 0);
    assert_int_equal(requests[0].results_count, 0);
    assert_int_equal(requests[1].results_count, 0);
    assert_int_equal(transfer_must_get(e, 1000).timestamp, t + 2);
    assert_balances(e, 100, 0, 9, 0, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Behaviour: expiry.                                                                         */

static void test_expiry_releases_pending(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(999, 1, 2, 7)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 100, 1)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t before = transfer_must_get(e, 1000);
    uint64_t deadline = deadline_of(e, 1000);
    assert_int_equal(deadline, before.timestamp + NS_PER_S);

    /* One nanosecond before the deadline: still pending. */
    bl_account_t a = account_make(200, LEDGER, 1, 0);
    uint32_t code;
    block_run_at(e, deadline - 1, BL_OP_CREATE_ACCOUNTS, &a, 1, &code);
    assert_ar(code, BL_CREATE_ACCOUNT_OK);
    assert_int_equal(account_must_get(e, 200).timestamp, deadline - 1);
    assert_balances(e, 1, 100, 7, 0, 0);
    assert_balances(e, 2, 0, 0, 100, 7);

    /* At the deadline: the expiry takes T, the block's event T + 1. */
    a = account_make(201, LEDGER, 1, 0);
    block_run_at(e, deadline, BL_OP_CREATE_ACCOUNTS, &a, 1, &code);
    assert_ar(code, BL_CREATE_ACCOUNT_OK);
    assert_int_equal(account_must_get(e, 201).timestamp, deadline + 1);
    assert_int_equal(bl_engine_timestamp_last(e), deadline + 1);
    assert_balances(e, 1, 0, 7, 0, 0);
    assert_balances(e, 2, 0, 0, 0, 7);
}

static void test_expiry_pending_unchanged_and_resend_exists(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t p = pending(1000, 1, 2, 100, 1);
    assert_tr(transfer_create(e, p), BL_CREATE_TRANSFER_OK);
    bl_transfer_t before = transfer_must_get(e, 1000);
    block_empty_at(e, deadline_of(e, 1000) + 3 * NS_PER_S);
    assert_int_equal(bl_engine_timestamp_last(e), deadline_of(e, 1000) + 3 * NS_PER_S);
    bl_transfer_t after = transfer_must_get(e, 1000);
    assert_memory_equal(&after, &before, sizeof(before));
    assert_balances(e, 1, 0, 0, 0, 0);
    /* Ids are unique forever: resending the expired pending gives exists. */
    assert_tr(transfer_create(e, p), BL_CREATE_TRANSFER_EXISTS);
    assert_balances(e, 1, 0, 0, 0, 0);
    assert_int_equal(bl_engine_transfers_count(e), 1);
}

static void test_expiry_before_requests_of_its_block(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 100, 2)), BL_CREATE_TRANSFER_OK);
    uint64_t deadline = deadline_of(e, 1000);
    bl_transfer_t events[2] = {post(1001, 1000, 0), plain(1002, 1, 2, 1)};
    uint32_t codes[2];
    block_run_at(e, deadline, BL_OP_CREATE_TRANSFERS, events, 2, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_PENDING_TRANSFER_EXPIRED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_OK);
    assert_int_equal(transfer_must_get(e, 1002).timestamp, deadline + 2);
    assert_balances(e, 1, 0, 1, 0, 0);
}

static void test_expiry_several_in_one_block(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t events[3] = {pending(1000, 1, 2, 10, 2), pending(1001, 3, 4, 20, 1),
                               pending(1002, 1, 2, 30, 100)};
    uint32_t codes[3];
    transfers_create(e, events, 3, codes);
    uint64_t latest = deadline_of(e, 1000);
    assert_true(deadline_of(e, 1001) < latest);
    /* Both 1000 and 1001 are due: two expiries, two timestamps, then the event. */
    bl_transfer_t t = plain(1003, 5, 6, 1);
    uint32_t code;
    block_run_at(e, latest + 10, BL_OP_CREATE_TRANSFERS, &t, 1, &code);
    assert_tr(code, BL_CREATE_TRANSFER_OK);
    assert_int_equal(transfer_must_get(e, 1003).timestamp, latest + 12);
    assert_balances(e, 1, 30, 0, 0, 0);
    assert_balances(e, 2, 0, 0, 30, 0);
    assert_balances(e, 3, 0, 0, 0, 0);
    assert_balances(e, 4, 0, 0, 0, 0);
}

static void test_expiry_empty_block(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t events[2] = {pending(1000, 1, 2, 10, 1), pending(1001, 1, 2, 20, 1)};
    uint32_t codes[2];
    transfers_create(e, events, 2, codes);
    uint64_t t = deadline_of(e, 1001);
    block_empty_at(e, t);
    assert_int_equal(bl_engine_timestamp_last(e), t + 1);
    assert_balances(e, 1, 0, 0, 0, 0);
    assert_u128_equal(bl_engine_transfers_count(e), 2);
}

static void test_timeout_zero_never_expires(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    bl_account_t a = account_make(200, LEDGER, 1, 0);
    uint32_t code;
    uint64_t t = ts_next(e) + 1000000 * NS_PER_S;
    block_run_at(e, t, BL_OP_CREATE_ACCOUNTS, &a, 1, &code);
    assert_int_equal(account_must_get(e, 200).timestamp, t);
    assert_balances(e, 1, 10, 0, 0, 0);
    assert_tr(transfer_create(e, post(1001, 1000, 0)), BL_CREATE_TRANSFER_OK);
}

static void test_resolved_pending_does_not_expire(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t events[3] = {pending(1000, 1, 2, 10, 1), pending(1001, 3, 4, 20, 1),
                               linked(pending(1002, 5, 6, 30, 1))};
    uint32_t codes[3];
    transfers_create(e, events, 3, codes);
    assert_tr(codes[2], BL_CREATE_TRANSFER_LINKED_EVENT_CHAIN_OPEN);
    uint64_t deadline = deadline_of(e, 1001);
    assert_tr(transfer_create(e, post(1010, 1000, 4)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1011, 1001, 0)), BL_CREATE_TRANSFER_OK);
    bl_u128_t digest = bl_engine_digest(e);

    /* Past every deadline: no expiry takes a timestamp, nothing changes. */
    bl_account_t a = account_make(200, LEDGER, 1, 0);
    uint32_t code;
    uint64_t t = deadline + 10 * NS_PER_S;
    block_run_at(e, t, BL_OP_CREATE_ACCOUNTS, &a, 1, &code);
    assert_int_equal(account_must_get(e, 200).timestamp, t);
    assert_balances(e, 1, 0, 4, 0, 0);
    assert_balances(e, 3, 0, 0, 0, 0);
    assert_balances(e, 5, 0, 0, 0, 0);
    bl_account_t stored = account_must_get(e, 200);
    assert_u128_equal(bl_engine_digest(e), digest + bl_hash128(&stored, sizeof(stored)));
}

static void test_expiry_of_rolled_back_pending_does_not_happen(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t chain[2] = {linked(pending(1000, 1, 2, 10, 1)), plain(1001, 1, 2, 0)};
    uint32_t codes[2];
    transfers_create(e, chain, 2, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO);
    bl_account_t a = account_make(200, LEDGER, 1, 0);
    uint32_t code;
    uint64_t t = ts_next(e) + 5 * NS_PER_S;
    block_run_at(e, t, BL_OP_CREATE_ACCOUNTS, &a, 1, &code);
    assert_int_equal(account_must_get(e, 200).timestamp, t);
    assert_balances(e, 1, 0, 0, 0, 0);
}

static void test_expiry_after_partial_effects_on_limits(void **state) {
    /* Expiry releases pending debits of a debits_must_not_exceed_credits account. */
    bl_engine_t *e = E(state);
    fund(e, 10, 50);
    assert_tr(transfer_create(e, pending(1000, 10, 2, 50, 1)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, plain(1001, 10, 2, 1)), BL_CREATE_TRANSFER_EXCEEDS_CREDITS);
    bl_transfer_t t = plain(1001, 10, 2, 50);
    uint32_t code;
    block_run_at(e, deadline_of(e, 1000), BL_OP_CREATE_TRANSFERS, &t, 1, &code);
    assert_tr(code, BL_CREATE_TRANSFER_OK);
    assert_balances(e, 10, 0, 50, 0, 50);
}

static void test_overflows_timeout_near_u64_max(void **state) {
    bl_engine_t *e = E(state);
    /* A normal timestamp with the largest timeout fits. */
    assert_tr(transfer_create(e, pending(1000, 1, 2, 1, UINT32_MAX)), BL_CREATE_TRANSFER_OK);
    /* A block at 2^64-1 - 10^9: the first pending (timeout 1) has deadline 2^64-1 exactly and
     * fits; the next, one nanosecond later, does not. Pending 1000 expires in an empty block
     * just before, so that the events' timestamps start at T. */
    uint64_t t = UINT64_MAX - NS_PER_S;
    block_empty_at(e, t - 1);
    assert_int_equal(bl_engine_timestamp_last(e), t - 1);
    bl_transfer_t events[6] = {
        pending(1001, 1, 2, 1, 1),          /* deadline 2^64-1: ok */
        pending(1002, 1, 2, 1, 1),          /* 2^64: overflows_timeout */
        pending(1003, 1, 2, 1, UINT32_MAX), /* overflows_timeout */
        pending(1004, 1, 2, 1, 0),          /* never expires: ok */
        plain(1005, 1, 2, 1),               /* no timeout: ok */
        pending(1006, 10, 2, 1, 2),         /* 44 before 45 */
    };
    uint32_t codes[6];
    block_run_at(e, t, BL_OP_CREATE_TRANSFERS, events, 6, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_OK);
    assert_tr(codes[1], BL_CREATE_TRANSFER_OVERFLOWS_TIMEOUT);
    assert_tr(codes[2], BL_CREATE_TRANSFER_OVERFLOWS_TIMEOUT);
    assert_tr(codes[3], BL_CREATE_TRANSFER_OK);
    assert_tr(codes[4], BL_CREATE_TRANSFER_OK);
    assert_tr(codes[5], BL_CREATE_TRANSFER_OVERFLOWS_TIMEOUT);
    assert_int_equal(transfer_must_get(e, 1001).timestamp, t);
    assert_false(transfer_exists(e, 1002));
    assert_balances(e, 1, 2, 1, 0, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Behaviour: linked chains.                                                                  */

static void test_chain_all_or_nothing(void **state) {
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, plain(999, 1, 2, 5)), BL_CREATE_TRANSFER_OK);
    bl_u128_t digest = bl_engine_digest(e);
    uint64_t count = bl_engine_transfers_count(e);
    bl_transfer_t chain[4] = {
        linked(plain(1000, 2, 10, 100)),                           /* funds 10 */
        linked(plain(1001, 10, 3, 100)),                           /* needs the funding above */
        linked(pending(1002, 3, 4, 50, 10)), plain(1003, 4, 5, 0), /* fails: amount 0 */
    };
    uint32_t codes[4];
    transfers_create(e, chain, 4, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[2], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[3], BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO);
    /* Balances rolled back, nothing stored, digest unchanged. */
    assert_balances(e, 2, 0, 0, 0, 5);
    assert_balances(e, 10, 0, 0, 0, 0);
    assert_balances(e, 3, 0, 0, 0, 0);
    assert_balances(e, 4, 0, 0, 0, 0);
    for (bl_u128_t id = 1000; id <= 1003; id++) {
        assert_false(transfer_exists(e, id));
    }
    assert_int_equal(bl_engine_transfers_count(e), count);
    assert_u128_equal(bl_engine_digest(e), digest);

    /* Without the failing event the chain lands: later events see the earlier ones. */
    chain[3].amount = 1;
    transfers_create(e, chain, 4, codes);
    for (int i = 0; i < 4; i++) {
        assert_tr(codes[i], BL_CREATE_TRANSFER_OK);
    }
    assert_balances(e, 10, 0, 100, 0, 100);
    assert_balances(e, 3, 50, 0, 0, 100);
    assert_balances(e, 4, 0, 1, 50, 0);
}

static void test_chain_first_failure_own_code(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t events[5] = {
        linked(plain(1000, 1, 2, 1)), linked(plain(1001, 1, 99, 1)), /* first failure */
        linked(plain(1002, 1, 2, 0)),                                /* would fail too */
        plain(1003, 1, 2, 1),                                        /* ends the chain */
        plain(1004, 1, 2, 1),                                        /* its own chain */
    };
    uint32_t codes[5];
    transfers_create(e, events, 5, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND);
    assert_tr(codes[2], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[3], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[4], BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 0, 1, 0, 0);
}

static void test_chain_rolled_back_pending_and_post(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t chain[3] = {linked(pending(1000, 1, 2, 10, 0)), linked(post(1001, 1000, 4)),
                              plain(1002, 1, 99, 1)};
    uint32_t codes[3];
    transfers_create(e, chain, 3, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[2], BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND);
    assert_false(transfer_exists(e, 1000));
    assert_false(transfer_exists(e, 1001));
    assert_balances(e, 1, 0, 0, 0, 0);
    assert_balances(e, 2, 0, 0, 0, 0);
    /* The ids are free again. */
    assert_tr(transfer_create(e, pending(1000, 3, 4, 7, 0)), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create(e, voiding(1001, 1000, 0)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 3, 0, 0, 0, 0);
}

static void test_chain_void_after_post_of_rolled_back(void **state) {
    /* A post inside a failing chain is rolled back: the pending can be voided afterwards. */
    bl_engine_t *e = E(state);
    assert_tr(transfer_create(e, pending(1000, 1, 2, 10, 0)), BL_CREATE_TRANSFER_OK);
    bl_transfer_t chain[3] = {linked(post(1001, 1000, 0)), linked(voiding(1002, 1000, 0)),
                              plain(1003, 1, 2, 1)};
    uint32_t codes[3];
    transfers_create(e, chain, 3, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_POSTED);
    assert_tr(codes[2], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_balances(e, 1, 10, 0, 0, 0);
    assert_tr(transfer_create(e, voiding(1002, 1000, 0)), BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 0, 0, 0, 0);
}

static void test_chain_exists_counts_as_success(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t chain[3] = {linked(plain(1000, 1, 2, 1)), linked(pending(1001, 1, 2, 2, 0)),
                              post(1002, 1001, 0)};
    uint32_t codes[3];
    transfers_create(e, chain, 3, codes);
    for (int i = 0; i < 3; i++) {
        assert_tr(codes[i], BL_CREATE_TRANSFER_OK);
    }
    bl_u128_t digest = bl_engine_digest(e);
    transfers_create(e, chain, 3, codes);
    for (int i = 0; i < 3; i++) {
        assert_tr(codes[i], BL_CREATE_TRANSFER_EXISTS);
    }
    assert_u128_equal(bl_engine_digest(e), digest);
    assert_balances(e, 1, 0, 3, 0, 0);
    /* A chain of an existing event and a new one lands. */
    bl_transfer_t mixed[2] = {linked(plain(1000, 1, 2, 1)), plain(1003, 1, 2, 4)};
    transfers_create(e, mixed, 2, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_EXISTS);
    assert_tr(codes[1], BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 0, 7, 0, 0);
}

static void test_chain_open_at_end(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t events[4] = {plain(1000, 1, 2, 1), linked(plain(1001, 1, 2, 2)),
                               linked(plain(1002, 0, 0, 0)), linked(plain(1003, 1, 2, 3))};
    uint32_t codes[4];
    transfers_create(e, events, 4, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_OK);
    assert_tr(codes[1], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[2], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[3], BL_CREATE_TRANSFER_LINKED_EVENT_CHAIN_OPEN);
    assert_balances(e, 1, 0, 1, 0, 0);
    assert_false(transfer_exists(e, 1001));
    assert_false(transfer_exists(e, 1003));
}

static void test_chain_balance_limit_inside_chain(void **state) {
    /* A later event of a chain sees an earlier one's effect on a limit, and a failure there
     * rolls back the earlier one. */
    bl_engine_t *e = E(state);
    bl_transfer_t chain[3] = {linked(plain(1000, 2, 10, 30)), linked(plain(1001, 10, 3, 20)),
                              plain(1002, 10, 3, 11)};
    uint32_t codes[3];
    transfers_create(e, chain, 3, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[2], BL_CREATE_TRANSFER_EXCEEDS_CREDITS);
    assert_balances(e, 10, 0, 0, 0, 0);
    chain[2].amount = 10;
    transfers_create(e, chain, 3, codes);
    assert_tr(codes[2], BL_CREATE_TRANSFER_OK);
    assert_balances(e, 10, 0, 30, 0, 30);
}

static void test_chain_capacity(void **state) {
    bl_engine_t *e = engine_with_accounts(2);
    bl_transfer_t chain[3] = {linked(plain(1000, 1, 2, 1)), linked(plain(1001, 1, 2, 1)),
                              plain(1002, 1, 2, 1)};
    uint32_t codes[3];
    transfers_create(e, chain, 3, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    assert_tr(codes[2], BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED);
    assert_int_equal(bl_engine_transfers_count(e), 0);
    /* Slots of the rolled-back chain are free. */
    transfers_create(e, chain + 1, 2, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_OK);
    assert_tr(codes[1], BL_CREATE_TRANSFER_OK);
    assert_int_equal(bl_engine_transfers_count(e), 2);
    bl_engine_destroy(e);
}

/* ------------------------------------------------------------------------------------------ */
/* Digest.                                                                                    */

static void digest_check(bl_engine_t *e, const bl_u128_t *transfer_ids, uint32_t transfers_count,
                         const resolved_pending_t *resolved, uint32_t resolved_count) {
    bl_u128_t want = digest_recompute(e, ACCOUNT_IDS, ACCOUNTS_COUNT, transfer_ids, transfers_count,
                                      resolved, resolved_count);
    assert_u128_equal(bl_engine_digest(e), want);
}

static void test_digest_recomputed_from_lookups(void **state) {
    bl_engine_t *e = E(state);
    digest_check(e, NULL, 0, NULL, 0);

    bl_u128_t ids[16];
    resolved_pending_t resolved[4];
    uint32_t n = 0, r = 0;

    bl_transfer_t setup_events[5] = {plain(1000, 1, 2, 11), pending(1001, 1, 2, 22, 0),
                                     pending(1002, 3, 4, 33, 0), pending(1003, 5, 6, 44, 1),
                                     pending(1004, 2, 3, 55, 0)};
    uint32_t codes[5];
    transfers_create(e, setup_events, 5, codes);
    for (int i = 0; i < 5; i++) {
        assert_tr(codes[i], BL_CREATE_TRANSFER_OK);
        ids[n++] = setup_events[i].id;
    }
    digest_check(e, ids, n, NULL, 0);

    bl_u128_t d0 = bl_engine_digest(e);
    assert_tr(transfer_create(e, post(1010, 1001, 20)), BL_CREATE_TRANSFER_OK);
    ids[n++] = 1010;
    resolved[r++] = (resolved_pending_t){1001, BL_PENDING_DIGEST_POSTED};
    digest_check(e, ids, n, resolved, r);
    assert_true(bl_engine_digest(e) != d0);

    assert_tr(transfer_create(e, voiding(1011, 1002, 0)), BL_CREATE_TRANSFER_OK);
    ids[n++] = 1011;
    resolved[r++] = (resolved_pending_t){1002, BL_PENDING_DIGEST_VOIDED};
    digest_check(e, ids, n, resolved, r);

    bl_u128_t d1 = bl_engine_digest(e);
    block_empty_at(e, deadline_of(e, 1003));
    resolved[r++] = (resolved_pending_t){1003, BL_PENDING_DIGEST_EXPIRED};
    digest_check(e, ids, n, resolved, r);
    assert_true(bl_engine_digest(e) != d1);

    /* Failures and exists change nothing. */
    bl_u128_t d2 = bl_engine_digest(e);
    bl_transfer_t failures[4] = {post(1012, 1001, 0), plain(1000, 1, 2, 11), plain(1013, 1, 99, 1),
                                 voiding(1012, 1003, 0)};
    transfers_create(e, failures, 4, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_PENDING_TRANSFER_ALREADY_POSTED);
    assert_tr(codes[1], BL_CREATE_TRANSFER_EXISTS);
    assert_tr(codes[2], BL_CREATE_TRANSFER_CREDIT_ACCOUNT_NOT_FOUND);
    assert_tr(codes[3], BL_CREATE_TRANSFER_PENDING_TRANSFER_EXPIRED);
    assert_u128_equal(bl_engine_digest(e), d2);

    /* The state byte matters: 1003 counted as voided instead of expired does not match. */
    resolved[2].state = BL_PENDING_DIGEST_VOIDED;
    assert_true(bl_engine_digest(e) !=
                digest_recompute(e, ACCOUNT_IDS, ACCOUNTS_COUNT, ids, n, resolved, r));
}

static void test_digest_same_for_same_blocks(void **state) {
    /* Two engines with different partition counts (the group's and another) executing the
     * same blocks reach the same digest and the same last timestamp. */
    bl_engine_t *e = E(state);
    uint32_t saved = g_partitions;
    g_partitions = saved == 1 ? 2 : 1;
    bl_engine_t *f = engine_with_accounts(TEST_TRANSFERS_MAX);
    g_partitions = saved;
    bl_engine_t *engines[2] = {e, f};
    for (int k = 0; k < 2; k++) {
        bl_transfer_t events[4] = {plain(1000, 1, 2, 5), pending(1001, 2, 3, 6, 1),
                                   pending(1002, 3, 4, 7, 0), plain(1003, 1, 99, 1)};
        uint32_t codes[4];
        block_run_at(engines[k], 100000, BL_OP_CREATE_TRANSFERS, events, 4, codes);
        bl_transfer_t p = post(1004, 1002, 0);
        block_run_at(engines[k], 200000, BL_OP_CREATE_TRANSFERS, &p, 1, codes);
        block_empty_at(engines[k], 100001 + NS_PER_S);
    }
    assert_u128_equal(bl_engine_digest(e), bl_engine_digest(f));
    assert_int_equal(bl_engine_timestamp_last(e), bl_engine_timestamp_last(f));
    bl_engine_destroy(f);
}

/* ------------------------------------------------------------------------------------------ */

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_ok_plain),
        T(test_ok_pending),
        T(test_linked_event_failed),
        T(test_linked_event_chain_open),
        T(test_timestamp_must_be_zero),
        T(test_reserved_flag),
        T(test_id_must_not_be_zero),
        T(test_id_must_not_be_int_max),
        T(test_flags_are_mutually_exclusive),
        T(test_debit_account_id_must_not_be_zero),
        T(test_debit_account_id_must_not_be_int_max),
        T(test_credit_account_id_must_not_be_zero),
        T(test_credit_account_id_must_not_be_int_max),
        T(test_accounts_must_be_different),
        T(test_pending_id_must_be_zero),
        T(test_pending_id_must_not_be_zero),
        T(test_pending_id_must_not_be_int_max),
        T(test_pending_id_must_be_different),
        T(test_timeout_reserved_for_pending_transfer),
        T(test_amount_must_not_be_zero),
        T(test_ledger_must_not_be_zero),
        T(test_code_must_not_be_zero),
        T(test_exists_with_different_fields_plain),
        T(test_exists_with_different_fields_pending),
        T(test_exists_with_different_fields_post),
        T(test_exists_plain_and_pending),
        T(test_exists_post_zero_fields_match_resolved),
        T(test_exists_within_one_request),
        T(test_debit_account_not_found),
        T(test_credit_account_not_found),
        T(test_accounts_must_have_the_same_ledger),
        T(test_transfer_must_have_the_same_ledger_as_accounts),
        T(test_pending_transfer_not_found),
        T(test_pending_transfer_not_pending),
        T(test_pending_transfer_has_different_debit_account_id),
        T(test_pending_transfer_has_different_credit_account_id),
        T(test_pending_transfer_has_different_ledger),
        T(test_pending_transfer_has_different_code),
        T(test_exceeds_pending_transfer_amount),
        T(test_pending_transfer_has_different_amount),
        T(test_pending_transfer_already_posted),
        T(test_pending_transfer_already_voided),
        T(test_pending_transfer_expired),
        T(test_overflows_debits_pending),
        T(test_overflows_credits_pending),
        T(test_overflows_debits_posted),
        T(test_overflows_credits_posted),
        T(test_overflows_debits),
        T(test_overflows_credits),
        T(test_overflows_timeout_near_u64_max),
        T(test_exceeds_credits),
        T(test_exceeds_debits),
        T(test_capacity_exhausted),
        T(test_capacity_expiry_takes_no_slot),
        T(test_precedence_plain_validation_order),
        T(test_precedence_code_before_exists),
        T(test_precedence_exists_with_different_fields_before_not_found),
        T(test_precedence_exists_before_exceeds_credits),
        T(test_precedence_overflow_before_exceeds_credits),
        T(test_precedence_pending_overflow_before_exceeds_credits),
        T(test_precedence_exceeds_credits_before_capacity),
        T(test_precedence_post_validation_order),
        T(test_precedence_post_timeout_before_exists),
        T(test_precedence_post_exists_before_pending_checks),
        T(test_precedence_post_not_pending_before_different_fields),
        T(test_precedence_post_different_fields_order),
        T(test_precedence_different_fields_before_already_resolved),
        T(test_precedence_already_posted_before_exceeds_amount),
        T(test_precedence_already_voided_before_amount_checks),
        T(test_precedence_expired_before_amount_checks),
        T(test_precedence_post_resolved_before_capacity),
        T(test_plain_balances),
        T(test_post_full_amount_zero),
        T(test_post_partial),
        T(test_void),
        T(test_post_void_stored_records_resolved),
        T(test_lookup_transfers),
        T(test_timestamps_per_event),
        T(test_accounts_and_transfers_in_one_block),
        T(test_expiry_releases_pending),
        T(test_expiry_pending_unchanged_and_resend_exists),
        T(test_expiry_before_requests_of_its_block),
        T(test_expiry_several_in_one_block),
        T(test_expiry_empty_block),
        T(test_timeout_zero_never_expires),
        T(test_resolved_pending_does_not_expire),
        T(test_expiry_of_rolled_back_pending_does_not_happen),
        T(test_expiry_after_partial_effects_on_limits),
        T(test_chain_all_or_nothing),
        T(test_chain_first_failure_own_code),
        T(test_chain_rolled_back_pending_and_post),
        T(test_chain_void_after_post_of_rolled_back),
        T(test_chain_exists_counts_as_success),
        T(test_chain_open_at_end),
        T(test_chain_balance_limit_inside_chain),
        T(test_chain_capacity),
        T(test_digest_recomputed_from_lookups),
        T(test_digest_same_for_same_blocks),
    };
    int failed = 0;
    g_partitions = 1;
    failed += cmocka_run_group_tests_name("transfers, 1 partition", tests, NULL, NULL);
    g_partitions = 4;
    failed += cmocka_run_group_tests_name("transfers, 4 partitions", tests, NULL, NULL);
    return failed;
}
