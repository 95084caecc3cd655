/*
 * bench_engine: create_transfers throughput of the engine in process.
 *
 * For each scenario (accounts x workload) it creates the accounts (not timed), then executes
 * blocks of one create_transfers request each (default 8,192 transfers) and reports:
 * transfers per second over the whole engine, nanoseconds per event in each phase (gather,
 * decide, apply), and memory: bytes reserved per account and per transfer slot (records and
 * indexes), and resident bytes actually added per stored transfer.
 *
 * Workloads: uniform (debit and credit drawn uniformly from all accounts) and hot (a share of
 * transfers, 90% by default, has account 1 on one side). Every transfer must succeed; the
 * benchmark fails if any does not, so it never reports the speed of rejecting events.
 * Timestamps are synthetic (1 ns apart), the random generator is seeded: runs are repeatable.
 *
 * Transfers carry ledger 1 and code 1 and no user_data, or with --user-data the fields a
 * settlement feed would set: a unique user_data_128 (an external reference), user_data_64
 * shared by 100 consecutive transfers (a batch), user_data_32 one of 1,000 values and code one
 * of 16, so every query index does work. --indexes off runs the engine without query indexes
 * and account transfer lists, to measure what they cost; --indexes both runs an engine with
 * them and one without on the same transfers, in turns, and prints the ratio. --partitions
 * N,M does the same with an engine of N partitions and one of M.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/common.h"
#include "engine/engine.h"

typedef struct bench_options {
    uint64_t accounts[8];
    uint32_t accounts_n;
    uint64_t transfers;
    uint32_t batch;
    uint32_t partitions;
    uint32_t partitions_other; /* 0, or the partitions of a second engine taking turns */
    bool threads;              /* each partition on its own thread */
    bool pin;                  /* and pinned to a CPU */
    bool reads;                /* time the history and query reads after each scenario */
    bool indexes;              /* query indexes and account transfer lists (engine default) */
    bool indexes_both;         /* an engine with them and one without, taking turns */
    bool user_data;            /* transfers set every query field */
    bool precommit;            /* commit the engines' growing tables before the clock starts */
    double hot_fraction;
    int workload; /* -1: both, 0: uniform, 1: hot */
    uint64_t seed;
} bench_options_t;

static uint64_t bench_rng_state;

static uint64_t bench_rng(void) {
    return bench_rng_next(&bench_rng_state);
}

static void bench_fail(const char *what, int rc) {
    fprintf(stderr, "bench_engine: %s failed (%d)\n", what, rc);
    exit(1);
}

static void bench_accounts_create(bl_engine_t *engine, uint64_t accounts, uint32_t batch) {
    bl_account_t *events = calloc(batch, sizeof(bl_account_t));
    bl_event_result_t *results = calloc(batch, sizeof(bl_event_result_t));
    if (!events || !results) bench_fail("calloc", -ENOMEM);
    for (uint64_t created = 0; created < accounts;) {
        uint32_t n = (uint32_t)(accounts - created < batch ? accounts - created : batch);
        bench_accounts_fill(events, created + 1, n);
        bl_request_t request = {
            .op = BL_OP_CREATE_ACCOUNTS, .count = n, .events = events, .results = results};
        int rc = bl_engine_block_execute(engine, bl_engine_timestamp_last(engine) + 1, &request, 1);
        if (rc != 0) bench_fail("create_accounts block", rc);
        if (request.results_count != 0)
            bench_fail("create_accounts result", (int)results[0].result);
        created += n;
    }
    free(events);
    free(results);
}

/* The fields of transfer `id` with --user-data. */
#define BENCH_BATCH_TRANSFERS 100u
static void bench_user_data(bl_transfer_t *t, uint64_t id) {
    t->user_data_128 = ((bl_u128_t)(id * 0x9E3779B97F4A7C15ull) << 64) | id;
    t->user_data_64 = (id - 1) / BENCH_BATCH_TRANSFERS + 1;
    t->user_data_32 = (uint32_t)(id % 1000) + 1;
    t->code = (uint16_t)(1 + id % 16);
}

