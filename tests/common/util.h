/*
 * Small helpers shared by the test programs: a seeded random generator (splitmix64; every
 * randomized test prints its seed and takes BL_SEED to rerun one), and scratch directories.
 * Include after <cmocka.h>; every function is static inline, for one test program each.
 */
#ifndef BALLAST_TESTS_COMMON_UTIL_H
#define BALLAST_TESTS_COMMON_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t g_seed, g_rng;

static inline uint64_t rng(void) { /* splitmix64 */
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Seeds g_rng from env BL_SEED, or the clock, and prints how to rerun with that seed. */
static inline void seed_init(const char *program) {
    const char *seed = getenv("BL_SEED");
    g_seed = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL);
    g_rng = g_seed;
    printf("%s: seed %llu (rerun: BL_SEED=%llu ./%s)\n", program, (unsigned long long)g_seed,
           (unsigned long long)g_seed, program);
}

/* A new empty directory under /tmp; `dir` has room for 64 bytes. */
static inline void dir_make(char *dir, const char *prefix) {
    snprintf(dir, 64, "/tmp/%s_XXXXXX", prefix);
    assert_non_null(mkdtemp(dir));
}

static inline void dir_remove(const char *dir) {
    char command[128];
    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    assert_int_equal(system(command), 0);
}

#endif /* BALLAST_TESTS_COMMON_UTIL_H */
