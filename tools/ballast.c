/*
 * ballast: the server and the command line client, one executable.
 *
 *   ballast start [options]          run the server on a data directory
 *   ballast ping | status            ask a running server
 *   ballast create-account ...       create one account
 *   ballast transfer ...             create one transfer (plain, pending, post, void)
 *   ballast lookup-account ID...     print accounts
 *   ballast lookup-transfer ID...    print transfers
 *   ballast history | balances ACCOUNT   an account's transfers, its balances after each change
 *   ballast query-accounts | query-transfers   objects matching every filter given
 *   ballast blocks                   block headers, and a check that they chain
 *   ballast repl                     client commands line by line on one connection
 *   ballast bench [options]          the load generator (bench/loadgen.c)
 * The client commands come from one table (g_commands): each answers --help with its own
 * usage. Every client command takes --addr HOST:PORT (default 127.0.0.1:3410) and --json.
 * Numbers are decimal or 0x-prefixed hex, up to 128 bits. Exit status: 0 ok; 1 the server
 * refused or an event failed; 2 usage; 3 no connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ballast/client.h"
#include "bench/loadgen.h"
#include "net/server.h"
#include "node/lock.h"
#include "node/node.h"
#include "wal/log.h"

#define ADDR_DEFAULT "127.0.0.1:3410"
#define DATA_DEFAULT "./ballast-data"
#define READS_LIMIT_DEFAULT 100u /* records per page of the filter reads */

/* ------------------------------------------------------------------------------------------ */
/* Numbers and addresses.                                                                     */

static bool parse_u128(const char *text, bl_u128_t *out) {
    bl_u128_t value = 0;
    int base = 10;
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) base = 16, text += 2;
    if (*text == '\0') return false;
    for (; *text; text++) {
        int digit;
        if (*text >= '0' && *text <= '9')
            digit = *text - '0';
        else if (base == 16 && *text >= 'a' && *text <= 'f')
            digit = *text - 'a' + 10;
        else if (base == 16 && *text >= 'A' && *text <= 'F')
            digit = *text - 'A' + 10;
        else if (*text == '_')
            continue;
        else
            return false;
        if (value > (BL_U128_MAX - (bl_u128_t)digit) / (bl_u128_t)base) return false;
        value = value * (bl_u128_t)base + (bl_u128_t)digit;
    }
    *out = value;
    return true;
}

static bool parse_u64(const char *text, uint64_t max, uint64_t *out) {
    bl_u128_t value;
    if (!parse_u128(text, &value) || value > max) return false;
    *out = (uint64_t)value;
    return true;
}

/* A size: bytes, or a whole number with a unit: KiB, MiB, GiB, TiB (also K, M, G, T), or KB,
 * MB, GB, TB (powers of 1000). At most `max`. */
static bool parse_size(const char *text, uint64_t max, uint64_t *out) {
    static const struct {
        const char *unit;
        uint64_t scale;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"K", 1ull << 10},
                 {"KiB", 1ull << 10},
                 {"KB", 1000ull},
                 {"M", 1ull << 20},
                 {"MiB", 1ull << 20},
                 {"MB", 1000000ull},
                 {"G", 1ull << 30},
                 {"GiB", 1ull << 30},
                 {"GB", 1000000000ull},
                 {"T", 1ull << 40},
                 {"TiB", 1ull << 40},
                 {"TB", 1000000000000ull}};
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > 19) return false;
    char number[20];
    memcpy(number, text, digits);
    number[digits] = '\0';
    uint64_t value = strtoull(number, NULL, 10);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(text + digits, units[i].unit) != 0) continue;
        if (value > max / units[i].scale) return false;
        *out = value * units[i].scale;
        return true;
    }
    return false;
}

static const char *u128_text(bl_u128_t value, char out[40]) {
    char digits[40];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(value % 10));
        value /= 10;
    } while (value != 0);
    for (int i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    out[n] = '\0';
    return out;
}

static bool parse_addr(const char *text, char *host, size_t host_size, uint16_t *port) {
    const char *colon = strrchr(text, ':');
    uint64_t p;
    if (colon == NULL || colon == text || !parse_u64(colon + 1, 65535, &p)) return false;
    size_t length = (size_t)(colon - text);
    if (text[0] == '[' && colon[-1] == ']') text++, length -= 2; /* [::1]:3410 */
    if (length >= host_size) return false;
    memcpy(host, text, length);
    host[length] = '\0';
    *port = (uint16_t)p;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* ballast start                                                                              */

static bl_server_t *g_server;

static void on_signal(int signal) {
    (void)signal;
    if (g_server != NULL) bl_server_stop(g_server);
}

/* One partition per CPU but one (the sequencer and the network share it), at least 1. */
static uint32_t partitions_default(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus <= 2) return 1;
    return cpus - 1 > (long)BL_PARTITIONS_MAX ? BL_PARTITIONS_MAX : (uint32_t)(cpus - 1);
}

/* A connection must hold at least one largest request and its reply. */
#define CONNECTION_BYTES_MIN (4u << 20)
#define WRITE_TIMEOUT_MS_MAX 3600000u
#define MEMORY_MAX (1ull << 50)

