/*
 * Helpers shared by the engine unit tests (test_accounts.c, test_transfers.c): building
 * accounts and transfers, running one-request blocks with a running block timestamp, reading
 * results back as one code per event, lookups, balance checks, and a state digest recomputed
 * from lookups as PROTOCOL.md defines it.
 *
 * Every helper is static inline so that a test file uses only what it needs without warnings.
 * The engine under test is created with g_partitions partitions; each test program runs its
 * whole group once per partition count, since results must not depend on it.
 */
#ifndef BALLAST_TESTS_ENGINE_HELPERS_H
#define BALLAST_TESTS_ENGINE_HELPERS_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ballast/protocol.h"
#include "common/hash.h"
#include "engine/engine.h"

#define TEST_ACCOUNTS_MAX 4096u
#define TEST_TRANSFERS_MAX 4096u
#define TEST_TIMESTAMP_FIRST 1000ull

/* Partition count of the engines created by the running group (set by each test's main). */
static uint32_t g_partitions = 1;
/* Engines without query indexes and account transfer lists: the filter reads scan. */
static bool g_indexes_off = false;

/* ------------------------------------------------------------------------------------------ */
/* 128-bit assertions.                                                                        */

static inline void u128_hex(bl_u128_t v, char out[35]) {
    snprintf(out, 35, "0x%016llx%016llx", (unsigned long long)(uint64_t)(v >> 64),
             (unsigned long long)(uint64_t)v);
}

#define assert_u128_equal(a, b) u128_assert_equal((a), (b), #a, #b, __FILE__, __LINE__)

static inline void u128_assert_equal(bl_u128_t a, bl_u128_t b, const char *a_text,
                                     const char *b_text, const char *file, int line) {
    if (a != b) {
        char a_hex[35], b_hex[35];
        u128_hex(a, a_hex);
        u128_hex(b, b_hex);
        print_error("%s:%d: %s = %s, expected %s = %s\n", file, line, a_text, a_hex, b_text, b_hex);
        _fail(file, line);
    }
}

/* Result-code assertions that print names, so a failure reads as the spec does. */
#define assert_ar(got, want) result_assert_equal((got), (want), true, __FILE__, __LINE__)
#define assert_tr(got, want) result_assert_equal((got), (want), false, __FILE__, __LINE__)

