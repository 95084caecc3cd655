/*
 * ballast bench: the load generator, shared between its files.
 *
 *   loadgen.c          options, the phases of a run (accounts, transfers, verification), the
 *                      per-second sampler
 *   loadgen_worker.c   one client connection on its own thread: builds batches, keeps up to
 *                      --inflight requests in flight, folds the replies into its totals
 *   loadgen_local.c    the throwaway server: `ballast start` on a temporary data directory
 *   loadgen_verify.c   the checks at the end: zero balance per ledger, expected totals, a
 *                      sample of transfers read back
 *   loadgen_report.c   the text report, --json and --csv
 *
 * Ids. Every id of a run has the run's 64-bit tag in its high half, so a second run against
 * the same server never meets the first one's ids: account k (1..accounts) is tag:k, transfer
 * number s (from 1) of client c is tag:(2^63 | c << 40 | s). The tag is a hash of the seed and
 * the server's block height and counts, so a rerun with the same seed on a fresh server sends
 * exactly the same ids.
 */
#ifndef BALLAST_BENCH_LOADGEN_H
#define BALLAST_BENCH_LOADGEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "ballast/client.h"

/* Limits of the options (ballast bench --help prints them). */
#define BL_LOADGEN_ACCOUNTS_MAX (1ull << 24)
#define BL_LOADGEN_TRANSFERS_MAX ((1ull << 31) - 1) /* what one server can hold */
#define BL_LOADGEN_CLIENTS_MAX 256u
#define BL_LOADGEN_INFLIGHT_EVENTS_MAX (1ull << 24) /* clients x inflight x batch: 2 GiB */
#define BL_LOADGEN_ZIPF_MAX 10.0
#define BL_LOADGEN_QUERY_FRACTION_MAX 0.9
#define BL_LOADGEN_SAMPLE_MAX 100000u
#define BL_LOADGEN_TIMEOUT_S_MAX 3600u /* --timeout */

/* Defaults, and fixed shapes of the workload. */
#define BL_LOADGEN_ACCOUNTS_DEFAULT 10000u
#define BL_LOADGEN_TRANSFERS_DEFAULT 1000000u
#define BL_LOADGEN_CLIENTS_DEFAULT 1u
#define BL_LOADGEN_INFLIGHT_DEFAULT 8u
#define BL_LOADGEN_CHAIN_LENGTH_DEFAULT 4u
#define BL_LOADGEN_SAMPLE_DEFAULT 1000u
#define BL_LOADGEN_TIMEOUT_S_DEFAULT 30u
#define BL_LOADGEN_QUERY_IDS 64u           /* ids per lookup query */
#define BL_LOADGEN_QUERY_LIMIT 128u        /* get_account_transfers limit */
#define BL_LOADGEN_LEDGERS_MAX 64u         /* distinct ledgers the balance check tells apart */
#define BL_LOADGEN_RESULT_CODES 64u        /* counters per result code; the last: unknown */
#define BL_LOADGEN_OPS 32u                 /* counters per op code */
#define BL_LOADGEN_STATUSES 16u            /* counters per frame status; the last: unknown */
#define BL_LOADGEN_BUSY_RETRIES_MAX 10000u /* busy replies to one request, 1 ms apart */
#define BL_LOADGEN_CLIENT_SEQ_BITS 40u     /* transfers one client can number */

_Static_assert(BL_LOADGEN_CLIENTS_MAX < (1u << (63 - BL_LOADGEN_CLIENT_SEQ_BITS)), "client bits");
_Static_assert(BL_LOADGEN_TRANSFERS_MAX * 2 < (1ull << BL_LOADGEN_CLIENT_SEQ_BITS), "seq bits");
_Static_assert(BL_LOADGEN_ACCOUNTS_MAX <= UINT32_MAX, "account numbers are 32-bit in queues");

typedef struct bl_loadgen_options {
    bool remote; /* --addr given */
    char host[256];
    uint16_t port;
    const char *dir;     /* parent of the throwaway data directory */
    uint32_t partitions; /* 0: ballast start's default */
    uint64_t accounts;
    uint64_t transfers;
    uint32_t batch_size;
    uint32_t clients;
    uint32_t inflight;
    double zipf; /* 0: uniform */
    double hot_fraction;
    double pending_fraction;
    double linked_fraction;
    uint32_t chain_length;
    double query_fraction;
    uint32_t verify_sample;
    uint32_t timeout_s;
    uint64_t seed;
    bool json;
    const char *csv_path;
    bool progress; /* a progress line on stderr (a terminal) */
} bl_loadgen_options_t;

