/*
 * The block pipeline's working memory (bl_block_t): reserved once by engine.c, sized by
 * block_events_max, and reused by every block; route, gather, decide and apply read and
 * write its arrays.
 */
#ifndef BALLAST_ENGINE_BLOCK_H
#define BALLAST_ENGINE_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/assert.h"
#include "common/hash.h"
#include "engine/engine.h"
#include "engine/pool.h"
#include "engine/table.h"

/* ------------------------------------------------------------------------------------------ */
/* The block pipeline's working memory.                                                       */

enum {
    BL_ITEM_ACCOUNT = 1,   /* a create_accounts event */
    BL_ITEM_TRANSFER = 2,  /* a plain or pending create_transfers event */
    BL_ITEM_POST_VOID = 3, /* a post_pending or void_pending event */
    BL_ITEM_EXPIRY = 4,    /* a pending transfer whose deadline has passed */
    BL_ITEM_INVALID = 5,   /* a transfer whose flags name two of pending/post/void: no lookups */
};

#define BL_PARTITION_NONE 0xFFu

/* Decide's view of one account the block touches: its balances so far. Entries of accounts
 * that were in the table are made by the owning partition's gather (copying the balances once
 * per block, however many events touch the account); entries of accounts created in the block
 * are made by decide. */
typedef struct bl_overlay_account {
    bl_u128_t debits_pending;
    bl_u128_t debits_posted;
    bl_u128_t credits_pending;
    bl_u128_t credits_posted;
    uint32_t slot;
    uint32_t ledger;
    uint16_t flags;
    uint8_t partition;
    uint8_t dirty; /* balances changed: apply writes them */
    /* The first of the block's new transfers on the account, as a side (k << 1 | side,
     * k = slot - transfers_base), chained in slot order through block->side_next;
     * BL_SLOT_NONE: none. Apply appends them to the account's lists. */
    uint32_t sides_first;
} bl_overlay_account_t;

/* A pending transfer from the table that the block names (post, void or expiry). */
typedef struct bl_overlay_pending {
    uint32_t slot;
    uint8_t state_start;
    uint8_t state;
} bl_overlay_pending_t;

/* What gather learns about one item. Indexes of earlier items of the block ("prev", "item")
 * let decide see what the block itself created without a map of its own. */
typedef struct bl_fact {
    uint64_t id_hash;
    uint64_t pending_hash;
    uint64_t dr_hash;
    uint64_t cr_hash;
    uint32_t id_slot; /* table record with the item's id, or BL_SLOT_NONE */
    uint32_t id_prev; /* latest earlier item creating the same kind of object, same id */
    uint32_t dr;      /* overlay index of the debit account if in the table */
    uint32_t cr;      /* overlay index of the credit account if in the table */
    uint32_t dr_item; /* else: latest earlier create_accounts item with the debit id */
    uint32_t cr_item;
    uint32_t pending_slot; /* post/void/expiry: the pending transfer in the table */
    uint32_t pending_ov;   /* its overlay_pending index */
    uint32_t pending_item; /* post/void, pending not in the table: latest earlier transfer item
                              with id == pending_id */
    uint8_t kind;
    uint8_t check; /* route: the result the event alone decides (route.c) */
    uint8_t id_partition;
    uint8_t dr_partition;
    uint8_t cr_partition;
    uint8_t pending_partition;
} bl_fact_t;

/* An id route gives to the partition that owns it, for gather. Two lists: ids (an item's own
 * id, and the pending transfer a post, void or expiry names) and accounts (a transfer's debit
 * or credit account; role is the side). */
enum { BL_LOOKUP_IDS = 0, BL_LOOKUP_ACCOUNTS = 1, BL_LOOKUP_LISTS = 2 };
enum {
    BL_LOOKUP_ACCOUNT_ID = 0,  /* a create_accounts item's id */
    BL_LOOKUP_TRANSFER_ID = 1, /* a create_transfers item's id */
    BL_LOOKUP_PENDING = 2,     /* the pending_id of a post or void */
    BL_LOOKUP_EXPIRY = 3,      /* the pending transfer of an expiry; hash is its slot */
};
enum { BL_SIDE_DEBIT = 0, BL_SIDE_CREDIT = 1 };

typedef struct bl_lookup {
    uint64_t hash;
    uint32_t item;
    uint32_t role;
} bl_lookup_t;

