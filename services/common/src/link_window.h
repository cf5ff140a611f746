/* link_window.h: the sender's table of unacknowledged messages (private).
 *
 * A fixed number of slots (the peer's window) and a map from message_id to
 * slot, so an ack finds its message in constant time. A slot holds the
 * plaintext envelope ready to send, its outbox row id, how often it was sent
 * and when it is due next. The window is the link's backpressure: the relay
 * loads no new outbox row while every slot is taken.
 *
 * It never touches a socket or the store, and wipes a slot's bytes when the
 * slot is freed (they may hold personal data).
 */
#ifndef VIGIL_LINK_WINDOW_H
#define VIGIL_LINK_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/util.h"

typedef struct {
    bool used;
    int64_t row_id; /* link_outbox.id */
    uint8_t message_id[VIGIL_ID_BYTES];
    int type;      /* Vigil__V1__MessageType */
    uint8_t *wire; /* the plaintext envelope (without source/attempt) */
    size_t wire_len;
    uint32_t attempt;    /* sends so far; 0 = never sent */
    uint64_t due_ns;     /* next (re)send, monotonic */
    uint64_t sent_ns;    /* last send, monotonic */
    int64_t enqueued_us; /* wall clock at enqueue, for the ack latency */
} link_slot_t;

typedef struct link_window_t link_window_t;

/* Creates a window of `capacity` slots. Returns NULL on allocation failure
 * or capacity 0. */
link_window_t *link_window_new(size_t capacity);

/* Frees every slot's bytes and the window; sets *window_p to NULL. Cannot
 * fail. */
void link_window_destroy(link_window_t **window_p);

/* Slots in use / in total / bytes held by used slots. Cannot fail. */
size_t link_window_count(const link_window_t *window);
size_t link_window_capacity(const link_window_t *window);
size_t link_window_bytes(const link_window_t *window);

/* Takes a free slot for `message_id`, taking ownership of `*wire_p` (set to
 * NULL). Returns the slot, or NULL when the window is full or the id is
 * already in it (then *wire_p is untouched). */
link_slot_t *link_window_add(link_window_t *window, const uint8_t message_id[VIGIL_ID_BYTES],
                             uint8_t **wire_p, size_t wire_len);

/* The slot holding `message_id`, or NULL. Cannot fail. */
link_slot_t *link_window_find(link_window_t *window, const uint8_t *message_id, size_t len);

/* Frees `slot` (wiping its bytes). Cannot fail. */
void link_window_remove(link_window_t *window, link_slot_t *slot);

/* Slot `index` (0 .. capacity-1), used or not, for scans. Cannot fail. */
link_slot_t *link_window_slot(link_window_t *window, size_t index);

#endif
