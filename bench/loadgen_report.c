/*
 * The report of `ballast bench`: text for people, one JSON object (--json) for scripts, and
 * per-second samples as CSV (--csv) for plots. The text and the JSON say the same things:
 * the setup (server, partitions, batch size, clients, requests in flight, workload), the
 * throughput, the batch latency percentiles, the per-second throughput, the counts by result
 * code and by frame status, and the verification.
 *
 * JSON keys are unique across the whole object (results sit under "results", frame statuses
 * under "requests" by op), numbers are plain, and 128-bit sums are decimal strings.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench/loadgen.h"

/* A 128-bit value in decimal: three base-10^19 digits (the top one at most 3). */
static const char *report_u128(bl_u128_t value, char out[40]) {
    const uint64_t base = 10000000000000000000ull;
    uint64_t low = (uint64_t)(value % base);
    bl_u128_t rest = value / base;
    uint64_t middle = (uint64_t)(rest % base), high = (uint64_t)(rest / base);
    if (high != 0)
        snprintf(out, 40, "%llu%019llu%019llu", (unsigned long long)high,
                 (unsigned long long)middle, (unsigned long long)low);
    else if (middle != 0)
        snprintf(out, 40, "%llu%019llu", (unsigned long long)middle, (unsigned long long)low);
    else
        snprintf(out, 40, "%llu", (unsigned long long)low);
    return out;
}

static const char *report_name(const char *name) {
    return name != NULL ? name : "unknown";
}

static double report_per_s(uint64_t count, uint64_t ns) {
    return ns > 0 ? (double)count * 1e9 / (double)ns : 0;
}

