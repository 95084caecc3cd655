/*
 * The C client (include/ballast/client.h): a blocking socket with send and receive timeouts,
 * frames built and checked with net/frame.c. Request ids count up from 1 per client.
 *
 * Requests without a reply are kept (op, body pointer, count, id) in a ring of
 * BL_PIPELINE_REQUESTS_MAX. When sending or receiving fails for a connection reason, the
 * client reconnects and resends the whole ring in order, with the same ids, so replies match
 * as if nothing happened.
 */
#define _GNU_SOURCE
#include "ballast/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/frame.h"

#define BL_CLIENT_TIMEOUT_NS_DEFAULT (10ull * 1000000000ull)

typedef struct bl_client_pending {
    uint16_t op;
    uint32_t count;
    const void *body;
    uint64_t request_id;
} bl_client_pending_t;

struct bl_client {
    int fd;
    uint64_t next_request_id;
    char host[256];
    uint16_t port;
    uint64_t timeout_ns;
    uint64_t reconnects;
    bl_client_pending_t pending[BL_PIPELINE_REQUESTS_MAX];
    uint32_t pending_head, pending_count;
};

/* Connects one address within the timeout, then makes the socket blocking with timeouts. */
static int bl_client_connect_one(const struct addrinfo *ai, uint64_t timeout_ns) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    int error = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        error = errno;
        if (error == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            socklen_t len = sizeof(error);
            if (poll(&p, 1, (int)(timeout_ns / 1000000)) != 1) {
                error = ETIMEDOUT;
            } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) {
                error = errno;
            }
        }
    }
    struct timeval tv = {.tv_sec = (time_t)(timeout_ns / 1000000000ull),
                         .tv_usec = (suseconds_t)(timeout_ns % 1000000000ull / 1000)};
    int one = 1;
    if (error == 0 && (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
                       setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
                       setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
                       setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0))
        error = errno;
    if (error != 0) {
        close(fd);
        return -error;
    }
    return fd;
}

static int bl_client_dial(const char *host, uint16_t port, uint64_t timeout_ns) {
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    if (getaddrinfo(host, service, &hints, &list) != 0) return -EHOSTUNREACH;
    int fd = -ECONNREFUSED;
    for (struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = bl_client_connect_one(ai, timeout_ns);
    freeaddrinfo(list);
    return fd;
}

int bl_client_connect(bl_client_t **out, const char *host, uint16_t port, uint64_t timeout_ns) {
    if (timeout_ns == 0) timeout_ns = BL_CLIENT_TIMEOUT_NS_DEFAULT;
    if (strlen(host) >= sizeof(((bl_client_t *)0)->host)) return -ENAMETOOLONG;
    int fd = bl_client_dial(host, port, timeout_ns);
    if (fd < 0) return fd;
    bl_client_t *client = calloc(1, sizeof(*client));
    if (client == NULL) {
        close(fd);
        return -ENOMEM;
    }
    client->fd = fd;
    client->next_request_id = 1;
    strcpy(client->host, host);
    client->port = port;
    client->timeout_ns = timeout_ns;
    *out = client;
    return 0;
}

uint64_t bl_client_reconnects(const bl_client_t *client) {
    return client->reconnects;
}

void bl_client_close(bl_client_t *client) {
    if (client == NULL) return;
    if (client->fd >= 0) close(client->fd);
    free(client);
}

static int bl_client_io_error(ssize_t n) {
    if (n == 0) return -ECONNRESET;
    return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
}

/* Writes one request frame. */
static int bl_client_write(bl_client_t *client, const bl_client_pending_t *p) {
    uint64_t body_size = (uint64_t)p->count * (uint64_t)bl_op_request_record_size(p->op);
    const void *body = p->body;
    bl_frame_header_t h;
    uint64_t id = p->request_id;
    bl_frame_header_build(&h, p->op, id, 0, p->count, body, (uint32_t)body_size);
    struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)body, body_size}};
    int parts = body_size ? 2 : 1;
    size_t left = sizeof(h) + body_size;
    while (left > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = parts};
        ssize_t n = sendmsg(client->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return bl_client_io_error(n);
        left -= (size_t)n;
        for (int i = 0; i < parts && n > 0; i++) { /* advance past what went out */
            size_t take = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            n -= (ssize_t)take;
        }
    }
    return 0;
}

static bool bl_client_connection_error(int rc) {
    return rc == -ECONNRESET || rc == -EPIPE || rc == -ETIMEDOUT || rc == -ENOTCONN ||
           rc == -ECONNABORTED || rc == -ECONNREFUSED;
}

/* Remakes the connection and resends every request without a reply, in order. */
static int bl_client_reconnect(bl_client_t *client) {
    close(client->fd);
    client->fd = -1;
    int fd = bl_client_dial(client->host, client->port, client->timeout_ns);
    if (fd < 0) return fd;
    client->fd = fd;
    client->reconnects++;
    for (uint32_t i = 0; i < client->pending_count; i++) {
        int rc = bl_client_write(
            client, &client->pending[(client->pending_head + i) % BL_PIPELINE_REQUESTS_MAX]);
        if (rc != 0) return rc;
    }
    return 0;
}

