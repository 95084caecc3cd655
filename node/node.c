/*
 * The node (see node.h): one thread that owns the log, the engine and the checkpoints.
 *
 * Submission: a lock-free stack (Treiber) that any thread pushes to; the node thread takes the
 * whole stack at once with an exchange and reverses it into its FIFO, so submission order is
 * kept. The node parks on an eventfd when idle; a submitter writes it only when the node says
 * it is parked. The node sets `parked` and then looks at the stack once more; a submitter
 * pushes and then reads `parked`; both sequentially consistent, so at least one of them sees
 * the other and no wake-up is lost.
 *
 * The loop, on the node thread:
 *   1. a block is in flight: wait for its write+fdatasync; then execute it in the engine and
 *      complete its requests (or, on a disk error, go read-only and complete them read_only);
 *   2. else run reads at the head of the FIFO (everything before them has completed);
 *   3. else pack the creates at the head of the FIFO (up to block_events_max events) into a
 *      block, seal it and submit it; or, with no creates but an expiry due, an empty block;
 *   4. else sleep until a submission or the next expiry deadline (at most 1 s).
 * Waiting for work spins for a bounded time before it parks (BL_NODE_SPIN_IDLE_NS).
 * Every time it goes round it reaps a finished checkpoint child and starts one when due.
 *
 * State owned by the node thread: the FIFO, the log, the engine, the block buffer. The
 * submission stack and the unanswered-request count are shared (atomics).
 */
#define _GNU_SOURCE
#include "node/node.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/eventfd.h"
#include "common/hash.h"
#include "node/blocks.h"
#include "node/checkpoint.h"
#include "node/lock.h"
#include "node/meta.h"
#include "wal/log.h"

#define BL_NODE_PATH_MAX 4096u
#define BL_NODE_IDLE_NS (1000ull * 1000 * 1000) /* expiry never waits longer than this */
/* An idle node spins this long for the next submission before it parks: waking a parked
 * thread costs tens of microseconds here, a fifth of a small request's latency. Spinning
 * while a sync is in flight, or in bl_node_call, measured slower on 2 cores: it takes the
 * CPU the kernel needs to complete the I/O. */
#define BL_NODE_SPIN_IDLE_NS (50ull * 1000)
/* blocks.hdr is synced once the node has been idle this long, or, under load, while a block's
 * write is in flight once its oldest unsynced header is this old. Not with every block: the
 * device serves the two syncs one after the other, and a client that sends one request after
 * another waited 100 us more for each reply (bench_wal, p50 290 against 190 us). */
#define BL_NODE_HEADERS_IDLE_NS (2ull * 1000 * 1000)
#define BL_NODE_HEADERS_BUSY_NS (100ull * 1000 * 1000)

struct bl_node {
    bl_node_config_t config;
    const bl_io_t *io;
    char dir[BL_NODE_PATH_MAX];
    bl_engine_t *engine;
    bl_log_t *log;
    bl_blocks_t blocks;       /* headers by height, for lookup_blocks; the acknowledged height */
    bool blocks_dirty;        /* headers written since blocks.hdr was last synced */
    uint64_t blocks_dirty_ns; /* when the first of them was written (monotonic) */
    uint64_t blocks_put_ns;   /* when the last of them was written */
    int lock_fd;              /* holds the data directory's lock (node/lock.h) */
    int store_fd;             /* transfers.store, the engine's transfer records (or -1) */
    char store_path[BL_NODE_PATH_MAX];
    uint64_t started_ns;

    /* Shared with submitters. */
    _Atomic(bl_node_request_t *) submitted;
    atomic_uint unanswered;
    atomic_bool closing;
    atomic_bool parked; /* the node is (about to be) blocked in poll(): write wake_fd */
    int wake_fd;

    /* Node thread. */
    pthread_t thread;
    bool thread_started;
    bl_node_request_t *fifo_head, *fifo_tail;
    bool read_only;
    uint8_t *block_buffer;
    uint64_t block_buffer_size;
    bl_block_header_t block_header;     /* the block in flight */
    bl_node_request_t **block_requests; /* its requests */
    uint32_t block_requests_count;
    bl_request_t *engine_requests;      /* scratch for executing a block */
    bl_event_result_t *scratch_results; /* replay: results nobody reads */
    uint64_t blocks_since_checkpoint;
    uint64_t log_bytes_since_checkpoint;
    pid_t checkpoint_pid;
    uint64_t checkpoint_pending_height;
    uint64_t checkpoint_previous_height;
    bl_engine_budget_t budget; /* what the memory budget holds (engine/budget.c) */
    bool budget_passed;        /* the state grew past it (said once) */

    /* Read by bl_node_stats_get from any thread: atomics (relaxed). */
    bl_node_stats_t stats;
};

#define BL_STAT_SET(node, field, value) \
    __atomic_store_n(&(node)->stats.field, (value), __ATOMIC_RELAXED)
#define BL_STAT_GET(node, field) __atomic_load_n(&(node)->stats.field, __ATOMIC_RELAXED)