static void start_usage(FILE *out) {
    fprintf(out,
            "usage: ballast start [options]\n"
            "  --data DIR              data directory, created on first use (default %s)\n"
            "  --listen HOST:PORT      address to serve (default %s)\n"
            "  --partitions N          engine partitions, each on a thread of its own,\n"
            "                          1..%u (default: CPUs minus one, at least 1; here %u)\n"
            "  --pin-cpus              pin partition p's thread to CPU p (p >= 1; partition\n"
            "                          0 runs on the engine's thread, not pinned)\n"
            "  --accounts-max N        accounts the data directory can hold, fixed when it is\n"
            "                          created, 1..%llu (default %llu)\n"
            "  --transfers-max N       transfers likewise, 1..%llu (default %llu); the id\n"
            "                          index takes 4 to 8 bytes per transfer of it,\n"
            "                          committed at start\n"
            "  --memory SIZE           memory for the state, committed at start: a whole number\n"
            "                          of bytes, or with K, M, G, T or KiB, MiB, GiB, TiB\n"
            "                          (powers of 1024; KB, MB, GB, TB: of 1000), from %llu MiB\n"
            "                          to the machine's memory (default: a quarter of it, here\n"
            "                          %.1f GiB). At most 3/4 of MemAvailable is committed; in\n"
            "                          a container, give less than its limit. It holds, in\n"
            "                          order: the id indexes (skipped whole if they do not fit),\n"
            "                          the newest records (128 MiB), every account's tables\n"
            "                          (220 bytes each), then about 23 bytes per transfer (4\n"
            "                          more per user_data field set); start says how many.\n"
            "                          Past them the state grows beyond it, and says so once.\n"
            "                          Needs Linux 5.14 or later to commit ahead\n"
            "  --block-events-max N    events in one logged block, %u..%u (default %u)\n"
            "  --segment-size BYTES    log segment size, a multiple of 4096, at least the\n"
            "                          largest block (default %llu)\n"
            "  --checkpoint-blocks N   checkpoint after N blocks or 1 GiB of log, whichever\n"
            "                          comes first (default %u)\n"
            "  --connections-max N     open connections, 1..1048576 (default %u); past it a\n"
            "                          new connection is answered `busy` and closed\n"
            "  --connections-per-address-max N\n"
            "                          open connections from one peer address (loopback\n"
            "                          too), 1..connections-max (default %u, at most\n"
            "                          connections-max); past it likewise `busy`\n"
            "  --connection-bytes-max BYTES\n"
            "                          request and reply memory one connection may hold\n"
            "                          before the server stops reading it, %u..%llu\n"
            "                          (default %llu: an eighth of the server's total)\n"
            "  --write-timeout-ms MS   a connection whose replies wait unread (nothing can be\n"
            "                          written) this long is closed, 1..%u (default %llu)\n"
            "  --requests-max N        requests taken but not answered before `busy`\n"
            "                          (default %u)\n"
            "SIGTERM or SIGINT: stop accepting, finish what was taken, checkpoint (not when\n"
            "read-only after a log write failed: the log holds it all), exit 0.\n"
            "One process at a time serves a data directory (it locks DIR; its pid is in\n"
            "DIR/ballast.lock). A directory that cannot prove it holds every acknowledged\n"
            "block is refused, unchanged, with the file, offset and height; see\n"
            "`ballast-log --help`.\n"
            "Transfer records are kept in DIR/transfers.store (128 bytes each on disk; the\n"
            "newest 1,048,576 also in memory); every older one read is checked against its\n"
            "page's checksum first, and one that fails stops the server rather than serve it.\n",
            DATA_DEFAULT, ADDR_DEFAULT, BL_PARTITIONS_MAX, partitions_default(),
            (unsigned long long)BL_ACCOUNTS_MAX_LIMIT,
            (unsigned long long)BL_ENGINE_ACCOUNTS_MAX_DEFAULT,
            (unsigned long long)BL_TRANSFERS_MAX_LIMIT,
            (unsigned long long)BL_ENGINE_TRANSFERS_MAX_DEFAULT,
            (unsigned long long)(BL_NODE_MEMORY_MIN >> 20),
            (double)bl_node_memory_default() / (double)(1ull << 30), BL_BATCH_EVENTS_MAX,
            BL_BLOCK_EVENTS_MAX_LIMIT, BL_ENGINE_BLOCK_EVENTS_MAX_DEFAULT,
            (unsigned long long)BL_LOG_SEGMENT_SIZE_DEFAULT, BL_NODE_CHECKPOINT_BLOCKS_DEFAULT,
            BL_SERVER_CONNECTIONS_MAX_DEFAULT, BL_SERVER_CONNECTIONS_PER_ADDRESS_MAX_DEFAULT,
            CONNECTION_BYTES_MIN, (unsigned long long)BL_SERVER_REQUEST_BYTES_MAX_DEFAULT,
            (unsigned long long)(BL_SERVER_REQUEST_BYTES_MAX_DEFAULT /
                                 BL_SERVER_CONNECTION_BYTES_SHARE),
            WRITE_TIMEOUT_MS_MAX,
            (unsigned long long)(BL_SERVER_WRITE_TIMEOUT_NS_DEFAULT / 1000000ull),
            BL_NODE_REQUESTS_MAX_DEFAULT);
}

