/* policy_replay.c: vigil-policy-replay, "what would this plugin have done?"
 *
 *     vigil-policy-replay --db TRIAGE.db --config TRIAGE.conf [--region NAME]
 *                         [--directory DB|HSDS] [--examples N] PLUGIN
 *
 * Replays the cases triage recorded through a candidate plugin and prints
 * how its decisions differ from the recorded ones: counts per field and the
 * first N differing cases by case id. It opens the database read-only
 * (SQLITE_OPEN_READONLY and PRAGMA query_only) and changes nothing; the
 * candidate runs in its own worker exactly as triage would run it, with
 * each region's settings from TRIAGE.conf, the decision clock set to the
 * recorded decision time, and the resource directory from the same
 * database unless --directory says otherwise. Open-case loads start at
 * zero and grow with the candidate's own assignments (the historical loads
 * are not recorded), so load-driven choices can differ for that reason.
 *
 * Input contract (policy_host.h): SELECT case_id, region, view, decision
 * FROM policy_replay; view is a packed vigil.v1.CaseView, decision the
 * packed vigil.v1.TriageDecision. Output carries case ids and roster ids
 * only: nothing personal is in triage's database.
 */
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy_tool_common.h"
#include "vigil/log.h"
#include "vigil/v1/case.pb-c.h"

/* Cases routed per batch. */
#define REPLAY_BATCH 256
/* Differing cases printed by default. */
#define REPLAY_EXAMPLES_DEFAULT 10
/* Bytes of one description. */
#define REPLAY_TEXT_MAX 1024

/* The fields compared, and a counter per field. */
enum {
    FIELD_ASSIGNEE,
    FIELD_ESCALATION,
    FIELD_REFERRALS,
    FIELD_ADJUSTMENT,
    FIELD_FALLBACK,
    FIELD_REVIEW,
    FIELD_COUNT,
};
static const char *const s_field_names[FIELD_COUNT] = {
    [FIELD_ASSIGNEE] = "assignee",      [FIELD_ESCALATION] = "escalation path",
    [FIELD_REFERRALS] = "referrals",    [FIELD_ADJUSTMENT] = "priority adjustment",
    [FIELD_FALLBACK] = "used fallback", [FIELD_REVIEW] = "needs human review",
};

typedef struct {
    size_t total, same, differ, failed, unreadable;
    size_t fields[FIELD_COUNT];
    size_t examples_shown;
    size_t examples_max;
} replay_totals_t;

/* One recorded row, unpacked. */
typedef struct {
    Vigil__V1__CaseView *view;
    Vigil__V1__TriageDecision *recorded;
    char region[VIGIL_PLUGIN_ID_MAX + 1];
} replay_row_t;

static void s_usage(FILE *out)
{
    fprintf(out, "usage: vigil-policy-replay --db TRIAGE.db --config TRIAGE.conf [--region NAME]\n"
                 "                           [--directory DB|HSDS] [--examples N] PLUGIN\n"
                 "Replays triage's recorded cases through PLUGIN (read-only) and prints how its\n"
                 "decisions differ from the recorded ones. See docs/plugins.md.\n");
}