/* Runs `rc` through reconnects: while it is a connection error and retries remain, reconnect
 * (which resends); returns the last result. */
static int bl_client_recover(bl_client_t *client, int rc, int *retries) {
    while (rc != 0 && bl_client_connection_error(rc) && (*retries)++ < BL_CLIENT_RETRIES_MAX)
        rc = bl_client_reconnect(client);
    return rc;
}

int bl_client_send(bl_client_t *client, uint16_t op, const void *body, uint32_t count,
                   uint64_t *request_id) {
    int size = bl_op_request_record_size(op);
    if (size < 0) return -EINVAL;
    if ((uint64_t)count * (uint64_t)size > BL_FRAME_BODY_SIZE_MAX) return -EMSGSIZE;
    if (client->pending_count == BL_PIPELINE_REQUESTS_MAX) return -EBUSY;
    bl_client_pending_t *p =
        &client->pending[(client->pending_head + client->pending_count) % BL_PIPELINE_REQUESTS_MAX];
    *p = (bl_client_pending_t){
        .op = op, .count = count, .body = body, .request_id = client->next_request_id++};
    client->pending_count++;
    int retries = 0;
    int rc = client->fd >= 0 ? bl_client_write(client, p) : -ENOTCONN;
    /* A reconnect resends this request too, with everything before it. */
    rc = bl_client_recover(client, rc, &retries);
    if (rc != 0) {
        client->pending_count--;
        return rc;
    }
    if (request_id != NULL) *request_id = p->request_id;
    return 0;
}

