/* test_link_prepare.c: a route's prepare runs ahead of the batch
 * transaction (link_prepare_fn), and a route may defer its outbox rows to
 * the batch's commit (LINK_ROUTE_DEFER_OUTBOX).
 *
 * A burst larger than a batch goes through the server's pipeline: every
 * message is prepared exactly for itself (the handler finds, through
 * link_prepared(), what was prepared from its own payload), some of it on
 * the preparer thread, and each is stored and answered once; a refusal
 * found while preparing is answered REJECTED by the handler with nothing
 * stored. A single message is prepared on the loop thread. A handler of a
 * route without prepare sees NULL.
 */
#include <pthread.h>

#include "link_fixture.h"

enum {
    BURST = 640,        /* ten batches of fixture_server_config()'s 64 */
    BURST_REPEATS = 10, /* the first ones again: answered DUPLICATE */
    REFUSED_EVERY = 97, /* sequences divisible by it are refused while preparing */
    FIRST_SEQ = 1000,
};

/* What the test's prepare leaves for the handler. */
typedef struct {
    uint64_t seq;
    bool refused;
} prepared_probe_t;

/* The route's context: the fixture's handler, and what the prepares saw. */
typedef struct {
    fixture_handler_t handler; /* first: the fixture's handler takes ctx as its own */
    pthread_t loop_thread;
    int prepared_total;    /* written by two threads: atomics below */
    int prepared_off_loop; /* prepared on the preparer thread */
    int handled_prepared;  /* handler calls that found their prepared probe */
    int handled_without;   /* handler calls that found none */
    int mismatched;        /* prepared for another message */
} prepare_ctx_t;

static void *s_prepare(void *ctx, const Vigil__V1__Envelope *envelope, ProtobufCMessage *payload,
                       const char *peer, ProtobufCAllocator *allocator)
{
    (void)envelope;
    (void)peer;
    prepare_ctx_t *self = ctx;
    __atomic_add_fetch(&self->prepared_total, 1, __ATOMIC_RELAXED);
    if (!pthread_equal(pthread_self(), self->loop_thread))
        __atomic_add_fetch(&self->prepared_off_loop, 1, __ATOMIC_RELAXED);
    const Vigil__V1__LinkProbe *probe = (const Vigil__V1__LinkProbe *)payload;
    prepared_probe_t *out = allocator->alloc(allocator->allocator_data, sizeof *out);
    if (!out || !probe)
        return NULL;
    out->seq = probe->sequence;
    out->refused = probe->sequence % REFUSED_EVERY == 0;
    return out;
}

static int s_handle(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope, const char *peer,
                    link_result_t *result)
{
    prepare_ctx_t *self = ctx;
    const prepared_probe_t *prepared = link_prepared(envelope);
    const Vigil__V1__LinkProbe *probe = (const Vigil__V1__LinkProbe *)link_payload(envelope);
    if (!prepared) {
        self->handled_without++;
    } else {
        self->handled_prepared++;
        if (!probe || prepared->seq != probe->sequence)
            self->mismatched++;
        if (prepared->refused) {
            result->reason = VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE;
            snprintf(result->detail, sizeof result->detail, "probe.sequence: refused");
            return LINK_REJECT;
        }
    }
    return fixture_handler(&self->handler, db, envelope, peer, result);
}

static const link_route_t s_prepared_routes[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, s_handle, 0, s_prepare},
    {0, NULL, 0, NULL},
};

static const link_route_t s_plain_routes[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, s_handle, 0, NULL},
    {0, NULL, 0, NULL},
};

static link_server_t *s_server(fixture_t *f, prepare_ctx_t *ctx, const link_route_t *routes,
                               metrics_t *metrics)
{
    ctx->loop_thread = pthread_self(); /* the test runs the loop */
    link_server_config_t config = fixture_server_config(f, 3);
    char err[FIXTURE_ERR];
    link_server_t *server =
        link_server_new(&config, f->db, NULL, f->vault, metrics, routes, ctx, err, sizeof err);
    if (!server)
        fail_msg("link_server_new: %s", err);
    if (link_server_attach(server, f->loop, err, sizeof err))
        fail_msg("link_server_attach: %s", err);
    return server;
}

