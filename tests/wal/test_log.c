/*
 * The write-ahead log (wal/log.c): appended blocks come back in order with an intact hash
 * chain across segments; a torn last block (cut or flipped at any offset) is truncated and the
 * log goes on; damage to a block that valid blocks follow is refused with -EBADMSG; injected
 * disk failures (EIO, ENOSPC, a torn write) fail the append, stop the log (-EROFS), and lose
 * nothing that was durable. Randomized parts print their seed (BL_SEED reruns one).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/hash.h"
#include "tests/common/util.h"
#include "tests/common/vectors.h"
#include "wal/log.h"

#define BLOCKS_MAX 64u
#define EVENTS_MAX 2048u

/* What a test appended: each block's header and a checksum of its body. */
typedef struct appended {
    bl_block_header_t headers[BLOCKS_MAX + 1];
    uint64_t body_hash[BLOCKS_MAX + 1];
    uint64_t count;
} appended_t;

static uint8_t *g_buffer;
static const uint64_t g_buffer_size =
    BL_LOG_BODY_OFFSET + BL_LOG_REQUEST_HEADER_SIZE + EVENTS_MAX * 128 + BL_LOG_ALIGN;

static bl_log_t *log_open(const char *dir, uint64_t segment_size, const bl_io_t *io,
                          uint64_t from_height, bl_log_replay_t replay, void *ctx, int expect) {
    bl_log_config_t config = {.dir = dir, .segment_size_bytes = segment_size, .io = io};
    bl_log_t *log = NULL;
    int rc = bl_log_open(&log, &config, from_height, replay, ctx);
    assert_int_equal(rc, expect);
    return log;
}

/* Builds and seals block `height` with `events` transfer records in g_buffer. */
static uint32_t block_build(bl_log_t *log, bl_block_header_t *header, uint32_t events) {
    memset(header, 0, sizeof(*header));
    header->height = bl_log_height(log) + 1;
    header->timestamp = 1000 + header->height;
    header->request_count = 1;
    header->event_count = events;
    memcpy(header->prev_hash, bl_log_hash(log), 32);
    uint8_t *body = g_buffer + BL_LOG_BODY_OFFSET;
    bl_log_request_header_t request = {.op = BL_OP_CREATE_TRANSFERS, .count = events};
    memcpy(body, &request, sizeof(request));
    for (uint32_t i = 0; i < events * 128; i += 8) {
        uint64_t v = rng();
        memcpy(body + sizeof(request) + i, &v, 8);
    }
    return bl_log_record_seal(g_buffer, g_buffer_size, header, sizeof(request) + events * 128);
}

static int append_one(bl_log_t *log, appended_t *appended, uint32_t events) {
    bl_block_header_t header;
    uint32_t size = block_build(log, &header, events);
    int rc = bl_log_append_submit(log, g_buffer, size, &header);
    if (rc != 0) return rc;
    assert_true(bl_log_append_in_flight(log));
    rc = bl_log_append_wait(log, -1);
    if (rc == 0 && appended != NULL) {
        appended->headers[header.height] = header;
        appended->body_hash[header.height] = bl_hash64(
            g_buffer + BL_LOG_BODY_OFFSET, BL_LOG_REQUEST_HEADER_SIZE + (uint64_t)events * 128);
        appended->count = header.height;
    }
    return rc;
}

typedef struct replayed {
    const appended_t *expected;
    uint64_t first, last, count;
} replayed_t;

static int replay_check(void *ctx, const bl_log_block_t *block) {
    replayed_t *r = ctx;
    uint64_t h = block->header->height;
    if (r->count == 0)
        r->first = h;
    else
        assert_int_equal(h, r->last + 1);
    assert_true(h <= r->expected->count);
    assert_memory_equal(block->header, &r->expected->headers[h], sizeof(bl_block_header_t));
    assert_int_equal(bl_hash64(block->body, block->body_size), r->expected->body_hash[h]);
    r->last = h;
    r->count++;
    return 0;
}

static void test_log_append_and_replay(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_log");
    appended_t appended = {0};
    bl_log_t *log = log_open(dir, 0, NULL, 1, NULL, NULL, 0);
    assert_int_equal(bl_log_height(log), 0);
    for (int b = 0; b < 40; b++) assert_int_equal(append_one(log, &appended, 1 + rng() % 300), 0);
    bl_log_close(log);

    replayed_t r = {.expected = &appended};
    log = log_open(dir, 0, NULL, 1, replay_check, &r, 0);
    assert_int_equal(r.count, 40);
    assert_int_equal(bl_log_height(log), 40);
    assert_memory_equal(bl_log_hash(log), appended.headers[40].hash, 32);
    /* The chain goes on from where it was. */
    assert_int_equal(append_one(log, &appended, 5), 0);
    bl_log_close(log);

    r = (replayed_t){.expected = &appended};
    log = log_open(dir, 0, NULL, 30, replay_check, &r, 0);
    assert_int_equal(r.first, 30);
    assert_int_equal(r.last, 41);
    bl_log_close(log);
    dir_remove(dir);
}

