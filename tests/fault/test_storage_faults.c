/*
 * The storage fault matrix: damage a data directory that a crash left behind, one fault at a
 * time, and check that recovery either gives back every acknowledged transfer with the same
 * state digest, or refuses to start with a message that names the damaged file. Nothing in
 * between: a recovery that starts with less than was acknowledged is a silent loss, and one
 * silent loss fails the test.
 *
 * The directory: a child process runs a node (2 MiB segments, a checkpoint every 5 blocks),
 * creates 64 accounts in block 1 and 23 blocks of 4,096 transfers, waits for the checkpoint
 * at height 20, and ends with _exit, as a kill would: no final checkpoint, the page cache as
 * it was. Three blocks fit in a segment, so the last blocks span segment boundaries.
 *
 * The faults, each on a fresh copy:
 *   - in each of the last BLOCKS_DAMAGED blocks' records, at offsets in the record header, the
 *     block header, the body and the padding: flip a byte, zero its 4 KiB page, or cut the
 *     file there;
 *   - every segment, checkpoint, ballast.meta, blocks.hdr and transfers.store: delete it, cut
 *     it to 0 bytes, and (all but segments) flip a byte, zero a page or cut it at a spread of
 *     offsets (in the store, across its records: a damaged record must be refused, or
 *     rebuilt from an older checkpoint and the log, never served);
 *   - torn writes through the disk seam: the next block's append writes only part of the
 *     record and fails, so that block was never acknowledged; recovery must cut it on its own
 *     and start, with everything else intact.
 * The counts (cases, recovered exactly, refused, silently lost) are printed.
 *
 * Seeded (BL_SEED, printed): the body offsets are drawn.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/node.h"
#include "tests/common/util.h"
#include "wal/log.h"

#define ACCOUNTS 64u
#define BATCH 4096u
#define TRANSFER_BLOCKS 23u
#define HEIGHT (1u + TRANSFER_BLOCKS)
#define CHECKPOINT_BLOCKS 5u
#define CHECKPOINT_LAST 20u
#define SEGMENT_BYTES (2u << 20)
#define BLOCKS_DAMAGED 5u
#define MESSAGE_MAX 65536

typedef enum { DAMAGE_FLIP, DAMAGE_ZERO, DAMAGE_CUT, DAMAGE_DELETE } damage_t;
static const char *const g_damage_names[] = {"flip", "zero", "cut", "delete"};

typedef struct tally {
    uint32_t cases, exact, refused, lost, unnamed;
} tally_t;

static char g_pristine[64];
static bl_u128_t g_digest;
static tally_t g_tally;

static bl_node_config_t config_make(const char *dir) {
    return (bl_node_config_t){.dir = dir,
                              .engine = {.partitions = 1,
                                         .accounts_max = 1024,
                                         .transfers_max = 1u << 17,
                                         .block_events_max = BATCH * 2},
                              .segment_size_bytes = SEGMENT_BYTES,
                              .checkpoint_blocks = CHECKPOINT_BLOCKS,
                              .quiet = true};
}

static void transfer_of(uint64_t id, bl_transfer_t *t) {
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->debit_account_id = 1 + id % ACCOUNTS;
    t->credit_account_id = 1 + (id / ACCOUNTS + id + 1) % ACCOUNTS;
    if (t->credit_account_id == t->debit_account_id)
        t->credit_account_id = 1 + t->debit_account_id % ACCOUNTS;
    t->amount = 1 + id % 1000;
    t->ledger = 1;
    t->code = 1;
}

/* The child: writes the directory, reports the digest, ends without closing. */
static void pristine_write(int pipe_fd) {
    bl_node_config_t config = config_make(g_pristine);
    bl_node_t *node = NULL;
    if (bl_node_open(&node, &config) != 0) _exit(2);
    static bl_account_t accounts[ACCOUNTS];
    static bl_transfer_t transfers[BATCH];
    static bl_event_result_t results[BATCH];
    for (uint32_t i = 0; i < ACCOUNTS; i++)
        accounts[i] = (bl_account_t){.id = i + 1, .ledger = 1, .code = 1};
    bl_node_request_t request = {
        .op = BL_OP_CREATE_ACCOUNTS, .count = ACCOUNTS, .body = accounts, .reply = results};
    if (bl_node_call(node, &request) != BL_FRAME_OK || request.reply_count != 0) _exit(3);
    for (uint32_t b = 0; b < TRANSFER_BLOCKS; b++) {
        for (uint32_t i = 0; i < BATCH; i++)
            transfer_of((uint64_t)b * BATCH + i + 1, &transfers[i]);
        request = (bl_node_request_t){
            .op = BL_OP_CREATE_TRANSFERS, .count = BATCH, .body = transfers, .reply = results};
        if (bl_node_call(node, &request) != BL_FRAME_OK || request.reply_count != 0) _exit(4);
    }
    bl_node_stats_t stats;
    for (int i = 0; i < 3000; i++) { /* the checkpoint child is reaped as the node idles */
        bl_node_stats_get(node, &stats);
        if (stats.checkpoint_height == CHECKPOINT_LAST) break;
        usleep(10000);
    }
    bl_server_status_t status;
    request = (bl_node_request_t){.op = BL_OP_STATUS, .reply = &status};
    if (bl_node_call(node, &request) != BL_FRAME_OK || status.block_height != HEIGHT ||
        stats.checkpoint_height != CHECKPOINT_LAST)
        _exit(5);
    if (write(pipe_fd, &status.state_digest, sizeof(status.state_digest)) != 16) _exit(6);
    _exit(0); /* as a kill: no close, no final checkpoint */
}

