/*
 * The memory budget: what a server commits when it starts, so that its blocks do not fault
 * memory in.
 *
 * Tables are reserved whole and committed by the kernel on first write (table.c). A server
 * that leaves them to that pays for it inside its blocks: each first write of a page is a
 * fault and a page cleared, and the id index, written at random places, faults through its
 * first blocks (a server's first benchmark ran at 68% of its second with a 1 GiB index). A
 * budget commits instead, at start (MADV_POPULATE_WRITE), while it lasts and in this order:
 *
 *   1. the id indexes' buckets, whole (they are written at random: all or nothing);
 *   2. the store's hot window, the newest records, which live in the kernel's page cache
 *      (counted against the budget, not committed here: the file's pages are written as the
 *      records are);
 *   3. the tables of every account slot (record, chain link, list headers, marks);
 *   4. the tables of the first transfers that fit: per transfer its chain link, fingerprint
 *      and pending state, and an estimate of its entries in the account lists (two slots) and
 *      the query indexes (ledger and code, two slots). A workload that sets user_data fields
 *      takes more (four bytes a field), faulted in as before.
 *
 * The budget is not state: it decides no result, only when memory is committed. Past the
 * transfers it holds the state goes on growing, a page at a time, as without it.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Per transfer, the entries an account list and the query indexes take for a plain transfer:
 * its slot in the debit and the credit account's lists (runs pool), and in the lists of its
 * ledger and its code (slots pool). */
#define BL_BUDGET_LIST_BYTES (2u * sizeof(uint32_t))
#define BL_BUDGET_KEY_BYTES (2u * sizeof(uint32_t))

/* Per account slot: record, chain link, aux line (hash and lists), balances list, mark. */
#define BL_BUDGET_ACCOUNT_BYTES                                                               \
    (sizeof(bl_account_t) + sizeof(uint32_t) + sizeof(bl_account_aux_t) + sizeof(bl_list_t) + \
     sizeof(uint64_t))
_Static_assert(BL_BUDGET_ACCOUNT_BYTES == 220, "ballast start --help states 220 bytes per account");

static uint64_t bl_budget_transfer_bytes(const bl_engine_t *e) {
    uint64_t bytes = sizeof(uint32_t) + sizeof(uint16_t) + 1; /* chain link, fingerprint, state */
    if (!e->config.transfers_in_file) bytes += sizeof(bl_transfer_t);
    if (!e->config.indexes_off) bytes += BL_BUDGET_LIST_BYTES + BL_BUDGET_KEY_BYTES;
    return bytes;
}

void bl_engine_budget_plan(const bl_engine_t *e, uint64_t bytes, bl_engine_budget_t *budget) {
    *budget = (bl_engine_budget_t){.bytes = bytes};
    for (uint32_t p = 0; p < e->config.partitions; p++)
        budget->indexes_bytes +=
            (e->partitions[p].accounts.mask + 1 + e->partitions[p].transfers.mask + 1) *
            sizeof(uint64_t);
    uint64_t left = bytes;
    budget->indexes_fit = budget->indexes_bytes <= left;
    if (budget->indexes_fit) left -= budget->indexes_bytes;
    if (e->config.transfers_in_file) {
        uint64_t hot = e->store.hot_records < e->config.transfers_max ? e->store.hot_records
                                                                      : e->config.transfers_max;
        budget->hot_bytes = hot * sizeof(bl_transfer_t);
        left -= budget->hot_bytes < left ? budget->hot_bytes : left;
    }
    budget->account_bytes = BL_BUDGET_ACCOUNT_BYTES;
    budget->accounts = left / budget->account_bytes;
    if (budget->accounts > e->config.accounts_max) budget->accounts = e->config.accounts_max;
    left -= budget->accounts * budget->account_bytes;
    budget->transfer_bytes = bl_budget_transfer_bytes(e);
    budget->transfers = left / budget->transfer_bytes;
    if (budget->transfers > e->config.transfers_max) budget->transfers = e->config.transfers_max;
    budget->planned_bytes = (budget->indexes_fit ? budget->indexes_bytes : 0) +
                            budget->accounts * budget->account_bytes +
                            budget->transfers * budget->transfer_bytes;
}

/* Commits the first `bytes` of a table of `size` bytes (rounded up to a page, at most the
 * whole): 0 or -errno. */
static int bl_budget_commit(const void *base, uint64_t bytes, uint64_t size, uint64_t *committed) {
    static uint64_t page;
    if (page == 0) page = (uint64_t)sysconf(_SC_PAGESIZE);
    bytes = (bytes + page - 1) & ~(page - 1);
    if (bytes > size) bytes = size;
    if (base == NULL || bytes == 0) return 0;
    if (madvise((void *)base, bytes, MADV_POPULATE_WRITE) != 0) return -errno;
    *committed += bytes;
    return 0;
}

int bl_engine_budget_commit(bl_engine_t *e, bl_engine_budget_t *budget) {
    const bl_engine_config_t *c = &e->config;
    uint64_t a = budget->accounts, t = budget->transfers, *done = &budget->committed_bytes;
    *done = 0;
    int rc = 0;
    for (uint32_t p = 0; p < c->partitions && rc == 0 && budget->indexes_fit; p++) {
        const bl_index_t *indexes[] = {&e->partitions[p].accounts, &e->partitions[p].transfers};
        for (size_t i = 0; i < BL_ARRAY_LEN(indexes) && rc == 0; i++) {
            uint64_t size = (indexes[i]->mask + 1) * sizeof(uint64_t);
            rc = bl_budget_commit(indexes[i]->buckets, size, size, done);
        }
    }
    const struct {
        const void *base;
        uint64_t bytes, size;
    } tables[] = {
        {e->accounts, a * sizeof(bl_account_t), c->accounts_max * sizeof(bl_account_t)},
        {e->accounts_records.next, a * sizeof(uint32_t), c->accounts_max * sizeof(uint32_t)},
        {e->account_aux, a * sizeof(bl_account_aux_t), c->accounts_max * sizeof(bl_account_aux_t)},
        {e->account_balances, a * sizeof(bl_list_t), c->accounts_max * sizeof(bl_list_t)},
        {e->account_mark, a * sizeof(uint64_t), c->accounts_max * sizeof(uint64_t)},
        {c->transfers_in_file ? NULL : e->transfers, t * sizeof(bl_transfer_t),
         c->transfers_max * sizeof(bl_transfer_t)},
        {e->transfers_records.next, t * sizeof(uint32_t), c->transfers_max * sizeof(uint32_t)},
        {e->transfers_records.fingerprints, t * sizeof(uint16_t),
         c->transfers_max * sizeof(uint16_t)},
        {e->transfer_state, t, c->transfers_max},
        {c->indexes_off ? NULL : e->pools[BL_POOL_RUNS].base, t * BL_BUDGET_LIST_BYTES,
         e->pools[BL_POOL_RUNS].bytes},
        {c->indexes_off ? NULL : e->pools[BL_POOL_SLOTS].base, t * BL_BUDGET_KEY_BYTES,
         e->pools[BL_POOL_SLOTS].bytes},
    };
    for (size_t i = 0; i < BL_ARRAY_LEN(tables) && rc == 0; i++)
        rc = bl_budget_commit(tables[i].base, tables[i].bytes, tables[i].size, done);
    return rc;
}
