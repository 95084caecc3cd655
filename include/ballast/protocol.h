/*
 * Ballast wire protocol, version 1: the record types, flags, operations, frame header, frame
 * errors and result codes of PROTOCOL.md, byte for byte.
 *
 * Every struct here is the exact wire layout on a little-endian host: the static assertions
 * at the end pin every size and field offset, so a record can be copied to and from the wire
 * with memcpy. Amounts and ids are unsigned 128-bit integers (bl_u128_t), low 8 bytes first.
 *
 * Names, sizes and limits are declared once here (the X-macro lists) and used by the engine,
 * the server, the client, the CLI and the tests alike.
 */
#ifndef BALLAST_PROTOCOL_H
#define BALLAST_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ballast records are little-endian on the wire and in memory"
#endif

typedef unsigned __int128 bl_u128_t;

#define BL_U128_MAX (~(bl_u128_t)0)

/* ------------------------------------------------------------------------------------------ */
/* Limits.                                                                                    */

#define BL_PROTOCOL_VERSION 1
#define BL_PORT_DEFAULT 3410
#define BL_FRAME_HEADER_SIZE 64
#define BL_FRAME_BODY_SIZE_MAX (1024u * 1024u)
#define BL_BATCH_EVENTS_MAX 8192u    /* events of one create or lookup request */
#define BL_FILTER_LIMIT_MAX 8192u    /* AccountFilter.limit, QueryFilter.limit */
#define BL_PIPELINE_REQUESTS_MAX 64u /* requests in flight per connection */
#define BL_NS_PER_S 1000000000ull
#define BL_RECORD_SIZE 128u /* Account, Transfer, filters, BlockHeader, ServerStatus */
#define BL_HASH_SIZE 32u    /* BLAKE2b-256: a block's hash and prev_hash */

/* ------------------------------------------------------------------------------------------ */
/* Operations: code, name, request record size (0: empty body), reply record size.            */

#define BL_OPS(X)                                                 \
    X(1, PING, ping, 0, 0)                                        \
    X(2, STATUS, status, 0, 128)                                  \
    X(16, CREATE_ACCOUNTS, create_accounts, 128, 8)               \
    X(17, CREATE_TRANSFERS, create_transfers, 128, 8)             \
    X(18, LOOKUP_ACCOUNTS, lookup_accounts, 16, 128)              \
    X(19, LOOKUP_TRANSFERS, lookup_transfers, 16, 128)            \
    X(20, GET_ACCOUNT_TRANSFERS, get_account_transfers, 128, 128) \
    X(21, GET_ACCOUNT_BALANCES, get_account_balances, 128, 128)   \
    X(22, QUERY_ACCOUNTS, query_accounts, 128, 128)               \
    X(23, QUERY_TRANSFERS, query_transfers, 128, 128)             \
    X(24, LOOKUP_BLOCKS, lookup_blocks, 8, 128)

typedef enum bl_op {
#define BL_OP_ENUM(code, upper, lower, req_size, reply_size) BL_OP_##upper = code,
    BL_OPS(BL_OP_ENUM)
#undef BL_OP_ENUM
} bl_op_t;

/* ------------------------------------------------------------------------------------------ */
/* Frame errors (the frame header's status field in replies).                                 */

#define BL_FRAME_STATUSES(X)                       \
    X(0, OK, ok)                                   \
    X(1, BAD_MAGIC, bad_magic)                     \
    X(2, BAD_VERSION, bad_version)                 \
    X(3, BAD_HEADER_CHECKSUM, bad_header_checksum) \
    X(4, BODY_TOO_LARGE, body_too_large)           \
    X(5, BAD_BODY_CHECKSUM, bad_body_checksum)     \
    X(6, BAD_OP, bad_op)                           \
    X(7, BAD_BODY_SIZE, bad_body_size)             \
    X(8, TOO_MANY_EVENTS, too_many_events)         \
    X(9, RESERVED_NONZERO, reserved_nonzero)       \
    X(10, BUSY, busy)                              \
    X(11, READ_ONLY, read_only)                    \
    X(12, SHUTTING_DOWN, shutting_down)

typedef enum bl_frame_status {
#define BL_FRAME_STATUS_ENUM(code, upper, lower) BL_FRAME_##upper = code,
    BL_FRAME_STATUSES(BL_FRAME_STATUS_ENUM)
#undef BL_FRAME_STATUS_ENUM
} bl_frame_status_t;

