/*
 * Prefault: the memory the state grows into, committed ahead of apply by a partition thread
 * while the driver decides.
 *
 * Tables are reserved whole and committed by the kernel on first write (table.c). Left to
 * apply, those first writes stall the partitions on page faults, and two partitions writing
 * the slots of one new huge page at once may each clear a page for it (the loser's is freed).
 * So before decide the driver sets, for each region that grows, how far the next blocks may
 * write (its frontier and a margin), and the last partition thread, idle while the driver
 * decides, asks the kernel to commit that much (MADV_POPULATE_WRITE, in whole huge pages),
 * then takes its apply step, queued behind; its share of apply no longer faults, which evens
 * out the driver's decide.
 *
 * Committing leaves contents as they are: every page past a region's frontier is still zero,
 * and nothing reads or writes it before apply, after the step. With one partition, or without
 * partition threads, nothing is prefaulted: there is no idle thread to do it on, and apply
 * faults pages in as before. A kernel without MADV_POPULATE_WRITE (before 5.14) makes the
 * first call fail, and prefaulting stops.
 *
 * Regions: per account slot the record, its chain link, aux line and mark; per transfer slot
 * the record, link and pending state; and the regions handed out from a bump offset (the
 * pools, each key store's keys and their links), given a margin of an eighth of what they hold
 * (at least 4 MiB): lists grow by doubling, so one block can take that much at once. A key
 * store's direct links, indexed by object slot, are written only for the few objects that
 * hold a value alone, so they are left to fault in. bl_engine_precommit commits these regions
 * whole at once (for benchmarks: that is their whole reservation).
 */
#include <errno.h>
#include <sys/mman.h>

#include "engine/internal.h"

#define BL_PREFAULT_GRAIN (2ull * 1024 * 1024) /* a huge page */
#define BL_PREFAULT_BUMP_MIN (4ull * 1024 * 1024)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static void bl_prefault_add(bl_engine_t *e, void *base, uint64_t bytes, uint8_t by, uint32_t unit,
                            const _Atomic uint64_t *used) {
    BL_ASSERT(e->prefault.count < BL_PREFAULT_REGIONS);
    e->prefault.regions[e->prefault.count++] =
        (bl_prefault_region_t){.base = base, .bytes = bytes, .by = by, .unit = unit, .used = used};
}

void bl_prefault_init(bl_engine_t *e) {
    const bl_engine_config_t *c = &e->config;
    e->prefault.count = 0;
    e->prefault.off = false;
    bl_prefault_add(e, e->accounts, c->accounts_max * sizeof(bl_account_t), BL_PREFAULT_ACCOUNTS,
                    sizeof(bl_account_t), NULL);
    bl_prefault_add(e, e->accounts_records.next, c->accounts_max * sizeof(uint32_t),
                    BL_PREFAULT_ACCOUNTS, sizeof(uint32_t), NULL);
    bl_prefault_add(e, e->account_aux, c->accounts_max * sizeof(bl_account_aux_t),
                    BL_PREFAULT_ACCOUNTS, sizeof(bl_account_aux_t), NULL);
    bl_prefault_add(e, e->account_mark, c->accounts_max * sizeof(uint64_t), BL_PREFAULT_ACCOUNTS,
                    sizeof(uint64_t), NULL);
    bl_prefault_add(e, e->transfers, c->transfers_max * sizeof(bl_transfer_t),
                    BL_PREFAULT_TRANSFERS, sizeof(bl_transfer_t), NULL);
    e->prefault.regions[e->prefault.count - 1].frontier = c->transfers_in_file;
    bl_prefault_add(e, e->transfers_records.next, c->transfers_max * sizeof(uint32_t),
                    BL_PREFAULT_TRANSFERS, sizeof(uint32_t), NULL);
    bl_prefault_add(e, e->transfer_state, c->transfers_max, BL_PREFAULT_TRANSFERS, 1, NULL);
    for (uint32_t i = 0; i < BL_POOLS; i++) {
        bl_pool_t *pool = &e->pools[i];
        bl_prefault_add(e, pool->base, pool->bytes, BL_PREFAULT_BUMP, 1, &pool->used);
    }
    if (c->indexes_off) return;
    for (uint32_t kind = 0; kind < BL_KEYS_KINDS; kind++) {
        for (uint32_t f = 0; f < BL_KEY_FIELDS; f++) {
            bl_key_store_t *store = &e->key_stores[kind][f];
            bl_prefault_add(e, store->keys, store->capacity * sizeof(bl_key_t), BL_PREFAULT_BUMP,
                            sizeof(bl_key_t), &store->used);
            bl_prefault_add(e, store->next, store->capacity * sizeof(uint32_t), BL_PREFAULT_BUMP,
                            sizeof(uint32_t), &store->used);
        }
    }
}

/* Commits region r up to `to` bytes from its base: 0, or -errno (nothing is marked done).
 * done is 0 or a multiple of the grain (or the end), so the start is page aligned. */
static int bl_prefault_commit(bl_prefault_region_t *r, uint64_t to) {
    if (to <= r->done) return 0;
    if (madvise((uint8_t *)r->base + r->done, to - r->done, MADV_POPULATE_WRITE) != 0)
        return -errno;
    r->done = to;
    return 0;
}

int bl_prefault_all(bl_engine_t *e) {
    for (uint32_t i = 0; i < e->prefault.count; i++) {
        if (e->prefault.regions[i].frontier) continue;
        int rc = bl_prefault_commit(&e->prefault.regions[i], e->prefault.regions[i].bytes);
        if (rc != 0) return rc;
    }
    return 0;
}

void bl_prefault_plan(bl_engine_t *e) {
    const uint64_t ahead = 2ull * e->config.block_events_max;
    for (uint32_t i = 0; i < e->prefault.count; i++) {
        bl_prefault_region_t *r = &e->prefault.regions[i];
        uint64_t want;
        switch (r->by) {
        case BL_PREFAULT_ACCOUNTS:
            want = (e->accounts_count + ahead) * r->unit;
            break;
        case BL_PREFAULT_TRANSFERS:
            want = (e->transfers_count + ahead) * r->unit;
            break;
        default: {
            uint64_t used = atomic_load_explicit(r->used, memory_order_relaxed) * r->unit;
            uint64_t margin = used / 8 > BL_PREFAULT_BUMP_MIN ? used / 8 : BL_PREFAULT_BUMP_MIN;
            want = used + margin;
        }
        }
        want = (want + BL_PREFAULT_GRAIN - 1) & ~(BL_PREFAULT_GRAIN - 1);
        r->want = want < r->bytes ? want : r->bytes;
        if (r->frontier) { /* nothing below the records: it is written, or cold */
            uint64_t from = (e->transfers_count * r->unit) & ~(BL_PREFAULT_GRAIN - 1);
            if (from > r->done) r->done = from;
        }
    }
}

void bl_prefault_run(bl_engine_t *e) {
    for (uint32_t i = 0; i < e->prefault.count && !e->prefault.off; i++) {
        bl_prefault_region_t *r = &e->prefault.regions[i];
        if (bl_prefault_commit(r, r->want) != 0)
            e->prefault.off = true; /* unsupported, or out of memory: apply faults pages in */
    }
}
