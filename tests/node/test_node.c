/*
 * The node (node/node.c): creates are durable and executed in order, reads see every write
 * submitted before them, concurrent submitters are group-committed, recovery gives back the
 * same state (also from a checkpoint, also past a damaged newest checkpoint, also with another
 * partition count), expiry happens without traffic, and a failing disk makes the node
 * read-only without losing anything acknowledged.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/node.h"
#include "tests/common/util.h"
#include "wal/log.h"

#define ACCOUNTS 64u

/* A clock the test moves. */
static _Atomic uint64_t g_now = 1700000000000000000ull;
static uint64_t clock_fake(void *ctx) {
    (void)ctx;
    return atomic_load(&g_now);
}

static bl_node_config_t config_make(const char *dir, uint32_t partitions) {
    return (bl_node_config_t){.dir = dir,
                              .engine = {.partitions = partitions,
                                         .accounts_max = 1024,
                                         .transfers_max = 1 << 16,
                                         .partition_threads = partitions > 1,
                                         .threads_items_min = 1},
                              .segment_size_bytes = 4 << 20, /* holds the largest block */
                              .clock_ns = clock_fake,
                              .quiet = true};
}

static bl_node_t *node_open(const bl_node_config_t *config) {
    bl_node_t *node = NULL;
    assert_int_equal(bl_node_open(&node, config), 0);
    return node;
}

static uint32_t create_accounts(bl_node_t *node, uint32_t count) {
    bl_account_t accounts[ACCOUNTS];
    bl_event_result_t results[ACCOUNTS];
    memset(accounts, 0, sizeof(accounts));
    for (uint32_t i = 0; i < count; i++) {
        accounts[i].id = i + 1;
        accounts[i].ledger = 1;
        accounts[i].code = 1;
    }
    bl_node_request_t request = {
        .op = BL_OP_CREATE_ACCOUNTS, .count = count, .body = accounts, .reply = results};
    uint32_t status = bl_node_call(node, &request);
    if (status == BL_FRAME_OK) assert_int_equal(request.reply_count, 0);
    return status;
}

static void transfer_make(bl_transfer_t *t, uint64_t id, uint16_t flags, uint32_t timeout) {
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->debit_account_id = 1 + rng() % ACCOUNTS;
    t->credit_account_id = 1 + (t->debit_account_id + rng() % (ACCOUNTS - 1)) % ACCOUNTS;
    t->amount = 1 + rng() % 100;
    t->ledger = 1;
    t->code = 1;
    t->flags = flags;
    t->timeout = timeout;
}

static uint32_t create_transfers(bl_node_t *node, bl_transfer_t *transfers, uint32_t count,
                                 bl_event_result_t *results, uint32_t *results_count) {
    bl_node_request_t request = {
        .op = BL_OP_CREATE_TRANSFERS, .count = count, .body = transfers, .reply = results};
    uint32_t status = bl_node_call(node, &request);
    *results_count = request.reply_count;
    return status;
}

/* `batches` requests of `size` (at most 64) plain transfers with ids 1, 2, ..., each accepted
 * whole; `pause_us` between requests. */
static void create_transfer_batches(bl_node_t *node, uint32_t batches, uint32_t size,
                                    unsigned pause_us) {
    static bl_transfer_t transfers[64];
    static bl_event_result_t results[64];
    assert_true(size <= 64);
    uint64_t id = 1;
    for (uint32_t b = 0; b < batches; b++) {
        for (uint32_t i = 0; i < size; i++) transfer_make(&transfers[i], id++, 0, 0);
        uint32_t results_count;
        assert_int_equal(create_transfers(node, transfers, size, results, &results_count),
                         BL_FRAME_OK);
        if (pause_us > 0) usleep(pause_us);
    }
}

static bl_server_status_t status_get(bl_node_t *node) {
    bl_server_status_t status;
    bl_node_request_t request = {.op = BL_OP_STATUS, .reply = &status};
    assert_int_equal(bl_node_call(node, &request), BL_FRAME_OK);
    assert_int_equal(request.reply_count, 1);
    return status;
}

