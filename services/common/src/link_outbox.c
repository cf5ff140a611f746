/* link_outbox.c: the sender's half of the transactional outbox.
 *
 * link_outbox_enqueue() turns a payload into a serialized Envelope (fresh
 * message id, type, case and trace ids, creation time) and inserts it into
 * link_outbox in the caller's open transaction, sealed with the vault when
 * one is given (aad = message id). The row commits or rolls back with the
 * state change that caused it; the peer's link_client_t relays it after
 * the commit. Envelope.source and Envelope.attempt are left out here: the
 * relay appends them to the stored bytes at send time.
 *
 * A link client on the same connection may tap the outbox
 * (link_outbox_tap()): each envelope enqueued for its peer is then also
 * handed to it in plaintext, so its relay need not read back and unseal the
 * row it will find committed (link_client.c decides when it may use it).
 *
 * It must never send anything, and never commit or roll back the caller's
 * transaction.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "link_internal.h"
#include "vigil/util.h"

/* Small envelopes are packed on the stack; larger ones on the heap. */
#define OUTBOX_STACK_BYTES 4096
/* Envelope bytes besides the strings and the payload: tags, length
 * prefixes, the 16-byte id, the type and the timestamp (73 at most). */
#define OUTBOX_ENVELOPE_OVERHEAD 96

/* Message ids: an 8-byte big-endian microsecond timestamp, then 8 random
 * bytes. Still 128 bits and unique (64 random bits per microsecond), but
 * roughly increasing, so every receiver's inbox (keyed by message_id) grows
 * at its right edge instead of touching a random page per message. */
#define OUTBOX_ID_TIME_BYTES 8
#define OUTBOX_BITS_PER_BYTE 8

static void s_new_message_id(uint8_t id[VIGIL_ID_BYTES])
{
    uint64_t now = (uint64_t)link_now_us();
    for (int i = OUTBOX_ID_TIME_BYTES - 1; i >= 0; i--) {
        id[i] = (uint8_t)now;
        now >>= OUTBOX_BITS_PER_BYTE;
    }
    link_random_bytes(id + OUTBOX_ID_TIME_BYTES, VIGIL_ID_BYTES - OUTBOX_ID_TIME_BYTES);
}