static void test_log_segments_roll_and_remove(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_log");
    appended_t appended = {0};
    bl_log_t *log = log_open(dir, BL_LOG_SEGMENT_SIZE_MIN, NULL, 1, NULL, NULL, 0);
    for (int b = 0; b < 60; b++)
        assert_int_equal(append_one(log, &appended, 1000 + rng() % 1000), 0);
    bl_log_close(log);

    replayed_t r = {.expected = &appended};
    log = log_open(dir, BL_LOG_SEGMENT_SIZE_MIN, NULL, 1, replay_check, &r, 0);
    assert_int_equal(r.count, 60);
    assert_int_equal(bl_log_segments_remove_below(log, 40), 0);
    bl_log_close(log);

    /* From 40 on still replays; from 1 no longer can (the log starts later). */
    r = (replayed_t){.expected = &appended};
    log = log_open(dir, BL_LOG_SEGMENT_SIZE_MIN, NULL, 40, replay_check, &r, 0);
    assert_int_equal(r.first, 40);
    assert_int_equal(r.last, 60);
    bl_log_close(log);
    r = (replayed_t){.expected = &appended};
    log_open(dir, BL_LOG_SEGMENT_SIZE_MIN, NULL, 1, replay_check, &r, -EBADMSG);
    dir_remove(dir);
}

/* Flips a bit at `offset` (how 0), or zeros from `offset` to the end of its 4 KiB page, never
 * past `limit` (how 1): a cut that stays inside one record. */
static void file_damage(const char *path, uint64_t offset, uint64_t limit, int how) {
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, (off_t)offset), 1);
    if (how == 0) {
        byte ^= (uint8_t)(1u << (rng() % 8));
        assert_int_equal(pwrite(fd, &byte, 1, (off_t)offset), 1);
    } else {
        static uint8_t zeros[BL_LOG_ALIGN];
        uint64_t end = (offset / BL_LOG_ALIGN + 1) * BL_LOG_ALIGN;
        if (end > limit) end = limit;
        assert_int_equal(pwrite(fd, zeros, end - offset, (off_t)offset), (ssize_t)(end - offset));
    }
    close(fd);
}

/* Offsets of record `height` in the single segment of a log written by the test. */
static void record_span(const char *dir, uint64_t height, uint64_t *start, uint64_t *size) {
    char path[128];
    snprintf(path, sizeof(path), "%s/log-%020llu.wal", dir, 1ull);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    uint64_t at = 0;
    for (;;) {
        bl_log_record_header_t h;
        assert_int_equal(pread(fd, &h, sizeof(h), (off_t)at), (ssize_t)sizeof(h));
        assert_memory_equal(h.magic, "BLWB", 4);
        if (h.height == height) {
            *start = at;
            *size = h.record_size;
            break;
        }
        at += h.record_size;
    }
    close(fd);
}

/* A new log in a new `dir` (its segment's path in `path`) of ten blocks of 1..100 events. */
static void log_ten_blocks(char dir[64], char path[128], appended_t *appended) {
    dir_make(dir, "bl_test_log");
    snprintf(path, 128, "%s/log-%020llu.wal", dir, 1ull);
    bl_log_t *log = log_open(dir, 0, NULL, 1, NULL, NULL, 0);
    for (int b = 0; b < 10; b++) assert_int_equal(append_one(log, appended, 1 + rng() % 100), 0);
    bl_log_close(log);
}

/* Damages block `height`'s record (at `start`, `size` bytes) somewhere in the bytes its checksum
 * covers: a flipped bit (how 0) or zeros to the end of the page (how 1). */
static void record_damage(const char *path, const appended_t *appended, uint64_t height,
                          uint64_t start, uint64_t size, int how) {
    uint64_t used = BL_LOG_BODY_OFFSET + BL_LOG_REQUEST_HEADER_SIZE +
                    appended->headers[height].event_count * 128ull;
    file_damage(path, start + rng() % used, start + size, how);
}

static void test_log_torn_tail_is_truncated(void **state) {
    (void)state;
    for (int trial = 0; trial < 24; trial++) {
        char dir[64], path[128];
        appended_t appended = {0};
        log_ten_blocks(dir, path, &appended);
        uint64_t start, size;
        record_span(dir, 10, &start, &size);
        record_damage(path, &appended, 10, start, size, trial % 2);

        replayed_t r = {.expected = &appended};
        bl_log_t *log = log_open(dir, 0, NULL, 1, replay_check, &r, 0);
        assert_int_equal(r.count, 9);
        assert_int_equal(bl_log_height(log), 9);
        assert_int_equal(append_one(log, &appended, 7), 0); /* a new block 10 */
        bl_log_close(log);
        r = (replayed_t){.expected = &appended};
        log = log_open(dir, 0, NULL, 1, replay_check, &r, 0);
        assert_int_equal(r.count, 10);
        bl_log_close(log);
        dir_remove(dir);
    }
}