static int cmd_start(int argc, char **argv) {
    const char *data = DATA_DEFAULT, *listen = ADDR_DEFAULT;
    bl_node_config_t node_config = {
        .engine = {.partitions = partitions_default(), .partition_threads = true}};
    bl_server_config_t server_config = {0};
    static const struct option options[] = {
        {"data", required_argument, 0, 'd'},
        {"listen", required_argument, 0, 'l'},
        {"partitions", required_argument, 0, 'p'},
        {"accounts-max", required_argument, 0, 'a'},
        {"transfers-max", required_argument, 0, 't'},
        {"block-events-max", required_argument, 0, 'b'},
        {"segment-size", required_argument, 0, 's'},
        {"checkpoint-blocks", required_argument, 0, 'c'},
        {"connections-max", required_argument, 0, 'n'},
        {"requests-max", required_argument, 0, 'r'},
        {"pin-cpus", no_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},
        {"connections-per-address-max", required_argument, 0, 'A'},
        {"connection-bytes-max", required_argument, 0, 'B'},
        {"write-timeout-ms", required_argument, 0, 'W'},
        {"memory", required_argument, 0, 'm'},
        {0, 0, 0, 0}};
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'd':
            data = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'p':
            ok = parse_u64(optarg, BL_PARTITIONS_MAX, &v) && v >= 1;
            node_config.engine.partitions = (uint32_t)v;
            break;
        case 'a':
            ok = parse_u64(optarg, BL_ACCOUNTS_MAX_LIMIT, &v) && v >= 1;
            node_config.engine.accounts_max = v;
            break;
        case 't':
            ok = parse_u64(optarg, BL_TRANSFERS_MAX_LIMIT, &v) && v >= 1;
            node_config.engine.transfers_max = v;
            break;
        case 'b':
            ok = parse_u64(optarg, BL_BLOCK_EVENTS_MAX_LIMIT, &v) && v >= BL_BATCH_EVENTS_MAX;
            node_config.engine.block_events_max = (uint32_t)v;
            break;
        case 's':
            ok = parse_u64(optarg, UINT32_MAX, &v) && v >= BL_LOG_SEGMENT_SIZE_MIN &&
                 v % BL_LOG_ALIGN == 0;
            node_config.segment_size_bytes = v;
            break;
        case 'c':
            ok = parse_u64(optarg, UINT64_MAX, &v) && v >= 1;
            node_config.checkpoint_blocks = v;
            break;
        case 'n':
            ok = parse_u64(optarg, 1u << 20, &v) && v >= 1;
            server_config.connections_max = (uint32_t)v;
            break;
        case 'r':
            ok = parse_u64(optarg, 1u << 24, &v) && v >= 1;
            node_config.requests_max = (uint32_t)v;
            break;
        case 'A':
            ok = parse_u64(optarg, 1u << 20, &v) && v >= 1;
            server_config.connections_per_address_max = (uint32_t)v;
            break;
        case 'B':
            ok = parse_u64(optarg, BL_SERVER_REQUEST_BYTES_MAX_DEFAULT, &v) &&
                 v >= CONNECTION_BYTES_MIN;
            server_config.connection_bytes_max = v;
            break;
        case 'W':
            ok = parse_u64(optarg, WRITE_TIMEOUT_MS_MAX, &v) && v >= 1;
            server_config.write_timeout_ns = v * 1000000ull;
            break;
        case 'P':
            node_config.engine.pin_cpus = true;
            break;
        case 'm': {
            ok = parse_size(optarg, MEMORY_MAX, &v) && v >= BL_NODE_MEMORY_MIN;
            uint64_t ram = bl_node_memory_machine();
            if (ok && ram > 0 && v > ram) {
                fprintf(stderr,
                        "ballast: --memory %s is more than this machine's memory (%.1f GiB)\n",
                        optarg, (double)ram / (double)(1ull << 30));
                return 2;
            }
            node_config.memory_bytes = v;
            break;
        }
        case 'h':
            start_usage(stdout);
            return 0;
        default:
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "ballast: bad option or value: %s\n", argv[optind - 1]);
            start_usage(stderr);
            return 2;
        }
    }
    char host[256];
    uint16_t port;
    if (optind != argc || !parse_addr(listen, host, sizeof(host), &port)) {
        start_usage(stderr);
        return 2;
    }
    node_config.dir = data;
    bl_node_t *node = NULL;
    int rc = bl_node_open(&node, &node_config);
    if (rc != 0) {
        if (rc == -EBADMSG || rc == -EBUSY || rc == -EINVAL) /* the lines above said why */
            fprintf(stderr, "ballast: not started\n");
        else
            fprintf(stderr, "ballast: cannot open %s: %s\n", data, strerror(-rc));
        return 1;
    }
    server_config.host = host;
    server_config.port = port;
    server_config.node = node;
    rc = bl_server_open(&g_server, &server_config);
    if (rc != 0) {
        fprintf(stderr, "ballast: cannot listen on %s: %s\n", listen, strerror(-rc));
        bl_node_close(node);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("ballast listening on %s:%u\n", host, bl_server_port(g_server));
    fflush(stdout);
    bl_server_run(g_server);
    bl_node_stats_t stats;
    bl_node_stats_get(node, &stats);
    fprintf(stderr,
            "ballast: stopping: finished requests%s (%" PRIu64
            " checkpoints while serving, %" PRIu64 " failed, longest pause %.1f ms)\n",
            stats.read_only ? "" : ", writing a checkpoint", stats.checkpoints,
            stats.checkpoints_failed, stats.checkpoint_pause_ns_max / 1e6);
    bl_server_close(g_server);
    g_server = NULL;
    bl_node_close(node);
    fprintf(stderr, "ballast: stopped\n");
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Client commands.                                                                           */

typedef struct cli {
    char host[256];
    uint16_t port;
    bool json;
    bool keep; /* the REPL: one connection for every command */
    bl_client_t *client;
} cli_t;

static void print_account(const cli_t *cli, const bl_account_t *a) {
    char id[40], dp[40], dpo[40], cp[40], cpo[40], ud[40];
    if (cli->json) {
        printf("{\"id\":\"%s\",\"debits_pending\":\"%s\",\"debits_posted\":\"%s\","
               "\"credits_pending\":\"%s\",\"credits_posted\":\"%s\",\"user_data_128\":\"%s\","
               "\"user_data_64\":%" PRIu64 ",\"user_data_32\":%u,\"ledger\":%u,\"code\":%u,"
               "\"flags\":%u,\"timestamp\":%" PRIu64 "}\n",
               u128_text(a->id, id), u128_text(a->debits_pending, dp),
               u128_text(a->debits_posted, dpo), u128_text(a->credits_pending, cp),
               u128_text(a->credits_posted, cpo), u128_text(a->user_data_128, ud), a->user_data_64,
               a->user_data_32, a->ledger, a->code, a->flags, a->timestamp);
        return;
    }
    printf("account %s  ledger %u  code %u  flags %s%s%s%s\n"
           "  debits  pending %s  posted %s\n  credits pending %s  posted %s\n"
           "  user_data %s / %" PRIu64 " / %u  timestamp %" PRIu64 "\n",
           u128_text(a->id, id), a->ledger, a->code, a->flags ? "" : "none",
           a->flags & BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS ? "debits_must_not_exceed_credits "
                                                                : "",
           a->flags & BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS ? "credits_must_not_exceed_debits "
                                                                : "",
           a->flags & BL_ACCOUNT_HISTORY ? "history" : "", u128_text(a->debits_pending, dp),
           u128_text(a->debits_posted, dpo), u128_text(a->credits_pending, cp),
           u128_text(a->credits_posted, cpo), u128_text(a->user_data_128, ud), a->user_data_64,
           a->user_data_32, a->timestamp);
}

static void print_transfer(const cli_t *cli, const bl_transfer_t *t) {
    char id[40], dr[40], cr[40], amount[40], pending[40], ud[40];
    const char *kind = t->flags & BL_TRANSFER_PENDING        ? "pending"
                       : t->flags & BL_TRANSFER_POST_PENDING ? "post_pending"
                       : t->flags & BL_TRANSFER_VOID_PENDING ? "void_pending"
                                                             : "plain";
    if (cli->json) {
        printf("{\"id\":\"%s\",\"debit_account_id\":\"%s\",\"credit_account_id\":\"%s\","
               "\"amount\":\"%s\",\"pending_id\":\"%s\",\"user_data_128\":\"%s\","
               "\"user_data_64\":%" PRIu64 ",\"user_data_32\":%u,\"timeout\":%u,\"ledger\":%u,"
               "\"code\":%u,\"flags\":%u,\"timestamp\":%" PRIu64 "}\n",
               u128_text(t->id, id), u128_text(t->debit_account_id, dr),
               u128_text(t->credit_account_id, cr), u128_text(t->amount, amount),
               u128_text(t->pending_id, pending), u128_text(t->user_data_128, ud), t->user_data_64,
               t->user_data_32, t->timeout, t->ledger, t->code, t->flags, t->timestamp);
        return;
    }
    printf("transfer %s  %s  %s -> %s  amount %s  ledger %u  code %u\n"
           "  pending_id %s  timeout %u s  user_data %s / %" PRIu64 " / %u  timestamp %" PRIu64
           "\n",
           u128_text(t->id, id), kind, u128_text(t->debit_account_id, dr),
           u128_text(t->credit_account_id, cr), u128_text(t->amount, amount), t->ledger, t->code,
           u128_text(t->pending_id, pending), t->timeout, u128_text(t->user_data_128, ud),
           t->user_data_64, t->user_data_32, t->timestamp);
}

/* The outcome of a one-event create: 0 ok (or exists), 1 otherwise. */
static int print_results(const cli_t *cli, bool accounts, const bl_event_result_t *results,
                         uint32_t count) {
    uint32_t code = count ? results[0].result : 0;
    const char *name =
        accounts ? bl_create_account_result_name(code) : bl_create_transfer_result_name(code);
    if (cli->json) {
        printf("{\"result\":\"%s\",\"code\":%u}\n", name ? name : "unknown", code);
    } else {
        printf("%s\n", name ? name : "unknown");
    }
    uint32_t exists = accounts ? BL_CREATE_ACCOUNT_EXISTS : BL_CREATE_TRANSFER_EXISTS;
    return code == 0 || code == exists ? 0 : 1;
}

static int frame_failed(uint32_t status) {
    fprintf(stderr, "ballast: the server answered %s\n",
            bl_frame_status_name(status) ? bl_frame_status_name(status) : "an unknown status");
    return 1;
}

static void cli_usage(FILE *out);

static int cli_connect(cli_t *cli) {
    if (cli->client != NULL) return 0;
    int rc = bl_client_connect(&cli->client, cli->host, cli->port, 5000000000ull);
    if (rc != 0) {
        fprintf(stderr, "ballast: cannot reach %s:%u: %s\n", cli->host, cli->port, strerror(-rc));
        return 3;
    }
    return 0;
}

static void cli_done(cli_t *cli) {
    if (!cli->keep) {
        bl_client_close(cli->client);
        cli->client = NULL;
    }
}

/* The filter of history, balances, query-accounts and query-transfers. */

typedef struct reads {
    bl_u128_t account_id;
    bl_u128_t user_data_128;
    uint64_t user_data_64;
    uint32_t user_data_32;
    uint32_t ledger;
    uint16_t code;
    uint32_t sides; /* BL_FILTER_DEBITS | BL_FILTER_CREDITS; 0: both */
    bool reversed;
    uint32_t limit;
    uint64_t timestamp_min;
    uint64_t timestamp_max;
    bool all; /* follow pages to the end */
} reads_t;

static void print_balance(const cli_t *cli, const bl_account_balance_t *b) {
    char dp[40], dpo[40], cp[40], cpo[40];
    u128_text(b->debits_pending, dp);
    u128_text(b->debits_posted, dpo);
    u128_text(b->credits_pending, cp);
    u128_text(b->credits_posted, cpo);
    printf(cli->json ? "{\"timestamp\":%" PRIu64 ",\"debits_pending\":\"%s\",\"debits_posted\":"
                       "\"%s\",\"credits_pending\":\"%s\",\"credits_posted\":\"%s\"}\n"
                     : "balance at %" PRIu64 "  debits pending %s posted %s  credits pending %s "
                       "posted %s\n",
           b->timestamp, dp, dpo, cp, cpo);
}

/* Runs a filter read, page after page with --all (each page starts past the last timestamp
 * of the one before). 0 or -errno; *status the frame status of the last page. */
static int cli_reads(cli_t *cli, const char *command, const reads_t *r, uint32_t *status) {
    bool balances = !strcmp(command, "balances");
    bool by_account = balances || !strcmp(command, "history");
    bool accounts = !strcmp(command, "query-accounts");
    void *out = malloc((size_t)r->limit * BL_RECORD_SIZE);
    if (out == NULL) return -ENOMEM;
    uint64_t min = r->timestamp_min, max = r->timestamp_max;
    uint32_t shown = 0;
    int rc = 0;
    for (;;) {
        uint32_t count = 0;
        if (by_account) {
            bl_account_filter_t f = {.account_id = r->account_id,
                                     .user_data_128 = r->user_data_128,
                                     .user_data_64 = r->user_data_64,
                                     .user_data_32 = r->user_data_32,
                                     .code = r->code,
                                     .timestamp_min = min,
                                     .timestamp_max = max,
                                     .limit = r->limit};
            f.flags = (r->sides ? r->sides : BL_FILTER_DEBITS | BL_FILTER_CREDITS) |
                      (r->reversed ? BL_FILTER_REVERSED : 0);
            rc = balances ? bl_client_get_account_balances(cli->client, &f, out, &count, status)
                          : bl_client_get_account_transfers(cli->client, &f, out, &count, status);
        } else {
            bl_query_filter_t f = {.user_data_128 = r->user_data_128,
                                   .user_data_64 = r->user_data_64,
                                   .user_data_32 = r->user_data_32,
                                   .ledger = r->ledger,
                                   .code = r->code,
                                   .timestamp_min = min,
                                   .timestamp_max = max,
                                   .limit = r->limit,
                                   .flags = r->reversed ? BL_QUERY_REVERSED : 0};
            rc = accounts ? bl_client_query_accounts(cli->client, &f, out, &count, status)
                          : bl_client_query_transfers(cli->client, &f, out, &count, status);
        }
        if (rc != 0 || *status != BL_FRAME_OK) break;
        for (uint32_t i = 0; i < count; i++) {
            const uint8_t *record = (const uint8_t *)out + (size_t)i * BL_RECORD_SIZE;
            if (balances)
                print_balance(cli, (const bl_account_balance_t *)record);
            else if (accounts)
                print_account(cli, (const bl_account_t *)record);
            else
                print_transfer(cli, (const bl_transfer_t *)record);
        }
        shown += count;
        if (count < r->limit || !r->all) break;
        /* The timestamp of every record kind: offset 64 of a balance, 120 of the others. */
        _Static_assert(offsetof(bl_account_balance_t, timestamp) == 64 &&
                           offsetof(bl_account_t, timestamp) == 120 &&
                           offsetof(bl_transfer_t, timestamp) == 120,
                       "record timestamps");
        uint64_t last;
        memcpy(&last,
               (const uint8_t *)out + (size_t)(count - 1) * BL_RECORD_SIZE + (balances ? 64 : 120),
               8);
        if (r->reversed) {
            if (last <= 1) break;
            max = last - 1;
        } else {
            if (last == UINT64_MAX) break;
            min = last + 1;
        }
    }
    if (rc == 0 && *status == BL_FRAME_OK && !cli->json && shown == 0)
        fprintf(stderr, "ballast: none\n");
    free(out);
    return rc;
}

static void hex32(const uint8_t bytes[32], char out[65]) {
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

/* Prints `count` headers from `from` (0: the last `count`) and checks that they chain.
 * 0, -EBADMSG for a broken chain, or -errno; *status the frame status. */
static int cli_blocks(cli_t *cli, uint64_t from, uint32_t count, uint32_t *status) {
    if (from == 0) {
        bl_server_status_t s;
        int rc = bl_client_status(cli->client, &s, status);
        if (rc != 0 || *status != BL_FRAME_OK) return rc;
        from = s.block_height > count ? s.block_height - count + 1 : 1;
    }
    uint64_t *heights = calloc(count, sizeof(uint64_t));
    bl_block_header_t *headers = calloc(count, sizeof(bl_block_header_t));
    if (heights == NULL || headers == NULL) {
        free(heights);
        free(headers);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < count; i++) heights[i] = from + i;
    uint32_t found = 0;
    int rc = bl_client_lookup_blocks(cli->client, heights, count, headers, &found, status);
    uint32_t broken = 0;
    bool chained =
        rc == 0 && *status == BL_FRAME_OK && bl_client_blocks_verify(headers, found, &broken) == 0;
    for (uint32_t i = 0; rc == 0 && *status == BL_FRAME_OK && i < found; i++) {
        const bl_block_header_t *h = &headers[i];
        char hash[65], prev[65];
        hex32(h->hash, hash);
        hex32(h->prev_hash, prev);
        printf(cli->json ? "{\"height\":%" PRIu64 ",\"timestamp\":%" PRIu64
                           ",\"request_count\":%u,\"event_count\":%u,\"prev_hash\":\"%s\","
                           "\"hash\":\"%s\"}\n"
                         : "block %" PRIu64 "  timestamp %" PRIu64 "  requests %u  events %u\n"
                           "  prev %s\n  hash %s\n",
               h->height, h->timestamp, h->request_count, h->event_count, prev, hash);
    }
    if (rc == 0 && *status == BL_FRAME_OK) {
        if (!chained) {
            fprintf(stderr, "ballast: the chain breaks at block %" PRIu64 "\n",
                    headers[broken].height);
            rc = -EBADMSG;
        } else if (!cli->json) {
            fprintf(stderr, "ballast: %u block(s), chained\n", found);
        }
    }
    free(heights);
    free(headers);
    return rc;
}

/* One client command, argv[1] the command (argv[0] unused). The exit status. */
/* What a client command was given: the connection's settings, the record its options fill,
 * the read filters, and its positional arguments (argv[first..argc)). */
typedef struct cli_args {
    cli_t cli;
    const char *command;
    bl_account_t account;
    bl_transfer_t transfer;
    reads_t reads;
    uint64_t blocks_from; /* 0: the last blocks_count blocks */
    uint32_t blocks_count;
    const char *data; /* status --data: the server's data directory, here */
    int argc, first;
    char **argv;
} cli_args_t;

/* A client command: 0 or -errno (the connection failed) with the frame status in *status,
 * or a positive exit status when it has settled its outcome itself. */
typedef int (*cli_handler_t)(cli_args_t *a, uint32_t *status);

typedef struct cli_command {
    const char *name;
    cli_handler_t handler;
    const char *summary;  /* one line, for `ballast --help` */
    const char *synopsis; /* its options and arguments */
    const char *help;     /* what it does, and what it prints */
} cli_command_t;

static int cli_cmd_ping(cli_args_t *a, uint32_t *status) {
    int rc = cli_connect(&a->cli);
    if (rc != 0) return rc;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = bl_client_ping(a->cli.client, status);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    if (rc == 0 && *status == BL_FRAME_OK)
        printf(a->cli.json ? "{\"ok\":true,\"round_trip_us\":%.1f}\n" : "pong in %.1f us\n", us);
    return rc;
}

/* What `status --data DIR` adds: the store and the memory of the server that holds DIR (its
 * lock file names its pid and memory budget; the kernel says the rest). -1: not known. */
typedef struct local_status {
    int64_t store_bytes, hot_records, memory_budget, memory_committed, memory_resident;
} local_status_t;

static void local_status_read(const char *dir, local_status_t *l) {
    *l = (local_status_t){-1, -1, -1, -1, -1};
    char path[4200], line[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, BL_NODE_STORE_FILE);
    if (stat(path, &st) == 0) l->store_bytes = (int64_t)st.st_blocks * 512;
    /* The lock file's figures are those of a running server only: one holds DIR's lock. */
    int lock_fd;
    pid_t holder; /* the pid the server wrote first in the lock file */
    int rc = bl_dir_lock(dir, false, &lock_fd, &holder);
    if (rc == 0) close(lock_fd);
    if (rc != -EBUSY) return;
    snprintf(path, sizeof(path), "%s/%s", dir, BL_LOCK_FILE);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        long long v;
        if (sscanf(line, "memory_budget %lld", &v) == 1) l->memory_budget = v;
        if (sscanf(line, "memory_committed %lld", &v) == 1) l->memory_committed = v;
        if (sscanf(line, "hot_records %lld", &v) == 1) l->hot_records = v;
    }
    if (f != NULL) fclose(f);
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)holder);
    f = holder > 0 ? fopen(path, "r") : NULL;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        long long kib;
        if (sscanf(line, "VmRSS: %lld kB", &kib) == 1) l->memory_resident = kib * 1024;
    }
    if (f != NULL) fclose(f);
}