static uint32_t lookup_transfers(bl_node_t *node, const bl_u128_t *ids, uint32_t count,
                                 bl_transfer_t *out) {
    bl_node_request_t request = {
        .op = BL_OP_LOOKUP_TRANSFERS, .count = count, .body = ids, .reply = out};
    assert_int_equal(bl_node_call(node, &request), BL_FRAME_OK);
    return request.reply_count;
}

/* ------------------------------------------------------------------------------------------ */

static void test_node_durable_and_recovered(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_node_config_t config = config_make(dir, 2);
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK);
    static bl_transfer_t transfers[500], looked[500];
    static bl_event_result_t results[500];
    static bl_u128_t ids[500];
    uint32_t results_count;
    for (uint32_t i = 0; i < 500; i++) {
        transfer_make(&transfers[i], i + 1, 0, 0);
        ids[i] = i + 1;
    }
    for (uint32_t b = 0; b < 5; b++) {
        assert_int_equal(create_transfers(node, transfers + b * 100, 100, results, &results_count),
                         BL_FRAME_OK);
        assert_int_equal(results_count, 0);
        atomic_fetch_add(&g_now, 1000);
    }
    /* A read sees the writes before it. */
    assert_int_equal(lookup_transfers(node, ids, 500, looked), 500);
    bl_server_status_t before = status_get(node);
    assert_int_equal(before.transfers_count, 500);
    assert_int_equal(before.block_height, 6);
    bl_node_close(node);

    /* Recovery (from the final checkpoint) and the same state, with 1 and 8 partitions. */
    uint32_t partitions[] = {1, 8};
    for (int k = 0; k < 2; k++) {
        config = config_make(dir, partitions[k]);
        node = node_open(&config);
        bl_server_status_t after = status_get(node);
        assert_true(after.state_digest == before.state_digest);
        assert_int_equal(after.block_height, before.block_height);
        assert_int_equal(after.partitions, partitions[k]);
        static bl_transfer_t again[500];
        assert_int_equal(lookup_transfers(node, ids, 500, again), 500);
        assert_memory_equal(again, looked, sizeof(again));
        /* Resending is safe: every event is `exists`. */
        assert_int_equal(create_transfers(node, transfers, 100, results, &results_count),
                         BL_FRAME_OK);
        assert_int_equal(results_count, 100);
        assert_int_equal(results[99].result, BL_CREATE_TRANSFER_EXISTS);
        /* ...and changes nothing but the height (the resend is a logged block). */
        bl_server_status_t resent = status_get(node);
        assert_true(resent.state_digest == before.state_digest);
        assert_int_equal(resent.block_height, before.block_height + 1);
        before.block_height = resent.block_height;
        bl_node_close(node);
    }
    dir_remove(dir);
}

