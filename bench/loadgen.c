/*
 * ballast bench: the load generator, in the manner of pgbench or redis-benchmark.
 *
 * A run, in phases:
 *   1. a server: the one at --addr, or a throwaway one (loadgen_local.c);
 *   2. its status (partitions, counts: they make the run's id tag, see loadgen.h);
 *   3. --accounts accounts, 8,192 per request on one connection (timed on its own);
 *   4. --clients connections, each made before the clock starts; then the clock starts and
 *      each client's thread (loadgen_worker.c) sends its share of --transfers; this thread
 *      samples the acknowledged count every second (a progress line on a terminal, --csv);
 *      the clock stops at the last acknowledgement;
 *   5. the checks (loadgen_verify.c), then the report (loadgen_report.c).
 *
 * Honest numbers: throughput counts only events acknowledged by a reply with frame status ok
 * (the durable ones), from the first transfer request to the last reply; the report states
 * the batch size, clients, requests in flight, the server's partitions and whether the server
 * was a throwaway one on this machine.
 *
 * SIGINT or SIGTERM: the clients stop sending, take the replies in flight, and the run is
 * reported and verified as far as it went (exit status 1). A second signal kills the bench.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/common.h"
#include "bench/loadgen.h"
#include "common/assert.h"
#include "engine/engine.h"

_Atomic int bl_loadgen_stopping;

#define BL_LOADGEN_ACCOUNT_DEPTH_MAX 4u /* account requests in flight */
#define BL_LOADGEN_SAMPLE_POLL_NS (20ull * 1000000ull)

/* ------------------------------------------------------------------------------------------ */
/* Options.                                                                                   */

static void loadgen_usage(FILE *out) {
    fprintf(out,
            "usage: ballast bench [options]\n"
            "Creates accounts on a ballast server, sends transfers over several connections,\n"
            "reports throughput, batch latency and results, then verifies the ledger.\n"
            "Target\n"
            "  --addr HOST:PORT      a running server (default: start a throwaway one on\n"
            "                        127.0.0.1 on a temporary data directory, removed after)\n"
            "  --dir DIR             where the throwaway data directory goes\n"
            "                        (default $TMPDIR, else /tmp)\n"
            "  --partitions N        the throwaway server's partitions, 1..%u (default: those of\n"
            "                        ballast start, one per CPU but one)\n"
            "Load\n"
            "  --accounts N          accounts to create, 2..%llu (default %u)\n"
            "  --transfers N         new transfers to send (posts and voids of pending ones\n"
            "                        come on top), 1..%llu (default %u)\n"
            "  --batch-size N        transfers per request, 1..%u (default %u)\n"
            "  --clients N           connections, one thread each, 1..%u (default %u)\n"
            "  --inflight N          requests in flight per connection, 1..%u (default %u);\n"
            "                        clients x inflight x batch-size at most %llu\n"
            "  --timeout S           seconds a reply may take before the client reconnects\n"
            "                        and resends, 1..%u (default %u)\n"
            "Workload (shares are 0..1; default: uniform pairs of distinct accounts)\n"
            "  --zipf THETA          Zipf-skewed accounts, exponent 0..%g (default 0: uniform)\n"
            "  --hot-fraction F      share of transfers with account 1 on one side (default 0)\n"
            "  --pending-fraction F  share of new transfers created pending, each later posted\n"
            "                        (an amount up to its own) or voided, about half each\n"
            "                        (default 0)\n"
            "  --linked-fraction F   share of new transfers in linked chains (default 0)\n"
            "  --chain-length N      events per chain, 2..%u, cut at a batch's end (default %u)\n"
            "  --query-fraction F    share of requests that are queries while writing:\n"
            "                        lookup_accounts, lookup_transfers, get_account_transfers\n"
            "                        in turn, 0..%g (default 0)\n"
            "Output\n"
            "  --seed N              random seed, 0..2^64-1 (default: from the clock; printed)\n"
            "  --verify-sample N     transfers read back at the end, 0..%u (default %u)\n"
            "  --json                the report as one JSON object on standard output\n"
            "  --csv FILE            per-second samples as CSV\n"
            "Exit status: 0 ok; 1 the run or its verification failed; 2 usage; 3 no connection.\n",
            BL_PARTITIONS_MAX, (unsigned long long)BL_LOADGEN_ACCOUNTS_MAX,
            BL_LOADGEN_ACCOUNTS_DEFAULT, (unsigned long long)BL_LOADGEN_TRANSFERS_MAX,
            BL_LOADGEN_TRANSFERS_DEFAULT, BL_BATCH_EVENTS_MAX, BL_BATCH_EVENTS_MAX,
            BL_LOADGEN_CLIENTS_MAX, BL_LOADGEN_CLIENTS_DEFAULT, BL_PIPELINE_REQUESTS_MAX,
            BL_LOADGEN_INFLIGHT_DEFAULT, (unsigned long long)BL_LOADGEN_INFLIGHT_EVENTS_MAX,
            BL_LOADGEN_TIMEOUT_S_MAX, BL_LOADGEN_TIMEOUT_S_DEFAULT, BL_LOADGEN_ZIPF_MAX,
            BL_BATCH_EVENTS_MAX, BL_LOADGEN_CHAIN_LENGTH_DEFAULT, BL_LOADGEN_QUERY_FRACTION_MAX,
            BL_LOADGEN_SAMPLE_MAX, BL_LOADGEN_SAMPLE_DEFAULT);
}

