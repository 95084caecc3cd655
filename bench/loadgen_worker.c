/*
 * One client of `ballast bench`: a connection driven by its own thread.
 *
 * The thread keeps up to --inflight requests in flight (bl_client_send), takes the replies in
 * order (bl_client_receive) and after each reply fills the pipeline again. A request is a
 * batch of create_transfers events or, with --query-fraction, a query (lookup_accounts,
 * lookup_transfers of transfers already acknowledged, get_account_transfers), one in turn.
 *
 * A batch starts with posts and voids of pending transfers this client saw acknowledged (a
 * queue), then new transfers until the client's share is sent. So a post is only ever sent
 * after its pending transfer is durable, and the queue holds at most inflight x batch entries:
 * a batch takes resolutions before it adds new pending transfers, so resolutions queued plus
 * pending transfers in flight never exceed the events of the requests in flight.
 *
 * Whether a pending transfer is posted (an amount up to the pending one) or voided, and the
 * amount, are a hash of its id; the kinds and accounts of new transfers come from the client's
 * own generator, seeded from --seed and the client's number, so a seed repeats the workload.
 * A linked chain never crosses a batch, so no chain is left open.
 *
 * Replies: an event of a create_transfers reply with frame status ok is acknowledged; its
 * result code is counted, and if it succeeded (ok, or exists after the client resent a request
 * on a new connection) it counts toward throughput and adds to the amounts the run expects on
 * its accounts. Failed events are counted apart: throughput is never the speed of rejecting.
 * `busy` resends the same request (same ids) after 1 ms; other frame statuses count the
 * request's events as refused.
 *
 * State: everything here belongs to the worker's thread; the sampler reads only the atomics.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/common.h"
#include "bench/loadgen.h"
#include "common/assert.h"

/* ------------------------------------------------------------------------------------------ */
/* Zipf: rejection-inversion sampling (Hörmann and Derflinger, 1996), any exponent > 0.        */

#define BL_LOADGEN_ZIPF_TRIES_MAX 1000u

static double zipf_log1p_ratio(double x) { /* log(1 + x) / x, also near 0 */
    return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

static double zipf_expm1_ratio(double x) { /* (exp(x) - 1) / x, also near 0 */
    return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x / 3.0 * (1 + 0.25 * x));
}

static double zipf_h(const bl_loadgen_zipf_t *z, double x) {
    return exp(-z->theta * log(x));
}

static double zipf_h_integral(const bl_loadgen_zipf_t *z, double x) {
    double log_x = log(x);
    return zipf_expm1_ratio((1 - z->theta) * log_x) * log_x;
}

static double zipf_h_integral_inverse(const bl_loadgen_zipf_t *z, double x) {
    double t = x * (1 - z->theta);
    if (t < -1) t = -1;
    return exp(zipf_log1p_ratio(t) * x);
}

void bl_loadgen_zipf_init(bl_loadgen_zipf_t *zipf, double theta, uint64_t n) {
    BL_ASSERT(theta > 0 && n >= 1);
    zipf->theta = theta;
    zipf->n = (double)n;
    zipf->h_integral_x1 = zipf_h_integral(zipf, 1.5) - 1;
    zipf->h_integral_n = zipf_h_integral(zipf, zipf->n + 0.5);
    zipf->s = 2 - zipf_h_integral_inverse(zipf, zipf_h_integral(zipf, 2.5) - zipf_h(zipf, 2));
}

uint64_t bl_loadgen_zipf_draw(const bl_loadgen_zipf_t *zipf, uint64_t *rng) {
    double k = 1;
    for (uint32_t tries = 0; tries < BL_LOADGEN_ZIPF_TRIES_MAX; tries++) {
        double uniform = (double)(bench_rng_next(rng) >> 11) * 0x1.0p-53;
        double u = zipf->h_integral_n + uniform * (zipf->h_integral_x1 - zipf->h_integral_n);
        double x = zipf_h_integral_inverse(zipf, u);
        k = floor(x + 0.5);
        if (k < 1) k = 1;
        if (k > zipf->n) k = zipf->n;
        if (k - x <= zipf->s || u >= zipf_h_integral(zipf, k + 0.5) - zipf_h(zipf, k)) break;
    }
    return (uint64_t)k;
}

