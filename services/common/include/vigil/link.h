/* link.h: the reliable link between vigil services.
 *
 * At-least-once delivery with exactly-once effect, built from three parts:
 *
 *   outbox  A service enqueues an outgoing message with link_outbox_enqueue()
 *           inside the same sqlite transaction as the state change that
 *           caused it. Nothing is sent before that transaction commits.
 *
 *   client  A link_client_t relays one peer's outbox rows over a DEALER
 *           socket (CURVE client), keeps at most `window` unacknowledged
 *           messages in flight (backpressure), retransmits unacknowledged ones
 *           with exponential backoff and jitter, and deletes a row only when
 *           the peer acknowledges it as ACCEPTED, DUPLICATE or DEAD_LETTERED.
 *           REJECTED rows move to the sender's dead-letter table.
 *
 *   server  A link_server_t reads a ROUTER socket (CURVE server,
 *           ROUTER_MANDATORY, ZMTP heartbeats, MAXMSGSIZE). It drains
 *           whatever is waiting (up to batch_max), opens one transaction, and
 *           for each message: skips it if its message_id is already in the
 *           inbox (answering with the recorded outcome), else runs the
 *           handler under a savepoint and records the message_id with the
 *           outcome. It commits once (group commit), and only then sends the
 *           acks. A handler that keeps failing sends its message to the
 *           dead-letter table after max_attempts; dead letters can be listed
 *           and replayed.
 *
 * Wire: one frame, a serialized vigil.v1.Envelope, optionally preceded by an
 * empty delimiter frame (REQ clients); replies are Envelopes of type ACK
 * carrying the same routing prefix. See docs/protocol.md.
 *
 * Threading: a link object and its socket belong to the thread running its
 * zloop. The database handle is shared with the service on that thread.
 */
#ifndef VIGIL_LINK_H
#define VIGIL_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include <sqlite3.h>

#include "vigil/v1/envelope.pb-c.h"
#include "vigil/v1/admin.pb-c.h"
#include "vigil/metrics.h"
#include "vigil/security.h"
#include "vigil/util.h"
#include "vigil/vault.h"

/* Fault-injection site (see vigil/fault.h): with VIGIL_FAULT="link_ack:N",
 * the server drops its Nth ack message after the commit, as if it were lost
 * in transit; the sender retransmits and gets DUPLICATE. Test builds only. */
#define LINK_FAULT_SITE_ACK "link_ack"

/* The link's tables (outbox, inbox, attempts, dead letters). A service lists
 * this SQL as one of its store migrations. A later schema change to the
 * link adds link_schema_v2, never edits this one. */
extern const char link_schema_v1[];

/* What a handler returns. */
enum {
    LINK_OK = 0,      /* effects stay; ack with result->status (ACCEPTED by default) */
    LINK_REJECT = -1, /* permanent: effects rolled back; ack REJECTED with result reason/detail */
    LINK_RETRY = -2,  /* transient: rolled back, counted; RETRY, DEAD_LETTERED at max_attempts */
};

/* What a handler fills in for its message. Zeroed before each call, with
 * status ACCEPTED. Strings are truncated to fit. `detail` must never hold
 * personal data: name the field, not its value. */
typedef struct {
    Vigil__V1__AckStatus status; /* ACCEPTED or DUPLICATE with LINK_OK */
    Vigil__V1__ReasonCode reason;
    char case_id[64];
    char event_id[128];
    char detail[256];
} link_result_t;

/* A handler runs inside the batch transaction, under a savepoint (unless
 * its route says LINK_ROUTE_NO_SAVEPOINT): it reads and writes through `db`
 * (including link_outbox_enqueue for onward messages) and must not commit. `peer` is the sender's
 * allowlisted name
 * ("local" on ipc/inproc). Returns LINK_OK, LINK_REJECT or LINK_RETRY. */
typedef int (*link_handler_fn)(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope,
                               const char *peer, link_result_t *result);

/* The payload of `envelope` as the link server already decoded it (the
 * type's message, unknown fields refused per config), for the handler it
 * was routed to, while that handler runs: the handler need not decode it
 * again. NULL otherwise (a replayed dead letter, a type the link does not
 * know, another envelope): decode envelope->payload yourself. Borrowed from
 * the batch and the handler's alone while it runs; do not free or keep it.
 * Cannot fail. */
ProtobufCMessage *link_payload(const Vigil__V1__Envelope *envelope);

/* Route flags. LINK_ROUTE_NO_SAVEPOINT: the handler changes nothing
 * unless it returns LINK_OK (one statement, say, or checks before any
 * write), so it runs without the savepoint that would undo a failure's
 * writes: a SAVEPOINT and RELEASE per message, and the copies of the pages
 * the message touches, cost triage about 5% of a decision. Should such a
 * handler fail after all with rows changed, the batch is rolled back and
 * its messages run again one per transaction (link_server.c), so nothing
 * half-done is ever kept. */
