/*
 * The reference model's filter reads against answers worked out by hand from PROTOCOL.md. The
 * differential test compares the engine with the model; this file is what stands behind the
 * model itself, so every expected value here is written out, not computed.
 *
 * The ledger of every case (block timestamps and the timestamps they hand out):
 *   T = 1000  create_accounts
 *             A id 1  ledger 1 code 10 history  ud128 0xAA ud64 5 ud32 7   ts 1000
 *             B id 2  ledger 1 code 10          ud64 5                     ts 1001
 *             C id 3  ledger 1 code 20 history  ud64 6                     ts 1002
 *             D id 4  ledger 2 code 10                                     ts 1003
 *   T = 2000  create_transfers
 *             t10  A -> B  100 plain,   code 1, ud64 9                     ts 2000
 *             t11  B -> A   30 pending, code 2, ud32 3, timeout 1 s        ts 2001
 *             t12  A -> C   50 pending, code 1, ud128 0x77, no timeout     ts 2002
 *             t13  post of t12, amount 20, ud64 9 (resolves A -> C, code 1, ledger 1)  ts 2003
 *             t14  A -> C 5, linked, then t15 with amount 0: the chain fails ts 2004, 2005
 *             t16  C -> A    7 plain,   code 3                             ts 2006
 *   T = 1000002001 (t11's deadline, 2001 + 10^9): t11 expires           ts 1000002001
 *             t17  B -> A    1 plain,   code 1                             ts 1000002002
 *             t18  A -> C    4 pending, code 4, timeout 1 s             ts 1000002003
 *   T = 2000002003 (t18's deadline), no requests: t18 expires          ts 2000002003
 *
 * Balances of A after each change, as dp dpo cp cpo, with the transfer that caused the entry:
 *   2000        t10 (A is the debit side)     0 100  0  0
 *   2001        t11 (credit)                  0 100 30  0
 *   2002        t12 (debit)                  50 100 30  0
 *   2003        t13 (debit)                   0 120 30  0
 *   2006        t16 (credit)                  0 120 30  7
 *   1000002001  t11 expired (credit side)     0 120  0  7
 *   1000002002  t17 (credit)                  0 120  0  8
 *   1000002003  t18 (debit)                   4 120  0  8
 *   2000002003  t18 expired (debit side)      0 120  0  8
 * C: 2002 t12 (credit) 0 0 50 0; 2003 t13 (credit) 0 0 0 20; 2006 t16 (debit) 0 7 0 20;
 *    1000002003 t18 (credit) 0 7 4 20; 2000002003 t18 expired (credit side) 0 7 0 20.
 * B has no history flag: no entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ballast/protocol.h"
#include "tests/model/model.h"

#define A 1u
#define B 2u
#define C 3u
#define D 4u
#define T_EXPIRY 1000002001ull
#define T_EXPIRY2 2000002003ull

static bl_account_t model_test_account(bl_u128_t id, uint32_t ledger, uint16_t code,
                                       uint16_t flags) {
    bl_account_t a;
    memset(&a, 0, sizeof(a));
    a.id = id;
    a.ledger = ledger;
    a.code = code;
    a.flags = flags;
    return a;
}

static bl_transfer_t model_test_transfer(bl_u128_t id, bl_u128_t debit, bl_u128_t credit,
                                         bl_u128_t amount, uint16_t code, uint16_t flags) {
    bl_transfer_t t;
    memset(&t, 0, sizeof(t));
    t.id = id;
    t.debit_account_id = debit;
    t.credit_account_id = credit;
    t.amount = amount;
    t.ledger = 1;
    t.code = code;
    t.flags = flags;
    return t;
}

/* Runs one block of one request and checks the results (index and code pairs, -1 ended). */
static void model_test_block(bl_model_t *m, uint64_t timestamp, uint16_t op, const void *events,
                             uint32_t count, const uint32_t *expected_results,
                             uint32_t expected_count) {
    bl_event_result_t results[16];
    bl_request_t request = {.op = op, .count = count, .events = events, .results = results};
    assert_int_equal(bl_model_block_execute(m, timestamp, &request, 1), 0);
    assert_int_equal(request.results_count, expected_count);
    for (uint32_t i = 0; i < expected_count; i++) {
        assert_int_equal(results[i].index, expected_results[2 * i]);
        assert_int_equal(results[i].result, expected_results[2 * i + 1]);
    }
}

