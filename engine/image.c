/*
 * The engine image: a complete, self-checking copy of the engine's state at a block height,
 * written by checkpoints and read by recovery.
 *
 * Format (little-endian), in this order:
 *   header (128 bytes)
 *      0  8  magic "BLSTIMG1"
 *      8  4  version (3; 2 and 1 still load)
 *     12  4  header size (128)
 *     16  8  height: the last block the image includes
 *     24  8  timestamp_last
 *     32  8  accounts_max      40  8  transfers_max   (capacity is state: it decides results)
 *     48  8  accounts_count    56  8  transfers_count
 *     64  8  expiry_count
 *     72 16  state digest
 *     88  8  payload checksum: XXH3-64 of every byte after the header
 *     96  8  balance_count
 *    104  4  flags: bit 0, the transfer records are in the store (transfers.store), not here
 *    108  4  reserved (0)
 *    112  8  with flag bit 0: XXH3-64 of the page checksums below (checked before any page
 *            is read against them), else 0
 *    120  8  header checksum: XXH3-64 of bytes 0..119
 *   accounts           accounts_count x 128-byte records, slot order
 *   transfers          without flag bit 0: transfers_count x 128-byte records, slot (=
 *                      timestamp) order; with it: ceil(transfers_count / 32) x 8 bytes, the
 *                      XXH3-64 of each 4 KiB page of the store's records (the last page's
 *                      over its records below transfers_count only); the store was
 *                      fdatasynced before the image was written
 *   transfer states    transfers_count bytes
 *   expiry queue       expiry_count x 16 bytes: deadline u64, slot u32, 0 u32 (heap order)
 *   balance history    balance_count x 88 bytes: account slot u32, 0 u32, then the entry
 *                      (4 x u128 balances, timestamp u64, transfer slot u32, side u32), by
 *                      account slot, each account's entries in timestamp order
 *
 * Only what cannot be derived is stored: indexes, partition assignment, account hashes, the
 * per-account transfer lists and the digest are rebuilt on read, so an image written with N
 * partitions loads with any N, and the rebuilt digest must equal the stored one or the image
 * is refused as corrupt. An image with the records in the store loads only into an engine
 * with a store, whose records it checks page by page as it rebuilds; one with the records
 * inline loads into either (into a store, the records are written to it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/internal.h"

#define BL_IMAGE_MAGIC "BLSTIMG1"
#define BL_IMAGE_VERSION 3u
#define BL_IMAGE_IN_STORE 1u
#define BL_IMAGE_CHUNK_PAGES 4096u /* rebuilt, then dropped, 16 MiB of the store at a time */
#define BL_IMAGE_CHUNK_RECORDS ((uint64_t)BL_IMAGE_CHUNK_PAGES * BL_STORE_PAGE_RECORDS)
#define BL_IMAGE_BUFFER_BYTES (1u << 20)

typedef struct bl_image_header {
    uint8_t magic[8];
    uint32_t version;
    uint32_t header_size;
    uint64_t height;
    uint64_t timestamp_last;
    uint64_t accounts_max;
    uint64_t transfers_max;
    uint64_t accounts_count;
    uint64_t transfers_count;
    uint64_t expiry_count;
    bl_u128_t digest;
    uint64_t payload_checksum;
    uint64_t balance_count;
    uint32_t flags;
    uint32_t reserved;
    uint64_t sums_checksum;
    uint64_t header_checksum;
} __attribute__((packed)) bl_image_header_t;

_Static_assert(sizeof(bl_image_header_t) == 128, "image header size");
_Static_assert(offsetof(bl_image_header_t, digest) == 72, "image digest offset");
_Static_assert(offsetof(bl_image_header_t, header_checksum) == 120, "image checksum offset");

typedef struct bl_image_balance {
    uint32_t account_slot;
    uint32_t reserved;
    bl_balance_entry_t entry;
} __attribute__((packed)) bl_image_balance_t;

_Static_assert(sizeof(bl_image_balance_t) == 88, "image balance entry size");

typedef struct bl_image_expiry {
    uint64_t deadline;
    uint32_t slot;
    uint32_t reserved;
} bl_image_expiry_t;

