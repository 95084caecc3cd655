/*
 * create_accounts and lookup_accounts through the engine, against PROTOCOL.md: one test per
 * result code (each event built to trigger exactly that code), the precedence order where two
 * codes apply, idempotency (exists vs exists_with_different_fields, field by field), linked
 * chains, capacity, lookups, timestamps handed out per event, and the block timestamp rule of
 * bl_engine_block_execute.
 *
 * Each test gets a fresh engine (TEST_ACCOUNTS_MAX accounts unless it needs a smaller table).
 * The whole group runs once with 1 partition and once with 4: results must not depend on it.
 */
#include "helpers.h"

#define A(e) ((bl_engine_t *)*(e))

static const uint32_t LEDGER = 700;
static const uint16_t CODE = 10;

static bl_account_t acct(bl_u128_t id) {
    return account_make(id, LEDGER, CODE, 0);
}

static bool account_exists(bl_engine_t *engine, bl_u128_t id) {
    bl_account_t a;
    return account_get(engine, id, &a);
}

/* ------------------------------------------------------------------------------------------ */
/* One test per result code.                                                                  */

static void test_ok(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t a = account_make(1, LEDGER, CODE, BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS);
    a.user_data_128 = ((bl_u128_t)0xaabb << 64) | 0xccdd;
    a.user_data_64 = 0x1122334455667788ull;
    a.user_data_32 = 0x99aabbccu;
    uint64_t t = ts_next(e);
    uint32_t code;
    block_run_at(e, t, BL_OP_CREATE_ACCOUNTS, &a, 1, &code);
    assert_ar(code, BL_CREATE_ACCOUNT_OK);
    assert_int_equal(bl_engine_accounts_count(e), 1);
    assert_int_equal(bl_engine_timestamp_last(e), t);

    bl_account_t stored = account_must_get(e, 1);
    bl_account_t want = a;
    want.timestamp = t;
    assert_memory_equal(&stored, &want, sizeof(want));
}

static void test_linked_event_failed(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t chain[2] = {account_make(1, LEDGER, CODE, BL_ACCOUNT_LINKED),
                             account_make(2, 0, CODE, 0)};
    uint32_t codes[2];
    accounts_create(e, chain, 2, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_LEDGER_MUST_NOT_BE_ZERO);
    assert_false(account_exists(e, 1));
    assert_false(account_exists(e, 2));
    assert_int_equal(bl_engine_accounts_count(e), 0);
}

static void test_linked_event_chain_open(void **state) {
    bl_engine_t *e = A(state);
    /* A single event with the linked flag is an open chain. */
    assert_ar(account_create(e, account_make(1, LEDGER, CODE, BL_ACCOUNT_LINKED)),
              BL_CREATE_ACCOUNT_LINKED_EVENT_CHAIN_OPEN);
    assert_false(account_exists(e, 1));

    /* A closed chain before the open one is not affected. */
    bl_account_t events[4] = {account_make(2, LEDGER, CODE, BL_ACCOUNT_LINKED), acct(3),
                              account_make(4, LEDGER, CODE, BL_ACCOUNT_LINKED),
                              account_make(5, LEDGER, CODE, BL_ACCOUNT_LINKED)};
    uint32_t codes[4];
    accounts_create(e, events, 4, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[2], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[3], BL_CREATE_ACCOUNT_LINKED_EVENT_CHAIN_OPEN);
    assert_true(account_exists(e, 2));
    assert_true(account_exists(e, 3));
    assert_false(account_exists(e, 4));
    assert_false(account_exists(e, 5));
    assert_int_equal(bl_engine_accounts_count(e), 2);
}

static void test_linked_event_chain_open_not_evaluated(void **state) {
    /* The events of an open chain are not evaluated: invalid ones get 1 and 2 too. */
    bl_engine_t *e = A(state);
    bl_account_t events[3] = {account_make(0, LEDGER, CODE, BL_ACCOUNT_LINKED),
                              account_make(7, LEDGER, CODE, BL_ACCOUNT_LINKED),
                              account_make(8, 0, 0, BL_ACCOUNT_LINKED)};
    uint32_t codes[3];
    accounts_create(e, events, 3, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[2], BL_CREATE_ACCOUNT_LINKED_EVENT_CHAIN_OPEN);
    assert_false(account_exists(e, 7));
    assert_int_equal(bl_engine_accounts_count(e), 0);
}

