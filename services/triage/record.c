/* record.c: the decisions row, the case update and the onward messages.
 *
 * The TriageDecision is built once and used three ways: packed into the
 * decisions row (what vigil-policy-replay compares against), sent
 * de-identified to reporting, and turned into the Assignment. Prepared
 * statements are kept for the life of the service: a decision pass records
 * thousands of these per second.
 */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <czmq.h>

#include "outbound.h"
#include "priority.h"
#include "vigil/log.h"
#include "vigil/util.h"

enum { MS_PER_S = 1000, PACK_STACK_MAX = 4096 };

struct record_t {
    triage_t *triage;
    sqlite3 *db;
    sqlite3_stmt *insert_decision;
    sqlite3_stmt *update_case;
    zhashx_t *loads; /* "region\x1fassignee" -> uint32_t open cases */
};

static const char s_insert_sql[] =
    "INSERT INTO decisions (case_id, escalation_level, decided_at_ms, region, priority,"
    " assignee_id, escalation_path, plugin_name, plugin_version, used_fallback,"
    " needs_human_review, first_contact_due_ms, decision, case_seq)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

static const char s_update_sql[] =
    "UPDATE cases SET state = ?2, region = ?3, priority = ?4, assignee_id = ?5,"
    " escalation_path = ?6, escalation_level = ?7, first_contact_due_ms = ?8,"
    " needs_human_review = needs_human_review OR ?9"
    " WHERE seq = ?1";

static void s_free_load(void **item)
{
    free(*item);
    *item = NULL;
}

record_t *record_new(triage_t *triage, sqlite3 *db, char *err, size_t errlen)
{
    record_t *record = calloc(1, sizeof *record);
    if (!record) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    record->triage = triage;
    record->db = db;
    record->loads = zhashx_new();
    if (!record->loads) {
        snprintf(err, errlen, "out of memory");
        record_destroy(&record);
        return NULL;
    }
    zhashx_set_destructor(record->loads, s_free_load);
    if (sqlite3_prepare_v3(db, s_insert_sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &record->insert_decision, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db, s_update_sql, -1, SQLITE_PREPARE_PERSISTENT, &record->update_case,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "record: %s", sqlite3_errmsg(db));
        record_destroy(&record);
        return NULL;
    }
    return record;
}

void record_destroy(record_t **record_p)
{
    if (!record_p || !*record_p) {
        return;
    }
    sqlite3_finalize((*record_p)->insert_decision);
    sqlite3_finalize((*record_p)->update_case);
    zhashx_destroy(&(*record_p)->loads);
    free(*record_p);
    *record_p = NULL;
}

static int s_step(record_t *record, sqlite3_stmt *stmt, char *err, size_t errlen)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "record: %s", sqlite3_errmsg(record->db));
        return -1;
    }
    return 0;
}

