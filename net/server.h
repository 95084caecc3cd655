/*
 * The TCP server: PROTOCOL.md over TCP in front of a node (node/node.h).
 *
 * One thread runs the server (bl_server_run): it accepts, reads and checks frames, submits
 * requests to the node, and writes replies in each connection's request order. Limits:
 *   - BL_PIPELINE_REQUESTS_MAX requests in flight per connection; past that the server stops
 *     reading the connection until replies drain (back-pressure, not buffering);
 *   - connection_bytes_max bytes of requests and replies held by one connection; past that
 *     the server stops reading it until its replies drain;
 *   - request_bytes_max bytes held server-wide; past that the connections holding more than
 *     their share (request_bytes_max / open connections) are not read; the others are;
 *   - a connection whose complete replies cannot be written (it does not read them) for
 *     write_timeout_ns, with no byte going out, is closed;
 *   - a few lookups and filter reads per connection at the node, and a few in all, taken by
 *     turns across connections (server.c): a costly read delays others by its own time;
 *   - connections_max connections, and connections_per_address_max from one peer address;
 *     past either a new connection is answered one busy frame (request_id 0, op 0) and
 *     closed;
 *   - a frame must arrive whole within frame_timeout_ns of its first byte, and a connection
 *     with nothing in flight is closed after idle_timeout_ns (slow and half-open clients).
 * Frame errors follow PROTOCOL.md: after bad_magic, bad_version, bad_header_checksum and
 * body_too_large the server answers every earlier request, sends the error, shuts down its
 * sending side and closes; after the others it skips the body and goes on.
 */
#ifndef BALLAST_NET_SERVER_H
#define BALLAST_NET_SERVER_H

#include <stdint.h>

#include "node/node.h"

#define BL_SERVER_CONNECTIONS_MAX_DEFAULT 4096u
#define BL_SERVER_REQUEST_BYTES_MAX_DEFAULT (512ull << 20)
#define BL_SERVER_FRAME_TIMEOUT_NS_DEFAULT (30ull * 1000000000ull)
#define BL_SERVER_IDLE_TIMEOUT_NS_DEFAULT (600ull * 1000000000ull)
/* A client that reads its replies drains a full socket buffer in far less. */
#define BL_SERVER_WRITE_TIMEOUT_NS_DEFAULT (30ull * 1000000000ull)
/* Default connection_bytes_max: this fraction of request_bytes_max (64 MiB of the default
 * 512 MiB: 64 pipelined 8,192-event create requests fit, 1 MiB each; eight such connections
 * fill the total, and a ninth still gets its share). */
#define BL_SERVER_CONNECTION_BYTES_SHARE 8u
/* One host may hold a quarter of the default connections_max. */
#define BL_SERVER_CONNECTIONS_PER_ADDRESS_MAX_DEFAULT 1024u

typedef struct bl_server_config {
    const char *host; /* IPv4 or IPv6 literal, or a name; NULL: 127.0.0.1 */
    uint16_t port;    /* 0: pick a free port (bl_server_port tells which) */
    bl_node_t *node;
    uint32_t connections_max;      /* 0: default */
    uint64_t request_bytes_max;    /* 0: default */
    uint64_t frame_timeout_ns;     /* 0: default */
    uint64_t idle_timeout_ns;      /* 0: default */
    uint64_t write_timeout_ns;     /* 0: default */
    uint64_t connection_bytes_max; /* 0: request_bytes_max / BL_SERVER_CONNECTION_BYTES_SHARE;
                                      at most request_bytes_max */
    uint32_t connections_per_address_max; /* 0: default; at most connections_max */
} bl_server_config_t;

typedef struct bl_server bl_server_t;

/* Binds and listens. 0 or -errno. */
int bl_server_open(bl_server_t **server, const bl_server_config_t *config);
uint16_t bl_server_port(const bl_server_t *server);

/* Serves until bl_server_stop; then stops accepting and reading, finishes every request
 * taken (replies included, for up to 10 s), closes every connection and returns 0. */
int bl_server_run(bl_server_t *server);

/* Asks bl_server_run to finish. Async-signal-safe; any thread. */
void bl_server_stop(bl_server_t *server);

void bl_server_close(bl_server_t *server);

#endif /* BALLAST_NET_SERVER_H */
