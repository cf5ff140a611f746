/* triage_hang_test.c: a plugin that never returns on one case, or takes
 * memory until there is none, is bounded.
 *
 * The test plugin loops forever when it routes "case-hang". With a 300 ms
 * route deadline, triage's policy host kills the worker each time; after
 * max_plugin_failures (3) the case is decided by the region's fallback and
 * flagged for review. It also allocates without end when it routes
 * "case-hog": with triage.plugin.memory_mb = 256 its allocation fails, it
 * aborts, and the case goes the same way as the hung one. Checked: all 60
 * cases decided once, each bad case by the fallback with failures = 3, 3
 * timeouts and 3 crashes counted, every other case by the plugin, and the
 * whole run bounded (well under the ctest timeout: deadlines plus
 * restarts, not forever). A sanitizer build applies no memory limit
 * (policy_host.c), so there the hog case is left out.
 * Usage: triage_hang_test VIGIL_TRIAGE SINK TEST_PLUGIN_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_kit.h"

enum {
    CASES = 60,
    HANG_AT = 20,
    HOG_AT = 40,
    SEND_MS = 60000,
    DECIDE_MS = 60000,
    BOUND_MS = 30000,
};

#if defined(__SANITIZE_ADDRESS__)
#define HOG_CONFIG "" /* no memory limit to hit in a sanitizer build */
#define HOGS       0
#else
#define HOG_CONFIG " hog_on = \"case-hog\";"
#define HOGS       1
#endif

static const char s_regions[] =
    "max_plugin_failures = 3;\n"
    "default_region = \"north\";\n"
    "regions = (\n"
    "  { name = \"north\"; plugin = \"testplug\"; states = [\"MN\"];\n"
    "    plugin_config = { hang_on = \"case-hang\";" HOG_CONFIG " };\n"
    "    fallback = { assignee = \"north-desk\"; escalation = \"north-sup\"; };\n"
    "    roster = ( { id = \"north-co-1\"; role = \"contact_officer\"; languages = [\"en\"]; } ); "
    "}\n"
    ");\n";

static int s_run(triage_kit_t *kit, char **argv)
{
    HARNESS_CHECK(kit_start_testplug(kit, "triage-hang", argv,
                                     "route_timeout_ms = 300; crash_limit = 1000; memory_mb = 256;",
                                     s_regions) == 0,
                  "triage and the sink start on the test plugin");

    static Vigil__V1__CaseView views[CASES];
    static Vigil__V1__CaseView *pointers[CASES];
    static char ids[CASES][32];
    for (int i = 0; i < CASES; i++) {
        char id[32];
        snprintf(id, sizeof id,
                 i == HANG_AT          ? "case-hang"
                 : i == HOG_AT && HOGS ? "case-hog"
                                       : "case-%04d",
                 i);
        kit_view(&views[i], ids[i], sizeof ids[i], id, "MN", "", "", NULL);
        pointers[i] = &views[i];
    }
    long long started = harness_now_ms();
    HARNESS_CHECK(kit_send_cases(kit, pointers, CASES, SEND_MS) == 0, "cases acknowledged");
    long long decided =
        kit_wait_int(kit->triage_db, "SELECT count(*) FROM decisions", CASES, DECIDE_MS);
    long long took = harness_now_ms() - started;
    HARNESS_CHECK(decided == CASES, "all %d cases decided (got %lld)", CASES, decided);
    HARNESS_CHECK(took < BOUND_MS, "bounded: decided in %lld ms", took);

    const char *db = kit->triage_db;
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE case_id = 'case-hang'"
                                    " AND used_fallback = 1 AND needs_human_review = 1"
                                    " AND plugin_name = 'fallback'"
                                    " AND assignee_id = 'north-desk'") == 1,
                  "the hung case was routed by the fallback and flagged");
    HARNESS_CHECK(kit_query_int(db, "SELECT failures FROM cases WHERE case_id = 'case-hang'") == 3,
                  "the hung case timed out exactly 3 times");
    if (HOGS) {
        HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE case_id = 'case-hog'"
                                        " AND used_fallback = 1 AND needs_human_review = 1"
                                        " AND plugin_name = 'fallback'") == 1,
                      "the case that exhausted the worker's memory was routed by the fallback");
        HARNESS_CHECK(kit_query_int(db, "SELECT failures FROM cases WHERE case_id = 'case-hog'") ==
                          3,
                      "the memory-hungry case crashed the plugin exactly 3 times");
    }
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE case_id NOT IN"
                                    " ('case-hang', 'case-hog')"
                                    " AND plugin_name = 'testplug' AND used_fallback = 0") ==
                      CASES - 1 - HOGS,
                  "every other case was decided by the plugin");
    Vigil__V1__AdminReply *status =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, NULL, 5000);
    HARNESS_CHECK(status && status->ok, "status answers");
    double timeouts = kit_metric(status, "triage_plugin_failures_total", "kind=\"timeout\"");
    double crashes = kit_metric(status, "triage_plugin_failures_total", "kind=\"crash\"");
    vigil__v1__admin_reply__free_unpacked(status, NULL);
    HARNESS_CHECK(timeouts == 3, "3 timeouts counted (got %g)", timeouts);
    HARNESS_CHECK(crashes == 3 * HOGS, "%d crashes counted (got %g)", 3 * HOGS, crashes);
    printf("triage_hang_test: %d cases decided in %lld ms with one hanging case and %d taking "
           "memory without end\n",
           CASES, took, HOGS);
    HARNESS_CHECK(kit_stop_triage(kit) == 0, "triage stops cleanly");
    return 0;
}

int main(int argc, char **argv)
{
    return kit_main(argc, argv, "triage_hang_test", s_run);
}
