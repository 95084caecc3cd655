/*
 * The checks at the end of `ballast bench`, after every client has drained.
 *
 *   zero balance    lookup_accounts of every account of the run: per ledger, the sum of
 *                   debits_posted equals the sum of credits_posted, and likewise pending (each
 *                   transfer adds its amount to one debit and one credit), and every account
 *                   is found
 *   totals          the posted and pending sums equal what the acknowledged events should have
 *                   left: the run's accounts are touched by nothing else
 *   read back       lookup_transfers of a sample of acknowledged events (a reservoir per
 *                   client): each is found and equals what was sent, all but the timestamp
 *                   the server sets, which must be set
 *   server counts   a throwaway server's accounts_count and transfers_count grew by exactly
 *                   the events that got `ok` (a remote server may have other writers)
 *   results         every event got ok (or exists, for a request resent on a new connection),
 *                   no request was refused, and every lookup found all it asked for
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen.h"

static void verify_ledger_add(bl_loadgen_verify_t *v, const bl_account_t *a) {
    bl_loadgen_ledger_t *l = NULL;
    for (uint32_t i = 0; i < v->ledgers_count && l == NULL; i++)
        if (v->ledgers[i].ledger == a->ledger) l = &v->ledgers[i];
    if (l == NULL) {
        if (v->ledgers_count == BL_LOADGEN_LEDGERS_MAX) {
            v->ledgers_overflow = true;
            return;
        }
        l = &v->ledgers[v->ledgers_count++];
        l->ledger = a->ledger;
    }
    l->debits_posted += a->debits_posted;
    l->credits_posted += a->credits_posted;
    l->debits_pending += a->debits_pending;
    l->credits_pending += a->credits_pending;
}

/* Every account of the run, 8,192 per request. 0 or -errno (-EIO: a frame status not ok). */
static int verify_accounts(bl_loadgen_run_t *run, bl_client_t *client) {
    bl_loadgen_verify_t *v = &run->verify;
    bl_u128_t *ids = calloc(BL_BATCH_EVENTS_MAX, sizeof(bl_u128_t));
    bl_account_t *accounts = calloc(BL_BATCH_EVENTS_MAX, sizeof(bl_account_t));
    int rc = ids && accounts ? 0 : -ENOMEM;
    for (uint64_t first = 1; rc == 0 && first <= run->options.accounts;
         first += BL_BATCH_EVENTS_MAX) {
        uint64_t left = run->options.accounts - first + 1;
        uint32_t n = left < BL_BATCH_EVENTS_MAX ? (uint32_t)left : BL_BATCH_EVENTS_MAX, found;
        uint32_t status;
        for (uint32_t i = 0; i < n; i++) ids[i] = bl_loadgen_account_id(run->tag, first + i);
        rc = bl_client_lookup_accounts(client, ids, n, accounts, &found, &status);
        if (rc == 0 && status != BL_FRAME_OK) rc = -EIO;
        for (uint32_t i = 0; rc == 0 && i < found; i++) verify_ledger_add(v, &accounts[i]);
        if (rc == 0) v->accounts_found += found;
    }
    free(ids);
    free(accounts);
    return rc;
}

/* One request's worth of sampled transfers: found ones come back in request order. */
static int verify_sample_chunk(bl_loadgen_verify_t *v, bl_client_t *client,
                               const bl_transfer_t *sent, uint32_t n, bl_u128_t *ids,
                               bl_transfer_t *got) {
    uint32_t found, status;
    for (uint32_t i = 0; i < n; i++) ids[i] = sent[i].id;
    int rc = bl_client_lookup_transfers(client, ids, n, got, &found, &status);
    if (rc != 0) return rc;
    if (status != BL_FRAME_OK) return -EIO;
    uint32_t j = 0;
    for (uint32_t i = 0; i < n; i++) {
        v->sample_checked++;
        if (j >= found || got[j].id != sent[i].id) continue; /* not found */
        if (memcmp(&got[j], &sent[i], offsetof(bl_transfer_t, timestamp)) == 0 &&
            got[j].timestamp != 0)
            v->sample_matched++;
        j++;
    }
    return 0;
}

static int verify_sample(bl_loadgen_run_t *run, bl_client_t *client) {
    bl_u128_t *ids = calloc(BL_BATCH_EVENTS_MAX, sizeof(bl_u128_t));
    bl_transfer_t *got = calloc(BL_BATCH_EVENTS_MAX, sizeof(bl_transfer_t));
    int rc = ids && got ? 0 : -ENOMEM;
    for (uint32_t c = 0; rc == 0 && c < run->options.clients; c++) {
        const bl_loadgen_worker_t *w = &run->workers[c];
        for (uint32_t first = 0; rc == 0 && first < w->sample_count; first += BL_BATCH_EVENTS_MAX) {
            uint32_t n = w->sample_count - first;
            if (n > BL_BATCH_EVENTS_MAX) n = BL_BATCH_EVENTS_MAX;
            rc = verify_sample_chunk(&run->verify, client, w->sample + first, n, ids, got);
        }
    }
    free(ids);
    free(got);
    return rc;
}

static bool verify_results_expected(const bl_loadgen_run_t *run) {
    const bl_loadgen_totals_t *t = &run->totals;
    for (uint32_t code = 0; code < BL_LOADGEN_RESULT_CODES; code++)
        if (t->results[code] != 0 && code != BL_CREATE_TRANSFER_OK &&
            code != BL_CREATE_TRANSFER_EXISTS)
            return false;
    return t->events_refused == 0 && t->query_mismatches == 0;
}

void bl_loadgen_verify_run(bl_loadgen_run_t *run, bl_client_t *client) {
    bl_loadgen_verify_t *v = &run->verify;
    memset(v, 0, sizeof(*v));
    v->server_counts_match = -1;
    int rc = verify_accounts(run, client);
    if (rc == 0) rc = verify_sample(run, client);
    uint32_t status;
    if (rc == 0) rc = bl_client_status(client, &run->status_after, &status);
    if (rc == 0 && status != BL_FRAME_OK) rc = -EIO;
    v->error = rc;

    v->zero_balance = rc == 0 && !v->ledgers_overflow && v->accounts_found == run->options.accounts;
    bl_u128_t posted = 0, pending = 0;
    for (uint32_t i = 0; i < v->ledgers_count; i++) {
        const bl_loadgen_ledger_t *l = &v->ledgers[i];
        if (l->debits_posted != l->credits_posted || l->debits_pending != l->credits_pending)
            v->zero_balance = false;
        posted += l->debits_posted;
        pending += l->debits_pending;
    }
    v->totals_match = rc == 0 && !v->ledgers_overflow && posted == run->totals.posted_amount &&
                      pending == run->totals.pending_amount;
    if (rc == 0 && !run->options.remote) {
        uint64_t accounts = run->status_after.accounts_count - run->status_before.accounts_count;
        uint64_t transfers = run->status_after.transfers_count - run->status_before.transfers_count;
        v->server_counts_match = accounts == run->account_results[BL_CREATE_ACCOUNT_OK] &&
                                 transfers == run->totals.results[BL_CREATE_TRANSFER_OK];
    }
    v->results_expected = verify_results_expected(run);
    v->ok = rc == 0 && v->zero_balance && v->totals_match &&
            v->sample_matched == v->sample_checked && v->server_counts_match != 0 &&
            v->results_expected;
}
