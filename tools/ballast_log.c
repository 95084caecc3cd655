/*
 * ballast-log: inspect a data directory's write-ahead log, and cut it when an operator decides
 * to.
 *
 *   ballast-log print  [--from H] [--to H] DIR   one line per block the log holds: height,
 *                                                timestamp, requests, events, hash
 *   ballast-log verify DIR                       checksums, heights, the hash chain, every
 *                                                block hash recomputed (BLAKE2b-256), and that
 *                                                the log holds every acknowledged block
 *   ballast-log replay [--partitions N] DIR      loads the newest checkpoint, replays the log
 *                                                after it, prints the state digest and speed
 *   ballast-log truncate --to-height H DIR       drops every block after H: the log after it,
 *                                                checkpoints above it, their headers
 *
 * Like the server, the commands start from the newest checkpoint: the log before it may have
 * been removed, and that is no damage. print and verify read every block the log still holds;
 * replay starts from the newest checkpoint that loads. print, verify and replay open the log
 * read-only: a torn tail is reported, not cut. truncate takes the data directory's lock, so it
 * never runs beside a server, and says how many acknowledged blocks and events it drops.
 *
 * Exit status: 0 everything checked out (or was done); 1 the data directory is damaged, or
 * truncate cannot do what was asked; 2 a usage error; 3 no such directory, or not a ballast
 * data directory; 4 a running server holds the directory (truncate).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "node/blocks.h"
#include "node/checkpoint.h"
#include "node/lock.h"
#include "node/meta.h"
#include "node/node.h"
#include "wal/log.h"

enum { EXIT_DAMAGED = 1, EXIT_USAGE = 2, EXIT_NOT_DATA = 3, EXIT_IN_USE = 4 };

typedef enum { CMD_PRINT, CMD_VERIFY, CMD_REPLAY, CMD_TRUNCATE } command_t;

typedef struct tool {
    command_t command;
    const char *dir;
    uint64_t from, to;
    uint64_t truncate_to;
    uint32_t partitions;
    uint32_t block_events_max;
    bl_meta_capacity_t capacity;
    bl_blocks_t headers; /* blocks.hdr */
    bool blocks_held;
    uint64_t acknowledged; /* per blocks.hdr */
    uint64_t checkpoint;   /* the height the log is read from, minus one */
    bl_engine_t *engine;
    bl_request_t *requests;
    bl_event_result_t *results;
    uint32_t requests_count;
    uint64_t blocks, events, hash_mismatches;
    uint64_t above_blocks, above_events; /* truncate: blocks above the cut, as the log holds */
    bool rewriting;                      /* truncate's second pass: headers are written back */
    int rewrite_rc;
    int store_fd; /* transfers.store, read only: checkpoints' transfer records (or -1) */
    char store_path[4096];
} tool_t;

static void usage(FILE *out) {
    fprintf(out,
            "usage: ballast-log print  [--from H] [--to H] DIR\n"
            "       ballast-log verify DIR\n"
            "       ballast-log replay [--partitions N] [--block-events-max N] DIR\n"
            "       ballast-log truncate --to-height H DIR\n"
            "  --from H, --to H   print only blocks with heights in [H, H] (default: all)\n"
            "  --partitions N     engine partitions for replay, 1..%u (default 1); the digest\n"
            "                     must not depend on it\n"
            "  --block-events-max N  the largest block to expect, as the server was started\n"
            "                     with, %u..%u (default %u)\n"
            "  --to-height H      truncate: keep blocks 1..H, drop every block after H, also\n"
            "                     acknowledged ones, and the checkpoints above H; needs a\n"
            "                     checkpoint at or below H, or the log from block 1\n"
            "Every command starts from the newest checkpoint, as the server does. print,\n"
            "verify and replay change nothing; truncate refuses while a server holds DIR.\n"
            "Exit status: 0 ok, 1 damaged (or truncate cannot), 2 usage, 3 no such\n"
            "directory or not a ballast data directory, 4 in use by a running server.\n",
            BL_PARTITIONS_MAX, BL_BATCH_EVENTS_MAX, BL_BLOCK_EVENTS_MAX_LIMIT,
            BL_ENGINE_BLOCK_EVENTS_MAX_DEFAULT);
}

