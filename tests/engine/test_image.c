/*
 * Engine images (engine/image.c): a state written with one partition count and read with
 * another must be the same state, byte for byte and digest for digest, and must go on to give
 * the same results as the original engine (so the expiry queue and pending states came back
 * too). A damaged image (any flipped byte, a cut tail) must be refused, never loaded.
 *
 * The workload is seeded (BL_SEED, printed) and mixes plain, pending (with timeouts), post
 * and void transfers, so every part of the image has content.
 *
 * The transfer store (engine/store.h): an engine whose records live in a file, with a hot
 * window of one page so nearly every read is cold, must give the results, records and digest
 * of an engine in memory, through its image too; a store page damaged at rest must be refused
 * on load, naming the offset, and one damaged under a running engine must stop it before the
 * record is served.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "engine/internal.h" /* the index a forked child must not inherit */
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

/* A rebuilt id index (same partition count) is the original, bucket for bucket and link for
 * link: rebuilding in bucket order (engine/image.c) keeps each chain in slot order. */
static void index_assert_same(const bl_engine_t *a, const bl_engine_t *b) {
    assert_int_equal(a->config.partitions, b->config.partitions);
    for (uint32_t p = 0; p < a->config.partitions; p++) {
        const bl_index_t *x = &a->partitions[p].transfers, *y = &b->partitions[p].transfers;
        assert_int_equal(x->mask, y->mask);
        assert_memory_equal(x->buckets, y->buckets, (x->mask + 1) * sizeof(uint64_t));
    }
    uint64_t count = bl_engine_transfers_count(a);
    assert_memory_equal(a->transfers_records.next, b->transfers_records.next,
                        count * sizeof(uint32_t));
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
        index_assert_same(original, copy);
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

/* ------------------------------------------------------------------------------------------ */
/* The transfer store.                                                                        */

#define HOT_RECORDS 32u /* one page: every older record is cold */

static bl_engine_t *store_engine_new(uint32_t partitions, const char *path) {
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    assert_true(fd >= 0);
    bl_engine_config_t config = {.partitions = partitions,
                                 .accounts_max = ACCOUNTS_MAX,
                                 .transfers_max = TRANSFERS_MAX,
                                 .block_events_max = BATCH,
                                 .transfers_in_file = true,
                                 .transfers_fd = fd,
                                 .transfers_path = path,
                                 .hot_transfers = HOT_RECORDS};
    bl_engine_t *engine = NULL;
    assert_int_equal(bl_engine_create(&engine, &config), 0);
    return engine;
}

/* A block that resends BATCH earlier transfers, unchanged or with one field changed: every
 * answer (exists or exists_with_different_fields) needs the stored record. */
static void block_retry(bl_engine_t **engines, int engines_count, uint64_t next_id) {
    bl_u128_t ids[BATCH];
    static bl_transfer_t found[BATCH];
    for (uint32_t i = 0; i < BATCH; i++) ids[i] = 1 + rng() % (next_id - 1);
    uint32_t n = bl_engine_lookup_transfers(engines[0], ids, BATCH, found);
    assert_true(n > 0);
    bl_event_result_t results[2][BATCH];
    uint32_t counts[2] = {0, 0};
    for (uint32_t i = 0; i < n; i++) {
        found[i].timestamp = 0;
        if (rng() % 2) found[i].amount += 1;
    }
    uint64_t timestamp = bl_engine_timestamp_last(engines[0]) + 1000;
    for (int k = 0; k < engines_count; k++) {
        bl_request_t request = {.op = BL_OP_CREATE_TRANSFERS,
                                .count = n,
                                .events = found,
                                .results = results[k ? 1 : 0]};
        assert_int_equal(bl_engine_block_execute(engines[k], timestamp, &request, 1), 0);
        counts[k ? 1 : 0] = request.results_count;
    }
    assert_int_equal(counts[0], n); /* none of them is ok */
    if (engines_count > 1) {
        assert_int_equal(counts[1], counts[0]);
        assert_memory_equal(results[0], results[1], counts[0] * sizeof(bl_event_result_t));
    }
}

static void store_path(char *path, const char *dir) {
    snprintf(path, 128, "%s/transfers.store", dir);
}

/* Runs the same workload on an engine in memory and one with a store in a new directory,
 * compares them, and writes the store engine's image; returns the memory engine, the image and
 * the next unused id. */
static void store_workload(char *dir, bl_engine_t **memory, int *image, uint64_t *next_id) {
    char path[128];
    dir_make(dir, "bl_test_store");
    store_path(path, dir);
    bl_engine_t *engines[2] = {engine_new(1), store_engine_new(3, path)};
    uint64_t rng_at = g_rng; /* the same accounts in both */
    accounts_create(engines[0]);
    g_rng = rng_at;
    accounts_create(engines[1]);
    *next_id = 1;
    for (int b = 0; b < 60; b++) {
        block_run(engines, 2, next_id, 1 + rng() % 2000000000ull);
        if (b % 10 == 9) block_retry(engines, 2, *next_id);
    }
    engines_assert_same(engines[0], engines[1], *next_id); /* every lookup, nearly all cold */
    bl_engine_store_stats_t stats;
    bl_engine_store_stats_get(engines[1], &stats);
    assert_int_equal(stats.records, bl_engine_transfers_count(engines[1]));
    assert_true(stats.hot_records < 2 * HOT_RECORDS);
    assert_true(stats.cold_checks > 0);
    *image = image_file(engines[1], 77);
    bl_engine_destroy(engines[1]);
    *memory = engines[0];
}

static void test_store_matches_memory_and_reloads(void **state) {
    (void)state;
    g_rng = g_seed;
    char dir[64], path[128];
    bl_engine_t *memory, *store;
    int image;
    uint64_t next_id;
    store_workload(dir, &memory, &image, &next_id);
    store_path(path, dir);
    store = store_engine_new(2, path);
    uint64_t height = 0;
    assert_int_equal(bl_engine_image_read(store, image, &height), 0);
    assert_int_equal(height, 77);
    engines_assert_same(memory, store, next_id);
    bl_engine_t *engines[2] = {memory, store};
    for (int b = 0; b < 20; b++) {
        block_run(engines, 2, &next_id, 1 + rng() % 2000000000ull);
        if (b % 5 == 4) block_retry(engines, 2, next_id);
    }
    engines_assert_same(memory, store, next_id);
    /* An image with the records in the store needs one. */
    bl_engine_t *plain = engine_new(1);
    assert_int_equal(bl_engine_image_read(plain, image, &height), -EINVAL);
    bl_engine_destroy(plain);
    close(image);
    bl_engine_destroy(memory);
    bl_engine_destroy(store);
    dir_remove(dir);
}

static void test_store_damage_at_rest_is_refused(void **state) {
    (void)state;
    g_rng = g_seed;
    char dir[64], path[128];
    bl_engine_t *memory, *store;
    int image;
    uint64_t next_id;
    store_workload(dir, &memory, &image, &next_id);
    store_path(path, dir);
    uint64_t records = bl_engine_transfers_count(memory);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint64_t offset = (rng() % records) * 128 + rng() % 128;
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, (off_t)offset), 1);
    byte ^= (uint8_t)(1u << (rng() % 8));
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)offset), 1);
    store = store_engine_new(1, path);
    uint64_t height = 0;
    assert_int_equal(bl_engine_image_read(store, image, &height), -EBADMSG);
    char expected[64];
    snprintf(expected, sizeof(expected), "at offset %llu ",
             (unsigned long long)(offset & ~4095ull));
    printf("damaged byte %llu: %s\n", (unsigned long long)offset, bl_engine_error(store));
    assert_non_null(strstr(bl_engine_error(store), "is damaged"));
    assert_non_null(strstr(bl_engine_error(store), expected));
    bl_engine_destroy(store);
    /* A store cut short is refused too, saying how long it is (the length is checked before
     * any page). */
    assert_int_equal(ftruncate(fd, (off_t)(records * 128 - 1)), 0);
    close(fd);
    store = store_engine_new(1, path);
    assert_int_equal(bl_engine_image_read(store, image, &height), -EBADMSG);
    assert_non_null(strstr(bl_engine_error(store), "bytes; the checkpoint needs"));
    bl_engine_destroy(store);
    close(image);
    bl_engine_destroy(memory);
    dir_remove(dir);
}