/* ------------------------------------------------------------------------------------------ */
/* Result codes of create_accounts, in precedence order.                                      */

#define BL_CREATE_ACCOUNT_RESULTS(X)                                  \
    X(0, OK, ok)                                                      \
    X(1, LINKED_EVENT_FAILED, linked_event_failed)                    \
    X(2, LINKED_EVENT_CHAIN_OPEN, linked_event_chain_open)            \
    X(3, TIMESTAMP_MUST_BE_ZERO, timestamp_must_be_zero)              \
    X(4, RESERVED_FIELD, reserved_field)                              \
    X(5, RESERVED_FLAG, reserved_flag)                                \
    X(6, ID_MUST_NOT_BE_ZERO, id_must_not_be_zero)                    \
    X(7, ID_MUST_NOT_BE_INT_MAX, id_must_not_be_int_max)              \
    X(8, FLAGS_ARE_MUTUALLY_EXCLUSIVE, flags_are_mutually_exclusive)  \
    X(9, BALANCES_MUST_BE_ZERO, balances_must_be_zero)                \
    X(10, LEDGER_MUST_NOT_BE_ZERO, ledger_must_not_be_zero)           \
    X(11, CODE_MUST_NOT_BE_ZERO, code_must_not_be_zero)               \
    X(12, EXISTS_WITH_DIFFERENT_FIELDS, exists_with_different_fields) \
    X(13, EXISTS, exists)                                             \
    X(14, CAPACITY_EXHAUSTED, capacity_exhausted)

typedef enum bl_create_account_result {
#define BL_CAR_ENUM(code, upper, lower) BL_CREATE_ACCOUNT_##upper = code,
    BL_CREATE_ACCOUNT_RESULTS(BL_CAR_ENUM)
#undef BL_CAR_ENUM
} bl_create_account_result_t;

/* ------------------------------------------------------------------------------------------ */
/* Result codes of create_transfers, in precedence order for plain and pending transfers.     */

