/* svc_lifecycle.c: a tiny vigil service that exists only to exercise the
 * runtime skeleton (service_main) in the lifecycle integration tests:
 * arguments and exit codes, --check-config, security defaults, SIGTERM
 * drain, SIGHUP reload, store and port failures, and injected commit
 * failures.
 *
 * It has one inbound route, MESSAGE_TYPE_LINK_PROBE, whose handler stores
 * the probe's sequence number in probes(seq, handled) inside the link's
 * batch transaction (handled > 1 would be a double effect), and one
 * configured peer, so it has an outbox: at start it enqueues probes
 * 0 .. lifecycle.send_count-1 for that peer, recording each in sent(seq) in
 * the same transaction, so a restart continues where the last committed
 * batch ended and never enqueues a sequence twice. Two instances pointed at
 * each other make a sender and a receiver. It never holds personal data.
 *
 * Usage: vigil-lifecycle --config FILE, with e.g.
 *     link = { listen = "tcp://127.0.0.1:7501"; };
 *     peers = ( { name = "peer"; endpoint = "tcp://127.0.0.1:7502"; } );
 *     lifecycle = { peer = "peer"; send_count = 1000; };
 */
#include <stdio.h>
#include <stdlib.h>

#include "vigil/service.h"

#define LIFECYCLE_ERR_LEN 256

typedef struct {
    char *peer;
    int64_t send_count;
    int64_t send_batch;
} lifecycle_config_t;

#define OFF(member) offsetof(lifecycle_config_t, member)

static const config_key_t s_config_keys[] = {
    {.key = "lifecycle.peer",
     .type = CONFIG_STRING,
     .default_value = "peer",
     .offset = OFF(peer),
     CONFIG_UNBOUNDED,
     .doc = "the peer (from `peers`) this service sends its probes to"},
    {.key = "lifecycle.send_count",
     .type = CONFIG_INT,
     .default_value = "0",
     .offset = OFF(send_count),
     .min = 0,
     .max = 10000000,
     .doc = "probes enqueued for the peer in total (sequence numbers 0 .. send_count-1)"},
    {.key = "lifecycle.send_batch",
     .type = CONFIG_INT,
     .default_value = "500",
     .offset = OFF(send_batch),
     .min = 1,
     .max = 100000,
     .doc = "probes enqueued per transaction at start"},
    {.key = NULL},
};

static const char s_schema[] = "CREATE TABLE probes (seq INTEGER PRIMARY KEY, handled INTEGER NOT "
                               "NULL);\n"
                               "CREATE TABLE sent (seq INTEGER PRIMARY KEY);\n";

static const store_migration_t s_migrations[] = {
    {.version = 1, .sql = link_schema_v1},
    {.version = 2, .sql = s_schema},
};

static const char s_upsert_sql[] = "INSERT INTO probes (seq, handled) VALUES (?1, 1) "
                                   "ON CONFLICT (seq) DO UPDATE SET handled = handled + 1";

typedef struct {
    service_t *service;
    const lifecycle_config_t *config;
    sqlite3_stmt *upsert;
    sqlite3_stmt *mark_sent;
} lifecycle_t;

static int s_on_probe(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope, const char *peer,
                      link_result_t *result)
{
    lifecycle_t *self = service_context(ctx);
    Vigil__V1__LinkProbe *probe =
        vigil__v1__link_probe__unpack(NULL, envelope->payload.len, envelope->payload.data);
    if (!probe) {
        result->reason = VIGIL__V1__REASON_CODE__REASON_MALFORMED;
        snprintf(result->detail, sizeof result->detail, "payload: not a LinkProbe");
        return LINK_REJECT;
    }
    unsigned long long seq = (unsigned long long)probe->sequence;
    vigil__v1__link_probe__free_unpacked(probe, NULL);
    sqlite3_bind_int64(self->upsert, 1, (sqlite3_int64)seq);
    int rc = sqlite3_step(self->upsert);
    sqlite3_reset(self->upsert);
    if (rc != SQLITE_DONE) {
        log_error("probe not stored; the sender will retry", "seq=%llu error=%s", seq,
                  sqlite3_errmsg(db));
        result->reason = VIGIL__V1__REASON_CODE__REASON_INTERNAL;
        snprintf(result->detail, sizeof result->detail, "probes table: write failed");
        return LINK_RETRY;
    }
    snprintf(result->case_id, sizeof result->case_id, "probe-%llu", seq);
    log_debug("probe stored", "seq=%llu source=%s", seq, peer);
    return LINK_OK;
}

static const link_route_t s_routes[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, s_on_probe, 0, NULL},
    {0, NULL, 0, NULL},
};

