/* intake_triage_standin.c: a minimal link receiver that stands in for
 * triage in intake's integration tests, until triage exists.
 *
 * Built with service_main like any vigil service, it listens on the link,
 * accepts MESSAGE_TYPE_CASE_VIEW only, and stores each CaseView it receives
 * (the serialized bytes and the case id) in standin_views. It never
 * de-duplicates by case id itself, so a test can tell if intake or the link
 * delivered a case twice. It holds no vault: whatever it receives must be
 * pseudonymous, which the tests check by scanning its files.
 */
#include <stdio.h>

#include "vigil/link.h"
#include "vigil/service.h"
#include "vigil/util.h"
#include "vigil/v1/case.pb-c.h"

static const char s_standin_v1[] = "CREATE TABLE standin_views (\n"
                                   "    id INTEGER PRIMARY KEY,\n"
                                   "    case_id TEXT NOT NULL,\n"
                                   "    received_at_ms INTEGER NOT NULL,\n"
                                   "    view BLOB NOT NULL\n"
                                   ");\n";

static const store_migration_t s_migrations[] = {
    {.version = 1, .sql = link_schema_v1},
    {.version = 2, .sql = s_standin_v1},
};

static int s_on_case_view(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope,
                          const char *peer, link_result_t *result)
{
    (void)ctx;
    (void)peer;
    Vigil__V1__CaseView *view =
        vigil__v1__case_view__unpack(NULL, envelope->payload.len, envelope->payload.data);
    if (!view) {
        result->reason = VIGIL__V1__REASON_CODE__REASON_MALFORMED;
        snprintf(result->detail, sizeof result->detail, "payload is not a CaseView");
        return LINK_REJECT;
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO standin_views (case_id, received_at_ms, view) "
                                "VALUES (?1, ?2, ?3)",
                                -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, view->case_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, util_now_ms());
        sqlite3_bind_blob(stmt, 3, envelope->payload.data, (int)envelope->payload.len,
                          SQLITE_STATIC);
        rc = sqlite3_step(stmt);
    }
    sqlite3_finalize(stmt);
    snprintf(result->case_id, sizeof result->case_id, "%s", view->case_id);
    vigil__v1__case_view__free_unpacked(view, NULL);
    return rc == SQLITE_DONE ? LINK_OK : LINK_RETRY;
}

static const link_route_t s_routes[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW, s_on_case_view, 0, NULL},
    {0, NULL, 0, NULL},
};

static const service_def_t s_standin = {
    .name = "triage",
    .migrations = s_migrations,
    .migration_count = sizeof s_migrations / sizeof s_migrations[0],
    .routes = s_routes,
};

int main(int argc, char **argv)
{
    return service_main(&s_standin, argc, argv);
}
