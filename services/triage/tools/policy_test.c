/* policy_test.c: vigil-policy-test, a region plugin's test runner for CI.
 *
 *     vigil-policy-test [--region FILE] [--directory DB|HSDS] [--timeout-ms N]
 *                       [--verbose] PLUGIN CASES.jsonl
 *
 * Loads PLUGIN (a .so) the way triage does (trust checks, a worker
 * process, the ABI checks, init and self_test) for the region in FILE,
 * routes every case of CASES.jsonl and compares the decision with what the
 * line expects. Prints a pass/fail table and exits 0 when every case
 * passed, 1 when any failed, 2 when it could not run (bad arguments, a
 * plugin the loader refuses). One JSON object per line (blank lines and
 * lines starting with # are skipped):
 *
 *   {"name": "dv in Spanish goes to co-2",        optional label
 *    "case": {CaseView fields: "case_id", "language", "crime_category", ...},
 *    "region": "north",                            optional: default the first region
 *    "priority": "P2",                             optional: default triage's own rules
 *    "now": "2026-03-02T22:30:00Z" | "now_ms": 1772490600000,  optional decision clock
 *    "loads": {"co-1": 3},                         optional open-case loads (others 0)
 *    "expect": {"assignee_id": "co-2", "escalation_path": "...",
 *               "referrals": ["svc-1", "svc-2"],   service ids, any order
 *               "priority_adjustment": -1, "used_fallback": false,
 *               "needs_human_review": false, "rationale_contains": "after hours",
 *               "outcome": "ok" | "fallback" | "crashed" | "timed_out"}}
 *
 * Only the expected fields given are checked. Each case starts from its own
 * loads. Nothing here is personal data: a case is a pseudonymous CaseView.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy_tool_common.h"
#include "priority.h"
#include "vigil/log.h"
#include "vigil/pbjson.h"

/* Bytes of one failure explanation. */
#define TEST_DETAIL_MAX 512
/* Milliseconds per second. */
#define TEST_MS_PER_S 1000
/* Table column widths. */
#define TEST_CASE_WIDTH 14
#define TEST_NAME_WIDTH 40

typedef struct {
    size_t passed, failed;
} totals_t;

static const char *const s_outcomes[] = {
    [POLICY_OUTCOME_OK] = "ok",
    [POLICY_OUTCOME_FALLBACK] = "fallback",
    [POLICY_OUTCOME_CRASHED] = "crashed",
    [POLICY_OUTCOME_TIMED_OUT] = "timed_out",
};

static void s_usage(FILE *out)
{
    fprintf(out, "usage: vigil-policy-test [--region FILE] [--directory DB|HSDS] "
                 "[--timeout-ms N] [--verbose] PLUGIN CASES.jsonl\n"
                 "Runs PLUGIN against the cases in CASES.jsonl and compares its decisions with "
                 "the expected ones.\nExit 0: all passed; 1: a case failed; 2: could not run. "
                 "See docs/plugins.md.\n");
}

/* Appends "; what" to the failure detail. */
static void s_miss(char *detail, const char *what)
{
    size_t used = strlen(detail);
    if (used) {
        strncat(detail, "; ", TEST_DETAIL_MAX - used - 1);
    }
    strncat(detail, what, TEST_DETAIL_MAX - strlen(detail) - 1);
}

static void s_check_text(char *detail, const json_t *expect, const char *key, const char *got)
{
    const json_t *want = json_object_get(expect, key);
    if (want && (!json_is_string(want) || strcmp(json_string_value(want), got) != 0)) {
        char line[TEST_DETAIL_MAX];
        snprintf(line, sizeof line, "%s: expected \"%s\", got \"%s\"", key,
                 json_is_string(want) ? json_string_value(want) : "?", got);
        s_miss(detail, line);
    }
}

static void s_check_bool(char *detail, const json_t *expect, const char *key, bool got)
{
    const json_t *want = json_object_get(expect, key);
    if (want && (!json_is_boolean(want) || json_is_true(want) != got)) {
        char line[TEST_DETAIL_MAX];
        snprintf(line, sizeof line, "%s: expected %s, got %s", key,
                 json_is_true(want) ? "true" : "false", got ? "true" : "false");
        s_miss(detail, line);
    }
}

