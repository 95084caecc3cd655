/*
 * bench_wal: durability costs, next to what the disk itself can do, measured by one program
 * in one run so the ratios mean something on a noisy machine.
 *
 *   disk      4 KiB pwrite + fdatasync latency on a preallocated file, two ways: overwriting
 *             written blocks, and writing into fallocate()d (unwritten) space as the log does;
 *             1 MiB O_DIRECT pwrite + fdatasync bandwidth.
 *   latency   the node, one create_transfers of one transfer at a time: latency p50/p99.
 *   batches   the node, `--submitters` threads each keeping `--inflight` requests of `--batch`
 *             transfers in flight: durable transfers per second and log bandwidth.
 *   replay    the node reopened without checkpoints: blocks replayed per second.
 *
 * The data directory is a fresh one under --dir (default: the current directory, which is
 * on the disk being measured) and is removed at the end unless --keep.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/common.h"
#include "node/node.h"

typedef struct options {
    const char *dir;
    bool keep;
    uint32_t requests;
    uint64_t transfers;
    uint32_t batch;
    uint32_t submitters;
    uint32_t inflight;
    uint32_t partitions;
    uint64_t checkpoint_blocks;
} options_t;

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_wal: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
    exit(1);
}

/* ------------------------------------------------------------------------------------------ */
/* The disk alone.                                                                            */

typedef struct disk {
    uint64_t dsync_p50_ns, dsync_p99_ns;
    uint64_t overwrite_p50_ns, overwrite_p99_ns;
    uint64_t fallocated_p50_ns, fallocated_p99_ns;
    double bandwidth_bytes_per_s;
} disk_t;

/* 4 KiB writes, each made durable: by fdatasync after it, or (dsync) by opening the file
 * O_DSYNC so the write itself is durable. */
static void disk_sync_latency(const char *path, bool zero_fill, bool dsync, uint32_t count,
                              uint64_t *p50, uint64_t *p99) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    if (fd < 0) fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die(path, errno);
    uint64_t size = (uint64_t)count * 4096;
    void *page = NULL;
    if (posix_memalign(&page, 4096, 1 << 20) != 0) die("memory", ENOMEM);
    memset(page, 0, 1 << 20);
    if (fallocate(fd, 0, 0, (off_t)size) != 0) die("fallocate", errno);
    if (zero_fill) {
        for (uint64_t at = 0; at < size; at += 1 << 20)
            if (pwrite(fd, page, size - at < (1u << 20) ? size - at : 1u << 20, (off_t)at) < 0)
                die("pwrite", errno);
    }
    if (fsync(fd) != 0) die("fsync", errno);
    if (dsync) { /* O_DSYNC cannot be added with fcntl on Linux: reopen */
        close(fd);
        fd = open(path, O_RDWR | O_DIRECT | O_DSYNC);
        if (fd < 0) die(path, errno);
    }
    uint64_t *samples = calloc(count, sizeof(uint64_t));
    memset(page, 0x5A, 4096);
    for (uint32_t i = 0; i < count; i++) {
        uint64_t t0 = bench_now_ns();
        if (pwrite(fd, page, 4096, (off_t)i * 4096) != 4096) die("pwrite", errno);
        if (!dsync && fdatasync(fd) != 0) die("fdatasync", errno);
        samples[i] = bench_now_ns() - t0;
    }
    qsort(samples, count, sizeof(uint64_t), bench_u64_compare);
    *p50 = bench_percentile(samples, count, 0.50);
    *p99 = bench_percentile(samples, count, 0.99);
    free(samples);
    free(page);
    close(fd);
    unlink(path);
}

static double disk_bandwidth(const char *path, uint64_t bytes) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    if (fd < 0) fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die(path, errno);
    if (fallocate(fd, 0, 0, (off_t)bytes) != 0) die("fallocate", errno);
    if (fsync(fd) != 0) die("fsync", errno);
    void *chunk = NULL;
    if (posix_memalign(&chunk, 4096, 1 << 20) != 0) die("memory", ENOMEM);
    memset(chunk, 0x5A, 1 << 20);
    uint64_t t0 = bench_now_ns();
    for (uint64_t at = 0; at < bytes; at += 1 << 20) {
        if (pwrite(fd, chunk, 1 << 20, (off_t)at) != 1 << 20) die("pwrite", errno);
        if (fdatasync(fd) != 0) die("fdatasync", errno);
    }
    double seconds = (double)(bench_now_ns() - t0) / 1e9;
    free(chunk);
    close(fd);
    unlink(path);
    return (double)bytes / seconds;
}

