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
 * query indexes and account transfer lists, so its filter reads take the scanning path). After
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
 * Environment: BL_SEED (default: from the clock; always printed), BL_EVENTS (events of the main
 * phase, default 200000).
 */
#include <errno.h>
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

#include <cmocka.h>

#include "ballast/protocol.h"
#include "engine/engine.h"
#include "tests/model/model.h"

#define DIFF_EVENTS_DEFAULT 200000ull
#define DIFF_EVENTS_FULL_COVERAGE 50000ull /* from here on, every result code must happen */
#define DIFF_ENGINES_COUNT 4u
#define DIFF_BLOCK_REQUESTS_MAX 6u
#define DIFF_BLOCK_EVENTS_MAX (DIFF_BLOCK_REQUESTS_MAX * BL_BATCH_EVENTS_MAX)
#define DIFF_ACCOUNT_TEMPLATES_MAX 40000u /* then the pool stops growing */
#define DIFF_RECENT_MAX 4096u             /* ring of recent transfer events, for resends */
#define DIFF_SAVED_REQUESTS_MAX 32u       /* ring of recent requests, for whole resends */
#define DIFF_SAVED_REQUEST_EVENTS_MAX 1024u
#define DIFF_DIGEST_EVERY_BLOCKS 1u      /* engine digests are incremental: cheap */
#define DIFF_FULL_CHECK_EVERY_BLOCKS 32u /* at most: model digest + lookup of every id */
#define DIFF_WHALE_WINDOW 6u             /* whale transfers use the newest whales only */

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
#define DIFF_FILTER_EVERY_BLOCKS 16u /* at most: a few random filters of each read */
#define DIFF_WALK_PAGES_MAX 16u      /* a walk stops here if it has not reached the end */

static const uint32_t g_partitions[DIFF_ENGINES_COUNT] = {1, 2, 3, 8};

static uint64_t g_seed;
static uint64_t g_events_main = DIFF_EVENTS_DEFAULT;
static const char *g_argv0 = "./build/test_differential";

/* Result histograms over every phase, from the model's results (ok counted too). */
static uint64_t g_account_codes[BL_CREATE_ACCOUNT_CAPACITY_EXHAUSTED + 1];
static uint64_t g_transfer_codes[BL_CREATE_TRANSFER_CAPACITY_EXHAUSTED + 1];
static uint64_t g_expiries;

/* The filter reads, and what their filters reached over every phase (from the model's replies,
 * which the enabled comparisons proved equal to the engines'). */
enum {
    DIFF_READ_ACCOUNT_TRANSFERS,
    DIFF_READ_ACCOUNT_BALANCES,
    DIFF_READ_QUERY_ACCOUNTS,
    DIFF_READ_QUERY_TRANSFERS,
    DIFF_READS
};
static const char *const g_read_names[DIFF_READS] = {
    "get_account_transfers", "get_account_balances", "query_accounts", "query_transfers"};
static const bool g_read_compared[DIFF_READS] = {
    DIFF_COMPARE_ACCOUNT_TRANSFERS, DIFF_COMPARE_ACCOUNT_BALANCES, DIFF_COMPARE_QUERY_ACCOUNTS,
    DIFF_COMPARE_QUERY_TRANSFERS};

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

/* Where the run is, for the messages of a mismatch or a crash. */
static const char *g_phase = "none";
static uint64_t g_block_number;
static uint64_t g_block_timestamp;

/* ------------------------------------------------------------------------------------------ */
/* Random numbers: xoshiro256** seeded by splitmix64, so a seed reproduces a run exactly.     */

typedef struct diff_rng {
    uint64_t s[4];
} diff_rng_t;

static uint64_t diff_splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void diff_rng_seed(diff_rng_t *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        rng->s[i] = diff_splitmix(&seed);
    }
}