#define LINK_ROUTE_NO_SAVEPOINT 1u

/* LINK_ROUTE_DEFER_OUTBOX (with LINK_ROUTE_NO_SAVEPOINT only): the rows the
 * handler enqueues (link_outbox_enqueue, link_outbox_enqueue_prepared) are
 * kept in memory and written many rows per INSERT when the batch commits
 * (link_outbox_defer). Three single-row INSERTs per contact were a fifth
 * of intake's loop. The handler must not start a deferral of its own. A
 * handler that fails with rows enqueued fails the batch, as one that
 * changed the store would. */
#define LINK_ROUTE_DEFER_OUTBOX 2u

/* LINK_ROUTE_OWN_DEDUP: the handler deduplicates by a key of its own that
 * it claims in the same transaction (intake's ledger of source and
 * event_id), and answers a repeat DUPLICATE with the original case id. The
 * link then writes no inbox record for what the handler answers (ACCEPTED,
 * DUPLICATE, REJECTED): a message_id sent again runs the handler again,
 * which gives the same answer, so the sender sees no difference. The
 * record was a fifth of the bytes intake wrote per contact. Failures
 * (RETRY) are still counted and dead-lettered as for any route. */
#define LINK_ROUTE_OWN_DEDUP 4u

/* The part of a handler's work that needs no store: checking, encrypting
 * and packing what the handler will write. The server runs it before the
 * batch transaction, on a thread of its own while the loop thread stores
 * the batch before (a pipeline of two batches, link_server.c), or on the
 * loop thread for a small batch. It gets the decoded payload (NULL for a
 * type the link does not know) and the sender's allowlisted name, may take
 * memory from `allocator` (the batch's arena: given back, wiped, when the
 * batch ends; never free it), and returns what the handler then finds
 * with link_prepared(), or NULL. It may change `payload` but must leave
 * it as it found it.
 *
 * It runs concurrently with the loop thread, so it must not touch the
 * store, the metrics, the log or anything else the loop thread changes
 * (the service's settings and keys change only between batches, on the
 * loop thread, and may be read). It cannot fail: a prepare that finds the
 * message bad says so in what it returns, and the handler answers. */
typedef void *(*link_prepare_fn)(void *ctx, const Vigil__V1__Envelope *envelope,
                                 ProtobufCMessage *payload, const char *peer,
                                 ProtobufCAllocator *allocator);

/* What the route's prepare returned for `envelope`, while its handler
 * runs; NULL when the route has no prepare, when it returned NULL, or for
 * a replayed dead letter, which is never prepared: a handler must be able
 * to do the whole work itself. Borrowed from the batch like
 * link_payload(). Cannot fail. */
void *link_prepared(const Vigil__V1__Envelope *envelope);

/* One row of a service's inbound dispatch table; ended by type 0. */
typedef struct {
    Vigil__V1__MessageType type;
    link_handler_fn handler;
    unsigned flags;          /* LINK_ROUTE_*; 0 for none */
    link_prepare_fn prepare; /* optional: the handler's work done ahead (above) */
} link_route_t;

typedef struct {
    const char *endpoint;       /* e.g. "tcp://127.0.0.1:7101" */
    int batch_max;              /* most messages in one group commit */
    size_t max_frame;           /* larger frames: REJECTED TOO_LARGE; the transport cuts at 2x */
    int max_attempts;           /* handler failures before dead-lettering */
    int heartbeat_ms;           /* ZMTP heartbeat interval; timeout is 3x */
    bool coalesce_acks;         /* true: one Ack per peer per batch; false: one Ack per request */
    bool reject_unknown_fields; /* payloads with unknown fields are REJECTED UNKNOWN_FIELD */
    int inbox_retention_days;   /* inbox records older than this are pruned; 0 = keep forever */
} link_server_config_t;

/* Inbox retention. With inbox_retention_days > 0 the server deletes inbox
 * records handled longer ago than that, on a loop timer: every
 * LINK_PRUNE_INTERVAL_MS one step scans at most LINK_PRUNE_STEP_ROWS records
 * in message_id order from where the last step stopped (wrapping at the end)
 * in its own short transaction, and skips its turn while any transaction is
 * open on the store. A retransmission arriving after its record was pruned
 * is handled again, so the retention must exceed the longest time a sender
 * may keep retrying (its longest outage). */
#define LINK_PRUNE_INTERVAL_MS 1000
#define LINK_PRUNE_STEP_ROWS   1000

typedef struct link_server_t link_server_t;

