/*
 * The server over loopback (net/server.c with a real node), through the C client and through
 * raw sockets: every op, an 8,192-event batch, 64 pipelined requests answered in order with
 * reads seeing the writes before them, each kind of frame error with its close or keep-open
 * rule (earlier requests answered first), garbage and cut-off frames that must not disturb
 * other connections, and 1,000 connections at once. Hostile clients: connections that never
 * read their replies (others are still served; the ones holding the memory are closed after
 * the write time limit), connections that queue costly reads (others wait behind a few, not
 * all), and connections past the per-address and total limits (answered busy).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ballast/client.h"
#include "common/hash.h"
#include "net/frame.h"
#include "net/server.h"
#include "tests/common/util.h"

static char g_dir[64];
static bl_node_t *g_node;
static bl_server_t *g_server;
static pthread_t g_thread;
static uint16_t g_port;

static void *server_main(void *arg) {
    (void)arg;
    bl_server_run(g_server);
    return NULL;
}

static int group_setup(void **state) {
    (void)state;
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max; /* 1,000 connections need 2,000+ descriptors here */
    setrlimit(RLIMIT_NOFILE, &limit);
    dir_make(g_dir, "bl_test_server");
    bl_node_config_t node_config = {.dir = g_dir,
                                    .engine = {.partitions = 2,
                                               .accounts_max = 4096,
                                               .transfers_max = 1 << 20,
                                               .partition_threads = true},
                                    .segment_size_bytes = 8 << 20,
                                    .quiet = true};
    if (bl_node_open(&g_node, &node_config) != 0) return -1;
    bl_server_config_t config = {
        .host = "127.0.0.1", .port = 0, .node = g_node, .frame_timeout_ns = 2000000000ull};
    if (bl_server_open(&g_server, &config) != 0) return -1;
    g_port = bl_server_port(g_server);
    return pthread_create(&g_thread, NULL, server_main, NULL);
}

static int group_teardown(void **state) {
    (void)state;
    bl_server_stop(g_server);
    pthread_join(g_thread, NULL);
    bl_server_close(g_server);
    bl_node_close(g_node);
    dir_remove(g_dir);
    return 0;
}

static bl_client_t *client_new(void) {
    bl_client_t *client = NULL;
    assert_int_equal(bl_client_connect(&client, "127.0.0.1", g_port, 5000000000ull), 0);
    return client;
}

static void accounts_ensure(bl_client_t *client) {
    bl_account_t accounts[8];
    bl_event_result_t results[8];
    memset(accounts, 0, sizeof(accounts));
    for (uint32_t i = 0; i < 8; i++) {
        accounts[i].id = i + 1;
        accounts[i].ledger = 1;
        accounts[i].code = 1;
    }
    uint32_t count, status;
    assert_int_equal(bl_client_create_accounts(client, accounts, 8, results, &count, &status), 0);
    assert_int_equal(status, BL_FRAME_OK); /* ok or exists */
}

static void transfer_make(bl_transfer_t *t, uint64_t id, uint64_t dr, uint64_t cr) {
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->debit_account_id = dr;
    t->credit_account_id = cr;
    t->amount = 10;
    t->ledger = 1;
    t->code = 1;
}

static void test_server_every_op(void **state) {
    (void)state;
    bl_client_t *client = client_new();
    uint32_t status, count;
    assert_int_equal(bl_client_ping(client, &status), 0);
    assert_int_equal(status, BL_FRAME_OK);
    accounts_ensure(client);
    bl_transfer_t transfers[2];
    transfer_make(&transfers[0], 100, 1, 2);
    transfer_make(&transfers[1], 101, 1, 1); /* accounts_must_be_different */
    bl_event_result_t results[2];
    assert_int_equal(bl_client_create_transfers(client, transfers, 2, results, &count, &status), 0);
    assert_int_equal(status, BL_FRAME_OK);
    assert_int_equal(count, 1);
    assert_int_equal(results[0].index, 1);
    assert_int_equal(results[0].result, BL_CREATE_TRANSFER_ACCOUNTS_MUST_BE_DIFFERENT);

    bl_u128_t ids[3] = {100, 999, 100};
    bl_transfer_t found[3];
    assert_int_equal(bl_client_lookup_transfers(client, ids, 3, found, &count, &status), 0);
    assert_int_equal(count, 2); /* duplicates included, missing skipped */
    assert_true(found[0].id == 100 && found[1].id == 100 && found[0].timestamp != 0);
    bl_u128_t account_ids[2] = {1, 2};
    bl_account_t accounts[2];
    assert_int_equal(bl_client_lookup_accounts(client, account_ids, 2, accounts, &count, &status),
                     0);
    assert_int_equal(count, 2);
    assert_true(accounts[0].debits_posted >= 10 && accounts[1].credits_posted >= 10);

    bl_server_status_t server_status;
    assert_int_equal(bl_client_status(client, &server_status, &status), 0);
    assert_int_equal(server_status.protocol_version, 1);
    assert_int_equal(server_status.partitions, 2);
    assert_true(server_status.transfers_count >= 1 && server_status.block_height >= 2);
    bl_client_close(client);
}

