/*
 * The write-ahead log: record format, segments, recovery scan and the io_uring appender.
 * The format and the recovery rules are in log.h.
 *
 * Appending: one record at a time is in flight, as an io_uring write linked to an fdatasync
 * (IORING_FSYNC_DATASYNC): the fsync runs only if the write completed in full, and the record
 * counts as durable only when both completions are in. Segment files are opened with O_DIRECT
 * where the filesystem allows it (records are 4,096-aligned and padded), so the sync flushes
 * only the device cache. Completions also signal an eventfd registered with the ring, so the
 * owner can wait for "log done or new work" with one poll().
 *
 * Thread model: a log is used by one thread (the node's).
 */
#define _GNU_SOURCE
#include "wal/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/eventfd.h"
#include "common/hash.h"

#define BL_LOG_MAGIC "BLWB"
#define BL_LOG_VERSION 1u
#define BL_LOG_SEGMENTS_MAX 100000u
#define BL_LOG_PATH_MAX 4096u
#define BL_LOG_SCAN_CHUNK (1u << 20)

enum { BL_LOG_OP_WRITE = 1, BL_LOG_OP_SYNC = 2 };

struct bl_log {
    const bl_io_t *io;
    char dir[BL_LOG_PATH_MAX];
    uint64_t segment_size;
    uint64_t *segments; /* first height of each segment, ascending */
    uint32_t segments_count;

    /* Writer: the last segment. */
    int fd;
    uint64_t offset;
    uint64_t height;
    uint8_t hash[BL_HASH_SIZE];
    bool failed;

    /* The append in flight. */
    struct io_uring ring;
    bool ring_ready;
    int event_fd;
    bool in_flight;
    uint32_t completions_pending;
    int result;
    uint32_t in_flight_size;
    uint64_t in_flight_height;
    uint8_t in_flight_hash[BL_HASH_SIZE];

    bool read_only;
    uint64_t torn_offset;
    uint64_t acknowledged_height;
    uint64_t truncate_to_height;
    bool replay_all;
    uint64_t height_first;

    /* The next segment, prepared ahead by a thread: written full of zeros, so that appends
     * overwrite allocated blocks and a sync need not commit extent metadata. */
    pthread_t preparer;
    bool preparing;
    int prepared_fd;
    int prepared_rc;
    uint8_t *zeros;

    /* Recovery scratch. */
    uint8_t *buffer;
    uint64_t buffer_size;
};

/* ------------------------------------------------------------------------------------------ */
/* Records.                                                                                   */

static uint64_t bl_log_checksum(const uint8_t *record, uint32_t body_size) {
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    XXH3_64bits_update(&state, record, offsetof(bl_log_record_header_t, checksum));
    XXH3_64bits_update(&state, record + offsetof(bl_log_record_header_t, reserved1),
                       BL_LOG_BODY_OFFSET - offsetof(bl_log_record_header_t, reserved1) +
                           body_size);
    return XXH3_64bits_digest(&state);
}

static bool bl_bytes_zero(const uint8_t *bytes, size_t size) {
    for (size_t i = 0; i < size; i++)
        if (bytes[i] != 0) return false;
    return true;
}

static uint64_t bl_align_up(uint64_t n) {
    return (n + BL_LOG_ALIGN - 1) & ~(uint64_t)(BL_LOG_ALIGN - 1);
}

/* Adds one request to a block hash as PROTOCOL.md streams it: op, 2 zero bytes, count, body. */
static int bl_log_hash_request(void *ctx, uint16_t op, uint32_t count, const void *records) {
    uint8_t head[8] = {0};
    memcpy(head, &op, 2);
    memcpy(head + 4, &count, 4);
    crypto_generichash_update(ctx, head, sizeof(head));
    crypto_generichash_update(ctx, records,
                              (uint64_t)count * (uint64_t)bl_op_request_record_size(op));
    return 0;
}

int bl_log_block_hash(const bl_log_block_t *block, uint8_t hash[BL_HASH_SIZE]) {
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, BL_HASH_SIZE);
    crypto_generichash_update(&state, block->header->prev_hash, BL_HASH_SIZE);
    crypto_generichash_update(&state, (const uint8_t *)block->header,
                              offsetof(bl_block_header_t, prev_hash)); /* bytes 0..31 */
    int rc = bl_log_block_requests(block, bl_log_hash_request, &state);
    crypto_generichash_final(&state, hash, BL_HASH_SIZE);
    return rc;
}

uint32_t bl_log_record_seal(uint8_t *buffer, uint64_t capacity, bl_block_header_t *header,
                            uint32_t body_size) {
    uint64_t size = bl_align_up(BL_LOG_BODY_OFFSET + (uint64_t)body_size);
    BL_ASSERT(size <= capacity && size <= UINT32_MAX);
    BL_ASSERT(((uintptr_t)buffer & (BL_LOG_ALIGN - 1)) == 0);
    const uint8_t *body = buffer + BL_LOG_BODY_OFFSET;

    bl_log_block_t block = {.header = header, .body = body, .body_size = body_size};
    int rc = bl_log_block_hash(&block, header->hash);
    BL_ASSERT(rc == 0); /* the caller built a well-formed body */

    bl_log_record_header_t *h = (bl_log_record_header_t *)buffer;
    memset(h, 0, sizeof(*h));
    memcpy(h->magic, BL_LOG_MAGIC, 4);
    h->version = BL_LOG_VERSION;
    h->record_size = (uint32_t)size;
    h->body_size = body_size;
    h->height = header->height;
    memcpy(buffer + BL_LOG_RECORD_HEADER_SIZE, header, sizeof(*header));
    memset(buffer + BL_LOG_BODY_OFFSET + body_size, 0, size - BL_LOG_BODY_OFFSET - body_size);
    h->checksum = bl_log_checksum(buffer, body_size);
    return (uint32_t)size;
}