/* Creates a server; binds when attached. `routes` and `ctx` are borrowed for
 * the server's life. `vault` (may be NULL) seals dead-lettered payloads at
 * rest. Returns NULL with a message in `err`. */
link_server_t *link_server_new(const link_server_config_t *config, sqlite3 *db,
                               security_t *security, const vault_t *vault, metrics_t *metrics,
                               const link_route_t *routes, void *ctx, char *err, size_t errlen);

/* Binds and starts reading on `loop`. Returns 0, or -1 with a message. */
int link_server_attach(link_server_t *server, zloop_t *loop, char *err, size_t errlen);

/* The endpoint actually bound (e.g. "tcp://127.0.0.1:49152" for a ":*"
 * endpoint), or the configured one before attach. Borrowed. Cannot fail. */
const char *link_server_endpoint(link_server_t *server);

/* Stops reading new messages (drain). Already committed work is acked.
 * Cannot fail. */
void link_server_pause(link_server_t *server);

/* Closes the socket (bounded linger) and frees; sets *server_p to NULL.
 * Cannot fail. */
void link_server_destroy(link_server_t **server_p);

/* Fills `reply->dead_letters` with up to `limit` parked messages (oldest
 * first). Returns 0, or -1 with a message. */
int link_deadletters_list(sqlite3 *db, uint32_t limit, Vigil__V1__AdminReply *reply, char *err,
                          size_t errlen);

/* Re-runs the handler for dead letter `id` (0: all of them), each in its own
 * transaction. A success removes the row and records the message as
 * handled; a failure keeps it with the new reason. Outbound dead letters
 * (refused by a peer) are moved back to the outbox instead, as
 * link_deadletters_requeue() does. Stores the number replayed or requeued
 * in *replayed. Returns 0, or -1 with a message (also when `id` names no
 * dead letter). */
int link_server_replay(link_server_t *server, int64_t id, uint32_t *replayed, char *err,
                       size_t errlen);

/* Moves outbound dead letter `id` (0: all of them) back to the outbox, same
 * message_id, in one transaction (the caller's, if one is open); the peer's
 * relay picks them up at its next poll. For services without a link server.
 * Stores the number moved in *requeued. Returns 0, or -1 with a message. */
int link_deadletters_requeue(sqlite3 *db, int64_t id, uint32_t *requeued, char *err, size_t errlen);

/* Enqueues `payload` of `type` for `peer` in the caller's open transaction.
 * A fresh message id (an 8-byte big-endian microsecond timestamp, then 8
 * random bytes: unique, and roughly increasing so receivers' inboxes grow at
 * one end) goes to `message_id` if not NULL. `vault` (may be NULL)
 * seals the stored envelope. Returns 0, or -1 with sqlite's message. */
int link_outbox_enqueue(sqlite3 *db, const vault_t *vault, const char *peer,
                        Vigil__V1__MessageType type, const char *case_id, const char *trace_id,
                        const ProtobufCMessage *payload, uint8_t message_id[VIGIL_ID_BYTES],
                        char *err, size_t errlen);

/* An outbox row built ahead of its transaction by link_outbox_prepare(),
 * possibly on another thread: everything link_outbox_enqueue() does before
 * it touches the store (message id, clock read, packed envelope, seal).
 * link_outbox_enqueue_prepared() then stores it. The bytes are one block
 * from the caller's allocator that starts at `wire`; `wire` holds the
 * plaintext envelope, which may hold personal data. */
typedef struct {
    const char *peer;     /* borrowed from the caller */
    const vault_t *vault; /* the row was sealed with it, or NULL */
    int type;             /* Vigil__V1__MessageType */
    int64_t enqueued_us;
    uint8_t message_id[VIGIL_ID_BYTES];
    const uint8_t *stored; /* what the row holds: the sealed envelope, or the plaintext one */
    size_t stored_len;
    const uint8_t *wire; /* the plaintext envelope, for a tap (== stored when not sealed) */
    size_t wire_len;
} link_outbox_prepared_t;

/* Builds the row link_outbox_enqueue() would store for `payload` of `type`
 * for `peer` (borrowed: it must outlive the row), sealed with `vault` (may
 * be NULL; aad = message id), into `out`. The bytes come from one
 * allocator->alloc() call and start at out->wire: the caller wipes
 * out->wire_len bytes there (sodium_memzero) and frees the block (or
 * releases its arena) once the row is stored or dropped; nothing else in
 * the block is plaintext. Thread-safe: touches no store, logs nothing, and
 * uses only per-thread or atomic state. Returns 0, or -1 with a message
 * (missing peer or payload, a payload of the wrong type, out of memory). */