static bl_model_t *model_test_ledger(void) {
    bl_model_t *m = bl_model_create(16, 16);
    assert_non_null(m);

    bl_account_t accounts[4] = {
        model_test_account(A, 1, 10, BL_ACCOUNT_HISTORY),
        model_test_account(B, 1, 10, 0),
        model_test_account(C, 1, 20, BL_ACCOUNT_HISTORY),
        model_test_account(D, 2, 10, 0),
    };
    accounts[0].user_data_128 = 0xAA;
    accounts[0].user_data_64 = 5;
    accounts[0].user_data_32 = 7;
    accounts[1].user_data_64 = 5;
    accounts[2].user_data_64 = 6;
    model_test_block(m, 1000, BL_OP_CREATE_ACCOUNTS, accounts, 4, NULL, 0);

    bl_transfer_t transfers[7] = {
        model_test_transfer(10, A, B, 100, 1, 0),
        model_test_transfer(11, B, A, 30, 2, BL_TRANSFER_PENDING),
        model_test_transfer(12, A, C, 50, 1, BL_TRANSFER_PENDING),
        model_test_transfer(13, 0, 0, 20, 0, BL_TRANSFER_POST_PENDING),
        model_test_transfer(14, A, C, 5, 1, BL_TRANSFER_LINKED),
        model_test_transfer(15, A, C, 0, 1, 0),
        model_test_transfer(16, C, A, 7, 3, 0),
    };
    transfers[0].user_data_64 = 9;
    transfers[1].user_data_32 = 3;
    transfers[1].timeout = 1;
    transfers[2].user_data_128 = 0x77;
    transfers[3].pending_id = 12;
    transfers[3].ledger = 0;
    transfers[3].user_data_64 = 9;
    const uint32_t chain_failed[] = {4, BL_CREATE_TRANSFER_LINKED_EVENT_FAILED, 5,
                                     BL_CREATE_TRANSFER_AMOUNT_MUST_NOT_BE_ZERO};
    model_test_block(m, 2000, BL_OP_CREATE_TRANSFERS, transfers, 7, chain_failed, 2);

    bl_transfer_t later[2] = {
        model_test_transfer(17, B, A, 1, 1, 0),
        model_test_transfer(18, A, C, 4, 4, BL_TRANSFER_PENDING),
    };
    later[1].timeout = 1;
    model_test_block(m, T_EXPIRY, BL_OP_CREATE_TRANSFERS, later, 2, NULL, 0);
    assert_int_equal(bl_model_timestamp_last(m), T_EXPIRY + 2); /* the expiry took T */

    assert_int_equal(bl_model_block_execute(m, T_EXPIRY2, NULL, 0), 0);
    assert_int_equal(bl_model_timestamp_last(m), T_EXPIRY2);
    return m;
}

static bl_account_filter_t model_test_account_filter(bl_u128_t account_id, uint32_t flags,
                                                     uint32_t limit) {
    bl_account_filter_t f;
    memset(&f, 0, sizeof(f));
    f.account_id = account_id;
    f.flags = flags;
    f.limit = limit;
    return f;
}

static bl_query_filter_t model_test_query_filter(uint32_t flags, uint32_t limit) {
    bl_query_filter_t f;
    memset(&f, 0, sizeof(f));
    f.flags = flags;
    f.limit = limit;
    return f;
}

/* The reply holds exactly the transfers `ids`, in that order. */
static void model_test_transfers_expect(const bl_transfer_t *got, uint32_t got_count,
                                        const uint32_t *ids, uint32_t count) {
    assert_int_equal(got_count, count);
    for (uint32_t i = 0; i < count; i++) {
        assert_true(got[i].id == ids[i]);
    }
}

static void model_test_account_transfers_expect(bl_model_t *m, const bl_account_filter_t *f,
                                                const uint32_t *ids, uint32_t count) {
    static bl_transfer_t out[BL_FILTER_LIMIT_MAX];
    model_test_transfers_expect(out, bl_model_account_transfers(m, f, out), ids, count);
}

static void model_test_query_transfers_expect(bl_model_t *m, const bl_query_filter_t *f,
                                              const uint32_t *ids, uint32_t count) {
    static bl_transfer_t out[BL_FILTER_LIMIT_MAX];
    model_test_transfers_expect(out, bl_model_query_transfers(m, f, out), ids, count);
}

