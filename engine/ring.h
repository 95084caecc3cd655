/*
 * A bounded single-producer single-consumer ring of 64-bit items, for handing blocks and
 * their facts between the engine's threads without a lock.
 *
 * Layout: head (consumer) and tail (producer) are free-running 64-bit counters on cache lines
 * of their own; the slot of counter c is c & mask. Each side keeps a private copy of the
 * other side's counter and re-reads the shared one only when its copy says the ring is full
 * (producer) or empty (consumer), so in steady state the two cores do not bounce each other's
 * lines. Publication is batched: a push of n items writes the n slots, then stores tail once
 * (release); a pop reads what tail allows (acquire), then stores head once (release).
 *
 * Waiting: a side that cannot proceed spins for a bounded time, then parks on a futex. To park,
 * it sets its `parked` word and re-checks the ring; the other side, after publishing, reads
 * the word and wakes it only if it is set. Both the store-then-load on each side are
 * sequentially consistent, so one of them always sees the other: no wake-up is lost, and no
 * system call is made while both sides are busy. A ring may name a `busy` word: while it is
 * non-zero, a waiting side keeps spinning past spin_ns (the engine sets it for the length of
 * a block, whose next step is due within the block, and only where every partition thread has
 * a CPU of its own). bl_ring_nudge wakes a parked consumer with nothing to pop, so that it is
 * spinning, not parked, when the item comes.
 *
 * Thread ownership: bl_ring_push* from one producer thread, bl_ring_pop* from one consumer
 * thread, for the ring's whole life.
 */
#ifndef BALLAST_ENGINE_RING_H
#define BALLAST_ENGINE_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define BL_RING_CACHE_LINE 64
#define BL_RING_SPIN_NS_DEFAULT (20ull * 1000)

typedef struct bl_ring {
    _Alignas(BL_RING_CACHE_LINE) atomic_uint_fast64_t tail; /* written by the producer */
    uint64_t producer_head_seen;                            /* producer's copy of head */
    atomic_uint producer_parked;
    _Alignas(BL_RING_CACHE_LINE) atomic_uint_fast64_t head; /* written by the consumer */
    uint64_t consumer_tail_seen;                            /* consumer's copy of tail */
    atomic_uint consumer_parked;
    _Alignas(BL_RING_CACHE_LINE) uint64_t *slots;
    uint64_t mask;
    uint64_t spin_ns;
    const atomic_uint *busy; /* NULL, or: keep spinning while non-zero */
} bl_ring_t;

/* capacity: a power of two, 2..2^30. spin_ns: how long a waiting side spins before parking
 * (0: the default). 0 or -EINVAL / -ENOMEM. */
int bl_ring_init(bl_ring_t *ring, uint32_t capacity, uint64_t spin_ns);
void bl_ring_deinit(bl_ring_t *ring);

/* Producer: pushes up to n items, as many as fit; returns how many. Never blocks. */
uint32_t bl_ring_push(bl_ring_t *ring, const uint64_t *items, uint32_t n);
/* Producer: pushes all n items, waiting (spin, then park) while the ring is full. */
void bl_ring_push_all(bl_ring_t *ring, const uint64_t *items, uint32_t n);

/* Consumer: pops up to max items in order; returns how many (0 when empty). Never blocks. */
uint32_t bl_ring_pop(bl_ring_t *ring, uint64_t *items, uint32_t max);
/* Consumer: pops at least one item, waiting (spin, then park) while the ring is empty. */
uint32_t bl_ring_pop_wait(bl_ring_t *ring, uint64_t *items, uint32_t max);

/* Producer: wakes the consumer if it is parked (it then spins for an item a while). */
void bl_ring_nudge(bl_ring_t *ring);

#endif /* BALLAST_ENGINE_RING_H */
