/*
 * Randomized differential test: the engine against the reference model (tests/model/), and
 * engines of different partition counts against each other.
 *
 * A seeded generator writes blocks of create requests the way a hostile but plausible client
 * population would: mostly valid traffic over a small pool of known ids (so exists, not found
 * and lookups of real records all happen often), hot accounts, accounts with balance limits,
 * two-phase transfers posted, voided, posted twice or after they expired, linked chains that
 * succeed, fail in the middle, hold exists or stay open, resent events and requests (unchanged
 * and with one field changed), every kind of invalid field, amounts near 2^128 - 1 in a ledger
 * of their own, and block timestamps near 2^64 so that deadlines overflow. Block timestamps jump
 * by up to many seconds, so pending transfers with timeouts of a few seconds expire, and some
 * blocks are empty and only expire. Edges that random numbers would miss get blocks of their
 * own: a block T exactly at a deadline or 1 ns before it, a deadline of exactly 2^64 - 1, and
 * blocks the engine must refuse (-EINVAL, nothing executed). Phases:
 *   main      large tables, timestamps near 2^64 - 2^61 (BL_EVENTS events);
 *   capacity  64 accounts, 1000 transfers: capacity_exhausted everywhere;
 *   storm     block_events_max = 8192 and blocks full of short pending transfers, then one jump:
 *             far more expiries in one block than block_events_max (the engine's rounds).
 *
 * The same blocks go to the model and to engines with N = 1, 2, 3 and 8 partitions (N = 3 without
 * query indexes and account transfer lists, so its filter reads take the scanning path; N = 2
 * and 8 keep their transfer records in a store file with a hot window of one page, so nearly
 * every read of a record, retries and lookups included, takes the store's checked path). After
 * every block the test compares every request's results, the counts and the last timestamp, the
 * engines' digests, and looks up every id the block named. Every 32 blocks or more (spaced so
 * the cost stays linear in the run) it looks up every id ever used, with duplicates and ids that
 * never existed mixed in, and compares the model's digest, recomputed from scratch. Any
 * difference fails with the seed, the block, the request, the event and both results, and a
 * command line that reruns exactly this case.
 *
 * The filter reads (get_account_transfers, get_account_balances, query_accounts,
 * query_transfers) are compared the same way, byte for byte, after some blocks: every 16 blocks
 * or more a few random filters of each read, at every full check more of them and a walk, at
 * the end of each phase walks of every read. Filters are drawn from the model's state, so that
 * they match: an account that took part in a transfer (mostly one with the history flag), its
 * own transfers' user_data and code, real objects' user_data, ledger and code (the generator
 * repeats user_data_128 values for this; user_data_64 and _32 fall either side of 65536, where
 * the engine's indexes change from tables to hashed keys), ranges whose bounds are real timestamps
 * (exact, one bound, just inside), both sides or one, reversed or not, limits 1..8192 (mostly
 * small). One filter of each read per round is made invalid, by each rule of PROTOCOL.md in turn. A
 * walk pages through a filter's matches to the end (next page at the last timestamp + 1, or - 1
 * when reversed) and checks that the model's pages put together are its reply at once. The
 * model's replies are also checked for order, range and limit. The filters draw on a random
 * stream of their own, so turning a read's comparison on or off (DIFF_COMPARE_*) changes
 * neither the workload nor the filters; a mismatch prints the filter and its check number.
 *
 * The generator is the model's client as well: it learns from the model's results which pending
 * transfers were created, to post and void those more often than ones that never landed.
 *
 * A histogram of the model's result codes guards the generator itself: the last tests fail if
 * the run did not produce every result code, or if the filters never returned more than one
 * record, never hit a limit or the end of a walk, never met a balance entry made by an expiry,
 * or missed a kind of invalid filter, so the test cannot quietly become trivial.
 *
 * The generator is in differential_gen.c and the filter reads in differential_filters.c; this
 * file runs the phases, executes the blocks and makes every other comparison.
 *
 * Environment: BL_SEED (default: from the clock; always printed), BL_EVENTS (events of the main
 * phase, default 200000).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ballast/protocol.h"
#include "engine/engine.h"
#include "tests/engine/differential.h"
#include "tests/engine/differential_filters.h"
#include "tests/engine/differential_gen.h"
#include "tests/model/model.h"

#define DIFF_EVENTS_DEFAULT 200000ull
#define DIFF_BLOCK_EVENTS_MAX (DIFF_BLOCK_REQUESTS_MAX * BL_BATCH_EVENTS_MAX)
#define DIFF_DIGEST_EVERY_BLOCKS 1u      /* engine digests are incremental: cheap */
#define DIFF_FULL_CHECK_EVERY_BLOCKS 32u /* at most: model digest + lookup of every id */
#define DIFF_FILTER_EVERY_BLOCKS 16u     /* at most: a few random filters of each read */

static const uint32_t g_partitions[DIFF_ENGINES_COUNT] = {1, 2, 3, 8};

static uint64_t g_seed;
uint64_t g_events_main = DIFF_EVENTS_DEFAULT;
static const char *g_argv0 = "./build/test_differential";

/* Result histograms over every phase, from the model's results (ok counted too). */
static uint64_t g_account_codes[BL_CREATE_ACCOUNT_CAPACITY_EXHAUSTED + 1];
static uint64_t g_transfer_codes[BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED + 1];
static uint64_t g_expiries;

/* Where the run is, for the messages of a mismatch or a crash. */
const char *g_phase = "none";
static uint64_t g_block_number;
static uint64_t g_block_timestamp;

/* ------------------------------------------------------------------------------------------ */
/* Printing.                                                                                  */

void diff_hex(bl_u128_t v, char out[35]) {
    snprintf(out, 35, "0x%016" PRIx64 "%016" PRIx64, (uint64_t)(v >> 64), (uint64_t)v);
}

