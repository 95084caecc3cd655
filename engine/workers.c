/*
 * Partition threads.
 *
 * With config.partition_threads, each partition runs every parallel step of its own (its share of
 * route, both gather rounds, its share of the merge, and apply) on a thread of its own.
 * Partition 0's thread is the driver (the thread calling bl_engine_block_execute), which also runs
 * decide between the steps; partitions 1..N-1 get threads the engine starts. So N partitions keep
 * N threads busy, not N + 1 (a driver that only waited would share a core with a partition), and
 * N = 1 hands nothing over. Steps are handed over through two SPSC rings per started thread
 * (engine/ring.h): the driver pushes a step, runs partition 0's share, then waits for each thread
 * to push it back. The ring's release and acquire order everything the driver wrote before the
 * step (the block's items, facts, the overlay after decide) before the partition reads it, and
 * everything the partition wrote before the driver's next read. No lock, no allocation per block;
 * idle threads spin briefly, then park on the ring's futex and are woken only when parked.
 *
 * Inside a block the gap between steps is the driver's serial work (decide), bounded by the
 * block's size, and waking a parked thread costs tens to hundreds of microseconds (more than a
 * step of a small block takes). So while the driver runs a block, threads waiting for its next
 * step (and the driver waiting for them) keep spinning; at the block's start the driver nudges
 * parked threads awake, so their wake-up overlaps the driver's own share of the first step.
 * Between blocks they spin briefly and park as before. This holds only where every partition has a
 * CPU of its own (N <= the CPUs the process may use): oversubscribed threads never spin past the
 * brief spin.
 *
 * The steps of a block run in lockstep: route | gather | (gather second) | merge | decide | apply,
 * each a barrier. Decide of block k cannot overlap gather of block k + 1, because gather copies
 * balances and pending states that apply of block k writes; nor can a partition's apply of block k
 * overlap another partition's gather of block k + 1, since a transfer's gather reads the pending
 * transfers and accounts any partition may have just changed.
 *
 * Reads (lookups, filter reads, images) and the steps of small blocks run on the driver between
 * hand-overs, while every partition thread waits on its ring: the ring hand-over orders them after
 * the last step a partition thread ran and before its next.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/internal.h"

enum { BL_STEP_STOP = 0 }; /* the other steps are bl_step_t values */

static void bl_step_run(bl_engine_t *e, uint32_t step, uint32_t p) {
    bl_block_t *block = &e->block;
    uint32_t n = e->config.partitions;
    /* Route and merge work on partition p's range of the items. */
    uint32_t begin = (uint32_t)((uint64_t)block->items_count * p / n);
    uint32_t end = (uint32_t)((uint64_t)block->items_count * (p + 1) / n);
    switch (step) {
    case BL_STEP_ROUTE:
        bl_route(e, p, begin, end);
        break;
    case BL_STEP_MERGE:
        bl_gather_merge(e, begin, end);
        break;
    case BL_STEP_GATHER_FIRST:
        bl_gather_first(e, p);
        break;
    case BL_STEP_GATHER_SECOND:
        bl_gather_second(e, p);
        break;
    case BL_STEP_APPLY:
        bl_apply(e, p);
        break;
    case BL_STEP_PREFAULT:
        bl_prefault_run(e);
        break;
    default:
        BL_ASSERT(!"unknown step");
    }
}

static void *bl_worker_main(void *arg) {
    bl_worker_t *w = arg;
    for (;;) {
        uint64_t step;
        bl_ring_pop_wait(&w->commands, &step, 1);
        if (step == BL_STEP_STOP) break;
        bl_step_run(w->engine, (uint32_t)step, w->partition);
        bl_ring_push_all(&w->done, &step, 1);
    }
    return NULL;
}

/* Decide leaves the last partition thread idle: it commits the memory apply is about to
 * write into (prefault.c), then takes apply's step from its ring, queued behind. */
void bl_workers_prefault_begin(bl_engine_t *e) {
    uint32_t n = e->config.partitions;
    if (e->workers == NULL || n < 2 || e->prefault.off ||
        e->block.items_count < e->config.threads_items_min)
        return;
    bl_prefault_plan(e);
    uint64_t item = BL_STEP_PREFAULT;
    bl_ring_push_all(&e->workers[n - 1].commands, &item, 1);
    e->prefault.running = true;
}