/* ------------------------------------------------------------------------------------------ */
/* Writing.                                                                                   */

static int bl_write_all(int fd, const void *data, size_t size) {
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        BL_ASSERT(n > 0);
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

static int bl_pwrite_all(int fd, const void *data, size_t size, off_t offset) {
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t n = pwrite(fd, p, size, offset);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        BL_ASSERT(n > 0);
        p += n;
        offset += n;
        size -= (size_t)n;
    }
    return 0;
}

/* What bl_engine_image_write reads, marked to be inherited by a forked process (every table
 * is reserved not to be: table.c). */
void bl_engine_image_inherit(const bl_engine_t *e) {
    const bl_engine_config_t *c = &e->config;
    const struct {
        const void *data;
        uint64_t size;
    } read[] = {
        {e->accounts, c->accounts_max * sizeof(bl_account_t)},
        {c->transfers_in_file ? NULL : e->transfers, c->transfers_max * sizeof(bl_transfer_t)},
        {e->store.sums, bl_store_pages(e->store.capacity) * sizeof(uint64_t)},
        {e->transfer_state, c->transfers_max},
        {e->expiry.entries, e->expiry.capacity * sizeof(bl_expiry_entry_t)},
        {e->account_balances, c->accounts_max * sizeof(bl_list_t)},
        {e->pools[BL_POOL_BALANCES].base, e->pools[BL_POOL_BALANCES].bytes},
    };
    for (size_t i = 0; i < BL_ARRAY_LEN(read); i++)
        if (read[i].data != NULL && read[i].size > 0)
            (void)madvise((void *)read[i].data, read[i].size, MADV_DOFORK);
}