static void test_timestamp_must_be_zero(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t a = acct(1);
    a.timestamp = 1;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_TIMESTAMP_MUST_BE_ZERO);
    assert_false(account_exists(e, 1));
}

static void test_reserved_field(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t a = acct(1);
    a.reserved = 0x80000000u;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_RESERVED_FIELD);
    a.reserved = 1;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_RESERVED_FIELD);
    assert_false(account_exists(e, 1));
}

static void test_reserved_flag(void **state) {
    bl_engine_t *e = A(state);
    for (uint32_t bit = 4; bit < 16; bit++) {
        bl_account_t a = account_make(1, LEDGER, CODE, (uint16_t)(1u << bit));
        assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_RESERVED_FLAG);
    }
    assert_false(account_exists(e, 1));
    /* Every known flag is accepted (history with a balance rule). */
    assert_ar(account_create(
                  e, account_make(1, LEDGER, CODE,
                                  BL_ACCOUNT_HISTORY | BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS)),
              BL_CREATE_ACCOUNT_OK);
}

static void test_id_must_not_be_zero(void **state) {
    bl_engine_t *e = A(state);
    assert_ar(account_create(e, acct(0)), BL_CREATE_ACCOUNT_ID_MUST_NOT_BE_ZERO);
    assert_int_equal(bl_engine_accounts_count(e), 0);
}

static void test_id_must_not_be_int_max(void **state) {
    bl_engine_t *e = A(state);
    assert_ar(account_create(e, acct(BL_U128_MAX)), BL_CREATE_ACCOUNT_ID_MUST_NOT_BE_INT_MAX);
    assert_false(account_exists(e, BL_U128_MAX));
    /* The ids next to it are fine, high bits included. */
    assert_ar(account_create(e, acct(BL_U128_MAX - 1)), BL_CREATE_ACCOUNT_OK);
    assert_ar(account_create(e, acct((bl_u128_t)1 << 127)), BL_CREATE_ACCOUNT_OK);
    assert_true(account_exists(e, BL_U128_MAX - 1));
    assert_true(account_exists(e, (bl_u128_t)1 << 127));
}

static void test_flags_are_mutually_exclusive(void **state) {
    bl_engine_t *e = A(state);
    uint16_t both =
        BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS | BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS;
    assert_ar(account_create(e, account_make(1, LEDGER, CODE, both)),
              BL_CREATE_ACCOUNT_FLAGS_ARE_MUTUALLY_EXCLUSIVE);
    assert_ar(account_create(e, account_make(1, LEDGER, CODE, both | BL_ACCOUNT_HISTORY)),
              BL_CREATE_ACCOUNT_FLAGS_ARE_MUTUALLY_EXCLUSIVE);
    assert_false(account_exists(e, 1));
    assert_ar(
        account_create(e, account_make(1, LEDGER, CODE, BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS)),
        BL_CREATE_ACCOUNT_OK);
    assert_ar(
        account_create(e, account_make(2, LEDGER, CODE, BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS)),
        BL_CREATE_ACCOUNT_OK);
}

static void test_balances_must_be_zero(void **state) {
    bl_engine_t *e = A(state);
    for (int field = 0; field < 4; field++) {
        bl_account_t a = acct(1);
        bl_u128_t *balances[4] = {&a.debits_pending, &a.debits_posted, &a.credits_pending,
                                  &a.credits_posted};
        *balances[field] = field == 3 ? BL_U128_MAX : 1;
        assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_BALANCES_MUST_BE_ZERO);
    }
    assert_false(account_exists(e, 1));
}

static void test_ledger_must_not_be_zero(void **state) {
    bl_engine_t *e = A(state);
    assert_ar(account_create(e, account_make(1, 0, CODE, 0)),
              BL_CREATE_ACCOUNT_LEDGER_MUST_NOT_BE_ZERO);
    assert_false(account_exists(e, 1));
}

static void test_code_must_not_be_zero(void **state) {
    bl_engine_t *e = A(state);
    assert_ar(account_create(e, account_make(1, LEDGER, 0, 0)),
              BL_CREATE_ACCOUNT_CODE_MUST_NOT_BE_ZERO);
    assert_false(account_exists(e, 1));
}

