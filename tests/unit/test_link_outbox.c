/* test_link_outbox.c: the sender's outbox.
 *
 * Enqueuing happens in the caller's transaction (a rollback leaves nothing
 * behind), each row carries a serialized Envelope with a fresh message id,
 * sealed with the vault when there is one (and bound to its message id), and
 * the relay's backlog counts only its own peer's rows. Deferred rows
 * (link_outbox_defer) reach the table, in order and whole, only at
 * link_outbox_flush(), and a discard leaves nothing behind. A row prepared
 * ahead of its transaction (link_outbox_prepare, on any thread) is stored
 * by link_outbox_enqueue_prepared() exactly as link_outbox_enqueue() would
 * have stored it.
 */
#include <pthread.h>
#include <sodium.h>

#include "link_fixture.h"
#include "../../services/common/src/link_internal.h" /* the tap, as link_client uses it */

#define SECRET_FILLER "victim-narrative-marker-5b1e"

static void test_enqueue_needs_a_transaction(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    char err[FIXTURE_ERR] = "";
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    int rc =
        link_outbox_enqueue(f.db, NULL, "peer", VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE,
                            NULL, NULL, &probe.base, NULL, err, sizeof err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "transaction"));
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 0);
    fixture_close(&f);
}

static void test_enqueue_commits_and_rolls_back_with_the_caller(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    char err[FIXTURE_ERR];
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;

    assert_int_equal(store_begin(f.db), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(link_outbox_enqueue(f.db, NULL, "peer",
                                             VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, NULL,
                                             NULL, &probe.base, NULL, err, sizeof err),
                         0);
    assert_int_equal(store_rollback(f.db), 0);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 0);

    uint8_t first[VIGIL_ID_BYTES], second[VIGIL_ID_BYTES];
    fixture_enqueue(&f, "peer", 7, NULL, first);
    fixture_enqueue(&f, "peer", 8, NULL, second);
    assert_memory_not_equal(first, second, VIGIL_ID_BYTES);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 2);

    /* The stored bytes are an Envelope a peer can read. */
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(f.db,
                                        "SELECT message_id, envelope, sealed FROM link_outbox "
                                        "ORDER BY id LIMIT 1",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_memory_equal(sqlite3_column_blob(stmt, 0), first, VIGIL_ID_BYTES);
    assert_int_equal(sqlite3_column_int(stmt, 2), 0);
    Vigil__V1__Envelope *envelope = vigil__v1__envelope__unpack(
        NULL, (size_t)sqlite3_column_bytes(stmt, 1), sqlite3_column_blob(stmt, 1));
    assert_non_null(envelope);
    assert_memory_equal(envelope->message_id.data, first, VIGIL_ID_BYTES);
    assert_int_equal(envelope->type, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE);
    assert_string_equal(envelope->case_id, "case-1");
    assert_true(envelope->created_at_ms > 0);
    Vigil__V1__LinkProbe *decoded =
        vigil__v1__link_probe__unpack(NULL, envelope->payload.len, envelope->payload.data);
    assert_non_null(decoded);
    assert_int_equal(decoded->sequence, 7);
    vigil__v1__link_probe__free_unpacked(decoded, NULL);
    vigil__v1__envelope__free_unpacked(envelope, NULL);
    sqlite3_finalize(stmt);
    fixture_close(&f);
}

/* The link finds its cached INSERT by connection and remembers where
 * (link_wire.c): after the connection's cached statements are finalized,
 * or on another connection (one that may even reuse the first one's
 * address), enqueueing still writes to the right store. */
static void test_cached_statements_follow_their_connection(void **state)
{
    (void)state;
    fixture_t first, second;
    fixture_open(&first, false);
    fixture_enqueue(&first, "peer", 1, NULL, NULL);
    link_stmt_release(first.db);
    fixture_enqueue(&first, "peer", 2, NULL, NULL);
    assert_int_equal(fixture_count(&first, "SELECT count(*) FROM link_outbox"), 2);

    fixture_open(&second, false);
    fixture_enqueue(&second, "peer", 3, NULL, NULL);
    fixture_enqueue(&first, "peer", 4, NULL, NULL);
    assert_int_equal(fixture_count(&first, "SELECT count(*) FROM link_outbox"), 3);
    assert_int_equal(fixture_count(&second, "SELECT count(*) FROM link_outbox"), 1);
    fixture_close(&second);

    for (int round = 0; round < 3; round++) { /* new connections, maybe at old addresses */
        fixture_open(&second, false);
        fixture_enqueue(&second, "peer", 5, NULL, NULL);
        assert_int_equal(fixture_count(&second, "SELECT count(*) FROM link_outbox"), 1);
        fixture_close(&second);
    }
    assert_int_equal(fixture_count(&first, "SELECT count(*) FROM link_outbox"), 3);
    fixture_close(&first);
}

