/* test_plugin_host.c: the policy host with a real worker process.
 *
 * Each test builds a scratch plugin directory, installs real plugin files
 * (tests/integration/plugin_fixtures, the shipped example-workload), starts
 * a policy host (which starts vigil-policy-worker) and routes real
 * CaseViews. What a user of triage cares about: every case gets an outcome;
 * a plugin that segfaults, aborts or hangs costs only the case in flight,
 * never the batch or triage; a region whose plugin cannot load, or keeps
 * crashing, runs on its fallback policy and says why; a hot reload swaps in
 * a good version, refuses a bad one while the old one keeps working (even
 * across a worker restart); every decision names the plugin and version
 * that made it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy_host.h"
#include "vigil/log.h"
#include "vigil/metrics.h"

/* Deadlines short enough for a quick test, long enough for a loaded box. */
#define TEST_ROUTE_TIMEOUT_MS 500
#define TEST_INIT_TIMEOUT_MS  5000

typedef struct {
    char dir[64];
    policy_region_list_t regions;
    policy_host_t *host;
} fixture_t;

/* Copies `src` to <dir>/<stem>.so through a rename (a new inode, as
 * install(1) does). */
static void s_install(const char *dir, const char *src, const char *stem)
{
    char tmp[256], dst[256];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, stem);
    snprintf(dst, sizeof dst, "%s/%s.so", dir, stem);
    FILE *in = fopen(src, "rb"), *out = fopen(tmp, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        assert_int_equal(fwrite(buf, 1, n, out), n);
    }
    fclose(in);
    fclose(out);
    assert_int_equal(chmod(tmp, 0644), 0);
    assert_int_equal(rename(tmp, dst), 0);
}

static void s_install_fixture(fixture_t *f, const char *fixture, const char *stem)
{
    char src[512];
    snprintf(src, sizeof src, "%s/%s.so", PLUGIN_FIXTURE_DIR, fixture);
    s_install(f->dir, src, stem);
}

/* Adds a region whose roster is "co-1", "co-2" (contact officers, English,
 * co-2 on call) and whose fallback assignee is "<name>-duty". */
static policy_region_t *s_add_region(fixture_t *f, const char *name, const char *plugin,
                                     const char *plugin_config)
{
    policy_region_list_t *l = &f->regions;
    l->regions = realloc(l->regions, (l->count + 1) * sizeof *l->regions);
    policy_region_t *r = &l->regions[l->count++];
    memset(r, 0, sizeof *r);
    char duty[64];
    snprintf(duty, sizeof duty, "%s-duty", name);
    r->name = strdup(name);
    r->plugin = strdup(plugin);
    r->plugin_config = strdup(plugin_config ? plugin_config : "");
    r->fallback_assignee = strdup(duty);
    r->fallback_escalation = strdup("supervisors");
    r->roster_count = 2;
    r->roster = calloc(2, sizeof *r->roster);
    for (size_t i = 0; i < 2; i++) {
        char id[16];
        snprintf(id, sizeof id, "co-%zu", i + 1);
        r->roster[i].id = strdup(id);
        r->roster[i].role = VIGIL_ROLE_CONTACT_OFFICER;
        r->roster[i].languages = calloc(1, sizeof(char *));
        r->roster[i].languages[0] = strdup("en");
        r->roster[i].language_count = 1;
        r->roster[i].on_call = i == 1;
    }
    return r;
}

static policy_host_t *s_start(fixture_t *f, int crash_limit, metrics_t *metrics, char *err,
                              size_t errlen)
{
    policy_host_config_t config = {
        .plugin_dir = f->dir,
        .worker_path = PLUGIN_WORKER_PATH,
        .route_timeout_ms = TEST_ROUTE_TIMEOUT_MS,
        .init_timeout_ms = TEST_INIT_TIMEOUT_MS,
        .crash_limit = crash_limit,
        .metrics = metrics,
        .log_level = "error",
    };
    f->host = policy_host_new(&config, &f->regions, err, errlen);
    return f->host;
}

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/vigil-host-XXXXXX");
    if (!mkdtemp(f->dir) || chmod(f->dir, 0755) < 0) {
        return -1;
    }
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    policy_host_destroy(&f->host);
    policy_regions_free(&f->regions);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* A case view; strings must outlive the request. */
