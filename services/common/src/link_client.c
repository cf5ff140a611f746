/* link_client.c: the sending end of the reliable link, one per peer.
 *
 * It relays the peer's outbox rows over a DEALER socket (CURVE client,
 * ZMQ_IMMEDIATE so nothing queues towards a peer that is not connected).
 * Rows are loaded in id order into the window (link_window.c) only while a
 * slot is free, which is the backpressure: at most `window` messages are
 * unacknowledged. Envelopes enqueued on the client's own connection are
 * handed to it at enqueue (link_outbox_tap()) and kept in a bounded queue;
 * such a row is then read back by id only, to learn that it committed, and
 * sent from the queue: a queued envelope whose row is not in the outbox
 * (rolled back, whole or to a savepoint) is dropped unsent, and a row the
 * queue does not hold (another connection's, a requeued dead letter, one
 * past the queue's bound) is read in full as before. Each is sent with
 * Envelope.source and Envelope.attempt appended to the stored bytes, and
 * retransmitted after ack_timeout_ms, then with exponential backoff and
 * jitter up to backoff_max_ms, and at once when the connection comes back.
 * Acks are read in place (link_codec.c, with protobuf-c as the fallback) and
 * handled in bulk: rows answered ACCEPTED, DUPLICATE or DEAD_LETTERED are
 * deleted (runs of rows loaded one after the other with one range delete,
 * checked against the run's length), rows answered REJECTED move to the
 * dead-letter table (direction 'out'), all in one transaction, committed
 * without an fsync of its own (s_flush says why that is safe); RETRY
 * reschedules.
 *
 * It must never send an envelope whose row it has not found committed,
 * never delete a row that was not acknowledged, never resend a row under a
 * new message_id, and never log a payload value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "link_internal.h"
#include "link_window.h"
#include "vigil/log.h"

#define CLIENT_TICK_MS              20                 /* retransmit scan and outbox poll period */
#define CLIENT_LINGER_MS            500                /* close waits at most this long */
#define CLIENT_HEARTBEAT_FACTOR     3                  /* heartbeat TTL and timeout, in intervals */
#define CLIENT_RECONNECT_MS         100                /* first reconnect delay */
#define CLIENT_RECONNECT_MAX_MS     2000               /* reconnect delay cap */
#define CLIENT_MAX_ACK_BYTES        (64 * 1024 * 1024) /* an Ack bigger than this is refused */
#define CLIENT_MAX_INFLIGHT_BYTES   (64 * 1024 * 1024) /* window limit in bytes as well */
#define CLIENT_ACK_DRAIN_MAX        1024               /* ack messages handled per wake-up */
#define CLIENT_ACK_ENTRIES_PER_SLOT 2 /* Ack entries read in place, per window slot */
#define CLIENT_BACKLOG_EVERY_NS     UINT64_C(1000000000) /* backlog gauge refresh */
#define CLIENT_NS_PER_MS            UINT64_C(1000000)
#define CLIENT_NS_PER_US            UINT64_C(1000)
#define CLIENT_US_PER_S             1e6
#define CLIENT_JITTER_DIVISOR       2   /* retransmit delay d becomes d/2 + random(d/2) */
#define CLIENT_BACKOFF_SHIFT_MAX    20  /* 2^20 * ack_timeout is past any cap */
#define CLIENT_SOURCE_MAX           255 /* longest source name written to envelopes */
#define CLIENT_REASON_MAX           320
#define CLIENT_ERR_LEN              256
#define CLIENT_PRAGMA_MAX           48
#define CLIENT_SYNCHRONOUS_NORMAL   1 /* PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA */
#define CLIENT_MONITOR_EVENTS                                                                      \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |                                      \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
#define CLIENT_MONITOR_EVENT_BYTES 6
#define CLIENT_TAG_SOURCE          ((LINK_FIELD_SOURCE << 3) | 2)  /* field 3, length-delimited */
#define CLIENT_TAG_ATTEMPT         ((LINK_FIELD_ATTEMPT << 3) | 0) /* field 8, varint */
#define CLIENT_NO_ROW              INT64_MIN /* no outbox row (ids are positive clock values) */
#define CLIENT_STAGED_PER_SLOT     4         /* enqueued envelopes kept per window slot, at most */
#define CLIENT_MAX_STAGED_BYTES    (16 * 1024 * 1024) /* and in bytes */

/* An envelope enqueued for this peer on this connection, kept until its row
 * is found committed (then sent from here) or missing (then dropped). */
typedef struct {
    int64_t row_id;
    int64_t enqueued_us;
    int type;
    uint8_t message_id[VIGIL_ID_BYTES];
    uint8_t *wire; /* plaintext envelope, malloc'd */
    size_t wire_len;
} client_staged_t;

/* An acknowledged row waiting to be deleted, and the row of this peer
 * loaded just before it (CLIENT_NO_ROW when unknown): when that one is
 * acknowledged too, no row of this peer lies between them, so both can go
 * in one range delete. */
typedef struct {
    int64_t row_id;
    int64_t prev_row_id;
} client_done_t;

/* A row the peer refused, waiting to be moved to the dead letters. */
typedef struct {
    int64_t row_id;
    char reason[CLIENT_REASON_MAX];
} client_refusal_t;