static int cli_cmd_status(cli_args_t *a, uint32_t *status) {
    int rc = cli_connect(&a->cli);
    if (rc != 0) return rc;
    bl_server_status_t s;
    rc = bl_client_status(a->cli.client, &s, status);
    if (rc != 0 || *status != BL_FRAME_OK) return rc;
    char digest[40];
    bool json = a->cli.json;
    printf(json ? "{\"protocol_version\":%u,\"partitions\":%u,\"block_height\":%" PRIu64
                  ",\"accounts_count\":%" PRIu64 ",\"transfers_count\":%" PRIu64
                  ",\"checkpoint_height\":%" PRIu64 ",\"uptime_ns\":%" PRIu64
                  ",\"state_digest\":\"%s\""
                : "protocol_version %u\npartitions %u\nblock_height %" PRIu64
                  "\naccounts_count %" PRIu64 "\ntransfers_count %" PRIu64
                  "\ncheckpoint_height %" PRIu64 "\nuptime_ns %" PRIu64 "\nstate_digest %s\n",
           s.protocol_version, s.partitions, s.block_height, s.accounts_count, s.transfers_count,
           s.checkpoint_height, s.uptime_ns, u128_text(s.state_digest, digest));
    if (a->data != NULL) {
        local_status_t l;
        local_status_read(a->data, &l);
        int64_t hot = l.hot_records < 0                             ? -1
                      : (uint64_t)l.hot_records < s.transfers_count ? l.hot_records
                                                                    : (int64_t)s.transfers_count;
        const struct {
            const char *name;
            int64_t value;
        } fields[] = {{"store_records", (int64_t)s.transfers_count},
                      {"store_bytes", l.store_bytes},
                      {"hot_records", hot},
                      {"memory_budget", l.memory_budget},
                      {"memory_committed", l.memory_committed},
                      {"memory_resident", l.memory_resident}};
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            if (fields[i].value < 0)
                printf(json ? ",\"%s\":null" : "%s unknown\n", fields[i].name);
            else
                printf(json ? ",\"%s\":%" PRId64 : "%s %" PRId64 "\n", fields[i].name,
                       fields[i].value);
        }
    }
    if (json) printf("}\n");
    return rc;
}