/* Replays the log alone (every checkpoint removed) with N = 1 and N = 8: same digest. */
static void test_node_replay_deterministic_across_partitions(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_node_config_t config = config_make(dir, 3);
    config.checkpoint_blocks = 1000000;
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK);
    static bl_transfer_t transfers[256];
    static bl_event_result_t results[256];
    uint32_t results_count;
    uint64_t id = 1;
    for (int b = 0; b < 20; b++) {
        for (uint32_t i = 0; i < 256; i++) {
            uint16_t flags = rng() % 3 == 0 ? BL_TRANSFER_PENDING : 0;
            transfer_make(&transfers[i], id++, flags, flags ? (uint32_t)(rng() % 3) : 0);
            if (i > 0 && rng() % 5 == 0) { /* post or void something earlier */
                memset(&transfers[i], 0, sizeof(transfers[i]));
                transfers[i].id = id - 1;
                transfers[i].pending_id = id - 2 - rng() % 20;
                transfers[i].flags =
                    rng() & 1 ? BL_TRANSFER_POST_PENDING : BL_TRANSFER_VOID_PENDING;
            }
        }
        assert_int_equal(create_transfers(node, transfers, 256, results, &results_count),
                         BL_FRAME_OK);
        atomic_fetch_add(&g_now, 700000000ull); /* 0.7 s: some pending transfers expire */
    }
    /* Past every deadline, one more block expires the rest, so the node has nothing left to
     * commit on its own and the state below is final. */
    atomic_fetch_add(&g_now, 100 * BL_NS_PER_S);
    transfer_make(&transfers[0], id++, 0, 0);
    assert_int_equal(create_transfers(node, transfers, 1, results, &results_count), BL_FRAME_OK);
    bl_server_status_t before = status_get(node);
    bl_node_close(node);
    char command[128];
    snprintf(command, sizeof(command), "rm -f %s/checkpoint-*", dir);
    assert_int_equal(system(command), 0);
    uint32_t partitions[] = {1, 8};
    for (int k = 0; k < 2; k++) {
        config = config_make(dir, partitions[k]);
        config.checkpoint_blocks = 1000000;
        node = node_open(&config);
        bl_node_stats_t stats;
        bl_node_stats_get(node, &stats);
        assert_int_equal(stats.replayed_blocks, before.block_height);
        assert_true(status_get(node).state_digest == before.state_digest);
        bl_node_close(node);
        assert_int_equal(system(command), 0); /* close wrote a checkpoint: drop it again */
    }
    dir_remove(dir);
}

typedef struct submitter {
    bl_node_t *node;
    uint64_t first_id;
    atomic_uint *done;
} submitter_t;

/* Runs on the node's thread: it records, and the test thread asserts. */
static atomic_uint g_submit_failures, g_submit_last_status;

static void submitter_done(bl_node_request_t *request) {
    if (request->status != BL_FRAME_OK || request->reply_count != 0) {
        atomic_fetch_add(&g_submit_failures, 1);
        atomic_store(&g_submit_last_status, request->status);
    }
    atomic_fetch_add((atomic_uint *)request->ctx, 1);
}

#define SUBMITTER_REQUESTS 100u
#define SUBMITTER_EVENTS 32u

static void *submitter_main(void *arg) {
    submitter_t *s = arg;
    static _Thread_local bl_transfer_t transfers[SUBMITTER_REQUESTS][SUBMITTER_EVENTS];
    static _Thread_local bl_event_result_t results[SUBMITTER_REQUESTS][SUBMITTER_EVENTS];
    static _Thread_local bl_node_request_t requests[SUBMITTER_REQUESTS];
    for (uint32_t r = 0; r < SUBMITTER_REQUESTS; r++) {
        for (uint32_t i = 0; i < SUBMITTER_EVENTS; i++) {
            bl_transfer_t *t = &transfers[r][i];
            memset(t, 0, sizeof(*t));
            t->id = s->first_id + r * SUBMITTER_EVENTS + i;
            t->debit_account_id = 1 + (t->id % ACCOUNTS);
            t->credit_account_id = 1 + ((t->id + 1) % ACCOUNTS);
            t->amount = 1;
            t->ledger = 1;
            t->code = 1;
        }
        requests[r] = (bl_node_request_t){.op = BL_OP_CREATE_TRANSFERS,
                                          .count = SUBMITTER_EVENTS,
                                          .body = transfers[r],
                                          .reply = results[r],
                                          .done = submitter_done,
                                          .ctx = s->done};
        bl_node_submit(s->node, &requests[r]);
    }
    while (atomic_load(s->done) < SUBMITTER_REQUESTS) usleep(1000);
    return NULL;
}