#define BL_CREATE_TRANSFER_RESULTS(X)                                                   \
    X(0, OK, ok)                                                                        \
    X(1, LINKED_EVENT_FAILED, linked_event_failed)                                      \
    X(2, LINKED_EVENT_CHAIN_OPEN, linked_event_chain_open)                              \
    X(3, TIMESTAMP_MUST_BE_ZERO, timestamp_must_be_zero)                                \
    X(4, RESERVED_FLAG, reserved_flag)                                                  \
    X(5, ID_MUST_NOT_BE_ZERO, id_must_not_be_zero)                                      \
    X(6, ID_MUST_NOT_BE_INT_MAX, id_must_not_be_int_max)                                \
    X(7, FLAGS_ARE_MUTUALLY_EXCLUSIVE, flags_are_mutually_exclusive)                    \
    X(8, DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO, debit_account_id_must_not_be_zero)          \
    X(9, DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX, debit_account_id_must_not_be_int_max)    \
    X(10, CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO, credit_account_id_must_not_be_zero)       \
    X(11, CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX, credit_account_id_must_not_be_int_max) \
    X(12, ACCOUNTS_MUST_BE_DIFFERENT, accounts_must_be_different)                       \
    X(13, PENDING_ID_MUST_BE_ZERO, pending_id_must_be_zero)                             \
    X(14, PENDING_ID_MUST_NOT_BE_ZERO, pending_id_must_not_be_zero)                     \
    X(15, PENDING_ID_MUST_NOT_BE_INT_MAX, pending_id_must_not_be_int_max)               \
    X(16, PENDING_ID_MUST_BE_DIFFERENT, pending_id_must_be_different)                   \
    X(17, TIMEOUT_RESERVED_FOR_PENDING_TRANSFER, timeout_reserved_for_pending_transfer) \
    X(18, AMOUNT_MUST_NOT_BE_ZERO, amount_must_not_be_zero)                             \
    X(19, LEDGER_MUST_NOT_BE_ZERO, ledger_must_not_be_zero)                             \
    X(20, CODE_MUST_NOT_BE_ZERO, code_must_not_be_zero)                                 \
    X(21, EXISTS_WITH_DIFFERENT_FIELDS, exists_with_different_fields)                   \
    X(22, EXISTS, exists)                                                               \
    X(23, DEBIT_ACCOUNT_NOT_FOUND, debit_account_not_found)                             \
    X(24, CREDIT_ACCOUNT_NOT_FOUND, credit_account_not_found)                           \
    X(25, ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER, accounts_must_have_the_same_ledger)       \
    X(26, TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS,                               \
      transfer_must_have_the_same_ledger_as_accounts)                                   \
    X(27, PENDING_TRANSFER_NOT_FOUND, pending_transfer_not_found)                       \
    X(28, PENDING_TRANSFER_NOT_PENDING, pending_transfer_not_pending)                   \
    X(29, PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID,                              \
      pending_transfer_has_different_debit_account_id)                                  \
    X(30, PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID,                             \
      pending_transfer_has_different_credit_account_id)                                 \
    X(31, PENDING_TRANSFER_HAS_DIFFERENT_LEDGER, pending_transfer_has_different_ledger) \
    X(32, PENDING_TRANSFER_HAS_DIFFERENT_CODE, pending_transfer_has_different_code)     \
    X(33, EXCEEDS_PENDING_TRANSFER_AMOUNT, exceeds_pending_transfer_amount)             \
    X(34, PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT, pending_transfer_has_different_amount) \
    X(35, PENDING_TRANSFER_ALREADY_POSTED, pending_transfer_already_posted)             \
    X(36, PENDING_TRANSFER_ALREADY_VOIDED, pending_transfer_already_voided)             \
    X(37, PENDING_TRANSFER_EXPIRED, pending_transfer_expired)                           \
    X(38, OVERFLOWS_DEBITS_PENDING, overflows_debits_pending)                           \
    X(39, OVERFLOWS_CREDITS_PENDING, overflows_credits_pending)                         \
    X(40, OVERFLOWS_DEBITS_POSTED, overflows_debits_posted)                             \
    X(41, OVERFLOWS_CREDITS_POSTED, overflows_credits_posted)                           \
    X(42, OVERFLOWS_DEBITS, overflows_debits)                                           \
    X(43, OVERFLOWS_CREDITS, overflows_credits)                                         \
    X(44, OVERFLOWS_TIMEOUT, overflows_timeout)                                         \
    X(45, EXCEEDS_CREDITS, exceeds_credits)                                             \
    X(46, EXCEEDS_DEBITS, exceeds_debits)                                               \
    X(47, CAPACITY_EXHAUSTED, capacity_exhausted)

typedef enum bl_create_transfer_result {
#define BL_CTR_ENUM(code, upper, lower) BL_CREATE_TRANSFER_##upper = code,
    BL_CREATE_TRANSFER_RESULTS(BL_CTR_ENUM)
#undef BL_CTR_ENUM
} bl_create_transfer_result_t;

/* ------------------------------------------------------------------------------------------ */
/* Flags.                                                                                     */

enum {
    BL_ACCOUNT_LINKED = 1u << 0,
    BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS = 1u << 1,
    BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS = 1u << 2,
    BL_ACCOUNT_HISTORY = 1u << 3,
    BL_ACCOUNT_FLAGS_KNOWN = 0xFu,
};

enum {
    BL_TRANSFER_LINKED = 1u << 0,
    BL_TRANSFER_PENDING = 1u << 1,
    BL_TRANSFER_POST_PENDING = 1u << 2,
    BL_TRANSFER_VOID_PENDING = 1u << 3,
    BL_TRANSFER_FLAGS_KNOWN = 0xFu,
};

enum {
    BL_FILTER_DEBITS = 1u << 0,
    BL_FILTER_CREDITS = 1u << 1,
    BL_FILTER_REVERSED = 1u << 2,
    BL_ACCOUNT_FILTER_FLAGS_KNOWN = 0x7u,
};

enum {
    BL_QUERY_REVERSED = 1u << 0,
    BL_QUERY_FILTER_FLAGS_KNOWN = 0x1u,
};

/* The byte that follows a resolved pending transfer's id in the state digest. */
enum {
    BL_PENDING_DIGEST_POSTED = 1,
    BL_PENDING_DIGEST_VOIDED = 2,
    BL_PENDING_DIGEST_EXPIRED = 3,
};

/* ------------------------------------------------------------------------------------------ */
/* Records.                                                                                   */