static void test_enqueue_seals_with_the_vault(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, true);
    uint8_t id[VIGIL_ID_BYTES];
    fixture_enqueue(&f, "peer", 3, SECRET_FILLER, id);

    sqlite3_stmt *stmt = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(f.db, "SELECT envelope, sealed FROM link_outbox", -1, &stmt, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 1), 1);
    const uint8_t *blob = sqlite3_column_blob(stmt, 0);
    size_t len = (size_t)sqlite3_column_bytes(stmt, 0);
    assert_null(memmem(blob, len, SECRET_FILLER, strlen(SECRET_FILLER)));

    uint8_t plain[FIXTURE_BUFFER];
    long opened = vault_open_blob(f.vault, blob, len, id, VIGIL_ID_BYTES, plain);
    assert_true(opened > 0);
    Vigil__V1__Envelope *envelope = vigil__v1__envelope__unpack(NULL, (size_t)opened, plain);
    assert_non_null(envelope);
    assert_memory_equal(envelope->message_id.data, id, VIGIL_ID_BYTES);
    vigil__v1__envelope__free_unpacked(envelope, NULL);

    /* Bound to its message id: another aad does not open it. */
    uint8_t other[VIGIL_ID_BYTES];
    memcpy(other, id, sizeof other);
    other[0] ^= 1;
    assert_true(vault_open_blob(f.vault, blob, len, other, VIGIL_ID_BYTES, plain) < 0);
    sqlite3_finalize(stmt);
    fixture_close(&f);
}

static void test_enqueue_refuses_a_payload_of_the_wrong_type(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    char err[FIXTURE_ERR] = "";
    Vigil__V1__Ack ack = VIGIL__V1__ACK__INIT;
    assert_int_equal(store_begin(f.db), 0);
    assert_int_equal(link_outbox_enqueue(f.db, NULL, "peer",
                                         VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, NULL,
                                         NULL, &ack.base, NULL, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "vigil.v1.LinkProbe"));
    assert_int_equal(store_rollback(f.db), 0);
    fixture_close(&f);
}

static void test_backlog_counts_one_peer(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    fixture_enqueue(&f, "triage", 1, NULL, NULL);
    fixture_enqueue(&f, "triage", 2, NULL, NULL);
    fixture_enqueue(&f, "reporting", 3, NULL, NULL);
    char err[FIXTURE_ERR];
    link_client_config_t config = {
        .peer = "triage",
        .endpoint = f.endpoint,
        .source = "tester",
        .window = 8,
        .ack_timeout_ms = 100,
        .backoff_max_ms = 1000,
    };
    link_client_t *triage = link_client_new(&config, f.db, NULL, NULL, NULL, err, sizeof err);
    config.peer = "reporting";
    link_client_t *reporting = link_client_new(&config, f.db, NULL, NULL, NULL, err, sizeof err);
    assert_non_null(triage);
    assert_non_null(reporting);
    assert_int_equal(link_client_backlog(triage), 2);
    assert_int_equal(link_client_backlog(reporting), 1);
    assert_int_equal(link_client_inflight(triage), 0);
    assert_string_equal(link_client_peer(triage), "triage");
    link_client_destroy(&triage);
    link_client_destroy(&reporting);
    assert_null(triage);
    /* Unsent rows stay for the next start. */
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 3);
    fixture_close(&f);
}

static void test_client_refuses_tcp_without_security(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    char err[FIXTURE_ERR] = "";
    link_client_config_t config = {
        .peer = "triage",
        .endpoint = "tcp://127.0.0.1:1",
        .window = 8,
        .ack_timeout_ms = 100,
        .backoff_max_ms = 1000,
    };
    assert_null(link_client_new(&config, f.db, NULL, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "security"));
    fixture_close(&f);
}

#define DEFERRED_ROWS 70 /* two chunks of 32 and six rows one by one */

typedef struct {
    size_t calls;
    int64_t row_ids[DEFERRED_ROWS];
    uint64_t sequences[DEFERRED_ROWS];
} tap_seen_t;