static void test_exists_with_different_fields(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t a = account_make(1, LEDGER, CODE, BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS);
    a.user_data_128 = 5;
    a.user_data_64 = 6;
    a.user_data_32 = 7;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_OK);
    bl_account_t stored = account_must_get(e, 1);
    bl_u128_t digest = bl_engine_digest(e);

    /* Each field the client sets is compared. */
    for (int field = 0; field < 8; field++) {
        bl_account_t b = a;
        switch (field) {
        case 0:
            b.user_data_128 = 6;
            break;
        case 1:
            b.user_data_128 = a.user_data_128 | ((bl_u128_t)1 << 100);
            break;
        case 2:
            b.user_data_64 = 0;
            break;
        case 3:
            b.user_data_32 = 8;
            break;
        case 4:
            b.ledger = LEDGER + 1;
            break;
        case 5:
            b.code = CODE + 1;
            break;
        case 6:
            b.flags = 0;
            break;
        case 7:
            b.flags |= BL_ACCOUNT_HISTORY;
            break;
        }
        uint32_t code = account_create(e, b);
        if (code != BL_CREATE_ACCOUNT_EXISTS_WITH_DIFFERENT_FIELDS) {
            print_error("field case %d\n", field);
        }
        assert_ar(code, BL_CREATE_ACCOUNT_EXISTS_WITH_DIFFERENT_FIELDS);
    }
    /* Nothing changed. */
    bl_account_t after = account_must_get(e, 1);
    assert_memory_equal(&after, &stored, sizeof(after));
    assert_u128_equal(bl_engine_digest(e), digest);
    assert_int_equal(bl_engine_accounts_count(e), 1);
}

static void test_exists(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t a = account_make(1, LEDGER, CODE, BL_ACCOUNT_HISTORY);
    a.user_data_64 = 42;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_OK);
    bl_account_t stored = account_must_get(e, 1);
    bl_u128_t digest = bl_engine_digest(e);

    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_EXISTS);
    assert_u128_equal(bl_engine_digest(e), digest);
    /* The linked flag is not compared: resent inside a chain, it still exists. */
    bl_account_t chain[2] = {a, acct(2)};
    chain[0].flags |= BL_ACCOUNT_LINKED;
    uint32_t codes[2];
    accounts_create(e, chain, 2, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_EXISTS);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_OK);

    /* Neither changed the stored account (timestamp included). */
    bl_account_t after = account_must_get(e, 1);
    assert_memory_equal(&after, &stored, sizeof(after));
    assert_int_equal(bl_engine_accounts_count(e), 2);
}

static void test_exists_linked_stored_then_resent_unlinked(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t chain[2] = {account_make(1, LEDGER, CODE, BL_ACCOUNT_LINKED), acct(2)};
    uint32_t codes[2];
    accounts_create(e, chain, 2, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_OK);
    /* Stored records keep their flags as sent, linked included. */
    assert_int_equal(account_must_get(e, 1).flags, BL_ACCOUNT_LINKED);
    assert_int_equal(account_must_get(e, 2).flags, 0);
    /* Resent without the linked flag: exists. */
    assert_ar(account_create(e, acct(1)), BL_CREATE_ACCOUNT_EXISTS);
}

static void test_exists_within_one_request(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t b = acct(2);
    b.user_data_32 = 1;
    bl_account_t events[4] = {acct(1), acct(1), acct(2), b};
    uint32_t codes[4];
    accounts_create(e, events, 4, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_EXISTS);
    assert_ar(codes[2], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[3], BL_CREATE_ACCOUNT_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_int_equal(bl_engine_accounts_count(e), 2);
    assert_int_equal(account_must_get(e, 2).user_data_32, 0);
}

static void test_capacity_exhausted(void **state) {
    bl_engine_t *e = engine_new(2, 16);
    bl_account_t events[5] = {acct(1), acct(2), acct(3), acct(1), account_make(4, 0, CODE, 0)};
    uint32_t codes[5];
    accounts_create(e, events, 5, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[2], BL_CREATE_ACCOUNT_CAPACITY_EXHAUSTED);
    /* The request's other events are still processed. */
    assert_ar(codes[3], BL_CREATE_ACCOUNT_EXISTS);
    assert_ar(codes[4], BL_CREATE_ACCOUNT_LEDGER_MUST_NOT_BE_ZERO);
    assert_false(account_exists(e, 3));
    assert_int_equal(bl_engine_accounts_count(e), 2);
    /* The failed event still took a timestamp. */
    assert_int_equal(account_must_get(e, 2).timestamp, account_must_get(e, 1).timestamp + 1);
    assert_int_equal(bl_engine_timestamp_last(e), account_must_get(e, 1).timestamp + 4);

    /* Still full in a later block. */
    assert_ar(account_create(e, acct(5)), BL_CREATE_ACCOUNT_CAPACITY_EXHAUSTED);
    bl_engine_destroy(e);
}

/* ------------------------------------------------------------------------------------------ */
/* Precedence.                                                                                */

static void test_precedence_timestamp_before_reserved_flag(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t a = account_make(0, 0, 0, 0x100);
    a.timestamp = 5;
    a.reserved = 1;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_TIMESTAMP_MUST_BE_ZERO);
}

