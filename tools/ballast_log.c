/*
 * ballast-log: inspect a data directory's write-ahead log without changing anything.
 *
 *   ballast-log print  [--from H] [--to H] DIR   one line per block: height, timestamp,
 *                                                requests, events, hash
 *   ballast-log verify DIR                       checksums, heights, the hash chain, and every
 *                                                block hash recomputed (BLAKE2b-256)
 *   ballast-log replay [--partitions N] DIR      replays the whole log into a new engine and
 *                                                prints the state digest and the replay speed
 *
 * The log is opened read-only: a torn tail is reported, not truncated. Exit status: 0 when
 * everything checked out, 1 when the log is corrupt, 2 for a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "wal/log.h"
#include "wal/meta.h"

typedef enum { CMD_PRINT, CMD_VERIFY, CMD_REPLAY } command_t;

typedef struct tool {
    command_t command;
    uint64_t from, to;
    uint32_t partitions;
    uint32_t block_events_max;
    bl_engine_t *engine;
    bl_request_t *requests;
    bl_event_result_t *results;
    uint32_t requests_count;
    uint64_t blocks, events, hash_mismatches;
} tool_t;

static void usage(FILE *out) {
    fprintf(out,
            "usage: ballast-log print  [--from H] [--to H] DIR\n"
            "       ballast-log verify DIR\n"
            "       ballast-log replay [--partitions N] [--block-events-max N] DIR\n"
            "  --from H, --to H   print only blocks with heights in [H, H] (default: all)\n"
            "  --partitions N     engine partitions for replay, 1..%u (default 1); the digest\n"
            "                     must not depend on it\n"
            "  --block-events-max N  the largest block to expect, as the server was started\n"
            "                     with, %u..%u (default %u)\n"
            "Opens the log read-only. Exit status: 0 ok, 1 corrupt, 2 usage.\n",
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
    tool->requests[tool->requests_count++] = (bl_request_t){
        .op = op, .count = count, .events = records, .results = tool->results};
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
        printf("%" PRIu64 "\t%" PRIu64 "\t%u\t%u\t%s\n", h->height, h->timestamp,
               h->request_count, h->event_count, hash);
        break;
    }
    case CMD_VERIFY: {
        uint8_t hash[32];
        if (bl_log_block_hash(block, hash) != 0 || memcmp(hash, h->hash, 32) != 0) {
            fprintf(stderr, "ballast-log: block %" PRIu64 ": stored hash does not match its "
                    "contents\n", h->height);
            tool->hash_mismatches++;
        }
        break;
    }
    case CMD_REPLAY: {
        tool->requests_count = 0;
        int rc = bl_log_block_requests(block, tool_collect, tool);
        if (rc == 0)
            rc = bl_engine_block_execute(tool->engine, h->timestamp, tool->requests,
                                         tool->requests_count);
        if (rc != 0) {
            fprintf(stderr, "ballast-log: block %" PRIu64 " cannot be executed%s\n", h->height,
                    h->event_count > tool->block_events_max
                        ? ": it has more events than --block-events-max"
                        : "");
            return -EBADMSG;
        }
        break;
    }
    }
    return 0;
}

static int tool_replay_setup(tool_t *tool, const char *dir) {
    bl_meta_capacity_t capacity;
    int rc = bl_meta_read(&bl_io_system, dir, &capacity);
    if (rc != 0) {
        fprintf(stderr, "ballast-log: %s/ballast.meta: %s\n", dir, strerror(-rc));
        return rc;
    }
    bl_engine_config_t config = {.partitions = tool->partitions,
                                 .accounts_max = capacity.accounts_max,
                                 .transfers_max = capacity.transfers_max,
                                 .block_events_max = tool->block_events_max};
    rc = bl_engine_create(&tool->engine, &config);
    tool->requests = calloc(tool->block_events_max, sizeof(bl_request_t));
    tool->results = calloc(BL_BATCH_EVENTS_MAX, sizeof(bl_event_result_t));
    if (rc == 0 && (!tool->requests || !tool->results)) rc = -ENOMEM;
    if (rc != 0) fprintf(stderr, "ballast-log: cannot create an engine: %s\n", strerror(-rc));
    return rc;
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    tool_t tool = {.from = 0, .to = UINT64_MAX, .partitions = 1,
                   .block_events_max = BL_ENGINE_BLOCK_EVENTS_MAX_DEFAULT};
    if (!strcmp(argv[1], "print")) tool.command = CMD_PRINT;
    else if (!strcmp(argv[1], "verify")) tool.command = CMD_VERIFY;
    else if (!strcmp(argv[1], "replay")) tool.command = CMD_REPLAY;
    else {
        usage(stderr);
        return 2;
    }
    static const struct option options[] = {{"from", required_argument, 0, 'f'},
                                            {"to", required_argument, 0, 't'},
                                            {"partitions", required_argument, 0, 'p'},
                                            {"block-events-max", required_argument, 0, 'b'},
                                            {0, 0, 0, 0}};
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        char *end = NULL;
        unsigned long long value = optarg ? strtoull(optarg, &end, 10) : 0;
        if (optarg == NULL || *end != '\0') {
            usage(stderr);
            return 2;
        }
        if (c == 'f') tool.from = value;
        else if (c == 't') tool.to = value;
        else if (c == 'p' && value >= 1 && value <= BL_PARTITIONS_MAX) tool.partitions = (uint32_t)value;
        else if (c == 'b' && value >= BL_BATCH_EVENTS_MAX && value <= BL_BLOCK_EVENTS_MAX_LIMIT)
            tool.block_events_max = (uint32_t)value;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *dir = argv[optind];
    if (tool.command == CMD_REPLAY && tool_replay_setup(&tool, dir) != 0) return 1;

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bl_log_config_t config = {.dir = dir, .read_only = true};
    bl_log_t *log = NULL;
    int rc = bl_log_open(&log, &config, 1, tool_block, &tool);
    double seconds = seconds_since(&t0);
    if (rc != 0) {
        fprintf(stderr, "ballast-log: %s: %s\n", dir,
                rc == -EBADMSG ? "the log is corrupt (see above)" : strerror(-rc));
        return 1;
    }
    if (bl_log_torn_offset(log) != UINT64_MAX)
        fprintf(stderr, "ballast-log: the last segment ends in a torn block at offset %" PRIu64
                " (the server truncates it on start)\n", bl_log_torn_offset(log));
    int status = 0;
    if (tool.command == CMD_VERIFY) {
        printf("%" PRIu64 " blocks, %" PRIu64 " events, heights up to %" PRIu64 ": %s\n",
               tool.blocks, tool.events, bl_log_height(log),
               tool.hash_mismatches ? "HASH MISMATCH" : "checksums, chain and hashes verified");
        status = tool.hash_mismatches ? 1 : 0;
    } else if (tool.command == CMD_REPLAY) {
        char digest[33];
        u128_hex(bl_engine_digest(tool.engine), digest);
        printf("height %" PRIu64 "\naccounts %" PRIu64 "\ntransfers %" PRIu64
               "\nstate_digest %s\nreplayed %" PRIu64 " blocks, %" PRIu64 " events in %.3f s "
               "(%.2f M events/s, partitions %u)\n",
               bl_log_height(log), bl_engine_accounts_count(tool.engine),
               bl_engine_transfers_count(tool.engine), digest, tool.blocks, tool.events, seconds,
               seconds > 0 ? (double)tool.events / seconds / 1e6 : 0.0, tool.partitions);
    }
    bl_log_close(log);
    bl_engine_destroy(tool.engine);
    free(tool.requests);
    free(tool.results);
    return status;
}
