/* escalate.c: the SLA scanner.
 *
 * One query over the partial index of decided cases by deadline, joined to
 * the decision in force (same escalation level) to learn who made it. The
 * new decision keeps the priority and region, names the escalation target
 * as assignee, and records who chose that target: the plugin (its name and
 * version, when the first decision was the plugin's and set an escalation
 * path) or the region's fallback (every later level).
 */
#include "escalate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "record.h"
#include "vigil/log.h"
#include "vigil/util.h"

enum { ERR_LEN = 256, ESCALATED_FIRST = 16 };

static const char s_due_sql[] =
    "SELECT c.case_id, c.view, c.region, c.priority, c.assignee_id, c.escalation_path,"
    " c.escalation_level, d.plugin_name, d.plugin_version, d.used_fallback, c.seq"
    " FROM cases c JOIN decisions d"
    "  ON d.case_seq = c.seq AND d.escalation_level = c.escalation_level"
    " WHERE c.state = 1 AND c.first_contact_due_ms <= ?1"
    " ORDER BY c.first_contact_due_ms LIMIT ?2";

static const char s_stall_sql[] =
    "UPDATE cases SET state = 3, needs_human_review = 1 WHERE case_id = ?1";

static int s_on_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    triage_t *triage = arg;
    if (sqlite3_get_autocommit(service_db(triage->service))) {
        escalate_scan(triage, util_now_ms(), NULL);
    }
    return 0;
}

int escalate_start(triage_t *triage)
{
    triage->escalation_timer =
        zloop_timer(service_loop(triage->service), (size_t)triage->config->escalation_scan_ms, 0,
                    s_on_timer, triage);
    return triage->escalation_timer >= 0 ? 0 : -1;
}

void escalate_stop(triage_t *triage)
{
    if (triage->escalation_timer >= 0) {
        zloop_timer_end(service_loop(triage->service), triage->escalation_timer);
        triage->escalation_timer = -1;
    }
}

static size_t s_region_index(triage_t *triage, const char *name)
{
    const triage_region_t *region = name ? triage_config_region(triage->config, name) : NULL;
    if (!region) {
        region = triage_config_region(triage->config, triage->config->default_region);
    }
    return (size_t)(region - triage->config->regions.items);
}

static void s_copy(char *out, size_t size, const unsigned char *text)
{
    snprintf(out, size, "%s", text ? (const char *)text : "");
}

/* Fills the escalated decision: to the plugin's path, else the fallback's. */
static void s_escalated_decision(triage_t *triage, const triage_region_t *region, sqlite3_stmt *row,
                                 uint32_t level, policy_decision_t *d)
{
    memset(d, 0, sizeof *d);
    /* the fallback as it runs now: a reload may have changed it */
    const policy_region_t *settings = policy_region_settings(triage->host, region->policy.name);
    if (!settings) {
        settings = &region->policy;
    }
    /* only a first decision made by a plugin carries the plugin's own path;
     * later levels carry the region's escalation target */
    const char *path = (const char *)sqlite3_column_text(row, 5);
    bool plugin_path =
        path && path[0] && sqlite3_column_int64(row, 6) == 0 && sqlite3_column_int(row, 9) == 0;
    if (plugin_path) {
        snprintf(d->assignee_id, sizeof d->assignee_id, "%s", path);
        s_copy(d->plugin_name, sizeof d->plugin_name, sqlite3_column_text(row, 7));
        s_copy(d->plugin_version, sizeof d->plugin_version, sqlite3_column_text(row, 8));
    } else {
        const char *target = settings->fallback_escalation && settings->fallback_escalation[0]
                                 ? settings->fallback_escalation
                                 : settings->fallback_assignee;
        snprintf(d->assignee_id, sizeof d->assignee_id, "%s", target ? target : "");
        snprintf(d->plugin_name, sizeof d->plugin_name, "%s", POLICY_FALLBACK_NAME);
        snprintf(d->plugin_version, sizeof d->plugin_version, "%s", VIGIL_VERSION);
        d->used_fallback = true;
    }
    /* the next escalation goes to the region's escalation target */
    snprintf(d->escalation_path, sizeof d->escalation_path, "%s",
             settings->fallback_escalation ? settings->fallback_escalation : "");
    snprintf(d->rationale, sizeof d->rationale,
             "escalated to level %u: first-contact deadline passed without a receipt (%s)", level,
             plugin_path ? "plugin's escalation path" : "region fallback");
}

typedef struct {
    char case_id[64];
    size_t region_index;
    char old_assignee[VIGIL_PLUGIN_ID_MAX + 1];
    char new_assignee[VIGIL_PLUGIN_ID_MAX + 1];
    bool stalled;
} escalated_t;