static bool loadgen_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out) {
    if (text[0] < '0' || text[0] > '9') return false; /* no sign, no space */
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 0);
    if (errno != 0 || *end != '\0' || value < min || value > max) return false;
    *out = value;
    return true;
}

static bool loadgen_parse_share(const char *text, double max, double *out) {
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(value >= 0 && value <= max)) return false;
    *out = value;
    return true;
}

static bool loadgen_parse_addr(const char *text, bl_loadgen_options_t *o) {
    const char *colon = strrchr(text, ':');
    uint64_t port;
    if (colon == NULL || !loadgen_parse_u64(colon + 1, 1, 65535, &port)) return false;
    const char *host = text;
    size_t length = (size_t)(colon - text);
    if (length >= 2 && host[0] == '[' && colon[-1] == ']') host++, length -= 2; /* [::1]:3410 */
    if (length == 0 || length >= sizeof(o->host)) return false;
    memcpy(o->host, host, length);
    o->host[length] = '\0';
    o->port = (uint16_t)port;
    o->remote = true;
    return true;
}

enum {
    O_ADDR = 1000,
    O_DIR,
    O_PARTITIONS,
    O_ACCOUNTS,
    O_TRANSFERS,
    O_BATCH,
    O_CLIENTS,
    O_INFLIGHT,
    O_TIMEOUT,
    O_ZIPF,
    O_HOT,
    O_PENDING,
    O_LINKED,
    O_CHAIN,
    O_QUERY,
    O_SEED,
    O_SAMPLE,
    O_JSON,
    O_CSV,
    O_HELP
};

/* One option's value into o. false: out of range or malformed. */
static bool loadgen_option_set(bl_loadgen_options_t *o, int c, const char *arg) {
    uint64_t v = 0;
    switch (c) {
    case O_ADDR:
        return loadgen_parse_addr(arg, o);
    case O_DIR:
        o->dir = arg;
        return arg[0] != '\0';
    case O_CSV:
        o->csv_path = arg;
        return arg[0] != '\0';
    case O_JSON:
        o->json = true;
        return true;
    case O_ZIPF:
        return loadgen_parse_share(arg, BL_LOADGEN_ZIPF_MAX, &o->zipf);
    case O_HOT:
        return loadgen_parse_share(arg, 1, &o->hot_fraction);
    case O_PENDING:
        return loadgen_parse_share(arg, 1, &o->pending_fraction);
    case O_LINKED:
        return loadgen_parse_share(arg, 1, &o->linked_fraction);
    case O_QUERY:
        return loadgen_parse_share(arg, BL_LOADGEN_QUERY_FRACTION_MAX, &o->query_fraction);
    case O_SEED:
        return loadgen_parse_u64(arg, 0, UINT64_MAX, &o->seed);
    case O_ACCOUNTS:
        return loadgen_parse_u64(arg, 2, BL_LOADGEN_ACCOUNTS_MAX, &o->accounts);
    case O_TRANSFERS:
        return loadgen_parse_u64(arg, 1, BL_LOADGEN_TRANSFERS_MAX, &o->transfers);
    default:
        break;
    }
    static const struct {
        int c;
        uint64_t min, max;
        size_t offset;
    } u32_options[] = {
        {O_PARTITIONS, 1, BL_PARTITIONS_MAX, offsetof(bl_loadgen_options_t, partitions)},
        {O_BATCH, 1, BL_BATCH_EVENTS_MAX, offsetof(bl_loadgen_options_t, batch_size)},
        {O_CLIENTS, 1, BL_LOADGEN_CLIENTS_MAX, offsetof(bl_loadgen_options_t, clients)},
        {O_INFLIGHT, 1, BL_PIPELINE_REQUESTS_MAX, offsetof(bl_loadgen_options_t, inflight)},
        {O_TIMEOUT, 1, BL_LOADGEN_TIMEOUT_S_MAX, offsetof(bl_loadgen_options_t, timeout_s)},
        {O_CHAIN, 2, BL_BATCH_EVENTS_MAX, offsetof(bl_loadgen_options_t, chain_length)},
        {O_SAMPLE, 0, BL_LOADGEN_SAMPLE_MAX, offsetof(bl_loadgen_options_t, verify_sample)},
    };
    for (size_t i = 0; i < BL_ARRAY_LEN(u32_options); i++) {
        if (u32_options[i].c != c) continue;
        if (!loadgen_parse_u64(arg, u32_options[i].min, u32_options[i].max, &v)) return false;
        *(uint32_t *)((char *)o + u32_options[i].offset) = (uint32_t)v;
        return true;
    }
    return false;
}

