/*
 * Crash test: a child process drives a node under concurrent load and is killed with SIGKILL
 * at a random moment, again and again on the same data directory. After every kill:
 *   - every transfer the child saw acknowledged is present, with exactly the fields it sent;
 *   - every transfer present was at least attempted, and each account's balances equal the sum
 *     of the transfers present that name it;
 *   - the state digest after recovery equals the digest of a fresh replay of the whole log
 *     (no checkpoint), with 1 and with 8 partitions.
 * The child reports through a pipe: "attempting ids [a, a + n)" before it submits a request,
 * and "acknowledged [a, a + n)" when the request completes ok. Messages are 16 bytes, below
 * PIPE_BUF, so they arrive whole even when the kill lands mid-way.
 *
 * Seeded (BL_SEED, printed); BL_CRASH_KILLS sets the number of kills (default 24).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/hash.h"
#include "node/node.h"
#include "tests/common/util.h"

#define ACCOUNTS 100u
#define IDS_PER_ROUND 10000000ull /* each child run takes its ids from its own range */
#define BATCH_MAX 512u
#define SUBMITTERS 2
#define INFLIGHT 4
#define ATTEMPTS_MAX 200000u

enum { MSG_ATTEMPT = 1, MSG_ACK = 2 };

typedef struct msg {
    uint32_t kind;
    uint32_t count;
    uint64_t first_id;
} msg_t;

_Static_assert(sizeof(msg_t) == 16, "pipe message");

static char g_dir[64];

/* The transfer with a given id: a pure function of the id, so parent and child agree. */
static void transfer_of(uint64_t id, bl_transfer_t *t) {
    uint64_t h = bl_hash64(&id, sizeof(id));
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->debit_account_id = 1 + h % ACCOUNTS;
    t->credit_account_id = 1 + (t->debit_account_id + (h >> 20) % (ACCOUNTS - 1)) % ACCOUNTS;
    t->amount = 1 + (h >> 40) % 1000;
    t->user_data_64 = id * 3;
    t->ledger = 1;
    t->code = 7;
}

static bl_node_config_t config_make(const char *dir, uint32_t partitions) {
    return (bl_node_config_t){.dir = dir,
                              .engine = {.partitions = partitions,
                                         .accounts_max = 1024,
                                         .transfers_max = 4u << 20,
                                         .partition_threads = true},
                              .segment_size_bytes = 8 << 20,
                              .checkpoint_blocks = 50,
                              .log_retain_all = true,
                              .quiet = true};
}

/* ------------------------------------------------------------------------------------------ */
/* The child.                                                                                 */

typedef struct child {
    bl_node_t *node;
    int pipe_fd;
    uint64_t next_id;
    pthread_mutex_t id_lock; /* test harness only: hands out id ranges to submitters */
} child_t;

typedef struct slot {
    bl_node_request_t request;
    bl_transfer_t transfers[BATCH_MAX];
    bl_event_result_t results[BATCH_MAX];
    atomic_bool busy;
    child_t *child;
} slot_t;

static void child_send(int fd, uint32_t kind, uint64_t first, uint32_t count) {
    msg_t m = {.kind = kind, .count = count, .first_id = first};
    if (write(fd, &m, sizeof(m)) != sizeof(m)) _exit(3);
}

static void child_done(bl_node_request_t *request) {
    slot_t *slot = request->ctx;
    if (request->status == BL_FRAME_OK) {
        if (request->reply_count != 0) _exit(4); /* every transfer here must succeed */
        child_send(slot->child->pipe_fd, MSG_ACK, (uint64_t)slot->transfers[0].id, request->count);
    }
    atomic_store(&slot->busy, false);
}

static void *child_submitter(void *arg) {
    child_t *child = arg;
    static _Thread_local slot_t slots[INFLIGHT];
    uint64_t rng = (uint64_t)pthread_self() ^ g_seed;
    for (;;) {
        for (int s = 0; s < INFLIGHT; s++) {
            slot_t *slot = &slots[s];
            if (atomic_load(&slot->busy)) continue;
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t count = 1 + (uint32_t)(rng >> 33) % BATCH_MAX;
            pthread_mutex_lock(&child->id_lock);
            uint64_t first = child->next_id;
            child->next_id += count;
            pthread_mutex_unlock(&child->id_lock);
            for (uint32_t i = 0; i < count; i++) transfer_of(first + i, &slot->transfers[i]);
            slot->child = child;
            slot->request = (bl_node_request_t){.op = BL_OP_CREATE_TRANSFERS,
                                                .count = count,
                                                .body = slot->transfers,
                                                .reply = slot->results,
                                                .done = child_done,
                                                .ctx = slot};
            atomic_store(&slot->busy, true);
            child_send(child->pipe_fd, MSG_ATTEMPT, first, count);
            bl_node_submit(child->node, &slot->request);
        }
        usleep(200);
    }
    return NULL;
}