/* A store, a server with `routes` and a DEALER to it. */
typedef struct {
    fixture_t f;
    prepare_ctx_t ctx;
    metrics_t *metrics;
    link_server_t *server;
    zsock_t *dealer;
} rig_t;

static void s_open(rig_t *r, const link_route_t *routes)
{
    memset(r, 0, sizeof *r);
    fixture_open(&r->f, false);
    r->metrics = metrics_new("test");
    assert_non_null(r->metrics);
    r->server = s_server(&r->f, &r->ctx, routes, r->metrics);
    r->dealer = fixture_dealer(&r->f);
}

static void s_close(rig_t *r)
{
    zsock_destroy(&r->dealer);
    link_server_destroy(&r->server);
    metrics_destroy(&r->metrics);
    fixture_close(&r->f);
}

/* Runs the loop until `want` answers arrived (or 5 s passed), counting them
 * by status into `by_status`. Returns how many arrived. */
static size_t s_await(fixture_t *f, zsock_t *dealer, size_t want, int by_status[8])
{
    size_t n = 0;
    for (int waited = 0; n < want && waited < 5000; waited += 20) {
        fixture_spin(f, 20);
        fixture_answer_t answers[BURST + BURST_REPEATS];
        size_t got = fixture_answers(dealer, answers, BURST + BURST_REPEATS);
        for (size_t i = 0; i < got; i++)
            if (answers[i].status >= 0 && answers[i].status < 8)
                by_status[answers[i].status]++;
        n += got;
    }
    return n;
}

static void test_a_burst_is_prepared_ahead_and_stored_once(void **state)
{
    (void)state;
    rig_t r;
    s_open(&r, s_prepared_routes);
    zsock_set_sndhwm(r.dealer, 0);
    static uint8_t ids[BURST][VIGIL_ID_BYTES];
    for (int i = 0; i < BURST; i++) {
        util_random_id(ids[i]);
        fixture_send_probe(r.dealer, ids[i], FIRST_SEQ + (uint64_t)i);
    }
    for (int i = 0; i < BURST_REPEATS; i++)
        fixture_send_probe(r.dealer, ids[i], FIRST_SEQ + (uint64_t)i);
    zclock_sleep(200); /* let them queue, so the server reads full batches */
    int by_status[8] = {0};
    size_t n = s_await(&r.f, r.dealer, BURST + BURST_REPEATS, by_status);
    if (n != BURST + BURST_REPEATS || by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY])
        fail_msg("answers %zu: accepted %d duplicate %d rejected %d retry %d", n,
                 by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED],
                 by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE],
                 by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED],
                 by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY]);

    int refused = 0;
    for (int i = 0; i < BURST; i++) {
        bool is_refused = (FIRST_SEQ + i) % REFUSED_EVERY == 0;
        refused += is_refused;
        assert_int_equal(fixture_effects(&r.f, FIRST_SEQ + (uint64_t)i), is_refused ? 0 : 1);
    }
    assert_true(refused > 0);
    assert_int_equal(by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED], BURST - refused);
    assert_int_equal(by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED], refused);
    assert_int_equal(by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE], BURST_REPEATS);
    assert_int_equal(fixture_count(&r.f, "SELECT count(*) FROM effects"), BURST - refused);
    /* every handler call found what was prepared from its own message */
    assert_int_equal(r.ctx.handled_prepared, BURST);
    assert_int_equal(r.ctx.handled_without, 0);
    assert_int_equal(r.ctx.mismatched, 0);
    /* repeats are prepared too, then answered from the inbox */
    assert_true(r.ctx.prepared_total >= BURST);
    /* the pipeline ran: part of the work was done off the loop thread, and
     * the server counted exactly that part */
    assert_true(r.ctx.prepared_off_loop > 0);
    assert_int_equal(fixture_metric(r.metrics, "vigil_link_prepared_ahead_total"),
                     r.ctx.prepared_off_loop);
    s_close(&r);
}

