/* link_internal.h: what the link's source files share and nobody else sees.
 *
 * The reliable link is split by job: link_schema.c (the tables),
 * link_wire.c (envelope framing and payload checks), link_outbox.c (the
 * sender's table), link_deadletter.c (parked messages), link_inbox.c (the
 * receiver's per-message transaction work), link_prune.c (inbox retention),
 * link_server.c (the ROUTER socket, batches and acks), link_window.c (the
 * sender's in-flight table), link_codec.c (hand-written Ack and Envelope
 * coding for the hot paths) and link_client.c (the DEALER socket,
 * retransmits and ack handling). This header is private to those files:
 * services use vigil/link.h only.
 *
 * Nothing declared here may log or store a payload byte: the envelope of a
 * message may carry personal data, sealed or not.
 */
#ifndef VIGIL_LINK_INTERNAL_H
#define VIGIL_LINK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "vigil/link.h"

/* Direction values of link_deadletters.direction. */
#define LINK_DIRECTION_IN  "in"  /* a received message whose handler kept failing */
#define LINK_DIRECTION_OUT "out" /* an outbox message the peer refused */

/* Envelope field numbers the link writes or reads without a full unpack. */
enum {
    LINK_FIELD_MESSAGE_ID = 1,
    LINK_FIELD_SOURCE = 3,
    LINK_FIELD_ATTEMPT = 8,
};

/* Longest varint (64 bits) in bytes. */
#define LINK_VARINT_MAX 10

/* --- wire (link_wire.c) ---------------------------------------------- */

/* The payload message type of envelope `type`, or NULL when the link does
 * not know it (a route may still accept it; the handler then decodes it).
 * Cannot fail. */
const ProtobufCMessageDescriptor *link_payload_descriptor(Vigil__V1__MessageType type);

/* True when `message` or any of its sub-messages holds a field its schema
 * does not know, with the first one's number in *number (which may be 0:
 * protobuf-c keeps even that invalid number as an unknown field). Cannot
 * fail. */
bool link_unknown_field(const ProtobufCMessage *message, uint32_t *number);

/* Finds the top-level bytes field `field_number` in a serialized message
 * without unpacking it (used to answer an oversized frame with its
 * message_id). Sets value and value_len to its last occurrence (the one
 * protobuf would keep) and returns 0, or -1 when the field is absent or the
 * bytes do not parse. Cannot fail otherwise. */
int link_peek_bytes_field(const uint8_t *data, size_t len, uint32_t field_number,
                          const uint8_t **value, size_t *value_len);

/* Appends a varint to `out` and returns the number of bytes written (at most
 * LINK_VARINT_MAX). Cannot fail. */
size_t link_put_varint(uint8_t *out, uint64_t value);

/* One entry of a serialized Ack, as link_ack_read() reports it: pointers
 * into the Ack's bytes, valid while they are. `detail` is not
 * NUL-terminated. Fields absent from the entry are zero / NULL. */
typedef struct {
    const uint8_t *message_id;
    size_t message_id_len;
    Vigil__V1__AckStatus status;
    Vigil__V1__ReasonCode reason;
    const char *detail;
    size_t detail_len;
} link_ack_entry_t;

/* Reads the serialized Ack payload `data` (link_codec.c) into `entries`
 * (room for `capacity`), in order, without unpacking it, and sets *count.
 * Returns 0, or -1 when the bytes hold anything it does not take or more
 * than `capacity` entries (the caller then unpacks with protobuf-c, which
 * decides, and must ignore `entries`). */
int link_ack_read(const uint8_t *data, size_t len, link_ack_entry_t *entries, size_t capacity,
                  size_t *count);

/* Lower-case label names for metrics and logs: "malformed", "accepted".
 * Return "unknown" for values outside the enums. Cannot fail. */
const char *link_reason_name(Vigil__V1__ReasonCode reason);
const char *link_status_name(Vigil__V1__AckStatus status);

/* Fills `out` with `len` bytes from the CSPRNG, drawn from a per-thread
 * pool refilled by libsodium (one system call per few hundred ids instead
 * of one per id); a forked child never reuses its parent's pool. At most
 * LINK_RANDOM_POOL bytes per call. Cannot fail. */
#define LINK_RANDOM_POOL 4096
void link_random_bytes(uint8_t *out, size_t len);

/* Microseconds of wall-clock time, for enqueue-to-ack latencies that
 * survive a restart. Cannot fail. */
int64_t link_now_us(void);

/* SQL for link_stmt() starts with this marker, so link_stmt_release() can
 * find the statements the link cached on a connection. */
#define LINK_CACHED_SQL(text) "/* vigil-link */ " text
#define LINK_CACHED_MARKER    "/* vigil-link */ "

