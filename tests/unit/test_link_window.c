/* test_link_window.c: the sender's window, retransmits and ack handling.
 *
 * A real link client relays its outbox to a ROUTER the test plays by hand.
 * At most `window` messages are ever unacknowledged; acknowledged rows leave
 * the outbox and make room for the next; silence brings a retransmit under
 * the same message id with a higher attempt number; RETRY reschedules;
 * REJECTED parks the row as an outbound dead letter, which can be requeued.
 * What is enqueued on the client's own connection is sent from memory, but
 * only once it committed (never after a rollback, whole or to a savepoint),
 * and rows it was not handed are still sent, once and in order. The
 * cleanup commits without an fsync of its own, and the store is back at
 * synchronous=FULL after every one.
 */
#include "link_fixture.h"

#define WINDOW           4
#define ROWS             10
#define ACK_MS           300 /* long enough that no retransmit falls inside a 50 ms step */
#define BACKOFF_MS       1200
#define AWAIT_MS         3000 /* longest wait for something that should happen */
#define STEP_MS          10
#define SYNCHRONOUS_FULL 2 /* PRAGMA synchronous */

typedef struct {
    zframe_t *routing;
    uint8_t id[VIGIL_ID_BYTES];
    uint32_t attempt;
    char source[32];
    uint64_t sequence; /* the probe's */
} received_t;

/* Reads every message waiting on the test ROUTER. */
static size_t s_receive(zsock_t *router, received_t *out, size_t max)
{
    size_t n = 0;
    zmsg_t *msg;
    while (n < max && (msg = zmsg_recv(router)) != NULL) {
        zframe_t *routing = zmsg_pop(msg);
        zframe_t *body = zmsg_pop(msg);
        Vigil__V1__Envelope *envelope =
            vigil__v1__envelope__unpack(NULL, zframe_size(body), zframe_data(body));
        assert_non_null(envelope);
        assert_int_equal(envelope->message_id.len, VIGIL_ID_BYTES);
        out[n].routing = routing;
        memcpy(out[n].id, envelope->message_id.data, VIGIL_ID_BYTES);
        out[n].attempt = envelope->attempt;
        snprintf(out[n].source, sizeof out[n].source, "%s", envelope->source);
        Vigil__V1__LinkProbe *probe =
            vigil__v1__link_probe__unpack(NULL, envelope->payload.len, envelope->payload.data);
        assert_non_null(probe);
        out[n].sequence = probe->sequence;
        vigil__v1__link_probe__free_unpacked(probe, NULL);
        n++;
        vigil__v1__envelope__free_unpacked(envelope, NULL);
        zframe_destroy(&body);
        zmsg_destroy(&msg);
    }
    return n;
}

/* Runs the loop until `want` messages reached the router (or 3 s passed).
 * Returns how many arrived. */
static size_t s_await(fixture_t *f, zsock_t *router, received_t *out, size_t max, size_t want)
{
    size_t n = 0;
    for (int waited = 0; n < want && waited < AWAIT_MS; waited += STEP_MS) {
        fixture_spin(f, STEP_MS);
        n += s_receive(router, out + n, max - n);
    }
    return n;
}

/* Runs the loop until *counter reaches `want` (or 3 s passed). */
static void s_await_count(fixture_t *f, const int *counter, int want)
{
    for (int waited = 0; *counter < want && waited < AWAIT_MS; waited += STEP_MS)
        fixture_spin(f, STEP_MS);
}

/* Runs the loop until the client's backlog is `want` (or 3 s passed). */
static void s_await_backlog(fixture_t *f, link_client_t *client, size_t want)
{
    for (int waited = 0; link_client_backlog(client) != want && waited < AWAIT_MS;
         waited += STEP_MS)
        fixture_spin(f, STEP_MS);
}

static void s_release(received_t *got, size_t n)
{
    for (size_t i = 0; i < n; i++)
        zframe_destroy(&got[i].routing);
}