static void test_precedence_reserved_field_before_reserved_flag(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t a = account_make(0, LEDGER, CODE, 0x8000);
    a.reserved = 2;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_RESERVED_FIELD);
}

static void test_precedence_reserved_flag_before_id(void **state) {
    bl_engine_t *e = A(state);
    assert_ar(account_create(e, account_make(0, LEDGER, CODE, 0x20)),
              BL_CREATE_ACCOUNT_RESERVED_FLAG);
}

static void test_precedence_id_zero_before_ledger(void **state) {
    bl_engine_t *e = A(state);
    assert_ar(account_create(e, account_make(0, 0, CODE, 0)),
              BL_CREATE_ACCOUNT_ID_MUST_NOT_BE_ZERO);
    assert_ar(account_create(e, account_make(0, 0, 0, 0)), BL_CREATE_ACCOUNT_ID_MUST_NOT_BE_ZERO);
}

static void test_precedence_id_max_before_flags(void **state) {
    bl_engine_t *e = A(state);
    uint16_t both =
        BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS | BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS;
    assert_ar(account_create(e, account_make(BL_U128_MAX, LEDGER, CODE, both)),
              BL_CREATE_ACCOUNT_ID_MUST_NOT_BE_INT_MAX);
}

static void test_precedence_flags_before_balances(void **state) {
    bl_engine_t *e = A(state);
    uint16_t both =
        BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS | BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS;
    bl_account_t a = account_make(1, 0, 0, both);
    a.credits_posted = 1;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_FLAGS_ARE_MUTUALLY_EXCLUSIVE);
}

static void test_precedence_balances_before_ledger(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t a = account_make(1, 0, 0, 0);
    a.debits_pending = 3;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_BALANCES_MUST_BE_ZERO);
}

static void test_precedence_ledger_before_code(void **state) {
    bl_engine_t *e = A(state);
    assert_ar(account_create(e, account_make(1, 0, 0, 0)),
              BL_CREATE_ACCOUNT_LEDGER_MUST_NOT_BE_ZERO);
}

static void test_precedence_validation_before_exists(void **state) {
    /* An invalid resend of an existing account gets the validation code, not exists. */
    bl_engine_t *e = A(state);
    assert_ar(account_create(e, acct(1)), BL_CREATE_ACCOUNT_OK);
    assert_ar(account_create(e, account_make(1, LEDGER, 0, 0)),
              BL_CREATE_ACCOUNT_CODE_MUST_NOT_BE_ZERO);
    bl_account_t a = acct(1);
    a.debits_posted = 1;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_BALANCES_MUST_BE_ZERO);
    a = acct(1);
    a.timestamp = account_must_get(e, 1).timestamp;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_TIMESTAMP_MUST_BE_ZERO);
}

static void test_precedence_exists_before_capacity(void **state) {
    bl_engine_t *e = engine_new(1, 16);
    assert_ar(account_create(e, acct(1)), BL_CREATE_ACCOUNT_OK);
    /* The table is full: an existing account still gives exists or exists_with_different_
     * fields, an invalid one its own code, and only a new valid one capacity_exhausted. */
    bl_account_t b = acct(1);
    b.user_data_64 = 9;
    bl_account_t events[4] = {acct(1), b, account_make(2, LEDGER, 0, 0), acct(2)};
    uint32_t codes[4];
    accounts_create(e, events, 4, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_EXISTS);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_ar(codes[2], BL_CREATE_ACCOUNT_CODE_MUST_NOT_BE_ZERO);
    assert_ar(codes[3], BL_CREATE_ACCOUNT_CAPACITY_EXHAUSTED);
    assert_int_equal(bl_engine_accounts_count(e), 1);
    bl_engine_destroy(e);
}

static void test_precedence_chain_open_before_own_code(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t a = account_make(0, 0, 0, BL_ACCOUNT_LINKED);
    a.timestamp = 1;
    assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_LINKED_EVENT_CHAIN_OPEN);
}

