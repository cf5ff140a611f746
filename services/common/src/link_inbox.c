/* link_inbox.c: what happens to one received message inside the batch
 * transaction, and the replay of parked ones.
 *
 * For each message: look its message_id up in link_inbox (a hit is a
 * duplicate: answer with the recorded outcome, run nothing; an id above the
 * largest recorded one, read in the same transaction, needs no lookup); else run the
 * routed handler under SAVEPOINT; keep its effects (RELEASE) or undo them
 * (ROLLBACK TO); record the outcome. A route marked LINK_ROUTE_NO_SAVEPOINT
 * runs without one: should its handler fail with rows changed after all
 * (sqlite3_total_changes64), the message fails the batch, so that nothing
 * half-done is kept. A handler asking for a retry has its
 * failure counted in link_attempts in the same transaction, so the count
 * survives a crash; at max_attempts the envelope is parked in
 * link_deadletters (sealed when there is a vault) and the message_id is
 * recorded as DEAD_LETTERED, so the sender can forget it.
 *
 * Handler rejections are recorded too (effects undone): a retransmission
 * gets the same REJECTED answer (docs/protocol.md). A route marked
 * LINK_ROUTE_OWN_DEDUP gets no record for what its handler answers: its
 * handler dedups by its own key and answers a retransmission itself.
 * Checks made before the
 * transaction (size, decoding, type) are not recorded: they depend only on
 * the bytes and this version of the code. New records are kept in memory
 * and written in multi-row INSERTs (one statement per INBOX_RECORD_CHUNK
 * records instead of one per message) before the batch commits, and before
 * any dedup lookup that could need one of them, so they are exactly as
 * durable and as visible as records written at once.
 *
 * It must never commit on its own inside a batch (link_server.c decides) and
 * never log a payload value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "link_inbox.h"
#include "vigil/log.h"
#include "vigil/util.h"

/* Room for "<reason name>: <detail>" in dead-letter and attempt rows. */
#define INBOX_REASON_TEXT 320
/* Room for a message from the outbox's deferral. */
#define INBOX_ERR_LEN 256
/* Longest peer name kept while replaying. */
#define INBOX_PEER_MAX 128
/* Longest newest-recorded message_id kept for the watermark; a longer one
 * (not written by this version) turns the shortcut off for the batch. */
#define INBOX_WATERMARK_MAX 64
/* Inbox records written by one multi-row INSERT (8 parameters each). */
#define INBOX_RECORD_CHUNK   32
#define INBOX_RECORD_COLUMNS 8
#define INBOX_PENDING_FIRST  64 /* first size of the pending-record array */

/* The watermark: the largest message_id in link_inbox, read inside each
 * batch's write transaction and raised by every record this file adds. A
 * message_id above it cannot be in the inbox, so its dedup lookup is
 * skipped; message ids start with a microsecond timestamp (link_outbox.c),
 * so almost every new message is above it, and every retransmission is
 * not (it is looked up as before). Exact, not probabilistic: sqlite orders
 * blobs by memcmp, then by length, and sorts them after every other type.
 * Retention pruning (link_prune.c) keeps it exact: it only deletes records,
 * in its own transaction between batches, so the largest id can only go
 * down, and the watermark is read afresh at every BEGIN, never carried over
 * (a stale one would only be too high, which costs a lookup, never a miss). */
typedef enum {
    INBOX_WATERMARK_OFF = 0, /* outside a batch, or unusable: always look up */
    INBOX_WATERMARK_NONE,    /* the inbox holds no blob: every id is new */
    INBOX_WATERMARK_ID,      /* ids above `watermark` are new */
} inbox_watermark_t;

/* A new inbox record not written yet (see s_record). */
typedef struct {
    uint8_t id[VIGIL_ID_BYTES];
    const char *peer; /* borrowed: valid until the batch ends (link_inbox.h) */
    int64_t handled_at_ms;
    link_result_t outcome;
} inbox_pending_t;