/* Answers one message with `status` (and `reason`). */
static void s_answer(zsock_t *router, const received_t *to, int status, int reason)
{
    Vigil__V1__AckEntry entry = VIGIL__V1__ACK_ENTRY__INIT;
    entry.message_id.data = (uint8_t *)to->id;
    entry.message_id.len = VIGIL_ID_BYTES;
    entry.status = (Vigil__V1__AckStatus)status;
    entry.reason = (Vigil__V1__ReasonCode)reason;
    entry.detail = reason ? "probe.sequence: refused" : "";
    Vigil__V1__AckEntry *entries[] = {&entry};
    Vigil__V1__Ack ack = VIGIL__V1__ACK__INIT;
    ack.entries = entries;
    ack.n_entries = 1;
    uint8_t payload[FIXTURE_BUFFER], frame[FIXTURE_BUFFER];
    uint8_t id[VIGIL_ID_BYTES];
    util_random_id(id);
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = id;
    envelope.message_id.len = sizeof id;
    envelope.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ACK;
    envelope.payload.data = payload;
    envelope.payload.len = vigil__v1__ack__pack(&ack, payload);
    size_t len = vigil__v1__envelope__pack(&envelope, frame);
    zframe_t *routing = zframe_dup(to->routing);
    zframe_send(&routing, router, ZFRAME_MORE);
    zframe_t *body = zframe_new(frame, len);
    zframe_send(&body, router, 0);
}

typedef struct {
    int settled;
    int refused;
} observed_t;

static void s_observer(void *ctx, const uint8_t message_id[VIGIL_ID_BYTES],
                       Vigil__V1__AckStatus status, int64_t enqueue_to_ack_us,
                       int64_t send_to_ack_us)
{
    (void)message_id;
    observed_t *seen = ctx;
    assert_true(enqueue_to_ack_us >= send_to_ack_us);
    assert_true(send_to_ack_us >= 0);
    if (status == VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED)
        seen->refused++;
    else
        seen->settled++;
}

