/*
 * Table memory and the partition indexes.
 *
 * Every table is reserved once with an anonymous private mapping: pages are committed by the
 * kernel as they are first written, so an engine sized for 100 M transfers that holds 1 M
 * costs the memory of 1 M, unless a memory budget (budget.c) commits more at start. Large tables
 * ask for transparent huge pages, which cut TLB misses on random lookups. Index buckets and chain
 * links hold slot + 1, so the zero pages of a new mapping are already empty buckets and no
 * initialization pass touches them.
 *
 * A table is not inherited by a forked process (MADV_DONTFORK) unless the image writer reads
 * it (bl_engine_image_inherit marks those): the checkpoint's child then shares only the
 * image's memory with the server, so after the fork the server's writes to every other table
 * (the indexes, above all, written at random) are not copied, and their huge pages are not
 * split.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/internal.h"

#define BL_HUGE_PAGE_BYTES (2u * 1024u * 1024u)

void *bl_table_reserve(uint64_t bytes) {
    BL_ASSERT(bytes > 0);
    void *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (memory == MAP_FAILED) return NULL;
    if (bytes >= BL_HUGE_PAGE_BYTES) (void)madvise(memory, bytes, MADV_HUGEPAGE);
    (void)madvise(memory, bytes, MADV_DONTFORK);
    return memory;
}

void bl_table_release(void *memory, uint64_t bytes) {
    if (memory != NULL) munmap(memory, bytes);
}

int bl_index_init(bl_index_t *index, uint64_t buckets) {
    BL_ASSERT(buckets > 0 && (buckets & (buckets - 1)) == 0);
    index->buckets = bl_table_reserve(buckets * sizeof(uint64_t));
    if (index->buckets == NULL) return -ENOMEM;
    index->mask = buckets - 1;
    return 0;
}

void bl_index_deinit(bl_index_t *index) {
    bl_table_release(index->buckets, (index->mask + 1) * sizeof(uint64_t));
    index->buckets = NULL;
}

int bl_map_init(bl_map_t *map, uint64_t capacity) {
    uint64_t slots = 16;
    while (slots < 2 * capacity) slots *= 2; /* load factor at most 1/2 */
    map->entries = bl_table_reserve(slots * sizeof(bl_map_entry_t));
    if (map->entries == NULL) return -ENOMEM;
    map->mask = slots - 1;
    map->gen = 1;
    map->count = 0;
    return 0;
}

void bl_map_deinit(bl_map_t *map) {
    bl_table_release(map->entries, (map->mask + 1) * sizeof(bl_map_entry_t));
    map->entries = NULL;
}

void bl_map_clear(bl_map_t *map) {
    map->count = 0;
    if (++map->gen == 0) { /* wrapped: entries of an old generation could look current */
        memset(map->entries, 0, (map->mask + 1) * sizeof(bl_map_entry_t));
        map->gen = 1;
    }
}