static bool s_same_referrals(const policy_decision_t *d, const Vigil__V1__RoutingDecision *r)
{
    if (!r || r->n_referrals != d->referral_count) {
        return r ? false : d->referral_count == 0;
    }
    for (size_t i = 0; i < r->n_referrals; i++) {
        bool found = false;
        for (uint32_t k = 0; k < d->referral_count && !found; k++) {
            found = strcmp(d->referrals[k].service_id, r->referrals[i]->service_id) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

static const char *s_text(const char *text)
{
    return text ? text : "";
}

/* Fills a policy_decision_t from what was recorded, for describing it. */
static void s_recorded(const Vigil__V1__TriageDecision *t, policy_decision_t *out)
{
    memset(out, 0, sizeof *out);
    const Vigil__V1__RoutingDecision *r = t->routing;
    if (!r) {
        return;
    }
    snprintf(out->assignee_id, sizeof out->assignee_id, "%s", s_text(r->assignee_id));
    snprintf(out->escalation_path, sizeof out->escalation_path, "%s", s_text(r->escalation_path));
    out->priority_adjustment = r->priority_adjustment;
    out->used_fallback = r->used_fallback;
    out->needs_human_review = r->needs_human_review;
    for (size_t i = 0; i < r->n_referrals && i < VIGIL_PLUGIN_REFERRALS_MAX; i++) {
        snprintf(out->referrals[i].service_id, sizeof out->referrals[i].service_id, "%s",
                 s_text(r->referrals[i]->service_id));
        out->referral_count++;
    }
}

static void s_compare(replay_totals_t *totals, const replay_row_t *row, const policy_request_t *req)
{
    totals->total++;
    if (req->outcome == POLICY_OUTCOME_CRASHED || req->outcome == POLICY_OUTCOME_TIMED_OUT) {
        totals->failed++;
        if (totals->examples_shown++ < totals->examples_max) {
            printf("  %s (%s): candidate %s: %s\n", row->view->case_id, row->region,
                   req->outcome == POLICY_OUTCOME_CRASHED ? "CRASHED" : "TIMED OUT", req->detail);
        }
        return;
    }
    const policy_decision_t *d = &req->decision;
    const Vigil__V1__RoutingDecision *r = row->recorded->routing;
    bool diff[FIELD_COUNT] = {
        [FIELD_ASSIGNEE] = strcmp(d->assignee_id, r ? s_text(r->assignee_id) : "") != 0,
        [FIELD_ESCALATION] = strcmp(d->escalation_path, r ? s_text(r->escalation_path) : "") != 0,
        [FIELD_REFERRALS] = !s_same_referrals(d, r),
        [FIELD_ADJUSTMENT] = d->priority_adjustment != (r ? r->priority_adjustment : 0),
        [FIELD_FALLBACK] = d->used_fallback != (r ? r->used_fallback : false),
        [FIELD_REVIEW] = d->needs_human_review != (r ? r->needs_human_review : false),
    };
    bool any = false;
    for (int f = 0; f < FIELD_COUNT; f++) {
        if (diff[f]) {
            totals->fields[f]++;
            any = true;
        }
    }
    if (!any) {
        totals->same++;
        return;
    }
    totals->differ++;
    if (totals->examples_shown++ < totals->examples_max) {
        policy_decision_t was;
        s_recorded(row->recorded, &was);
        char before[REPLAY_TEXT_MAX], after[REPLAY_TEXT_MAX];
        tool_describe(&was, before, sizeof before);
        tool_describe(d, after, sizeof after);
        printf("  %s (%s): recorded %s [%s %s] -> candidate %s [%s %s]\n", row->view->case_id,
               row->region, before, s_text(row->recorded->plugin_name),
               s_text(row->recorded->plugin_version), after, d->plugin_name, d->plugin_version);
    }
}

static void s_free_rows(replay_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vigil__v1__case_view__free_unpacked(rows[i].view, NULL);
        vigil__v1__triage_decision__free_unpacked(rows[i].recorded, NULL);
        rows[i].view = NULL;
        rows[i].recorded = NULL;
    }
}

/* Routes the rows through the candidate and compares. */
static void s_flush(policy_host_t *host, replay_row_t *rows, policy_request_t *requests, size_t n,
                    replay_totals_t *totals)
{
    for (size_t i = 0; i < n; i++) {
        const Vigil__V1__TriageDecision *t = rows[i].recorded;
        int adjustment = t->routing ? t->routing->priority_adjustment : 0;
        memset(&requests[i], 0, sizeof requests[i]);
        requests[i].view = rows[i].view;
        requests[i].region = rows[i].region;
        /* the priority before the plugin moved it */
        requests[i].priority = (Vigil__V1__Priority)((int)t->priority - adjustment);
        requests[i].advise_emergency_services = t->advise_emergency_services;
        requests[i].escalation_level = t->escalation_level;
        requests[i].now_ms = t->decided_at_ms;
    }
    policy_route_batch(host, requests, n);
    for (size_t i = 0; i < n; i++) {
        s_compare(totals, &rows[i], &requests[i]);
    }
    s_free_rows(rows, n);
}

static bool s_configured(const policy_region_list_t *regions, const char *name)
{
    for (size_t i = 0; i < regions->count; i++) {
        if (strcmp(regions->regions[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"db", required_argument, NULL, 'b'},
        {"config", required_argument, NULL, 'c'},
        {"region", required_argument, NULL, 'r'},
        {"directory", required_argument, NULL, 'd'},
        {"examples", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db_path = NULL, *config_path = NULL, *only = NULL, *directory = NULL;
    long examples = REPLAY_EXAMPLES_DEFAULT;
    int c;
    while ((c = getopt_long(argc, argv, "b:c:r:d:n:h", options, NULL)) != -1) {
        switch (c) {
        case 'b':
            db_path = optarg;
            break;
        case 'c':
            config_path = optarg;
            break;
        case 'r':
            only = optarg;
            break;
        case 'd':
            directory = optarg;
            break;
        case 'n':
            examples = strtol(optarg, NULL, 10);
            break;
        case 'h':
            s_usage(stdout);
            return TOOL_EXIT_OK;
        default:
            s_usage(stderr);
            return TOOL_EXIT_USAGE;
        }
    }
    if (argc - optind != 1 || !db_path || !config_path || examples < 0) {
        s_usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    log_init("policy-replay", LOG_LEVEL_ERROR);
    char err[1024], dir[PATH_MAX], stem[PATH_MAX], dir_db[PATH_MAX] = "";
    if (tool_plugin_path(argv[optind], dir, sizeof dir, stem, sizeof stem, err, sizeof err) < 0) {
        fprintf(stderr, "vigil-policy-replay: %s\n", err);
        return TOOL_EXIT_USAGE;
    }
    policy_region_list_t regions = {0};
    if (tool_load_regions(config_path, &regions, err, sizeof err) < 0) {
        fprintf(stderr, "vigil-policy-replay: %s\n", err);
        return TOOL_EXIT_USAGE;
    }
    if (tool_use_plugin(&regions, stem, only) < 0) {
        fprintf(stderr, "vigil-policy-replay: %s: no region '%s'\n", config_path, only);
        policy_regions_free(&regions);
        return TOOL_EXIT_USAGE;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    policy_host_t *host = NULL;
    bool temporary = false;
    int code = TOOL_EXIT_USAGE;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT case_id, region, view, decision FROM policy_replay"
                           " WHERE ?1 IS NULL OR region = ?1 ORDER BY case_id",
                           -1, &stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "vigil-policy-replay: %s: %s\n", db_path,
                db ? sqlite3_errmsg(db) : "cannot open");
        goto done;
    }
    if (only) {
        sqlite3_bind_text(stmt, 1, only, -1, SQLITE_STATIC);
    }
    if (directory) {
        if (tool_directory(directory, dir_db, sizeof dir_db, &temporary, err, sizeof err) < 0) {
            fprintf(stderr, "vigil-policy-replay: %s\n", err);
            goto done;
        }
    } else {
        snprintf(dir_db, sizeof dir_db, "%s", db_path);
    }
    policy_host_config_t config = {
        .plugin_dir = dir,
        .directory_db = dir_db,
        .crash_limit = INT32_MAX, /* every case gets its own verdict */
        .log_level = "error",
    };
    host = policy_host_new(&config, &regions, err, sizeof err);
    if (!host) {
        fprintf(stderr, "vigil-policy-replay: %s\n", err);
        goto done;
    }
    for (size_t i = 0; i < policy_region_count(host); i++) {
        policy_region_status_t status;
        policy_region_status(host, i, &status);
        if (status.on_fallback) {
            fprintf(stderr, "vigil-policy-replay: region %s: %s\n", status.region, status.reason);
            goto done;
        }
        if (i == 0) {
            printf("candidate %s %s (%s)\n", status.plugin_name, status.plugin_version,
                   argv[optind]);
        }
    }
    replay_row_t *rows = calloc(REPLAY_BATCH, sizeof *rows);
    policy_request_t *requests = calloc(REPLAY_BATCH, sizeof *requests);
    if (!rows || !requests) {
        free(rows);
        free(requests);
        goto done;
    }
    replay_totals_t totals = {.examples_max = (size_t)examples};
    size_t n = 0, skipped_regions = 0;
    printf("differences (first %ld):\n", examples);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *region = (const char *)sqlite3_column_text(stmt, 1);
        const void *view = sqlite3_column_blob(stmt, 2);
        const void *decision = sqlite3_column_blob(stmt, 3);
        if (!region || !s_configured(&regions, region)) {
            skipped_regions++;
            continue;
        }
        replay_row_t *row = &rows[n];
        row->view = vigil__v1__case_view__unpack(NULL, (size_t)sqlite3_column_bytes(stmt, 2), view);
        row->recorded = vigil__v1__triage_decision__unpack(
            NULL, (size_t)sqlite3_column_bytes(stmt, 3), decision);
        if (!row->view || !row->recorded) {
            fprintf(stderr,
                    "vigil-policy-replay: case %s: recorded view or decision does not "
                    "unpack; skipped\n",
                    (const char *)sqlite3_column_text(stmt, 0));
            s_free_rows(row, 1);
            totals.unreadable++;
            continue;
        }
        snprintf(row->region, sizeof row->region, "%s", region);
        if (++n == REPLAY_BATCH) {
            s_flush(host, rows, requests, n, &totals);
            n = 0;
        }
    }
    s_flush(host, rows, requests, n, &totals);
    free(rows);
    free(requests);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "vigil-policy-replay: %s: %s\n", db_path, sqlite3_errmsg(db));
        goto done;
    }
    printf("%zu cases replayed: %zu same, %zu differ, %zu crashed or timed out\n", totals.total,
           totals.same, totals.differ, totals.failed);
    for (int f = 0; f < FIELD_COUNT; f++) {
        printf("  %-20s %zu differ\n", s_field_names[f], totals.fields[f]);
    }
    if (totals.unreadable || skipped_regions) {
        printf("skipped: %zu unreadable, %zu in regions not in %s\n", totals.unreadable,
               skipped_regions, config_path);
    }
    code = TOOL_EXIT_OK;
done:
    policy_host_destroy(&host);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    policy_regions_free(&regions);
    if (temporary) {
        tool_directory_remove(dir_db);
    }
    return code;
}
