/*
 * query_accounts and query_transfers on hand-built data: each filter field alone and together,
 * values held by one object (kept in the key itself) and by many (lists that outgrow their
 * blocks over several blocks), values held by objects of some partitions only, timestamp
 * ranges, reversed order, limits, paging, a filter with no field, and the same answers after
 * an image round trip to another partition count. Every answer is checked against a plain
 * scan of the records the test created (done here, independently of the engine), and a few
 * counts are checked by hand, as are the answers for hundreds of values that share buckets.
 * The groups run with 1 and 4 partitions, with 4 once more with the values moved either side
 * of 65536 (small values are kept in tables, others hashed), and once without indexes (the
 * engine's scanning path). The randomized comparison with the reference model is in
 * differential_filters.c (part of test_differential).
 */
#include <stdlib.h>
#include <unistd.h>

#include "tests/engine/helpers.h"

#define ACCOUNTS 16
#define TRANSFERS 600

/* What the test created, read back (with timestamps) after the last block. */
static bl_account_t g_accounts[ACCOUNTS];
static bl_transfer_t g_transfers[TRANSFERS];

/* Added to every non-zero user_data_64, user_data_32 and ledger value (and user_data_128 77)
 * in one group: the engine keeps values below 65536 in tables and hashes the others, and with
 * 65531 added the values the tests use fall on both sides. */
static uint64_t g_wide = 0;

static uint64_t wide(uint64_t value) {
    return value == 0 ? 0 : value + g_wide;
}

static bl_query_filter_t query_make(uint32_t limit) {
    bl_query_filter_t f;
    memset(&f, 0, sizeof(f));
    f.limit = limit;
    return f;
}

/* Accounts 1..16: ledgers 7 and 8, code 1..4, user_data_64 = id / 4 (groups of four),
 * user_data_128 unique (id << 64) but 0 for every fifth, user_data_32 = 5 for accounts 3 and
 * 11 only. */
static void accounts_setup(bl_engine_t *engine) {
    bl_account_t accounts[ACCOUNTS];
    for (uint32_t i = 0; i < ACCOUNTS; i++) {
        bl_u128_t id = i + 1;
        accounts[i] = account_make(id, (uint32_t)wide(7 + i % 2), (uint16_t)(1 + i % 4), 0);
        accounts[i].user_data_64 = wide((uint64_t)(id / 4));
        accounts[i].user_data_128 = id % 5 == 0 ? 0 : id << 64;
        accounts[i].user_data_32 = id == 3 || id == 11 ? (uint32_t)wide(5) : 0;
    }
    uint32_t codes[ACCOUNTS];
    accounts_create(engine, accounts, 8, codes);
    accounts_create(engine, accounts + 8, 8, codes + 8); /* two blocks */
    for (uint32_t i = 0; i < ACCOUNTS; i++) assert_ar(codes[i], BL_CREATE_ACCOUNT_OK);
}

/* Transfer k (id 1000 + k) between accounts of one ledger:
 *   user_data_64 = 42 for k % 15 == 0 (40 transfers), else k % 7 + 1;
 *   user_data_128 = 77 for k = 5 only, a value shared by k and k + 1 for k % 100 == 10, else 0;
 *   user_data_32 = k / 100 + 1; code = 9 for k % 50 == 3 (12 transfers), else 2.
 * Created in blocks of 1, 7, 50 and the rest, so lists grow across blocks. */
static bl_transfer_t transfer_at(uint32_t k) {
    bl_u128_t dr = 1 + 2 * (k % 8); /* ledger 7: odd ids */
    bl_u128_t cr = 1 + 2 * ((k + 3) % 8);
    if (k % 3 == 0) {
        dr += 1; /* ledger 8: even ids */
        cr += 1;
    }
    bl_transfer_t t = transfer_make(1000 + k, dr, cr, 1 + k, (uint32_t)wide(k % 3 == 0 ? 8 : 7),
                                    k % 50 == 3 ? 9 : 2, 0);
    t.user_data_64 = wide(k % 15 == 0 ? 42 : k % 7 + 1);
    t.user_data_128 = k == 5                             ? wide(77)
                      : (k % 100 == 10 || k % 100 == 11) ? (bl_u128_t)(k / 100 + 1) << 100
                                                         : 0;
    t.user_data_32 = (uint32_t)wide(k / 100 + 1);
    return t;
}