static void test_log_middle_damage_is_refused(void **state) {
    (void)state;
    for (int trial = 0; trial < 24; trial++) {
        char dir[64], path[128];
        appended_t appended = {0};
        log_ten_blocks(dir, path, &appended);
        uint64_t height = 1 + rng() % 9, start, size;
        record_span(dir, height, &start, &size);
        record_damage(path, &appended, height, start, size, trial % 2);
        replayed_t r = {.expected = &appended};
        log_open(dir, 0, NULL, 1, replay_check, &r, -EBADMSG);
        dir_remove(dir);
    }
}

/* A log that ends below the acknowledged height is refused and left as it was, whether its
 * last block is damaged or its segment is cut short; without the evidence the same damage is
 * a torn tail and is cut. */
static void test_log_acknowledged_damage_is_refused(void **state) {
    (void)state;
    for (int trial = 0; trial < 12; trial++) {
        char dir[64], path[128];
        appended_t appended = {0};
        log_ten_blocks(dir, path, &appended);
        uint64_t start, size;
        record_span(dir, 10 - trial % 3, &start, &size);
        if (trial % 4 == 3) {
            assert_int_equal(truncate(path, (off_t)(start + rng() % size)), 0);
        } else {
            record_damage(path, &appended, 10 - trial % 3, start, size, trial % 2);
        }
        uint64_t valid = 0;
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        uint64_t before = (uint64_t)st.st_size;
        bl_log_config_t config = {.dir = dir, .acknowledged_height = 10, .height_valid = &valid};
        bl_log_t *log = NULL;
        assert_int_equal(bl_log_open(&log, &config, 1, NULL, NULL), -EBADMSG);
        assert_int_equal(valid, 9 - trial % 3);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((uint64_t)st.st_size, before); /* nothing was changed */
        if (trial % 3 == 0) { /* the newest block: without evidence, a torn tail */
            config.acknowledged_height = 9;
            assert_int_equal(bl_log_open(&log, &config, 1, NULL, NULL), 0);
            assert_int_equal(bl_log_height(log), 9);
            bl_log_close(log);
        }
        dir_remove(dir);
    }
}

/* The operator's cut keeps blocks 1..H, acknowledged or not, and the log goes on from H. */
static void test_log_truncate_to_height(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_log");
    appended_t appended = {0};
    bl_log_t *log = log_open(dir, BL_LOG_SEGMENT_SIZE_MIN, NULL, 1, NULL, NULL, 0);
    for (int b = 0; b < 40; b++) assert_int_equal(append_one(log, &appended, EVENTS_MAX), 0);
    bl_log_close(log);
    bl_log_config_t config = {
        .dir = dir, .segment_size_bytes = BL_LOG_SEGMENT_SIZE_MIN, .truncate_to_height = 50};
    assert_int_equal(bl_log_open(&log, &config, 1, NULL, NULL), -ERANGE); /* beyond the log */
    config.truncate_to_height = 13;
    assert_int_equal(bl_log_open(&log, &config, 1, NULL, NULL), 0);
    assert_int_equal(bl_log_height(log), 13);
    bl_log_close(log);
    replayed_t r = {.expected = &appended};
    log = log_open(dir, BL_LOG_SEGMENT_SIZE_MIN, NULL, 1, replay_check, &r, 0);
    assert_int_equal(r.count, 13);
    appended.count = 13;
    assert_int_equal(append_one(log, &appended, 5), 0); /* a new block 14 */
    bl_log_close(log);
    r = (replayed_t){.expected = &appended};
    bl_log_close(log_open(dir, BL_LOG_SEGMENT_SIZE_MIN, NULL, 1, replay_check, &r, 0));
    assert_int_equal(r.count, 14);
    dir_remove(dir);
}