static void s_view(Vigil__V1__CaseView *v, const char *case_id, bool share)
{
    vigil__v1__case_view__init(v);
    v->case_id = (char *)case_id;
    v->language = "en";
    v->state = "OR";
    v->county_fips = "41051";
    v->zip3 = "972";
    v->crime_category = VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_ASSAULT;
    v->share_with_partners = share;
}

/* Routes `n` cases with the given ids, all in `region`. */
static void s_route(fixture_t *f, const char *region, const char *const *ids, size_t n,
                    Vigil__V1__CaseView *views, policy_request_t *reqs)
{
    for (size_t i = 0; i < n; i++) {
        s_view(&views[i], ids[i], true);
        memset(&reqs[i], 0, sizeof reqs[i]);
        reqs[i].view = &views[i];
        reqs[i].region = region;
        reqs[i].priority = VIGIL__V1__PRIORITY__PRIORITY_P3;
    }
    assert_int_equal(policy_route_batch(f->host, reqs, n), 0);
}

static void test_routes_and_stamps_plugin_version(void **state)
{
    fixture_t *f = *state;
    s_install_fixture(f, "good", "fixture");
    s_add_region(f, "north", "fixture", "assignee = \"co-2\"; refer = \"svc-9\";");
    char err[512] = "";
    assert_non_null(s_start(f, 0, NULL, err, sizeof err));
    static const char *const ids[] = {"c-1", "c-2"};
    Vigil__V1__CaseView views[2];
    policy_request_t reqs[2];
    s_route(f, "north", ids, 2, views, reqs);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(reqs[i].outcome, POLICY_OUTCOME_OK);
        assert_string_equal(reqs[i].decision.assignee_id, "co-2");
        assert_string_equal(reqs[i].decision.plugin_name, "fixture");
        assert_string_equal(reqs[i].decision.plugin_version, "1.0.0");
        assert_false(reqs[i].decision.used_fallback);
        assert_int_equal(reqs[i].decision.referral_count, 1);
        assert_string_equal(reqs[i].decision.referrals[0].service_id, "svc-9");
    }
    /* Without consent to share, the host drops the plugin's referral. */
    s_view(&views[0], "c-3", false);
    reqs[0].view = &views[0];
    assert_int_equal(policy_route_batch(f->host, reqs, 1), 0);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_OK);
    assert_int_equal(reqs[0].decision.referral_count, 0);
}

static void test_crash_is_isolated_to_its_case(void **state)
{
    fixture_t *f = *state;
    s_install_fixture(f, "good", "fixture");
    s_add_region(f, "north", "fixture", NULL);
    char err[512] = "";
    assert_non_null(s_start(f, 0, NULL, err, sizeof err));
    int first_pid = policy_worker_pid(f->host);
    assert_true(first_pid > 0);
    static const char *const ids[] = {"c-1", "crash-2", "c-3", "abort-4", "c-5"};
    Vigil__V1__CaseView views[5];
    policy_request_t reqs[5];
    s_route(f, "north", ids, 5, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_OK);
    assert_int_equal(reqs[1].outcome, POLICY_OUTCOME_CRASHED);
    assert_non_null(strstr(reqs[1].detail, "signal 11"));
    assert_int_equal(reqs[2].outcome, POLICY_OUTCOME_OK);
    assert_int_equal(reqs[3].outcome, POLICY_OUTCOME_CRASHED);
    assert_non_null(strstr(reqs[3].detail, "signal 6"));
    assert_int_equal(reqs[4].outcome, POLICY_OUTCOME_OK);
    assert_string_equal(reqs[4].decision.assignee_id, "co-1");
    /* A new worker serves on; the crashed one is gone and reaped. */
    int pid = policy_worker_pid(f->host);
    assert_true(pid > 0 && pid != first_pid);
    assert_int_equal(kill(first_pid, 0), -1);
    policy_region_status_t status;
    assert_int_equal(policy_region_status(f->host, 0, &status), 0);
    assert_int_equal(status.crashes, 2);
    assert_false(status.on_fallback); /* 2 crashes: below the default limit of 3 */
}