/* A prepared statement for `sql` (made with LINK_CACHED_SQL) on `db`, found among the connection's
 * statements by its exact text or prepared once (persistent) and left
 * there; store_close() finalizes it. For the link's free functions, which
 * get a bare db handle on every call. Returns NULL with sqlite's message in
 * `err` if the SQL does not prepare. The caller resets it after use. */
sqlite3_stmt *link_stmt(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* Same, and sets *prepared when the statement was not cached yet (its first
 * use on this connection). */
sqlite3_stmt *link_stmt_first(sqlite3 *db, const char *sql, bool *prepared, char *err,
                              size_t errlen);

/* Finalizes every statement link_stmt() cached on `db` (call before the
 * connection closes; they are prepared again when next needed). Cannot
 * fail. */
void link_stmt_release(sqlite3 *db);

/* Prepares `sql` persistently into *stmt. Returns 0, or -1 with sqlite's
 * message in `err`. */
int link_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, char *err, size_t errlen);

/* Steps a statement that returns no rows and resets it. Returns 0, or -1
 * (sqlite's message stays on the connection). */
int link_step_done(sqlite3_stmt *stmt);

/* A bump allocator for protobuf-c: everything decoded for one batch comes
 * from it and goes back at once with link_arena_reset(), instead of one
 * malloc/free pair per field. Never frees a single allocation. Chunks of
 * the usual size are kept for the next batch (up to LINK_ARENA_KEEP
 * bytes): a batch of a thousand contacts takes a few megabytes, and taking
 * them fresh from the system each time cost a page fault per 4 KiB. */
#define LINK_ARENA_KEEP (16u << 20)
typedef struct link_arena_chunk_t link_arena_chunk_t;
typedef struct {
    ProtobufCAllocator allocator; /* pass &arena->allocator to *_unpack() */
    link_arena_chunk_t *chunks;   /* in use, newest first */
    link_arena_chunk_t *spare;    /* wiped, kept for reuse */
    size_t spare_bytes;
} link_arena_t;

/* Unpacks a serialized Envelope into `arena` (link_codec.c): read in
 * place when it holds only the fields this version knows, with protobuf-c
 * otherwise, so the result is always what vigil__v1__envelope__unpack()
 * would give. Returns NULL when the bytes are not an Envelope or memory ran
 * out; what it took goes back with link_arena_reset(). */
Vigil__V1__Envelope *link_envelope_unpack(link_arena_t *arena, size_t len, const uint8_t *data);

/* Writes `envelope` as vigil__v1__envelope__pack() would, byte for byte,
 * into `out`, which must hold vigil__v1__envelope__get_packed_size() bytes
 * (link_codec.c). Unknown fields are not written (an envelope the caller
 * builds has none). Returns the number of bytes written. Cannot fail. */
size_t link_envelope_pack(const Vigil__V1__Envelope *envelope, uint8_t *out);

/* The size of an Ack holding `entries` as vigil__v1__ack__get_packed_size()
 * gives it, and the Ack written as vigil__v1__ack__pack() would, byte for
 * byte, into `out` (which must hold that size); returns the bytes written
 * (link_codec.c). Unknown fields are not written (entries the receiver
 * builds have none). Cannot fail. */
size_t link_ack_packed_size(Vigil__V1__AckEntry *const *entries, size_t count);
size_t link_ack_pack(Vigil__V1__AckEntry *const *entries, size_t count, uint8_t *out);

/* The in-place half of link_envelope_unpack(): the Envelope, or NULL when
 * it declines (then protobuf-c must decide). For tests. */
Vigil__V1__Envelope *link_envelope_read(link_arena_t *arena, size_t len, const uint8_t *data);

/* Sets up an empty arena. Cannot fail (memory is taken on first use). */
void link_arena_init(link_arena_t *arena);

/* Returns every allocation; keeps one chunk for the next batch. Cannot fail. */
void link_arena_reset(link_arena_t *arena);

/* Frees everything. Cannot fail. */
void link_arena_release(link_arena_t *arena);

/* --- outbox row ids (link_outbox.c) ---------------------------------------- */

/* Outbox rows get explicit ids that never go back (relays resume "after the
 * last row scanned"): max(now in microseconds, last id + 1), process-wide.
 * Tells the generator that `id` exists (a row inserted without it, or found
 * in a store at its first use), so later ids are larger. Cannot fail. */
void link_outbox_note_id(int64_t id);

/* One outbox row as stored. */
typedef struct {
    const char *peer;
    const uint8_t *message_id;
    size_t message_id_len;
    int type;            /* Vigil__V1__MessageType */
    int64_t enqueued_us; /* wall clock */
    bool sealed;
    const uint8_t *envelope; /* serialized, sealed when `sealed` */
    size_t envelope_len;
} link_outbox_row_t;

