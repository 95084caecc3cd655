/*
 * The TCP server (see server.h): one thread, epoll, non-blocking sockets.
 *
 * A connection reads into a 64 KiB input buffer and parses frames out of it. Each request,
 * from its header on, has a slot in a per-connection FIFO of at most BL_PIPELINE_REQUESTS_MAX;
 * replies leave strictly in that order, whatever order the node completes them in. Frame
 * errors get a slot too, already complete, so they are answered in order as well. A slot
 * goes reading (its body arriving) -> ready -> at the node -> done (its reply built) -> out.
 *
 * Memory. A slot holds its request body from its header on (up to 1 MiB: the frame says
 * how much), and its reply only from when it goes to the node: by then the body is in, so a
 * filter read's reply is sized by its limit (limit x record), a lookup's by its count, not by
 * the largest any request could get. The body goes when the node is done with it, and a reply
 * much smaller than its room moves to a buffer of its own size, so what a connection holds
 * while its replies wait to be read is what they hold. Replies of at most
 * BL_SLOT_INLINE_BYTES (ping, status, every error, an empty read) live in the slot itself.
 * Every byte is charged to the connection and to the server (bytes_held):
 *   - a connection starts no new frame while it holds connection_bytes_max or more;
 *   - while the server holds request_bytes_max or more, a connection starts no new frame
 *     if it holds more than its share, request_bytes_max / open connections; those under
 *     their share go on (a new client's ping always gets through). So the connections
 *     that hold the memory are paused, not every one; each connection is over its limit by
 *     one frame at most (the frame it was reading), so the total stays below
 *     request_bytes_max plus one frame per connection.
 *   - a connection whose oldest reply is complete but cannot be written (its socket is full:
 *     the peer does not read) for write_timeout_ns, with no byte going out, is closed.
 *
 * Fairness. The node runs requests one after the other, in submission order, on one thread,
 * so what the server submits is the queue every request waits in. Writes are submitted as
 * they arrive (they are bounded per event and packed into blocks, and pipelined writes keep
 * the log busy). Reads whose cost depends on the data (lookups and filter reads) are let in
 * by turns: at most BL_CONN_READS_AT_NODE_MAX of one connection and BL_SERVER_READS_AT_NODE_MAX
 * in all at the node; a connection with a read ready when the node has its fill waits in a
 * FIFO of connections (the turn queue) and submits one read per turn, so connections take
 * turns round-robin, and a new client's request waits behind at most
 * BL_SERVER_READS_AT_NODE_MAX reads, however many others have queued. A connection's slots
 * go to the node in order (a write behind a waiting read waits too), so each connection's
 * requests still take effect in the order sent and a read sees the writes before it.
 * Pings and status go straight through (they cost nothing at the node).
 *
 * Connection slots. At connections_max open connections, or connections_per_address_max
 * from one peer address (IPv4 and IPv6 alike, loopback too), a new connection is accepted,
 * sent one busy frame (request_id 0, op 0), shut down for sending and closed; the peer reads
 * the frame rather than a reset. The count per address is kept in an open-addressing table
 * (bl_peers_t) of twice connections_max entries.
 *
 * The node completes requests on its own thread: its callback pushes the slot onto a
 * lock-free stack and writes an eventfd when the stack was empty; the server thread takes the
 * whole stack, builds the reply headers and writes what is in order.
 *
 * A connection that fails or hangs up with requests still at the node is closed at once, but
 * its memory is kept until the node has completed them all (`at_node`).
 *
 * State: everything here is owned by the server thread, except the completion stack (atomic)
 * and the stop eventfd.
 */
#define _GNU_SOURCE
#include "net/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/assert.h"
#include "common/eventfd.h"
#include "common/hash.h"
#include "net/frame.h"

#define BL_CONN_INPUT_BYTES (64u * 1024u)
#define BL_SERVER_EVENTS_MAX 256
#define BL_SERVER_DRAIN_NS (10ull * 1000000000ull)
#define BL_TAG_LISTEN 0ull
#define BL_TAG_WAKE 1ull
/* Reads of one connection at the node: two, so one is queued while the other runs and a
 * connection reading alone keeps the node busy across the completion's round trip. */
#define BL_CONN_READS_AT_NODE_MAX 2u
/* Reads at the node in all: the node runs them one at a time, so more only lengthens the
 * queue that every other request waits in; enough to keep it busy across round trips. */
#define BL_SERVER_READS_AT_NODE_MAX 8u
/* Replies this size or smaller (ping, status, errors) are kept in the slot. */
#define BL_SLOT_INLINE_BYTES (BL_FRAME_HEADER_SIZE + 128u)
/* A reply moves to a buffer of its own size once the node answers, if that saves at least
 * half its room and this much (a copy of the reply, done once). */
#define BL_SLOT_SHRINK_BYTES 4096u

_Static_assert(BL_SLOT_INLINE_BYTES >= BL_FRAME_HEADER_SIZE + sizeof(bl_server_status_t),
               "a status reply fits in its slot");

typedef struct bl_conn bl_conn_t;

typedef enum bl_slot_state {
    BL_SLOT_READING = 0, /* its body is arriving */
    BL_SLOT_READY,       /* its body is in and checked; waiting to go to the node */
    BL_SLOT_AT_NODE,
    BL_SLOT_DONE, /* its reply is built */
} bl_slot_state_t;