static void test_a_single_message_is_prepared_on_the_loop_thread(void **state)
{
    (void)state;
    rig_t r;
    s_open(&r, s_prepared_routes);
    uint8_t id[VIGIL_ID_BYTES];
    util_random_id(id);
    fixture_send_probe(r.dealer, id, FIRST_SEQ + 1);
    int by_status[8] = {0};
    assert_int_equal(s_await(&r.f, r.dealer, 1, by_status), 1);
    assert_int_equal(by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED], 1);
    assert_int_equal(fixture_effects(&r.f, FIRST_SEQ + 1), 1);
    assert_int_equal(r.ctx.prepared_total, 1);
    assert_int_equal(r.ctx.prepared_off_loop, 0);
    assert_int_equal(fixture_metric(r.metrics, "vigil_link_prepared_ahead_total"), 0);
    assert_int_equal(r.ctx.handled_prepared, 1);
    s_close(&r);
}

static void test_a_route_without_prepare_hands_its_handler_nothing(void **state)
{
    (void)state;
    rig_t r;
    s_open(&r, s_plain_routes);
    enum { COUNT = 100 };
    for (int i = 0; i < COUNT; i++) {
        uint8_t id[VIGIL_ID_BYTES];
        util_random_id(id);
        fixture_send_probe(r.dealer, id, FIRST_SEQ + (uint64_t)i);
    }
    zclock_sleep(100);
    int by_status[8] = {0};
    assert_int_equal(s_await(&r.f, r.dealer, COUNT, by_status), COUNT);
    /* no prepare: nothing refused on the way, every one stored */
    assert_int_equal(by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED], COUNT);
    assert_int_equal(fixture_count(&r.f, "SELECT count(*) FROM effects"), COUNT);
    assert_int_equal(r.ctx.prepared_total, 0);
    assert_int_equal(r.ctx.handled_without, COUNT);
    s_close(&r);
}

/* --- outbox rows deferred to the batch's commit ------------------------ */

enum { FORWARDED = 100, BROKEN_SEQ = 66 };

typedef struct {
    int calls;
    int saw_deferral; /* calls whose row was kept in memory, not inserted */
} forward_ctx_t;

/* Enqueues one onward row per probe; for BROKEN_SEQ it then fails anyway,
 * breaking LINK_ROUTE_NO_SAVEPOINT's promise with a row enqueued. */
static int s_forward(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope, const char *peer,
                     link_result_t *result)
{
    (void)peer;
    forward_ctx_t *self = ctx;
    self->calls++;
    const Vigil__V1__LinkProbe *probe = (const Vigil__V1__LinkProbe *)link_payload(envelope);
    char err[FIXTURE_ERR];
    size_t before = link_outbox_deferred(db);
    if (!probe ||
        link_outbox_enqueue(db, NULL, "onward", VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE,
                            NULL, NULL, &probe->base, NULL, err, sizeof err))
        return LINK_RETRY;
    self->saw_deferral += link_outbox_deferred(db) == before + 1;
    if (probe->sequence == BROKEN_SEQ) {
        snprintf(result->detail, sizeof result->detail, "probe.sequence: refused late");
        return LINK_REJECT;
    }
    return LINK_OK;
}

static const link_route_t s_deferring_routes[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, s_forward,
     LINK_ROUTE_NO_SAVEPOINT | LINK_ROUTE_DEFER_OUTBOX, NULL},
    {0, NULL, 0, NULL},
};

static const link_route_t s_deferring_with_savepoint[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, s_forward, LINK_ROUTE_DEFER_OUTBOX, NULL},
    {0, NULL, 0, NULL},
};