static void model_test_query_accounts_expect(bl_model_t *m, const bl_query_filter_t *f,
                                             const uint32_t *ids, uint32_t count) {
    static bl_account_t out[BL_FILTER_LIMIT_MAX];
    uint32_t n = bl_model_query_accounts(m, f, out);
    assert_int_equal(n, count);
    for (uint32_t i = 0; i < count; i++) {
        assert_true(out[i].id == ids[i]);
    }
}

/* The reply holds exactly these entries: rows of (timestamp, dp, dpo, cp, cpo). */
static void model_test_balances_expect(bl_model_t *m, const bl_account_filter_t *f,
                                       const uint64_t (*rows)[5], uint32_t count) {
    static bl_account_balance_t out[BL_FILTER_LIMIT_MAX];
    uint32_t n = bl_model_account_balances(m, f, out);
    assert_int_equal(n, count);
    for (uint32_t i = 0; i < count; i++) {
        bl_account_balance_t want;
        memset(&want, 0, sizeof(want));
        want.timestamp = rows[i][0];
        want.debits_pending = rows[i][1];
        want.debits_posted = rows[i][2];
        want.credits_pending = rows[i][3];
        want.credits_posted = rows[i][4];
        assert_memory_equal(&out[i], &want, sizeof(want)); /* reserved bytes zero too */
    }
}

#define COUNT_OF(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))
#define BOTH (BL_FILTER_DEBITS | BL_FILTER_CREDITS)

static void test_model_account_transfers(void **state) {
    (void)state;
    bl_model_t *m = model_test_ledger();

    bl_account_filter_t f = model_test_account_filter(A, BOTH, 8192);
    const uint32_t all[] = {10, 11, 12, 13, 16, 17, 18}; /* not 14: its chain failed */
    model_test_account_transfers_expect(m, &f, all, COUNT_OF(all));

    f.flags = BL_FILTER_DEBITS;
    const uint32_t debits[] = {10, 12, 13, 18};
    model_test_account_transfers_expect(m, &f, debits, COUNT_OF(debits));
    f.flags = BL_FILTER_CREDITS;
    const uint32_t credits[] = {11, 16, 17};
    model_test_account_transfers_expect(m, &f, credits, COUNT_OF(credits));

    f = model_test_account_filter(A, BOTH | BL_FILTER_REVERSED, 2);
    const uint32_t newest[] = {18, 17};
    model_test_account_transfers_expect(m, &f, newest, COUNT_OF(newest));

    /* Inclusive bounds, and each bound alone. */
    f = model_test_account_filter(A, BOTH, 8192);
    f.timestamp_min = 2001;
    f.timestamp_max = 2003;
    const uint32_t middle[] = {11, 12, 13};
    model_test_account_transfers_expect(m, &f, middle, COUNT_OF(middle));
    f.timestamp_max = 0;
    f.timestamp_min = 2006;
    const uint32_t from[] = {16, 17, 18};
    model_test_account_transfers_expect(m, &f, from, COUNT_OF(from));
    f.timestamp_min = 0;
    f.timestamp_max = 2000;
    const uint32_t until[] = {10};
    model_test_account_transfers_expect(m, &f, until, COUNT_OF(until));
    f.timestamp_min = 2004;
    f.timestamp_max = 2005; /* only the failed chain's timestamps */
    model_test_account_transfers_expect(m, &f, NULL, 0);

    /* Fields: the post's stored code is the resolved one (1). */
    f = model_test_account_filter(A, BOTH, 8192);
    f.code = 1;
    const uint32_t code1[] = {10, 12, 13, 17};
    model_test_account_transfers_expect(m, &f, code1, COUNT_OF(code1));
    f.code = 0;
    f.user_data_64 = 9;
    const uint32_t ud64[] = {10, 13};
    model_test_account_transfers_expect(m, &f, ud64, COUNT_OF(ud64));
    f.code = 2; /* every non-zero field must match: none has both */
    model_test_account_transfers_expect(m, &f, NULL, 0);
    f.code = 0;
    f.user_data_64 = 0;
    f.user_data_32 = 3;
    const uint32_t ud32[] = {11};
    model_test_account_transfers_expect(m, &f, ud32, COUNT_OF(ud32));
    f.user_data_32 = 0;
    f.user_data_128 = 0x77;
    const uint32_t ud128[] = {12};
    model_test_account_transfers_expect(m, &f, ud128, COUNT_OF(ud128));

    /* Paging: the next page starts at the last timestamp + 1 (- 1 reversed). */
    f = model_test_account_filter(A, BOTH, 4);
    const uint32_t page1[] = {10, 11, 12, 13};
    model_test_account_transfers_expect(m, &f, page1, COUNT_OF(page1));
    f.timestamp_min = 2003 + 1;
    const uint32_t page2[] = {16, 17, 18};
    model_test_account_transfers_expect(m, &f, page2, COUNT_OF(page2));
    f.timestamp_min = T_EXPIRY + 2 + 1;
    model_test_account_transfers_expect(m, &f, NULL, 0);
    f = model_test_account_filter(A, BOTH | BL_FILTER_REVERSED, 4);
    f.timestamp_max = 2003 - 1;
    const uint32_t page_back[] = {12, 11, 10};
    model_test_account_transfers_expect(m, &f, page_back, COUNT_OF(page_back));

    /* Accounts with nothing: one that exists (D) and one that does not. */
    f = model_test_account_filter(D, BOTH, 8192);
    model_test_account_transfers_expect(m, &f, NULL, 0);
    f.account_id = 99;
    model_test_account_transfers_expect(m, &f, NULL, 0);
    bl_model_destroy(m);
}