static void bench_samples_print(const char *what, uint64_t *samples, uint32_t n, uint64_t rows) {
    qsort(samples, n, sizeof(samples[0]), bench_u64_compare);
    printf("  %s: %.1f rows, p50 %.1f us, p99 %.1f us\n", what, (double)rows / n,
           bench_percentile(samples, n, 0.5) / 1e3, bench_percentile(samples, n, 0.99) / 1e3);
}

/* Reads after a scenario: pages of 100 rows of get_account_transfers (account 1, which the
 * hot workload makes long, then random accounts) from random starting timestamps; with
 * --user-data, query_transfers by the user_data_64 of a random batch (100 matches); and one
 * query_transfers of a value nobody holds on a field the index does not narrow (code 17 with
 * ledger 1), which reads every transfer without indexes, or none with them. */
static void bench_reads(const bench_options_t *o, bl_engine_t *engine, uint64_t accounts,
                        uint64_t transfers) {
    enum { SAMPLES = 2000 };
    static uint64_t samples[SAMPLES];
    static bl_transfer_t out[BL_FILTER_LIMIT_MAX];
    uint64_t first = 0, last = bl_engine_timestamp_last(engine);
    bl_u128_t one = 1;
    bl_account_t account;
    if (bl_engine_lookup_accounts(engine, &one, 1, &account) == 1) first = account.timestamp;
    for (int random = 0; random <= 1; random++) {
        uint64_t rows = 0;
        for (uint32_t k = 0; k < SAMPLES; k++) {
            bl_account_filter_t f = {.account_id = random ? 1 + bench_rng() % accounts : 1,
                                     .limit = 100,
                                     .flags = BL_FILTER_DEBITS | BL_FILTER_CREDITS};
            f.timestamp_min = first + bench_rng() % (last - first + 1) / 2; /* the older half */
            uint64_t t0 = bench_now_ns();
            rows += bl_engine_account_transfers(engine, &f, out);
            samples[k] = bench_now_ns() - t0;
        }
        bench_samples_print(random ? "get_account_transfers limit 100, random accounts"
                                   : "get_account_transfers limit 100, account 1",
                            samples, SAMPLES, rows);
    }
    if (o->user_data) {
        uint64_t rows = 0;
        for (uint32_t k = 0; k < SAMPLES; k++) {
            bl_query_filter_t q = {.user_data_64 =
                                       1 + bench_rng() % (transfers / BENCH_BATCH_TRANSFERS),
                                   .limit = BENCH_BATCH_TRANSFERS};
            uint64_t t0 = bench_now_ns();
            rows += bl_engine_query_transfers(engine, &q, out);
            samples[k] = bench_now_ns() - t0;
        }
        bench_samples_print("query_transfers by user_data_64 of a batch", samples, SAMPLES, rows);
    }
    bl_query_filter_t q = {.ledger = 1, .code = 17, .limit = 100}; /* no transfer has code 17 */
    uint64_t t0 = bench_now_ns();
    uint32_t found = bl_engine_query_transfers(engine, &q, out);
    printf("  query_transfers ledger 1, code 17 (none): %u rows, %.3f ms\n", found,
           (double)(bench_now_ns() - t0) / 1e6);
}

/* One engine of a scenario, and what its blocks took. */
typedef struct bench_run {
    bl_engine_t *engine;
    uint32_t partitions;
    bool indexes;
    uint64_t elapsed_ns, resident_bytes;
    bl_engine_stats_t before;
} bench_run_t;

static void bench_run_start(bench_run_t *run, const bench_options_t *o, uint64_t accounts,
                            uint32_t partitions, bool indexes) {
    bl_engine_config_t config = {
        .partitions = partitions,
        .accounts_max = accounts,
        .transfers_max = o->transfers,
        .block_events_max = o->batch,
        .partition_threads = o->threads,
        .pin_cpus = o->pin,
        .indexes_off = !indexes,
    };
    *run = (bench_run_t){.partitions = partitions, .indexes = indexes};
    int rc = bl_engine_create(&run->engine, &config);
    if (rc != 0) bench_fail("bl_engine_create", rc);
    if (o->precommit) {
        rc = bl_engine_precommit(run->engine);
        if (rc != 0) bench_fail("bl_engine_precommit", rc);
    }
    bench_accounts_create(run->engine, accounts, o->batch);
    bl_engine_stats_get(run->engine, &run->before);
}

