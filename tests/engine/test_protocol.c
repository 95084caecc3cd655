/*
 * Protocol vectors: checks the bytes of /work/shared/vectors/protocol-v1.json (path in env
 * BL_VECTORS) against common/hash.h, the record layouts of include/ballast/protocol.h, frame
 * encoding and decoding, the block hash (BLAKE2b-256 through libsodium) and the engine's state
 * digest. Also checks the name and size tables of protocol.h. Every hex value is decoded into
 * bytes (tests/common/vectors.h) and compared byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "ballast/protocol.h"
#include "common/hash.h"
#include "engine/engine.h"
#include "tests/common/vectors.h"

/* A big-endian hex field read as an unsigned integer (up to 128 bits). */
static bl_u128_t vector_be_u128(const char *name, const char *field) {
    uint8_t bytes[16];
    size_t size = vector_bytes(name, field, bytes, sizeof(bytes));
    assert_true(size == 8 || size == 16);
    bl_u128_t value = 0;
    for (size_t i = 0; i < size; i++) {
        value = value << 8 | bytes[i];
    }
    return value;
}

static void assert_u128(bl_u128_t got, bl_u128_t want) {
    if (got != want) {
        fail_msg("0x%016llx%016llx != 0x%016llx%016llx", (unsigned long long)(uint64_t)(got >> 64),
                 (unsigned long long)(uint64_t)got, (unsigned long long)(uint64_t)(want >> 64),
                 (unsigned long long)(uint64_t)want);
    }
}

