/*
 * The differential test's filter reads: get_account_transfers, get_account_balances,
 * query_accounts and query_transfers, run with the same filters on the model and on every
 * engine and compared byte for byte. A random filter would match nothing almost always and
 * prove little, so filters are drawn from the model's state: an account that took part in a
 * transfer (mostly one with history), values of its own transfers, real objects' fields, ranges
 * whose bounds are real timestamps, limits mostly small. Each round also breaks one filter of
 * each read by the next rule of PROTOCOL.md in turn, and walks page through a filter's matches
 * to the end, so that paging is held to the reply at once. The model's replies are checked for
 * order, range and limit before the engines are held to them.
 *
 * Filters draw on the run's filter stream (run->filter_rng), never the generator's, so turning
 * a comparison on or off changes neither the workload nor the filters; what they reached is
 * counted here for the guard at the end of the run.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ballast/protocol.h"
#include "engine/engine.h"
#include "tests/engine/differential.h"
#include "tests/engine/differential_filters.h"
#include "tests/engine/differential_gen.h"
#include "tests/model/model.h"

/* The filter reads compared with the engine, one switch each, so that each comparison goes on
 * when the engine has the read (0: the model still answers the read's filters, checked
 * against itself, and the engine's function is not referenced). */
#ifndef DIFF_COMPARE_ACCOUNT_TRANSFERS
#define DIFF_COMPARE_ACCOUNT_TRANSFERS 1
#endif
#ifndef DIFF_COMPARE_ACCOUNT_BALANCES
#define DIFF_COMPARE_ACCOUNT_BALANCES 1
#endif
#ifndef DIFF_COMPARE_QUERY_ACCOUNTS
#define DIFF_COMPARE_QUERY_ACCOUNTS 1
#endif
#ifndef DIFF_COMPARE_QUERY_TRANSFERS
#define DIFF_COMPARE_QUERY_TRANSFERS 1
#endif
#define DIFF_WALK_PAGES_MAX 16u /* a walk stops here if it has not reached the end */

static const char *const g_read_names[DIFF_READS] = {
    "get_account_transfers", "get_account_balances", "query_accounts", "query_transfers"};
static const bool g_read_compared[DIFF_READS] = {
    DIFF_COMPARE_ACCOUNT_TRANSFERS, DIFF_COMPARE_ACCOUNT_BALANCES, DIFF_COMPARE_QUERY_ACCOUNTS,
    DIFF_COMPARE_QUERY_TRANSFERS};

/* What the filters reached over every phase (from the model's replies, which the enabled
 * comparisons proved equal to the engines'). */
#define DIFF_ACCOUNT_FILTER_INVALID_KINDS 10u
#define DIFF_QUERY_FILTER_INVALID_KINDS 7u

typedef struct diff_read_stats {
    uint64_t calls;
    uint64_t rows;
    uint64_t empty;         /* valid filters that matched nothing */
    uint64_t multi;         /* replies of more than one record */
    uint64_t multi_fields;  /* ... with a user_data, code or ledger field set */
    uint64_t multi_range;   /* ... with a timestamp bound */
    uint64_t multi_reverse; /* ... reversed */
    uint64_t full;          /* replies cut at a limit above 1 */
    uint64_t walks_ended;   /* walks that paged to the end */
    uint64_t pages;
} diff_read_stats_t;

static diff_read_stats_t g_reads[DIFF_READS];
static uint64_t g_account_filter_invalid[DIFF_ACCOUNT_FILTER_INVALID_KINDS];
static uint64_t g_query_filter_invalid[DIFF_QUERY_FILTER_INVALID_KINDS];
static uint64_t g_balance_expiry_entries; /* balance entries at the timestamp of an expiry */
static uint64_t g_filter_checks;          /* filter calls so far: numbers a failing one */

/* ------------------------------------------------------------------------------------------ */
/* Filter reads.                                                                              */

/* One filter of one read. */
typedef struct diff_filter {
    uint32_t read;
    bl_account_filter_t account; /* get_account_transfers, get_account_balances */
    bl_query_filter_t query;     /* query_accounts, query_transfers */
} diff_filter_t;

_Static_assert(offsetof(bl_account_t, timestamp) == offsetof(bl_transfer_t, timestamp),
               "one timestamp offset for accounts and transfers");

static bool diff_filter_is_account(const diff_filter_t *f) {
    return f->read == DIFF_READ_ACCOUNT_TRANSFERS || f->read == DIFF_READ_ACCOUNT_BALANCES;
}

static uint32_t *diff_filter_limit(diff_filter_t *f) {
    return diff_filter_is_account(f) ? &f->account.limit : &f->query.limit;
}

static uint64_t *diff_filter_timestamp_min(diff_filter_t *f) {
    return diff_filter_is_account(f) ? &f->account.timestamp_min : &f->query.timestamp_min;
}

static uint64_t *diff_filter_timestamp_max(diff_filter_t *f) {
    return diff_filter_is_account(f) ? &f->account.timestamp_max : &f->query.timestamp_max;
}