static void transfers_setup(bl_engine_t *engine) {
    static bl_transfer_t transfers[TRANSFERS];
    static uint32_t codes[TRANSFERS];
    for (uint32_t k = 0; k < TRANSFERS; k++) transfers[k] = transfer_at(k);
    const uint32_t blocks[] = {1, 7, 50, TRANSFERS - 58};
    uint32_t done = 0;
    for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
        transfers_create(engine, transfers + done, blocks[b], codes + done);
        done += blocks[b];
    }
    for (uint32_t k = 0; k < TRANSFERS; k++) assert_tr(codes[k], BL_CREATE_TRANSFER_OK);
}

static void setup_all(bl_engine_t *engine) {
    accounts_setup(engine);
    transfers_setup(engine);
    for (uint32_t i = 0; i < ACCOUNTS; i++) g_accounts[i] = account_must_get(engine, i + 1);
    for (uint32_t k = 0; k < TRANSFERS; k++) g_transfers[k] = transfer_must_get(engine, 1000 + k);
}

/* The plain scan: the matches of `f` among `records` (in creation order = timestamp order). */
static bool fields_match(const bl_query_filter_t *f, bl_u128_t ud128, uint64_t ud64, uint32_t ud32,
                         uint32_t ledger, uint16_t code, uint64_t timestamp) {
    uint64_t max = f->timestamp_max == 0 ? UINT64_MAX : f->timestamp_max;
    return (f->user_data_128 == 0 || f->user_data_128 == ud128) &&
           (f->user_data_64 == 0 || f->user_data_64 == ud64) &&
           (f->user_data_32 == 0 || f->user_data_32 == ud32) &&
           (f->ledger == 0 || f->ledger == ledger) && (f->code == 0 || f->code == code) &&
           timestamp >= f->timestamp_min && timestamp <= max;
}

static uint32_t expect_transfers(const bl_query_filter_t *f, bl_transfer_t *out) {
    bool reversed = (f->flags & BL_QUERY_REVERSED) != 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < TRANSFERS && n < f->limit; i++) {
        const bl_transfer_t *t = &g_transfers[reversed ? TRANSFERS - 1 - i : i];
        if (fields_match(f, t->user_data_128, t->user_data_64, t->user_data_32, t->ledger, t->code,
                         t->timestamp))
            out[n++] = *t;
    }
    return n;
}

static uint32_t expect_accounts(const bl_query_filter_t *f, bl_account_t *out) {
    bool reversed = (f->flags & BL_QUERY_REVERSED) != 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < ACCOUNTS && n < f->limit; i++) {
        const bl_account_t *a = &g_accounts[reversed ? ACCOUNTS - 1 - i : i];
        if (fields_match(f, a->user_data_128, a->user_data_64, a->user_data_32, a->ledger, a->code,
                         a->timestamp))
            out[n++] = *a;
    }
    return n;
}

/* Runs `f` on both kinds, checks both against the scan, returns the transfers' count. */
static uint32_t query_check(bl_engine_t *engine, const bl_query_filter_t *f) {
    static bl_transfer_t got[BL_FILTER_LIMIT_MAX], want[BL_FILTER_LIMIT_MAX];
    uint32_t n = bl_engine_query_transfers(engine, f, got);
    assert_int_equal(n, expect_transfers(f, want));
    assert_memory_equal(got, want, n * sizeof(got[0]));
    static bl_account_t got_a[BL_FILTER_LIMIT_MAX], want_a[BL_FILTER_LIMIT_MAX];
    uint32_t m = bl_engine_query_accounts(engine, f, got_a);
    assert_int_equal(m, expect_accounts(f, want_a));
    assert_memory_equal(got_a, want_a, m * sizeof(got_a[0]));
    return n;
}

