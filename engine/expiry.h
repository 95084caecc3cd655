/*
 * The expiry queue, implemented in expiry.c.
 */
#ifndef BALLAST_ENGINE_EXPIRY_H
#define BALLAST_ENGINE_EXPIRY_H

#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------ */
/* Expiry queue (expiry.c): a binary min-heap of (deadline, slot), owned by decide.           */

typedef struct bl_expiry_entry {
    uint64_t deadline;
    uint32_t slot;
    uint32_t partition;
} bl_expiry_entry_t;

typedef struct bl_expiry {
    bl_expiry_entry_t *entries;
    uint64_t count;
    uint64_t capacity;
} bl_expiry_t;

int bl_expiry_init(bl_expiry_t *expiry, uint64_t capacity);
void bl_expiry_deinit(bl_expiry_t *expiry);
void bl_expiry_push(bl_expiry_t *expiry, bl_expiry_entry_t entry);
/* Pops the least entry if its deadline is at or before `timestamp`. */
bool bl_expiry_pop_due(bl_expiry_t *expiry, uint64_t timestamp, bl_expiry_entry_t *entry);

#endif /* BALLAST_ENGINE_EXPIRY_H */