/* create-account and transfer: one event; the exit status says how it went. */
static int cli_cmd_create(cli_args_t *a, uint32_t *status) {
    bool accounts = !strcmp(a->command, "create-account");
    int rc = cli_connect(&a->cli);
    if (rc != 0) return rc;
    bl_event_result_t result[1];
    uint32_t count;
    rc = accounts
             ? bl_client_create_accounts(a->cli.client, &a->account, 1, result, &count, status)
             : bl_client_create_transfers(a->cli.client, &a->transfer, 1, result, &count, status);
    if (rc == 0 && *status == BL_FRAME_OK) return print_results(&a->cli, accounts, result, count);
    return rc;
}

static int cli_cmd_lookup(cli_args_t *a, uint32_t *status) {
    uint32_t n = (uint32_t)(a->argc - a->first), count = 0;
    bl_u128_t *ids = calloc(n, sizeof(bl_u128_t));
    void *out = calloc(n, BL_RECORD_SIZE);
    int rc = ids && out ? 0 : -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (!parse_u128(a->argv[a->first + i], &ids[i])) {
            fprintf(stderr, "ballast: not an id: %s\n", a->argv[a->first + i]);
            free(ids);
            free(out);
            return 2;
        }
    }
    if (rc == 0) rc = cli_connect(&a->cli);
    bool acc = !strcmp(a->command, "lookup-account");
    if (rc == 0)
        rc = acc ? bl_client_lookup_accounts(a->cli.client, ids, n, out, &count, status)
                 : bl_client_lookup_transfers(a->cli.client, ids, n, out, &count, status);
    for (uint32_t i = 0; rc == 0 && *status == BL_FRAME_OK && i < count; i++) {
        if (acc)
            print_account(&a->cli, (bl_account_t *)out + i);
        else
            print_transfer(&a->cli, (bl_transfer_t *)out + i);
    }
    if (rc == 0 && *status == BL_FRAME_OK && count < n && !a->cli.json)
        fprintf(stderr, "ballast: %u of %u not found\n", n - count, n);
    free(ids);
    free(out);
    return rc;
}