struct link_inbox_t {
    sqlite3 *db;
    const vault_t *vault;
    const link_route_t *routes;
    void *ctx;
    int max_attempts;
    int64_t attempts_rows; /* rows in link_attempts: 0 lets a clean message skip a DELETE;
                              counted again at each batch's BEGIN while above 0 (pruning and
                              rolled-back batches change the table behind the count) */
    bool deferring;        /* this batch defers outbox rows (LINK_ROUTE_DEFER_OUTBOX) */
    inbox_watermark_t watermark_kind;
    uint8_t watermark[INBOX_WATERMARK_MAX];
    size_t watermark_len;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *savepoint;
    sqlite3_stmt *release;
    sqlite3_stmt *rollback_to;
    sqlite3_stmt *inbox_get;
    sqlite3_stmt *inbox_newest;
    sqlite3_stmt *inbox_add; /* first record of a message */
    /* [r]: INSERT of r first records; [INBOX_RECORD_CHUNK] is prepared with the inbox, the
     * shorter ones when a batch first ends with that many. */
    sqlite3_stmt *inbox_add_rows[INBOX_RECORD_CHUNK + 1];
    sqlite3_stmt *inbox_put; /* replaces a record (replay of a dead letter) */
    sqlite3_stmt *attempts_get;
    sqlite3_stmt *attempts_put;
    sqlite3_stmt *attempts_del;
    sqlite3_stmt *attempts_count;
    inbox_pending_t *pending; /* records of this batch not written yet */
    size_t pending_count;
    size_t pending_capacity;
};

#define INBOX_ADD_SQL                                                                              \
    "INSERT INTO link_inbox (message_id, status, reason, case_id, event_id, detail, peer, "        \
    "handled_at_ms) VALUES "
#define INBOX_ADD_ROW "(?, ?, ?, ?, ?, ?, ?, ?)"

/* Every statement the inbox keeps prepared, declared once. */
static const struct {
    size_t offset;
    const char *sql;
} s_statements[] = {
    {offsetof(link_inbox_t, begin), "BEGIN IMMEDIATE"},
    {offsetof(link_inbox_t, commit), "COMMIT"},
    {offsetof(link_inbox_t, rollback), "ROLLBACK"},
    {offsetof(link_inbox_t, savepoint), "SAVEPOINT link_message"},
    {offsetof(link_inbox_t, release), "RELEASE link_message"},
    {offsetof(link_inbox_t, rollback_to), "ROLLBACK TO link_message"},
    {offsetof(link_inbox_t, inbox_get),
     "SELECT status, reason, case_id, event_id, detail FROM link_inbox WHERE message_id = ?1"},
    {offsetof(link_inbox_t, inbox_newest),
     "SELECT message_id FROM link_inbox ORDER BY message_id DESC LIMIT 1"},
    {offsetof(link_inbox_t, inbox_add), INBOX_ADD_SQL "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
    {offsetof(link_inbox_t, inbox_put),
     "INSERT OR REPLACE INTO link_inbox (message_id, status, reason, case_id, event_id, detail, "
     "peer, handled_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
    {offsetof(link_inbox_t, attempts_get),
     "SELECT attempts, first_failed_at_ms FROM link_attempts WHERE message_id = ?1"},
    {offsetof(link_inbox_t, attempts_put),
     "INSERT OR REPLACE INTO link_attempts (message_id, attempts, first_failed_at_ms, "
     "last_failed_at_ms, reason) VALUES (?1, ?2, ?3, ?4, ?5)"},
    {offsetof(link_inbox_t, attempts_del), "DELETE FROM link_attempts WHERE message_id = ?1"},
    {offsetof(link_inbox_t, attempts_count), "SELECT count(*) FROM link_attempts"},
};
#define INBOX_STATEMENTS (sizeof s_statements / sizeof s_statements[0])

static sqlite3_stmt **s_slot(link_inbox_t *self, size_t i)
{
    return (sqlite3_stmt **)((char *)self + s_statements[i].offset);
}

/* The INSERT of `rows` first records (1 .. INBOX_RECORD_CHUNK), prepared on
 * first use. Returns NULL with sqlite's message in `err` (if given). */
static sqlite3_stmt *s_rows_statement(link_inbox_t *self, size_t rows, char *err, size_t errlen)
{
    if (self->inbox_add_rows[rows])
        return self->inbox_add_rows[rows];
    char sql[sizeof INBOX_ADD_SQL + INBOX_RECORD_CHUNK * sizeof(", " INBOX_ADD_ROW)];
    size_t used = (size_t)snprintf(sql, sizeof sql, "%s", INBOX_ADD_SQL);
    for (size_t i = 0; i < rows; i++)
        used +=
            (size_t)snprintf(sql + used, sizeof sql - used, "%s%s", i ? ", " : "", INBOX_ADD_ROW);
    if (link_prepare(self->db, sql, &self->inbox_add_rows[rows], err, errlen))
        return NULL;
    return self->inbox_add_rows[rows];
}

link_inbox_t *link_inbox_new(sqlite3 *db, const vault_t *vault, const link_route_t *routes,
                             void *ctx, int max_attempts, char *err, size_t errlen)
{
    link_inbox_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "link inbox: out of memory");
        return NULL;
    }
    for (const link_route_t *route = routes; route && route->type; route++) {
        if ((route->flags & LINK_ROUTE_DEFER_OUTBOX) && !(route->flags & LINK_ROUTE_NO_SAVEPOINT)) {
            snprintf(err, errlen,
                     "link inbox: the route for type %d defers its outbox rows but keeps a "
                     "savepoint; LINK_ROUTE_DEFER_OUTBOX needs LINK_ROUTE_NO_SAVEPOINT",
                     (int)route->type);
            free(self);
            return NULL;
        }
    }
    self->db = db;
    self->vault = vault;
    self->routes = routes;
    self->ctx = ctx;
    self->max_attempts = max_attempts;
    for (size_t i = 0; i < INBOX_STATEMENTS; i++) {
        if (link_prepare(db, s_statements[i].sql, s_slot(self, i), err, errlen)) {
            link_inbox_destroy(&self);
            return NULL;
        }
    }
    if (!s_rows_statement(self, INBOX_RECORD_CHUNK, err, errlen)) {
        link_inbox_destroy(&self);
        return NULL;
    }
    self->attempts_rows = 1; /* unknown: counted at the first BEGIN */
    return self;
}

