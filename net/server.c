/*
 * The TCP server (see server.h): one thread, epoll, non-blocking sockets.
 *
 * A connection reads into a 64 KiB input buffer and parses frames out of it. Each request,
 * from its header on, has a slot: one allocation holding the reply (header and body, so a reply
 * goes out with one write) and the request body (16-byte aligned for the engine). Slots form a
 * per-connection FIFO of at most BL_PIPELINE_REQUESTS_MAX; replies leave strictly in that
 * order, whatever order the node completes them in. Frame errors get a slot too, already
 * complete, so they are answered in order as well.
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
#include "net/frame.h"

#define BL_CONN_INPUT_BYTES (64u * 1024u)
#define BL_SERVER_EVENTS_MAX 256
#define BL_SERVER_DRAIN_NS (10ull * 1000000000ull)
#define BL_TAG_LISTEN 0ull
#define BL_TAG_WAKE 1ull

typedef struct bl_conn bl_conn_t;

typedef struct bl_slot {
    bl_node_request_t request; /* first: the node's callback gets &request */
    bl_conn_t *conn;
    struct bl_slot *next_done;
    uint64_t request_id;
    uint16_t op;
    bool done;   /* the reply is built */
    bool closes; /* after this reply the connection ends */
    uint8_t *memory;
    uint64_t memory_size;
    uint8_t *body;        /* request body, inside memory */
    uint32_t body_size;
    uint32_t body_have;
    uint32_t reply_size;  /* header + body bytes to write */
    uint32_t written;
} bl_slot_t;

struct bl_conn {
    int fd;
    bool open;
    bool read_closed;     /* EOF, a closing frame error, or the server stopping */
    uint32_t at_node;     /* slots the node still holds */
    uint32_t epoll_events;
    uint64_t frame_started_ns; /* 0 between frames */
    uint64_t active_ns;
    uint8_t *input;
    uint32_t input_start, input_end;
    bl_slot_t *reading;   /* the slot whose body is arriving */
    uint64_t skip_left;   /* body bytes of a rejected frame still to discard */
    bl_slot_t *slots[BL_PIPELINE_REQUESTS_MAX];
    uint32_t slots_head, slots_count;
    bl_conn_t *next_free;
};

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
    bool paused;       /* bytes_held past the budget: no new frame is started */
    uint64_t at_node;  /* slots the node holds, over all connections, open or closed */
};

static uint64_t bl_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------------------------------ */
/* Slots.                                                                                     */

static uint32_t bl_reply_body_max(uint16_t op, uint32_t count) {
    if (op == BL_OP_STATUS) return sizeof(bl_server_status_t); /* count 0, one record back */
    int size = bl_op_reply_record_size(op);
    /* A filter op (one filter) answers up to its limit: room for the largest before the body
     * (and so the limit) is read. */
    if (bl_op_is_filter(op)) return BL_FILTER_LIMIT_MAX * (uint32_t)size;
    return size > 0 ? count * (uint32_t)size : 0;
}

static bl_slot_t *bl_slot_new(bl_server_t *server, bl_conn_t *conn, const bl_frame_header_t *h,
                              uint32_t body_size, uint32_t reply_body_max) {
    BL_ASSERT(conn->slots_count < BL_PIPELINE_REQUESTS_MAX);
    bl_slot_t *slot = calloc(1, sizeof(*slot));
    if (slot == NULL) return NULL;
    uint64_t body_offset = (BL_FRAME_HEADER_SIZE + (uint64_t)reply_body_max + 63) & ~63ull;
    slot->memory_size = body_offset + body_size;
    slot->memory = aligned_alloc(64, (slot->memory_size + 63) & ~63ull);
    if (slot->memory == NULL) {
        free(slot);
        return NULL;
    }
    slot->conn = conn;
    slot->request_id = h->request_id;
    slot->op = h->op;
    slot->body = slot->memory + body_offset;
    slot->body_size = body_size;
    server->bytes_held += slot->memory_size;
    conn->slots[(conn->slots_head + conn->slots_count++) % BL_PIPELINE_REQUESTS_MAX] = slot;
    return slot;
}

static void bl_slot_free(bl_server_t *server, bl_slot_t *slot) {
    server->bytes_held -= slot->memory_size;
    free(slot->memory);
    free(slot);
}