/* Zipf over ranks 1..n with exponent theta > 0 (rejection-inversion sampling). */
typedef struct bl_loadgen_zipf {
    double theta;
    double n;
    double h_integral_x1;
    double h_integral_n;
    double s;
} bl_loadgen_zipf_t;

/* What the run produced, summed over clients. Every field before posted_amount is a uint64_t
 * counter (bl_loadgen_totals_add sums them word by word). Amounts are what the acknowledged
 * events should have done to the run's accounts, for the check against their balances. */
typedef struct bl_loadgen_totals {
    uint64_t events_acked;  /* acknowledged (frame status ok) with ok or exists */
    uint64_t events_failed; /* acknowledged with another result */
    uint64_t new_acked;     /* of events_acked, plain or pending (not post or void) */
    uint64_t pending_created;
    uint64_t posted;
    uint64_t voided;
    uint64_t linked_chains;
    uint64_t linked_events;
    uint64_t events_refused; /* in requests the server refused (frame status not ok) */
    uint64_t busy_retries;
    uint64_t queries[BL_LOADGEN_OPS];
    uint64_t query_records;
    uint64_t query_mismatches; /* lookups that did not find every id they asked for */
    uint64_t reconnects;
    uint64_t results[BL_LOADGEN_RESULT_CODES];
    uint64_t statuses[BL_LOADGEN_OPS][BL_LOADGEN_STATUSES];
    bl_u128_t posted_amount;  /* expected sum of debits_posted (= credits_posted) */
    bl_u128_t pending_amount; /* expected sum of debits_pending: created, not yet resolved */
} bl_loadgen_totals_t;

/* A pending transfer acknowledged and waiting for its post or void. */
typedef struct bl_loadgen_pending {
    uint64_t seq;
    uint32_t debit;
    uint32_t credit;
    uint64_t amount;
} bl_loadgen_pending_t;

/* One request buffer: a batch of transfers or a query. */
typedef struct bl_loadgen_slot {
    uint16_t op;
    uint32_t count;
    uint32_t busy;             /* busy replies so far */
    uint64_t sent_ns;          /* first send */
    bl_transfer_t *transfers;  /* batch_size */
    uint64_t *pending_amounts; /* batch_size: for a post or void, the pending amount */
    bl_u128_t ids[BL_LOADGEN_QUERY_IDS];
    bl_account_filter_t filter;
} bl_loadgen_slot_t;

typedef struct bl_loadgen_run bl_loadgen_run_t;

/* One client: owned by its thread while it runs; the atomics are read by the sampler. */
typedef struct bl_loadgen_worker {
    _Alignas(64) _Atomic uint64_t acked_shared; /* = totals.events_acked */
    _Atomic uint64_t requests_shared;           /* create_transfers replies taken */
    _Atomic uint64_t latency_max_shared_ns;     /* since the sampler last took it */
    _Atomic bool finished;
    _Alignas(64) const bl_loadgen_run_t *run;
    uint32_t index;
    bl_client_t *client;
    uint64_t share; /* new transfers this client sends */
    uint64_t rng, rng_query, rng_sample;
    uint64_t new_sent;
    uint64_t seq_next;
    uint32_t chain_left;
    uint32_t query_next;
    bl_loadgen_slot_t *slots; /* inflight */
    uint32_t *fifo;           /* slot indexes in send order */
    uint32_t fifo_head, fifo_count;
    uint32_t *free_slots;
    uint32_t free_count;
    bl_loadgen_pending_t *queue; /* power of two */
    uint32_t queue_mask;
    uint64_t queue_head, queue_tail;
    uint8_t *reply;
    uint32_t reply_bytes;
    bl_transfer_t *sample; /* reservoir of acknowledged events, as sent */
    uint32_t sample_max, sample_count;
    uint64_t sample_seen;
    uint64_t *latency_ns; /* one per create_transfers reply */
    uint64_t latency_count, latency_capacity;
    uint64_t end_ns; /* the last acknowledgement */
    int error;       /* -errno that stopped this client, 0 */
    const char *error_what;
    bl_loadgen_totals_t totals;
} bl_loadgen_worker_t;

/* The throwaway server. */
typedef struct bl_loadgen_local {
    pid_t pid; /* 0: none */
    int out_fd;
    char dir[4096];
    char host[64];
    uint16_t port;
} bl_loadgen_local_t;

typedef struct bl_loadgen_ledger {
    uint32_t ledger;
    bl_u128_t debits_posted, credits_posted, debits_pending, credits_pending;
} bl_loadgen_ledger_t;