static void test_model_account_balances(void **state) {
    (void)state;
    bl_model_t *m = model_test_ledger();

    const uint64_t a_all[][5] = {
        {2000, 0, 100, 0, 0},         {2001, 0, 100, 30, 0},        {2002, 50, 100, 30, 0},
        {2003, 0, 120, 30, 0},        {2006, 0, 120, 30, 7},        {T_EXPIRY, 0, 120, 0, 7},
        {T_EXPIRY + 1, 0, 120, 0, 8}, {T_EXPIRY + 2, 4, 120, 0, 8}, {T_EXPIRY2, 0, 120, 0, 8},
    };
    bl_account_filter_t f = model_test_account_filter(A, BOTH, 8192);
    model_test_balances_expect(m, &f, a_all, COUNT_OF(a_all));

    /* Sides by the causing transfer: t11's expiry counts as A's credit side, t18's as its
     * debit side. */
    f.flags = BL_FILTER_DEBITS;
    const uint64_t a_debits[][5] = {{2000, 0, 100, 0, 0},
                                    {2002, 50, 100, 30, 0},
                                    {2003, 0, 120, 30, 0},
                                    {T_EXPIRY + 2, 4, 120, 0, 8},
                                    {T_EXPIRY2, 0, 120, 0, 8}};
    model_test_balances_expect(m, &f, a_debits, COUNT_OF(a_debits));
    f.flags = BL_FILTER_CREDITS;
    const uint64_t a_credits[][5] = {{2001, 0, 100, 30, 0},
                                     {2006, 0, 120, 30, 7},
                                     {T_EXPIRY, 0, 120, 0, 7},
                                     {T_EXPIRY + 1, 0, 120, 0, 8}};
    model_test_balances_expect(m, &f, a_credits, COUNT_OF(a_credits));

    /* Fields of the causing transfer: for the expiry, the pending transfer t11. */
    f = model_test_account_filter(A, BOTH, 8192);
    f.code = 2;
    const uint64_t a_t11[][5] = {{2001, 0, 100, 30, 0}, {T_EXPIRY, 0, 120, 0, 7}};
    model_test_balances_expect(m, &f, a_t11, COUNT_OF(a_t11));
    f.code = 0;
    f.user_data_32 = 3;
    model_test_balances_expect(m, &f, a_t11, COUNT_OF(a_t11));
    f.user_data_32 = 0;
    f.code = 4;
    f.flags = BL_FILTER_DEBITS;
    const uint64_t a_t18[][5] = {{T_EXPIRY + 2, 4, 120, 0, 8}, {T_EXPIRY2, 0, 120, 0, 8}};
    model_test_balances_expect(m, &f, a_t18, COUNT_OF(a_t18));
    f.flags = BL_FILTER_CREDITS;
    model_test_balances_expect(m, &f, NULL, 0);
    f.flags = BOTH;
    f.code = 0;
    f.user_data_64 = 9;
    const uint64_t a_ud64[][5] = {{2000, 0, 100, 0, 0}, {2003, 0, 120, 30, 0}};
    model_test_balances_expect(m, &f, a_ud64, COUNT_OF(a_ud64));

    /* The range, order and paging use the entry's own timestamp. */
    f = model_test_account_filter(A, BOTH | BL_FILTER_REVERSED, 3);
    const uint64_t a_newest[][5] = {
        {T_EXPIRY2, 0, 120, 0, 8}, {T_EXPIRY + 2, 4, 120, 0, 8}, {T_EXPIRY + 1, 0, 120, 0, 8}};
    model_test_balances_expect(m, &f, a_newest, COUNT_OF(a_newest));
    f.timestamp_max = T_EXPIRY + 1 - 1;
    const uint64_t a_next[][5] = {
        {T_EXPIRY, 0, 120, 0, 7}, {2006, 0, 120, 30, 7}, {2003, 0, 120, 30, 0}};
    model_test_balances_expect(m, &f, a_next, COUNT_OF(a_next));
    f = model_test_account_filter(A, BOTH, 8192);
    f.timestamp_min = T_EXPIRY;
    f.timestamp_max = T_EXPIRY;
    const uint64_t a_expiry[][5] = {{T_EXPIRY, 0, 120, 0, 7}};
    model_test_balances_expect(m, &f, a_expiry, COUNT_OF(a_expiry));

    f = model_test_account_filter(C, BOTH, 8192);
    const uint64_t c_all[][5] = {{2002, 0, 0, 50, 0},
                                 {2003, 0, 0, 0, 20},
                                 {2006, 0, 7, 0, 20},
                                 {T_EXPIRY + 2, 0, 7, 4, 20},
                                 {T_EXPIRY2, 0, 7, 0, 20}};
    model_test_balances_expect(m, &f, c_all, COUNT_OF(c_all));

    /* No history flag: nothing, though B took part in four transfers and the expiry. */
    f = model_test_account_filter(B, BOTH, 8192);
    model_test_balances_expect(m, &f, NULL, 0);
    bl_model_destroy(m);
}