void link_inbox_destroy(link_inbox_t **inbox_p)
{
    link_inbox_t *self = *inbox_p;
    if (!self)
        return;
    for (size_t i = 0; i < INBOX_STATEMENTS; i++)
        sqlite3_finalize(*s_slot(self, i));
    for (size_t i = 0; i <= INBOX_RECORD_CHUNK; i++)
        sqlite3_finalize(self->inbox_add_rows[i]);
    free(self->pending);
    free(self);
    *inbox_p = NULL;
}

static const link_route_t *s_route(const link_inbox_t *inbox, Vigil__V1__MessageType type)
{
    for (const link_route_t *route = inbox->routes; route && route->type; route++)
        if (route->type == type)
            return route;
    return NULL;
}

const link_route_t *link_inbox_route(const link_inbox_t *inbox, Vigil__V1__MessageType type)
{
    const link_route_t *route = s_route(inbox, type);
    return route && route->handler ? route : NULL;
}

void *link_inbox_ctx(const link_inbox_t *inbox)
{
    return inbox->ctx;
}

/* Reads the watermark inside the batch's write transaction: no other
 * connection can add to the inbox until it ends. */
static int s_watermark_read(link_inbox_t *self)
{
    self->watermark_kind = INBOX_WATERMARK_OFF;
    sqlite3_stmt *newest = self->inbox_newest;
    int step = sqlite3_step(newest);
    if (step == SQLITE_DONE ||
        (step == SQLITE_ROW && sqlite3_column_type(newest, 0) != SQLITE_BLOB))
        self->watermark_kind = INBOX_WATERMARK_NONE; /* blobs sort after every other type */
    else if (step == SQLITE_ROW && (size_t)sqlite3_column_bytes(newest, 0) <= INBOX_WATERMARK_MAX) {
        self->watermark_len = (size_t)sqlite3_column_bytes(newest, 0);
        if (self->watermark_len)
            memcpy(self->watermark, sqlite3_column_blob(newest, 0), self->watermark_len);
        self->watermark_kind = INBOX_WATERMARK_ID;
    }
    sqlite3_reset(newest);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -1;
}

/* True when `id` sorts after every message_id in the inbox (sqlite's blob
 * order: memcmp over the shorter length, then the shorter one first). */
static bool s_above_watermark(const link_inbox_t *self, const uint8_t *id, size_t id_len)
{
    if (self->watermark_kind == INBOX_WATERMARK_NONE)
        return true;
    if (self->watermark_kind != INBOX_WATERMARK_ID)
        return false;
    size_t common = id_len < self->watermark_len ? id_len : self->watermark_len;
    int order = common ? memcmp(id, self->watermark, common) : 0;
    return order > 0 || (order == 0 && id_len > self->watermark_len);
}

/* A record for `id` was added in this batch: raise the watermark. */
static void s_watermark_raise(link_inbox_t *self, const uint8_t *id, size_t id_len)
{
    if (self->watermark_kind == INBOX_WATERMARK_OFF || !s_above_watermark(self, id, id_len))
        return;
    if (id_len > INBOX_WATERMARK_MAX) {
        self->watermark_kind = INBOX_WATERMARK_OFF;
        return;
    }
    memcpy(self->watermark, id, id_len);
    self->watermark_len = id_len;
    self->watermark_kind = INBOX_WATERMARK_ID;
}

static int s_flush_records(link_inbox_t *self);