typedef struct bl_loadgen_verify {
    uint64_t accounts_found;
    bl_loadgen_ledger_t ledgers[BL_LOADGEN_LEDGERS_MAX];
    uint32_t ledgers_count;
    bool ledgers_overflow;
    bool zero_balance;
    bool totals_match;
    uint64_t sample_checked, sample_matched;
    int server_counts_match; /* local runs: 1 or 0; remote: -1 (others may write) */
    bool results_expected;   /* every event ok or exists */
    bool ok;
    int error; /* -errno of a failed read, 0 */
} bl_loadgen_verify_t;

typedef struct bl_loadgen_second {
    double elapsed_s;
    uint64_t acked; /* cumulative */
    double transfers_per_s;
    double requests_per_s;
    uint64_t latency_max_ns;
} bl_loadgen_second_t;

struct bl_loadgen_run {
    bl_loadgen_options_t options;
    bl_loadgen_local_t local;
    uint64_t tag;
    uint64_t hot_threshold, pending_threshold, chain_threshold, query_threshold;
    bl_loadgen_zipf_t zipf_all;   /* ranks over every account */
    bl_loadgen_zipf_t zipf_other; /* ranks over accounts 2..n: the side opposite account 1 */
    bl_server_status_t status_before, status_after;
    uint64_t accounts_created;
    uint64_t account_results[BL_LOADGEN_RESULT_CODES];
    uint64_t accounts_ns;
    bl_loadgen_worker_t *workers;
    uint64_t start_ns, elapsed_ns;
    bl_loadgen_totals_t totals;
    uint64_t batches;
    uint64_t latency_ns[5]; /* p50, p90, p99, p99.9, max */
    bl_loadgen_second_t *seconds;
    uint32_t seconds_count, seconds_capacity;
    bool interrupted;
    int worker_error;
    const char *worker_error_what;
    bl_loadgen_verify_t verify;
};

/* Set by SIGINT and SIGTERM: clients stop sending and drain what is in flight. */
extern _Atomic int bl_loadgen_stopping;

/* ballast bench: argv[0] is "bench". Returns the exit status: 0 ok, 1 the run or its
 * verification failed, 2 usage, 3 no connection. */
int bl_loadgen_main(int argc, char **argv);

/* Ids of the run (see the header comment). */
static inline bl_u128_t bl_loadgen_account_id(uint64_t tag, uint64_t account) {
    return (bl_u128_t)tag << 64 | account;
}
static inline bl_u128_t bl_loadgen_transfer_id(uint64_t tag, uint32_t client, uint64_t seq) {
    return (bl_u128_t)tag << 64 | 1ull << 63 | (uint64_t)client << BL_LOADGEN_CLIENT_SEQ_BITS | seq;
}

void bl_loadgen_zipf_init(bl_loadgen_zipf_t *zipf, double theta, uint64_t n);
/* A rank in 1..n; rank 1 is the most likely. */
uint64_t bl_loadgen_zipf_draw(const bl_loadgen_zipf_t *zipf, uint64_t *rng);

/* Allocates a worker's buffers. 0 or -ENOMEM. */
int bl_loadgen_worker_init(bl_loadgen_worker_t *worker, const bl_loadgen_run_t *run, uint32_t index,
                           uint64_t share);
void bl_loadgen_worker_deinit(bl_loadgen_worker_t *worker);
/* The thread: runs until the client's share is sent and answered (or stopping, or an error). */
void *bl_loadgen_worker_main(void *worker);
/* Adds a worker's totals into `sum`. */
void bl_loadgen_totals_add(bl_loadgen_totals_t *sum, const bl_loadgen_totals_t *add);

/* Starts `ballast start` (this executable) on a new directory under options->dir, sized for
 * the run, and waits for its "ballast listening on" line. 0, or -errno with a message printed;
 * on failure nothing is left behind. */
int bl_loadgen_local_start(bl_loadgen_local_t *local, const bl_loadgen_options_t *options,
                           uint64_t accounts_max, uint64_t transfers_max);
/* SIGTERM, wait (SIGKILL after two minutes), remove the directory. Safe to call twice. */
void bl_loadgen_local_stop(bl_loadgen_local_t *local);

/* The checks at the end, over a connection of their own; fills run->verify. */
void bl_loadgen_verify_run(bl_loadgen_run_t *run, bl_client_t *client);

void bl_loadgen_report_text(const bl_loadgen_run_t *run, FILE *out);
void bl_loadgen_report_json(const bl_loadgen_run_t *run, FILE *out);
/* 0 or -errno. */
int bl_loadgen_report_csv(const bl_loadgen_run_t *run, const char *path);

#endif /* BALLAST_BENCH_LOADGEN_H */