/* The sequence of the probe in a plaintext envelope. */
static uint64_t s_probe_sequence(const uint8_t *wire, size_t len)
{
    Vigil__V1__Envelope *envelope = vigil__v1__envelope__unpack(NULL, len, wire);
    assert_non_null(envelope);
    Vigil__V1__LinkProbe *probe =
        vigil__v1__link_probe__unpack(NULL, envelope->payload.len, envelope->payload.data);
    assert_non_null(probe);
    uint64_t sequence = probe->sequence;
    vigil__v1__link_probe__free_unpacked(probe, NULL);
    vigil__v1__envelope__free_unpacked(envelope, NULL);
    return sequence;
}

/* A tap as the relay's: records each row it is handed, decoding the
 * plaintext envelope it gets. */
static void s_tap(void *ctx, const link_outbox_enqueued_t *enqueued)
{
    tap_seen_t *seen = ctx;
    if (seen->calls >= DEFERRED_ROWS) {
        seen->calls++;
        return;
    }
    seen->row_ids[seen->calls] = enqueued->row_id;
    seen->sequences[seen->calls] = s_probe_sequence(enqueued->wire, enqueued->wire_len);
    seen->calls++;
}

static void s_enqueue_probe(fixture_t *f, uint64_t seq)
{
    char err[FIXTURE_ERR];
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    probe.sequence = seq;
    probe.filler.data = (uint8_t *)SECRET_FILLER;
    probe.filler.len = strlen(SECRET_FILLER);
    if (link_outbox_enqueue(f->db, f->vault, "peer",
                            VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, "case-1", NULL,
                            &probe.base, NULL, err, sizeof err))
        fail_msg("enqueue: %s", err);
}

static void test_deferred_rows_are_written_at_flush_in_order(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, true); /* sealed rows: the tap must still get plaintext */
    tap_seen_t seen = {0};
    assert_int_equal(link_outbox_tap(f.db, "peer", f.vault, s_tap, &seen), 0);
    char err[FIXTURE_ERR] = "";

    assert_int_equal(store_begin(f.db), 0);
    assert_int_equal(link_outbox_defer(f.db, err, sizeof err), 0);
    assert_int_equal(link_outbox_defer(f.db, err, sizeof err), -1); /* one at a time */
    assert_non_null(strstr(err, "already"));
    for (uint64_t i = 0; i < DEFERRED_ROWS; i++)
        s_enqueue_probe(&f, i);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 0);
    assert_int_equal(seen.calls, 0);
    assert_int_equal(link_outbox_flush(f.db, err, sizeof err), 0);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), DEFERRED_ROWS);
    assert_int_equal(store_commit(f.db), 0);

    /* Every row, sealed, in enqueue order, each handed to the tap once
     * with the id it has in the table. */
    assert_int_equal(seen.calls, DEFERRED_ROWS);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(f.db,
                                        "SELECT id, message_id, envelope, sealed FROM link_outbox "
                                        "ORDER BY id",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    for (size_t i = 0; i < DEFERRED_ROWS; i++) {
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(stmt, 0), seen.row_ids[i]);
        assert_int_equal(seen.sequences[i], i);
        assert_int_equal(sqlite3_column_int(stmt, 3), 1);
        const uint8_t *blob = sqlite3_column_blob(stmt, 2);
        size_t len = (size_t)sqlite3_column_bytes(stmt, 2);
        assert_null(memmem(blob, len, SECRET_FILLER, strlen(SECRET_FILLER)));
        uint8_t plain[FIXTURE_BUFFER];
        long opened = vault_open_blob(f.vault, blob, len, sqlite3_column_blob(stmt, 1),
                                      VIGIL_ID_BYTES, plain);
        assert_true(opened > 0);
        assert_int_equal(s_probe_sequence(plain, (size_t)opened), i);
    }
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);

    /* The deferral ended with the flush: the next enqueue goes straight in. */
    assert_int_equal(store_begin(f.db), 0);
    s_enqueue_probe(&f, DEFERRED_ROWS);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), DEFERRED_ROWS + 1);
    assert_int_equal(store_commit(f.db), 0);
    assert_int_equal(link_outbox_flush(f.db, err, sizeof err), -1);
    assert_non_null(strstr(err, "defers no rows"));
    link_outbox_untap(&seen);
    fixture_close(&f);
}