typedef struct bl_frame_header {
    uint8_t magic[4]; /* "BLST" */
    uint16_t version;
    uint16_t op;
    uint64_t request_id;
    uint32_t body_size;
    uint32_t count;
    uint32_t status;
    uint32_t reserved0;
    uint8_t reserved1[16];
    uint64_t body_checksum;
    uint64_t header_checksum;
} bl_frame_header_t;

typedef struct bl_event_result {
    uint32_t index;
    uint32_t result;
} bl_event_result_t;

typedef struct bl_account {
    bl_u128_t id;
    bl_u128_t debits_pending;
    bl_u128_t debits_posted;
    bl_u128_t credits_pending;
    bl_u128_t credits_posted;
    bl_u128_t user_data_128;
    uint64_t user_data_64;
    uint32_t user_data_32;
    uint32_t ledger;
    uint16_t code;
    uint16_t flags;
    uint32_t reserved;
    uint64_t timestamp;
} bl_account_t;

typedef struct bl_transfer {
    bl_u128_t id;
    bl_u128_t debit_account_id;
    bl_u128_t credit_account_id;
    bl_u128_t amount;
    bl_u128_t pending_id;
    bl_u128_t user_data_128;
    uint64_t user_data_64;
    uint32_t user_data_32;
    uint32_t timeout; /* seconds */
    uint32_t ledger;
    uint16_t code;
    uint16_t flags;
    uint64_t timestamp;
} bl_transfer_t;

typedef struct bl_account_filter {
    bl_u128_t account_id;
    bl_u128_t user_data_128;
    uint64_t user_data_64;
    uint32_t user_data_32;
    uint16_t code;
    uint16_t reserved0;
    uint64_t timestamp_min;
    uint64_t timestamp_max;
    uint32_t limit;
    uint32_t flags;
    uint8_t reserved1[56];
} bl_account_filter_t;

typedef struct bl_query_filter {
    bl_u128_t user_data_128;
    uint64_t user_data_64;
    uint32_t user_data_32;
    uint32_t ledger;
    uint16_t code;
    uint8_t reserved0[6];
    uint64_t timestamp_min;
    uint64_t timestamp_max;
    uint32_t limit;
    uint32_t flags;
    uint8_t reserved1[64];
} bl_query_filter_t;

typedef struct bl_account_balance {
    bl_u128_t debits_pending;
    bl_u128_t debits_posted;
    bl_u128_t credits_pending;
    bl_u128_t credits_posted;
    uint64_t timestamp;
    uint8_t reserved[56];
} bl_account_balance_t;

typedef struct bl_block_header {
    uint64_t height;
    uint64_t timestamp;
    uint32_t request_count;
    uint32_t event_count;
    uint64_t reserved0;
    uint8_t prev_hash[BL_HASH_SIZE];
    uint8_t hash[BL_HASH_SIZE];
    uint8_t reserved1[32];
} bl_block_header_t;

typedef struct bl_server_status {
    uint32_t protocol_version;
    uint32_t partitions;
    uint64_t block_height;
    uint64_t accounts_count;
    uint64_t transfers_count;
    uint64_t checkpoint_height;
    uint64_t uptime_ns;
    bl_u128_t state_digest;
    uint8_t reserved[64];
} bl_server_status_t;

/* ------------------------------------------------------------------------------------------ */
/* Name tables (for logs, the CLI and test output). Unknown codes give NULL.                  */

static inline const char *bl_op_name(uint32_t op) {
    switch (op) {
#define BL_OP_NAME(code, upper, lower, req_size, reply_size) \
    case code:                                               \
        return #lower;
        BL_OPS(BL_OP_NAME)
#undef BL_OP_NAME
    }
    return NULL;
}

/* Size of one request record of an op; 0 for ops with an empty body; -1 for unknown ops. */
static inline int bl_op_request_record_size(uint32_t op) {
    switch (op) {
#define BL_OP_REQ(code, upper, lower, req_size, reply_size) \
    case code:                                              \
        return req_size;
        BL_OPS(BL_OP_REQ)
#undef BL_OP_REQ
    }
    return -1;
}

/* The ops whose body is one filter and whose reply holds up to the filter's limit. */
static inline bool bl_op_is_filter(uint32_t op) {
    return op >= BL_OP_GET_ACCOUNT_TRANSFERS && op <= BL_OP_QUERY_TRANSFERS;
}

