/*
 * create_transfers and lookup_transfers through the engine, against PROTOCOL.md.
 *
 * CASES is a table of one-event checks: each case names its event (a base plain, pending, post
 * or void event and the fields that differ from it), the transfers created before it (each
 * must be ok), optionally one of them to expire first, and the result code the event must get.
 * It holds result codes 3..37, each built to trigger exactly that code for plain, pending,
 * post_pending and void_pending where the code applies, with the events that must still be ok
 * beside them, and the precedence orders (plain/pending and post/void) as events with several
 * faults. case_run() runs every case as a test of its own, named by the case: a wrong code is
 * reported with the case's name and both codes' names, and an event that is not ok must change
 * nothing (digest and transfer count).
 *
 * The tests that check more than one event's code are functions: ok and the stored record,
 * linked_event_failed and linked_event_chain_open, results within one request, and behaviour:
 * balances after plain, pending, post and void, expiry, the resolved fields of stored post/void
 * records, linked chains, balance limits, overflow near 2^128-1 (38..44), capacity, timestamps
 * and the state digest recomputed from lookups.
 *
 * Each test gets a fresh engine holding the accounts of accounts_setup() (ledger LEDGER unless
 * noted): 1..6 plain, 7 on ledger OTHER_LEDGER, 10 with debits_must_not_exceed_credits, 11
 * with credits_must_not_exceed_debits, 20..29 plain (for the overflow tests). Transfer ids
 * start at 1000 so that they are never mistaken for account ids. The whole group, cases and
 * functions, runs once with 1 partition and once with 4.
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

/* Initializers of the four base events; the optional trailing designators override fields. */
#define PLAIN(id_, debit_, credit_, amount_, ...)                                  \
    {                                                                              \
        .id = (id_), .debit_account_id = (debit_), .credit_account_id = (credit_), \
        .amount = (amount_), .ledger = LEDGER, .code = TCODE, __VA_ARGS__          \
    }
#define PENDING(id_, debit_, credit_, amount_, timeout_, ...)                                 \
    PLAIN(id_, debit_, credit_, amount_, .flags = BL_TRANSFER_PENDING, .timeout = (timeout_), \
          __VA_ARGS__)
/* A post_pending or void_pending with every optional field 0 (taken from the pending). */
#define POST(id_, pending_id_, amount_, ...)                           \
    {                                                                  \
        .id = (id_), .pending_id = (pending_id_), .amount = (amount_), \
        .flags = BL_TRANSFER_POST_PENDING, __VA_ARGS__                 \
    }
#define VOID(id_, pending_id_, amount_, ...)                           \
    {                                                                  \
        .id = (id_), .pending_id = (pending_id_), .amount = (amount_), \
        .flags = BL_TRANSFER_VOID_PENDING, __VA_ARGS__                 \
    }

static bl_transfer_t plain(bl_u128_t id, bl_u128_t debit, bl_u128_t credit, bl_u128_t amount) {
    return (bl_transfer_t)PLAIN(id, debit, credit, amount);
}

static bl_transfer_t pending(bl_u128_t id, bl_u128_t debit, bl_u128_t credit, bl_u128_t amount,
                             uint32_t timeout) {
    return (bl_transfer_t)PENDING(id, debit, credit, amount, timeout);
}

static bl_transfer_t post(bl_u128_t id, bl_u128_t pending_id, bl_u128_t amount) {
    return (bl_transfer_t)POST(id, pending_id, amount);
}