static void test_model_query(void **state) {
    (void)state;
    bl_model_t *m = model_test_ledger();

    bl_query_filter_t f = model_test_query_filter(0, 8192);
    const uint32_t accounts_all[] = {A, B, C, D};
    model_test_query_accounts_expect(m, &f, accounts_all, COUNT_OF(accounts_all));
    f.user_data_64 = 5;
    const uint32_t ud64_5[] = {A, B};
    model_test_query_accounts_expect(m, &f, ud64_5, COUNT_OF(ud64_5));
    f.user_data_64 = 0;
    f.code = 10;
    const uint32_t code10[] = {A, B, D};
    model_test_query_accounts_expect(m, &f, code10, COUNT_OF(code10));
    f.ledger = 1;
    f.flags = BL_QUERY_REVERSED;
    const uint32_t code10_ledger1_back[] = {B, A};
    model_test_query_accounts_expect(m, &f, code10_ledger1_back, COUNT_OF(code10_ledger1_back));
    f = model_test_query_filter(0, 8192);
    f.ledger = 1;
    f.timestamp_min = 1001;
    f.timestamp_max = 1002;
    const uint32_t ledger1_range[] = {B, C};
    model_test_query_accounts_expect(m, &f, ledger1_range, COUNT_OF(ledger1_range));
    f = model_test_query_filter(0, 8192);
    f.user_data_128 = 0xAA;
    f.user_data_32 = 7;
    const uint32_t ud128[] = {A};
    model_test_query_accounts_expect(m, &f, ud128, COUNT_OF(ud128));
    f.user_data_32 = 8;
    model_test_query_accounts_expect(m, &f, NULL, 0);

    f = model_test_query_filter(0, 8192);
    const uint32_t transfers_all[] = {10, 11, 12, 13, 16, 17, 18};
    model_test_query_transfers_expect(m, &f, transfers_all, COUNT_OF(transfers_all));
    f.code = 1; /* the post of t12 was sent with code 0: stored resolved */
    const uint32_t code1[] = {10, 12, 13, 17};
    model_test_query_transfers_expect(m, &f, code1, COUNT_OF(code1));
    f.flags = BL_QUERY_REVERSED;
    f.limit = 1;
    const uint32_t code1_newest[] = {17};
    model_test_query_transfers_expect(m, &f, code1_newest, COUNT_OF(code1_newest));
    f = model_test_query_filter(0, 8192);
    f.ledger = 1;
    f.user_data_64 = 9;
    const uint32_t ud64_9[] = {10, 13};
    model_test_query_transfers_expect(m, &f, ud64_9, COUNT_OF(ud64_9));
    f.ledger = 2;
    model_test_query_transfers_expect(m, &f, NULL, 0);
    f = model_test_query_filter(0, 2);
    f.timestamp_min = 2002;
    const uint32_t page[] = {12, 13};
    model_test_query_transfers_expect(m, &f, page, COUNT_OF(page));
    bl_model_destroy(m);
}