/* The first sequence number not yet enqueued (restarts continue). */
static int64_t s_next_seq(sqlite3 *db)
{
    sqlite3_stmt *last = NULL;
    int64_t next = -1;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(seq) + 1, 0) FROM sent", -1, &last, NULL) ==
            SQLITE_OK &&
        sqlite3_step(last) == SQLITE_ROW)
        next = sqlite3_column_int64(last, 0);
    sqlite3_finalize(last);
    return next;
}

/* Enqueues probes [from, to) and records them in sent, in one transaction.
 * Returns 0, or -1 after rolling back. */
static int s_enqueue(lifecycle_t *self, int64_t from, int64_t to)
{
    sqlite3 *db = service_db(self->service);
    char err[LIFECYCLE_ERR_LEN] = "";
    if (store_begin(db)) {
        log_error("cannot begin the probe enqueue", "error=%s", sqlite3_errmsg(db));
        return -1;
    }
    for (int64_t seq = from; seq < to; seq++) {
        sqlite3_bind_int64(self->mark_sent, 1, seq);
        int rc = sqlite3_step(self->mark_sent);
        sqlite3_reset(self->mark_sent);
        Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
        probe.sequence = (uint64_t)seq;
        if (rc != SQLITE_DONE ||
            link_outbox_enqueue(db, service_vault(self->service), self->config->peer,
                                VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, NULL, NULL,
                                &probe.base, NULL, err, sizeof err)) {
            log_error("probe enqueue failed; rolled back", "seq=%lld error=%s", (long long)seq,
                      rc != SQLITE_DONE ? sqlite3_errmsg(db) : err);
            store_rollback(db);
            return -1;
        }
    }
    if (store_commit(db)) {
        log_error("probe enqueue commit failed; rolled back", "error=%s", sqlite3_errmsg(db));
        store_rollback(db);
        return -1;
    }
    return 0;
}

static void s_stop(service_t *service)
{
    lifecycle_t *self = service_context(service);
    if (!self)
        return;
    sqlite3_finalize(self->upsert);
    sqlite3_finalize(self->mark_sent);
    free(self);
    service_set_context(service, NULL);
}

/* The runtime calls stop only after a successful start: undo a failed one
 * here. Returns `code`. */
static int s_start_failed(service_t *service, int code)
{
    s_stop(service);
    return code;
}

static int s_start(service_t *service)
{
    const lifecycle_config_t *config = service_config(service);
    lifecycle_t *self = calloc(1, sizeof *self);
    if (!self)
        return SERVICE_EXIT_SOFTWARE;
    service_set_context(service, self);
    self->service = service;
    self->config = config;
    if (!service_peer(service, config->peer)) {
        log_error("lifecycle.peer names no configured peer", "peer=%s", config->peer);
        return s_start_failed(service, SERVICE_EXIT_CONFIG);
    }
    sqlite3 *db = service_db(service);
    if (sqlite3_prepare_v2(db, s_upsert_sql, -1, &self->upsert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO sent (seq) VALUES (?1)", -1, &self->mark_sent, NULL) !=
            SQLITE_OK)
        return s_start_failed(service, SERVICE_EXIT_SOFTWARE);
    int64_t next = s_next_seq(db);
    if (next < 0)
        return s_start_failed(service, SERVICE_EXIT_SOFTWARE);
    int64_t first = next;
    while (next < config->send_count) {
        int64_t end = next + config->send_batch;
        if (end > config->send_count)
            end = config->send_count;
        if (s_enqueue(self, next, end))
            break; /* what committed is sent; a restart enqueues the rest */
        next = end;
    }
    log_info("lifecycle probes enqueued", "from=%lld to=%lld backlog=%zu", (long long)first,
             (long long)next, link_client_backlog(service_peer(service, config->peer)));
    service_kick_peers(service);
    return 0;
}

static int s_reload(service_t *service, const void *fresh, char *err, size_t errlen)
{
    (void)service;
    (void)fresh;
    (void)err;
    (void)errlen;
    log_debug("lifecycle reload hook ran", "own_settings=%s", "unchanged");
    return 0;
}

static const service_def_t s_service = {
    .name = "lifecycle",
    .config_keys = s_config_keys,
    .config_size = sizeof(lifecycle_config_t),
    .migrations = s_migrations,
    .migration_count = sizeof s_migrations / sizeof s_migrations[0],
    .routes = s_routes,
    .start = s_start,
    .reload = s_reload,
    .stop = s_stop,
};

int main(int argc, char **argv)
{
    return service_main(&s_service, argc, argv);
}
