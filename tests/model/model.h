/*
 * The reference model: a naive, serial implementation of create_accounts, create_transfers,
 * lookup_accounts, lookup_transfers, the four filter reads (get_account_transfers,
 * get_account_balances, query_accounts, query_transfers), expiry and the state digest, written
 * from PROTOCOL.md alone. It shares no code with the engine (engine/); the differential test
 * runs the same blocks through both and compares every result, record, read and digest.
 *
 * Its contract mirrors engine/engine.h so that a test can swap one for the other: a block is
 * (timestamp T, create requests); the expiries due at T run first, each taking a timestamp,
 * then every event of every request in order, each taking the next timestamp whether it
 * succeeds or not. Clarity beats speed here, but it handles a few hundred thousand events per
 * second, which the tests need.
 *
 * Not thread-safe; one model is driven by one thread.
 */
#ifndef BALLAST_TESTS_MODEL_H
#define BALLAST_TESTS_MODEL_H

#include <stdint.h>

#include "ballast/protocol.h"
#include "engine/engine.h" /* bl_request_t only */

typedef struct bl_model bl_model_t;

/* A model that holds at most `accounts_max` accounts and `transfers_max` transfers (post and
 * void records included). Returns NULL when out of memory. */
bl_model_t *bl_model_create(uint64_t accounts_max, uint64_t transfers_max);
void bl_model_destroy(bl_model_t *m);

/* Executes one block with the contract of bl_engine_block_execute: 0, or -EINVAL with nothing
 * executed when `timestamp` is not past the last timestamp handed out, an op is not a create
 * op, or a count is 0 or above BL_BATCH_EVENTS_MAX. Fills each request's results and
 * results_count (non-ok results only, sorted by index). */
int bl_model_block_execute(bl_model_t *m, uint64_t timestamp, bl_request_t *requests,
                           uint32_t requests_count);

/* Copies the record of each id that exists, in request order, duplicates included, to `out`
 * (room for `n`); returns how many were copied. */
uint32_t bl_model_lookup_accounts(bl_model_t *m, const bl_u128_t *ids, uint32_t n,
                                  bl_account_t *out);
uint32_t bl_model_lookup_transfers(bl_model_t *m, const bl_u128_t *ids, uint32_t n,
                                   bl_transfer_t *out);

/* The filter reads, with the contract of bl_engine_account_transfers and its siblings: each
 * writes at most filter->limit records to `out` (room for BL_FILTER_LIMIT_MAX is enough) and
 * returns how many; an invalid filter (PROTOCOL.md "AccountFilter", "QueryFilter") gives 0.
 * Each walks its whole table (or the balance history) in timestamp order up to the limit. */
uint32_t bl_model_account_transfers(bl_model_t *m, const bl_account_filter_t *filter,
                                    bl_transfer_t *out);
uint32_t bl_model_account_balances(bl_model_t *m, const bl_account_filter_t *filter,
                                   bl_account_balance_t *out);
uint32_t bl_model_query_accounts(bl_model_t *m, const bl_query_filter_t *filter, bl_account_t *out);
uint32_t bl_model_query_transfers(bl_model_t *m, const bl_query_filter_t *filter,
                                  bl_transfer_t *out);

/* PROTOCOL.md "state_digest", recomputed from scratch over the whole state on every call. */
bl_u128_t bl_model_digest(const bl_model_t *m);

uint64_t bl_model_accounts_count(const bl_model_t *m);
uint64_t bl_model_transfers_count(const bl_model_t *m);
/* The last timestamp handed out, or the last block's T when that block handed out none (0
 * before the first block). */
uint64_t bl_model_timestamp_last(const bl_model_t *m);

#endif /* BALLAST_TESTS_MODEL_H */