static const char *diff_code_name(uint16_t op, uint32_t code) {
    const char *name = op == BL_OP_CREATE_ACCOUNTS ? bl_create_account_result_name(code)
                                                   : bl_create_transfer_result_name(code);
    return name ? name : "?";
}

void diff_account_print(const char *label, const bl_account_t *a) {
    char id[35], dp[35], dpo[35], cp[35], cpo[35], ud[35];
    diff_hex(a->id, id);
    diff_hex(a->debits_pending, dp);
    diff_hex(a->debits_posted, dpo);
    diff_hex(a->credits_pending, cp);
    diff_hex(a->credits_posted, cpo);
    diff_hex(a->user_data_128, ud);
    print_error("  %s account id=%s dp=%s dpo=%s cp=%s cpo=%s ud128=%s ud64=%" PRIu64
                " ud32=%u ledger=%u code=%u flags=0x%x reserved=%u timestamp=%" PRIu64 "\n",
                label, id, dp, dpo, cp, cpo, ud, a->user_data_64, a->user_data_32, a->ledger,
                a->code, a->flags, a->reserved, a->timestamp);
}

void diff_transfer_print(const char *label, const bl_transfer_t *t) {
    char id[35], dr[35], cr[35], amount[35], pid[35], ud[35];
    diff_hex(t->id, id);
    diff_hex(t->debit_account_id, dr);
    diff_hex(t->credit_account_id, cr);
    diff_hex(t->amount, amount);
    diff_hex(t->pending_id, pid);
    diff_hex(t->user_data_128, ud);
    print_error("  %s transfer id=%s dr=%s cr=%s amount=%s pending_id=%s ud128=%s ud64=%" PRIu64
                " ud32=%u timeout=%u ledger=%u code=%u flags=0x%x timestamp=%" PRIu64 "\n",
                label, id, dr, cr, amount, pid, ud, t->user_data_64, t->user_data_32, t->timeout,
                t->ledger, t->code, t->flags, t->timestamp);
}

void diff_rerun_print(void) {
    print_error("  seed %" PRIu64 ", phase %s, block %" PRIu64 " (T=%" PRIu64 ")\n", g_seed,
                g_phase, g_block_number, g_block_timestamp);
    print_error("  rerun: BL_SEED=%" PRIu64 " BL_EVENTS=%" PRIu64 " %s\n", g_seed, g_events_main,
                g_argv0);
}

