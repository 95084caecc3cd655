/*
 * The differential test's workload, implemented in differential_gen.c: the generator's memory
 * of what it sent, the block it writes, and the seeded random stream. The stream is static
 * inline here because every part of the test draws from it (the workload, the filters and the
 * full checks, each from a stream of its own) and it is the generator's innermost loop.
 */
#ifndef BALLAST_TESTS_ENGINE_DIFFERENTIAL_GEN_H
#define BALLAST_TESTS_ENGINE_DIFFERENTIAL_GEN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ballast/protocol.h"

#define DIFF_BLOCK_REQUESTS_MAX 6u
#define DIFF_RECENT_MAX 4096u       /* ring of recent transfer events, for resends */
#define DIFF_SAVED_REQUESTS_MAX 32u /* ring of recent requests, for whole resends */

/* ------------------------------------------------------------------------------------------ */
/* Random numbers: xoshiro256** seeded by splitmix64, so a seed reproduces a run exactly.     */

typedef struct diff_rng {
    uint64_t s[4];
} diff_rng_t;

static inline uint64_t diff_splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void diff_rng_seed(diff_rng_t *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        rng->s[i] = diff_splitmix(&seed);
    }
}

static inline uint64_t diff_rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t diff_rng_next(diff_rng_t *rng) {
    uint64_t *s = rng->s;
    uint64_t result = diff_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = diff_rotl(s[3], 45);
    return result;
}

/* Uniform enough in [0, n) for n > 0. */
static inline uint64_t diff_rng_below(diff_rng_t *rng, uint64_t n) {
    return diff_rng_next(rng) % n;
}

/* Uniform in [lo, hi]. */
static inline uint64_t diff_rng_range(diff_rng_t *rng, uint64_t lo, uint64_t hi) {
    return lo + diff_rng_below(rng, hi - lo + 1);
}

static inline bool diff_rng_percent(diff_rng_t *rng, uint32_t percent) {
    return diff_rng_below(rng, 100) < percent;
}

static inline bl_u128_t diff_rng_u128(diff_rng_t *rng) {
    return ((bl_u128_t)diff_rng_next(rng) << 64) | diff_rng_next(rng);
}

/* ------------------------------------------------------------------------------------------ */
/* Growable arrays (the test may allocate; the engine may not).                               */

#define DIFF_PUSH(array, count, capacity, value)                       \
    do {                                                               \
        if ((count) == (capacity)) {                                   \
            (capacity) = (capacity) ? (capacity)*2 : 256;              \
            (array) = realloc((array), (capacity) * sizeof(*(array))); \
            assert_non_null(array);                                    \
        }                                                              \
        (array)[(count)++] = (value);                                  \
    } while (0)

/* ------------------------------------------------------------------------------------------ */
/* The generator, and the block it writes.                                                    */

enum { DIFF_POOL_MAIN, DIFF_POOL_OTHER, DIFF_POOL_WHALE, DIFF_POOLS };

typedef struct diff_pool {
    bl_account_t *accounts; /* templates: each account as the generator first sent it */
    uint64_t count;
    uint64_t capacity;
} diff_pool_t;

typedef struct diff_saved_request {
    uint16_t op;
    uint32_t count;
    void *events;
} diff_saved_request_t;

typedef struct diff_gen {
    diff_rng_t rng;
    uint64_t ids_next;
    diff_pool_t pools[DIFF_POOLS];
    uint64_t templates_count;
    bl_u128_t safe[2]; /* two main-ledger accounts, no flags, used only by safe transfers */

    bl_u128_t *transfer_ids; /* every transfer id ever sent, for the full lookups */
    uint64_t transfer_ids_count;
    uint64_t transfer_ids_capacity;

    bl_transfer_t *pendings; /* every pending transfer ever sent, as sent */
    uint64_t pendings_count;
    uint64_t pendings_capacity;

    bl_transfer_t *pendings_created; /* those the model said were created (ok) */
    uint64_t pendings_created_count;
    uint64_t pendings_created_capacity;

    bl_transfer_t recent[DIFF_RECENT_MAX]; /* the newest transfer events, as sent */
    uint64_t recent_count;

    diff_saved_request_t saved[DIFF_SAVED_REQUESTS_MAX];
    uint64_t saved_count;
} diff_gen_t;

typedef struct diff_block {
    uint64_t timestamp;
    uint32_t requests_count;
    uint16_t ops[DIFF_BLOCK_REQUESTS_MAX];
    uint32_t counts[DIFF_BLOCK_REQUESTS_MAX];
    void *events[DIFF_BLOCK_REQUESTS_MAX]; /* each room for BL_BATCH_EVENTS_MAX records */
} diff_block_t;

void diff_gen_init(diff_gen_t *g, uint64_t seed);
void diff_gen_free(diff_gen_t *g);

/* The blocks of a phase: the first (the starting population), ordinary ones within
 * `block_events_max` events, and the storm's, which returns the step from the last T to its own. */
void diff_block_first(diff_gen_t *g, diff_block_t *b);
void diff_block_generate(diff_gen_t *g, diff_block_t *b, uint32_t block_events_max);
uint64_t diff_block_storm(diff_gen_t *g, diff_block_t *b, uint32_t block_events_max);

/* For the blocks the runner writes itself, and for the model's results fed back. */
bl_transfer_t diff_transfer_safe(diff_gen_t *g);
void diff_transfers_remember(diff_gen_t *g, const bl_transfer_t *events, uint32_t count);
void diff_gen_learn(diff_gen_t *g, uint16_t op, const void *events, uint32_t count,
                    const uint32_t *codes);
uint64_t diff_time_step(diff_gen_t *g);

#endif /* BALLAST_TESTS_ENGINE_DIFFERENTIAL_GEN_H */