/* history, balances, query-accounts, query-transfers. */
static int cli_cmd_reads(cli_args_t *a, uint32_t *status) {
    bool by_account = !strcmp(a->command, "history") || !strcmp(a->command, "balances");
    if (by_account && !parse_u128(a->argv[a->first], &a->reads.account_id)) {
        fprintf(stderr, "ballast: not an account id: %s\n", a->argv[a->first]);
        return 2;
    }
    a->reads.user_data_128 = a->account.user_data_128;
    a->reads.user_data_64 = a->account.user_data_64;
    a->reads.user_data_32 = a->account.user_data_32;
    a->reads.ledger = a->account.ledger;
    a->reads.code = a->account.code;
    int rc = cli_connect(&a->cli);
    return rc != 0 ? rc : cli_reads(&a->cli, a->command, &a->reads, status);
}

static int cli_cmd_blocks(cli_args_t *a, uint32_t *status) {
    int rc = cli_connect(&a->cli);
    if (rc == 0) rc = cli_blocks(&a->cli, a->blocks_from, a->blocks_count, status);
    return rc == -EBADMSG ? 1 : rc; /* the headers do not chain: said, exit status 1 */
}

_Static_assert(READS_LIMIT_DEFAULT == 100u && BL_FILTER_LIMIT_MAX == 8192u, "CLI_FILTERS says so");
#define CLI_FILTERS                                                            \
    "[--user-data-128 N] [--user-data-64 N] [--user-data-32 N] [--code N]\n"   \
    "    [--timestamp-min NS] [--timestamp-max NS] (inclusive) [--reversed]\n" \
    "    [--limit N] (rows per page, default 100, at most 8192) [--all] (every page)"

static const cli_command_t g_commands[] = {
    {"ping", cli_cmd_ping, "round trip time to the server", "",
     "The round trip time to the server."},
    {"status", cli_cmd_status, "the server's ServerStatus", "[--data DIR]",
     "The server's ServerStatus: height, counts, the state digest. With --data, the\n"
     "data directory of that same server, on this machine (not checked): also its\n"
     "transfer store (store_records; store_bytes, the disk space allocated to\n"
     "transfers.store, up to 64 MiB ahead of the records; hot_records) and memory\n"
     "(memory_budget and memory_committed, from the running server's ballast.lock;\n"
     "memory_resident, its VmRSS, the hot window included). A figure that cannot be\n"
     "read, or a directory no running server holds, shows \"unknown\" (JSON: null)."},
    {"create-account", cli_cmd_create, "create one account",
     "--id N --ledger N --code N [--user-data-128 N] [--user-data-64 N]\n"
     "    [--user-data-32 N] [--debits-must-not-exceed-credits]\n"
     "    [--credits-must-not-exceed-debits] [--history]",
     "Creates one account; prints its result (exit status 1 unless ok or exists)."},
    {"transfer", cli_cmd_create, "create one transfer (also pending, post, void)",
     "--id N --debit N --credit N --amount N --ledger N --code N\n"
     "    [--pending [--timeout S]] [--post ID | --void ID] [--user-data-* N]",
     "Creates one transfer; prints its result (exit status 1 unless ok or exists).\n"
     "A post or void may leave --debit, --credit, --ledger, --code and --amount out."},
    {"lookup-account", cli_cmd_lookup, "print accounts by id", "ID...",
     "Prints the accounts with these ids (at most 8192); missing ones are skipped."},
    {"lookup-transfer", cli_cmd_lookup, "print transfers by id", "ID...",
     "Prints the transfers with these ids (at most 8192); missing ones are skipped."},
    {"history", cli_cmd_reads, "an account's transfers (get_account_transfers)",
     "ACCOUNT [--debits] [--credits] " CLI_FILTERS,
     "The account's transfers, oldest first (get_account_transfers); both sides by\n"
     "default."},
    {"balances", cli_cmd_reads, "an account's balances after each change",
     "ACCOUNT [--debits] [--credits] " CLI_FILTERS,
     "The account's balances after each change (get_account_balances; accounts\n"
     "created with --history only)."},
    {"query-accounts", cli_cmd_reads, "accounts matching every filter given",
     "[--ledger N] " CLI_FILTERS, "The accounts matching every filter given (query_accounts)."},
    {"query-transfers", cli_cmd_reads, "transfers matching every filter given",
     "[--ledger N] " CLI_FILTERS, "The transfers matching every filter given (query_transfers)."},
    {"blocks", cli_cmd_blocks, "block headers, and a check that they chain",
     "[--from HEIGHT] [--count N]",
     "Block headers (default: the last 10, at most 8192), and a check that they\n"
     "chain (exit status 1 if not)."},
};