/* The filter ops through the client, with a reply far larger than the request. */
static void test_server_filter_ops(void **state) {
    (void)state;
    bl_client_t *client = client_new();
    bl_account_t accounts[2];
    memset(accounts, 0, sizeof(accounts));
    for (uint32_t i = 0; i < 2; i++) {
        accounts[i].id = 21 + i;
        accounts[i].ledger = 1;
        accounts[i].code = 5;
        accounts[i].user_data_32 = 77;
        accounts[i].flags = BL_ACCOUNT_HISTORY;
    }
    bl_event_result_t results[300];
    uint32_t count, status;
    assert_int_equal(bl_client_create_accounts(client, accounts, 2, results, &count, &status), 0);
    assert_int_equal(count, 0);
    static bl_transfer_t transfers[300];
    for (uint32_t i = 0; i < 300; i++) {
        transfer_make(&transfers[i], 5000 + i, 21, 22);
        transfers[i].user_data_64 = 9000 + i % 3;
    }
    assert_int_equal(bl_client_create_transfers(client, transfers, 300, results, &count, &status),
                     0);
    assert_int_equal(count, 0);

    static bl_transfer_t out[BL_FILTER_LIMIT_MAX];
    bl_account_filter_t f;
    memset(&f, 0, sizeof(f));
    f.account_id = 22;
    f.flags = BL_FILTER_CREDITS | BL_FILTER_REVERSED;
    f.limit = BL_FILTER_LIMIT_MAX;
    assert_int_equal(bl_client_get_account_transfers(client, &f, out, &count, &status), 0);
    assert_int_equal(status, BL_FRAME_OK);
    assert_int_equal(count, 300);
    assert_true(out[0].id == 5299 && out[299].id == 5000);
    static bl_account_balance_t balances[BL_FILTER_LIMIT_MAX];
    f.flags = BL_FILTER_CREDITS;
    assert_int_equal(bl_client_get_account_balances(client, &f, balances, &count, &status), 0);
    assert_int_equal(count, 300);
    assert_true(balances[299].credits_posted == 3000 && balances[0].credits_posted == 10);
    f.flags = BL_FILTER_DEBITS; /* 22 is never the debit side */
    assert_int_equal(bl_client_get_account_transfers(client, &f, out, &count, &status), 0);
    assert_int_equal(count, 0);

    bl_query_filter_t q;
    memset(&q, 0, sizeof(q));
    q.user_data_64 = 9001;
    q.limit = 50;
    assert_int_equal(bl_client_query_transfers(client, &q, out, &count, &status), 0);
    assert_int_equal(count, 50); /* 100 match; the limit holds */
    assert_true(out[0].id == 5001 && out[49].id == 5148);
    memset(&q, 0, sizeof(q));
    q.user_data_32 = 77;
    q.code = 5;
    q.limit = 10;
    bl_account_t found[10];
    assert_int_equal(bl_client_query_accounts(client, &q, found, &count, &status), 0);
    assert_int_equal(count, 2);
    assert_true(found[0].id == 21 && found[1].id == 22);
    q.reserved0[0] = 1; /* invalid: an empty reply, not an error */
    assert_int_equal(bl_client_query_accounts(client, &q, found, &count, &status), 0);
    assert_int_equal(status, BL_FRAME_OK);
    assert_int_equal(count, 0);

    /* lookup_blocks: every block so far, chained; a tampered header breaks the chain. */
    bl_server_status_t server_status;
    assert_int_equal(bl_client_status(client, &server_status, &status), 0);
    uint32_t height = (uint32_t)server_status.block_height;
    assert_true(height >= 2 && height <= 64);
    uint64_t heights[66];
    static bl_block_header_t headers[66];
    for (uint32_t h = 0; h < height + 2; h++) heights[h] = h + 1; /* two past the end */
    assert_int_equal(bl_client_lookup_blocks(client, heights, height + 2, headers, &count, &status),
                     0);
    assert_int_equal(status, BL_FRAME_OK);
    assert_int_equal(count, height);
    uint32_t broken = 0;
    assert_int_equal(bl_client_blocks_verify(headers, count, &broken), 0);
    headers[height / 2].hash[5] ^= 1;
    assert_int_equal(bl_client_blocks_verify(headers, count, &broken), -EBADMSG);
    assert_int_equal(broken, height / 2 + 1);
    bl_client_close(client);
}

static void test_server_full_batch(void **state) {
    (void)state;
    bl_client_t *client = client_new();
    accounts_ensure(client);
    static bl_transfer_t transfers[BL_BATCH_EVENTS_MAX];
    static bl_event_result_t results[BL_BATCH_EVENTS_MAX];
    for (uint32_t i = 0; i < BL_BATCH_EVENTS_MAX; i++)
        transfer_make(&transfers[i], 1000000 + i, 1 + i % 4, 5 + i % 4);
    uint32_t count, status;
    assert_int_equal(bl_client_create_transfers(client, transfers, BL_BATCH_EVENTS_MAX, results,
                                                &count, &status),
                     0);
    assert_int_equal(status, BL_FRAME_OK);
    assert_int_equal(count, 0);
    /* Resent whole: every event is `exists`. */
    assert_int_equal(bl_client_create_transfers(client, transfers, BL_BATCH_EVENTS_MAX, results,
                                                &count, &status),
                     0);
    assert_int_equal(count, BL_BATCH_EVENTS_MAX);
    assert_int_equal(results[8191].result, BL_CREATE_TRANSFER_EXISTS);
    bl_client_close(client);
}

