/*
 * bench_hostile: what a new client sees while hostile clients load a running server (one
 * started with `ballast start`), measured as the round trip of its pings.
 *
 *   setup     creates --accounts accounts (default 1,000,000): the first half with
 *             user_data_64 = 1 and code 2, the second half with code 1 (so the two values'
 *             sets are large and disjoint); with --interleave, odd and even accounts instead
 *   unread    9 connections each send 64 query_accounts (ledger 1, limit 8,192) and never
 *             read a reply
 *   costly    8 connections each keep 64 query_accounts (user_data_64 1 and code 1, limit
 *             8,192: nothing matches) in flight, reading replies and sending again
 *   slots     opens connections until the server refuses one, then reports what a refused
 *             client receives (a busy frame, or nothing)
 *   none      no attack: the baseline
 *
 * While an attack runs, a new client connects and pings every 100 ms for --seconds (default
 * 5): the report is the pings' round trips (median and largest) and how many went
 * unanswered within 20 s. The attackers hang up at the end.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ballast/client.h"
#include "net/frame.h"

#define ATTACKERS_MAX 16
#define CONNECTIONS_MAX 100000
#define PINGS_MAX 1000

static char g_host[64] = "127.0.0.1";
static uint16_t g_port = 3410;
static atomic_bool g_stop;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int raw_connect(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(g_port)};
    inet_pton(AF_INET, g_host, &addr.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* 64 query_accounts frames of `filter`, back to back. */
static void queries_build(uint8_t *frames, const bl_query_filter_t *filter) {
    for (uint32_t i = 0; i < BL_PIPELINE_REQUESTS_MAX; i++) {
        uint8_t *frame = frames + i * (BL_FRAME_HEADER_SIZE + sizeof(*filter));
        bl_frame_header_build((bl_frame_header_t *)frame, BL_OP_QUERY_ACCOUNTS, i + 1, 0, 1, filter,
                              sizeof(*filter));
        memcpy(frame + BL_FRAME_HEADER_SIZE, filter, sizeof(*filter));
    }
}

