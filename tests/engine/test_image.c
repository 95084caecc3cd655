/*
 * Engine images (engine/image.c): a state written with one partition count and read with
 * another must be the same state, byte for byte and digest for digest, and must go on to give
 * the same results as the original engine (so the expiry queue and pending states came back
 * too). A damaged image (any flipped byte, a cut tail) must be refused, never loaded.
 *
 * The workload is seeded (BL_SEED, printed) and mixes plain, pending (with timeouts), post
 * and void transfers, so every part of the image has content.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "tests/common/util.h"

#define ACCOUNTS 200u
#define ACCOUNTS_MAX 512u
#define TRANSFERS_MAX 65536u
#define BATCH 256u

static bl_engine_t *engine_new(uint32_t partitions) {
    bl_engine_config_t config = {.partitions = partitions,
                                 .accounts_max = ACCOUNTS_MAX,
                                 .transfers_max = TRANSFERS_MAX,
                                 .block_events_max = BATCH};
    bl_engine_t *engine = NULL;
    assert_int_equal(bl_engine_create(&engine, &config), 0);
    return engine;
}

/* One block of random transfers (ids from `*next_id`), executed on every engine given; their
 * results must agree. */
static void block_run(bl_engine_t **engines, int engines_count, uint64_t *next_id,
                      uint64_t timestamp_step) {
    bl_transfer_t events[BATCH];
    bl_event_result_t results[2][BATCH];
    memset(events, 0, sizeof(events));
    for (uint32_t i = 0; i < BATCH; i++) {
        bl_transfer_t *t = &events[i];
        uint64_t kind = rng() % 10;
        t->id = (*next_id)++;
        if (kind < 3 && t->id > 10) { /* post or void an earlier transfer, maybe pending */
            t->pending_id = t->id - 1 - rng() % 10;
            t->flags = (rng() & 1) ? BL_TRANSFER_POST_PENDING : BL_TRANSFER_VOID_PENDING;
            continue;
        }
        t->debit_account_id = 1 + rng() % ACCOUNTS;
        t->credit_account_id = 1 + (t->debit_account_id + rng() % (ACCOUNTS - 1)) % ACCOUNTS;
        t->amount = 1 + rng() % 1000;
        t->ledger = 1;
        t->code = 1;
        if (kind < 7) {
            t->flags = BL_TRANSFER_PENDING;
            t->timeout = (uint32_t)(rng() % 4);
        }
    }
    uint64_t timestamp = bl_engine_timestamp_last(engines[0]) + timestamp_step;
    uint32_t first_count = 0;
    for (int k = 0; k < engines_count; k++) {
        bl_event_result_t *out = results[k == 0 ? 0 : 1];
        bl_request_t request = {
            .op = BL_OP_CREATE_TRANSFERS, .count = BATCH, .events = events, .results = out};
        assert_int_equal(bl_engine_block_execute(engines[k], timestamp, &request, 1), 0);
        if (k == 0) {
            first_count = request.results_count;
            continue;
        }
        assert_int_equal(request.results_count, first_count);
        assert_memory_equal(results[0], results[1], first_count * sizeof(bl_event_result_t));
    }
}

static void accounts_create(bl_engine_t *engine) {
    bl_account_t accounts[ACCOUNTS];
    bl_event_result_t results[ACCOUNTS];
    memset(accounts, 0, sizeof(accounts));
    for (uint32_t i = 0; i < ACCOUNTS; i++) {
        accounts[i].id = i + 1;
        accounts[i].ledger = 1;
        accounts[i].code = 1;
        accounts[i].user_data_64 = rng();
    }
    bl_request_t request = {
        .op = BL_OP_CREATE_ACCOUNTS, .count = ACCOUNTS, .events = accounts, .results = results};
    assert_int_equal(bl_engine_block_execute(engine, 1000, &request, 1), 0);
    assert_int_equal(request.results_count, 0);
}

static int image_file(const bl_engine_t *engine, uint64_t height) {
    char path[] = "/tmp/bl_test_image_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(bl_engine_image_write(engine, fd, height), 0);
    return fd;
}

/* Every account and transfer id the workload can have used, looked up in both engines. */
static void engines_assert_same(bl_engine_t *a, bl_engine_t *b, uint64_t ids_max) {
    assert_true(bl_engine_digest(a) == bl_engine_digest(b));
    assert_int_equal(bl_engine_accounts_count(a), bl_engine_accounts_count(b));
    assert_int_equal(bl_engine_transfers_count(a), bl_engine_transfers_count(b));
    assert_int_equal(bl_engine_timestamp_last(a), bl_engine_timestamp_last(b));
    assert_int_equal(bl_engine_expiry_deadline_next(a), bl_engine_expiry_deadline_next(b));
    static bl_transfer_t ta[BATCH], tb[BATCH];
    static bl_account_t aa[ACCOUNTS], ab[ACCOUNTS];
    bl_u128_t ids[BATCH];
    for (uint64_t first = 1; first < ids_max; first += BATCH) {
        for (uint32_t i = 0; i < BATCH; i++) ids[i] = first + i;
        uint32_t na = bl_engine_lookup_transfers(a, ids, BATCH, ta);
        uint32_t nb = bl_engine_lookup_transfers(b, ids, BATCH, tb);
        assert_int_equal(na, nb);
        assert_memory_equal(ta, tb, na * sizeof(bl_transfer_t));
    }
    for (uint32_t i = 0; i < ACCOUNTS; i++) ids[i] = i + 1;
    uint32_t na = bl_engine_lookup_accounts(a, ids, ACCOUNTS, aa);
    uint32_t nb = bl_engine_lookup_accounts(b, ids, ACCOUNTS, ab);
    assert_int_equal(na, ACCOUNTS);
    assert_int_equal(nb, ACCOUNTS);
    assert_memory_equal(aa, ab, sizeof(aa));
}

