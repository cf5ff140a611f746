/* decide.c: one decision pass, and the loop timer that runs passes.
 *
 * A pass is three steps around the plugin call: (1) a short transaction
 * that records a fresh attempt for every case whose previous attempt
 * failed, so the attempt is durable before the plugin sees the case; (2)
 * policy_route_batch() for the whole batch (the plugins run in the policy
 * worker; a crash or hang there costs only the case in flight), after which
 * every case's outcome is settled in memory (the pass is "staged"); (3) the
 * writes: every decision, case update and onward message, all at once, in
 * one transaction. With triage.decision_wait_ms > 0, step 3 rides in the
 * next link batch's transaction when one comes within that time
 * (decide_share_commit(), called by the case-view handler: one fsync for
 * both), else it commits on its own; with 0 (the default) it commits at
 * once, on its own.
 * Either way the attempts of the staged cases were durable before their
 * plugin calls, so a crash before step 3 commits counts as a plugin failure
 * at the next start exactly as before. No new pass starts while one is
 * staged, so a staged case is never loaded twice. Metrics are counted once
 * the writes are known to be committed. A failed store step rolls back
 * (only the writes, never the link batch they rode in) and is retried after
 * DECIDE_RETRY_MS.
 */
#include "decide.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priority.h"
#include "vigil/link.h"
#include "vigil/log.h"
#include "vigil/util.h"

enum {
    DECIDE_SOON_MS = 1,    /* a pass after the current callback */
    DECIDE_NO_TIMER = -1,  /* timer_id when no timer is set */
    DECIDE_RETRY_MS = 500, /* after a store failure */
    ERR_LEN = 256,
    STATE_LEN = 2,
    COUNTY_LEN = 5,
    ZIP3_LEN = 3,
};
#define NS_PER_S      1e9
#define NS_PER_MS     1e6
#define MS_PER_S      1e3
#define NS_PER_MS_INT UINT64_C(1000000)
/* The savepoint step 3 runs under inside a link batch's transaction: its
 * failure undoes the decisions only, never the cases the batch stored. */
#define SHARE_SAVEPOINT "SAVEPOINT triage_decisions"
#define SHARE_RELEASE   "RELEASE triage_decisions"
#define SHARE_ROLLBACK  "ROLLBACK TO triage_decisions"

static const char s_select_pending_sql[] =
    "SELECT case_id, view, attempts, failures, seq FROM cases WHERE state = 0"
    " ORDER BY stored_at_ms LIMIT ?1";
static const char s_insert_case_sql[] =
    "INSERT INTO cases (case_id, view, received_at_ms, stored_at_ms, attempts)"
    " VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT (case_id) DO NOTHING";
static const char s_add_attempt_sql[] = "UPDATE cases SET attempts = attempts + 1 WHERE seq = ?1";
static const char s_add_failure_sql[] = "UPDATE cases SET failures = failures + 1 WHERE seq = ?1";
static const char s_count_pending_sql[] = "SELECT count(*) FROM cases WHERE state = 0";
static const char s_probe_case_sql[] = "SELECT state, failures FROM cases WHERE case_id = ?1";

/* One case in a pass. */
typedef struct {
    char case_id[64];
    int64_t seq;               /* cases.seq */
    Vigil__V1__CaseView *view; /* unpacked; freed at the end of the pass */
    int64_t attempts, failures;
    size_t region_index;
    priority_result_t priority;
    bool location_flagged; /* a location field was malformed and ignored */
    bool exhausted;        /* failed too often: fallback without the plugin */
    bool needs_attempt;    /* the last recorded attempt was used: record another */
    size_t request;        /* index in requests[] (the fallback's, for an exhausted case) */
    /* outcome, settled after the plugin call; counted in the metrics once
     * the pass's writes committed */
    bool failed;  /* the plugin crashed or hung on it: one more failure */
    bool retry;   /* failed, not yet exhausted: stays pending for the next pass */
    bool decided; /* gets a decision */
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
    sqlite3_stmt *probe_case;
    size_t capacity;
    decide_item_t *items;
    policy_request_t *requests;
    Vigil__V1__CaseView empty_view; /* for a stored view that no longer unpacks */
    int timer_id;                   /* the one pending loop timer, or DECIDE_NO_TIMER */
    uint64_t timer_due_ns;          /* when it fires (util_mono_ns) */
    /* the staged pass: outcomes settled, writes not yet known committed */
    size_t staged;         /* cases in it (0: none staged) */
    bool written;          /* its writes went into a link batch not yet checked */
    uint64_t staged_at_ns; /* when it was staged (its writes wait until + wait_ms) */
    uint64_t pass_started_ns;
    int64_t decided_at_ms; /* the pass's clock for every decision in it */
    size_t staged_decided, staged_retry;
};