static bool send_all(int fd, const void *data, size_t size) {
    for (size_t sent = 0; sent < size;) {
        ssize_t n = send(fd, (const uint8_t *)data + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += (size_t)n;
    }
    return true;
}

static bool recv_all(int fd, void *data, size_t size) {
    for (size_t got = 0; got < size;) {
        ssize_t n = recv(fd, (uint8_t *)data + got, size - got, 0);
        if (n <= 0) return false;
        got += (size_t)n;
    }
    return true;
}

typedef struct attacker {
    pthread_t thread;
    int fd;
    bool reads;
    bl_query_filter_t filter;
} attacker_t;

static void *attacker_main(void *arg) {
    attacker_t *a = arg;
    static _Thread_local uint8_t frames[BL_PIPELINE_REQUESTS_MAX][BL_FRAME_HEADER_SIZE + 128];
    static _Thread_local uint8_t body[BL_FILTER_LIMIT_MAX * 128];
    queries_build(&frames[0][0], &a->filter);
    do {
        if (!send_all(a->fd, frames, sizeof(frames))) break;
        for (uint32_t i = 0; a->reads && i < BL_PIPELINE_REQUESTS_MAX; i++) {
            bl_frame_header_t h;
            if (!recv_all(a->fd, &h, sizeof(h)) || h.body_size > sizeof(body) ||
                !recv_all(a->fd, body, h.body_size))
                return NULL;
        }
    } while (a->reads && !atomic_load(&g_stop));
    return NULL;
}

/* Pings every 100 ms for `seconds` from a new connection; prints the round trips. */
static void probe(const char *attack, uint32_t seconds) {
    bl_client_t *client = NULL;
    uint64_t t0 = now_ns();
    int rc = bl_client_connect(&client, g_host, g_port, 20000000000ull);
    if (rc != 0) {
        printf("%s: a new client cannot connect: %s\n", attack, strerror(-rc));
        return;
    }
    static uint64_t rtt[PINGS_MAX];
    uint32_t n = 0, lost = 0, refused = 0;
    while (now_ns() - t0 < seconds * 1000000000ull && n < PINGS_MAX) {
        uint64_t start = now_ns();
        uint32_t status = 0;
        rc = bl_client_ping(client, &status);
        uint64_t took = now_ns() - start;
        if (rc != 0) {
            lost++;
        } else if (status != BL_FRAME_OK) {
            refused++;
        } else {
            rtt[n++] = took;
        }
        if (took < 100000000ull) usleep((useconds_t)((100000000ull - took) / 1000));
    }
    bl_client_close(client);
    for (uint32_t i = 1; i < n; i++) { /* insertion sort: a few dozen */
        uint64_t v = rtt[i];
        uint32_t j = i;
        for (; j > 0 && rtt[j - 1] > v; j--) rtt[j] = rtt[j - 1];
        rtt[j] = v;
    }
    printf("%s: %u pings answered, median %.3f ms, largest %.3f ms; %u unanswered, %u not "
           "ok\n",
           attack, n, n ? rtt[n / 2] / 1e6 : 0.0, n ? rtt[n - 1] / 1e6 : 0.0, lost, refused);
}

static void setup(uint64_t accounts, bool interleave) {
    bl_client_t *client = NULL;
    if (bl_client_connect(&client, g_host, g_port, 20000000000ull) != 0) exit(1);
    static bl_account_t batch[BL_BATCH_EVENTS_MAX];
    static bl_event_result_t results[BL_BATCH_EVENTS_MAX];
    for (uint64_t id = 1; id <= accounts;) {
        uint32_t n = 0;
        for (; n < BL_BATCH_EVENTS_MAX && id <= accounts; n++, id++) {
            bl_account_t *a = &batch[n];
            memset(a, 0, sizeof(*a));
            a->id = id;
            a->ledger = 1;
            bool first = interleave ? id % 2 == 1 : id <= accounts / 2;
            a->code = first ? 2 : 1;
            a->user_data_64 = first ? 1 : 0;
        }
        uint32_t count, status;
        if (bl_client_create_accounts(client, batch, n, results, &count, &status) != 0 ||
            status != BL_FRAME_OK) {
            fprintf(stderr, "bench_hostile: setup failed at id %" PRIu64 "\n", id);
            exit(1);
        }
    }
    bl_client_close(client);
    printf("setup: %" PRIu64 " accounts%s\n", accounts, interleave ? " (interleaved)" : "");
}

static void slots(void) {
    static int fds[CONNECTIONS_MAX];
    uint32_t n = 0;
    const char *seen = "no refusal";
    for (; n < CONNECTIONS_MAX; n++) {
        fds[n] = raw_connect();
        if (fds[n] < 0) {
            seen = "connect failed";
            break;
        }
        /* a ping on each: a refused connection answers busy or is reset */
        bl_frame_header_t h, reply;
        bl_frame_header_build(&h, BL_OP_PING, 1, 0, 0, NULL, 0);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fds[n], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (!send_all(fds[n], &h, sizeof(h)) || !recv_all(fds[n], &reply, sizeof(reply))) {
            seen = "reset or closed with no frame";
            close(fds[n]);
            break;
        }
        if (reply.status != BL_FRAME_OK) {
            seen = reply.status == BL_FRAME_BUSY ? "a busy frame" : "another status";
            close(fds[n]);
            break;
        }
    }
    printf("slots: %u connections from one address accepted; the next one got %s\n", n, seen);
    probe("slots", 2);
    for (uint32_t i = 0; i < n; i++) close(fds[i]);
}

int main(int argc, char **argv) {
    const char *attack = argc > 1 ? argv[1] : "";
    uint64_t accounts = 1000000;
    uint32_t seconds = 5;
    bool interleave = false;
    static const struct option options[] = {{"addr", required_argument, 0, 'a'},
                                            {"accounts", required_argument, 0, 'n'},
                                            {"seconds", required_argument, 0, 's'},
                                            {"interleave", no_argument, 0, 'i'},
                                            {0, 0, 0, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'a': {
            const char *colon = strrchr(optarg, ':');
            if (colon == NULL || colon - optarg >= (long)sizeof(g_host)) return 2;
            memcpy(g_host, optarg, (size_t)(colon - optarg));
            g_host[colon - optarg] = 0;
            g_port = (uint16_t)atoi(colon + 1);
            break;
        }
        case 'n':
            accounts = strtoull(optarg, NULL, 10);
            break;
        case 's':
            seconds = (uint32_t)atoi(optarg);
            break;
        case 'i':
            interleave = true;
            break;
        default:
            return 2;
        }
    }
    if (!strcmp(attack, "setup")) {
        setup(accounts, interleave);
        return 0;
    }
    if (!strcmp(attack, "slots")) {
        slots();
        return 0;
    }
    uint32_t count = !strcmp(attack, "unread") ? 9 : !strcmp(attack, "costly") ? 8 : 0;
    if (count == 0 && strcmp(attack, "none") != 0) {
        fprintf(stderr, "usage: bench_hostile setup|unread|costly|slots|none [--addr HOST:PORT]"
                        " [--accounts N] [--interleave] [--seconds S]\n");
        return 2;
    }
    static attacker_t attackers[ATTACKERS_MAX];
    for (uint32_t i = 0; i < count; i++) {
        attacker_t *a = &attackers[i];
        a->fd = raw_connect();
        if (a->fd < 0) return 1;
        a->reads = !strcmp(attack, "costly");
        memset(&a->filter, 0, sizeof(a->filter));
        a->filter.limit = BL_FILTER_LIMIT_MAX;
        if (a->reads) {
            a->filter.user_data_64 = 1;
            a->filter.code = 1;
        } else {
            a->filter.ledger = 1;
        }
        pthread_create(&a->thread, NULL, attacker_main, a);
    }
    usleep(500000); /* the attack takes hold */
    probe(attack, seconds);
    atomic_store(&g_stop, true);
    for (uint32_t i = 0; i < count; i++) {
        shutdown(attackers[i].fd, SHUT_RDWR);
        pthread_join(attackers[i].thread, NULL);
        close(attackers[i].fd);
    }
    return 0;
}
