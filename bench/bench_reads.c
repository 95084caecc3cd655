/*
 * bench_reads: what reads of old transfers cost on a running server, one request at a time.
 *
 * The server's oldest transfers are cold: their records are in transfers.store, out of the
 * process's memory (and, after `echo 3 > /proc/sys/vm/drop_caches`, out of the page cache),
 * so these reads measure the store's checked path. For each of --samples rounds it draws a
 * timestamp uniformly between the first and the last transfer and times, one request each:
 *   find     query_transfers, limit 1, from that timestamp: a transfer at a random place
 *   lookup   lookup_transfers of that transfer's id
 *   history  get_account_transfers of its debit account, 100 rows, the page ending at it
 *            (reversed), the rows as old as it or older
 *   retry    create_transfers with the same transfer resent (timestamp 0): `exists`
 *   write    create_transfers of one new transfer between the same accounts (--write only:
 *            it adds a transfer per round)
 * and prints p50, p99 and the maximum of each, in microseconds, with the seed.
 *
 * Usage: bench_reads [--addr HOST:PORT] [--samples N] [--seed N] [--write]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ballast/client.h"
#include "bench/common.h"

#define KINDS 5
static const char *const g_kinds[KINDS] = {"find", "lookup", "history", "retry", "write"};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One transfer by timestamp: the first at or after `from` (or, reversed, at or before). */
static int find_one(bl_client_t *client, uint64_t from, bool reversed, bl_transfer_t *out) {
    bl_query_filter_t filter;
    memset(&filter, 0, sizeof(filter));
    filter.timestamp_min = reversed ? 0 : from;
    filter.timestamp_max = reversed ? from : 0;
    filter.limit = 1;
    filter.flags = reversed ? BL_QUERY_REVERSED : 0;
    uint32_t count = 0, status = 0;
    int rc = bl_client_query_transfers(client, &filter, out, &count, &status);
    if (rc != 0 || status != BL_FRAME_OK) return rc != 0 ? rc : -EPROTO;
    return count == 1 ? 0 : -ENOENT;
}

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1:3410";
    uint64_t samples = 1000, seed = (uint64_t)time(NULL);
    bool write = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--addr") && i + 1 < argc) {
            addr = argv[++i];
        } else if (!strcmp(argv[i], "--samples") && i + 1 < argc) {
            samples = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--write")) {
            write = true;
        } else {
            fprintf(stderr, "usage: bench_reads [--addr HOST:PORT] [--samples N] [--seed N] "
                            "[--write]\n");
            return 2;
        }
    }
    if (samples == 0 || samples > 10000000) {
        fprintf(stderr, "bench_reads: --samples must be 1..10000000\n");
        return 2;
    }
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon - addr >= (long)sizeof(host)) {
        fprintf(stderr, "bench_reads: --addr must be HOST:PORT\n");
        return 2;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    bl_client_t *client = NULL;
    int rc = bl_client_connect(&client, host, (uint16_t)atoi(colon + 1), 0);
    if (rc != 0) {
        fprintf(stderr, "bench_reads: cannot connect to %s: %s\n", addr, strerror(-rc));
        return 3;
    }
    bl_transfer_t first, last;
    if (find_one(client, 0, false, &first) != 0 || find_one(client, 0, true, &last) != 0) {
        fprintf(stderr, "bench_reads: the server holds no transfers\n");
        return 1;
    }
    printf("bench_reads: seed %" PRIu64 ", %" PRIu64 " samples between timestamps %" PRIu64
           " and %" PRIu64 "\n",
           seed, samples, first.timestamp, last.timestamp);
    uint64_t *times[KINDS];
    for (int k = 0; k < KINDS; k++) {
        times[k] = calloc(samples, sizeof(uint64_t));
        if (times[k] == NULL) return 1;
    }
    static bl_transfer_t page[100];
    uint64_t rng = seed, failures = 0, not_exists = 0;
    for (uint64_t s = 0; s < samples; s++) {
        uint64_t span = last.timestamp - first.timestamp + 1;
        uint64_t at = first.timestamp + bench_rng_next(&rng) % span;
        bl_transfer_t t;
        uint64_t t0 = now_ns();
        if (find_one(client, at, false, &t) != 0) {
            failures++;
            continue;
        }
        uint64_t t1 = now_ns();
        bl_transfer_t found;
        uint32_t count = 0, status = 0;
        rc = bl_client_lookup_transfers(client, &t.id, 1, &found, &count, &status);
        uint64_t t2 = now_ns();
        if (rc != 0 || count != 1 || memcmp(&found, &t, sizeof(t)) != 0) failures++;
        bl_account_filter_t filter;
        memset(&filter, 0, sizeof(filter));
        filter.account_id = t.debit_account_id;
        filter.timestamp_max = t.timestamp;
        filter.limit = 100;
        filter.flags = BL_FILTER_DEBITS | BL_FILTER_CREDITS | BL_FILTER_REVERSED;
        rc = bl_client_get_account_transfers(client, &filter, page, &count, &status);
        uint64_t t3 = now_ns();
        if (rc != 0 || count == 0 || page[0].id != t.id) failures++;
        bl_transfer_t resend = t;
        resend.timestamp = 0;
        bl_event_result_t result;
        uint32_t results = 0;
        rc = bl_client_create_transfers(client, &resend, 1, &result, &results, &status);
        uint64_t t4 = now_ns();
        if (rc != 0 || results != 1)
            failures++;
        else if (result.result != BL_CREATE_TRANSFER_EXISTS)
            not_exists++;
        uint64_t t5 = t4;
        if (write) {
            bl_transfer_t fresh = resend;
            fresh.id = ((bl_u128_t)0xBE4C4 << 96) | ((bl_u128_t)seed << 32) | s;
            fresh.flags = 0;
            fresh.pending_id = 0;
            fresh.timeout = 0;
            rc = bl_client_create_transfers(client, &fresh, 1, &result, &results, &status);
            t5 = now_ns();
            if (rc != 0) failures++;
        }
        times[0][s] = t1 - t0;
        times[1][s] = t2 - t1;
        times[2][s] = t3 - t2;
        times[3][s] = t4 - t3;
        times[4][s] = t5 - t4;
    }
    for (int k = 0; k < KINDS; k++) {
        if (k == 4 && !write) continue;
        qsort(times[k], samples, sizeof(uint64_t), compare_u64);
        printf("%-8s p50 %8.1f us  p99 %8.1f us  max %8.1f us\n", g_kinds[k],
               (double)times[k][samples / 2] / 1e3, (double)times[k][samples * 99 / 100] / 1e3,
               (double)times[k][samples - 1] / 1e3);
        free(times[k]);
    }
    printf("failures %" PRIu64 ", retries not answered exists %" PRIu64 "\n", failures, not_exists);
    bl_client_close(client);
    return failures == 0 && not_exists == 0 ? 0 : 1;
}