static void test_node_group_commit(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_node_config_t config = config_make(dir, 2);
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK);
    pthread_t threads[4];
    submitter_t submitters[4];
    atomic_uint done[4];
    for (int k = 0; k < 4; k++) {
        atomic_init(&done[k], 0);
        submitters[k] = (submitter_t){node, 1 + (uint64_t)k * 1000000, &done[k]};
        assert_int_equal(pthread_create(&threads[k], NULL, submitter_main, &submitters[k]), 0);
    }
    for (int k = 0; k < 4; k++) pthread_join(threads[k], NULL);
    if (atomic_load(&g_submit_failures) != 0)
        fail_msg("%u requests failed, last status %u", atomic_load(&g_submit_failures),
                 atomic_load(&g_submit_last_status));
    bl_server_status_t status = status_get(node);
    assert_int_equal(status.transfers_count, 4 * SUBMITTER_REQUESTS * SUBMITTER_EVENTS);
    /* 400 requests went out in fewer blocks: each sync covered many. */
    bl_node_stats_t stats;
    bl_node_stats_get(node, &stats);
    print_message("group commit: 400 requests in %llu blocks\n", (unsigned long long)stats.blocks);
    assert_true(stats.blocks < 400);
    bl_node_close(node);
    dir_remove(dir);
}

static void test_node_expiry_without_traffic(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_node_config_t config = config_make(dir, 2);
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK);
    bl_transfer_t t;
    transfer_make(&t, 77, BL_TRANSFER_PENDING, 1);
    bl_event_result_t results[1];
    uint32_t results_count;
    assert_int_equal(create_transfers(node, &t, 1, results, &results_count), BL_FRAME_OK);
    assert_int_equal(results_count, 0);
    uint64_t height = status_get(node).block_height;
    atomic_fetch_add(&g_now, 2 * BL_NS_PER_S);
    /* No client writes; the node commits the expiry on its own within about a second. */
    for (int i = 0; i < 300 && status_get(node).block_height == height; i++) usleep(10000);
    assert_int_equal(status_get(node).block_height, height + 1);
    bl_transfer_t post;
    memset(&post, 0, sizeof(post));
    post.id = 78;
    post.pending_id = 77;
    post.flags = BL_TRANSFER_POST_PENDING;
    assert_int_equal(create_transfers(node, &post, 1, results, &results_count), BL_FRAME_OK);
    assert_int_equal(results_count, 1);
    assert_int_equal(results[0].result, BL_CREATE_TRANSFER_PENDING_TRANSFER_EXPIRED);
    bl_node_close(node);
    dir_remove(dir);
}

/* Checkpoints are taken while running; a damaged newest one falls back to the one before. */
static void test_node_checkpoints_and_fallback(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_node_config_t config = config_make(dir, 2);
    config.checkpoint_blocks = 4;
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK);
    create_transfer_batches(node, 30, 64, 2000); /* checkpoint children finish now and then */
    bl_node_stats_t stats;
    bl_node_stats_get(node, &stats);
    assert_true(stats.checkpoints >= 1);
    print_message("checkpoints: %llu, longest fork pause %.3f ms\n",
                  (unsigned long long)stats.checkpoints, stats.checkpoint_pause_ns_max / 1e6);
    bl_server_status_t before = status_get(node);
    bl_node_close(node); /* writes the final checkpoint */

    /* Damage the newest checkpoint: recovery uses the previous one and the log. */
    char command[256];
    snprintf(command, sizeof(command),
             "f=$(ls %s/checkpoint-*.img | tail -1); printf 'XXXX' | dd of=$f bs=1 seek=300 "
             "conv=notrunc status=none",
             dir);
    assert_int_equal(system(command), 0);
    node = node_open(&config);
    bl_server_status_t after = status_get(node);
    assert_true(after.state_digest == before.state_digest);
    assert_int_equal(after.transfers_count, before.transfers_count);
    bl_node_close(node);
    dir_remove(dir);
}

/* lookup_blocks of heights 1..max + 2 (and 0, and 1 again): every block up to `height` once
 * (1 twice), in request order, chained; nothing else. */
