/*
 * The transfer store (store.c): where transfer records live when they live in a file.
 *
 * Transfers take slots densely in timestamp order and a record never changes once written, so
 * the records form an append-only array. With a store, that array is a file (transfers.store
 * in the data directory), mapped shared: slot s is the 128 bytes at offset 128 s. The engine
 * writes new records through the mapping, as it would into memory; the kernel writes them back
 * to the file and may drop them from memory, so the records cost disk rather than RAM.
 *
 * Format: records only, 32 to a 4 KiB page. The file is as long as transfers_max records
 * (sparse beyond what was written, allocated ahead of the records with fallocate so a write
 * through the mapping never finds the disk full). What the bytes must be is not in the file:
 * each page's checksum (XXH3-64 of its 4,096 bytes) is kept in memory once the page is full
 * (sealed), and every checkpoint image carries the checksums of the pages below its
 * transfers_count (the last one over the records below it only), after the store was
 * fdatasynced. Records past the image's count are not trusted on recovery: the log's replay
 * writes them again.
 *
 * Hot and cold: the newest records (hot_records, at least) stay mapped and are read as
 * memory. Sealed pages older than that are dropped from the process (madvise) and become cold:
 * a cold record is read with pread, never through the mapping, and its page is checked
 * against the checksum first, so a record damaged on disk is never served. A failed check
 * stops the process with a message naming the file, the offset and the slot (state cannot go on
 * from a record it cannot trust; the log and an older checkpoint can rebuild it, which recovery
 * tries).
 *
 * Threads: the driver seals, drops and grows the file between blocks; partition threads and
 * the driver read during a block. cold_below only moves between blocks.
 */
#ifndef BALLAST_ENGINE_STORE_H
#define BALLAST_ENGINE_STORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ballast/protocol.h"

#define BL_STORE_PAGE_BYTES 4096u
#define BL_STORE_PAGE_RECORDS (BL_STORE_PAGE_BYTES / BL_RECORD_SIZE)
#define BL_STORE_GROW_BYTES (64ull << 20) /* fallocate this far ahead of the records */

/* Pages that `records` records fill, the last perhaps in part. */
static inline uint64_t bl_store_pages(uint64_t records) {
    return (records + BL_STORE_PAGE_RECORDS - 1) / BL_STORE_PAGE_RECORDS;
}

typedef struct bl_store {
    int fd;               /* -1: records in anonymous memory, none cold */
    const char *path;     /* for messages */
    uint8_t *base;        /* the mapping: transfers_max records */
    uint64_t capacity;    /* records the mapping holds */
    uint64_t *sums;       /* per page: its checksum, once sealed (reserved for every page) */
    uint64_t *firsts;     /* per sealed page: its first record's timestamp, so a search by timestamp
                             reads one cold page, not one per step */
    uint64_t sealed;      /* pages whose checksum is final */
    uint64_t cold_below;  /* slots below this are read through bl_store_read_cold */
    uint64_t hot_records; /* records kept mapped behind the last sealed page */
    uint64_t allocated;   /* bytes of the file allocated (fallocate) from offset 0 */
    uint64_t opened_bytes;       /* the file's size when opened, for messages */
    _Atomic uint64_t cold_reads; /* cold records read, each through its page's check */
} bl_store_t;

/* Opens the store over `fd` for `capacity` records; `hot_records` 0 keeps every record hot.
 * The file is extended (sparse) to the capacity. 0 or -errno. */
int bl_store_open(bl_store_t *store, int fd, const char *path, uint64_t capacity,
                  uint64_t hot_records, uint8_t **records);
void bl_store_close(bl_store_t *store);

static inline bool bl_store_cold(const bl_store_t *store, uint64_t slot) {
    return __builtin_expect(slot < store->cold_below, 0);
}

/* Reads cold slot `slot`'s record (128 bytes) into `out`: its page is read from the file
 * (pread: the mapping is never touched below the hot window, so reads cannot grow the
 * process's memory) and checked against its checksum first. A page that fails, or cannot be
 * read, stops the process. */
void bl_store_read_cold(const bl_store_t *store, uint64_t slot, void *out);

/* After a block: seals the pages the first `count` records fill, and drops what fell out of
 * the hot window. */
void bl_store_advance(bl_store_t *store, uint64_t count);

/* Makes sure the file is allocated for `count` records; 0 or -errno (-ENOSPC: the disk is
 * full). */
int bl_store_room(bl_store_t *store, uint64_t count);

/* The checksum of the records [page start, `count`) of the page holding slot count - 1's
 * page, for a page not yet sealed (the last of an image). */
uint64_t bl_store_page_sum(const bl_store_t *store, uint64_t page, uint64_t count);

/* Checks pages [first, end) of the records [0, count) at `records` (the mapping, or a copy
 * in memory) against `sums`, the last page over its records below count: 0, or -EBADMSG with
 * *bad_page set. */
int bl_store_pages_check(const uint8_t *records, const uint64_t *sums, uint64_t count,
                         uint64_t first, uint64_t end, uint64_t *bad_page);

/* Recovery, a range of pages at a time: checks pages [first, end) of the records [0, count)
 * against `sums` (one per page, the last over the records below count) and adopts the sums
 * of full pages. On a mismatch returns -EBADMSG and sets *bad_page (UINT64_MAX: the file was
 * shorter than the records when opened, opened_bytes). */
int bl_store_load(bl_store_t *store, const uint64_t *sums, uint64_t count, uint64_t first,
                  uint64_t end, uint64_t *bad_page);
/* After a range of pages was loaded and read: drops them from memory (bl_store_advance then
 * seals what no checksum came with, and sets the cold range). */
void bl_store_loaded(bl_store_t *store, uint64_t first_page, uint64_t end_page);

/* Asks the kernel to start reading cold slot `slot`'s page (a read of many cold records
 * issues these first, so their pages come from the disk in parallel). */
void bl_store_prefetch(const bl_store_t *store, uint64_t slot);

/* The first slot of [0, count) whose timestamp is at least `timestamp`, narrowed by the cold
 * pages' first timestamps: the slot range [*begin, *end) the answer lies in (every slot
 * before *begin is earlier; the answer is below *end, or is count). */
void bl_store_narrow(const bl_store_t *store, uint64_t count, uint64_t timestamp, uint64_t *begin,
                     uint64_t *end);

/* fdatasync of the file: every record written so far is on disk. 0 or -errno. */
int bl_store_sync(const bl_store_t *store);

#endif /* BALLAST_ENGINE_STORE_H */