/* ------------------------------------------------------------------------------------------ */
/* Linked chains.                                                                             */

static void test_chain_first_failure_gets_own_code(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t events[5] = {
        account_make(1, LEDGER, CODE, BL_ACCOUNT_LINKED),
        account_make(0, LEDGER, CODE, BL_ACCOUNT_LINKED), /* fails first: id 0 */
        account_make(3, 0, CODE, BL_ACCOUNT_LINKED),      /* would fail: ledger 0 */
        acct(4),                                          /* ends the chain */
        acct(5),                                          /* a chain of its own */
    };
    uint32_t codes[5];
    accounts_create(e, events, 5, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_ID_MUST_NOT_BE_ZERO);
    assert_ar(codes[2], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[3], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[4], BL_CREATE_ACCOUNT_OK);
    assert_false(account_exists(e, 1));
    assert_false(account_exists(e, 4));
    assert_true(account_exists(e, 5));
    assert_int_equal(bl_engine_accounts_count(e), 1);
}

static void test_chain_success(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t events[3] = {account_make(1, LEDGER, CODE, BL_ACCOUNT_LINKED),
                              account_make(2, LEDGER, CODE, BL_ACCOUNT_LINKED), acct(3)};
    uint32_t codes[3];
    uint64_t t = ts_next(e);
    block_run_at(e, t, BL_OP_CREATE_ACCOUNTS, events, 3, codes);
    for (int i = 0; i < 3; i++) {
        assert_ar(codes[i], BL_CREATE_ACCOUNT_OK);
        assert_int_equal(account_must_get(e, (bl_u128_t)i + 1).timestamp, t + (uint64_t)i);
    }
}

static void test_chain_exists_counts_as_success(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t events[3] = {account_make(1, LEDGER, CODE, BL_ACCOUNT_LINKED),
                              account_make(2, LEDGER, CODE, BL_ACCOUNT_LINKED), acct(3)};
    uint32_t codes[3];
    accounts_create(e, events, 3, codes);
    /* Resending the whole chain that landed: exists for each. */
    accounts_create(e, events, 3, codes);
    for (int i = 0; i < 3; i++) {
        assert_ar(codes[i], BL_CREATE_ACCOUNT_EXISTS);
    }
    /* A chain mixing existing and new accounts succeeds. */
    bl_account_t mixed[2] = {account_make(1, LEDGER, CODE, BL_ACCOUNT_LINKED), acct(4)};
    accounts_create(e, mixed, 2, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_EXISTS);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_OK);
    assert_true(account_exists(e, 4));
    /* A duplicate inside one chain sees the earlier event: exists, and the chain lands. */
    bl_account_t dup[2] = {account_make(5, LEDGER, CODE, BL_ACCOUNT_LINKED), acct(5)};
    accounts_create(e, dup, 2, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_EXISTS);
    assert_true(account_exists(e, 5));
    assert_int_equal(bl_engine_accounts_count(e), 5);
}