static void s_check_referrals(char *detail, const json_t *expect, const policy_decision_t *d)
{
    const json_t *want = json_object_get(expect, "referrals");
    if (!want) {
        return;
    }
    bool same = json_is_array(want) && json_array_size(want) == d->referral_count;
    for (size_t i = 0; same && i < json_array_size(want); i++) {
        const char *id = json_string_value(json_array_get(want, i));
        bool found = false;
        for (uint32_t k = 0; id && k < d->referral_count && !found; k++) {
            found = strcmp(d->referrals[k].service_id, id) == 0;
        }
        same = found;
    }
    if (!same) {
        char line[TEST_DETAIL_MAX];
        int used = snprintf(line, sizeof line, "referrals: expected %zu, got [",
                            json_is_array(want) ? json_array_size(want) : 0);
        for (uint32_t k = 0; k < d->referral_count && used > 0 && (size_t)used < sizeof line; k++) {
            used += snprintf(line + used, sizeof line - (size_t)used, "%s%s", k ? "," : "",
                             d->referrals[k].service_id);
        }
        if (used > 0 && (size_t)used < sizeof line - 1) {
            strcat(line, "]");
        }
        s_miss(detail, line);
    }
}

/* Compares one routed case with its "expect" object. */
static void s_compare(const json_t *expect, const policy_request_t *req, char *detail)
{
    detail[0] = '\0';
    const char *want_outcome = json_string_value(json_object_get(expect, "outcome"));
    const json_t *want_fallback = json_object_get(expect, "used_fallback");
    if (!want_outcome) {
        want_outcome = want_fallback && json_is_true(want_fallback) ? "fallback" : "ok";
    }
    const char *got = s_outcomes[req->outcome];
    if (strcmp(want_outcome, got) != 0) {
        char line[TEST_DETAIL_MAX];
        snprintf(line, sizeof line, "outcome: expected %s, got %s%s%s", want_outcome, got,
                 req->detail[0] ? " (" : "", req->detail[0] ? req->detail : "");
        if (req->detail[0]) {
            strncat(line, ")", sizeof line - strlen(line) - 1);
        }
        s_miss(detail, line);
    }
    if (req->outcome == POLICY_OUTCOME_CRASHED || req->outcome == POLICY_OUTCOME_TIMED_OUT) {
        return; /* no decision to compare */
    }
    const policy_decision_t *d = &req->decision;
    s_check_text(detail, expect, "assignee_id", d->assignee_id);
    s_check_text(detail, expect, "escalation_path", d->escalation_path);
    s_check_referrals(detail, expect, d);
    s_check_bool(detail, expect, "used_fallback", d->used_fallback);
    s_check_bool(detail, expect, "needs_human_review", d->needs_human_review);
    const json_t *adj = json_object_get(expect, "priority_adjustment");
    if (adj && (!json_is_integer(adj) || json_integer_value(adj) != d->priority_adjustment)) {
        char line[TEST_DETAIL_MAX];
        snprintf(line, sizeof line, "priority_adjustment: expected %lld, got %d",
                 (long long)json_integer_value(adj), (int)d->priority_adjustment);
        s_miss(detail, line);
    }
    const char *contains = json_string_value(json_object_get(expect, "rationale_contains"));
    if (contains && !strstr(d->rationale, contains)) {
        char line[TEST_DETAIL_MAX];
        snprintf(line, sizeof line, "rationale: expected to contain \"%s\", got \"%s\"", contains,
                 d->rationale);
        s_miss(detail, line);
    }
}

/* Parses "2026-03-02T22:30:00Z" (UTC only). Returns 0 or -1. */
static int s_parse_time(const char *text, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || strcmp(end, "Z") != 0) {
        return -1;
    }
    *ms = (int64_t)timegm(&tm) * TEST_MS_PER_S;
    return 0;
}

static Vigil__V1__Priority s_priority(const char *text)
{
    static const char *const names[] = {"P0", "P1", "P2", "P3", "P4"};
    for (int i = 1; i < 5; i++) {
        if (strcasecmp(text, names[i]) == 0) {
            return (Vigil__V1__Priority)i;
        }
    }
    return VIGIL__V1__PRIORITY__PRIORITY_UNSPECIFIED;
}