/* The log's block hash is PROTOCOL.md's: vector block_hash_1. */
static void test_log_block_hash_vector(void **state) {
    (void)state;
    uint8_t header_bytes[32], hash[32], record[128];
    assert_int_equal(vector_bytes("block_hash_1", "header_bytes_0_31", header_bytes, 32), 32);
    assert_int_equal(vector_bytes("block_hash_1", "hash", hash, 32), 32);
    assert_int_equal(vector_bytes("account_record", "record", record, 128), 128);
    bl_block_header_t header;
    memset(&header, 0, sizeof(header));
    memcpy(&header, header_bytes, 32); /* height 1, T, 1 request, 1 event; prev_hash zeros */
    uint8_t *body = g_buffer + BL_LOG_BODY_OFFSET;
    bl_log_request_header_t request = {.op = BL_OP_CREATE_ACCOUNTS, .count = 1};
    memcpy(body, &request, sizeof(request));
    memcpy(body + sizeof(request), record, 128);
    uint32_t size = bl_log_record_seal(g_buffer, g_buffer_size, &header, sizeof(request) + 128);
    assert_memory_equal(header.hash, hash, 32);
    assert_memory_equal(g_buffer + BL_LOG_RECORD_HEADER_SIZE + 64, hash, 32);
    assert_int_equal(bl_log_record_check(g_buffer, size), 0);
    g_buffer[BL_LOG_BODY_OFFSET + 40] ^= 1; /* any changed body byte fails the checksum */
    assert_int_equal(bl_log_record_check(g_buffer, size), -EBADMSG);
}

/* ------------------------------------------------------------------------------------------ */
/* Injected faults.                                                                           */

typedef struct faults {
    int appends;       /* appends seen */
    int fail_at;       /* the append that fails (1-based) */
    int64_t fail_with; /* its fault: -errno, or a byte count for a torn write */
    int fallocate_error;
} faults_t;

static faults_t g_faults;

static int64_t fault_append(void *ctx, uint64_t offset, uint32_t size) {
    (void)ctx;
    (void)offset;
    (void)size;
    return ++g_faults.appends == g_faults.fail_at ? g_faults.fail_with : 0;
}

static int fault_fallocate(void *ctx, int fd, off_t size) {
    if (g_faults.fallocate_error) return g_faults.fallocate_error;
    return bl_io_system.fallocate(ctx, fd, size);
}

static bl_io_t fault_io(void) {
    bl_io_t io = bl_io_system;
    io.append_fault = fault_append;
    io.fallocate = fault_fallocate;
    return io;
}

static void fault_case(int64_t fail_with, int expect) {
    char dir[64];
    dir_make(dir, "bl_test_log");
    appended_t appended = {0};
    g_faults = (faults_t){.fail_at = 4, .fail_with = fail_with};
    bl_io_t io = fault_io();
    bl_log_t *log = log_open(dir, 0, &io, 1, NULL, NULL, 0);
    for (int b = 0; b < 3; b++) assert_int_equal(append_one(log, &appended, 10), 0);
    assert_int_equal(append_one(log, &appended, 10), expect);
    assert_int_equal(bl_log_height(log), 3);
    assert_int_equal(append_one(log, &appended, 10), -EROFS); /* stopped, never retried */
    bl_log_close(log);

    replayed_t r = {.expected = &appended};
    log = log_open(dir, 0, NULL, 1, replay_check, &r, 0);
    assert_int_equal(r.count, 3);
    assert_int_equal(append_one(log, &appended, 10), 0);
    bl_log_close(log);
    dir_remove(dir);
}

static void test_log_fault_eio(void **state) {
    (void)state;
    fault_case(-EIO, -EIO);
}

static void test_log_fault_enospc(void **state) {
    (void)state;
    fault_case(-ENOSPC, -ENOSPC);
}

static void test_log_fault_torn_write(void **state) {
    (void)state;
    fault_case(BL_LOG_ALIGN + 100, -EIO); /* the first 4,196 bytes reach the disk */
}

static void test_log_fault_segment_full_disk(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_log");
    g_faults = (faults_t){.fallocate_error = -ENOSPC};
    bl_io_t io = fault_io();
    bl_log_t *log = log_open(dir, 0, &io, 1, NULL, NULL, 0);
    assert_int_equal(append_one(log, NULL, 10), -ENOSPC);
    assert_int_equal(append_one(log, NULL, 10), -EROFS);
    bl_log_close(log);
    dir_remove(dir);
}

int main(void) {
    seed_init("test_log");
    assert_int_equal(posix_memalign((void **)&g_buffer, BL_LOG_ALIGN, g_buffer_size), 0);
    if (vectors_open("test_log") != 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_block_hash_vector),
        cmocka_unit_test(test_log_append_and_replay),
        cmocka_unit_test(test_log_segments_roll_and_remove),
        cmocka_unit_test(test_log_torn_tail_is_truncated),
        cmocka_unit_test(test_log_middle_damage_is_refused),
        cmocka_unit_test(test_log_acknowledged_damage_is_refused),
        cmocka_unit_test(test_log_truncate_to_height),
        cmocka_unit_test(test_log_fault_eio),
        cmocka_unit_test(test_log_fault_enospc),
        cmocka_unit_test(test_log_fault_torn_write),
        cmocka_unit_test(test_log_fault_segment_full_disk),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    free(g_buffer);
    vectors_close();
    return failed;
}
