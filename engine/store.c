/*
 * The transfer store: records in a mapped file, page checksums, the hot window (see store.h).
 *
 * Dropping pages: madvise(MADV_DONTNEED) on a shared file mapping unmaps the pages from the
 * process; a page written through the mapping stays dirty in the page cache and reaches the
 * file as any other write-back, so nothing written is lost. Cold records are read with pread
 * into the caller's copy rather than through the mapping: a fault on a file mapping maps the
 * cached pages around it too (up to a 2 MiB folio), and each unmapping of them costs a TLB
 * shootdown on every thread of the process, so reads through the mapping grew the process
 * and cost tens of microseconds a record; a pread of a cached page costs a few.
 */
#define _GNU_SOURCE
#include "engine/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/hash.h"
#include "engine/table.h"

static void bl_store_drop(const bl_store_t *store, uint64_t first_page, uint64_t end_page) {
    if (end_page <= first_page) return;
    (void)madvise(store->base + first_page * BL_STORE_PAGE_BYTES,
                  (end_page - first_page) * BL_STORE_PAGE_BYTES, MADV_DONTNEED);
    /* Failure leaves the pages mapped: memory, not correctness. */
}

int bl_store_open(bl_store_t *store, int fd, const char *path, uint64_t capacity,
                  uint64_t hot_records, uint8_t **records) {
    memset(store, 0, sizeof(*store));
    store->fd = fd;
    store->path = path;
    store->capacity = capacity;
    store->hot_records = hot_records;
    uint64_t pages = bl_store_pages(capacity);
    uint64_t bytes = pages * BL_STORE_PAGE_BYTES;
    struct stat st;
    if (fstat(fd, &st) != 0) return -errno;
    store->opened_bytes = (uint64_t)st.st_size;
    if ((uint64_t)st.st_size < bytes && ftruncate(fd, (off_t)bytes) != 0) return -errno;
    store->base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (store->base == MAP_FAILED) {
        store->base = NULL;
        return -errno;
    }
    store->sums = bl_table_reserve(pages * sizeof(uint64_t));
    store->firsts = bl_table_reserve(pages * sizeof(uint64_t));
    if (store->sums == NULL || store->firsts == NULL) return -ENOMEM;
    *records = store->base;
    return 0;
}

void bl_store_close(bl_store_t *store) {
    uint64_t pages = bl_store_pages(store->capacity);
    if (store->base != NULL) munmap(store->base, pages * BL_STORE_PAGE_BYTES);
    bl_table_release(store->sums, pages * sizeof(uint64_t));
    bl_table_release(store->firsts, pages * sizeof(uint64_t));
    store->base = NULL;
    store->sums = NULL;
    store->firsts = NULL;
}

/* The timestamp of a mapped page's first record (the page is hot, or being loaded). */
static uint64_t bl_store_page_first(const bl_store_t *store, uint64_t page) {
    const bl_transfer_t *t = (const bl_transfer_t *)(store->base + page * BL_STORE_PAGE_BYTES);
    return t->timestamp;
}

void bl_store_prefetch(const bl_store_t *store, uint64_t slot) {
    uint64_t page = slot / BL_STORE_PAGE_RECORDS;
    (void)posix_fadvise(store->fd, (off_t)(page * BL_STORE_PAGE_BYTES), BL_STORE_PAGE_BYTES,
                        POSIX_FADV_WILLNEED); /* advice: failure costs only time */
}

void bl_store_narrow(const bl_store_t *store, uint64_t count, uint64_t timestamp, uint64_t *begin,
                     uint64_t *end) {
    uint64_t cold_pages = store->cold_below / BL_STORE_PAGE_RECORDS;
    *begin = 0;
    *end = count;
    if (cold_pages == 0) return;
    /* lo: the first cold page whose first timestamp is at least `timestamp` */
    uint64_t lo = 0, hi = cold_pages;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (store->firsts[mid] < timestamp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0) *begin = (lo - 1) * BL_STORE_PAGE_RECORDS;
    if (lo < cold_pages) *end = lo * BL_STORE_PAGE_RECORDS; /* page lo's first qualifies */
}

/* The checksum of page `page` of the records at `records`, over its records below `count`. */
static uint64_t bl_store_records_sum(const uint8_t *records, uint64_t page, uint64_t count) {
    uint64_t first = page * BL_STORE_PAGE_RECORDS;
    BL_ASSERT(count > first);
    uint64_t n = count - first;
    if (n > BL_STORE_PAGE_RECORDS) n = BL_STORE_PAGE_RECORDS;
    return bl_hash64(records + page * BL_STORE_PAGE_BYTES, n * BL_RECORD_SIZE);
}

uint64_t bl_store_page_sum(const bl_store_t *store, uint64_t page, uint64_t count) {
    return bl_store_records_sum(store->base, page, count);
}

/* Stops the process: a cold page that cannot be trusted. */
static void bl_store_fail(const bl_store_t *store, uint64_t page, const char *why) {
    fprintf(stderr,
            "ballast: %s is damaged: the page at offset %" PRIu64 " (transfer slots %" PRIu64
            " to %" PRIu64 ") %s; stopping without serving it. Restart: recovery rebuilds the "
            "store from an older checkpoint and the log where they reach back that far, and "
            "refuses, naming the page, where they do not\n",
            store->path ? store->path : "the transfer store", page * BL_STORE_PAGE_BYTES,
            page * BL_STORE_PAGE_RECORDS, page * BL_STORE_PAGE_RECORDS + BL_STORE_PAGE_RECORDS - 1,
            why);
    _exit(70); /* EX_SOFTWARE: no state to save, nothing more to say */
}