struct link_client_t {
    link_client_config_t config;
    char *peer;
    char *endpoint;
    char *server_key;
    char *source;
    sqlite3 *db;
    security_t *security;
    const vault_t *vault;
    zsock_t *socket;
    zsock_t *monitor;
    zloop_t *loop;
    int timer_id;
    bool paused;
    bool connected;
    bool key_refused;         /* the last handshake failed (logged once per streak) */
    uint64_t disconnected_ns; /* when the last connection broke (0: never) */
    uint64_t next_due_ns;     /* no sent slot is due before this (a lower bound) */
    link_window_t *window;
    int64_t last_loaded_id; /* outbox ids up to this one are loaded or not ours */
    int64_t counted_upto;   /* outbox rows up to this id have been counted ... */
    size_t unloaded;        /* ... and this many of ours in (last_loaded_id, counted_upto] */
    uint32_t *fresh;        /* ring of slot indexes never sent yet, in load order */
    size_t fresh_head, fresh_count;
    uint8_t suffix[1 + LINK_VARINT_MAX + CLIENT_SOURCE_MAX];
    size_t suffix_len;
    int64_t *prev_row;   /* per slot index: the row loaded before it, or CLIENT_NO_ROW */
    int64_t chain_last;  /* the last row of this peer loaded, or CLIENT_NO_ROW */
    bool ranges_off;     /* a range delete once removed an unexpected row count */
    client_done_t *done; /* acked rows to delete */
    size_t done_count;
    client_refusal_t *refused;
    size_t refused_count;
    uint64_t backlog_at_ns;
    link_arena_t arena;        /* what received acks decode into */
    link_ack_entry_t *entries; /* an Ack read in place (link_codec.c) */
    size_t entry_capacity;
    link_ack_observer_fn observer;
    void *observer_ctx;
    bool tapped;             /* link_outbox_tap() hands us what is enqueued */
    client_staged_t *staged; /* ring, in row id order */
    size_t staged_head, staged_count, staged_capacity;
    size_t staged_bytes;
    sqlite3_stmt *load;
    sqlite3_stmt *load_ids;
    sqlite3_stmt *remove;
    sqlite3_stmt *remove_range;
    sqlite3_stmt *refuse;
    sqlite3_stmt *count;
    sqlite3_stmt *newest;
    sqlite3_stmt *begin;
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *relax;   /* PRAGMA synchronous = NORMAL, for the cleanup; NULL: not needed */
    sqlite3_stmt *restore; /* PRAGMA synchronous = the connection's own level */
    metric_t *sent;
    metric_t *retransmits;
    metric_t *delivered;
    metric_t *refused_metric;
    metric_t *retry_answers;
    metric_t *ack_latency;
    metric_t *inflight;
    metric_t *backlog;
    metric_t *handshake_failures;
};

static const struct {
    size_t offset;
    const char *sql;
} s_statements[] = {
    {offsetof(link_client_t, load),
     "SELECT id, message_id, type, enqueued_us, sealed, envelope FROM link_outbox "
     "WHERE peer = ?1 AND id > ?2 ORDER BY id LIMIT ?3"},
    {offsetof(link_client_t, load_ids),
     "SELECT id FROM link_outbox WHERE peer = ?1 AND id > ?2 ORDER BY id LIMIT ?3"},
    {offsetof(link_client_t, remove), "DELETE FROM link_outbox WHERE id = ?1"},
    {offsetof(link_client_t, remove_range),
     "DELETE FROM link_outbox WHERE id BETWEEN ?1 AND ?2 AND peer = ?3"},
    {offsetof(link_client_t, refuse),
     "INSERT INTO link_deadletters (direction, peer, message_id, type, reason, attempts, "
     "first_failed_at_ms, last_failed_at_ms, sealed, envelope) "
     "SELECT 'out', peer, message_id, type, ?2, 1, ?3, ?3, sealed, envelope "
     "FROM link_outbox WHERE id = ?1"},
    {offsetof(link_client_t, count),
     "SELECT coalesce(sum(peer = ?1), 0), max(id) FROM link_outbox WHERE id > ?2"},
    {offsetof(link_client_t, newest), "SELECT max(id) FROM link_outbox"},
    {offsetof(link_client_t, begin), "BEGIN IMMEDIATE"},
    {offsetof(link_client_t, commit), "COMMIT"},
    {offsetof(link_client_t, rollback), "ROLLBACK"},
};
#define CLIENT_STATEMENTS (sizeof s_statements / sizeof s_statements[0])

static const struct {
    size_t offset;
    metric_kind_t kind;
    const char *name;
    const char *help;
} s_metrics[] = {
    {offsetof(link_client_t, sent), METRIC_COUNTER, "link_sent_total",
     "Link messages sent for the first time"},
    {offsetof(link_client_t, retransmits), METRIC_COUNTER, "link_retransmits_total",
     "Link messages sent again (ack timeout, RETRY answer or reconnect)"},
    {offsetof(link_client_t, delivered), METRIC_COUNTER, "link_delivered_total",
     "Outbox rows deleted after ACCEPTED, DUPLICATE or DEAD_LETTERED"},
    {offsetof(link_client_t, refused_metric), METRIC_COUNTER, "link_refused_total",
     "Outbox rows the peer answered REJECTED, moved to the dead letters"},
    {offsetof(link_client_t, retry_answers), METRIC_COUNTER, "link_retry_answers_total",
     "RETRY answers received from the peer"},
    {offsetof(link_client_t, ack_latency), METRIC_HISTOGRAM, "link_ack_latency_seconds",
     "Time from enqueue to the peer's acknowledgement"},
    {offsetof(link_client_t, inflight), METRIC_GAUGE, "link_inflight",
     "Link messages sent and not yet acknowledged"},
    {offsetof(link_client_t, backlog), METRIC_GAUGE, "link_backlog",
     "Outbox rows for this peer, sent or not"},
    {offsetof(link_client_t, handshake_failures), METRIC_COUNTER,
     "link_client_handshake_failures_total",
     "Handshakes with this peer that failed (wrong server key, or our key not admitted)"},
};

static sqlite3_stmt **s_statement(link_client_t *self, size_t i)
{
    return (sqlite3_stmt **)((char *)self + s_statements[i].offset);
}

static void s_add_metrics(link_client_t *self, metrics_t *metrics)
{
    if (!metrics)
        return;
    char labels[CLIENT_ERR_LEN];
    snprintf(labels, sizeof labels, "peer=\"%s\"", self->peer);
    for (size_t i = 0; i < sizeof s_metrics / sizeof s_metrics[0]; i++)
        *(metric_t **)((char *)self + s_metrics[i].offset) =
            metrics_add(metrics, s_metrics[i].kind, s_metrics[i].name, s_metrics[i].help, labels);
}

static bool s_is_tcp(const char *endpoint)
{
    return strncmp(endpoint, "tcp://", strlen("tcp://")) == 0;
}

