/*
 * The node: sequencer, write-ahead log, engine and checkpoints behind one in-process API.
 * The TCP server sits on it; tests and tools drive it directly.
 *
 * A request is submitted from any thread and completed on the node's thread, in submission
 * order, by calling its `done`. Create requests are packed into blocks (group commit: what
 * arrives while one block's write+fdatasync is in flight forms the next block), each block
 * gets its height, its timestamp T (the clock, but at least the last timestamp + 1) and its
 * hash, and is executed by the engine only once it is durable; its requests complete after
 * that, so a completed create is an acknowledged, durable create. Reads (lookups, status,
 * ping) are ordered with the writes: they run once every request submitted before them has
 * completed, and are not logged.
 *
 * Data directory: ballast.meta (format and capacities: capacity is state), log segments
 * (wal/log.h) and checkpoints (node/checkpoint.h). Opening recovers: the newest intact
 * checkpoint, then the log after it.
 *
 * Failures: a failed log write or sync puts the node in read-only mode for good (until a
 * restart): the block's requests and every later create complete with status read_only, reads
 * go on, and nothing acknowledged is lost. Too many unanswered requests give busy; requests
 * after bl_node_close began give shutting_down.
 */
#ifndef BALLAST_NODE_NODE_H
#define BALLAST_NODE_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "ballast/protocol.h"
#include "engine/engine.h"
#include "wal/io.h"

#define BL_NODE_REQUESTS_MAX_DEFAULT 4096u
#define BL_NODE_CHECKPOINT_BLOCKS_DEFAULT 100000u
#define BL_NODE_CHECKPOINT_LOG_BYTES_DEFAULT (1ull << 30) /* images hold no records: cheap */
#define BL_NODE_STORE_FILE "transfers.store"
#define BL_NODE_HOT_TRANSFERS_DEFAULT (1ull << 20) /* 128 MiB of the newest records */
#define BL_NODE_MEMORY_MIN (64ull << 20)           /* the smallest --memory */

typedef struct bl_node_config {
    const char *dir;                 /* data directory; created on first use */
    bl_engine_config_t engine;       /* capacities 0: take the data directory's */
    uint64_t segment_size_bytes;     /* 0: BL_LOG_SEGMENT_SIZE_DEFAULT; must hold the
                                        largest block (-EINVAL otherwise) */
    uint64_t checkpoint_blocks;      /* checkpoint after this many blocks; 0: default */
    uint64_t checkpoint_log_bytes;   /* or this many bytes of log; 0: default */
    uint32_t requests_max;           /* unanswered requests before busy; 0: default */
    uint64_t memory_bytes;           /* the memory budget committed at start (engine/budget.c);
                                        0: bl_node_memory_default() */
    bool log_retain_all;             /* never remove log segments (audit, replay tests) */
    const bl_io_t *io;               /* NULL: the real disk */
    uint64_t (*clock_ns)(void *ctx); /* NULL: CLOCK_REALTIME */
    void *clock_ctx;
    bool quiet;               /* no log lines on stderr */
    bool transfers_in_memory; /* keep transfer records in memory, not in transfers.store
                                 (benchmarks that measure the store's cost) */
} bl_node_config_t;

typedef struct bl_node_request bl_node_request_t;
struct bl_node_request {
    /* In: the request as on the wire (op, count, body of count records). */
    uint16_t op;
    uint32_t count;
    const void *body;
    /* Out: the reply body, in caller storage with room for `count` reply records (one
     * ServerStatus for status; nothing for ping; BL_FILTER_LIMIT_MAX for a filter op), its
     * record count, and the frame status. */
    void *reply;
    uint32_t reply_count;
    uint32_t status;
    /* Called once, on the node's thread (or on the submitter's, for busy and shutting_down). */
    void (*done)(bl_node_request_t *request);
    void *ctx;
    bl_node_request_t *next; /* the node's */
};

typedef struct bl_node_stats {
    uint64_t blocks;
    uint64_t checkpoints;
    uint64_t checkpoint_pause_ns_max; /* longest fork() */
    uint64_t memory_budget;           /* bytes */
    uint64_t memory_committed;        /* of it, committed at start */
    uint64_t checkpoint_height;
    uint64_t checkpoints_failed; /* each also said on stderr, with the file and errno */
    uint64_t replayed_blocks;
    uint64_t replayed_events;
    uint64_t replay_ns;
    bool read_only;
} bl_node_stats_t;

typedef struct bl_node bl_node_t;

/* Opens the data directory, recovers, and starts the node's thread. 0, -EINVAL (a bad config,
 * capacities that differ from the data directory's, a segment larger than the free space, or a
 * logged block larger than block_events_max), -EBUSY (another process holds the directory),
 * -EBADMSG (a damaged log or data directory; nothing was changed), or -errno. Every outcome
 * but 0 and -errno is explained on stderr: the file, what was expected, what to do. */
int bl_node_open(bl_node_t **node, const bl_node_config_t *config);

/* The machine's memory in bytes (0 if it cannot say), and the memory budget a node takes by
 * default: a quarter of it (at least BL_NODE_MEMORY_MIN). */
uint64_t bl_node_memory_machine(void);
uint64_t bl_node_memory_default(void);

/* Stops taking requests, completes every request already taken, writes a checkpoint, stops the
 * thread and frees the node. */
void bl_node_close(bl_node_t *node);

/* Submits a request (any thread, never blocks). */
void bl_node_submit(bl_node_t *node, bl_node_request_t *request);

/* Submits and waits for completion; returns request->status. */
uint32_t bl_node_call(bl_node_t *node, bl_node_request_t *request);

void bl_node_stats_get(bl_node_t *node, bl_node_stats_t *stats);

#endif /* BALLAST_NODE_NODE_H */