static uint64_t diff_rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t diff_rng_next(diff_rng_t *rng) {
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
static uint64_t diff_rng_below(diff_rng_t *rng, uint64_t n) {
    return diff_rng_next(rng) % n;
}

/* Uniform in [lo, hi]. */
static uint64_t diff_rng_range(diff_rng_t *rng, uint64_t lo, uint64_t hi) {
    return lo + diff_rng_below(rng, hi - lo + 1);
}

static bool diff_rng_percent(diff_rng_t *rng, uint32_t percent) {
    return diff_rng_below(rng, 100) < percent;
}

static bl_u128_t diff_rng_u128(diff_rng_t *rng) {
    return ((bl_u128_t)diff_rng_next(rng) << 64) | diff_rng_next(rng);
}

/* ------------------------------------------------------------------------------------------ */
/* Printing.                                                                                  */

static void diff_hex(bl_u128_t v, char out[35]) {
    snprintf(out, 35, "0x%016" PRIx64 "%016" PRIx64, (uint64_t)(v >> 64), (uint64_t)v);
}

static const char *diff_code_name(uint16_t op, uint32_t code) {
    const char *name = op == BL_OP_CREATE_ACCOUNTS ? bl_create_account_result_name(code)
                                                   : bl_create_transfer_result_name(code);
    return name ? name : "?";
}

static void diff_account_print(const char *label, const bl_account_t *a) {
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

static void diff_transfer_print(const char *label, const bl_transfer_t *t) {
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

static void diff_rerun_print(void) {
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
/* The workload generator.                                                                    */

enum { DIFF_POOL_MAIN, DIFF_POOL_OTHER, DIFF_POOL_WHALE, DIFF_POOLS };
static const uint32_t g_pool_ledgers[DIFF_POOLS] = {1, 2, 3};

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

/* A fresh id in one of four shapes, so ids spread over the whole 128-bit space (and partitions)
 * and the edges next to 0 and 2^128 - 1 are used too. Never 0 and never 2^128 - 1. */
static bl_u128_t diff_id_fresh(diff_gen_t *g) {
    uint64_t n = ++g->ids_next;
    switch (diff_rng_below(&g->rng, 4)) {
    case 0:
        return n;
    case 1:
        return ((bl_u128_t)n << 64) | diff_rng_next(&g->rng);
    case 2: {
        bl_u128_t id = diff_rng_u128(&g->rng);
        return id == 0 || id == BL_U128_MAX ? n : id;
    }
    default:
        return BL_U128_MAX - n;
    }
}

/* A value drawn below n for user_data_64 or user_data_32, its upper half moved to either side
 * of 65536: the engine keeps values below that in a table and hashes the others, so queries
 * test both. */
static uint64_t diff_small_or_wide(uint64_t v, uint64_t n) {
    return v < n / 2 ? v : v - n / 2 + 65536 - n / 4;
}

/* user_data_128: 0 (none) `zero_percent` of the time; else mostly one of 16 values that many
 * objects share, so that filters on it match more than one object; else a random value. */
static bl_u128_t diff_user_data_128_random(diff_gen_t *g, uint32_t zero_percent) {
    uint64_t r = diff_rng_below(&g->rng, 100);
    if (r < zero_percent) {
        return 0;
    }
    if (r < zero_percent + (100 - zero_percent) * 2 / 3) {
        uint64_t k = diff_rng_range(&g->rng, 1, 16);
        return ((bl_u128_t)k << 96) | (k * 0x01000193u);
    }
    return diff_rng_u128(&g->rng);
}

static const bl_account_t *diff_pool_pick(diff_gen_t *g, int pool) {
    diff_pool_t *p = &g->pools[pool];
    if (p->count == 0) {
        return NULL;
    }
    /* A quarter of picks come from the newest few: likely created in this very block. */
    if (diff_rng_percent(&g->rng, 25)) {
        uint64_t window = p->count < 16 ? p->count : 16;
        return &p->accounts[p->count - 1 - diff_rng_below(&g->rng, window)];
    }
    return &p->accounts[diff_rng_below(&g->rng, p->count)];
}

/* Hot accounts: the first four main accounts carry close to half of the main traffic; they
 * have no limit, history, debits_must_not_exceed_credits and credits_must_not_exceed_debits. */
static const uint16_t g_hot_flags[4] = {0, BL_ACCOUNT_HISTORY,
                                        BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS,
                                        BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS};

static bl_u128_t diff_account_id_pick(diff_gen_t *g, int pool) {
    diff_pool_t *p = &g->pools[pool];
    if (pool == DIFF_POOL_MAIN && p->count >= 4 && diff_rng_percent(&g->rng, 45)) {
        return p->accounts[diff_rng_below(&g->rng, 4)].id;
    }
    if (pool == DIFF_POOL_WHALE && p->count > 0) {
        uint64_t window = p->count < DIFF_WHALE_WINDOW ? p->count : DIFF_WHALE_WINDOW;
        return p->accounts[p->count - 1 - diff_rng_below(&g->rng, window)].id;
    }
    const bl_account_t *a = diff_pool_pick(g, pool);
    return a ? a->id : diff_id_fresh(g);
}

static uint16_t diff_account_flags_random(diff_gen_t *g) {
    switch (diff_rng_below(&g->rng, 20)) {
    case 0:
    case 1:
        return BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS;
    case 2:
    case 3:
        return BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS;
    case 4:
        return BL_ACCOUNT_HISTORY;
    case 5:
        return BL_ACCOUNT_HISTORY | BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS;
    default:
        return 0;
    }
}

/* A new account template in `pool`, remembered so later events can use or resend it. */
static bl_account_t diff_account_new(diff_gen_t *g, int pool, uint16_t flags) {
    bl_account_t a;
    memset(&a, 0, sizeof(a));
    a.id = diff_id_fresh(g);
    a.user_data_128 = diff_user_data_128_random(g, 50);
    a.user_data_64 = diff_small_or_wide(diff_rng_below(&g->rng, 1000), 1000);
    a.user_data_32 = (uint32_t)diff_small_or_wide(diff_rng_below(&g->rng, 1000), 1000);
    a.ledger = g_pool_ledgers[pool];
    a.code = (uint16_t)diff_rng_range(&g->rng, 1, 5);
    a.flags = flags;
    diff_pool_t *p = &g->pools[pool];
    DIFF_PUSH(p->accounts, p->count, p->capacity, a);
    g->templates_count++;
    return a;
}

/* One field changed so that the event is valid but differs from the stored account. */
static void diff_account_change_one(diff_gen_t *g, bl_account_t *a) {
    switch (diff_rng_below(&g->rng, 6)) {
    case 0:
        a->user_data_128 ^= 1;
        break;
    case 1:
        a->user_data_64 += 1;
        break;
    case 2:
        a->user_data_32 ^= 0x80000000u;
        break;
    case 3:
        a->ledger = a->ledger == 1 ? 2 : 1;
        break;
    case 4:
        a->code = (uint16_t)(a->code % 5 + 1);
        break;
    default:
        a->flags ^= BL_ACCOUNT_HISTORY;
        break;
    }
}

/* One invalid field of every kind create_accounts checks. */
static void diff_account_break_one(diff_gen_t *g, bl_account_t *a) {
    switch (diff_rng_below(&g->rng, 11)) {
    case 0:
        a->timestamp = diff_rng_range(&g->rng, 1, UINT64_MAX);
        break;
    case 1:
        a->reserved = (uint32_t)diff_rng_range(&g->rng, 1, UINT32_MAX);
        break;
    case 2:
        a->flags |= (uint16_t)(1u << diff_rng_range(&g->rng, 4, 15));
        break;
    case 3:
        a->id = 0;
        break;
    case 4:
        a->id = BL_U128_MAX;
        break;
    case 5:
        a->flags |=
            BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS | BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS;
        break;
    case 6:
        a->debits_pending = 1;
        break;
    case 7:
        a->credits_posted = BL_U128_MAX;
        break;
    case 8:
        a->ledger = 0;
        break;
    case 9:
        a->code = 0;
        break;
    default:
        a->debits_posted = (bl_u128_t)1 << 100;
        break;
    }
}

static int diff_pool_random(diff_gen_t *g) {
    uint64_t r = diff_rng_below(&g->rng, 100);
    return r < 84 ? DIFF_POOL_MAIN : r < 92 ? DIFF_POOL_OTHER : DIFF_POOL_WHALE;
}

/* Accounts in a chain that rolls back (created, resent, then a broken one), then created again
 * in the same request and resent; returns the events written (0: no room). */
static uint32_t diff_accounts_chain_pattern(diff_gen_t *g, bl_account_t *e, uint32_t room) {
    if (room < 5) {
        return 0;
    }
    e[0] = diff_account_new(g, DIFF_POOL_MAIN, diff_account_flags_random(g));
    e[0].flags |= BL_ACCOUNT_LINKED;
    e[1] = e[0];
    if (diff_rng_percent(&g->rng, 30)) {
        diff_account_change_one(g, &e[1]); /* the chain fails here instead */
    }
    e[2] = diff_account_new(g, DIFF_POOL_OTHER, 0);
    diff_account_break_one(g, &e[2]);
    e[2].flags &= (uint16_t)~BL_ACCOUNT_LINKED;
    e[3] = e[0];
    e[3].flags &= (uint16_t)~BL_ACCOUNT_LINKED;
    e[4] = e[3];
    return 5;
}

static void diff_accounts_generate(diff_gen_t *g, bl_account_t *events, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        if (diff_rng_percent(&g->rng, 2)) {
            uint32_t written = diff_accounts_chain_pattern(g, &events[i], count - i);
            if (written > 0) {
                i += written - 1;
                continue;
            }
        }
        bl_account_t a;
        uint64_t r = diff_rng_below(&g->rng, 100);
        bool may_grow = g->templates_count < DIFF_ACCOUNT_TEMPLATES_MAX;
        int pool = diff_pool_random(g);
        const bl_account_t *existing = diff_pool_pick(g, pool);
        if ((r < 30 && may_grow) || existing == NULL) {
            uint16_t flags = 0;
            if (pool == DIFF_POOL_MAIN) {
                flags = diff_account_flags_random(g);
            } else if (pool == DIFF_POOL_WHALE && (g->templates_count & 1)) {
                flags = BL_ACCOUNT_HISTORY; /* balance entries near 2^128 - 1 */
            }
            a = diff_account_new(g, pool, flags);
        } else if (r < 80) {
            a = *existing; /* exists, or created now if it never landed */
        } else if (r < 86) {
            a = *existing;
            diff_account_change_one(g, &a);
        } else if (r < 96) {
            a = diff_rng_percent(&g->rng, 50) ? *existing : diff_account_new(g, pool, 0);
            diff_account_break_one(g, &a);
        } else {
            a = i > 0 ? events[diff_rng_below(&g->rng, i)] : *existing;
        }
        a.flags &= (uint16_t)~BL_ACCOUNT_LINKED;
        if (diff_rng_percent(&g->rng, 8)) {
            a.flags |= BL_ACCOUNT_LINKED;
        }
        events[i] = a;
    }
    if (diff_rng_percent(&g->rng, 4)) {
        events[count - 1].flags |= BL_ACCOUNT_LINKED; /* leave the last chain open */
    }
}

/* Amounts: mostly small; sometimes large enough to trip balance limits. */
static bl_u128_t diff_amount_small(diff_gen_t *g) {
    uint64_t r = diff_rng_below(&g->rng, 100);
    if (r < 70) {
        return diff_rng_range(&g->rng, 1, 100);
    }
    if (r < 95) {
        return diff_rng_range(&g->rng, 101, 10000);
    }
    return diff_rng_range(&g->rng, 10001, 1000000000);
}

/* Whale amounts: near 2^128 - 1 and its halves, so every overflow code fires. */
static bl_u128_t diff_amount_whale(diff_gen_t *g) {
    switch (diff_rng_below(&g->rng, 10)) {
    case 0:
        return BL_U128_MAX;
    case 1:
        return BL_U128_MAX - diff_rng_below(&g->rng, 1000);
    case 2:
        return BL_U128_MAX / 2;
    case 3:
        return BL_U128_MAX / 2 + 1 + diff_rng_below(&g->rng, 1000);
    case 4:
        return BL_U128_MAX / 3;
    case 5:
        return (bl_u128_t)1 << 127;
    case 6:
        return ((bl_u128_t)diff_rng_next(&g->rng) << 36) + 1;
    case 7:
        return diff_rng_range(&g->rng, 1, 1000);
    default: {
        bl_u128_t v = diff_rng_u128(&g->rng);
        return v ? v : 1;
    }
    }
}

/* Timeouts: never, a few seconds (expire during the run), long, or so long that the deadline
 * passes 2^64 - 1 (the main phase runs at timestamps near 2^64). */
static uint32_t diff_timeout_random(diff_gen_t *g) {
    uint64_t r = diff_rng_below(&g->rng, 100);
    if (r < 30) {
        return 0;
    }
    if (r < 85) {
        return (uint32_t)diff_rng_range(&g->rng, 1, 5);
    }
    if (r < 95) {
        return (uint32_t)diff_rng_range(&g->rng, 6, 60);
    }
    return (uint32_t)diff_rng_range(&g->rng, 3600, UINT32_MAX);
}

static void diff_user_data_random(diff_gen_t *g, bl_transfer_t *t) {
    t->user_data_128 = diff_user_data_128_random(g, 60);
    t->user_data_64 = diff_small_or_wide(diff_rng_below(&g->rng, 100), 100);
    t->user_data_32 = (uint32_t)diff_small_or_wide(diff_rng_below(&g->rng, 100), 100);
}

/* A plain or pending transfer between two accounts of `pool`. */
static bl_transfer_t diff_transfer_plain(diff_gen_t *g, int pool, bool pending) {
    bl_transfer_t t;
    memset(&t, 0, sizeof(t));
    t.id = diff_id_fresh(g);
    t.debit_account_id = diff_account_id_pick(g, pool);
    t.credit_account_id = diff_account_id_pick(g, pool);
    if (t.credit_account_id == t.debit_account_id && diff_rng_percent(&g->rng, 90)) {
        t.credit_account_id = diff_account_id_pick(g, pool); /* mostly avoid, sometimes keep */
    }
    t.amount = pool == DIFF_POOL_WHALE ? diff_amount_whale(g) : diff_amount_small(g);
    t.ledger = g_pool_ledgers[pool];
    t.code = (uint16_t)diff_rng_range(&g->rng, 1, 3);
    diff_user_data_random(g, &t);
    if (pending) {
        t.flags = BL_TRANSFER_PENDING;
        t.timeout = diff_timeout_random(g);
    }
    return t;
}

/* A transfer id that is most likely a plain (not pending) transfer. */
static bl_u128_t diff_plain_id_pick(diff_gen_t *g) {
    uint64_t n = g->recent_count < DIFF_RECENT_MAX ? g->recent_count : DIFF_RECENT_MAX;
    for (int tries = 0; n > 0 && tries < 8; tries++) {
        const bl_transfer_t *t = &g->recent[diff_rng_below(&g->rng, n)];
        if (!(t->flags &
              (BL_TRANSFER_PENDING | BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING))) {
            return t->id;
        }
    }
    return diff_id_fresh(g);
}

/* A pending transfer to post or void: mostly one that was created (recent ones are likely
 * still pending, older ones posted, voided or expired), sometimes one that was only sent
 * (maybe in this very block, maybe never created). */
static const bl_transfer_t *diff_pending_pick(diff_gen_t *g) {
    uint64_t r = diff_rng_below(&g->rng, 100);
    const bl_transfer_t *list = g->pendings;
    uint64_t count = g->pendings_count;
    if (r < 75 && g->pendings_created_count > 0) {
        list = g->pendings_created;
        count = g->pendings_created_count;
    }
    if (count == 0) {
        return NULL;
    }
    if (r % 4 != 0) {
        uint64_t window = count < 64 ? count : 64;
        return &list[count - 1 - diff_rng_below(&g->rng, window)];
    }
    return &list[diff_rng_below(&g->rng, count)];
}

/* 0 (taken from the pending transfer) most of the time, else the same value or another. */
static bl_u128_t diff_optional_u128(diff_gen_t *g, bl_u128_t same) {
    uint64_t r = diff_rng_below(&g->rng, 100);
    return r < 80 ? 0 : r < 96 ? same : same + 1;
}

static uint32_t diff_optional_u32(diff_gen_t *g, uint32_t same) {
    uint64_t r = diff_rng_below(&g->rng, 100);
    return r < 80 ? 0 : r < 96 ? same : same + 1;
}

/* A post or void of `p` (NULL: a pending picked here, sometimes a transfer that is not
 * pending or does not exist), with amounts: 0, exact, partial, too much, wrong. */
static bl_transfer_t diff_transfer_resolve(diff_gen_t *g, bool post, const bl_transfer_t *p) {
    bl_transfer_t t;
    memset(&t, 0, sizeof(t));
    t.id = diff_id_fresh(g);
    t.flags = post ? BL_TRANSFER_POST_PENDING : BL_TRANSFER_VOID_PENDING;
    diff_user_data_random(g, &t);
    uint64_t r = diff_rng_below(&g->rng, 100);
    if (p == NULL && r < 90) {
        p = diff_pending_pick(g);
    }
    if (p == NULL) {
        t.pending_id = r < 95 ? diff_plain_id_pick(g) : diff_id_fresh(g);
        t.amount = diff_rng_percent(&g->rng, 50) ? 0 : diff_amount_small(g);
        return t;
    }
    t.pending_id = p->id;
    t.debit_account_id = diff_optional_u128(g, p->debit_account_id);
    t.credit_account_id = diff_optional_u128(g, p->credit_account_id);
    t.ledger = diff_optional_u32(g, p->ledger);
    t.code = (uint16_t)diff_optional_u32(g, p->code);
    r = diff_rng_below(&g->rng, 100);
    if (post) {
        if (r < 30) {
            t.amount = 0;
        } else if (r < 55) {
            t.amount = p->amount;
        } else if (r < 85) {
            t.amount = p->amount > 1 ? 1 + diff_rng_u128(&g->rng) % (p->amount - 1) : p->amount;
        } else {
            t.amount = p->amount + 1 + diff_rng_below(&g->rng, 3); /* too much (or wraps) */
        }
    } else {
        if (r < 60) {
            t.amount = 0;
        } else if (r < 90) {
            t.amount = p->amount;
        } else {
            t.amount = r & 1 ? p->amount + 1 : p->amount - 1; /* wrong (0 when amount was 1) */
        }
    }
    return t;
}

/* One invalid field of every kind create_transfers checks (some only fail for some kinds). */
static void diff_transfer_break_one(diff_gen_t *g, bl_transfer_t *t) {
    switch (diff_rng_below(&g->rng, 19)) {
    case 0:
        t->timestamp = diff_rng_range(&g->rng, 1, UINT64_MAX);
        break;
    case 1:
        t->flags |= (uint16_t)(1u << diff_rng_range(&g->rng, 4, 15));
        break;
    case 2:
        t->id = 0;
        break;
    case 3:
        t->id = BL_U128_MAX;
        break;
    case 4:
        t->flags |= diff_rng_percent(&g->rng, 50)
                        ? BL_TRANSFER_PENDING | BL_TRANSFER_POST_PENDING
                        : BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING;
        break;
    case 5:
        t->debit_account_id = 0;
        break;
    case 6:
        t->debit_account_id = BL_U128_MAX;
        break;
    case 7:
        t->credit_account_id = 0;
        break;
    case 8:
        t->credit_account_id = BL_U128_MAX;
        break;
    case 9:
        t->credit_account_id = t->debit_account_id ? t->debit_account_id : 77;
        t->debit_account_id = t->credit_account_id;
        break;
    case 10:
        t->pending_id = t->pending_id ? t->pending_id : diff_id_fresh(g);
        break;
    case 11:
        t->pending_id = 0;
        break;
    case 12:
        t->pending_id = BL_U128_MAX;
        break;
    case 13:
        t->pending_id = t->id;
        break;
    case 14:
        t->timeout = (uint32_t)diff_rng_range(&g->rng, 1, 10);
        break;
    case 15:
        t->amount = 0;
        break;
    case 16:
        t->ledger = 0;
        break;
    case 17:
        t->code = 0;
        break;
    default:
        /* Large, but 10^5 of them stay far from 2^128: the main ledger must not saturate. */
        t->amount = ((bl_u128_t)1 << 64) + diff_rng_next(&g->rng);
        break;
    }
}

/* One field changed: valid, but different from the stored transfer. */
static void diff_transfer_change_one(diff_gen_t *g, bl_transfer_t *t) {
    switch (diff_rng_below(&g->rng, 6)) {
    case 0:
        t->user_data_64 += 1;
        break;
    case 1:
        t->user_data_128 ^= (bl_u128_t)1 << 100;
        break;
    case 2:
        t->user_data_32 += 1;
        break;
    case 3:
        t->amount += 1;
        break;
    case 4:
        t->code = (uint16_t)(t->code + 1);
        break;
    default:
        t->flags ^= BL_TRANSFER_PENDING; /* plain <-> pending; a post gets flags 7 */
        break;
    }
}

/* A transfer between ledgers: accounts of two ledgers (25) or a transfer ledger that is not the
 * accounts' (26). */
static bl_transfer_t diff_transfer_ledger_mismatch(diff_gen_t *g) {
    bl_transfer_t t = diff_transfer_plain(g, DIFF_POOL_MAIN, diff_rng_percent(&g->rng, 30));
    if (diff_rng_percent(&g->rng, 50)) {
        t.credit_account_id = diff_account_id_pick(g, DIFF_POOL_OTHER);
    } else {
        t.ledger = g_pool_ledgers[DIFF_POOL_OTHER];
    }
    return t;
}

/* A transfer that succeeds unless the tables are full: small, between the two safe accounts
 * (no balance limits, used by nothing else), plain or pending without timeout. */
static bl_transfer_t diff_transfer_safe(diff_gen_t *g) {
    bl_transfer_t t = diff_transfer_plain(g, DIFF_POOL_MAIN, diff_rng_percent(&g->rng, 20));
    uint64_t side = diff_rng_below(&g->rng, 2);
    t.debit_account_id = g->safe[side];
    t.credit_account_id = g->safe[1 - side];
    t.amount = diff_rng_range(&g->rng, 1, 100);
    t.timeout = 0;
    return t;
}

/* Writes one of a few fixed chain shapes at events[i..]; returns how many events it wrote (0
 * when there is no room). */
static uint32_t diff_chain_pattern(diff_gen_t *g, bl_transfer_t *events, uint32_t i,
                                   uint32_t count) {
    uint32_t room = count - i;
    bl_transfer_t *e = &events[i];
    switch (diff_rng_below(&g->rng, 7)) {
    case 0: /* pending, post of it, plain: succeeds (or fails as a whole) */
        if (room < 3) {
            return 0;
        }
        e[0] = diff_transfer_plain(g, DIFF_POOL_MAIN, true);
        e[1] = diff_transfer_resolve(g, true, &e[0]);
        e[2] = diff_transfer_plain(g, DIFF_POOL_MAIN, false);
        e[0].flags |= BL_TRANSFER_LINKED;
        e[1].flags |= BL_TRANSFER_LINKED;
        return 3;
    case 1: /* fails in the middle */
        if (room < 3) {
            return 0;
        }
        e[0] = diff_transfer_plain(g, DIFF_POOL_MAIN, false);
        e[1] = diff_transfer_plain(g, DIFF_POOL_MAIN, diff_rng_percent(&g->rng, 50));
        diff_transfer_break_one(g, &e[1]);
        e[2] = diff_transfer_plain(g, DIFF_POOL_MAIN, false);
        e[0].flags |= BL_TRANSFER_LINKED;
        e[1].flags |= BL_TRANSFER_LINKED;
        e[2].flags &= (uint16_t)~BL_TRANSFER_LINKED;
        return 3;
    case 2: /* resent events (exists counts as success) then a new one */
        if (room < 3 || g->recent_count == 0) {
            return 0;
        }
        for (int k = 0; k < 2; k++) {
            uint64_t n = g->recent_count < DIFF_RECENT_MAX ? g->recent_count : DIFF_RECENT_MAX;
            e[k] = g->recent[diff_rng_below(&g->rng, n)];
            e[k].flags |= BL_TRANSFER_LINKED;
        }
        e[2] = diff_transfer_plain(g, DIFF_POOL_MAIN, false);
        return 3;
    case 3: /* a pending, then a chain that posts it and voids it: fails at the void */
        if (room < 3) {
            return 0;
        }
        e[0] = diff_transfer_plain(g, DIFF_POOL_MAIN, true);
        e[1] = diff_transfer_resolve(g, true, &e[0]);
        e[1].flags |= BL_TRANSFER_LINKED;
        e[2] = diff_transfer_resolve(g, false, &e[0]);
        return 3;
    case 4: /* created and resent in a chain that rolls back, then created again, and resent */
        if (room < 5) {
            return 0;
        }
        e[0] = diff_rng_percent(&g->rng, 50) ? diff_transfer_safe(g)
                                             : diff_transfer_plain(g, DIFF_POOL_MAIN, true);
        e[0].flags |= BL_TRANSFER_LINKED;
        e[1] = e[0];
        e[2] = diff_transfer_safe(g);
        diff_transfer_break_one(g, &e[2]);
        e[2].flags &= (uint16_t)~BL_TRANSFER_LINKED;
        e[3] = e[0];
        e[3].flags &= (uint16_t)~BL_TRANSFER_LINKED;
        e[4] = e[3];
        return 5;
    case 5: { /* a post in a chain that rolls back, then the same post alone: it lands */
        if (room < 4) {
            return 0;
        }
        e[0] = diff_transfer_safe(g);
        e[0].flags = BL_TRANSFER_PENDING;
        e[0].timeout = diff_rng_percent(&g->rng, 50) ? 0 : 1;
        e[1] = diff_transfer_resolve(g, diff_rng_percent(&g->rng, 50), &e[0]);
        e[1].flags |= BL_TRANSFER_LINKED;
        e[2] = diff_transfer_safe(g);
        diff_transfer_break_one(g, &e[2]);
        e[2].flags &= (uint16_t)~BL_TRANSFER_LINKED;
        e[3] = e[1];
        e[3].flags &= (uint16_t)~BL_TRANSFER_LINKED;
        return 4;
    }
    default: { /* a long chain of plain transfers over the hot accounts, sometimes broken */
        uint32_t n = (uint32_t)diff_rng_range(&g->rng, 5, 60);
        if (room < n) {
            return 0;
        }
        uint32_t broken =
            diff_rng_percent(&g->rng, 30) ? (uint32_t)diff_rng_below(&g->rng, n) : UINT32_MAX;
        for (uint32_t k = 0; k < n; k++) {
            e[k] = diff_transfer_safe(g);
            if (k == broken) {
                diff_transfer_break_one(g, &e[k]);
            }
            e[k].flags &= (uint16_t)~BL_TRANSFER_LINKED;
            if (k + 1 < n) {
                e[k].flags |= BL_TRANSFER_LINKED;
            }
        }
        return n;
    }
    }
}

static bl_transfer_t diff_transfer_one(diff_gen_t *g, const bl_transfer_t *events, uint32_t i) {
    uint64_t r = diff_rng_below(&g->rng, 1000);
    uint64_t recent_n = g->recent_count < DIFF_RECENT_MAX ? g->recent_count : DIFF_RECENT_MAX;
    bl_transfer_t t;
    if (r < 360) {
        t = diff_transfer_plain(g, DIFF_POOL_MAIN, false);
    } else if (r < 540) {
        t = diff_transfer_plain(g, DIFF_POOL_MAIN, true);
    } else if (r < 660) {
        t = diff_transfer_resolve(g, true, NULL);
    } else if (r < 730) {
        t = diff_transfer_resolve(g, false, NULL);
    } else if (r < 800) {
        uint64_t w = diff_rng_below(&g->rng, 10);
        t = w < 8 ? diff_transfer_plain(g, DIFF_POOL_WHALE, w >= 4)
                  : diff_transfer_resolve(g, w == 8, NULL);
    } else if (r < 860 && recent_n > 0) {
        t = g->recent[diff_rng_below(&g->rng, recent_n)];
        if (diff_rng_percent(&g->rng, 30)) {
            diff_transfer_change_one(g, &t);
        }
    } else if (r < 890 && i > 0) {
        t = events[diff_rng_below(&g->rng, i)]; /* a duplicate inside the request */
    } else if (r < 940) {
        uint64_t kind = diff_rng_below(&g->rng, 3);
        t = kind == 2 ? diff_transfer_resolve(g, diff_rng_percent(&g->rng, 50), NULL)
                      : diff_transfer_plain(g, DIFF_POOL_MAIN, kind == 1);
        diff_transfer_break_one(g, &t);
    } else if (r < 965) {
        t = diff_transfer_ledger_mismatch(g);
    } else if (r < 985) {
        t = diff_transfer_plain(g, DIFF_POOL_MAIN, diff_rng_percent(&g->rng, 30));
        if (diff_rng_percent(&g->rng, 50)) {
            t.debit_account_id = diff_id_fresh(g); /* not found */
        } else {
            t.credit_account_id = diff_id_fresh(g);
        }
    } else {
        /* An id that is also an account id: the two id spaces are separate. */
        t = diff_transfer_plain(g, DIFF_POOL_MAIN, false);
        t.id = diff_account_id_pick(g, DIFF_POOL_MAIN);
    }
    return t;
}

/* Remembers what a request sent, for later posts, voids, resends and lookups. */
static void diff_transfers_remember(diff_gen_t *g, const bl_transfer_t *events, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        const bl_transfer_t *t = &events[i];
        DIFF_PUSH(g->transfer_ids, g->transfer_ids_count, g->transfer_ids_capacity, t->id);
        if ((t->flags & BL_TRANSFER_PENDING) && t->id != 0 && t->id != BL_U128_MAX) {
            DIFF_PUSH(g->pendings, g->pendings_count, g->pendings_capacity, *t);
        }
        g->recent[g->recent_count++ % DIFF_RECENT_MAX] = *t;
    }
}

static void diff_transfers_generate(diff_gen_t *g, bl_transfer_t *events, uint32_t count) {
    uint32_t i = 0;
    while (i < count) {
        if (diff_rng_below(&g->rng, 1000) < 15) {
            uint32_t written = diff_chain_pattern(g, events, i, count);
            if (written > 0) {
                diff_transfers_remember(g, &events[i], written);
                i += written;
                continue;
            }
        }
        bl_transfer_t t = diff_transfer_one(g, events, i);
        t.flags &= (uint16_t)~BL_TRANSFER_LINKED;
        if (diff_rng_percent(&g->rng, 10)) {
            t.flags |= BL_TRANSFER_LINKED;
        }
        events[i] = t;
        diff_transfers_remember(g, &events[i], 1);
        i++;
    }
    /* Sometimes leave the request's last chain open. */
    uint64_t r = diff_rng_below(&g->rng, 100);
    if (r < 4) {
        events[count - 1].flags |= BL_TRANSFER_LINKED;
    } else if (r < 6) {
        for (uint32_t k = count > 3 ? count - 3 : 0; k < count; k++) {
            events[k].flags |= BL_TRANSFER_LINKED;
        }
    }
}

static uint32_t diff_batch_size(diff_gen_t *g) {
    uint64_t r = diff_rng_below(&g->rng, 1000);
    if (r < 450) {
        return (uint32_t)diff_rng_range(&g->rng, 1, 8);
    }
    if (r < 800) {
        return (uint32_t)diff_rng_range(&g->rng, 9, 100);
    }
    if (r < 960) {
        return (uint32_t)diff_rng_range(&g->rng, 101, 1000);
    }
    if (r < 995) {
        return (uint32_t)diff_rng_range(&g->rng, 1001, 4096);
    }
    return (uint32_t)diff_rng_range(&g->rng, 4097, BL_BATCH_EVENTS_MAX);
}

/* How far the next block's timestamp moves past the last one: mostly not at all, sometimes by
 * up to many seconds so that pending transfers with small timeouts expire. */
static uint64_t diff_time_step(diff_gen_t *g) {
    uint64_t r = diff_rng_below(&g->rng, 100);
    if (r < 55) {
        return diff_rng_below(&g->rng, 10000);
    }
    if (r < 80) {
        return diff_rng_range(&g->rng, 1000000, 300000000);
    }
    if (r < 95) {
        return diff_rng_range(&g->rng, 500000000, 2500000000ull);
    }
    return diff_rng_range(&g->rng, 3000000000ull, 12000000000ull);
}

static void diff_gen_init(diff_gen_t *g, uint64_t seed) {
    memset(g, 0, sizeof(*g));
    diff_rng_seed(&g->rng, seed);
}

static void diff_gen_free(diff_gen_t *g) {
    for (int p = 0; p < DIFF_POOLS; p++) {
        free(g->pools[p].accounts);
    }
    free(g->transfer_ids);
    free(g->pendings);
    free(g->pendings_created);
    for (uint32_t i = 0; i < DIFF_SAVED_REQUESTS_MAX; i++) {
        free(g->saved[i].events);
    }
}

static size_t diff_record_size(uint16_t op) {
    return op == BL_OP_CREATE_ACCOUNTS ? sizeof(bl_account_t) : sizeof(bl_transfer_t);
}

static void diff_request_save(diff_gen_t *g, uint16_t op, const void *events, uint32_t count) {
    if (count > DIFF_SAVED_REQUEST_EVENTS_MAX) {
        return;
    }
    diff_saved_request_t *s = &g->saved[g->saved_count++ % DIFF_SAVED_REQUESTS_MAX];
    free(s->events);
    s->op = op;
    s->count = count;
    s->events = malloc(count * diff_record_size(op));
    assert_non_null(s->events);
    memcpy(s->events, events, count * diff_record_size(op));
}

/* ------------------------------------------------------------------------------------------ */
/* A block, and the executors it runs on.                                                     */

typedef struct diff_block {
    uint64_t timestamp;
    uint32_t requests_count;
    uint16_t ops[DIFF_BLOCK_REQUESTS_MAX];
    uint32_t counts[DIFF_BLOCK_REQUESTS_MAX];
    void *events[DIFF_BLOCK_REQUESTS_MAX]; /* each room for BL_BATCH_EVENTS_MAX records */
} diff_block_t;

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
#define DIFF_RECORD_SIZE 128u /* Account, Transfer and AccountBalance alike */
_Static_assert(sizeof(bl_account_t) == DIFF_RECORD_SIZE &&
                   sizeof(bl_transfer_t) == DIFF_RECORD_SIZE &&
                   sizeof(bl_account_balance_t) == DIFF_RECORD_SIZE,
               "every filter read returns 128-byte records");
#define DIFF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static diff_run_t *diff_run_create(const diff_phase_t *phase) {
    diff_run_t *run = calloc(1, sizeof(*run));
    assert_non_null(run);
    run->phase = phase->name;
    g_phase = phase->name;
    run->block_events_max = phase->block_events_max;
    diff_gen_init(&run->gen, phase->seed);
    run->model = bl_model_create(phase->accounts_max, phase->transfers_max);
    assert_non_null(run->model);
    for (uint32_t e = 0; e < DIFF_ENGINES_COUNT; e++) {
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
        bl_engine_destroy(run->engines[e]);
    }
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
/* Generating a block.                                                                        */

/* The first block: the hot accounts, then a starting population of every pool. */
static void diff_block_first(diff_run_t *run) {
    diff_gen_t *g = &run->gen;
    diff_block_t *b = &run->block;
    bl_account_t *events = b->events[0];
    uint32_t n = 0;
    for (int h = 0; h < 4; h++) {
        events[n++] = diff_account_new(g, DIFF_POOL_MAIN, g_hot_flags[h]);
    }
    for (int k = 0; k < 2; k++) {
        bl_account_t a;
        memset(&a, 0, sizeof(a));
        a.id = diff_id_fresh(g);
        a.ledger = g_pool_ledgers[DIFF_POOL_MAIN];
        a.code = 9;
        g->safe[k] = a.id;
        events[n++] = a;
    }
    for (int k = 0; k < 40; k++) {
        events[n++] = diff_account_new(g, DIFF_POOL_MAIN, diff_account_flags_random(g));
    }
    for (int k = 0; k < 8; k++) {
        events[n++] = diff_account_new(g, DIFF_POOL_OTHER, 0);
    }
    for (int k = 0; k < 6; k++) {
        events[n++] = diff_account_new(g, DIFF_POOL_WHALE, k & 1 ? BL_ACCOUNT_HISTORY : 0);
    }
    for (int k = 0; k < 150; k++) {
        events[n++] = diff_account_new(g, DIFF_POOL_MAIN, diff_account_flags_random(g));
    }
    b->requests_count = 1;
    b->ops[0] = BL_OP_CREATE_ACCOUNTS;
    b->counts[0] = n;
}

static void diff_block_generate(diff_run_t *run) {
    diff_gen_t *g = &run->gen;
    diff_block_t *b = &run->block;
    b->requests_count = 0;
    uint64_t r = diff_rng_below(&g->rng, 100);
    uint32_t requests = r < 5    ? 0
                        : r < 70 ? 1
                        : r < 88 ? 2
                                 : (uint32_t)diff_rng_range(&g->rng, 3, 6);
    uint32_t room = run->block_events_max;
    for (uint32_t q = 0; q < requests && room > 0; q++) {
        /* A whole earlier request again: unchanged, or with one field of one event changed. */
        uint64_t n =
            g->saved_count < DIFF_SAVED_REQUESTS_MAX ? g->saved_count : DIFF_SAVED_REQUESTS_MAX;
        const diff_saved_request_t *s = n > 0 ? &g->saved[diff_rng_below(&g->rng, n)] : NULL;
        if (s != NULL && s->count <= room && diff_rng_percent(&g->rng, 4)) {
            room -= s->count;
            b->ops[q] = s->op;
            b->counts[q] = s->count;
            memcpy(b->events[q], s->events, s->count * diff_record_size(s->op));
            if (diff_rng_percent(&g->rng, 30)) {
                uint32_t k = (uint32_t)diff_rng_below(&g->rng, s->count);
                if (s->op == BL_OP_CREATE_ACCOUNTS) {
                    diff_account_change_one(g, &((bl_account_t *)b->events[q])[k]);
                } else {
                    diff_transfer_change_one(g, &((bl_transfer_t *)b->events[q])[k]);
                }
            }
            b->requests_count++;
            continue;
        }
        bool accounts = diff_rng_percent(&g->rng, 15);
        uint32_t count = diff_batch_size(g);
        count = count < room ? count : room;
        room -= count;
        b->ops[q] = accounts ? BL_OP_CREATE_ACCOUNTS : BL_OP_CREATE_TRANSFERS;
        b->counts[q] = count;
        if (accounts) {
            diff_accounts_generate(g, b->events[q], count);
        } else {
            diff_transfers_generate(g, b->events[q], count);
        }
        diff_request_save(g, b->ops[q], b->events[q], count);
        b->requests_count++;
    }
}

/* A block of the storm: one full request of short pending transfers between the hot accounts
 * (and a little ordinary traffic), all due within a few seconds. */
static void diff_block_storm(diff_run_t *run) {
    diff_gen_t *g = &run->gen;
    diff_block_t *b = &run->block;
    bl_transfer_t *events = b->events[0];
    uint32_t count =
        run->block_events_max < BL_BATCH_EVENTS_MAX ? run->block_events_max : BL_BATCH_EVENTS_MAX;
    for (uint32_t i = 0; i < count; i++) {
        if (diff_rng_percent(&g->rng, 90)) {
            events[i] = diff_transfer_safe(g);
            events[i].flags = BL_TRANSFER_PENDING;
            events[i].timeout = (uint32_t)diff_rng_range(&g->rng, 1, 3);
        } else {
            events[i] = diff_transfer_one(g, events, i);
            events[i].flags &= (uint16_t)~BL_TRANSFER_LINKED;
        }
    }
    diff_transfers_remember(g, events, count);
    b->requests_count = 1;
    b->ops[0] = BL_OP_CREATE_TRANSFERS;
    b->counts[0] = count;
    run->time_step_override = diff_rng_range(&g->rng, 1, 1000);
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

static void diff_mismatch_header(const char *what, uint32_t executor) {
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
static void diff_filters_check(diff_run_t *run, uint32_t accounts, uint32_t per_read,
                               uint32_t walks) {
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

/* ------------------------------------------------------------------------------------------ */
/* Running.                                                                                   */

/* Feeds the model's results back to the generator: which pending transfers were created. */
static void diff_gen_learn(diff_gen_t *g, uint16_t op, const void *events, uint32_t count,
                           const uint32_t *codes) {
    if (op != BL_OP_CREATE_TRANSFERS) {
        return;
    }
    for (uint32_t i = 0; i < count; i++) {
        const bl_transfer_t *t = &((const bl_transfer_t *)events)[i];
        if (codes[i] == BL_CREATE_TRANSFER_OK && (t->flags & BL_TRANSFER_PENDING)) {
            DIFF_PUSH(g->pendings_created, g->pendings_created_count, g->pendings_created_capacity,
                      *t);
        }
    }
}

/* Sometimes a T right on an edge: exactly the deadline of a pending transfer (it expires now)
 * or 1 ns before it (it does not). Returns 0 when this block is not one of those. */
static void diff_block_execute(diff_run_t *run);

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

    diff_block_first(run);
    diff_block_execute(run);
    for (uint32_t i = 0; i < phase->storm_blocks; i++) {
        diff_block_storm(run);
        diff_block_execute(run);
    }
    if (phase->storm_blocks > 0) {
        /* Everything above is due at once: more expiries than block_events_max. */
        run->block.requests_count = 0;
        run->time_step_override = 10 * BL_NS_PER_S;
        diff_block_execute(run);
    }
    while (run->events_done < phase->events) {
        diff_block_generate(run);
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

/* The filter reads' guard: a run whose filters never matched more than one object, never hit a
 * limit, never walked to the end or never met an expiry's balance entry would pass against an
 * engine that answers nothing. */
static void test_differential_filters_coverage(void **state) {
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