/* Every accepted message's onward row is in the outbox after the commit,
 * once, in the order the messages were handled; the message whose handler
 * failed with a row enqueued leaves none (the batch rolls back, each runs
 * alone, it is answered RETRY). */
static void test_deferred_outbox_rows_are_written_at_commit(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    forward_ctx_t ctx = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    char err[FIXTURE_ERR];
    link_server_t *server =
        link_server_new(&config, f.db, NULL, NULL, NULL, s_deferring_routes, &ctx, err, sizeof err);
    if (!server || link_server_attach(server, f.loop, err, sizeof err))
        fail_msg("server: %s", err);
    zsock_t *dealer = fixture_dealer(&f);
    for (int i = 0; i < FORWARDED; i++) {
        uint8_t id[VIGIL_ID_BYTES];
        util_random_id(id);
        fixture_send_probe(dealer, id, (uint64_t)i);
    }
    zclock_sleep(100);
    int by_status[8] = {0};
    assert_int_equal(s_await(&f, dealer, FORWARDED, by_status), FORWARDED);
    assert_int_equal(by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED], FORWARDED - 1);
    assert_int_equal(by_status[VIGIL__V1__ACK_STATUS__ACK_STATUS_RETRY], 1);
    assert_int_equal(fixture_count(&f, "SELECT count(*) FROM link_outbox WHERE peer = 'onward'"),
                     FORWARDED - 1);
    assert_int_equal(fixture_count(&f, "SELECT count(DISTINCT message_id) FROM link_outbox"),
                     FORWARDED - 1);
    assert_true(ctx.saw_deferral >= FORWARDED - 1); /* kept in memory, then written */
    /* rows are in handling order: each row's probe sequence rises with its id */
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(f.db, "SELECT envelope FROM link_outbox ORDER BY id", -1, &stmt, NULL),
        SQLITE_OK);
    int64_t last = -1;
    int rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        Vigil__V1__Envelope *envelope = vigil__v1__envelope__unpack(
            NULL, (size_t)sqlite3_column_bytes(stmt, 0), sqlite3_column_blob(stmt, 0));
        assert_non_null(envelope);
        Vigil__V1__LinkProbe *probe =
            vigil__v1__link_probe__unpack(NULL, envelope->payload.len, envelope->payload.data);
        assert_non_null(probe);
        assert_true((int64_t)probe->sequence > last);
        assert_int_not_equal(probe->sequence, BROKEN_SEQ);
        last = (int64_t)probe->sequence;
        rows++;
        vigil__v1__link_probe__free_unpacked(probe, NULL);
        vigil__v1__envelope__free_unpacked(envelope, NULL);
    }
    sqlite3_finalize(stmt);
    assert_int_equal(rows, FORWARDED - 1);
    zsock_destroy(&dealer);
    link_server_destroy(&server);
    fixture_close(&f);
}

static void test_deferring_needs_a_route_without_savepoint(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f, false);
    forward_ctx_t ctx = {0};
    link_server_config_t config = fixture_server_config(&f, 3);
    char err[FIXTURE_ERR] = "";
    link_server_t *server = link_server_new(&config, f.db, NULL, NULL, NULL,
                                            s_deferring_with_savepoint, &ctx, err, sizeof err);
    assert_null(server);
    assert_non_null(strstr(err, "LINK_ROUTE_DEFER_OUTBOX needs LINK_ROUTE_NO_SAVEPOINT"));
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_burst_is_prepared_ahead_and_stored_once),
        cmocka_unit_test(test_a_single_message_is_prepared_on_the_loop_thread),
        cmocka_unit_test(test_a_route_without_prepare_hands_its_handler_nothing),
        cmocka_unit_test(test_deferred_outbox_rows_are_written_at_commit),
        cmocka_unit_test(test_deferring_needs_a_route_without_savepoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