static int group_setup(void **state) {
    if (vectors_open("test_protocol") != 0) {
        return -1;
    }
    if (sodium_init() < 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    vectors_close();
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Hashes.                                                                                    */

static void test_vectors_scanner(void **state) {
    /* The scanner finds every vector the file names and rejects a missing one. */
    const char *start, *end;
    assert_true(vector_find("xxh3_64_len0", &start, &end));
    assert_true(end > start);
    assert_false(vector_find("no_such_vector", &start, &end));
    size_t names = 0;
    for (const char *at = g_vectors; (at = strstr(at, "\"name\":")) != NULL; at++) {
        names++;
    }
    assert_int_equal(names, 17);
}

static void test_xxh3_64(void **state) {
    static const char *const names[] = {"xxh3_64_len0",  "xxh3_64_len1",   "xxh3_64_len3",
                                        "xxh3_64_len16", "xxh3_64_len200", "xxh3_64_len1000"};
    static const size_t sizes[] = {0, 1, 3, 16, 200, 1000};
    static uint8_t input[HEX_BYTES_MAX];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t size = vector_bytes(names[i], "input", input, sizeof(input));
        assert_int_equal(size, sizes[i]);
        uint64_t want = (uint64_t)vector_be_u128(names[i], "xxh3_64");
        assert_int_equal(bl_hash64(input, size), want);
    }
    /* bl_hash_id is XXH3-64 of the id's 16 little-endian bytes. */
    bl_u128_t id = ((bl_u128_t)0x0f0e0d0c0b0a0908ull << 64) | 0x0706050403020100ull;
    size_t size = vector_bytes("xxh3_64_len16", "input", input, sizeof(input));
    assert_int_equal(size, 16);
    assert_memory_equal(&id, input, 16);
    assert_int_equal(bl_hash_id(id), (uint64_t)vector_be_u128("xxh3_64_len16", "xxh3_64"));
}

static void test_xxh3_128(void **state) {
    static const char *const names[] = {"xxh3_128_len0", "xxh3_128_len17", "xxh3_128_len129"};
    static const size_t sizes[] = {0, 17, 129};
    static uint8_t input[HEX_BYTES_MAX];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t size = vector_bytes(names[i], "input", input, sizeof(input));
        assert_int_equal(size, sizes[i]);
        bl_u128_t got = bl_hash128(input, size);
        assert_u128(got, vector_be_u128(names[i], "xxh3_128_hex"));
        uint8_t le[16];
        assert_int_equal(vector_bytes(names[i], "xxh3_128_le_bytes", le, sizeof(le)), 16);
        assert_memory_equal(&got, le, 16);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Records.                                                                                   */

static const bl_u128_t ID_0102 = ((bl_u128_t)0x0102030405060708ull << 64) | 0x090a0b0c0d0e0f10ull;

/* The account the vectors describe: id=0x0102..0f10, user_data_128=7, user_data_64=8,
 * user_data_32=9, ledger=840, code=1, flags=debits_must_not_exceed_credits. */
static bl_account_t vector_account(void) {
    bl_account_t a;
    memset(&a, 0, sizeof(a));
    a.id = ID_0102;
    a.user_data_128 = 7;
    a.user_data_64 = 8;
    a.user_data_32 = 9;
    a.ledger = 840;
    a.code = 1;
    a.flags = BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS;
    return a;
}

static void test_account_record(void **state) {
    uint8_t bytes[128];
    assert_int_equal(vector_bytes("account_record", "record", bytes, sizeof(bytes)), 128);
    bl_account_t decoded;
    memcpy(&decoded, bytes, sizeof(decoded));
    assert_u128(decoded.id, ID_0102);
    assert_u128(decoded.debits_pending, 0);
    assert_u128(decoded.debits_posted, 0);
    assert_u128(decoded.credits_pending, 0);
    assert_u128(decoded.credits_posted, 0);
    assert_u128(decoded.user_data_128, 7);
    assert_int_equal(decoded.user_data_64, 8);
    assert_int_equal(decoded.user_data_32, 9);
    assert_int_equal(decoded.ledger, 840);
    assert_int_equal(decoded.code, 1);
    assert_int_equal(decoded.flags, BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS);
    assert_int_equal(decoded.reserved, 0);
    assert_int_equal(decoded.timestamp, 0);

    bl_account_t encoded = vector_account();
    assert_memory_equal(&encoded, bytes, 128);
}

static void test_transfer_record(void **state) {
    uint8_t bytes[128];
    assert_int_equal(vector_bytes("transfer_record", "record", bytes, sizeof(bytes)), 128);
    bl_transfer_t decoded;
    memcpy(&decoded, bytes, sizeof(decoded));
    bl_u128_t id = ((bl_u128_t)1 << 64) + 5;
    bl_u128_t amount = ((bl_u128_t)1 << 100) + 12345;
    assert_u128(decoded.id, id);
    assert_u128(decoded.debit_account_id, ID_0102);
    assert_u128(decoded.credit_account_id, 2);
    assert_u128(decoded.amount, amount);
    assert_u128(decoded.pending_id, 0);
    assert_u128(decoded.user_data_128, 0);
    assert_int_equal(decoded.user_data_64, 99);
    assert_int_equal(decoded.user_data_32, 0);
    assert_int_equal(decoded.timeout, 30);
    assert_int_equal(decoded.ledger, 840);
    assert_int_equal(decoded.code, 7);
    assert_int_equal(decoded.flags, BL_TRANSFER_PENDING);
    assert_int_equal(decoded.timestamp, 0);

    bl_transfer_t encoded;
    memset(&encoded, 0, sizeof(encoded));
    encoded.id = id;
    encoded.debit_account_id = ID_0102;
    encoded.credit_account_id = 2;
    encoded.amount = amount;
    encoded.user_data_64 = 99;
    encoded.timeout = 30;
    encoded.ledger = 840;
    encoded.code = 7;
    encoded.flags = BL_TRANSFER_PENDING;
    assert_memory_equal(&encoded, bytes, 128);
}

/* ------------------------------------------------------------------------------------------ */
/* Frames.                                                                                    */

/* Encodes a frame: header fields, body_checksum over the body, header_checksum over bytes
 * 0..55, then the body. Returns the frame size. */
static size_t frame_encode(uint8_t *out, uint16_t op, uint64_t request_id, uint32_t count,
                           uint32_t status, const void *body, uint32_t body_size) {
    bl_frame_header_t h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, "BLST", 4);
    h.version = BL_PROTOCOL_VERSION;
    h.op = op;
    h.request_id = request_id;
    h.body_size = body_size;
    h.count = count;
    h.status = status;
    h.body_checksum = bl_hash64(body, body_size);
    h.header_checksum = bl_hash64(&h, offsetof(bl_frame_header_t, header_checksum));
    memcpy(out, &h, sizeof(h));
    if (body_size > 0) {
        memcpy(out + sizeof(h), body, body_size);
    }
    return sizeof(h) + body_size;
}

/* Decodes a frame's header, checks both checksums and the fields every frame shares, and
 * compares op, request_id, count, status and body_size with the expected values. */
static void frame_decode_check(const uint8_t *frame, size_t size, uint16_t op, uint64_t request_id,
                               uint32_t count, uint32_t status, uint32_t body_size) {
    assert_true(size >= BL_FRAME_HEADER_SIZE);
    bl_frame_header_t h;
    memcpy(&h, frame, sizeof(h));
    assert_memory_equal(h.magic, "BLST", 4);
    assert_int_equal(h.version, 1);
    assert_int_equal(h.op, op);
    assert_int_equal(h.request_id, request_id);
    assert_int_equal(h.body_size, body_size);
    assert_int_equal(size, BL_FRAME_HEADER_SIZE + (size_t)h.body_size);
    assert_int_equal(h.count, count);
    assert_int_equal(h.status, status);
    assert_int_equal(h.reserved0, 0);
    static const uint8_t zeros[16];
    assert_memory_equal(h.reserved1, zeros, 16);
    assert_int_equal(h.body_checksum, bl_hash64(frame + BL_FRAME_HEADER_SIZE, h.body_size));
    assert_int_equal(h.header_checksum, bl_hash64(frame, 56));
    if (h.status != 0) {
        assert_int_equal(h.body_size, 0);
        assert_int_equal(h.count, 0);
    }
}

static void test_frame_ping(void **state) {
    uint8_t want[256], got[256];
    size_t size = vector_bytes("frame_ping", "frame", want, sizeof(want));
    assert_int_equal(size, 64);
    assert_int_equal(frame_encode(got, BL_OP_PING, 1, 0, 0, NULL, 0), size);
    assert_memory_equal(got, want, size);
    frame_decode_check(want, size, BL_OP_PING, 1, 0, 0, 0);
    /* The empty body's checksum is XXH3-64 of zero bytes. */
    bl_frame_header_t h;
    memcpy(&h, want, sizeof(h));
    assert_int_equal(h.body_checksum, 0x2d06800538d394c2ull);
}

static void test_frame_create_accounts(void **state) {
    uint8_t want[512], got[512];
    size_t size = vector_bytes("frame_create_accounts_1", "frame", want, sizeof(want));
    assert_int_equal(size, 64 + 128);
    bl_account_t account = vector_account();
    assert_int_equal(bl_op_request_record_size(BL_OP_CREATE_ACCOUNTS), (int)sizeof(account));
    assert_int_equal(frame_encode(got, BL_OP_CREATE_ACCOUNTS, 0x1122334455667788ull, 1, 0, &account,
                                  sizeof(account)),
                     size);
    assert_memory_equal(got, want, size);
    frame_decode_check(want, size, BL_OP_CREATE_ACCOUNTS, 0x1122334455667788ull, 1, 0, 128);
    /* The body is the account_record vector. */
    uint8_t record[128];
    assert_int_equal(vector_bytes("account_record", "record", record, sizeof(record)), 128);
    assert_memory_equal(want + 64, record, 128);
}

static void test_frame_create_transfers_reply(void **state) {
    uint8_t want[256], got[256];
    size_t size = vector_bytes("frame_create_transfers_reply", "frame", want, sizeof(want));
    assert_int_equal(size, 64 + 16);
    bl_event_result_t results[2] = {
        {.index = 3, .result = BL_CREATE_TRANSFER_EXCEEDS_CREDITS},
        {.index = 9, .result = BL_CREATE_TRANSFER_EXISTS},
    };
    assert_int_equal(results[0].result, 45);
    assert_int_equal(results[1].result, 22);
    assert_int_equal(bl_op_reply_record_size(BL_OP_CREATE_TRANSFERS), sizeof(results[0]));
    assert_int_equal(frame_encode(got, BL_OP_CREATE_TRANSFERS, 42, 2, 0, results, sizeof(results)),
                     size);
    assert_memory_equal(got, want, size);
    frame_decode_check(want, size, BL_OP_CREATE_TRANSFERS, 42, 2, 0, 16);
    bl_event_result_t decoded[2];
    memcpy(decoded, want + 64, sizeof(decoded));
    assert_int_equal(decoded[0].index, 3);
    assert_int_equal(decoded[0].result, 45);
    assert_int_equal(decoded[1].index, 9);
    assert_int_equal(decoded[1].result, 22);
}

static void test_frame_error_reply(void **state) {
    uint8_t want[256], got[256];
    size_t size = vector_bytes("frame_error_reply_bad_op", "frame", want, sizeof(want));
    assert_int_equal(size, 64);
    assert_int_equal(frame_encode(got, 0x4242, 5, 0, BL_FRAME_BAD_OP, NULL, 0), size);
    assert_memory_equal(got, want, size);
    frame_decode_check(want, size, 0x4242, 5, 0, 6, 0);
    assert_null(bl_op_name(0x4242));
    assert_int_equal(bl_op_request_record_size(0x4242), -1);
}

static void test_frame_decode_rejects_corruption(void **state) {
    /* A flipped bit anywhere in header bytes 0..55 changes the header checksum; one in the
     * body changes the body checksum. */
    uint8_t frame[512];
    size_t size = vector_bytes("frame_create_accounts_1", "frame", frame, sizeof(frame));
    bl_frame_header_t h;
    memcpy(&h, frame, sizeof(h));
    for (size_t i = 0; i < 56; i++) {
        frame[i] ^= 0x01;
        assert_int_not_equal(bl_hash64(frame, 56), h.header_checksum);
        frame[i] ^= 0x01;
    }
    frame[size - 1] ^= 0x80;
    assert_int_not_equal(bl_hash64(frame + 64, size - 64), h.body_checksum);
}

/* ------------------------------------------------------------------------------------------ */
/* Block hash.                                                                                */

static void test_block_hash(void **state) {
    bl_block_header_t header;
    memset(&header, 0, sizeof(header));
    header.height = 1;
    header.timestamp = 1700000000000000000ull;
    header.request_count = 1;
    header.event_count = 1;

    uint8_t want_header[32];
    assert_int_equal(
        vector_bytes("block_hash_1", "header_bytes_0_31", want_header, sizeof(want_header)), 32);
    assert_memory_equal(&header, want_header, 32);

    bl_account_t account = vector_account();
    uint16_t op = BL_OP_CREATE_ACCOUNTS;
    uint16_t pad = 0;
    uint32_t count = 1;

    crypto_generichash_state hs;
    assert_int_equal(crypto_generichash_init(&hs, NULL, 0, 32), 0);
    crypto_generichash_update(&hs, header.prev_hash, sizeof(header.prev_hash));
    crypto_generichash_update(&hs, (const uint8_t *)&header, 32);
    crypto_generichash_update(&hs, (const uint8_t *)&op, sizeof(op));
    crypto_generichash_update(&hs, (const uint8_t *)&pad, sizeof(pad));
    crypto_generichash_update(&hs, (const uint8_t *)&count, sizeof(count));
    crypto_generichash_update(&hs, (const uint8_t *)&account, sizeof(account));
    uint8_t got[32];
    assert_int_equal(crypto_generichash_final(&hs, got, sizeof(got)), 0);

    uint8_t want[32];
    assert_int_equal(vector_bytes("block_hash_1", "hash", want, sizeof(want)), 32);
    assert_memory_equal(got, want, 32);

    /* One-shot over the concatenation gives the same hash; a different prev_hash does not. */
    uint8_t buffer[32 + 32 + 8 + 128];
    memset(buffer, 0, sizeof(buffer));
    memcpy(buffer + 32, &header, 32);
    memcpy(buffer + 64, &op, 2);
    memcpy(buffer + 68, &count, 4);
    memcpy(buffer + 72, &account, 128);
    uint8_t again[32];
    assert_int_equal(crypto_generichash(again, 32, buffer, sizeof(buffer), NULL, 0), 0);
    assert_memory_equal(again, want, 32);
    buffer[0] = 1;
    assert_int_equal(crypto_generichash(again, 32, buffer, sizeof(buffer), NULL, 0), 0);
    assert_memory_not_equal(again, want, 32);
}

/* ------------------------------------------------------------------------------------------ */
/* State digest.                                                                              */

static void digest_one_account_check(uint32_t partitions) {
    bl_engine_config_t config = {
        .partitions = partitions, .accounts_max = 64, .transfers_max = 64, .block_events_max = 64};
    bl_engine_t *engine = NULL;
    assert_int_equal(bl_engine_create(&engine, &config), 0);
    assert_u128(bl_engine_digest(engine), 0);

    bl_account_t account = vector_account();
    bl_event_result_t results[1];
    bl_request_t request = {.op = BL_OP_CREATE_ACCOUNTS,
                            .count = 1,
                            .events = &account,
                            .results = results,
                            .results_count = 0};
    assert_int_equal(bl_engine_block_execute(engine, 1700000000000000000ull, &request, 1), 0);
    assert_int_equal(request.results_count, 0);
    assert_int_equal(bl_engine_accounts_count(engine), 1);
    assert_int_equal(bl_engine_timestamp_last(engine), 1700000000000000000ull);

    uint8_t want_digest[16];
    assert_int_equal(vector_bytes("state_digest_one_account", "state_digest", want_digest, 16), 16);
    bl_u128_t digest = bl_engine_digest(engine);
    assert_memory_equal(&digest, want_digest, 16);

    uint8_t want_account[128];
    assert_int_equal(vector_bytes("state_digest_one_account", "account", want_account, 128), 128);
    bl_account_t found[2];
    bl_u128_t id = account.id;
    assert_int_equal(bl_engine_lookup_accounts(engine, &id, 1, found), 1);
    assert_memory_equal(&found[0], want_account, 128);

    /* The digest is XXH3-128 of that record. */
    assert_u128(digest, bl_hash128(want_account, 128));
    bl_engine_destroy(engine);
}

static void test_state_digest_one_account(void **state) {
    digest_one_account_check(1);
    digest_one_account_check(4);
}

/* ------------------------------------------------------------------------------------------ */
/* Tables.                                                                                    */

static void test_name_tables(void **state) {
    assert_string_equal(bl_create_transfer_result_name(45), "exceeds_credits");
    assert_string_equal(bl_create_transfer_result_name(0), "ok");
    assert_string_equal(bl_create_transfer_result_name(22), "exists");
    assert_string_equal(bl_create_transfer_result_name(26),
                        "transfer_must_have_the_same_ledger_as_accounts");
    assert_string_equal(bl_create_transfer_result_name(34),
                        "pending_transfer_has_different_amount");
    assert_string_equal(bl_create_transfer_result_name(44), "overflows_timeout");
    assert_string_equal(bl_create_transfer_result_name(47), "capacity_exhausted");
    assert_null(bl_create_transfer_result_name(48));
    for (uint32_t code = 0; code <= 47; code++) {
        assert_non_null(bl_create_transfer_result_name(code));
    }

    assert_string_equal(bl_create_account_result_name(1), "linked_event_failed");
    assert_string_equal(bl_create_account_result_name(4), "reserved_field");
    assert_string_equal(bl_create_account_result_name(9), "balances_must_be_zero");
    assert_string_equal(bl_create_account_result_name(13), "exists");
    assert_string_equal(bl_create_account_result_name(14), "capacity_exhausted");
    assert_null(bl_create_account_result_name(15));
    for (uint32_t code = 0; code <= 14; code++) {
        assert_non_null(bl_create_account_result_name(code));
    }

    assert_string_equal(bl_frame_status_name(1), "bad_magic");
    assert_string_equal(bl_frame_status_name(6), "bad_op");
    assert_string_equal(bl_frame_status_name(9), "reserved_nonzero");
    assert_string_equal(bl_frame_status_name(12), "shutting_down");
    assert_null(bl_frame_status_name(13));

    assert_string_equal(bl_op_name(1), "ping");
    assert_string_equal(bl_op_name(16), "create_accounts");
    assert_string_equal(bl_op_name(17), "create_transfers");
    assert_string_equal(bl_op_name(24), "lookup_blocks");
    assert_null(bl_op_name(0));
    assert_null(bl_op_name(3));
    assert_null(bl_op_name(25));
}

static void test_op_record_sizes(void **state) {
    static const struct {
        uint32_t op;
        int request_size;
        int reply_size;
    } ops[] = {
        {1, 0, 0},      {2, 0, 128},    {16, 128, 8},   {17, 128, 8},
        {18, 16, 128},  {19, 16, 128},  {20, 128, 128}, {21, 128, 128},
        {22, 128, 128}, {23, 128, 128}, {24, 8, 128},
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        assert_int_equal(bl_op_request_record_size(ops[i].op), ops[i].request_size);
        assert_int_equal(bl_op_reply_record_size(ops[i].op), ops[i].reply_size);
        assert_non_null(bl_op_name(ops[i].op));
    }
    /* Every op number not in the table is unknown. */
    size_t known = 0;
    for (uint32_t op = 0; op < 256; op++) {
        if (bl_op_request_record_size(op) >= 0) {
            known++;
        }
    }
    assert_int_equal(known, sizeof(ops) / sizeof(ops[0]));
    assert_int_equal(bl_op_request_record_size(0), -1);
    assert_int_equal(bl_op_request_record_size(15), -1);
    assert_int_equal(bl_op_request_record_size(25), -1);
}

static void test_limits_and_flags(void **state) {
    assert_int_equal(BL_FRAME_HEADER_SIZE, 64);
    assert_int_equal(BL_FRAME_BODY_SIZE_MAX, 1048576);
    assert_int_equal(BL_BATCH_EVENTS_MAX, 8192);
    assert_int_equal(BL_PORT_DEFAULT, 3410);
    assert_int_equal(BL_ACCOUNT_LINKED, 1);
    assert_int_equal(BL_ACCOUNT_DEBITS_MUST_NOT_EXCEED_CREDITS, 2);
    assert_int_equal(BL_ACCOUNT_CREDITS_MUST_NOT_EXCEED_DEBITS, 4);
    assert_int_equal(BL_ACCOUNT_HISTORY, 8);
    assert_int_equal(BL_TRANSFER_LINKED, 1);
    assert_int_equal(BL_TRANSFER_PENDING, 2);
    assert_int_equal(BL_TRANSFER_POST_PENDING, 4);
    assert_int_equal(BL_TRANSFER_VOID_PENDING, 8);
    assert_int_equal(BL_PENDING_DIGEST_POSTED, 1);
    assert_int_equal(BL_PENDING_DIGEST_VOIDED, 2);
    assert_int_equal(BL_PENDING_DIGEST_EXPIRED, 3);
    assert_u128(BL_U128_MAX + 1, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_scanner),
        cmocka_unit_test(test_xxh3_64),
        cmocka_unit_test(test_xxh3_128),
        cmocka_unit_test(test_account_record),
        cmocka_unit_test(test_transfer_record),
        cmocka_unit_test(test_frame_ping),
        cmocka_unit_test(test_frame_create_accounts),
        cmocka_unit_test(test_frame_create_transfers_reply),
        cmocka_unit_test(test_frame_error_reply),
        cmocka_unit_test(test_frame_decode_rejects_corruption),
        cmocka_unit_test(test_block_hash),
        cmocka_unit_test(test_state_digest_one_account),
        cmocka_unit_test(test_name_tables),
        cmocka_unit_test(test_op_record_sizes),
        cmocka_unit_test(test_limits_and_flags),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
