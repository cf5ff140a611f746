/* decide.c: one decision pass, and the loop timer that runs passes.
 *
 * A pass is three steps around the plugin call: (1) a short transaction
 * that records a fresh attempt for every case whose previous attempt
 * failed, so the attempt is durable before the plugin sees the case; (2)
 * policy_route_batch() for the whole batch (the plugins run in the policy
 * worker; a crash or hang there costs only the case in flight); (3) one
 * transaction with every decision, case update and onward message. Metrics
 * are counted after the commit. A failed store step rolls back and the pass
 * is retried after DECIDE_RETRY_MS.
 */
#include "decide.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priority.h"
#include "vigil/log.h"
#include "vigil/util.h"

enum {
    DECIDE_SOON_MS = 1,    /* a pass after the current callback */
    DECIDE_RETRY_MS = 500, /* after a store failure */
    ERR_LEN = 256,
    STATE_LEN = 2,
    COUNTY_LEN = 5,
    ZIP3_LEN = 3,
};
#define NS_PER_S  1e9
#define NS_PER_MS 1e6
#define MS_PER_S  1e3

static const char s_select_pending_sql[] =
    "SELECT case_id, view, attempts, failures FROM cases WHERE state = 0"
    " ORDER BY stored_at_ms LIMIT ?1";
static const char s_insert_case_sql[] =
    "INSERT INTO cases (case_id, view, received_at_ms, stored_at_ms, attempts)"
    " VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT (case_id) DO NOTHING";
static const char s_add_attempt_sql[] =
    "UPDATE cases SET attempts = attempts + 1 WHERE case_id = ?1";
static const char s_add_failure_sql[] =
    "UPDATE cases SET failures = failures + 1 WHERE case_id = ?1";
static const char s_count_pending_sql[] = "SELECT count(*) FROM cases WHERE state = 0";

/* One case in a pass. */
typedef struct {
    char case_id[64];
    Vigil__V1__CaseView *view; /* unpacked; freed at the end of the pass */
    int64_t attempts, failures;
    size_t region_index;
    priority_result_t priority;
    bool location_flagged; /* a location field was malformed and ignored */
    bool exhausted;        /* failed too often: fallback without the plugin */
    bool needs_attempt;    /* the last recorded attempt was used: record another */
    size_t request;        /* index in requests[] */
    /* outcome, counted in the metrics once the pass committed */
    bool decided;
    Vigil__V1__Priority final;
    bool review;
    bool used_fallback;
    triage_fallback_reason_t reason;
    char assignee[VIGIL_PLUGIN_ID_MAX + 1];
} decide_item_t;

struct decide_t {
    triage_t *triage;
    sqlite3 *db;
    record_t *record;
    sqlite3_stmt *select_pending;
    sqlite3_stmt *insert_case;
    sqlite3_stmt *add_attempt;
    sqlite3_stmt *add_failure;
    sqlite3_stmt *count_pending;
    size_t capacity;
    decide_item_t *items;
    policy_request_t *requests;
    Vigil__V1__CaseView empty_view; /* for a stored view that no longer unpacks */
    bool scheduled;
};

decide_t *decide_new(triage_t *triage, char *err, size_t errlen)
{
    decide_t *decide = calloc(1, sizeof *decide);
    if (!decide) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    decide->triage = triage;
    decide->db = service_db(triage->service);
    decide->capacity = (size_t)triage->config->decide_batch;
    decide->items = calloc(decide->capacity, sizeof *decide->items);
    decide->requests = calloc(decide->capacity, sizeof *decide->requests);
    vigil__v1__case_view__init(&decide->empty_view);
    struct {
        const char *sql;
        sqlite3_stmt **stmt;
    } statements[] = {
        {s_select_pending_sql, &decide->select_pending}, {s_insert_case_sql, &decide->insert_case},
        {s_add_attempt_sql, &decide->add_attempt},       {s_add_failure_sql, &decide->add_failure},
        {s_count_pending_sql, &decide->count_pending},
    };
    if (!decide->items || !decide->requests) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < sizeof statements / sizeof statements[0]; i++) {
        if (sqlite3_prepare_v3(decide->db, statements[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                               statements[i].stmt, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "decide: %s", sqlite3_errmsg(decide->db));
            goto fail;
        }
    }
    decide->record = record_new(triage, decide->db, err, errlen);
    if (!decide->record) {
        goto fail;
    }
    return decide;
fail:
    decide_destroy(&decide);
    return NULL;
}