static void test_discarded_rows_leave_nothing(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    tap_seen_t seen = {0};
    assert_int_equal(link_outbox_tap(f.db, "peer", NULL, s_tap, &seen), 0);
    char err[FIXTURE_ERR] = "";
    assert_int_equal(store_begin(f.db), 0);
    assert_int_equal(link_outbox_defer(f.db, err, sizeof err), 0);
    for (uint64_t i = 0; i < 5; i++)
        s_enqueue_probe(&f, i);
    link_outbox_discard(f.db);
    assert_int_equal(store_rollback(f.db), 0);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 0);
    assert_int_equal(seen.calls, 0);
    /* A new deferral starts empty. */
    assert_int_equal(store_begin(f.db), 0);
    assert_int_equal(link_outbox_defer(f.db, err, sizeof err), 0);
    s_enqueue_probe(&f, 9);
    assert_int_equal(link_outbox_flush(f.db, err, sizeof err), 0);
    assert_int_equal(store_commit(f.db), 0);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 1);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.sequences[0], 9);
    link_outbox_untap(&seen);
    fixture_close(&f);
}

/* --- prepared rows ------------------------------------------------------ */

#define PREPARED_ROWS 5

static void *s_heap_alloc(void *data, size_t size)
{
    (void)data;
    return malloc(size);
}

static void s_heap_free(void *data, void *pointer)
{
    (void)data;
    free(pointer);
}

static ProtobufCAllocator s_heap = {.alloc = s_heap_alloc, .free = s_heap_free};

/* Prepares a probe (sequence `seq`, the secret filler) for "peer". */
static void s_prepare_probe(const vault_t *vault, uint64_t seq, link_outbox_prepared_t *row)
{
    char err[FIXTURE_ERR];
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    probe.sequence = seq;
    probe.filler.data = (uint8_t *)SECRET_FILLER;
    probe.filler.len = strlen(SECRET_FILLER);
    if (link_outbox_prepare(vault, "peer", VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE,
                            "case-1", "trace-1", &probe.base, &s_heap, row, err, sizeof err))
        fail_msg("prepare: %s", err);
}

/* Wipes and frees what link_outbox_prepare() allocated, as a caller must. */
static void s_drop_prepared(link_outbox_prepared_t *row)
{
    sodium_memzero((void *)row->wire, row->wire_len);
    s_heap.free(NULL, (void *)row->wire);
}

/* One stored row, its envelope opened (with the vault when sealed). */
typedef struct {
    char peer[32];
    int type;
    int64_t enqueued_us;
    int sealed;
    uint8_t message_id[VIGIL_ID_BYTES];
    Vigil__V1__Envelope *envelope;
} stored_row_t;

/* Reads the row with message id `id`, checking that a sealed envelope
 * opens only with aad = its message id. */
static void s_read_row(fixture_t *f, const uint8_t *id, stored_row_t *row)
{
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT peer, type, enqueued_us, sealed, message_id, "
                                        "envelope FROM link_outbox WHERE message_id = ?1",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, id, VIGIL_ID_BYTES, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    snprintf(row->peer, sizeof row->peer, "%s", (const char *)sqlite3_column_text(stmt, 0));
    row->type = sqlite3_column_int(stmt, 1);
    row->enqueued_us = sqlite3_column_int64(stmt, 2);
    row->sealed = sqlite3_column_int(stmt, 3);
    assert_int_equal(sqlite3_column_bytes(stmt, 4), VIGIL_ID_BYTES);
    memcpy(row->message_id, sqlite3_column_blob(stmt, 4), VIGIL_ID_BYTES);
    const uint8_t *blob = sqlite3_column_blob(stmt, 5);
    size_t len = (size_t)sqlite3_column_bytes(stmt, 5);
    uint8_t plain[FIXTURE_BUFFER];
    if (row->sealed) {
        assert_null(memmem(blob, len, SECRET_FILLER, strlen(SECRET_FILLER)));
        uint8_t other[VIGIL_ID_BYTES];
        memcpy(other, id, sizeof other);
        other[VIGIL_ID_BYTES - 1] ^= 1;
        assert_true(vault_open_blob(f->vault, blob, len, other, VIGIL_ID_BYTES, plain) < 0);
        long opened = vault_open_blob(f->vault, blob, len, id, VIGIL_ID_BYTES, plain);
        assert_true(opened > 0);
        blob = plain;
        len = (size_t)opened;
    }
    row->envelope = vigil__v1__envelope__unpack(NULL, len, blob);
    assert_non_null(row->envelope);
    sqlite3_finalize(stmt);
}

/* The envelope as protobuf-c packs it, with the fields that differ from
 * message to message (id and creation time) taken from `like`. */