static inline int bl_op_reply_record_size(uint32_t op) {
    switch (op) {
#define BL_OP_REPLY(code, upper, lower, req_size, reply_size) \
    case code:                                                \
        return reply_size;
        BL_OPS(BL_OP_REPLY)
#undef BL_OP_REPLY
    }
    return -1;
}

static inline const char *bl_frame_status_name(uint32_t status) {
    switch (status) {
#define BL_FS_NAME(code, upper, lower) \
    case code:                         \
        return #lower;
        BL_FRAME_STATUSES(BL_FS_NAME)
#undef BL_FS_NAME
    }
    return NULL;
}

static inline const char *bl_create_account_result_name(uint32_t result) {
    switch (result) {
#define BL_CAR_NAME(code, upper, lower) \
    case code:                          \
        return #lower;
        BL_CREATE_ACCOUNT_RESULTS(BL_CAR_NAME)
#undef BL_CAR_NAME
    }
    return NULL;
}

static inline const char *bl_create_transfer_result_name(uint32_t result) {
    switch (result) {
#define BL_CTR_NAME(code, upper, lower) \
    case code:                          \
        return #lower;
        BL_CREATE_TRANSFER_RESULTS(BL_CTR_NAME)
#undef BL_CTR_NAME
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Layout checks: every wire size and offset of PROTOCOL.md.                                  */

#define BL_LAYOUT(type, field, offset) \
    _Static_assert(offsetof(type, field) == (offset), #type "." #field " offset")

_Static_assert(sizeof(bl_u128_t) == 16, "u128 size");
_Static_assert(sizeof(bl_frame_header_t) == BL_FRAME_HEADER_SIZE, "frame header size");
BL_LAYOUT(bl_frame_header_t, magic, 0);
BL_LAYOUT(bl_frame_header_t, version, 4);
BL_LAYOUT(bl_frame_header_t, op, 6);
BL_LAYOUT(bl_frame_header_t, request_id, 8);
BL_LAYOUT(bl_frame_header_t, body_size, 16);
BL_LAYOUT(bl_frame_header_t, count, 20);
BL_LAYOUT(bl_frame_header_t, status, 24);
BL_LAYOUT(bl_frame_header_t, reserved0, 28);
BL_LAYOUT(bl_frame_header_t, reserved1, 32);
BL_LAYOUT(bl_frame_header_t, body_checksum, 48);
BL_LAYOUT(bl_frame_header_t, header_checksum, 56);

_Static_assert(sizeof(bl_event_result_t) == 8, "EventResult size");
BL_LAYOUT(bl_event_result_t, index, 0);
BL_LAYOUT(bl_event_result_t, result, 4);

_Static_assert(sizeof(bl_account_t) == BL_RECORD_SIZE, "Account size");
BL_LAYOUT(bl_account_t, id, 0);
BL_LAYOUT(bl_account_t, debits_pending, 16);
BL_LAYOUT(bl_account_t, debits_posted, 32);
BL_LAYOUT(bl_account_t, credits_pending, 48);
BL_LAYOUT(bl_account_t, credits_posted, 64);
BL_LAYOUT(bl_account_t, user_data_128, 80);
BL_LAYOUT(bl_account_t, user_data_64, 96);
BL_LAYOUT(bl_account_t, user_data_32, 104);
BL_LAYOUT(bl_account_t, ledger, 108);
BL_LAYOUT(bl_account_t, code, 112);
BL_LAYOUT(bl_account_t, flags, 114);
BL_LAYOUT(bl_account_t, reserved, 116);
BL_LAYOUT(bl_account_t, timestamp, 120);

_Static_assert(sizeof(bl_transfer_t) == BL_RECORD_SIZE, "Transfer size");
BL_LAYOUT(bl_transfer_t, id, 0);
BL_LAYOUT(bl_transfer_t, debit_account_id, 16);
BL_LAYOUT(bl_transfer_t, credit_account_id, 32);
BL_LAYOUT(bl_transfer_t, amount, 48);
BL_LAYOUT(bl_transfer_t, pending_id, 64);
BL_LAYOUT(bl_transfer_t, user_data_128, 80);
BL_LAYOUT(bl_transfer_t, user_data_64, 96);
BL_LAYOUT(bl_transfer_t, user_data_32, 104);
BL_LAYOUT(bl_transfer_t, timeout, 108);
BL_LAYOUT(bl_transfer_t, ledger, 112);
BL_LAYOUT(bl_transfer_t, code, 116);
BL_LAYOUT(bl_transfer_t, flags, 118);
BL_LAYOUT(bl_transfer_t, timestamp, 120);

_Static_assert(sizeof(bl_account_filter_t) == BL_RECORD_SIZE, "AccountFilter size");
BL_LAYOUT(bl_account_filter_t, account_id, 0);
BL_LAYOUT(bl_account_filter_t, user_data_128, 16);
BL_LAYOUT(bl_account_filter_t, user_data_64, 32);
BL_LAYOUT(bl_account_filter_t, user_data_32, 40);
BL_LAYOUT(bl_account_filter_t, code, 44);
BL_LAYOUT(bl_account_filter_t, reserved0, 46);
BL_LAYOUT(bl_account_filter_t, timestamp_min, 48);
BL_LAYOUT(bl_account_filter_t, timestamp_max, 56);
BL_LAYOUT(bl_account_filter_t, limit, 64);
BL_LAYOUT(bl_account_filter_t, flags, 68);
BL_LAYOUT(bl_account_filter_t, reserved1, 72);

_Static_assert(sizeof(bl_query_filter_t) == BL_RECORD_SIZE, "QueryFilter size");
BL_LAYOUT(bl_query_filter_t, user_data_128, 0);
BL_LAYOUT(bl_query_filter_t, user_data_64, 16);
BL_LAYOUT(bl_query_filter_t, user_data_32, 24);
BL_LAYOUT(bl_query_filter_t, ledger, 28);
BL_LAYOUT(bl_query_filter_t, code, 32);
BL_LAYOUT(bl_query_filter_t, reserved0, 34);
BL_LAYOUT(bl_query_filter_t, timestamp_min, 40);
BL_LAYOUT(bl_query_filter_t, timestamp_max, 48);
BL_LAYOUT(bl_query_filter_t, limit, 56);
BL_LAYOUT(bl_query_filter_t, flags, 60);
BL_LAYOUT(bl_query_filter_t, reserved1, 64);

_Static_assert(sizeof(bl_account_balance_t) == BL_RECORD_SIZE, "AccountBalance size");
BL_LAYOUT(bl_account_balance_t, debits_pending, 0);
BL_LAYOUT(bl_account_balance_t, debits_posted, 16);
BL_LAYOUT(bl_account_balance_t, credits_pending, 32);
BL_LAYOUT(bl_account_balance_t, credits_posted, 48);
BL_LAYOUT(bl_account_balance_t, timestamp, 64);
BL_LAYOUT(bl_account_balance_t, reserved, 72);

_Static_assert(sizeof(bl_block_header_t) == BL_RECORD_SIZE, "BlockHeader size");
BL_LAYOUT(bl_block_header_t, height, 0);
BL_LAYOUT(bl_block_header_t, timestamp, 8);
BL_LAYOUT(bl_block_header_t, request_count, 16);
BL_LAYOUT(bl_block_header_t, event_count, 20);
BL_LAYOUT(bl_block_header_t, reserved0, 24);
BL_LAYOUT(bl_block_header_t, prev_hash, 32);
BL_LAYOUT(bl_block_header_t, hash, 64);
BL_LAYOUT(bl_block_header_t, reserved1, 96);

_Static_assert(sizeof(bl_server_status_t) == BL_RECORD_SIZE, "ServerStatus size");
BL_LAYOUT(bl_server_status_t, protocol_version, 0);
BL_LAYOUT(bl_server_status_t, partitions, 4);
BL_LAYOUT(bl_server_status_t, block_height, 8);
BL_LAYOUT(bl_server_status_t, accounts_count, 16);
BL_LAYOUT(bl_server_status_t, transfers_count, 24);
BL_LAYOUT(bl_server_status_t, checkpoint_height, 32);
BL_LAYOUT(bl_server_status_t, uptime_ns, 40);
BL_LAYOUT(bl_server_status_t, state_digest, 48);
BL_LAYOUT(bl_server_status_t, reserved, 64);

_Static_assert(BL_FRAME_BODY_SIZE_MAX / BL_RECORD_SIZE == BL_BATCH_EVENTS_MAX,
               "8192 records fit a body");

#undef BL_LAYOUT

#endif /* BALLAST_PROTOCOL_H */