static bl_transfer_t voiding(bl_u128_t id, bl_u128_t pending_id, bl_u128_t amount) {
    return (bl_transfer_t)VOID(id, pending_id, amount);
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
/* The table of one-event cases.                                                              */

#define CASE_SETUP_MAX 3

typedef struct transfer_case {
    const char *name;
    uint32_t want; /* the event's result code */
    bl_transfer_t event;
    bl_transfer_t setup[CASE_SETUP_MAX]; /* created first, one block each, each ok (id 0 ends) */
    bl_u128_t expire; /* if not 0: a pending of setup, expired (at its deadline) before the event */
} transfer_case_t;

#define TR(code) BL_CREATE_TRANSFER_##code
/* The transfers a case creates first. */
#define SETUP(...) \
    { __VA_ARGS__ }

/* Setups most cases share: a pending transfer 1 -> 2 of 10 without timeout. */
#define P1000 PENDING(1000, 1, 2, 10, 0)
#define P1001 PENDING(1001, 1, 2, 10, 0)

/* The plain transfer exists_with_different_fields changes one field of. */
#define UD1000(...) \
    PLAIN(1000, 1, 2, 10, .user_data_128 = 11, .user_data_64 = 12, .user_data_32 = 13, __VA_ARGS__)
/* The post exists_with_different_fields changes one field of, after pendings 1000 and 1001. */
#define Q1002(...) POST(1002, 1000, 0, .user_data_64 = 77, __VA_ARGS__)
#define Q1002_SETUP SETUP(P1000, PENDING(1001, 3, 4, 10, 0), Q1002())

/* Pairs of mutually exclusive flags. */
#define PENDING_POST (BL_TRANSFER_PENDING | BL_TRANSFER_POST_PENDING)
#define PENDING_VOID (BL_TRANSFER_PENDING | BL_TRANSFER_VOID_PENDING)
#define POST_VOID (BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING)

#pragma GCC diagnostic push
/* The fields after a base event override the base's (C11 6.7.9p19), and a case without setup or
 * expiry leaves them out (0). */
#pragma GCC diagnostic ignored "-Woverride-init"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

static const transfer_case_t CASES[] = {
    /* 3..20: validation. */
    {"plain: timestamp 1", TR(TIMESTAMP_MUST_BE_ZERO), PLAIN(1000, 1, 2, 10, .timestamp = 1)},
    {"pending: timestamp 2^64-1", TR(TIMESTAMP_MUST_BE_ZERO),
     PENDING(1000, 1, 2, 10, 0, .timestamp = UINT64_MAX)},
    {"post: timestamp 5", TR(TIMESTAMP_MUST_BE_ZERO), POST(1002, 1001, 0, .timestamp = 5),
     SETUP(P1001)},
    {"plain: reserved flag bit 4", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 4)},
    {"plain: reserved flag bit 5", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 5)},
    {"plain: reserved flag bit 6", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 6)},
    {"plain: reserved flag bit 7", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 7)},
    {"plain: reserved flag bit 8", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 8)},
    {"plain: reserved flag bit 9", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 9)},
    {"plain: reserved flag bit 10", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 10)},
    {"plain: reserved flag bit 11", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 11)},
    {"plain: reserved flag bit 12", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 12)},
    {"plain: reserved flag bit 13", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 13)},
    {"plain: reserved flag bit 14", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 14)},
    {"plain: reserved flag bit 15", TR(RESERVED_FLAG), PLAIN(1000, 1, 2, 10, .flags = 1u << 15)},
    {"post: reserved flag 0x10", TR(RESERVED_FLAG),
     POST(1002, 1001, 0, .flags = BL_TRANSFER_POST_PENDING | 0x10), SETUP(P1001)},
    {"plain: id 0", TR(ID_MUST_NOT_BE_ZERO), PLAIN(0, 1, 2, 10)},
    {"pending: id 0", TR(ID_MUST_NOT_BE_ZERO), PENDING(0, 1, 2, 10, 0)},
    {"post: id 0", TR(ID_MUST_NOT_BE_ZERO), POST(0, 1001, 0), SETUP(P1001)},
    {"void: id 0", TR(ID_MUST_NOT_BE_ZERO), VOID(0, 1001, 0), SETUP(P1001)},
    {"plain: id 2^128-1", TR(ID_MUST_NOT_BE_INT_MAX), PLAIN(BL_U128_MAX, 1, 2, 10)},
    {"post: id 2^128-1", TR(ID_MUST_NOT_BE_INT_MAX), POST(BL_U128_MAX, 1001, 0), SETUP(P1001)},
    {"plain: id 2^128-2 is ok", TR(OK), PLAIN(BL_U128_MAX - 1, 1, 2, 10)},
    {"flags pending and post", TR(FLAGS_ARE_MUTUALLY_EXCLUSIVE),
     POST(1002, 1001, 0, .flags = PENDING_POST), SETUP(P1001)},
    {"flags pending and void", TR(FLAGS_ARE_MUTUALLY_EXCLUSIVE),
     POST(1002, 1001, 0, .flags = PENDING_VOID), SETUP(P1001)},
    {"flags post and void", TR(FLAGS_ARE_MUTUALLY_EXCLUSIVE),
     POST(1002, 1001, 0, .flags = POST_VOID), SETUP(P1001)},
    {"flags pending, post and void", TR(FLAGS_ARE_MUTUALLY_EXCLUSIVE),
     POST(1002, 1001, 0, .flags = PENDING_POST | BL_TRANSFER_VOID_PENDING), SETUP(P1001)},
    {"plain: debit_account_id 0", TR(DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO), PLAIN(1000, 0, 2, 10)},
    {"pending: debit_account_id 0", TR(DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
     PENDING(1000, 0, 2, 10, 0)},
    {"plain: debit_account_id 2^128-1", TR(DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
     PLAIN(1000, BL_U128_MAX, 2, 10)},
    {"post: debit_account_id 2^128-1", TR(DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
     POST(1002, 1001, 0, .debit_account_id = BL_U128_MAX), SETUP(P1001)},
    {"void: debit_account_id 2^128-1", TR(DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
     VOID(1002, 1001, 0, .debit_account_id = BL_U128_MAX), SETUP(P1001)},
    {"plain: credit_account_id 0", TR(CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO), PLAIN(1000, 1, 0, 10)},
    {"pending: credit_account_id 0", TR(CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
     PENDING(1000, 1, 0, 10, 0)},
    {"plain: credit_account_id 2^128-1", TR(CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
     PLAIN(1000, 1, BL_U128_MAX, 10)},
    {"post: credit_account_id 2^128-1", TR(CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
     POST(1002, 1001, 0, .credit_account_id = BL_U128_MAX), SETUP(P1001)},
    {"void: credit_account_id 2^128-1", TR(CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
     VOID(1002, 1001, 0, .credit_account_id = BL_U128_MAX), SETUP(P1001)},
    {"plain: accounts the same", TR(ACCOUNTS_MUST_BE_DIFFERENT), PLAIN(1000, 1, 1, 10)},
    {"pending: accounts the same", TR(ACCOUNTS_MUST_BE_DIFFERENT), PENDING(1000, 2, 2, 10, 0)},
    {"post: accounts the same", TR(ACCOUNTS_MUST_BE_DIFFERENT),
     POST(1002, 1001, 0, .debit_account_id = 1, .credit_account_id = 1), SETUP(P1001)},
    {"void: accounts the same", TR(ACCOUNTS_MUST_BE_DIFFERENT),
     VOID(1002, 1001, 0, .debit_account_id = 2, .credit_account_id = 2), SETUP(P1001)},
    /* Only when both are non-zero: one given (and matching), the other 0, is fine. */
    {"post: debit_account_id given, credit 0", TR(OK), POST(1002, 1001, 0, .debit_account_id = 1),
     SETUP(P1001)},
    {"plain: pending_id set", TR(PENDING_ID_MUST_BE_ZERO),
     PLAIN(1000, 1, 2, 10, .pending_id = 1001), SETUP(P1001)},
    {"pending: pending_id set", TR(PENDING_ID_MUST_BE_ZERO),
     PENDING(1000, 1, 2, 10, 0, .pending_id = 1), SETUP(P1001)},
    {"post: pending_id 0", TR(PENDING_ID_MUST_NOT_BE_ZERO), POST(1000, 0, 0)},
    {"void: pending_id 0", TR(PENDING_ID_MUST_NOT_BE_ZERO), VOID(1000, 0, 0)},
    {"post: pending_id 2^128-1", TR(PENDING_ID_MUST_NOT_BE_INT_MAX), POST(1000, BL_U128_MAX, 0)},
    {"void: pending_id 2^128-1", TR(PENDING_ID_MUST_NOT_BE_INT_MAX), VOID(1000, BL_U128_MAX, 0)},
    {"post: pending_id its own id", TR(PENDING_ID_MUST_BE_DIFFERENT), POST(1000, 1000, 0)},
    {"void: pending_id its own id", TR(PENDING_ID_MUST_BE_DIFFERENT), VOID(1000, 1000, 0)},
    {"plain: timeout 1", TR(TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
     PLAIN(1000, 1, 2, 10, .timeout = 1)},
    {"post: timeout 30", TR(TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
     POST(1002, 1001, 0, .timeout = 30), SETUP(P1001)},
    {"void: timeout 2^32-1", TR(TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
     VOID(1002, 1001, 0, .timeout = UINT32_MAX), SETUP(P1001)},
    {"plain: amount 0", TR(AMOUNT_MUST_NOT_BE_ZERO), PLAIN(1000, 1, 2, 0)},
    {"pending: amount 0", TR(AMOUNT_MUST_NOT_BE_ZERO), PENDING(1000, 1, 2, 0, 5)},
    /* Not for post and void: 0 means the pending amount. */
    {"post: amount 0 is ok", TR(OK), POST(1003, 1001, 0), SETUP(P1001)},
    {"void: amount 0 is ok", TR(OK), VOID(1004, 1002, 0), SETUP(PENDING(1002, 1, 2, 10, 0))},
    {"plain: ledger 0", TR(LEDGER_MUST_NOT_BE_ZERO), PLAIN(1000, 1, 2, 10, .ledger = 0)},
    {"pending: ledger 0", TR(LEDGER_MUST_NOT_BE_ZERO), PENDING(1000, 1, 2, 10, 0, .ledger = 0)},
    {"plain: code 0", TR(CODE_MUST_NOT_BE_ZERO), PLAIN(1000, 1, 2, 10, .code = 0)},
    {"pending: code 0", TR(CODE_MUST_NOT_BE_ZERO), PENDING(1000, 1, 2, 10, 0, .code = 0)},

    /* 21, 22: idempotency. The stored transfer is never changed (the state check). */
    {"exists plain: debit_account_id differs", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     UD1000(.debit_account_id = 3), SETUP(UD1000())},
    {"exists plain: credit_account_id differs", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     UD1000(.credit_account_id = 3), SETUP(UD1000())},
    {"exists plain: amount differs", TR(EXISTS_WITH_DIFFERENT_FIELDS), UD1000(.amount = 11),
     SETUP(UD1000())},
    {"exists plain: amount differs in bit 127", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     UD1000(.amount = 10 | ((bl_u128_t)1 << 127)), SETUP(UD1000())},
    {"exists plain: user_data_128 differs", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     UD1000(.user_data_128 = 0), SETUP(UD1000())},
    {"exists plain: user_data_64 differs", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     UD1000(.user_data_64 = 1), SETUP(UD1000())},
    {"exists plain: user_data_32 differs", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     UD1000(.user_data_32 = 14), SETUP(UD1000())},
    {"exists plain: ledger differs", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     UD1000(.ledger = OTHER_LEDGER), SETUP(UD1000())},
    {"exists plain: code differs", TR(EXISTS_WITH_DIFFERENT_FIELDS), UD1000(.code = TCODE + 1),
     SETUP(UD1000())},
    {"exists plain: flags differ", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     UD1000(.flags = BL_TRANSFER_PENDING), SETUP(UD1000())},
    {"exists pending: timeout differs", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     PENDING(1000, 1, 2, 10, 31), SETUP(PENDING(1000, 1, 2, 10, 30))},
    {"exists pending: timeout 0", TR(EXISTS_WITH_DIFFERENT_FIELDS), PENDING(1000, 1, 2, 10, 0),
     SETUP(PENDING(1000, 1, 2, 10, 30))},
    {"exists pending: sent as plain", TR(EXISTS_WITH_DIFFERENT_FIELDS), PLAIN(1000, 1, 2, 10),
     SETUP(PENDING(1000, 1, 2, 10, 30))},
    {"exists pending: the same", TR(EXISTS), PENDING(1000, 1, 2, 10, 30),
     SETUP(PENDING(1000, 1, 2, 10, 30))},
    {"exists post: amount differs", TR(EXISTS_WITH_DIFFERENT_FIELDS), Q1002(.amount = 9),
     Q1002_SETUP},
    {"exists post: debit_account_id differs", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     Q1002(.debit_account_id = 3), Q1002_SETUP},
    {"exists post: credit_account_id differs", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     Q1002(.credit_account_id = 1), Q1002_SETUP},
    {"exists post: ledger differs", TR(EXISTS_WITH_DIFFERENT_FIELDS), Q1002(.ledger = OTHER_LEDGER),
     Q1002_SETUP},
    {"exists post: code differs", TR(EXISTS_WITH_DIFFERENT_FIELDS), Q1002(.code = TCODE + 1),
     Q1002_SETUP},
    {"exists post: user_data_64 differs", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     Q1002(.user_data_64 = 78), Q1002_SETUP},
    {"exists post: pending_id differs", TR(EXISTS_WITH_DIFFERENT_FIELDS), Q1002(.pending_id = 1001),
     Q1002_SETUP},
    {"exists post: sent as void", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     Q1002(.flags = BL_TRANSFER_VOID_PENDING), Q1002_SETUP},
    {"exists plain: the same", TR(EXISTS), PLAIN(1000, 1, 2, 10, .user_data_32 = 3),
     SETUP(PLAIN(1000, 1, 2, 10, .user_data_32 = 3))},
    {"exists pending: the same, with timeout", TR(EXISTS), PENDING(1002, 3, 4, 5, 100),
     SETUP(PENDING(1002, 3, 4, 5, 100))},
    /* A post resent as sent: exists (not pending_transfer_already_posted); with amount 0
     * (matches the stored 4); with every resolved field given. */
    {"exists post: as sent", TR(EXISTS), POST(1001, 1000, 4), SETUP(P1000, POST(1001, 1000, 4))},
    {"exists post: amount 0", TR(EXISTS), POST(1001, 1000, 0), SETUP(P1000, POST(1001, 1000, 4))},
    {"exists post: resolved fields given", TR(EXISTS),
     POST(1001, 1000, 4, .debit_account_id = 1, .credit_account_id = 2, .ledger = LEDGER,
          .code = TCODE),
     SETUP(P1000, POST(1001, 1000, 4))},
    /* A void: resent with 0 or with the pending amount. */
    {"exists void: amount 0", TR(EXISTS), VOID(1003, 1002, 0),
     SETUP(PENDING(1002, 3, 4, 7, 0), VOID(1003, 1002, 0))},
    {"exists void: the pending amount", TR(EXISTS), VOID(1003, 1002, 7),
     SETUP(PENDING(1002, 3, 4, 7, 0), VOID(1003, 1002, 0))},
    {"exists void: another amount", TR(EXISTS_WITH_DIFFERENT_FIELDS), VOID(1003, 1002, 6),
     SETUP(PENDING(1002, 3, 4, 7, 0), VOID(1003, 1002, 0))},

    /* 23..26: accounts and ledgers. */
    {"plain: debit account missing", TR(DEBIT_ACCOUNT_NOT_FOUND), PLAIN(1000, 99, 2, 10)},
    {"pending: debit account missing", TR(DEBIT_ACCOUNT_NOT_FOUND), PENDING(1000, 99, 2, 10, 0)},
    {"plain: credit account missing", TR(CREDIT_ACCOUNT_NOT_FOUND), PLAIN(1000, 1, 99, 10)},
    {"pending: credit account missing", TR(CREDIT_ACCOUNT_NOT_FOUND), PENDING(1000, 1, 99, 10, 0)},
    {"plain: accounts on two ledgers", TR(ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER),
     PLAIN(1000, 1, 7, 10)},
    {"pending: accounts on two ledgers", TR(ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER),
     PENDING(1000, 7, 1, 10, 0)},
    {"plain: ledger not the accounts'", TR(TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS),
     PLAIN(1000, 1, 2, 10, .ledger = OTHER_LEDGER)},
    {"pending: ledger not the accounts'", TR(TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS),
     PENDING(1000, 1, 2, 10, 0, .ledger = 3)},
    /* Accounts and transfers have separate id spaces: transfer id 1 is fine. */
    {"plain: id 1 (an account's id)", TR(OK), PLAIN(1, 1, 2, 10)},

    /* 27..37: post and void. */
    {"post: pending missing", TR(PENDING_TRANSFER_NOT_FOUND), POST(1000, 999, 0)},
    {"void: pending missing", TR(PENDING_TRANSFER_NOT_FOUND), VOID(1000, 999, 0)},
    /* Account ids are not transfer ids. */
    {"post: pending_id of an account", TR(PENDING_TRANSFER_NOT_FOUND), POST(1000, 1, 0)},
    {"post: of a plain transfer", TR(PENDING_TRANSFER_NOT_PENDING), POST(1001, 1000, 0),
     SETUP(PLAIN(1000, 1, 2, 10))},
    {"void: of a plain transfer", TR(PENDING_TRANSFER_NOT_PENDING), VOID(1001, 1000, 0),
     SETUP(PLAIN(1000, 1, 2, 10))},
    /* A post is not a pending transfer either. */
    {"void: of a post", TR(PENDING_TRANSFER_NOT_PENDING), VOID(1004, 1003, 0),
     SETUP(PENDING(1002, 1, 2, 10, 0), POST(1003, 1002, 0))},
    {"post: debit_account_id differs", TR(PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
     POST(1001, 1000, 0, .debit_account_id = 3), SETUP(P1000)},
    {"void: debit_account_id differs", TR(PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
     VOID(1001, 1000, 0, .debit_account_id = 3), SETUP(P1000)},
    /* Even to an account that does not exist. */
    {"post: debit_account_id differs, missing", TR(PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
     POST(1001, 1000, 0, .debit_account_id = 99), SETUP(P1000)},
    {"post: credit_account_id differs", TR(PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID),
     POST(1001, 1000, 0, .credit_account_id = 3), SETUP(P1000)},
    {"void: credit_account_id differs", TR(PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID),
     VOID(1001, 1000, 0, .credit_account_id = 3), SETUP(P1000)},
    {"post: ledger differs", TR(PENDING_TRANSFER_HAS_DIFFERENT_LEDGER),
     POST(1001, 1000, 0, .ledger = OTHER_LEDGER), SETUP(P1000)},
    {"void: ledger differs", TR(PENDING_TRANSFER_HAS_DIFFERENT_LEDGER),
     VOID(1001, 1000, 0, .ledger = OTHER_LEDGER), SETUP(P1000)},
    {"post: code differs", TR(PENDING_TRANSFER_HAS_DIFFERENT_CODE),
     POST(1001, 1000, 0, .code = TCODE + 1), SETUP(P1000)},
    {"void: code differs", TR(PENDING_TRANSFER_HAS_DIFFERENT_CODE),
     VOID(1001, 1000, 0, .code = TCODE + 1), SETUP(P1000)},
    {"post: amount above the pending's", TR(EXCEEDS_PENDING_TRANSFER_AMOUNT), POST(1001, 1000, 11),
     SETUP(P1000)},
    {"post: amount 2^128-2", TR(EXCEEDS_PENDING_TRANSFER_AMOUNT), POST(1001, 1000, BL_U128_MAX - 1),
     SETUP(P1000)},
    {"post: amount the pending's", TR(OK), POST(1001, 1000, 10), SETUP(P1000)},
    {"void: amount below the pending's", TR(PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT),
     VOID(1001, 1000, 9), SETUP(P1000)},
    {"void: amount above the pending's", TR(PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT),
     VOID(1001, 1000, 11), SETUP(P1000)},
    {"void: amount 1", TR(PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT), VOID(1001, 1000, 1),
     SETUP(P1000)},
    {"void: amount the pending's", TR(OK), VOID(1001, 1000, 10), SETUP(P1000)},
    {"post: of a posted pending", TR(PENDING_TRANSFER_ALREADY_POSTED), POST(1002, 1000, 3),
     SETUP(P1000, POST(1001, 1000, 3))},
    {"void: of a posted pending", TR(PENDING_TRANSFER_ALREADY_POSTED), VOID(1002, 1000, 0),
     SETUP(P1000, POST(1001, 1000, 3))},
    {"post: of a voided pending", TR(PENDING_TRANSFER_ALREADY_VOIDED), POST(1002, 1000, 0),
     SETUP(P1000, VOID(1001, 1000, 0))},
    {"void: of a voided pending", TR(PENDING_TRANSFER_ALREADY_VOIDED), VOID(1002, 1000, 0),
     SETUP(P1000, VOID(1001, 1000, 0))},
    {"post: of an expired pending", TR(PENDING_TRANSFER_EXPIRED), POST(1001, 1000, 0),
     SETUP(PENDING(1000, 1, 2, 10, 1)), 1000},
    {"void: of an expired pending", TR(PENDING_TRANSFER_EXPIRED), VOID(1001, 1000, 0),
     SETUP(PENDING(1000, 1, 2, 10, 1)), 1000},

    /* Precedence, plain and pending: an event with several faults gets the first code in
     * precedence order; "a < b" names the code it gets and one it must come before. */
    {"plain order: 3 < 4", TR(TIMESTAMP_MUST_BE_ZERO),
     PLAIN(0, 0, 0, 0, .ledger = 0, .code = 0, .timestamp = 1, .flags = 0x40)},
    {"plain order: 4 < 5", TR(RESERVED_FLAG),
     PLAIN(0, 0, 0, 0, .ledger = 0, .code = 0, .flags = 0x40)},
    {"plain order: 5 < 7", TR(ID_MUST_NOT_BE_ZERO),
     PLAIN(0, 0, 0, 0, .ledger = 0, .code = 0, .flags = PENDING_VOID)},
    {"plain order: 6 < 7", TR(ID_MUST_NOT_BE_INT_MAX),
     PLAIN(BL_U128_MAX, 0, 0, 0, .ledger = 0, .code = 0, .flags = PENDING_VOID)},
    {"plain order: 7 < 8", TR(FLAGS_ARE_MUTUALLY_EXCLUSIVE),
     PLAIN(1000, 0, 0, 0, .ledger = 0, .code = 0, .flags = PENDING_VOID)},
    {"plain order: 8 < 10", TR(DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
     PLAIN(1000, 0, 0, 0, .ledger = 0, .code = 0)},
    {"plain order: 9 < 10", TR(DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
     PLAIN(1000, BL_U128_MAX, 0, 0, .ledger = 0, .code = 0)},
    {"plain order: 10 < 18", TR(CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
     PLAIN(1000, 1, 0, 0, .ledger = 0, .code = 0)},
    {"plain order: 9 < 11, 12", TR(DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
     PLAIN(1000, BL_U128_MAX, BL_U128_MAX, 0, .ledger = 0, .code = 0)},
    {"plain order: 12 < 13", TR(ACCOUNTS_MUST_BE_DIFFERENT),
     PLAIN(1000, 1, 1, 0, .ledger = 0, .code = 0, .pending_id = 5, .timeout = 3)},
    /* (credit account 99 is missing, but found only later) */
    {"plain order: 13 < 17", TR(PENDING_ID_MUST_BE_ZERO),
     PLAIN(1000, 1, 99, 0, .ledger = 0, .code = 0, .pending_id = 5, .timeout = 3)},
    {"plain order: 17 < 18", TR(TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
     PLAIN(1000, 1, 99, 0, .ledger = 0, .code = 0, .timeout = 3)},
    {"plain order: 18 < 19", TR(AMOUNT_MUST_NOT_BE_ZERO),
     PLAIN(1000, 1, 99, 0, .ledger = 0, .code = 0)},
    {"plain order: 19 < 20", TR(LEDGER_MUST_NOT_BE_ZERO),
     PLAIN(1000, 1, 99, 1, .ledger = 0, .code = 0)},
    {"plain order: 20 < 23", TR(CODE_MUST_NOT_BE_ZERO), PLAIN(1000, 1, 99, 1, .code = 0)},
    {"plain order: 23 < 24", TR(DEBIT_ACCOUNT_NOT_FOUND), PLAIN(1000, 98, 99, 1)},
    {"plain order: 24 < 25", TR(CREDIT_ACCOUNT_NOT_FOUND), PLAIN(1000, 7, 99, 1)},
    {"plain order: 25 < 26", TR(ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER),
     PLAIN(1000, 7, 2, 1, .ledger = 9)},
    /* (account 10 has no credits: the transfer would exceed them) */
    {"plain order: 26 < 45", TR(TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS),
     PLAIN(1000, 10, 2, 1, .ledger = 9)},
    {"plain order: 45", TR(EXCEEDS_CREDITS), PLAIN(1000, 10, 2, 1)},
    {"plain order: 20 < 21", TR(CODE_MUST_NOT_BE_ZERO), PLAIN(1000, 1, 2, 10, .code = 0),
     SETUP(PLAIN(1000, 1, 2, 10))},
    {"plain order: 18 < 22", TR(AMOUNT_MUST_NOT_BE_ZERO), PLAIN(1000, 1, 2, 0),
     SETUP(PLAIN(1000, 1, 2, 10))},
    {"plain order: 21 < 23", TR(EXISTS_WITH_DIFFERENT_FIELDS), PLAIN(1000, 99, 2, 10),
     SETUP(PLAIN(1000, 1, 2, 10))},
    {"plain order: 21 < 24", TR(EXISTS_WITH_DIFFERENT_FIELDS), PLAIN(1000, 1, 98, 10),
     SETUP(PLAIN(1000, 1, 2, 10))},
    {"plain order: 21 < 25", TR(EXISTS_WITH_DIFFERENT_FIELDS), PLAIN(1000, 1, 7, 10),
     SETUP(PLAIN(1000, 1, 2, 10))},

    /* Precedence, post and void (3, 4, 5, 6, 7, 9, 11, 12, 14, 15, 16, 17, 21, 22, 27, 28, 29,
     * 30, 31, 32, 35, 36, 37, 33, 34). */
    {"post order: 3 < 4", TR(TIMESTAMP_MUST_BE_ZERO),
     POST(0, 0, 0, .timestamp = 9, .flags = BL_TRANSFER_POST_PENDING | 0x100, .timeout = 1,
          .debit_account_id = BL_U128_MAX, .credit_account_id = BL_U128_MAX)},
    {"post order: 4 < 5", TR(RESERVED_FLAG),
     POST(0, 0, 0, .flags = BL_TRANSFER_POST_PENDING | 0x100, .timeout = 1,
          .debit_account_id = BL_U128_MAX, .credit_account_id = BL_U128_MAX)},
    {"post order: 5 < 7", TR(ID_MUST_NOT_BE_ZERO),
     POST(0, 0, 0, .flags = POST_VOID, .timeout = 1, .debit_account_id = BL_U128_MAX,
          .credit_account_id = BL_U128_MAX)},
    {"post order: 6 < 7", TR(ID_MUST_NOT_BE_INT_MAX),
     POST(BL_U128_MAX, 0, 0, .flags = POST_VOID, .timeout = 1, .debit_account_id = BL_U128_MAX,
          .credit_account_id = BL_U128_MAX)},
    {"post order: 7 < 9", TR(FLAGS_ARE_MUTUALLY_EXCLUSIVE),
     POST(1000, 0, 0, .flags = POST_VOID, .timeout = 1, .debit_account_id = BL_U128_MAX,
          .credit_account_id = BL_U128_MAX)},
    {"post order: 9 < 11", TR(DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
     POST(1000, 0, 0, .timeout = 1, .debit_account_id = BL_U128_MAX,
          .credit_account_id = BL_U128_MAX)},
    {"post order: 11 < 14", TR(CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
     POST(1000, 0, 0, .timeout = 1, .debit_account_id = 3, .credit_account_id = BL_U128_MAX)},
    {"post order: 12 < 14", TR(ACCOUNTS_MUST_BE_DIFFERENT),
     POST(1000, 0, 0, .timeout = 1, .debit_account_id = 3, .credit_account_id = 3)},
    {"post order: 14 < 17", TR(PENDING_ID_MUST_NOT_BE_ZERO),
     POST(1000, 0, 0, .timeout = 1, .debit_account_id = 3, .credit_account_id = 4)},
    {"post order: 15 < 17", TR(PENDING_ID_MUST_NOT_BE_INT_MAX),
     POST(1000, BL_U128_MAX, 0, .timeout = 1, .debit_account_id = 3, .credit_account_id = 4)},
    {"post order: 16 < 17", TR(PENDING_ID_MUST_BE_DIFFERENT),
     POST(1000, 1000, 0, .timeout = 1, .debit_account_id = 3, .credit_account_id = 4)},
    {"post order: 17 < 27", TR(TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
     POST(1000, 2000, 0, .timeout = 1, .debit_account_id = 3, .credit_account_id = 4)},
    {"post order: 27", TR(PENDING_TRANSFER_NOT_FOUND),
     POST(1000, 2000, 0, .debit_account_id = 3, .credit_account_id = 4)},
    {"post order: 17 < 22", TR(TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
     POST(1001, 1000, 0, .timeout = 5), SETUP(P1000, POST(1001, 1000, 0))},
    {"post order: 14 < 21", TR(PENDING_ID_MUST_NOT_BE_ZERO), POST(1001, 0, 0),
     SETUP(P1000, POST(1001, 1000, 0))},
    /* The pending is posted, but by this very post. */
    {"post order: 22 < 35", TR(EXISTS), POST(1001, 1000, 0), SETUP(P1000, POST(1001, 1000, 0))},
    {"post order: 21 < 27", TR(EXISTS_WITH_DIFFERENT_FIELDS), POST(1001, 5555, 0),
     SETUP(P1000, POST(1001, 1000, 0))},
    {"post order: 21 < 33", TR(EXISTS_WITH_DIFFERENT_FIELDS), POST(1001, 1000, 11),
     SETUP(P1000, POST(1001, 1000, 0))},
    {"post order: 21 (a plain transfer's id)", TR(EXISTS_WITH_DIFFERENT_FIELDS),
     POST(1002, 1000, 0), SETUP(P1000, POST(1001, 1000, 0), PLAIN(1002, 1, 2, 5))},
    /* The pending's own id as a post id: 21, not 16 (they differ) nor 35. */
    {"post order: 21 < 35 (a pending's id)", TR(EXISTS_WITH_DIFFERENT_FIELDS), POST(1003, 1000, 0),
     SETUP(P1000, POST(1001, 1000, 0), PENDING(1003, 1, 2, 10, 0))},
    {"post order: 28 < 29", TR(PENDING_TRANSFER_NOT_PENDING),
     POST(1001, 1000, 99, .debit_account_id = 3, .code = 77), SETUP(PLAIN(1000, 1, 2, 10))},
    {"post order: 29 < 30", TR(PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
     POST(1001, 1000, 0, .debit_account_id = 3, .credit_account_id = 4, .ledger = OTHER_LEDGER,
          .code = TCODE + 1),
     SETUP(P1000)},
    {"post order: 30 < 31", TR(PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID),
     POST(1001, 1000, 0, .debit_account_id = 1, .credit_account_id = 4, .ledger = OTHER_LEDGER,
          .code = TCODE + 1),
     SETUP(P1000)},
    {"post order: 31 < 32", TR(PENDING_TRANSFER_HAS_DIFFERENT_LEDGER),
     POST(1001, 1000, 0, .debit_account_id = 1, .ledger = OTHER_LEDGER, .code = TCODE + 1),
     SETUP(P1000)},
    {"post order: 32 < 33", TR(PENDING_TRANSFER_HAS_DIFFERENT_CODE),
     POST(1001, 1000, 0, .debit_account_id = 1, .ledger = LEDGER, .code = TCODE + 1), SETUP(P1000)},
    {"post order: 33", TR(EXCEEDS_PENDING_TRANSFER_AMOUNT),
     POST(1001, 1000, 11, .debit_account_id = 1, .ledger = LEDGER), SETUP(P1000)},
    {"post order: ok with fields given", TR(OK),
     POST(1001, 1000, 10, .debit_account_id = 1, .ledger = LEDGER), SETUP(P1000)},
    /* 29..32 come before 35..37. */
    {"post order: 29 < 35", TR(PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
     POST(1020, 1000, 0, .debit_account_id = 3), SETUP(P1000, POST(1010, 1000, 0))},
    {"post order: 30 < 35", TR(PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID),
     POST(1020, 1000, 0, .credit_account_id = 3), SETUP(P1000, POST(1010, 1000, 0))},
    {"post order: 31 < 35", TR(PENDING_TRANSFER_HAS_DIFFERENT_LEDGER),
     POST(1020, 1000, 0, .ledger = OTHER_LEDGER), SETUP(P1000, POST(1010, 1000, 0))},
    {"post order: 32 < 35", TR(PENDING_TRANSFER_HAS_DIFFERENT_CODE),
     POST(1020, 1000, 0, .code = TCODE + 1), SETUP(P1000, POST(1010, 1000, 0))},
    {"void order: 29 < 36", TR(PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
     VOID(1020, 1001, 0, .debit_account_id = 3), SETUP(P1001, VOID(1011, 1001, 0))},
    {"void order: 30 < 36", TR(PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID),
     VOID(1020, 1001, 0, .credit_account_id = 3), SETUP(P1001, VOID(1011, 1001, 0))},
    {"void order: 31 < 36", TR(PENDING_TRANSFER_HAS_DIFFERENT_LEDGER),
     VOID(1020, 1001, 0, .ledger = OTHER_LEDGER), SETUP(P1001, VOID(1011, 1001, 0))},
    {"void order: 32 < 36", TR(PENDING_TRANSFER_HAS_DIFFERENT_CODE),
     VOID(1020, 1001, 0, .code = TCODE + 1), SETUP(P1001, VOID(1011, 1001, 0))},
    {"post order: 29 < 37", TR(PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
     POST(1020, 1002, 0, .debit_account_id = 3), SETUP(PENDING(1002, 1, 2, 10, 1)), 1002},
    {"post order: 30 < 37", TR(PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID),
     POST(1020, 1002, 0, .credit_account_id = 3), SETUP(PENDING(1002, 1, 2, 10, 1)), 1002},
    {"post order: 31 < 37", TR(PENDING_TRANSFER_HAS_DIFFERENT_LEDGER),
     POST(1020, 1002, 0, .ledger = OTHER_LEDGER), SETUP(PENDING(1002, 1, 2, 10, 1)), 1002},
    {"post order: 32 < 37", TR(PENDING_TRANSFER_HAS_DIFFERENT_CODE),
     POST(1020, 1002, 0, .code = TCODE + 1), SETUP(PENDING(1002, 1, 2, 10, 1)), 1002},
    {"post order: 35 < 33", TR(PENDING_TRANSFER_ALREADY_POSTED), POST(1002, 1000, 11),
     SETUP(P1000, POST(1001, 1000, 0))},
    {"void order: 35 < 34", TR(PENDING_TRANSFER_ALREADY_POSTED), VOID(1002, 1000, 3),
     SETUP(P1000, POST(1001, 1000, 0))},
    {"void order: 36 < 34", TR(PENDING_TRANSFER_ALREADY_VOIDED), VOID(1002, 1000, 3),
     SETUP(P1000, VOID(1001, 1000, 0))},
    {"post order: 36 < 33", TR(PENDING_TRANSFER_ALREADY_VOIDED), POST(1002, 1000, 11),
     SETUP(P1000, VOID(1001, 1000, 0))},
    {"post order: 37 < 33", TR(PENDING_TRANSFER_EXPIRED), POST(1001, 1000, 11),
     SETUP(PENDING(1000, 1, 2, 10, 1)), 1000},
    {"void order: 37 < 34", TR(PENDING_TRANSFER_EXPIRED), VOID(1001, 1000, 3),
     SETUP(PENDING(1000, 1, 2, 10, 1)), 1000},
};

#pragma GCC diagnostic pop

#define CASES_COUNT (sizeof(CASES) / sizeof(CASES[0]))

typedef struct case_run {
    const transfer_case_t *c;
    bl_engine_t *e;
} case_run_t;

static int case_setup(void **state) {
    case_run_t *run = *state;
    run->e = engine_with_accounts(TEST_TRANSFERS_MAX);
    return 0;
}

static int case_teardown(void **state) {
    case_run_t *run = *state;
    bl_engine_destroy(run->e);
    run->e = NULL;
    return 0;
}

/* Runs one case: its setup, each ok, then its event, which must get the case's code; an event
 * that is not ok must leave the digest and the transfer count as they were, an ok one is stored
 * at its timestamp. A failure names the case first. */
static void case_run(void **state) {
    const transfer_case_t *c = ((case_run_t *)*state)->c;
    bl_engine_t *e = ((case_run_t *)*state)->e;
    for (int i = 0; i < CASE_SETUP_MAX && c->setup[i].id != 0; i++) {
        uint32_t code = transfer_create(e, c->setup[i]);
        if (code != BL_CREATE_TRANSFER_OK)
            print_error("case \"%s\", setup transfer %d:\n", c->name, i);
        assert_tr(code, BL_CREATE_TRANSFER_OK);
    }
    if (c->expire != 0) block_empty_at(e, deadline_of(e, c->expire));
    bl_u128_t digest = bl_engine_digest(e);
    uint64_t count = bl_engine_transfers_count(e);
    uint64_t ts = ts_next(e);
    uint32_t code = transfer_create_at(e, ts, c->event);
    if (code != c->want) print_error("case \"%s\":\n", c->name);
    assert_tr(code, c->want);
    bl_transfer_t stored;
    if (code == BL_CREATE_TRANSFER_OK) {
        if (bl_engine_transfers_count(e) != count + 1 || !transfer_get(e, c->event.id, &stored) ||
            stored.timestamp != ts) {
            print_error("case \"%s\": ok, but the transfer is not stored at %llu\n", c->name,
                        (unsigned long long)ts);
            fail();
        }
    } else if (bl_engine_digest(e) != digest || bl_engine_transfers_count(e) != count) {
        print_error("case \"%s\": %s changed the state\n", c->name,
                    bl_create_transfer_result_name(code));
        fail();
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Checked by functions: ok and the stored record, 1 and 2, several events in one request.    */

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

static void test_flags_are_mutually_exclusive_linked(void **state) {
    bl_engine_t *e = E(state);
    const uint16_t combos[4] = {
        BL_TRANSFER_PENDING | BL_TRANSFER_POST_PENDING,
        BL_TRANSFER_PENDING | BL_TRANSFER_VOID_PENDING,
        BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING,
        BL_TRANSFER_PENDING | BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING,
    };
    for (int i = 0; i < 4; i++) {
        bl_transfer_t t = plain(1003, 1, 2, 10);
        t.flags = combos[i] | BL_TRANSFER_LINKED;
        /* (a linked last event would be an open chain: end the chain with a valid event) */
        bl_transfer_t chain[2] = {t, plain(1004, 1, 2, 1)};
        uint32_t codes[2];
        transfers_create(e, chain, 2, codes);
        assert_tr(codes[0], BL_CREATE_TRANSFER_FLAGS_ARE_MUTUALLY_EXCLUSIVE);
        assert_tr(codes[1], BL_CREATE_TRANSFER_LINKED_EVENT_FAILED);
    }
    assert_int_equal(bl_engine_transfers_count(e), 0);
    assert_balances(e, 1, 0, 0, 0, 0);
}

static void test_exists_linked_flag_not_compared(void **state) {
    bl_engine_t *e = E(state);
    bl_transfer_t t = plain(1000, 1, 2, 10);
    t.user_data_32 = 3;
    assert_tr(transfer_create(e, t), BL_CREATE_TRANSFER_OK);
    bl_transfer_t chain[2] = {linked(t), plain(1001, 1, 2, 1)};
    uint32_t codes[2];
    transfers_create(e, chain, 2, codes);
    assert_tr(codes[0], BL_CREATE_TRANSFER_EXISTS);
    assert_tr(codes[1], BL_CREATE_TRANSFER_OK);
    assert_balances(e, 1, 0, 11, 0, 0);
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
/* Precedence with balance limits, overflow and capacity.                                     */

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
    const struct CMUnitTest functions[] = {
        T(test_ok_plain),
        T(test_ok_pending),
        T(test_linked_event_failed),
        T(test_linked_event_chain_open),
        T(test_flags_are_mutually_exclusive_linked),
        T(test_exists_linked_flag_not_compared),
        T(test_exists_within_one_request),
        T(test_overflows_debits_pending),
        T(test_overflows_credits_pending),
        T(test_overflows_debits_posted),
        T(test_overflows_credits_posted),
        T(test_overflows_debits),
        T(test_overflows_credits),
        T(test_exceeds_credits),
        T(test_exceeds_debits),
        T(test_capacity_exhausted),
        T(test_capacity_expiry_takes_no_slot),
        T(test_precedence_exists_before_exceeds_credits),
        T(test_precedence_overflow_before_exceeds_credits),
        T(test_precedence_pending_overflow_before_exceeds_credits),
        T(test_precedence_exceeds_credits_before_capacity),
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
        T(test_overflows_timeout_near_u64_max),
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
    /* The cases first, each a test named by its case, then the functions. */
    static case_run_t runs[CASES_COUNT];
    struct CMUnitTest tests[CASES_COUNT + sizeof(functions) / sizeof(functions[0])];
    for (size_t i = 0; i < CASES_COUNT; i++) {
        runs[i].c = &CASES[i];
        tests[i] =
            (struct CMUnitTest){CASES[i].name, case_run, case_setup, case_teardown, &runs[i]};
    }
    memcpy(&tests[CASES_COUNT], functions, sizeof(functions));
    int failed = 0;
    g_partitions = 1;
    failed += cmocka_run_group_tests_name("transfers, 1 partition", tests, NULL, NULL);
    g_partitions = 4;
    failed += cmocka_run_group_tests_name("transfers, 4 partitions", tests, NULL, NULL);
    return failed;
}