static void test_each_field(void **state) {
    bl_engine_t *engine = *state;
    setup_all(engine);
    bl_query_filter_t f = query_make(BL_FILTER_LIMIT_MAX);

    f.user_data_64 = wide(42);
    assert_int_equal(query_check(engine, &f), 40);
    f.user_data_64 = wide(3); /* transfers with k % 7 == 2 outside the 42s, and accounts 12..15 */
    assert_true(query_check(engine, &f) > 70);
    f.user_data_64 = 0;

    f.user_data_128 = wide(77); /* one transfer: a direct entry, no key */
    assert_int_equal(query_check(engine, &f), 1);
    f.user_data_128 = (bl_u128_t)3 << 100; /* k = 210 and 211 */
    assert_int_equal(query_check(engine, &f), 2);
    f.user_data_128 = (bl_u128_t)11 << 64; /* account 11 only */
    assert_int_equal(query_check(engine, &f), 0);
    f.user_data_128 = 0;

    f.user_data_32 = (uint32_t)wide(5); /* transfers 400..499 and accounts 3 and 11 */
    assert_int_equal(query_check(engine, &f), 100);
    f.user_data_32 = 0;

    f.ledger = (uint32_t)wide(8);
    assert_int_equal(query_check(engine, &f), TRANSFERS / 3);
    f.ledger = (uint32_t)wide(9); /* no object */
    assert_int_equal(query_check(engine, &f), 0);
    f.ledger = 0;

    f.code = 9;
    assert_int_equal(query_check(engine, &f), 12);
    f.code = 4; /* accounts only */
    assert_int_equal(query_check(engine, &f), 0);
    f.code = 0;

    /* No field: every object, in order. */
    assert_int_equal(query_check(engine, &f), TRANSFERS);
}

static void test_fields_together(void **state) {
    bl_engine_t *engine = *state;
    setup_all(engine);
    bl_query_filter_t f = query_make(BL_FILTER_LIMIT_MAX);
    /* A common value with a rare one, either way round. */
    f.ledger = (uint32_t)wide(7);
    f.code = 9;
    uint32_t n = query_check(engine, &f);
    assert_true(n > 0 && n < 12);
    f.user_data_64 = wide(42); /* all 42s are on ledger 8 */
    assert_int_equal(query_check(engine, &f), 0);
    f.ledger = 0;
    f.code = 0;
    f.user_data_32 = (uint32_t)wide(2); /* k = 105, 120, ..., 195 */
    assert_int_equal(query_check(engine, &f), 7);
    /* A value nobody holds with a common one. */
    f.user_data_32 = (uint32_t)wide(1000);
    assert_int_equal(query_check(engine, &f), 0);
    /* Every field of one transfer. */
    bl_transfer_t t = g_transfers[210];
    f = query_make(10);
    f.user_data_128 = t.user_data_128;
    f.user_data_64 = t.user_data_64;
    f.user_data_32 = t.user_data_32;
    f.ledger = t.ledger;
    f.code = t.code;
    assert_int_equal(query_check(engine, &f), 1);
    /* Three and four fields whose lists interleave (user_data_64 cycles with k, user_data_32
     * and ledger come in runs), both ways, with a timestamp bound and short pages: the
     * partitions' intersections agree with the scan. */
    for (uint32_t flags = 0; flags <= BL_QUERY_REVERSED; flags += BL_QUERY_REVERSED) {
        for (uint64_t ud64 = 1; ud64 <= 7; ud64++) {
            for (uint32_t ud32 = 1; ud32 <= 6; ud32++) {
                f = query_make(3);
                f.flags = flags;
                f.user_data_64 = wide(ud64);
                f.user_data_32 = (uint32_t)wide(ud32);
                f.ledger = (uint32_t)wide(7 + ud32 % 2);
                query_check(engine, &f);
                f.code = 2;
                f.timestamp_min = g_transfers[150].timestamp;
                query_check(engine, &f);
            }
        }
    }
    /* Accounts: ledger 8 and user_data_64 3 (accounts 12 and 14). */
    f = query_make(10);
    f.ledger = (uint32_t)wide(8);
    f.user_data_64 = wide(3);
    static bl_account_t accounts[10];
    assert_int_equal(bl_engine_query_accounts(engine, &f, accounts), 2);
    assert_true(accounts[0].id == 12 && accounts[1].id == 14);
}