/* Inserts a row with the next outbox id, in the caller's transaction.
 * Returns 0, or -1 with sqlite's message in `err`. */
int link_outbox_insert(sqlite3 *db, const link_outbox_row_t *row, char *err, size_t errlen);

/* --- enqueued envelopes handed to the relay (link_outbox.c) -------------- */

/* What link_outbox_enqueue() hands a tap for each row it inserted, inside
 * the caller's transaction: the row may still roll back (whole or to a
 * savepoint), so the tap may only use it once it finds the row committed
 * in the outbox. Everything is borrowed for the call: copy what you keep.
 * `wire` is the plaintext envelope (what the relay would get by unsealing
 * the row) and may hold personal data. Rows a tap is not handed (inserted
 * on another connection, requeued dead letters, another vault) are in the
 * outbox only. */
typedef struct {
    int64_t row_id;
    const uint8_t *message_id; /* VIGIL_ID_BYTES */
    int type;                  /* Vigil__V1__MessageType */
    int64_t enqueued_us;
    const uint8_t *wire;
    size_t wire_len;
} link_outbox_enqueued_t;

typedef void (*link_outbox_tap_fn)(void *ctx, const link_outbox_enqueued_t *enqueued);

/* Asks link_outbox_enqueue() to call `fn` for every row it inserts on `db`
 * for `peer` with `vault` (the same pointer; the first such tap only).
 * `peer` and `ctx` are borrowed until link_outbox_untap(). Process-wide and
 * thread-safe; `fn` runs on the enqueuing thread, which is the
 * connection's. Returns 0, or -1 when LINK_OUTBOX_TAPS_MAX taps exist (the
 * caller reads its rows back instead). */
#define LINK_OUTBOX_TAPS_MAX 64
int link_outbox_tap(sqlite3 *db, const char *peer, const vault_t *vault, link_outbox_tap_fn fn,
                    void *ctx);

/* Removes the tap registered with `ctx`; after it returns, `fn` is never
 * called with it again. Cannot fail. */
void link_outbox_untap(void *ctx);

/* --- inbox retention (link_prune.c) --------------------------------- */

typedef struct link_prune_t link_prune_t;

/* Creates the pruner of link_inbox on `db` with its statements prepared; the
 * cursor starts at the beginning of the table. Returns NULL with a message
 * in `err`. */
link_prune_t *link_prune_new(sqlite3 *db, char *err, size_t errlen);

/* Finalizes the statements and frees; sets *prune_p to NULL. Cannot fail. */
void link_prune_destroy(link_prune_t **prune_p);

/* One bounded step: in its own transaction, scans at most `max_rows` inbox
 * records after the cursor (message_id order), deletes those handled before
 * `cutoff_ms`, moves the cursor past them, and wraps to the start after the
 * last record. Does nothing while a transaction is open on the connection
 * (a batch, a replay, a service's own work): it never joins one. Stores the
 * number of records deleted in *deleted. Returns 0, or -1 after rolling
 * back (sqlite's message stays on the connection; the cursor stays). */
int link_prune_step(link_prune_t *prune, int64_t cutoff_ms, int max_rows, int64_t *deleted);

/* --- dead letters (link_deadletter.c) -------------------------------- */

typedef struct {
    const char *direction; /* LINK_DIRECTION_IN or LINK_DIRECTION_OUT */
    const char *peer;      /* the source (in) or the destination (out) */
    const uint8_t *message_id;
    size_t message_id_len;
    int type;           /* Vigil__V1__MessageType */
    const char *reason; /* never personal data */
    int attempts;
    int64_t first_failed_at_ms;
    int64_t last_failed_at_ms;
    const uint8_t *envelope; /* the serialized envelope, sealed when `sealed` */
    size_t envelope_len;
    bool sealed;
} link_deadletter_t;

/* Inserts one dead letter in the caller's open transaction. Returns 0, or
 * -1 with sqlite's message in `err`. */
int link_deadletter_insert(sqlite3 *db, const link_deadletter_t *letter, char *err, size_t errlen);

/* Seals `len` bytes for storage with aad = `message_id` when `vault` is
 * given. Returns a malloc'd buffer (the caller frees) and its length in
 * *out_len, or NULL on allocation failure. Without a vault, returns a copy. */
uint8_t *link_seal(const vault_t *vault, const uint8_t *message_id, size_t id_len,
                   const uint8_t *data, size_t len, size_t *out_len);

/* Opens a stored envelope: a copy when not sealed, else the plaintext.
 * Returns a malloc'd buffer and its length, or NULL when it is sealed and
 * `vault` is NULL, the key is unknown, the blob was tampered with, or memory
 * ran out. */
uint8_t *link_unseal(const vault_t *vault, const uint8_t *message_id, size_t id_len,
                     const uint8_t *stored, size_t len, bool sealed, size_t *out_len);

#endif