static void test_image_round_trip_across_partitions(void **state) {
    (void)state;
    g_rng = g_seed;
    bl_engine_t *original = engine_new(3);
    accounts_create(original);
    uint64_t next_id = 1;
    for (int b = 0; b < 40; b++) block_run(&original, 1, &next_id, 1 + rng() % 2000000000ull);
    assert_true(bl_engine_expiry_deadline_next(original) != UINT64_MAX);

    int fd = image_file(original, 41);
    uint32_t partitions[] = {1, 8};
    for (size_t k = 0; k < 2; k++) {
        bl_engine_t *restored = engine_new(partitions[k]);
        uint64_t height = 0;
        assert_int_equal(bl_engine_image_read(restored, fd, &height), 0);
        assert_int_equal(height, 41);
        engines_assert_same(original, restored, next_id);

        /* Both go on with the same blocks, through expiries, and stay equal. */
        uint64_t saved_rng = g_rng, saved_id = next_id;
        bl_engine_t *pair[2] = {original, restored};
        bl_engine_t *copy = engine_new(3);
        assert_int_equal(bl_engine_image_read(copy, fd, &height), 0);
        pair[0] = copy;
        for (int b = 0; b < 20; b++) block_run(pair, 2, &next_id, 1 + rng() % 2000000000ull);
        engines_assert_same(copy, restored, next_id);
        g_rng = saved_rng;
        next_id = saved_id;
        bl_engine_destroy(copy);
        bl_engine_destroy(restored);
    }
    close(fd);
    bl_engine_destroy(original);
}

static off_t file_size(int fd) {
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size > 0);
    return size;
}

static void test_image_damage_is_refused(void **state) {
    (void)state;
    g_rng = g_seed ^ 0x5555;
    bl_engine_t *original = engine_new(2);
    accounts_create(original);
    uint64_t next_id = 1;
    for (int b = 0; b < 8; b++) block_run(&original, 1, &next_id, 1 + rng() % 2000000000ull);
    int fd = image_file(original, 9);
    off_t size = file_size(fd);

    /* Flip one byte at offsets spread over the header and every section of the payload. */
    for (int trial = 0; trial < 64; trial++) {
        off_t offset = trial < 16 ? trial * 8 : (off_t)(rng() % (uint64_t)size);
        uint8_t byte;
        assert_int_equal(pread(fd, &byte, 1, offset), 1);
        uint8_t flipped = byte ^ (uint8_t)(1u << (rng() % 8));
        assert_int_equal(pwrite(fd, &flipped, 1, offset), 1);
        bl_engine_t *restored = engine_new(2);
        uint64_t height;
        int rc = bl_engine_image_read(restored, fd, &height);
        if (rc != -EBADMSG)
            print_error("offset %lld: rc %d, seed %llu\n", (long long)offset, rc,
                        (unsigned long long)g_seed);
        assert_int_equal(rc, -EBADMSG);
        bl_engine_destroy(restored);
        assert_int_equal(pwrite(fd, &byte, 1, offset), 1);
    }

    /* A cut tail. */
    assert_int_equal(ftruncate(fd, size - 1 - (off_t)(rng() % 1000)), 0);
    bl_engine_t *restored = engine_new(2);
    uint64_t height;
    assert_int_equal(bl_engine_image_read(restored, fd, &height), -EBADMSG);
    bl_engine_destroy(restored);

    /* A cut header. */
    assert_int_equal(ftruncate(fd, 100), 0);
    assert_int_equal(bl_engine_image_height(fd, &height), -EBADMSG);
    close(fd);
    bl_engine_destroy(original);
}

static void test_image_capacity_must_match(void **state) {
    (void)state;
    g_rng = g_seed ^ 0xAAAA;
    bl_engine_t *original = engine_new(1);
    accounts_create(original);
    int fd = image_file(original, 1);
    bl_engine_config_t config = {.partitions = 1,
                                 .accounts_max = ACCOUNTS_MAX + 1,
                                 .transfers_max = TRANSFERS_MAX,
                                 .block_events_max = BATCH};
    bl_engine_t *other = NULL;
    assert_int_equal(bl_engine_create(&other, &config), 0);
    uint64_t height;
    assert_int_equal(bl_engine_image_read(other, fd, &height), -EINVAL);
    bl_engine_destroy(other);
    close(fd);
    bl_engine_destroy(original);
}

int main(void) {
    seed_init("test_image");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_round_trip_across_partitions),
        cmocka_unit_test(test_image_damage_is_refused),
        cmocka_unit_test(test_image_capacity_must_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