static void hex(const uint8_t *bytes, size_t size, char *out) {
    for (size_t i = 0; i < size; i++) sprintf(out + 2 * i, "%02x", bytes[i]);
}

static void u128_hex(bl_u128_t value, char out[33]) {
    sprintf(out, "%016" PRIx64 "%016" PRIx64, (uint64_t)(value >> 64), (uint64_t)value);
}

static int tool_collect(void *ctx, uint16_t op, uint32_t count, const void *records) {
    tool_t *tool = ctx;
    tool->requests[tool->requests_count++] =
        (bl_request_t){.op = op, .count = count, .events = records, .results = tool->results};
    return 0;
}

static int tool_replay_block(tool_t *tool, const bl_log_block_t *block) {
    const bl_block_header_t *h = block->header;
    if (h->event_count > tool->block_events_max) {
        fprintf(stderr,
                "ballast-log: block %" PRIu64 " holds %u events, more than "
                "--block-events-max %u: run again with --block-events-max %u or more\n",
                h->height, h->event_count, tool->block_events_max, h->event_count);
        return -EBADMSG;
    }
    tool->requests_count = 0;
    int rc = bl_log_block_requests(block, tool_collect, tool);
    if (rc == 0)
        rc = bl_engine_block_execute(tool->engine, h->timestamp, tool->requests,
                                     tool->requests_count);
    if (rc != 0) {
        fprintf(stderr,
                "ballast-log: block %" PRIu64 " cannot be executed (timestamp %" PRIu64
                " after %" PRIu64 ")\n",
                h->height, h->timestamp, bl_engine_timestamp_last(tool->engine));
        return -EBADMSG;
    }
    return 0;
}

static int tool_block(void *ctx, const bl_log_block_t *block) {
    tool_t *tool = ctx;
    const bl_block_header_t *h = block->header;
    tool->blocks++;
    tool->events += h->event_count;
    switch (tool->command) {
    case CMD_PRINT: {
        if (h->height < tool->from || h->height > tool->to) break;
        char hash[65];
        hex(h->hash, 32, hash);
        printf("%" PRIu64 "\t%" PRIu64 "\t%u\t%u\t%s\n", h->height, h->timestamp, h->request_count,
               h->event_count, hash);
        break;
    }
    case CMD_VERIFY: {
        uint8_t hash[BL_HASH_SIZE];
        if (bl_log_block_hash(block, hash) != 0 || memcmp(hash, h->hash, BL_HASH_SIZE) != 0) {
            fprintf(stderr,
                    "ballast-log: block %" PRIu64 ": stored hash does not match its "
                    "contents\n",
                    h->height);
            tool->hash_mismatches++;
        }
        break;
    }
    case CMD_REPLAY:
        return tool_replay_block(tool, block);
    case CMD_TRUNCATE:
        if (h->height > tool->truncate_to) {
            tool->above_blocks++;
            tool->above_events += h->event_count;
        } else if (tool->rewriting && tool->blocks_held && !tool->rewrite_rc) {
            tool->rewrite_rc = bl_blocks_put(&tool->headers, h); /* the log is the truth */
        }
        break;
    }
    return 0;
}

/* The directory exists, is a data directory, and its ballast.meta reads: 0, or an exit
 * status with the reason said. */
static int tool_dir_check(tool_t *tool) {
    struct stat st;
    if (stat(tool->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "ballast-log: %s: %s\n", tool->dir,
                stat(tool->dir, &st) != 0 ? strerror(errno) : "not a directory");
        return EXIT_NOT_DATA;
    }
    int rc = bl_meta_read(&bl_io_system, tool->dir, &tool->capacity);
    if (rc == -ENOENT) {
        fprintf(stderr,
                "ballast-log: %s is not a ballast data directory (it has no "
                "ballast.meta)\n",
                tool->dir);
        return EXIT_NOT_DATA;
    }
    if (rc != 0) {
        fprintf(stderr, "ballast-log: %s/ballast.meta: %s\n", tool->dir,
                rc == -EBADMSG ? "damaged (its checksum does not match)" : strerror(-rc));
        return rc == -EBADMSG ? EXIT_DAMAGED : EXIT_NOT_DATA;
    }
    return 0;
}

