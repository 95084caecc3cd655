/*
 * Helpers shared by the benchmarks: the monotonic clock, sorting samples for percentiles,
 * and the process's resident memory.
 */
#ifndef BALLAST_BENCH_COMMON_H
#define BALLAST_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

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

#endif /* BALLAST_BENCH_COMMON_H */