static void blocks_check(bl_node_t *node, uint64_t height) {
    enum { MAX = 64 };
    assert_true(height + 4 <= MAX);
    uint64_t heights[MAX];
    static bl_block_header_t headers[MAX];
    uint32_t n = 0;
    heights[n++] = 0;
    for (uint64_t h = 1; h <= height + 2; h++) heights[n++] = h;
    heights[n++] = 1;
    bl_node_request_t request = {
        .op = BL_OP_LOOKUP_BLOCKS, .count = n, .body = heights, .reply = headers};
    assert_int_equal(bl_node_call(node, &request), BL_FRAME_OK);
    assert_int_equal(request.reply_count, height + 1);
    static const uint8_t zeros[32];
    assert_memory_equal(headers[0].prev_hash, zeros, 32);
    for (uint64_t i = 0; i < height; i++) {
        assert_int_equal(headers[i].height, i + 1);
        if (i > 0) {
            assert_memory_equal(headers[i].prev_hash, headers[i - 1].hash, 32);
            assert_true(headers[i].timestamp > headers[i - 1].timestamp);
        }
    }
    assert_memory_equal(&headers[height], &headers[0], sizeof(headers[0]));
}

static void test_node_lookup_blocks(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_node_config_t config = config_make(dir, 2);
    config.checkpoint_blocks = 4;
    config.log_retain_all = true;
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK);
    create_transfer_batches(node, 20, 16, 0);
    uint64_t height = status_get(node).block_height;
    assert_true(height >= 21);
    blocks_check(node, height);
    bl_node_close(node);

    /* From a checkpoint: the headers it covers come from the file. */
    node = node_open(&config);
    blocks_check(node, height);
    bl_node_close(node);

    /* Without checkpoints, replay from block 1 rewrites a damaged file. */
    char command[512];
    snprintf(command, sizeof(command),
             "rm %s/checkpoint-*.img && truncate -s 1000 %s/blocks.hdr && "
             "printf 'XXXXXXXX' | dd of=%s/blocks.hdr bs=1 seek=200 conv=notrunc status=none",
             dir, dir, dir);
    assert_int_equal(system(command), 0);
    node = node_open(&config);
    blocks_check(node, height);
    bl_node_close(node);
    dir_remove(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* A failing disk.                                                                            */

static atomic_int g_appends, g_fail_at;

static int64_t fault_append(void *ctx, uint64_t offset, uint32_t size) {
    (void)ctx;
    (void)offset;
    (void)size;
    return atomic_fetch_add(&g_appends, 1) + 1 >= atomic_load(&g_fail_at) ? -EIO : 0;
}

static void test_node_disk_error_read_only(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_io_t io = bl_io_system;
    io.append_fault = fault_append;
    atomic_store(&g_appends, 0);
    atomic_store(&g_fail_at, 4);
    bl_node_config_t config = config_make(dir, 2);
    config.io = &io;
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK); /* append 1 */
    static bl_transfer_t transfers[10];
    static bl_event_result_t results[10];
    uint32_t results_count;
    for (uint32_t i = 0; i < 10; i++) transfer_make(&transfers[i], i + 1, 0, 0);
    assert_int_equal(create_transfers(node, transfers, 5, results, &results_count), BL_FRAME_OK);
    assert_int_equal(create_transfers(node, transfers + 5, 1, results, &results_count),
                     BL_FRAME_OK); /* append 3 */
    assert_int_equal(create_transfers(node, transfers + 6, 4, results, &results_count),
                     BL_FRAME_READ_ONLY); /* append 4 fails */
    assert_int_equal(create_accounts(node, 1), BL_FRAME_READ_ONLY);
    bl_u128_t ids[10];
    for (uint32_t i = 0; i < 10; i++) ids[i] = i + 1;
    bl_transfer_t looked[10];
    assert_int_equal(lookup_transfers(node, ids, 10, looked), 6); /* reads go on */
    bl_node_stats_t stats;
    bl_node_stats_get(node, &stats);
    assert_true(stats.read_only);
    bl_node_close(node);

    config.io = NULL;
    node = node_open(&config);
    assert_int_equal(lookup_transfers(node, ids, 10, looked), 6); /* nothing acknowledged lost */
    assert_int_equal(create_transfers(node, transfers + 6, 4, results, &results_count),
                     BL_FRAME_OK);
    assert_int_equal(results_count, 0);
    bl_node_close(node);
    dir_remove(dir);
}

