/* link_window.c: the sender's in-flight table: slots plus an open-addressing
 * map from message_id to slot index.
 *
 * The last eight bytes of a message id are random (the first eight are a
 * timestamp, see link_outbox.c), so they are already a good hash. The map has at least twice as
 * many buckets as slots and uses linear probing with backward-shift deletion (no tombstones), so
 * lookups stay short however long the link runs. It must never hand out a slot twice or keep a
 * freed slot's bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "link_window.h"

#define WINDOW_EMPTY       UINT32_MAX /* bucket holds no slot */
#define WINDOW_LOAD_FACTOR 2          /* buckets per slot, at least */

struct link_window_t {
    link_slot_t *slots;
    size_t capacity;
    size_t count;
    size_t bytes;
    uint32_t *free_list; /* stack of free slot indexes */
    size_t free_count;
    uint32_t *buckets; /* slot index or WINDOW_EMPTY */
    size_t bucket_mask;
};

#define WINDOW_HASH_OFFSET (VIGIL_ID_BYTES - sizeof(uint64_t))

static size_t s_hash(const uint8_t *id)
{
    uint64_t h;
    memcpy(&h, id + WINDOW_HASH_OFFSET, sizeof h);
    return (size_t)h;
}

link_window_t *link_window_new(size_t capacity)
{
    if (capacity == 0 || capacity >= WINDOW_EMPTY / WINDOW_LOAD_FACTOR)
        return NULL;
    link_window_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t buckets = 1;
    while (buckets < capacity * WINDOW_LOAD_FACTOR)
        buckets <<= 1;
    self->capacity = capacity;
    self->slots = calloc(capacity, sizeof *self->slots);
    self->free_list = malloc(capacity * sizeof *self->free_list);
    self->buckets = malloc(buckets * sizeof *self->buckets);
    if (!self->slots || !self->free_list || !self->buckets) {
        link_window_destroy(&self);
        return NULL;
    }
    self->bucket_mask = buckets - 1;
    for (size_t i = 0; i < buckets; i++)
        self->buckets[i] = WINDOW_EMPTY;
    /* Lowest index on top, so slots fill from the front. */
    for (size_t i = 0; i < capacity; i++)
        self->free_list[i] = (uint32_t)(capacity - 1 - i);
    self->free_count = capacity;
    return self;
}

void link_window_destroy(link_window_t **window_p)
{
    link_window_t *self = *window_p;
    if (!self)
        return;
    for (size_t i = 0; self->slots && i < self->capacity; i++)
        if (self->slots[i].used)
            link_window_remove(self, &self->slots[i]);
    free(self->slots);
    free(self->free_list);
    free(self->buckets);
    free(self);
    *window_p = NULL;
}

size_t link_window_count(const link_window_t *window)
{
    return window->count;
}

size_t link_window_capacity(const link_window_t *window)
{
    return window->capacity;
}

size_t link_window_bytes(const link_window_t *window)
{
    return window->bytes;
}

/* The bucket holding `id`, or the empty bucket where it would go. */
static size_t s_bucket(const link_window_t *self, const uint8_t *id)
{
    size_t b = s_hash(id) & self->bucket_mask;
    while (self->buckets[b] != WINDOW_EMPTY &&
           memcmp(self->slots[self->buckets[b]].message_id, id, VIGIL_ID_BYTES) != 0)
        b = (b + 1) & self->bucket_mask;
    return b;
}

link_slot_t *link_window_add(link_window_t *self, const uint8_t message_id[VIGIL_ID_BYTES],
                             uint8_t **wire_p, size_t wire_len)
{
    if (self->free_count == 0)
        return NULL;
    size_t b = s_bucket(self, message_id);
    if (self->buckets[b] != WINDOW_EMPTY)
        return NULL;
    uint32_t index = self->free_list[--self->free_count];
    link_slot_t *slot = &self->slots[index];
    memset(slot, 0, sizeof *slot);
    slot->used = true;
    memcpy(slot->message_id, message_id, VIGIL_ID_BYTES);
    slot->wire = *wire_p;
    slot->wire_len = wire_len;
    *wire_p = NULL;
    self->buckets[b] = index;
    self->count++;
    self->bytes += wire_len;
    return slot;
}

link_slot_t *link_window_find(link_window_t *self, const uint8_t *message_id, size_t len)
{
    if (len != VIGIL_ID_BYTES)
        return NULL;
    size_t b = s_bucket(self, message_id);
    return self->buckets[b] == WINDOW_EMPTY ? NULL : &self->slots[self->buckets[b]];
}

void link_window_remove(link_window_t *self, link_slot_t *slot)
{
    if (!slot || !slot->used)
        return;
    size_t b = s_bucket(self, slot->message_id);
    /* Backward-shift deletion: pull later entries of the probe run into the
     * hole when the hole lies on their way from their home bucket. */
    size_t hole = b;
    size_t next = (hole + 1) & self->bucket_mask;
    while (self->buckets[next] != WINDOW_EMPTY) {
        size_t home = s_hash(self->slots[self->buckets[next]].message_id) & self->bucket_mask;
        size_t distance_next = (next - home) & self->bucket_mask;
        size_t distance_hole = (hole - home) & self->bucket_mask;
        if (distance_hole < distance_next) {
            self->buckets[hole] = self->buckets[next];
            hole = next;
        }
        next = (next + 1) & self->bucket_mask;
    }
    self->buckets[hole] = WINDOW_EMPTY;
    if (slot->wire) {
        sodium_memzero(slot->wire, slot->wire_len);
        free(slot->wire);
    }
    self->bytes -= slot->wire_len;
    self->count--;
    self->free_list[self->free_count++] = (uint32_t)(slot - self->slots);
    memset(slot, 0, sizeof *slot);
}

link_slot_t *link_window_slot(link_window_t *self, size_t index)
{
    return &self->slots[index];
}