static void child_main(int pipe_fd, uint32_t round, uint32_t partitions) {
    bl_node_config_t config = config_make(g_dir, partitions);
    child_t child = {.pipe_fd = pipe_fd, .next_id = 1 + (uint64_t)(round + 1) * IDS_PER_ROUND};
    pthread_mutex_init(&child.id_lock, NULL);
    if (bl_node_open(&child.node, &config) != 0) _exit(2);
    bl_account_t accounts[ACCOUNTS];
    bl_event_result_t results[ACCOUNTS];
    memset(accounts, 0, sizeof(accounts));
    for (uint32_t i = 0; i < ACCOUNTS; i++) {
        accounts[i].id = i + 1;
        accounts[i].ledger = 1;
        accounts[i].code = 1;
    }
    bl_node_request_t request = {
        .op = BL_OP_CREATE_ACCOUNTS, .count = ACCOUNTS, .body = accounts, .reply = results};
    if (bl_node_call(child.node, &request) != BL_FRAME_OK) _exit(5); /* ok or exists */
    pthread_t threads[SUBMITTERS];
    for (int k = 0; k < SUBMITTERS; k++) pthread_create(&threads[k], NULL, child_submitter, &child);
    for (;;) pause(); /* until killed */
}

/* ------------------------------------------------------------------------------------------ */
/* The parent.                                                                                */

typedef struct range {
    uint64_t first;
    uint32_t count;
} range_t;

static range_t g_attempted[ATTEMPTS_MAX], g_acked[ATTEMPTS_MAX];
static uint32_t g_attempted_count, g_acked_count;

static void parent_read(int fd) {
    msg_t m;
    ssize_t n;
    while ((n = read(fd, &m, sizeof(m))) == sizeof(m)) {
        range_t r = {m.first_id, m.count};
        assert_true(g_attempted_count < ATTEMPTS_MAX && g_acked_count < ATTEMPTS_MAX);
        if (m.kind == MSG_ATTEMPT)
            g_attempted[g_attempted_count++] = r;
        else if (m.kind == MSG_ACK)
            g_acked[g_acked_count++] = r;
        else
            fail_msg("bad message kind %u", m.kind);
    }
    assert_true(n == 0 || (n < 0 && errno == EAGAIN));
}

static uint32_t lookup_range(bl_node_t *node, uint64_t first, uint32_t count, bl_transfer_t *out) {
    static bl_u128_t ids[BATCH_MAX];
    for (uint32_t i = 0; i < count; i++) ids[i] = first + i;
    bl_node_request_t request = {
        .op = BL_OP_LOOKUP_TRANSFERS, .count = count, .body = ids, .reply = out};
    assert_int_equal(bl_node_call(node, &request), BL_FRAME_OK);
    return request.reply_count;
}

static bl_server_status_t status_of(bl_node_t *node) {
    bl_server_status_t status;
    bl_node_request_t request = {.op = BL_OP_STATUS, .reply = &status};
    assert_int_equal(bl_node_call(node, &request), BL_FRAME_OK);
    return status;
}

