/*
 * The differential test's generator of blocks. It writes create requests the way a hostile but
 * plausible client population would, so that the comparison with the model meets every result
 * code rather than only the common ones: mostly valid traffic over a small pool of known ids
 * (exists, not found and lookups of real records all happen often), hot accounts, balance
 * limits, two-phase transfers posted, voided, posted twice or after they expired, linked chains
 * of fixed shapes (succeed, fail in the middle, roll back and land again), resent events and
 * requests, every kind of invalid field, and whale amounts near 2^128 - 1 in a ledger of their
 * own. Every choice is drawn from the generator's own random stream, in a fixed order, so a
 * seed gives the same blocks whatever the checks between them do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ballast/protocol.h"
#include "tests/engine/differential_gen.h"

#define DIFF_ACCOUNT_TEMPLATES_MAX 40000u /* then the pool stops growing */
#define DIFF_SAVED_REQUEST_EVENTS_MAX 1024u
#define DIFF_WHALE_WINDOW 6u /* whale transfers use the newest whales only */

/* ------------------------------------------------------------------------------------------ */
/* The workload generator.                                                                    */
static const uint32_t g_pool_ledgers[DIFF_POOLS] = {1, 2, 3};

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
bl_transfer_t diff_transfer_safe(diff_gen_t *g) {
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
void diff_transfers_remember(diff_gen_t *g, const bl_transfer_t *events, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        const bl_transfer_t *t = &events[i];
        DIFF_PUSH(g->transfer_ids, g->transfer_ids_count, g->transfer_ids_capacity, t->id);
        if ((t->flags & BL_TRANSFER_PENDING) && t->id != 0 && t->id != BL_U128_MAX) {
            DIFF_PUSH(g->pendings, g->pendings_count, g->pendings_capacity, *t);
        }
        g->recent[g->recent_count++ % DIFF_RECENT_MAX] = *t;
    }
}

/* Feeds the model's results back to the generator: which pending transfers were created. */
void diff_gen_learn(diff_gen_t *g, uint16_t op, const void *events, uint32_t count,
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
uint64_t diff_time_step(diff_gen_t *g) {
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

void diff_gen_init(diff_gen_t *g, uint64_t seed) {
    memset(g, 0, sizeof(*g));
    diff_rng_seed(&g->rng, seed);
}

void diff_gen_free(diff_gen_t *g) {
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
/* Generating a block.                                                                        */

/* The first block: the hot accounts, then a starting population of every pool. */
void diff_block_first(diff_gen_t *g, diff_block_t *b) {
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

void diff_block_generate(diff_gen_t *g, diff_block_t *b, uint32_t block_events_max) {
    b->requests_count = 0;
    uint64_t r = diff_rng_below(&g->rng, 100);
    uint32_t requests = r < 5    ? 0
                        : r < 70 ? 1
                        : r < 88 ? 2
                                 : (uint32_t)diff_rng_range(&g->rng, 3, 6);
    uint32_t room = block_events_max;
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
 * (and a little ordinary traffic), all due within a few seconds. Returns the step from the last
 * block's T to this one's. */
uint64_t diff_block_storm(diff_gen_t *g, diff_block_t *b, uint32_t block_events_max) {
    bl_transfer_t *events = b->events[0];
    uint32_t count =
        block_events_max < BL_BATCH_EVENTS_MAX ? block_events_max : BL_BATCH_EVENTS_MAX;
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
    return diff_rng_range(&g->rng, 1, 1000);
}