/* The replay engine: the directory's capacities, the options' partitions and block size. */
static bl_engine_config_t tool_engine_config(const tool_t *tool) {
    return (bl_engine_config_t){.partitions = tool->partitions,
                                .accounts_max = tool->capacity.accounts_max,
                                .transfers_max = tool->capacity.transfers_max,
                                .block_events_max = tool->block_events_max,
                                .transfers_from_store = tool->store_fd >= 0,
                                .transfers_fd = tool->store_fd,
                                .transfers_path = tool->store_path};
}

/* Finds where reading starts: the newest checkpoint (for replay and truncate: the newest that
 * loads, and for truncate at or below the cut). 0, or an exit status. */
static int tool_checkpoint_find(tool_t *tool) {
    uint64_t heights[BL_CHECKPOINTS_MAX];
    int count = bl_checkpoint_list(&bl_io_system, tool->dir, heights, BL_CHECKPOINTS_MAX, false);
    if (count < 0) {
        fprintf(stderr, "ballast-log: cannot list the checkpoints of %s: %s\n", tool->dir,
                strerror(-count));
        return EXIT_DAMAGED;
    }
    for (int i = 0; i < count; i++) {
        if (tool->command == CMD_TRUNCATE && heights[i] > tool->truncate_to) continue;
        int rc = 0;
        if (tool->command == CMD_REPLAY) {
            rc = bl_checkpoint_load(&bl_io_system, tool->dir, heights[i], tool->engine);
            if (rc != 0) { /* it may hold part of the image: start over */
                bl_engine_config_t config = tool_engine_config(tool);
                bl_engine_destroy(tool->engine);
                tool->engine = NULL;
                if (bl_engine_create(&tool->engine, &config) != 0) return EXIT_DAMAGED;
            }
        }
        if (rc != 0) {
            fprintf(stderr,
                    "ballast-log: checkpoint-%020" PRIu64 ".img is unusable (%s); "
                    "trying an older one\n",
                    heights[i], strerror(-rc));
            continue;
        }
        tool->checkpoint = heights[i];
        fprintf(stderr,
                "ballast-log: starting from the checkpoint at height %" PRIu64
                " (checkpoint-%020" PRIu64 ".img)%s\n",
                heights[i], heights[i],
                tool->command == CMD_REPLAY || tool->command == CMD_TRUNCATE
                    ? ""
                    : "; every block the log holds is read");
        return 0;
    }
    if (count > 0 && tool->command != CMD_TRUNCATE)
        fprintf(stderr, "ballast-log: no checkpoint loads; the log must start at block 1\n");
    return 0;
}

static int tool_engine_create(tool_t *tool) {
    tool->store_fd =
        open(tool->store_path, O_RDONLY | O_CLOEXEC); /* absent: no checkpoint uses it */
    bl_engine_config_t config = tool_engine_config(tool);
    int rc = bl_engine_create(&tool->engine, &config);
    tool->requests = calloc(tool->block_events_max, sizeof(bl_request_t));
    tool->results = calloc(BL_BATCH_EVENTS_MAX, sizeof(bl_event_result_t));
    if (rc == 0 && (!tool->requests || !tool->results)) rc = -ENOMEM;
    if (rc != 0) fprintf(stderr, "ballast-log: cannot create an engine: %s\n", strerror(-rc));
    return rc;
}

