/* triage_reload_test.c: plugins are hot-reloaded in the middle of a stream
 * of 5,000 cases, and every decision names the version that made it.
 *
 * The region starts on test plugin 1.0.0. While cases keep arriving over
 * the link: `reload-plugins` (the admin command vigilctl sends) swaps in
 * 2.0.0; then a broken build (its init fails) is deployed and reloaded: the
 * reload is refused and 2.0.0 keeps serving; then SIGHUP swaps in 3.0.0.
 * Each plugin writes its own version into the rationale, so the test can
 * tell which code really decided. Checked in triage's store:
 *   - 5,000 cases, 5,000 decisions, nothing pending, nothing by fallback;
 *   - cases sent before the first swap were decided by 1.0.0, cases sent
 *     between the swaps by 2.0.0 (including after the refused one), the
 *     rest by 3.0.0; the broken version decided nothing;
 *   - for every decision the stored TriageDecision, the decisions row and
 *     the plugin's own rationale agree on the version;
 *   - every Assignment reached notification.
 * Usage: triage_reload_test VIGIL_TRIAGE SINK TEST_PLUGIN_DIR
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_kit.h"
#include "vigil/v1/case.pb-c.h"

enum {
    CASES = 5000,
    CHUNK = 250,
    CHUNKS = CASES / CHUNK,
    SWAP_TO_V2 = 5,  /* before chunk 5 */
    DEPLOY_BAD = 10, /* before chunk 10 */
    SWAP_TO_V3 = 15, /* before chunk 15, by SIGHUP */
    SEND_MS = 60000,
    DECIDE_MS = 120000,
    RELOAD_MS = 30000,
};

static const char s_regions[] =
    "default_region = \"west\";\n"
    "regions = (\n"
    "  { name = \"west\"; plugin = \"testplug\"; states = [\"OR\", \"WA\"];\n"
    "    plugin_config = { escalation = \"west-sup\"; };\n"
    "    fallback = { assignee = \"west-desk\"; escalation = \"west-sup\"; };\n"
    "    roster = ( { id = \"west-co-1\"; role = \"contact_officer\"; languages = [\"en\"]; } ); "
    "}\n"
    ");\n";

static const char *s_expected_version(int chunk)
{
    return chunk < SWAP_TO_V2 ? "1.0.0" : chunk < SWAP_TO_V3 ? "2.0.0" : "3.0.0";
}

static int s_install(triage_kit_t *kit, const char *dir, const char *variant)
{
    char path[HARNESS_PATH_MAX];
    snprintf(path, sizeof path, "%s/triage_testplug_%s.so", dir, variant);
    return kit_install_plugin(kit, path, "testplug");
}

/* Waits until `vigilctl status` shows `want` for the region's plugin. */
static int s_wait_plugin_fact(triage_kit_t *kit, const char *want)
{
    return kit_wait_fact(kit, "plugin.west", want, RELOAD_MS);
}

/* Every decision: row version == stored TriageDecision version == rationale,
 * and the version the case's chunk expects. Returns the number of rows that
 * disagree, or -1. */
static long s_check_versions(const char *db_path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    long bad = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT case_id, plugin_version, decision FROM decisions", -1, &stmt,
                           NULL) != SQLITE_OK) {
        goto done;
    }
    bad = 0;
    long rows = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        rows++;
        const char *case_id = (const char *)sqlite3_column_text(stmt, 0);
        const char *version = (const char *)sqlite3_column_text(stmt, 1);
        Vigil__V1__TriageDecision *d = vigil__v1__triage_decision__unpack(
            NULL, (size_t)sqlite3_column_bytes(stmt, 2), sqlite3_column_blob(stmt, 2));
        int index = -1;
        sscanf(case_id, "case-%d", &index);
        char rationale[64];
        snprintf(rationale, sizeof rationale, "test plugin %s", version);
        const char *expected = s_expected_version(index / CHUNK);
        if (!d || strcmp(d->plugin_version, version) != 0 || strcmp(d->case_id, case_id) != 0 ||
            !d->routing || strcmp(d->routing->rationale, rationale) != 0 ||
            strcmp(version, expected) != 0) {
            if (bad < 5) {
                fprintf(stderr, "decision for %s: row says %s, expected %s, blob says %s (%s)\n",
                        case_id, version, expected, d ? d->plugin_version : "?",
                        d && d->routing ? d->routing->rationale : "?");
            }
            bad++;
        }
        if (d) {
            vigil__v1__triage_decision__free_unpacked(d, NULL);
        }
    }
    if (rows != CASES) {
        fprintf(stderr, "%ld decision rows, expected %d\n", rows, CASES);
        bad += CASES;
    }
done:
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return bad;
}