int escalate_scan(triage_t *triage, int64_t now_ms, size_t *escalated)
{
    sqlite3 *db = service_db(triage->service);
    size_t max = (size_t)triage->config->decide_batch;
    sqlite3_stmt *due = NULL, *stall = NULL;
    escalated_t *done = NULL; /* grown as rows come: most scans find none */
    size_t count = 0, capacity = 0;
    char err[ERR_LEN] = "";
    int rc = -1;
    if (escalated) {
        *escalated = 0;
    }
    if (sqlite3_prepare_v2(db, s_due_sql, -1, &due, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, s_stall_sql, -1, &stall, NULL) != SQLITE_OK) {
        snprintf(err, sizeof err, "%s", sqlite3_errmsg(db));
        goto done;
    }
    if (store_begin(db) < 0) {
        snprintf(err, sizeof err, "%s", sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_bind_int64(due, 1, now_ms);
    sqlite3_bind_int64(due, 2, (sqlite3_int64)max);
    record_t *record = decide_record(triage->decide);
    while (count < max && sqlite3_step(due) == SQLITE_ROW) {
        if (count == capacity) {
            size_t grown = capacity ? capacity * 2 : ESCALATED_FIRST;
            escalated_t *more = realloc(done, grown * sizeof *done);
            if (!more) {
                snprintf(err, sizeof err, "out of memory");
                goto rollback;
            }
            done = more;
            capacity = grown;
        }
        escalated_t *e = &done[count];
        memset(e, 0, sizeof *e);
        s_copy(e->case_id, sizeof e->case_id, sqlite3_column_text(due, 0));
        e->region_index = s_region_index(triage, (const char *)sqlite3_column_text(due, 2));
        s_copy(e->old_assignee, sizeof e->old_assignee, sqlite3_column_text(due, 4));
        const triage_region_t *region = &triage->config->regions.items[e->region_index];
        uint32_t level = (uint32_t)sqlite3_column_int64(due, 6) + 1;
        if (level > (uint32_t)triage->config->max_escalation_level) {
            sqlite3_bind_text(stall, 1, e->case_id, -1, SQLITE_STATIC);
            int step = sqlite3_step(stall);
            sqlite3_reset(stall);
            if (step != SQLITE_DONE) {
                snprintf(err, sizeof err, "%s", sqlite3_errmsg(db));
                goto rollback;
            }
            e->stalled = true;
            count++;
            log_warn("case reached the last escalation level; a person must act", "case=%s",
                     e->case_id);
            continue;
        }
        Vigil__V1__CaseView *view = vigil__v1__case_view__unpack(
            NULL, (size_t)sqlite3_column_bytes(due, 1), sqlite3_column_blob(due, 1));
        if (!view) {
            snprintf(err, sizeof err, "stored case view does not unpack");
            goto rollback;
        }
        policy_decision_t decision;
        s_escalated_decision(triage, region, due, level, &decision);
        Vigil__V1__Priority priority = (Vigil__V1__Priority)sqlite3_column_int(due, 3);
        record_input_t input = {
            .view = view,
            .case_seq = sqlite3_column_int64(due, 10),
            .region_index = e->region_index,
            .priority = priority,
            .advise_emergency_services = priority == VIGIL__V1__PRIORITY__PRIORITY_P1,
            .decision = &decision,
            .escalation_level = level,
            .decided_at_ms = now_ms,
            .needs_human_review = false,
            .kind = VIGIL__V1__REPORT_EVENT_KIND__REPORT_EVENT_KIND_CASE_ESCALATED,
        };
        int recorded = record_decision(record, &input, NULL, err, sizeof err);
        vigil__v1__case_view__free_unpacked(view, NULL);
        if (recorded < 0) {
            goto rollback;
        }
        snprintf(e->new_assignee, sizeof e->new_assignee, "%s", decision.assignee_id);
        count++;
        log_info("case escalated", "case=%s level=%u", e->case_id, level);
    }
    sqlite3_reset(due);
    if (store_commit(db) < 0) {
        snprintf(err, sizeof err, "commit: %s", sqlite3_errmsg(db));
        goto rollback;
    }
    if (count > 0) {
        service_kick_peers(triage->service);
    }
    size_t escalations = 0;
    for (size_t i = 0; i < count; i++) {
        const escalated_t *e = &done[i];
        const char *region = triage->config->regions.items[e->region_index].policy.name;
        record_load_add(record, region, e->old_assignee, -1, true);
        if (e->stalled) {
            metric_inc(triage->metrics->stalled);
            continue;
        }
        record_load_add(record, region, e->new_assignee, 1, true);
        metric_inc(triage_metrics_region(triage->metrics, e->region_index)->escalations);
        escalations++;
    }
    if (escalated) {
        *escalated = escalations;
    }
    rc = 0;
    goto done;
rollback:
    sqlite3_reset(due);
    store_rollback(db);
done:
    if (rc < 0) {
        log_error("escalation scan failed; retrying at the next scan", "error=%s", err);
    }
    sqlite3_finalize(due);
    sqlite3_finalize(stall);
    free(done);
    return rc;
}
