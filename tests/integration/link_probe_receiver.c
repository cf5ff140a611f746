/* link_probe_receiver.c: a real vigil service that receives LinkProbe
 * messages over the reliable link, for the link's integration tests and
 * benchmark.
 *
 * Its one handler stores each probe's sequence number in
 * probes(seq, handled), in the link's batch transaction: the first delivery
 * inserts handled = 1, any further effect for the same seq adds 1. A test
 * that finds handled > 1 has caught a double effect; a missing seq is a lost
 * message. It never holds personal data.
 *
 * Usage: vigil-link-probe-receiver --config FILE (see service.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "vigil/service.h"

static const char s_probes_schema[] =
    "CREATE TABLE probes (seq INTEGER PRIMARY KEY, handled INTEGER NOT NULL);";

static const store_migration_t s_migrations[] = {
    {.version = 1, .sql = link_schema_v1},
    {.version = 2, .sql = s_probes_schema},
};

static const char s_upsert_sql[] = "INSERT INTO probes (seq, handled) VALUES (?1, 1) "
                                   "ON CONFLICT (seq) DO UPDATE SET handled = handled + 1";

typedef struct {
    sqlite3_stmt *upsert;
} probe_receiver_t;

static int s_on_probe(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope, const char *peer,
                      link_result_t *result)
{
    (void)db;
    (void)peer;
    probe_receiver_t *self = service_context(ctx);
    Vigil__V1__LinkProbe *probe =
        vigil__v1__link_probe__unpack(NULL, envelope->payload.len, envelope->payload.data);
    if (!probe) {
        result->reason = VIGIL__V1__REASON_CODE__REASON_MALFORMED;
        snprintf(result->detail, sizeof result->detail, "payload: not a LinkProbe");
        return LINK_REJECT;
    }
    sqlite3_bind_int64(self->upsert, 1, (sqlite3_int64)probe->sequence);
    int rc = sqlite3_step(self->upsert);
    sqlite3_reset(self->upsert);
    snprintf(result->case_id, sizeof result->case_id, "probe-%llu",
             (unsigned long long)probe->sequence);
    vigil__v1__link_probe__free_unpacked(probe, NULL);
    if (rc != SQLITE_DONE) {
        result->reason = VIGIL__V1__REASON_CODE__REASON_INTERNAL;
        snprintf(result->detail, sizeof result->detail, "probes table: write failed");
        return LINK_RETRY;
    }
    return LINK_OK;
}

static const link_route_t s_routes[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_LINK_PROBE, s_on_probe, 0, NULL},
    {0, NULL, 0, NULL},
};

static int s_start(service_t *service)
{
    probe_receiver_t *self = calloc(1, sizeof *self);
    if (!self || sqlite3_prepare_v2(service_db(service), s_upsert_sql, -1, &self->upsert, NULL) !=
                     SQLITE_OK) {
        free(self);
        return SERVICE_EXIT_SOFTWARE;
    }
    service_set_context(service, self);
    return 0;
}

static void s_stop(service_t *service)
{
    probe_receiver_t *self = service_context(service);
    if (self) {
        sqlite3_finalize(self->upsert);
        free(self);
    }
    service_set_context(service, NULL);
}

static const service_def_t s_service = {
    .name = "receiver",
    .migrations = s_migrations,
    .migration_count = sizeof s_migrations / sizeof s_migrations[0],
    .routes = s_routes,
    .start = s_start,
    .stop = s_stop,
};

int main(int argc, char **argv)
{
    return service_main(&s_service, argc, argv);
}