int link_outbox_prepare(const vault_t *vault, const char *peer, Vigil__V1__MessageType type,
                        const char *case_id, const char *trace_id, const ProtobufCMessage *payload,
                        ProtobufCAllocator *allocator, link_outbox_prepared_t *out, char *err,
                        size_t errlen);

/* Stores a prepared row in the caller's open transaction, exactly as
 * link_outbox_enqueue() would have: deferred when this thread defers rows
 * on `db` (link_outbox_defer), else inserted and handed to a tap. The row
 * id is drawn now. `row` is borrowed for the call (a deferred row is
 * copied). Returns 0, or -1 with a message (no open transaction, sqlite,
 * out of memory). */
int link_outbox_enqueue_prepared(sqlite3 *db, const link_outbox_prepared_t *row, char *err,
                                 size_t errlen);

/* Deferred enqueues, for a writer that enqueues many rows in one
 * transaction. After link_outbox_defer(db), link_outbox_enqueue() on `db`
 * from this thread keeps its rows in memory (ids, message ids and envelopes
 * made as usual) until link_outbox_flush(db) inserts them, many rows per
 * statement, in the caller's open transaction, and ends the deferral. Flush
 * before you COMMIT or RELEASE a savepoint: a row still deferred at commit
 * is not in the store. On any failure call link_outbox_discard(db) and roll
 * back: it drops the deferred rows (wiped) and ends the deferral. One
 * deferral per thread at a time.
 * link_outbox_defer returns 0, or -1 with a message (already deferring, or
 * sqlite). link_outbox_flush returns 0, or -1 with sqlite's message (the
 * deferral ends either way; roll back). link_outbox_discard cannot fail. */
int link_outbox_defer(sqlite3 *db, char *err, size_t errlen);
int link_outbox_flush(sqlite3 *db, char *err, size_t errlen);
void link_outbox_discard(sqlite3 *db);

/* Rows this thread keeps deferred for `db` (0 when it is not deferring on
 * it). Cannot fail. */
size_t link_outbox_deferred(sqlite3 *db);

typedef struct {
    const char *peer;       /* outbox peer name, e.g. "triage" */
    const char *endpoint;   /* e.g. "tcp://127.0.0.1:7201" */
    const char *server_key; /* the peer's public zcert file or Z85 key */
    const char *source;     /* this service's name, written into Envelope.source */
    int window;             /* most unacknowledged messages in flight */
    int ack_timeout_ms;     /* first retransmit after this long without an ack */
    int backoff_max_ms;     /* retransmit delay cap */
    int heartbeat_ms;       /* ZMTP heartbeat interval */
} link_client_config_t;

typedef struct link_client_t link_client_t;

/* Creates a client for one peer's outbox. `vault` must be the one the
 * outbox rows were sealed with (or NULL). Returns NULL with a message. */
link_client_t *link_client_new(const link_client_config_t *config, sqlite3 *db,
                               security_t *security, const vault_t *vault, metrics_t *metrics,
                               char *err, size_t errlen);

/* Connects and starts relaying on `loop`. Returns 0, or -1 with a message. */
int link_client_attach(link_client_t *client, zloop_t *loop, char *err, size_t errlen);

/* Tells the client that new rows were committed to its outbox. Cannot fail. */
void link_client_kick(link_client_t *client);

/* Stops loading new outbox rows (drain); messages already in flight are
 * still retransmitted until acknowledged. Cannot fail. */
void link_client_pause(link_client_t *client);

/* Called for each message the peer settled (ACCEPTED, DUPLICATE,
 * DEAD_LETTERED or REJECTED), after its ack arrived and before its row is
 * deleted. Latencies are enqueue-to-ack (wall clock, survives restarts) and
 * last-send-to-ack, in microseconds. For tests and benchmarks. */
typedef void (*link_ack_observer_fn)(void *ctx, const uint8_t message_id[VIGIL_ID_BYTES],
                                     Vigil__V1__AckStatus status, int64_t enqueue_to_ack_us,
                                     int64_t send_to_ack_us);

/* Sets (or with NULL clears) the observer. Cannot fail. */
void link_client_set_observer(link_client_t *client, link_ack_observer_fn observer, void *ctx);

/* Rows still in this peer's outbox (sent or not). Cannot fail. */
size_t link_client_backlog(link_client_t *client);

/* Messages sent and not yet acknowledged. Cannot fail. */
size_t link_client_inflight(link_client_t *client);

/* The peer name. Cannot fail. */
const char *link_client_peer(const link_client_t *client);

/* Closes the socket (bounded linger) and frees; sets *client_p to NULL.
 * Unacknowledged rows stay in the outbox for the next start. Cannot fail. */
void link_client_destroy(link_client_t **client_p);

#endif
