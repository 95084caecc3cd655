/*
 * The SPSC ring (engine/ring.c): single-threaded behaviour (capacity, partial pushes when
 * full, order across wrap-around, batches), then two threads passing a long sequence through
 * a small ring in random batch sizes: every item arrives, once, in order. Phases where the
 * consumer or the producer is slow make the other side fill or drain the ring and park, so
 * the futex paths run too. Items: BL_RING_ITEMS (default 200 M; a tenth under sanitizers).
 * Last, the busy word that keeps a waiting side spinning, and the nudge that wakes it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/ring.h"
#include "tests/common/util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RING_ITEMS_DEFAULT 20000000ull
#else
#define RING_ITEMS_DEFAULT 200000000ull
#endif

static void test_ring_single_thread(void **state) {
    (void)state;
    bl_ring_t ring;
    assert_int_equal(bl_ring_init(&ring, 3, 0), -EINVAL);
    assert_int_equal(bl_ring_init(&ring, 8, 0), 0);
    uint64_t in[20], out[20];
    for (uint64_t i = 0; i < 20; i++) in[i] = 1000 + i;
    assert_int_equal(bl_ring_pop(&ring, out, 20), 0); /* empty */
    assert_int_equal(bl_ring_push(&ring, in, 5), 5);
    assert_int_equal(bl_ring_push(&ring, in + 5, 10), 3); /* only 3 more fit */
    assert_int_equal(bl_ring_push(&ring, in + 8, 1), 0);  /* full */
    assert_int_equal(bl_ring_pop(&ring, out, 6), 6);
    for (int i = 0; i < 6; i++) assert_int_equal(out[i], 1000 + i);
    assert_int_equal(bl_ring_push(&ring, in + 8, 12), 6); /* wraps around */
    /* A pop takes what the consumer's copy of tail allows and reloads it only when that
     * copy says empty, so the 8 items may come in more than one pop. */
    uint32_t got = 0;
    while (got < 8) {
        uint32_t n = bl_ring_pop_wait(&ring, out + got, 20 - got);
        assert_true(n >= 1 && got + n <= 8);
        got += n;
    }
    for (int i = 0; i < 8; i++) assert_int_equal(out[i], 1006 + i);
    assert_int_equal(bl_ring_pop(&ring, out, 20), 0);
    bl_ring_deinit(&ring);
}

typedef struct stress {
    bl_ring_t ring;
    uint64_t items;
    uint64_t seed;
} stress_t;

static void *producer_main(void *arg) {
    stress_t *s = arg;
    uint64_t r = s->seed, next = 0, batch[64];
    while (next < s->items) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t n = 1 + (uint32_t)(r >> 58); /* 1..64 */
        if (n > s->items - next) n = (uint32_t)(s->items - next);
        for (uint32_t i = 0; i < n; i++) batch[i] = next + i;
        bl_ring_push_all(&s->ring, batch, n);
        next += n;
        if ((next & 0xFFFFF) < n && ((r >> 40) & 7) == 0) usleep(2000); /* a slow producer */
    }
    return NULL;
}

static void test_ring_two_threads(void **state) {
    (void)state;
    const char *env = getenv("BL_RING_ITEMS");
    stress_t s = {.items = env ? strtoull(env, NULL, 10) : RING_ITEMS_DEFAULT, .seed = g_seed};
    assert_int_equal(bl_ring_init(&s.ring, 1024, 2000), 0);
    pthread_t producer;
    assert_int_equal(pthread_create(&producer, NULL, producer_main, &s), 0);
    uint64_t expect = 0, out[97], r = g_seed ^ 0xABCDEF;
    while (expect < s.items) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t n = bl_ring_pop_wait(&s.ring, out, 1 + (uint32_t)(r >> 58) % 97);
        for (uint32_t i = 0; i < n; i++) {
            if (out[i] != expect)
                fail_msg("item %llu where %llu was due (seed %llu)", (unsigned long long)out[i],
                         (unsigned long long)expect, (unsigned long long)g_seed);
            expect++;
        }
        if ((expect & 0xFFFFF) < n && ((r >> 40) & 7) == 1) usleep(2000); /* a slow consumer */
    }
    pthread_join(producer, NULL);
    assert_int_equal(bl_ring_pop(&s.ring, out, 97), 0); /* nothing extra */
    print_message("ring: %llu items in order\n", (unsigned long long)expect);
    bl_ring_deinit(&s.ring);
}

/* The busy word and the nudge. A consumer waits on an empty ring with a 1 ms spin: while
 * the busy word is set it is still spinning (not parked) well past its spin; cleared, it
 * parks; a nudge wakes it without an item (with the word set again, it stays awake); cleared
 * again, it parks again; an item then ends its wait. */
typedef struct {
    bl_ring_t ring;
    atomic_uint busy;
    uint64_t popped;
} busy_state_t;

static void *busy_consumer_main(void *arg) {
    busy_state_t *b = arg;
    uint64_t item;
    bl_ring_pop_wait(&b->ring, &item, 1);
    b->popped = item;
    return NULL;
}

static bool busy_parked_within(busy_state_t *b, unsigned ms) {
    for (unsigned i = 0; i < ms; i++) {
        if (atomic_load(&b->ring.consumer_parked)) return true;
        usleep(1000);
    }
    return atomic_load(&b->ring.consumer_parked) != 0;
}

static void test_ring_busy_and_nudge(void **state) {
    (void)state;
    busy_state_t b = {.popped = 0};
    assert_int_equal(bl_ring_init(&b.ring, 4, 1000 * 1000), 0);
    atomic_init(&b.busy, 1);
    b.ring.busy = &b.busy;
    pthread_t consumer;
    assert_int_equal(pthread_create(&consumer, NULL, busy_consumer_main, &b), 0);
    usleep(30 * 1000); /* 30 spins' worth */
    assert_false(atomic_load(&b.ring.consumer_parked));
    atomic_store(&b.busy, 0);
    assert_true(busy_parked_within(&b, 2000));
    atomic_store(&b.busy, 1);
    bl_ring_nudge(&b.ring);
    usleep(30 * 1000);
    assert_false(atomic_load(&b.ring.consumer_parked)); /* woken, and spinning while busy */
    atomic_store(&b.busy, 0);
    assert_true(busy_parked_within(&b, 2000)); /* nothing came: parked again */
    assert_int_equal(b.popped, 0);
    uint64_t item = 42;
    bl_ring_push_all(&b.ring, &item, 1);
    assert_int_equal(pthread_join(consumer, NULL), 0);
    assert_int_equal(b.popped, 42);
    bl_ring_deinit(&b.ring);
}

int main(void) {
    seed_init("test_ring");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_single_thread),
        cmocka_unit_test(test_ring_two_threads),
        cmocka_unit_test(test_ring_busy_and_nudge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