int link_inbox_begin(link_inbox_t *inbox)
{
    inbox->watermark_kind = INBOX_WATERMARK_OFF;
    inbox->pending_count = 0;
    if (link_step_done(inbox->begin))
        return -1;
    if (inbox->attempts_rows > 0) {
        sqlite3_stmt *count = inbox->attempts_count;
        if (sqlite3_step(count) == SQLITE_ROW)
            inbox->attempts_rows = sqlite3_column_int64(count, 0);
        sqlite3_reset(count);
    }
    if (s_watermark_read(inbox)) {
        link_inbox_rollback(inbox);
        return -1;
    }
    return 0;
}

/* Writes the outbox rows the batch deferred and stops deferring. Returns
 * 0, or -1 (the caller rolls back). */
static int s_stop_deferring(link_inbox_t *self)
{
    if (!self->deferring)
        return 0;
    self->deferring = false;
    char err[INBOX_ERR_LEN];
    if (link_outbox_flush(self->db, err, sizeof err)) {
        log_error("link batch could not write its deferred outbox rows", "error=%s", err);
        return -1;
    }
    return 0;
}

/* Defers the outbox rows of a route that asks for it, and writes them
 * before a handler that does not. Returns 0, or -1. */
static int s_defer_for(link_inbox_t *self, const link_route_t *route)
{
    bool wanted = (route->flags & LINK_ROUTE_DEFER_OUTBOX) != 0;
    if (!wanted)
        return s_stop_deferring(self);
    if (self->deferring)
        return 0;
    char err[INBOX_ERR_LEN];
    if (link_outbox_defer(self->db, err, sizeof err)) {
        log_error("link batch cannot defer outbox rows", "error=%s", err);
        return -1;
    }
    self->deferring = true;
    return 0;
}

int link_inbox_commit(link_inbox_t *inbox)
{
    inbox->watermark_kind = INBOX_WATERMARK_OFF;
    if (s_stop_deferring(inbox) || s_flush_records(inbox))
        return -1; /* the caller rolls back */
    return link_step_done(inbox->commit);
}

void link_inbox_rollback(link_inbox_t *inbox)
{
    inbox->watermark_kind = INBOX_WATERMARK_OFF;
    inbox->pending_count = 0;
    if (inbox->deferring) {
        link_outbox_discard(inbox->db);
        inbox->deferring = false;
    }
    if (!sqlite3_get_autocommit(inbox->db))
        link_step_done(inbox->rollback);
}

static void s_copy_column(sqlite3_stmt *stmt, int column, char *out, size_t size)
{
    util_copy(out, size, (const char *)sqlite3_column_text(stmt, column));
}

/* Empty strings are stored as NULL: most outcomes carry none. */
static void s_bind_text_or_null(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text[0])
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(stmt, index);
}

/* Binds one record to parameters first .. first + 7 of `stmt`. */
static void s_bind_record(sqlite3_stmt *stmt, int first, const uint8_t *id, size_t id_len,
                          const char *peer, const link_result_t *outcome, int64_t handled_at_ms)
{
    sqlite3_bind_blob(stmt, first, id, (int)id_len, SQLITE_STATIC);
    sqlite3_bind_int(stmt, first + 1, (int)outcome->status);
    sqlite3_bind_int(stmt, first + 2, (int)outcome->reason);
    s_bind_text_or_null(stmt, first + 3, outcome->case_id);
    s_bind_text_or_null(stmt, first + 4, outcome->event_id);
    s_bind_text_or_null(stmt, first + 5, outcome->detail);
    sqlite3_bind_text(stmt, first + 6, peer ? peer : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, first + 7, handled_at_ms);
}

/* Writes the batch's pending records, INBOX_RECORD_CHUNK per statement
 * (the tail with a shorter one). Returns 0, or -1 (the batch must roll
 * back; sqlite's message stays on the connection). */
static int s_flush_records(link_inbox_t *self)
{
    size_t i = 0, n = self->pending_count;
    while (i < n) {
        size_t rows = n - i < INBOX_RECORD_CHUNK ? n - i : INBOX_RECORD_CHUNK;
        sqlite3_stmt *insert = s_rows_statement(self, rows, NULL, 0);
        if (!insert) { /* cannot prepare it: one record at a time, as ever */
            rows = 1;
            insert = self->inbox_add;
        }
        for (size_t row = 0; row < rows; row++) {
            const inbox_pending_t *p = &self->pending[i + row];
            s_bind_record(insert, 1 + (int)row * INBOX_RECORD_COLUMNS, p->id, sizeof p->id, p->peer,
                          &p->outcome, p->handled_at_ms);
        }
        if (link_step_done(insert))
            return -1;
        i += rows;
    }
    self->pending_count = 0;
    return 0;
}