typedef struct bl_slot {
    bl_node_request_t request; /* first: the node's callback gets &request */
    bl_conn_t *conn;
    struct bl_slot *next_done;
    uint64_t request_id;
    uint64_t body_checksum;
    uint16_t op;
    uint8_t state;  /* bl_slot_state_t */
    bool closes;    /* after this reply the connection ends */
    uint32_t count; /* records in the request body */
    uint8_t *body;  /* request body (64-byte aligned), until the node is done with it */
    uint32_t body_size;
    uint32_t body_have;
    uint8_t *reply;      /* header and body: `inline_reply`, or an allocation of reply_room */
    uint32_t reply_room; /* bytes allocated for the reply (0: inline) */
    uint32_t reply_size; /* header + body bytes to write */
    uint32_t written;
    uint64_t bytes_held; /* charged to the connection and the server */
    _Alignas(16) uint8_t inline_reply[BL_SLOT_INLINE_BYTES];
} bl_slot_t;

struct bl_conn {
    int fd;
    bool open;
    bool read_closed; /* EOF, a closing frame error, or the server stopping */
    bool in_turns;    /* in the server's turn queue */
    uint32_t at_node; /* slots the node still holds */
    uint32_t reads_at_node;
    uint32_t ready; /* slots ready for the node */
    uint32_t epoll_events;
    uint64_t frame_started_ns; /* 0 between frames */
    uint64_t active_ns;
    uint64_t write_wait_ns; /* since when a complete reply waits for a full socket; 0: none */
    uint64_t bytes_held;
    uint8_t *input;
    uint32_t input_start, input_end;
    bl_slot_t *reading; /* the slot whose body is arriving */
    uint64_t skip_left; /* body bytes of a rejected frame still to discard */
    bl_slot_t *slots[BL_PIPELINE_REQUESTS_MAX];
    uint32_t slots_head, slots_count;
    uint8_t peer[16]; /* the peer's address, IPv4 as ::ffff:a.b.c.d */
    bl_conn_t *next_free;
    bl_conn_t *turn_prev, *turn_next; /* the turn queue */
};

/* Open connections per peer address: linear probing, a count of 0 is an empty entry. */
typedef struct bl_peer {
    uint8_t address[16];
    uint32_t count;
} bl_peer_t;

typedef struct bl_peers {
    bl_peer_t *entries;
    uint32_t mask;
} bl_peers_t;

struct bl_server {
    bl_server_config_t config;
    int listen_fd;
    int epoll_fd;
    int wake_fd;
    uint16_t port;
    atomic_bool stopping;
    _Atomic(bl_slot_t *) completed;
    bl_conn_t *conns;
    bl_conn_t *free_conns;
    uint32_t conns_open;
    uint64_t bytes_held;
    bool over_paused; /* a connection was paused for the server's total: resume when it drops */
    uint64_t at_node; /* slots the node holds, over all connections, open or closed */
    uint32_t reads_at_node;
    bl_conn_t *turns_head, *turns_tail; /* connections waiting to submit a read */
    bl_peers_t peers;
    uint64_t refused; /* connections answered busy at accept */
};

static uint64_t bl_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* Memory.                                                                                    */

static void bl_charge(bl_server_t *server, bl_conn_t *conn, bl_slot_t *slot, int64_t bytes) {
    BL_ASSERT(bytes >= 0 || (uint64_t)-bytes <= slot->bytes_held);
    slot->bytes_held += (uint64_t)bytes;
    conn->bytes_held += (uint64_t)bytes;
    server->bytes_held += (uint64_t)bytes;
}

/* Whether the connection may start a new frame, by its memory (see the file header). */
static bool bl_conn_memory_allows(bl_server_t *server, const bl_conn_t *conn) {
    const bl_server_config_t *c = &server->config;
    if (conn->bytes_held >= c->connection_bytes_max) return false;
    if (server->bytes_held < c->request_bytes_max) return true;
    if (conn->bytes_held <= c->request_bytes_max / (server->conns_open ? server->conns_open : 1))
        return true;
    server->over_paused = true;
    return false;
}
/* ------------------------------------------------------------------------------------------ */
/* Slots.                                                                                     */

/* Reads whose cost at the node depends on the data: they take turns (see the file header). */
static bool bl_op_takes_turns(uint16_t op) {
    return bl_op_is_filter(op) || op == BL_OP_LOOKUP_ACCOUNTS || op == BL_OP_LOOKUP_TRANSFERS ||
           op == BL_OP_LOOKUP_BLOCKS;
}

/* The most reply body bytes the node can write for a request whose body is in: a filter read
 * answers up to its limit (an invalid limit gets an empty reply), the others a record per
 * request record (status: one). */
static uint32_t bl_reply_body_max(uint16_t op, uint32_t count, const uint8_t *body) {
    if (op == BL_OP_STATUS) return sizeof(bl_server_status_t); /* count 0, one record back */
    int size = bl_op_reply_record_size(op);
    if (size <= 0) return 0;
    if (bl_op_is_filter(op)) {
        size_t at = op == BL_OP_QUERY_ACCOUNTS || op == BL_OP_QUERY_TRANSFERS
                        ? offsetof(bl_query_filter_t, limit)
                        : offsetof(bl_account_filter_t, limit);
        uint32_t limit;
        memcpy(&limit, body + at, sizeof(limit));
        return (limit <= BL_FILTER_LIMIT_MAX ? limit : 0) * (uint32_t)size;
    }
    return count * (uint32_t)size;
}