/* Takes the prefault step's return from the last thread, once it is back. */
static void bl_workers_prefault_join(bl_engine_t *e) {
    if (!e->prefault.running) return;
    uint64_t done;
    bl_ring_pop_wait(&e->workers[e->config.partitions - 1].done, &done, 1);
    BL_ASSERT(done == BL_STEP_PREFAULT);
    e->prefault.running = false;
}

void bl_engine_step(bl_engine_t *e, bl_step_t step) {
    uint32_t n = e->config.partitions;
    /* A small block costs less than waking the partition threads (tens of microseconds when
     * they are parked): the driver runs it itself, while every partition thread waits on its
     * ring, so each partition's state is still touched by one thread at a time, in an order
     * the rings' release and acquire make visible. */
    if (e->workers == NULL || e->block.items_count < e->config.threads_items_min) {
        BL_ASSERT(!e->prefault.running); /* it starts only where the steps go to threads */
        for (uint32_t p = 0; p < n; p++) bl_step_run(e, step, p);
        return;
    }
    uint64_t item = step;
    for (uint32_t p = 1; p < n; p++) bl_ring_push_all(&e->workers[p].commands, &item, 1);
    bl_step_run(e, step, 0);
    bl_workers_prefault_join(e); /* the last thread ran it before this step */
    for (uint32_t p = 1; p < n; p++) {
        uint64_t done;
        bl_ring_pop_wait(&e->workers[p].done, &done, 1);
        BL_ASSERT(done == item);
    }
}

/* Worker p on CPU p modulo the CPUs this process may use (the first is left to the driver,
 * partition 0's thread, which stays the caller's and is not pinned). */
static void bl_worker_pin(bl_worker_t *w) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
    int count = CPU_COUNT(&allowed);
    if (count <= 1) return;
    int want = (int)(w->partition % (uint32_t)count), seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        if (seen++ == want) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpu, &one);
            (void)pthread_setaffinity_np(w->thread, sizeof(one), &one); /* best effort */
            return;
        }
    }
}

/* The CPUs this process may run on (1 if unknown). */
static int bl_workers_cpus(void) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return 1;
    return CPU_COUNT(&allowed);
}

int bl_workers_start(bl_engine_t *e) {
    uint32_t n = e->config.partitions;
    e->workers = calloc(n, sizeof(bl_worker_t));
    if (e->workers == NULL) return -ENOMEM;
    atomic_init(&e->in_block, 0);
    const atomic_uint *busy = n <= (uint32_t)bl_workers_cpus() ? &e->in_block : NULL;
    for (uint32_t p = 1; p < n; p++) {
        bl_worker_t *w = &e->workers[p];
        w->engine = e;
        w->partition = p;
        if (bl_ring_init(&w->commands, 4, 0) != 0 || bl_ring_init(&w->done, 4, 0) != 0)
            return -ENOMEM;
        w->commands.busy = w->done.busy = busy;
        if (pthread_create(&w->thread, NULL, bl_worker_main, w) != 0) return -EAGAIN;
        w->started = true;
        if (e->config.pin_cpus) bl_worker_pin(w);
    }
    return 0;
}

void bl_workers_block_begin(bl_engine_t *e, uint64_t events) {
    if (e->workers == NULL || events < e->config.threads_items_min) return;
    atomic_store_explicit(&e->in_block, 1, memory_order_relaxed);
    for (uint32_t p = 1; p < e->config.partitions; p++) bl_ring_nudge(&e->workers[p].commands);
}

void bl_workers_block_end(bl_engine_t *e) {
    if (e->workers == NULL) return;
    atomic_store_explicit(&e->in_block, 0, memory_order_relaxed);
}

void bl_workers_stop(bl_engine_t *e) {
    if (e->workers == NULL) return;
    for (uint32_t p = 0; p < e->config.partitions; p++) {
        bl_worker_t *w = &e->workers[p];
        if (w->started) {
            uint64_t stop = BL_STEP_STOP;
            bl_ring_push_all(&w->commands, &stop, 1);
            pthread_join(w->thread, NULL);
        }
        if (w->commands.slots) bl_ring_deinit(&w->commands);
        if (w->done.slots) bl_ring_deinit(&w->done);
    }
    free(e->workers);
    e->workers = NULL;
}