/* Keeps a new record for s_flush_records(). Returns 0, or -1 when memory
 * ran out (the caller then writes it at once). */
static int s_defer_record(link_inbox_t *self, const uint8_t *id, const char *peer,
                          const link_result_t *outcome, int64_t handled_at_ms)
{
    if (self->pending_count == self->pending_capacity) {
        size_t capacity = self->pending_capacity ? 2 * self->pending_capacity : INBOX_PENDING_FIRST;
        inbox_pending_t *grown = realloc(self->pending, capacity * sizeof *grown);
        if (!grown)
            return -1;
        self->pending = grown;
        self->pending_capacity = capacity;
    }
    inbox_pending_t *p = &self->pending[self->pending_count++];
    memcpy(p->id, id, sizeof p->id);
    p->peer = peer;
    p->handled_at_ms = handled_at_ms;
    p->outcome = *outcome;
    return 0;
}

/* True when a record for `id` may wait in memory. Only ids at or below the
 * watermark get here (retransmissions, ids made in the same microsecond,
 * a sender whose clock is behind); from INBOX_RECORD_CHUNK pending records
 * it answers true without a scan, so the caller writes them (one full
 * multi-row INSERT) and a batch of such ids never costs a quadratic scan.
 * Cannot fail. */
static bool s_pending_has(const link_inbox_t *self, const uint8_t *id, size_t id_len)
{
    if (id_len != VIGIL_ID_BYTES)
        return false; /* such ids are never deferred */
    if (self->pending_count >= INBOX_RECORD_CHUNK)
        return true;
    for (size_t i = 0; i < self->pending_count; i++)
        if (memcmp(self->pending[i].id, id, VIGIL_ID_BYTES) == 0)
            return true;
    return false;
}

/* Records the outcome in link_inbox (`replace`: over an older record). A
 * first record of a well-formed id waits in memory until the batch commits
 * or a lookup needs it (s_flush_records); others are written at once, after
 * the pending ones. Returns 0 or -1. */
static int s_record(link_inbox_t *self, const uint8_t *id, size_t id_len, const char *peer,
                    const link_result_t *outcome, bool replace)
{
    int64_t now_ms = util_now_ms();
    if (replace || id_len != VIGIL_ID_BYTES ||
        s_defer_record(self, id, peer, outcome, now_ms) != 0) {
        if (s_flush_records(self))
            return -1;
        sqlite3_stmt *put = replace ? self->inbox_put : self->inbox_add;
        s_bind_record(put, 1, id, id_len, peer, outcome, now_ms);
        if (link_step_done(put))
            return -1;
    }
    s_watermark_raise(self, id, id_len);
    return 0;
}

/* Removes a message's failure count once it has a final outcome. */
static int s_forget_attempts(link_inbox_t *self, const uint8_t *id, size_t id_len)
{
    if (self->attempts_rows <= 0)
        return 0;
    sqlite3_bind_blob(self->attempts_del, 1, id, (int)id_len, SQLITE_STATIC);
    if (link_step_done(self->attempts_del))
        return -1;
    if (sqlite3_changes(self->db) > 0)
        self->attempts_rows--;
    return 0;
}

static void s_reason_text(const link_result_t *outcome, char *out, size_t size)
{
    if (outcome->detail[0])
        snprintf(out, size, "%s: %s", link_reason_name(outcome->reason), outcome->detail);
    else
        snprintf(out, size, "%s", link_reason_name(outcome->reason));
}

/* A handler asked for a retry (or failed in an unknown way): count it, and
 * park the message once it has failed max_attempts times. */