/* 0: run; 1: --help given; 2: usage error (reported). */
static int loadgen_options_parse(bl_loadgen_options_t *o, int argc, char **argv) {
    static const struct option options[] = {{"addr", required_argument, 0, O_ADDR},
                                            {"dir", required_argument, 0, O_DIR},
                                            {"partitions", required_argument, 0, O_PARTITIONS},
                                            {"accounts", required_argument, 0, O_ACCOUNTS},
                                            {"transfers", required_argument, 0, O_TRANSFERS},
                                            {"batch-size", required_argument, 0, O_BATCH},
                                            {"clients", required_argument, 0, O_CLIENTS},
                                            {"inflight", required_argument, 0, O_INFLIGHT},
                                            {"timeout", required_argument, 0, O_TIMEOUT},
                                            {"zipf", required_argument, 0, O_ZIPF},
                                            {"hot-fraction", required_argument, 0, O_HOT},
                                            {"pending-fraction", required_argument, 0, O_PENDING},
                                            {"linked-fraction", required_argument, 0, O_LINKED},
                                            {"chain-length", required_argument, 0, O_CHAIN},
                                            {"query-fraction", required_argument, 0, O_QUERY},
                                            {"seed", required_argument, 0, O_SEED},
                                            {"verify-sample", required_argument, 0, O_SAMPLE},
                                            {"json", no_argument, 0, O_JSON},
                                            {"csv", required_argument, 0, O_CSV},
                                            {"help", no_argument, 0, O_HELP},
                                            {0, 0, 0, 0}};
    const char *tmp = getenv("TMPDIR");
    *o = (bl_loadgen_options_t){.dir = tmp && tmp[0] ? tmp : "/tmp",
                                .accounts = BL_LOADGEN_ACCOUNTS_DEFAULT,
                                .transfers = BL_LOADGEN_TRANSFERS_DEFAULT,
                                .batch_size = BL_BATCH_EVENTS_MAX,
                                .clients = BL_LOADGEN_CLIENTS_DEFAULT,
                                .inflight = BL_LOADGEN_INFLIGHT_DEFAULT,
                                .chain_length = BL_LOADGEN_CHAIN_LENGTH_DEFAULT,
                                .verify_sample = BL_LOADGEN_SAMPLE_DEFAULT,
                                .timeout_s = BL_LOADGEN_TIMEOUT_S_DEFAULT};
    bool seed_given = false;
    int c, index = -1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", options, &index)) != -1) {
        if (c == O_HELP) return 1;
        if (c == '?' || c == ':') {
            fprintf(stderr, "ballast bench: %s: %s (ballast bench --help)\n",
                    c == '?' ? "unknown option" : "missing value for", argv[optind - 1]);
            return 2;
        }
        if (!loadgen_option_set(o, c, optarg)) {
            fprintf(stderr,
                    "ballast bench: bad value for --%s: '%s' (ballast bench --help "
                    "lists the limits)\n",
                    options[index].name, optarg ? optarg : "");
            return 2;
        }
        seed_given |= c == O_SEED;
    }
    if (optind != argc) {
        fprintf(stderr, "ballast bench: unexpected argument: %s\n", argv[optind]);
        return 2;
    }
    if ((uint64_t)o->clients * o->inflight * o->batch_size > BL_LOADGEN_INFLIGHT_EVENTS_MAX) {
        fprintf(stderr, "ballast bench: --clients x --inflight x --batch-size is at most %llu\n",
                (unsigned long long)BL_LOADGEN_INFLIGHT_EVENTS_MAX);
        return 2;
    }
    if (o->clients > o->transfers) {
        fprintf(stderr, "ballast bench: more --clients than --transfers\n");
        return 2;
    }
    if (!o->remote && o->transfers * (o->pending_fraction > 0 ? 2 : 1) > BL_LOADGEN_TRANSFERS_MAX) {
        fprintf(stderr,
                "ballast bench: a throwaway server holds at most %llu transfers, posts and "
                "voids included: lower --transfers\n",
                (unsigned long long)BL_LOADGEN_TRANSFERS_MAX);
        return 2;
    }
    if (!seed_given) {
        uint64_t state = bench_now_ns() ^ (uint64_t)getpid() << 40 ^ (uint64_t)time(NULL);
        o->seed = bench_rng_next(&state);
    }
    o->progress = isatty(STDERR_FILENO);
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Phases.                                                                                    */

