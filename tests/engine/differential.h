/*
 * The differential test's run, implemented in test_differential.c (the runner) and shared with
 * the filter reads (differential_filters.c): one phase's model, engines, generator, block in
 * flight and replies, where the run is, and the printing of records and of the rerun line, so
 * that a mismatch in a filter read reads like one in a create or a lookup.
 */
#ifndef BALLAST_TESTS_ENGINE_DIFFERENTIAL_H
#define BALLAST_TESTS_ENGINE_DIFFERENTIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ballast/protocol.h"
#include "engine/engine.h"
#include "tests/engine/differential_gen.h"
#include "tests/model/model.h"

#define DIFF_EVENTS_FULL_COVERAGE 50000ull /* from here on, every result code must happen */
#define DIFF_ENGINES_COUNT 4u

/* The main phase's events (BL_EVENTS), and where the run is, for the messages of a mismatch or
 * a crash. */
extern uint64_t g_events_main;
extern const char *g_phase;

/* A block whose first `expiries` timestamps went to expiries. */
typedef struct diff_expiry_block {
    uint64_t timestamp;
    uint64_t expiries;
} diff_expiry_block_t;

/* Executor 0 is the model; 1..DIFF_ENGINES_COUNT are the engines. */
#define DIFF_EXECUTORS (1u + DIFF_ENGINES_COUNT)

typedef struct diff_run {
    const char *phase;
    bl_model_t *model;
    bl_engine_t *engines[DIFF_ENGINES_COUNT];
    char store_dir[64];                /* the store engines' files */
    int store_fds[DIFF_ENGINES_COUNT]; /* -1: an engine in memory */
    diff_gen_t gen;
    diff_block_t block;
    bl_request_t requests[DIFF_EXECUTORS][DIFF_BLOCK_REQUESTS_MAX];
    bl_event_result_t *results[DIFF_EXECUTORS][DIFF_BLOCK_REQUESTS_MAX];
    uint32_t *codes[DIFF_EXECUTORS]; /* one request's results, one code per event */
    bl_u128_t *ids;                  /* lookup scratch */
    bl_account_t *accounts_out[DIFF_EXECUTORS];
    bl_transfer_t *transfers_out[DIFF_EXECUTORS];
    uint32_t block_events_max;   /* the engines' config; blocks stay within it */
    uint64_t time_step_override; /* when not 0: the next block's time step */
    uint64_t timestamp_override; /* when not 0: the next block's T (past the last one) */
    bl_transfer_t *oversized;    /* BL_BATCH_EVENTS_MAX + 1 zeroed transfers */
    uint64_t events_done;
    uint64_t events_at_full_check;
    uint64_t blocks_done;
    uint64_t timestamp_prev; /* the previous block's T */

    /* Filter reads: replies (BL_FILTER_LIMIT_MAX records of 128 bytes each), the model's
     * samples that filters are drawn from, a random stream of their own (filters must not
     * change the workload), and the blocks that expired something, to tell balance entries
     * made by an expiry. */
    uint8_t *reads_out[DIFF_EXECUTORS];
    bl_transfer_t *sample_transfers;
    bl_account_balance_t *sample_balances;
    uint8_t *walk_all;
    diff_rng_t filter_rng;
    uint64_t events_at_filter_check;
    uint32_t walks_done; /* walks take the reads in turn */
    diff_expiry_block_t *expiry_blocks;
    uint64_t expiry_blocks_count;
    uint64_t expiry_blocks_capacity;
} diff_run_t;

#define DIFF_RECORD_SIZE 128u /* Account, Transfer and AccountBalance alike */
_Static_assert(sizeof(bl_account_t) == DIFF_RECORD_SIZE &&
                   sizeof(bl_transfer_t) == DIFF_RECORD_SIZE &&
                   sizeof(bl_account_balance_t) == DIFF_RECORD_SIZE,
               "every filter read returns 128-byte records");
#define DIFF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void diff_hex(bl_u128_t v, char out[35]);
void diff_account_print(const char *label, const bl_account_t *a);
void diff_transfer_print(const char *label, const bl_transfer_t *t);
void diff_rerun_print(void);
void diff_mismatch_header(const char *what, uint32_t executor);

#endif /* BALLAST_TESTS_ENGINE_DIFFERENTIAL_H */
