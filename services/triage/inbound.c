/* inbound.c: storing case views and applying assignment receipts.
 *
 * A case view is stored as it arrived (the packed bytes), keyed by case id:
 * a second view for the same case id is answered DUPLICATE and changes
 * nothing. A view with a malformed location is still stored (a case is
 * never dropped for a bad ZIP3): the decision stage then ignores the bad
 * field, uses the default region and flags the case for review. Reasons in
 * acks name fields, never values.
 */
#include "inbound.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "outbound.h"
#include "record.h"
#include "triage.h"
#include "vigil/log.h"
#include "vigil/util.h"
#include "vigil/v1/case.pb-c.h"

enum { CASE_ID_MAX = 63, ASSIGNEE_ID_MAX = 64 };

static bool s_id_ok(const char *id, size_t max)
{
    size_t len = id ? strlen(id) : 0;
    if (len == 0 || len > max) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!isalnum(c) && !strchr("-_.:@/", c)) {
            return false;
        }
    }
    return true;
}

static int s_reject(link_result_t *result, Vigil__V1__ReasonCode reason, const char *detail)
{
    result->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED;
    result->reason = reason;
    snprintf(result->detail, sizeof result->detail, "%s", detail);
    return LINK_REJECT;
}

static int s_retry(link_result_t *result, sqlite3 *db)
{
    log_error("triage store write failed; the sender will retry", "error=%s", sqlite3_errmsg(db));
    result->reason = VIGIL__V1__REASON_CODE__REASON_INTERNAL;
    snprintf(result->detail, sizeof result->detail, "store write failed; retry");
    return LINK_RETRY;
}

static int s_on_case_view(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope,
                          const char *peer, link_result_t *result)
{
    (void)peer;
    triage_t *triage = triage_of(ctx);
    /* Decoded by the link already, except on a dead-letter replay. */
    const Vigil__V1__CaseView *view = (const Vigil__V1__CaseView *)link_payload(envelope);
    Vigil__V1__CaseView *decoded = NULL;
    if (!view) {
        view = decoded =
            vigil__v1__case_view__unpack(NULL, envelope->payload.len, envelope->payload.data);
    }
    if (!view) {
        return s_reject(result, VIGIL__V1__REASON_CODE__REASON_MALFORMED,
                        "payload: not a vigil.v1.CaseView");
    }
    int rc = LINK_OK;
    if (!view->case_id || !view->case_id[0]) {
        rc = s_reject(result, VIGIL__V1__REASON_CODE__REASON_MISSING_FIELD,
                      "field case_id: required");
        goto done;
    }
    if (!s_id_ok(view->case_id, CASE_ID_MAX)) {
        rc = s_reject(result, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE,
                      "field case_id: 1 to 63 letters, digits or -_.:@/");
        goto done;
    }
    if (envelope->case_id && envelope->case_id[0] &&
        strcmp(envelope->case_id, view->case_id) != 0) {
        rc = s_reject(result, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE,
                      "field case_id: differs from the envelope's case_id");
        goto done;
    }
    util_copy(result->case_id, sizeof result->case_id, view->case_id);
    int64_t now = util_now_ms();
    sqlite3_stmt *stmt = decide_insert_statement(triage->decide);
    sqlite3_bind_text(stmt, 1, view->case_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 2, envelope->payload.data, (int)envelope->payload.len, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, view->received_at_ms > 0 ? view->received_at_ms : now);
    sqlite3_bind_int64(stmt, 4, now);
    int step = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (step != SQLITE_DONE) {
        rc = s_retry(result, db);
        goto done;
    }
    if (sqlite3_changes(db) == 0) {
        result->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE;
        metric_inc(triage->metrics->cases_duplicate);
    } else {
        metric_inc(triage->metrics->cases_stored);
        decide_schedule(triage->decide);
    }
    /* the last pass's decisions (their attempts committed before their
     * plugin calls) share this batch's commit; a failure there leaves this
     * case stored and the decisions to commit on their own */
    (void)decide_share_commit(triage->decide, db);
done:
    if (decoded) {
        vigil__v1__case_view__free_unpacked(decoded, NULL);
    }
    return rc;
}

