/* link_fixture.h: what the link's unit tests share: a real sqlite store in a
 * temporary directory with the link's tables and an `effects` table, a
 * zloop to run the link on, a raw DEALER or ROUTER standing in for the
 * other side, and envelope builders. Everything is real (files, ipc
 * sockets); nothing is mocked. Included by tests/unit/test_link_*.c only.
 */
#ifndef VIGIL_LINK_FIXTURE_H
#define VIGIL_LINK_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <czmq.h>
#include <ftw.h>

#include "vigil/link.h"
#include "vigil/store.h"
#include "vigil/util.h"
#include "vigil/vault.h"

#define FIXTURE_PATH    256
#define FIXTURE_BUFFER  8192
#define FIXTURE_ERR     512
#define FIXTURE_MAX_ACK 64

static const char fixture_effects_schema[] =
    "CREATE TABLE effects (seq INTEGER PRIMARY KEY, count INTEGER NOT NULL);";

static const store_migration_t fixture_migrations[] = {
    {.version = 1, .sql = link_schema_v1},
    {.version = 2, .sql = fixture_effects_schema},
};

typedef struct {
    char dir[FIXTURE_PATH / 2];
    char db_path[FIXTURE_PATH];
    char endpoint[FIXTURE_PATH];
    sqlite3 *db;
    zloop_t *loop;
    vault_t *vault;
} fixture_t;

static inline int fixture_remove_entry(const char *path, const struct stat *st, int flag,
                                       struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* A fresh directory, store, loop and ipc endpoint name; a vault when asked. */
static inline void fixture_open(fixture_t *f, bool with_vault)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/vigil-link-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db_path, sizeof f->db_path, "%s/test.db", f->dir);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s/link.ipc", f->dir);
    char err[FIXTURE_ERR];
    f->db = store_open(f->db_path, fixture_migrations, 2, err, sizeof err);
    assert_non_null(f->db);
    f->loop = zloop_new();
    assert_non_null(f->loop);
    if (with_vault) {
        char key[FIXTURE_PATH];
        snprintf(key, sizeof key, "%s/test.vault", f->dir);
        assert_int_equal(vault_create_keyfile(key, err, sizeof err), 0);
        f->vault = vault_open(key, err, sizeof err);
        assert_non_null(f->vault);
    }
}