/* blocks.hdr: which blocks were acknowledged. Missing is damage, reported, not fatal. */
static void tool_blocks_open(tool_t *tool, bl_blocks_mode_t mode) {
    int rc = bl_blocks_open(&tool->headers, &bl_io_system, tool->dir, mode);
    if (rc == 0) rc = bl_blocks_acknowledged(&tool->headers, &tool->acknowledged);
    tool->blocks_held = rc == 0;
    if (rc != 0 && mode != BL_BLOCKS_CREATE)
        fprintf(stderr,
                "ballast-log: %s/blocks.hdr: %s; which blocks were acknowledged is "
                "unknown\n",
                tool->dir, strerror(-rc));
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Events in the headers blocks.hdr holds for heights (from, to]. */
static uint64_t tool_events_recorded(tool_t *tool, uint64_t from, uint64_t to) {
    uint64_t events = 0;
    for (uint64_t h = from + 1; tool->blocks_held && h <= to; h++) {
        bl_block_header_t header;
        if (bl_blocks_get(&tool->headers, h, &header) == 0) events += header.event_count;
    }
    return events;
}

/* ballast-log truncate: read-only first, to count what goes; then checkpoints above the cut,
 * the log after it, and blocks.hdr, in that order, so that stopping half way leaves a
 * directory that recovers to the same state or is refused and can be truncated again. */
static int tool_truncate(tool_t *tool) {
    int lock_fd;
    pid_t holder;
    int rc = bl_dir_lock(tool->dir, true, &lock_fd, &holder);
    if (rc != 0) {
        fprintf(stderr, "ballast-log: %s: %s\n", tool->dir,
                rc == -EBUSY ? "in use by a running server; stop it first" : strerror(-rc));
        if (rc == -EBUSY && holder > 0) fprintf(stderr, "ballast-log: (pid %ld)\n", (long)holder);
        return rc == -EBUSY ? EXIT_IN_USE : EXIT_DAMAGED;
    }
    tool_blocks_open(tool, BL_BLOCKS_CREATE);
    int status = tool_checkpoint_find(tool);
    uint64_t valid = 0;
    bl_log_config_t config = {.dir = tool->dir, .read_only = true, .height_valid = &valid};
    bl_log_t *log = NULL;
    if (status == 0 &&
        (rc = bl_log_open(&log, &config, tool->checkpoint + 1, tool_block, tool)) != 0 &&
        valid < tool->truncate_to) {
        fprintf(stderr,
                "ballast-log: the log's valid blocks end at height %" PRIu64 ", below "
                "%" PRIu64 ": nothing was changed\n",
                valid, tool->truncate_to);
        status = EXIT_DAMAGED;
    }
    bl_log_close(log);
    if (status == 0 && rc == 0 && valid < tool->truncate_to) {
        fprintf(stderr,
                "ballast-log: the log ends at height %" PRIu64 ", below %" PRIu64
                ": nothing to drop, nothing was changed\n",
                valid, tool->truncate_to);
        status = EXIT_DAMAGED;
    }
    if (status != 0) {
        close(lock_fd);
        return status;
    }
    uint64_t acknowledged_dropped =
        tool->acknowledged > tool->truncate_to ? tool->acknowledged - tool->truncate_to : 0;
    printf("dropping every block after height %" PRIu64 ": %" PRIu64 " blocks (%" PRIu64
           " events) in the log; %" PRIu64 " acknowledged blocks (%" PRIu64 " events) per "
           "blocks.hdr\n",
           tool->truncate_to, tool->above_blocks, tool->above_events, acknowledged_dropped,
           tool_events_recorded(tool, tool->truncate_to, tool->acknowledged));

    uint64_t heights[BL_CHECKPOINTS_MAX];
    int count = bl_checkpoint_list(&bl_io_system, tool->dir, heights, BL_CHECKPOINTS_MAX, true);
    for (int i = 0; i < count && status == 0; i++) {
        if (heights[i] <= tool->truncate_to) continue;
        char path[4200];
        snprintf(path, sizeof(path), "%s/checkpoint-%020" PRIu64 ".img", tool->dir, heights[i]);
        if (unlink(path) != 0) {
            fprintf(stderr, "ballast-log: cannot remove %s: %s\n", path, strerror(errno));
            status = EXIT_DAMAGED;
        } else {
            printf("removed %s\n", path);
        }
    }
    if (status == 0 && count > 0) (void)bl_io_dir_sync(&bl_io_system, tool->dir);

    tool->rewriting = true;
    config = (bl_log_config_t){
        .dir = tool->dir, .truncate_to_height = tool->truncate_to, .replay_all = true};
    if (status == 0 &&
        (rc = bl_log_open(&log, &config, tool->checkpoint + 1, tool_block, tool)) != 0) {
        fprintf(stderr, "ballast-log: cannot cut the log: %s\n", strerror(-rc));
        status = EXIT_DAMAGED;
    }
    if (status == 0) bl_log_close(log);
    if (status == 0 && tool->blocks_held) {
        rc = tool->rewrite_rc;
        if (rc == 0) rc = bl_blocks_truncate(&tool->headers, tool->truncate_to);
        if (rc == 0) rc = bl_blocks_sync(&tool->headers);
        if (rc != 0) {
            fprintf(stderr, "ballast-log: cannot write %s/blocks.hdr: %s\n", tool->dir,
                    strerror(-rc));
            status = EXIT_DAMAGED;
        }
    }
    if (status == 0)
        printf("truncated %s to height %" PRIu64 "; the server recovers to it on start\n",
               tool->dir, tool->truncate_to);
    close(lock_fd);
    return status;
}

/* The transfer store: its size on disk and the records it holds (standard error, like the
 * other notes, so print's output stays one block per line). */
static void tool_store_say(const tool_t *tool) {
    const char *path = tool->store_path;
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "ballast-log: %s: none (transfer records are in the checkpoints)\n", path);
        return;
    }
    fprintf(stderr,
            "ballast-log: %s: %.1f MiB allocated on disk (the transfer records, 128 bytes "
            "each, and up to 64 MiB allocated ahead of them)\n",
            path, (double)st.st_blocks * 512 / 1048576.0);
}