static bool loadgen_stopping(void) {
    return atomic_load_explicit(&bl_loadgen_stopping, memory_order_relaxed) != 0;
}

static void loadgen_on_signal(int signal) {
    (void)signal;
    int none = 0;
    atomic_compare_exchange_strong(&bl_loadgen_stopping, &none, 1);
}

static int loadgen_connect(const bl_loadgen_run_t *run, bl_client_t **client) {
    const bl_loadgen_options_t *o = &run->options;
    const char *host = o->remote ? o->host : run->local.host;
    uint16_t port = o->remote ? o->port : run->local.port;
    int rc = bl_client_connect(client, host, port, (uint64_t)o->timeout_s * BL_NS_PER_S);
    if (rc != 0)
        fprintf(stderr, "ballast bench: cannot reach %s:%u: %s\n", host, port, strerror(-rc));
    return rc;
}

/* The run's id tag: the seed with the server's height and counts (see loadgen.h). */
static uint64_t loadgen_tag(uint64_t seed, const bl_server_status_t *s) {
    uint64_t state = seed, tag = bench_rng_next(&state);
    state ^= s->block_height;
    tag ^= bench_rng_next(&state);
    state ^= s->accounts_count;
    tag ^= bench_rng_next(&state);
    state ^= s->transfers_count;
    return tag ^ bench_rng_next(&state);
}

/* Accounts 1..n of the run, up to BL_LOADGEN_ACCOUNT_DEPTH_MAX requests of 8,192 in flight.
 * 0 or -errno (-EIO: a frame status not ok, reported). */
static int loadgen_accounts_create(bl_loadgen_run_t *run, bl_client_t *client) {
    uint64_t n = run->options.accounts, sent = 0, acked = 0;
    uint32_t depth = run->options.inflight < BL_LOADGEN_ACCOUNT_DEPTH_MAX
                         ? run->options.inflight
                         : BL_LOADGEN_ACCOUNT_DEPTH_MAX;
    uint32_t counts[BL_LOADGEN_ACCOUNT_DEPTH_MAX], outstanding = 0, next = 0;
    bl_account_t *buffers = calloc((size_t)depth * BL_BATCH_EVENTS_MAX, sizeof(bl_account_t));
    bl_event_result_t *results = calloc(BL_BATCH_EVENTS_MAX, sizeof(bl_event_result_t));
    int rc = buffers && results ? 0 : -ENOMEM;
    uint64_t t0 = bench_now_ns();
    while (rc == 0 && acked < n) {
        while (rc == 0 && outstanding < depth && sent < n && !loadgen_stopping()) {
            bl_account_t *accounts = buffers + (size_t)(next % depth) * BL_BATCH_EVENTS_MAX;
            uint32_t count =
                n - sent < BL_BATCH_EVENTS_MAX ? (uint32_t)(n - sent) : BL_BATCH_EVENTS_MAX;
            bench_accounts_fill(accounts, sent + 1, count);
            for (uint32_t i = 0; i < count; i++) accounts[i].id |= (bl_u128_t)run->tag << 64;
            rc = bl_client_send(client, BL_OP_CREATE_ACCOUNTS, accounts, count, NULL);
            counts[next++ % depth] = count;
            outstanding++;
            sent += count;
        }
        if (rc != 0 || outstanding == 0) break;
        uint32_t status, failed;
        rc = bl_client_receive(client, NULL, &status, results,
                               BL_BATCH_EVENTS_MAX * sizeof(*results), &failed);
        if (rc == 0 && status != BL_FRAME_OK) {
            fprintf(stderr, "ballast bench: create_accounts: the server answered %s\n",
                    bl_frame_status_name(status) ? bl_frame_status_name(status) : "unknown");
            rc = -EIO;
        }
        uint32_t count = counts[(next - outstanding--) % depth];
        for (uint32_t i = 0; rc == 0 && i < failed; i++) {
            uint32_t code = results[i].result;
            run->account_results[code < BL_LOADGEN_RESULT_CODES ? code
                                                                : BL_LOADGEN_RESULT_CODES - 1]++;
        }
        if (rc == 0) run->account_results[BL_CREATE_ACCOUNT_OK] += count - failed;
        acked += count;
    }
    run->accounts_ns = bench_now_ns() - t0;
    run->accounts_created = run->account_results[BL_CREATE_ACCOUNT_OK];
    free(buffers);
    free(results);
    return rc;
}