static int s_count_failure(link_inbox_t *self, const Vigil__V1__Envelope *envelope,
                           const uint8_t *raw, size_t raw_len, const char *peer,
                           link_result_t *outcome)
{
    const uint8_t *id = envelope->message_id.data;
    size_t id_len = envelope->message_id.len;
    if (outcome->reason == VIGIL__V1__REASON_CODE__REASON_NONE)
        outcome->reason = VIGIL__V1__REASON_CODE__REASON_HANDLER_FAILED;
    int64_t now = util_now_ms();
    int attempts = 1;
    int64_t first = now;
    sqlite3_bind_blob(self->attempts_get, 1, id, (int)id_len, SQLITE_STATIC);
    int step = sqlite3_step(self->attempts_get);
    bool counted_before = step == SQLITE_ROW;
    if (counted_before) {
        attempts = sqlite3_column_int(self->attempts_get, 0) + 1;
        first = sqlite3_column_int64(self->attempts_get, 1);
    }
    sqlite3_reset(self->attempts_get);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return -1;
    char reason[INBOX_REASON_TEXT];
    s_reason_text(outcome, reason, sizeof reason);

    if (attempts >= self->max_attempts) {
        size_t stored_len = 0;
        uint8_t *stored = link_seal(self->vault, id, id_len, raw, raw_len, &stored_len);
        if (!stored)
            return -1;
        link_deadletter_t letter = {
            .direction = LINK_DIRECTION_IN,
            .peer = peer,
            .message_id = id,
            .message_id_len = id_len,
            .type = (int)envelope->type,
            .reason = reason,
            .attempts = attempts,
            .first_failed_at_ms = first,
            .last_failed_at_ms = now,
            .envelope = stored,
            .envelope_len = stored_len,
            .sealed = self->vault != NULL,
        };
        char err[INBOX_REASON_TEXT];
        int rc = link_deadletter_insert(self->db, &letter, err, sizeof err);
        free(stored);
        if (rc || (counted_before && s_forget_attempts(self, id, id_len)))
            return -1;
        outcome->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED;
        return s_record(self, id, id_len, peer, outcome, false);
    }

    sqlite3_stmt *put = self->attempts_put;
    sqlite3_bind_blob(put, 1, id, (int)id_len, SQLITE_STATIC);
    sqlite3_bind_int(put, 2, attempts);
    sqlite3_bind_int64(put, 3, first);
    sqlite3_bind_int64(put, 4, now);
    sqlite3_bind_text(put, 5, reason, -1, SQLITE_STATIC);
    if (link_step_done(put))
        return -1;
    if (!counted_before)
        self->attempts_rows++;
    outcome->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY;
    return 0;
}

/* The message whose handler runs on this thread, for link_payload() and
 * link_prepared(). */
static _Thread_local struct {
    const Vigil__V1__Envelope *envelope;
    ProtobufCMessage *payload;
    void *prepared;
} s_handling;

ProtobufCMessage *link_payload(const Vigil__V1__Envelope *envelope)
{
    return envelope && envelope == s_handling.envelope ? s_handling.payload : NULL;
}

void *link_prepared(const Vigil__V1__Envelope *envelope)
{
    return envelope && envelope == s_handling.envelope ? s_handling.prepared : NULL;
}

int link_inbox_handle(link_inbox_t *self, const Vigil__V1__Envelope *envelope,
                      ProtobufCMessage *payload, void *prepared, const uint8_t *raw, size_t raw_len,
                      const char *peer, link_result_t *outcome, link_inbox_kind_t *kind)
{
    const uint8_t *id = envelope->message_id.data;
    size_t id_len = envelope->message_id.len;
    memset(outcome, 0, sizeof *outcome);
    *kind = LINK_INBOX_HANDLED;

    sqlite3_stmt *get = self->inbox_get;
    int step = SQLITE_DONE; /* above the watermark: new, no lookup needed */
    if (!s_above_watermark(self, id, id_len)) {
        /* The record may be one of this batch's, not written yet. */
        if (s_pending_has(self, id, id_len) && s_flush_records(self))
            return -1;
        sqlite3_bind_blob(get, 1, id, (int)id_len, SQLITE_STATIC);
        step = sqlite3_step(get);
    }
    if (step == SQLITE_ROW) {
        /* ACCEPTED becomes DUPLICATE; REJECTED and DEAD_LETTERED stay. */
        int status = sqlite3_column_int(get, 0);
        outcome->status = status == VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED ||
                                  status == VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED
                              ? (Vigil__V1__AckStatus)status
                              : VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE;
        outcome->reason = (Vigil__V1__ReasonCode)sqlite3_column_int(get, 1);
        s_copy_column(get, 2, outcome->case_id, sizeof outcome->case_id);
        s_copy_column(get, 3, outcome->event_id, sizeof outcome->event_id);
        s_copy_column(get, 4, outcome->detail, sizeof outcome->detail);
        sqlite3_reset(get);
        *kind = LINK_INBOX_DUPLICATE;
        return 0;
    }
    sqlite3_reset(get);
    if (step != SQLITE_DONE)
        return -1;

    outcome->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
    const link_route_t *route = s_route(self, envelope->type);
    if (!route || !route->handler) {
        outcome->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED;
        outcome->reason = VIGIL__V1__REASON_CODE__REASON_UNKNOWN_TYPE;
        return 0;
    }
    bool savepoint = !(route->flags & LINK_ROUTE_NO_SAVEPOINT);
    if (s_defer_for(self, route))
        return -1;
    sqlite3_int64 changes_before = sqlite3_total_changes64(self->db);
    size_t deferred_before = link_outbox_deferred(self->db);
    if (savepoint && link_step_done(self->savepoint))
        return -1;
    s_handling.envelope = envelope;
    s_handling.payload = payload;
    s_handling.prepared = prepared;
    int rc = route->handler(self->ctx, self->db, envelope, peer, outcome);
    s_handling.envelope = NULL;
    s_handling.payload = NULL;
    s_handling.prepared = NULL;
    if (sqlite3_get_autocommit(self->db)) {
        log_error("a link handler ended the batch transaction; handlers must not commit", "type=%d",
                  (int)envelope->type);
        return -1;
    }
    bool own_dedup = route->flags & LINK_ROUTE_OWN_DEDUP;
    if (rc == LINK_OK) {
        if (savepoint && link_step_done(self->release))
            return -1;
        if (outcome->status != VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE)
            outcome->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
        if (s_forget_attempts(self, id, id_len))
            return -1;
        return own_dedup ? 0 : s_record(self, id, id_len, peer, outcome, false);
    }
    if (!savepoint) {
        if (sqlite3_total_changes64(self->db) != changes_before ||
            link_outbox_deferred(self->db) != deferred_before) {
            log_error("a handler without a savepoint failed after changing the store; the batch "
                      "rolls back",
                      "type=%d", (int)envelope->type);
            return -1; /* alone in its own transaction, it is rolled back and answered RETRY */
        }
    } else if (link_step_done(self->rollback_to) || link_step_done(self->release)) {
        return -1;
    }
    if (rc == LINK_REJECT) {
        outcome->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED;
        if (outcome->reason == VIGIL__V1__REASON_CODE__REASON_NONE)
            outcome->reason = VIGIL__V1__REASON_CODE__REASON_HANDLER_FAILED;
        if (s_forget_attempts(self, id, id_len))
            return -1;
        return own_dedup ? 0 : s_record(self, id, id_len, peer, outcome, false);
    }
    return s_count_failure(self, envelope, raw, raw_len, peer, outcome);
}