static inline void fixture_close(fixture_t *f)
{
    zloop_destroy(&f->loop);
    /* link_outbox_enqueue() caches its statement on the connection; a link
     * client or server finalizes it when destroyed, but some tests have
     * neither, and store_close() leaves unfinalized statements open. */
    sqlite3_stmt *stmt;
    while ((stmt = sqlite3_next_stmt(f->db, NULL)) != NULL)
        sqlite3_finalize(stmt);
    store_close(&f->db);
    vault_destroy(&f->vault);
    nftw(f->dir, fixture_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static inline int fixture_stop_loop(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    (void)arg;
    return -1;
}

/* Runs the loop for `ms` milliseconds. */
static inline void fixture_spin(fixture_t *f, int ms)
{
    zloop_timer(f->loop, (size_t)ms, 1, fixture_stop_loop, NULL);
    zloop_start(f->loop);
}

static inline long long fixture_count(fixture_t *f, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    long long value = -1;
    assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

/* Enqueues probe `seq` (with `filler` bytes) for `peer` in its own
 * transaction; returns the message id in `id` (may be NULL). */
static inline void fixture_enqueue(fixture_t *f, const char *peer, uint64_t seq, const char *filler,
                                   uint8_t *id)
{
    char err[FIXTURE_ERR];
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    probe.sequence = seq;
    if (filler) {
        probe.filler.data = (uint8_t *)filler;
        probe.filler.len = strlen(filler);
    }
    assert_int_equal(store_begin(f->db), 0);
    int rc =
        link_outbox_enqueue(f->db, f->vault, peer, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE,
                            "case-1", NULL, &probe.base, id, err, sizeof err);
    if (rc)
        fail_msg("enqueue: %s", err);
    assert_int_equal(store_commit(f->db), 0);
}

/* Serializes a probe envelope with id `id` into `out`; returns its length. */
static inline size_t fixture_probe_envelope(const uint8_t *id, uint64_t seq, const char *filler,
                                            uint8_t *out)
{
    uint8_t payload[FIXTURE_BUFFER];
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    probe.sequence = seq;
    if (filler) {
        probe.filler.data = (uint8_t *)filler;
        probe.filler.len = strlen(filler);
    }
    Vigil__V1__Envelope envelope = VIGIL__V1__ENVELOPE__INIT;
    envelope.message_id.data = (uint8_t *)id;
    envelope.message_id.len = VIGIL_ID_BYTES;
    envelope.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE;
    envelope.source = "fixture";
    envelope.payload.data = payload;
    envelope.payload.len = vigil__v1__link_probe__pack(&probe, payload);
    return vigil__v1__envelope__pack(&envelope, out);
}

/* A DEALER connected to the server under test. */
static inline zsock_t *fixture_dealer(fixture_t *f)
{
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    assert_non_null(dealer);
    zsock_set_linger(dealer, 0);
    zsock_set_rcvtimeo(dealer, 0);
    assert_int_equal(zsock_connect(dealer, "%s", f->endpoint), 0);
    return dealer;
}

static inline void fixture_send_probe(zsock_t *dealer, const uint8_t *id, uint64_t seq)
{
    uint8_t frame[FIXTURE_BUFFER];
    size_t len = fixture_probe_envelope(id, seq, NULL, frame);
    assert_int_equal(zsock_send(dealer, "b", frame, len), 0);
}

/* One received answer. */
typedef struct {
    uint8_t id[VIGIL_ID_BYTES];
    int status;
    int reason;
    char case_id[64];
    char detail[256];
    int ack_message; /* which Ack envelope it came in, 0-based */
} fixture_answer_t;

/* Reads every waiting Ack from `dealer` into `answers` (up to `max`);
 * returns how many entries were read. */
static inline size_t fixture_answers(zsock_t *dealer, fixture_answer_t *answers, size_t max)
{
    size_t n = 0;
    int message = 0;
    zframe_t *frame;
    while ((frame = zframe_recv(dealer)) != NULL) {
        Vigil__V1__Envelope *envelope =
            vigil__v1__envelope__unpack(NULL, zframe_size(frame), zframe_data(frame));
        assert_non_null(envelope);
        assert_int_equal(envelope->type, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ACK);
        Vigil__V1__Ack *ack =
            vigil__v1__ack__unpack(NULL, envelope->payload.len, envelope->payload.data);
        assert_non_null(ack);
        for (size_t i = 0; i < ack->n_entries && n < max; i++, n++) {
            fixture_answer_t *a = &answers[n];
            memset(a, 0, sizeof *a);
            if (ack->entries[i]->message_id.len == VIGIL_ID_BYTES)
                memcpy(a->id, ack->entries[i]->message_id.data, VIGIL_ID_BYTES);
            a->status = ack->entries[i]->status;
            a->reason = ack->entries[i]->reason;
            snprintf(a->case_id, sizeof a->case_id, "%s", ack->entries[i]->case_id);
            snprintf(a->detail, sizeof a->detail, "%s", ack->entries[i]->detail);
            a->ack_message = message;
        }
        message++;
        vigil__v1__ack__free_unpacked(ack, NULL);
        vigil__v1__envelope__free_unpacked(envelope, NULL);
        zframe_destroy(&frame);
    }
    return n;
}

/* Runs the loop until `want` answers arrived on `dealer` (or 2 s passed);
 * returns how many arrived. */
static inline size_t fixture_await(fixture_t *f, zsock_t *dealer, fixture_answer_t *answers,
                                   size_t want)
{
    size_t n = 0;
    for (int waited = 0; n < want && waited < 2000; waited += 20) {
        fixture_spin(f, 20);
        fixture_answer_t more[FIXTURE_MAX_ACK];
        size_t got = fixture_answers(dealer, more, FIXTURE_MAX_ACK);
        int base = n ? answers[n - 1].ack_message + 1 : 0;
        for (size_t i = 0; i < got && n < FIXTURE_MAX_ACK; i++) {
            more[i].ack_message += base;
            answers[n++] = more[i];
        }
    }
    return n;
}

/* The server config the tests use: ipc endpoint, small limits. */
static inline link_server_config_t fixture_server_config(fixture_t *f, int max_attempts)
{
    link_server_config_t config = {
        .endpoint = f->endpoint,
        .batch_max = 64,
        .max_frame = 4096,
        .max_attempts = max_attempts,
        .heartbeat_ms = 0,
        .coalesce_acks = true,
        .reject_unknown_fields = true,
    };
    return config;
}

/* The handler the server tests route LINK_PROBE to: records one effect per
 * call in `effects`, names the case "case-<seq>", and fails as told. */
typedef struct {
    int calls;
    int from_link;       /* calls that got the link's decoded payload (link_payload) */
    int wrong_payload;   /* calls where link_payload disagreed with the envelope */
    bool retry;          /* return LINK_RETRY (a transient failure) */
    uint64_t reject_seq; /* this sequence is refused with LINK_REJECT (0: none) */
    char last_peer[64];
} fixture_handler_t;

static inline int fixture_handler(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope,
                                  const char *peer, link_result_t *result)
{
    fixture_handler_t *self = ctx;
    self->calls++;
    snprintf(self->last_peer, sizeof self->last_peer, "%s", peer);
    Vigil__V1__LinkProbe *probe =
        vigil__v1__link_probe__unpack(NULL, envelope->payload.len, envelope->payload.data);
    if (!probe)
        return LINK_REJECT;
    uint64_t seq = probe->sequence;
    vigil__v1__link_probe__free_unpacked(probe, NULL);
    const Vigil__V1__LinkProbe *linked = (const Vigil__V1__LinkProbe *)link_payload(envelope);
    if (linked) {
        self->from_link++;
        if (linked->base.descriptor != &vigil__v1__link_probe__descriptor ||
            linked->sequence != seq)
            self->wrong_payload++;
    }
    sqlite3_stmt *stmt = NULL;
    sqlite3_prepare_v2(db,
                       "INSERT INTO effects (seq, count) VALUES (?1, 1) "
                       "ON CONFLICT (seq) DO UPDATE SET count = count + 1",
                       -1, &stmt, NULL);
    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)seq);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return LINK_RETRY;
    snprintf(result->case_id, sizeof result->case_id, "case-%llu", (unsigned long long)seq);
    if (self->retry) {
        result->reason = VIGIL__V1__REASON_CODE__REASON_INTERNAL;
        snprintf(result->detail, sizeof result->detail, "downstream busy");
        return LINK_RETRY;
    }
    if (self->reject_seq && seq == self->reject_seq) {
        result->reason = VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE;
        snprintf(result->detail, sizeof result->detail, "probe.sequence: refused");
        return LINK_REJECT;
    }
    return LINK_OK;
}

static const link_route_t fixture_routes[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, fixture_handler, 0, NULL},
    {0, NULL, 0, NULL},
};