static void test_window_retransmit_and_acks(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_rcvtimeo(router, 0);
    zsock_set_linger(router, 0);
    assert_true(zsock_bind(router, "%s", f.endpoint) >= 0);
    uint8_t ids[ROWS][VIGIL_ID_BYTES];
    for (int i = 0; i < ROWS; i++)
        fixture_enqueue(&f, "peer", (uint64_t)i, NULL, ids[i]);

    char err[FIXTURE_ERR];
    link_client_config_t config = {
        .peer = "peer",
        .endpoint = f.endpoint,
        .source = "tester",
        .window = WINDOW,
        .ack_timeout_ms = ACK_MS,
        .backoff_max_ms = BACKOFF_MS,
    };
    link_client_t *client = link_client_new(&config, f.db, NULL, NULL, NULL, err, sizeof err);
    assert_non_null(client);
    observed_t seen = {0};
    link_client_set_observer(client, s_observer, &seen);
    assert_int_equal(link_client_attach(client, f.loop, err, sizeof err), 0);

    /* 1. Only a window's worth goes out, oldest first, source and attempt set. */
    received_t got[32];
    size_t n = s_await(&f, router, got, 32, WINDOW);
    assert_int_equal(n, WINDOW);
    fixture_spin(&f, 30);
    assert_int_equal(s_receive(router, got + n, 32 - n), 0); /* and no more */
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(got[i].id, ids[i], VIGIL_ID_BYTES);
        assert_int_equal(got[i].attempt, 1);
        assert_string_equal(got[i].source, "tester");
    }
    assert_int_equal(link_client_inflight(client), WINDOW);
    assert_int_equal(link_client_backlog(client), ROWS);

    /* 2. Two acks: their rows go, two new messages take their places. */
    s_answer(router, &got[0], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED, 0);
    s_answer(router, &got[1], VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE, 0);
    s_await_count(&f, &seen.settled, 2);
    assert_int_equal(seen.settled, 2);
    fixture_spin(&f, 30); /* the cleanup runs at the next tick */
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), ROWS - 2);
    assert_int_equal(fixture_count(&f, "PRAGMA synchronous"), SYNCHRONOUS_FULL);
    received_t more[32];
    size_t m = s_await(&f, router, more, 32, 2);
    assert_int_equal(m, 2);
    assert_int_equal(link_client_backlog(client), ROWS - 2);
    assert_int_equal(link_client_inflight(client), WINDOW);
    assert_memory_equal(more[0].id, ids[4], VIGIL_ID_BYTES);
    assert_memory_equal(more[1].id, ids[5], VIGIL_ID_BYTES);

    /* 3. Silence: after the ack timeout everything unacknowledged is resent
     * under its own id with attempt 2. */
    received_t again[32];
    size_t k = s_await(&f, router, again, 32, WINDOW); /* due at ~300 and ~350 ms */
    assert_int_equal(k, WINDOW);
    for (size_t i = 0; i < k; i++)
        assert_int_equal(again[i].attempt, 2);

    /* 4. RETRY reschedules (not resent at once); REJECTED parks the row. */
    s_answer(router, &again[0], VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY,
             VIGIL__V1__REASON_CODE__REASON_OVERLOADED);
    s_answer(router, &again[1], VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED,
             VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE);
    s_await_count(&f, &seen.refused, 1);
    assert_int_equal(seen.refused, 1);
    assert_int_equal(link_client_backlog(client), ROWS - 3);
    assert_int_equal(
        fixture_count(&f, "SELECT count(*) FROM link_deadletters WHERE direction = 'out' AND "
                          "reason = 'refused by peer: invalid_value: probe.sequence: refused'"),
        1);
    Vigil__V1__AdminReply reply = VIGIL__V1__ADMIN_REPLY__INIT;
    assert_int_equal(link_deadletters_list(f.db, 10, &reply, err, sizeof err), 0);
    assert_int_equal(reply.n_dead_letters, 1);
    assert_string_equal(reply.dead_letters[0]->source, "out:peer");
    assert_memory_equal(reply.dead_letters[0]->message_id.data, again[1].id, VIGIL_ID_BYTES);
    for (size_t i = 0; i < reply.n_dead_letters; i++)
        vigil__v1__dead_letter__free_unpacked(reply.dead_letters[i], NULL);
    free(reply.dead_letters);

    /* 5. Answer everything as it comes: the outbox drains completely. */
    uint8_t refused[VIGIL_ID_BYTES];
    memcpy(refused, again[1].id, sizeof refused);
    s_release(got, n);
    s_release(more, m);
    s_release(again, k);
    for (int round = 0; round < AWAIT_MS / STEP_MS && link_client_backlog(client) > 0; round++) {
        fixture_spin(&f, STEP_MS);
        k = s_receive(router, again, 32);
        for (size_t i = 0; i < k; i++)
            s_answer(router, &again[i], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED, 0);
        s_release(again, k);
    }
    fixture_spin(&f, 30);
    assert_int_equal(link_client_backlog(client), 0);
    assert_int_equal(link_client_inflight(client), 0);
    assert_int_equal(seen.settled, ROWS - 1);
    assert_int_equal(fixture_count(&f, "PRAGMA synchronous"), SYNCHRONOUS_FULL);

    /* 6. Requeue the refused one: sent again under the same message id. */
    uint32_t requeued = 0;
    assert_int_equal(link_deadletters_requeue(f.db, 0, &requeued, err, sizeof err), 0);
    assert_int_equal(requeued, 1);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_deadletters"), 0);
    k = s_await(&f, router, again, 32, 1);
    assert_int_equal(k, 1);
    assert_memory_equal(again[0].id, refused, VIGIL_ID_BYTES);
    s_answer(router, &again[0], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED, 0);
    s_release(again, k);
    s_await_count(&f, &seen.settled, ROWS);
    assert_int_equal(link_client_backlog(client), 0);

    link_client_destroy(&client);
    zsock_destroy(&router);
    fixture_close(&f);
}

static void test_unacknowledged_rows_survive_a_restart(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, true);
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_rcvtimeo(router, 0);
    zsock_set_linger(router, 0);
    assert_true(zsock_bind(router, "%s", f.endpoint) >= 0);
    uint8_t id[VIGIL_ID_BYTES];
    fixture_enqueue(&f, "peer", 1, "sealed filler", id);
    char err[FIXTURE_ERR];
    link_client_config_t config = {
        .peer = "peer",
        .endpoint = f.endpoint,
        .source = "tester",
        .window = WINDOW,
        .ack_timeout_ms = ACK_MS,
        .backoff_max_ms = BACKOFF_MS,
    };
    link_client_t *client = link_client_new(&config, f.db, NULL, f.vault, NULL, err, sizeof err);
    assert_non_null(client);
    assert_int_equal(link_client_attach(client, f.loop, err, sizeof err), 0);
    received_t got[8];
    size_t n = s_await(&f, router, got, 8, 1);
    assert_int_equal(n, 1);
    assert_memory_equal(got[0].id, id, VIGIL_ID_BYTES); /* unsealed for the wire */
    s_release(got, n);
    link_client_destroy(&client);

    /* A new client (a restarted service) sends it again, same id. */
    client = link_client_new(&config, f.db, NULL, f.vault, NULL, err, sizeof err);
    assert_int_equal(link_client_attach(client, f.loop, err, sizeof err), 0);
    n = s_await(&f, router, got, 8, 1);
    assert_int_equal(n, 1);
    assert_memory_equal(got[0].id, id, VIGIL_ID_BYTES);
    assert_int_equal(got[0].attempt, 1);
    s_answer(router, &got[0], VIGIL__V1__ACK_STATUS__ACK_STATUS_DEAD_LETTERED,
             VIGIL__V1__REASON_CODE__REASON_HANDLER_FAILED);
    s_release(got, n);
    s_await_backlog(&f, client, 0);
    assert_int_equal(link_client_backlog(client), 0); /* parked there: forgotten here */
    link_client_destroy(&client);
    zsock_destroy(&router);
    fixture_close(&f);
}