int record_decision(record_t *record, const record_input_t *input, int64_t *due_ms, char *err,
                    size_t errlen)
{
    triage_t *triage = record->triage;
    const triage_region_t *region = &triage->config->regions.items[input->region_index];
    const policy_decision_t *d = input->decision;
    bool review = input->needs_human_review || d->needs_human_review;
    Vigil__V1__Priority priority = input->priority;
    if ((int)priority < 1 || (int)priority >= TRIAGE_PRIORITY_SLOTS) {
        priority = PRIORITY_DEFAULT; /* cannot happen: classify and adjust clamp; never crash */
    }
    int64_t due = input->decided_at_ms + triage->config->sla_s[priority] * MS_PER_S;

    Vigil__V1__RoutingDecision routing;
    Vigil__V1__Referral refs[VIGIL_PLUGIN_REFERRALS_MAX];
    Vigil__V1__Referral *ref_ptrs[VIGIL_PLUGIN_REFERRALS_MAX];
    policy_decision_to_proto(d, &routing, refs, ref_ptrs);
    routing.needs_human_review = review;

    Vigil__V1__TriageDecision decision = VIGIL__V1__TRIAGE_DECISION__INIT;
    decision.case_id = input->view->case_id;
    decision.priority = priority;
    decision.advise_emergency_services = input->advise_emergency_services;
    decision.region = region->policy.name;
    decision.routing = &routing;
    decision.decided_at_ms = input->decided_at_ms;
    decision.first_contact_due_ms = due;
    decision.plugin_name = (char *)d->plugin_name;
    decision.plugin_version = (char *)d->plugin_version;
    decision.escalation_level = input->escalation_level;

    uint8_t stack[PACK_STACK_MAX];
    size_t size = vigil__v1__triage_decision__get_packed_size(&decision);
    uint8_t *packed = size <= sizeof stack ? stack : malloc(size);
    if (!packed) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    vigil__v1__triage_decision__pack(&decision, packed);

    sqlite3_stmt *ins = record->insert_decision;
    sqlite3_bind_text(ins, 1, decision.case_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 2, input->escalation_level);
    sqlite3_bind_int64(ins, 3, input->decided_at_ms);
    sqlite3_bind_text(ins, 4, decision.region, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins, 5, (int)priority);
    sqlite3_bind_text(ins, 6, d->assignee_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 7, d->escalation_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 8, d->plugin_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 9, d->plugin_version, -1, SQLITE_STATIC);
    sqlite3_bind_int(ins, 10, d->used_fallback);
    sqlite3_bind_int(ins, 11, review);
    sqlite3_bind_int64(ins, 12, due);
    sqlite3_bind_blob(ins, 13, packed, (int)size, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 14, input->case_seq);
    int rc = s_step(record, ins, err, errlen);
    sqlite3_clear_bindings(ins);
    if (packed != stack) {
        free(packed);
    }
    if (rc < 0) {
        return -1;
    }

    sqlite3_stmt *up = record->update_case;
    sqlite3_bind_int64(up, 1, input->case_seq);
    sqlite3_bind_int(up, 2, CASE_STATE_DECIDED);
    sqlite3_bind_text(up, 3, decision.region, -1, SQLITE_STATIC);
    sqlite3_bind_int(up, 4, (int)priority);
    sqlite3_bind_text(up, 5, d->assignee_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 6, d->escalation_path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(up, 7, input->escalation_level);
    sqlite3_bind_int64(up, 8, due);
    sqlite3_bind_int(up, 9, review);
    rc = s_step(record, up, err, errlen);
    sqlite3_clear_bindings(up);
    if (rc == 0 && sqlite3_changes(record->db) != 1) {
        /* never the seq itself: it counts cases (triage_schema.c) */
        snprintf(err, errlen, "record: case %s is not stored", decision.case_id);
        rc = -1;
    }
    if (rc < 0 || outbound_decision(triage, record->db, input->view, &decision, input->kind, err,
                                    errlen) < 0) {
        return -1;
    }
    if (due_ms) {
        *due_ms = due;
    }
    return 0;
}

enum { LOAD_KEY_MAX = 192 };
#define LOAD_KEY_SEPARATOR '\x1f'

void record_load_add(record_t *record, const char *region, const char *assignee, int delta,
                     bool tell_host)
{
    if (!region || !assignee || !assignee[0]) {
        return;
    }
    char key[LOAD_KEY_MAX];
    size_t used = util_copy(key, sizeof key, region);
    if (used + 1 < sizeof key) {
        key[used++] = LOAD_KEY_SEPARATOR;
        util_copy(key + used, sizeof key - used, assignee);
    }
    uint32_t *load = zhashx_lookup(record->loads, key);
    if (!load) {
        load = calloc(1, sizeof *load);
        if (!load || zhashx_insert(record->loads, key, load) != 0) {
            free(load);
            return;
        }
    }
    if (delta < 0 && (uint32_t)-delta > *load) {
        *load = 0;
    } else {
        *load = (uint32_t)((int64_t)*load + delta);
    }
    if (tell_host && record->triage->host) {
        /* an assignee outside the roster (a queue, a group) has no load to keep */
        (void)policy_set_load(record->triage->host, region, assignee, *load);
    }
}

void record_refresh_all_loads(record_t *record)
{
    sqlite3_stmt *stmt = NULL;
    zhashx_purge(record->loads);
    if (sqlite3_prepare_v2(record->db,
                           "SELECT region, assignee_id, count(*) FROM cases WHERE state = 1"
                           " GROUP BY region, assignee_id",
                           -1, &stmt, NULL) != SQLITE_OK) {
        return;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        record_load_add(record, (const char *)sqlite3_column_text(stmt, 0),
                        (const char *)sqlite3_column_text(stmt, 1), sqlite3_column_int(stmt, 2),
                        true);
    }
    sqlite3_finalize(stmt);
}