static const char s_insert_sql[] = LINK_CACHED_SQL(
    "INSERT INTO link_outbox (peer, message_id, type, enqueued_us, sealed, envelope, id) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
static const char s_newest_sql[] = "SELECT max(id) FROM link_outbox";

static _Atomic int64_t s_last_row_id;

/* The taps (link_outbox_tap()); s_tap_count is read without the lock to
 * skip it when there are none. */
typedef struct {
    sqlite3 *db;
    const char *peer;
    const vault_t *vault;
    link_outbox_tap_fn fn;
    void *ctx;
} outbox_tap_t;

static pthread_mutex_t s_taps_lock = PTHREAD_MUTEX_INITIALIZER;
static outbox_tap_t s_taps[LINK_OUTBOX_TAPS_MAX];
static _Atomic size_t s_tap_count;

int link_outbox_tap(sqlite3 *db, const char *peer, const vault_t *vault, link_outbox_tap_fn fn,
                    void *ctx)
{
    int rc = -1;
    pthread_mutex_lock(&s_taps_lock);
    size_t count = atomic_load(&s_tap_count);
    if (count < LINK_OUTBOX_TAPS_MAX) {
        s_taps[count] =
            (outbox_tap_t){.db = db, .peer = peer, .vault = vault, .fn = fn, .ctx = ctx};
        atomic_store(&s_tap_count, count + 1);
        rc = 0;
    }
    pthread_mutex_unlock(&s_taps_lock);
    return rc;
}

void link_outbox_untap(void *ctx)
{
    pthread_mutex_lock(&s_taps_lock);
    size_t count = atomic_load(&s_tap_count);
    for (size_t i = 0; i < count;) {
        if (s_taps[i].ctx == ctx)
            s_taps[i] = s_taps[--count];
        else
            i++;
    }
    atomic_store(&s_tap_count, count);
    pthread_mutex_unlock(&s_taps_lock);
}

/* Hands an inserted row to the first tap of its connection and peer that
 * has the same vault. */
static void s_hand_over(sqlite3 *db, const char *peer, const vault_t *vault,
                        const link_outbox_enqueued_t *enqueued)
{
    if (atomic_load(&s_tap_count) == 0)
        return;
    pthread_mutex_lock(&s_taps_lock);
    size_t count = atomic_load(&s_tap_count);
    for (size_t i = 0; i < count; i++) {
        const outbox_tap_t *tap = &s_taps[i];
        if (tap->db == db && tap->vault == vault && strcmp(tap->peer, peer) == 0) {
            tap->fn(tap->ctx, enqueued);
            break;
        }
    }
    pthread_mutex_unlock(&s_taps_lock);
}

void link_outbox_note_id(int64_t id)
{
    int64_t last = atomic_load(&s_last_row_id);
    while (id > last && !atomic_compare_exchange_weak(&s_last_row_id, &last, id))
        ;
}

/* The next outbox row id: the clock in microseconds, or one more than the
 * last id when the clock has not moved on (or went back). */
static int64_t s_next_row_id(int64_t now_us)
{
    int64_t last = atomic_load(&s_last_row_id);
    int64_t next;
    do {
        next = now_us > last ? now_us : last + 1;
    } while (!atomic_compare_exchange_weak(&s_last_row_id, &last, next));
    return next;
}

/* First enqueue on a store: ids must continue above what it holds (the
 * clock may have gone back since those rows were written). */
static int s_learn_newest(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *newest = NULL;
    if (sqlite3_prepare_v2(db, s_newest_sql, -1, &newest, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "link_outbox_enqueue: sqlite: %s", sqlite3_errmsg(db));
        sqlite3_finalize(newest);
        return -1;
    }
    if (sqlite3_step(newest) == SQLITE_ROW)
        link_outbox_note_id(sqlite3_column_int64(newest, 0));
    sqlite3_finalize(newest);
    return 0;
}

/* link_outbox_insert(), and the id the row got in *row_id. */
static int s_insert(sqlite3 *db, const link_outbox_row_t *row, int64_t *row_id, char *err,
                    size_t errlen)
{
    bool first_use = false;
    sqlite3_stmt *insert = link_stmt_first(db, s_insert_sql, &first_use, err, errlen);
    if (!insert || (first_use && s_learn_newest(db, err, errlen)))
        return -1;
    sqlite3_bind_text(insert, 1, row->peer, -1, SQLITE_STATIC);
    sqlite3_bind_blob(insert, 2, row->message_id, (int)row->message_id_len, SQLITE_STATIC);
    sqlite3_bind_int(insert, 3, row->type);
    sqlite3_bind_int64(insert, 4, row->enqueued_us);
    sqlite3_bind_int(insert, 5, row->sealed ? 1 : 0);
    sqlite3_bind_blob(insert, 6, row->envelope, (int)row->envelope_len, SQLITE_STATIC);
    *row_id = s_next_row_id(row->enqueued_us);
    sqlite3_bind_int64(insert, 7, *row_id);
    int rc = 0;
    if (sqlite3_step(insert) != SQLITE_DONE) {
        snprintf(err, errlen, "outbox insert: sqlite: %s", sqlite3_errmsg(db));
        rc = -1;
    }
    sqlite3_reset(insert); /* every parameter is bound again before the next step */
    return rc;
}

int link_outbox_insert(sqlite3 *db, const link_outbox_row_t *row, char *err, size_t errlen)
{
    int64_t row_id;
    return s_insert(db, row, &row_id, err, errlen);
}

int link_outbox_enqueue(sqlite3 *db, const vault_t *vault, const char *peer,
                        Vigil__V1__MessageType type, const char *case_id, const char *trace_id,
                        const ProtobufCMessage *payload, uint8_t message_id[VIGIL_ID_BYTES],
                        char *err, size_t errlen)
{
    if (!db || !peer || !*peer || !payload) {
        snprintf(err, errlen, "link_outbox_enqueue: db, peer and payload are required");
        return -1;
    }
    if (sqlite3_get_autocommit(db)) {
        snprintf(err, errlen,
                 "link_outbox_enqueue: no open transaction; enqueue inside the transaction "
                 "that makes the change");
        return -1;
    }
    const ProtobufCMessageDescriptor *expected = link_payload_descriptor(type);
    if (expected && payload->descriptor != expected) {
        snprintf(err, errlen, "link_outbox_enqueue: message type %d needs a %s payload, not %s",
                 (int)type, expected->name, payload->descriptor->name);
        return -1;
    }
    uint8_t id[VIGIL_ID_BYTES];
    s_new_message_id(id);
    uint8_t stack[OUTBOX_STACK_BYTES];
    uint8_t *heap = NULL;
    int rc = -1;

    size_t payload_len = protobuf_c_message_get_packed_size(payload);
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = id;
    envelope.message_id.len = VIGIL_ID_BYTES;
    envelope.type = type;
    envelope.created_at_ms = util_now_ms();
    envelope.case_id = (char *)(case_id ? case_id : "");
    envelope.trace_id = (char *)(trace_id ? trace_id : "");
    envelope.payload.len = payload_len;
    /* The payload is packed at the end of the buffer, the envelope at its
     * start: one allocation for both. */
    size_t envelope_max = payload_len + OUTBOX_ENVELOPE_OVERHEAD + strlen(envelope.case_id) +
                          strlen(envelope.trace_id);
    size_t need = payload_len + envelope_max + (vault ? envelope_max + VAULT_OVERHEAD : 0);
    uint8_t *buffer = stack;
    if (need > sizeof stack) {
        heap = malloc(need);
        if (!heap) {
            snprintf(err, errlen, "link_outbox_enqueue: out of memory for %zu bytes", need);
            return -1;
        }
        buffer = heap;
    }
    uint8_t *payload_bytes = buffer + envelope_max;
    protobuf_c_message_pack(payload, payload_bytes);
    envelope.payload.data = payload_bytes;
    size_t envelope_len = link_envelope_pack(&envelope, buffer); /* protobuf-c's bytes, faster */
    const uint8_t *stored = buffer;
    size_t stored_len = envelope_len;
    if (vault) {
        uint8_t *sealed = payload_bytes + payload_len;
        stored_len = vault_seal(vault, buffer, envelope_len, id, VIGIL_ID_BYTES, sealed);
        stored = sealed;
    }

    link_outbox_row_t row = {
        .peer = peer,
        .message_id = id,
        .message_id_len = VIGIL_ID_BYTES,
        .type = (int)type,
        .enqueued_us = link_now_us(),
        .sealed = vault != NULL,
        .envelope = stored,
        .envelope_len = stored_len,
    };
    int64_t row_id = 0;
    rc = s_insert(db, &row, &row_id, err, errlen);
    if (rc == 0) {
        link_outbox_enqueued_t enqueued = {
            .row_id = row_id,
            .message_id = id,
            .type = (int)type,
            .enqueued_us = row.enqueued_us,
            .wire = buffer,
            .wire_len = envelope_len,
        };
        s_hand_over(db, peer, vault, &enqueued);
    }
    if (rc == 0 && message_id)
        memcpy(message_id, id, VIGIL_ID_BYTES);
    /* The plaintext may hold personal data: leave none of it behind. */
    sodium_memzero(buffer, envelope_max + payload_len);
    free(heap);
    return rc;
}