static void loadgen_second_record(bl_loadgen_run_t *run, uint64_t now_ns, uint64_t acked,
                                  uint64_t requests, uint64_t *last) {
    uint64_t latency_max_ns = 0;
    for (uint32_t c = 0; c < run->options.clients; c++) {
        uint64_t l = atomic_exchange(&run->workers[c].latency_max_shared_ns, 0);
        if (l > latency_max_ns) latency_max_ns = l;
    }
    double seconds = (double)(now_ns - last[0]) / 1e9;
    if (run->seconds_count == run->seconds_capacity) {
        uint32_t capacity = run->seconds_capacity ? run->seconds_capacity * 2 : 64;
        bl_loadgen_second_t *grown = realloc(run->seconds, capacity * sizeof(*grown));
        if (grown == NULL) return; /* the samples stop; the run goes on */
        run->seconds = grown;
        run->seconds_capacity = capacity;
    }
    bl_loadgen_second_t *s = &run->seconds[run->seconds_count++];
    s->elapsed_s = (double)(now_ns - run->start_ns) / 1e9;
    s->acked = acked;
    s->transfers_per_s = seconds > 0 ? (double)(acked - last[1]) / seconds : 0;
    s->requests_per_s = seconds > 0 ? (double)(requests - last[2]) / seconds : 0;
    s->latency_max_ns = latency_max_ns;
    last[0] = now_ns, last[1] = acked, last[2] = requests;
    if (run->options.progress)
        fprintf(stderr,
                "\r  %6.1f s  %12llu transfers acknowledged  %10.0f transfers/s  "
                "batch max %8.2f ms ",
                s->elapsed_s, (unsigned long long)acked, s->transfers_per_s,
                (double)latency_max_ns / 1e6);
}

/* Every second until the clients are done: the acknowledged count. */
static void loadgen_sample_loop(bl_loadgen_run_t *run) {
    uint64_t last[3] = {run->start_ns, 0, 0}; /* time, acked, requests at the last sample */
    uint64_t next_ns = run->start_ns + BL_NS_PER_S;
    for (;;) {
        bool done = true;
        uint64_t acked = 0, requests = 0;
        for (uint32_t c = 0; c < run->options.clients; c++) {
            const bl_loadgen_worker_t *w = &run->workers[c];
            done &= atomic_load_explicit(&w->finished, memory_order_acquire);
            acked += atomic_load_explicit(&w->acked_shared, memory_order_relaxed);
            requests += atomic_load_explicit(&w->requests_shared, memory_order_relaxed);
        }
        uint64_t now_ns = bench_now_ns();
        if (now_ns >= next_ns || (done && acked > last[1])) {
            loadgen_second_record(run, now_ns, acked, requests, last);
            next_ns += BL_NS_PER_S;
        }
        if (done) break;
        uint64_t wait_ns = next_ns > now_ns ? next_ns - now_ns : 0;
        if (wait_ns > BL_LOADGEN_SAMPLE_POLL_NS) wait_ns = BL_LOADGEN_SAMPLE_POLL_NS;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)wait_ns};
        nanosleep(&ts, NULL);
    }
    if (run->options.progress && run->seconds_count > 0) fputc('\n', stderr);
}