static size_t s_repack(const Vigil__V1__Envelope *envelope, const Vigil__V1__Envelope *like,
                       uint8_t *out)
{
    Vigil__V1__Envelope copy = *envelope; /* shallow: borrows both messages' fields */
    copy.message_id = like->message_id;
    copy.created_at_ms = like->created_at_ms;
    return vigil__v1__envelope__pack(&copy, out);
}

static void s_prepared_row_reads_back_like_an_enqueued_one(bool sealed)
{
    fixture_t f;
    fixture_open(&f, sealed);
    char err[FIXTURE_ERR] = "";
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    probe.sequence = 4;
    probe.filler.data = (uint8_t *)SECRET_FILLER;
    probe.filler.len = strlen(SECRET_FILLER);
    uint8_t enqueued_id[VIGIL_ID_BYTES];
    link_outbox_prepared_t prepared;
    s_prepare_probe(f.vault, 4, &prepared);
    assert_int_equal(prepared.stored == prepared.wire, !sealed);
    assert_int_equal(store_begin(f.db), 0);
    assert_int_equal(link_outbox_enqueue(f.db, f.vault, "peer",
                                         VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, "case-1",
                                         "trace-1", &probe.base, enqueued_id, err, sizeof err),
                     0);
    assert_int_equal(link_outbox_enqueue_prepared(f.db, &prepared, err, sizeof err), 0);
    assert_int_equal(store_commit(f.db), 0);

    stored_row_t a, b;
    s_read_row(&f, enqueued_id, &a);
    s_read_row(&f, prepared.message_id, &b);
    assert_string_equal(a.peer, b.peer);
    assert_int_equal(a.type, b.type);
    assert_int_equal(a.sealed, sealed);
    assert_int_equal(b.sealed, sealed);
    assert_int_equal(b.enqueued_us, prepared.enqueued_us);
    assert_int_equal(b.envelope->created_at_ms, prepared.enqueued_us / 1000);
    assert_memory_equal(b.envelope->message_id.data, prepared.message_id, VIGIL_ID_BYTES);
    /* What the prepared row stores is the plaintext it carried for a tap... */
    uint8_t bytes_a[FIXTURE_BUFFER], bytes_b[FIXTURE_BUFFER];
    size_t len_b = vigil__v1__envelope__pack(b.envelope, bytes_b);
    assert_int_equal(len_b, prepared.wire_len);
    assert_memory_equal(bytes_b, prepared.wire, len_b);
    /* ...and the same envelope link_outbox_enqueue() builds, but for its
     * own id and clock. */
    size_t len_a = s_repack(a.envelope, b.envelope, bytes_a);
    assert_int_equal(len_a, len_b);
    assert_memory_equal(bytes_a, bytes_b, len_a);
    vigil__v1__envelope__free_unpacked(a.envelope, NULL);
    vigil__v1__envelope__free_unpacked(b.envelope, NULL);
    s_drop_prepared(&prepared);
    fixture_close(&f);
}

static void test_prepared_row_reads_back_like_an_enqueued_one(void **state)
{
    (void)state;
    s_prepared_row_reads_back_like_an_enqueued_one(false);
    s_prepared_row_reads_back_like_an_enqueued_one(true);
}

static void test_enqueue_prepared_needs_a_transaction(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    char err[FIXTURE_ERR] = "";
    link_outbox_prepared_t prepared;
    s_prepare_probe(NULL, 1, &prepared); /* preparing needs no transaction */
    assert_int_equal(link_outbox_enqueue_prepared(f.db, &prepared, err, sizeof err), -1);
    assert_string_equal(err, "link_outbox_enqueue_prepared: no open transaction; enqueue inside "
                             "the transaction that makes the change");
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 0);

    /* Preparing checks the payload's type as enqueueing does. */
    Vigil__V1__Ack ack = VIGIL__V1__ACK__INIT;
    link_outbox_prepared_t wrong;
    assert_int_equal(link_outbox_prepare(NULL, "peer",
                                         VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, NULL,
                                         NULL, &ack.base, &s_heap, &wrong, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "vigil.v1.LinkProbe"));
    s_drop_prepared(&prepared);
    fixture_close(&f);
}

typedef struct {
    const vault_t *vault;
    link_outbox_prepared_t rows[PREPARED_ROWS];
} prepare_job_t;

static void *s_prepare_thread(void *arg)
{
    prepare_job_t *job = arg;
    for (uint64_t i = 0; i < PREPARED_ROWS; i++)
        s_prepare_probe(job->vault, i, &job->rows[i]);
    return NULL;
}

/* Checks that the tap got probes 0 .. PREPARED_ROWS - 1 in order, and that
 * the row of each id `ids[i]` is sealed and holds probe i. */
