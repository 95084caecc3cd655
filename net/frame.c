/*
 * Frame encoding and the request checks of PROTOCOL.md, in its order. See frame.h.
 *
 * Readings of PROTOCOL.md made here: for ping and status, whose body is empty, a count other
 * than 0 breaks the body-size rule ("for ping and status: count = 0, empty body") and gives
 * bad_body_size (7); for filter ops a count other than 1 is bad_body_size too, as the spec
 * says; too_many_events (8) is a count above the op's limit or a count of 0 for a batch op.
 */
#include "net/frame.h"

#include <string.h>

#include "common/hash.h"

static const uint8_t bl_frame_magic[4] = {'B', 'L', 'S', 'T'};

static uint64_t bl_frame_header_checksum(const bl_frame_header_t *header) {
    return bl_hash64(header, offsetof(bl_frame_header_t, header_checksum));
}

void bl_frame_header_build(bl_frame_header_t *header, uint16_t op, uint64_t request_id,
                           uint32_t status, uint32_t count, const void *body, uint32_t body_size) {
    memset(header, 0, sizeof(*header));
    memcpy(header->magic, bl_frame_magic, 4);
    header->version = BL_PROTOCOL_VERSION;
    header->op = op;
    header->request_id = request_id;
    header->body_size = body_size;
    header->count = count;
    header->status = status;
    header->body_checksum = bl_hash64(body_size ? body : "", body_size);
    header->header_checksum = bl_frame_header_checksum(header);
}

uint32_t bl_frame_count_max(uint16_t op) {
    if (op == BL_OP_PING || op == BL_OP_STATUS) return 0;
    if (bl_op_is_filter(op)) return 1;
    return BL_BATCH_EVENTS_MAX;
}

static bool bl_frame_reserved_zero(const bl_frame_header_t *header) {
    static const uint8_t zeros[16];
    return header->reserved0 == 0 && memcmp(header->reserved1, zeros, 16) == 0;
}

/* Checks 1-4 and 9, common to requests and replies. */
static uint32_t bl_frame_check_common(const bl_frame_header_t *header) {
    if (memcmp(header->magic, bl_frame_magic, 4) != 0) return BL_FRAME_BAD_MAGIC;
    if (header->version != BL_PROTOCOL_VERSION) return BL_FRAME_BAD_VERSION;
    if (header->header_checksum != bl_frame_header_checksum(header))
        return BL_FRAME_BAD_HEADER_CHECKSUM;
    if (header->body_size > BL_FRAME_BODY_SIZE_MAX) return BL_FRAME_BODY_TOO_LARGE;
    return BL_FRAME_OK;
}

uint32_t bl_frame_check_header(const bl_frame_header_t *header) {
    uint32_t status = bl_frame_check_common(header);
    if (status != BL_FRAME_OK) return status;
    if (header->status != 0 || !bl_frame_reserved_zero(header)) return BL_FRAME_RESERVED_NONZERO;
    int size = bl_op_request_record_size(header->op);
    if (size < 0) return BL_FRAME_BAD_OP;
    uint16_t op = header->op;
    if ((uint64_t)header->count * (uint64_t)size != header->body_size)
        return BL_FRAME_BAD_BODY_SIZE;
    if ((op == BL_OP_PING || op == BL_OP_STATUS) && header->count != 0)
        return BL_FRAME_BAD_BODY_SIZE;
    if (bl_op_is_filter(op) && header->count != 1) return BL_FRAME_BAD_BODY_SIZE;
    if (header->count > bl_frame_count_max(op)) return BL_FRAME_TOO_MANY_EVENTS;
    if (header->count == 0 && bl_frame_count_max(op) > 1) return BL_FRAME_TOO_MANY_EVENTS;
    return BL_FRAME_OK;
}

uint32_t bl_frame_check_body(const bl_frame_header_t *header, const void *body) {
    uint64_t checksum = bl_hash64(header->body_size ? body : "", header->body_size);
    return checksum == header->body_checksum ? BL_FRAME_OK : BL_FRAME_BAD_BODY_CHECKSUM;
}

uint32_t bl_frame_check_reply(const bl_frame_header_t *header, const void *body) {
    uint32_t status = bl_frame_check_common(header);
    if (status != BL_FRAME_OK) return status;
    if (!bl_frame_reserved_zero(header)) return BL_FRAME_RESERVED_NONZERO;
    return bl_frame_check_body(header, body);
}

bool bl_frame_status_closes(uint32_t status) {
    return status >= BL_FRAME_BAD_MAGIC && status <= BL_FRAME_BODY_TOO_LARGE;
}