/* The header alone is plausible: magic, version, sizes. */
static bool bl_log_header_plausible(const bl_log_record_header_t *h, uint64_t available) {
    return memcmp(h->magic, BL_LOG_MAGIC, 4) == 0 && h->version == BL_LOG_VERSION &&
           h->reserved0 == 0 && h->record_size % BL_LOG_ALIGN == 0 &&
           (uint64_t)h->record_size >= BL_LOG_BODY_OFFSET + (uint64_t)h->body_size &&
           h->record_size <= available;
}

int bl_log_record_check(const uint8_t *record, uint64_t available) {
    if (available < BL_LOG_ALIGN) return -EBADMSG;
    const bl_log_record_header_t *h = (const bl_log_record_header_t *)record;
    if (!bl_log_header_plausible(h, available)) return -EBADMSG;
    if (h->checksum != bl_log_checksum(record, h->body_size)) return -EBADMSG;
    const bl_block_header_t *block =
        (const bl_block_header_t *)(record + BL_LOG_RECORD_HEADER_SIZE);
    if (block->height != h->height) return -EBADMSG;
    return 0;
}

int bl_log_block_requests(const bl_log_block_t *block,
                          int (*visit)(void *ctx, uint16_t op, uint32_t count, const void *records),
                          void *ctx) {
    uint64_t at = 0, events = 0;
    for (uint32_t r = 0; r < block->header->request_count; r++) {
        bl_log_request_header_t request;
        if (at + sizeof(request) > block->body_size) return -EBADMSG;
        memcpy(&request, block->body + at, sizeof(request));
        at += sizeof(request);
        int size = bl_op_request_record_size(request.op);
        if (size <= 0 || request.reserved0 != 0 || request.reserved1 != 0 || request.count == 0 ||
            request.count > BL_BATCH_EVENTS_MAX)
            return -EBADMSG;
        uint64_t bytes = (uint64_t)request.count * (uint64_t)size;
        if (at + bytes > block->body_size) return -EBADMSG;
        int rc = visit ? visit(ctx, request.op, request.count, block->body + at) : 0;
        if (rc != 0) return rc;
        at += bytes;
        events += request.count;
    }
    if (at != block->body_size || events != block->header->event_count) return -EBADMSG;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Segments.                                                                                  */

/* log->dir is at most BL_LOG_PATH_MAX - 32 bytes (checked at open), so this always fits. */
static void bl_log_segment_path(const bl_log_t *log, uint64_t first_height,
                                char path[BL_LOG_PATH_MAX]) {
    int n = snprintf(path, BL_LOG_PATH_MAX, "%.*s/log-%020" PRIu64 ".wal",
                     (int)(BL_LOG_PATH_MAX - 32), log->dir, first_height);
    BL_ASSERT(n > 0 && n < (int)BL_LOG_PATH_MAX);
}

static int bl_u64_compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int bl_log_segments_list(bl_log_t *log) {
    DIR *dir = opendir(log->dir);
    if (dir == NULL) return -errno;
    log->segments = calloc(BL_LOG_SEGMENTS_MAX, sizeof(uint64_t));
    if (log->segments == NULL) {
        closedir(dir);
        return -ENOMEM;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        uint64_t height;
        char tail;
        if (strlen(entry->d_name) != 28 ||
            sscanf(entry->d_name, "log-%20" SCNu64 ".wa%c", &height, &tail) != 2 || tail != 'l')
            continue;
        if (log->segments_count == BL_LOG_SEGMENTS_MAX) {
            closedir(dir);
            return -EMFILE;
        }
        log->segments[log->segments_count++] = height;
    }
    closedir(dir);
    qsort(log->segments, log->segments_count, sizeof(uint64_t), bl_u64_compare);
    return 0;
}

/* Segments are written with O_DIRECT (where the filesystem allows it) and read, during
 * recovery, through the page cache: sequential buffered reads get the kernel's readahead,
 * which direct reads do not. Linux keeps the two coherent. */
static int bl_log_segment_open(bl_log_t *log, uint64_t first_height, int flags) {
    char path[BL_LOG_PATH_MAX];
    bl_log_segment_path(log, first_height, path);
    if ((flags & O_ACCMODE) == O_RDONLY) {
        int fd = log->io->open(log->io->ctx, path, flags, 0644);
        if (fd >= 0) (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        return fd;
    }
    int fd = log->io->open(log->io->ctx, path, flags | O_DIRECT, 0644);
    if (fd == -EINVAL) fd = log->io->open(log->io->ctx, path, flags, 0644); /* no O_DIRECT */
    return fd;
}

static void bl_log_next_path(const bl_log_t *log, char path[BL_LOG_PATH_MAX]) {
    int n =
        snprintf(path, BL_LOG_PATH_MAX, "%.*s/log-next.tmp", (int)(BL_LOG_PATH_MAX - 32), log->dir);
    BL_ASSERT(n > 0 && n < (int)BL_LOG_PATH_MAX);
}

/* Prepares log-next.tmp: allocated, zero-filled, synced. Runs on the preparer thread; touches
 * only prepared_fd, prepared_rc and zeros until joined. */
static void *bl_log_prepare(void *arg) {
    bl_log_t *log = arg;
    char path[BL_LOG_PATH_MAX];
    bl_log_next_path(log, path);
    int fd = log->io->open(log->io->ctx, path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    if (fd == -EINVAL) fd = log->io->open(log->io->ctx, path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 ? fd : log->io->fallocate(log->io->ctx, fd, (off_t)log->segment_size);
    for (uint64_t at = 0; rc == 0 && at < log->segment_size; at += BL_LOG_SCAN_CHUNK) {
        uint64_t n =
            log->segment_size - at < BL_LOG_SCAN_CHUNK ? log->segment_size - at : BL_LOG_SCAN_CHUNK;
        rc = bl_io_pwrite_all(log->io, fd, log->zeros, n, (off_t)at);
    }
    if (rc == 0) rc = log->io->fsync(log->io->ctx, fd);
    if (rc != 0 && fd >= 0) {
        log->io->close(log->io->ctx, fd);
        fd = -1;
    }
    log->prepared_fd = fd;
    log->prepared_rc = rc;
    return NULL;
}

static void bl_log_prepare_start(bl_log_t *log) {
    BL_ASSERT(!log->preparing && !log->read_only);
    log->prepared_fd = -1;
    log->prepared_rc = 0;
    if (pthread_create(&log->preparer, NULL, bl_log_prepare, log) == 0) {
        log->preparing = true;
    } else {
        bl_log_prepare(log); /* no thread: prepare now */
    }
}

/* Waits for the prepared segment: its fd, or -errno. */
static int bl_log_prepare_join(bl_log_t *log) {
    if (log->preparing) {
        pthread_join(log->preparer, NULL);
        log->preparing = false;
    }
    int fd = log->prepared_rc != 0 ? log->prepared_rc : log->prepared_fd;
    log->prepared_fd = -1;
    return fd;
}

/* Starts the segment whose first block is `first_height`: the prepared file is renamed to its
 * name and the directory synced; it becomes the writer's segment, and the next one starts
 * being prepared. */
static int bl_log_segment_create(bl_log_t *log, uint64_t first_height) {
    BL_ASSERT(log->segments_count < BL_LOG_SEGMENTS_MAX);
    if (!log->preparing && log->prepared_fd < 0 && log->prepared_rc == 0) bl_log_prepare_start(log);
    int fd = bl_log_prepare_join(log);
    if (fd < 0) return fd;
    char next[BL_LOG_PATH_MAX], path[BL_LOG_PATH_MAX];
    bl_log_next_path(log, next);
    bl_log_segment_path(log, first_height, path);
    int rc = log->io->rename(log->io->ctx, next, path);
    if (rc == 0) rc = bl_io_dir_sync(log->io, log->dir);
    if (rc != 0) {
        log->io->close(log->io->ctx, fd);
        return rc;
    }
    if (log->fd >= 0) log->io->close(log->io->ctx, log->fd);
    log->fd = fd;
    log->offset = 0;
    log->segments[log->segments_count++] = first_height;
    return 0;
}

/* The next segment is prepared once the current one is half full: early enough to be ready,
 * late enough not to compete with a node that just started. */
static void bl_log_prepare_maybe(bl_log_t *log) {
    if (!log->read_only && !log->preparing && log->prepared_fd < 0 && log->prepared_rc == 0 &&
        (log->fd < 0 || log->offset >= log->segment_size / 2))
        bl_log_prepare_start(log);
}

int bl_log_segments_remove_below(bl_log_t *log, uint64_t height) {
    /* Segment i holds heights [segments[i], segments[i + 1]); the last one is never removed. */
    uint32_t removable = 0;
    while (removable + 1 < log->segments_count && log->segments[removable + 1] <= height)
        removable++;
    for (uint32_t i = 0; i < removable; i++) {
        char path[BL_LOG_PATH_MAX];
        bl_log_segment_path(log, log->segments[i], path);
        int rc = log->io->unlink(log->io->ctx, path);
        if (rc != 0 && rc != -ENOENT) return rc;
    }
    memmove(log->segments, log->segments + removable,
            (log->segments_count - removable) * sizeof(uint64_t));
    log->segments_count -= removable;
    return removable > 0 ? bl_io_dir_sync(log->io, log->dir) : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Recovery.                                                                                  */

static int bl_log_buffer_reserve(bl_log_t *log, uint64_t size) {
    if (size <= log->buffer_size) return 0;
    uint64_t want = bl_align_up(size > 2 * log->buffer_size ? size : 2 * log->buffer_size);
    void *buffer = NULL;
    if (posix_memalign(&buffer, BL_LOG_ALIGN, want) != 0) return -ENOMEM;
    if (log->buffer_size > 0)
        memcpy(buffer, log->buffer, log->buffer_size); /* keep what was read */
    free(log->buffer);
    log->buffer = buffer;
    log->buffer_size = want;
    return 0;
}

/* Reads the record at `offset` of `fd` into log->buffer and checks it: 0, -EBADMSG (not a
 * valid record: torn, corrupt, or never written), or -errno. */
static int bl_log_record_read(bl_log_t *log, int fd, uint64_t offset, uint64_t file_size) {
    if (offset + BL_LOG_ALIGN > file_size) return -EBADMSG;
    int rc = bl_log_buffer_reserve(log, BL_LOG_ALIGN);
    if (rc != 0) return rc;
    ssize_t n = bl_io_pread_all(log->io, fd, log->buffer, BL_LOG_ALIGN, (off_t)offset);
    if (n < 0) return (int)n;
    if (n < BL_LOG_ALIGN) return -EBADMSG;
    const bl_log_record_header_t *h = (const bl_log_record_header_t *)log->buffer;
    if (!bl_log_header_plausible(h, file_size - offset)) return -EBADMSG;
    uint32_t size = h->record_size;
    if (size > BL_LOG_ALIGN) {
        if ((rc = bl_log_buffer_reserve(log, size)) != 0) return rc;
        n = bl_io_pread_all(log->io, fd, log->buffer + BL_LOG_ALIGN, size - BL_LOG_ALIGN,
                            (off_t)(offset + BL_LOG_ALIGN));
        if (n < 0) return (int)n;
        if (n < size - BL_LOG_ALIGN) return -EBADMSG;
    }
    return bl_log_record_check(log->buffer, size);
}

static int64_t bl_file_size(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    return st.st_size;
}

/* Looks for a valid record with a height above `height` in segment `s` from `offset` on, and
 * in the segments after it up to (not including) `s_end`. Returns 1 (found: *where_segment,
 * *where_offset), 0, or -errno. */
static int bl_log_find_later(bl_log_t *log, uint32_t s, uint32_t s_end, uint64_t offset,
                             uint64_t height, uint32_t *where_segment, uint64_t *where_offset) {
    /* Pages are read a chunk at a time; only a page that starts with the record magic is read
     * and checked as a record, so scanning the unused rest of a segment is fast. */
    uint8_t *chunk = NULL;
    if (posix_memalign((void **)&chunk, BL_LOG_ALIGN, BL_LOG_SCAN_CHUNK) != 0) return -ENOMEM;
    int found = 0;
    for (; s < s_end && found == 0; s++, offset = 0) {
        int fd = bl_log_segment_open(log, log->segments[s], O_RDONLY);
        if (fd < 0) {
            found = fd;
            break;
        }
        int64_t size = bl_file_size(fd);
        if (size < 0) found = (int)size;
        for (uint64_t base = offset; found == 0 && base + BL_LOG_ALIGN <= (uint64_t)size;
             base += BL_LOG_SCAN_CHUNK) {
            ssize_t n = bl_io_pread_all(log->io, fd, chunk, BL_LOG_SCAN_CHUNK, (off_t)base);
            if (n < 0) {
                found = (int)n;
                break;
            }
            for (uint64_t at = 0; found == 0 && at + BL_LOG_ALIGN <= (uint64_t)n;
                 at += BL_LOG_ALIGN) {
                if (memcmp(chunk + at, BL_LOG_MAGIC, 4) != 0) continue;
                int rc = bl_log_record_read(log, fd, base + at, (uint64_t)size);
                if (rc == 0 && ((const bl_log_record_header_t *)log->buffer)->height > height) {
                    *where_segment = s;
                    *where_offset = base + at;
                    found = 1;
                } else if (rc != 0 && rc != -EBADMSG) {
                    found = rc;
                }
            }
        }
        log->io->close(log->io->ctx, fd);
    }
    free(chunk);
    return found;
}

/* No valid block at (segment s, offset). If a valid later block follows it, anywhere up to
 * segment s_end, the log is corrupt in the middle: say where and refuse. */
static int bl_log_check_nothing_later(bl_log_t *log, uint32_t s, uint32_t s_end, uint64_t offset) {
    uint32_t later_s = 0;
    uint64_t later_offset = 0;
    int rc = bl_log_find_later(log, s, s_end, offset + BL_LOG_ALIGN, log->height, &later_s,
                               &later_offset);
    if (rc <= 0) return rc;
    char bad[BL_LOG_PATH_MAX], good[BL_LOG_PATH_MAX], missing[BL_LOG_PATH_MAX];
    bl_log_segment_path(log, log->segments[s], bad);
    bl_log_segment_path(log, log->segments[later_s], good);
    bl_log_segment_path(log, log->height + 1, missing);
    /* Segments are named after their first block: a gap in the names is a missing file. */
    if (later_s == s + 1 && log->segments[s + 1] > log->height + 1)
        fprintf(stderr,
                "ballast: log corrupt: %s is missing: %s ends after block %" PRIu64
                " (at offset %" PRIu64 ") and the next segment, %s, starts at block %" PRIu64 "\n",
                missing, bad, log->height, offset, good, log->segments[s + 1]);
    else
        fprintf(stderr,
                "ballast: log corrupt: %s at offset %" PRIu64 " holds no valid block "
                "after height %" PRIu64 ", but %s at offset %" PRIu64 " holds a valid later "
                "block\n",
                bad, offset, log->height, good, later_offset);
    return -EBADMSG;
}

/* The log ends at (segment s, offset): zero what may lie after it in segment s (the record a
 * torn write may have left, or with `whole` everything to the end of the segment), drop later
 * segments, and make segment s the writer's. Says what it cut, if anything. */
static int bl_log_truncate(bl_log_t *log, uint32_t s, uint64_t offset, bool whole) {
    int fd = bl_log_segment_open(log, log->segments[s], O_RDWR);
    if (fd < 0) return fd;
    int64_t size = bl_file_size(fd);
    int rc = size < 0 ? (int)size : 0;
    uint64_t zero_end = offset, zeroed = 0;
    if (rc == 0 && offset + BL_LOG_ALIGN <= (uint64_t)size) {
        ssize_t n = bl_io_pread_all(log->io, fd, log->buffer, BL_LOG_ALIGN, (off_t)offset);
        const bl_log_record_header_t *h = (const bl_log_record_header_t *)log->buffer;
        uint64_t claimed = BL_LOG_ALIGN;
        if (n == BL_LOG_ALIGN && memcmp(h->magic, BL_LOG_MAGIC, 4) == 0 &&
            h->record_size % BL_LOG_ALIGN == 0 && h->record_size > claimed)
            claimed = h->record_size;
        if (whole) claimed = (uint64_t)size - offset;
        zero_end = offset + claimed < (uint64_t)size ? offset + claimed : (uint64_t)size;
        for (uint64_t at = offset; at < zero_end && rc == 0; at += BL_LOG_ALIGN) {
            n = bl_io_pread_all(log->io, fd, log->buffer, BL_LOG_ALIGN, (off_t)at);
            if (n == BL_LOG_ALIGN && bl_bytes_zero(log->buffer, BL_LOG_ALIGN)) continue;
            memset(log->buffer, 0, BL_LOG_ALIGN);
            rc = bl_io_pwrite_all(log->io, fd, log->buffer, BL_LOG_ALIGN, (off_t)at);
            zeroed += BL_LOG_ALIGN;
        }
        if (rc == 0) rc = log->io->fdatasync(log->io->ctx, fd);
    }
    char path[BL_LOG_PATH_MAX];
    bl_log_segment_path(log, log->segments[s], path);
    if (rc == 0 && zeroed > 0)
        fprintf(stderr,
                "ballast: log: cut %s at offset %" PRIu64 ", after block %" PRIu64
                ": zeroed %" PRIu64 " bytes up to offset %" PRIu64 "%s\n",
                path, offset, log->height, zeroed, zero_end,
                whole ? "" : " (a block that was being written and never acknowledged)");
    for (uint32_t later = s + 1; later < log->segments_count && rc == 0; later++) {
        bl_log_segment_path(log, log->segments[later], path);
        rc = log->io->unlink(log->io->ctx, path);
        if (rc == 0)
            fprintf(stderr, "ballast: log: removed %s (after block %" PRIu64 "%s)\n", path,
                    log->height, whole ? "" : "; it held no valid block");
    }
    if (rc == 0 && s + 1 < log->segments_count) rc = bl_io_dir_sync(log->io, log->dir);
    if (rc != 0) {
        log->io->close(log->io->ctx, fd);
        return rc;
    }
    log->segments_count = s + 1;
    log->fd = fd;
    log->offset = offset;
    return 0;
}

/* What lies at (segment s, offset), where a block was expected, in words. */
static void bl_log_describe(bl_log_t *log, uint32_t s, uint64_t offset, char *out, size_t size) {
    int fd = bl_log_segment_open(log, log->segments[s], O_RDONLY);
    int64_t file_size = fd < 0 ? fd : bl_file_size(fd);
    int rc = file_size < 0 ? (int)file_size : bl_log_buffer_reserve(log, BL_LOG_ALIGN);
    ssize_t n = 0;
    if (rc == 0 && offset < (uint64_t)file_size)
        n = bl_io_pread_all(log->io, fd, log->buffer, BL_LOG_ALIGN, (off_t)offset);
    if (fd >= 0) log->io->close(log->io->ctx, fd);
    const bl_log_record_header_t *h = (const bl_log_record_header_t *)log->buffer;
    bool zero = n > 0 && bl_bytes_zero(log->buffer, (size_t)n);
    if (rc != 0 || n < 0) {
        snprintf(out, size, "unreadable (%s)", strerror(-(rc != 0 ? rc : (int)n)));
    } else if (offset >= (uint64_t)file_size) {
        snprintf(out, size, "nothing: the file ends at %" PRId64 " bytes", file_size);
    } else if (zero) {
        snprintf(out, size, "only zeros");
    } else if (n >= (ssize_t)sizeof(*h) && memcmp(h->magic, BL_LOG_MAGIC, 4) == 0) {
        snprintf(out, size,
                 "a record of height %" PRIu64 " that fails its checks (damaged, or "
                 "cut short: the file is %" PRId64 " bytes)",
                 h->height, file_size);
    } else {
        snprintf(out, size, "bytes that are not a log record");
    }
}

/* The log ends at (segment s, offset) below a height it must reach (`why` says which):
 * say exactly where and what was found, and refuse. */
static int bl_log_refuse_short(bl_log_t *log, uint32_t s, uint64_t offset, uint64_t need,
                               const char *why) {
    char path[BL_LOG_PATH_MAX], what[256];
    if (log->segments_count == 0) {
        fprintf(stderr,
                "ballast: log damaged: %s holds no log segment, but it must reach "
                "height %" PRIu64 " (%s)\n",
                log->dir, need, why);
        return -EBADMSG;
    }
    bl_log_segment_path(log, log->segments[s], path);
    bl_log_describe(log, s, offset, what, sizeof(what));
    char next[BL_LOG_PATH_MAX + 160] = "";
    if (s + 1 == log->segments_count) { /* where the block went if it did not fit here */
        char missing[BL_LOG_PATH_MAX];
        bl_log_segment_path(log, log->height + 1, missing);
        snprintf(next, sizeof(next),
                 ", and %s, where it would be had it not fit there, "
                 "does not exist",
                 missing);
    }
    fprintf(stderr,
            "ballast: log damaged: it must reach height %" PRIu64 " (%s), but %s at "
            "offset %" PRIu64 ", where block %" PRIu64 " belongs, holds %s%s; the log's valid "
            "blocks end at height %" PRIu64 "\n",
            need, why, path, offset, log->height + 1, what, next, log->height);
    return -EBADMSG;
}

/* The log ends at (segment s, offset): 0 if it may end there, else a refusal. */
static int bl_log_end_check(bl_log_t *log, uint32_t s, uint64_t offset, uint64_t from_height) {
    if (log->height < log->acknowledged_height)
        return bl_log_refuse_short(log, s, offset, log->acknowledged_height,
                                   "blocks up to it were acknowledged");
    if (log->height + 1 < from_height)
        return bl_log_refuse_short(log, s, offset, from_height - 1,
                                   "the checkpoint in use covers blocks up to it");
    return 0;
}

/* Checks one valid record against the chain so far; on success it becomes the last block and
 * is replayed if at or past from_height. 0, -EBADMSG (gap, broken chain, malformed body: with
 * a message) or what `replay` returned. */
static int bl_log_accept(bl_log_t *log, uint32_t s, uint64_t offset, uint64_t from_height,
                         bool first, bl_log_replay_t replay, void *ctx) {
    const bl_log_record_header_t *h = (const bl_log_record_header_t *)log->buffer;
    bl_log_block_t block = {
        .header = (const bl_block_header_t *)(log->buffer + BL_LOG_RECORD_HEADER_SIZE),
        .body = log->buffer + BL_LOG_BODY_OFFSET,
        .body_size = h->body_size};
    char path[BL_LOG_PATH_MAX];
    bl_log_segment_path(log, log->segments[s], path);
    if (first && block.header->height > from_height) {
        fprintf(stderr,
                "ballast: log starts at height %" PRIu64 " (%s) but recovery needs "
                "height %" PRIu64 ": the log segments holding heights %" PRIu64 "..%" PRIu64
                " are missing, and no checkpoint covers them\n",
                block.header->height, path, from_height, from_height, block.header->height - 1);
        return -EBADMSG;
    }
    if (!first && (block.header->height != log->height + 1 ||
                   memcmp(block.header->prev_hash, log->hash, BL_HASH_SIZE) != 0)) {
        fprintf(stderr,
                "ballast: log chain broken: %s at offset %" PRIu64 ": block %" PRIu64
                " does not follow block %" PRIu64 "\n",
                path, offset, block.header->height, log->height);
        return -EBADMSG;
    }
    if (bl_log_block_requests(&block, NULL, NULL) != 0) {
        fprintf(stderr,
                "ballast: log corrupt: %s at offset %" PRIu64 ": block %" PRIu64
                " has a malformed body\n",
                path, offset, block.header->height);
        return -EBADMSG;
    }
    if ((block.header->height >= from_height || log->replay_all) && replay != NULL) {
        int rc = replay(ctx, &block);
        if (rc != 0) return rc;
    }
    if (first) log->height_first = block.header->height;
    log->height = block.header->height;
    memcpy(log->hash, block.header->hash, BL_HASH_SIZE);
    return 0;
}

/* 1 if the page at (segment s, offset) is all zeros or past the end, 0 if not, or -errno. */
static int bl_log_page_is_zero(bl_log_t *log, uint32_t s, uint64_t offset) {
    int fd = bl_log_segment_open(log, log->segments[s], O_RDONLY);
    if (fd < 0) return fd;
    int rc = bl_log_buffer_reserve(log, BL_LOG_ALIGN);
    ssize_t n =
        rc == 0 ? bl_io_pread_all(log->io, fd, log->buffer, BL_LOG_ALIGN, (off_t)offset) : rc;
    log->io->close(log->io->ctx, fd);
    if (n < 0) return (int)n;
    return bl_bytes_zero(log->buffer, (size_t)n);
}

/* Reads every segment in order, replaying from `from_height`, and leaves the writer after the
 * last valid block (or after truncate_to_height). */
static int bl_log_recover(bl_log_t *log, uint64_t from_height, bl_log_replay_t replay, void *ctx) {
    bool first = true;
    for (uint32_t s = 0; s < log->segments_count; s++) {
        int fd = bl_log_segment_open(log, log->segments[s], O_RDONLY);
        if (fd < 0) return fd;
        int64_t size = bl_file_size(fd);
        uint64_t offset = 0;
        int rc = size < 0 ? (int)size : 0;
        while (rc == 0 && (rc = bl_log_record_read(log, fd, offset, (uint64_t)size)) == 0) {
            rc = bl_log_accept(log, s, offset, from_height, first, replay, ctx);
            if (rc != 0) {
                log->io->close(log->io->ctx, fd);
                return rc;
            }
            first = false;
            offset += ((const bl_log_record_header_t *)log->buffer)->record_size;
            if (log->truncate_to_height != 0 && log->height == log->truncate_to_height) {
                log->io->close(log->io->ctx, fd);
                return bl_log_truncate(log, s, offset, true);
            }
        }
        log->io->close(log->io->ctx, fd);
        if (rc != -EBADMSG) return rc; /* an I/O error */

        /* No valid block at `offset`. If the next segment starts right after the last block,
         * this segment was simply full: the rest of it must hold nothing valid. */
        bool rolled =
            !first && s + 1 < log->segments_count && log->segments[s + 1] == log->height + 1;
        if (rolled) {
            if ((rc = bl_log_check_nothing_later(log, s, s + 1, offset)) != 0) return rc;
            continue;
        }
        /* Otherwise the log ends here: a torn tail, unless a valid later block follows. */
        if ((rc = bl_log_check_nothing_later(log, s, log->segments_count, offset)) != 0) return rc;
        /* Only what was never acknowledged may be cut. */
        if ((rc = bl_log_end_check(log, s, offset, from_height)) != 0) return rc;
        if (log->truncate_to_height != 0) {
            fprintf(stderr,
                    "ballast: log: its valid blocks end at height %" PRIu64
                    ", below the height %" PRIu64 " to truncate to\n",
                    log->height, log->truncate_to_height);
            return -ERANGE;
        }
        if (log->read_only) { /* report, do not truncate; zeros are unused space, not torn */
            log->segments_count = s + 1;
            if ((rc = bl_log_page_is_zero(log, s, offset)) < 0) return rc;
            if (rc == 0) log->torn_offset = offset;
            return 0;
        }
        return bl_log_truncate(log, s, offset, false);
    }
    return bl_log_end_check(log, 0, 0, from_height);
}

/* ------------------------------------------------------------------------------------------ */
/* Open and close.                                                                            */

int bl_log_open(bl_log_t **out, const bl_log_config_t *config, uint64_t from_height,
                bl_log_replay_t replay, void *ctx) {
    if (config->segment_size_bytes != 0 && (config->segment_size_bytes % BL_LOG_ALIGN != 0 ||
                                            config->segment_size_bytes < BL_LOG_SEGMENT_SIZE_MIN))
        return -EINVAL;
    if (strlen(config->dir) + 32 >= BL_LOG_PATH_MAX) return -ENAMETOOLONG;
    bl_log_t *log = calloc(1, sizeof(*log));
    if (log == NULL) return -ENOMEM;
    log->io = config->io ? config->io : &bl_io_system;
    strcpy(log->dir, config->dir);
    log->segment_size =
        config->segment_size_bytes ? config->segment_size_bytes : BL_LOG_SEGMENT_SIZE_DEFAULT;
    log->fd = -1;
    log->event_fd = -1;
    log->prepared_fd = -1;
    log->read_only = config->read_only;
    log->torn_offset = UINT64_MAX;
    log->acknowledged_height = config->acknowledged_height;
    log->truncate_to_height = config->truncate_to_height;
    log->replay_all = config->replay_all;

    int rc = bl_log_segments_list(log);
    if (rc == 0) rc = bl_log_recover(log, from_height, replay, ctx);
    if (config->height_valid != NULL) *config->height_valid = log->height;
    if (rc == 0 && log->read_only) log->failed = true; /* appends refused */
    if (rc == 0 && !log->read_only) {
        if (posix_memalign((void **)&log->zeros, BL_LOG_ALIGN, BL_LOG_SCAN_CHUNK) != 0) {
            rc = -ENOMEM;
        } else {
            memset(log->zeros, 0, BL_LOG_SCAN_CHUNK);
            bl_log_prepare_maybe(log);
        }
    }
    if (rc == 0 && !log->read_only) rc = io_uring_queue_init(8, &log->ring, 0);
    if (rc == 0 && !log->read_only) {
        log->ring_ready = true;
        log->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (log->event_fd < 0) rc = -errno;
    }
    if (rc == 0 && !log->read_only) rc = io_uring_register_eventfd(&log->ring, log->event_fd);
    free(log->buffer);
    log->buffer = NULL;
    log->buffer_size = 0;
    if (rc != 0) {
        bl_log_close(log);
        return rc;
    }
    *out = log;
    return 0;
}

void bl_log_close(bl_log_t *log) {
    if (log == NULL) return;
    if (log->in_flight) (void)bl_log_append_wait(log, -1);
    if (log->preparing || log->prepared_fd >= 0) {
        int fd = bl_log_prepare_join(log);
        if (fd >= 0) log->io->close(log->io->ctx, fd);
        char next[BL_LOG_PATH_MAX];
        bl_log_next_path(log, next);
        (void)log->io->unlink(log->io->ctx, next);
    }
    free(log->zeros);
    if (log->ring_ready) io_uring_queue_exit(&log->ring);
    if (log->event_fd >= 0) close(log->event_fd);
    if (log->fd >= 0) log->io->close(log->io->ctx, log->fd);
    free(log->segments);
    free(log->buffer);
    free(log);
}

uint64_t bl_log_height(const bl_log_t *log) {
    return log->height;
}

uint64_t bl_log_torn_offset(const bl_log_t *log) {
    return log->torn_offset;
}

uint64_t bl_log_height_first(const bl_log_t *log) {
    return log->height_first;
}

const uint8_t *bl_log_hash(const bl_log_t *log) {
    return log->hash;
}

int bl_log_ring_fd(const bl_log_t *log) {
    return log->event_fd;
}

bool bl_log_append_in_flight(const bl_log_t *log) {
    return log->in_flight;
}

/* ------------------------------------------------------------------------------------------ */
/* Appending.                                                                                 */

int bl_log_append_submit(bl_log_t *log, const uint8_t *record, uint32_t record_size,
                         const bl_block_header_t *header) {
    BL_ASSERT(!log->in_flight);
    BL_ASSERT(record_size % BL_LOG_ALIGN == 0 && record_size > 0);
    BL_ASSERT(header->height == log->height + 1);
    BL_ASSERT(memcmp(header->prev_hash, log->hash, BL_HASH_SIZE) == 0);
    if (log->failed) return -EROFS;
    if (record_size > log->segment_size) return -EFBIG;
    if (log->fd < 0 || log->offset + record_size > log->segment_size) {
        int rc = bl_log_segment_create(log, header->height);
        if (rc != 0) {
            log->failed = true;
            return rc;
        }
    }
    log->in_flight = true;
    log->in_flight_size = record_size;
    log->in_flight_height = header->height;
    memcpy(log->in_flight_hash, header->hash, BL_HASH_SIZE);
    log->result = 0;

    int64_t fault = log->io->append_fault(log->io->ctx, log->offset, record_size);
    if (fault != 0) { /* injected: complete now, without io_uring */
        log->completions_pending = 0;
        if (fault > 0 && fault < record_size)
            (void)bl_io_pwrite_all(log->io, log->fd, record, (size_t)fault, (off_t)log->offset);
        log->result = fault < 0 ? (int)fault : -EIO;
        bl_eventfd_signal(log->event_fd);
        return 0;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&log->ring);
    BL_ASSERT(sqe != NULL);
    io_uring_prep_write(sqe, log->fd, record, record_size, log->offset);
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data64(sqe, BL_LOG_OP_WRITE);
    sqe = io_uring_get_sqe(&log->ring);
    BL_ASSERT(sqe != NULL);
    io_uring_prep_fsync(sqe, log->fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, BL_LOG_OP_SYNC);
    log->completions_pending = 2;
    int submitted = io_uring_submit(&log->ring);
    if (submitted != 2) {
        log->in_flight = false;
        log->failed = true;
        return submitted < 0 ? submitted : -EIO;
    }
    return 0;
}

static int bl_log_append_finish(bl_log_t *log) {
    bl_eventfd_drain(log->event_fd);
    log->in_flight = false;
    if (log->result != 0) {
        log->failed = true;
        return log->result;
    }
    log->offset += log->in_flight_size;
    log->height = log->in_flight_height;
    memcpy(log->hash, log->in_flight_hash, BL_HASH_SIZE);
    bl_log_prepare_maybe(log);
    return 0;
}

static void bl_log_cqe_take(bl_log_t *log, struct io_uring_cqe *cqe) {
    int res = cqe->res;
    uint64_t op = io_uring_cqe_get_data64(cqe);
    if (op == BL_LOG_OP_WRITE && res >= 0 && (uint32_t)res != log->in_flight_size) res = -EIO;
    if (res < 0 && log->result == 0) log->result = res == -ECANCELED ? -EIO : res;
    io_uring_cqe_seen(&log->ring, cqe);
    BL_ASSERT(log->completions_pending > 0);
    log->completions_pending--;
}

int bl_log_append_poll(bl_log_t *log) {
    BL_ASSERT(log->in_flight);
    struct io_uring_cqe *cqe;
    while (log->completions_pending > 0 && io_uring_peek_cqe(&log->ring, &cqe) == 0)
        bl_log_cqe_take(log, cqe);
    if (log->completions_pending > 0) return -EAGAIN;
    return bl_log_append_finish(log);
}

int bl_log_append_wait(bl_log_t *log, int64_t timeout_ns) {
    BL_ASSERT(log->in_flight);
    while (log->completions_pending > 0) {
        struct io_uring_cqe *cqe;
        int rc;
        if (timeout_ns < 0) {
            rc = io_uring_wait_cqe(&log->ring, &cqe);
        } else {
            struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                           .tv_nsec = timeout_ns % 1000000000};
            rc = io_uring_wait_cqe_timeout(&log->ring, &cqe, &ts);
        }
        if (rc == -EINTR) continue;
        if (rc == -ETIME) return -ETIME;
        if (rc != 0) { /* the ring itself failed: the append's fate is unknown */
            log->result = rc;
            log->completions_pending = 0;
            break;
        }
        bl_log_cqe_take(log, cqe);
    }
    return bl_log_append_finish(log);
}