static void test_chain_exists_with_different_fields_fails_chain(void **state) {
    bl_engine_t *e = A(state);
    assert_ar(account_create(e, acct(1)), BL_CREATE_ACCOUNT_OK);
    bl_account_t events[2] = {account_make(2, LEDGER, CODE, BL_ACCOUNT_LINKED),
                              account_make(1, LEDGER, CODE + 1, 0)};
    uint32_t codes[2];
    accounts_create(e, events, 2, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_false(account_exists(e, 2));
}

static void test_chain_rolled_back_frees_ids_and_capacity(void **state) {
    bl_engine_t *e = engine_new(2, 16);
    bl_account_t events[3] = {account_make(1, LEDGER, CODE, BL_ACCOUNT_LINKED),
                              account_make(2, LEDGER, CODE, BL_ACCOUNT_LINKED),
                              account_make(3, LEDGER, 0, 0)};
    uint32_t codes[3];
    accounts_create(e, events, 3, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[2], BL_CREATE_ACCOUNT_CODE_MUST_NOT_BE_ZERO);
    assert_int_equal(bl_engine_accounts_count(e), 0);
    assert_u128_equal(bl_engine_digest(e), 0);

    /* The rolled-back accounts hold neither their ids nor table slots. */
    bl_account_t again[2] = {account_make(1, LEDGER, CODE + 1, 0), acct(2)};
    accounts_create(e, again, 2, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_OK);
    assert_int_equal(account_must_get(e, 1).code, CODE + 1);
    bl_engine_destroy(e);
}

static void test_chain_capacity_fails_chain(void **state) {
    bl_engine_t *e = engine_new(2, 16);
    bl_account_t events[4] = {acct(1), account_make(2, LEDGER, CODE, BL_ACCOUNT_LINKED),
                              account_make(3, LEDGER, CODE, BL_ACCOUNT_LINKED), acct(4)};
    uint32_t codes[4];
    accounts_create(e, events, 4, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[2], BL_CREATE_ACCOUNT_CAPACITY_EXHAUSTED);
    assert_ar(codes[3], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_int_equal(bl_engine_accounts_count(e), 1);
    assert_false(account_exists(e, 2));
    assert_ar(account_create(e, acct(4)), BL_CREATE_ACCOUNT_OK);
    bl_engine_destroy(e);
}

/* ------------------------------------------------------------------------------------------ */
/* Lookups.                                                                                   */

static void test_lookup_order_duplicates_missing(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t events[3] = {acct(10), acct(20), acct(30)};
    uint32_t codes[3];
    accounts_create(e, events, 3, codes);

    bl_u128_t ids[7] = {30, 99, 10, 30, 0, BL_U128_MAX, 20};
    bl_account_t out[7];
    memset(out, 0xee, sizeof(out));
    assert_int_equal(bl_engine_lookup_accounts(e, ids, 7, out), 4);
    assert_u128_equal(out[0].id, 30);
    assert_u128_equal(out[1].id, 10);
    assert_u128_equal(out[2].id, 30);
    assert_u128_equal(out[3].id, 20);
    assert_memory_equal(&out[0], &out[2], sizeof(out[0]));
    /* Nothing past the found records is written. */
    uint8_t untouched[sizeof(bl_account_t)];
    memset(untouched, 0xee, sizeof(untouched));
    assert_memory_equal(&out[4], untouched, sizeof(untouched));

    bl_u128_t missing[2] = {1, 2};
    assert_int_equal(bl_engine_lookup_accounts(e, missing, 2, out), 0);
    /* Accounts and transfers have separate id spaces. */
    bl_transfer_t t;
    assert_false(transfer_get(e, 10, &t));
}

static void test_lookup_after_failed_create(void **state) {
    bl_engine_t *e = A(state);
    assert_ar(account_create(e, account_make(1, LEDGER, 0, 0)),
              BL_CREATE_ACCOUNT_CODE_MUST_NOT_BE_ZERO);
    bl_u128_t id = 1;
    bl_account_t out;
    assert_int_equal(bl_engine_lookup_accounts(e, &id, 1, &out), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Timestamps.                                                                                */

static void test_timestamps_one_per_event(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t events[6] = {
        acct(1),
        account_make(2, 0, CODE, 0), /* fails, still takes T+1 */
        acct(3),
        account_make(4, LEDGER, CODE, BL_ACCOUNT_LINKED),
        account_make(5, LEDGER, 0, 0), /* chain fails: T+3, T+4 used */
        acct(6),
    };
    uint32_t codes[6];
    uint64_t t = 5000;
    block_run_at(e, t, BL_OP_CREATE_ACCOUNTS, events, 6, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[1], BL_CREATE_ACCOUNT_LEDGER_MUST_NOT_BE_ZERO);
    assert_ar(codes[2], BL_CREATE_ACCOUNT_OK);
    assert_ar(codes[3], BL_CREATE_ACCOUNT_LINKED_EVENT_FAILED);
    assert_ar(codes[4], BL_CREATE_ACCOUNT_CODE_MUST_NOT_BE_ZERO);
    assert_ar(codes[5], BL_CREATE_ACCOUNT_OK);
    assert_int_equal(account_must_get(e, 1).timestamp, t);
    assert_int_equal(account_must_get(e, 3).timestamp, t + 2);
    assert_int_equal(account_must_get(e, 6).timestamp, t + 5);
    assert_int_equal(bl_engine_timestamp_last(e), t + 5);

    /* An exists event also takes a timestamp, and changes nothing. */
    bl_account_t resend[2] = {acct(1), acct(7)};
    block_run_at(e, t + 100, BL_OP_CREATE_ACCOUNTS, resend, 2, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_EXISTS);
    assert_int_equal(account_must_get(e, 1).timestamp, t);
    assert_int_equal(account_must_get(e, 7).timestamp, t + 101);
    assert_int_equal(bl_engine_timestamp_last(e), t + 101);
}

static void test_timestamps_open_chain_take_timestamps(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t events[3] = {acct(1), account_make(2, LEDGER, CODE, BL_ACCOUNT_LINKED),
                              account_make(3, LEDGER, CODE, BL_ACCOUNT_LINKED)};
    uint32_t codes[3];
    block_run_at(e, 7000, BL_OP_CREATE_ACCOUNTS, events, 3, codes);
    assert_int_equal(bl_engine_timestamp_last(e), 7002);
    assert_ar(account_create(e, acct(4)), BL_CREATE_ACCOUNT_OK);
    assert_int_equal(account_must_get(e, 4).timestamp, 7003);
}

static void test_timestamps_across_requests_of_a_block(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t first[2] = {acct(1), acct(2)};
    bl_account_t second[2] = {acct(3), account_make(4, 0, 0, 0)};
    bl_event_result_t results1[2], results2[2];
    bl_request_t requests[2] = {
        {.op = BL_OP_CREATE_ACCOUNTS, .count = 2, .events = first, .results = results1},
        {.op = BL_OP_CREATE_ACCOUNTS, .count = 2, .events = second, .results = results2},
    };
    assert_int_equal(bl_engine_block_execute(e, 9000, requests, 2), 0);
    assert_int_equal(requests[0].results_count, 0);
    assert_int_equal(requests[1].results_count, 1);
    assert_int_equal(results2[0].index, 1);
    assert_ar(results2[0].result, BL_CREATE_ACCOUNT_LEDGER_MUST_NOT_BE_ZERO);
    assert_int_equal(account_must_get(e, 1).timestamp, 9000);
    assert_int_equal(account_must_get(e, 2).timestamp, 9001);
    assert_int_equal(account_must_get(e, 3).timestamp, 9002);
    assert_int_equal(bl_engine_timestamp_last(e), 9003);
}

static void test_timestamps_strictly_increasing_across_blocks(void **state) {
    bl_engine_t *e = A(state);
    uint64_t last = 0;
    for (bl_u128_t id = 1; id <= 20; id++) {
        assert_ar(account_create(e, acct(id)), BL_CREATE_ACCOUNT_OK);
        uint64_t ts = account_must_get(e, id).timestamp;
        assert_true(ts > last);
        assert_int_equal(ts, bl_engine_timestamp_last(e));
        last = ts;
    }
}

static void test_block_timestamp_not_past_last_is_einval(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t events[2] = {acct(1), acct(2)};
    uint32_t codes[2];
    block_run_at(e, 2000, BL_OP_CREATE_ACCOUNTS, events, 2, codes);
    assert_int_equal(bl_engine_timestamp_last(e), 2001);
    bl_u128_t digest = bl_engine_digest(e);

    bl_account_t next = acct(3);
    bl_event_result_t results[1];
    uint64_t bad[4] = {2001, 2000, 1, 0};
    for (int i = 0; i < 4; i++) {
        bl_request_t request = {
            .op = BL_OP_CREATE_ACCOUNTS, .count = 1, .events = &next, .results = results};
        assert_int_equal(bl_engine_block_execute(e, bad[i], &request, 1), -EINVAL);
        assert_int_equal(bl_engine_block_execute(e, bad[i], NULL, 0), -EINVAL);
    }
    /* Nothing was executed. */
    assert_false(account_exists(e, 3));
    assert_int_equal(bl_engine_timestamp_last(e), 2001);
    assert_int_equal(bl_engine_accounts_count(e), 2);
    assert_u128_equal(bl_engine_digest(e), digest);

    /* The last timestamp + 1 is accepted. */
    block_run_at(e, 2002, BL_OP_CREATE_ACCOUNTS, &next, 1, codes);
    assert_ar(codes[0], BL_CREATE_ACCOUNT_OK);
    assert_int_equal(account_must_get(e, 3).timestamp, 2002);
}

static void test_block_invalid_requests_are_einval(void **state) {
    bl_engine_t *e = A(state);
    bl_account_t a = acct(1);
    bl_event_result_t results[1];
    bl_request_t bad_op = {
        .op = BL_OP_LOOKUP_ACCOUNTS, .count = 1, .events = &a, .results = results};
    assert_int_equal(bl_engine_block_execute(e, 3000, &bad_op, 1), -EINVAL);
    bl_request_t zero = {.op = BL_OP_CREATE_ACCOUNTS, .count = 0, .events = &a, .results = results};
    assert_int_equal(bl_engine_block_execute(e, 3000, &zero, 1), -EINVAL);
    /* A valid request followed by an invalid one: the whole block is refused. */
    bl_request_t requests[2] = {
        {.op = BL_OP_CREATE_ACCOUNTS, .count = 1, .events = &a, .results = results},
        {.op = 99, .count = 1, .events = &a, .results = results},
    };
    assert_int_equal(bl_engine_block_execute(e, 3000, requests, 2), -EINVAL);
    assert_false(account_exists(e, 1));
    assert_int_equal(bl_engine_timestamp_last(e), 0);
    assert_int_equal(bl_engine_accounts_count(e), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Digest.                                                                                    */

static void test_digest_accounts(void **state) {
    bl_engine_t *e = A(state);
    assert_u128_equal(bl_engine_digest(e), 0);
    bl_u128_t ids[4] = {1, 2, (bl_u128_t)1 << 90, BL_U128_MAX - 1};
    bl_u128_t previous = 0;
    for (uint32_t i = 0; i < 4; i++) {
        bl_account_t a = acct(ids[i]);
        a.user_data_128 = ids[i] * 3;
        assert_ar(account_create(e, a), BL_CREATE_ACCOUNT_OK);
        bl_u128_t digest = bl_engine_digest(e);
        assert_true(digest != previous);
        assert_u128_equal(digest, digest_recompute(e, ids, i + 1, NULL, 0, NULL, 0));
        previous = digest;
    }
    /* Failed and exists events leave the digest as it was. */
    assert_ar(account_create(e, acct(1)), BL_CREATE_ACCOUNT_EXISTS_WITH_DIFFERENT_FIELDS);
    assert_ar(account_create(e, account_make(5, 0, 1, 0)),
              BL_CREATE_ACCOUNT_LEDGER_MUST_NOT_BE_ZERO);
    assert_u128_equal(bl_engine_digest(e), previous);
}

/* ------------------------------------------------------------------------------------------ */

#define T(name) cmocka_unit_test_setup_teardown(name, engine_setup, engine_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_ok),
        T(test_linked_event_failed),
        T(test_linked_event_chain_open),
        T(test_linked_event_chain_open_not_evaluated),
        T(test_timestamp_must_be_zero),
        T(test_reserved_field),
        T(test_reserved_flag),
        T(test_id_must_not_be_zero),
        T(test_id_must_not_be_int_max),
        T(test_flags_are_mutually_exclusive),
        T(test_balances_must_be_zero),
        T(test_ledger_must_not_be_zero),
        T(test_code_must_not_be_zero),
        T(test_exists_with_different_fields),
        T(test_exists),
        T(test_exists_linked_stored_then_resent_unlinked),
        T(test_exists_within_one_request),
        T(test_capacity_exhausted),
        T(test_precedence_timestamp_before_reserved_flag),
        T(test_precedence_reserved_field_before_reserved_flag),
        T(test_precedence_reserved_flag_before_id),
        T(test_precedence_id_zero_before_ledger),
        T(test_precedence_id_max_before_flags),
        T(test_precedence_flags_before_balances),
        T(test_precedence_balances_before_ledger),
        T(test_precedence_ledger_before_code),
        T(test_precedence_validation_before_exists),
        T(test_precedence_exists_before_capacity),
        T(test_precedence_chain_open_before_own_code),
        T(test_chain_first_failure_gets_own_code),
        T(test_chain_success),
        T(test_chain_exists_counts_as_success),
        T(test_chain_exists_with_different_fields_fails_chain),
        T(test_chain_rolled_back_frees_ids_and_capacity),
        T(test_chain_capacity_fails_chain),
        T(test_lookup_order_duplicates_missing),
        T(test_lookup_after_failed_create),
        T(test_timestamps_one_per_event),
        T(test_timestamps_open_chain_take_timestamps),
        T(test_timestamps_across_requests_of_a_block),
        T(test_timestamps_strictly_increasing_across_blocks),
        T(test_block_timestamp_not_past_last_is_einval),
        T(test_block_invalid_requests_are_einval),
        T(test_digest_accounts),
    };
    int failed = 0;
    g_partitions = 1;
    failed += cmocka_run_group_tests_name("accounts, 1 partition", tests, NULL, NULL);
    g_partitions = 4;
    failed += cmocka_run_group_tests_name("accounts, 4 partitions", tests, NULL, NULL);
    return failed;
}
