/* admin_cases.c: `vigilctl cases list`, `vigilctl case show ID --operator X`
 * and `vigilctl rotate-key`, answered by intake.
 *
 * case show is the one place decrypted personal data leaves intake outside
 * the link. Every attempt (shown, not found, failed integrity) is written
 * to intake_audit (who, from where, when, which case, outcome) and
 * committed before the reply is built; if the audit row cannot be
 * committed, nothing is shown. Error texts name the case and field, never a
 * value, and nothing here logs a value.
 */
#include "admin_cases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "case_id.h"
#include "cases.h"
#include "formats.h"
#include "intake.h"
#include "rotate.h"
#include "vigil/log.h"
#include "vigil/util.h"

enum {
    ADMIN_ERR_LEN = 512,
    OPERATOR_ID_MAX = 64,
};

#define AUDIT_ACTION_CASE_SHOW "case_show"

static int s_fail(Vigil__V1__AdminReply *reply, const char *message)
{
    if (reply->error && reply->error != protobuf_c_empty_string)
        free(reply->error);
    reply->error = strdup(message);
    reply->ok = false;
    return -1;
}

static int s_cases_list(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                        Vigil__V1__AdminReply *reply)
{
    (void)peer;
    intake_t *intake = intake_from(ctx);
    uint32_t limit = request->limit ? request->limit : (uint32_t)intake->config->cases_list_default;
    if (limit > (uint32_t)intake->config->cases_list_max)
        limit = (uint32_t)intake->config->cases_list_max;
    char err[ADMIN_ERR_LEN];
    if (cases_list(intake, limit, reply, err, sizeof err))
        return s_fail(reply, err);
    return 0;
}

static int s_audit(intake_t *intake, const char *operator_id, const char *peer, const char *case_id,
                   const char *outcome)
{
    static const char sql[] = "INSERT INTO intake_audit (at_ms, operator_id, peer, action, "
                              "case_id, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(intake->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(stmt, 1, util_now_ms());
    sqlite3_bind_text(stmt, 2, operator_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, peer ? peer : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, AUDIT_ACTION_CASE_SHOW, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, case_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, outcome, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

static const char *s_outcome(int rc)
{
    switch (rc) {
    case 0:
        return "shown";
    case CASES_NOT_FOUND:
        return "not_found";
    case CASES_INTEGRITY:
        return "integrity_failure";
    default:
        return "error";
    }
}

static int s_case_show(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                       Vigil__V1__AdminReply *reply)
{
    intake_t *intake = intake_from(ctx);
    const char *operator_id = request->operator_id ? request->operator_id : "";
    const char *case_id = request->target ? request->target : "";
    if (!*operator_id)
        return s_fail(reply, "case show requires an operator id (--operator ID); every read "
                             "of personal data is audited");
    if (!formats_is_token(operator_id) || strlen(operator_id) > OPERATOR_ID_MAX)
        return s_fail(reply, "operator id must be 1 to 64 printable characters without spaces");
    if (!case_id_is_well_formed(case_id))
        return s_fail(reply, "target is not a case id (c_ and 20 base32 characters)");

    char err[ADMIN_ERR_LEN] = "";
    if (store_begin(intake->db))
        return s_fail(reply, "cannot open a transaction for the audit record; nothing shown");
    Vigil__V1__CaseSummary *summary = NULL;
    Vigil__V1__IntakeContact *contact = NULL;
    int rc = cases_load(intake, case_id, &summary, &contact, err, sizeof err);
    if (s_audit(intake, operator_id, peer, case_id, s_outcome(rc)) || store_commit(intake->db)) {
        store_rollback(intake->db);
        if (summary)
            vigil__v1__case_summary__free_unpacked(summary, NULL);
        if (contact)
            vigil__v1__intake_contact__free_unpacked(contact, NULL);
        return s_fail(reply, "the audit record could not be committed; nothing shown");
    }
    metric_inc(intake->metrics.case_reads);
    if (rc == CASES_INTEGRITY) {
        metric_inc(intake->metrics.integrity_failures);
        log_error("stored case failed its integrity check", "case=%s operator=%s", case_id,
                  operator_id);
    }
    if (rc)
        return s_fail(reply, err);
    log_info("case shown", "case=%s operator=%s peer=%s", case_id, operator_id, peer ? peer : "");
    reply->case_summary = summary;
    reply->case_contact = contact;
    return 0;
}

static int s_rotate_key(void *ctx, const Vigil__V1__AdminRequest *request, const char *peer,
                        Vigil__V1__AdminReply *reply)
{
    (void)request;
    (void)peer;
    intake_t *intake = intake_from(ctx);
    char err[ADMIN_ERR_LEN];
    if (rotate_request(intake, reply, err, sizeof err))
        return s_fail(reply, err);
    return 0;
}

const admin_command_t intake_admin_commands[] = {
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASES_LIST, s_cases_list},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_CASE_SHOW, s_case_show},
    {VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_ROTATE_KEY, s_rotate_key},
    {0, NULL},
};