static void test_ranges_order_and_paging(void **state) {
    bl_engine_t *engine = *state;
    setup_all(engine);
    bl_query_filter_t f = query_make(7);
    f.user_data_64 = wide(42);
    /* Bounds on real timestamps are inclusive; one inside a gap excludes nothing more. */
    f.timestamp_min = g_transfers[15].timestamp;
    f.timestamp_max = g_transfers[300].timestamp;
    assert_int_equal(query_check(engine, &f), 7);
    f.limit = 100;
    assert_int_equal(query_check(engine, &f), 20); /* k = 15, 30, ..., 300 */
    f.timestamp_min += 1;
    f.timestamp_max -= 1;
    assert_int_equal(query_check(engine, &f), 18);
    f.flags = BL_QUERY_REVERSED;
    assert_int_equal(query_check(engine, &f), 18);
    f.limit = 3;
    static bl_transfer_t out[3];
    assert_int_equal(bl_engine_query_transfers(engine, &f, out), 3);
    assert_true(out[0].id == 1000 + 285 && out[2].id == 1000 + 255);
    /* A range before everything and one after. */
    f = query_make(10);
    f.timestamp_max = g_accounts[0].timestamp - 1;
    assert_int_equal(query_check(engine, &f), 0);
    f.timestamp_max = 0;
    f.timestamp_min = g_transfers[TRANSFERS - 1].timestamp + 1;
    assert_int_equal(query_check(engine, &f), 0);

    /* Pages of 9, both ways, put together give every match once, in order. */
    for (uint32_t reversed = 0; reversed < 2; reversed++) {
        f = query_make(9);
        f.code = 2;
        f.flags = reversed ? BL_QUERY_REVERSED : 0;
        static bl_transfer_t all[TRANSFERS], page[9];
        uint32_t total = 0, n;
        while ((n = bl_engine_query_transfers(engine, &f, page)) > 0) {
            memcpy(all + total, page, n * sizeof(page[0]));
            total += n;
            uint64_t last = page[n - 1].timestamp;
            if (reversed)
                f.timestamp_max = last - 1;
            else
                f.timestamp_min = last + 1;
        }
        f = query_make(BL_FILTER_LIMIT_MAX);
        f.code = 2;
        f.flags = reversed ? BL_QUERY_REVERSED : 0;
        static bl_transfer_t want[TRANSFERS];
        assert_int_equal(total, expect_transfers(&f, want));
        assert_int_equal(total, TRANSFERS - 12);
        assert_memory_equal(all, want, total * sizeof(all[0]));
    }
}

static void test_invalid_filters(void **state) {
    bl_engine_t *engine = *state;
    setup_all(engine);
    static bl_transfer_t out[BL_FILTER_LIMIT_MAX];
    bl_query_filter_t bad[6];
    for (int i = 0; i < 6; i++) {
        bad[i] = query_make(10);
        bad[i].ledger = (uint32_t)wide(7);
    }
    bad[0].limit = 0;
    bad[1].limit = BL_FILTER_LIMIT_MAX + 1;
    bad[2].flags = 2;
    bad[3].reserved0[5] = 1;
    bad[4].reserved1[63] = 1;
    bad[5].timestamp_min = 10;
    bad[5].timestamp_max = 9;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(bl_engine_query_transfers(engine, &bad[i], out), 0);
        assert_int_equal(bl_engine_query_accounts(engine, &bad[i], (bl_account_t *)out), 0);
    }
    bl_query_filter_t good = query_make(10);
    good.ledger = (uint32_t)wide(7);
    assert_int_equal(bl_engine_query_transfers(engine, &good, out), 10);
}