static int s_run(triage_kit_t *kit, char **argv)
{
    const char *plugins = argv[3];
    HARNESS_CHECK(kit_init(kit, "triage-reload", argv[1], argv[2]) == 0, "kit setup");
    HARNESS_CHECK(s_install(kit, plugins, "v1") == 0, "install 1.0.0");
    HARNESS_CHECK(kit_write_triage_config(kit, "route_timeout_ms = 5000;", s_regions) == 0,
                  "config");
    HARNESS_CHECK(kit_start_sink(kit) == 0, "sink starts");
    HARNESS_CHECK(kit_start_triage(kit) == 0, "triage starts");

    static Vigil__V1__CaseView views[CASES];
    static Vigil__V1__CaseView *pointers[CASES];
    static char ids[CASES][32];
    for (int i = 0; i < CASES; i++) {
        char id[32];
        snprintf(id, sizeof id, "case-%05d", i);
        kit_view(&views[i], ids[i], sizeof ids[i], id, i % 3 ? "OR" : "WA", "", "", NULL);
        pointers[i] = &views[i];
    }
    long long started = harness_now_ms();
    for (int chunk = 0; chunk < CHUNKS; chunk++) {
        if (chunk == SWAP_TO_V2 || chunk == DEPLOY_BAD || chunk == SWAP_TO_V3) {
            /* the swap happens between cases: everything sent so far is decided by the old code */
            long long sent = (long long)chunk * CHUNK;
            HARNESS_CHECK(kit_wait_int(kit->triage_db, "SELECT count(*) FROM decisions", sent,
                                       DECIDE_MS) == sent,
                          "cases before chunk %d decided", chunk);
        }
        if (chunk == SWAP_TO_V2) {
            HARNESS_CHECK(s_install(kit, plugins, "v2") == 0, "install 2.0.0");
            Vigil__V1__AdminReply *reply = kit_admin(
                kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_RELOAD_PLUGINS, NULL, RELOAD_MS);
            HARNESS_CHECK(reply && reply->ok, "reload-plugins to 2.0.0 succeeds");
            vigil__v1__admin_reply__free_unpacked(reply, NULL);
            HARNESS_CHECK(s_wait_plugin_fact(kit, "2.0.0") == 0, "status shows 2.0.0");
        } else if (chunk == DEPLOY_BAD) {
            HARNESS_CHECK(s_install(kit, plugins, "bad") == 0, "install the broken build");
            Vigil__V1__AdminReply *reply = kit_admin(
                kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_RELOAD_PLUGINS, NULL, RELOAD_MS);
            HARNESS_CHECK(reply, "reload-plugins answers");
            HARNESS_CHECK(!reply->ok, "the broken version is refused");
            for (size_t i = 0; i < reply->n_facts; i++) {
                printf("refused reload: %s = %s\n", reply->facts[i]->key, reply->facts[i]->value);
            }
            fflush(stdout);
            vigil__v1__admin_reply__free_unpacked(reply, NULL);
            HARNESS_CHECK(s_wait_plugin_fact(kit, "2.0.0") == 0, "2.0.0 keeps serving");
        } else if (chunk == SWAP_TO_V3) {
            HARNESS_CHECK(s_install(kit, plugins, "v3") == 0, "install 3.0.0");
            HARNESS_CHECK(kill(kit->triage_pid, SIGHUP) == 0, "SIGHUP");
            HARNESS_CHECK(s_wait_plugin_fact(kit, "3.0.0") == 0, "SIGHUP swapped in 3.0.0");
        }
        HARNESS_CHECK(kit_send_cases(kit, pointers + chunk * CHUNK, CHUNK, SEND_MS) == 0,
                      "chunk %d acknowledged", chunk);
    }
    long long decided =
        kit_wait_int(kit->triage_db, "SELECT count(*) FROM decisions", CASES, DECIDE_MS);
    long long took = harness_now_ms() - started;
    HARNESS_CHECK(decided == CASES, "all %d cases decided (got %lld)", CASES, decided);
    const char *db = kit->triage_db;
    HARNESS_CHECK(kit_query_int(db, "SELECT count(DISTINCT case_id) FROM decisions") == CASES,
                  "one decision per case: none lost, none twice");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM cases WHERE state = 0") == 0,
                  "nothing pending");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE used_fallback = 1") == 0,
                  "no case fell back: the refused version never served");
    long bad = s_check_versions(db);
    HARNESS_CHECK(bad == 0, "%ld decisions disagree about the version that made them", bad);
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE plugin_version = "
                                    "'9.9.9-broken'") == 0,
                  "the broken version decided nothing");
    long long assignments = kit_wait_int(
        kit->sink_db, "SELECT count(DISTINCT case_id) FROM sink_messages WHERE type = 22", CASES,
        DECIDE_MS);
    HARNESS_CHECK(assignments == CASES, "every assignment reached notification (%lld)",
                  assignments);
    printf("triage_reload_test: %d cases, 3 reloads (1 refused), %lld ms\n", CASES, took);
    HARNESS_CHECK(kit_stop_triage(kit) == 0, "triage stops cleanly");
    return 0;
}

int main(int argc, char **argv)
{
    return kit_main(argc, argv, "triage_reload_test", s_run);
}
