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
 * It does so in two halves, which a writer may also call apart:
 * link_outbox_prepare() builds the row (id, clock, envelope, seal) without
 * the store, on any thread, and link_outbox_enqueue_prepared() stores it
 * in the transaction. link_outbox_enqueue() is the two in a row, with the
 * bytes on its stack when they fit.
 *
 * A link client on the same connection may tap the outbox
 * (link_outbox_tap()): each envelope enqueued for its peer is then also
 * handed to it in plaintext, so its relay need not read back and unseal the
 * row it will find committed (link_client.c decides when it may use it).
 *
 * A writer that enqueues many rows in one transaction may defer them
 * (link_outbox_defer()): the rows are then kept in memory, in order, with
 * their row ids already assigned, and link_outbox_flush() writes them
 * OUTBOX_CHUNK_ROWS per INSERT (one statement step per chunk instead of one
 * per row) and hands them to the taps, still inside the caller's
 * transaction. Deferred plaintext is wiped when it is written or dropped.
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
#define OUTBOX_US_PER_MS     1000

static void s_new_message_id(uint8_t id[VIGIL_ID_BYTES], int64_t now_us)
{
    uint64_t now = (uint64_t)now_us;
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

/* The single-row INSERT on `db`; on its first use, ids are taught to
 * continue above the store's newest row. Returns NULL with a message. */
static sqlite3_stmt *s_insert_stmt(sqlite3 *db, char *err, size_t errlen)
{
    bool first_use = false;
    sqlite3_stmt *insert = link_stmt_first(db, s_insert_sql, &first_use, err, errlen);
    if (!insert || (first_use && s_learn_newest(db, err, errlen)))
        return NULL;
    return insert;
}

/* Binds one row to parameters first .. first + 6 of an outbox INSERT. */
static void s_bind_row(sqlite3_stmt *insert, int first, const link_outbox_row_t *row,
                       int64_t row_id)
{
    sqlite3_bind_text(insert, first, row->peer, -1, SQLITE_STATIC);
    sqlite3_bind_blob(insert, first + 1, row->message_id, (int)row->message_id_len, SQLITE_STATIC);
    sqlite3_bind_int(insert, first + 2, row->type);
    sqlite3_bind_int64(insert, first + 3, row->enqueued_us);
    sqlite3_bind_int(insert, first + 4, row->sealed ? 1 : 0);
    sqlite3_bind_blob(insert, first + 5, row->envelope, (int)row->envelope_len, SQLITE_STATIC);
    sqlite3_bind_int64(insert, first + 6, row_id);
}

/* link_outbox_insert(), and the id the row got in *row_id. */
static int s_insert(sqlite3 *db, const link_outbox_row_t *row, int64_t *row_id, char *err,
                    size_t errlen)
{
    sqlite3_stmt *insert = s_insert_stmt(db, err, errlen);
    if (!insert)
        return -1;
    *row_id = s_next_row_id(row->enqueued_us);
    s_bind_row(insert, 1, row, *row_id);
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

/* --- deferred rows (link_outbox_defer) ---------------------------------- */

#define OUTBOX_CHUNK_ROWS  32 /* rows per multi-row INSERT, as the inbox's records */
#define OUTBOX_ROW_PARAMS  7
#define OUTBOX_CHUNK_VALUE ", (?, ?, ?, ?, ?, ?, ?)"
#define OUTBOX_FIRST_ROWS  64          /* rows a deferral makes room for at first */
#define OUTBOX_FIRST_BYTES 8192        /* bytes a deferral makes room for at first */
#define OUTBOX_KEEP_BYTES  (16u << 20) /* larger deferral buffers are freed after use */

/* One deferred row: its fields, and where its strings and bytes are in the
 * deferral's buffer (offsets, since the buffer moves as it grows). */
typedef struct {
    int64_t row_id;
    int64_t enqueued_us;
    int type;
    bool sealed;
    const vault_t *vault;
    uint8_t message_id[VIGIL_ID_BYTES];
    size_t peer_at;               /* NUL-terminated */
    size_t stored_at, stored_len; /* what the row holds (sealed or not) */
    size_t wire_at, wire_len;     /* the plaintext envelope, for a tap */
} deferred_row_t;

/* The thread's deferral: a connection is used by one thread, so one
 * deferral per thread, for one connection at a time. */
typedef struct {
    sqlite3 *db; /* NULL when not deferring */
    deferred_row_t *rows;
    size_t count, capacity;
    uint8_t *bytes;
    size_t used, size;
} deferral_t;

static _Thread_local deferral_t s_deferral;

static pthread_once_t s_chunk_once = PTHREAD_ONCE_INIT;
static char s_chunk_sql[sizeof s_insert_sql + OUTBOX_CHUNK_ROWS * sizeof OUTBOX_CHUNK_VALUE];

/* s_insert_sql with OUTBOX_CHUNK_ROWS rows of values. */
static void s_build_chunk_sql(void)
{
    size_t used = (size_t)snprintf(s_chunk_sql, sizeof s_chunk_sql, "%s", s_insert_sql);
    for (size_t i = 1; i < OUTBOX_CHUNK_ROWS; i++)
        used += (size_t)snprintf(s_chunk_sql + used, sizeof s_chunk_sql - used, "%s",
                                 OUTBOX_CHUNK_VALUE);
}

/* Wipes what the deferral holds (the bytes may hold personal data) and ends
 * it. Its buffers are kept for the thread's next deferral unless they grew
 * past OUTBOX_KEEP_BYTES: a decision pass defers thousands of rows, and
 * growing the buffers again from nothing (copies, fresh pages) every pass
 * cost triage 3% of its loop. Cannot fail. */
static void s_deferral_end(deferral_t *d)
{
    if (d->bytes)
        sodium_memzero(d->bytes, d->used);
    if (d->size > OUTBOX_KEEP_BYTES || d->capacity * sizeof *d->rows > OUTBOX_KEEP_BYTES) {
        free(d->bytes);
        free(d->rows);
        *d = (deferral_t){0};
        return;
    }
    d->db = NULL;
    d->count = 0;
    d->used = 0;
}

/* Room for `more` bytes; an outgrown buffer is wiped before it is freed. */
static int s_reserve_bytes(deferral_t *d, size_t more)
{
    if (d->size - d->used >= more)
        return 0;
    size_t size = d->size ? d->size : OUTBOX_FIRST_BYTES;
    while (size - d->used < more)
        size *= 2;
    uint8_t *bytes = malloc(size);
    if (!bytes)
        return -1;
    if (d->bytes) {
        memcpy(bytes, d->bytes, d->used);
        sodium_memzero(d->bytes, d->used);
        free(d->bytes);
    }
    d->bytes = bytes;
    d->size = size;
    return 0;
}

static size_t s_put_bytes(deferral_t *d, const void *data, size_t len)
{
    size_t at = d->used;
    memcpy(d->bytes + at, data, len);
    d->used += len;
    return at;
}

/* Keeps a row for link_outbox_flush(). */
static int s_defer_row(deferral_t *d, const vault_t *vault, const link_outbox_row_t *row,
                       const uint8_t *wire, size_t wire_len, int64_t *row_id, char *err,
                       size_t errlen)
{
    size_t peer_len = strlen(row->peer) + 1;
    if (d->count == d->capacity) {
        size_t capacity = d->capacity ? d->capacity * 2 : OUTBOX_FIRST_ROWS;
        deferred_row_t *rows = realloc(d->rows, capacity * sizeof *rows);
        if (!rows) {
            snprintf(err, errlen, "link_outbox_enqueue: out of memory for deferred rows");
            return -1;
        }
        d->rows = rows;
        d->capacity = capacity;
    }
    if (s_reserve_bytes(d, peer_len + row->envelope_len + (row->sealed ? wire_len : 0))) {
        snprintf(err, errlen, "link_outbox_enqueue: out of memory for deferred rows");
        return -1;
    }
    deferred_row_t *kept = &d->rows[d->count++];
    *row_id = s_next_row_id(row->enqueued_us);
    *kept = (deferred_row_t){.row_id = *row_id,
                             .enqueued_us = row->enqueued_us,
                             .type = row->type,
                             .sealed = row->sealed,
                             .vault = vault};
    memcpy(kept->message_id, row->message_id, VIGIL_ID_BYTES);
    kept->peer_at = s_put_bytes(d, row->peer, peer_len);
    kept->stored_at = s_put_bytes(d, row->envelope, row->envelope_len);
    kept->stored_len = row->envelope_len;
    kept->wire_at = row->sealed ? s_put_bytes(d, wire, wire_len) : kept->stored_at;
    kept->wire_len = wire_len;
    return 0;
}

int link_outbox_defer(sqlite3 *db, char *err, size_t errlen)
{
    if (s_deferral.db) {
        snprintf(err, errlen, "link_outbox_defer: this thread already defers rows");
        return -1;
    }
    if (!s_insert_stmt(db, err, errlen)) /* row ids must start above the store's */
        return -1;
    s_deferral.db = db;
    return 0;
}

/* The row's fields as link_outbox_row_t, pointing into the buffer. */
static link_outbox_row_t s_row_of(const deferral_t *d, const deferred_row_t *kept)
{
    return (link_outbox_row_t){.peer = (const char *)d->bytes + kept->peer_at,
                               .message_id = kept->message_id,
                               .message_id_len = VIGIL_ID_BYTES,
                               .type = kept->type,
                               .enqueued_us = kept->enqueued_us,
                               .sealed = kept->sealed,
                               .envelope = d->bytes + kept->stored_at,
                               .envelope_len = kept->stored_len};
}

/* Inserts rows [first, first + n) with one statement: n is 1 or
 * OUTBOX_CHUNK_ROWS. */
static int s_write_rows(sqlite3 *db, const deferral_t *d, size_t first, size_t n, char *err,
                        size_t errlen)
{
    sqlite3_stmt *insert;
    if (n == 1) {
        insert = s_insert_stmt(db, err, errlen);
    } else {
        pthread_once(&s_chunk_once, s_build_chunk_sql);
        insert = link_stmt(db, s_chunk_sql, err, errlen);
    }
    if (!insert)
        return -1;
    for (size_t i = 0; i < n; i++) {
        link_outbox_row_t row = s_row_of(d, &d->rows[first + i]);
        s_bind_row(insert, 1 + (int)(i * OUTBOX_ROW_PARAMS), &row, d->rows[first + i].row_id);
    }
    int rc = 0;
    if (sqlite3_step(insert) != SQLITE_DONE) {
        snprintf(err, errlen, "outbox insert: sqlite: %s", sqlite3_errmsg(db));
        rc = -1;
    }
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert); /* they point into a buffer about to be wiped */
    return rc;
}

int link_outbox_flush(sqlite3 *db, char *err, size_t errlen)
{
    deferral_t *d = &s_deferral;
    if (d->db != db) {
        snprintf(err, errlen, "link_outbox_flush: this connection defers no rows");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < d->count;) {
        size_t n = d->count - i >= OUTBOX_CHUNK_ROWS ? OUTBOX_CHUNK_ROWS : 1;
        rc = s_write_rows(db, d, i, n, err, errlen);
        i += n;
    }
    for (size_t i = 0; rc == 0 && i < d->count; i++) {
        const deferred_row_t *kept = &d->rows[i];
        link_outbox_enqueued_t enqueued = {
            .row_id = kept->row_id,
            .message_id = kept->message_id,
            .type = kept->type,
            .enqueued_us = kept->enqueued_us,
            .wire = d->bytes + kept->wire_at,
            .wire_len = kept->wire_len,
        };
        s_hand_over(db, (const char *)d->bytes + kept->peer_at, kept->vault, &enqueued);
    }
    s_deferral_end(d);
    return rc;
}

size_t link_outbox_deferred(sqlite3 *db)
{
    return s_deferral.db == db ? s_deferral.count : 0;
}

void link_outbox_discard(sqlite3 *db)
{
    if (s_deferral.db == db)
        s_deferral_end(&s_deferral);
}

/* --- prepared rows (link_outbox_prepare) ------------------------------- */

/* Fails with "<who>: no open transaction ..." when `db` has none. */
static int s_need_transaction(const char *who, sqlite3 *db, char *err, size_t errlen)
{
    if (!sqlite3_get_autocommit(db))
        return 0;
    snprintf(err, errlen,
             "%s: no open transaction; enqueue inside the transaction that makes the change", who);
    return -1;
}

/* link_outbox_prepare(), with `who` naming the public function in messages.
 *
 * Thread-safety: nothing here touches a store, logs, or writes shared
 * state. link_random_bytes() draws from a _Thread_local pool (its atfork
 * hook is installed under pthread_once, and sodium_init() is thread-safe);
 * link_now_us() is a clock_gettime() call; link_payload_descriptor() reads
 * a const table; packing reads only `payload`; vault_seal() takes its nonce
 * from a _Thread_local stream and only reads the vault's key ring. */
static int s_prepare(const char *who, const vault_t *vault, const char *peer,
                     Vigil__V1__MessageType type, const char *case_id, const char *trace_id,
                     const ProtobufCMessage *payload, ProtobufCAllocator *allocator,
                     link_outbox_prepared_t *out, char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor *expected = link_payload_descriptor(type);
    if (expected && payload->descriptor != expected) {
        snprintf(err, errlen, "%s: message type %d needs a %s payload, not %s", who, (int)type,
                 expected->name, payload->descriptor->name);
        return -1;
    }
    *out = (link_outbox_prepared_t){.peer = peer, .vault = vault, .type = (int)type};
    out->enqueued_us = link_now_us(); /* one clock read for the id, the envelope and the row */
    s_new_message_id(out->message_id, out->enqueued_us);

    size_t payload_len = protobuf_c_message_get_packed_size(payload);
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = out->message_id;
    envelope.message_id.len = VIGIL_ID_BYTES;
    envelope.type = type;
    envelope.created_at_ms = out->enqueued_us / OUTBOX_US_PER_MS;
    envelope.case_id = (char *)(case_id ? case_id : "");
    envelope.trace_id = (char *)(trace_id ? trace_id : "");
    envelope.payload.len = payload_len;
    /* One block: the envelope at its start, the payload packed after it,
     * then the sealed envelope (over the payload's place and beyond). */
    size_t envelope_max = payload_len + OUTBOX_ENVELOPE_OVERHEAD + strlen(envelope.case_id) +
                          strlen(envelope.trace_id);
    size_t need = payload_len + envelope_max + (vault ? envelope_max + VAULT_OVERHEAD : 0);
    uint8_t *buffer = allocator->alloc(allocator->allocator_data, need);
    if (!buffer) {
        snprintf(err, errlen, "%s: out of memory for %zu bytes", who, need);
        return -1;
    }
    uint8_t *payload_bytes = buffer + envelope_max;
    protobuf_c_message_pack(payload, payload_bytes);
    envelope.payload.data = payload_bytes;
    out->wire = buffer;
    out->wire_len = link_envelope_pack(&envelope, buffer); /* protobuf-c's bytes, faster */
    /* The envelope holds a copy: leave the plaintext in one place only. */
    sodium_memzero(payload_bytes, payload_len);
    out->stored = buffer;
    out->stored_len = out->wire_len;
    if (vault) {
        uint8_t *sealed = payload_bytes + payload_len;
        out->stored_len =
            vault_seal(vault, buffer, out->wire_len, out->message_id, VIGIL_ID_BYTES, sealed);
        out->stored = sealed;
    }
    return 0;
}

int link_outbox_prepare(const vault_t *vault, const char *peer, Vigil__V1__MessageType type,
                        const char *case_id, const char *trace_id, const ProtobufCMessage *payload,
                        ProtobufCAllocator *allocator, link_outbox_prepared_t *out, char *err,
                        size_t errlen)
{
    if (!peer || !*peer || !payload || !allocator || !out) {
        snprintf(err, errlen, "link_outbox_prepare: peer, payload, allocator and out are required");
        return -1;
    }
    return s_prepare("link_outbox_prepare", vault, peer, type, case_id, trace_id, payload,
                     allocator, out, err, errlen);
}

/* Stores a prepared row; the caller checked the transaction. */
static int s_store_prepared(sqlite3 *db, const link_outbox_prepared_t *prepared, char *err,
                            size_t errlen)
{
    link_outbox_row_t row = {
        .peer = prepared->peer,
        .message_id = prepared->message_id,
        .message_id_len = VIGIL_ID_BYTES,
        .type = prepared->type,
        .enqueued_us = prepared->enqueued_us,
        .sealed = prepared->vault != NULL,
        .envelope = prepared->stored,
        .envelope_len = prepared->stored_len,
    };
    int64_t row_id = 0;
    if (s_deferral.db == db)
        return s_defer_row(&s_deferral, prepared->vault, &row, prepared->wire, prepared->wire_len,
                           &row_id, err, errlen);
    if (s_insert(db, &row, &row_id, err, errlen))
        return -1;
    link_outbox_enqueued_t enqueued = {
        .row_id = row_id,
        .message_id = prepared->message_id,
        .type = prepared->type,
        .enqueued_us = prepared->enqueued_us,
        .wire = prepared->wire,
        .wire_len = prepared->wire_len,
    };
    s_hand_over(db, prepared->peer, prepared->vault, &enqueued);
    return 0;
}

int link_outbox_enqueue_prepared(sqlite3 *db, const link_outbox_prepared_t *row, char *err,
                                 size_t errlen)
{
    static const char who[] = "link_outbox_enqueue_prepared";
    if (!db || !row || !row->peer || !row->stored) {
        snprintf(err, errlen, "%s: db and a prepared row are required", who);
        return -1;
    }
    if (s_need_transaction(who, db, err, errlen))
        return -1;
    return s_store_prepared(db, row, err, errlen);
}

/* link_outbox_enqueue()'s allocator: the first block from a buffer on the
 * caller's stack when it fits, else from the heap. */
typedef struct {
    ProtobufCAllocator base;
    uint8_t *stack;
    size_t stack_size;
    bool stack_used;
    void *heap;
} stack_allocator_t;

static void *s_stack_alloc(void *data, size_t size)
{
    stack_allocator_t *a = data;
    if (!a->stack_used && size <= a->stack_size) {
        a->stack_used = true;
        return a->stack;
    }
    if (a->heap)
        return NULL; /* s_prepare() asks once */
    a->heap = malloc(size);
    return a->heap;
}

static void s_stack_free(void *data, void *pointer)
{
    (void)data; /* link_outbox_enqueue() frees the heap block itself */
    (void)pointer;
}

int link_outbox_enqueue(sqlite3 *db, const vault_t *vault, const char *peer,
                        Vigil__V1__MessageType type, const char *case_id, const char *trace_id,
                        const ProtobufCMessage *payload, uint8_t message_id[VIGIL_ID_BYTES],
                        char *err, size_t errlen)
{
    static const char who[] = "link_outbox_enqueue";
    if (!db || !peer || !*peer || !payload) {
        snprintf(err, errlen, "%s: db, peer and payload are required", who);
        return -1;
    }
    if (s_need_transaction(who, db, err, errlen))
        return -1;
    uint8_t stack[OUTBOX_STACK_BYTES];
    stack_allocator_t allocator = {
        .base = {.alloc = s_stack_alloc, .free = s_stack_free},
        .stack = stack,
        .stack_size = sizeof stack,
    };
    allocator.base.allocator_data = &allocator;
    link_outbox_prepared_t row;
    if (s_prepare(who, vault, peer, type, case_id, trace_id, payload, &allocator.base, &row, err,
                  errlen))
        return -1;
    int rc = s_store_prepared(db, &row, err, errlen);
    if (rc == 0 && message_id)
        memcpy(message_id, row.message_id, VIGIL_ID_BYTES);
    /* The plaintext may hold personal data: leave none of it behind. */
    sodium_memzero((void *)row.wire, row.wire_len);
    free(allocator.heap);
    return rc;
}