static void verify(uint32_t round) {
    bl_node_config_t config = config_make(g_dir, 2);
    bl_node_t *node = NULL;
    assert_int_equal(bl_node_open(&node, &config), 0);
    static bl_transfer_t found[BATCH_MAX];
    bl_transfer_t want;

    /* Every acknowledged transfer, with its fields. */
    for (uint32_t a = 0; a < g_acked_count; a++) {
        uint32_t n = lookup_range(node, g_acked[a].first, g_acked[a].count, found);
        if (n != g_acked[a].count)
            fail_msg("round %u: acknowledged ids %llu+%u: only %u present (seed %llu)", round,
                     (unsigned long long)g_acked[a].first, g_acked[a].count, n,
                     (unsigned long long)g_seed);
        for (uint32_t i = 0; i < n; i++) {
            transfer_of(g_acked[a].first + i, &want);
            want.timestamp = found[i].timestamp;
            assert_true(found[i].timestamp != 0);
            assert_memory_equal(&found[i], &want, sizeof(want));
        }
    }
    /* Balances are the sums of the transfers present, all of which were attempted. */
    static bl_u128_t debits[ACCOUNTS + 1], credits[ACCOUNTS + 1];
    memset(debits, 0, sizeof(debits));
    memset(credits, 0, sizeof(credits));
    uint64_t present = 0;
    for (uint32_t a = 0; a < g_attempted_count; a++) {
        uint32_t n = lookup_range(node, g_attempted[a].first, g_attempted[a].count, found);
        for (uint32_t i = 0; i < n; i++) {
            transfer_of((uint64_t)found[i].id, &want);
            want.timestamp = found[i].timestamp;
            assert_memory_equal(&found[i], &want, sizeof(want));
            debits[(uint64_t)found[i].debit_account_id] += found[i].amount;
            credits[(uint64_t)found[i].credit_account_id] += found[i].amount;
        }
        present += n;
    }
    bl_server_status_t status = status_of(node);
    assert_int_equal(status.transfers_count, present); /* nothing present was not attempted */
    bl_u128_t ids[ACCOUNTS];
    bl_account_t accounts[ACCOUNTS];
    for (uint32_t i = 0; i < ACCOUNTS; i++) ids[i] = i + 1;
    bl_node_request_t request = {
        .op = BL_OP_LOOKUP_ACCOUNTS, .count = ACCOUNTS, .body = ids, .reply = accounts};
    assert_int_equal(bl_node_call(node, &request), BL_FRAME_OK);
    /* A kill can land before the first child made its accounts durable: they are one block,
     * so all are there or none, and without them no transfer can be. */
    if (request.reply_count == 0) {
        assert_int_equal(present, 0);
        bl_node_close(node);
        return;
    }
    assert_int_equal(request.reply_count, ACCOUNTS);
    for (uint32_t i = 0; i < ACCOUNTS; i++) {
        assert_true(accounts[i].debits_posted == debits[i + 1]);
        assert_true(accounts[i].credits_posted == credits[i + 1]);
    }
    bl_node_close(node);

    /* A fresh replay of the whole log, without any checkpoint, gives the same digest. */
    char copy[80], command[512];
    snprintf(copy, sizeof(copy), "%s-replay", g_dir);
    snprintf(command, sizeof(command), "rm -rf %s && cp -r %s %s && rm -f %s/checkpoint-*", copy,
             g_dir, copy, copy);
    assert_int_equal(system(command), 0);
    uint32_t partitions[] = {1, 8};
    for (int k = 0; k < 2; k++) {
        bl_node_config_t replay_config = config_make(copy, partitions[k]);
        bl_node_t *replayed = NULL;
        assert_int_equal(bl_node_open(&replayed, &replay_config), 0);
        bl_server_status_t again = status_of(replayed);
        if (again.state_digest != status.state_digest || again.block_height < status.block_height)
            fail_msg("round %u: replay with N=%u differs (seed %llu)", round, partitions[k],
                     (unsigned long long)g_seed);
        bl_node_close(replayed);
        snprintf(command, sizeof(command), "rm -f %s/checkpoint-*", copy);
        assert_int_equal(system(command), 0);
    }
    snprintf(command, sizeof(command), "rm -rf %s", copy);
    assert_int_equal(system(command), 0);
}

static void test_crash_sigkill_loses_nothing_acknowledged(void **state) {
    (void)state;
    const char *kills_env = getenv("BL_CRASH_KILLS");
    uint32_t kills = kills_env ? (uint32_t)strtoul(kills_env, NULL, 10) : 24;
    dir_make(g_dir, "bl_test_crash");
    uint64_t acked_total = 0;
    for (uint32_t round = 0; round < kills; round++) {
        int fds[2];
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        uint32_t partitions = 1 + (uint32_t)(rng() % 4);
        uint32_t delay_ms = 20 + (uint32_t)(rng() % 180);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(fds[1], round, partitions);
        }
        close(fds[1]);
        usleep(delay_ms * 1000);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("round %u: child exited with %d before the kill", round,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        uint32_t acked_before = g_acked_count;
        parent_read(fds[0]);
        close(fds[0]);
        for (uint32_t a = acked_before; a < g_acked_count; a++) acked_total += g_acked[a].count;
        verify(round);
    }
    print_message("crash: %u kills, %llu acknowledged transfers all present\n", kills,
                  (unsigned long long)acked_total);
    assert_true(acked_total > 0); /* the children did get work acknowledged */
    dir_remove(g_dir);
}

int main(void) {
    seed_init("test_crash");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_sigkill_loses_nothing_acknowledged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
