/*
 * The ballast C client: one TCP connection to a ballast server, speaking PROTOCOL.md.
 *
 * Every function returns 0 or -errno for the connection itself (-ETIMEDOUT, -ECONNRESET,
 * -EPROTO for a reply that breaks the protocol, ...), never aborts, and reports the frame
 * status of the reply in *status (BL_FRAME_OK, or busy, read_only, a frame error...). Domain
 * outcomes are in the reply records (EventResult codes). A client is used by one thread.
 *
 * Resending is always safe: ids make creates idempotent. The client does it itself: when the
 * connection fails (reset, closed, timed out) it reconnects and resends every request that
 * has no reply yet, in order, with its request_id, up to BL_CLIENT_RETRIES_MAX times; a
 * create that had landed then reports `exists` for its events, which callers treat as
 * success.
 */
#ifndef BALLAST_CLIENT_H
#define BALLAST_CLIENT_H

#include <stdint.h>

#include "ballast/protocol.h"

typedef struct bl_client bl_client_t;

#define BL_CLIENT_RETRIES_MAX 3

/* Connects to host:port (a name or an address). timeout_ns bounds the connect and then every
 * send and receive (0: 10 s). */
int bl_client_connect(bl_client_t **client, const char *host, uint16_t port, uint64_t timeout_ns);
void bl_client_close(bl_client_t *client);

/* Sends one request (`count` records of the op's request size in `body`) and returns its
 * request_id in *request_id. Does not wait for the reply: up to 64 can be in flight (-EBUSY
 * past that: receive first). `body` must stay valid until its reply is received: it is sent
 * again if the connection has to be remade. */
int bl_client_send(bl_client_t *client, uint16_t op, const void *body, uint32_t count,
                   uint64_t *request_id);

/* Receives the next reply (replies come in request order): its request_id, status, and up to
 * reply_bytes_max bytes of body into `reply` (more: -EMSGSIZE); *reply_count records. */
int bl_client_receive(bl_client_t *client, uint64_t *request_id, uint32_t *status, void *reply,
                      uint32_t reply_bytes_max, uint32_t *reply_count);

/* How many times the connection was remade. */
uint64_t bl_client_reconnects(const bl_client_t *client);

/* send + receive. */
int bl_client_request(bl_client_t *client, uint16_t op, const void *body, uint32_t count,
                      void *reply, uint32_t reply_bytes_max, uint32_t *reply_count,
                      uint32_t *status);

int bl_client_ping(bl_client_t *client, uint32_t *status);
int bl_client_status(bl_client_t *client, bl_server_status_t *server_status, uint32_t *status);
/* Results: one EventResult per event that was not ok; room for `count`. */
int bl_client_create_accounts(bl_client_t *client, const bl_account_t *accounts, uint32_t count,
                              bl_event_result_t *results, uint32_t *results_count,
                              uint32_t *status);
int bl_client_create_transfers(bl_client_t *client, const bl_transfer_t *transfers, uint32_t count,
                               bl_event_result_t *results, uint32_t *results_count,
                               uint32_t *status);
/* Found records in request order; room for `count`. */
int bl_client_lookup_accounts(bl_client_t *client, const bl_u128_t *ids, uint32_t count,
                              bl_account_t *accounts, uint32_t *found, uint32_t *status);
int bl_client_lookup_transfers(bl_client_t *client, const bl_u128_t *ids, uint32_t count,
                               bl_transfer_t *transfers, uint32_t *found, uint32_t *status);

/* Filter ops: one filter; room for filter->limit records (BL_FILTER_LIMIT_MAX is enough). */
int bl_client_get_account_transfers(bl_client_t *client, const bl_account_filter_t *filter,
                                    bl_transfer_t *transfers, uint32_t *count, uint32_t *status);
int bl_client_get_account_balances(bl_client_t *client, const bl_account_filter_t *filter,
                                   bl_account_balance_t *balances, uint32_t *count,
                                   uint32_t *status);
int bl_client_query_accounts(bl_client_t *client, const bl_query_filter_t *filter,
                             bl_account_t *accounts, uint32_t *count, uint32_t *status);
int bl_client_query_transfers(bl_client_t *client, const bl_query_filter_t *filter,
                              bl_transfer_t *transfers, uint32_t *count, uint32_t *status);
/* Found headers in request order; room for `count`. */
int bl_client_lookup_blocks(bl_client_t *client, const uint64_t *heights, uint32_t count,
                            bl_block_header_t *headers, uint32_t *found, uint32_t *status);

/* Checks that `count` headers, in height order, form an unbroken chain: consecutive heights,
 * each prev_hash equal to the hash of the header before it, increasing timestamps, block 1
 * with a zero prev_hash. 0, or -EBADMSG with the index of the first header that breaks it in
 * *broken. (A block's hash covers its requests too: `ballast-log verify` recomputes it from
 * the log; a client holding a trusted header checks everything after it this way.) */
int bl_client_blocks_verify(const bl_block_header_t *headers, uint32_t count, uint32_t *broken);

#endif /* BALLAST_CLIENT_H */