/* --- replay ------------------------------------------------------------- */

static const char s_replay_ids_sql[] = LINK_CACHED_SQL(
    "SELECT id FROM link_deadletters WHERE direction = 'in' AND (?1 = 0 OR id = ?1) ORDER BY id");
static const char s_replay_row_sql[] = LINK_CACHED_SQL(
    "SELECT peer, message_id, sealed, envelope FROM link_deadletters WHERE id = ?1 AND "
    "direction = 'in'");
static const char s_replay_delete_sql[] =
    LINK_CACHED_SQL("DELETE FROM link_deadletters WHERE id = ?1");
static const char s_replay_failed_sql[] = LINK_CACHED_SQL(
    "UPDATE link_deadletters SET reason = ?2, attempts = attempts + 1, last_failed_at_ms = ?3 "
    "WHERE id = ?1");

/* Collects the ids of inbound dead letters to replay into a malloc'd array.
 * Returns the count, or -1. */
static long s_replay_ids(link_inbox_t *self, int64_t id, int64_t **ids_p, char *err, size_t errlen)
{
    sqlite3_stmt *select = link_stmt(self->db, s_replay_ids_sql, err, errlen);
    if (!select)
        return -1;
    sqlite3_bind_int64(select, 1, id);
    int64_t *ids = NULL;
    long count = 0, capacity = 0;
    int step;
    while ((step = sqlite3_step(select)) == SQLITE_ROW) {
        if (count == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            int64_t *grown = realloc(ids, (size_t)capacity * sizeof *ids);
            if (!grown) {
                step = SQLITE_NOMEM;
                break;
            }
            ids = grown;
        }
        ids[count++] = sqlite3_column_int64(select, 0);
    }
    sqlite3_reset(select);
    if (step != SQLITE_DONE) {
        snprintf(err, errlen, "replay: cannot list dead letters: %s", sqlite3_errmsg(self->db));
        free(ids);
        return -1;
    }
    *ids_p = ids;
    return count;
}

/* Runs the handler for one parked message in its own transaction. Sets
 * *done when it succeeded. Returns 0, or -1 when sqlite failed. */