static int setup(void **state) {
    (void)state;
    seed_init("test_storage_faults");
    dir_make(g_pristine, "bl_test_faults");
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        pristine_write(fds[1]);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &g_digest, sizeof(g_digest)), (ssize_t)sizeof(g_digest));
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    dir_remove(g_pristine);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* One case.                                                                                  */

static void copy_dir(const char *from, const char *to) {
    char command[256];
    snprintf(command, sizeof(command), "cp -a '%s/.' '%s/'", from, to);
    assert_int_equal(system(command), 0);
}

static void damage_apply(const char *path, damage_t damage, uint64_t offset) {
    if (damage == DAMAGE_DELETE) {
        assert_int_equal(unlink(path), 0);
        return;
    }
    if (damage == DAMAGE_CUT) {
        assert_int_equal(truncate(path, (off_t)offset), 0);
        return;
    }
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(offset < (uint64_t)st.st_size);
    if (damage == DAMAGE_FLIP) {
        uint8_t byte;
        assert_int_equal(pread(fd, &byte, 1, (off_t)offset), 1);
        byte ^= 0xff;
        assert_int_equal(pwrite(fd, &byte, 1, (off_t)offset), 1);
    } else {
        static uint8_t zeros[4096];
        uint64_t start = offset & ~(uint64_t)4095;
        uint64_t size = (uint64_t)st.st_size - start < 4096 ? (uint64_t)st.st_size - start : 4096;
        assert_int_equal(pwrite(fd, zeros, size, (off_t)start), (ssize_t)size);
    }
    close(fd);
}