/* The statements that lower the connection's synchronous level for the
 * cleanup and bring it back (s_flush); none when it is NORMAL or lower. */
static int s_prepare_relax(link_client_t *self, char *err, size_t errlen)
{
    sqlite3_stmt *level = NULL;
    if (link_prepare(self->db, "PRAGMA synchronous", &level, err, errlen))
        return -1;
    int synchronous = sqlite3_step(level) == SQLITE_ROW ? sqlite3_column_int(level, 0) : 0;
    sqlite3_finalize(level);
    if (synchronous <= CLIENT_SYNCHRONOUS_NORMAL)
        return 0;
    char restore[CLIENT_PRAGMA_MAX];
    snprintf(restore, sizeof restore, "PRAGMA synchronous = %d", synchronous);
    if (link_prepare(self->db, "PRAGMA synchronous = NORMAL", &self->relax, err, errlen) ||
        link_prepare(self->db, restore, &self->restore, err, errlen))
        return -1;
    return 0;
}

link_client_t *link_client_new(const link_client_config_t *config, sqlite3 *db,
                               security_t *security, const vault_t *vault, metrics_t *metrics,
                               char *err, size_t errlen)
{
    if (!config || !config->peer || !*config->peer || !config->endpoint || !*config->endpoint ||
        !db) {
        snprintf(err, errlen, "link client: peer, endpoint and store are required");
        return NULL;
    }
    if (config->window < 1 || config->ack_timeout_ms < 1 ||
        config->backoff_max_ms < config->ack_timeout_ms || config->heartbeat_ms < 0) {
        snprintf(err, errlen,
                 "link client %s: need window >= 1, ack_timeout_ms >= 1, backoff_max_ms >= "
                 "ack_timeout_ms and heartbeat_ms >= 0",
                 config->peer);
        return NULL;
    }
    const char *source = config->source ? config->source : "";
    if (strlen(source) > CLIENT_SOURCE_MAX) {
        snprintf(err, errlen, "link client %s: source name longer than %d bytes", config->peer,
                 CLIENT_SOURCE_MAX);
        return NULL;
    }
    if (s_is_tcp(config->endpoint) && !security) {
        snprintf(err, errlen, "link client %s: %s is TCP and no security is configured",
                 config->peer, config->endpoint);
        return NULL;
    }
    link_client_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "link client: out of memory");
        return NULL;
    }
    self->config = *config;
    self->peer = strdup(config->peer);
    self->endpoint = strdup(config->endpoint);
    self->server_key = strdup(config->server_key ? config->server_key : "");
    self->source = strdup(source);
    self->db = db;
    self->security = security;
    self->vault = vault;
    self->timer_id = -1;
    link_arena_init(&self->arena);
    size_t window = (size_t)config->window;
    self->window = link_window_new(window);
    self->fresh = calloc(window, sizeof *self->fresh);
    self->done = calloc(window, sizeof *self->done);
    self->prev_row = calloc(window, sizeof *self->prev_row);
    self->chain_last = CLIENT_NO_ROW;
    self->refused = calloc(window, sizeof *self->refused);
    /* An Ack answers at most what was in flight, plus the odd retransmit;
     * a bigger one is unpacked by protobuf-c instead. */
    self->entry_capacity = CLIENT_ACK_ENTRIES_PER_SLOT * window;
    self->entries = calloc(self->entry_capacity, sizeof *self->entries);
    self->staged_capacity = CLIENT_STAGED_PER_SLOT * window;
    self->staged = calloc(self->staged_capacity, sizeof *self->staged);
    if (!self->peer || !self->endpoint || !self->server_key || !self->source || !self->window ||
        !self->fresh || !self->done || !self->prev_row || !self->refused || !self->entries ||
        !self->staged) {
        snprintf(err, errlen, "link client %s: out of memory for a window of %zu", config->peer,
                 window);
        link_client_destroy(&self);
        return NULL;
    }
    self->config.peer = self->peer;
    self->config.endpoint = self->endpoint;
    self->config.server_key = self->server_key;
    self->config.source = self->source;
    for (size_t i = 0; i < CLIENT_STATEMENTS; i++) {
        if (link_prepare(db, s_statements[i].sql, s_statement(self, i), err, errlen)) {
            link_client_destroy(&self);
            return NULL;
        }
    }
    if (s_prepare_relax(self, err, errlen)) {
        link_client_destroy(&self);
        return NULL;
    }
    /* Envelope.source, appended to every stored envelope at send time. */
    size_t source_len = strlen(self->source);
    if (source_len) {
        self->suffix[0] = CLIENT_TAG_SOURCE;
        self->suffix_len = 1 + link_put_varint(self->suffix + 1, source_len);
        memcpy(self->suffix + self->suffix_len, self->source, source_len);
        self->suffix_len += source_len;
    }
    s_add_metrics(self, metrics);
    return self;
}

/* --- retransmit schedule ----------------------------------------------------- */

/* Delay before the next send of a message sent `attempt` times: the ack
 * timeout after the first send, then ack_timeout * 2^(attempt-1), capped, with
 * "equal jitter" (half fixed, half random) so peers do not retry in step. */
static uint64_t s_backoff_ns(const link_client_t *self, uint32_t attempt)
{
    uint64_t base = (uint64_t)self->config.ack_timeout_ms;
    if (attempt <= 1)
        return base * CLIENT_NS_PER_MS;
    uint32_t shift =
        attempt - 1 > CLIENT_BACKOFF_SHIFT_MAX ? CLIENT_BACKOFF_SHIFT_MAX : attempt - 1;
    uint64_t delay = base << shift;
    if (delay > (uint64_t)self->config.backoff_max_ms)
        delay = (uint64_t)self->config.backoff_max_ms;
    uint64_t half = delay / CLIENT_JITTER_DIVISOR;
    delay = half + util_random_below((uint32_t)(delay - half + 1));
    return delay * CLIENT_NS_PER_MS;
}

/* --- sending ------------------------------------------------------------------ */

/* Sends one slot. Returns 0, or -1 when the socket would block (no peer
 * connected yet, or its queue is full); the slot then stays due. */