/* The same handler declared LINK_ROUTE_NO_SAVEPOINT: right for it only
 * while it does not fail (it writes before it rejects). */
static const link_route_t fixture_routes_no_savepoint[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, fixture_handler, LINK_ROUTE_NO_SAVEPOINT,
     NULL},
    {0, NULL, 0, NULL},
};

/* A server on the fixture's ipc endpoint with `routes`, attached to its
 * loop, counting into `metrics` (may be NULL). */
static inline link_server_t *fixture_server_routed(fixture_t *f, const link_server_config_t *config,
                                                   fixture_handler_t *handler, metrics_t *metrics,
                                                   const link_route_t *routes)
{
    char err[FIXTURE_ERR];
    link_server_t *server =
        link_server_new(config, f->db, NULL, f->vault, metrics, routes, handler, err, sizeof err);
    if (!server)
        fail_msg("link_server_new: %s", err);
    if (link_server_attach(server, f->loop, err, sizeof err))
        fail_msg("link_server_attach: %s", err);
    return server;
}

/* A server on the fixture's ipc endpoint, attached to its loop, counting
 * into `metrics` (may be NULL). */
static inline link_server_t *fixture_server_metered(fixture_t *f,
                                                    const link_server_config_t *config,
                                                    fixture_handler_t *handler, metrics_t *metrics)
{
    return fixture_server_routed(f, config, handler, metrics, fixture_routes);
}

/* A server on the fixture's ipc endpoint, attached to its loop. */
static inline link_server_t *fixture_server(fixture_t *f, const link_server_config_t *config,
                                            fixture_handler_t *handler)
{
    return fixture_server_metered(f, config, handler, NULL);
}

typedef struct {
    const char *name;
    double value;
} fixture_metric_read_t;

static inline void fixture_metric_visit(void *ctx, const char *name, const char *labels,
                                        double value)
{
    (void)labels;
    fixture_metric_read_t *read = ctx;
    if (strcmp(name, read->name) == 0)
        read->value = value;
}

/* The value of counter or gauge `name` (e.g. "vigil_link_received_total")
 * in `metrics`, or -1 when it is not registered. */
static inline long long fixture_metric(metrics_t *metrics, const char *name)
{
    fixture_metric_read_t read = {.name = name, .value = -1};
    metrics_each(metrics, fixture_metric_visit, &read);
    return (long long)read.value;
}

static inline long long fixture_effects(fixture_t *f, uint64_t seq)
{
    char sql[FIXTURE_PATH];
    snprintf(sql, sizeof sql, "SELECT coalesce(sum(count), 0) FROM effects WHERE seq = %llu",
             (unsigned long long)seq);
    return fixture_count(f, sql);
}

#endif