static bl_slot_t *bl_slot_new(bl_server_t *server, bl_conn_t *conn, const bl_frame_header_t *h,
                              uint32_t body_size) {
    BL_ASSERT(conn->slots_count < BL_PIPELINE_REQUESTS_MAX);
    bl_slot_t *slot = aligned_alloc(16, sizeof(*slot));
    if (slot == NULL) return NULL;
    memset(slot, 0, offsetof(bl_slot_t, inline_reply));
    if (body_size > 0) {
        slot->body = aligned_alloc(64, (body_size + 63ull) & ~63ull);
        if (slot->body == NULL) {
            free(slot);
            return NULL;
        }
    }
    slot->conn = conn;
    slot->request_id = h->request_id;
    slot->body_checksum = h->body_checksum;
    slot->op = h->op;
    slot->count = h->count;
    slot->body_size = body_size;
    slot->reply = slot->inline_reply;
    bl_charge(server, conn, slot, (int64_t)(sizeof(*slot) + body_size));
    conn->slots[(conn->slots_head + conn->slots_count++) % BL_PIPELINE_REQUESTS_MAX] = slot;
    return slot;
}

static void bl_slot_body_free(bl_server_t *server, bl_slot_t *slot) {
    if (slot->body == NULL) return;
    free(slot->body);
    slot->body = NULL;
    bl_charge(server, slot->conn, slot, -(int64_t)slot->body_size);
}

/* Room for a reply of up to `room` bytes (header included); false: no memory. */
static bool bl_slot_reply_room(bl_server_t *server, bl_slot_t *slot, uint64_t room) {
    if (room <= BL_SLOT_INLINE_BYTES) return true;
    room = (room + 63) & ~63ull;
    uint8_t *reply = aligned_alloc(64, room);
    if (reply == NULL) return false;
    slot->reply = reply;
    slot->reply_room = (uint32_t)room;
    bl_charge(server, slot->conn, slot, (int64_t)room);
    return true;
}

/* Moves a reply much smaller than its room (`size` bytes used) to a buffer of its size. */
static void bl_slot_reply_shrink(bl_server_t *server, bl_slot_t *slot, uint32_t size) {
    uint32_t room = slot->reply_room;
    if (room == 0 || room - size < room / 2 || room - size < BL_SLOT_SHRINK_BYTES) return;
    uint8_t *old = slot->reply;
    slot->reply = slot->inline_reply;
    slot->reply_room = 0;
    if (!bl_slot_reply_room(server, slot, size)) { /* keep the larger one */
        slot->reply = old;
        slot->reply_room = room;
        return;
    }
    memcpy(slot->reply, old, size);
    free(old);
    bl_charge(server, slot->conn, slot, -(int64_t)room);
}

static void bl_slot_free(bl_server_t *server, bl_slot_t *slot) {
    bl_conn_t *conn = slot->conn;
    BL_ASSERT(conn->bytes_held >= slot->bytes_held && server->bytes_held >= slot->bytes_held);
    conn->bytes_held -= slot->bytes_held;
    server->bytes_held -= slot->bytes_held;
    free(slot->body);
    if (slot->reply_room != 0) free(slot->reply);
    free(slot);
}

/* The reply of a slot: `status`, and for ok `count` records of the body already in place. */
static void bl_slot_reply(bl_slot_t *slot, uint32_t status, uint32_t count, uint32_t body_size) {
    bl_frame_header_t *h = (bl_frame_header_t *)slot->reply;
    uint8_t *body = slot->reply + BL_FRAME_HEADER_SIZE;
    if (status != BL_FRAME_OK) count = body_size = 0;
    bl_frame_header_build(h, slot->op, slot->request_id, status, count, body, body_size);
    slot->reply_size = BL_FRAME_HEADER_SIZE + body_size;
    slot->state = BL_SLOT_DONE;
}