#define CLI_COMMANDS_COUNT (sizeof(g_commands) / sizeof(g_commands[0]))

static const cli_command_t *cli_command_find(const char *name) {
    for (size_t i = 0; i < CLI_COMMANDS_COUNT; i++)
        if (!strcmp(g_commands[i].name, name)) return &g_commands[i];
    return NULL;
}

/* Every command with the first line of what it does: the table's, and the three others. */
static void cli_usage(FILE *out) {
    fprintf(out,
            "usage: ballast COMMAND [--addr HOST:PORT] [--json] [options]; "
            "ballast COMMAND --help for its options\n"
            "  %-18s run the server (ballast start --help)\n",
            "start");
    for (size_t i = 0; i < CLI_COMMANDS_COUNT; i++)
        fprintf(out, "  %-18s %s\n", g_commands[i].name, g_commands[i].summary);
    fprintf(out,
            "  %-18s read commands line by line on one connection\n"
            "  %-18s measure a server: throughput, latency, a verified ledger\n"
            "--addr defaults to %s. Numbers: decimal or 0x hex, up to 128 bits.\n"
            "Exit status: 0 ok, 1 refused or failed, 2 usage, 3 no connection.\n",
            "repl", "bench", ADDR_DEFAULT);
}

/* The positional arguments a command takes: none, one account, or 1..8192 ids. */
static bool cli_positional_ok(const cli_args_t *a) {
    int n = a->argc - a->first;
    if (!strcmp(a->command, "history") || !strcmp(a->command, "balances")) return n == 1;
    if (!strncmp(a->command, "lookup-", 7)) return n >= 1 && n <= (int)BL_BATCH_EVENTS_MAX;
    return n == 0;
}

static void cli_command_usage(const cli_command_t *command, FILE *out) {
    fprintf(out, "usage: ballast %s [--addr HOST:PORT] [--json]%s%s\n%s\n", command->name,
            *command->synopsis ? " " : "", command->synopsis, command->help);
    fprintf(out,
            "--addr defaults to %s. Numbers: decimal or 0x hex, up to 128 bits.\n"
            "Exit status: 0 ok, 1 refused or failed, 2 usage, 3 no connection.\n",
            ADDR_DEFAULT);
}

/* Parses a client command's options into `a`: 0, 2 (usage) or -1 (--help was answered). */
static int cli_options(cli_args_t *a, const cli_command_t *command) {
    enum {
        O_ADDR = 1000,
        O_JSON,
        O_ID,
        O_LEDGER,
        O_CODE,
        O_UD128,
        O_UD64,
        O_UD32,
        O_DMNEC,
        O_CMNED,
        O_HISTORY,
        O_DEBIT,
        O_CREDIT,
        O_AMOUNT,
        O_PENDING,
        O_TIMEOUT,
        O_POST,
        O_VOID,
        O_LINKED,
        O_DEBITS,
        O_CREDITS,
        O_REVERSED,
        O_LIMIT,
        O_TS_MIN,
        O_TS_MAX,
        O_ALL,
        O_FROM,
        O_COUNT,
        O_DATA
    };
    static const struct option options[] = {
        {"addr", required_argument, 0, O_ADDR},
        {"json", no_argument, 0, O_JSON},
        {"id", required_argument, 0, O_ID},
        {"ledger", required_argument, 0, O_LEDGER},
        {"code", required_argument, 0, O_CODE},
        {"user-data-128", required_argument, 0, O_UD128},
        {"user-data-64", required_argument, 0, O_UD64},
        {"user-data-32", required_argument, 0, O_UD32},
        {"debits-must-not-exceed-credits", no_argument, 0, O_DMNEC},
        {"credits-must-not-exceed-debits", no_argument, 0, O_CMNED},
        {"history", no_argument, 0, O_HISTORY},
        {"debit", required_argument, 0, O_DEBIT},
        {"credit", required_argument, 0, O_CREDIT},
        {"amount", required_argument, 0, O_AMOUNT},
        {"pending", no_argument, 0, O_PENDING},
        {"timeout", required_argument, 0, O_TIMEOUT},
        {"post", required_argument, 0, O_POST},
        {"void", required_argument, 0, O_VOID},
        {"linked", no_argument, 0, O_LINKED},
        {"debits", no_argument, 0, O_DEBITS},
        {"credits", no_argument, 0, O_CREDITS},
        {"reversed", no_argument, 0, O_REVERSED},
        {"limit", required_argument, 0, O_LIMIT},
        {"timestamp-min", required_argument, 0, O_TS_MIN},
        {"timestamp-max", required_argument, 0, O_TS_MAX},
        {"all", no_argument, 0, O_ALL},
        {"from", required_argument, 0, O_FROM},
        {"count", required_argument, 0, O_COUNT},
        {"data", required_argument, 0, O_DATA},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    bl_account_t *account = &a->account;
    bl_transfer_t *transfer = &a->transfer;
    reads_t *reads = &a->reads;
    optind = 2;
    int c;
    while ((c = getopt_long(a->argc, a->argv, "", options, NULL)) != -1) {
        bl_u128_t v = 0;
        bool ok = true;
        if (optarg != NULL && c != O_ADDR && c != O_DATA) ok = parse_u128(optarg, &v);
        switch (c) {
        case O_ADDR:
            ok = parse_addr(optarg, a->cli.host, sizeof(a->cli.host), &a->cli.port);
            break;
        case O_JSON:
            a->cli.json = true;
            break;
        case O_DATA:
            a->data = optarg;
            break;
        case O_ID:
            account->id = transfer->id = v;
            break;
        case O_LEDGER:
            ok = ok && v <= UINT32_MAX;
            account->ledger = transfer->ledger = (uint32_t)v;
            break;
        case O_CODE:
            ok = ok && v <= UINT16_MAX;
            account->code = transfer->code = (uint16_t)v;
            break;
        case O_UD128:
            account->user_data_128 = transfer->user_data_128 = v;
            break;
        case O_UD64:
            ok = ok && v <= UINT64_MAX;
            account->user_data_64 = transfer->user_data_64 = (uint64_t)v;
            break;
        case O_UD32:
            ok = ok && v <= UINT32_MAX;
            account->user_data_32 = transfer->user_data_32 = (uint32_t)v;
            break;
        case O_DMNEC:
            account->flags |= BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS;
            break;
        case O_CMNED:
            account->flags |= BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS;
            break;
        case O_HISTORY:
            account->flags |= BL_ACCOUNT_HISTORY;
            break;
        case O_DEBIT:
            transfer->debit_account_id = v;
            break;
        case O_CREDIT:
            transfer->credit_account_id = v;
            break;
        case O_AMOUNT:
            transfer->amount = v;
            break;
        case O_PENDING:
            transfer->flags |= BL_TRANSFER_PENDING;
            break;
        case O_TIMEOUT:
            ok = ok && v <= UINT32_MAX;
            transfer->timeout = (uint32_t)v;
            break;
        case O_POST:
            transfer->flags |= BL_TRANSFER_POST_PENDING;
            transfer->pending_id = v;
            break;
        case O_VOID:
            transfer->flags |= BL_TRANSFER_VOID_PENDING;
            transfer->pending_id = v;
            break;
        case O_LINKED:
            transfer->flags |= BL_TRANSFER_LINKED;
            account->flags |= BL_ACCOUNT_LINKED;
            break;
        case O_DEBITS:
            reads->sides |= BL_FILTER_DEBITS;
            break;
        case O_CREDITS:
            reads->sides |= BL_FILTER_CREDITS;
            break;
        case O_REVERSED:
            reads->reversed = true;
            break;
        case O_LIMIT:
            ok = ok && v >= 1 && v <= BL_FILTER_LIMIT_MAX;
            reads->limit = (uint32_t)v;
            break;
        case O_TS_MIN:
            ok = ok && v <= UINT64_MAX;
            reads->timestamp_min = (uint64_t)v;
            break;
        case O_TS_MAX:
            ok = ok && v <= UINT64_MAX;
            reads->timestamp_max = (uint64_t)v;
            break;
        case O_ALL:
            reads->all = true;
            break;
        case O_FROM:
            ok = ok && v >= 1 && v <= UINT64_MAX;
            a->blocks_from = (uint64_t)v;
            break;
        case O_COUNT:
            ok = ok && v >= 1 && v <= BL_BATCH_EVENTS_MAX;
            a->blocks_count = (uint32_t)v;
            break;
        case 'h':
            cli_command_usage(command, stdout);
            return -1;
        default:
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "ballast: bad value: %s\n", optarg ? optarg : "");
            return 2;
        }
    }
    a->first = optind;
    return 0;
}