void decide_destroy(decide_t **decide_p)
{
    if (!decide_p || !*decide_p) {
        return;
    }
    decide_t *decide = *decide_p;
    sqlite3_finalize(decide->select_pending);
    sqlite3_finalize(decide->insert_case);
    sqlite3_finalize(decide->add_attempt);
    sqlite3_finalize(decide->add_failure);
    sqlite3_finalize(decide->count_pending);
    record_destroy(&decide->record);
    free(decide->items);
    free(decide->requests);
    free(decide);
    *decide_p = NULL;
}

sqlite3_stmt *decide_insert_statement(decide_t *decide)
{
    return decide->insert_case;
}

record_t *decide_record(decide_t *decide)
{
    return decide->record;
}

int decide_recover(decide_t *decide, char *err, size_t errlen)
{
    int rc = store_exec(
        decide->db, "UPDATE cases SET failures = attempts WHERE state = 0 AND attempts > failures",
        err, errlen);
    int orphans = rc == 0 ? sqlite3_changes(decide->db) : 0;
    if (orphans > 0) {
        log_warn("route attempts cut short by the last stop count as plugin failures", "cases=%d",
                 orphans);
    }
    return rc;
}

void decide_close_attempts(decide_t *decide)
{
    char err[ERR_LEN];
    if (store_exec(decide->db,
                   "UPDATE cases SET attempts = failures WHERE state = 0 AND attempts > failures",
                   err, sizeof err) < 0) {
        log_warn("could not close unused route attempts", "error=%s", err);
    }
}

/* ---- scheduling --------------------------------------------------------------- */

static int s_on_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    decide_t *decide = arg;
    decide->scheduled = false;
    decide_pass(decide, NULL);
    return 0;
}

static void s_schedule_in(decide_t *decide, size_t delay_ms)
{
    if (decide->scheduled) {
        return;
    }
    if (zloop_timer(service_loop(decide->triage->service), delay_ms, 1, s_on_timer, decide) >= 0) {
        decide->scheduled = true;
    }
}

void decide_schedule(decide_t *decide)
{
    s_schedule_in(decide, DECIDE_SOON_MS);
}

/* ---- one pass ------------------------------------------------------------------ */

static bool s_shape(const char *text, size_t len, bool digits)
{
    if (strlen(text) != len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (digits ? !isdigit(c) : !(c >= 'A' && c <= 'Z')) {
            return false;
        }
    }
    return true;
}

/* Resolves region and priority; a malformed location field is ignored and
 * flags the case. */
static void s_classify(decide_t *decide, decide_item_t *item)
{
    const Vigil__V1__CaseView *view = item->view;
    const char *state = view->state && view->state[0] ? view->state : NULL;
    const char *county = view->county_fips && view->county_fips[0] ? view->county_fips : NULL;
    const char *zip3 = view->zip3 && view->zip3[0] ? view->zip3 : NULL;
    if (state && !s_shape(state, STATE_LEN, false)) {
        state = NULL;
        item->location_flagged = true;
    }
    if (county && !s_shape(county, COUNTY_LEN, true)) {
        county = NULL;
        item->location_flagged = true;
    }
    if (zip3 && !s_shape(zip3, ZIP3_LEN, true)) {
        zip3 = NULL;
        item->location_flagged = true;
    }
    const triage_region_t *region =
        region_resolve(decide->triage->regions, state, county, zip3, NULL);
    item->region_index = (size_t)(region - decide->triage->config->regions.items);
    item->priority = priority_classify(view);
}

static size_t s_load(decide_t *decide)
{
    sqlite3_stmt *stmt = decide->select_pending;
    size_t n = 0;
    sqlite3_bind_int64(stmt, 1, (sqlite3_int64)decide->capacity);
    while (n < decide->capacity && sqlite3_step(stmt) == SQLITE_ROW) {
        decide_item_t *item = &decide->items[n++];
        memset(item, 0, sizeof *item);
        snprintf(item->case_id, sizeof item->case_id, "%s", sqlite3_column_text(stmt, 0));
        item->view = vigil__v1__case_view__unpack(NULL, (size_t)sqlite3_column_bytes(stmt, 1),
                                                  sqlite3_column_blob(stmt, 1));
        item->attempts = sqlite3_column_int64(stmt, 2);
        item->failures = sqlite3_column_int64(stmt, 3);
        if (!item->view) {
            /* cannot happen for a view this service stored; decide it anyway */
            log_error("stored case view no longer unpacks; routing by fallback", "case=%s",
                      item->case_id);
            item->view = NULL;
            item->exhausted = true;
            item->location_flagged = true;
        }
    }
    sqlite3_reset(stmt);
    return n;
}

