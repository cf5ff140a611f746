/* test_plugin_replay.c: vigil-policy-replay against a recorded database.
 *
 * Builds a database with the `policy_replay` contract (policy_host.h: one
 * row per recorded decision with the packed CaseView and TriageDecision),
 * writes a triage-style config (with keys the policy host ignores), runs
 * the real vigil-policy-replay binary on a candidate plugin and checks what
 * a region's developer reads: how many cases came out the same, which
 * fields differ, examples by case id, a crash counted not fatal, and the
 * database byte for byte unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil/v1/case.pb-c.h"

#define OUTPUT_MAX 65536

static char s_dir[64];

static void s_copy(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        assert_int_equal(fwrite(buf, 1, n, out), n);
    }
    fclose(in);
    fclose(out);
    chmod(dst, 0644);
}

static char *s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *data = malloc((size_t)n + 1);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    data[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return data;
}

/* One recorded decision. */
static void s_record(sqlite3 *db, const char *case_id, const char *assignee, bool review)
{
    Vigil__V1__CaseView view;
    vigil__v1__case_view__init(&view);
    view.case_id = (char *)case_id;
    view.language = "en";
    view.state = "OR";
    view.crime_category = VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_ASSAULT;
    Vigil__V1__RoutingDecision routing;
    vigil__v1__routing_decision__init(&routing);
    routing.assignee_id = (char *)assignee;
    routing.rationale = "recorded";
    routing.needs_human_review = review;
    Vigil__V1__TriageDecision decision;
    vigil__v1__triage_decision__init(&decision);
    decision.case_id = (char *)case_id;
    decision.priority = VIGIL__V1__PRIORITY__PRIORITY_P3;
    decision.region = "north";
    decision.routing = &routing;
    decision.decided_at_ms = 1772474400000;
    decision.plugin_name = "rules";
    decision.plugin_version = "0.9.0";
    uint8_t vbuf[1024], dbuf[1024];
    size_t vlen = vigil__v1__case_view__pack(&view, vbuf);
    size_t dlen = vigil__v1__triage_decision__pack(&decision, dbuf);
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO policy_replay VALUES (?, 'north', ?, ?)",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(stmt, 1, case_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 2, vbuf, (int)vlen, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 3, dbuf, (int)dlen, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
}

static void test_replay_reports_differences_and_changes_nothing(void **state)
{
    (void)state;
    char db_path[128], conf[128], plugin[128], out_path[128], src[512];
    snprintf(db_path, sizeof db_path, "%s/triage.db", s_dir);
    snprintf(conf, sizeof conf, "%s/triage.conf", s_dir);
    snprintf(plugin, sizeof plugin, "%s/candidate.so", s_dir);
    snprintf(out_path, sizeof out_path, "%s/out.txt", s_dir);
    snprintf(src, sizeof src, "%s/good.so", PLUGIN_FIXTURE_DIR);
    s_copy(src, plugin);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE policy_replay (case_id TEXT, region TEXT,"
                                  " view BLOB, decision BLOB)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    s_record(db, "c-1", "co-1", false);     /* the candidate agrees */
    s_record(db, "c-2", "co-2", false);     /* another assignee */
    s_record(db, "c-3", "co-1", true);      /* the recorded one flagged review */
    s_record(db, "crash-4", "co-1", false); /* the candidate crashes on it */
    sqlite3_close(db);

    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "triage = { default_region = \"north\"; regions = ( {\n"
               "  name = \"north\"; plugin = \"rules\"; counties = [\"41051\"];\n"
               "  roster = ( { id = \"co-1\"; }, { id = \"co-2\"; } );\n"
               "  plugin_config = { assignee = \"co-1\"; }; } ); };\n");
    fclose(f);

    size_t before_len, after_len;
    char *before = s_slurp(db_path, &before_len);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' --db '%s' --config '%s' --examples 5 '%s' > '%s' 2>&1",
             PLUGIN_REPLAY_PATH, db_path, conf, plugin, out_path);
    int rc = system(cmd);
    size_t out_len;
    char *out = s_slurp(out_path, &out_len);
    if (rc != 0 || !strstr(out, "4 cases replayed: 1 same, 2 differ, 1 crashed or timed out")) {
        fail_msg("replay exit %d, output:\n%s", rc, out);
    }
    assert_non_null(strstr(out, "candidate fixture 1.0.0"));
    assert_non_null(strstr(out, "assignee             1 differ"));
    assert_non_null(strstr(out, "needs human review   1 differ"));
    assert_non_null(strstr(out, "c-2 (north): recorded co-2 [rules 0.9.0] -> candidate co-1 "
                                "[fixture 1.0.0]"));
    assert_non_null(strstr(out, "crash-4 (north): candidate CRASHED"));
    assert_null(strstr(out, "c-1 (north)")); /* the same decision is not an example */
    char *after = s_slurp(db_path, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    assert_int_equal(access(wal, F_OK), -1);
    free(before);
    free(after);
    free(out);
}

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/vigil-replay-XXXXXX");
    return mkdtemp(s_dir) && chmod(s_dir, 0755) == 0 ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_reports_differences_and_changes_nothing,
                                        s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