/* ------------------------------------------------------------------------------------------ */
/* The node.                                                                                  */

static bl_node_t *node_open(const options_t *o, const char *dir) {
    bl_node_config_t config = {.dir = dir,
                               .engine = {.partitions = o->partitions,
                                          .accounts_max = 1 << 16,
                                          .transfers_max = o->transfers + o->requests + 1024},
                               .checkpoint_blocks = o->checkpoint_blocks,
                               .log_retain_all = true,
                               .quiet = true};
    bl_node_t *node = NULL;
    int rc = bl_node_open(&node, &config);
    if (rc != 0) die("bl_node_open", rc);
    return node;
}

#define ACCOUNTS 10000u

static void accounts_create(bl_node_t *node) {
    static bl_account_t accounts[BL_BATCH_EVENTS_MAX];
    static bl_event_result_t results[BL_BATCH_EVENTS_MAX];
    for (uint32_t first = 0; first < ACCOUNTS; first += BL_BATCH_EVENTS_MAX) {
        uint32_t n =
            ACCOUNTS - first < BL_BATCH_EVENTS_MAX ? ACCOUNTS - first : BL_BATCH_EVENTS_MAX;
        bench_accounts_fill(accounts, first + 1, n);
        bl_node_request_t request = {
            .op = BL_OP_CREATE_ACCOUNTS, .count = n, .body = accounts, .reply = results};
        if (bl_node_call(node, &request) != BL_FRAME_OK || request.reply_count != 0)
            die("create_accounts", EIO);
    }
}

static void latency_run(bl_node_t *node, uint32_t count, uint64_t *p50, uint64_t *p99) {
    uint64_t *samples = calloc(count, sizeof(uint64_t));
    for (uint32_t i = 0; i < count; i++) {
        bl_transfer_t t;
        bl_event_result_t result;
        bench_transfer_make(&t, 1000000000ull + i, ACCOUNTS);
        bl_node_request_t request = {
            .op = BL_OP_CREATE_TRANSFERS, .count = 1, .body = &t, .reply = &result};
        uint64_t t0 = bench_now_ns();
        if (bl_node_call(node, &request) != BL_FRAME_OK || request.reply_count != 0)
            die("create_transfers", EIO);
        samples[i] = bench_now_ns() - t0;
    }
    qsort(samples, count, sizeof(uint64_t), bench_u64_compare);
    *p50 = bench_percentile(samples, count, 0.50);
    *p99 = bench_percentile(samples, count, 0.99);
    free(samples);
}

typedef struct submitter {
    bl_node_t *node;
    const options_t *o;
    uint64_t first_id;
    uint64_t count;
    atomic_uint outstanding;
    atomic_uint failures;
} submitter_t;

typedef struct slot {
    bl_node_request_t request;
    bl_transfer_t *transfers;
    bl_event_result_t *results;
    submitter_t *submitter;
} slot_t;

static void slot_done(bl_node_request_t *request) {
    slot_t *slot = request->ctx;
    if (request->status != BL_FRAME_OK || request->reply_count != 0)
        atomic_fetch_add(&slot->submitter->failures, 1);
    atomic_fetch_sub(&slot->submitter->outstanding, 1);
}

static void *submitter_main(void *arg) {
    submitter_t *s = arg;
    const options_t *o = s->o;
    slot_t *slots = calloc(o->inflight, sizeof(slot_t));
    for (uint32_t k = 0; k < o->inflight; k++) {
        slots[k].transfers = calloc(o->batch, sizeof(bl_transfer_t));
        slots[k].results = calloc(o->batch, sizeof(bl_event_result_t));
        slots[k].submitter = s;
    }
    uint64_t sent = 0;
    uint32_t next = 0;
    while (sent < s->count) {
        /* Reuse slots round-robin: wait until fewer than `inflight` are outstanding. */
        while (atomic_load(&s->outstanding) >= o->inflight) usleep(20);
        slot_t *slot = &slots[next];
        next = (next + 1) % o->inflight;
        uint32_t n = (uint32_t)(s->count - sent < o->batch ? s->count - sent : o->batch);
        for (uint32_t i = 0; i < n; i++)
            bench_transfer_make(&slot->transfers[i], s->first_id + sent + i, ACCOUNTS);
        slot->request = (bl_node_request_t){.op = BL_OP_CREATE_TRANSFERS,
                                            .count = n,
                                            .body = slot->transfers,
                                            .reply = slot->results,
                                            .done = slot_done,
                                            .ctx = slot};
        atomic_fetch_add(&s->outstanding, 1);
        bl_node_submit(s->node, &slot->request);
        sent += n;
    }
    while (atomic_load(&s->outstanding) > 0) usleep(50);
    for (uint32_t k = 0; k < o->inflight; k++) {
        free(slots[k].transfers);
        free(slots[k].results);
    }
    free(slots);
    return NULL;
}