/* Runs one client command (argv[1]) on cli_in's connection, which it keeps for the REPL. */
static int cli_run(cli_t *cli_in, int argc, char **argv) {
    const cli_command_t *command = cli_command_find(argv[1]);
    if (command == NULL) {
        fprintf(stderr, "ballast: no command %s\n", argv[1]);
        cli_usage(stderr);
        return 2;
    }
    cli_args_t a = {.cli = *cli_in,
                    .command = command->name,
                    .reads = {.limit = READS_LIMIT_DEFAULT},
                    .blocks_count = 10,
                    .argc = argc,
                    .argv = argv};
    int rc = cli_options(&a, command);
    if (rc != 0) return rc < 0 ? 0 : rc;
    if (!cli_positional_ok(&a)) {
        cli_command_usage(command, stderr);
        return 2;
    }
    uint32_t status = BL_FRAME_OK;
    rc = command->handler(&a, &status);
    cli_in->client = a.cli.client;
    if (rc > 0) { /* settled: the command said how it went */
        cli_done(cli_in);
        return rc;
    }
    if (rc != 0) {
        fprintf(stderr, "ballast: %s\n", strerror(-rc));
        bl_client_close(cli_in->client); /* a broken connection is not reused */
        cli_in->client = NULL;
        return 3;
    }
    cli_done(cli_in);
    return status == BL_FRAME_OK ? 0 : frame_failed(status);
}

/* ballast repl: commands line by line on one connection; `help`, `quit`. */
static int cmd_repl(cli_t *cli) {
    cli->keep = true;
    char line[4096];
    bool tty = isatty(STDIN_FILENO);
    int last = 0;
    for (;;) {
        if (tty) {
            printf("ballast> ");
            fflush(stdout);
        }
        if (fgets(line, sizeof(line), stdin) == NULL) break;
        char *argv[130] = {"ballast"};
        int argc = 1;
        for (char *word = strtok(line, " \t\r\n"); word && argc < 129;
             word = strtok(NULL, " \t\r\n"))
            argv[argc++] = word;
        if (argc == 1) continue;
        if (!strcmp(argv[1], "quit") || !strcmp(argv[1], "exit")) break;
        if (!strcmp(argv[1], "help")) {
            cli_usage(stdout);
            continue;
        }
        if (!strcmp(argv[1], "start") || !strcmp(argv[1], "repl") || !strcmp(argv[1], "bench")) {
            fprintf(stderr, "ballast: not inside the repl\n");
            continue;
        }
        /* --addr and --json given to `ballast repl` apply unless a line says otherwise */
        char *full[134];
        int n = 0;
        for (int i = 0; i < argc; i++) full[n++] = argv[i];
        if (cli->json) full[n++] = "--json";
        full[n] = NULL;
        last = cli_run(cli, n, full);
        fflush(stdout);
    }
    bl_client_close(cli->client);
    cli->client = NULL;
    return last;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        cli_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "start")) return cmd_start(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench")) return bl_loadgen_main(argc - 1, argv + 1);
    cli_t cli = {.port = 3410};
    strcpy(cli.host, "127.0.0.1");
    if (!strcmp(argv[1], "repl")) {
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--json")) {
                cli.json = true;
            } else if (!strcmp(argv[i], "--addr") && i + 1 < argc) {
                if (!parse_addr(argv[++i], cli.host, sizeof(cli.host), &cli.port)) return 2;
            } else if (!strcmp(argv[i], "--help")) {
                printf("usage: ballast repl [--addr HOST:PORT] [--json]\n"
                       "Reads commands line by line (any client command, without `ballast`)\n"
                       "and runs them on one connection; `help` lists them, `quit` ends.\n");
                return 0;
            } else {
                cli_usage(stderr);
                return 2;
            }
        }
        return cmd_repl(&cli);
    }
    return cli_run(&cli, argc, argv);
}