static void s_check_prepared_rows(fixture_t *f, const tap_seen_t *seen,
                                  uint8_t ids[PREPARED_ROWS][VIGIL_ID_BYTES])
{
    assert_int_equal(seen->calls, PREPARED_ROWS);
    assert_int_equal(fixture_count(f, "SELECT count(*) FROM link_outbox"), PREPARED_ROWS);
    for (size_t i = 0; i < PREPARED_ROWS; i++) {
        assert_int_equal(seen->sequences[i], i);
        stored_row_t row;
        s_read_row(f, ids[i], &row);
        assert_int_equal(row.sealed, 1);
        Vigil__V1__LinkProbe *probe = vigil__v1__link_probe__unpack(NULL, row.envelope->payload.len,
                                                                    row.envelope->payload.data);
        assert_non_null(probe);
        assert_int_equal(probe->sequence, i);
        vigil__v1__link_probe__free_unpacked(probe, NULL);
        vigil__v1__envelope__free_unpacked(row.envelope, NULL);
    }
}

/* Rows prepared and sealed on one thread are stored, in order, by another,
 * and the tap gets each one's plaintext. */
static void test_rows_prepared_on_another_thread(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, true);
    tap_seen_t seen = {0};
    assert_int_equal(link_outbox_tap(f.db, "peer", f.vault, s_tap, &seen), 0);
    prepare_job_t job = {.vault = f.vault};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_prepare_thread, &job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);

    char err[FIXTURE_ERR] = "";
    uint8_t ids[PREPARED_ROWS][VIGIL_ID_BYTES];
    assert_int_equal(store_begin(f.db), 0);
    for (size_t i = 0; i < PREPARED_ROWS; i++) {
        memcpy(ids[i], job.rows[i].message_id, VIGIL_ID_BYTES);
        assert_int_equal(link_outbox_enqueue_prepared(f.db, &job.rows[i], err, sizeof err), 0);
        s_drop_prepared(&job.rows[i]);
    }
    assert_int_equal(store_commit(f.db), 0);
    s_check_prepared_rows(&f, &seen, ids);
    link_outbox_untap(&seen);
    fixture_close(&f);
}

/* A deferring writer keeps prepared rows until the flush, like enqueued
 * ones, and the caller may drop its copy as soon as each is enqueued. */
static void test_prepared_rows_are_deferred(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, true);
    tap_seen_t seen = {0};
    assert_int_equal(link_outbox_tap(f.db, "peer", f.vault, s_tap, &seen), 0);
    char err[FIXTURE_ERR] = "";
    assert_int_equal(store_begin(f.db), 0);
    assert_int_equal(link_outbox_defer(f.db, err, sizeof err), 0);
    uint8_t ids[PREPARED_ROWS][VIGIL_ID_BYTES];
    for (uint64_t i = 0; i < PREPARED_ROWS; i++) {
        link_outbox_prepared_t prepared;
        s_prepare_probe(f.vault, i, &prepared);
        memcpy(ids[i], prepared.message_id, VIGIL_ID_BYTES);
        assert_int_equal(link_outbox_enqueue_prepared(f.db, &prepared, err, sizeof err), 0);
        s_drop_prepared(&prepared);
    }
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 0);
    assert_int_equal(seen.calls, 0);
    assert_int_equal(link_outbox_flush(f.db, err, sizeof err), 0);
    assert_int_equal(store_commit(f.db), 0);
    s_check_prepared_rows(&f, &seen, ids);
    link_outbox_untap(&seen);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enqueue_needs_a_transaction),
        cmocka_unit_test(test_enqueue_commits_and_rolls_back_with_the_caller),
        cmocka_unit_test(test_cached_statements_follow_their_connection),
        cmocka_unit_test(test_enqueue_seals_with_the_vault),
        cmocka_unit_test(test_enqueue_refuses_a_payload_of_the_wrong_type),
        cmocka_unit_test(test_backlog_counts_one_peer),
        cmocka_unit_test(test_client_refuses_tcp_without_security),
        cmocka_unit_test(test_deferred_rows_are_written_at_flush_in_order),
        cmocka_unit_test(test_discarded_rows_leave_nothing),
        cmocka_unit_test(test_prepared_row_reads_back_like_an_enqueued_one),
        cmocka_unit_test(test_enqueue_prepared_needs_a_transaction),
        cmocka_unit_test(test_rows_prepared_on_another_thread),
        cmocka_unit_test(test_prepared_rows_are_deferred),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