/* Acknowledged rows loaded one after the other go in one range delete: it
 * must spare another peer's rows in the range and a row of this peer that
 * was not acknowledged. */
static void test_acked_runs_leave_other_rows_alone(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_rcvtimeo(router, 0);
    zsock_set_linger(router, 0);
    assert_true(zsock_bind(router, "%s", f.endpoint) >= 0);
    enum { MINE = 6, UNANSWERED = 3 };
    uint8_t ids[MINE][VIGIL_ID_BYTES];
    for (int i = 0; i < MINE; i++) {
        fixture_enqueue(&f, "peer", (uint64_t)i, NULL, ids[i]);
        fixture_enqueue(&f, "other", (uint64_t)(100 + i), NULL, NULL);
    }
    char err[FIXTURE_ERR];
    link_client_config_t config = {
        .peer = "peer",
        .endpoint = f.endpoint,
        .source = "tester",
        .window = 2 * MINE,
        .ack_timeout_ms = ACK_MS,
        .backoff_max_ms = BACKOFF_MS,
    };
    link_client_t *client = link_client_new(&config, f.db, NULL, NULL, NULL, err, sizeof err);
    assert_non_null(client);
    observed_t seen = {0};
    link_client_set_observer(client, s_observer, &seen);
    assert_int_equal(link_client_attach(client, f.loop, err, sizeof err), 0);
    received_t got[32];
    size_t n = s_await(&f, router, got, 32, MINE);
    assert_int_equal(n, MINE);
    for (size_t i = 0; i < n; i++)
        if (i != UNANSWERED)
            s_answer(router, &got[i], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED, 0);
    s_await_count(&f, &seen.settled, MINE - 1);
    s_await_backlog(&f, client, 1);
    assert_int_equal(seen.settled, MINE - 1);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox WHERE peer = 'other'"),
                     MINE);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox WHERE peer = 'peer'"), 1);
    sqlite3_stmt *left = NULL;
    assert_int_equal(sqlite3_prepare_v2(f.db,
                                        "SELECT message_id FROM link_outbox WHERE peer = 'peer'",
                                        -1, &left, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(left), SQLITE_ROW);
    assert_memory_equal(sqlite3_column_blob(left, 0), ids[UNANSWERED], VIGIL_ID_BYTES);
    sqlite3_finalize(left);
    s_release(got, n);
    link_client_destroy(&client);
    zsock_destroy(&router);
    fixture_close(&f);
}

/* Enqueues probe `seq` for "peer" on `db` in the transaction open there. */
static void s_enqueue_in(sqlite3 *db, const vault_t *vault, uint64_t seq,
                         uint8_t id[VIGIL_ID_BYTES])
{
    char err[FIXTURE_ERR];
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    probe.sequence = seq;
    if (link_outbox_enqueue(db, vault, "peer", VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE,
                            "case-1", NULL, &probe.base, id, err, sizeof err))
        fail_msg("enqueue: %s", err);
}

static link_client_t *s_client(fixture_t *f, int window, observed_t *seen)
{
    char err[FIXTURE_ERR];
    link_client_config_t config = {
        .peer = "peer",
        .endpoint = f->endpoint,
        .source = "tester",
        .window = window,
        .ack_timeout_ms = ACK_MS,
        .backoff_max_ms = BACKOFF_MS,
    };
    link_client_t *client = link_client_new(&config, f->db, NULL, f->vault, NULL, err, sizeof err);
    assert_non_null(client);
    link_client_set_observer(client, s_observer, seen);
    assert_int_equal(link_client_attach(client, f->loop, err, sizeof err), 0);
    return client;
}

