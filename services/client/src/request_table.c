/* request_table.c: slots for unanswered requests and an index by message id.
 *
 * Slots are a plain array with a stack of free slot numbers. The index is a
 * power-of-two array of slot numbers probed linearly from a hash of the id
 * (the last 8 bytes: random in every id, so already a good hash; the first
 * 8 are a timestamp)
 * and kept at most half full; removal shifts later entries back instead of
 * leaving tombstones, so lookups never degrade over a long run. It must
 * never look at a payload.
 */
#include "request_table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
    TABLE_INDEX_LOAD_FACTOR = 2, /* index slots per request slot, at least */
    TABLE_EMPTY = -1,            /* an unused index entry */
};

struct request_table_t {
    request_t *requests; /* [capacity] */
    bool *used;          /* [capacity] */
    size_t *free_stack;  /* [capacity] free slot numbers */
    size_t free_count;
    size_t capacity;
    long *index; /* [index_size] slot numbers or TABLE_EMPTY */
    size_t index_mask;
};

static size_t s_home(const request_table_t *table, const uint8_t id[VCLIENT_ID_BYTES])
{
    uint64_t h;
    memcpy(&h, id + VCLIENT_ID_BYTES - sizeof h, sizeof h);
    return (size_t)h & table->index_mask;
}

request_table_t *request_table_new(size_t capacity)
{
    request_table_t *table = calloc(1, sizeof *table);
    if (table == NULL || capacity == 0) {
        goto fail;
    }
    size_t index_size = 1;
    while (index_size < capacity * TABLE_INDEX_LOAD_FACTOR) {
        index_size <<= 1;
    }
    table->capacity = capacity;
    table->index_mask = index_size - 1;
    table->requests = calloc(capacity, sizeof *table->requests);
    table->used = calloc(capacity, sizeof *table->used);
    table->free_stack = calloc(capacity, sizeof *table->free_stack);
    table->index = malloc(index_size * sizeof *table->index);
    if (!table->requests || !table->used || !table->free_stack || !table->index) {
        goto fail;
    }
    for (size_t i = 0; i < index_size; i++) {
        table->index[i] = TABLE_EMPTY;
    }
    for (size_t i = 0; i < capacity; i++) {
        table->free_stack[i] = capacity - 1 - i;
    }
    table->free_count = capacity;
    return table;
fail:
    request_table_destroy(&table);
    return NULL;
}

void request_table_destroy(request_table_t **table_p)
{
    request_table_t *table = *table_p;
    if (table == NULL) {
        return;
    }
    if (table->requests != NULL && table->used != NULL) {
        for (size_t i = 0; i < table->capacity; i++) {
            if (table->used[i]) {
                free(table->requests[i].payload);
            }
        }
    }
    free(table->requests);
    free(table->used);
    free(table->free_stack);
    free(table->index);
    free(table);
    *table_p = NULL;
}

/* The index position holding `id`, or the empty position where it would go. */
static size_t s_probe(const request_table_t *table, const uint8_t id[VCLIENT_ID_BYTES])
{
    size_t i = s_home(table, id);
    while (table->index[i] != TABLE_EMPTY &&
           memcmp(table->requests[table->index[i]].id, id, VCLIENT_ID_BYTES) != 0) {
        i = (i + 1) & table->index_mask;
    }
    return i;
}

request_t *request_table_add(request_table_t *table, const uint8_t id[VCLIENT_ID_BYTES])
{
    if (table->free_count == 0) {
        return NULL;
    }
    size_t pos = s_probe(table, id);
    if (table->index[pos] != TABLE_EMPTY) {
        return NULL;
    }
    size_t slot = table->free_stack[--table->free_count];
    table->used[slot] = true;
    request_t *request = &table->requests[slot];
    memset(request, 0, sizeof *request);
    memcpy(request->id, id, VCLIENT_ID_BYTES);
    table->index[pos] = (long)slot;
    return request;
}

request_t *request_table_find(const request_table_t *table, const uint8_t id[VCLIENT_ID_BYTES])
{
    size_t pos = s_probe(table, id);
    return table->index[pos] == TABLE_EMPTY ? NULL : &table->requests[table->index[pos]];
}

void request_table_remove(request_table_t *table, request_t *request)
{
    size_t slot = (size_t)(request - table->requests);
    size_t hole = s_probe(table, request->id);
    free(request->payload);
    memset(request, 0, sizeof *request);
    table->used[slot] = false;
    table->free_stack[table->free_count++] = slot;

    /* Backward-shift deletion: move later entries of the probe run into the
     * hole unless their home lies cyclically in (hole, j]. */
    table->index[hole] = TABLE_EMPTY;
    size_t j = hole;
    for (;;) {
        j = (j + 1) & table->index_mask;
        if (table->index[j] == TABLE_EMPTY) {
            break;
        }
        size_t home = s_home(table, table->requests[table->index[j]].id);
        bool stays = (hole < j) ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            table->index[hole] = table->index[j];
            table->index[j] = TABLE_EMPTY;
            hole = j;
        }
    }
}

size_t request_table_count(const request_table_t *table)
{
    return table->capacity - table->free_count;
}

size_t request_table_capacity(const request_table_t *table)
{
    return table->capacity;
}

request_t *request_table_slot(request_table_t *table, size_t slot)
{
    return table->used[slot] ? &table->requests[slot] : NULL;
}