static int s_send(link_client_t *self, link_slot_t *slot, uint64_t now)
{
    uint32_t attempt = slot->attempt + 1;
    uint8_t tail[1 + LINK_VARINT_MAX];
    tail[0] = CLIENT_TAG_ATTEMPT;
    size_t tail_len = 1 + link_put_varint(tail + 1, attempt);
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, slot->wire_len + self->suffix_len + tail_len))
        return -1;
    uint8_t *out = zmq_msg_data(&msg);
    memcpy(out, slot->wire, slot->wire_len);
    memcpy(out + slot->wire_len, self->suffix, self->suffix_len);
    memcpy(out + slot->wire_len + self->suffix_len, tail, tail_len);
    if (zmq_msg_send(&msg, zsock_resolve(self->socket), ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return -1;
    }
    slot->attempt = attempt;
    slot->sent_ns = now;
    slot->due_ns = now + s_backoff_ns(self, attempt);
    if (slot->due_ns < self->next_due_ns)
        self->next_due_ns = slot->due_ns;
    metric_inc(attempt == 1 ? self->sent : self->retransmits);
    return 0;
}

/* Sends the never-sent slots in load order until the socket pushes back. */
static void s_pump(link_client_t *self)
{
    if (!self->socket)
        return;
    uint64_t now = util_mono_ns();
    size_t capacity = link_window_capacity(self->window);
    while (self->fresh_count > 0) {
        link_slot_t *slot = link_window_slot(self->window, self->fresh[self->fresh_head]);
        if (slot->used && slot->attempt == 0 && s_send(self, slot, now))
            break;
        self->fresh_head = (self->fresh_head + 1) % capacity;
        self->fresh_count--;
    }
}

/* Resends every sent slot that is due, and every one last sent before
 * `lost_before` (monotonic ns; 0 for none): those went down with a broken
 * connection. */
static void s_resend_due(link_client_t *self, uint64_t lost_before)
{
    uint64_t now = util_mono_ns();
    if (lost_before == 0 && now < self->next_due_ns)
        return; /* nothing can be due yet: skip the scan */
    size_t capacity = link_window_capacity(self->window);
    uint64_t next_due = UINT64_MAX;
    for (size_t i = 0; i < capacity; i++) {
        link_slot_t *slot = link_window_slot(self->window, i);
        if (!slot->used || slot->attempt == 0)
            continue;
        if ((slot->due_ns <= now || slot->sent_ns <= lost_before) && s_send(self, slot, now)) {
            next_due = now; /* the socket pushed back: look again next tick */
            break;
        }
        if (slot->due_ns < next_due)
            next_due = slot->due_ns;
    }
    self->next_due_ns = next_due;
}

/* --- loading the outbox --------------------------------------------------------- */

static void s_refuse(link_client_t *self, int64_t row_id, const char *reason)
{
    client_refusal_t *refusal = &self->refused[self->refused_count++];
    refusal->row_id = row_id;
    snprintf(refusal->reason, sizeof refusal->reason, "%s", reason);
}

/* Notes that outbox row `row_id` of this peer was loaded (or parked). */
static void s_mark_loaded(link_client_t *self, int64_t row_id)
{
    self->last_loaded_id = row_id;
    if (row_id <= self->counted_upto && self->unloaded > 0)
        self->unloaded--;
}

/* --- envelopes handed over at enqueue ------------------------------------------ */

/* link_outbox_tap() callback, inside the enqueuing transaction: keeps a copy
 * unless it comes without one or the queue is full (the row is then read
 * from the outbox). */
static void s_on_enqueued(void *ctx, const link_outbox_enqueued_t *enqueued)
{
    link_client_t *self = ctx;
    if (!enqueued->wire || self->staged_count == self->staged_capacity ||
        self->staged_bytes + enqueued->wire_len > CLIENT_MAX_STAGED_BYTES)
        return;
    if (self->staged_count > 0) {
        size_t last = (self->staged_head + self->staged_count - 1) % self->staged_capacity;
        if (enqueued->row_id <= self->staged[last].row_id)
            return; /* out of order (cannot happen: ids only grow): read it back */
    }
    uint8_t *wire = malloc(enqueued->wire_len ? enqueued->wire_len : 1);
    if (!wire)
        return;
    memcpy(wire, enqueued->wire, enqueued->wire_len);
    client_staged_t *staged =
        &self->staged[(self->staged_head + self->staged_count) % self->staged_capacity];
    *staged = (client_staged_t){
        .row_id = enqueued->row_id,
        .enqueued_us = enqueued->enqueued_us,
        .type = enqueued->type,
        .wire = wire,
        .wire_len = enqueued->wire_len,
    };
    memcpy(staged->message_id, enqueued->message_id, VIGIL_ID_BYTES);
    self->staged_count++;
    self->staged_bytes += enqueued->wire_len;
}

/* Removes the oldest queued envelope, freeing its bytes unless the window
 * took them. */
static void s_staged_pop(link_client_t *self)
{
    client_staged_t *staged = &self->staged[self->staged_head];
    self->staged_bytes -= staged->wire_len;
    if (staged->wire) {
        sodium_memzero(staged->wire, staged->wire_len); /* may hold personal data */
        free(staged->wire);
    }
    staged->wire = NULL;
    self->staged_head = (self->staged_head + 1) % self->staged_capacity;
    self->staged_count--;
}

/* Drops queued envelopes whose row id is below `row_id` (0 .. INT64_MAX:
 * all of them). */
static void s_staged_drop_below(link_client_t *self, int64_t row_id)
{
    while (self->staged_count > 0 && self->staged[self->staged_head].row_id < row_id)
        s_staged_pop(self);
}

/* Puts a loaded row into the window's bookkeeping: its row, type and
 * enqueue time, its place in this peer's run of rows, the send queue. */
