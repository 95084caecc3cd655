/*
 * The SPSC ring (see ring.h): batched publication, cached counters, spin-then-park on futexes.
 */
#define _GNU_SOURCE
#include "engine/ring.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"

static uint64_t bl_ring_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void bl_futex_wait(atomic_uint *word, unsigned expected) {
    /* Returns on a wake, on a spurious wake-up, or at once if *word != expected. */
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void bl_futex_wake(atomic_uint *word) {
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int bl_ring_init(bl_ring_t *ring, uint32_t capacity, uint64_t spin_ns) {
    if (capacity < 2 || capacity > (1u << 30) || (capacity & (capacity - 1)) != 0) return -EINVAL;
    memset(ring, 0, sizeof(*ring));
    /* aligned_alloc wants a size that is a multiple of the alignment */
    size_t bytes = ((size_t)capacity * sizeof(uint64_t) + BL_RING_CACHE_LINE - 1) &
                   ~(size_t)(BL_RING_CACHE_LINE - 1);
    ring->slots = aligned_alloc(BL_RING_CACHE_LINE, bytes);
    if (ring->slots == NULL) return -ENOMEM;
    ring->mask = capacity - 1;
    ring->spin_ns = spin_ns ? spin_ns : BL_RING_SPIN_NS_DEFAULT;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    atomic_init(&ring->producer_parked, 0);
    atomic_init(&ring->consumer_parked, 0);
    return 0;
}

void bl_ring_deinit(bl_ring_t *ring) {
    free(ring->slots);
    ring->slots = NULL;
}

/* After publishing, wake the other side if (and only if) it parked. */
static void bl_ring_wake(atomic_uint *parked) {
    atomic_thread_fence(memory_order_seq_cst); /* order our publication before the load */
    if (atomic_load_explicit(parked, memory_order_relaxed)) {
        atomic_store_explicit(parked, 0, memory_order_relaxed);
        bl_futex_wake(parked);
    }
}

uint32_t bl_ring_push(bl_ring_t *ring, const uint64_t *items, uint32_t n) {
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed); /* ours */
    uint64_t capacity = ring->mask + 1;
    if (tail - ring->producer_head_seen + n > capacity)
        ring->producer_head_seen = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t room = capacity - (tail - ring->producer_head_seen);
    uint32_t count = n < room ? n : (uint32_t)room;
    if (count == 0) return 0;
    for (uint32_t i = 0; i < count; i++) ring->slots[(tail + i) & ring->mask] = items[i];
    atomic_store_explicit(&ring->tail, tail + count, memory_order_release);
    bl_ring_wake(&ring->consumer_parked);
    return count;
}

uint32_t bl_ring_pop(bl_ring_t *ring, uint64_t *items, uint32_t max) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed); /* ours */
    if (ring->consumer_tail_seen == head)
        ring->consumer_tail_seen = atomic_load_explicit(&ring->tail, memory_order_acquire);
    uint64_t available = ring->consumer_tail_seen - head;
    uint32_t count = max < available ? max : (uint32_t)available;
    if (count == 0) return 0;
    for (uint32_t i = 0; i < count; i++) items[i] = ring->slots[(head + i) & ring->mask];
    atomic_store_explicit(&ring->head, head + count, memory_order_release);
    bl_ring_wake(&ring->producer_parked);
    return count;
}

static bool bl_ring_busy(const bl_ring_t *ring) {
    return ring->busy != NULL && atomic_load_explicit(ring->busy, memory_order_relaxed) != 0;
}

/* Waits until `ready` says the ring allows progress: spins (for spin_ns, and while the ring's
 * busy word is set), then parks on `parked`. Every wake-up starts a new spin. */
static void bl_ring_wait(bl_ring_t *ring, atomic_uint *parked, bool (*ready)(bl_ring_t *)) {
    uint64_t spin_until = bl_ring_now_ns() + ring->spin_ns;
    while (!ready(ring)) {
        if (bl_ring_busy(ring) || bl_ring_now_ns() < spin_until) {
            __builtin_ia32_pause();
            continue;
        }
        atomic_store_explicit(parked, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in bl_ring_wake */
        if (ready(ring)) {                         /* the other side may not have seen `parked` */
            atomic_store_explicit(parked, 0, memory_order_relaxed);
            return;
        }
        bl_futex_wait(parked, 1);
        atomic_store_explicit(parked, 0, memory_order_relaxed);
        spin_until = bl_ring_now_ns() + ring->spin_ns;
    }
}

void bl_ring_nudge(bl_ring_t *ring) {
    bl_ring_wake(&ring->consumer_parked);
}

static bool bl_ring_has_room(bl_ring_t *ring) {
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    return tail - atomic_load_explicit(&ring->head, memory_order_acquire) <= ring->mask;
}

static bool bl_ring_has_items(bl_ring_t *ring) {
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    return atomic_load_explicit(&ring->tail, memory_order_acquire) != head;
}

void bl_ring_push_all(bl_ring_t *ring, const uint64_t *items, uint32_t n) {
    while (n > 0) {
        uint32_t pushed = bl_ring_push(ring, items, n);
        items += pushed;
        n -= pushed;
        if (n > 0) bl_ring_wait(ring, &ring->producer_parked, bl_ring_has_room);
    }
}

uint32_t bl_ring_pop_wait(bl_ring_t *ring, uint64_t *items, uint32_t max) {
    BL_ASSERT(max > 0);
    for (;;) {
        uint32_t popped = bl_ring_pop(ring, items, max);
        if (popped > 0) return popped;
        bl_ring_wait(ring, &ring->consumer_parked, bl_ring_has_items);
    }
}