static double batches_run(bl_node_t *node, const options_t *o) {
    submitter_t *submitters = calloc(o->submitters, sizeof(submitter_t));
    pthread_t *threads = calloc(o->submitters, sizeof(pthread_t));
    uint64_t share = o->transfers / o->submitters;
    uint64_t t0 = bench_now_ns();
    for (uint32_t k = 0; k < o->submitters; k++) {
        submitters[k] = (submitter_t){
            .node = node, .o = o, .first_id = 1 + (uint64_t)k * share, .count = share};
        pthread_create(&threads[k], NULL, submitter_main, &submitters[k]);
    }
    unsigned failures = 0;
    for (uint32_t k = 0; k < o->submitters; k++) {
        pthread_join(threads[k], NULL);
        failures += atomic_load(&submitters[k].failures);
    }
    double seconds = (double)(bench_now_ns() - t0) / 1e9;
    if (failures) die("batches: some requests failed", EIO);
    free(submitters);
    free(threads);
    return (double)(share * o->submitters) / seconds;
}

/* ------------------------------------------------------------------------------------------ */

static void usage(FILE *out) {
    fprintf(
        out,
        "usage: bench_wal [options]\n"
        "  --dir DIR          where the scratch data directory goes (default .)\n"
        "  --keep             keep the data directory (its path is printed)\n"
        "  --requests N       single-transfer requests for the latency run (default 2000)\n"
        "  --transfers N      transfers for the batch run (default 2000000)\n"
        "  --batch N          transfers per request, 1..8192 (default 8192)\n"
        "  --submitters N     concurrent submitting threads, 1..64 (default 4)\n"
        "  --inflight N       requests in flight per submitter, 1..64 (default 2)\n"
        "  --partitions N     engine partitions, 1..64 (default 1)\n"
        "  --checkpoint-blocks N  checkpoint every N blocks during the batch run (default 500)\n");
}