/* Indexes are rebuilt from an image, with another partition count, and keep growing alike. */
static void test_image_round_trip(void **state) {
    bl_engine_t *engine = *state;
    setup_all(engine);
    bl_engine_t *loaded = engine_reload(engine, g_partitions == 1 ? 3 : 1);

    bl_query_filter_t filters[6];
    for (int i = 0; i < 6; i++) filters[i] = query_make(BL_FILTER_LIMIT_MAX);
    filters[0].user_data_64 = wide(42);
    filters[1].user_data_128 = wide(77);
    filters[2].user_data_32 = (uint32_t)wide(5);
    filters[3].ledger = (uint32_t)wide(8);
    filters[4].code = 9;
    filters[4].flags = BL_QUERY_REVERSED;
    /* filters[5]: no field */
    for (int i = 0; i < 6; i++) {
        uint32_t n = query_check(engine, &filters[i]);
        assert_int_equal(query_check(loaded, &filters[i]), n);
    }
    /* One more transfer with a new user_data_128 and an existing user_data_64, in both. */
    bl_transfer_t t = transfer_at(0);
    t.id = 5000;
    t.user_data_128 = wide(78);
    uint64_t timestamp = ts_next(engine);
    assert_tr(transfer_create_at(engine, timestamp, t), BL_CREATE_TRANSFER_OK);
    assert_tr(transfer_create_at(loaded, timestamp, t), BL_CREATE_TRANSFER_OK);
    static bl_transfer_t a[BL_FILTER_LIMIT_MAX], b[BL_FILTER_LIMIT_MAX];
    filters[1].user_data_128 = wide(78);
    for (int i = 0; i < 2; i++) {
        uint32_t n = bl_engine_query_transfers(engine, &filters[i], a);
        assert_int_equal(n, i == 0 ? 41 : 1);
        assert_int_equal(bl_engine_query_transfers(loaded, &filters[i], b), n);
        assert_memory_equal(a, b, n * sizeof(a[0]));
        assert_true(a[n - 1].id == 5000);
    }
    bl_engine_destroy(loaded);
}

/* Many values each held by a few objects, and every object a new value: in tables, or (values
 * past 65536) hashed, where the index finds most keys at their chain's head (and then tries
 * the head first), but with 700 values per partition in 1,024 buckets many keys sit behind
 * another. Each value's answer must be its own five transfers, in order. */
static void test_shared_values_in_shared_buckets(void **state) {
    enum { VALUES = 700, EACH = 5 };
    bl_engine_t *engine = *state;
    accounts_setup(engine);
    static bl_transfer_t transfers[VALUES * EACH];
    static uint32_t codes[VALUES * EACH];
    for (uint32_t k = 0; k < VALUES * EACH; k++) {
        transfers[k] = transfer_make(100000 + k, 1, 3, 1, (uint32_t)wide(7), 1, 0);
        transfers[k].user_data_32 = (uint32_t)wide(k % VALUES + 1);
    }
    for (uint32_t done = 0; done < VALUES * EACH; done += 500) {
        transfers_create(engine, transfers + done, 500, codes + done);
        for (uint32_t k = done; k < done + 500; k++) assert_tr(codes[k], BL_CREATE_TRANSFER_OK);
    }
    static bl_transfer_t got[BL_FILTER_LIMIT_MAX];
    bl_query_filter_t f = query_make(BL_FILTER_LIMIT_MAX);
    for (uint32_t v = 1; v <= VALUES; v++) {
        f.user_data_32 = (uint32_t)wide(v);
        assert_int_equal(bl_engine_query_transfers(engine, &f, got), EACH);
        for (uint32_t i = 0; i < EACH; i++) {
            assert_true(got[i].id == 100000 + (v - 1) + i * VALUES);
            assert_int_equal(got[i].user_data_32, wide(v));
        }
    }
    f.user_data_32 = (uint32_t)wide(VALUES + 1);
    assert_int_equal(bl_engine_query_transfers(engine, &f, got), 0);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, engine_setup, engine_teardown)
    const struct CMUnitTest tests[] = {
        T(test_each_field),      T(test_fields_together),  T(test_ranges_order_and_paging),
        T(test_invalid_filters), T(test_image_round_trip), T(test_shared_values_in_shared_buckets),
    };
    int failed = 0;
    g_partitions = 1;
    failed += cmocka_run_group_tests_name("query, 1 partition", tests, NULL, NULL);
    g_partitions = 4;
    failed += cmocka_run_group_tests_name("query, 4 partitions", tests, NULL, NULL);
    g_wide = 65531;
    failed += cmocka_run_group_tests_name("query, 4 partitions, values either side of 65536", tests,
                                          NULL, NULL);
    g_indexes_off = true;
    failed +=
        cmocka_run_group_tests_name("query, 4 partitions, no indexes (scans)", tests, NULL, NULL);
    return failed;
}