/* A frame error: answered in order, with op and request_id as PROTOCOL.md says. */
static bool bl_conn_error(bl_server_t *server, bl_conn_t *conn, const bl_frame_header_t *h,
                          uint32_t status) {
    bl_frame_header_t echo = *h;
    if (status == BL_FRAME_BAD_MAGIC || status == BL_FRAME_BAD_VERSION ||
        status == BL_FRAME_BAD_HEADER_CHECKSUM)
        echo.op = 0, echo.request_id = 0;
    bl_slot_t *slot = bl_slot_new(server, conn, &echo, 0);
    if (slot == NULL) return false;
    slot->closes = bl_frame_status_closes(status);
    bl_slot_reply(slot, status, 0, 0);
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Turns: connections waiting to submit a read, first come first served.                      */

static void bl_turns_push(bl_server_t *server, bl_conn_t *conn) {
    if (conn->in_turns) return;
    conn->in_turns = true;
    conn->turn_next = NULL;
    conn->turn_prev = server->turns_tail;
    if (server->turns_tail != NULL) {
        server->turns_tail->turn_next = conn;
    } else {
        server->turns_head = conn;
    }
    server->turns_tail = conn;
}

static void bl_turns_remove(bl_server_t *server, bl_conn_t *conn) {
    if (!conn->in_turns) return;
    conn->in_turns = false;
    if (conn->turn_prev != NULL)
        conn->turn_prev->turn_next = conn->turn_next;
    else
        server->turns_head = conn->turn_next;
    if (conn->turn_next != NULL)
        conn->turn_next->turn_prev = conn->turn_prev;
    else
        server->turns_tail = conn->turn_prev;
    conn->turn_prev = conn->turn_next = NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections.                                                                               */

/* Whether to read the connection: to finish a frame whose memory is already held, always;
 * to start new frames, only with room in its pipeline and its memory within bounds. */
static bool bl_conn_wants_read(bl_server_t *server, const bl_conn_t *conn) {
    if (conn->read_closed) return false;
    if (conn->reading != NULL || conn->skip_left > 0) return true;
    return conn->slots_count < BL_PIPELINE_REQUESTS_MAX && bl_conn_memory_allows(server, conn);
}

static void bl_conn_epoll(bl_server_t *server, bl_conn_t *conn) {
    if (!conn->open) return;
    bool want_read = bl_conn_wants_read(server, conn);
    bool want_write = conn->slots_count > 0 && conn->slots[conn->slots_head]->state == BL_SLOT_DONE;
    /* EPOLLRDHUP only with EPOLLIN: level-triggered, it would fire on every wait while the
     * connection is not being read (after the peer's half-close). */
    uint32_t events = (want_read ? EPOLLIN | EPOLLRDHUP : 0) | (want_write ? EPOLLOUT : 0);
    if (events == conn->epoll_events) return;
    /* A frame's time limit runs only while the server reads: back-pressure is not slowness. */
    if (want_read && !(conn->epoll_events & EPOLLIN) && conn->frame_started_ns != 0)
        conn->frame_started_ns = bl_now_ns();
    struct epoll_event ev = {.events = events, .data.ptr = conn};
    epoll_ctl(server->epoll_fd, EPOLL_CTL_MOD, conn->fd, &ev);
    conn->epoll_events = events;
}

static void bl_peers_leave(bl_server_t *server, const uint8_t address[16]);

static void bl_conn_release(bl_server_t *server, bl_conn_t *conn) {
    if (conn->open || conn->at_node > 0) return;
    for (uint32_t i = 0; i < conn->slots_count; i++)
        bl_slot_free(server, conn->slots[(conn->slots_head + i) % BL_PIPELINE_REQUESTS_MAX]);
    conn->slots_count = 0;
    BL_ASSERT(conn->bytes_held == 0);
    free(conn->input);
    conn->input = NULL;
    conn->next_free = server->free_conns;
    server->free_conns = conn;
}

static void bl_conn_close(bl_server_t *server, bl_conn_t *conn) {
    if (!conn->open) return;
    epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
    close(conn->fd);
    conn->open = false;
    server->conns_open--;
    bl_peers_leave(server, conn->peer);
    bl_turns_remove(server, conn);
    /* Slots not at the node can go now; those at the node go when it completes them. The
     * ring is copied out first: compacting it in place could overwrite a slot not yet seen. */
    bl_slot_t *ring[BL_PIPELINE_REQUESTS_MAX];
    for (uint32_t i = 0; i < conn->slots_count; i++)
        ring[i] = conn->slots[(conn->slots_head + i) % BL_PIPELINE_REQUESTS_MAX];
    uint32_t kept = 0;
    for (uint32_t i = 0; i < conn->slots_count; i++) {
        bl_slot_t *slot = ring[i];
        if (slot->state == BL_SLOT_AT_NODE) {
            conn->slots[kept++] = slot;
        } else {
            bl_slot_free(server, slot);
        }
    }
    conn->slots_head = 0;
    conn->slots_count = kept;
    conn->ready = 0;
    conn->reading = NULL;
    bl_conn_release(server, conn);
}

static void bl_conn_pump(bl_server_t *server, bl_conn_t *conn);
static void bl_server_node_done(bl_node_request_t *request);

/* Sends one ready slot to the node, its reply's room taken now (the body is in). Without
 * memory for the reply it is answered busy. */
static void bl_conn_submit(bl_server_t *server, bl_conn_t *conn, bl_slot_t *slot) {
    BL_ASSERT(slot->state == BL_SLOT_READY && conn->ready > 0);
    conn->ready--;
    uint64_t room =
        BL_FRAME_HEADER_SIZE + (uint64_t)bl_reply_body_max(slot->op, slot->count, slot->body);
    if (!bl_slot_reply_room(server, slot, room)) {
        bl_slot_reply(slot, BL_FRAME_BUSY, 0, 0);
        return;
    }
    slot->request = (bl_node_request_t){.op = slot->op,
                                        .count = slot->count,
                                        .body = slot->body,
                                        .reply = slot->reply + BL_FRAME_HEADER_SIZE,
                                        .done = bl_server_node_done,
                                        .ctx = server};
    slot->state = BL_SLOT_AT_NODE;
    conn->at_node++;
    server->at_node++;
    if (bl_op_takes_turns(slot->op)) {
        conn->reads_at_node++;
        server->reads_at_node++;
    }
    bl_node_submit(server->config.node, &slot->request);
}

/* Sends the connection's ready slots to the node, in order, until a read must wait: for one
 * of its own reads to complete, or in the turn queue for a turn (the node has its fill of
 * reads, or other connections wait before it). With `turn`, the connection was given one:
 * its next read goes whatever waits; the read after it waits again if others do. */
static void bl_conn_submit_ready(bl_server_t *server, bl_conn_t *conn, bool turn) {
    if (!conn->open) return;
    for (uint32_t i = 0; i < conn->slots_count && conn->ready > 0; i++) {
        bl_slot_t *slot = conn->slots[(conn->slots_head + i) % BL_PIPELINE_REQUESTS_MAX];
        if (slot->state == BL_SLOT_READING) break;
        if (slot->state != BL_SLOT_READY) continue;
        if (bl_op_takes_turns(slot->op)) {
            if (conn->reads_at_node >= BL_CONN_READS_AT_NODE_MAX) return; /* its completion */
            if (server->reads_at_node >= BL_SERVER_READS_AT_NODE_MAX ||
                (!turn && server->turns_head != NULL)) {
                bl_turns_push(server, conn);
                return;
            }
            turn = false;
        }
        bl_conn_submit(server, conn, slot);
    }
}

/* Gives turns to the connections waiting, in order, while the node has room for reads. */
static void bl_server_turns(bl_server_t *server) {
    while (server->turns_head != NULL && server->reads_at_node < BL_SERVER_READS_AT_NODE_MAX) {
        bl_conn_t *conn = server->turns_head;
        bl_turns_remove(server, conn);
        bl_conn_submit_ready(server, conn, true);
        bl_conn_epoll(server, conn); /* a reply refused for memory is ready to write */
    }
}

/* The body of `slot` is complete: check 5, then to the node when its turn comes. */
static void bl_conn_body_done(bl_server_t *server, bl_conn_t *conn, bl_slot_t *slot) {
    conn->reading = NULL;
    conn->frame_started_ns = 0;
    bl_frame_header_t h = {.body_size = slot->body_size, .body_checksum = slot->body_checksum};
    if (bl_frame_check_body(&h, slot->body) != BL_FRAME_OK) {
        bl_slot_body_free(server, slot);
        bl_slot_reply(slot, BL_FRAME_BAD_BODY_CHECKSUM, 0, 0);
        return;
    }
    slot->state = BL_SLOT_READY;
    conn->ready++;
    bl_conn_submit_ready(server, conn, false);
}

/* A whole header is in: check it and start the request's slot. False: out of memory. */
static bool bl_conn_header(bl_server_t *server, bl_conn_t *conn, const bl_frame_header_t *h) {
    uint32_t status = bl_frame_check_header(h);
    if (status != BL_FRAME_OK) {
        if (!bl_conn_error(server, conn, h, status)) return false;
        if (bl_frame_status_closes(status)) {
            conn->read_closed = true;
        } else {
            conn->skip_left = h->body_size;
            conn->frame_started_ns = h->body_size ? conn->frame_started_ns : 0;
        }
        return true;
    }
    bl_slot_t *slot = bl_slot_new(server, conn, h, h->body_size);
    if (slot == NULL) return false;
    if (h->body_size == 0) {
        bl_conn_body_done(server, conn, slot);
    } else {
        conn->reading = slot;
    }
    return true;
}

/* Parses what the input buffer holds. */
static bool bl_conn_parse(bl_server_t *server, bl_conn_t *conn) {
    uint64_t now = bl_now_ns();
    for (;;) {
        uint32_t avail = conn->input_end - conn->input_start;
        uint8_t *in = conn->input + conn->input_start;
        if (conn->skip_left > 0) {
            uint32_t n = avail < conn->skip_left ? avail : (uint32_t)conn->skip_left;
            conn->input_start += n;
            conn->skip_left -= n;
            if (conn->skip_left > 0) return true;
            conn->frame_started_ns = 0;
            continue;
        }
        if (conn->reading != NULL) {
            bl_slot_t *slot = conn->reading;
            uint32_t want = slot->body_size - slot->body_have;
            uint32_t n = avail < want ? avail : want;
            memcpy(slot->body + slot->body_have, in, n);
            slot->body_have += n;
            conn->input_start += n;
            if (slot->body_have < slot->body_size) return true;
            bl_conn_body_done(server, conn, slot);
            continue;
        }
        if (avail == 0 || !bl_conn_wants_read(server, conn)) return true;
        if (conn->frame_started_ns == 0) conn->frame_started_ns = now;
        if (avail < BL_FRAME_HEADER_SIZE) return true;
        bl_frame_header_t h;
        memcpy(&h, in, sizeof(h));
        conn->input_start += BL_FRAME_HEADER_SIZE;
        if (!bl_conn_header(server, conn, &h)) return false;
        if (conn->reading == NULL && conn->skip_left == 0) conn->frame_started_ns = 0;
    }
}

/* Writes the replies that are ready, in order. False: the connection is gone. */
static bool bl_conn_flush(bl_server_t *server, bl_conn_t *conn) {
    bool progress = false;
    while (conn->slots_count > 0) {
        bl_slot_t *slot = conn->slots[conn->slots_head];
        if (slot->state != BL_SLOT_DONE) break;
        while (slot->written < slot->reply_size) {
            ssize_t n = send(conn->fd, slot->reply + slot->written,
                             slot->reply_size - slot->written, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                /* the socket is full: the write time limit runs from the last byte out */
                if (conn->write_wait_ns == 0 || progress) conn->write_wait_ns = bl_now_ns();
                return true;
            }
            if (n <= 0) {
                bl_conn_close(server, conn);
                return false;
            }
            slot->written += (uint32_t)n;
            progress = true;
        }
        bool closes = slot->closes;
        conn->slots_head = (conn->slots_head + 1) % BL_PIPELINE_REQUESTS_MAX;
        conn->slots_count--;
        bl_slot_free(server, slot);
        if (closes) { /* the error reply is out: no reset can eat it now */
            shutdown(conn->fd, SHUT_WR);
            bl_conn_close(server, conn);
            return false;
        }
    }
    conn->write_wait_ns = 0; /* no complete reply waits */
    if (conn->slots_count == 0 && conn->read_closed && conn->reading == NULL) {
        bl_conn_close(server, conn);
        return false;
    }
    return true;
}

/* A request whose frame was cut short (the peer hung up, or the server is stopping) is not
 * taken: its slot, always the newest, goes. */
static void bl_conn_drop_partial(bl_server_t *server, bl_conn_t *conn) {
    conn->skip_left = 0;
    conn->frame_started_ns = 0;
    if (conn->reading == NULL) return;
    BL_ASSERT(conn->slots_count > 0);
    uint32_t last = (conn->slots_head + conn->slots_count - 1) % BL_PIPELINE_REQUESTS_MAX;
    BL_ASSERT(conn->slots[last] == conn->reading);
    BL_ASSERT(conn->reading->state == BL_SLOT_READING);
    conn->slots_count--;
    bl_slot_free(server, conn->reading);
    conn->reading = NULL;
}

/* Parses what is buffered, reads what the socket has while there is room for more requests,
 * writes the replies that are ready, and sets what epoll should wait for. */
static void bl_conn_pump(bl_server_t *server, bl_conn_t *conn) {
    for (;;) {
        if (!bl_conn_parse(server, conn)) {
            bl_conn_close(server, conn);
            return;
        }
        if (bl_conn_wants_read(server, conn)) {
            if (conn->input_start == conn->input_end) conn->input_start = conn->input_end = 0;
            if (conn->input_end == BL_CONN_INPUT_BYTES) { /* move a partial frame to the front */
                memmove(conn->input, conn->input + conn->input_start,
                        conn->input_end - conn->input_start);
                conn->input_end -= conn->input_start;
                conn->input_start = 0;
            }
            ssize_t n = recv(conn->fd, conn->input + conn->input_end,
                             BL_CONN_INPUT_BYTES - conn->input_end, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n > 0) {
                conn->active_ns = bl_now_ns();
                conn->input_end += (uint32_t)n;
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                conn->read_closed = true; /* the peer hung up, or the connection failed */
                bl_conn_drop_partial(server, conn);
            }
        }
        /* Replies out; if that made room, frames already buffered can be taken now (the
         * socket may hold nothing more, so no event would come for them). */
        uint32_t before = conn->slots_count;
        if (!bl_conn_flush(server, conn)) return;
        if (conn->slots_count < before && conn->input_start < conn->input_end && !conn->read_closed)
            continue;
        break;
    }
    bl_conn_epoll(server, conn);
}

/* ------------------------------------------------------------------------------------------ */
/* Peers: open connections per address.                                                       */

static uint32_t bl_peers_home(const bl_peers_t *peers, const uint8_t address[16]) {
    return (uint32_t)bl_hash64(address, 16) & peers->mask;
}

/* The entry of `address`, or the empty entry where it would go. */
static bl_peer_t *bl_peers_find(bl_peers_t *peers, const uint8_t address[16]) {
    for (uint32_t i = bl_peers_home(peers, address);; i = (i + 1) & peers->mask) {
        bl_peer_t *peer = &peers->entries[i];
        if (peer->count == 0 || memcmp(peer->address, address, 16) == 0) return peer;
    }
}

static void bl_peers_leave(bl_server_t *server, const uint8_t address[16]) {
    bl_peers_t *peers = &server->peers;
    bl_peer_t *peer = bl_peers_find(peers, address);
    BL_ASSERT(peer->count > 0);
    if (--peer->count > 0) return;
    /* Backward-shift deletion: entries after the hole that may move into it do, so every
     * entry stays reachable from its home without tombstones. */
    uint32_t hole = (uint32_t)(peer - peers->entries);
    for (uint32_t i = (hole + 1) & peers->mask; peers->entries[i].count != 0;
         i = (i + 1) & peers->mask) {
        uint32_t home = bl_peers_home(peers, peers->entries[i].address);
        /* the entry may move back to the hole if its home is not in (hole, i] */
        if (((i - home) & peers->mask) >= ((i - hole) & peers->mask)) {
            peers->entries[hole] = peers->entries[i];
            peers->entries[i].count = 0;
            hole = i;
        }
    }
}

/* The peer's address as 16 bytes (IPv4 mapped into IPv6). */
static void bl_peer_address(const struct sockaddr_storage *addr, uint8_t address[16]) {
    memset(address, 0, 16);
    if (addr->ss_family == AF_INET6) {
        memcpy(address, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
    } else if (addr->ss_family == AF_INET) {
        address[10] = address[11] = 0xFF;
        memcpy(address + 12, &((const struct sockaddr_in *)addr)->sin_addr, 4);
    }
}

/* A connection the server cannot take: one busy frame, then the end of it. What the peer
 * already sent is read first, so the close sends a FIN after the frame, not a reset that
 * could discard it. */
static void bl_server_refuse(bl_server_t *server, int fd) {
    bl_frame_header_t h;
    bl_frame_header_build(&h, 0, 0, BL_FRAME_BUSY, 0, NULL, 0);
    if (send(fd, &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* the peer is gone */
    }
    shutdown(fd, SHUT_WR);
    uint8_t sink[4096];
    for (int i = 0; i < 16 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++) {
    }
    close(fd);
    server->refused++;
}

static void bl_server_accept(bl_server_t *server) {
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t addr_size = sizeof(addr);
        int fd = accept4(server->listen_fd, (struct sockaddr *)&addr, &addr_size,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or a transient error: epoll says when to try again */
        uint8_t address[16];
        bl_peer_address(&addr, address);
        bl_peer_t *peer = bl_peers_find(&server->peers, address);
        if (server->free_conns == NULL || atomic_load(&server->stopping) ||
            peer->count >= server->config.connections_per_address_max) {
            bl_server_refuse(server, fd); /* at connections_max, or this address's limit */
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        bl_conn_t *conn = server->free_conns;
        conn->input = malloc(BL_CONN_INPUT_BYTES);
        if (conn->input == NULL) {
            bl_server_refuse(server, fd);
            continue;
        }
        server->free_conns = conn->next_free;
        uint8_t *input = conn->input;
        memset(conn, 0, sizeof(*conn));
        conn->input = input;
        conn->fd = fd;
        conn->open = true;
        conn->active_ns = bl_now_ns();
        memcpy(conn->peer, address, 16);
        conn->epoll_events = EPOLLIN | EPOLLRDHUP;
        struct epoll_event ev = {.events = conn->epoll_events, .data.ptr = conn};
        if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            conn->open = false;
            bl_conn_release(server, conn);
            continue;
        }
        if (peer->count == 0) memcpy(peer->address, address, 16);
        peer->count++;
        server->conns_open++;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Completions from the node.                                                                 */

static void bl_server_node_done(bl_node_request_t *request) {
    bl_server_t *server = request->ctx;
    bl_slot_t *slot = (bl_slot_t *)request; /* request is the slot's first member */
    bl_slot_t *head = atomic_load_explicit(&server->completed, memory_order_relaxed);
    do {
        slot->next_done = head;
    } while (!atomic_compare_exchange_weak(&server->completed, &head, slot));
    if (head == NULL) {
        bl_eventfd_signal(server->wake_fd);
    }
}

static void bl_server_completions(bl_server_t *server) {
    bl_eventfd_drain(server->wake_fd);
    bl_slot_t *stack = atomic_exchange(&server->completed, NULL), *slot = NULL;
    while (stack != NULL) { /* reverse: oldest completion first */
        bl_slot_t *next = stack->next_done;
        stack->next_done = slot;
        slot = stack;
        stack = next;
    }
    while (slot != NULL) {
        bl_slot_t *next = slot->next_done;
        bl_conn_t *conn = slot->conn;
        BL_ASSERT(slot->state == BL_SLOT_AT_NODE);
        conn->at_node--;
        server->at_node--;
        if (bl_op_takes_turns(slot->op)) {
            conn->reads_at_node--;
            server->reads_at_node--;
        }
        const bl_node_request_t *r = &slot->request;
        uint32_t record = (uint32_t)bl_op_reply_record_size(slot->op);
        uint32_t body_size = r->status == BL_FRAME_OK ? r->reply_count * record : 0;
        BL_ASSERT(slot->reply_room == 0 ||
                  BL_FRAME_HEADER_SIZE + (uint64_t)body_size <= slot->reply_room);
        BL_ASSERT(slot->reply_room != 0 ||
                  BL_FRAME_HEADER_SIZE + body_size <= BL_SLOT_INLINE_BYTES);
        bl_slot_body_free(server, slot);
        bl_slot_reply_shrink(server, slot, BL_FRAME_HEADER_SIZE + body_size);
        bl_slot_reply(slot, r->status, r->reply_count, body_size);
        if (!conn->open) {
            /* the connection is gone: drop the slot (it is somewhere in conn->slots) */
            for (uint32_t i = 0; i < conn->slots_count; i++) {
                if (conn->slots[i] != slot) continue;
                conn->slots[i] = conn->slots[--conn->slots_count];
                break;
            }
            bl_slot_free(server, slot);
            bl_conn_release(server, conn);
        } else {
            bl_conn_submit_ready(server, conn, false); /* a read of its own may go now */
            bl_conn_pump(server, conn); /* replies out; buffered requests may fit again */
        }
        slot = next;
    }
    bl_server_turns(server);
}

/* Memory came back (replies written, connections closed, completions) after connections were
 * paused for the server's total: read them again. */
static void bl_server_resume(bl_server_t *server) {
    if (!server->over_paused || server->bytes_held >= server->config.request_bytes_max) return;
    server->over_paused = false;
    for (uint32_t i = 0; i < server->config.connections_max; i++) {
        bl_conn_t *conn = &server->conns[i];
        if (conn->open && !(conn->epoll_events & EPOLLIN)) bl_conn_pump(server, conn);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Timeouts and the loop.                                                                     */

static void bl_server_timeouts(bl_server_t *server) {
    uint64_t now = bl_now_ns();
    for (uint32_t i = 0; i < server->config.connections_max; i++) {
        bl_conn_t *conn = &server->conns[i];
        if (!conn->open) continue;
        bool slow = conn->frame_started_ns != 0 && (conn->epoll_events & EPOLLIN) &&
                    now - conn->frame_started_ns > server->config.frame_timeout_ns;
        bool idle = conn->slots_count == 0 && conn->frame_started_ns == 0 &&
                    now - conn->active_ns > server->config.idle_timeout_ns;
        bool unread =
            conn->write_wait_ns != 0 && now - conn->write_wait_ns > server->config.write_timeout_ns;
        if (slow || idle || unread) bl_conn_close(server, conn);
    }
}

int bl_server_run(bl_server_t *server) {
    struct epoll_event events[BL_SERVER_EVENTS_MAX];
    uint64_t next_timeouts = bl_now_ns() + 1000000000ull;
    uint64_t drain_until = 0;
    for (;;) {
        bool stopping = atomic_load(&server->stopping);
        if (stopping && drain_until == 0) { /* stop taking work; finish what was taken */
            drain_until = bl_now_ns() + BL_SERVER_DRAIN_NS;
            epoll_ctl(server->epoll_fd, EPOLL_CTL_DEL, server->listen_fd, NULL);
            for (uint32_t i = 0; i < server->config.connections_max; i++) {
                bl_conn_t *conn = &server->conns[i];
                if (!conn->open) continue;
                conn->read_closed = true;
                bl_conn_drop_partial(server, conn);
                if (bl_conn_flush(server, conn)) bl_conn_epoll(server, conn);
            }
        }
        if (stopping && (server->conns_open == 0 || bl_now_ns() > drain_until)) break;
        int n = epoll_wait(server->epoll_fd, events, BL_SERVER_EVENTS_MAX, 200);
        /* Accepting waits for the end of the batch: a connection closed by an event of this
         * batch must not be reused while later events of the batch still name it. */
        bool accept = false;
        for (int i = 0; i < n; i++) {
            void *ptr = events[i].data.ptr;
            if (ptr == (void *)&server->listen_fd) {
                accept = true;
            } else if (ptr == (void *)&server->wake_fd) {
                bl_server_completions(server);
            } else {
                bl_conn_t *conn = ptr;
                if (!conn->open) continue;
                if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                    bl_conn_close(server, conn);
                    continue;
                }
                if (events[i].events & (EPOLLIN | EPOLLOUT | EPOLLRDHUP))
                    bl_conn_pump(server, conn);
            }
        }
        if (accept) bl_server_accept(server);
        bl_server_resume(server);
        bl_server_turns(server);
        uint64_t now = bl_now_ns();
        if (now >= next_timeouts) {
            bl_server_timeouts(server);
            next_timeouts = now + 1000000000ull;
        }
    }
    for (uint32_t i = 0; i < server->config.connections_max; i++)
        bl_conn_close(server, &server->conns[i]);
    /* The node still completes what it took, into this server's memory: wait for all of it
     * (the node always completes a request it took). */
    while (server->at_node > 0) {
        struct pollfd wake = {.fd = server->wake_fd, .events = POLLIN};
        poll(&wake, 1, 100);
        bl_server_completions(server);
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Open and close.                                                                            */

static int bl_server_listen(bl_server_t *server) {
    char port[8];
    snprintf(port, sizeof(port), "%u", server->config.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(server->config.host, port, &hints, &list);
    if (rc != 0) return -EADDRNOTAVAIL;
    rc = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
            struct sockaddr_storage addr;
            socklen_t len = sizeof(addr);
            getsockname(fd, (struct sockaddr *)&addr, &len);
            server->port =
                ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                 : ((struct sockaddr_in *)&addr)->sin_port);
            server->listen_fd = fd;
            rc = 0;
            break;
        }
        rc = -errno;
        close(fd);
    }
    freeaddrinfo(list);
    return rc;
}

int bl_server_open(bl_server_t **out, const bl_server_config_t *config) {
    bl_server_t *server = calloc(1, sizeof(*server));
    if (server == NULL) return -ENOMEM;
    server->config = *config;
    bl_server_config_t *c = &server->config;
    if (c->host == NULL) c->host = "127.0.0.1";
    if (c->connections_max == 0) c->connections_max = BL_SERVER_CONNECTIONS_MAX_DEFAULT;
    if (c->request_bytes_max == 0) c->request_bytes_max = BL_SERVER_REQUEST_BYTES_MAX_DEFAULT;
    if (c->frame_timeout_ns == 0) c->frame_timeout_ns = BL_SERVER_FRAME_TIMEOUT_NS_DEFAULT;
    if (c->idle_timeout_ns == 0) c->idle_timeout_ns = BL_SERVER_IDLE_TIMEOUT_NS_DEFAULT;
    if (c->write_timeout_ns == 0) c->write_timeout_ns = BL_SERVER_WRITE_TIMEOUT_NS_DEFAULT;
    if (c->connection_bytes_max == 0)
        c->connection_bytes_max = c->request_bytes_max / BL_SERVER_CONNECTION_BYTES_SHARE;
    if (c->connection_bytes_max > c->request_bytes_max)
        c->connection_bytes_max = c->request_bytes_max;
    if (c->connections_per_address_max == 0)
        c->connections_per_address_max = BL_SERVER_CONNECTIONS_PER_ADDRESS_MAX_DEFAULT;
    if (c->connections_per_address_max > c->connections_max)
        c->connections_per_address_max = c->connections_max;
    server->listen_fd = server->epoll_fd = server->wake_fd = -1;
    int rc = c->node ? 0 : -EINVAL;
    if (rc == 0) {
        server->conns = calloc(c->connections_max, sizeof(bl_conn_t));
        if (server->conns == NULL) rc = -ENOMEM;
    }
    if (rc == 0) { /* a peer per connection at most: the table is never more than half full */
        uint64_t entries = 2;
        while (entries < 2ull * c->connections_max) entries *= 2;
        server->peers.entries = calloc(entries, sizeof(bl_peer_t));
        server->peers.mask = (uint32_t)(entries - 1);
        if (server->peers.entries == NULL) rc = -ENOMEM;
    }
    for (uint32_t i = c->connections_max; rc == 0 && i-- > 0;) {
        server->conns[i].next_free = server->free_conns;
        server->free_conns = &server->conns[i];
    }
    if (rc == 0) rc = bl_server_listen(server);
    if (rc == 0) {
        server->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        server->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (server->epoll_fd < 0 || server->wake_fd < 0) rc = -errno;
    }
    if (rc == 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &server->listen_fd};
        struct epoll_event wake = {.events = EPOLLIN, .data.ptr = &server->wake_fd};
        if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, server->listen_fd, &ev) != 0 ||
            epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, server->wake_fd, &wake) != 0)
            rc = -errno;
    }
    if (rc != 0) {
        bl_server_close(server);
        return rc;
    }
    *out = server;
    return 0;
}

uint16_t bl_server_port(const bl_server_t *server) {
    return server->port;
}

void bl_server_stop(bl_server_t *server) {
    atomic_store(&server->stopping, true);
    bl_eventfd_signal(server->wake_fd);
}

void bl_server_close(bl_server_t *server) {
    if (server == NULL) return;
    if (server->conns != NULL) {
        for (uint32_t i = 0; i < server->config.connections_max; i++)
            bl_conn_close(server, &server->conns[i]);
    }
    if (server->listen_fd >= 0) close(server->listen_fd);
    if (server->epoll_fd >= 0) close(server->epoll_fd);
    if (server->wake_fd >= 0) close(server->wake_fd);
    free(server->conns);
    free(server->peers.entries);
    free(server);
}
