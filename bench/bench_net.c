/*
 * bench_net: the server over loopback, through the C client.
 *
 *   ping      round trip of ping frames, one at a time: p50, p99
 *   batches   one connection, `--inflight` pipelined create_transfers requests of `--batch`
 *             transfers each: durable transfers per second
 *
 * Runs a node and a server in this process (the server on its own thread, the node on its
 * own) on a scratch data directory under --dir, removed at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ballast/client.h"
#include "bench/common.h"
#include "net/server.h"

#define ACCOUNTS 10000u

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_net: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
    exit(1);
}

static void *server_main(void *arg) {
    bl_server_run(arg);
    return NULL;
}

int main(int argc, char **argv) {
    const char *dir_base = ".";
    uint32_t pings = 5000, batch = 8192, inflight = 8, partitions = 1;
    uint64_t transfers = 2000000;
    static const struct option options[] = {{"dir", required_argument, 0, 'd'},
                                            {"pings", required_argument, 0, 'p'},
                                            {"transfers", required_argument, 0, 't'},
                                            {"batch", required_argument, 0, 'b'},
                                            {"inflight", required_argument, 0, 'i'},
                                            {"partitions", required_argument, 0, 'n'},
                                            {"help", no_argument, 0, 'h'},
                                            {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir_base = optarg;
            break;
        case 'p':
            pings = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 't':
            transfers = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            batch = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'i':
            inflight = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            partitions = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        default:
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: bench_net [--dir DIR] [--pings N (5000)] [--transfers N (2000000)]\n"
                    "                 [--batch N (8192, 1..8192)] [--inflight N (8, 1..64)]\n"
                    "                 [--partitions N (1)]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (pings < 2 || batch < 1 || batch > BL_BATCH_EVENTS_MAX || inflight < 1 ||
        inflight > BL_PIPELINE_REQUESTS_MAX || transfers < batch)
        return 2;

    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/bench-net-%d", dir_base, (int)getpid());
    bl_node_config_t node_config = {.dir = dir,
                                    .engine = {.partitions = partitions,
                                               .accounts_max = ACCOUNTS,
                                               .transfers_max = transfers + 1024},
                                    .checkpoint_blocks = 1u << 30,
                                    .quiet = true};
    bl_node_t *node;
    int rc = bl_node_open(&node, &node_config);
    if (rc != 0) die("bl_node_open", rc);
    bl_server_t *server;
    bl_server_config_t server_config = {.host = "127.0.0.1", .port = 0, .node = node};
    if ((rc = bl_server_open(&server, &server_config)) != 0) die("bl_server_open", rc);
    pthread_t thread;
    pthread_create(&thread, NULL, server_main, server);
    bl_client_t *client;
    if ((rc = bl_client_connect(&client, "127.0.0.1", bl_server_port(server), 0)) != 0)
        die("connect", rc);

    /* Ping round trips. */
    uint64_t *samples = calloc(pings, sizeof(uint64_t));
    uint32_t status, count;
    for (uint32_t i = 0; i < pings; i++) {
        uint64_t t0 = bench_now_ns();
        if (bl_client_ping(client, &status) != 0 || status != BL_FRAME_OK) die("ping", EIO);
        samples[i] = bench_now_ns() - t0;
    }
    qsort(samples, pings, sizeof(uint64_t), bench_u64_compare);
    printf("ping: %u round trips over loopback: p50 %.1f us p99 %.1f us\n", pings,
           samples[pings / 2] / 1e3, samples[pings * 99 / 100] / 1e3);

    /* Accounts, then pipelined batches. */
    static bl_account_t accounts[BL_BATCH_EVENTS_MAX];
    static bl_event_result_t results[BL_BATCH_EVENTS_MAX];
    for (uint32_t first = 0; first < ACCOUNTS; first += BL_BATCH_EVENTS_MAX) {
        uint32_t n =
            ACCOUNTS - first < BL_BATCH_EVENTS_MAX ? ACCOUNTS - first : BL_BATCH_EVENTS_MAX;
        bench_accounts_fill(accounts, first + 1, n);
        if (bl_client_create_accounts(client, accounts, n, results, &count, &status) != 0 ||
            status != BL_FRAME_OK || count != 0)
            die("create_accounts", EIO);
    }
    bl_transfer_t *events = calloc((size_t)inflight * batch, sizeof(bl_transfer_t));
    uint64_t sent = 0, acked = 0, id = 1;
    uint32_t outstanding = 0, slot = 0;
    uint64_t t0 = bench_now_ns();
    while (acked < transfers) {
        while (outstanding < inflight && sent < transfers) {
            bl_transfer_t *t = events + (size_t)slot * batch;
            uint32_t n = transfers - sent < batch ? (uint32_t)(transfers - sent) : batch;
            for (uint32_t i = 0; i < n; i++) bench_transfer_make(&t[i], id++, ACCOUNTS);
            if ((rc = bl_client_send(client, BL_OP_CREATE_TRANSFERS, t, n, NULL)) != 0)
                die("send", rc);
            sent += n;
            outstanding++;
            slot = (slot + 1) % inflight;
        }
        if ((rc = bl_client_receive(client, NULL, &status, results, sizeof(results), &count)) != 0)
            die("receive", rc);
        if (status != BL_FRAME_OK || count != 0) die("create_transfers", EIO);
        outstanding--;
        acked += transfers - acked < batch ? transfers - acked : batch;
    }
    double seconds = (bench_now_ns() - t0) / 1e9;
    printf("batches: one connection, %u in flight x %u transfers: %.2f M durable transfers/s "
           "(%" PRIu64 " transfers in %.2f s)\n",
           inflight, batch, transfers / seconds / 1e6, transfers, seconds);

    bl_client_close(client);
    bl_server_stop(server);
    pthread_join(thread, NULL);
    bl_server_close(server);
    bl_node_close(node);
    char command[4200];
    snprintf(command, sizeof(command), "rm -rf %s", dir);
    if (system(command) != 0) die("cleanup", EIO);
    free(samples);
    free(events);
    return 0;
}