/* One process at a time: a second open of a held directory is refused, and the lock goes with
 * the holder. */
static void test_node_directory_is_locked(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_node_config_t config = config_make(dir, 1);
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK);
    bl_node_t *other = NULL;
    assert_int_equal(bl_node_open(&other, &config), -EBUSY);
    assert_null(other);
    assert_int_equal(status_get(node).accounts_count, ACCOUNTS); /* the holder goes on */
    bl_node_close(node);
    node = node_open(&config);
    assert_int_equal(status_get(node).accounts_count, ACCOUNTS);
    bl_node_close(node);
    dir_remove(dir);
}

/* blocks.hdr records acknowledged blocks: a log that lost them, or a directory that lost the
 * file, is refused and left as it was. */
static void test_node_refuses_lost_acknowledged_blocks(void **state) {
    (void)state;
    char dir[64], command[512];
    dir_make(dir, "bl_test_node");
    bl_node_config_t config = config_make(dir, 1);
    config.checkpoint_blocks = 1000;
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK);
    create_transfer_batches(node, 8, 16, 0);
    bl_node_close(node);
    /* Damage the last block's body: 9 acknowledged, the log's valid blocks end at 8. */
    snprintf(command, sizeof(command), "cp %s/blocks.hdr %s/blocks.keep", dir, dir);
    assert_int_equal(system(command), 0);
    bl_log_t *log = NULL;
    bl_log_config_t log_config = {.dir = dir, .read_only = true};
    assert_int_equal(bl_log_open(&log, &log_config, 1, NULL, NULL), 0);
    assert_int_equal(bl_log_height(log), 9);
    bl_log_close(log);
    /* The last record starts at the last page that holds the magic at its start. */
    snprintf(command, sizeof(command),
             "cd %s && f=$(ls log-*.wal) && at=0 && last=0 && size=$(stat -c %%s $f) && "
             "while [ $at -lt $size ]; do "
             "[ \"$(dd if=$f bs=4096 skip=$((at / 4096)) count=1 status=none | head -c 4)\" = "
             "BLWB ] && last=$at; at=$((at + 4096)); done && "
             "printf 'XXXX' | dd of=$f bs=1 seek=$((last + 300)) conv=notrunc status=none",
             dir);
    assert_int_equal(system(command), 0);
    bl_node_t *other = NULL;
    assert_int_equal(bl_node_open(&other, &config), -EBADMSG);
    snprintf(command, sizeof(command), "cmp -s %s/blocks.hdr %s/blocks.keep", dir, dir);
    assert_int_equal(system(command), 0); /* the evidence is kept */
    /* Without the evidence, recovery cannot tell: refused too. */
    snprintf(command, sizeof(command), "rm %s/blocks.hdr", dir);
    assert_int_equal(system(command), 0);
    assert_int_equal(bl_node_open(&other, &config), -EBADMSG);
    dir_remove(dir);
}

/* A checkpoint that cannot be written is counted and said; the node goes on. */
static int open_no_checkpoint(void *ctx, const char *path, int flags, mode_t mode) {
    if (strstr(path, "checkpoint-") != NULL && (flags & O_CREAT)) return -ENOSPC;
    return bl_io_system.open(ctx, path, flags, mode);
}

static void test_node_checkpoint_failure_counted(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_io_t io = bl_io_system;
    io.open = open_no_checkpoint;
    bl_node_config_t config = config_make(dir, 1);
    config.io = &io;
    config.checkpoint_blocks = 2;
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK);
    bl_node_stats_t stats = {0};
    for (int i = 0; i < 500 && stats.checkpoints_failed == 0; i++) {
        create_transfer_batches(node, 3, 4, 1000);
        bl_node_stats_get(node, &stats);
    }
    assert_true(stats.checkpoints_failed > 0);
    assert_int_equal(stats.checkpoints, 0);
    assert_false(stats.read_only);
    bl_node_close(node);
    dir_remove(dir);
}

