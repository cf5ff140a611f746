/* ledger.c: claims and looks up idempotency keys in intake_events.
 *
 * One INSERT ... ON CONFLICT DO NOTHING decides: a change means the key is
 * new; no change means it was claimed before, and one SELECT fetches what
 * it was. Runs inside the caller's transaction; never commits.
 */
#include "ledger.h"

#include <stdio.h>
#include <string.h>

int ledger_claim(intake_t *intake, const char *source, const char *event_id,
                 Vigil__V1__MessageType type, const char *case_id, int64_t now_ms,
                 char original_case[LEDGER_CASE_ID_SIZE], int *original_type, char *err,
                 size_t errlen)
{
    sqlite3_stmt *claim = intake_stmt(intake, STMT_EVENT_CLAIM);
    sqlite3_bind_text(claim, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(claim, 2, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(claim, 3, (int)type);
    sqlite3_bind_text(claim, 4, case_id ? case_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(claim, 5, now_ms);
    int rc = sqlite3_step(claim);
    sqlite3_reset(claim);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "ledger claim: %s", sqlite3_errmsg(intake->db));
        return -1;
    }
    if (sqlite3_changes(intake->db) == 1)
        return LEDGER_CLAIMED;

    sqlite3_stmt *lookup = intake_stmt(intake, STMT_EVENT_LOOKUP);
    sqlite3_bind_text(lookup, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(lookup, 2, event_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(lookup);
    if (rc != SQLITE_ROW) {
        snprintf(err, errlen, "ledger lookup: %s",
                 rc == SQLITE_DONE ? "claimed row not found" : sqlite3_errmsg(intake->db));
        sqlite3_reset(lookup);
        return -1;
    }
    *original_type = sqlite3_column_int(lookup, 0);
    const unsigned char *text = sqlite3_column_text(lookup, 1);
    snprintf(original_case, LEDGER_CASE_ID_SIZE, "%s", text ? (const char *)text : "");
    sqlite3_reset(lookup);
    return *original_type == (int)type ? LEDGER_DUPLICATE : LEDGER_OTHER_TYPE;
}