static void test_hang_is_bounded(void **state)
{
    fixture_t *f = *state;
    s_install_fixture(f, "good", "fixture");
    s_add_region(f, "north", "fixture", NULL);
    char err[512] = "";
    assert_non_null(s_start(f, 0, NULL, err, sizeof err));
    static const char *const ids[] = {"hang-1", "c-2"};
    Vigil__V1__CaseView views[2];
    policy_request_t reqs[2];
    s_route(f, "north", ids, 2, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_TIMED_OUT);
    assert_non_null(strstr(reqs[0].detail, "took longer than 500 ms"));
    assert_int_equal(reqs[1].outcome, POLICY_OUTCOME_OK);
}

static void s_fact(void *ctx, const char *key, const char *value)
{
    char *out = ctx;
    size_t used = strlen(out);
    snprintf(out + used, 2048 - used, "%s: %s\n", key, value);
}

static void test_repeated_crashes_quarantine_region_until_reload(void **state)
{
    fixture_t *f = *state;
    s_install_fixture(f, "good", "fixture");
    s_add_region(f, "north", "fixture", NULL);
    s_add_region(f, "south", "fixture", NULL);
    char err[512] = "";
    assert_non_null(s_start(f, 2, NULL, err, sizeof err));
    static const char *const ids[] = {"crash-a", "crash-b", "c-c"};
    Vigil__V1__CaseView views[3];
    policy_request_t reqs[3];
    s_route(f, "north", ids, 3, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_CRASHED);
    assert_int_equal(reqs[1].outcome, POLICY_OUTCOME_CRASHED);
    assert_int_equal(reqs[2].outcome, POLICY_OUTCOME_FALLBACK);
    assert_true(reqs[2].decision.used_fallback);
    assert_string_equal(reqs[2].decision.assignee_id, "north-duty");
    assert_string_equal(reqs[2].decision.plugin_name, POLICY_FALLBACK_NAME);
    assert_non_null(strstr(reqs[2].detail, "quarantined"));
    char facts[2048] = "";
    policy_host_facts(f->host, s_fact, facts);
    assert_non_null(strstr(facts, "plugin.north: FALLBACK: quarantined"));
    assert_non_null(strstr(facts, "plugin.south: fixture 1.0.0"));
    /* The other region is untouched. */
    static const char *const south[] = {"c-s"};
    s_route(f, "south", south, 1, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_OK);
    /* A reload puts the region back on its plugin. */
    char report[1024];
    assert_int_equal(policy_reload(f->host, NULL, report, sizeof report, NULL, 0), 0);
    assert_non_null(strstr(report, "north: fallback -> fixture 1.0.0"));
    static const char *const again[] = {"c-d"};
    s_route(f, "north", again, 1, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_OK);
}

static void test_init_failure_runs_region_on_fallback(void **state)
{
    fixture_t *f = *state;
    s_install_fixture(f, "init_fails", "broken");
    s_install_fixture(f, "good", "fixture");
    s_add_region(f, "north", "broken", NULL);
    s_add_region(f, "south", "fixture", NULL);
    metrics_t *metrics = metrics_new("triage");
    char err[512] = "";
    assert_non_null(s_start(f, 0, metrics, err, sizeof err));
    policy_region_status_t status;
    assert_int_equal(policy_region_status(f->host, 0, &status), 0);
    assert_true(status.on_fallback);
    assert_non_null(strstr(status.reason, "broken.so"));
    assert_non_null(strstr(status.reason, "init failed"));
    assert_non_null(strstr(status.reason, "fixture init fails on purpose"));
    char *text = metrics_render(metrics);
    assert_non_null(text);
    assert_non_null(strstr(text, "vigil_policy_region_on_fallback{"));
    const char *north = strstr(text, "region=\"north\"} 1");
    const char *south = strstr(text, "region=\"south\"} 0");
    free(text);
    assert_non_null(north);
    assert_non_null(south);
    static const char *const ids[] = {"c-1"};
    Vigil__V1__CaseView views[1];
    policy_request_t reqs[1];
    s_route(f, "north", ids, 1, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_FALLBACK);
    assert_string_equal(reqs[0].decision.assignee_id, "north-duty");
    assert_string_equal(reqs[0].decision.escalation_path, "supervisors");
    s_route(f, "south", ids, 1, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_OK);
    policy_host_destroy(&f->host);
    metrics_destroy(&metrics);
}