static int s_replay_one(link_inbox_t *self, int64_t row_id, bool *done, char *err, size_t errlen)
{
    *done = false;
    sqlite3_stmt *row = link_stmt(self->db, s_replay_row_sql, err, errlen);
    sqlite3_stmt *remove = row ? link_stmt(self->db, s_replay_delete_sql, err, errlen) : NULL;
    sqlite3_stmt *failed = remove ? link_stmt(self->db, s_replay_failed_sql, err, errlen) : NULL;
    if (!failed)
        return -1;
    if (link_inbox_begin(self)) {
        snprintf(err, errlen, "replay: begin: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    int rc = -1;
    uint8_t *plain = NULL;
    Vigil__V1__Envelope *envelope = NULL;
    char peer[INBOX_PEER_MAX] = "";
    char reason[INBOX_REASON_TEXT] = "";
    link_result_t outcome = {0};

    sqlite3_bind_int64(row, 1, row_id);
    if (sqlite3_step(row) != SQLITE_ROW) {
        sqlite3_reset(row);
        rc = 0; /* gone meanwhile: nothing to do */
        goto finish;
    }
    s_copy_column(row, 0, peer, sizeof peer);
    size_t plain_len = 0;
    plain =
        link_unseal(self->vault, sqlite3_column_blob(row, 1), (size_t)sqlite3_column_bytes(row, 1),
                    sqlite3_column_blob(row, 3), (size_t)sqlite3_column_bytes(row, 3),
                    sqlite3_column_int(row, 2) != 0, &plain_len);
    sqlite3_reset(row);
    if (plain)
        envelope = vigil__v1__envelope__unpack(NULL, plain_len, plain);
    const link_route_t *route = envelope ? link_inbox_route(self, envelope->type) : NULL;
    link_handler_fn handler = route ? route->handler : NULL; /* never prepared (link.h) */
    if (!envelope) {
        snprintf(reason, sizeof reason,
                 "replay: the stored envelope cannot be opened (vault key?)");
    } else if (!handler) {
        snprintf(reason, sizeof reason, "replay: no handler for type %d", (int)envelope->type);
    } else {
        outcome.status = VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
        if (link_step_done(self->savepoint))
            goto finish;
        int handled = handler(self->ctx, self->db, envelope, peer, &outcome);
        if (sqlite3_get_autocommit(self->db))
            goto finish;
        if (handled == LINK_OK) {
            if (link_step_done(self->release))
                goto finish;
            if (outcome.status != VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE)
                outcome.status = VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
            sqlite3_bind_int64(remove, 1, row_id);
            if (link_step_done(remove) || s_record(self, envelope->message_id.data,
                                                   envelope->message_id.len, peer, &outcome, true))
                goto finish;
            *done = true;
        } else {
            if (link_step_done(self->rollback_to) || link_step_done(self->release))
                goto finish;
            if (outcome.reason == VIGIL__V1__REASON_CODE__REASON_NONE)
                outcome.reason = VIGIL__V1__REASON_CODE__REASON_HANDLER_FAILED;
            s_reason_text(&outcome, reason, sizeof reason);
        }
    }
    if (!*done) {
        sqlite3_bind_int64(failed, 1, row_id);
        sqlite3_bind_text(failed, 2, reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(failed, 3, util_now_ms());
        if (link_step_done(failed))
            goto finish;
    }
    rc = 0;
finish:
    if (rc == 0 && link_inbox_commit(self) == 0) {
        log_info("dead letter replayed", "id=%lld ok=%s", (long long)row_id,
                 *done ? "true" : "false");
    } else {
        if (rc == 0)
            snprintf(err, errlen, "replay: commit: %s", sqlite3_errmsg(self->db));
        else if (!err[0])
            snprintf(err, errlen, "replay: sqlite: %s", sqlite3_errmsg(self->db));
        link_inbox_rollback(self);
        *done = false;
        rc = -1;
    }
    if (envelope)
        vigil__v1__envelope__free_unpacked(envelope, NULL);
    if (plain) {
        sodium_memzero(plain, plain_len);
        free(plain);
    }
    return rc;
}

int link_inbox_replay(link_inbox_t *self, int64_t id, uint32_t *replayed, char *err, size_t errlen)
{
    *replayed = 0;
    if (err && errlen)
        err[0] = '\0';
    if (!sqlite3_get_autocommit(self->db)) {
        snprintf(err, errlen, "replay: a transaction is open on the store");
        return -1;
    }
    int64_t *ids = NULL;
    long count = s_replay_ids(self, id, &ids, err, errlen);
    if (count < 0)
        return -1;
    int rc = 0;
    for (long i = 0; i < count && rc == 0; i++) {
        bool done = false;
        rc = s_replay_one(self, ids[i], &done, err, errlen);
        if (done)
            (*replayed)++;
    }
    free(ids);
    if (rc)
        return -1;
    /* Outbound dead letters (refused by their peer) go back to the outbox. */
    uint32_t requeued = 0;
    if (link_deadletters_requeue(self->db, id, &requeued, err, errlen))
        return -1;
    *replayed += requeued;
    if (id != 0 && count == 0 && requeued == 0) {
        snprintf(err, errlen, "no dead letter with id %lld", (long long)id);
        return -1;
    }
    return 0;
}