/* Opens a node on `dir` with stderr captured into `message`. */
static int node_open_captured(bl_node_t **node, const bl_node_config_t *config, char *message) {
    char path[96];
    snprintf(path, sizeof(path), "%s.stderr", config->dir);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    int rc = bl_node_open(node, config);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, message, MESSAGE_MAX - 1, 0);
    message[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

/* Every acknowledged transfer is there, as sent, and the digest is the crash's. */
static bool node_exact(bl_node_t *node, char *why, size_t why_size) {
    bl_server_status_t status;
    bl_node_request_t request = {.op = BL_OP_STATUS, .reply = &status};
    assert_int_equal(bl_node_call(node, &request), BL_FRAME_OK);
    if (status.block_height != HEIGHT || status.transfers_count != TRANSFER_BLOCKS * BATCH ||
        status.state_digest != g_digest) {
        snprintf(why, why_size, "height %" PRIu64 ", %" PRIu64 " transfers, digest %s",
                 status.block_height, status.transfers_count,
                 status.state_digest == g_digest ? "equal" : "different");
        return false;
    }
    static bl_u128_t ids[BATCH];
    static bl_transfer_t found[BATCH];
    for (uint64_t first = 1; first <= (uint64_t)TRANSFER_BLOCKS * BATCH; first += BATCH) {
        for (uint32_t i = 0; i < BATCH; i++) ids[i] = first + i;
        request = (bl_node_request_t){
            .op = BL_OP_LOOKUP_TRANSFERS, .count = BATCH, .body = ids, .reply = found};
        assert_int_equal(bl_node_call(node, &request), BL_FRAME_OK);
        for (uint32_t i = 0; i < BATCH; i++) {
            bl_transfer_t want;
            transfer_of(first + i, &want);
            want.timestamp = found[i].timestamp;
            if (request.reply_count != BATCH || memcmp(&want, &found[i], sizeof(want)) != 0) {
                snprintf(why, why_size, "transfer %" PRIu64 " missing or different", first + i);
                return false;
            }
        }
    }
    return true;
}

/* Opens the damaged copy and sorts the outcome; `names` is what a refusal must mention. */
static void case_judge(const char *dir, const char *label, const char *names) {
    static char message[MESSAGE_MAX];
    bl_node_config_t config = config_make(dir);
    bl_node_t *node = NULL;
    int rc = node_open_captured(&node, &config, message);
    g_tally.cases++;
    if (getenv("BL_VERBOSE") != NULL) printf("%s: %s\n", label, rc == 0 ? "started" : "refused");
    if (rc != 0) {
        if (strstr(message, names) != NULL && strstr(message, "ballast: ") != NULL) {
            g_tally.refused++;
        } else {
            g_tally.unnamed++;
            printf("UNNAMED: %s: refused (%s) without naming %s:\n%s\n", label, strerror(-rc),
                   names, message);
        }
        return;
    }
    char why[160];
    if (node_exact(node, why, sizeof(why))) {
        g_tally.exact++;
    } else {
        g_tally.lost++;
        printf("SILENT LOSS: %s: started with %s\n%s\n", label, why, message);
    }
    bl_node_close(node);
}

static void case_run(const char *file, damage_t damage, uint64_t offset) {
    char dir[64], path[128], label[256];
    dir_make(dir, "bl_test_fault_case");
    copy_dir(g_pristine, dir);
    snprintf(path, sizeof(path), "%s/%.63s", dir, file);
    damage_apply(path, damage, offset);
    snprintf(label, sizeof(label), "%s %s at %" PRIu64, g_damage_names[damage], file, offset);
    case_judge(dir, label, file);
    dir_remove(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* The directory's files.                                                                     */

typedef struct record_place {
    char file[64];
    uint64_t offset, size, body_size;
} record_place_t;

static uint64_t file_size(const char *dir, const char *file) {
    char path[512];
    snprintf(path, sizeof(path), "%.63s/%.63s", dir, file);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

/* Where each block's record lies, by height (index 0 unused), and the files by kind. */
static void dir_survey(record_place_t places[HEIGHT + 1], char files[][64], uint32_t *count) {
    DIR *d = opendir(g_pristine);
    assert_non_null(d);
    struct dirent *entry;
    *count = 0;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.' || strcmp(entry->d_name, "ballast.lock") == 0 ||
            strcmp(entry->d_name, "log-next.tmp") == 0)
            continue;
        assert_true(*count < 64);
        snprintf(files[(*count)++], 64, "%.63s", entry->d_name);
        if (strncmp(entry->d_name, "log-", 4) != 0) continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", g_pristine, entry->d_name);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        uint64_t at = 0, size = file_size(g_pristine, entry->d_name);
        bl_log_record_header_t h;
        while (at + sizeof(h) <= size && pread(fd, &h, sizeof(h), (off_t)at) == sizeof(h) &&
               memcmp(h.magic, "BLWB", 4) == 0 && h.height <= HEIGHT) {
            record_place_t *p = &places[h.height];
            snprintf(p->file, sizeof(p->file), "%.63s", entry->d_name);
            p->offset = at;
            p->size = h.record_size;
            p->body_size = h.body_size;
            at += h.record_size;
        }
        close(fd);
    }
    closedir(d);
}

/* ------------------------------------------------------------------------------------------ */

static void test_storage_fault_matrix(void **state) {
    (void)state;
    static record_place_t places[HEIGHT + 1];
    char files[64][64];
    uint32_t files_count;
    dir_survey(places, files, &files_count);

    /* The last blocks' records, at offsets in each of their parts. */
    for (uint32_t height = HEIGHT - BLOCKS_DAMAGED + 1; height <= HEIGHT; height++) {
        const record_place_t *p = &places[height];
        assert_true(p->size > 0);
        uint64_t body_end = BL_LOG_BODY_OFFSET + p->body_size;
        uint64_t offsets[] = {
            8,                                         /* record_size */
            16,                                        /* height */
            24,                                        /* checksum */
            BL_LOG_RECORD_HEADER_SIZE + 8,             /* block timestamp */
            BL_LOG_RECORD_HEADER_SIZE + 40,            /* prev_hash */
            BL_LOG_BODY_OFFSET + 4,                    /* first request's count */
            BL_LOG_BODY_OFFSET + rng() % p->body_size, /* a record in the body */
            body_end - 1,                              /* the body's last byte */
            body_end < p->size ? body_end + rng() % (p->size - body_end) : body_end - 2,
        };
        for (uint32_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++)
            for (damage_t d = DAMAGE_FLIP; d <= DAMAGE_CUT; d++)
                case_run(p->file, d, p->offset + offsets[i]);
    }
    /* Every file: gone, emptied, and (all but segments, done above) damaged across it. */
    for (uint32_t f = 0; f < files_count; f++) {
        case_run(files[f], DAMAGE_DELETE, 0);
        case_run(files[f], DAMAGE_CUT, 0);
        if (strncmp(files[f], "log-", 4) == 0) continue;
        uint64_t size = file_size(g_pristine, files[f]);
        /* The store is as long as its capacity, sparse past the records: damage the records
         * (those of the checkpoints, which recovery checks, and the newest, which replay
         * writes again). */
        if (strcmp(files[f], BL_NODE_STORE_FILE) == 0)
            size = (uint64_t)TRANSFER_BLOCKS * BATCH * 128;
        uint64_t offsets[] = {0, 8, size / 3, size / 2, size - 129, size - 1};
        for (uint32_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
            if (offsets[i] >= size) continue;
            for (damage_t d = DAMAGE_FLIP; d <= DAMAGE_CUT; d++) {
                if (d == DAMAGE_CUT && offsets[i] == 0) continue; /* done */
                case_run(files[f], d, offsets[i]);
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Torn writes through the disk seam.                                                         */

static int64_t g_torn_bytes;

static int64_t io_append_torn(void *ctx, uint64_t offset, uint32_t size) {
    (void)ctx;
    (void)offset;
    return g_torn_bytes < size ? g_torn_bytes : size - 1;
}

static void test_storage_torn_writes_recover(void **state) {
    (void)state;
    bl_io_t torn = bl_io_system;
    torn.append_fault = io_append_torn;
    uint32_t exact = g_tally.exact;
    const int64_t sizes[] = {1, 100, 4096, 8192 + 512, 65536, 262144, 1 << 20};
    for (uint32_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char dir[64], label[96];
        dir_make(dir, "bl_test_fault_torn");
        copy_dir(g_pristine, dir);
        g_torn_bytes = sizes[i];
        bl_node_config_t config = config_make(dir);
        config.io = &torn;
        bl_node_t *node = NULL;
        static char message[MESSAGE_MAX];
        assert_int_equal(node_open_captured(&node, &config, message), 0);
        static bl_transfer_t transfers[BATCH];
        static bl_event_result_t results[BATCH];
        for (uint32_t t = 0; t < BATCH; t++)
            transfer_of((uint64_t)TRANSFER_BLOCKS * BATCH + t + 1, &transfers[t]);
        bl_node_request_t request = {
            .op = BL_OP_CREATE_TRANSFERS, .count = BATCH, .body = transfers, .reply = results};
        assert_int_equal(bl_node_call(node, &request), BL_FRAME_READ_ONLY); /* not acknowledged */
        bl_node_close(node);
        snprintf(label, sizeof(label), "torn append of %" PRId64 " bytes", sizes[i]);
        case_judge(dir, label, "log-");
        dir_remove(dir);
    }
    /* A block that was never acknowledged is cut without the operator. */
    assert_int_equal(g_tally.exact - exact, sizeof(sizes) / sizeof(sizes[0]));
}

static void test_storage_tally(void **state) {
    (void)state;
    printf("storage faults: %u cases, %u recovered exactly, %u refused naming the damage, "
           "%u refused without naming it, %u silently lost\n",
           g_tally.cases, g_tally.exact, g_tally.refused, g_tally.unnamed, g_tally.lost);
    assert_int_equal(g_tally.lost, 0);
    assert_int_equal(g_tally.unnamed, 0);
    /* The matrix must have hit both outcomes: a run with no refusal would mean no acknowledged
     * block was ever damaged where it counts. */
    assert_true(g_tally.refused > 0 && g_tally.exact > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storage_fault_matrix),
        cmocka_unit_test(test_storage_torn_writes_recover),
        cmocka_unit_test(test_storage_tally),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