/* print, verify and replay. */
static int tool_read(tool_t *tool) {
    int lock_fd;
    pid_t holder;
    if (bl_dir_lock(tool->dir, false, &lock_fd, &holder) == -EBUSY)
        fprintf(stderr,
                "ballast-log: note: a running server holds %s; its newest block may "
                "still be being written\n",
                tool->dir);
    else if (lock_fd >= 0)
        close(lock_fd); /* held no longer than the look: a server may start meanwhile */
    if (tool->command == CMD_REPLAY && tool_engine_create(tool) != 0) return EXIT_DAMAGED;
    tool_blocks_open(tool, BL_BLOCKS_READ);
    int status = tool_checkpoint_find(tool);
    if (status != 0) return status;

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t valid = 0;
    bl_log_config_t config = {.dir = tool->dir,
                              .read_only = true,
                              .acknowledged_height = tool->acknowledged,
                              .replay_all = tool->command != CMD_REPLAY,
                              .height_valid = &valid};
    bl_log_t *log = NULL;
    int rc = bl_log_open(&log, &config, tool->checkpoint + 1, tool_block, tool);
    double seconds = seconds_since(&t0);
    if (rc != 0) {
        fprintf(stderr, "ballast-log: %s: %s\n", tool->dir,
                rc == -EBADMSG ? "damaged (see above)" : strerror(-rc));
        if (rc == -EBADMSG && valid > 0)
            fprintf(stderr,
                    "ballast-log: the log's valid blocks end at height %" PRIu64
                    "; blocks.hdr records blocks up to %" PRIu64 " as acknowledged\n",
                    valid, tool->acknowledged);
        return EXIT_DAMAGED;
    }
    if (bl_log_torn_offset(log) != UINT64_MAX)
        fprintf(stderr,
                "ballast-log: the last segment ends in a block that was never "
                "acknowledged, torn at offset %" PRIu64 " (the server cuts it on start)\n",
                bl_log_torn_offset(log));
    if (!tool->blocks_held) status = EXIT_DAMAGED;
    if (tool->command == CMD_VERIFY) {
        printf("%" PRIu64 " blocks, %" PRIu64 " events, heights %" PRIu64 " to %" PRIu64
               " (checkpoint at %" PRIu64 "; blocks.hdr: acknowledged up to %" PRIu64 "): %s\n",
               tool->blocks, tool->events, bl_log_height_first(log), bl_log_height(log),
               tool->checkpoint, tool->acknowledged,
               tool->hash_mismatches ? "HASH MISMATCH"
               : !tool->blocks_held  ? "blocks.hdr MISSING"
                                     : "checksums, chain and hashes verified");
        if (tool->hash_mismatches) status = EXIT_DAMAGED;
    } else if (tool->command == CMD_REPLAY) {
        char digest[33];
        u128_hex(bl_engine_digest(tool->engine), digest);
        printf("height %" PRIu64 "\naccounts %" PRIu64 "\ntransfers %" PRIu64
               "\nstate_digest %s\nreplayed %" PRIu64 " blocks, %" PRIu64 " events in %.3f s "
               "(%.2f M events/s, partitions %u) after the checkpoint at height %" PRIu64 "\n",
               bl_log_height(log), bl_engine_accounts_count(tool->engine),
               bl_engine_transfers_count(tool->engine), digest, tool->blocks, tool->events, seconds,
               seconds > 0 ? (double)tool->events / seconds / 1e6 : 0.0, tool->partitions,
               tool->checkpoint);
    }
    tool_store_say(tool);
    bl_log_close(log);
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    tool_t tool = {.store_fd = -1,
                   .from = 0,
                   .to = UINT64_MAX,
                   .partitions = 1,
                   .block_events_max = BL_ENGINE_BLOCK_EVENTS_MAX_DEFAULT};
    tool.headers.fd = -1;
    if (!strcmp(argv[1], "print"))
        tool.command = CMD_PRINT;
    else if (!strcmp(argv[1], "verify"))
        tool.command = CMD_VERIFY;
    else if (!strcmp(argv[1], "replay"))
        tool.command = CMD_REPLAY;
    else if (!strcmp(argv[1], "truncate"))
        tool.command = CMD_TRUNCATE;
    else {
        usage(stderr);
        return EXIT_USAGE;
    }
    static const struct option options[] = {{"from", required_argument, 0, 'f'},
                                            {"to", required_argument, 0, 't'},
                                            {"partitions", required_argument, 0, 'p'},
                                            {"block-events-max", required_argument, 0, 'b'},
                                            {"to-height", required_argument, 0, 'H'},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        char *end = NULL;
        unsigned long long value = optarg ? strtoull(optarg, &end, 10) : 0;
        if (optarg == NULL || *end != '\0' || *optarg == '\0') {
            usage(stderr);
            return EXIT_USAGE;
        }
        if (c == 'f')
            tool.from = value;
        else if (c == 't')
            tool.to = value;
        else if (c == 'p' && value >= 1 && value <= BL_PARTITIONS_MAX)
            tool.partitions = (uint32_t)value;
        else if (c == 'b' && value >= BL_BATCH_EVENTS_MAX && value <= BL_BLOCK_EVENTS_MAX_LIMIT)
            tool.block_events_max = (uint32_t)value;
        else if (c == 'H' && tool.command == CMD_TRUNCATE && value >= 1)
            tool.truncate_to = value;
        else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || (tool.command == CMD_TRUNCATE && tool.truncate_to == 0)) {
        usage(stderr);
        return EXIT_USAGE;
    }
    tool.dir = argv[optind];
    snprintf(tool.store_path, sizeof(tool.store_path), "%s/%s", tool.dir, BL_NODE_STORE_FILE);
    int status = tool_dir_check(&tool);
    if (status == 0)
        status = tool.command == CMD_TRUNCATE ? tool_truncate(&tool) : tool_read(&tool);
    bl_blocks_close(&tool.headers);
    bl_engine_destroy(tool.engine);
    if (tool.store_fd >= 0) close(tool.store_fd);
    free(tool.requests);
    free(tool.results);
    return status;
}