static const char *report_workload_shape(const bl_loadgen_options_t *o, char *out, size_t size) {
    int n = o->zipf > 0 ? snprintf(out, size, "zipf %g", o->zipf) : snprintf(out, size, "uniform");
    if (o->hot_fraction > 0 && n >= 0 && (size_t)n < size)
        snprintf(out + n, size - (size_t)n, ", account 1 in %g%% of transfers",
                 o->hot_fraction * 100);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* Text.                                                                                      */

static void report_text_setup(const bl_loadgen_run_t *run, FILE *out) {
    const bl_loadgen_options_t *o = &run->options;
    char shape[128];
    if (o->remote)
        fprintf(out, "server      remote %s:%u, %u partition%s\n", o->host, o->port,
                run->status_before.partitions, run->status_before.partitions == 1 ? "" : "s");
    else
        fprintf(out,
                "server      local: a throwaway server on %s:%u (data in %s), %u partition%s\n",
                run->local.host, run->local.port, run->local.dir, run->status_before.partitions,
                run->status_before.partitions == 1 ? "" : "s");
    fprintf(out,
            "load        %llu accounts; %llu new transfers in batches of %u over %u client%s x "
            "%u in flight\n",
            (unsigned long long)o->accounts, (unsigned long long)o->transfers, o->batch_size,
            o->clients, o->clients == 1 ? "" : "s", o->inflight);
    fprintf(out,
            "workload    %s; pending %g%%, linked %g%% (chains of %u), queries %g%% of "
            "requests; ids 0x%016llx:*\n",
            report_workload_shape(o, shape, sizeof(shape)), o->pending_fraction * 100,
            o->linked_fraction * 100, o->chain_length, o->query_fraction * 100,
            (unsigned long long)run->tag);
}

static void report_text_counts(const bl_loadgen_run_t *run, FILE *out) {
    const bl_loadgen_totals_t *t = &run->totals;
    fprintf(out, "results    ");
    for (uint32_t code = 0; code < BL_LOADGEN_RESULT_CODES; code++)
        if (t->results[code] != 0)
            fprintf(out, " %s %llu", report_name(bl_create_transfer_result_name(code)),
                    (unsigned long long)t->results[code]);
    fprintf(out, "\nrequests   ");
    for (uint32_t op = 0; op < BL_LOADGEN_OPS; op++) {
        for (uint32_t s = 0; s < BL_LOADGEN_STATUSES; s++)
            if (t->statuses[op][s] != 0)
                fprintf(out, " %s %s %llu;", report_name(bl_op_name(op)),
                        report_name(bl_frame_status_name(s)),
                        (unsigned long long)t->statuses[op][s]);
    }
    fprintf(out, " busy retries %llu, reconnects %llu\n", (unsigned long long)t->busy_retries,
            (unsigned long long)t->reconnects);
    if (run->options.query_fraction > 0)
        fprintf(out,
                "queries     %llu lookup_accounts, %llu lookup_transfers, %llu "
                "get_account_transfers: %llu records, %llu lookups not finding all\n",
                (unsigned long long)t->queries[BL_OP_LOOKUP_ACCOUNTS],
                (unsigned long long)t->queries[BL_OP_LOOKUP_TRANSFERS],
                (unsigned long long)t->queries[BL_OP_GET_ACCOUNT_TRANSFERS],
                (unsigned long long)t->query_records, (unsigned long long)t->query_mismatches);
}

static void report_text_verify(const bl_loadgen_run_t *run, FILE *out) {
    const bl_loadgen_verify_t *v = &run->verify;
    char a[40], b[40];
    for (uint32_t i = 0; i < v->ledgers_count; i++) {
        const bl_loadgen_ledger_t *l = &v->ledgers[i];
        fprintf(out, "ledger %-4u  debits_posted %s, credits_posted %s;", l->ledger,
                report_u128(l->debits_posted, a), report_u128(l->credits_posted, b));
        fprintf(out, " debits_pending %s, credits_pending %s\n", report_u128(l->debits_pending, a),
                report_u128(l->credits_pending, b));
    }
    fprintf(out,
            "verify      %llu of %llu accounts found; zero balance per ledger: %s; totals as "
            "expected: %s;\n            %llu of %llu sampled transfers read back identically; "
            "server counts: %s; every event ok: %s\n",
            (unsigned long long)v->accounts_found, (unsigned long long)run->options.accounts,
            v->zero_balance ? "yes" : "NO", v->totals_match ? "yes" : "NO",
            (unsigned long long)v->sample_matched, (unsigned long long)v->sample_checked,
            v->server_counts_match < 0 ? "not checked (remote)"
            : v->server_counts_match   ? "match"
                                       : "DIFFER",
            v->results_expected ? "yes" : "NO");
    if (v->error != 0) fprintf(out, "verify      a read failed: %s\n", strerror(-v->error));
    if (run->worker_error != 0)
        fprintf(out, "error       a client failed to %s: %s\n", run->worker_error_what,
                strerror(-run->worker_error));
    bool passed = v->ok && run->worker_error == 0 && !run->interrupted;
    fprintf(out, "%s\n", passed ? "PASSED" : run->interrupted ? "INTERRUPTED" : "FAILED");
}

void bl_loadgen_report_text(const bl_loadgen_run_t *run, FILE *out) {
    const bl_loadgen_totals_t *t = &run->totals;
    const uint64_t *l = run->latency_ns;
    report_text_setup(run, out);
    fprintf(out, "accounts    %llu created in %.3f s: %.0f accounts/s\n",
            (unsigned long long)run->accounts_created, (double)run->accounts_ns / 1e9,
            report_per_s(run->accounts_created, run->accounts_ns));
    fprintf(out, "transfers   %llu acknowledged in %.3f s: %.0f transfers/s",
            (unsigned long long)t->events_acked, (double)run->elapsed_ns / 1e9,
            report_per_s(t->events_acked, run->elapsed_ns));
    if (t->events_failed + t->events_refused != 0)
        fprintf(out, " (not counted: %llu failed, %llu refused)",
                (unsigned long long)t->events_failed, (unsigned long long)t->events_refused);
    fputc('\n', out);
    fprintf(out,
            "            new %llu (pending %llu), posts %llu, voids %llu; %llu linked chains "
            "(%llu events)\n",
            (unsigned long long)t->new_acked, (unsigned long long)t->pending_created,
            (unsigned long long)t->posted, (unsigned long long)t->voided,
            (unsigned long long)t->linked_chains, (unsigned long long)t->linked_events);
    fprintf(out,
            "latency     %llu batches: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, "
            "max %.3f ms\n",
            (unsigned long long)run->batches, l[0] / 1e6, l[1] / 1e6, l[2] / 1e6, l[3] / 1e6,
            l[4] / 1e6);
    fprintf(out, "per second ");
    for (uint32_t i = 0; i < run->seconds_count; i++)
        fprintf(out, " %.0f", run->seconds[i].transfers_per_s);
    fprintf(out, " (transfers/s)\n");
    report_text_counts(run, out);
    report_text_verify(run, out);
}

/* ------------------------------------------------------------------------------------------ */
/* JSON.                                                                                      */

/* "key":{"name":count,...} for the non-zero counts of result codes. */
static void report_json_codes(FILE *out, const char *key, const uint64_t *counts,
                              const char *(*name)(uint32_t)) {
    const char *comma = "";
    fprintf(out, "\"%s\":{", key);
    for (uint32_t code = 0; code < BL_LOADGEN_RESULT_CODES; code++) {
        if (counts[code] == 0) continue;
        fprintf(out, "%s\"%s\":%llu", comma, report_name(name(code)),
                (unsigned long long)counts[code]);
        comma = ",";
    }
    fprintf(out, "},");
}

static void report_json_counts(const bl_loadgen_run_t *run, FILE *out) {
    const bl_loadgen_totals_t *t = &run->totals;
    report_json_codes(out, "results", t->results, bl_create_transfer_result_name);
    report_json_codes(out, "account_results", run->account_results, bl_create_account_result_name);
    fprintf(out, "\"requests\":{");
    const char *op_comma = "";
    for (uint32_t op = 0; op < BL_LOADGEN_OPS; op++) {
        const char *comma = "";
        for (uint32_t s = 0; s < BL_LOADGEN_STATUSES; s++) {
            if (t->statuses[op][s] == 0) continue;
            if (comma[0] == '\0') fprintf(out, "%s\"%s\":{", op_comma, report_name(bl_op_name(op)));
            fprintf(out, "%s\"%s\":%llu", comma, report_name(bl_frame_status_name(s)),
                    (unsigned long long)t->statuses[op][s]);
            comma = ",";
            op_comma = ",";
        }
        if (comma[0] != '\0') fprintf(out, "}");
    }
    fprintf(out,
            "},\"query_records\":%llu,\"query_mismatches\":%llu,\"busy_retries\":%llu,"
            "\"reconnects\":%llu,\"events_failed\":%llu,\"events_refused\":%llu,",
            (unsigned long long)t->query_records, (unsigned long long)t->query_mismatches,
            (unsigned long long)t->busy_retries, (unsigned long long)t->reconnects,
            (unsigned long long)t->events_failed, (unsigned long long)t->events_refused);
}

static void report_json_verify(const bl_loadgen_run_t *run, FILE *out) {
    const bl_loadgen_verify_t *v = &run->verify;
    char dp[40], cp[40], dq[40], cq[40];
    fprintf(out, "\"ledgers\":[");
    for (uint32_t i = 0; i < v->ledgers_count; i++) {
        const bl_loadgen_ledger_t *l = &v->ledgers[i];
        fprintf(out,
                "%s{\"ledger\":%u,\"debits_posted\":\"%s\",\"credits_posted\":\"%s\","
                "\"debits_pending\":\"%s\",\"credits_pending\":\"%s\"}",
                i ? "," : "", l->ledger, report_u128(l->debits_posted, dp),
                report_u128(l->credits_posted, cp), report_u128(l->debits_pending, dq),
                report_u128(l->credits_pending, cq));
    }
    fprintf(out,
            "],\"accounts_found\":%llu,\"zero_balance\":%s,\"totals_match\":%s,"
            "\"sample_checked\":%llu,\"sample_matched\":%llu,\"server_counts_match\":%s,"
            "\"results_expected\":%s,\"verify_error\":\"%s\",\"client_error\":\"%s\","
            "\"interrupted\":%s,\"verified\":%s}\n",
            (unsigned long long)v->accounts_found, v->zero_balance ? "true" : "false",
            v->totals_match ? "true" : "false", (unsigned long long)v->sample_checked,
            (unsigned long long)v->sample_matched,
            v->server_counts_match < 0 ? "null"
            : v->server_counts_match   ? "true"
                                       : "false",
            v->results_expected ? "true" : "false", v->error ? strerror(-v->error) : "",
            run->worker_error ? strerror(-run->worker_error) : "",
            run->interrupted ? "true" : "false",
            v->ok && run->worker_error == 0 && !run->interrupted ? "true" : "false");
}

void bl_loadgen_report_json(const bl_loadgen_run_t *run, FILE *out) {
    const bl_loadgen_options_t *o = &run->options;
    const bl_loadgen_totals_t *t = &run->totals;
    fprintf(out,
            "{\"seed\":%llu,\"id_prefix\":\"0x%016llx\",\"server\":\"%s\",\"addr\":\"%s:%u\","
            "\"partitions\":%u,\"batch_size\":%u,\"clients\":%u,\"inflight\":%u,",
            (unsigned long long)o->seed, (unsigned long long)run->tag,
            o->remote ? "remote" : "local", o->remote ? o->host : run->local.host,
            o->remote ? o->port : run->local.port, run->status_before.partitions, o->batch_size,
            o->clients, o->inflight);
    fprintf(out,
            "\"accounts\":%llu,\"transfers\":%llu,\"zipf\":%g,\"hot_fraction\":%g,"
            "\"pending_fraction\":%g,\"linked_fraction\":%g,\"chain_length\":%u,"
            "\"query_fraction\":%g,",
            (unsigned long long)o->accounts, (unsigned long long)o->transfers, o->zipf,
            o->hot_fraction, o->pending_fraction, o->linked_fraction, o->chain_length,
            o->query_fraction);
    fprintf(out, "\"accounts_created\":%llu,\"accounts_seconds\":%.6f,\"accounts_per_s\":%.0f,",
            (unsigned long long)run->accounts_created, (double)run->accounts_ns / 1e9,
            report_per_s(run->accounts_created, run->accounts_ns));
    fprintf(out,
            "\"transfers_acked\":%llu,\"transfers_seconds\":%.6f,\"transfers_per_s\":%.0f,"
            "\"new_transfers\":%llu,\"pending_created\":%llu,\"posted\":%llu,\"voided\":%llu,"
            "\"linked_chains\":%llu,\"linked_events\":%llu,",
            (unsigned long long)t->events_acked, (double)run->elapsed_ns / 1e9,
            report_per_s(t->events_acked, run->elapsed_ns), (unsigned long long)t->new_acked,
            (unsigned long long)t->pending_created, (unsigned long long)t->posted,
            (unsigned long long)t->voided, (unsigned long long)t->linked_chains,
            (unsigned long long)t->linked_events);
    const uint64_t *l = run->latency_ns;
    fprintf(out,
            "\"batches\":%llu,\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
            "\"p99_9\":%.1f,\"max\":%.1f},\"per_second\":[",
            (unsigned long long)run->batches, l[0] / 1e3, l[1] / 1e3, l[2] / 1e3, l[3] / 1e3,
            l[4] / 1e3);
    for (uint32_t i = 0; i < run->seconds_count; i++)
        fprintf(out, "%s%.0f", i ? "," : "", run->seconds[i].transfers_per_s);
    fprintf(out, "],");
    report_json_counts(run, out);
    report_json_verify(run, out);
}

/* ------------------------------------------------------------------------------------------ */
/* CSV.                                                                                       */

int bl_loadgen_report_csv(const bl_loadgen_run_t *run, const char *path) {
    FILE *f = fopen(path, "w");
    if (f == NULL) return -errno;
    fprintf(f, "elapsed_s,transfers_acked,transfers_per_s,requests_per_s,batch_latency_max_us\n");
    for (uint32_t i = 0; i < run->seconds_count; i++) {
        const bl_loadgen_second_t *s = &run->seconds[i];
        fprintf(f, "%.3f,%llu,%.1f,%.1f,%.1f\n", s->elapsed_s, (unsigned long long)s->acked,
                s->transfers_per_s, s->requests_per_s, (double)s->latency_max_ns / 1e3);
    }
    return fclose(f) == 0 ? 0 : -errno;
}