static void s_free_views(decide_t *decide);

decide_t *decide_new(triage_t *triage, char *err, size_t errlen)
{
    decide_t *decide = calloc(1, sizeof *decide);
    if (!decide) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    decide->triage = triage;
    decide->timer_id = DECIDE_NO_TIMER;
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
        {s_count_pending_sql, &decide->count_pending},   {s_probe_case_sql, &decide->probe_case},
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
    if (decide->timer_id != DECIDE_NO_TIMER) {
        zloop_timer_end(service_loop(decide->triage->service), decide->timer_id);
    }
    s_free_views(decide);
    sqlite3_finalize(decide->select_pending);
    sqlite3_finalize(decide->insert_case);
    sqlite3_finalize(decide->add_attempt);
    sqlite3_finalize(decide->add_failure);
    sqlite3_finalize(decide->count_pending);
    sqlite3_finalize(decide->probe_case);
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

static void s_tick(decide_t *decide);

static int s_on_timer(zloop_t *loop, int timer_id, void *arg)
{
    (void)loop;
    (void)timer_id;
    decide_t *decide = arg;
    decide->timer_id = DECIDE_NO_TIMER;
    s_tick(decide);
    return 0;
}

/* Makes sure a tick runs within `delay_ms`: keeps a timer that fires
 * sooner, replaces a later one. */
static void s_schedule_in(decide_t *decide, size_t delay_ms)
{
    zloop_t *loop = service_loop(decide->triage->service);
    uint64_t due = util_mono_ns() + (uint64_t)delay_ms * NS_PER_MS_INT;
    if (decide->timer_id != DECIDE_NO_TIMER) {
        if (decide->timer_due_ns <= due) {
            return;
        }
        zloop_timer_end(loop, decide->timer_id);
        decide->timer_id = DECIDE_NO_TIMER;
    }
    int id = zloop_timer(loop, delay_ms, 1, s_on_timer, decide);
    if (id >= 0) {
        decide->timer_id = id;
        decide->timer_due_ns = due;
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
        util_copy(item->case_id, sizeof item->case_id, (const char *)sqlite3_column_text(stmt, 0));
        item->view = vigil__v1__case_view__unpack(NULL, (size_t)sqlite3_column_bytes(stmt, 1),
                                                  sqlite3_column_blob(stmt, 1));
        item->attempts = sqlite3_column_int64(stmt, 2);
        item->failures = sqlite3_column_int64(stmt, 3);
        item->seq = sqlite3_column_int64(stmt, 4);
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

static void s_free_views(decide_t *decide)
{
    for (size_t i = 0; decide->items && i < decide->capacity; i++) {
        if (decide->items[i].view) {
            vigil__v1__case_view__free_unpacked(decide->items[i].view, NULL);
            decide->items[i].view = NULL;
        }
    }
}

static const Vigil__V1__CaseView *s_view(decide_t *decide, decide_item_t *item)
{
    if (item->view) {
        return item->view;
    }
    decide->empty_view.case_id = item->case_id;
    return &decide->empty_view;
}

static int s_step_case(decide_t *decide, sqlite3_stmt *stmt, int64_t seq)
{
    sqlite3_bind_int64(stmt, 1, seq);
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
            s_step_case(decide, decide->add_attempt, decide->items[i].seq) < 0) {
            store_rollback(decide->db);
            return -1;
        }
    }
    return store_commit(decide->db);
}

/* Sets a request's inputs and an empty answer field by field: with its
 * referral buffers a request is about 7 KiB, and clearing thousands of them
 * whole per pass cost more than the plugin calls (the policy host sets every
 * field of the answer it gives). */
static void s_fill_request(decide_t *decide, decide_item_t *item, policy_request_t *request,
                           int64_t now)
{
    policy_decision_t *d = &request->decision;
    d->assignee_id[0] = '\0';
    d->escalation_path[0] = '\0';
    d->rationale[0] = '\0';
    d->plugin_name[0] = '\0';
    d->plugin_version[0] = '\0';
    d->priority_adjustment = 0;
    d->used_fallback = false;
    d->needs_human_review = false;
    d->referral_count = 0;
    request->outcome = POLICY_OUTCOME_OK;
    request->detail[0] = '\0';
    request->view = s_view(decide, item);
    request->region = decide->triage->config->regions.items[item->region_index].policy.name;
    request->priority = item->priority.priority;
    request->advise_emergency_services = item->priority.advise_emergency_services;
    request->escalation_level = 0;
    request->now_ms = now;
}

/* After the plugin call: settles each case's outcome in memory (failure
 * counted, retry, fallback, final priority), so that the writes of step 3
 * depend on nothing but this and can be run again after a rollback. */
static void s_settle(decide_t *decide, size_t n)
{
    triage_t *triage = decide->triage;
    int64_t max_failures = triage->config->max_plugin_failures;
    decide->staged_decided = 0;
    decide->staged_retry = 0;
    for (size_t i = 0; i < n; i++) {
        decide_item_t *item = &decide->items[i];
        policy_request_t *request = &decide->requests[item->request];
        if (!item->exhausted && (request->outcome == POLICY_OUTCOME_CRASHED ||
                                 request->outcome == POLICY_OUTCOME_TIMED_OUT)) {
            triage_region_metrics_t *m = triage_metrics_region(triage->metrics, item->region_index);
            metric_inc(request->outcome == POLICY_OUTCOME_CRASHED ? m->crashes : m->timeouts);
            log_warn("plugin failed on a case", "case=%s region=%s outcome=%s failures=%lld",
                     item->case_id, request->region,
                     request->outcome == POLICY_OUTCOME_CRASHED ? "crashed" : "timed_out",
                     (long long)item->failures + 1);
            item->failed = true;
            if (item->failures + 1 < max_failures) {
                item->retry = true;
                decide->staged_retry++;
                continue; /* stays pending: the next pass tries again */
            }
            item->exhausted = true;
        }
        item->reason = TRIAGE_FALLBACK_PLUGIN;
        if (item->exhausted) {
            char why[POLICY_DETAIL_MAX];
            snprintf(why, sizeof why, "the plugin crashed or hung on this case %lld times",
                     (long long)(item->failures + (item->failed ? 1 : 0)));
            s_fill_request(decide, item, request, decide->decided_at_ms);
            policy_route_fallback(triage->host, request, why, true);
            item->reason = TRIAGE_FALLBACK_FAILURES;
            log_warn("case routed by the region's fallback after repeated plugin failures",
                     "case=%s region=%s", item->case_id, request->region);
        }
        item->final =
            priority_adjust(item->priority.priority, request->decision.priority_adjustment);
        item->review = item->location_flagged || request->decision.needs_human_review ||
                       item->reason == TRIAGE_FALLBACK_FAILURES;
        item->used_fallback = request->decision.used_fallback;
        util_copy(item->assignee, sizeof item->assignee, request->decision.assignee_id);
        item->decided = true;
        decide->staged_decided++;
    }
}

/* Step 3, inside the caller's open transaction: the failure counts, the
 * decisions, case updates and onward messages of the staged pass. Changes
 * nothing in memory. Returns 0, or -1 with a message in `err`. */
static int s_write_items(decide_t *decide, char *err, size_t errlen)
{
    for (size_t i = 0; i < decide->staged; i++) {
        decide_item_t *item = &decide->items[i];
        if (item->failed && s_step_case(decide, decide->add_failure, item->seq) < 0) {
            snprintf(err, errlen, "%s", sqlite3_errmsg(decide->db));
            return -1;
        }
        if (!item->decided) {
            continue;
        }
        policy_request_t *request = &decide->requests[item->request];
        record_input_t input = {
            .view = s_view(decide, item),
            .case_seq = item->seq,
            .region_index = item->region_index,
            .priority = item->final,
            .advise_emergency_services = item->priority.advise_emergency_services ||
                                         item->final == VIGIL__V1__PRIORITY__PRIORITY_P1,
            .decision = &request->decision,
            .escalation_level = 0,
            .decided_at_ms = decide->decided_at_ms,
            .needs_human_review = item->review,
            .kind = VIGIL__V1__REPORT_EVENT_KIND__REPORT_EVENT_KIND_CASE_TRIAGED,
        };
        if (record_decision(decide->record, &input, NULL, err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Writes the staged pass in the caller's open transaction (or savepoint).
 * Its outbox rows, three or so per decision, are deferred and written many
 * per statement at the end (link_outbox_defer). Returns 0, or -1 with a
 * message: the caller rolls back. */
static int s_write(decide_t *decide, char *err, size_t errlen)
{
    if (link_outbox_defer(decide->db, err, errlen) < 0) {
        return -1;
    }
    if (s_write_items(decide, err, errlen) < 0) {
        link_outbox_discard(decide->db);
        return -1;
    }
    return link_outbox_flush(decide->db, err, errlen);
}

/* Whether the staged writes that went into a link batch were committed:
 * the batch may have been rolled back after the handler returned. Reads
 * the first staged case (the writes are one unit). */
static bool s_written_durable(decide_t *decide)
{
    const decide_item_t *item = &decide->items[0];
    sqlite3_stmt *probe = decide->probe_case;
    sqlite3_bind_text(probe, 1, item->case_id, -1, SQLITE_STATIC);
    bool durable = false;
    if (sqlite3_step(probe) == SQLITE_ROW) {
        durable = item->decided ? sqlite3_column_int(probe, 0) != CASE_STATE_PENDING
                                : sqlite3_column_int64(probe, 1) > item->failures;
    }
    sqlite3_reset(probe);
    sqlite3_clear_bindings(probe);
    return durable;
}

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

/* The staged pass is committed: peers, metrics, and the next pass. */
static void s_finish(decide_t *decide, bool shared)
{
    triage_t *triage = decide->triage;
    size_t n = decide->staged;
    service_kick_peers(triage->service);
    s_count(decide, n);
    double seconds = (double)(util_mono_ns() - decide->pass_started_ns) / NS_PER_S;
    metric_observe(triage->metrics->decide_seconds, seconds);
    log_debug("decision pass committed", "cases=%zu decided=%zu retry=%zu ms=%.1f shared=%s", n,
              decide->staged_decided, decide->staged_retry, seconds * MS_PER_S,
              shared ? "true" : "false");
    bool again = n == decide->capacity || decide->staged_retry > 0;
    decide->staged = 0;
    decide->written = false;
    s_free_views(decide);
    if (again) {
        s_schedule_in(decide, DECIDE_SOON_MS);
    } else {
        sqlite3_stmt *count = decide->count_pending;
        if (sqlite3_step(count) == SQLITE_ROW) {
            metric_set(triage->metrics->pending, (double)sqlite3_column_int64(count, 0));
        }
        sqlite3_reset(count);
    }
}

/* Commits the staged writes in a transaction of their own. Returns 0, or
 * -1 after rolling back (they stay staged and are retried). */
static int s_commit_alone(decide_t *decide)
{
    char err[ERR_LEN] = "";
    if (store_begin(decide->db) < 0) {
        snprintf(err, sizeof err, "begin: %s", sqlite3_errmsg(decide->db));
    } else if (s_write(decide, err, sizeof err) < 0) {
        store_rollback(decide->db);
    } else if (store_commit(decide->db) < 0) {
        snprintf(err, sizeof err, "commit: %s", sqlite3_errmsg(decide->db));
        store_rollback(decide->db);
    } else {
        s_finish(decide, false);
        return 0;
    }
    log_error("recording decisions failed; retrying", "error=%s cases=%zu", err, decide->staged);
    s_schedule_in(decide, DECIDE_RETRY_MS);
    return -1;
}

int decide_share_commit(decide_t *decide, sqlite3 *db)
{
    if (decide->staged == 0 || decide->written || sqlite3_get_autocommit(db)) {
        return 0;
    }
    char err[ERR_LEN] = "";
    if (store_exec(db, SHARE_SAVEPOINT, err, sizeof err) < 0) {
        log_warn("decisions could not join the link batch; they commit on their own", "error=%s",
                 err);
        return -1;
    }
    if (s_write(decide, err, sizeof err) < 0) {
        char undo[ERR_LEN];
        if (store_exec(db, SHARE_ROLLBACK, undo, sizeof undo) < 0 ||
            store_exec(db, SHARE_RELEASE, undo, sizeof undo) < 0) {
            log_error("could not undo the decisions in the link batch", "error=%s", undo);
        }
        log_warn("decisions could not join the link batch; they commit on their own",
                 "error=%s cases=%zu", err, decide->staged);
        return -1;
    }
    if (store_exec(db, SHARE_RELEASE, err, sizeof err) < 0) {
        log_error("could not release the decisions' savepoint", "error=%s", err);
        return -1;
    }
    decide->written = true;
    s_schedule_in(decide, DECIDE_SOON_MS); /* check right after the batch commits */
    return 0;
}

void decide_flush(decide_t *decide)
{
    if (decide->staged == 0 || !sqlite3_get_autocommit(decide->db)) {
        return;
    }
    if (decide->written && s_written_durable(decide)) {
        s_finish(decide, true);
        return;
    }
    decide->written = false;
    (void)s_commit_alone(decide);
}

/* Steps 1 and 2 of a pass: load, attempts, plugins, outcomes settled and
 * staged. Returns the number of cases staged (0: none pending), or -1 if
 * the store failed (retried). */
static int s_stage(decide_t *decide)
{
    triage_t *triage = decide->triage;
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
    if (s_record_attempts(decide, n) < 0) {
        log_error("decision pass failed; retrying", "error=%s cases=%zu",
                  sqlite3_errmsg(decide->db), n);
        s_free_views(decide);
        s_schedule_in(decide, DECIDE_RETRY_MS);
        return -1;
    }

    /* step 2: the plugins; an exhausted case's slot comes after the routed
     * ones and gets the fallback's answer in s_settle() */
    decide->decided_at_ms = util_now_ms();
    size_t routed = 0;
    for (size_t i = 0; i < n; i++) {
        decide_item_t *item = &decide->items[i];
        if (!item->exhausted) {
            item->request = routed;
            s_fill_request(decide, item, &decide->requests[routed++], decide->decided_at_ms);
        }
    }
    size_t slot = routed;
    for (size_t i = 0; i < n; i++) {
        if (decide->items[i].exhausted) {
            decide->items[i].request = slot++;
        }
    }
    uint64_t routing_started = util_mono_ns();
    if (routed > 0) {
        policy_route_batch(triage->host, decide->requests, routed);
    }
    s_settle(decide, n);
    decide->staged = n;
    decide->written = false;
    decide->pass_started_ns = started;
    decide->staged_at_ns = util_mono_ns();
    log_debug("decision pass staged", "cases=%zu load_ms=%.1f route_ms=%.1f", n,
              (double)(routing_started - started) / NS_PER_MS,
              (double)(decide->staged_at_ns - routing_started) / NS_PER_MS);
    return (int)n;
}

/* The loop's one entry point: settles a staged pass (checks a shared
 * commit, or commits alone once the wait is over), then stages the next. */
static void s_tick(decide_t *decide)
{
    if (!sqlite3_get_autocommit(decide->db)) {
        s_schedule_in(decide, DECIDE_SOON_MS); /* someone's transaction is open: later */
        return;
    }
    if (decide->staged > 0) {
        if (decide->written) {
            if (s_written_durable(decide)) {
                s_finish(decide, true);
            } else {
                decide->written = false; /* the batch rolled back: alone, now */
                if (s_commit_alone(decide) < 0) {
                    return;
                }
            }
        } else {
            uint64_t wait_ns = (uint64_t)decide->triage->config->decision_wait_ms * NS_PER_MS_INT;
            uint64_t now = util_mono_ns();
            if (now < decide->staged_at_ns + wait_ns) {
                uint64_t left_ns = decide->staged_at_ns + wait_ns - now;
                s_schedule_in(decide, (size_t)((left_ns + NS_PER_MS_INT - 1) / NS_PER_MS_INT));
                return;
            }
            if (s_commit_alone(decide) < 0) {
                return;
            }
        }
    }
    if (decide->staged > 0) {
        return;
    }
    if (s_stage(decide) <= 0) {
        return;
    }
    if (decide->triage->config->decision_wait_ms == 0) {
        (void)s_commit_alone(decide);
    } else {
        s_schedule_in(decide, (size_t)decide->triage->config->decision_wait_ms);
    }
}