static bool diff_filter_reversed(const diff_filter_t *f) {
    return diff_filter_is_account(f) ? (f->account.flags & BL_FILTER_REVERSED) != 0
                                     : (f->query.flags & BL_QUERY_REVERSED) != 0;
}

/* A user_data, code or ledger field that selects. */
static bool diff_filter_has_fields(const diff_filter_t *f) {
    if (diff_filter_is_account(f)) {
        const bl_account_filter_t *a = &f->account;
        return a->user_data_128 || a->user_data_64 || a->user_data_32 || a->code;
    }
    const bl_query_filter_t *q = &f->query;
    return q->user_data_128 || q->user_data_64 || q->user_data_32 || q->ledger || q->code;
}

/* The timestamp of record i of a reply. */
static uint64_t diff_reply_timestamp(uint32_t read, const uint8_t *records, uint32_t i) {
    size_t offset = read == DIFF_READ_ACCOUNT_BALANCES ? offsetof(bl_account_balance_t, timestamp)
                                                       : offsetof(bl_transfer_t, timestamp);
    uint64_t timestamp;
    memcpy(&timestamp, records + (size_t)i * DIFF_RECORD_SIZE + offset, sizeof(timestamp));
    return timestamp;
}

static bool diff_bytes_zero(const void *bytes, size_t size) {
    const uint8_t *b = bytes;
    for (size_t i = 0; i < size; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

static void diff_filter_print(const diff_filter_t *f) {
    char id[35], ud[35];
    if (diff_filter_is_account(f)) {
        const bl_account_filter_t *a = &f->account;
        diff_hex(a->account_id, id);
        diff_hex(a->user_data_128, ud);
        print_error("  %s filter: account_id=%s ud128=%s ud64=%" PRIu64 " ud32=%u code=%u "
                    "reserved0=%u reserved1=%s timestamp_min=%" PRIu64 " timestamp_max=%" PRIu64
                    " limit=%u flags=0x%x\n",
                    g_read_names[f->read], id, ud, a->user_data_64, a->user_data_32, a->code,
                    a->reserved0, diff_bytes_zero(a->reserved1, sizeof(a->reserved1)) ? "0" : "set",
                    a->timestamp_min, a->timestamp_max, a->limit, a->flags);
        return;
    }
    const bl_query_filter_t *q = &f->query;
    diff_hex(q->user_data_128, ud);
    print_error("  %s filter: ud128=%s ud64=%" PRIu64 " ud32=%u ledger=%u code=%u reserved0=%s "
                "reserved1=%s timestamp_min=%" PRIu64 " timestamp_max=%" PRIu64
                " limit=%u flags=0x%x\n",
                g_read_names[f->read], ud, q->user_data_64, q->user_data_32, q->ledger, q->code,
                diff_bytes_zero(q->reserved0, sizeof(q->reserved0)) ? "0" : "set",
                diff_bytes_zero(q->reserved1, sizeof(q->reserved1)) ? "0" : "set", q->timestamp_min,
                q->timestamp_max, q->limit, q->flags);
}

static void diff_balance_print(const char *label, const bl_account_balance_t *b) {
    char dp[35], dpo[35], cp[35], cpo[35];
    diff_hex(b->debits_pending, dp);
    diff_hex(b->debits_posted, dpo);
    diff_hex(b->credits_pending, cp);
    diff_hex(b->credits_posted, cpo);
    print_error("  %s balance dp=%s dpo=%s cp=%s cpo=%s timestamp=%" PRIu64 " reserved=%s\n", label,
                dp, dpo, cp, cpo, b->timestamp,
                diff_bytes_zero(b->reserved, sizeof(b->reserved)) ? "0" : "set");
}

static void diff_reply_record_print(uint32_t read, const char *label, const uint8_t *record) {
    if (read == DIFF_READ_ACCOUNT_BALANCES) {
        bl_account_balance_t b;
        memcpy(&b, record, sizeof(b));
        diff_balance_print(label, &b);
    } else if (read == DIFF_READ_QUERY_ACCOUNTS) {
        bl_account_t a;
        memcpy(&a, record, sizeof(a));
        diff_account_print(label, &a);
    } else {
        bl_transfer_t t;
        memcpy(&t, record, sizeof(t));
        diff_transfer_print(label, &t);
    }
}

/* Runs a filter on executor x (0: the model) into `out`; returns the records written. */
static uint32_t diff_read_execute(diff_run_t *run, uint32_t x, const diff_filter_t *f,
                                  uint8_t *out) {
    if (x == 0) {
        switch (f->read) {
        case DIFF_READ_ACCOUNT_TRANSFERS:
            return bl_model_account_transfers(run->model, &f->account, (bl_transfer_t *)out);
        case DIFF_READ_ACCOUNT_BALANCES:
            return bl_model_account_balances(run->model, &f->account, (bl_account_balance_t *)out);
        case DIFF_READ_QUERY_ACCOUNTS:
            return bl_model_query_accounts(run->model, &f->query, (bl_account_t *)out);
        default:
            return bl_model_query_transfers(run->model, &f->query, (bl_transfer_t *)out);
        }
    }
    const bl_engine_t *engine = run->engines[x - 1];
    (void)engine; /* unused while no read is compared */
    switch (f->read) {
#if DIFF_COMPARE_ACCOUNT_TRANSFERS
    case DIFF_READ_ACCOUNT_TRANSFERS:
        return bl_engine_account_transfers(engine, &f->account, (bl_transfer_t *)out);
#endif
#if DIFF_COMPARE_ACCOUNT_BALANCES
    case DIFF_READ_ACCOUNT_BALANCES:
        return bl_engine_account_balances(engine, &f->account, (bl_account_balance_t *)out);
#endif
#if DIFF_COMPARE_QUERY_ACCOUNTS
    case DIFF_READ_QUERY_ACCOUNTS:
        return bl_engine_query_accounts(engine, &f->query, (bl_account_t *)out);
#endif
#if DIFF_COMPARE_QUERY_TRANSFERS
    case DIFF_READ_QUERY_TRANSFERS:
        return bl_engine_query_transfers(engine, &f->query, (bl_transfer_t *)out);
#endif
    default:
        break;
    }
    fail_msg("filter read %u is not compared with the engine", f->read);
    return 0;
}

/* Whether `timestamp` went to an expiry: it lies in the expiry prefix of a block. */
static bool diff_timestamp_is_expiry(const diff_run_t *run, uint64_t timestamp) {
    uint64_t lo = 0, hi = run->expiry_blocks_count; /* the first block with T > timestamp */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (run->expiry_blocks[mid].timestamp <= timestamp) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == 0) {
        return false;
    }
    const diff_expiry_block_t *b = &run->expiry_blocks[lo - 1];
    return timestamp - b->timestamp < b->expiries;
}

static void diff_filter_failure(const diff_filter_t *f, uint64_t check, const char *purpose,
                                const char *what) {
    print_error("\ndifferential: filter check %" PRIu64 " (%s): %s\n", check, purpose, what);
    diff_filter_print(f);
    diff_rerun_print();
    fail();
}

/* What PROTOCOL.md says of every reply, checked on the model's: none for an invalid filter;
 * else at most `limit` records, in strict timestamp order (descending when reversed), each in
 * the range. The engines are then held to the model's bytes. */
static void diff_reply_shape_check(diff_filter_t *f, bool valid, uint32_t count, const uint8_t *out,
                                   uint64_t check, const char *purpose) {
    if (!valid) {
        if (count != 0) {
            diff_filter_failure(f, check, purpose, "the model answered an invalid filter");
        }
        return;
    }
    if (count > *diff_filter_limit(f)) {
        diff_filter_failure(f, check, purpose, "the model's reply is longer than the limit");
    }
    uint64_t min = *diff_filter_timestamp_min(f), max = *diff_filter_timestamp_max(f);
    bool reversed = diff_filter_reversed(f);
    for (uint32_t i = 0; i < count; i++) {
        uint64_t timestamp = diff_reply_timestamp(f->read, out, i);
        uint64_t previous = i > 0 ? diff_reply_timestamp(f->read, out, i - 1) : 0;
        if ((min != 0 && timestamp < min) || (max != 0 && timestamp > max) ||
            (i > 0 && (reversed ? timestamp >= previous : timestamp <= previous))) {
            print_error("  record %u of %u: timestamp %" PRIu64 ", the one before %" PRIu64 "\n", i,
                        count, timestamp, previous);
            diff_filter_failure(f, check, purpose,
                                "the model's reply is out of order or out of range");
        }
    }
}

static void diff_read_stats_add(diff_run_t *run, diff_filter_t *f, bool valid, uint32_t count) {
    diff_read_stats_t *stats = &g_reads[f->read];
    uint32_t limit = *diff_filter_limit(f);
    stats->calls++;
    stats->rows += count;
    stats->empty += valid && count == 0;
    stats->full += count == limit && limit > 1;
    if (count > 1) {
        stats->multi++;
        stats->multi_fields += diff_filter_has_fields(f);
        stats->multi_range +=
            *diff_filter_timestamp_min(f) != 0 || *diff_filter_timestamp_max(f) != 0;
        stats->multi_reverse += diff_filter_reversed(f);
    }
    if (f->read == DIFF_READ_ACCOUNT_BALANCES) {
        for (uint32_t i = 0; i < count; i++) {
            g_balance_expiry_entries +=
                diff_timestamp_is_expiry(run, diff_reply_timestamp(f->read, run->reads_out[0], i));
        }
    }
}

/* Runs one filter on the model and on every engine (when its read is compared) and compares
 * count and bytes; `valid` says whether the filter is valid by construction. Returns the
 * model's count; its records are in run->reads_out[0]. */
static uint32_t diff_read_compare(diff_run_t *run, diff_filter_t *f, bool valid,
                                  const char *purpose) {
    uint64_t check = ++g_filter_checks;
    uint32_t want = diff_read_execute(run, 0, f, run->reads_out[0]);
    diff_reply_shape_check(f, valid, want, run->reads_out[0], check, purpose);
    diff_read_stats_add(run, f, valid, want);
    if (!g_read_compared[f->read]) {
        return want;
    }
    /* The record just past the limit (when the buffer has it) must stay untouched. */
    uint32_t limit = *diff_filter_limit(f);
    uint32_t guard = limit < BL_FILTER_LIMIT_MAX ? limit : BL_FILTER_LIMIT_MAX;
    for (uint32_t x = 1; x < DIFF_EXECUTORS; x++) {
        uint8_t *out = run->reads_out[x];
        uint8_t *guard_record = out + (size_t)guard * DIFF_RECORD_SIZE;
        if (guard < BL_FILTER_LIMIT_MAX) {
            memset(guard_record, 0xA5, DIFF_RECORD_SIZE);
        }
        uint32_t got = diff_read_execute(run, x, f, out);
        bool guard_ok = true;
        for (uint32_t i = 0; guard < BL_FILTER_LIMIT_MAX && i < DIFF_RECORD_SIZE; i++) {
            guard_ok = guard_ok && guard_record[i] == 0xA5;
        }
        if (got == want && guard_ok &&
            memcmp(out, run->reads_out[0], (size_t)want * DIFF_RECORD_SIZE) == 0) {
            continue;
        }
        diff_mismatch_header(g_read_names[f->read], x);
        print_error("  filter check %" PRIu64 " (%s): model %u records, engine %u%s\n", check,
                    purpose, want, got, guard_ok ? "" : "; the engine wrote past the limit");
        diff_filter_print(f);
        uint32_t n = got < want ? got : want;
        uint32_t i = 0;
        while (i < n &&
               memcmp(out + (size_t)i * DIFF_RECORD_SIZE,
                      run->reads_out[0] + (size_t)i * DIFF_RECORD_SIZE, DIFF_RECORD_SIZE) == 0) {
            i++;
        }
        print_error("  the replies agree on their first %u records\n", i);
        if (i < want) {
            diff_reply_record_print(f->read, "model ",
                                    run->reads_out[0] + (size_t)i * DIFF_RECORD_SIZE);
        }
        if (i < got && got <= BL_FILTER_LIMIT_MAX) {
            diff_reply_record_print(f->read, "engine", out + (size_t)i * DIFF_RECORD_SIZE);
        }
        fail();
    }
    return want;
}

/* Limits: mostly a page of a few, sometimes up to the largest. */
static uint32_t diff_filter_limit_random(diff_rng_t *rng) {
    uint64_t r = diff_rng_below(rng, 100);
    if (r < 55) {
        return (uint32_t)diff_rng_range(rng, 1, 8);
    }
    if (r < 80) {
        return (uint32_t)diff_rng_range(rng, 9, 64);
    }
    if (r < 93) {
        return (uint32_t)diff_rng_range(rng, 65, 1000);
    }
    if (r < 98) {
        return (uint32_t)diff_rng_range(rng, 1001, BL_FILTER_LIMIT_MAX - 1);
    }
    return BL_FILTER_LIMIT_MAX;
}

/* A timestamp range from two real timestamps: none, both bounds, one bound, exactly one
 * timestamp, just inside, or one around a single timestamp. */
static void diff_range_random(diff_rng_t *rng, uint64_t t0, uint64_t t1, uint64_t *min,
                              uint64_t *max) {
    if (t0 > t1) {
        uint64_t t = t0;
        t0 = t1;
        t1 = t;
    }
    *min = 0;
    *max = 0;
    if (t0 == 0) {
        return; /* nothing to draw from */
    }
    switch (diff_rng_below(rng, 10)) {
    case 4:
        *min = t0;
        *max = t1;
        break;
    case 5:
        *min = t0;
        break;
    case 6:
        *max = t1;
        break;
    case 7:
        *min = t0;
        *max = t0;
        break;
    case 8:
        *min = t0 + 1 <= t1 - 1 ? t0 + 1 : t0;
        *max = t0 + 1 <= t1 - 1 ? t1 - 1 : t1;
        break;
    case 9:
        *min = t0 - 1;
        *max = t0 + 1;
        break;
    default:
        break;
    }
}

/* The kind of invalid filter that comes next: each in turn, so that few calls cover all. */
static uint32_t diff_invalid_kind_next(const uint64_t *counts, uint32_t kinds) {
    uint64_t total = 0;
    for (uint32_t k = 0; k < kinds; k++) {
        total += counts[k];
    }
    return (uint32_t)(total % kinds);
}

/* Breaks a valid AccountFilter by one rule of PROTOCOL.md (the kinds are counted). */
static void diff_account_filter_break(diff_rng_t *rng, bl_account_filter_t *f) {
    uint32_t kind =
        diff_invalid_kind_next(g_account_filter_invalid, DIFF_ACCOUNT_FILTER_INVALID_KINDS);
    g_account_filter_invalid[kind]++;
    switch (kind) {
    case 0:
        f->account_id = 0;
        break;
    case 1:
        f->account_id = BL_U128_MAX;
        break;
    case 2:
        f->limit = 0;
        break;
    case 3:
        f->limit = diff_rng_percent(rng, 50)
                       ? BL_FILTER_LIMIT_MAX + 1
                       : (uint32_t)diff_rng_range(rng, BL_FILTER_LIMIT_MAX + 1, UINT32_MAX);
        break;
    case 4:
        f->flags &= ~(uint32_t)(BL_FILTER_DEBITS | BL_FILTER_CREDITS); /* reversed may stay */
        break;
    case 5:
        f->flags |= 1u << diff_rng_range(rng, 3, 31);
        break;
    case 6:
        f->reserved0 = (uint16_t)diff_rng_range(rng, 1, UINT16_MAX);
        break;
    case 7:
        f->reserved1[diff_rng_below(rng, sizeof(f->reserved1))] =
            (uint8_t)diff_rng_range(rng, 1, UINT8_MAX);
        break;
    case 8: /* timestamp_min past timestamp_max */
        if (f->timestamp_max == 0) {
            f->timestamp_max = f->timestamp_min != 0 ? f->timestamp_min : 1;
        }
        f->timestamp_min = f->timestamp_max + 1 + diff_rng_below(rng, 3);
        break;
    default: /* every rule at once */
        f->account_id = 0;
        f->limit = 0;
        f->flags = ~(uint32_t)(BL_FILTER_DEBITS | BL_FILTER_CREDITS);
        break;
    }
}

/* Breaks a valid QueryFilter by one rule of PROTOCOL.md (the kinds are counted). */
static void diff_query_filter_break(diff_rng_t *rng, bl_query_filter_t *f) {
    uint32_t kind = diff_invalid_kind_next(g_query_filter_invalid, DIFF_QUERY_FILTER_INVALID_KINDS);
    g_query_filter_invalid[kind]++;
    switch (kind) {
    case 0:
        f->limit = 0;
        break;
    case 1:
        f->limit = diff_rng_percent(rng, 50)
                       ? BL_FILTER_LIMIT_MAX + 1
                       : (uint32_t)diff_rng_range(rng, BL_FILTER_LIMIT_MAX + 1, UINT32_MAX);
        break;
    case 2:
        f->flags |= 1u << diff_rng_range(rng, 1, 31);
        break;
    case 3:
        f->reserved0[diff_rng_below(rng, sizeof(f->reserved0))] =
            (uint8_t)diff_rng_range(rng, 1, UINT8_MAX);
        break;
    case 4:
        f->reserved1[diff_rng_below(rng, sizeof(f->reserved1))] =
            (uint8_t)diff_rng_range(rng, 1, UINT8_MAX);
        break;
    case 5:
        if (f->timestamp_max == 0) {
            f->timestamp_max = f->timestamp_min != 0 ? f->timestamp_min : 1;
        }
        f->timestamp_min = f->timestamp_max + 1 + diff_rng_below(rng, 3);
        break;
    default:
        f->limit = BL_FILTER_LIMIT_MAX + 1;
        f->reserved1[63] = 1;
        break;
    }
}

/* An account for AccountFilters: a hot account, a side of a transfer that exists (one with
 * history, when asked, if one of the sides has it), any account of the pools (landed or not),
 * or an id that never existed. */
static bl_u128_t diff_filter_account_pick(diff_run_t *run, diff_rng_t *rng, bool history) {
    const diff_gen_t *g = &run->gen;
    const diff_pool_t *main_pool = &g->pools[DIFF_POOL_MAIN];
    uint64_t r = diff_rng_below(rng, 100);
    if (r < 4) {
        return (diff_rng_u128(rng) >> 1) | 1; /* neither 0 nor 2^128 - 1 */
    }
    if (r < 30 && main_pool->count >= 4) {
        return main_pool->accounts[history ? 1 : diff_rng_below(rng, 4)].id; /* 1: history */
    }
    if (r < 80 && g->transfer_ids_count > 0) {
        bl_u128_t found = 0;
        for (int tries = 0; tries < 16; tries++) {
            bl_transfer_t t;
            const bl_u128_t *id = &g->transfer_ids[diff_rng_below(rng, g->transfer_ids_count)];
            if (bl_model_lookup_transfers(run->model, id, 1, &t) != 1) {
                continue;
            }
            bl_u128_t sides[2] = {t.debit_account_id, t.credit_account_id};
            bl_account_t accounts[2];
            uint64_t side = diff_rng_below(rng, 2);
            found = sides[side];
            if (!history) {
                break;
            }
            assert_int_equal(bl_model_lookup_accounts(run->model, sides, 2, accounts), 2);
            if (accounts[side].flags & BL_ACCOUNT_HISTORY) {
                break;
            }
            if (accounts[1 - side].flags & BL_ACCOUNT_HISTORY) {
                found = sides[1 - side];
                break;
            }
        }
        if (found != 0) {
            return found;
        }
    }
    const bl_account_t *any = NULL;
    for (int tries = 0; tries < 32; tries++) {
        const diff_pool_t *p = &g->pools[diff_rng_below(rng, DIFF_POOLS)];
        if (p->count == 0) {
            continue;
        }
        any = &p->accounts[diff_rng_below(rng, p->count)];
        if (!history || (any->flags & BL_ACCOUNT_HISTORY)) {
            break;
        }
    }
    return any != NULL ? any->id : (diff_rng_u128(rng) >> 1) | 1;
}

/* The model's transfers of an account, or its balance entries: up to BL_FILTER_LIMIT_MAX of
 * the oldest or the newest, for filters to draw real values from. */
static uint32_t diff_sample_account(diff_run_t *run, diff_rng_t *rng, bl_u128_t account_id,
                                    bool balances) {
    bl_account_filter_t f;
    memset(&f, 0, sizeof(f));
    f.account_id = account_id;
    f.flags = BL_FILTER_DEBITS | BL_FILTER_CREDITS;
    f.flags |= diff_rng_percent(rng, 50) ? BL_FILTER_REVERSED : 0;
    f.limit = BL_FILTER_LIMIT_MAX;
    return balances ? bl_model_account_balances(run->model, &f, run->sample_balances)
                    : bl_model_account_transfers(run->model, &f, run->sample_transfers);
}

/* A valid AccountFilter for `account_id`: a side (or both), maybe reversed, a limit, fields
 * from one of the account's transfers (so that they match), and a range from the timestamps
 * of its transfers or (balances) of its entries. */
static void diff_account_filter_random(diff_run_t *run, diff_rng_t *rng, uint32_t read,
                                       bl_u128_t account_id, uint32_t transfers_count,
                                       uint32_t balances_count, diff_filter_t *f) {
    memset(f, 0, sizeof(*f));
    f->read = read;
    bl_account_filter_t *a = &f->account;
    a->account_id = account_id;
    uint64_t r = diff_rng_below(rng, 100);
    a->flags = r < 30   ? BL_FILTER_DEBITS
               : r < 60 ? BL_FILTER_CREDITS
                        : BL_FILTER_DEBITS | BL_FILTER_CREDITS;
    a->flags |= diff_rng_percent(rng, 40) ? BL_FILTER_REVERSED : 0;
    a->limit = diff_filter_limit_random(rng);
    if (transfers_count > 0 && diff_rng_percent(rng, 50)) {
        const bl_transfer_t *t = &run->sample_transfers[diff_rng_below(rng, transfers_count)];
        switch (diff_rng_below(rng, 6)) {
        case 0:
            a->user_data_128 = t->user_data_128;
            break;
        case 1:
            a->user_data_64 = t->user_data_64;
            break;
        case 2:
            a->user_data_32 = t->user_data_32;
            break;
        case 3:
            a->code = t->code;
            break;
        case 4:
            a->code = t->code;
            a->user_data_64 = t->user_data_64;
            break;
        default:
            a->user_data_128 = t->user_data_128;
            a->user_data_64 = t->user_data_64;
            a->user_data_32 = t->user_data_32;
            a->code = t->code;
            break;
        }
    }
    uint64_t t0 = 0, t1 = 0;
    if (read == DIFF_READ_ACCOUNT_BALANCES && balances_count > 0) {
        t0 = run->sample_balances[diff_rng_below(rng, balances_count)].timestamp;
        t1 = run->sample_balances[diff_rng_below(rng, balances_count)].timestamp;
    } else if (transfers_count > 0) {
        t0 = run->sample_transfers[diff_rng_below(rng, transfers_count)].timestamp;
        t1 = run->sample_transfers[diff_rng_below(rng, transfers_count)].timestamp;
    }
    diff_range_random(rng, t0, t1, &a->timestamp_min, &a->timestamp_max);
}

/* The fields of a random object that exists (an account for query_accounts, else a
 * transfer); false when none was found. */
static bool diff_query_object_pick(diff_run_t *run, diff_rng_t *rng, uint32_t read,
                                   bl_transfer_t *fields) {
    const diff_gen_t *g = &run->gen;
    for (int tries = 0; tries < 16; tries++) {
        if (read == DIFF_READ_QUERY_ACCOUNTS) {
            const diff_pool_t *p = &g->pools[diff_rng_below(rng, DIFF_POOLS)];
            bl_account_t a;
            if (p->count == 0 ||
                bl_model_lookup_accounts(run->model, &p->accounts[diff_rng_below(rng, p->count)].id,
                                         1, &a) != 1) {
                continue;
            }
            memset(fields, 0, sizeof(*fields));
            fields->user_data_128 = a.user_data_128;
            fields->user_data_64 = a.user_data_64;
            fields->user_data_32 = a.user_data_32;
            fields->ledger = a.ledger;
            fields->code = a.code;
            fields->timestamp = a.timestamp;
            return true;
        }
        if (g->transfer_ids_count > 0 &&
            bl_model_lookup_transfers(run->model,
                                      &g->transfer_ids[diff_rng_below(rng, g->transfer_ids_count)],
                                      1, fields) == 1) {
            return true;
        }
    }
    return false;
}

/* A valid QueryFilter: some fields of a real object (so that it matches), a range from its
 * timestamp and another object's, a limit, maybe reversed. */
static void diff_query_filter_random(diff_run_t *run, diff_rng_t *rng, uint32_t read,
                                     diff_filter_t *f) {
    memset(f, 0, sizeof(*f));
    f->read = read;
    bl_query_filter_t *q = &f->query;
    q->limit = diff_filter_limit_random(rng);
    q->flags = diff_rng_percent(rng, 40) ? BL_QUERY_REVERSED : 0;
    bl_transfer_t o, other;
    if (!diff_query_object_pick(run, rng, read, &o)) {
        return;
    }
    if (diff_rng_percent(rng, 4)) { /* surely empty: o's own instant, a value o does not hold */
        q->user_data_64 = o.user_data_64 == 1 ? 2 : o.user_data_64 ^ 1;
        q->timestamp_min = q->timestamp_max = o.timestamp;
        return;
    }
    switch (diff_rng_below(rng, 9)) {
    case 0:
        q->ledger = o.ledger;
        break;
    case 1:
        q->code = o.code;
        break;
    case 2:
        q->user_data_64 = o.user_data_64;
        break;
    case 3:
        q->user_data_32 = o.user_data_32;
        break;
    case 4:
        q->user_data_128 = o.user_data_128;
        break;
    case 5:
        q->ledger = o.ledger;
        q->code = o.code;
        break;
    case 6:
        q->user_data_64 = o.user_data_64;
        q->code = o.code;
        break;
    case 7:
        q->user_data_128 = o.user_data_128;
        q->user_data_64 = o.user_data_64;
        q->user_data_32 = o.user_data_32;
        q->ledger = o.ledger;
        q->code = o.code;
        break;
    default:
        break; /* every object */
    }
    uint64_t t1 = diff_query_object_pick(run, rng, read, &other) ? other.timestamp : o.timestamp;
    diff_range_random(rng, o.timestamp, t1, &q->timestamp_min, &q->timestamp_max);
}

/* Pages through a valid filter's matches: the whole reply at once (at most
 * BL_FILTER_LIMIT_MAX), then pages of a small limit, each starting at the last timestamp + 1
 * (- 1 when reversed), to the end or DIFF_WALK_PAGES_MAX pages. Every page is compared with
 * the engines, and the model's pages put together must be its reply at once. */
static void diff_walk(diff_run_t *run, diff_rng_t *rng, diff_filter_t *f) {
    uint32_t *limit = diff_filter_limit(f);
    uint64_t *min = diff_filter_timestamp_min(f);
    uint64_t *max = diff_filter_timestamp_max(f);
    bool reversed = diff_filter_reversed(f);
    *limit = BL_FILTER_LIMIT_MAX;
    uint32_t all = diff_read_compare(run, f, true, "walk: all at once");
    memcpy(run->walk_all, run->reads_out[0], (size_t)all * DIFF_RECORD_SIZE);
    *limit = all <= 16 ? (uint32_t)diff_rng_range(rng, 1, 3)
                       : all / (uint32_t)diff_rng_range(rng, 3, 12) + 1;
    uint32_t offset = 0;
    for (uint32_t page = 0; page < DIFF_WALK_PAGES_MAX; page++) {
        bool valid = *max == 0 || *min <= *max; /* a bound walked past the other: empty */
        uint32_t n = diff_read_compare(run, f, valid, "walk: page");
        g_reads[f->read].pages++;
        /* The page is the next slice of the reply at once, as far as that reply goes (it holds
         * every match unless it was cut at BL_FILTER_LIMIT_MAX). */
        bool whole = all < BL_FILTER_LIMIT_MAX;
        bool slice_ok =
            offset + n <= all
                ? memcmp(run->reads_out[0], run->walk_all + (size_t)offset * DIFF_RECORD_SIZE,
                         (size_t)n * DIFF_RECORD_SIZE) == 0
                : !whole;
        if (!slice_ok) {
            print_error("  page %u (%u records) after %u records; %u at once\n", page, n, offset,
                        all);
            diff_filter_failure(f, g_filter_checks, "walk",
                                "the model's pages differ from its reply at once");
        }
        offset += n;
        if (n < *limit) {
            if (whole && offset != all) {
                print_error("  %u records in pages, %u at once\n", offset, all);
                diff_filter_failure(f, g_filter_checks, "walk",
                                    "the model's pages end before its reply at once");
            }
            g_reads[f->read].walks_ended++;
            return;
        }
        uint64_t last = diff_reply_timestamp(f->read, run->reads_out[0], n - 1);
        assert_true(last > 1 && last < UINT64_MAX); /* so that neither bound becomes 0 */
        if (reversed) {
            *max = last - 1;
        } else {
            *min = last + 1;
        }
    }
}

/* A round of filter checks after a block: for each of `accounts` accounts (mostly with
 * history), `per_read` random filters of get_account_transfers and of get_account_balances;
 * `per_read` random filters of each query read; one invalid filter of each read (a random one
 * broken by the next rule in turn); and `walks` walks, the reads taken in turn. */
void diff_filters_check(diff_run_t *run, uint32_t accounts, uint32_t per_read, uint32_t walks) {
    diff_rng_t *rng = &run->filter_rng;
    bl_u128_t id = 0;
    uint32_t transfers = 0, balances = 0;
    for (uint32_t k = 0; k < accounts; k++) {
        id = diff_filter_account_pick(run, rng, diff_rng_percent(rng, 75));
        transfers = diff_sample_account(run, rng, id, false);
        balances = diff_sample_account(run, rng, id, true);
        for (uint32_t i = 0; i < 2 * per_read; i++) {
            diff_filter_t f;
            uint32_t read = i & 1 ? DIFF_READ_ACCOUNT_BALANCES : DIFF_READ_ACCOUNT_TRANSFERS;
            diff_account_filter_random(run, rng, read, id, transfers, balances, &f);
            diff_read_compare(run, &f, true, "random");
        }
    }
    for (uint32_t i = 0; i < 2 * per_read; i++) {
        diff_filter_t f;
        diff_query_filter_random(run, rng,
                                 i & 1 ? DIFF_READ_QUERY_TRANSFERS : DIFF_READ_QUERY_ACCOUNTS, &f);
        diff_read_compare(run, &f, true, "random");
    }
    for (uint32_t read = 0; read < DIFF_READS; read++) {
        diff_filter_t f;
        if (read == DIFF_READ_ACCOUNT_TRANSFERS || read == DIFF_READ_ACCOUNT_BALANCES) {
            diff_account_filter_random(run, rng, read, id, transfers, balances, &f);
            diff_account_filter_break(rng, &f.account);
        } else {
            diff_query_filter_random(run, rng, read, &f);
            diff_query_filter_break(rng, &f.query);
        }
        diff_read_compare(run, &f, false, "invalid");
    }
    for (uint32_t w = 0; w < walks; w++) {
        uint32_t read = run->walks_done++ % DIFF_READS;
        diff_filter_t f;
        if (read == DIFF_READ_ACCOUNT_TRANSFERS || read == DIFF_READ_ACCOUNT_BALANCES) {
            id = diff_filter_account_pick(run, rng, read == DIFF_READ_ACCOUNT_BALANCES);
            transfers = diff_sample_account(run, rng, id, false);
            balances = diff_sample_account(run, rng, id, true);
            diff_account_filter_random(run, rng, read, id, transfers, balances, &f);
        } else {
            diff_query_filter_random(run, rng, read, &f);
        }
        diff_walk(run, rng, &f);
    }
}

/* The filter reads' guard: a run whose filters never matched more than one object, never hit a
 * limit, never walked to the end or never met an expiry's balance entry would pass against an
 * engine that answers nothing. */
void test_differential_filters_coverage(void **state) {
    (void)state;
    g_phase = "filters coverage";
    uint32_t missing = 0;
    for (uint32_t r = 0; r < DIFF_READS; r++) {
        const diff_read_stats_t *st = &g_reads[r];
        printf("differential: %s (%s): %" PRIu64 " calls, %" PRIu64 " records, %" PRIu64
               " empty, %" PRIu64 " of more than one record (%" PRIu64 " with fields, %" PRIu64
               " with a range, %" PRIu64 " reversed), %" PRIu64 " cut at the limit, %" PRIu64
               " pages, %" PRIu64 " walks to the end\n",
               g_read_names[r], g_read_compared[r] ? "compared" : "model only", st->calls, st->rows,
               st->empty, st->multi, st->multi_fields, st->multi_range, st->multi_reverse, st->full,
               st->pages, st->walks_ended);
        const uint64_t floors[] = {st->multi, st->multi_fields, st->multi_range, st->multi_reverse,
                                   st->full,  st->empty,        st->walks_ended};
        for (uint32_t k = 0; k < DIFF_ARRAY_LEN(floors); k++) {
            if (floors[k] == 0) {
                print_error("differential: %s: floor %u of test_differential_filters_coverage "
                            "never reached\n",
                            g_read_names[r], k);
                missing++;
            }
        }
    }
    printf("differential: balance entries of expiries: %" PRIu64 "; invalid AccountFilters by "
           "kind:",
           g_balance_expiry_entries);
    for (uint32_t k = 0; k < DIFF_ACCOUNT_FILTER_INVALID_KINDS; k++) {
        printf(" %" PRIu64, g_account_filter_invalid[k]);
        missing += g_account_filter_invalid[k] == 0;
    }
    printf("; invalid QueryFilters by kind:");
    for (uint32_t k = 0; k < DIFF_QUERY_FILTER_INVALID_KINDS; k++) {
        printf(" %" PRIu64, g_query_filter_invalid[k]);
        missing += g_query_filter_invalid[k] == 0;
    }
    printf("\n");
    if (missing > 0 || g_balance_expiry_entries == 0) {
        diff_rerun_print();
    }
    /* All of it in a run of the default size; a short run must still see each read return
     * more than one record. */
    for (uint32_t r = 0; r < DIFF_READS; r++) {
        assert_true(g_reads[r].multi > 0);
    }
    if (g_events_main >= DIFF_EVENTS_FULL_COVERAGE) {
        assert_int_equal(missing, 0);
        assert_true(g_balance_expiry_entries > 0);
    }
}