static zsock_t *s_router(fixture_t *f)
{
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_rcvtimeo(router, 0);
    zsock_set_linger(router, 0);
    assert_true(zsock_bind(router, "%s", f->endpoint) >= 0);
    return router;
}

/* A client hands over what is enqueued on its connection and sends it
 * without reading the row back, but only what committed: an enqueue rolled
 * back with its transaction or to a savepoint (before, between and after
 * committed ones) never leaves, sealed or not. */
static void s_only_committed_enqueues_are_sent(bool sealed)
{
    fixture_t f;
    fixture_open(&f, sealed);
    zsock_t *router = s_router(&f);
    observed_t seen = {0};
    link_client_t *client = s_client(&f, WINDOW, &seen);
    char err[FIXTURE_ERR];
    uint8_t ids[7][VIGIL_ID_BYTES];

    assert_int_equal(store_begin(f.db), 0);
    s_enqueue_in(f.db, f.vault, 1, ids[1]);
    assert_int_equal(store_commit(f.db), 0);
    assert_int_equal(store_begin(f.db), 0);
    s_enqueue_in(f.db, f.vault, 2, ids[2]); /* rolled back with its transaction */
    assert_int_equal(store_rollback(f.db), 0);
    assert_int_equal(store_begin(f.db), 0);
    s_enqueue_in(f.db, f.vault, 3, ids[3]);
    assert_int_equal(store_exec(f.db, "SAVEPOINT handler", err, sizeof err), 0);
    s_enqueue_in(f.db, f.vault, 4, ids[4]); /* rolled back to the savepoint */
    assert_int_equal(store_exec(f.db, "ROLLBACK TO handler", err, sizeof err), 0);
    assert_int_equal(store_exec(f.db, "RELEASE handler", err, sizeof err), 0);
    s_enqueue_in(f.db, f.vault, 5, ids[5]);
    assert_int_equal(store_commit(f.db), 0);
    assert_int_equal(store_begin(f.db), 0);
    s_enqueue_in(f.db, f.vault, 6, ids[6]); /* the newest, rolled back */
    assert_int_equal(store_rollback(f.db), 0);
    link_client_kick(client);

    received_t got[16];
    size_t n = s_await(&f, router, got, 16, 3);
    fixture_spin(&f, 50);
    n += s_receive(router, got + n, 16 - n);
    assert_int_equal(n, 3);
    const int sent[] = {1, 3, 5};
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(got[i].id, ids[sent[i]], VIGIL_ID_BYTES);
        assert_int_equal(got[i].sequence, sent[i]);
        assert_int_equal(got[i].attempt, 1);
    }
    assert_int_equal(link_client_backlog(client), 3);
    for (size_t i = 0; i < n; i++)
        s_answer(router, &got[i], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED, 0);
    s_await_backlog(&f, client, 0);
    assert_int_equal(seen.settled, 3);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 0);
    fixture_spin(&f, 50);
    assert_int_equal(s_receive(router, got + n, 16 - n), 0); /* nothing else, ever */
    s_release(got, n);

    /* Everything it was handed is settled: what comes next is sent too. */
    uint8_t later[2][VIGIL_ID_BYTES];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(store_begin(f.db), 0);
        s_enqueue_in(f.db, f.vault, (uint64_t)(7 + i), later[i]);
        assert_int_equal(store_commit(f.db), 0);
    }
    link_client_kick(client);
    n = s_await(&f, router, got, 16, 2);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(got[i].id, later[i], VIGIL_ID_BYTES);
        s_answer(router, &got[i], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED, 0);
    }
    s_await_backlog(&f, client, 0);
    assert_int_equal(seen.settled, 5);
    s_release(got, n);
    link_client_destroy(&client);
    zsock_destroy(&router);
    fixture_close(&f);
}

static void test_only_committed_enqueues_are_sent(void **state)
{
    (void)state;
    s_only_committed_enqueues_are_sent(false);
    s_only_committed_enqueues_are_sent(true);
}