/* ------------------------------------------------------------------------------------------ */
/* Setup.                                                                                     */

void bl_loadgen_totals_add(bl_loadgen_totals_t *sum, const bl_loadgen_totals_t *add) {
    enum { counters_count = offsetof(bl_loadgen_totals_t, posted_amount) / sizeof(uint64_t) };
    _Static_assert(offsetof(bl_loadgen_totals_t, posted_amount) % sizeof(uint64_t) == 0,
                   "the counters are whole words");
    uint64_t to[counters_count], from[counters_count];
    memcpy(to, sum, sizeof(to));
    memcpy(from, add, sizeof(from));
    for (uint32_t i = 0; i < counters_count; i++) to[i] += from[i];
    memcpy(sum, to, sizeof(to));
    sum->posted_amount += add->posted_amount;
    sum->pending_amount += add->pending_amount;
}

int bl_loadgen_worker_init(bl_loadgen_worker_t *w, const bl_loadgen_run_t *run, uint32_t index,
                           uint64_t share) {
    const bl_loadgen_options_t *o = &run->options;
    memset(w, 0, sizeof(*w));
    w->run = run;
    w->index = index;
    w->share = share;
    w->seq_next = 1;
    uint64_t seed = o->seed ^ (0x9E3779B97F4A7C15ull * (index + 1));
    w->rng = bench_rng_next(&seed);
    w->rng_query = bench_rng_next(&seed);
    w->rng_sample = bench_rng_next(&seed);
    w->slots = calloc(o->inflight, sizeof(*w->slots));
    w->fifo = calloc(o->inflight, sizeof(uint32_t));
    w->free_slots = calloc(o->inflight, sizeof(uint32_t));
    if (!w->slots || !w->fifo || !w->free_slots) return -ENOMEM;
    for (uint32_t i = 0; i < o->inflight; i++) {
        w->slots[i].transfers = calloc(o->batch_size, sizeof(bl_transfer_t));
        w->slots[i].pending_amounts = calloc(o->batch_size, sizeof(uint64_t));
        if (!w->slots[i].transfers || !w->slots[i].pending_amounts) return -ENOMEM;
        w->free_slots[w->free_count++] = i;
    }
    if (o->pending_fraction > 0) {
        uint64_t capacity = 1;
        while (capacity < (uint64_t)o->inflight * o->batch_size) capacity <<= 1;
        w->queue = calloc(capacity, sizeof(*w->queue));
        if (!w->queue) return -ENOMEM;
        w->queue_mask = (uint32_t)(capacity - 1);
    }
    w->reply_bytes = o->batch_size * (uint32_t)sizeof(bl_event_result_t);
    if (w->reply_bytes < BL_LOADGEN_QUERY_LIMIT * sizeof(bl_transfer_t))
        w->reply_bytes = BL_LOADGEN_QUERY_LIMIT * sizeof(bl_transfer_t);
    if (w->reply_bytes < BL_LOADGEN_QUERY_IDS * sizeof(bl_account_t))
        w->reply_bytes = BL_LOADGEN_QUERY_IDS * sizeof(bl_account_t);
    w->reply = malloc(w->reply_bytes);
    w->sample_max = o->verify_sample / o->clients + (index < o->verify_sample % o->clients);
    w->sample = calloc(w->sample_max ? w->sample_max : 1, sizeof(bl_transfer_t));
    w->latency_capacity = share / o->batch_size + 16;
    w->latency_ns = malloc(w->latency_capacity * sizeof(uint64_t));
    if (!w->reply || !w->sample || !w->latency_ns) return -ENOMEM;
    return 0;
}

