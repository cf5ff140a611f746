/* arena.h: a bump allocator for one unpacked request.
 *
 * protobuf-c unpacks a message into many small allocations (one per string
 * and sub-message) and frees them one by one. intake's handler unpacks one
 * request at a time on the loop thread and drops it whole at the end, so it
 * hands protobuf-c this arena instead: allocations come from a buffer the
 * caller provides (usually on the stack), spilling to malloc'd blocks only
 * for large requests, and nothing is freed until arena_release(), which
 * wipes every byte handed out (the request may hold personal data) and
 * frees the blocks. Must never be used by two threads at once (handing it
 * over, e.g. from a thread that prepares rows to the one that stores them,
 * is fine), and never free a pointer it did not hand out.
 */
#ifndef INTAKE_ARENA_H
#define INTAKE_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

typedef struct arena_block_t arena_block_t;

typedef struct {
    ProtobufCAllocator allocator; /* pass &arena->allocator to protobuf-c */
    unsigned char *buffer;        /* the caller's first buffer */
    size_t size, used;
    arena_block_t *blocks; /* spilled blocks, newest first */
} arena_t;

/* Makes `arena` allocate from `buffer` (`size` bytes, kept by the caller
 * until arena_release()). Cannot fail. */
void arena_init(arena_t *arena, void *buffer, size_t size);

/* Wipes everything allocated, frees the spilled blocks, and leaves the
 * arena empty and usable again. Cannot fail. */
void arena_release(arena_t *arena);

#endif