static inline void result_assert_equal(uint32_t got, uint32_t want, bool accounts, const char *file,
                                       int line) {
    if (got != want) {
        const char *got_name =
            accounts ? bl_create_account_result_name(got) : bl_create_transfer_result_name(got);
        const char *want_name =
            accounts ? bl_create_account_result_name(want) : bl_create_transfer_result_name(want);
        print_error("%s:%d: result %u (%s), expected %u (%s)\n", file, line, got,
                    got_name ? got_name : "?", want, want_name ? want_name : "?");
        _fail(file, line);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Engines.                                                                                   */

static inline bl_engine_t *engine_new(uint64_t accounts_max, uint64_t transfers_max) {
    bl_engine_config_t config = {
        .partitions = g_partitions,
        .accounts_max = accounts_max,
        .transfers_max = transfers_max,
        .block_events_max = 4 * BL_BATCH_EVENTS_MAX,
        .partition_threads = g_partitions > 1, /* both ways of running partitions are tested */
        .threads_items_min = 1,                /* even one-event blocks go to the threads */
        .indexes_off = g_indexes_off,
    };
    bl_engine_t *engine = NULL;
    assert_int_equal(bl_engine_create(&engine, &config), 0);
    assert_non_null(engine);
    assert_int_equal(bl_engine_partitions(engine), g_partitions);
    assert_int_equal(bl_engine_timestamp_last(engine), 0);
    return engine;
}

/* A new engine with `partitions` partitions loaded from an image of `engine`. */
static inline bl_engine_t *engine_reload(bl_engine_t *engine, uint32_t partitions) {
    FILE *file = tmpfile();
    assert_non_null(file);
    int fd = fileno(file);
    assert_int_equal(bl_engine_image_write(engine, fd, 1), 0);
    uint32_t saved = g_partitions;
    g_partitions = partitions;
    bl_engine_t *loaded = engine_new(TEST_ACCOUNTS_MAX, TEST_TRANSFERS_MAX);
    g_partitions = saved;
    uint64_t height = 0;
    assert_int_equal(bl_engine_image_read(loaded, fd, &height), 0);
    assert_int_equal(height, 1);
    fclose(file);
    return loaded;
}

static inline int engine_setup(void **state) {
    *state = engine_new(TEST_ACCOUNTS_MAX, TEST_TRANSFERS_MAX);
    return 0;
}

static inline int engine_teardown(void **state) {
    bl_engine_destroy(*state);
    return 0;
}

/* The smallest block timestamp the engine accepts next. */
static inline uint64_t ts_next(const bl_engine_t *engine) {
    uint64_t last = bl_engine_timestamp_last(engine);
    return last == 0 ? TEST_TIMESTAMP_FIRST : last + 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Records.                                                                                   */

static inline bl_account_t account_make(bl_u128_t id, uint32_t ledger, uint16_t code,
                                        uint16_t flags) {
    bl_account_t account;
    memset(&account, 0, sizeof(account));
    account.id = id;
    account.ledger = ledger;
    account.code = code;
    account.flags = flags;
    return account;
}

static inline bl_transfer_t transfer_make(bl_u128_t id, bl_u128_t debit_account_id,
                                          bl_u128_t credit_account_id, bl_u128_t amount,
                                          uint32_t ledger, uint16_t code, uint16_t flags) {
    bl_transfer_t transfer;
    memset(&transfer, 0, sizeof(transfer));
    transfer.id = id;
    transfer.debit_account_id = debit_account_id;
    transfer.credit_account_id = credit_account_id;
    transfer.amount = amount;
    transfer.ledger = ledger;
    transfer.code = code;
    transfer.flags = flags;
    return transfer;
}

/* A post_pending or void_pending with every optional field 0 (taken from the pending). */
static inline bl_transfer_t transfer_resolve(bl_u128_t id, bl_u128_t pending_id, bl_u128_t amount,
                                             uint16_t flags) {
    bl_transfer_t transfer = transfer_make(id, 0, 0, amount, 0, 0, flags);
    transfer.pending_id = pending_id;
    return transfer;
}

/* ------------------------------------------------------------------------------------------ */
/* Blocks.                                                                                    */

/* Turns a request's sparse results into one code per event (0 for ok), checking the reply
 * shape PROTOCOL.md gives: sorted by index, each index in range, no entry for an ok event. */
static inline void results_expand(const bl_request_t *request, uint32_t *codes) {
    assert_true(request->results_count <= request->count);
    memset(codes, 0, sizeof(*codes) * request->count);
    for (uint32_t i = 0; i < request->results_count; i++) {
        const bl_event_result_t *r = &request->results[i];
        assert_true(r->index < request->count);
        if (i > 0) {
            assert_true(r->index > request->results[i - 1].index);
        }
        assert_int_not_equal(r->result, 0);
        codes[r->index] = r->result;
    }
}

/* Executes a block at `timestamp` holding one create request of `count` events; writes each
 * event's result to `codes` (room for `count`). */
static inline void block_run_at(bl_engine_t *engine, uint64_t timestamp, uint16_t op,
                                const void *events, uint32_t count, uint32_t *codes) {
    static bl_event_result_t results[BL_BATCH_EVENTS_MAX];
    bl_request_t request = {
        .op = op, .count = count, .events = events, .results = results, .results_count = 0};
    assert_int_equal(bl_engine_block_execute(engine, timestamp, &request, 1), 0);
    results_expand(&request, codes);
}

static inline void accounts_create(bl_engine_t *engine, const bl_account_t *accounts,
                                   uint32_t count, uint32_t *codes) {
    block_run_at(engine, ts_next(engine), BL_OP_CREATE_ACCOUNTS, accounts, count, codes);
}

static inline void transfers_create(bl_engine_t *engine, const bl_transfer_t *transfers,
                                    uint32_t count, uint32_t *codes) {
    block_run_at(engine, ts_next(engine), BL_OP_CREATE_TRANSFERS, transfers, count, codes);
}

static inline uint32_t account_create(bl_engine_t *engine, bl_account_t account) {
    uint32_t code;
    accounts_create(engine, &account, 1, &code);
    return code;
}

static inline uint32_t transfer_create(bl_engine_t *engine, bl_transfer_t transfer) {
    uint32_t code;
    transfers_create(engine, &transfer, 1, &code);
    return code;
}

static inline uint32_t transfer_create_at(bl_engine_t *engine, uint64_t timestamp,
                                          bl_transfer_t transfer) {
    uint32_t code;
    block_run_at(engine, timestamp, BL_OP_CREATE_TRANSFERS, &transfer, 1, &code);
    return code;
}

/* Executes a block with no requests (it only expires). */
static inline void block_empty_at(bl_engine_t *engine, uint64_t timestamp) {
    assert_int_equal(bl_engine_block_execute(engine, timestamp, NULL, 0), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Lookups.                                                                                   */

static inline bool account_get(bl_engine_t *engine, bl_u128_t id, bl_account_t *out) {
    uint32_t found = bl_engine_lookup_accounts(engine, &id, 1, out);
    assert_true(found <= 1);
    return found == 1;
}

static inline bool transfer_get(bl_engine_t *engine, bl_u128_t id, bl_transfer_t *out) {
    uint32_t found = bl_engine_lookup_transfers(engine, &id, 1, out);
    assert_true(found <= 1);
    return found == 1;
}

static inline bl_account_t account_must_get(bl_engine_t *engine, bl_u128_t id) {
    bl_account_t account;
    assert_true(account_get(engine, id, &account));
    return account;
}

static inline bl_transfer_t transfer_must_get(bl_engine_t *engine, bl_u128_t id) {
    bl_transfer_t transfer;
    assert_true(transfer_get(engine, id, &transfer));
    return transfer;
}

#define assert_balances(engine, id, dp, dpo, cp, cpo) \
    balances_assert((engine), (id), (dp), (dpo), (cp), (cpo), __FILE__, __LINE__)

static inline void balances_assert(bl_engine_t *engine, bl_u128_t id, bl_u128_t debits_pending,
                                   bl_u128_t debits_posted, bl_u128_t credits_pending,
                                   bl_u128_t credits_posted, const char *file, int line) {
    bl_account_t a;
    if (!account_get(engine, id, &a)) {
        print_error("%s:%d: account not found\n", file, line);
        _fail(file, line);
    }
    u128_assert_equal(a.debits_pending, debits_pending, "debits_pending", "expected", file, line);
    u128_assert_equal(a.debits_posted, debits_posted, "debits_posted", "expected", file, line);
    u128_assert_equal(a.credits_pending, credits_pending, "credits_pending", "expected", file,
                      line);
    u128_assert_equal(a.credits_posted, credits_posted, "credits_posted", "expected", file, line);
}

/* ------------------------------------------------------------------------------------------ */
/* The state digest recomputed from lookups (PROTOCOL.md, ServerStatus.state_digest).         */

typedef struct resolved_pending {
    bl_u128_t id;
    uint8_t state; /* BL_PENDING_DIGEST_* */
} resolved_pending_t;

static inline bl_u128_t digest_recompute(bl_engine_t *engine, const bl_u128_t *account_ids,
                                         uint32_t accounts_count, const bl_u128_t *transfer_ids,
                                         uint32_t transfers_count,
                                         const resolved_pending_t *resolved,
                                         uint32_t resolved_count) {
    bl_u128_t digest = 0;
    for (uint32_t i = 0; i < accounts_count; i++) {
        bl_account_t a = account_must_get(engine, account_ids[i]);
        digest += bl_hash128(&a, sizeof(a));
    }
    for (uint32_t i = 0; i < transfers_count; i++) {
        bl_transfer_t t = transfer_must_get(engine, transfer_ids[i]);
        digest += bl_hash128(&t, sizeof(t));
    }
    for (uint32_t i = 0; i < resolved_count; i++) {
        uint8_t bytes[17];
        memcpy(bytes, &resolved[i].id, 16);
        bytes[16] = resolved[i].state;
        digest += bl_hash128(bytes, sizeof(bytes));
    }
    return digest;
}

#endif /* BALLAST_TESTS_ENGINE_HELPERS_H */
