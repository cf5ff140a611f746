/* arena.c: a bump allocator for one unpacked request (see arena.h).
 *
 * Allocations are rounded up to ARENA_ALIGN bytes. A request that does not
 * fit in what is left of the current buffer gets a malloc'd block of its
 * own size or ARENA_BLOCK_MIN, whichever is larger; blocks are wiped and
 * freed in arena_release(). Never logs; never frees a foreign pointer.
 */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <sodium.h>

enum {
    ARENA_ALIGN = alignof(max_align_t),
    ARENA_BLOCK_MIN = 16384, /* smallest spilled block */
};

struct arena_block_t {
    arena_block_t *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
};

static size_t s_round(size_t size)
{
    return (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

static void *s_alloc(void *data, size_t size)
{
    arena_t *arena = data;
    size = s_round(size ? size : 1);
    if (arena->size - arena->used >= size) {
        void *out = arena->buffer + arena->used;
        arena->used += size;
        return out;
    }
    arena_block_t *block = arena->blocks;
    if (block && block->size - block->used >= size) {
        void *out = block->data + block->used;
        block->used += size;
        return out;
    }
    size_t block_size = size > ARENA_BLOCK_MIN ? size : ARENA_BLOCK_MIN;
    block = malloc(sizeof *block + block_size);
    if (!block)
        return NULL;
    block->size = block_size;
    block->used = size;
    block->next = arena->blocks;
    arena->blocks = block;
    return block->data;
}

static void s_free(void *data, void *pointer)
{
    (void)data; /* everything goes at once in arena_release() */
    (void)pointer;
}

void arena_init(arena_t *arena, void *buffer, size_t size)
{
    uintptr_t start = (uintptr_t)buffer;
    uintptr_t aligned = (start + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
    size_t skip = (size_t)(aligned - start);
    arena->allocator.alloc = s_alloc;
    arena->allocator.free = s_free;
    arena->allocator.allocator_data = arena;
    arena->buffer = (unsigned char *)buffer + (skip < size ? skip : size);
    arena->size = skip < size ? size - skip : 0;
    arena->used = 0;
    arena->blocks = NULL;
}

void arena_release(arena_t *arena)
{
    sodium_memzero(arena->buffer, arena->used);
    arena->used = 0;
    while (arena->blocks) {
        arena_block_t *block = arena->blocks;
        arena->blocks = block->next;
        sodium_memzero(block->data, block->used);
        free(block);
    }
}