static int s_on_receipt(void *ctx, sqlite3 *db, const Vigil__V1__Envelope *envelope,
                        const char *peer, link_result_t *result)
{
    (void)peer;
    triage_t *triage = triage_of(ctx);
    Vigil__V1__AssignmentReceipt *receipt =
        vigil__v1__assignment_receipt__unpack(NULL, envelope->payload.len, envelope->payload.data);
    if (!receipt) {
        return s_reject(result, VIGIL__V1__REASON_CODE__REASON_MALFORMED,
                        "payload: not a vigil.v1.AssignmentReceipt");
    }
    int rc = LINK_OK;
    sqlite3_stmt *find = NULL, *assigned = NULL, *update = NULL;
    Vigil__V1__CaseView *view = NULL;
    char *region = NULL, *old_assignee = NULL;
    if (!s_id_ok(receipt->case_id, CASE_ID_MAX)) {
        rc = s_reject(result, VIGIL__V1__REASON_CODE__REASON_MISSING_FIELD,
                      "field case_id: required, 1 to 63 letters, digits or -_.:@/");
        goto done;
    }
    if (!s_id_ok(receipt->assignee_id, ASSIGNEE_ID_MAX)) {
        rc = s_reject(result, VIGIL__V1__REASON_CODE__REASON_MISSING_FIELD,
                      "field assignee_id: required roster id");
        goto done;
    }
    snprintf(result->case_id, sizeof result->case_id, "%s", receipt->case_id);
    if (sqlite3_prepare_v2(db,
                           "SELECT state, region, priority, view, assignee_id FROM cases"
                           " WHERE case_id = ?",
                           -1, &find, NULL) != SQLITE_OK) {
        rc = s_retry(result, db);
        goto done;
    }
    sqlite3_bind_text(find, 1, receipt->case_id, -1, SQLITE_STATIC);
    if (sqlite3_step(find) != SQLITE_ROW) {
        rc = s_reject(result, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE,
                      "field case_id: no such case");
        goto done;
    }
    int state = sqlite3_column_int(find, 0);
    if (state == CASE_STATE_PENDING) {
        rc = s_reject(result, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE,
                      "field case_id: the case is not assigned yet");
        goto done;
    }
    if (state == CASE_STATE_ACKNOWLEDGED) {
        result->status = VIGIL__V1__ACK_STATUS__ACK_STATUS_DUPLICATE;
        goto done;
    }
    const unsigned char *region_text = sqlite3_column_text(find, 1);
    const unsigned char *assignee_text = sqlite3_column_text(find, 4);
    region = strdup(region_text ? (const char *)region_text : "");
    old_assignee = strdup(assignee_text ? (const char *)assignee_text : "");
    Vigil__V1__Priority priority = (Vigil__V1__Priority)sqlite3_column_int(find, 2);
    view = vigil__v1__case_view__unpack(NULL, (size_t)sqlite3_column_bytes(find, 3),
                                        sqlite3_column_blob(find, 3));
    if (!region || !old_assignee || !view) {
        rc = s_retry(result, db);
        goto done;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT 1 FROM cases c JOIN decisions d ON d.case_seq = c.seq"
                           " WHERE c.case_id = ? AND d.assignee_id = ? LIMIT 1",
                           -1, &assigned, NULL) != SQLITE_OK) {
        rc = s_retry(result, db);
        goto done;
    }
    sqlite3_bind_text(assigned, 1, receipt->case_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(assigned, 2, receipt->assignee_id, -1, SQLITE_STATIC);
    if (sqlite3_step(assigned) != SQLITE_ROW) {
        rc = s_reject(result, VIGIL__V1__REASON_CODE__REASON_INVALID_VALUE,
                      "field assignee_id: the case was never assigned to this assignee");
        goto done;
    }
    int64_t now = util_now_ms();
    int64_t at = receipt->acknowledged_at_ms > 0 && receipt->acknowledged_at_ms <= now
                     ? receipt->acknowledged_at_ms
                     : now;
    char err[256];
    if (sqlite3_prepare_v2(db,
                           "UPDATE cases SET state = ?2, acknowledged_at_ms = ?3,"
                           " acknowledged_by = ?4 WHERE case_id = ?1",
                           -1, &update, NULL) != SQLITE_OK) {
        rc = s_retry(result, db);
        goto done;
    }
    sqlite3_bind_text(update, 1, receipt->case_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(update, 2, CASE_STATE_ACKNOWLEDGED);
    sqlite3_bind_int64(update, 3, at);
    sqlite3_bind_text(update, 4, receipt->assignee_id, -1, SQLITE_STATIC);
    if (sqlite3_step(update) != SQLITE_DONE ||
        outbound_first_contact(triage, db, view, region, priority, at, err, sizeof err) < 0) {
        rc = s_retry(result, db);
        goto done;
    }
    metric_inc(triage->metrics->receipts);
    /* before the batch commits: a rolled-back batch re-delivers the receipt
     * and the load is off by one until the next start */
    record_load_add(decide_record(triage->decide), region, old_assignee, -1, true);
    log_info("case acknowledged", "case=%s", receipt->case_id);
done:
    sqlite3_finalize(find);
    sqlite3_finalize(assigned);
    sqlite3_finalize(update);
    free(region);
    free(old_assignee);
    if (view) {
        vigil__v1__case_view__free_unpacked(view, NULL);
    }
    vigil__v1__assignment_receipt__free_unpacked(receipt, NULL);
    return rc;
}

const link_route_t inbound_routes[] = {
    /* one INSERT, checked before; the shared commit keeps a savepoint of its own */
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW, s_on_case_view, LINK_ROUTE_NO_SAVEPOINT,
     NULL},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT, s_on_receipt, 0, NULL},
    {0, NULL, 0, NULL},
};
