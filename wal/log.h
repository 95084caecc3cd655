/*
 * The write-ahead log: blocks of create requests, appended to preallocated segment files and
 * made durable before anything in them is executed or acknowledged.
 *
 * Record format (little-endian). Every record starts at a multiple of 4,096 bytes in its
 * segment and is padded with zeros to the next multiple:
 *      0   4  magic "BLWB"
 *      4   2  version (1)
 *      6   2  reserved (0)
 *      8   4  record_size: bytes of the whole record with padding (multiple of 4,096)
 *     12   4  body_size: bytes of the requests
 *     16   8  height (the BlockHeader's, repeated for scans)
 *     24   8  checksum: XXH3-64 of bytes 0..23, then bytes 32..(192 + body_size)
 *     32  32  reserved (0)
 *     64 128  BlockHeader (PROTOCOL.md): height, timestamp, request_count, event_count,
 *             prev_hash, hash
 *    192   .  body: for each request, op u16, 0 u16, count u32, 0 u64, then count 128-byte
 *             records (16-byte request headers keep every record 16-byte aligned in memory)
 * The block hash is PROTOCOL.md's: BLAKE2b-256 over prev_hash, header bytes 0..31, then for
 * each request op u16, 2 zero bytes, count u32 and its records (the body without the 8 zero
 * bytes of each request header).
 *
 * Segments are files `log-<first height, 20 digits>.wal` in the data directory, preallocated
 * to segment_size_bytes. A record never spans segments: when one does not fit, the writer
 * starts a new segment named after that record's height.
 *
 * Recovery reads forward: heights must follow one another and each prev_hash must equal the
 * hash before it. The first record that is incomplete or fails its checksum ends the log. If
 * any valid record with a greater height lies after it (later in that segment, or in a later
 * segment), that is corruption in the middle of the log: bl_log_open refuses with -EBADMSG and
 * names the file and offset. Otherwise the log ends there, and what follows is either unused
 * space (zeros) or a torn tail: a record that was being written when the process or machine
 * stopped.
 *
 * A torn tail looks exactly like a durable block damaged afterwards: only evidence kept
 * outside the log tells them apart. The caller passes it as `acknowledged_height`, the height
 * of the newest block known to have been durable (the node keeps it in blocks.hdr, written
 * only after each block's fdatasync). Recovery may cut only above it: a log that ends below it
 * (a damaged record, a segment that is short or missing) is refused with -EBADMSG and a
 * message naming the file, the offset, the height expected there and what was found instead;
 * nothing is changed. A tail that is cut is zeroed, and the cut is reported on stderr (file,
 * offset, heights), every time. The operator's explicit cut (`truncate_to_height`) drops every
 * block after a height, acknowledged or not.
 *
 * Failures of the disk are returned as -errno and never retried: the caller stops writing.
 */
#ifndef BALLAST_WAL_LOG_H
#define BALLAST_WAL_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "ballast/protocol.h"
#include "wal/io.h"

#define BL_LOG_ALIGN 4096u
#define BL_LOG_RECORD_HEADER_SIZE 64u
#define BL_LOG_BODY_OFFSET (BL_LOG_RECORD_HEADER_SIZE + sizeof(bl_block_header_t))
#define BL_LOG_REQUEST_HEADER_SIZE 16u
#define BL_LOG_SEGMENT_SIZE_DEFAULT (256ull << 20)
#define BL_LOG_SEGMENT_SIZE_MIN (1ull << 20)

typedef struct bl_log_record_header {
    uint8_t magic[4];
    uint16_t version;
    uint16_t reserved0;
    uint32_t record_size;
    uint32_t body_size;
    uint64_t height;
    uint64_t checksum;
    uint8_t reserved1[32];
} bl_log_record_header_t;

_Static_assert(sizeof(bl_log_record_header_t) == BL_LOG_RECORD_HEADER_SIZE, "record header");

/* A request as stored in a block body. */
typedef struct bl_log_request_header {
    uint16_t op;
    uint16_t reserved0;
    uint32_t count;
    uint64_t reserved1;
} bl_log_request_header_t;

_Static_assert(sizeof(bl_log_request_header_t) == BL_LOG_REQUEST_HEADER_SIZE, "request header");
_Static_assert(BL_LOG_BODY_OFFSET % 16 == 0, "records in a body are 16-byte aligned");

/* One block as read back: points into a buffer owned by the reader. */
typedef struct bl_log_block {
    const bl_block_header_t *header;
    const uint8_t *body;
    uint32_t body_size;
} bl_log_block_t;