static void s_loaded(link_client_t *self, link_slot_t *slot, int64_t row_id, int type,
                     int64_t enqueued_us)
{
    size_t capacity = link_window_capacity(self->window);
    slot->row_id = row_id;
    slot->type = type;
    slot->enqueued_us = enqueued_us;
    uint32_t index = (uint32_t)(slot - link_window_slot(self->window, 0));
    /* Rows come in id order, and new rows always get larger ids: no
     * row of this peer lies between the last one loaded and this one. */
    self->prev_row[index] = self->chain_last;
    self->chain_last = row_id;
    self->fresh[(self->fresh_head + self->fresh_count) % capacity] = index;
    self->fresh_count++;
    s_mark_loaded(self, row_id);
}

/* Every row of ours is loaded: skips the other peers' rows up to the
 * newest one, so the next scan starts there (ids never go back). */
static void s_loaded_all(link_client_t *self)
{
    if (sqlite3_step(self->newest) == SQLITE_ROW &&
        sqlite3_column_int64(self->newest, 0) > self->last_loaded_id)
        self->last_loaded_id = sqlite3_column_int64(self->newest, 0);
    sqlite3_reset(self->newest);
    self->unloaded = 0; /* every row of ours up to the newest is loaded */
    if (self->counted_upto < self->last_loaded_id)
        self->counted_upto = self->last_loaded_id;
}

/* Loads up to `room` rows from the queue of enqueued envelopes, reading
 * only the ids of this peer's committed rows: a queued envelope is sent
 * only once its row is found there, and one whose row is missing was
 * rolled back and is dropped. Returns 1 at a row the queue does not hold
 * (the caller loads from there on from the outbox), else 0. */