/* An engine that aborts (an assertion) still says how to get back here. */
static void diff_signal_handler(int signal_number) {
    fprintf(stderr,
            "\ndifferential: signal %d in phase %s, block %" PRIu64 " (T=%" PRIu64 ")\n"
            "  rerun: BL_SEED=%" PRIu64 " BL_EVENTS=%" PRIu64 " %s\n",
            signal_number, g_phase, g_block_number, g_block_timestamp, g_seed, g_events_main,
            g_argv0);
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

/* ------------------------------------------------------------------------------------------ */
/* The executors: the model and the engines a phase runs on.                                  */

/* One phase of the run: its tables, its clock and its kind of traffic. */
typedef struct diff_phase {
    const char *name;
    uint64_t accounts_max;
    uint64_t transfers_max;
    uint32_t block_events_max;
    uint64_t timestamp_first;
    uint64_t events;
    uint64_t seed;
    uint32_t storm_blocks; /* blocks full of short pending transfers before a long jump */
} diff_phase_t;

#define DIFF_LOOKUP_MAX BL_BATCH_EVENTS_MAX

static diff_run_t *diff_run_create(const diff_phase_t *phase) {
    diff_run_t *run = calloc(1, sizeof(*run));
    assert_non_null(run);
    run->phase = phase->name;
    g_phase = phase->name;
    run->block_events_max = phase->block_events_max;
    diff_gen_init(&run->gen, phase->seed);
    run->model = bl_model_create(phase->accounts_max, phase->transfers_max);
    assert_non_null(run->model);
    snprintf(run->store_dir, sizeof(run->store_dir), "/tmp/bl_test_differential_XXXXXX");
    assert_non_null(mkdtemp(run->store_dir));
    for (uint32_t e = 0; e < DIFF_ENGINES_COUNT; e++) {
        run->store_fds[e] = -1;
        char path[128];
        bool in_store = g_partitions[e] == 2 || g_partitions[e] == 8;
        if (in_store) {
            snprintf(path, sizeof(path), "%s/transfers-%u.store", run->store_dir, g_partitions[e]);
            run->store_fds[e] = open(path, O_RDWR | O_CREAT, 0644);
            assert_true(run->store_fds[e] >= 0);
        }
        bl_engine_config_t config = {
            .partitions = g_partitions[e],
            .accounts_max = phase->accounts_max,
            .transfers_max = phase->transfers_max,
            .block_events_max = phase->block_events_max,
            .partition_threads = true, /* every partition on a thread of its own */
            /* small blocks on the caller for two engines, always on the threads for two */
            .threads_items_min = e % 2 == 0 ? 0 : 1,
            /* N = 3 keeps no indexes: its filter reads scan, the others use the indexes */
            .indexes_off = g_partitions[e] == 3,
            .transfers_in_file = in_store,
            .transfers_fd = run->store_fds[e],
            .transfers_path = path,
            .hot_transfers = 32, /* one page */
        };
        assert_int_equal(bl_engine_create(&run->engines[e], &config), 0);
        assert_int_equal(bl_engine_partitions(run->engines[e]), g_partitions[e]);
    }
    for (uint32_t r = 0; r < DIFF_BLOCK_REQUESTS_MAX; r++) {
        run->block.events[r] = malloc(BL_BATCH_EVENTS_MAX * sizeof(bl_transfer_t));
        assert_non_null(run->block.events[r]);
        for (uint32_t x = 0; x < DIFF_EXECUTORS; x++) {
            run->results[x][r] = malloc(BL_BATCH_EVENTS_MAX * sizeof(bl_event_result_t));
            assert_non_null(run->results[x][r]);
        }
    }
    for (uint32_t x = 0; x < DIFF_EXECUTORS; x++) {
        run->codes[x] = malloc(BL_BATCH_EVENTS_MAX * sizeof(uint32_t));
        run->accounts_out[x] = malloc(DIFF_LOOKUP_MAX * sizeof(bl_account_t));
        run->transfers_out[x] = malloc(DIFF_LOOKUP_MAX * sizeof(bl_transfer_t));
        assert_non_null(run->codes[x]);
        assert_non_null(run->accounts_out[x]);
        assert_non_null(run->transfers_out[x]);
    }
    run->ids = malloc(DIFF_LOOKUP_MAX * sizeof(bl_u128_t));
    assert_non_null(run->ids);
    run->oversized = calloc(BL_BATCH_EVENTS_MAX + 1, sizeof(bl_transfer_t));
    assert_non_null(run->oversized);
    for (uint32_t x = 0; x < DIFF_EXECUTORS; x++) {
        run->reads_out[x] = malloc(BL_FILTER_LIMIT_MAX * DIFF_RECORD_SIZE);
        assert_non_null(run->reads_out[x]);
    }
    run->sample_transfers = malloc(BL_FILTER_LIMIT_MAX * sizeof(bl_transfer_t));
    run->sample_balances = malloc(BL_FILTER_LIMIT_MAX * sizeof(bl_account_balance_t));
    run->walk_all = malloc(BL_FILTER_LIMIT_MAX * DIFF_RECORD_SIZE);
    assert_non_null(run->sample_transfers);
    assert_non_null(run->sample_balances);
    assert_non_null(run->walk_all);
    diff_rng_seed(&run->filter_rng, phase->seed ^ 0x46494C54455253ull);
    return run;
}

static void diff_run_destroy(diff_run_t *run) {
    bl_model_destroy(run->model);
    for (uint32_t e = 0; e < DIFF_ENGINES_COUNT; e++) {
        bl_engine_store_stats_t store;
        bl_engine_store_stats_get(run->engines[e], &store);
        if (run->store_fds[e] >= 0) {
            printf("differential: %s: engine with %u partitions read %" PRIu64
                   " cold store pages, checked; %" PRIu64 " of %" PRIu64 " records hot\n",
                   run->phase, g_partitions[e], store.cold_checks, store.hot_records,
                   store.records);
            assert_true(store.records < 64 || store.cold_checks > 0); /* the path was taken */
        }
        bl_engine_destroy(run->engines[e]);
        if (run->store_fds[e] >= 0) close(run->store_fds[e]);
        char path[128];
        snprintf(path, sizeof(path), "%s/transfers-%u.store", run->store_dir, g_partitions[e]);
        (void)unlink(path);
    }
    (void)rmdir(run->store_dir);
    for (uint32_t r = 0; r < DIFF_BLOCK_REQUESTS_MAX; r++) {
        free(run->block.events[r]);
        for (uint32_t x = 0; x < DIFF_EXECUTORS; x++) {
            free(run->results[x][r]);
        }
    }
    for (uint32_t x = 0; x < DIFF_EXECUTORS; x++) {
        free(run->codes[x]);
        free(run->accounts_out[x]);
        free(run->transfers_out[x]);
    }
    free(run->ids);
    free(run->oversized);
    for (uint32_t x = 0; x < DIFF_EXECUTORS; x++) {
        free(run->reads_out[x]);
    }
    free(run->sample_transfers);
    free(run->sample_balances);
    free(run->walk_all);
    free(run->expiry_blocks);
    diff_gen_free(&run->gen);
    free(run);
}

/* ------------------------------------------------------------------------------------------ */
/* Comparing.                                                                                 */

static void diff_event_print(uint16_t op, const void *events, uint32_t i, const char *label) {
    if (op == BL_OP_CREATE_ACCOUNTS) {
        diff_account_print(label, &((const bl_account_t *)events)[i]);
    } else {
        diff_transfer_print(label, &((const bl_transfer_t *)events)[i]);
    }
}

/* Expands a request's sparse results to one code per event, checking the reply's shape. */
static bool diff_results_expand(const bl_request_t *request, uint32_t *codes) {
    if (request->results_count > request->count) {
        return false;
    }
    memset(codes, 0, request->count * sizeof(uint32_t));
    for (uint32_t i = 0; i < request->results_count; i++) {
        const bl_event_result_t *r = &request->results[i];
        if (r->index >= request->count || r->result == 0 ||
            (i > 0 && r->index <= request->results[i - 1].index)) {
            return false;
        }
        codes[r->index] = r->result;
    }
    return true;
}

/* The model's records (after the block) of every id an event names, to read a mismatch. */
static void diff_event_context_print(diff_run_t *run, uint16_t op, const void *events, uint32_t i) {
    bl_account_t a;
    bl_transfer_t t;
    if (op == BL_OP_CREATE_ACCOUNTS) {
        bl_u128_t id = ((const bl_account_t *)events)[i].id;
        if (bl_model_lookup_accounts(run->model, &id, 1, &a) == 1) {
            diff_account_print("model, after the block:", &a);
        }
        return;
    }
    const bl_transfer_t *e = &((const bl_transfer_t *)events)[i];
    bl_u128_t accounts[2] = {e->debit_account_id, e->credit_account_id};
    bl_u128_t transfers[2] = {e->id, e->pending_id};
    for (int k = 0; k < 2; k++) {
        if (bl_model_lookup_transfers(run->model, &transfers[k], 1, &t) == 1) {
            diff_transfer_print("model, after the block:", &t);
            if (k == 1) {
                accounts[0] = t.debit_account_id;
                accounts[1] = t.credit_account_id;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        if (bl_model_lookup_accounts(run->model, &accounts[k], 1, &a) == 1) {
            diff_account_print("model, after the block:", &a);
        }
    }
}

void diff_mismatch_header(const char *what, uint32_t executor) {
    print_error("\ndifferential: MISMATCH (%s) between the model and the engine with %u "
                "partition(s)\n",
                what, g_partitions[executor - 1]);
    diff_rerun_print();
}

static void diff_request_compare(diff_run_t *run, uint32_t q) {
    const bl_request_t *want = &run->requests[0][q];
    assert_true(diff_results_expand(want, run->codes[0]));
    for (uint32_t i = 0; i < want->count; i++) {
        uint32_t code = run->codes[0][i];
        if (want->op == BL_OP_CREATE_ACCOUNTS) {
            g_account_codes[code]++;
        } else {
            g_transfer_codes[code]++;
        }
    }
    for (uint32_t x = 1; x < DIFF_EXECUTORS; x++) {
        const bl_request_t *got = &run->requests[x][q];
        bool shape_ok = diff_results_expand(got, run->codes[x]);
        if (shape_ok && got->results_count == want->results_count &&
            memcmp(run->codes[x], run->codes[0], want->count * sizeof(uint32_t)) == 0) {
            continue;
        }
        diff_mismatch_header("results", x);
        print_error("  request %u of %u: %s, %u events; results_count model %u, engine %u%s\n", q,
                    run->block.requests_count, bl_op_name(want->op), want->count,
                    want->results_count, got->results_count,
                    shape_ok ? "" : " (engine reply malformed: unsorted, out of range or ok)");
        uint32_t shown = 0;
        for (uint32_t i = 0; shape_ok && i < want->count && shown < 8; i++) {
            if (run->codes[x][i] != run->codes[0][i]) {
                print_error("  event %u: model %u (%s), engine %u (%s)\n", i, run->codes[0][i],
                            diff_code_name(want->op, run->codes[0][i]), run->codes[x][i],
                            diff_code_name(want->op, run->codes[x][i]));
                diff_event_print(want->op, want->events, i, "event");
                if (shown == 0) {
                    diff_event_context_print(run, want->op, want->events, i);
                }
                shown++;
            }
        }
        fail();
    }
}

static void diff_counts_compare(diff_run_t *run) {
    uint64_t accounts = bl_model_accounts_count(run->model);
    uint64_t transfers = bl_model_transfers_count(run->model);
    uint64_t timestamp = bl_model_timestamp_last(run->model);
    for (uint32_t e = 0; e < DIFF_ENGINES_COUNT; e++) {
        uint64_t a = bl_engine_accounts_count(run->engines[e]);
        uint64_t t = bl_engine_transfers_count(run->engines[e]);
        uint64_t ts = bl_engine_timestamp_last(run->engines[e]);
        if (a != accounts || t != transfers || ts != timestamp) {
            diff_mismatch_header("counts", e + 1);
            print_error("  accounts model %" PRIu64 " engine %" PRIu64 "; transfers model %" PRIu64
                        " engine %" PRIu64 "; timestamp_last model %" PRIu64 " engine %" PRIu64
                        "\n",
                        accounts, a, transfers, t, timestamp, ts);
            fail();
        }
    }
}

/* Looks up `count` ids (at most DIFF_LOOKUP_MAX) everywhere and compares byte for byte. */
static void diff_lookup_compare(diff_run_t *run, bool accounts, const bl_u128_t *ids,
                                uint32_t count) {
    uint32_t want = accounts
                        ? bl_model_lookup_accounts(run->model, ids, count, run->accounts_out[0])
                        : bl_model_lookup_transfers(run->model, ids, count, run->transfers_out[0]);
    size_t size = accounts ? sizeof(bl_account_t) : sizeof(bl_transfer_t);
    const uint8_t *want_records =
        accounts ? (const uint8_t *)run->accounts_out[0] : (const uint8_t *)run->transfers_out[0];
    for (uint32_t e = 0; e < DIFF_ENGINES_COUNT; e++) {
        uint32_t x = e + 1;
        uint32_t got =
            accounts
                ? bl_engine_lookup_accounts(run->engines[e], ids, count, run->accounts_out[x])
                : bl_engine_lookup_transfers(run->engines[e], ids, count, run->transfers_out[x]);
        const uint8_t *got_records = accounts ? (const uint8_t *)run->accounts_out[x]
                                              : (const uint8_t *)run->transfers_out[x];
        if (got == want && memcmp(got_records, want_records, want * size) == 0) {
            continue;
        }
        diff_mismatch_header(accounts ? "lookup_accounts" : "lookup_transfers", x);
        print_error("  %u ids looked up: model found %u, engine %u\n", count, want, got);
        uint32_t n = got < want ? got : want;
        for (uint32_t i = 0; i < n; i++) {
            if (memcmp(got_records + i * size, want_records + i * size, size) != 0) {
                print_error("  first differing record, #%u of the reply:\n", i);
                if (accounts) {
                    diff_account_print("model ", &run->accounts_out[0][i]);
                    diff_account_print("engine", &run->accounts_out[x][i]);
                } else {
                    diff_transfer_print("model ", &run->transfers_out[0][i]);
                    diff_transfer_print("engine", &run->transfers_out[x][i]);
                }
                break;
            }
        }
        fail();
    }
}

/* Buffers ids and compares whenever a lookup request's worth has gathered. */
typedef struct diff_lookup_batch {
    bool accounts;
    uint32_t count;
} diff_lookup_batch_t;

static void diff_lookup_add(diff_run_t *run, diff_lookup_batch_t *batch, bl_u128_t id) {
    run->ids[batch->count++] = id;
    if (batch->count == DIFF_LOOKUP_MAX) {
        diff_lookup_compare(run, batch->accounts, run->ids, batch->count);
        batch->count = 0;
    }
}

static void diff_lookup_flush(diff_run_t *run, diff_lookup_batch_t *batch) {
    if (batch->count > 0) {
        diff_lookup_compare(run, batch->accounts, run->ids, batch->count);
        batch->count = 0;
    }
}

/* Every id the block named, so that a wrong balance or record shows in the block that made
 * it. */
static void diff_block_lookups_compare(diff_run_t *run) {
    const diff_block_t *b = &run->block;
    diff_lookup_batch_t accounts = {.accounts = true};
    diff_lookup_batch_t transfers = {.accounts = false};
    for (uint32_t q = 0; q < b->requests_count; q++) {
        for (uint32_t i = 0; i < b->counts[q]; i++) {
            if (b->ops[q] == BL_OP_CREATE_ACCOUNTS) {
                diff_lookup_add(run, &accounts, ((const bl_account_t *)b->events[q])[i].id);
                continue;
            }
            const bl_transfer_t *t = &((const bl_transfer_t *)b->events[q])[i];
            diff_lookup_add(run, &transfers, t->id);
            diff_lookup_add(run, &transfers, t->pending_id);
            diff_lookup_add(run, &accounts, t->debit_account_id);
            diff_lookup_add(run, &accounts, t->credit_account_id);
        }
    }
    diff_lookup_flush(run, &accounts);
    diff_lookup_flush(run, &transfers);
}

static void diff_engine_digests_compare(diff_run_t *run) {
    bl_u128_t first = bl_engine_digest(run->engines[0]);
    for (uint32_t e = 1; e < DIFF_ENGINES_COUNT; e++) {
        bl_u128_t d = bl_engine_digest(run->engines[e]);
        if (d != first) {
            char a[35], b[35];
            diff_hex(first, a);
            diff_hex(d, b);
            print_error("\ndifferential: MISMATCH (digest) between engines with %u and %u "
                        "partitions: %s vs %s\n",
                        g_partitions[0], g_partitions[e], a, b);
            diff_rerun_print();
            fail();
        }
    }
}

/* Every id ever used, in order, with duplicates and ids that never existed mixed in; then the
 * model's digest recomputed from scratch. */
static void diff_full_compare(diff_run_t *run) {
    diff_gen_t *g = &run->gen;
    diff_rng_t rng; /* its own stream: checks must not change the workload */
    diff_rng_seed(&rng, g_seed ^ run->blocks_done);
    diff_lookup_batch_t accounts = {.accounts = true};
    for (int p = 0; p < DIFF_POOLS; p++) {
        for (uint64_t i = 0; i < g->pools[p].count; i++) {
            bl_u128_t id = g->pools[p].accounts[i].id;
            diff_lookup_add(run, &accounts, id);
            uint64_t r = diff_rng_below(&rng, 100);
            if (r < 5) {
                diff_lookup_add(run, &accounts, id); /* duplicate */
            } else if (r < 8) {
                diff_lookup_add(run, &accounts, diff_rng_u128(&rng)); /* never existed */
            } else if (r < 9) {
                diff_lookup_add(run, &accounts, r & 1 ? 0 : BL_U128_MAX);
            }
        }
    }
    diff_lookup_flush(run, &accounts);
    diff_lookup_batch_t transfers = {.accounts = false};
    for (uint64_t i = 0; i < g->transfer_ids_count; i++) {
        diff_lookup_add(run, &transfers, g->transfer_ids[i]);
        uint64_t r = diff_rng_below(&rng, 100);
        if (r < 3) {
            diff_lookup_add(run, &transfers, g->transfer_ids[diff_rng_below(&rng, i + 1)]);
        } else if (r < 5) {
            diff_lookup_add(run, &transfers, diff_rng_u128(&rng));
        }
    }
    diff_lookup_flush(run, &transfers);

    diff_engine_digests_compare(run);
    bl_u128_t want = bl_model_digest(run->model);
    bl_u128_t got = bl_engine_digest(run->engines[0]);
    if (got != want) {
        char a[35], b[35];
        diff_hex(want, a);
        diff_hex(got, b);
        diff_mismatch_header("digest", 1);
        print_error("  model %s, engine %s (records and lookups all matched)\n", a, b);
        fail();
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Running.                                                                                   */

static void diff_block_execute(diff_run_t *run);

/* Sometimes a T right on an edge: exactly the deadline of a pending transfer (it expires now)
 * or 1 ns before it (it does not). Returns 0 when this block is not one of those. */
static uint64_t diff_time_on_deadline(diff_run_t *run, uint64_t floor) {
    diff_gen_t *g = &run->gen;
    if (g->pendings_created_count == 0 || !diff_rng_percent(&g->rng, 10)) {
        return 0;
    }
    for (int tries = 0; tries < 8; tries++) {
        uint64_t window = g->pendings_created_count < 256 ? g->pendings_created_count : 256;
        const bl_transfer_t *p =
            &g->pendings_created[g->pendings_created_count - 1 - diff_rng_below(&g->rng, window)];
        bl_transfer_t stored;
        if (p->timeout == 0 || bl_model_lookup_transfers(run->model, &p->id, 1, &stored) != 1) {
            continue;
        }
        bl_u128_t deadline = (bl_u128_t)stored.timestamp + (bl_u128_t)stored.timeout * BL_NS_PER_S;
        uint64_t t = (uint64_t)deadline - diff_rng_below(&g->rng, 2);
        if (deadline <= UINT64_MAX - 1000 * BL_NS_PER_S && t >= floor) {
            return t;
        }
    }
    return 0;
}

/* Two blocks around the overflows_timeout edge: a timeout t chosen so that the deadline
 * timestamp + t * 10^9 is exactly 2^64 - 1 for the 17th of 48 pending transfers; the ones
 * before it fit, the ones after overflow. An empty block 1 ms before clears the expiries due
 * (it may hand out many timestamps, far fewer than 10^6), so the next block's events get
 * (almost surely: no deadline falls in that millisecond) T, T + 1, ... Only possible when
 * timestamps are within 2^32 s of 2^64 (the main phase). */
static void diff_blocks_timeout_edge(diff_run_t *run) {
    uint64_t last = bl_model_timestamp_last(run->model);
    uint64_t floor = (last > run->timestamp_prev ? last : run->timestamp_prev) + 1;
    if (floor > UINT64_MAX - 4 * BL_NS_PER_S) {
        return;
    }
    uint64_t timeout = (UINT64_MAX - floor - 2 * BL_NS_PER_S) / BL_NS_PER_S;
    if (timeout > UINT32_MAX) {
        return;
    }
    uint64_t edge = UINT64_MAX - timeout * BL_NS_PER_S; /* the last timestamp that fits */
    run->block.requests_count = 0;
    run->timestamp_override = edge - 16 - 1000000;
    diff_block_execute(run);

    diff_block_t *b = &run->block;
    bl_transfer_t *events = b->events[0];
    for (uint32_t i = 0; i < 48; i++) {
        events[i] = diff_transfer_safe(&run->gen);
        events[i].flags = BL_TRANSFER_PENDING;
        events[i].timeout = (uint32_t)timeout;
    }
    diff_transfers_remember(&run->gen, events, 48);
    b->requests_count = 1;
    b->ops[0] = BL_OP_CREATE_TRANSFERS;
    b->counts[0] = 48;
    run->timestamp_override = edge - 16;
    diff_block_execute(run);
    if (bl_model_timestamp_last(run->model) == edge - 16 + 47) { /* no expiry came first */
        assert_int_equal(run->codes[0][16], BL_CREATE_TRANSFER_OK);
        assert_int_equal(run->codes[0][17], BL_CREATE_TRANSFER_OVERFLOWS_TIMEOUT);
    }
}

static void diff_block_execute(diff_run_t *run) {
    diff_block_t *b = &run->block;
    uint64_t last = bl_model_timestamp_last(run->model);
    uint64_t floor = (last > run->timestamp_prev ? last : run->timestamp_prev) + 1;
    if (run->timestamp_override != 0) {
        assert_true(run->timestamp_override >= floor);
        b->timestamp = run->timestamp_override;
    } else if (run->time_step_override != 0) {
        b->timestamp = floor + run->time_step_override;
    } else {
        b->timestamp = diff_time_on_deadline(run, floor);
        if (b->timestamp == 0) {
            b->timestamp = floor + diff_time_step(&run->gen);
        }
    }
    run->time_step_override = 0;
    run->timestamp_override = 0;
    run->timestamp_prev = b->timestamp;
    g_block_number = run->blocks_done;
    g_block_timestamp = b->timestamp;

    for (uint32_t x = 0; x < DIFF_EXECUTORS; x++) {
        for (uint32_t q = 0; q < b->requests_count; q++) {
            run->requests[x][q] = (bl_request_t){
                .op = b->ops[q],
                .count = b->counts[q],
                .events = b->events[q],
                .results = run->results[x][q],
                .results_count = UINT32_MAX,
            };
        }
    }
    int rc = bl_model_block_execute(run->model, b->timestamp, run->requests[0], b->requests_count);
    assert_int_equal(rc, 0);
    for (uint32_t e = 0; e < DIFF_ENGINES_COUNT; e++) {
        rc = bl_engine_block_execute(run->engines[e], b->timestamp, run->requests[e + 1],
                                     b->requests_count);
        if (rc != 0) {
            print_error("\ndifferential: engine with %u partitions returned %d for a valid "
                        "block\n",
                        g_partitions[e], rc);
            diff_rerun_print();
            fail();
        }
    }
    uint64_t events = 0;
    for (uint32_t q = 0; q < b->requests_count; q++) {
        diff_request_compare(run, q);
        diff_gen_learn(&run->gen, b->ops[q], b->events[q], b->counts[q], run->codes[0]);
        events += b->counts[q];
    }
    /* Timestamps handed out = expiries + events: what is left over are the expiries (an empty
     * block with one expiry reads as none: this count is only a sanity figure). */
    uint64_t handed = bl_model_timestamp_last(run->model) - b->timestamp + 1;
    uint64_t expiries = events == 0 && handed == 1 ? 0 : handed - events;
    g_expiries += expiries;
    if (expiries > 0) {
        diff_expiry_block_t e = {.timestamp = b->timestamp, .expiries = expiries};
        DIFF_PUSH(run->expiry_blocks, run->expiry_blocks_count, run->expiry_blocks_capacity, e);
    }
    diff_counts_compare(run);
    diff_block_lookups_compare(run);
    run->events_done += events;
    run->blocks_done++;
    if (run->blocks_done % DIFF_DIGEST_EVERY_BLOCKS == 0) {
        diff_engine_digests_compare(run);
    }
    /* A full check costs the size of the state: space them by that much work, so long runs
     * stay linear. The filter reads of the model scan the state too: a few filters now and
     * then, and more, with a walk, at each full check. */
    uint64_t ids = run->gen.templates_count + run->gen.transfer_ids_count;
    if (run->blocks_done % DIFF_FULL_CHECK_EVERY_BLOCKS == 0 &&
        run->events_done - run->events_at_full_check >= ids / 8) {
        run->events_at_full_check = run->events_done;
        run->events_at_filter_check = run->events_done;
        diff_full_compare(run);
        diff_filters_check(run, 2, 2, 1);
    } else if (run->blocks_done % DIFF_FILTER_EVERY_BLOCKS == 0 &&
               run->events_done - run->events_at_filter_check >= ids / 32) {
        run->events_at_filter_check = run->events_done;
        diff_filters_check(run, 1, 1, 0);
    }
}

/* Blocks that bl_engine_block_execute must refuse with -EINVAL, executing nothing (not even
 * the expiries due): a timestamp not past the last one, an op that is not a create op, a count
 * of 0 or above BL_BATCH_EVENTS_MAX; each after a valid request, which must not run either. */
static void diff_invalid_blocks_check(diff_run_t *run) {
    bl_transfer_t valid = diff_transfer_safe(&run->gen);
    uint64_t last = bl_model_timestamp_last(run->model);
    uint64_t later =
        (last > run->timestamp_prev ? last : run->timestamp_prev) + 1 + diff_time_step(&run->gen);
    for (int kind = 0; kind < 5; kind++) {
        bl_event_result_t results[DIFF_EXECUTORS][2][1];
        bl_request_t requests[DIFF_EXECUTORS][2];
        uint64_t timestamp = later;
        for (uint32_t x = 0; x < DIFF_EXECUTORS; x++) {
            requests[x][0] = (bl_request_t){.op = BL_OP_CREATE_TRANSFERS,
                                            .count = 1,
                                            .events = &valid,
                                            .results = results[x][0]};
            requests[x][1] = requests[x][0];
            requests[x][1].results = results[x][1];
            switch (kind) {
            case 0:
                timestamp = last; /* not past the last timestamp */
                break;
            case 1:
                timestamp = last - 1;
                break;
            case 2:
                requests[x][1].op = BL_OP_LOOKUP_TRANSFERS;
                break;
            case 3:
                requests[x][1].count = 0;
                break;
            default:
                requests[x][1].count = BL_BATCH_EVENTS_MAX + 1;
                requests[x][1].events = run->oversized;
                break;
            }
        }
        uint32_t requests_count = kind < 2 ? 1 : 2;
        int want = bl_model_block_execute(run->model, timestamp, requests[0], requests_count);
        assert_int_equal(want, -EINVAL);
        for (uint32_t e = 0; e < DIFF_ENGINES_COUNT; e++) {
            int got = bl_engine_block_execute(run->engines[e], timestamp, requests[e + 1],
                                              requests_count);
            if (got != want) {
                print_error("\ndifferential: invalid block (kind %d) returned %d by the engine "
                            "with %u partitions, expected %d (-EINVAL)\n",
                            kind, got, g_partitions[e], want);
                diff_rerun_print();
                fail();
            }
        }
        diff_counts_compare(run);
    }
    /* The engines' own limit, which the model does not have: more events than block_events_max
     * in one block. */
    if (run->block_events_max < BL_BATCH_EVENTS_MAX + 1) {
        for (uint32_t e = 0; e < DIFF_ENGINES_COUNT; e++) {
            bl_event_result_t results[2][BL_BATCH_EVENTS_MAX];
            bl_request_t requests[2] = {
                {.op = BL_OP_CREATE_TRANSFERS,
                 .count = BL_BATCH_EVENTS_MAX,
                 .events = run->oversized,
                 .results = results[0]},
                {.op = BL_OP_CREATE_TRANSFERS, .count = 1, .events = &valid, .results = results[1]},
            };
            int got = bl_engine_block_execute(run->engines[e], later, requests, 2);
            if (got != -EINVAL) {
                print_error("\ndifferential: a block over block_events_max returned %d by the "
                            "engine with %u partitions, expected -EINVAL\n",
                            got, g_partitions[e]);
                diff_rerun_print();
                fail();
            }
        }
        diff_counts_compare(run);
    }
    diff_engine_digests_compare(run);
}

/* Prints result counts; `base` (may be NULL) is subtracted, to show one phase's share. */
static void diff_histogram_print(const char *label, const uint64_t *account_base,
                                 const uint64_t *transfer_base) {
    printf("differential: %s create_accounts results:", label);
    for (uint32_t c = 0; c < DIFF_ARRAY_LEN(g_account_codes); c++) {
        printf(" %u:%" PRIu64, c, g_account_codes[c] - (account_base ? account_base[c] : 0));
    }
    printf("\ndifferential: %s create_transfers results:", label);
    for (uint32_t c = 0; c < DIFF_ARRAY_LEN(g_transfer_codes); c++) {
        printf(" %u:%" PRIu64, c, g_transfer_codes[c] - (transfer_base ? transfer_base[c] : 0));
    }
    printf("\n");
}

static void diff_phase_run(const diff_phase_t *phase) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t account_base[DIFF_ARRAY_LEN(g_account_codes)];
    uint64_t transfer_base[DIFF_ARRAY_LEN(g_transfer_codes)];
    memcpy(account_base, g_account_codes, sizeof(account_base));
    memcpy(transfer_base, g_transfer_codes, sizeof(transfer_base));
    diff_run_t *run = diff_run_create(phase);
    run->timestamp_prev = phase->timestamp_first - 1;

    diff_block_first(&run->gen, &run->block);
    diff_block_execute(run);
    for (uint32_t i = 0; i < phase->storm_blocks; i++) {
        run->time_step_override = diff_block_storm(&run->gen, &run->block, run->block_events_max);
        diff_block_execute(run);
    }
    if (phase->storm_blocks > 0) {
        /* Everything above is due at once: more expiries than block_events_max. */
        run->block.requests_count = 0;
        run->time_step_override = 10 * BL_NS_PER_S;
        diff_block_execute(run);
    }
    while (run->events_done < phase->events) {
        diff_block_generate(&run->gen, &run->block, run->block_events_max);
        diff_block_execute(run);
        if (run->blocks_done % 97 == 0 || run->blocks_done == 3) {
            diff_invalid_blocks_check(run);
        }
        if (run->blocks_done % 151 == 0) {
            diff_blocks_timeout_edge(run);
        }
    }
    diff_full_compare(run);
    diff_filters_check(run, 4, 2, 2 * DIFF_READS);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("differential: phase %s: %" PRIu64 " blocks, %" PRIu64 " events, %" PRIu64
           " accounts (of %" PRIu64 " templates), %" PRIu64 " transfers, %.1f s\n",
           phase->name, run->blocks_done, run->events_done, bl_model_accounts_count(run->model),
           run->gen.templates_count, bl_model_transfers_count(run->model), seconds);
    diff_histogram_print(phase->name, account_base, transfer_base);
    diff_run_destroy(run);
}

/* Main phase: large tables, block timestamps starting near 2^64 - 2^61 so that a timeout of
 * more than about 2.3e9 s overflows the deadline (overflows_timeout) while small ones expire
 * normally. */
static void test_differential_main(void **state) {
    (void)state;
    diff_phase_t phase = {
        .name = "main",
        .accounts_max = 1u << 16,
        .transfers_max = g_events_main + DIFF_BLOCK_EVENTS_MAX + 1024,
        .block_events_max = DIFF_BLOCK_EVENTS_MAX,
        .timestamp_first = UINT64_MAX - (1ull << 61) + (g_seed % (1ull << 40)),
        .events = g_events_main,
        .seed = g_seed,
    };
    diff_phase_run(&phase);
}

/* Capacity phase: tables so small that capacity_exhausted fires for accounts and transfers,
 * inside chains and out, at ordinary timestamps. */
static void test_differential_capacity(void **state) {
    (void)state;
    diff_phase_t phase = {
        .name = "capacity",
        .accounts_max = 64,
        .transfers_max = 1000,
        .block_events_max = DIFF_BLOCK_EVENTS_MAX,
        .timestamp_first = 1700000000000000000ull,
        .events = g_events_main / 10 > 20000 ? g_events_main / 10 : 20000,
        .seed = g_seed ^ 0x5DEECE66Dull,
    };
    diff_phase_run(&phase);
}

/* Storm phase: block_events_max at its smallest useful value (one full request), blocks full
 * of pending transfers with timeouts of 1..3 s, then one jump: several times block_events_max
 * expire in one block, which the engine processes in rounds. Then ordinary traffic posts and
 * voids the expired transfers. */
static void test_differential_storm(void **state) {
    (void)state;
    uint32_t storm_blocks = (uint32_t)(g_events_main / 2 / BL_BATCH_EVENTS_MAX);
    storm_blocks = storm_blocks < 1 ? 1 : storm_blocks > 8 ? 8 : storm_blocks;
    diff_phase_t phase = {
        .name = "storm",
        .accounts_max = 1u << 12,
        .transfers_max = (uint64_t)storm_blocks * BL_BATCH_EVENTS_MAX + g_events_main / 10 +
                         2 * BL_BATCH_EVENTS_MAX,
        .block_events_max = BL_BATCH_EVENTS_MAX,
        .timestamp_first = 1ull << 62,
        .events = (uint64_t)storm_blocks * BL_BATCH_EVENTS_MAX + g_events_main / 10,
        .seed = g_seed ^ 0x2545F4914F6CDD1Dull,
        .storm_blocks = storm_blocks,
    };
    diff_phase_run(&phase);
}

/* The generator's guard: a run that never produced some result code tests less than it
 * claims. */
static void test_differential_coverage(void **state) {
    (void)state;
    g_phase = "coverage";
    diff_histogram_print("all phases", NULL, NULL);
    printf("differential: expiries: %" PRIu64 "\n", g_expiries);
    uint32_t missing_accounts = 0, missing_transfers = 0;
    for (uint32_t c = 0; c < DIFF_ARRAY_LEN(g_account_codes); c++) {
        if (g_account_codes[c] == 0) {
            print_error("differential: create_accounts result %u (%s) never happened\n", c,
                        bl_create_account_result_name(c));
            missing_accounts++;
        }
    }
    for (uint32_t c = 0; c < DIFF_ARRAY_LEN(g_transfer_codes); c++) {
        if (g_transfer_codes[c] == 0) {
            print_error("differential: create_transfers result %u (%s) never happened\n", c,
                        bl_create_transfer_result_name(c));
            missing_transfers++;
        }
    }
    if (missing_accounts + missing_transfers > 0) {
        diff_rerun_print();
    }
    /* Every code, in a run of the default size (hundreds of seeds never missed one); a short
     * run, asked for with BL_EVENTS, must still reach most of them. */
    if (g_events_main >= DIFF_EVENTS_FULL_COVERAGE) {
        assert_int_equal(missing_accounts + missing_transfers, 0);
    } else {
        assert_true(DIFF_ARRAY_LEN(g_account_codes) - missing_accounts >= 10);
        assert_true(DIFF_ARRAY_LEN(g_transfer_codes) - missing_transfers >= 30);
    }
    assert_true(g_expiries > 0);
}

int main(int argc, char **argv) {
    (void)argc;
    if (argv[0] != NULL) {
        g_argv0 = argv[0];
    }
    const char *seed_text = getenv("BL_SEED");
    if (seed_text != NULL && *seed_text != '\0') {
        g_seed = strtoull(seed_text, NULL, 0);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        g_seed = (uint64_t)now.tv_sec * 1000000007ull ^ (uint64_t)now.tv_nsec;
    }
    const char *events_text = getenv("BL_EVENTS");
    if (events_text != NULL && *events_text != '\0') {
        g_events_main = strtoull(events_text, NULL, 0);
    }
    printf("differential: seed %" PRIu64 ", %" PRIu64 " events (rerun: BL_SEED=%" PRIu64
           " BL_EVENTS=%" PRIu64 " %s)\n",
           g_seed, g_events_main, g_seed, g_events_main, g_argv0);
    fflush(stdout);
    signal(SIGABRT, diff_signal_handler);
    signal(SIGSEGV, diff_signal_handler);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_differential_main),
        cmocka_unit_test(test_differential_capacity),
        cmocka_unit_test(test_differential_storm),
        cmocka_unit_test(test_differential_coverage),
        cmocka_unit_test(test_differential_filters_coverage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