static void test_server_pipelining_in_order(void **state) {
    (void)state;
    bl_client_t *client = client_new();
    accounts_ensure(client);
    static bl_transfer_t transfers[32];
    uint64_t ids[64];
    for (uint32_t r = 0; r < 64; r++) {
        if (r % 2 == 0) { /* a create ... */
            transfer_make(&transfers[r / 2], 2000000 + r, 1, 2);
            assert_int_equal(
                bl_client_send(client, BL_OP_CREATE_TRANSFERS, &transfers[r / 2], 1, &ids[r]), 0);
        } else { /* ... and a lookup of it, sent before the create was answered */
            bl_u128_t id = 2000000 + r - 1;
            assert_int_equal(bl_client_send(client, BL_OP_LOOKUP_TRANSFERS, &id, 1, &ids[r]), 0);
        }
    }
    for (uint32_t r = 0; r < 64; r++) {
        bl_transfer_t reply[1];
        uint64_t id;
        uint32_t status, count;
        assert_int_equal(bl_client_receive(client, &id, &status, reply, sizeof(reply), &count), 0);
        assert_int_equal(id, ids[r]); /* in request order */
        assert_int_equal(status, BL_FRAME_OK);
        if (r % 2 == 1) {
            assert_int_equal(count, 1); /* the read saw the write before it */
            assert_true(reply[0].id == 2000000 + r - 1);
        }
    }
    bl_client_close(client);
}

/* ------------------------------------------------------------------------------------------ */
/* Raw frames.                                                                                */