/* Each rule that makes a filter invalid, applied to a filter that otherwise matches. */
static void test_model_invalid_filters(void **state) {
    (void)state;
    bl_model_t *m = model_test_ledger();
    static bl_transfer_t transfers[BL_FILTER_LIMIT_MAX];
    static bl_account_balance_t balances[BL_FILTER_LIMIT_MAX];
    static bl_account_t accounts[BL_FILTER_LIMIT_MAX];

    const bl_account_filter_t good = model_test_account_filter(A, BOTH, BL_FILTER_LIMIT_MAX);
    assert_int_equal(bl_model_account_transfers(m, &good, transfers), 7);
    assert_int_equal(bl_model_account_balances(m, &good, balances), 9);
    for (int kind = 0; kind < 10; kind++) {
        bl_account_filter_t f = good;
        switch (kind) {
        case 0:
            f.account_id = 0;
            break;
        case 1:
            f.account_id = BL_U128_MAX;
            break;
        case 2:
            f.limit = 0;
            break;
        case 3:
            f.limit = BL_FILTER_LIMIT_MAX + 1;
            break;
        case 4:
            f.flags = BL_FILTER_REVERSED; /* no side */
            break;
        case 5:
            f.flags |= 1u << 3;
            break;
        case 6:
            f.reserved0 = 1;
            break;
        case 7:
            f.reserved1[55] = 1;
            break;
        case 8:
            f.reserved1[0] = 0x80;
            break;
        default:
            f.timestamp_min = 2001;
            f.timestamp_max = 2000;
            break;
        }
        assert_int_equal(bl_model_account_transfers(m, &f, transfers), 0);
        assert_int_equal(bl_model_account_balances(m, &f, balances), 0);
    }
    /* Valid edges: timestamp_min alone, min == max, limit 1. */
    bl_account_filter_t f = good;
    f.timestamp_min = 2001;
    assert_int_equal(bl_model_account_transfers(m, &f, transfers), 6);
    f.timestamp_max = 2001;
    f.limit = 1;
    assert_int_equal(bl_model_account_transfers(m, &f, transfers), 1);

    const bl_query_filter_t query_good = model_test_query_filter(0, BL_FILTER_LIMIT_MAX);
    assert_int_equal(bl_model_query_accounts(m, &query_good, accounts), 4);
    assert_int_equal(bl_model_query_transfers(m, &query_good, transfers), 7);
    for (int kind = 0; kind < 7; kind++) {
        bl_query_filter_t q = query_good;
        switch (kind) {
        case 0:
            q.limit = 0;
            break;
        case 1:
            q.limit = BL_FILTER_LIMIT_MAX + 1;
            break;
        case 2:
            q.flags = 1u << 1;
            break;
        case 3:
            q.reserved0[5] = 1;
            break;
        case 4:
            q.reserved1[0] = 1;
            break;
        case 5:
            q.reserved1[63] = 1;
            break;
        default:
            q.timestamp_min = 1003;
            q.timestamp_max = 1002;
            break;
        }
        assert_int_equal(bl_model_query_accounts(m, &q, accounts), 0);
        assert_int_equal(bl_model_query_transfers(m, &q, transfers), 0);
    }
    bl_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_account_transfers),
        cmocka_unit_test(test_model_account_balances),
        cmocka_unit_test(test_model_query),
        cmocka_unit_test(test_model_invalid_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