/* A row the client was not handed (enqueued on another connection to the
 * same store) between rows it was handed is still sent, in id order, and a
 * handed one rolled back to a savepoint just before it is not: one row
 * missing and one extra must not pass for the right rows. */
static void test_rows_enqueued_elsewhere_are_sent_in_order(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    zsock_t *router = s_router(&f);
    observed_t seen = {0};
    link_client_t *client = s_client(&f, WINDOW, &seen);
    char err[FIXTURE_ERR];
    sqlite3 *other = store_open(f.db_path, fixture_migrations, 2, err, sizeof err);
    assert_non_null(other);
    uint8_t ids[3][VIGIL_ID_BYTES];
    sqlite3 *dbs[] = {f.db, other, f.db};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_begin(dbs[i]), 0);
        s_enqueue_in(dbs[i], NULL, (uint64_t)i, ids[i]);
        if (i == 0) {
            uint8_t undone[VIGIL_ID_BYTES];
            assert_int_equal(store_exec(f.db, "SAVEPOINT handler", err, sizeof err), 0);
            s_enqueue_in(f.db, NULL, 99, undone);
            assert_int_equal(store_exec(f.db, "ROLLBACK TO handler", err, sizeof err), 0);
            assert_int_equal(store_exec(f.db, "RELEASE handler", err, sizeof err), 0);
        }
        assert_int_equal(store_commit(dbs[i]), 0);
    }
    link_client_kick(client);
    received_t got[16];
    size_t n = s_await(&f, router, got, 16, 3);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(got[i].id, ids[i], VIGIL_ID_BYTES);
        assert_int_equal(got[i].sequence, i);
        s_answer(router, &got[i], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED, 0);
    }
    s_await_backlog(&f, client, 0);
    assert_int_equal(seen.settled, 3);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 0);
    fixture_spin(&f, 50);
    assert_int_equal(s_receive(router, got + n, 16 - n), 0); /* not the rolled back one */
    s_release(got, n);
    link_client_destroy(&client);
    sqlite3_stmt *stmt;
    while ((stmt = sqlite3_next_stmt(other, NULL)) != NULL)
        sqlite3_finalize(stmt);
    store_close(&other);
    zsock_destroy(&router);
    fixture_close(&f);
}

/* More enqueued at once than the client keeps in memory (4 per window
 * slot): the rest are read from the outbox, and every message is sent once,
 * in order, until the outbox is empty. */
static void test_more_enqueued_than_kept_are_all_sent_once(void **state)
{
    (void)state;
    enum { MANY = 10 * WINDOW };
    fixture_t f;
    fixture_open(&f, false);
    zsock_t *router = s_router(&f);
    observed_t seen = {0};
    link_client_t *client = s_client(&f, WINDOW, &seen);
    static uint8_t ids[MANY][VIGIL_ID_BYTES];
    assert_int_equal(store_begin(f.db), 0);
    for (int i = 0; i < MANY; i++)
        s_enqueue_in(f.db, NULL, (uint64_t)i, ids[i]);
    assert_int_equal(store_commit(f.db), 0);
    link_client_kick(client);
    size_t sent = 0;
    received_t got[MANY];
    for (int round = 0; round < AWAIT_MS / STEP_MS && seen.settled < MANY; round++) {
        fixture_spin(&f, STEP_MS);
        size_t k = s_receive(router, got, MANY);
        for (size_t i = 0; i < k; i++) {
            assert_true(sent < MANY);
            assert_memory_equal(got[i].id, ids[sent], VIGIL_ID_BYTES); /* once, in order */
            assert_int_equal(got[i].sequence, sent);
            assert_int_equal(got[i].attempt, 1);
            sent++;
            s_answer(router, &got[i], VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED, 0);
        }
        s_release(got, k);
    }
    s_await_backlog(&f, client, 0);
    assert_int_equal(sent, MANY);
    assert_int_equal(seen.settled, MANY);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox"), 0);
    link_client_destroy(&client);
    zsock_destroy(&router);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_retransmit_and_acks),
        cmocka_unit_test(test_unacknowledged_rows_survive_a_restart),
        cmocka_unit_test(test_acked_runs_leave_other_rows_alone),
        cmocka_unit_test(test_only_committed_enqueues_are_sent),
        cmocka_unit_test(test_rows_enqueued_elsewhere_are_sent_in_order),
        cmocka_unit_test(test_more_enqueued_than_kept_are_all_sent_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