static int raw_connect(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons(g_port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static void raw_send(int fd, const void *data, size_t size) {
    assert_int_equal(send(fd, data, size, MSG_NOSIGNAL), (ssize_t)size);
}

static void raw_reply(int fd, bl_frame_header_t *h, void *body, size_t body_max) {
    size_t got = 0;
    while (got < sizeof(*h)) {
        ssize_t n = recv(fd, (uint8_t *)h + got, sizeof(*h) - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_true(h->body_size <= body_max);
    got = 0;
    while (got < h->body_size) {
        ssize_t n = recv(fd, (uint8_t *)body + got, h->body_size - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_int_equal(bl_frame_check_reply(h, body), BL_FRAME_OK);
}

static void raw_expect_closed(int fd) {
    uint8_t byte;
    assert_int_equal(recv(fd, &byte, 1, 0), 0);
}

static void ping_frame(bl_frame_header_t *h, uint64_t id) {
    bl_frame_header_build(h, BL_OP_PING, id, 0, 0, NULL, 0);
}

static void test_server_frame_errors_keep_open(void **state) {
    (void)state;
    int fd = raw_connect();
    uint8_t body[4096];
    bl_frame_header_t h, reply;
    /* 5: bad body checksum */
    bl_u128_t ids[2] = {1, 2};
    bl_frame_header_build(&h, BL_OP_LOOKUP_ACCOUNTS, 11, 0, 2, ids, sizeof(ids));
    h.body_checksum ^= 1;
    h.header_checksum = bl_hash64(&h, offsetof(bl_frame_header_t, header_checksum));
    raw_send(fd, &h, sizeof(h));
    raw_send(fd, ids, sizeof(ids));
    /* 6: bad op, with a body the server must skip */
    bl_frame_header_build(&h, 0x4242, 12, 0, 1, body, 100);
    raw_send(fd, &h, sizeof(h));
    raw_send(fd, body, 100);
    /* 7: bad body size */
    bl_frame_header_build(&h, BL_OP_LOOKUP_ACCOUNTS, 13, 0, 3, ids, sizeof(ids));
    raw_send(fd, &h, sizeof(h));
    raw_send(fd, ids, sizeof(ids));
    /* 8: no events */
    bl_frame_header_build(&h, BL_OP_CREATE_TRANSFERS, 14, 0, 0, NULL, 0);
    raw_send(fd, &h, sizeof(h));
    /* 9: reserved */
    ping_frame(&h, 15);
    h.reserved0 = 7;
    h.header_checksum = bl_hash64(&h, offsetof(bl_frame_header_t, header_checksum));
    raw_send(fd, &h, sizeof(h));
    /* and the connection still works */
    ping_frame(&h, 16);
    raw_send(fd, &h, sizeof(h));
    uint32_t want[][3] = {{11, BL_OP_LOOKUP_ACCOUNTS, BL_FRAME_BAD_BODY_CHECKSUM},
                          {12, 0x4242, BL_FRAME_BAD_OP},
                          {13, BL_OP_LOOKUP_ACCOUNTS, BL_FRAME_BAD_BODY_SIZE},
                          {14, BL_OP_CREATE_TRANSFERS, BL_FRAME_TOO_MANY_EVENTS},
                          {15, BL_OP_PING, BL_FRAME_RESERVED_NONZERO},
                          {16, BL_OP_PING, BL_FRAME_OK}};
    for (size_t i = 0; i < 6; i++) {
        raw_reply(fd, &reply, body, sizeof(body));
        assert_int_equal(reply.request_id, want[i][0]);
        assert_int_equal(reply.op, want[i][1]);
        assert_int_equal(reply.status, want[i][2]);
        assert_int_equal(reply.count, 0);
    }
    close(fd);
}

/* A closing error: earlier requests are answered, then the error (op and id 0 for 1-3, the
 * request's for 4), then the server closes. */
static void closing_case(void (*spoil)(bl_frame_header_t *h), uint32_t status, bool echo) {
    int fd = raw_connect();
    bl_frame_header_t h, reply;
    uint8_t body[64];
    ping_frame(&h, 21);
    raw_send(fd, &h, sizeof(h));
    ping_frame(&h, 22);
    spoil(&h);
    raw_send(fd, &h, sizeof(h));
    raw_reply(fd, &reply, body, sizeof(body));
    assert_int_equal(reply.request_id, 21);
    assert_int_equal(reply.status, BL_FRAME_OK);
    raw_reply(fd, &reply, body, sizeof(body));
    assert_int_equal(reply.status, status);
    assert_int_equal(reply.request_id, echo ? 22 : 0);
    assert_int_equal(reply.op, echo ? BL_OP_PING : 0);
    raw_expect_closed(fd);
    close(fd);
}

static void spoil_magic(bl_frame_header_t *h) {
    h->magic[0] = 'X';
}
static void spoil_version(bl_frame_header_t *h) {
    h->version = 2;
    h->header_checksum = bl_hash64(h, offsetof(bl_frame_header_t, header_checksum));
}
static void spoil_checksum(bl_frame_header_t *h) {
    h->header_checksum ^= 1;
}
static void spoil_size(bl_frame_header_t *h) {
    h->body_size = BL_FRAME_BODY_SIZE_MAX + 1;
    h->header_checksum = bl_hash64(h, offsetof(bl_frame_header_t, header_checksum));
}

static void test_server_frame_errors_close(void **state) {
    (void)state;
    closing_case(spoil_magic, BL_FRAME_BAD_MAGIC, false);
    closing_case(spoil_version, BL_FRAME_BAD_VERSION, false);
    closing_case(spoil_checksum, BL_FRAME_BAD_HEADER_CHECKSUM, false);
    closing_case(spoil_size, BL_FRAME_BODY_TOO_LARGE, true);
}

/* Garbage, a lying body_size and a frame cut off mid-way: the server answers or closes, and
 * other connections never notice. */
static void test_server_malformed_input(void **state) {
    (void)state;
    bl_client_t *other = client_new();
    for (int trial = 0; trial < 20; trial++) {
        int fd = raw_connect();
        uint8_t junk[512];
        for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (uint8_t)rng();
        if (trial % 3 == 0) { /* a valid header announcing more body than ever comes */
            bl_frame_header_t h;
            bl_frame_header_build(&h, BL_OP_CREATE_ACCOUNTS, 1, 0, 4, junk, 512);
            raw_send(fd, &h, sizeof(h));
            raw_send(fd, junk, 100);
        } else {
            raw_send(fd, junk, 1 + rng() % sizeof(junk));
        }
        close(fd);
        uint32_t status;
        assert_int_equal(bl_client_ping(other, &status), 0);
        assert_int_equal(status, BL_FRAME_OK);
    }
    bl_client_close(other);
}

/* A client that hangs up (with a reset) while its pipelined requests are at the node, after
 * enough requests that its slot ring has wrapped: the server frees each slot once, when the
 * node is done with it, and goes on serving. */
static void test_server_hangup_with_requests_in_flight(void **state) {
    (void)state;
    bl_client_t *other = client_new();
    accounts_ensure(other);
    for (int trial = 0; trial < 5; trial++) {
        int fd = raw_connect();
        bl_frame_header_t h, reply;
        uint8_t body[64];
        for (uint64_t i = 0; i < 40; i++) { /* move the ring's head past the middle */
            ping_frame(&h, i);
            raw_send(fd, &h, sizeof(h));
            raw_reply(fd, &reply, body, sizeof(body));
        }
        static bl_transfer_t t[BL_PIPELINE_REQUESTS_MAX];
        static uint8_t frames[BL_PIPELINE_REQUESTS_MAX][sizeof(bl_frame_header_t) + 128];
        for (uint32_t r = 0; r < BL_PIPELINE_REQUESTS_MAX; r++) {
            transfer_make(&t[r], 4000000 + (uint64_t)trial * 100 + r, 1, 2);
            bl_frame_header_build(&h, BL_OP_CREATE_TRANSFERS, 100 + r, 0, 1, &t[r], 128);
            memcpy(frames[r], &h, sizeof(h));
            memcpy(frames[r] + sizeof(h), &t[r], 128);
        }
        raw_send(fd, frames, sizeof(frames));
        struct linger reset = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
        close(fd);
        uint32_t status;
        assert_int_equal(bl_client_ping(other, &status), 0);
        assert_int_equal(status, BL_FRAME_OK);
    }
    bl_client_close(other);
}

/* More than 64 requests in one write: past the 64th they wait in the server's input buffer,
 * and must be taken once replies make room, though no more data arrives on the socket. */
static void test_server_pipeline_past_64(void **state) {
    (void)state;
    for (uint32_t n = 65; n <= 200; n += 45) {
        int fd = raw_connect();
        static bl_frame_header_t frames[200];
        for (uint32_t i = 0; i < n; i++) ping_frame(&frames[i], 1 + i);
        raw_send(fd, frames, n * sizeof(frames[0]));
        for (uint32_t i = 0; i < n; i++) {
            bl_frame_header_t reply;
            uint8_t body[16];
            raw_reply(fd, &reply, body, sizeof(body)); /* times out (5 s) if stuck */
            assert_int_equal(reply.request_id, 1 + i);
            assert_int_equal(reply.status, BL_FRAME_OK);
        }
        close(fd);
    }
}

/* A client that half-closes and waits for its replies must not make the server spin: the
 * server stops watching the read side it no longer reads. */
static void test_server_half_close_does_not_spin(void **state) {
    (void)state;
    int fd = raw_connect();
    bl_frame_header_t h, reply;
    uint8_t body[16];
    ping_frame(&h, 1);
    raw_send(fd, &h, sizeof(h));
    shutdown(fd, SHUT_WR);
    raw_reply(fd, &reply, body, sizeof(body));
    assert_int_equal(reply.status, BL_FRAME_OK);
    int idle = raw_connect(); /* a connection that stays open and quiet */
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    usleep(1000000);
    getrusage(RUSAGE_SELF, &after);
    double cpu = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec) +
                 (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec) / 1e6 +
                 (double)(after.ru_stime.tv_sec - before.ru_stime.tv_sec) +
                 (double)(after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1e6;
    print_message("half-close: %.3f s of CPU in 1 s idle\n", cpu);
    assert_true(cpu < 0.5); /* a busy loop would take about 1 s */
    close(fd);
    close(idle);
}

/* A reply too large for the caller's buffer: -EMSGSIZE, and the connection stays usable. */
static void test_server_client_reply_too_large(void **state) {
    (void)state;
    bl_client_t *client = client_new();
    accounts_ensure(client);
    bl_u128_t ids[4] = {1, 2, 3, 4};
    bl_account_t accounts[4];
    uint32_t count, status;
    int rc = bl_client_request(client, BL_OP_LOOKUP_ACCOUNTS, ids, 4, accounts,
                               2 * sizeof(bl_account_t), &count, &status);
    assert_int_equal(rc, -EMSGSIZE);
    assert_int_equal(bl_client_ping(client, &status), 0);
    assert_int_equal(status, BL_FRAME_OK);
    assert_int_equal(bl_client_lookup_accounts(client, ids, 4, accounts, &count, &status), 0);
    assert_int_equal(count, 4);
    bl_client_close(client);
}

/* A frame that dribbles in and never ends is cut off after frame_timeout_ns (2 s here). */
static void test_server_slow_frame_is_closed(void **state) {
    (void)state;
    int fd = raw_connect();
    bl_frame_header_t h;
    ping_frame(&h, 1);
    raw_send(fd, &h, 10); /* and never the rest */
    struct timeval tv = {.tv_sec = 6};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    raw_expect_closed(fd);
    close(fd);
}

/* The server goes away and comes back on the same port between two requests: the client
 * reconnects and resends; a create that had landed reports `exists`. */
static void test_server_reconnect_and_resend(void **state) {
    (void)state;
    bl_client_t *client = client_new();
    accounts_ensure(client);
    bl_transfer_t t;
    transfer_make(&t, 3000000, 1, 2);
    bl_event_result_t result[1];
    uint32_t count, status;
    assert_int_equal(bl_client_create_transfers(client, &t, 1, result, &count, &status), 0);
    assert_int_equal(count, 0);

    bl_server_stop(g_server);
    pthread_join(g_thread, NULL);
    bl_server_close(g_server);
    bl_server_config_t config = {
        .host = "127.0.0.1", .port = g_port, .node = g_node, .frame_timeout_ns = 2000000000ull};
    assert_int_equal(bl_server_open(&g_server, &config), 0);
    assert_int_equal(pthread_create(&g_thread, NULL, server_main, NULL), 0);

    assert_int_equal(bl_client_create_transfers(client, &t, 1, result, &count, &status), 0);
    assert_int_equal(status, BL_FRAME_OK);
    assert_int_equal(count, 1);
    assert_int_equal(result[0].result, BL_CREATE_TRANSFER_EXISTS);
    assert_true(bl_client_reconnects(client) >= 1);
    transfer_make(&t, 3000001, 1, 2);
    assert_int_equal(bl_client_create_transfers(client, &t, 1, result, &count, &status), 0);
    assert_int_equal(count, 0);
    bl_client_close(client);
}

/* ------------------------------------------------------------------------------------------ */
/* Hostile clients: what others see while some hold memory, leave replies unread, queue costly  */
/* reads or take every connection slot.                                                       */

typedef struct aux {
    bl_server_t *server;
    pthread_t thread;
    uint16_t port;
} aux_t;

static void *aux_main(void *arg) {
    bl_server_run(arg);
    return NULL;
}

/* A second server, on its own port, in front of `node`. */
static void aux_start(aux_t *aux, bl_node_t *node, bl_server_config_t config) {
    config.host = "127.0.0.1";
    config.node = node;
    assert_int_equal(bl_server_open(&aux->server, &config), 0);
    aux->port = bl_server_port(aux->server);
    assert_int_equal(pthread_create(&aux->thread, NULL, aux_main, aux->server), 0);
}

static void aux_stop(aux_t *aux) {
    bl_server_stop(aux->server);
    pthread_join(aux->thread, NULL);
    bl_server_close(aux->server);
}

static int raw_connect_port(uint16_t port) {
    uint16_t saved = g_port;
    g_port = port;
    int fd = raw_connect();
    g_port = saved;
    return fd;
}

/* A ping from a new connection is answered within `seconds`. */
static void ping_answered_within(uint16_t port, long seconds) {
    int fd = raw_connect_port(port);
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    bl_frame_header_t h, reply;
    uint8_t body[16];
    ping_frame(&h, 77);
    raw_send(fd, &h, sizeof(h));
    raw_reply(fd, &reply, body, sizeof(body)); /* fails on the deadline */
    assert_int_equal(reply.request_id, 77);
    assert_int_equal(reply.status, BL_FRAME_OK);
    close(fd);
}

/* 64 requests of `op` with `body` (`count` records of `size` bytes), back to back. */
static void send_64(int fd, uint16_t op, const void *body, uint32_t count, uint32_t size) {
    static uint8_t frames[BL_PIPELINE_REQUESTS_MAX][BL_FRAME_HEADER_SIZE + 128];
    uint32_t frame_size = BL_FRAME_HEADER_SIZE + count * size;
    if (frame_size <= sizeof(frames[0])) {
        for (uint32_t i = 0; i < BL_PIPELINE_REQUESTS_MAX; i++) {
            bl_frame_header_build((bl_frame_header_t *)frames[i], op, 1 + i, 0, count, body,
                                  count * size);
            memcpy(frames[i] + BL_FRAME_HEADER_SIZE, body, count * size);
        }
        raw_send(fd, frames, sizeof(frames));
        return;
    }
    /* Large requests: a server that stops reading this connection (its memory budget) may
     * leave some unsent, and that is the point; a send that would block ends the stream. */
    for (uint32_t i = 0; i < BL_PIPELINE_REQUESTS_MAX; i++) {
        bl_frame_header_t h;
        bl_frame_header_build(&h, op, 1 + i, 0, count, body, count * size);
        if (send(fd, &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(h)) return;
        const uint8_t *p = body;
        for (uint32_t sent = 0; sent < count * size;) {
            ssize_t n = send(fd, p + sent, count * size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n <= 0) return;
            sent += (uint32_t)n;
        }
    }
}

/* 8,192 ids of the eight accounts accounts_ensure makes: a lookup answers 1 MiB. */
static const bl_u128_t *lookup_ids(void) {
    static bl_u128_t ids[BL_BATCH_EVENTS_MAX];
    for (uint32_t i = 0; i < BL_BATCH_EVENTS_MAX; i++) ids[i] = 1 + i % 8;
    return ids;
}

/* A connection that will not read: a small receive buffer, full at once. */
static int hog_connect(uint16_t port) {
    int fd = raw_connect_port(port);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    return fd;
}

/* Nine connections each send 64 requests whose replies hold 1 MiB, and never read them: more
 * than the server's total (64 MiB here). Once, every connection stopped being read, so a new
 * client's ping waited until the hogs left. Now each hog stops at its own budget (an eighth of
 * the total), and past the total only connections over their share are paused: the new
 * client's ping is answered. And nine query_accounts of limit 8,192 per connection hold what
 * their replies hold, not 1 MiB each. */
static void test_server_unread_replies_do_not_stall_others(void **state) {
    (void)state;
    bl_client_t *client = client_new();
    accounts_ensure(client);
    bl_client_close(client);
    aux_t aux;
    aux_start(&aux, g_node, (bl_server_config_t){.request_bytes_max = 64ull << 20});
    enum { HOGS = 9 };
    int hogs[HOGS], queries[HOGS];
    bl_query_filter_t filter;
    memset(&filter, 0, sizeof(filter));
    filter.ledger = 1;
    filter.limit = BL_FILTER_LIMIT_MAX;
    for (int i = 0; i < HOGS; i++) {
        queries[i] = hog_connect(aux.port);
        send_64(queries[i], BL_OP_QUERY_ACCOUNTS, &filter, 1, sizeof(filter));
    }
    ping_answered_within(aux.port, 2);
    for (int i = 0; i < HOGS; i++) {
        hogs[i] = hog_connect(aux.port);
        send_64(hogs[i], BL_OP_LOOKUP_ACCOUNTS, lookup_ids(), BL_BATCH_EVENTS_MAX,
                sizeof(bl_u128_t));
    }
    usleep(200000);
    ping_answered_within(aux.port, 2);
    for (int i = 0; i < HOGS; i++) close(hogs[i]);
    for (int i = 0; i < HOGS; i++) close(queries[i]);
    aux_stop(&aux);
}

/* A connection that never reads replies of 1 MiB each (lookups of 8,192 ids) fills its socket
 * and holds its memory budget: after write_timeout_ns (1 s here) with nothing going out it is
 * closed. A bystander that reads stays open and is served throughout. */
static void test_server_unread_replies_time_out(void **state) {
    (void)state;
    aux_t aux;
    aux_start(&aux, g_node,
              (bl_server_config_t){.write_timeout_ns = 1000000000ull,
                                   .connection_bytes_max = 8ull << 20});
    uint16_t saved = g_port;
    g_port = aux.port;
    bl_client_t *bystander = client_new();
    g_port = saved;
    accounts_ensure(bystander);
    int hog = raw_connect_port(aux.port); /* its buffers hold a few of the 64 MiB asked */
    send_64(hog, BL_OP_LOOKUP_ACCOUNTS, lookup_ids(), BL_BATCH_EVENTS_MAX, sizeof(bl_u128_t));
    uint32_t status;
    for (int i = 0; i < 12; i++) { /* 3 s: past the time limit and the once-a-second check */
        assert_int_equal(bl_client_ping(bystander, &status), 0);
        assert_int_equal(status, BL_FRAME_OK);
        usleep(250000);
    }
    /* The hog now reads: some replies, then the end (not all 64 MiB, not a stall). */
    static uint8_t sink[1 << 16];
    uint64_t got = 0;
    for (;;) {
        ssize_t n = recv(hog, sink, sizeof(sink), 0);
        if (n <= 0) {
            assert_true(n == 0 || errno == ECONNRESET); /* not EAGAIN: 5 s without data */
            break;
        }
        got += (uint64_t)n;
    }
    assert_true(got < 64ull * (BL_FRAME_HEADER_SIZE + BL_BATCH_EVENTS_MAX * 128ull));
    close(hog);
    assert_int_equal(bl_client_ping(bystander, &status), 0);
    assert_int_equal(status, BL_FRAME_OK);
    assert_int_equal(bl_client_reconnects(bystander), 0);
    bl_client_close(bystander);
    aux_stop(&aux);
}

/* Eight connections keep 64 costly reads each queued (a query with two fields on a node
 * without indexes scans 1,048,576 accounts): reads take turns at the node, so a new client's
 * ping waits behind a few of them, not behind all 512. */
static void test_server_costly_reads_take_turns(void **state) {
    (void)state;
    char dir[64];
    dir_make(dir, "bl_test_server_costly");
    enum { ACCOUNTS = 1 << 20 };
    bl_node_config_t node_config = {.dir = dir,
                                    .engine = {.partitions = 1,
                                               .accounts_max = ACCOUNTS,
                                               .transfers_max = 1024,
                                               .indexes_off = true},
                                    .segment_size_bytes = 64 << 20,
                                    .quiet = true};
    bl_node_t *node;
    assert_int_equal(bl_node_open(&node, &node_config), 0);
    aux_t aux;
    aux_start(&aux, node, (bl_server_config_t){0});
    uint16_t saved = g_port;
    g_port = aux.port;
    bl_client_t *client = client_new();
    g_port = saved;
    static bl_account_t accounts[BL_BATCH_EVENTS_MAX];
    static bl_event_result_t results[BL_BATCH_EVENTS_MAX];
    for (uint32_t base = 0; base < ACCOUNTS; base += BL_BATCH_EVENTS_MAX) {
        for (uint32_t i = 0; i < BL_BATCH_EVENTS_MAX; i++) {
            bl_account_t *a = &accounts[i];
            memset(a, 0, sizeof(*a));
            a->id = 1 + base + i;
            a->ledger = 1;
            a->code = (base + i) % 2 ? 1 : 2;
            a->user_data_64 = (base + i) % 2 ? 0 : 1;
        }
        uint32_t count, status;
        assert_int_equal(bl_client_create_accounts(client, accounts, BL_BATCH_EVENTS_MAX, results,
                                                   &count, &status),
                         0);
        assert_int_equal(count, 0);
    }
    bl_client_close(client);
    enum { HOGS = 8 };
    int hogs[HOGS];
    bl_query_filter_t filter;
    memset(&filter, 0, sizeof(filter));
    filter.user_data_64 = 1;
    filter.code = 1;
    filter.limit = BL_FILTER_LIMIT_MAX;
    /* What one such read costs here, alone (a sanitizer build makes it many times slower):
     * a new ping may wait for the reads at the node, a handful, but not for the 512 queued. */
    int probe = raw_connect_port(aux.port);
    struct timeval probe_tv = {.tv_sec = 60};
    setsockopt(probe, SOL_SOCKET, SO_RCVTIMEO, &probe_tv, sizeof(probe_tv));
    bl_frame_header_t probe_h, probe_reply;
    bl_frame_header_build(&probe_h, BL_OP_QUERY_ACCOUNTS, 1, 0, 1, &filter, sizeof(filter));
    uint8_t probe_frame[BL_FRAME_HEADER_SIZE + sizeof(filter)], probe_body[16];
    memcpy(probe_frame, &probe_h, BL_FRAME_HEADER_SIZE);
    memcpy(probe_frame + BL_FRAME_HEADER_SIZE, &filter, sizeof(filter));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    raw_send(probe, probe_frame, sizeof(probe_frame));
    raw_reply(probe, &probe_reply, probe_body, sizeof(probe_body));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(probe);
    double one_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    long deadline_s = 2 + (long)(32 * one_s);
    printf("costly reads: one takes %.3f s alone; a new ping must be answered within %ld s "
           "(512 queued would take %.1f s)\n",
           one_s, deadline_s, 512 * one_s);
    for (int i = 0; i < HOGS; i++) {
        hogs[i] = raw_connect_port(aux.port);
        send_64(hogs[i], BL_OP_QUERY_ACCOUNTS, &filter, 1, sizeof(filter));
    }
    usleep(100000);
    ping_answered_within(aux.port, deadline_s);
    /* and the hogs are served too, in order, with nothing matching */
    for (int i = 0; i < HOGS; i++) {
        struct timeval tv = {.tv_sec = 60};
        setsockopt(hogs[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        bl_frame_header_t reply;
        uint8_t body[16];
        raw_reply(hogs[i], &reply, body, sizeof(body));
        assert_int_equal(reply.request_id, 1);
        assert_int_equal(reply.count, 0);
        close(hogs[i]);
    }
    aux_stop(&aux);
    bl_node_close(node);
    dir_remove(dir);
}

/* A refused connection: one busy frame (request_id 0, op 0, valid checksums), then the end. */
static void expect_busy(uint16_t port) {
    int fd = raw_connect_port(port);
    bl_frame_header_t reply;
    uint8_t body[16];
    raw_reply(fd, &reply, body, sizeof(body));
    assert_int_equal(reply.status, BL_FRAME_BUSY);
    assert_int_equal(reply.request_id, 0);
    assert_int_equal(reply.op, 0);
    raw_expect_closed(fd);
    close(fd);
}

static void expect_ping(int fd) {
    bl_frame_header_t h, reply;
    uint8_t body[16];
    ping_frame(&h, 5);
    raw_send(fd, &h, sizeof(h));
    raw_reply(fd, &reply, body, sizeof(body));
    assert_int_equal(reply.status, BL_FRAME_OK);
}

/* Past connections_per_address_max from one address, and past connections_max, a new client
 * gets a busy frame, not a reset; a slot given back is taken again. */
static void test_server_connection_slots_answer_busy(void **state) {
    (void)state;
    aux_t aux;
    aux_start(&aux, g_node,
              (bl_server_config_t){.connections_max = 3, .connections_per_address_max = 2});
    int a = raw_connect_port(aux.port), b = raw_connect_port(aux.port);
    expect_ping(a);
    expect_ping(b);
    expect_busy(aux.port); /* two from 127.0.0.1 already */
    close(b);
    usleep(100000);
    b = raw_connect_port(aux.port);
    expect_ping(b);
    close(a);
    close(b);
    aux_stop(&aux);
    aux_start(&aux, g_node, (bl_server_config_t){.connections_max = 2});
    a = raw_connect_port(aux.port);
    b = raw_connect_port(aux.port);
    expect_ping(a);
    expect_ping(b);
    expect_busy(aux.port); /* connections_max */
    close(a);
    close(b);
    aux_stop(&aux);
}

static void test_server_thousand_connections(void **state) {
    (void)state;
    enum { N = 1000 };
    static bl_client_t *clients[N];
    for (int i = 0; i < N; i++) clients[i] = client_new();
    for (int i = 0; i < N; i++) {
        uint32_t status;
        assert_int_equal(bl_client_ping(clients[i], &status), 0);
        assert_int_equal(status, BL_FRAME_OK);
    }
    for (int i = 0; i < N; i++) bl_client_close(clients[i]);
}

int main(void) {
    seed_init("test_server");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_every_op),
        cmocka_unit_test(test_server_filter_ops),
        cmocka_unit_test(test_server_full_batch),
        cmocka_unit_test(test_server_pipelining_in_order),
        cmocka_unit_test(test_server_frame_errors_keep_open),
        cmocka_unit_test(test_server_frame_errors_close),
        cmocka_unit_test(test_server_malformed_input),
        cmocka_unit_test(test_server_hangup_with_requests_in_flight),
        cmocka_unit_test(test_server_pipeline_past_64),
        cmocka_unit_test(test_server_half_close_does_not_spin),
        cmocka_unit_test(test_server_client_reply_too_large),
        cmocka_unit_test(test_server_slow_frame_is_closed),
        cmocka_unit_test(test_server_reconnect_and_resend),
        cmocka_unit_test(test_server_unread_replies_do_not_stall_others),
        cmocka_unit_test(test_server_unread_replies_time_out),
        cmocka_unit_test(test_server_costly_reads_take_turns),
        cmocka_unit_test(test_server_connection_slots_answer_busy),
        cmocka_unit_test(test_server_thousand_connections),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