/* A log written with larger blocks than block_events_max: refused, saying by how much. */
static void test_node_block_larger_than_events_max(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_node_config_t config = config_make(dir, 1);
    config.segment_size_bytes = 8 << 20;
    bl_node_t *node = node_open(&config);
    assert_int_equal(create_accounts(node, ACCOUNTS), BL_FRAME_OK);
    bl_node_close(node);

    /* Block 2: three requests of BL_BATCH_EVENTS_MAX transfers (all zeros: each fails on its
     * own, which is no matter to the log), appended as a node with larger blocks would. */
    const uint32_t requests = 3;
    uint64_t body_size = requests * (BL_LOG_REQUEST_HEADER_SIZE + BL_BATCH_EVENTS_MAX * 128ull);
    uint64_t capacity = (BL_LOG_BODY_OFFSET + body_size + BL_LOG_ALIGN) & ~(BL_LOG_ALIGN - 1ull);
    uint8_t *buffer = NULL;
    assert_int_equal(posix_memalign((void **)&buffer, BL_LOG_ALIGN, capacity), 0);
    memset(buffer, 0, capacity);
    for (uint32_t r = 0; r < requests; r++) {
        bl_log_request_header_t request = {.op = BL_OP_CREATE_TRANSFERS,
                                           .count = BL_BATCH_EVENTS_MAX};
        memcpy(buffer + BL_LOG_BODY_OFFSET + r * (body_size / requests), &request, sizeof(request));
    }
    bl_log_config_t log_config = {.dir = dir, .segment_size_bytes = config.segment_size_bytes};
    bl_log_t *log = NULL;
    assert_int_equal(bl_log_open(&log, &log_config, 1, NULL, NULL), 0);
    bl_block_header_t header = {.height = bl_log_height(log) + 1,
                                .timestamp = atomic_load(&g_now) + BL_NS_PER_S,
                                .request_count = requests,
                                .event_count = requests * BL_BATCH_EVENTS_MAX};
    memcpy(header.prev_hash, bl_log_hash(log), 32);
    uint32_t size = bl_log_record_seal(buffer, capacity, &header, (uint32_t)body_size);
    assert_int_equal(bl_log_append_submit(log, buffer, size, &header), 0);
    assert_int_equal(bl_log_append_wait(log, -1), 0);
    bl_log_close(log);
    free(buffer);

    bl_node_t *other = NULL;
    assert_int_equal(bl_node_open(&other, &config), -EINVAL); /* default: 2 x 8192 */
    config.engine.block_events_max = requests * BL_BATCH_EVENTS_MAX;
    node = node_open(&config);
    assert_int_equal(status_get(node).block_height, 2);
    bl_node_close(node);
    dir_remove(dir);
}

static void test_node_capacity_is_fixed(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_node");
    bl_node_config_t config = config_make(dir, 1);
    bl_node_t *node = node_open(&config);
    bl_node_close(node);
    config.engine.accounts_max = 2048;
    bl_node_t *other = NULL;
    assert_int_equal(bl_node_open(&other, &config), -EINVAL);
    config.engine.accounts_max = 0; /* 0: take the data directory's */
    node = node_open(&config);
    bl_node_close(node);
    dir_remove(dir);
}

int main(void) {
    seed_init("test_node");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_durable_and_recovered),
        cmocka_unit_test(test_node_replay_deterministic_across_partitions),
        cmocka_unit_test(test_node_group_commit),
        cmocka_unit_test(test_node_expiry_without_traffic),
        cmocka_unit_test(test_node_checkpoints_and_fallback),
        cmocka_unit_test(test_node_lookup_blocks),
        cmocka_unit_test(test_node_disk_error_read_only),
        cmocka_unit_test(test_node_capacity_is_fixed),
        cmocka_unit_test(test_node_directory_is_locked),
        cmocka_unit_test(test_node_refuses_lost_acknowledged_blocks),
        cmocka_unit_test(test_node_checkpoint_failure_counted),
        cmocka_unit_test(test_node_block_larger_than_events_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