/* Executes `count` transfers from `events` in blocks of o->batch: the clock runs only around
 * each block, and resident memory is read around the whole stretch (so with two engines each
 * is charged the pages it touched itself). */
static void bench_run_blocks(bench_run_t *run, const bench_options_t *o,
                             const bl_transfer_t *events, uint64_t count,
                             bl_event_result_t *results) {
    uint64_t resident_before = bench_resident_bytes();
    for (uint64_t done = 0; done < count;) {
        uint32_t n = (uint32_t)(count - done < o->batch ? count - done : o->batch);
        bl_request_t request = {
            .op = BL_OP_CREATE_TRANSFERS, .count = n, .events = &events[done], .results = results};
        uint64_t t0 = bench_now_ns();
        int rc = bl_engine_block_execute(run->engine, bl_engine_timestamp_last(run->engine) + 1,
                                         &request, 1);
        run->elapsed_ns += bench_now_ns() - t0;
        if (rc != 0) bench_fail("create_transfers block", rc);
        if (request.results_count != 0) {
            fprintf(stderr, "bench_engine: transfer %u failed with %s\n", results[0].index,
                    bl_create_transfer_result_name(results[0].result));
            exit(1);
        }
        done += n;
    }
    run->resident_bytes += bench_resident_bytes() - resident_before;
}

/* Prints the run's line; returns its throughput in transfers per second. */
static double bench_run_report(const bench_run_t *run, const bench_options_t *o, uint64_t accounts,
                               int hot, uint64_t done) {
    bl_engine_stats_t after;
    bl_engine_stats_get(run->engine, &after);
    bl_engine_memory_t memory;
    bl_engine_memory_get(run->engine, &memory);
    double executed = (double)(after.events - run->before.events);
    double rate = executed / (double)run->elapsed_ns * 1e9;
    printf("%-9s accounts=%-8lu transfers=%-8lu batch=%u N=%u%s%s%s  %6.2f M transfers/s  "
           "%6.1f ns/transfer (gather %5.1f with merge %4.1f, decide %5.1f, apply %5.1f)  "
           "reserved %lu B/account %lu B/transfer, resident +%.0f B/transfer\n",
           hot ? "hot" : "uniform", (unsigned long)accounts, (unsigned long)done, o->batch,
           run->partitions, o->threads ? " threads" : "", run->indexes ? "" : " no-indexes",
           o->user_data ? " user-data" : "", rate / 1e6, (double)run->elapsed_ns / executed,
           (double)(after.gather_ns - run->before.gather_ns) / executed,
           (double)(after.merge_ns - run->before.merge_ns) / executed,
           (double)(after.decide_ns - run->before.decide_ns) / executed,
           (double)(after.apply_ns - run->before.apply_ns) / executed,
           (unsigned long)memory.per_account_bytes, (unsigned long)memory.per_transfer_bytes,
           (double)run->resident_bytes / (double)done);
    return rate;
}

/* Every transfer of a scenario, drawn before the clock starts, so blocks follow each other
 * as they do in a loaded server (the partition threads see no pause between blocks to park
 * in). */
static bl_transfer_t *bench_transfers_draw(const bench_options_t *o, uint64_t accounts, int hot) {
    bl_transfer_t *events = calloc((size_t)o->transfers, sizeof(bl_transfer_t));
    if (!events) bench_fail("calloc", -ENOMEM);
    uint64_t hot_threshold = hot ? bench_fraction_threshold(o->hot_fraction) : 0;
    for (uint64_t i = 0; i < o->transfers; i++) {
        bl_transfer_t *t = &events[i];
        uint64_t dr, cr;
        bench_pair_draw(&bench_rng_state, accounts, hot_threshold, &dr, &cr);
        t->id = i + 1;
        t->debit_account_id = dr;
        t->credit_account_id = cr;
        t->amount = 1 + bench_rng() % 1000;
        t->ledger = 1;
        t->code = 1;
        if (o->user_data) bench_user_data(t, t->id);
    }
    return events;
}

