/*
 * libFuzzer target: arbitrary bytes as a request frame (header, then body). The checks must
 * return a defined status and never read past the input; a header they accept must describe
 * a body the op allows.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < BL_FRAME_HEADER_SIZE) return 0;
    bl_frame_header_t h;
    memcpy(&h, data, sizeof(h));
    uint32_t status = bl_frame_check_header(&h);
    if (status > BL_FRAME_SHUTTING_DOWN || status == BL_FRAME_BUSY) abort();
    if (status == BL_FRAME_OK) {
        int record = bl_op_request_record_size(h.op);
        if (record < 0 || (uint64_t)h.count * (uint64_t)record != h.body_size ||
            h.body_size > BL_FRAME_BODY_SIZE_MAX || h.count > bl_frame_count_max(h.op))
            abort();
        if (size - BL_FRAME_HEADER_SIZE >= h.body_size) {
            status = bl_frame_check_body(&h, data + BL_FRAME_HEADER_SIZE);
            if (status != BL_FRAME_OK && status != BL_FRAME_BAD_BODY_CHECKSUM) abort();
        }
    }
    if (size - BL_FRAME_HEADER_SIZE >= h.body_size && h.body_size <= BL_FRAME_BODY_SIZE_MAX)
        (void)bl_frame_check_reply(&h, data + BL_FRAME_HEADER_SIZE);
    return 0;
}
