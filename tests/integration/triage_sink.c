/* triage_sink.c: a TEST PEER standing in for notification and reporting in
 * triage's integration tests.
 *
 * This is not notification or reporting. It is a vigil service (the real
 * link server, CURVE, allowlist, store) that accepts what triage sends
 * onward -- ASSIGNMENT, TRIAGE_DECISION, REPORT_EVENT -- and records each
 * one (type, the envelope's case id, the sender's peer name and the packed
 * payload) in sink_messages, so a test can check what left triage and that
 * what went toward reporting is de-identified. It also accepts CASE_VIEW,
 * which makes it the "link and store only" baseline of bench_triage. It
 * de-duplicates nothing itself: the link's inbox does that.
 */
#include <stdio.h>

#include "vigil/link.h"
#include "vigil/service.h"
#include "vigil/util.h"

static const char s_sink_v1[] = "CREATE TABLE sink_messages (\n"
                                "    id INTEGER PRIMARY KEY,\n"
                                "    type INTEGER NOT NULL,\n"
                                "    case_id TEXT NOT NULL,\n"
                                "    source TEXT NOT NULL,\n"
                                "    peer TEXT NOT NULL,\n"
                                "    received_at_ms INTEGER NOT NULL,\n"
                                "    payload BLOB NOT NULL\n"
                                ");\n";

static const store_migration_t s_migrations[] = {
    {.version = 1, .sql = link_schema_v1},
    {.version = 2, .sql = s_sink_v1},
};

static int s_record(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope, const char *peer,
                    link_result_t *result)
{
    (void)ctx;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO sink_messages (type, case_id, source, peer,"
                                " received_at_ms, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int(stmt, 1, envelope->type);
        sqlite3_bind_text(stmt, 2, envelope->case_id ? envelope->case_id : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, envelope->source ? envelope->source : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, peer ? peer : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 5, util_now_ms());
        sqlite3_bind_blob(stmt, 6, envelope->payload.data, (int)envelope->payload.len,
                          SQLITE_STATIC);
        rc = sqlite3_step(stmt);
    }
    sqlite3_finalize(stmt);
    snprintf(result->case_id, sizeof result->case_id, "%s",
             envelope->case_id ? envelope->case_id : "");
    return rc == SQLITE_DONE ? LINK_OK : LINK_RETRY;
}

static const link_route_t s_routes[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT, s_record, LINK_ROUTE_NO_SAVEPOINT, NULL},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_TRIAGE_DECISION, s_record, LINK_ROUTE_NO_SAVEPOINT,
     NULL},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_REPORT_EVENT, s_record, LINK_ROUTE_NO_SAVEPOINT, NULL},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW, s_record, LINK_ROUTE_NO_SAVEPOINT, NULL},
    {0, NULL, 0, NULL},
};

static const service_def_t s_sink = {
    .name = "sink",
    .migrations = s_migrations,
    .migration_count = sizeof s_migrations / sizeof s_migrations[0],
    .routes = s_routes,
};

int main(int argc, char **argv)
{
    return service_main(&s_sink, argc, argv);
}