static void test_store_cold_damage_stops_before_serving(void **state) {
    (void)state;
    g_rng = g_seed;
    char dir[64], path[128];
    dir_make(dir, "bl_test_store");
    store_path(path, dir);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bl_engine_t *engine = store_engine_new(2, path);
        accounts_create(engine);
        uint64_t next_id = 1;
        for (int b = 0; b < 8; b++) block_run(&engine, 1, &next_id, 1000);
        /* Damage a byte of transfer 1's page (cold: 8 blocks of BATCH are past the window). */
        int fd = open(path, O_RDWR);
        uint8_t byte = 0x5A;
        if (fd < 0 || pwrite(fd, &byte, 1, 64) != 1) _exit(2);
        bl_u128_t id = 1;
        bl_transfer_t out;
        uint32_t n = bl_engine_lookup_transfers(engine, &id, 1, &out);
        _exit(n == 1 ? 0 : 3); /* reaching here at all means the damage was served or lost */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 70);
    dir_remove(dir);
}

/* A checkpoint writes its image in a forked child. The child inherits only what the image
 * holds (engine/table.c): its image, written there, must load to the same state, in memory and
 * with a store; and reading an index from a forked child must fault, or every write the
 * server makes to its indexes while a child lives would copy a page. */
static pid_t fork_flushed(void) {
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) signal(SIGSEGV, SIG_DFL); /* a fault ends the child, not cmocka's test */
    return pid;
}

