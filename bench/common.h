/*
 * Helpers shared by the benchmarks: the monotonic clock, sorting samples for percentiles,
 * the process's resident memory, a seeded random generator, and generators of accounts and
 * transfers (uniform or hot pairs).
 */
#ifndef BALLAST_BENCH_COMMON_H
#define BALLAST_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ballast/protocol.h"

static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int bench_u64_compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-th quantile (0..1) of `n` sorted samples. */
static inline uint64_t bench_percentile(const uint64_t *sorted, uint32_t n, double p) {
    return sorted[(uint32_t)(p * (n - 1) + 0.5)];
}

static inline uint64_t bench_resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL) return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* splitmix64: small and fast; a seed reproduces the sequence. */
static inline uint64_t bench_rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A share 0..1 as a threshold for bench_rng_next: `bench_rng_next(s) < threshold` holds with
 * that probability (1 maps to UINT64_MAX: a 2^-64 miss). */
static inline uint64_t bench_fraction_threshold(double fraction) {
    if (fraction <= 0) return 0;
    if (fraction >= 1) return UINT64_MAX;
    return (uint64_t)(fraction * 18446744073709551615.0);
}

/* The debit and credit accounts (ids 1..accounts, accounts >= 2, always different) of one
 * transfer: uniform pairs, or, with probability hot_threshold / 2^64, account 1 on one side
 * (either side equally) and a uniform other side. Draws nothing for the hot choice when
 * hot_threshold is 0, so a uniform run's sequence does not depend on it. */
static inline void bench_pair_draw(uint64_t *rng, uint64_t accounts, uint64_t hot_threshold,
                                   uint64_t *debit, uint64_t *credit) {
    uint64_t dr = bench_rng_next(rng) % accounts + 1;
    uint64_t cr = bench_rng_next(rng) % (accounts - 1) + 1;
    if (cr >= dr) cr++;
    if (hot_threshold != 0 && bench_rng_next(rng) < hot_threshold) {
        uint64_t other = bench_rng_next(rng) % (accounts - 1) + 2;
        if (bench_rng_next(rng) & 1) {
            dr = 1, cr = other;
        } else {
            dr = other, cr = 1;
        }
    }
    *debit = dr;
    *credit = cr;
}

/* `n` plain accounts with ids first_id..first_id + n - 1, ledger 1, code 1: what the
 * benchmarks create before they move money. */
static inline void bench_accounts_fill(bl_account_t *accounts, uint64_t first_id, uint32_t n) {
    memset(accounts, 0, (size_t)n * sizeof(*accounts));
    for (uint32_t i = 0; i < n; i++) {
        accounts[i].id = first_id + i;
        accounts[i].ledger = 1;
        accounts[i].code = 1;
    }
}

/* A plain transfer that always succeeds between `accounts` accounts with ids 1..accounts
 * (ledger 1, code 1): a deterministic function of its id, so a rerun sends the same. */
static inline void bench_transfer_make(bl_transfer_t *t, uint64_t id, uint64_t accounts) {
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->debit_account_id = 1 + id % accounts;
    t->credit_account_id = 1 + (id * 7 + 1) % accounts;
    if (t->credit_account_id == t->debit_account_id) t->credit_account_id = 1 + (id + 1) % accounts;
    t->amount = 1 + id % 1000;
    t->ledger = 1;
    t->code = 1;
}

#endif /* BALLAST_BENCH_COMMON_H */