static void test_refused_files_put_region_on_fallback(void **state)
{
    fixture_t *f = *state;
    struct {
        const char *fixture, *stem, *reason;
    } cases[] = {
        {"bad_magic", "magic", "bad magic number"},
        {"no_entry", "noentry", "no exported vigil_plugin_descriptor"},
        {"newer_minor", "minor", "newer than this vigil's"},
        {"self_test_fails", "selftest", "self_test failed"},
        {"init_crash", "initcrash", "killed by signal 11"},
        {"good", "open", "writable by others"},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        s_install_fixture(f, cases[i].fixture, cases[i].stem);
        s_add_region(f, cases[i].stem, cases[i].stem, NULL);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/open.so", f->dir);
    assert_int_equal(chmod(path, 0666), 0);
    s_install_fixture(f, "good", "fixture");
    s_add_region(f, "ok", "fixture", NULL);
    s_add_region(f, "missing", "absent", NULL);
    char err[512] = "";
    assert_non_null(s_start(f, 0, NULL, err, sizeof err));
    for (size_t i = 0; i < n; i++) {
        policy_region_status_t status;
        assert_int_equal(policy_region_status(f->host, i, &status), 0);
        char file[256];
        snprintf(file, sizeof file, "%s/%s.so", f->dir, cases[i].stem);
        if (!status.on_fallback || !strstr(status.reason, file) ||
            !strstr(status.reason, cases[i].reason)) {
            fail_msg("%s: expected fallback naming %s and \"%s\", got \"%s\"", cases[i].stem, file,
                     cases[i].reason, status.reason);
        }
    }
    policy_region_status_t ok, missing;
    policy_region_status(f->host, n, &ok);
    policy_region_status(f->host, n + 1, &missing);
    assert_false(ok.on_fallback);
    assert_true(missing.on_fallback);
    assert_non_null(strstr(missing.reason, "no such plugin file"));
    static const char *const ids[] = {"c-1"};
    Vigil__V1__CaseView views[1];
    policy_request_t reqs[1];
    s_route(f, "ok", ids, 1, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_OK);
}

static void test_reload_swaps_refuses_bad_and_survives_restart(void **state)
{
    fixture_t *f = *state;
    s_install_fixture(f, "good", "fixture");
    s_add_region(f, "north", "fixture", NULL);
    char err[512] = "";
    assert_non_null(s_start(f, 0, NULL, err, sizeof err));
    static const char *const ids[] = {"c-1"};
    Vigil__V1__CaseView views[1];
    policy_request_t reqs[1];
    s_route(f, "north", ids, 1, views, reqs);
    assert_string_equal(reqs[0].decision.plugin_version, "1.0.0");

    s_install_fixture(f, "good_v2", "fixture");
    char report[1024];
    assert_int_equal(policy_reload(f->host, NULL, report, sizeof report, NULL, 0), 0);
    assert_non_null(strstr(report, "north: fixture 1.0.0 -> fixture 2.0.0"));
    s_route(f, "north", ids, 1, views, reqs);
    assert_string_equal(reqs[0].decision.plugin_version, "2.0.0");

    /* A bad new version: refused, the running one stays. */
    s_install_fixture(f, "init_fails", "fixture");
    char refusal[512];
    assert_int_equal(policy_reload(f->host, NULL, report, sizeof report, refusal, sizeof refusal),
                     -1);
    assert_non_null(strstr(report, "north: kept fixture 2.0.0"));
    assert_non_null(strstr(report, "init failed"));
    /* what vigilctl reload prints: the refused region's own line */
    assert_non_null(strstr(refusal, "north: kept fixture 2.0.0"));
    assert_non_null(strstr(refusal, "init failed"));
    s_route(f, "north", ids, 1, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_OK);
    assert_string_equal(reqs[0].decision.plugin_version, "2.0.0");

    /* The worker dies; the restarted one still runs the accepted 2.0.0,
     * not the bad file now at the same path. */
    int pid = policy_worker_pid(f->host);
    assert_int_equal(kill(pid, SIGKILL), 0);
    s_route(f, "north", ids, 1, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_OK);
    assert_string_equal(reqs[0].decision.plugin_version, "2.0.0");
    assert_true(policy_worker_pid(f->host) != pid);

    /* Only a config change: the same code gets the new settings. */
    policy_region_list_t changed;
    assert_int_equal(policy_region_list_copy(&f->regions, &changed), 0);
    s_install_fixture(f, "good_v2", "fixture");
    free(changed.regions[0].plugin_config);
    changed.regions[0].plugin_config = strdup("assignee = \"co-2\";");
    assert_int_equal(policy_reload(f->host, &changed, report, sizeof report, NULL, 0), 0);
    policy_regions_free(&changed);
    s_route(f, "north", ids, 1, views, reqs);
    assert_string_equal(reqs[0].decision.assignee_id, "co-2");
}

static void test_decline_and_no_assignee_use_fallback(void **state)
{
    fixture_t *f = *state;
    s_install_fixture(f, "good", "fixture");
    s_add_region(f, "north", "fixture", NULL);
    char err[512] = "";
    assert_non_null(s_start(f, 0, NULL, err, sizeof err));
    static const char *const ids[] = {"decline-1", "noassignee-2"};
    Vigil__V1__CaseView views[2];
    policy_request_t reqs[2];
    s_route(f, "north", ids, 2, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_FALLBACK);
    assert_non_null(strstr(reqs[0].detail, "declined the case"));
    assert_int_equal(reqs[1].outcome, POLICY_OUTCOME_FALLBACK);
    assert_non_null(strstr(reqs[1].detail, "set no assignee"));
    assert_string_equal(reqs[1].decision.assignee_id, "north-duty");
    /* Unknown region: a fallback decision flagged for a person. */
    s_route(f, "atlantis", ids, 1, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_FALLBACK);
    assert_true(reqs[0].decision.needs_human_review);
}

static void test_least_loaded_sees_its_own_assignments(void **state)
{
    fixture_t *f = *state;
    char src[512];
    snprintf(src, sizeof src, "%s/example-workload.so", PLUGIN_SHIPPED_DIR);
    s_install(f->dir, src, "example-workload");
    s_add_region(f, "north", "example-workload", NULL);
    char err[512] = "";
    assert_non_null(s_start(f, 0, NULL, err, sizeof err));
    assert_int_equal(policy_set_load(f->host, "north", "co-2", 2), 0);
    assert_int_equal(policy_set_load(f->host, "north", "nobody", 1), -1);
    static const char *const ids[] = {"c-1", "c-2", "c-3"};
    Vigil__V1__CaseView views[3];
    policy_request_t reqs[3];
    s_route(f, "north", ids, 3, views, reqs);
    /* co-2 starts with 2 open cases; each assignment counts within the
     * batch: co-1 (1), co-1 (2), then the tie goes to the first: co-1 (3). */
    assert_string_equal(reqs[0].decision.assignee_id, "co-1");
    assert_string_equal(reqs[1].decision.assignee_id, "co-1");
    assert_string_equal(reqs[2].decision.assignee_id, "co-1");
    /* A new worker gets the loads the host mirrored (co-1 3, co-2 2), not
     * the last ones set (co-1 0): co-2 is now the least loaded. */
    assert_int_equal(kill(policy_worker_pid(f->host), SIGKILL), 0);
    s_route(f, "north", ids, 1, views, reqs);
    assert_int_equal(reqs[0].outcome, POLICY_OUTCOME_OK);
    assert_string_equal(reqs[0].decision.assignee_id, "co-2");
}

static void test_region_bound_to_no_plugin_is_refused(void **state)
{
    fixture_t *f = *state;
    policy_region_t *r = s_add_region(f, "north", "x", NULL);
    free(r->plugin);
    r->plugin = strdup("");
    char err[512] = "";
    assert_null(s_start(f, 0, NULL, err, sizeof err));
    assert_non_null(strstr(err, "region 'north' is bound to no plugin"));
}

int main(void)
{
    log_init("test", LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routes_and_stamps_plugin_version, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_crash_is_isolated_to_its_case, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hang_is_bounded, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_repeated_crashes_quarantine_region_until_reload,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_init_failure_runs_region_on_fallback, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_refused_files_put_region_on_fallback, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_reload_swaps_refuses_bad_and_survives_restart, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_decline_and_no_assignee_use_fallback, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_least_loaded_sees_its_own_assignments, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_region_bound_to_no_plugin_is_refused, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