int bl_engine_image_write(const bl_engine_t *e, int fd, uint64_t height) {
    bl_image_header_t header;
    memset(&header, 0, sizeof(header));
    memcpy(header.magic, BL_IMAGE_MAGIC, 8);
    header.version = BL_IMAGE_VERSION;
    header.header_size = sizeof(header);
    header.height = height;
    header.timestamp_last = e->timestamp_last;
    header.accounts_max = e->config.accounts_max;
    header.transfers_max = e->config.transfers_max;
    header.accounts_count = e->accounts_count;
    header.transfers_count = e->transfers_count;
    header.expiry_count = e->expiry.count;
    header.digest = bl_engine_digest(e);
    bool in_store = e->config.transfers_in_file;
    header.flags = in_store ? BL_IMAGE_IN_STORE : 0;

    /* The header goes last, once the payload checksum is known: a torn image never has a
     * valid header. */
    int rc = in_store ? bl_store_sync(&e->store) : 0; /* what the sums describe is on disk */
    if (rc != 0) return rc;
    if (lseek(fd, sizeof(header), SEEK_SET) < 0) return -errno;
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    uint64_t full_pages = e->transfers_count / BL_STORE_PAGE_RECORDS;
    BL_ASSERT(!in_store || e->store.sealed == full_pages); /* sealed after every block */
    uint64_t last_sum = !in_store || e->transfers_count % BL_STORE_PAGE_RECORDS == 0
                            ? 0
                            : bl_store_page_sum(&e->store, full_pages, e->transfers_count);
    const struct {
        const void *data;
        uint64_t size;
    } parts[] = {
        {e->accounts, e->accounts_count * sizeof(bl_account_t)},
        {in_store ? (const void *)e->store.sums : (const void *)e->transfers,
         in_store ? full_pages * sizeof(uint64_t) : e->transfers_count * sizeof(bl_transfer_t)},
        {&last_sum, in_store && e->transfers_count % BL_STORE_PAGE_RECORDS ? sizeof(uint64_t) : 0},
        {e->transfer_state, e->transfers_count},
    };
    for (size_t i = 0; i < BL_ARRAY_LEN(parts) && rc == 0; i++) {
        XXH3_64bits_update(&state, parts[i].data, parts[i].size);
        rc = bl_write_all(fd, parts[i].data, parts[i].size);
    }
    if (in_store) {
        XXH3_state_t sums;
        XXH3_64bits_reset(&sums);
        XXH3_64bits_update(&sums, parts[1].data, parts[1].size);
        XXH3_64bits_update(&sums, parts[2].data, parts[2].size);
        header.sums_checksum = XXH3_64bits_digest(&sums);
    }
    bl_image_expiry_t buffer[256];
    for (uint64_t i = 0; i < e->expiry.count && rc == 0;) {
        uint32_t n = 0;
        for (; n < BL_ARRAY_LEN(buffer) && i < e->expiry.count; n++, i++) {
            buffer[n] = (bl_image_expiry_t){.deadline = e->expiry.entries[i].deadline,
                                            .slot = e->expiry.entries[i].slot};
        }
        XXH3_64bits_update(&state, buffer, n * sizeof(buffer[0]));
        rc = bl_write_all(fd, buffer, n * sizeof(buffer[0]));
    }
    bl_image_balance_t balance;
    for (uint64_t slot = 0; slot < e->accounts_count && rc == 0; slot++) {
        const bl_list_t *list = &e->account_balances[slot];
        for (uint32_t i = 0; i < list->count && rc == 0; i++) {
            const bl_balance_entry_t *entry = bl_list_at(&e->pools[BL_POOL_BALANCES], list, i);
            balance = (bl_image_balance_t){.account_slot = (uint32_t)slot, .entry = *entry};
            XXH3_64bits_update(&state, &balance, sizeof(balance));
            rc = bl_write_all(fd, &balance, sizeof(balance));
            header.balance_count++;
        }
    }
    if (rc != 0) return rc;
    header.payload_checksum = XXH3_64bits_digest(&state);
    header.header_checksum = bl_hash64(&header, offsetof(bl_image_header_t, header_checksum));
    return bl_pwrite_all(fd, &header, sizeof(header), 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Reading.                                                                                   */

static int bl_read_exact(int fd, void *data, size_t size, XXH3_state_t *state) {
    uint8_t *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t n = read(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) return -EBADMSG; /* shorter than its header says */
        p += n;
        left -= (size_t)n;
    }
    if (state != NULL) XXH3_64bits_update(state, data, size);
    return 0;
}

int bl_engine_image_height(int fd, uint64_t *height) {
    bl_image_header_t header;
    if (lseek(fd, 0, SEEK_SET) < 0) return -errno;
    int rc = bl_read_exact(fd, &header, sizeof(header), NULL);
    if (rc != 0) return rc;
    /* Version 2 is version 3 without flags: its records are inline. */
    if (memcmp(header.magic, BL_IMAGE_MAGIC, 8) != 0 ||
        (header.version != BL_IMAGE_VERSION && header.version != 2) ||
        header.header_checksum != bl_hash64(&header, offsetof(bl_image_header_t, header_checksum)))
        return -EBADMSG;
    *height = header.height;
    return 0;
}

/* Rebuilds the accounts' part of what the image does not store: index, query indexes,
 * hashes, digest. */
static void bl_engine_image_accounts(bl_engine_t *e) {
    for (uint64_t slot = 0; slot < e->accounts_count; slot++) {
        const bl_account_t *a = &e->accounts[slot];
        uint64_t hash = bl_hash_id(a->id);
        bl_partition_t *part = bl_engine_owner(e, hash);
        bl_index_insert(&part->accounts, &e->accounts_records, hash, (uint32_t)slot);
        if (!e->config.indexes_off)
            bl_keys_insert(e, part->index, BL_KEYS_ACCOUNTS, (uint32_t)slot);
        e->account_aux[slot].hash = bl_hash128(a, sizeof(*a));
        part->digest += e->account_aux[slot].hash;
    }
}

/* Appends a transfer to the list of the account with `id` on one side. */
static int bl_engine_image_list(bl_engine_t *e, bl_u128_t id, uint32_t side, uint32_t slot) {
    uint64_t hash = bl_hash_id(id);
    bl_partition_t *part = bl_engine_owner(e, hash);
    uint32_t account = bl_index_find(&part->accounts, &e->accounts_records, hash, id);
    if (account == BL_SLOT_NONE) return -EBADMSG; /* a transfer names a missing account */
    bl_history_append_transfer(e, part, account, side, slot);
    return 0;
}

/* Rebuilds one transfer's part but its id index entry (bl_engine_image_index): query
 * indexes, digest (its record and its pending outcome), and the accounts' transfer lists, in
 * slot order. `hash` is its id's. */
static int bl_engine_image_transfer(bl_engine_t *e, uint32_t slot, uint64_t hash) {
    const bl_transfer_t *t = &e->transfers[slot];
    bl_partition_t *part = bl_engine_owner(e, hash);
    if (!e->config.indexes_off) bl_keys_insert(e, part->index, BL_KEYS_TRANSFERS, slot);
    part->digest += bl_hash128(t, sizeof(*t));
    uint8_t state = e->transfer_state[slot];
    if (state == BL_STATE_POSTED || state == BL_STATE_VOIDED || state == BL_STATE_EXPIRED) {
        uint8_t bytes[17];
        memcpy(bytes, &t->id, 16);
        bytes[16] = state == BL_STATE_POSTED   ? BL_PENDING_DIGEST_POSTED
                    : state == BL_STATE_VOIDED ? BL_PENDING_DIGEST_VOIDED
                                               : BL_PENDING_DIGEST_EXPIRED;
        part->digest += bl_hash128(bytes, sizeof(bytes));
    }
    if (e->config.indexes_off) return 0;
    int rc = bl_engine_image_list(e, t->debit_account_id, BL_LIST_DEBITS, slot);
    if (rc == 0) rc = bl_engine_image_list(e, t->credit_account_id, BL_LIST_CREDITS, slot);
    return rc;
}

/* Rebuilding a transfer's lists misses, at random, on its accounts' buckets, their records
 * (whose ids a lookup compares) and their aux lines (where the lists are appended): the
 * buckets are asked for BL_IMAGE_AHEAD transfers ahead, the records and aux lines of the
 * chains' heads (found in the buckets by then) half as far, so a rebuild finds them in cache
 * (a restart spent two thirds of its time waiting on these lines). */
#define BL_IMAGE_AHEAD 16u

/* Far (!near): the buckets of slot's accounts. Near: the records and aux lines of their
 * chains' heads, read from the buckets asked for before. */
static void bl_engine_image_prefetch(const bl_engine_t *e, uint64_t slot, bool near) {
    if (e->config.indexes_off) return;
    const bl_transfer_t *t = &e->transfers[slot];
    const bl_u128_t accounts[2] = {t->debit_account_id, t->credit_account_id};
    for (size_t k = 0; k < 2; k++) {
        uint64_t hash = bl_hash_id(accounts[k]);
        const bl_index_t *index = &bl_engine_owner(e, hash)->accounts;
        if (!near) {
            bl_index_prefetch(index, hash);
            continue;
        }
        uint32_t head = bl_index_head(index, hash);
        if (head == BL_SLOT_NONE || head >= e->accounts_count) continue;
        __builtin_prefetch(bl_records_id(&e->accounts_records, head));
        __builtin_prefetch(&e->account_aux[head], 1);
    }
}

/* The id index is rebuilt a chunk at a time in the order of its buckets, not of the slots:
 * inserting in slot order writes one random bucket of a table of up to gigabytes per transfer,
 * a cache and TLB miss each (half of a restart's time, at 200 M transfers). The chunk's
 * entries are grouped by the top BL_IMAGE_GROUP_BITS bits of (partition, bucket) with a
 * counting sort, which is stable: a bucket's entries are still pushed in slot order, so every
 * chain is the one inserting in slot order makes, and each group's writes fall in one small
 * range of the table. */
#define BL_IMAGE_GROUP_BITS 12u

typedef struct bl_image_scratch {
    uint64_t *hashes; /* per slot of the chunk: its id's hash */
    uint32_t *order;  /* the chunk's slots (from its first), by group */
    uint32_t *groups; /* per slot of the chunk: its group */
    uint32_t *counts; /* per group, then its first place in order */
} bl_image_scratch_t;

static void bl_engine_image_index(bl_engine_t *e, const bl_image_scratch_t *x, uint64_t first,
                                  uint64_t end) {
    uint32_t n = (uint32_t)(end - first), partitions = e->config.partitions;
    uint64_t buckets = e->partitions[0].transfers.mask + 1; /* the same in every partition */
    uint32_t bits = (uint32_t)__builtin_ctzll(buckets);
    while ((1ull << (bits - (uint32_t)__builtin_ctzll(buckets))) < partitions) bits++;
    uint32_t shift = bits > BL_IMAGE_GROUP_BITS ? bits - BL_IMAGE_GROUP_BITS : 0;
    memset(x->counts, 0, sizeof(uint32_t) << BL_IMAGE_GROUP_BITS);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t hash = x->hashes[i];
        uint64_t key =
            ((uint64_t)bl_partition_of(hash, partitions) * buckets) | (hash & (buckets - 1));
        x->groups[i] = (uint32_t)(key >> shift);
        x->counts[x->groups[i]]++;
    }
    uint32_t place = 0;
    for (uint32_t g = 0; g < (1u << BL_IMAGE_GROUP_BITS); g++) {
        uint32_t count = x->counts[g];
        x->counts[g] = place;
        place += count;
    }
    for (uint32_t i = 0; i < n; i++) x->order[x->counts[x->groups[i]]++] = i;
    for (uint32_t k = 0; k < n; k++) {
        if (k + BL_IMAGE_AHEAD < n) {
            uint64_t ahead = x->hashes[x->order[k + BL_IMAGE_AHEAD]];
            bl_index_prefetch(&bl_engine_owner(e, ahead)->transfers, ahead);
        }
        uint32_t i = x->order[k];
        bl_partition_t *part = bl_engine_owner(e, x->hashes[i]);
        bl_index_insert(&part->transfers, &e->transfers_records, x->hashes[i],
                        (uint32_t)(first + i));
    }
}

