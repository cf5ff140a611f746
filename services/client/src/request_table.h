/* request_table.h: the client's unanswered requests, found by message id.
 *
 * A fixed number of slots (the window) plus an open-addressing index keyed
 * by message id (hashed on its random half), so matching an answer to its
 * request costs the same with 16 or 65536 requests in flight. Internal to
 * libvigil-client; nothing here is exported. It stores payloads but never
 * looks into them.
 */
#ifndef VCLIENT_REQUEST_TABLE_H
#define VCLIENT_REQUEST_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/client.h"

/* One unanswered request. */
typedef struct {
    uint8_t id[VCLIENT_ID_BYTES]; /* the Envelope message_id, reused by every resend */
    int type;                     /* the Envelope type */
    uint8_t *payload;             /* owned copy of the serialized payload */
    size_t payload_len;
    int64_t created_at_ms;  /* wall clock at publish, written into the Envelope */
    uint64_t first_sent_ns; /* monotonic time of the first send, 0 before it */
    uint64_t due_ns;        /* monotonic time of the next (re)send */
    uint32_t attempts;      /* frames sent so far */
    void *user;             /* the caller's pointer */
} request_t;

typedef struct request_table_t request_table_t;

/* A table with room for `capacity` requests. Returns NULL if out of memory. */
request_table_t *request_table_new(size_t capacity);

/* Frees every request (and its payload) and the table; sets *table_p to
 * NULL. Cannot fail. */
void request_table_destroy(request_table_t **table_p);

/* Adds a zeroed request with id `id`. The request stays owned by the table.
 * Returns NULL if the table is full or the id is already present. */
request_t *request_table_add(request_table_t *table, const uint8_t id[VCLIENT_ID_BYTES]);

/* The request with id `id`, or NULL. */
request_t *request_table_find(const request_table_t *table, const uint8_t id[VCLIENT_ID_BYTES]);

/* Removes `request` (which must be in the table) and frees its payload.
 * Cannot fail. */
void request_table_remove(request_table_t *table, request_t *request);

/* Number of requests held. Cannot fail. */
size_t request_table_count(const request_table_t *table);

/* Number of slots, for iterating with request_table_slot(). Cannot fail. */
size_t request_table_capacity(const request_table_t *table);

/* The request in slot `slot` (< capacity), or NULL if the slot is free. */
request_t *request_table_slot(request_table_t *table, size_t slot);

#endif
