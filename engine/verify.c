/*
 * The engine's expensive cross-checks (BL_VERIFY: test, debug and sanitizer builds only).
 *
 * bl_engine_verify recomputes every account's four balances from the transfers the table
 * holds and checks them against the account records, which the pipeline keeps incrementally
 * (gather copies balances into the overlay, decide changes the overlay, apply writes it back).
 * The sums follow PROTOCOL.md's effects:
 *   - a plain transfer and a post add their (stored, resolved) amount to *_posted;
 *   - a pending transfer adds its amount to *_pending while its state is pending; once
 *     posted, voided or expired it adds nothing (a post's own record carries what it posted);
 *   - a void adds nothing.
 * So a balance that drifts from its transfers, in any stage and on any partition count, stops
 * the test that made it, at the engine's end (bl_engine_destroy) and after every image load.
 * No sum overflows: each equals a balance, which fits in 128 bits. O(accounts + transfers),
 * with one index lookup per transfer side.
 */
#include <stdlib.h>

#include "engine/internal.h"

typedef struct bl_verify_sums {
    bl_u128_t debits_pending, debits_posted, credits_pending, credits_posted;
} bl_verify_sums_t;

void bl_engine_verify(const bl_engine_t *e) {
#if defined(BL_VERIFY_ENABLED) && BL_VERIFY_ENABLED
    if (e->accounts_count == 0) return;
    bl_verify_sums_t *sums = calloc(e->accounts_count, sizeof(*sums));
    BL_ASSERT(sums != NULL);
    for (uint64_t slot = 0; slot < e->transfers_count; slot++) {
        bl_transfer_t copy;
        const bl_transfer_t *t = bl_transfer_read(e, (uint32_t)slot, &copy);
        bool pending = (t->flags & BL_TRANSFER_PENDING) != 0;
        if ((t->flags & BL_TRANSFER_VOID_PENDING) ||
            (pending && e->transfer_state[slot] != BL_STATE_PENDING))
            continue;
        uint32_t dr = bl_engine_find(e, true, t->debit_account_id);
        uint32_t cr = bl_engine_find(e, true, t->credit_account_id);
        BL_VERIFY(dr < e->accounts_count && cr < e->accounts_count);
        if (pending) {
            sums[dr].debits_pending += t->amount;
            sums[cr].credits_pending += t->amount;
        } else {
            sums[dr].debits_posted += t->amount;
            sums[cr].credits_posted += t->amount;
        }
    }
    for (uint64_t slot = 0; slot < e->accounts_count; slot++) {
        const bl_account_t *a = &e->accounts[slot];
        BL_VERIFY(a->debits_pending == sums[slot].debits_pending);
        BL_VERIFY(a->debits_posted == sums[slot].debits_posted);
        BL_VERIFY(a->credits_pending == sums[slot].credits_pending);
        BL_VERIFY(a->credits_posted == sums[slot].credits_posted);
    }
    free(sums);
#else
    (void)e;
#endif
}