void bl_loadgen_worker_deinit(bl_loadgen_worker_t *w) {
    for (uint32_t i = 0; w->slots != NULL && i < w->run->options.inflight; i++) {
        free(w->slots[i].transfers);
        free(w->slots[i].pending_amounts);
    }
    free(w->slots);
    free(w->fifo);
    free(w->free_slots);
    free(w->queue);
    free(w->reply);
    free(w->sample);
    free(w->latency_ns);
    bl_client_close(w->client);
    w->client = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Requests.                                                                                  */

static bool worker_stopping(void) {
    return atomic_load_explicit(&bl_loadgen_stopping, memory_order_relaxed) != 0;
}

/* A debit and a credit account number for a new transfer, by the workload's shape. */
static void worker_pair_draw(bl_loadgen_worker_t *w, uint64_t *debit, uint64_t *credit) {
    const bl_loadgen_run_t *run = w->run;
    uint64_t accounts = run->options.accounts;
    if (run->options.zipf == 0) {
        bench_pair_draw(&w->rng, accounts, run->hot_threshold, debit, credit);
        return;
    }
    if (run->hot_threshold != 0 && bench_rng_next(&w->rng) < run->hot_threshold) {
        uint64_t other = 1 + bl_loadgen_zipf_draw(&run->zipf_other, &w->rng);
        bool hot_debits = bench_rng_next(&w->rng) & 1;
        *debit = hot_debits ? 1 : other;
        *credit = hot_debits ? other : 1;
        return;
    }
    uint64_t dr = bl_loadgen_zipf_draw(&run->zipf_all, &w->rng), cr = dr;
    for (uint32_t tries = 0; cr == dr && tries < 64; tries++)
        cr = bl_loadgen_zipf_draw(&run->zipf_all, &w->rng);
    if (cr == dr) cr = dr % accounts + 1; /* a very skewed draw: take the next account */
    *debit = dr;
    *credit = cr;
}

/* A new plain or pending transfer into t; `room`: events left in the batch, for chains. */
static void worker_transfer_make(bl_loadgen_worker_t *w, bl_transfer_t *t, uint32_t room) {
    const bl_loadgen_run_t *run = w->run;
    uint64_t seq = w->seq_next++, debit, credit;
    bench_transfer_make(t, seq, run->options.accounts); /* fields, amount 1..1000 */
    worker_pair_draw(w, &debit, &credit);
    t->id = bl_loadgen_transfer_id(run->tag, w->index, seq);
    t->debit_account_id = bl_loadgen_account_id(run->tag, debit);
    t->credit_account_id = bl_loadgen_account_id(run->tag, credit);
    if (run->pending_threshold != 0 && bench_rng_next(&w->rng) < run->pending_threshold)
        t->flags |= BL_TRANSFER_PENDING;
    if (w->chain_left == 0 && run->chain_threshold != 0 && room >= 2 &&
        bench_rng_next(&w->rng) < run->chain_threshold) {
        uint64_t left = w->share - w->new_sent;
        w->chain_left = run->options.chain_length;
        if (w->chain_left > room) w->chain_left = room;
        if (w->chain_left > left) w->chain_left = (uint32_t)left;
    }
    if (w->chain_left > 0 && --w->chain_left > 0) t->flags |= BL_TRANSFER_LINKED;
    w->new_sent++;
}

/* The post or void of an acknowledged pending transfer, with every field given, so the stored
 * transfer reads back exactly as sent. */
static void worker_resolution_make(bl_loadgen_worker_t *w, bl_transfer_t *t,
                                   const bl_loadgen_pending_t *p) {
    uint64_t tag = w->run->tag;
    uint64_t hash = p->seq ^ tag;
    hash = bench_rng_next(&hash);
    memset(t, 0, sizeof(*t));
    t->id = bl_loadgen_transfer_id(tag, w->index, w->seq_next++);
    t->pending_id = bl_loadgen_transfer_id(tag, w->index, p->seq);
    t->debit_account_id = bl_loadgen_account_id(tag, p->debit);
    t->credit_account_id = bl_loadgen_account_id(tag, p->credit);
    t->ledger = 1;
    t->code = 1;
    if (hash & 1) {
        t->flags = BL_TRANSFER_POST_PENDING;
        t->amount = 1 + (hash >> 1) % p->amount;
    } else {
        t->flags = BL_TRANSFER_VOID_PENDING;
        t->amount = p->amount;
    }
}

static bool worker_batch_build(bl_loadgen_worker_t *w, bl_loadgen_slot_t *slot) {
    uint32_t batch = w->run->options.batch_size, n = 0;
    while (n < batch && w->queue_head != w->queue_tail) {
        const bl_loadgen_pending_t *p = &w->queue[w->queue_head++ & w->queue_mask];
        worker_resolution_make(w, &slot->transfers[n], p);
        slot->pending_amounts[n++] = p->amount;
    }
    while (n < batch && w->new_sent < w->share) {
        slot->pending_amounts[n] = 0;
        worker_transfer_make(w, &slot->transfers[n], batch - n);
        n++;
    }
    slot->op = BL_OP_CREATE_TRANSFERS;
    slot->count = n;
    return n > 0;
}

/* The next query in turn: lookup_accounts, lookup_transfers (of acknowledged transfers; while
 * there are none, lookup_accounts), get_account_transfers. */
static void worker_query_build(bl_loadgen_worker_t *w, bl_loadgen_slot_t *slot) {
    const bl_loadgen_run_t *run = w->run;
    uint32_t kind = w->query_next++ % 3;
    if (kind == 1 && w->sample_count == 0) kind = 0;
    if (kind == 2) {
        memset(&slot->filter, 0, sizeof(slot->filter));
        slot->filter.account_id = bl_loadgen_account_id(
            run->tag, 1 + bench_rng_next(&w->rng_query) % run->options.accounts);
        slot->filter.limit = BL_LOADGEN_QUERY_LIMIT;
        slot->filter.flags = BL_FILTER_DEBITS | BL_FILTER_CREDITS;
        slot->op = BL_OP_GET_ACCOUNT_TRANSFERS;
        slot->count = 1;
        return;
    }
    for (uint32_t i = 0; i < BL_LOADGEN_QUERY_IDS; i++) {
        uint64_t r = bench_rng_next(&w->rng_query);
        slot->ids[i] = kind == 0 ? bl_loadgen_account_id(run->tag, 1 + r % run->options.accounts)
                                 : w->sample[r % w->sample_count].id;
    }
    slot->op = kind == 0 ? BL_OP_LOOKUP_ACCOUNTS : BL_OP_LOOKUP_TRANSFERS;
    slot->count = BL_LOADGEN_QUERY_IDS;
}

static const void *worker_slot_body(const bl_loadgen_slot_t *slot) {
    switch (slot->op) {
    case BL_OP_CREATE_TRANSFERS:
        return slot->transfers;
    case BL_OP_GET_ACCOUNT_TRANSFERS:
        return &slot->filter;
    default:
        return slot->ids;
    }
}

static int worker_slot_send(bl_loadgen_worker_t *w, uint32_t index) {
    bl_loadgen_slot_t *slot = &w->slots[index];
    int rc = bl_client_send(w->client, slot->op, worker_slot_body(slot), slot->count, NULL);
    if (rc != 0) return rc;
    uint32_t inflight = w->run->options.inflight;
    BL_ASSERT(w->fifo_count < inflight);
    w->fifo[(w->fifo_head + w->fifo_count++) % inflight] = index;
    return 0;
}

/* Builds and sends one request. 1 sent, 0 nothing to send now, or -errno. */
static int worker_request_next(bl_loadgen_worker_t *w) {
    const bl_loadgen_run_t *run = w->run;
    BL_ASSERT(w->free_count > 0);
    uint32_t index = w->free_slots[w->free_count - 1];
    bl_loadgen_slot_t *slot = &w->slots[index];
    bool writing = w->new_sent < w->share;
    if (writing && run->query_threshold != 0 &&
        bench_rng_next(&w->rng_query) < run->query_threshold) {
        worker_query_build(w, slot);
    } else if (!worker_batch_build(w, slot)) {
        return 0;
    }
    slot->busy = 0;
    slot->sent_ns = bench_now_ns();
    int rc = worker_slot_send(w, index);
    if (rc != 0) return rc;
    w->free_count--;
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Replies.                                                                                   */

static void worker_sample_offer(bl_loadgen_worker_t *w, const bl_transfer_t *t) {
    if (w->sample_max == 0) return;
    w->sample_seen++;
    if (w->sample_count < w->sample_max) {
        w->sample[w->sample_count++] = *t;
        return;
    }
    uint64_t j = bench_rng_next(&w->rng_sample) % w->sample_seen;
    if (j < w->sample_max) w->sample[j] = *t;
}

static int worker_latency_record(bl_loadgen_worker_t *w, uint64_t latency_ns) {
    if (w->latency_count == w->latency_capacity) {
        uint64_t capacity = w->latency_capacity * 2;
        uint64_t *grown = realloc(w->latency_ns, capacity * sizeof(uint64_t));
        if (grown == NULL) return -ENOMEM;
        w->latency_ns = grown;
        w->latency_capacity = capacity;
    }
    w->latency_ns[w->latency_count++] = latency_ns;
    uint64_t seen = atomic_load_explicit(&w->latency_max_shared_ns, memory_order_relaxed);
    while (latency_ns > seen &&
           !atomic_compare_exchange_weak_explicit(&w->latency_max_shared_ns, &seen, latency_ns,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
    return 0;
}

/* One event of an acknowledged batch with its result code. */
static bool worker_event_account(bl_loadgen_worker_t *w, const bl_loadgen_slot_t *slot, uint32_t i,
                                 uint32_t code) {
    bl_loadgen_totals_t *totals = &w->totals;
    const bl_transfer_t *t = &slot->transfers[i];
    bool linked_before = i > 0 && (slot->transfers[i - 1].flags & BL_TRANSFER_LINKED);
    totals->results[code < BL_LOADGEN_RESULT_CODES ? code : BL_LOADGEN_RESULT_CODES - 1]++;
    if ((t->flags & BL_TRANSFER_LINKED) || linked_before) {
        totals->linked_events++;
        if (!linked_before) totals->linked_chains++;
    }
    if (code != BL_CREATE_TRANSFER_OK && code != BL_CREATE_TRANSFER_EXISTS) return false;
    if (t->flags & BL_TRANSFER_PENDING) {
        totals->pending_created++;
        totals->pending_amount += t->amount;
        if (w->queue != NULL) {
            BL_ASSERT(w->queue_tail - w->queue_head <= w->queue_mask);
            w->queue[w->queue_tail++ & w->queue_mask] = (bl_loadgen_pending_t){
                .seq = (uint64_t)t->id & ((1ull << BL_LOADGEN_CLIENT_SEQ_BITS) - 1),
                .debit = (uint32_t)t->debit_account_id,
                .credit = (uint32_t)t->credit_account_id,
                .amount = (uint64_t)t->amount};
        }
    } else if (t->flags & BL_TRANSFER_POST_PENDING) {
        totals->posted++;
        totals->posted_amount += t->amount;
        totals->pending_amount -= slot->pending_amounts[i];
    } else if (t->flags & BL_TRANSFER_VOID_PENDING) {
        totals->voided++;
        totals->pending_amount -= t->amount;
    } else {
        totals->posted_amount += t->amount;
    }
    if (!(t->flags & (BL_TRANSFER_POST_PENDING | BL_TRANSFER_VOID_PENDING))) totals->new_acked++;
    worker_sample_offer(w, t);
    return true;
}

/* A create_transfers reply with frame status ok: `count` EventResults, sorted by index, one
 * per event that was not ok. 0 or -EPROTO. */
static int worker_batch_acked(bl_loadgen_worker_t *w, const bl_loadgen_slot_t *slot, uint32_t count,
                              uint64_t now_ns) {
    const bl_event_result_t *results = (const bl_event_result_t *)w->reply;
    if (count > slot->count) return -EPROTO;
    for (uint32_t j = 0; j < count; j++) {
        if (results[j].index >= slot->count || (j > 0 && results[j].index <= results[j - 1].index))
            return -EPROTO;
    }
    uint32_t j = 0, succeeded = 0;
    for (uint32_t i = 0; i < slot->count; i++) {
        uint32_t code = j < count && results[j].index == i ? results[j++].result : 0;
        succeeded += worker_event_account(w, slot, i, code);
    }
    w->totals.events_acked += succeeded;
    w->totals.events_failed += slot->count - succeeded;
    w->end_ns = now_ns;
    atomic_store_explicit(&w->acked_shared, w->totals.events_acked, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->requests_shared, 1, memory_order_relaxed);
    return worker_latency_record(w, now_ns - slot->sent_ns);
}

static void worker_query_done(bl_loadgen_worker_t *w, const bl_loadgen_slot_t *slot,
                              uint32_t count) {
    w->totals.queries[slot->op]++;
    w->totals.query_records += count;
    /* every id asked for exists: accounts of the run, transfers already acknowledged */
    if (slot->op != BL_OP_GET_ACCOUNT_TRANSFERS && count != slot->count)
        w->totals.query_mismatches++;
}

/* Takes the oldest reply. 0 or -errno. */
static int worker_reply_take(bl_loadgen_worker_t *w) {
    uint32_t inflight = w->run->options.inflight;
    uint32_t index = w->fifo[w->fifo_head], status, count = 0;
    bl_loadgen_slot_t *slot = &w->slots[index];
    int rc = bl_client_receive(w->client, NULL, &status, w->reply, w->reply_bytes, &count);
    if (rc != 0) return rc;
    uint64_t now_ns = bench_now_ns();
    w->fifo_head = (w->fifo_head + 1) % inflight;
    w->fifo_count--;
    w->totals.statuses[slot->op][status < BL_LOADGEN_STATUSES ? status : BL_LOADGEN_STATUSES - 1]++;
    if (slot->op == BL_OP_CREATE_TRANSFERS && status == BL_FRAME_BUSY && !worker_stopping()) {
        if (++slot->busy > BL_LOADGEN_BUSY_RETRIES_MAX) return -EBUSY;
        w->totals.busy_retries++;
        usleep(1000);
        return worker_slot_send(w, index); /* the same ids: idempotent */
    }
    w->free_slots[w->free_count++] = index;
    if (slot->op != BL_OP_CREATE_TRANSFERS) {
        if (status == BL_FRAME_OK)
            worker_query_done(w, slot, count);
        else
            w->totals.queries[slot->op]++;
        return 0;
    }
    if (status != BL_FRAME_OK) {
        w->totals.events_refused += slot->count;
        return 0;
    }
    return worker_batch_acked(w, slot, count, now_ns);
}

void *bl_loadgen_worker_main(void *arg) {
    bl_loadgen_worker_t *w = arg;
    int rc = 0;
    for (;;) {
        while (rc >= 0 && w->fifo_count < w->run->options.inflight && !worker_stopping()) {
            if ((rc = worker_request_next(w)) == 0) break;
            if (rc < 0) w->error_what = "send";
        }
        if (rc < 0 || w->fifo_count == 0) break;
        if ((rc = worker_reply_take(w)) < 0) {
            w->error_what = "receive";
            break;
        }
    }
    if (rc < 0) {
        w->error = rc;
        int none = 0; /* tell the other clients to stop too */
        atomic_compare_exchange_strong(&bl_loadgen_stopping, &none, 2);
    }
    w->totals.reconnects = bl_client_reconnects(w->client);
    atomic_store_explicit(&w->finished, true, memory_order_release);
    return NULL;
}