static int bl_client_read_exact(bl_client_t *client, void *buffer, size_t size) {
    uint8_t *p = buffer;
    while (size > 0) {
        ssize_t n = recv(client->fd, p, size, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return bl_client_io_error(n);
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

static int bl_client_read_reply(bl_client_t *client, bl_frame_header_t *h, void *reply,
                                uint32_t reply_bytes_max) {
    int rc = client->fd >= 0 ? bl_client_read_exact(client, h, sizeof(*h)) : -ENOTCONN;
    if (rc != 0) return rc;
    if (h->body_size > BL_FRAME_BODY_SIZE_MAX) return -EPROTO;
    if (h->body_size > reply_bytes_max) { /* read past it, so the stream stays in step */
        uint8_t scratch[4096];
        for (uint32_t left = h->body_size; left > 0;) {
            uint32_t n = left < sizeof(scratch) ? left : (uint32_t)sizeof(scratch);
            if ((rc = bl_client_read_exact(client, scratch, n)) != 0) return rc;
            left -= n;
        }
        return -EMSGSIZE;
    }
    if (h->body_size > 0 && (rc = bl_client_read_exact(client, reply, h->body_size)) != 0)
        return rc;
    return 0;
}

int bl_client_receive(bl_client_t *client, uint64_t *request_id, uint32_t *status, void *reply,
                      uint32_t reply_bytes_max, uint32_t *reply_count) {
    if (client->pending_count == 0) return -ENOMSG; /* nothing was sent */
    bl_frame_header_t h;
    int retries = 0, rc;
    while ((rc = bl_client_read_reply(client, &h, reply, reply_bytes_max)) != 0) {
        if (rc == -EMSGSIZE) { /* answered, but the caller's buffer was too small */
            client->pending_head = (client->pending_head + 1) % BL_PIPELINE_REQUESTS_MAX;
            client->pending_count--;
            return rc;
        }
        rc = bl_client_recover(client, rc, &retries);
        if (rc != 0) return rc;
    }
    const bl_client_pending_t *head = &client->pending[client->pending_head];
    bool closing_error = h.status == BL_FRAME_BAD_MAGIC || h.status == BL_FRAME_BAD_VERSION ||
                         h.status == BL_FRAME_BAD_HEADER_CHECKSUM;
    if (bl_frame_check_reply(&h, reply) != BL_FRAME_OK ||
        (h.request_id != head->request_id && !closing_error)) {
        /* The stream cannot be trusted: drop the connection; the next call reconnects and
         * resends what has no reply, this request included. */
        close(client->fd);
        client->fd = -1;
        return -EPROTO;
    }
    client->pending_head = (client->pending_head + 1) % BL_PIPELINE_REQUESTS_MAX;
    client->pending_count--;
    if (request_id != NULL) *request_id = h.request_id;
    *status = h.status;
    if (reply_count != NULL) *reply_count = h.count;
    return 0;
}

int bl_client_request(bl_client_t *client, uint16_t op, const void *body, uint32_t count,
                      void *reply, uint32_t reply_bytes_max, uint32_t *reply_count,
                      uint32_t *status) {
    uint64_t sent, got;
    int rc = bl_client_send(client, op, body, count, &sent);
    if (rc == 0) rc = bl_client_receive(client, &got, status, reply, reply_bytes_max, reply_count);
    if (rc == 0 && got != sent && *status != BL_FRAME_BAD_MAGIC &&
        *status != BL_FRAME_BAD_VERSION && *status != BL_FRAME_BAD_HEADER_CHECKSUM)
        return -EPROTO; /* replies come in order: another id means a confused stream */
    return rc;
}

int bl_client_ping(bl_client_t *client, uint32_t *status) {
    return bl_client_request(client, BL_OP_PING, NULL, 0, NULL, 0, NULL, status);
}

int bl_client_status(bl_client_t *client, bl_server_status_t *server_status, uint32_t *status) {
    uint32_t count = 0;
    int rc = bl_client_request(client, BL_OP_STATUS, NULL, 0, server_status, sizeof(*server_status),
                               &count, status);
    if (rc == 0 && *status == BL_FRAME_OK && count != 1) return -EPROTO;
    return rc;
}

int bl_client_create_accounts(bl_client_t *client, const bl_account_t *accounts, uint32_t count,
                              bl_event_result_t *results, uint32_t *results_count,
                              uint32_t *status) {
    return bl_client_request(client, BL_OP_CREATE_ACCOUNTS, accounts, count, results,
                             count * (uint32_t)sizeof(*results), results_count, status);
}

int bl_client_create_transfers(bl_client_t *client, const bl_transfer_t *transfers, uint32_t count,
                               bl_event_result_t *results, uint32_t *results_count,
                               uint32_t *status) {
    return bl_client_request(client, BL_OP_CREATE_TRANSFERS, transfers, count, results,
                             count * (uint32_t)sizeof(*results), results_count, status);
}

int bl_client_lookup_accounts(bl_client_t *client, const bl_u128_t *ids, uint32_t count,
                              bl_account_t *accounts, uint32_t *found, uint32_t *status) {
    return bl_client_request(client, BL_OP_LOOKUP_ACCOUNTS, ids, count, accounts,
                             count * (uint32_t)sizeof(*accounts), found, status);
}

int bl_client_lookup_transfers(bl_client_t *client, const bl_u128_t *ids, uint32_t count,
                               bl_transfer_t *transfers, uint32_t *found, uint32_t *status) {
    return bl_client_request(client, BL_OP_LOOKUP_TRANSFERS, ids, count, transfers,
                             count * (uint32_t)sizeof(*transfers), found, status);
}

/* A filter op's reply holds at most the filter's limit, never above BL_FILTER_LIMIT_MAX. */
static int bl_client_filter(bl_client_t *client, uint16_t op, const void *filter, uint32_t limit,
                            void *reply, uint32_t *count, uint32_t *status) {
    if (limit > BL_FILTER_LIMIT_MAX) limit = BL_FILTER_LIMIT_MAX;
    return bl_client_request(client, op, filter, 1, reply, limit * 128u, count, status);
}

int bl_client_get_account_transfers(bl_client_t *client, const bl_account_filter_t *filter,
                                    bl_transfer_t *transfers, uint32_t *count, uint32_t *status) {
    return bl_client_filter(client, BL_OP_GET_ACCOUNT_TRANSFERS, filter, filter->limit, transfers,
                            count, status);
}

int bl_client_get_account_balances(bl_client_t *client, const bl_account_filter_t *filter,
                                   bl_account_balance_t *balances, uint32_t *count,
                                   uint32_t *status) {
    return bl_client_filter(client, BL_OP_GET_ACCOUNT_BALANCES, filter, filter->limit, balances,
                            count, status);
}

int bl_client_query_accounts(bl_client_t *client, const bl_query_filter_t *filter,
                             bl_account_t *accounts, uint32_t *count, uint32_t *status) {
    return bl_client_filter(client, BL_OP_QUERY_ACCOUNTS, filter, filter->limit, accounts, count,
                            status);
}

int bl_client_query_transfers(bl_client_t *client, const bl_query_filter_t *filter,
                              bl_transfer_t *transfers, uint32_t *count, uint32_t *status) {
    return bl_client_filter(client, BL_OP_QUERY_TRANSFERS, filter, filter->limit, transfers, count,
                            status);
}

int bl_client_lookup_blocks(bl_client_t *client, const uint64_t *heights, uint32_t count,
                            bl_block_header_t *headers, uint32_t *found, uint32_t *status) {
    return bl_client_request(client, BL_OP_LOOKUP_BLOCKS, heights, count, headers,
                             count * (uint32_t)sizeof(*headers), found, status);
}

int bl_client_blocks_verify(const bl_block_header_t *headers, uint32_t count, uint32_t *broken) {
    static const uint8_t zeros[32];
    for (uint32_t i = 0; i < count; i++) {
        const bl_block_header_t *h = &headers[i];
        bool ok =
            h->height != 0 && (h->height != 1 || memcmp(h->prev_hash, zeros, BL_HASH_SIZE) == 0);
        if (ok && i > 0) {
            const bl_block_header_t *prev = &headers[i - 1];
            ok = h->height == prev->height + 1 && h->timestamp > prev->timestamp &&
                 memcmp(h->prev_hash, prev->hash, BL_HASH_SIZE) == 0;
        }
        if (!ok) {
            if (broken != NULL) *broken = i;
            return -EBADMSG;
        }
    }
    return 0;
}