static uint64_t bl_clock_realtime_ns(void *ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * BL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t bl_clock_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * BL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void bl_node_say(const bl_node_t *node, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void bl_node_say(const bl_node_t *node, const char *format, ...) {
    if (node->config.quiet) return;
    va_list args;
    va_start(args, format);
    fputs("ballast: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

static double bl_mib(uint64_t bytes) {
    return (double)bytes / 1048576.0;
}

/* What the memory budget holds, said at start. */
static void bl_node_budget_say(bl_node_t *node, int rc, uint64_t ns) {
    const bl_engine_budget_t *b = &node->budget;
    const bl_engine_config_t *c = &node->config.engine;
    BL_STAT_SET(node, memory_budget, b->bytes);
    BL_STAT_SET(node, memory_committed, b->committed_bytes);
    if (rc != 0)
        bl_node_say(node, "committing the memory budget failed (%s): tables fault in as written",
                    strerror(-rc));
    char note[256];
    snprintf(note, sizeof(note),
             "memory_budget %" PRIu64 "\nmemory_committed %" PRIu64 "\nhot_records %" PRIu64 "\n",
             b->bytes, b->committed_bytes, b->hot_bytes / sizeof(bl_transfer_t));
    bl_dir_lock_note(node->dir, note);
    bl_node_say(node,
                "memory budget %.0f MiB: committed %.0f MiB in %.2f s: %s (%.0f MiB), the "
                "tables of %" PRIu64 " of %" PRIu64 " accounts (%.0f MiB) and %" PRIu64
                " of %" PRIu64 " transfers (%.0f MiB, %" PRIu64 " bytes each); hot window %.0f MiB",
                bl_mib(b->bytes), bl_mib(b->committed_bytes), (double)ns / 1e9,
                b->indexes_fit ? "the id indexes" : "not the id indexes, which do not fit",
                bl_mib(b->indexes_bytes), b->accounts, c->accounts_max,
                bl_mib(b->accounts * b->account_bytes), b->transfers, c->transfers_max,
                bl_mib(b->transfers * b->transfer_bytes), b->transfer_bytes, bl_mib(b->hot_bytes));
}

/* ------------------------------------------------------------------------------------------ */
/* The data directory.                                                                        */

/* What a data directory without ballast.meta must not hold: "log segments", "blocks.hdr", or
 * NULL when it holds neither. */
static const char *bl_node_dir_holds_log(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return NULL;
    const char *found = NULL;
    struct dirent *entry;
    while (found == NULL && (entry = readdir(d)) != NULL) {
        if (strncmp(entry->d_name, "log-", 4) == 0) found = "log segments";
        if (strcmp(entry->d_name, "blocks.hdr") == 0) found = "blocks.hdr";
    }
    closedir(d);
    return found;
}

/* Reads ballast.meta, or creates it in a new data directory. Capacities in the config that
 * are 0 are taken from it; others must equal it. */
static int bl_node_meta(bl_node_t *node, bool *created) {
    bl_engine_config_t *engine = &node->config.engine;
    bl_meta_capacity_t capacity;
    int rc = bl_meta_read(node->io, node->dir, &capacity);
    if (rc == -EBADMSG)
        fprintf(stderr, "ballast: %s/ballast.meta is damaged or not a ballast data directory\n",
                node->dir);
    if (rc == 0) {
        if ((engine->accounts_max && engine->accounts_max != capacity.accounts_max) ||
            (engine->transfers_max && engine->transfers_max != capacity.transfers_max)) {
            fprintf(stderr,
                    "ballast: %s was created with accounts-max %" PRIu64
                    " and transfers-max %" PRIu64 "; capacities are fixed at creation\n",
                    node->dir, capacity.accounts_max, capacity.transfers_max);
            return -EINVAL;
        }
        engine->accounts_max = capacity.accounts_max;
        engine->transfers_max = capacity.transfers_max;
        *created = false;
        return 0;
    }
    if (rc != -ENOENT) return rc;

    /* A new data directory: it must hold no log, no block headers and no checkpoint. */
    uint64_t heights[1];
    int checkpoints = bl_checkpoint_list(node->io, node->dir, heights, 1, false);
    const char *found = checkpoints != 0 ? "checkpoints" : bl_node_dir_holds_log(node->dir);
    if (found != NULL) {
        fprintf(stderr,
                "ballast: %s holds %s but no ballast.meta (the file that says what the "
                "directory is, with its capacities): it was deleted or lost; restore the data "
                "directory from a backup\n",
                node->dir, found);
        return -EBADMSG;
    }
    capacity.accounts_max =
        engine->accounts_max ? engine->accounts_max : BL_ENGINE_ACCOUNTS_MAX_DEFAULT;
    capacity.transfers_max =
        engine->transfers_max ? engine->transfers_max : BL_ENGINE_TRANSFERS_MAX_DEFAULT;
    engine->accounts_max = capacity.accounts_max;
    engine->transfers_max = capacity.transfers_max;
    *created = true;
    return bl_meta_write(node->io, node->dir, &capacity);
}

/* ------------------------------------------------------------------------------------------ */
/* Executing blocks.                                                                          */

typedef struct bl_node_block_requests {
    bl_node_t *node;
    uint32_t count;
} bl_node_block_requests_t;

static int bl_node_block_request_visit(void *ctx, uint16_t op, uint32_t count,
                                       const void *records) {
    bl_node_block_requests_t *b = ctx;
    if (op != BL_OP_CREATE_ACCOUNTS && op != BL_OP_CREATE_TRANSFERS) return -EBADMSG;
    b->node->engine_requests[b->count++] = (bl_request_t){
        .op = op, .count = count, .events = records, .results = b->node->scratch_results};
    return 0;
}

/* Keeps a durable block's header for lookup_blocks. The first one after headers the file
 * already held must chain to them; a file that does not is reported (its older headers then
 * cannot be trusted) but does not stop the node: the log, not this copy, is the state. */
static void bl_node_header_keep(bl_node_t *node, const bl_block_header_t *header) {
    bl_block_header_t prev;
    if (header->height > 1 && header->height - 1 == node->blocks.count &&
        bl_blocks_get(&node->blocks, header->height - 1, &prev) == 0 &&
        memcmp(prev.hash, header->prev_hash, BL_HASH_SIZE) != 0)
        bl_node_say(node, "block headers file does not chain at height %" PRIu64, header->height);
    int rc = bl_blocks_put(&node->blocks, header);
    node->blocks_put_ns = bl_clock_monotonic_ns();
    if (!node->blocks_dirty) node->blocks_dirty_ns = node->blocks_put_ns;
    node->blocks_dirty = true;
    if (rc != 0)
        bl_node_say(node, "cannot keep the header of block %" PRIu64 ": %s", header->height,
                    strerror(-rc));
}

/* Replay: executes a logged block in the engine. */
static int bl_node_replay(void *ctx, const bl_log_block_t *block) {
    bl_node_t *node = ctx;
    uint32_t events_max = node->config.engine.block_events_max;
    if (block->header->event_count > events_max) {
        fprintf(stderr,
                "ballast: log block %" PRIu64 " holds %u events, more than the "
                "block-events-max of %u this server was started with (the log was written "
                "with larger blocks): start it with --block-events-max %u or more\n",
                block->header->height, block->header->event_count, events_max,
                block->header->event_count);
        return -EINVAL;
    }
    bl_node_block_requests_t b = {.node = node};
    int rc = bl_log_block_requests(block, bl_node_block_request_visit, &b);
    if (rc != 0) return rc;
    /* Requests share one results buffer: replay's results are not read. */
    rc = bl_engine_block_execute(node->engine, block->header->timestamp, node->engine_requests,
                                 b.count);
    if (rc != 0) {
        fprintf(stderr,
                "ballast: log block %" PRIu64 " cannot be executed (timestamp %" PRIu64
                " after %" PRIu64 ")\n",
                block->header->height, block->header->timestamp,
                bl_engine_timestamp_last(node->engine));
        return -EBADMSG;
    }
    node->stats.replayed_blocks++;
    node->stats.replayed_events += block->header->event_count;
    bl_node_header_keep(node, block->header);
    return 0;
}

static void bl_node_complete(bl_node_t *node, bl_node_request_t *request, uint32_t status) {
    request->status = status;
    if (status != BL_FRAME_OK) request->reply_count = 0;
    atomic_fetch_sub_explicit(&node->unanswered, 1, memory_order_relaxed);
    request->done(request);
}

/* The block in flight is durable: execute it and complete its requests. */
static void bl_node_block_execute(bl_node_t *node) {
    bl_engine_t *engine = node->engine;
    bl_node_header_keep(node, &node->block_header);
    for (uint32_t r = 0; r < node->block_requests_count; r++) {
        bl_node_request_t *request = node->block_requests[r];
        node->engine_requests[r] = (bl_request_t){.op = request->op,
                                                  .count = request->count,
                                                  .events = request->body,
                                                  .results = request->reply};
    }
    int rc = bl_engine_block_execute(engine, node->block_header.timestamp, node->engine_requests,
                                     node->block_requests_count);
    BL_ASSERT(rc == 0); /* the node chose a valid timestamp and valid requests */
    for (uint32_t r = 0; r < node->block_requests_count; r++) {
        node->block_requests[r]->reply_count = node->engine_requests[r].results_count;
        bl_node_complete(node, node->block_requests[r], BL_FRAME_OK);
    }
    node->block_requests_count = 0;
    node->blocks_since_checkpoint++;
    BL_STAT_SET(node, blocks, node->stats.blocks + 1);
    if (!node->budget_passed && (bl_engine_transfers_count(engine) > node->budget.transfers ||
                                 bl_engine_accounts_count(engine) > node->budget.accounts)) {
        node->budget_passed = true;
        bl_node_say(node,
                    "the state has passed what the memory budget holds (%" PRIu64
                    " accounts, %" PRIu64 " transfers): it goes on growing past the budget, "
                    "about %" PRIu64 " bytes a transfer; restart with a larger --memory",
                    node->budget.accounts, node->budget.transfers, node->budget.transfer_bytes);
    }
}

/* `what` failed with `rc`: no more blocks; the block being formed is answered read_only. */
static void bl_node_read_only(bl_node_t *node, const char *what, int rc) {
    if (!node->read_only)
        bl_node_say(node,
                    "%s failed (%s): read-only from now on; everything acknowledged "
                    "is on disk; reads go on",
                    what, strerror(-rc));
    node->read_only = true;
    BL_STAT_SET(node, read_only, true);
    for (uint32_t r = 0; r < node->block_requests_count; r++)
        bl_node_complete(node, node->block_requests[r], BL_FRAME_READ_ONLY);
    node->block_requests_count = 0;
}

/* The append of the block in flight finished with `rc`. */
static void bl_node_block_done(bl_node_t *node, int rc) {
    if (rc == 0)
        bl_node_block_execute(node);
    else
        bl_node_read_only(node, "log write", rc);
}

static bool bl_op_is_create(uint16_t op) {
    return op == BL_OP_CREATE_ACCOUNTS || op == BL_OP_CREATE_TRANSFERS;
}

/* Packs the creates at the head of the FIFO into a block and submits it. Returns whether a
 * block went out. With `empty_ok`, a block without requests (expiry only) may go out. */
static bool bl_node_block_start(bl_node_t *node, bool empty_ok) {
    uint8_t *body = node->block_buffer + BL_LOG_BODY_OFFSET;
    uint64_t body_size = 0;
    uint32_t events = 0;
    node->block_requests_count = 0;
    while (node->fifo_head != NULL && bl_op_is_create(node->fifo_head->op) &&
           events + node->fifo_head->count <= node->config.engine.block_events_max) {
        bl_node_request_t *request = node->fifo_head;
        node->fifo_head = request->next;
        if (node->fifo_head == NULL) node->fifo_tail = NULL;
        bl_log_request_header_t header = {.op = request->op, .count = request->count};
        memcpy(body + body_size, &header, sizeof(header));
        memcpy(body + body_size + sizeof(header), request->body,
               (uint64_t)request->count * BL_RECORD_SIZE);
        body_size += sizeof(header) + (uint64_t)request->count * BL_RECORD_SIZE;
        events += request->count;
        node->block_requests[node->block_requests_count++] = request;
    }
    if (node->block_requests_count == 0 && !empty_ok) return false;
    /* The store must have room for the block's transfers before the block is logged: once
     * logged, it must execute. */
    int rc_room = bl_engine_store_room(node->engine, events);
    if (rc_room != 0) {
        char what[BL_NODE_PATH_MAX + 64];
        snprintf(what, sizeof(what), "growing %s for %u more transfers", node->store_path, events);
        bl_node_read_only(node, what, rc_room);
        return false;
    }

    bl_block_header_t *h = &node->block_header;
    memset(h, 0, sizeof(*h));
    h->height = bl_log_height(node->log) + 1;
    uint64_t now = node->config.clock_ns(node->config.clock_ctx);
    uint64_t floor = bl_engine_timestamp_last(node->engine) + 1;
    h->timestamp = now > floor ? now : floor;
    h->request_count = node->block_requests_count;
    h->event_count = events;
    memcpy(h->prev_hash, bl_log_hash(node->log), BL_HASH_SIZE);
    uint32_t size =
        bl_log_record_seal(node->block_buffer, node->block_buffer_size, h, (uint32_t)body_size);
    int rc = bl_log_append_submit(node->log, node->block_buffer, size, h);
    if (rc != 0) {
        bl_node_block_done(node, rc);
        return false;
    }
    node->log_bytes_since_checkpoint += size;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Reads.                                                                                     */

static void bl_node_status_fill(bl_node_t *node, bl_server_status_t *status) {
    memset(status, 0, sizeof(*status));
    status->protocol_version = BL_PROTOCOL_VERSION;
    status->partitions = bl_engine_partitions(node->engine);
    status->block_height = bl_log_height(node->log);
    status->accounts_count = bl_engine_accounts_count(node->engine);
    status->transfers_count = bl_engine_transfers_count(node->engine);
    status->checkpoint_height = node->stats.checkpoint_height;
    status->uptime_ns = bl_clock_monotonic_ns() - node->started_ns;
    status->state_digest = bl_engine_digest(node->engine);
}

static void bl_node_read(bl_node_t *node, bl_node_request_t *request) {
    switch (request->op) {
    case BL_OP_PING:
        request->reply_count = 0;
        break;
    case BL_OP_STATUS:
        bl_node_status_fill(node, request->reply);
        request->reply_count = 1;
        break;
    case BL_OP_LOOKUP_ACCOUNTS:
        request->reply_count =
            bl_engine_lookup_accounts(node->engine, request->body, request->count, request->reply);
        break;
    case BL_OP_LOOKUP_TRANSFERS:
        request->reply_count =
            bl_engine_lookup_transfers(node->engine, request->body, request->count, request->reply);
        break;
    case BL_OP_GET_ACCOUNT_TRANSFERS:
        request->reply_count =
            bl_engine_account_transfers(node->engine, request->body, request->reply);
        break;
    case BL_OP_GET_ACCOUNT_BALANCES:
        request->reply_count =
            bl_engine_account_balances(node->engine, request->body, request->reply);
        break;
    case BL_OP_QUERY_ACCOUNTS:
        request->reply_count =
            bl_engine_query_accounts(node->engine, request->body, request->reply);
        break;
    case BL_OP_QUERY_TRANSFERS:
        request->reply_count =
            bl_engine_query_transfers(node->engine, request->body, request->reply);
        break;
    case BL_OP_LOOKUP_BLOCKS: {
        const uint64_t *heights = request->body;
        bl_block_header_t *out = request->reply;
        uint32_t found = 0;
        for (uint32_t i = 0; i < request->count; i++) {
            if (heights[i] > bl_log_height(node->log)) continue;
            if (bl_blocks_get(&node->blocks, heights[i], &out[found]) == 0) found++;
        }
        request->reply_count = found;
        break;
    }
    default:
        bl_node_complete(node, request, BL_FRAME_BAD_OP);
        return;
    }
    bl_node_complete(node, request, BL_FRAME_OK);
}

/* ------------------------------------------------------------------------------------------ */
/* Checkpoints.                                                                               */

static void bl_node_checkpoint_done(bl_node_t *node, uint64_t height) {
    BL_STAT_SET(node, checkpoint_height, height);
    BL_STAT_SET(node, checkpoints, node->stats.checkpoints + 1);
    /* Keep this checkpoint and the one before, and the log from the one before on, so a
     * damaged newest checkpoint still leaves a way back. */
    uint64_t keep = node->checkpoint_previous_height;
    node->checkpoint_previous_height = height;
    /* The headers of blocks whose log is about to go must be durable first. */
    int rc = bl_blocks_sync(&node->blocks);
    if (rc != 0) {
        bl_node_say(node, "cannot sync block headers (%s); old log segments kept", strerror(-rc));
        return;
    }
    rc = bl_checkpoint_remove_below(node->io, node->dir, keep);
    if (rc == 0 && keep > 0 && !node->config.log_retain_all)
        rc = bl_log_segments_remove_below(node->log, keep + 1);
    if (rc != 0)
        bl_node_say(node, "removing old checkpoints or log segments failed: %s", strerror(-rc));
}

static void bl_node_checkpoint_reap(bl_node_t *node, bool wait) {
    if (node->checkpoint_pid <= 0) return;
    int status;
    pid_t pid = waitpid(node->checkpoint_pid, &status, wait ? 0 : WNOHANG);
    if (pid == 0) return;
    node->checkpoint_pid = 0;
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        BL_STAT_SET(node, checkpoints_failed, node->stats.checkpoints_failed + 1);
        fprintf(stderr,
                "ballast: checkpoint at height %" PRIu64 " failed: %s/checkpoint-%020" PRIu64
                ".tmp: %s (%" PRIu64 " failed since start); the log still has it all\n",
                node->checkpoint_pending_height, node->dir, node->checkpoint_pending_height,
                pid < 0             ? strerror(errno)
                : WIFEXITED(status) ? strerror(WEXITSTATUS(status))
                                    : "the writer was killed",
                node->stats.checkpoints_failed);
        return;
    }
    bl_node_checkpoint_done(node, node->checkpoint_pending_height);
}

static void bl_node_checkpoint_maybe(bl_node_t *node) {
    bl_node_checkpoint_reap(node, false);
    if (node->checkpoint_pid > 0 || node->read_only) return;
    if (node->blocks_since_checkpoint < node->config.checkpoint_blocks &&
        node->log_bytes_since_checkpoint < node->config.checkpoint_log_bytes)
        return;
    uint64_t height = bl_log_height(node->log);
    uint64_t t0 = bl_clock_monotonic_ns();
    pid_t pid = bl_checkpoint_fork(node->io, node->dir, node->engine, height);
    uint64_t pause = bl_clock_monotonic_ns() - t0;
    if (pause > node->stats.checkpoint_pause_ns_max)
        BL_STAT_SET(node, checkpoint_pause_ns_max, pause);
    node->blocks_since_checkpoint = 0;
    node->log_bytes_since_checkpoint = 0;
    if (pid < 0) {
        bl_node_say(node, "cannot start a checkpoint: %s", strerror((int)-pid));
        return;
    }
    node->checkpoint_pid = pid;
    node->checkpoint_pending_height = height;
}

/* ------------------------------------------------------------------------------------------ */
/* The loop.                                                                                  */

/* Makes the headers written so far durable. Run where the node would wait anyway: while a
 * block's write is in flight (so it overlaps that write), and once the node has been idle (see
 * BL_NODE_HEADERS_IDLE_NS). So the evidence that a block was acknowledged reaches the disk
 * within a tenth of a second under load, milliseconds when idle; against a crash of the
 * process alone, the page cache keeps it from the moment it is written, before any reply. */
static void bl_node_headers_sync(bl_node_t *node) {
    if (!node->blocks_dirty) return;
    node->blocks_dirty = false;
    int rc = bl_blocks_sync(&node->blocks);
    if (rc != 0) bl_node_say(node, "cannot sync %s/blocks.hdr: %s", node->dir, strerror(-rc));
}

static void bl_node_take_submissions(bl_node_t *node) {
    bl_node_request_t *stack =
        atomic_exchange_explicit(&node->submitted, NULL, memory_order_acquire);
    bl_node_request_t *reversed = NULL, *last = stack;
    while (stack != NULL) {
        bl_node_request_t *next = stack->next;
        stack->next = reversed;
        reversed = stack;
        stack = next;
    }
    if (reversed == NULL) return;
    if (node->fifo_tail != NULL) {
        node->fifo_tail->next = reversed;
    } else {
        node->fifo_head = reversed;
    }
    node->fifo_tail = last;
}

static void bl_node_sleep(bl_node_t *node, uint64_t timeout_ns) {
    uint64_t spin_until = bl_clock_monotonic_ns() + BL_NODE_SPIN_IDLE_NS;
    while (bl_clock_monotonic_ns() < spin_until) {
        if (atomic_load_explicit(&node->submitted, memory_order_relaxed) != NULL) return;
        __builtin_ia32_pause();
    }
    atomic_store(&node->parked, true);
    if (atomic_load(&node->submitted) == NULL && !atomic_load(&node->closing)) {
        struct pollfd fd = {.fd = node->wake_fd, .events = POLLIN};
        int timeout_ms = (int)((timeout_ns + 999999) / 1000000);
        if (poll(&fd, 1, timeout_ms) > 0) {
            bl_eventfd_drain(node->wake_fd);
        }
    }
    atomic_store(&node->parked, false);
}

static void *bl_node_main(void *arg) {
    bl_node_t *node = arg;
    for (;;) {
        bl_node_take_submissions(node);
        if (bl_log_append_in_flight(node->log)) {
            if (node->blocks_dirty &&
                bl_clock_monotonic_ns() - node->blocks_dirty_ns >= BL_NODE_HEADERS_BUSY_NS)
                bl_node_headers_sync(node); /* while the block's own write is in flight */
            bl_node_block_done(node, bl_log_append_wait(node->log, -1));
            continue;
        }
        bl_node_checkpoint_maybe(node);
        if (node->fifo_head != NULL && !bl_op_is_create(node->fifo_head->op)) {
            bl_node_request_t *request = node->fifo_head;
            node->fifo_head = request->next;
            if (node->fifo_head == NULL) node->fifo_tail = NULL;
            bl_node_read(node, request);
            continue;
        }
        if (node->fifo_head != NULL && node->read_only) {
            bl_node_request_t *request = node->fifo_head;
            node->fifo_head = request->next;
            if (node->fifo_head == NULL) node->fifo_tail = NULL;
            bl_node_complete(node, request, BL_FRAME_READ_ONLY);
            continue;
        }
        uint64_t now = node->config.clock_ns(node->config.clock_ctx);
        uint64_t deadline = bl_engine_expiry_deadline_next(node->engine);
        bool expiry_due = deadline <= now && !node->read_only;
        if (node->fifo_head != NULL || expiry_due) {
            if (bl_node_block_start(node, expiry_due)) continue;
            if (node->fifo_head != NULL) continue; /* it went read-only: complete the rest */
        }
        if (atomic_load(&node->closing) && atomic_load(&node->unanswered) == 0)
            break; /* seq_cst, with bl_node_submit's count-then-check: nothing stranded */
        uint64_t timeout = BL_NODE_IDLE_NS;
        if (deadline != UINT64_MAX && deadline > now && deadline - now < timeout)
            timeout = deadline - now;
        if (node->blocks_dirty) { /* idle a while: make the headers durable */
            uint64_t idle_ns = bl_clock_monotonic_ns() - node->blocks_put_ns;
            if (idle_ns >= BL_NODE_HEADERS_IDLE_NS) {
                bl_node_headers_sync(node);
            } else if (BL_NODE_HEADERS_IDLE_NS - idle_ns < timeout) {
                timeout = BL_NODE_HEADERS_IDLE_NS - idle_ns;
            }
        }
        bl_node_sleep(node, timeout);
    }
    /* A checkpoint child dies with the thread that forked it (PR_SET_PDEATHSIG): wait for it
     * here, before this thread ends. */
    bl_node_checkpoint_reap(node, true);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Open, submit, close.                                                                       */

/* Recovery refused (the log said where): say what is lost and how the operator goes on. */
static void bl_node_refusal_explain(bl_node_t *node, uint64_t valid, uint64_t acknowledged) {
    fprintf(stderr,
            "ballast: refusing to start: %s is damaged (the lines above say where); "
            "nothing was changed.\n",
            node->dir);
    if (acknowledged > valid) {
        uint64_t events = 0, unknown = 0;
        for (uint64_t h = valid + 1; h <= acknowledged; h++) {
            bl_block_header_t header;
            if (bl_blocks_get(&node->blocks, h, &header) == 0)
                events += header.event_count;
            else
                unknown++;
        }
        fprintf(stderr,
                "ballast: blocks %" PRIu64 " to %" PRIu64 " were acknowledged (blocks.hdr "
                "records them) but are not in the log: %" PRIu64 " block%s, %" PRIu64 " events%s."
                "\n",
                valid + 1, acknowledged, acknowledged - valid, acknowledged - valid == 1 ? "" : "s",
                events, unknown ? " in the blocks whose headers are readable" : "");
    }
    if (valid > 0)
        fprintf(stderr,
                "ballast: restore the data directory from a backup, or, to go on without "
                "every block after height %" PRIu64 ": ballast-log truncate %s --to-height %" PRIu64
                " (it needs a checkpoint at or below that height, or the log from block "
                "1)\n",
                valid, node->dir, valid);
    else
        fprintf(stderr, "ballast: restore the data directory from a backup.\n");
}

static int bl_node_recover(bl_node_t *node, bool created) {
    uint64_t heights[BL_CHECKPOINTS_MAX];
    int count = bl_checkpoint_list(node->io, node->dir, heights, BL_CHECKPOINTS_MAX, false);
    if (count < 0) return count;
    uint64_t from = 1;
    for (int i = 0; i < count; i++) {
        int rc = bl_checkpoint_load(node->io, node->dir, heights[i], node->engine);
        if (rc == 0) {
            from = heights[i] + 1;
            node->checkpoint_previous_height = heights[i];
            node->stats.checkpoint_height = heights[i];
            bl_node_say(node, "loaded checkpoint at height %" PRIu64, heights[i]);
            break;
        }
        const char *why = bl_engine_error(node->engine);
        bl_node_say(node,
                    "checkpoint at height %" PRIu64 " is unusable (%s%s%s); trying an older one",
                    heights[i], strerror(-rc), *why ? ": " : "", why);
        if (*why && node->config.quiet) fprintf(stderr, "ballast: %s\n", why); /* damage */
        bl_engine_destroy(node->engine); /* it may hold part of the image */
        node->engine = NULL;
        rc = bl_engine_create(&node->engine, &node->config.engine);
        if (rc != 0) return rc;
    }
    /* Missing blocks.hdr is damage, unless nothing was ever logged: a directory created by a
     * process that stopped before it made the file (it holds only ballast.meta). */
    bool fresh = created || (count == 0 && bl_node_dir_holds_log(node->dir) == NULL);
    int rc = bl_blocks_open(&node->blocks, node->io, node->dir,
                            fresh ? BL_BLOCKS_CREATE : BL_BLOCKS_EXISTING);
    if (rc == -ENOENT) {
        fprintf(stderr,
                "ballast: %s/blocks.hdr is missing: it records which blocks were "
                "acknowledged, and without it recovery cannot tell a block torn by a crash from "
                "acknowledged blocks that were lost. Nothing was changed. If `ballast-log verify "
                "%s` finds the log's checksums, chain and hashes intact, `ballast-log truncate %s "
                "--to-height H`, with the last height it reports, recreates it; otherwise restore "
                "the data directory from a backup\n",
                node->dir, node->dir, node->dir);
        return -EBADMSG;
    }
    uint64_t acknowledged = 0, valid = 0;
    if (rc == 0) rc = bl_blocks_acknowledged(&node->blocks, &acknowledged);
    if (rc != 0) return rc;
    bl_log_config_t log_config = {.dir = node->dir,
                                  .segment_size_bytes = node->config.segment_size_bytes,
                                  .io = node->io,
                                  .acknowledged_height = acknowledged,
                                  .height_valid = &valid};
    uint64_t t0 = bl_clock_monotonic_ns();
    rc = bl_log_open(&node->log, &log_config, from, bl_node_replay, node);
    if (rc == -EBADMSG) bl_node_refusal_explain(node, valid, acknowledged);
    /* Entries past the log's end can only be zeros here (a non-zero one would be an
     * acknowledged block the log lacks, and refused): not blocks. */
    if (rc == 0 && node->blocks.count > bl_log_height(node->log))
        rc = bl_blocks_truncate(&node->blocks, bl_log_height(node->log));
    node->stats.replay_ns = bl_clock_monotonic_ns() - t0;
    if (rc == 0) /* recovered: what interrupted checkpoints left can go */
        (void)bl_checkpoint_list(node->io, node->dir, heights, BL_CHECKPOINTS_MAX, true);
    if (rc == 0 && (node->stats.replayed_blocks > 0 || from > 1))
        bl_node_say(node,
                    "recovered to height %" PRIu64 ": replayed %" PRIu64 " blocks (%" PRIu64
                    " events) in %.3f s",
                    bl_log_height(node->log), node->stats.replayed_blocks,
                    node->stats.replayed_events, (double)node->stats.replay_ns / 1e9);
    return rc;
}

static int bl_node_config_resolve(bl_node_t *node, const bl_node_config_t *config) {
    node->config = *config;
    bl_node_config_t *c = &node->config;
    if (c->dir == NULL || strlen(c->dir) + 64 >= BL_NODE_PATH_MAX) {
        fprintf(stderr, "ballast: the data directory's path must be under %u bytes\n",
                BL_NODE_PATH_MAX - 64);
        return -EINVAL;
    }
    strcpy(node->dir, c->dir);
    c->dir = node->dir;
    node->io = c->io ? c->io : &bl_io_system;
    if (c->checkpoint_blocks == 0) c->checkpoint_blocks = BL_NODE_CHECKPOINT_BLOCKS_DEFAULT;
    if (c->checkpoint_log_bytes == 0)
        c->checkpoint_log_bytes = BL_NODE_CHECKPOINT_LOG_BYTES_DEFAULT;
    if (c->requests_max == 0) c->requests_max = BL_NODE_REQUESTS_MAX_DEFAULT;
    if (c->memory_bytes == 0) c->memory_bytes = bl_node_memory_default();
    if (c->clock_ns == NULL) c->clock_ns = bl_clock_realtime_ns;
    if (c->engine.block_events_max == 0)
        c->engine.block_events_max = BL_ENGINE_BLOCK_EVENTS_MAX_DEFAULT;
    /* A block must hold the largest request. */
    if (c->engine.block_events_max < BL_BATCH_EVENTS_MAX) {
        fprintf(stderr, "ballast: block-events-max %u is below the largest request, %u events\n",
                c->engine.block_events_max, BL_BATCH_EVENTS_MAX);
        return -EINVAL;
    }
    return 0;
}

/* MemAvailable of /proc/meminfo, in bytes; 0 if it cannot say. */
static uint64_t bl_node_memory_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kib = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    if (f != NULL) fclose(f);
    return (uint64_t)kib * 1024;
}

uint64_t bl_node_memory_machine(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
    return pages > 0 && page_size > 0 ? (uint64_t)pages * (uint64_t)page_size : 0;
}

uint64_t bl_node_memory_default(void) {
    uint64_t bytes = bl_node_memory_machine() / 4;
    return bytes > BL_NODE_MEMORY_MIN ? bytes : BL_NODE_MEMORY_MIN;
}

int bl_node_open(bl_node_t **out, const bl_node_config_t *config) {
    bl_node_t *node = calloc(1, sizeof(*node));
    if (node == NULL) return -ENOMEM;
    node->wake_fd = -1;
    node->blocks.fd = -1;
    node->started_ns = bl_clock_monotonic_ns();
    node->lock_fd = -1;
    node->store_fd = -1;
    int rc = bl_node_config_resolve(node, config);
    if (rc == 0 && mkdir(node->dir, 0755) != 0 && errno != EEXIST) rc = -errno;
    pid_t holder = 0;
    if (rc == 0) rc = bl_dir_lock(node->dir, true, &node->lock_fd, &holder);
    if (rc == -EBUSY) {
        char who[64] = "its pid is not recorded";
        if (holder > 0) snprintf(who, sizeof(who), "pid %ld", (long)holder);
        fprintf(stderr,
                "ballast: %s is in use by another process (%s, per %s/%s); one process "
                "at a time serves a data directory\n",
                node->dir, who, node->dir, BL_LOCK_FILE);
    }
    bool created = false;
    if (rc == 0) rc = bl_node_meta(node, &created);
    uint32_t events_max = node->config.engine.block_events_max;
    if (rc == 0) {
        node->block_buffer_size =
            BL_LOG_BODY_OFFSET +
            (uint64_t)events_max * (BL_RECORD_SIZE + BL_LOG_REQUEST_HEADER_SIZE) + BL_LOG_ALIGN;
        node->block_buffer_size =
            (node->block_buffer_size + BL_LOG_ALIGN - 1) & ~(uint64_t)(BL_LOG_ALIGN - 1);
        uint64_t segment = node->config.segment_size_bytes ? node->config.segment_size_bytes
                                                           : BL_LOG_SEGMENT_SIZE_DEFAULT;
        struct statvfs fs;
        if (segment < node->block_buffer_size) {
            fprintf(stderr,
                    "ballast: a log segment of %" PRIu64 " bytes cannot hold a block of "
                    "%u events (%" PRIu64 " bytes)\n",
                    segment, events_max, node->block_buffer_size);
            rc = -EINVAL;
        } else if (statvfs(node->dir, &fs) == 0 && (uint64_t)fs.f_bavail * fs.f_frsize < segment) {
            /* Refused now rather than at the first block that needs a new segment. */
            fprintf(stderr,
                    "ballast: a log segment of %" PRIu64 " bytes does not fit in the %" PRIu64
                    " bytes free on %s's file system: free space, or start with a "
                    "smaller --segment-size\n",
                    segment, (uint64_t)fs.f_bavail * fs.f_frsize, node->dir);
            rc = -EINVAL;
        }
        if (rc == 0 &&
            posix_memalign((void **)&node->block_buffer, BL_LOG_ALIGN, node->block_buffer_size))
            rc = -ENOMEM;
        node->block_requests = calloc(events_max, sizeof(bl_node_request_t *));
        node->engine_requests = calloc(events_max, sizeof(bl_request_t));
        node->scratch_results = calloc(BL_BATCH_EVENTS_MAX, sizeof(bl_event_result_t));
        if (!node->block_requests || !node->engine_requests || !node->scratch_results) rc = -ENOMEM;
    }
    if (rc == 0 && !node->config.transfers_in_memory) {
        snprintf(node->store_path, sizeof(node->store_path), "%s/%s", node->dir,
                 BL_NODE_STORE_FILE);
        node->store_fd =
            node->io->open(node->io->ctx, node->store_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (node->store_fd < 0) {
            rc = node->store_fd;
            fprintf(stderr, "ballast: cannot open %s: %s\n", node->store_path, strerror(-rc));
        }
        bl_engine_config_t *engine = &node->config.engine;
        engine->transfers_in_file = true;
        engine->transfers_fd = node->store_fd;
        engine->transfers_path = node->store_path;
        if (engine->hot_transfers == 0) engine->hot_transfers = BL_NODE_HOT_TRANSFERS_DEFAULT;
    }
    if (rc == 0) rc = bl_engine_create(&node->engine, &node->config.engine);
    if (rc == 0) {
        /* The memory budget: commit now what the state will grow into (engine/budget.c),
         * not page by page in the first blocks. A kernel that cannot only costs those blocks
         * their faults. */
        uint64_t t0 = bl_clock_monotonic_ns();
        bl_engine_budget_plan(node->engine, node->config.memory_bytes, &node->budget);
        /* Committing more than the machine has free would wake the kernel's OOM killer: the
         * commit takes at most three quarters of what is available (the state is the same
         * either way; the rest faults in as it is written). */
        uint64_t available = bl_node_memory_available(), cap = available / 4 * 3;
        const bl_engine_budget_t *b = &node->budget;
        if (available > 0 && b->planned_bytes > cap) {
            bl_node_say(node,
                        "the memory budget would commit %.0f MiB, but %.0f MiB are available: "
                        "committing at most %.0f MiB",
                        bl_mib(b->planned_bytes), bl_mib(available), bl_mib(cap));
            bl_engine_budget_plan(node->engine, cap + b->hot_bytes, &node->budget);
            node->budget.bytes = node->config.memory_bytes;
        }
        int rc_commit = bl_engine_budget_commit(node->engine, &node->budget);
        bl_node_budget_say(node, rc_commit, bl_clock_monotonic_ns() - t0);
    }
    if (rc == 0) rc = bl_node_recover(node, created);
    if (rc == 0) {
        node->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (node->wake_fd < 0) rc = -errno;
    }
    if (rc == 0) {
        rc = -pthread_create(&node->thread, NULL, bl_node_main, node);
        node->thread_started = rc == 0;
    }
    if (rc != 0) {
        bl_node_close(node);
        return rc;
    }
    if (created) bl_node_say(node, "created data directory %s", node->dir);
    *out = node;
    return 0;
}

void bl_node_submit(bl_node_t *node, bl_node_request_t *request) {
    request->reply_count = 0;
    /* Count the request before looking at `closing`: the node thread ends only when it sees
     * closing with nothing unanswered, so a request counted here is either refused below or
     * taken by the thread before it ends. */
    unsigned unanswered = atomic_fetch_add(&node->unanswered, 1);
    uint32_t refused = atomic_load(&node->closing)               ? BL_FRAME_SHUTTING_DOWN
                       : unanswered >= node->config.requests_max ? BL_FRAME_BUSY
                                                                 : BL_FRAME_OK;
    if (refused != BL_FRAME_OK) {
        atomic_fetch_sub(&node->unanswered, 1);
        request->status = refused;
        request->done(request);
        return;
    }
    bl_node_request_t *head = atomic_load_explicit(&node->submitted, memory_order_relaxed);
    do {
        request->next = head;
    } while (!atomic_compare_exchange_weak(&node->submitted, &head, request));
    if (atomic_load(&node->parked)) {
        bl_eventfd_signal(node->wake_fd);
    }
}

static void bl_node_call_done(bl_node_request_t *request) {
    sem_post(request->ctx);
}

uint32_t bl_node_call(bl_node_t *node, bl_node_request_t *request) {
    sem_t done;
    sem_init(&done, 0, 0);
    request->done = bl_node_call_done;
    request->ctx = &done;
    bl_node_submit(node, request);
    while (sem_wait(&done) != 0) {
    }
    sem_destroy(&done);
    return request->status;
}

void bl_node_close(bl_node_t *node) {
    if (node == NULL) return;
    if (node->thread_started) {
        atomic_store_explicit(&node->closing, true, memory_order_release);
        bl_eventfd_signal(node->wake_fd);
        pthread_join(node->thread, NULL); /* it reaped any checkpoint child before ending */
        uint64_t height = bl_log_height(node->log);
        if (node->read_only)
            bl_node_say(node,
                        "read-only (the log could not be written): no checkpoint is "
                        "written on stop; the log holds everything acknowledged, and the next "
                        "start replays it");
        if (!node->read_only && height > node->stats.checkpoint_height) {
            int rc = bl_checkpoint_write(node->io, node->dir, node->engine, height);
            if (rc == 0) {
                bl_node_checkpoint_done(node, height);
            } else {
                fprintf(stderr,
                        "ballast: final checkpoint at height %" PRIu64 " failed: %s/"
                        "checkpoint-%020" PRIu64 ".tmp: %s; the log still has it all\n",
                        height, node->dir, height, strerror(-rc));
            }
        }
    }
    if (node->wake_fd >= 0) close(node->wake_fd);
    bl_log_close(node->log);
    bl_blocks_close(&node->blocks);
    bl_engine_destroy(node->engine);
    if (node->store_fd >= 0) node->io->close(node->io->ctx, node->store_fd);
    if (node->lock_fd >= 0) close(node->lock_fd); /* last: the directory is let go */
    free(node->block_buffer);
    free(node->block_requests);
    free(node->engine_requests);
    free(node->scratch_results);
    free(node);
}

void bl_node_stats_get(bl_node_t *node, bl_node_stats_t *stats) {
    stats->blocks = BL_STAT_GET(node, blocks);
    stats->checkpoints = BL_STAT_GET(node, checkpoints);
    stats->checkpoint_pause_ns_max = BL_STAT_GET(node, checkpoint_pause_ns_max);
    stats->memory_budget = BL_STAT_GET(node, memory_budget);
    stats->memory_committed = BL_STAT_GET(node, memory_committed);
    stats->checkpoint_height = BL_STAT_GET(node, checkpoint_height);
    stats->checkpoints_failed = BL_STAT_GET(node, checkpoints_failed);
    stats->replayed_blocks = BL_STAT_GET(node, replayed_blocks);
    stats->replayed_events = BL_STAT_GET(node, replayed_events);
    stats->replay_ns = BL_STAT_GET(node, replay_ns);
    stats->read_only = BL_STAT_GET(node, read_only);
}