/* For a memory engine with transfers_from_store: reads records [first, end) of the store
 * into memory and checks their pages (first is a page's first record). */
static int bl_engine_image_from_store(bl_engine_t *e, const uint64_t *sums, uint64_t first,
                                      uint64_t end, uint64_t *bad_page) {
    uint8_t *to = (uint8_t *)&e->transfers[first];
    uint64_t size = (end - first) * BL_RECORD_SIZE, done = 0;
    while (done < size) {
        ssize_t n = pread(e->config.transfers_fd, to + done, size - done,
                          (off_t)(first * BL_RECORD_SIZE + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (n == 0) {
            *bad_page = UINT64_MAX;
            return -EBADMSG;
        }
        done += (uint64_t)n;
    }
    return bl_store_pages_check((const uint8_t *)e->transfers, sums, end,
                                first / BL_STORE_PAGE_RECORDS, bl_store_pages(end), bad_page);
}

/* Rebuilds the transfers' part, a chunk of the records at a time: with `sums` (the records
 * are in the store), each chunk's pages are checked before any record of it is read, and
 * every chunk is dropped from memory once read. */
static int bl_engine_image_chunks(bl_engine_t *e, const uint64_t *sums,
                                  const bl_image_scratch_t *x) {
    const uint64_t chunk = BL_IMAGE_CHUNK_RECORDS;
    uint64_t count = e->transfers_count;
    for (uint64_t first = 0; first < count; first += chunk) {
        uint64_t end = count - first < chunk ? count : first + chunk;
        uint64_t first_page = first / BL_STORE_PAGE_RECORDS;
        uint64_t end_page = bl_store_pages(end);
        uint64_t bad = 0;
        int rc_load = 0;
        if (sums != NULL && e->config.transfers_in_file)
            rc_load = bl_store_load(&e->store, sums, count, first_page, end_page, &bad);
        else if (sums != NULL)
            rc_load = bl_engine_image_from_store(e, sums, first, end, &bad);
        const char *path = e->config.transfers_path ? e->config.transfers_path : "the store";
        if (rc_load == -EBADMSG) {
            struct stat st;
            uint64_t bytes = e->config.transfers_in_file               ? e->store.opened_bytes
                             : fstat(e->config.transfers_fd, &st) == 0 ? (uint64_t)st.st_size
                                                                       : 0;
            if (bad == UINT64_MAX)
                snprintf(e->error, sizeof(e->error),
                         "%s is %" PRIu64 " bytes; the checkpoint needs %" PRIu64
                         " transfer records (%" PRIu64 " bytes) there",
                         path, bytes, count, count * BL_RECORD_SIZE);
            else
                snprintf(e->error, sizeof(e->error),
                         "%s is damaged: the page at offset %" PRIu64 " (transfer slots %" PRIu64
                         " to %" PRIu64 ") does not match the checksum the checkpoint recorded",
                         path, bad * BL_STORE_PAGE_BYTES, bad * BL_STORE_PAGE_RECORDS,
                         bad * BL_STORE_PAGE_RECORDS + BL_STORE_PAGE_RECORDS - 1);
            return -EBADMSG;
        }
        if (rc_load != 0) return rc_load;
        for (uint64_t slot = first; slot < end; slot++)
            x->hashes[slot - first] = bl_hash_id(e->transfers[slot].id);
        bl_engine_image_index(e, x, first, end);
        for (uint64_t slot = first; slot < end; slot++) {
            if (slot + BL_IMAGE_AHEAD < end)
                bl_engine_image_prefetch(e, slot + BL_IMAGE_AHEAD, false);
            if (slot + BL_IMAGE_AHEAD / 2 < end)
                bl_engine_image_prefetch(e, slot + BL_IMAGE_AHEAD / 2, true);
            int rc = bl_engine_image_transfer(e, (uint32_t)slot, x->hashes[slot - first]);
            if (rc != 0) return rc;
        }
        bl_store_loaded(&e->store, first_page, end / BL_STORE_PAGE_RECORDS);
    }
    uint32_t n = e->config.partitions;
    for (uint64_t i = 0; i < e->expiry.count; i++) {
        bl_expiry_entry_t *entry = &e->expiry.entries[i];
        entry->partition = bl_partition_of(bl_hash_id(e->transfers[entry->slot].id), n);
    }
    if (!e->config.indexes_off) {
        for (uint32_t p = 0; p < n; p++)
            bl_pool_late_drain(&e->pools[BL_POOL_RUNS],
                               &e->partitions[p].pool_shares[BL_POOL_RUNS]);
    }
    bl_store_advance(&e->store, count); /* seals pages no sum came with; the cold range */
    return 0;
}

static int bl_engine_image_transfers(bl_engine_t *e, const uint64_t *sums) {
    bl_image_scratch_t x = {
        .hashes = malloc(BL_IMAGE_CHUNK_RECORDS * sizeof(uint64_t)),
        .order = malloc(BL_IMAGE_CHUNK_RECORDS * sizeof(uint32_t)),
        .groups = malloc(BL_IMAGE_CHUNK_RECORDS * sizeof(uint32_t)),
        .counts = malloc(sizeof(uint32_t) << BL_IMAGE_GROUP_BITS),
    };
    int rc =
        x.hashes && x.order && x.groups && x.counts ? bl_engine_image_chunks(e, sums, &x) : -ENOMEM;
    free(x.hashes);
    free(x.order);
    free(x.groups);
    free(x.counts);
    return rc;
}

/* Reads the balance history; entries must come by account and in timestamp order. */
static int bl_engine_image_balances(bl_engine_t *e, int fd, uint64_t count, XXH3_state_t *state) {
    uint64_t last_slot = 0, last_timestamp = 0;
    for (uint64_t i = 0; i < count; i++) {
        bl_image_balance_t balance;
        int rc = bl_read_exact(fd, &balance, sizeof(balance), state);
        if (rc != 0) return rc;
        uint32_t slot = balance.account_slot;
        bl_balance_entry_t aligned;
        memcpy(&aligned, (const uint8_t *)&balance + offsetof(bl_image_balance_t, entry),
               sizeof(aligned));
        const bl_balance_entry_t *entry = &aligned;
        if (slot >= e->accounts_count || balance.reserved != 0 ||
            !(e->accounts[slot].flags & BL_ACCOUNT_HISTORY) ||
            entry->transfer_slot >= e->transfers_count ||
            (entry->side != BL_FILTER_DEBITS && entry->side != BL_FILTER_CREDITS) ||
            (i > 0 &&
             (slot < last_slot || (slot == last_slot && entry->timestamp <= last_timestamp))))
            return -EBADMSG;
        last_slot = slot;
        last_timestamp = entry->timestamp;
        bl_history_append_balance(e, bl_engine_owner(e, bl_hash_id(e->accounts[slot].id)), slot,
                                  entry);
    }
    return 0;
}

int bl_engine_image_read(bl_engine_t *e, int fd, uint64_t *height) {
    BL_ASSERT(e->accounts_count == 0 && e->transfers_count == 0 && e->expiry.count == 0);
    bl_image_header_t header;
    int rc = bl_engine_image_height(fd, height);
    if (rc != 0) return rc;
    if (lseek(fd, 0, SEEK_SET) < 0) return -errno;
    if ((rc = bl_read_exact(fd, &header, sizeof(header), NULL)) != 0) return rc;
    if (header.accounts_max != e->config.accounts_max ||
        header.transfers_max != e->config.transfers_max)
        return -EINVAL; /* capacity is part of the state */
    if (header.accounts_count > header.accounts_max ||
        header.transfers_count > header.transfers_max ||
        header.expiry_count > header.transfers_count ||
        header.balance_count > 4 * header.transfers_count) /* 2 per transfer and expiry */
        return -EBADMSG;

    bool in_store = (header.flags & BL_IMAGE_IN_STORE) != 0;
    if (in_store && !e->config.transfers_in_file && !e->config.transfers_from_store)
        return -EINVAL; /* it needs the store */
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    rc = bl_read_exact(fd, e->accounts, header.accounts_count * sizeof(bl_account_t), &state);
    uint64_t *sums = NULL;
    uint64_t pages = bl_store_pages(header.transfers_count);
    if (rc == 0 && in_store) {
        sums = malloc(pages * sizeof(uint64_t) + 1);
        rc = sums == NULL ? -ENOMEM : bl_read_exact(fd, sums, pages * sizeof(uint64_t), &state);
        if (rc == 0 && bl_hash64(sums, pages * sizeof(uint64_t)) != header.sums_checksum)
            rc = -EBADMSG; /* the image, not the store, is damaged */
    } else if (rc == 0) {
        rc =
            bl_read_exact(fd, e->transfers, header.transfers_count * sizeof(bl_transfer_t), &state);
    }
    if (rc == 0) rc = bl_read_exact(fd, e->transfer_state, header.transfers_count, &state);
    for (uint64_t i = 0; i < header.expiry_count && rc == 0; i++) {
        bl_image_expiry_t entry;
        rc = bl_read_exact(fd, &entry, sizeof(entry), &state);
        if (rc == 0 && (entry.slot >= header.transfers_count || entry.reserved != 0)) rc = -EBADMSG;
        if (rc == 0) e->expiry.entries[i] = (bl_expiry_entry_t){entry.deadline, entry.slot, 0};
    }
    if (rc == 0 && (header.flags & ~BL_IMAGE_IN_STORE || header.reserved != 0 ||
                    (!in_store && header.sums_checksum != 0)))
        rc = -EBADMSG;
    if (rc != 0) {
        free(sums);
        return rc;
    }

    e->accounts_count = header.accounts_count;
    e->transfers_count = header.transfers_count;
    e->expiry.count = header.expiry_count;
    e->timestamp_last = header.timestamp_last;
    bl_engine_image_accounts(e);
    rc = bl_engine_image_transfers(e, sums);
    free(sums);
    if (rc == 0) rc = bl_engine_image_balances(e, fd, header.balance_count, &state);
    if (rc == 0 && XXH3_64bits_digest(&state) != header.payload_checksum) rc = -EBADMSG;
    if (rc == 0 && bl_engine_digest(e) != header.digest) rc = -EBADMSG;
    if (rc != 0) { /* what was read is not a state: nothing for bl_engine_verify to check */
        e->accounts_count = e->transfers_count = 0;
        return rc;
    }
    bl_engine_verify(e);
    return 0;
}