/* With --indexes both (indexes on, then off) or --partitions N,M, two engines execute the
 * same transfers, taking turns every BENCH_TURN_BLOCKS blocks (who goes first alternates), so
 * a drift of the host slows both alike and their ratio holds within one run. */
#define BENCH_TURN_BLOCKS 8u

static void bench_scenario(const bench_options_t *o, uint64_t accounts, int hot) {
    bench_run_t runs[2];
    uint32_t n_runs = o->indexes_both || o->partitions_other ? 2 : 1;
    for (uint32_t r = 0; r < n_runs; r++) {
        uint32_t partitions = r == 1 && o->partitions_other ? o->partitions_other : o->partitions;
        bench_run_start(&runs[r], o, accounts, partitions, o->indexes_both ? r == 0 : o->indexes);
    }
    bl_transfer_t *events = bench_transfers_draw(o, accounts, hot);
    bl_event_result_t *results = calloc(o->batch, sizeof(bl_event_result_t));
    if (!results) bench_fail("calloc", -ENOMEM);

    const uint64_t turn = (uint64_t)BENCH_TURN_BLOCKS * o->batch;
    for (uint64_t done = 0, t = 0; done < o->transfers; done += turn, t++) {
        uint64_t n = o->transfers - done < turn ? o->transfers - done : turn;
        for (uint32_t r = 0; r < n_runs; r++)
            bench_run_blocks(&runs[(r + t) % n_runs], o, &events[done], n, results);
    }
    double rates[2];
    for (uint32_t r = 0; r < n_runs; r++)
        rates[r] = bench_run_report(&runs[r], o, accounts, hot, o->transfers);
    if (o->indexes_both) printf("  indexes on / off: %.3f\n", rates[0] / rates[1]);
    if (o->partitions_other)
        printf("  N=%u over N=%u: %.3f\n", o->partitions_other, o->partitions, rates[1] / rates[0]);
    for (uint32_t r = 0; r < n_runs; r++) {
        if (o->reads) bench_reads(o, runs[r].engine, accounts, o->transfers);
        bl_engine_destroy(runs[r].engine);
    }
    fflush(stdout);
    free(events);
    free(results);
}

static void bench_usage(FILE *out) {
    fprintf(out,
            "usage: bench_engine [options]\n"
            "  --accounts N[,N...]  account counts, 2..2^31-1 (default 10000,1000000)\n"
            "  --transfers N        transfers per scenario (default 4000000)\n"
            "  --batch N            transfers per block, 1..8192 (default 8192)\n"
            "  --partitions N[,M]   engine partitions, 1..64 (default 1); N,M runs an engine\n"
            "                       of N and one of M on the same transfers, in turns, and\n"
            "                       prints the ratio of their throughputs (not with\n"
            "                       --indexes both)\n"
            "  --threads on|off     each partition on a thread of its own (default on)\n"
            "  --pin                pin partition p's thread to CPU p + 1\n"
            "  --reads              then time get_account_transfers and query_transfers\n"
            "  --indexes I          on, off or both: query indexes and account transfer lists\n"
            "                       (default on); both runs an engine with them and one\n"
            "                       without on the same transfers, in turns, and prints the\n"
            "                       ratio\n"
            "  --user-data          transfers set user_data_128/64/32 and vary code\n"
            "  --precommit          commit each engine's growing tables whole before the\n"
            "                       clock starts (their whole reservation: about 5.8 GB\n"
            "                       for 1,000,000 accounts and 2,000,000 transfers)\n"
            "  --workload W         uniform, hot or both (default both)\n"
            "  --hot-fraction F     share of hot transfers touching account 1 (default 0.9)\n"
            "  --seed N             random seed (default 1)\n");
}

