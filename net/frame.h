/*
 * Frames (PROTOCOL.md "Frame"): a 64-byte header and body_size bytes of body. Shared by the
 * server and the client.
 *
 * Checking a request is split in two, because the body may not have arrived yet:
 *   bl_frame_check_header   checks 1 magic, 2 version, 3 header checksum, 4 body too large,
 *                           9 reserved fields, 6 op, 7 body size, 8 event count (in that
 *                           order: PROTOCOL.md's), needing only the header;
 *   bl_frame_check_body     checks 5 the body checksum, once the body is in.
 * bl_frame_status_closes says which statuses end the connection (1-4: the reader can no longer
 * tell where the next frame starts).
 */
#ifndef BALLAST_NET_FRAME_H
#define BALLAST_NET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ballast/protocol.h"

/* Fills a header for `op`/`request_id`/`status` with a body of `body_size` bytes holding
 * `count` records, computing both checksums. */
void bl_frame_header_build(bl_frame_header_t *header, uint16_t op, uint64_t request_id,
                           uint32_t status, uint32_t count, const void *body, uint32_t body_size);

/* The request checks that need only the header: BL_FRAME_OK or the first failing status. */
uint32_t bl_frame_check_header(const bl_frame_header_t *header);

/* Check 5: the body checksum. */
uint32_t bl_frame_check_body(const bl_frame_header_t *header, const void *body);

/* Replies: checks 1-4 and 9 as for requests, plus the body checksum; the status may be
 * anything. For the client. */
uint32_t bl_frame_check_reply(const bl_frame_header_t *header, const void *body);

bool bl_frame_status_closes(uint32_t status);

/* The most records a request of `op` may carry (0 for ping and status, 1 for filter ops). */
uint32_t bl_frame_count_max(uint16_t op);

#endif /* BALLAST_NET_FRAME_H */