static void test_image_fork_inherits_only_the_image(void **state) {
    (void)state;
    g_rng = g_seed ^ 0x4242;
    char dir[64], path[128];
    dir_make(dir, "bl_test_fork");
    store_path(path, dir);
    bl_engine_t *engines[2] = {engine_new(2), store_engine_new(2, path)};
    for (int k = 0; k < 2; k++) {
        accounts_create(engines[k]);
        uint64_t next_id = 1, rng_at = g_rng;
        for (int b = 0; b < 12; b++) block_run(&engines[k], 1, &next_id, 1 + rng() % 2000000000ull);
        g_rng = rng_at;
        char image[] = "/tmp/bl_test_fork_image_XXXXXX";
        int fd = mkstemp(image);
        assert_true(fd >= 0);
        unlink(image);
        pid_t pid = fork_flushed();
        if (pid == 0) _exit(bl_engine_image_write(engines[k], fd, 12) == 0 ? 0 : 1);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        /* The store's image loads into a second engine over the same file (it only reads). */
        bl_engine_t *loaded = k == 0 ? engine_new(1) : store_engine_new(1, path);
        uint64_t height = 0;
        assert_int_equal(bl_engine_image_read(loaded, fd, &height), 0);
        assert_int_equal(height, 12);
        engines_assert_same(engines[k], loaded, next_id);
        bl_engine_destroy(loaded);
        close(fd);

        pid = fork_flushed();
        if (pid == 0) {
            volatile uint64_t bucket = engines[k]->partitions[0].transfers.buckets[0];
            (void)bucket;
            _exit(0); /* reached only if the index was inherited */
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    }
    bl_engine_destroy(engines[0]);
    bl_engine_destroy(engines[1]);
    dir_remove(dir);
}

int main(void) {
    seed_init("test_image");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_round_trip_across_partitions),
        cmocka_unit_test(test_image_damage_is_refused),
        cmocka_unit_test(test_image_capacity_must_match),
        cmocka_unit_test(test_store_matches_memory_and_reloads),
        cmocka_unit_test(test_store_damage_at_rest_is_refused),
        cmocka_unit_test(test_store_cold_damage_stops_before_serving),
        cmocka_unit_test(test_image_fork_inherits_only_the_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