static void loadgen_latency_summarize(bl_loadgen_run_t *run) {
    uint64_t n = 0;
    for (uint32_t c = 0; c < run->options.clients; c++) n += run->workers[c].latency_count;
    run->batches = n;
    if (n == 0) return;
    BL_ASSERT(n <= UINT32_MAX);
    uint64_t *all = malloc(n * sizeof(uint64_t));
    if (all == NULL) return;
    uint64_t at = 0;
    for (uint32_t c = 0; c < run->options.clients; c++) {
        const bl_loadgen_worker_t *w = &run->workers[c];
        memcpy(all + at, w->latency_ns, w->latency_count * sizeof(uint64_t));
        at += w->latency_count;
    }
    qsort(all, n, sizeof(uint64_t), bench_u64_compare);
    static const double quantiles[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    for (size_t i = 0; i < BL_ARRAY_LEN(quantiles); i++)
        run->latency_ns[i] = bench_percentile(all, (uint32_t)n, quantiles[i]);
    free(all);
}

/* Phase 4: connect every client, start the clock, run them, stop at the last reply. 0, or 3
 * when a client cannot connect, or 1 when a thread cannot be made. */
static int loadgen_transfers_run(bl_loadgen_run_t *run) {
    const bl_loadgen_options_t *o = &run->options;
    for (uint32_t c = 0; c < o->clients; c++) {
        uint64_t share = o->transfers / o->clients + (c < o->transfers % o->clients);
        if (bl_loadgen_worker_init(&run->workers[c], run, c, share) != 0) {
            fprintf(stderr, "ballast bench: out of memory for client %u\n", c);
            return 1;
        }
        if (loadgen_connect(run, &run->workers[c].client) != 0) return 3;
    }
    pthread_t *threads = calloc(o->clients, sizeof(pthread_t));
    if (threads == NULL) return 1;
    run->start_ns = bench_now_ns();
    uint32_t started = 0;
    for (; started < o->clients; started++) {
        if (pthread_create(&threads[started], NULL, bl_loadgen_worker_main,
                           &run->workers[started]) != 0)
            break;
    }
    if (started < o->clients) {
        fprintf(stderr, "ballast bench: cannot start client thread %u\n", started);
        int none = 0;
        atomic_compare_exchange_strong(&bl_loadgen_stopping, &none, 2);
        for (uint32_t c = started; c < o->clients; c++)
            atomic_store(&run->workers[c].finished, true);
    }
    loadgen_sample_loop(run);
    uint64_t end_ns = run->start_ns;
    for (uint32_t c = 0; c < started; c++) pthread_join(threads[c], NULL);
    free(threads);
    for (uint32_t c = 0; c < o->clients; c++) {
        const bl_loadgen_worker_t *w = &run->workers[c];
        if (w->end_ns > end_ns) end_ns = w->end_ns;
        bl_loadgen_totals_add(&run->totals, &w->totals);
        if (w->error != 0 && run->worker_error == 0) {
            run->worker_error = w->error;
            run->worker_error_what = w->error_what;
        }
    }
    run->elapsed_ns = end_ns - run->start_ns;
    loadgen_latency_summarize(run);
    return started < o->clients ? 1 : 0;
}

static void loadgen_thresholds_set(bl_loadgen_run_t *run) {
    const bl_loadgen_options_t *o = &run->options;
    run->hot_threshold = bench_fraction_threshold(o->hot_fraction);
    run->pending_threshold = bench_fraction_threshold(o->pending_fraction);
    run->query_threshold = bench_fraction_threshold(o->query_fraction);
    /* A chain of L starts with probability q at an event outside a chain: the share of
     * events in chains is qL / (qL + 1 - q) = F, so q = F / (L - F (L - 1)). */
    double length = o->chain_length, f = o->linked_fraction;
    run->chain_threshold = f > 0 ? bench_fraction_threshold(f / (length - f * (length - 1))) : 0;
    if (o->zipf > 0) {
        bl_loadgen_zipf_init(&run->zipf_all, o->zipf, o->accounts);
        bl_loadgen_zipf_init(&run->zipf_other, o->zipf, o->accounts - 1);
    }
}

/* Phases 2 to 5 against a server that is up. The exit status. */
static int loadgen_execute(bl_loadgen_run_t *run) {
    bl_client_t *control = NULL;
    if (loadgen_connect(run, &control) != 0) return 3;
    uint32_t status;
    int rc = bl_client_status(control, &run->status_before, &status);
    if (rc != 0 || status != BL_FRAME_OK) {
        fprintf(stderr, "ballast bench: status: %s\n",
                rc                             ? strerror(-rc)
                : bl_frame_status_name(status) ? bl_frame_status_name(status)
                                               : "?");
        bl_client_close(control);
        return 1;
    }
    run->tag = loadgen_tag(run->options.seed, &run->status_before);
    if (!run->options.json)
        printf("ballast bench: seed %llu (--seed %llu repeats this workload)\n",
               (unsigned long long)run->options.seed, (unsigned long long)run->options.seed);
    fflush(stdout);
    if ((rc = loadgen_accounts_create(run, control)) != 0 || loadgen_stopping()) {
        if (rc != 0 && rc != -EIO)
            fprintf(stderr, "ballast bench: create_accounts: %s\n", strerror(-rc));
        else if (rc == 0)
            fprintf(stderr, "ballast bench: interrupted while creating accounts\n");
        bl_client_close(control);
        return 1;
    }
    uint64_t accounts_failed = run->options.accounts - run->accounts_created -
                               run->account_results[BL_CREATE_ACCOUNT_EXISTS];
    if (accounts_failed != 0) {
        fprintf(stderr, "ballast bench: %llu of %llu accounts not created:",
                (unsigned long long)accounts_failed, (unsigned long long)run->options.accounts);
        for (uint32_t code = 1; code < BL_LOADGEN_RESULT_CODES; code++)
            if (run->account_results[code] != 0 && code != BL_CREATE_ACCOUNT_EXISTS)
                fprintf(stderr, " %s %llu",
                        bl_create_account_result_name(code) ? bl_create_account_result_name(code)
                                                            : "unknown",
                        (unsigned long long)run->account_results[code]);
        fprintf(stderr, "\n");
        bl_client_close(control);
        return 1;
    }
    int exit_status = loadgen_transfers_run(run);
    run->interrupted = atomic_load(&bl_loadgen_stopping) == 1;
    if (exit_status != 3) {
        bl_loadgen_verify_run(run, control);
        if (run->options.json)
            bl_loadgen_report_json(run, stdout);
        else
            bl_loadgen_report_text(run, stdout);
        fflush(stdout);
        if (run->options.csv_path && (rc = bl_loadgen_report_csv(run, run->options.csv_path)))
            fprintf(stderr, "ballast bench: cannot write %s: %s\n", run->options.csv_path,
                    strerror(-rc));
        if (exit_status == 0 && (!run->verify.ok || run->worker_error || run->interrupted || rc))
            exit_status = 1;
    }
    bl_client_close(control);
    return exit_status;
}

int bl_loadgen_main(int argc, char **argv) {
    bl_loadgen_run_t *run = calloc(1, sizeof(*run));
    if (run == NULL) return 1;
    int rc = loadgen_options_parse(&run->options, argc, argv);
    if (rc != 0) { /* --help, or a usage error already explained */
        if (rc == 1) loadgen_usage(stdout);
        free(run);
        return rc == 1 ? 0 : 2;
    }
    const bl_loadgen_options_t *o = &run->options;
    run->workers = calloc(o->clients, sizeof(bl_loadgen_worker_t));
    if (run->workers == NULL) {
        free(run);
        return 1;
    }
    loadgen_thresholds_set(run);
    struct sigaction sa = {.sa_handler = loadgen_on_signal, .sa_flags = SA_RESETHAND};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!o->remote) {
        uint64_t transfers_max = o->transfers * (o->pending_fraction > 0 ? 2 : 1);
        rc = bl_loadgen_local_start(&run->local, o, o->accounts, transfers_max);
    }
    int exit_status = rc != 0 ? 1 : loadgen_execute(run);
    for (uint32_t c = 0; c < o->clients; c++)
        if (run->workers[c].run != NULL) bl_loadgen_worker_deinit(&run->workers[c]);
    bl_loadgen_local_stop(&run->local);
    free(run->workers);
    free(run->seconds);
    free(run);
    return exit_status;
}
