/*
 * libFuzzer target: arbitrary request bodies through the engine, as the node hands them over
 * (the node adds only the log around it). The input is cut into blocks of create requests;
 * each 128-byte chunk is an account or a transfer exactly as a client could send it, with
 * ids, flags and amounts folded into small ranges now and then so that events meet each
 * other. Two engines, with 1 and with 3 partitions, execute every block: neither may crash or
 * trip an assertion, and their results and digests must be identical.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EVENTS_MAX 64u

static bl_engine_t *engine_new(uint32_t partitions) {
    bl_engine_config_t config = {.partitions = partitions,
                                 .accounts_max = 16,
                                 .transfers_max = 64,
                                 .block_events_max = BL_BATCH_EVENTS_MAX};
    bl_engine_t *engine = NULL;
    if (bl_engine_create(&engine, &config) != 0) abort();
    return engine;
}

/* Folds a field into 0..7 when the fuzzer's byte says so, so ids and accounts collide. */
static void fold_u128(bl_u128_t *v, uint8_t selector) {
    if (selector & 1) *v &= 7;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bl_engine_t *engines[2] = {engine_new(1), engine_new(3)};
    static uint8_t events[EVENTS_MAX * 128] __attribute__((aligned(16)));
    bl_event_result_t results[2][EVENTS_MAX];
    uint64_t timestamp;
    size_t at = 0;
    while (at + 2 <= size) {
        uint8_t op = data[at] & 1 ? BL_OP_CREATE_TRANSFERS : BL_OP_CREATE_ACCOUNTS;
        uint32_t count = 1 + data[at] % EVENTS_MAX;
        /* past everything the last block used, plus up to ~13 s so pending transfers expire */
        timestamp = bl_engine_timestamp_last(engines[0]) + 1 + (uint64_t)data[at + 1] * 50000000ull;
        at += 2;
        if (size - at < 128) break;
        if (count > (size - at) / 128) count = (uint32_t)((size - at) / 128);
        memcpy(events, data + at, (size_t)count * 128);
        at += (size_t)count * 128;
        for (uint32_t i = 0; i < count; i++) {
            uint8_t s = events[i * 128 + 127];
            if (op == BL_OP_CREATE_ACCOUNTS) {
                bl_account_t *a = (bl_account_t *)events + i;
                fold_u128(&a->id, s);
                if (s & 2) a->flags &= 0xF, a->timestamp = 0, a->reserved = 0;
                if (s & 4)
                    a->debits_pending = a->debits_posted = 0, a->credits_pending = 0,
                    a->credits_posted = 0, a->ledger = 1 + (a->ledger & 1), a->code = 1;
            } else {
                bl_transfer_t *t = (bl_transfer_t *)events + i;
                fold_u128(&t->id, s);
                fold_u128(&t->debit_account_id, s >> 1);
                fold_u128(&t->credit_account_id, s >> 2);
                fold_u128(&t->pending_id, s >> 3);
                if (s & 16) t->flags &= 0xF, t->timestamp = 0, t->ledger = 1 + (t->ledger & 1);
                if (s & 32) t->timeout &= 3, t->code = 1;
                if (s & 64) t->amount &= 0xFFFF;
            }
        }
        uint32_t results_count[2];
        for (int k = 0; k < 2; k++) {
            bl_request_t request = {
                .op = op, .count = count, .events = events, .results = results[k]};
            if (bl_engine_block_execute(engines[k], timestamp, &request, 1) != 0) abort();
            results_count[k] = request.results_count;
        }
        if (results_count[0] != results_count[1] ||
            memcmp(results[0], results[1], results_count[0] * sizeof(bl_event_result_t)) != 0)
            abort();
        if (bl_engine_digest(engines[0]) != bl_engine_digest(engines[1])) abort();
    }
    bl_engine_destroy(engines[0]);
    bl_engine_destroy(engines[1]);
    return 0;
}