/* Calls `visit` for each request of a block body in order; stops early when it returns
 * non-zero and returns that. -EBADMSG if the body is malformed. */
int bl_log_block_requests(const bl_log_block_t *block,
                          int (*visit)(void *ctx, uint16_t op, uint32_t count, const void *records),
                          void *ctx);

/* Builds a block record in `buffer` (aligned to BL_LOG_ALIGN, room for `capacity` bytes):
 * the header fields height, timestamp, request_count, event_count and prev_hash must be set
 * in `header`; the body (request headers and records) must already be at
 * buffer + BL_LOG_BODY_OFFSET, `body_size` bytes. Computes the hash (into header->hash too),
 * the checksum and the padding; returns the record size. */
uint32_t bl_log_record_seal(uint8_t *buffer, uint64_t capacity, bl_block_header_t *header,
                            uint32_t body_size);

/* PROTOCOL.md's block hash of a block (recomputed, not the stored one). -EBADMSG if the body
 * is malformed. */
int bl_log_block_hash(const bl_log_block_t *block, uint8_t hash[BL_HASH_SIZE]);

/* Checks a record in memory: 0, or -EBADMSG (bad magic, size, checksum or body). */
int bl_log_record_check(const uint8_t *record, uint64_t available);

typedef struct bl_log_config {
    const char *dir;
    bool read_only;               /* inspect only: never truncate, write or append */
    uint64_t acknowledged_height; /* blocks up to here were durable: never cut; 0: none known */
    uint64_t truncate_to_height;  /* not 0: drop every block after this height (the operator's
                                     cut; the log must reach it) */
    bool replay_all;              /* call replay for every block held, also below from_height */
    uint64_t *height_valid;       /* out, when not NULL: the height the log's valid blocks reach,
                                     set also when bl_log_open fails */
    uint64_t segment_size_bytes;  /* 0: BL_LOG_SEGMENT_SIZE_DEFAULT; a multiple of 4,096 */
    const bl_io_t *io;            /* NULL: the real system calls */
} bl_log_config_t;

typedef struct bl_log bl_log_t;

/* Called by bl_log_open for each valid block after `from_height - 1`, in order. A non-zero
 * return stops recovery and is returned by bl_log_open. */
typedef int (*bl_log_replay_t)(void *ctx, const bl_log_block_t *block);

/* Opens the log in config->dir: reads every record, checks the chain, calls `replay` for each
 * block with height >= from_height, truncates a torn tail and positions the writer after the
 * last block (the hash of which bl_log_hash gives: zeros for an empty log). A read-only log
 * reports a torn tail (bl_log_torn_offset) instead of truncating it.
 * Returns 0; -EBADMSG for corruption (message on stderr with file and offset), a gap (the log
 * does not reach back to from_height) or a broken chain; or -errno. */
int bl_log_open(bl_log_t **log, const bl_log_config_t *config, uint64_t from_height,
                bl_log_replay_t replay, void *ctx);
void bl_log_close(bl_log_t *log);

uint64_t bl_log_height(const bl_log_t *log);
/* Read-only logs: where the torn tail starts in the last segment, or UINT64_MAX for none. */
uint64_t bl_log_torn_offset(const bl_log_t *log);
/* The height of the first block the log holds (0 when it holds none). */
uint64_t bl_log_height_first(const bl_log_t *log);
const uint8_t *bl_log_hash(const bl_log_t *log); /* of the last block, 32 bytes */

/* Appends one sealed record and makes it durable (write, then fdatasync, linked on io_uring).
 * Asynchronous: bl_log_append_submit starts it, bl_log_append_wait or bl_log_append_poll
 * reaps it. One append at a time. The result is 0 or -errno (EIO, ENOSPC, ...); after an
 * error the log refuses further appends with -EROFS. */
int bl_log_append_submit(bl_log_t *log, const uint8_t *record, uint32_t record_size,
                         const bl_block_header_t *header);
int bl_log_append_wait(bl_log_t *log, int64_t timeout_ns); /* -ETIME when not done in time */
int bl_log_append_poll(bl_log_t *log);                     /* -EAGAIN while in flight */
bool bl_log_append_in_flight(const bl_log_t *log);
int bl_log_ring_fd(const bl_log_t *log);

/* Removes segments whose blocks all have heights below `height`. */
int bl_log_segments_remove_below(bl_log_t *log, uint64_t height);

#endif /* BALLAST_WAL_LOG_H */