/* The reply of a slot: `status`, and for ok `count` records of the body already in place. */
static void bl_slot_reply(bl_slot_t *slot, uint32_t status, uint32_t count, uint32_t body_size) {
    bl_frame_header_t *h = (bl_frame_header_t *)slot->memory;
    uint8_t *body = slot->memory + BL_FRAME_HEADER_SIZE;
    if (status != BL_FRAME_OK) count = body_size = 0;
    bl_frame_header_build(h, slot->op, slot->request_id, status, count, body, body_size);
    slot->reply_size = BL_FRAME_HEADER_SIZE + body_size;
    slot->done = true;
}

/* A frame error: answered in order, with op and request_id as PROTOCOL.md says. */
static bool bl_conn_error(bl_server_t *server, bl_conn_t *conn, const bl_frame_header_t *h,
                          uint32_t status) {
    bl_frame_header_t echo = *h;
    if (status == BL_FRAME_BAD_MAGIC || status == BL_FRAME_BAD_VERSION ||
        status == BL_FRAME_BAD_HEADER_CHECKSUM)
        echo.op = 0, echo.request_id = 0;
    bl_slot_t *slot = bl_slot_new(server, conn, &echo, 0, 0);
    if (slot == NULL) return false;
    slot->closes = bl_frame_status_closes(status);
    bl_slot_reply(slot, status, 0, 0);
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections.                                                                               */

/* Whether to read the connection: to finish a frame whose memory is already held, always;
 * to start new frames, only with room in its pipeline and while the server is not paused. */
static bool bl_conn_wants_read(const bl_server_t *server, const bl_conn_t *conn) {
    if (conn->read_closed) return false;
    if (conn->reading != NULL || conn->skip_left > 0) return true;
    return !server->paused && conn->slots_count < BL_PIPELINE_REQUESTS_MAX;
}

static void bl_conn_epoll(bl_server_t *server, bl_conn_t *conn) {
    if (!conn->open) return;
    bool want_read = bl_conn_wants_read(server, conn);
    bool want_write = conn->slots_count > 0 && conn->slots[conn->slots_head]->done;
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

static void bl_conn_release(bl_server_t *server, bl_conn_t *conn) {
    if (conn->open || conn->at_node > 0) return;
    for (uint32_t i = 0; i < conn->slots_count; i++)
        bl_slot_free(server, conn->slots[(conn->slots_head + i) % BL_PIPELINE_REQUESTS_MAX]);
    conn->slots_count = 0;
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
    /* Slots not at the node can go now; those at the node go when it completes them. The
     * ring is copied out first: compacting it in place could overwrite a slot not yet seen. */
    bl_slot_t *ring[BL_PIPELINE_REQUESTS_MAX];
    for (uint32_t i = 0; i < conn->slots_count; i++)
        ring[i] = conn->slots[(conn->slots_head + i) % BL_PIPELINE_REQUESTS_MAX];
    uint32_t kept = 0;
    for (uint32_t i = 0; i < conn->slots_count; i++) {
        bl_slot_t *slot = ring[i];
        if (!slot->done && slot != conn->reading && slot->request.op != 0) {
            conn->slots[kept++] = slot; /* submitted, not completed */
        } else {
            bl_slot_free(server, slot);
        }
    }
    conn->slots_head = 0;
    conn->slots_count = kept;
    conn->reading = NULL;
    bl_conn_release(server, conn);
}

static void bl_conn_submit(bl_server_t *server, bl_conn_t *conn, bl_slot_t *slot);
static void bl_conn_pump(bl_server_t *server, bl_conn_t *conn);

/* The body of `slot` is complete: check 5, then to the node. */
static void bl_conn_body_done(bl_server_t *server, bl_conn_t *conn, bl_slot_t *slot) {
    conn->reading = NULL;
    conn->frame_started_ns = 0;
    bl_frame_header_t h = {.body_size = slot->body_size};
    h.body_checksum = ((bl_frame_header_t *)slot->memory)->body_checksum;
    if (bl_frame_check_body(&h, slot->body) != BL_FRAME_OK) {
        bl_slot_reply(slot, BL_FRAME_BAD_BODY_CHECKSUM, 0, 0);
        return;
    }
    bl_conn_submit(server, conn, slot);
}

static void bl_server_node_done(bl_node_request_t *request);

static void bl_conn_submit(bl_server_t *server, bl_conn_t *conn, bl_slot_t *slot) {
    const bl_frame_header_t *h = (const bl_frame_header_t *)slot->memory;
    slot->request = (bl_node_request_t){.op = slot->op, .count = h->count, .body = slot->body,
                                        .reply = slot->memory + BL_FRAME_HEADER_SIZE,
                                        .done = bl_server_node_done, .ctx = server};
    conn->at_node++;
    server->at_node++;
    bl_node_submit(server->config.node, &slot->request);
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
    bl_slot_t *slot = bl_slot_new(server, conn, h, h->body_size, bl_reply_body_max(h->op, h->count));
    if (slot == NULL) return false;
    memcpy(slot->memory, h, sizeof(*h)); /* kept until the reply overwrites it */
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
        if (conn->read_closed || conn->slots_count >= BL_PIPELINE_REQUESTS_MAX || avail == 0 ||
            server->paused)
            return true;
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
    while (conn->slots_count > 0) {
        bl_slot_t *slot = conn->slots[conn->slots_head];
        if (!slot->done) break;
        while (slot->written < slot->reply_size) {
            ssize_t n = send(conn->fd, slot->memory + slot->written,
                             slot->reply_size - slot->written, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
            if (n <= 0) {
                bl_conn_close(server, conn);
                return false;
            }
            slot->written += (uint32_t)n;
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
        if (server->bytes_held > server->config.request_bytes_max) server->paused = true;
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
        if (conn->slots_count < before && conn->input_start < conn->input_end &&
            !conn->read_closed)
            continue;
        break;
    }
    bl_conn_epoll(server, conn);
}

static void bl_server_accept(bl_server_t *server) {
    for (;;) {
        int fd = accept4(server->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or a transient error: epoll says when to try again */
        if (server->free_conns == NULL || atomic_load(&server->stopping)) {
            close(fd); /* at connections_max */
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        bl_conn_t *conn = server->free_conns;
        conn->input = malloc(BL_CONN_INPUT_BYTES);
        if (conn->input == NULL) {
            close(fd);
            continue;
        }
        server->free_conns = conn->next_free;
        uint8_t *input = conn->input;
        memset(conn, 0, sizeof(*conn));
        conn->input = input;
        conn->fd = fd;
        conn->open = true;
        conn->active_ns = bl_now_ns();
        conn->epoll_events = EPOLLIN | EPOLLRDHUP;
        struct epoll_event ev = {.events = conn->epoll_events, .data.ptr = conn};
        if (epoll_ctl(server->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            conn->open = false;
            bl_conn_release(server, conn);
            continue;
        }
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
        uint64_t one = 1;
        if (write(server->wake_fd, &one, sizeof(one)) < 0) { /* cannot overflow */
        }
    }
}

static void bl_server_completions(bl_server_t *server) {
    uint64_t count;
    if (read(server->wake_fd, &count, sizeof(count)) < 0) { /* EAGAIN: nothing new */
    }
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
        conn->at_node--;
        server->at_node--;
        const bl_node_request_t *r = &slot->request;
        uint32_t record = (uint32_t)bl_op_reply_record_size(slot->op);
        bl_slot_reply(slot, r->status, r->reply_count, r->reply_count * record);
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
            bl_conn_pump(server, conn); /* replies out; buffered requests may fit again */
        }
        slot = next;
    }
}

/* Memory came back (replies written, connections closed, completions): start reading again. */
static void bl_server_resume(bl_server_t *server) {
    if (!server->paused || server->bytes_held > server->config.request_bytes_max / 2) return;
    server->paused = false;
    for (uint32_t i = 0; i < server->config.connections_max; i++) {
        if (server->conns[i].open) bl_conn_pump(server, &server->conns[i]);
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
        if (slow || idle) bl_conn_close(server, conn);
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
                if (events[i].events & (EPOLLIN | EPOLLOUT | EPOLLRDHUP)) bl_conn_pump(server, conn);
            }
        }
        if (accept) bl_server_accept(server);
        bl_server_resume(server);
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
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
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
            server->port = ntohs(addr.ss_family == AF_INET6
                                     ? ((struct sockaddr_in6 *)&addr)->sin6_port
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
    server->listen_fd = server->epoll_fd = server->wake_fd = -1;
    int rc = c->node ? 0 : -EINVAL;
    if (rc == 0) {
        server->conns = calloc(c->connections_max, sizeof(bl_conn_t));
        if (server->conns == NULL) rc = -ENOMEM;
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
    uint64_t one = 1;
    if (write(server->wake_fd, &one, sizeof(one)) < 0) { /* cannot overflow */
    }
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
    free(server);
}