static const Vigil__V1__CaseView *s_view(decide_t *decide, decide_item_t *item)
{
    if (item->view) {
        return item->view;
    }
    decide->empty_view.case_id = item->case_id;
    return &decide->empty_view;
}

static int s_step_case(decide_t *decide, sqlite3_stmt *stmt, const char *case_id)
{
    sqlite3_bind_text(stmt, 1, case_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    (void)decide;
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Step 1: a fresh durable attempt for every case that needs one. */
static int s_record_attempts(decide_t *decide, size_t n)
{
    size_t needed = 0;
    for (size_t i = 0; i < n; i++) {
        needed += decide->items[i].needs_attempt;
    }
    if (needed == 0) {
        return 0;
    }
    if (store_begin(decide->db) < 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (decide->items[i].needs_attempt &&
            s_step_case(decide, decide->add_attempt, decide->items[i].case_id) < 0) {
            store_rollback(decide->db);
            return -1;
        }
    }
    return store_commit(decide->db);
}

static void s_fill_request(decide_t *decide, decide_item_t *item, policy_request_t *request,
                           int64_t now)
{
    memset(request, 0, sizeof *request);
    request->view = s_view(decide, item);
    request->region = decide->triage->config->regions.items[item->region_index].policy.name;
    request->priority = item->priority.priority;
    request->advise_emergency_services = item->priority.advise_emergency_services;
    request->escalation_level = 0;
    request->now_ms = now;
}

typedef struct {
    size_t decided;
    size_t retry;
} pass_counts_t;

static void s_count(decide_t *decide, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const decide_item_t *item = &decide->items[i];
        if (!item->decided) {
            continue;
        }
        triage_region_metrics_t *m =
            triage_metrics_region(decide->triage->metrics, item->region_index);
        metric_inc(m->decisions[item->final]);
        /* the policy host counted this assignment itself when it routed */
        record_load_add(decide->record,
                        decide->triage->config->regions.items[item->region_index].policy.name,
                        item->assignee, 1, false);
        if (item->used_fallback) {
            metric_inc(m->fallbacks[item->reason]);
        }
        if (item->review) {
            metric_inc(m->needs_review);
        }
    }
}

int decide_pass(decide_t *decide, size_t *decided)
{
    triage_t *triage = decide->triage;
    sqlite3 *db = decide->db;
    if (decided) {
        *decided = 0;
    }
    if (!sqlite3_get_autocommit(db)) {
        s_schedule_in(decide, DECIDE_SOON_MS); /* someone's transaction is open: later */
        return 0;
    }
    uint64_t started = util_mono_ns();
    size_t n = s_load(decide);
    if (n == 0) {
        metric_set(triage->metrics->pending, 0);
        return 0;
    }
    int64_t max_failures = triage->config->max_plugin_failures;
    for (size_t i = 0; i < n; i++) {
        decide_item_t *item = &decide->items[i];
        if (item->view) {
            s_classify(decide, item);
        } else {
            item->region_index = (size_t)(region_resolve(triage->regions, NULL, NULL, NULL, NULL) -
                                          triage->config->regions.items);
            item->priority = (priority_result_t){.priority = PRIORITY_DEFAULT, .rule = "default"};
        }
        item->exhausted = item->exhausted || item->failures >= max_failures;
        item->needs_attempt = !item->exhausted && item->attempts <= item->failures;
    }
    int rc = -1;
    char err[ERR_LEN] = "";
    if (s_record_attempts(decide, n) < 0) {
        snprintf(err, sizeof err, "%s", sqlite3_errmsg(db));
        goto done;
    }

    /* step 2: the plugins */
    int64_t now = util_now_ms();
    size_t routed = 0;
    for (size_t i = 0; i < n; i++) {
        decide_item_t *item = &decide->items[i];
        if (!item->exhausted) {
            item->request = routed;
            s_fill_request(decide, item, &decide->requests[routed++], now);
        }
    }
    uint64_t routing_started = util_mono_ns();
    if (routed > 0) {
        policy_route_batch(triage->host, decide->requests, routed);
    }
    uint64_t routed_at = util_mono_ns();

    /* step 3: one transaction for every outcome */
    policy_request_t fallback_request;
    pass_counts_t counts = {0};
    if (store_begin(db) < 0) {
        snprintf(err, sizeof err, "%s", sqlite3_errmsg(db));
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        decide_item_t *item = &decide->items[i];
        policy_request_t *request = item->exhausted ? NULL : &decide->requests[item->request];
        triage_fallback_reason_t reason = TRIAGE_FALLBACK_PLUGIN;
        if (request && (request->outcome == POLICY_OUTCOME_CRASHED ||
                        request->outcome == POLICY_OUTCOME_TIMED_OUT)) {
            triage_region_metrics_t *m = triage_metrics_region(triage->metrics, item->region_index);
            metric_inc(request->outcome == POLICY_OUTCOME_CRASHED ? m->crashes : m->timeouts);
            log_warn("plugin failed on a case", "case=%s region=%s outcome=%s failures=%lld",
                     item->case_id, request->region,
                     request->outcome == POLICY_OUTCOME_CRASHED ? "crashed" : "timed_out",
                     (long long)item->failures + 1);
            if (s_step_case(decide, decide->add_failure, item->case_id) < 0) {
                snprintf(err, sizeof err, "%s", sqlite3_errmsg(db));
                goto rollback;
            }
            if (item->failures + 1 < max_failures) {
                counts.retry++;
                continue; /* stays pending: the next pass tries again */
            }
            item->exhausted = true;
        }
        if (item->exhausted) {
            char why[POLICY_DETAIL_MAX];
            snprintf(why, sizeof why, "the plugin crashed or hung on this case %lld times",
                     (long long)(item->failures + (request ? 1 : 0)));
            request = &fallback_request;
            s_fill_request(decide, item, request, now);
            policy_route_fallback(triage->host, request, why, true);
            reason = TRIAGE_FALLBACK_FAILURES;
            log_warn("case routed by the region's fallback after repeated plugin failures",
                     "case=%s region=%s", item->case_id, request->region);
        }
        Vigil__V1__Priority final =
            priority_adjust(item->priority.priority, request->decision.priority_adjustment);
        bool review = item->location_flagged || request->decision.needs_human_review ||
                      reason == TRIAGE_FALLBACK_FAILURES;
        record_input_t input = {
            .view = s_view(decide, item),
            .region_index = item->region_index,
            .priority = final,
            .advise_emergency_services = item->priority.advise_emergency_services ||
                                         final == VIGIL__V1__PRIORITY__PRIORITY_P1,
            .decision = &request->decision,
            .escalation_level = 0,
            .decided_at_ms = now,
            .needs_human_review = review,
            .kind = VIGIL__V1__REPORT_EVENT_KIND__REPORT_EVENT_KIND_CASE_TRIAGED,
        };
        if (record_decision(decide->record, &input, NULL, err, sizeof err) < 0) {
            goto rollback;
        }
        item->decided = true;
        item->final = final;
        item->review = review;
        item->used_fallback = request->decision.used_fallback;
        snprintf(item->assignee, sizeof item->assignee, "%s", request->decision.assignee_id);
        item->reason = reason;
        counts.decided++;
    }
    uint64_t recorded_at = util_mono_ns();
    if (store_commit(db) < 0) {
        snprintf(err, sizeof err, "commit: %s", sqlite3_errmsg(db));
        goto rollback;
    }
    uint64_t committed_at = util_mono_ns();
    service_kick_peers(triage->service);
    s_count(decide, n);
    rc = 0;
    if (decided) {
        *decided = counts.decided;
    }
    double seconds = (double)(util_mono_ns() - started) / NS_PER_S;
    metric_observe(triage->metrics->decide_seconds, seconds);
    log_debug("decision pass",
              "cases=%zu decided=%zu retry=%zu ms=%.1f load_ms=%.1f route_ms=%.1f record_ms=%.1f "
              "commit_ms=%.1f",
              n, counts.decided, counts.retry, seconds * MS_PER_S,
              (double)(routing_started - started) / NS_PER_MS,
              (double)(routed_at - routing_started) / NS_PER_MS,
              (double)(recorded_at - routed_at) / NS_PER_MS,
              (double)(committed_at - recorded_at) / NS_PER_MS);
    if (n == decide->capacity || counts.retry > 0) {
        s_schedule_in(decide, DECIDE_SOON_MS);
    } else {
        sqlite3_stmt *count = decide->count_pending;
        if (sqlite3_step(count) == SQLITE_ROW) {
            metric_set(triage->metrics->pending, (double)sqlite3_column_int64(count, 0));
        }
        sqlite3_reset(count);
    }
    goto done;
rollback:
    store_rollback(db);
done:
    if (rc < 0) {
        log_error("decision pass failed; retrying", "error=%s cases=%zu", err, n);
        s_schedule_in(decide, DECIDE_RETRY_MS);
    }
    for (size_t i = 0; i < n; i++) {
        if (decide->items[i].view) {
            vigil__v1__case_view__free_unpacked(decide->items[i].view, NULL);
            decide->items[i].view = NULL;
        }
    }
    return rc;
}