int main(int argc, char **argv) {
    bench_options_t o = {.accounts = {10000, 1000000},
                         .accounts_n = 2,
                         .transfers = 4000000,
                         .batch = 8192,
                         .partitions = 1,
                         .threads = true,
                         .indexes = true,
                         .hot_fraction = 0.9,
                         .workload = -1,
                         .seed = 1};
    static const struct option options[] = {{"accounts", required_argument, 0, 'a'},
                                            {"transfers", required_argument, 0, 't'},
                                            {"batch", required_argument, 0, 'b'},
                                            {"partitions", required_argument, 0, 'p'},
                                            {"workload", required_argument, 0, 'w'},
                                            {"hot-fraction", required_argument, 0, 'f'},
                                            {"seed", required_argument, 0, 's'},
                                            {"help", no_argument, 0, 'h'},
                                            {"threads", required_argument, 0, 'T'},
                                            {"pin", no_argument, 0, 'P'},
                                            {"reads", no_argument, 0, 'R'},
                                            {"indexes", required_argument, 0, 'I'},
                                            {"user-data", no_argument, 0, 'U'},
                                            {"precommit", no_argument, 0, 'C'},
                                            {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'a': {
            o.accounts_n = 0;
            for (char *s = strtok(optarg, ","); s && o.accounts_n < 8; s = strtok(NULL, ","))
                o.accounts[o.accounts_n++] = strtoull(s, NULL, 10);
            break;
        }
        case 't':
            o.transfers = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            o.batch = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'p': {
            char *end;
            o.partitions = (uint32_t)strtoul(optarg, &end, 10);
            o.partitions_other = 0;
            if (*end == ',') {
                const char *other = end + 1;
                o.partitions_other = (uint32_t)strtoul(other, &end, 10);
                if (end == other || o.partitions_other == 0) o.partitions = 0;
            }
            if (*end != '\0' || end == optarg) o.partitions = 0; /* refused below */
            break;
        }
        case 'w':
            o.workload = !strcmp(optarg, "uniform") ? 0 : !strcmp(optarg, "hot") ? 1 : -1;
            break;
        case 'f':
            o.hot_fraction = strtod(optarg, NULL);
            break;
        case 's':
            o.seed = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            o.threads = strcmp(optarg, "off") != 0;
            break;
        case 'P':
            o.pin = true;
            break;
        case 'R':
            o.reads = true;
            break;
        case 'I':
            if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0 &&
                strcmp(optarg, "both") != 0) {
                bench_usage(stderr);
                return 2;
            }
            o.indexes = strcmp(optarg, "off") != 0;
            o.indexes_both = strcmp(optarg, "both") == 0;
            break;
        case 'U':
            o.user_data = true;
            break;
        case 'C':
            o.precommit = true;
            break;
        case 'h':
            bench_usage(stdout);
            return 0;
        default:
            bench_usage(stderr);
            return 2;
        }
    }
    if (o.transfers == 0 || o.batch == 0 || o.batch > BL_BATCH_EVENTS_MAX || o.partitions == 0 ||
        o.partitions > BL_PARTITIONS_MAX || o.partitions_other > BL_PARTITIONS_MAX ||
        (o.partitions_other && o.indexes_both) || o.hot_fraction < 0 || o.hot_fraction > 1) {
        bench_usage(stderr);
        return 2;
    }
    for (uint32_t i = 0; i < o.accounts_n; i++) {
        if (o.accounts[i] < 2 || o.accounts[i] > BL_ACCOUNTS_MAX_LIMIT) {
            bench_usage(stderr);
            return 2;
        }
    }
    printf("bench_engine: %u core(s) online, seed %lu\n", (unsigned)sysconf(_SC_NPROCESSORS_ONLN),
           (unsigned long)o.seed);
    for (uint32_t i = 0; i < o.accounts_n; i++) {
        for (int hot = 0; hot <= 1; hot++) {
            if (o.workload != -1 && o.workload != hot) continue;
            bench_rng_state = o.seed;
            bench_scenario(&o, o.accounts[i], hot);
        }
    }
    return 0;
}
