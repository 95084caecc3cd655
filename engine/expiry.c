/*
 * The expiry queue: pending transfers with a timeout, ordered by (deadline, slot).
 *
 * Slots are handed out in timestamp order, so (deadline, slot) is PROTOCOL.md's expiry order
 * (deadline, timestamp). The queue is owned by the decide stage (one thread): decide pushes a
 * pending transfer when it commits, and the block driver pops every entry that is due before a
 * block's requests. A pending transfer that is posted or voided first stays in the queue; when
 * its deadline comes, gather reports its state and decide skips it. Every transfer is pushed
 * at most once, so transfers_max entries always suffice.
 */
#include <errno.h>

#include "engine/internal.h"

static inline bool bl_expiry_less(const bl_expiry_entry_t *a, const bl_expiry_entry_t *b) {
    if (a->deadline != b->deadline) return a->deadline < b->deadline;
    return a->slot < b->slot;
}

int bl_expiry_init(bl_expiry_t *expiry, uint64_t capacity) {
    expiry->entries = bl_table_reserve(capacity * sizeof(bl_expiry_entry_t));
    if (expiry->entries == NULL) return -ENOMEM;
    expiry->count = 0;
    expiry->capacity = capacity;
    return 0;
}

void bl_expiry_deinit(bl_expiry_t *expiry) {
    bl_table_release(expiry->entries, expiry->capacity * sizeof(bl_expiry_entry_t));
    expiry->entries = NULL;
}

void bl_expiry_push(bl_expiry_t *expiry, bl_expiry_entry_t entry) {
    BL_ASSERT(expiry->count < expiry->capacity);
    bl_expiry_entry_t *e = expiry->entries;
    uint64_t i = expiry->count++;
    while (i > 0) {
        uint64_t parent = (i - 1) / 2;
        if (!bl_expiry_less(&entry, &e[parent])) break;
        e[i] = e[parent];
        i = parent;
    }
    e[i] = entry;
}

bool bl_expiry_pop_due(bl_expiry_t *expiry, uint64_t timestamp, bl_expiry_entry_t *entry) {
    bl_expiry_entry_t *e = expiry->entries;
    if (expiry->count == 0 || e[0].deadline > timestamp) return false;
    *entry = e[0];
    bl_expiry_entry_t last = e[--expiry->count];
    uint64_t n = expiry->count;
    uint64_t i = 0;
    for (;;) {
        uint64_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && bl_expiry_less(&e[child + 1], &e[child])) child++;
        if (!bl_expiry_less(&e[child], &last)) break;
        e[i] = e[child];
        i = child;
    }
    if (n > 0) e[i] = last;
    return true;
}