/* Runs one line. Returns 1 pass, 0 fail, -1 a line that cannot be used. */
static int s_run_line(policy_host_t *host, const policy_region_list_t *regions, json_t *line,
                      size_t line_no, bool verbose)
{
    char err[TEST_DETAIL_MAX];
    json_t *case_json = json_object_get(line, "case");
    const json_t *expect = json_object_get(line, "expect");
    if (!json_is_object(case_json) || (expect && !json_is_object(expect))) {
        fprintf(stderr, "line %zu: needs \"case\": {...} and an optional \"expect\": {...}\n",
                line_no);
        return -1;
    }
    Vigil__V1__CaseView *view = (Vigil__V1__CaseView *)pbjson_to_message_at(
        &vigil__v1__case_view__descriptor, case_json, "case", NULL, err, sizeof err);
    if (!view) {
        fprintf(stderr, "line %zu: %s\n", line_no, err);
        return -1;
    }
    policy_request_t req;
    memset(&req, 0, sizeof req);
    req.view = view;
    const char *region = json_string_value(json_object_get(line, "region"));
    req.region = region ? region : regions->regions[0].name;
    priority_result_t classified = priority_classify(view);
    req.priority = classified.priority;
    req.advise_emergency_services = classified.advise_emergency_services;
    const char *priority = json_string_value(json_object_get(line, "priority"));
    if (priority) {
        req.priority = s_priority(priority);
        req.advise_emergency_services = req.priority == VIGIL__V1__PRIORITY__PRIORITY_P1;
    }
    const char *now = json_string_value(json_object_get(line, "now"));
    json_t *now_ms = json_object_get(line, "now_ms");
    int rc = 0;
    if ((now && s_parse_time(now, &req.now_ms) < 0) || (now_ms && !json_is_integer(now_ms)) ||
        (priority && req.priority == VIGIL__V1__PRIORITY__PRIORITY_UNSPECIFIED)) {
        fprintf(stderr,
                "line %zu: \"now\" must look like 2026-03-02T22:30:00Z, \"now_ms\" be an "
                "integer and \"priority\" one of P1..P4\n",
                line_no);
        rc = -1;
        goto done;
    }
    if (now_ms) {
        req.now_ms = json_integer_value(now_ms);
    }
    /* Every case starts from its own loads. */
    json_t *loads = json_object_get(line, "loads");
    for (size_t i = 0; i < regions->count; i++) {
        const policy_region_t *r = &regions->regions[i];
        for (size_t k = 0; k < r->roster_count; k++) {
            json_t *load = loads ? json_object_get(loads, r->roster[k].id) : NULL;
            policy_set_load(host, r->name, r->roster[k].id,
                            json_is_integer(load) ? (uint32_t)json_integer_value(load) : 0);
        }
    }
    policy_route_batch(host, &req, 1);
    char detail[TEST_DETAIL_MAX] = "";
    if (expect) {
        s_compare(expect, &req, detail);
    }
    const char *name = json_string_value(json_object_get(line, "name"));
    printf("%-4s  %-*.*s  %-*.*s  %s\n", detail[0] ? "FAIL" : "pass", TEST_CASE_WIDTH,
           TEST_CASE_WIDTH, view->case_id, TEST_NAME_WIDTH, TEST_NAME_WIDTH, name ? name : "",
           detail);
    if (verbose) {
        char what[TEST_DETAIL_MAX];
        tool_describe(&req.decision, what, sizeof what);
        printf("      %s: %s %s \"%s\"\n", s_outcomes[req.outcome], what, req.decision.plugin_name,
               req.decision.rationale);
    }
    rc = detail[0] ? 0 : 1;
done:
    protobuf_c_message_free_unpacked(&view->base, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"region", required_argument, NULL, 'r'},
        {"directory", required_argument, NULL, 'd'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *region_file = NULL, *directory = NULL;
    int timeout_ms = 0;
    bool verbose = false;
    int c;
    while ((c = getopt_long(argc, argv, "r:d:t:vh", options, NULL)) != -1) {
        switch (c) {
        case 'r':
            region_file = optarg;
            break;
        case 'd':
            directory = optarg;
            break;
        case 't':
            timeout_ms = atoi(optarg);
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            s_usage(stdout);
            return TOOL_EXIT_OK;
        default:
            s_usage(stderr);
            return TOOL_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        s_usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    log_init("policy-test", LOG_LEVEL_ERROR);
    char err[1024], dir[PATH_MAX], stem[PATH_MAX], db[PATH_MAX] = "";
    if (tool_plugin_path(argv[optind], dir, sizeof dir, stem, sizeof stem, err, sizeof err) < 0) {
        fprintf(stderr, "vigil-policy-test: %s\n", err);
        return TOOL_EXIT_USAGE;
    }
    policy_region_list_t regions = {0};
    if (region_file) {
        if (tool_load_regions(region_file, &regions, err, sizeof err) < 0) {
            fprintf(stderr, "vigil-policy-test: %s\n", err);
            return TOOL_EXIT_USAGE;
        }
    } else {
        regions.regions = calloc(1, sizeof *regions.regions);
        regions.count = 1;
        regions.regions[0] = (policy_region_t){.name = strdup("test"), .plugin = strdup(stem)};
    }
    tool_use_plugin(&regions, stem, NULL);
    bool temporary = false;
    if (directory && tool_directory(directory, db, sizeof db, &temporary, err, sizeof err) < 0) {
        fprintf(stderr, "vigil-policy-test: %s\n", err);
        policy_regions_free(&regions);
        return TOOL_EXIT_USAGE;
    }
    policy_host_config_t config = {
        .plugin_dir = dir,
        .directory_db = db,
        .route_timeout_ms = timeout_ms,
        .crash_limit = INT32_MAX, /* every case gets its own verdict */
        .log_level = verbose ? "info" : "warn",
    };
    int code = TOOL_EXIT_USAGE;
    policy_host_t *host = policy_host_new(&config, &regions, err, sizeof err);
    if (!host) {
        fprintf(stderr, "vigil-policy-test: %s\n", err);
        goto done;
    }
    policy_region_status_t status;
    policy_region_status(host, 0, &status);
    if (status.on_fallback) {
        fprintf(stderr, "vigil-policy-test: %s\n", status.reason);
        goto done;
    }
    FILE *cases = fopen(argv[optind + 1], "r");
    if (!cases) {
        perror(argv[optind + 1]);
        goto done;
    }
    printf("plugin %s %s, region %s\n%-4s  %-*s  %-*s  %s\n", status.plugin_name,
           status.plugin_version, status.region, "", TEST_CASE_WIDTH, "CASE", TEST_NAME_WIDTH,
           "NAME", "DETAIL");
    totals_t totals = {0};
    char *text = NULL;
    size_t cap = 0;
    size_t line_no = 0;
    bool bad_input = false;
    while (getline(&text, &cap, cases) > 0) {
        line_no++;
        const char *p = text + strspn(text, " \t\r\n");
        if (!*p || *p == '#') {
            continue;
        }
        json_error_t jerr;
        json_t *line = json_loads(p, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(line)) {
            fprintf(stderr, "%s:%zu: %s\n", argv[optind + 1], line_no,
                    line ? "not a JSON object" : jerr.text);
            json_decref(line);
            bad_input = true;
            totals.failed++;
            continue;
        }
        int rc = s_run_line(host, &regions, line, line_no, verbose);
        json_decref(line);
        if (rc < 0) {
            bad_input = true;
        }
        if (rc == 1) {
            totals.passed++;
        } else {
            totals.failed++;
        }
    }
    free(text);
    fclose(cases);
    printf("%zu cases: %zu passed, %zu failed\n", totals.passed + totals.failed, totals.passed,
           totals.failed);
    code = totals.failed || bad_input ? TOOL_EXIT_FAILED : TOOL_EXIT_OK;
    if (totals.passed + totals.failed == 0) {
        fprintf(stderr, "vigil-policy-test: %s has no cases\n", argv[optind + 1]);
        code = TOOL_EXIT_FAILED;
    }
done:
    policy_host_destroy(&host);
    policy_regions_free(&regions);
    if (temporary) {
        tool_directory_remove(db);
    }
    return code;
}
