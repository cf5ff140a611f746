/* triage_crash_test.c: a plugin that crashes on one case loses no case.
 *
 * A real vigil-triage runs the test plugin, configured to SIGSEGV whenever
 * it routes the case "case-poison". 300 cases (the poison in the middle)
 * arrive over the real link from a sender playing intake. Expected, and
 * checked in triage's store and in what reached the sink:
 *   - every case is decided exactly once and nothing stays pending;
 *   - the poison case crashed the plugin max_plugin_failures (3) times and
 *     was then routed by the region's fallback and flagged for review;
 *   - every other case was decided by the plugin itself;
 *   - every decision's Assignment reached "notification";
 *   - triage kept running;
 *   - then triage itself is SIGKILLed in the middle of 1,000 more cases and
 *     restarted: every case is still decided exactly once (the sender
 *     re-sends what was not acknowledged, triage decides what it had
 *     stored), and the store passes integrity_check after a clean stop.
 * Usage: triage_crash_test VIGIL_TRIAGE SINK TEST_PLUGIN_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_kit.h"

enum {
    CASES = 300,
    POISON_AT = 150,
    CHUNK = 100,
    MORE = 1000,
    SEND_MS = 60000,
    DECIDE_MS = 90000,
    KILL_AFTER_MS = 150,
};

static const char s_regions[] =
    "max_plugin_failures = 3;\n"
    "default_region = \"central\";\n"
    "regions = (\n"
    "  { name = \"central\"; plugin = \"testplug\"; states = [\"KS\", \"MO\"];\n"
    "    plugin_config = { crash_on = \"case-poison\"; escalation = \"central-sup\"; };\n"
    "    fallback = { assignee = \"central-desk\"; escalation = \"central-sup\"; };\n"
    "    roster = ( { id = \"central-co-1\"; role = \"contact_officer\"; languages = [\"en\"];"
    " on_call = true; } ); }\n"
    ");\n";

static int s_run(triage_kit_t *kit, char **argv)
{
    HARNESS_CHECK(kit_start_testplug(kit, "triage-crash", argv,
                                     "route_timeout_ms = 5000; crash_limit = 1000;",
                                     s_regions) == 0,
                  "triage and the sink start on the test plugin");

    static Vigil__V1__CaseView views[CASES];
    static Vigil__V1__CaseView *pointers[CASES];
    static char ids[CASES][32];
    for (int i = 0; i < CASES; i++) {
        char id[32];
        snprintf(id, sizeof id, i == POISON_AT ? "case-poison" : "case-%04d", i);
        kit_view(&views[i], ids[i], sizeof ids[i], id, i % 2 ? "KS" : "MO", "", "", NULL);
        pointers[i] = &views[i];
    }
    for (int i = 0; i < CASES; i += CHUNK) {
        HARNESS_CHECK(kit_send_cases(kit, pointers + i, CHUNK, SEND_MS) == 0,
                      "cases %d..%d acknowledged by triage", i, i + CHUNK - 1);
    }
    long long decided =
        kit_wait_int(kit->triage_db, "SELECT count(*) FROM decisions", CASES, DECIDE_MS);
    HARNESS_CHECK(decided == CASES, "all %d cases decided (got %lld)", CASES, decided);

    const char *db = kit->triage_db;
    HARNESS_CHECK(kit_query_int(db, "SELECT count(DISTINCT case_id) FROM decisions") == CASES,
                  "one decision per case");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM cases WHERE state = 0") == 0,
                  "nothing left pending");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE case_id = 'case-poison'"
                                    " AND used_fallback = 1 AND needs_human_review = 1"
                                    " AND plugin_name = 'fallback'"
                                    " AND assignee_id = 'central-desk'") == 1,
                  "the poison case was routed by the fallback and flagged");
    HARNESS_CHECK(kit_query_int(db, "SELECT failures FROM cases WHERE case_id = 'case-poison'") ==
                      3,
                  "the poison case crashed the plugin exactly 3 times");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE case_id != 'case-poison'"
                                    " AND plugin_name = 'testplug' AND used_fallback = 0"
                                    " AND assignee_id = 'central-co-1'") == CASES - 1,
                  "every other case was decided by the plugin");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM cases WHERE case_id != 'case-poison'"
                                    " AND failures > 0") == 0,
                  "no other case was blamed for the crashes");

    Vigil__V1__AdminReply *status =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, NULL, 5000);
    HARNESS_CHECK(status && status->ok, "status answers: triage kept serving");
    double crashes = kit_metric(status, "triage_plugin_failures_total", "kind=\"crash\"");
    double fallbacks = kit_metric(status, "triage_fallbacks_total", "reason=\"case_failures\"");
    vigil__v1__admin_reply__free_unpacked(status, NULL);
    HARNESS_CHECK(crashes == 3, "3 crashes counted (got %g)", crashes);
    HARNESS_CHECK(fallbacks == 1, "1 fallback for repeated failures counted (got %g)", fallbacks);

    long long assignments = kit_wait_int(
        kit->sink_db, "SELECT count(DISTINCT case_id) FROM sink_messages WHERE type = 22", CASES,
        DECIDE_MS);
    HARNESS_CHECK(assignments == CASES, "every assignment reached notification (got %lld)",
                  assignments);

    /* SIGKILL triage itself in the middle of a stream, restart it */
    static Vigil__V1__CaseView more[MORE];
    static Vigil__V1__CaseView *more_pointers[MORE];
    static char more_ids[MORE][32];
    for (int i = 0; i < MORE; i++) {
        char id[32];
        snprintf(id, sizeof id, "case-more-%04d", i);
        kit_view(&more[i], more_ids[i], sizeof more_ids[i], id, "KS", "", "", NULL);
        more_pointers[i] = &more[i];
    }
    HARNESS_CHECK(kit_queue_cases(kit, more_pointers, MORE) == 0, "more cases queued");
    size_t unacked = kit_send_wait(kit, KILL_AFTER_MS);
    harness_kill9(kit->triage_pid);
    kit->triage_pid = 0;
    printf("triage SIGKILLed with %zu cases unacknowledged and %lld decided of %d\n", unacked,
           kit_query_int(db, "SELECT count(*) FROM decisions"), CASES + MORE);
    HARNESS_CHECK(kit_start_triage(kit) == 0, "triage restarts after SIGKILL");
    HARNESS_CHECK(kit_send_wait(kit, SEND_MS) == 0, "the sender's backlog drains after restart");
    decided = kit_wait_int(db, "SELECT count(*) FROM decisions", CASES + MORE, DECIDE_MS);
    HARNESS_CHECK(decided == CASES + MORE, "all %d cases decided across the kill (got %lld)",
                  CASES + MORE, decided);
    HARNESS_CHECK(kit_query_int(db, "SELECT count(DISTINCT case_id) FROM decisions") ==
                      CASES + MORE,
                  "still one decision per case");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM cases") == CASES + MORE,
                  "no case stored twice or lost");

    HARNESS_CHECK(kit_stop_triage(kit) == 0, "triage stops cleanly");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM pragma_integrity_check"
                                    " WHERE integrity_check != 'ok'") == 0,
                  "triage's store passes integrity_check");
    return 0;
}

int main(int argc, char **argv)
{
    return kit_main(argc, argv, "triage_crash_test", s_run);
}