int main(int argc, char **argv) {
    options_t o = {.dir = ".",
                   .requests = 2000,
                   .transfers = 2000000,
                   .batch = 8192,
                   .submitters = 4,
                   .inflight = 2,
                   .partitions = 1,
                   .checkpoint_blocks = 500};
    static const struct option options[] = {{"dir", required_argument, 0, 'd'},
                                            {"keep", no_argument, 0, 'k'},
                                            {"requests", required_argument, 0, 'r'},
                                            {"transfers", required_argument, 0, 't'},
                                            {"batch", required_argument, 0, 'b'},
                                            {"submitters", required_argument, 0, 's'},
                                            {"inflight", required_argument, 0, 'i'},
                                            {"partitions", required_argument, 0, 'p'},
                                            {"checkpoint-blocks", required_argument, 0, 'c'},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.dir = optarg;
            break;
        case 'k':
            o.keep = true;
            break;
        case 'r':
            o.requests = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 't':
            o.transfers = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            o.batch = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 's':
            o.submitters = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'i':
            o.inflight = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'p':
            o.partitions = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            o.checkpoint_blocks = strtoull(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (o.requests < 2 || o.batch < 1 || o.batch > BL_BATCH_EVENTS_MAX || o.submitters < 1 ||
        o.submitters > 64 || o.inflight < 1 || o.inflight > 64 || o.partitions < 1 ||
        o.partitions > BL_PARTITIONS_MAX || o.transfers < o.submitters) {
        usage(stderr);
        return 2;
    }
    char dir[4096], scratch[4200];
    snprintf(dir, sizeof(dir), "%s/bench-wal-%d", o.dir, (int)getpid());
    snprintf(scratch, sizeof(scratch), "%s.disk", dir);

    disk_t disk;
    disk_sync_latency(scratch, true, false, o.requests, &disk.overwrite_p50_ns,
                      &disk.overwrite_p99_ns);
    disk_sync_latency(scratch, false, false, o.requests, &disk.fallocated_p50_ns,
                      &disk.fallocated_p99_ns);
    disk_sync_latency(scratch, true, true, o.requests, &disk.dsync_p50_ns, &disk.dsync_p99_ns);
    disk.bandwidth_bytes_per_s = disk_bandwidth(scratch, 256ull << 20);
    printf("disk: 4 KiB write+fdatasync p50 %.1f us p99 %.1f us (overwrite), p50 %.1f us p99 "
           "%.1f us (fallocated); O_DSYNC write p50 %.1f us p99 %.1f us; 1 MiB O_DIRECT "
           "write+fdatasync %.0f MB/s\n",
           disk.overwrite_p50_ns / 1e3, disk.overwrite_p99_ns / 1e3, disk.fallocated_p50_ns / 1e3,
           disk.fallocated_p99_ns / 1e3, disk.dsync_p50_ns / 1e3, disk.dsync_p99_ns / 1e3,
           disk.bandwidth_bytes_per_s / 1e6);

    bl_node_t *node = node_open(&o, dir);
    accounts_create(node);
    uint64_t p50, p99;
    latency_run(node, o.requests, &p50, &p99);
    printf("latency: one transfer per request, %u requests: p50 %.1f us p99 %.1f us "
           "(%.2fx / %.2fx the disk's overwrite / fallocated p50)\n",
           o.requests, p50 / 1e3, p99 / 1e3, (double)p50 / (double)disk.overwrite_p50_ns,
           (double)p50 / (double)disk.fallocated_p50_ns);
    double rate = batches_run(node, &o);
    double log_bytes = rate * 128.0;
    bl_node_stats_t stats;
    bl_node_stats_get(node, &stats);
    printf("batches: %u submitters x %u in flight x %u transfers: %.2f M durable transfers/s "
           "(%.0f MB/s of records, %.0f%% of the disk's bandwidth; %" PRIu64 " blocks)\n",
           o.submitters, o.inflight, o.batch, rate / 1e6, log_bytes / 1e6,
           100.0 * log_bytes / disk.bandwidth_bytes_per_s, stats.blocks);
    /* Let the last checkpoint child finish, then report the pauses against the state size. */
    for (int i = 0; i < 200 && stats.checkpoints == 0; i++) {
        usleep(10000);
        bl_node_stats_get(node, &stats);
    }
    double resident_gib = bench_resident_bytes() / (double)(1ull << 30);
    printf("checkpoints: %" PRIu64 " taken, longest fork() pause %.3f ms with %.2f GiB resident "
           "(%.2f ms per GiB)\n",
           stats.checkpoints, stats.checkpoint_pause_ns_max / 1e6, resident_gib,
           stats.checkpoint_pause_ns_max / 1e6 / resident_gib);
    bl_node_close(node);

    char command[8400];
    snprintf(command, sizeof(command), "rm -f %s/checkpoint-*", dir);
    if (system(command) != 0) die("removing checkpoints", EIO);
    node = node_open(&o, dir);
    bl_node_stats_get(node, &stats);
    bl_server_status_t status;
    bl_node_request_t request = {.op = BL_OP_STATUS, .reply = &status};
    bl_node_call(node, &request);
    printf("replay: %" PRIu64 " blocks, %" PRIu64 " events in %.3f s: %.2f M events/s\n",
           stats.replayed_blocks, stats.replayed_events, stats.replay_ns / 1e9,
           (double)stats.replayed_events / (stats.replay_ns / 1e9) / 1e6);
    printf("state_digest %016" PRIx64 "%016" PRIx64 " height %" PRIu64 "\n",
           (uint64_t)(status.state_digest >> 64), (uint64_t)status.state_digest,
           status.block_height);
    bl_node_close(node);
    if (o.keep) {
        printf("data directory kept: %s\n", dir);
    } else {
        snprintf(command, sizeof(command), "rm -rf %s", dir);
        if (system(command) != 0) die("removing the data directory", EIO);
    }
    return 0;
}