static int s_fill_from_queue(link_client_t *self, size_t room)
{
    sqlite3_stmt *ids = self->load_ids;
    sqlite3_bind_text(ids, 1, self->peer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ids, 2, self->last_loaded_id);
    sqlite3_bind_int64(ids, 3, (sqlite3_int64)room);
    int step;
    size_t rows = 0;
    bool missing = false, stopped = false;
    while ((step = sqlite3_step(ids)) == SQLITE_ROW) {
        int64_t row_id = sqlite3_column_int64(ids, 0);
        s_staged_drop_below(self, row_id); /* rows that never committed */
        client_staged_t *staged = self->staged_count ? &self->staged[self->staged_head] : NULL;
        if (!staged || staged->row_id != row_id) {
            missing = true;
            break;
        }
        link_slot_t *slot =
            link_window_add(self->window, staged->message_id, &staged->wire, staged->wire_len);
        if (!slot) {
            stopped = true; /* the same message_id in flight: as in s_fill() */
            break;
        }
        rows++;
        s_loaded(self, slot, row_id, staged->type, staged->enqueued_us);
        s_staged_pop(self);
        if (link_window_bytes(self->window) >= CLIENT_MAX_INFLIGHT_BYTES) {
            stopped = true;
            break;
        }
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        log_error("cannot read the outbox", "peer=%s error=%s", self->peer,
                  sqlite3_errmsg(self->db));
    sqlite3_reset(ids);
    if (missing)
        return 1;
    if (!stopped && step == SQLITE_DONE && rows < room) {
        /* Every committed row of ours is loaded: what is still queued
         * never committed. */
        s_staged_drop_below(self, INT64_MAX);
        s_loaded_all(self);
    }
    return 0;
}

/* Loads outbox rows after the last one loaded into free slots. */
static void s_fill(link_client_t *self)
{
    /* Settled rows not yet deleted would be loaded again: flush first. And
     * inside an open transaction this connection would see rows that are
     * not committed yet: nothing may leave before its commit. */
    if (self->paused || self->done_count > 0 || self->refused_count > 0 ||
        !sqlite3_get_autocommit(self->db))
        return;
    size_t capacity = link_window_capacity(self->window);
    size_t room = capacity - link_window_count(self->window);
    if (room == 0 || link_window_bytes(self->window) >= CLIENT_MAX_INFLIGHT_BYTES)
        return;
    s_staged_drop_below(self, self->last_loaded_id + 1); /* loaded from the outbox, or skipped */
    if (self->staged_count > 0) {
        if (s_fill_from_queue(self, room) == 0) {
            metric_set(self->inflight, (double)link_window_count(self->window));
            return;
        }
        room = capacity - link_window_count(self->window);
        if (room == 0 || link_window_bytes(self->window) >= CLIENT_MAX_INFLIGHT_BYTES)
            return;
    }
    sqlite3_stmt *load = self->load;
    sqlite3_bind_text(load, 1, self->peer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(load, 2, self->last_loaded_id);
    sqlite3_bind_int64(load, 3, (sqlite3_int64)room);
    int step;
    size_t rows = 0;
    while ((step = sqlite3_step(load)) == SQLITE_ROW) {
        rows++;
        int64_t row_id = sqlite3_column_int64(load, 0);
        const uint8_t *id = sqlite3_column_blob(load, 1);
        size_t id_len = (size_t)sqlite3_column_bytes(load, 1);
        size_t wire_len = 0;
        uint8_t *wire = link_unseal(self->vault, id, id_len, sqlite3_column_blob(load, 5),
                                    (size_t)sqlite3_column_bytes(load, 5),
                                    sqlite3_column_int(load, 4) != 0, &wire_len);
        if (!wire || id_len != VIGIL_ID_BYTES) {
            log_error("outbox row cannot be opened (vault key missing or wrong?); parking it",
                      "peer=%s row=%lld", self->peer, (long long)row_id);
            s_refuse(self, row_id, "the stored envelope cannot be opened with this vault");
            free(wire);
            s_mark_loaded(self, row_id);
            self->chain_last = row_id; /* not acked: it breaks the run it sits in */
            continue;
        }
        link_slot_t *slot = link_window_add(self->window, id, &wire, wire_len);
        if (!slot) {
            /* The same message_id twice in the outbox (a requeued dead
             * letter still in flight): send it once the first is answered. */
            sodium_memzero(wire, wire_len);
            free(wire);
            break;
        }
        s_loaded(self, slot, row_id, sqlite3_column_int(load, 2), sqlite3_column_int64(load, 3));
        if (link_window_bytes(self->window) >= CLIENT_MAX_INFLIGHT_BYTES)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        log_error("cannot read the outbox", "peer=%s error=%s", self->peer,
                  sqlite3_errmsg(self->db));
    sqlite3_reset(load);
    if (step == SQLITE_DONE && rows < room)
        s_loaded_all(self);
    metric_set(self->inflight, (double)link_window_count(self->window));
}

/* --- acks --------------------------------------------------------------------------- */

static int s_done_order(const void *a, const void *b)
{
    int64_t x = ((const client_done_t *)a)->row_id, y = ((const client_done_t *)b)->row_id;
    return (x > y) - (x < y);
}

/* Deletes the acknowledged rows inside the open cleanup transaction. Rows
 * that were loaded one after the other (no row of this peer between them)
 * and are all acknowledged form a run, deleted with one range statement
 * (`peer = ?` spares other peers' rows in the range); a run of one, or any
 * row once `ranges_off` is set, is deleted by id. A range that removes
 * another number of rows than the run holds would have taken a row that
 * was not acknowledged: returns 1 so the caller rolls back and turns ranges
 * off. Returns 0, 1, or -1 when sqlite failed. */
static int s_delete_done(link_client_t *self)
{
    size_t n = self->done_count;
    client_done_t *done = self->done;
    for (size_t i = 1; i < n; i++) {
        if (done[i].row_id < done[i - 1].row_id) {
            qsort(done, n, sizeof *done, s_done_order); /* acks came out of order */
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t first = i;
        while (!self->ranges_off && i + 1 < n && done[i + 1].prev_row_id == done[i].row_id)
            i++;
        if (i == first) {
            sqlite3_bind_int64(self->remove, 1, done[i].row_id);
            if (link_step_done(self->remove))
                return -1;
            continue;
        }
        sqlite3_bind_int64(self->remove_range, 1, done[first].row_id);
        sqlite3_bind_int64(self->remove_range, 2, done[i].row_id);
        sqlite3_bind_text(self->remove_range, 3, self->peer, -1, SQLITE_STATIC);
        if (link_step_done(self->remove_range))
            return -1;
        if ((size_t)sqlite3_changes(self->db) != i - first + 1) {
            log_error("outbox range delete removed an unexpected number of rows; rolling back "
                      "and deleting row by row from now on",
                      "peer=%s first=%lld last=%lld expected=%zu removed=%d", self->peer,
                      (long long)done[first].row_id, (long long)done[i].row_id, i - first + 1,
                      sqlite3_changes(self->db));
            return 1;
        }
    }
    return 0;
}

/* Deletes acknowledged rows and parks refused ones, in one transaction.
 * On failure everything stays queued for the next tick. */
static void s_cleanup(link_client_t *self)
{
    if (link_step_done(self->begin)) {
        log_warn("cannot start the outbox cleanup; retrying", "peer=%s error=%s", self->peer,
                 sqlite3_errmsg(self->db));
        return;
    }
    int rc = s_delete_done(self);
    if (rc > 0) {
        link_step_done(self->rollback);
        self->ranges_off = true;
        return; /* row by row at the next tick */
    }
    int64_t now_ms = util_now_ms();
    for (size_t i = 0; rc == 0 && i < self->refused_count; i++) {
        sqlite3_bind_int64(self->refuse, 1, self->refused[i].row_id);
        sqlite3_bind_text(self->refuse, 2, self->refused[i].reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(self->refuse, 3, now_ms);
        rc = link_step_done(self->refuse);
        sqlite3_bind_int64(self->remove, 1, self->refused[i].row_id);
        if (rc == 0)
            rc = link_step_done(self->remove);
    }
    if (rc == 0)
        rc = link_step_done(self->commit);
    if (rc) {
        log_error("outbox cleanup failed; retrying", "peer=%s error=%s", self->peer,
                  sqlite3_errmsg(self->db));
        link_step_done(self->rollback);
        return;
    }
    metric_add(self->refused_metric, self->refused_count);
    self->done_count = 0;
    self->refused_count = 0;
}

/* s_cleanup(), committed without an fsync of its own. A cleanup lost in a
 * crash costs nothing but a resend: the row comes back, is sent again and
 * is answered DUPLICATE (a parked row is refused again). And the next
 * commit at the connection's own level (FULL) syncs the WAL through it. At
 * a steady rate this halves the fsyncs on the loop thread, each of which
 * a request arriving meanwhile would wait for. The level comes straight
 * back: if it cannot, the process stops rather than acknowledge anything
 * on a connection that no longer syncs. */
static void s_flush(link_client_t *self)
{
    if (self->done_count == 0 && self->refused_count == 0)
        return;
    if (!sqlite3_get_autocommit(self->db))
        return; /* someone's transaction is open on this thread: next tick */
    bool relaxed = self->relax && link_step_done(self->relax) == 0;
    s_cleanup(self);
    if (relaxed && link_step_done(self->restore) &&
        sqlite3_exec(self->db, sqlite3_sql(self->restore), NULL, NULL, NULL) != SQLITE_OK) {
        log_error("cannot restore the store's synchronous level; stopping", "peer=%s error=%s",
                  self->peer, sqlite3_errmsg(self->db));
        abort();
    }
}

static void s_on_entry(link_client_t *self, const link_ack_entry_t *entry, uint64_t now_ns,
                       int64_t now_us)
{
    link_slot_t *slot = link_window_find(self->window, entry->message_id, entry->message_id_len);
    if (!slot || slot->attempt == 0)
        return; /* a late answer for a message already settled */
    size_t capacity = link_window_capacity(self->window);
    if (self->done_count == capacity || self->refused_count == capacity)
        return; /* cleanup is stuck: keep the slot; the retransmit is answered again */
    switch (entry->status) {
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED:
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE:
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED:
        self->done[self->done_count++] = (client_done_t){
            .row_id = slot->row_id,
            .prev_row_id = self->prev_row[slot - link_window_slot(self->window, 0)],
        };
        metric_inc(self->delivered);
        metric_observe(self->ack_latency, (double)(now_us - slot->enqueued_us) / CLIENT_US_PER_S);
        break;
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED: {
        char reason[CLIENT_REASON_MAX];
        char detail[sizeof((link_result_t *)0)->detail]; /* as long as a receiver writes */
        snprintf(detail, sizeof detail, "%.*s", (int)entry->detail_len,
                 entry->detail ? entry->detail : "");
        snprintf(reason, sizeof reason, "refused by %s: %s%s%s", self->peer,
                 link_reason_name(entry->reason), detail[0] ? ": " : "", detail);
        char id[2 * VIGIL_ID_BYTES + 1];
        util_hex(slot->message_id, VIGIL_ID_BYTES, id);
        log_warn("peer refused a message; parked as an outbound dead letter",
                 "peer=%s message_id=%s type=%d reason=%s detail=%s", self->peer, id, slot->type,
                 link_reason_name(entry->reason), detail);
        s_refuse(self, slot->row_id, reason);
        break;
    }
    case VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY:
        metric_inc(self->retry_answers);
        slot->due_ns = now_ns + s_backoff_ns(self, slot->attempt + 1);
        if (slot->due_ns < self->next_due_ns)
            self->next_due_ns = slot->due_ns;
        return;
    default:
        return;
    }
    if (self->observer)
        self->observer(self->observer_ctx, slot->message_id, entry->status,
                       now_us - slot->enqueued_us,
                       (int64_t)((now_ns - slot->sent_ns) / CLIENT_NS_PER_US));
    link_window_remove(self->window, slot);
}

/* Handles one received frame: an Envelope of type ACK. The Ack is read in
 * place (link_codec.c); protobuf-c decides whenever that reader declines. */
static void s_on_ack_frame(link_client_t *self, const uint8_t *data, size_t size)
{
    Vigil__V1__Envelope *envelope = link_envelope_unpack(&self->arena, size, data);
    uint64_t now_ns = util_mono_ns();
    int64_t now_us = link_now_us();
    bool is_ack = envelope && envelope->type == VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ACK;
    size_t count = 0;
    if (is_ack && link_ack_read(envelope->payload.data, envelope->payload.len, self->entries,
                                self->entry_capacity, &count) == 0) {
        for (size_t i = 0; i < count; i++)
            s_on_entry(self, &self->entries[i], now_ns, now_us);
        link_arena_reset(&self->arena);
        return;
    }
    Vigil__V1__Ack *ack = NULL;
    if (is_ack)
        ack = vigil__v1__ack__unpack(&self->arena.allocator, envelope->payload.len,
                                     envelope->payload.data);
    if (!ack) {
        log_warn("peer sent something that is not an Ack; ignored", "peer=%s bytes=%zu", self->peer,
                 size);
    } else {
        for (size_t i = 0; i < ack->n_entries; i++) {
            const Vigil__V1__AckEntry *e = ack->entries[i];
            link_ack_entry_t entry = {
                .message_id = e->message_id.data,
                .message_id_len = e->message_id.len,
                .status = e->status,
                .reason = e->reason,
                .detail = e->detail,
                .detail_len = e->detail ? strlen(e->detail) : 0,
            };
            s_on_entry(self, &entry, now_ns, now_us);
        }
    }
    link_arena_reset(&self->arena); /* frees the envelope and the ack */
}

static int s_on_readable(zloop_t *loop, zsock_t *socket, void *arg)
{
    (void)loop;
    link_client_t *self = arg;
    void *raw = zsock_resolve(socket);
    for (int n = 0; n < CLIENT_ACK_DRAIN_MAX; n++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            break;
        }
        if (zmq_msg_size(&msg) > 0) /* skip an empty delimiter if a peer sends one */
            s_on_ack_frame(self, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
    }
    s_flush(self);
    s_fill(self);
    s_pump(self);
    metric_set(self->inflight, (double)link_window_count(self->window));
    return 0;
}

static int s_on_tick(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    link_client_t *self = arg;
    s_flush(self);
    s_resend_due(self, 0);
    s_fill(self);
    s_pump(self);
    metric_set(self->inflight, (double)link_window_count(self->window));
    uint64_t now = util_mono_ns();
    if (now - self->backlog_at_ns >= CLIENT_BACKLOG_EVERY_NS) {
        self->backlog_at_ns = now;
        metric_set(self->backlog, (double)link_client_backlog(self));
    }
    return 0;
}

static int s_on_monitor(zloop_t *loop, zsock_t *monitor, void *arg)
{
    (void)loop;
    link_client_t *self = arg;
    zmsg_t *event = zmsg_recv(monitor);
    if (!event)
        return 0;
    zframe_t *head = zmsg_first(event);
    if (head && zframe_size(head) >= CLIENT_MONITOR_EVENT_BYTES) {
        uint16_t kind;
        uint32_t value;
        memcpy(&kind, zframe_data(head), sizeof kind);
        memcpy(&value, zframe_data(head) + sizeof kind, sizeof value);
        if (kind == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            log_info("link connected", "peer=%s endpoint=%s inflight=%zu", self->peer,
                     self->endpoint, link_window_count(self->window));
            self->connected = true;
            self->key_refused = false;
            /* Whatever was on the wire when the old connection broke may
             * be lost: resend it now rather than wait out the backoff. */
            s_resend_due(self, self->disconnected_ns);
            s_pump(self);
        } else if (kind == ZMQ_EVENT_DISCONNECTED) {
            if (self->connected)
                log_info("link disconnected; will reconnect", "peer=%s endpoint=%s", self->peer,
                         self->endpoint);
            self->connected = false;
            self->disconnected_ns = util_mono_ns();
        } else {
            metric_inc(self->handshake_failures);
            if (!self->key_refused) /* reconnects repeat it every few seconds: log the first */
                log_warn("link handshake failed (server key wrong, or our key not admitted); "
                         "retrying",
                         "peer=%s endpoint=%s code=0x%x", self->peer, self->endpoint, value);
            self->key_refused = true;
        }
    }
    zmsg_destroy(&event);
    return 0;
}

static void s_configure(link_client_t *self)
{
    zsock_t *s = self->socket;
    zsock_set_immediate(s, 1);
    zsock_set_linger(s, CLIENT_LINGER_MS);
    zsock_set_sndhwm(s, 2 * self->config.window);
    zsock_set_rcvhwm(s, 2 * self->config.window);
    zsock_set_maxmsgsize(s, CLIENT_MAX_ACK_BYTES);
    zsock_set_reconnect_ivl(s, CLIENT_RECONNECT_MS);
    zsock_set_reconnect_ivl_max(s, CLIENT_RECONNECT_MAX_MS);
    if (self->config.heartbeat_ms > 0) {
        zsock_set_heartbeat_ivl(s, self->config.heartbeat_ms);
        zsock_set_heartbeat_ttl(s, self->config.heartbeat_ms * CLIENT_HEARTBEAT_FACTOR);
        zsock_set_heartbeat_timeout(s, self->config.heartbeat_ms * CLIENT_HEARTBEAT_FACTOR);
    }
}

int link_client_attach(link_client_t *self, zloop_t *loop, char *err, size_t errlen)
{
    if (self->socket) {
        snprintf(err, errlen, "link client %s: already attached", self->peer);
        return -1;
    }
    self->socket = zsock_new(ZMQ_DEALER);
    if (!self->socket) {
        snprintf(err, errlen, "link client %s: cannot create a DEALER socket", self->peer);
        return -1;
    }
    s_configure(self);
    if (self->security && security_apply_client(self->security, self->socket, self->endpoint,
                                                self->server_key, err, errlen))
        return -1;
    char monitor_endpoint[CLIENT_ERR_LEN];
    snprintf(monitor_endpoint, sizeof monitor_endpoint, "inproc://vigil-link-client-monitor-%p",
             (void *)self);
    if (zmq_socket_monitor(zsock_resolve(self->socket), monitor_endpoint, CLIENT_MONITOR_EVENTS) ==
        0) {
        self->monitor = zsock_new_pair(NULL);
        if (self->monitor && zsock_connect(self->monitor, "%s", monitor_endpoint) != 0)
            zsock_destroy(&self->monitor);
    }
    if (zsock_connect(self->socket, "%s", self->endpoint) != 0) {
        snprintf(err, errlen, "link client %s: cannot connect to %s: %s", self->peer,
                 self->endpoint, zmq_strerror(zmq_errno()));
        return -1;
    }
    self->loop = loop;
    if (self->monitor)
        zloop_reader(loop, self->monitor, s_on_monitor, self);
    if (zloop_reader(loop, self->socket, s_on_readable, self)) {
        snprintf(err, errlen, "link client %s: cannot register with the loop", self->peer);
        return -1;
    }
    self->timer_id = zloop_timer(loop, CLIENT_TICK_MS, 0, s_on_tick, self);
    /* Without a tap (too many clients in the process) rows are read back. */
    self->tapped = link_outbox_tap(self->db, self->peer, self->vault, s_on_enqueued, self) == 0;
    s_fill(self);
    s_pump(self);
    log_info("link client relaying", "peer=%s endpoint=%s window=%d backlog=%zu", self->peer,
             self->endpoint, self->config.window, link_client_backlog(self));
    return 0;
}

void link_client_kick(link_client_t *self)
{
    if (!self || !self->socket)
        return;
    s_fill(self);
    s_pump(self);
}

void link_client_pause(link_client_t *self)
{
    if (self)
        self->paused = true;
}

size_t link_client_backlog(link_client_t *self)
{
    /* Rows not loaded yet are counted incrementally: only rows enqueued
     * since the last count are read (ids never go back), so a peer that is
     * down with a large queue costs nothing per call. Inside an open
     * transaction the count waits: uncommitted rows may still roll back. */
    if (self->counted_upto < self->last_loaded_id) {
        self->counted_upto = self->last_loaded_id;
        self->unloaded = 0;
    }
    if (sqlite3_get_autocommit(self->db)) {
        sqlite3_bind_text(self->count, 1, self->peer, -1, SQLITE_STATIC);
        sqlite3_bind_int64(self->count, 2, self->counted_upto);
        if (sqlite3_step(self->count) == SQLITE_ROW &&
            sqlite3_column_type(self->count, 1) != SQLITE_NULL) {
            self->unloaded += (size_t)sqlite3_column_int64(self->count, 0);
            self->counted_upto = sqlite3_column_int64(self->count, 1);
        }
        sqlite3_reset(self->count);
    }
    /* In the window, waiting to be deleted, or not loaded yet. */
    return link_window_count(self->window) + self->done_count + self->refused_count +
           self->unloaded;
}

size_t link_client_inflight(link_client_t *self)
{
    return link_window_count(self->window);
}

const char *link_client_peer(const link_client_t *self)
{
    return self->peer;
}

void link_client_set_observer(link_client_t *self, link_ack_observer_fn observer, void *ctx)
{
    self->observer = observer;
    self->observer_ctx = ctx;
}

void link_client_destroy(link_client_t **client_p)
{
    link_client_t *self = *client_p;
    if (!self)
        return;
    if (self->loop) {
        if (self->timer_id >= 0)
            zloop_timer_end(self->loop, self->timer_id);
        if (self->monitor)
            zloop_reader_end(self->loop, self->monitor);
        if (self->socket)
            zloop_reader_end(self->loop, self->socket);
    }
    if (self->tapped)
        link_outbox_untap(self);
    if (self->staged)
        s_staged_drop_below(self, INT64_MAX);
    if (self->db && self->begin)
        s_flush(self); /* settle what was acknowledged */
    if (self->monitor) {
        zmq_socket_monitor(zsock_resolve(self->socket), NULL, 0);
        zsock_destroy(&self->monitor);
    }
    zsock_destroy(&self->socket);
    for (size_t i = 0; i < CLIENT_STATEMENTS; i++)
        sqlite3_finalize(*s_statement(self, i));
    sqlite3_finalize(self->relax);
    sqlite3_finalize(self->restore);
    if (self->db)
        link_stmt_release(self->db);
    link_window_destroy(&self->window);
    link_arena_release(&self->arena);
    free(self->fresh);
    free(self->done);
    free(self->prev_row);
    free(self->refused);
    free(self->entries);
    free(self->staged);
    free(self->peer);
    free(self->endpoint);
    free(self->server_key);
    free(self->source);
    free(self);
    *client_p = NULL;
}
