/*
 * The differential test's filter reads, implemented in differential_filters.c: a round of them,
 * which the runner calls after some blocks, and their guard, the last test of the run.
 */
#ifndef BALLAST_TESTS_ENGINE_DIFFERENTIAL_FILTERS_H
#define BALLAST_TESTS_ENGINE_DIFFERENTIAL_FILTERS_H

#include <stdint.h>

#include "tests/engine/differential.h"

enum {
    DIFF_READ_ACCOUNT_TRANSFERS,
    DIFF_READ_ACCOUNT_BALANCES,
    DIFF_READ_QUERY_ACCOUNTS,
    DIFF_READ_QUERY_TRANSFERS,
    DIFF_READS
};

void diff_filters_check(diff_run_t *run, uint32_t accounts, uint32_t per_read, uint32_t walks);
void test_differential_filters_coverage(void **state);

#endif /* BALLAST_TESTS_ENGINE_DIFFERENTIAL_FILTERS_H */