void bl_store_read_cold(const bl_store_t *store, uint64_t slot, void *out) {
    uint64_t page = slot / BL_STORE_PAGE_RECORDS;
    BL_ASSERT(page < store->sealed);
    uint8_t bytes[BL_STORE_PAGE_BYTES] __attribute__((aligned(64)));
    uint64_t done = 0;
    while (done < BL_STORE_PAGE_BYTES) {
        ssize_t n = pread(store->fd, bytes + done, BL_STORE_PAGE_BYTES - done,
                          (off_t)(page * BL_STORE_PAGE_BYTES + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            char why[128];
            snprintf(why, sizeof(why), "cannot be read (%s)",
                     n < 0 ? strerror(errno) : "end of file");
            bl_store_fail(store, page, why);
        }
        done += (uint64_t)n;
    }
    uint64_t sum = bl_hash64(bytes, BL_STORE_PAGE_BYTES);
    if (sum != store->sums[page]) {
        char why[128];
        snprintf(why, sizeof(why), "has checksum %016" PRIx64 ", %016" PRIx64 " was written", sum,
                 store->sums[page]);
        bl_store_fail(store, page, why);
    }
    memcpy(out, bytes + (slot % BL_STORE_PAGE_RECORDS) * BL_RECORD_SIZE, BL_RECORD_SIZE);
    atomic_fetch_add_explicit(&((bl_store_t *)store)->cold_reads, 1, memory_order_relaxed);
}

void bl_store_advance(bl_store_t *store, uint64_t count) {
    if (store->fd < 0) return;
    uint64_t full = count / BL_STORE_PAGE_RECORDS;
    for (; store->sealed < full; store->sealed++) {
        store->sums[store->sealed] = bl_store_page_sum(store, store->sealed, count);
        store->firsts[store->sealed] = bl_store_page_first(store, store->sealed);
    }
    uint64_t hot_pages = bl_store_pages(store->hot_records);
    uint64_t cold_pages = store->sealed > hot_pages ? store->sealed - hot_pages : 0;
    uint64_t old_pages = store->cold_below / BL_STORE_PAGE_RECORDS;
    if (cold_pages > old_pages) {
        /* Start writing back what left the hot window now, rather than let the kernel gather
         * gigabytes of dirty pages and then throttle the writer (and every fdatasync behind
         * them) while it flushes them; the checkpoint's fdatasync then finds little to do. */
        (void)sync_file_range(store->fd, (off_t)(old_pages * BL_STORE_PAGE_BYTES),
                              (off_t)((cold_pages - old_pages) * BL_STORE_PAGE_BYTES),
                              SYNC_FILE_RANGE_WRITE); /* a start: durability is the log's */
        bl_store_drop(store, old_pages, cold_pages);
        store->cold_below = cold_pages * BL_STORE_PAGE_RECORDS;
    }
}

int bl_store_room(bl_store_t *store, uint64_t count) {
    if (store->fd < 0) return 0;
    uint64_t need = count * BL_RECORD_SIZE;
    if (need <= store->allocated) return 0;
    uint64_t limit = bl_store_pages(store->capacity) * BL_STORE_PAGE_BYTES;
    uint64_t want = need + BL_STORE_GROW_BYTES;
    want = (want + BL_STORE_PAGE_BYTES - 1) / BL_STORE_PAGE_BYTES * BL_STORE_PAGE_BYTES;
    if (want > limit) want = limit;
    if (want < need) return -ENOSPC; /* past the capacity: the engine refuses these first */
    int rc = posix_fallocate(store->fd, (off_t)store->allocated, (off_t)(want - store->allocated));
    if (rc != 0) return -rc;
    store->allocated = want;
    return 0;
}

int bl_store_pages_check(const uint8_t *records, const uint64_t *sums, uint64_t count,
                         uint64_t first, uint64_t end, uint64_t *bad_page) {
    for (uint64_t page = first; page < end; page++) {
        if (bl_store_records_sum(records, page, count) != sums[page]) {
            *bad_page = page;
            return -EBADMSG;
        }
    }
    return 0;
}

int bl_store_load(bl_store_t *store, const uint64_t *sums, uint64_t count, uint64_t first,
                  uint64_t end, uint64_t *bad_page) {
    if (store->opened_bytes < count * BL_RECORD_SIZE) {
        *bad_page = UINT64_MAX;
        return -EBADMSG;
    }
    int rc = bl_store_pages_check(store->base, sums, count, first, end, bad_page);
    if (rc != 0) return rc;
    for (uint64_t page = first; page < end; page++) {
        if ((page + 1) * BL_STORE_PAGE_RECORDS <= count) {
            store->sums[page] = sums[page];
            store->firsts[page] = bl_store_page_first(store, page);
            store->sealed = page + 1;
        }
    }
    return 0;
}

void bl_store_loaded(bl_store_t *store, uint64_t first_page, uint64_t end_page) {
    if (store->fd >= 0) bl_store_drop(store, first_page, end_page);
}

int bl_store_sync(const bl_store_t *store) {
    if (store->fd < 0) return 0;
    return fdatasync(store->fd) == 0 ? 0 : -errno;
}
