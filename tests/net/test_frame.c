/*
 * Frames (net/frame.c): the vector frames encode and decode byte for byte, every frame error
 * is detected, and when several apply the first in PROTOCOL.md's order (1, 2, 3, 4, 9, 6, 7,
 * 8, 5) wins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/hash.h"
#include "net/frame.h"
#include "tests/common/vectors.h"

static uint8_t g_frame[BL_FRAME_HEADER_SIZE + 4096];

/* A request header for `op` with `count` records and a body of the right size. */
static bl_frame_header_t request(uint16_t op, uint32_t count) {
    bl_frame_header_t h;
    int size = bl_op_request_record_size(op);
    uint32_t body_size = size > 0 ? count * (uint32_t)size : 0;
    static uint8_t body[BL_FRAME_BODY_SIZE_MAX];
    bl_frame_header_build(&h, op, 7, 0, count, body, body_size);
    return h;
}

static void rechecksum(bl_frame_header_t *h) {
    h->header_checksum = bl_hash64(h, offsetof(bl_frame_header_t, header_checksum));
}

static void test_frame_vectors(void **state) {
    (void)state;
    /* ping request */
    size_t n = vector_bytes("frame_ping", "frame", g_frame, sizeof(g_frame));
    assert_int_equal(n, BL_FRAME_HEADER_SIZE);
    bl_frame_header_t h;
    bl_frame_header_build(&h, BL_OP_PING, 1, 0, 0, NULL, 0);
    assert_memory_equal(&h, g_frame, BL_FRAME_HEADER_SIZE);
    assert_int_equal(bl_frame_check_header((const bl_frame_header_t *)g_frame), BL_FRAME_OK);

    /* create_accounts request with one account */
    n = vector_bytes("frame_create_accounts_1", "frame", g_frame, sizeof(g_frame));
    assert_int_equal(n, BL_FRAME_HEADER_SIZE + 128);
    memcpy(&h, g_frame, sizeof(h));
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_OK);
    assert_int_equal(bl_frame_check_body(&h, g_frame + BL_FRAME_HEADER_SIZE), BL_FRAME_OK);
    bl_frame_header_t built;
    bl_frame_header_build(&built, BL_OP_CREATE_ACCOUNTS, 0x1122334455667788ull, 0, 1,
                          g_frame + BL_FRAME_HEADER_SIZE, 128);
    assert_memory_equal(&built, &h, sizeof(h));

    /* create_transfers reply: event 3 exceeds_credits, event 9 exists */
    n = vector_bytes("frame_create_transfers_reply", "frame", g_frame, sizeof(g_frame));
    bl_event_result_t results[2] = {{3, 45}, {9, 22}};
    bl_frame_header_build(&built, BL_OP_CREATE_TRANSFERS, 42, 0, 2, results, sizeof(results));
    assert_int_equal(n, BL_FRAME_HEADER_SIZE + sizeof(results));
    assert_memory_equal(&built, g_frame, BL_FRAME_HEADER_SIZE);
    assert_memory_equal(results, g_frame + BL_FRAME_HEADER_SIZE, sizeof(results));
    assert_int_equal(bl_frame_check_reply(&built, results), BL_FRAME_OK);

    /* error reply: bad_op to op 0x4242, request 5 */
    n = vector_bytes("frame_error_reply_bad_op", "frame", g_frame, sizeof(g_frame));
    bl_frame_header_build(&built, 0x4242, 5, BL_FRAME_BAD_OP, 0, NULL, 0);
    assert_memory_equal(&built, g_frame, BL_FRAME_HEADER_SIZE);
}

static void test_frame_each_error(void **state) {
    (void)state;
    bl_frame_header_t h = request(BL_OP_CREATE_TRANSFERS, 2);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_OK);

    h = request(BL_OP_PING, 0);
    h.magic[0] = 'X';
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_MAGIC);

    h = request(BL_OP_PING, 0);
    h.version = 2;
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_VERSION);

    h = request(BL_OP_PING, 0);
    h.request_id ^= 1; /* without a new checksum */
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_HEADER_CHECKSUM);

    h = request(BL_OP_CREATE_TRANSFERS, 1);
    h.body_size = BL_FRAME_BODY_SIZE_MAX + 1;
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BODY_TOO_LARGE);

    h = request(BL_OP_PING, 0);
    h.reserved1[15] = 1;
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_RESERVED_NONZERO);
    h = request(BL_OP_PING, 0);
    h.status = 3; /* a request's status must be 0 */
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_RESERVED_NONZERO);

    h = request(BL_OP_PING, 0);
    h.op = 3;
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_OP);

    h = request(BL_OP_LOOKUP_ACCOUNTS, 3);
    h.body_size += 16;
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_BODY_SIZE);
    h = request(BL_OP_QUERY_ACCOUNTS, 1);
    h.count = 2;
    h.body_size = 256;
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_BODY_SIZE); /* filter op, count 2 */
    h = request(BL_OP_STATUS, 0);
    h.count = 1;
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_BODY_SIZE);

    h = request(BL_OP_CREATE_ACCOUNTS, 0);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_TOO_MANY_EVENTS);
    h = request(BL_OP_LOOKUP_TRANSFERS, BL_BATCH_EVENTS_MAX + 1);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_TOO_MANY_EVENTS);
    h = request(BL_OP_LOOKUP_TRANSFERS, BL_BATCH_EVENTS_MAX);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_OK);

    static uint8_t body[256];
    h = request(BL_OP_LOOKUP_ACCOUNTS, 2);
    memset(body, 0, sizeof(body));
    assert_int_equal(bl_frame_check_body(&h, body), BL_FRAME_OK);
    body[17] = 1;
    assert_int_equal(bl_frame_check_body(&h, body), BL_FRAME_BAD_BODY_CHECKSUM);
}

/* Two faults at once: the earlier in PROTOCOL.md's order is reported. */
static void test_frame_precedence(void **state) {
    (void)state;
    bl_frame_header_t h = request(BL_OP_PING, 0);
    h.magic[3] = 'X';
    h.version = 9; /* 1 before 2 */
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_MAGIC);

    h = request(BL_OP_PING, 0);
    h.version = 9; /* 2 before 3: the checksum is stale too */
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_VERSION);

    h = request(BL_OP_CREATE_TRANSFERS, 1);
    h.body_size = BL_FRAME_BODY_SIZE_MAX + 128; /* 3 before 4 */
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_HEADER_CHECKSUM);

    h = request(BL_OP_CREATE_TRANSFERS, 1);
    h.body_size = BL_FRAME_BODY_SIZE_MAX + 128;
    h.reserved0 = 1; /* 4 before 9 */
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BODY_TOO_LARGE);

    h = request(BL_OP_PING, 0);
    h.op = 99;
    h.reserved0 = 1; /* 9 before 6 */
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_RESERVED_NONZERO);

    h = request(BL_OP_PING, 0);
    h.op = 99;
    h.body_size = 5; /* 6 before 7 */
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_OP);

    h = request(BL_OP_CREATE_ACCOUNTS, 0);
    h.body_size = 64; /* 7 before 8 */
    rechecksum(&h);
    assert_int_equal(bl_frame_check_header(&h), BL_FRAME_BAD_BODY_SIZE);
}

int main(void) {
    if (vectors_open("test_frame") != 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_vectors),
        cmocka_unit_test(test_frame_each_error),
        cmocka_unit_test(test_frame_precedence),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    vectors_close();
    return failed;
}