/* One change to decide's state inside a linked chain, undone if the chain fails. */
enum {
    BL_UNDO_BALANCES = 1,    /* overlay account `index` had `balances` */
    BL_UNDO_ACCOUNT = 2,     /* an account (and its overlay entry) was created */
    BL_UNDO_TRANSFER = 3,    /* a transfer was created */
    BL_UNDO_PENDING = 4,     /* overlay_pending `index` had state `state` */
    BL_UNDO_PENDING_NEW = 5, /* new transfer `index` (slot - base) had state `state` */
    BL_UNDO_HISTORY = 6,     /* history_new_count was `index` */
};

typedef struct bl_undo {
    bl_u128_t balances[4];
    uint32_t kind;
    uint32_t index;
    uint32_t state;
} bl_undo_t;

/* A balance entry the block made, for the account at overlay index `overlay`. */
typedef struct bl_history_new {
    bl_balance_entry_t entry;
    uint32_t overlay;
    uint32_t reserved;
} bl_history_new_t;

typedef struct bl_block {
    uint64_t timestamp;      /* T */
    uint64_t timestamp_next; /* the next timestamp to hand out */
    uint32_t items_count;
    uint32_t items_max;
    const void **items; /* the event of each item (NULL for expiries) */
    bl_fact_t *facts;   /* one per item */
    bool has_post_void; /* gather needs its second round */
    /* A pass over requests (requests_count > 0): request r's events are items request_first[r]
     * to request_first[r + 1] - 1; route fills in their items and kinds. An expiry pass has
     * none: the driver sets its items' facts. */
    const bl_request_t *requests;
    uint32_t requests_count;
    uint32_t *request_first; /* items_max + 1 */

    /* Decide's output per item: the slot of the object with the item's id as of that item
     * (created by it or by an earlier item of the block). A created account's overlay entry
     * is accounts_new_overlay[slot - accounts_base]. */
    uint32_t *item_slot;

    /* Overlay accounts: N + 1 ranges of `overlay_range` entries, range p filled by partition
     * p's gather, range N by decide (accounts created in the block). */
    bl_overlay_account_t *overlay;
    uint32_t overlay_range;
    uint32_t overlay_new_count; /* entries used in range N */
    /* Overlay pending transfers: N ranges of items_max entries, range p filled by p. */
    bl_overlay_pending_t *pending;

    bl_undo_t *undo;
    uint32_t undo_count;
    uint32_t undo_max;
    bool undo_on; /* inside a linked chain */

    /* Effects: records created by this pass, indexed by slot - base. */
    uint64_t accounts_base;
    uint64_t transfers_base;
    bl_account_t *accounts_new_records;
    uint8_t *accounts_new_partition;
    uint64_t *accounts_new_hash;
    uint32_t *accounts_new_overlay;
    /* A created transfer's record is *transfers_new_source[k] with its timestamp set to
     * transfers_new_timestamp[k]: the source is the event itself when the record is the event
     * (a plain or pending transfer; decide copies nothing), else the record decide assembled
     * (a post or void, its fields resolved from the pending transfer) in
     * transfers_new_records[k]. Events outlive the block's apply. */
    const bl_transfer_t **transfers_new_source;
    uint64_t *transfers_new_timestamp;
    bl_transfer_t *transfers_new_records;
    uint8_t *transfers_new_partition;
    uint64_t *transfers_new_hash;
    uint8_t *transfers_new_state;
    uint32_t (*transfers_new_accounts)[2]; /* overlay indexes of debit and credit accounts */
    /* Per side (k << 1 | side) of a new transfer, the chain of its account's sides: the next
     * (BL_SLOT_NONE: the last) and, for sides pushed inside a linked chain, the one before
     * (for the chain's rollback); and per overlay entry whose chain is not empty, its last
     * side. */
    uint32_t *side_next;
    uint32_t *side_prev;
    uint32_t *sides_last;
    /* Balance entries for accounts with the history flag, in event order. */
    bl_history_new_t *history_new;
    uint32_t history_new_count;

    /* Every array above, with its size, as reserved (for release). */
#define BL_BLOCK_ARRAYS 22
    void *arrays[BL_BLOCK_ARRAYS];
    uint64_t sizes[BL_BLOCK_ARRAYS];
} bl_block_t;

#endif /* BALLAST_ENGINE_BLOCK_H */
