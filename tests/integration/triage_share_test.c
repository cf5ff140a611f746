/* triage_share_test.c: decisions that share the next link batch's commit.
 *
 * A pass's decisions are written in the transaction of the next link batch
 * (one fsync for both) when one arrives within triage.decision_wait_ms,
 * else on their own. This test sets the wait to 10 s, so that every step
 * below is decided by the sharing and never by the timer, and checks, in
 * triage's store:
 *   - once the plugin has decided case A, A's decision is not committed
 *     while no other message comes (it waits, staged);
 *   - case B's arrival commits A's decision with B's batch, long before the
 *     wait is over;
 *   - triage SIGKILLed with B's decision staged (plugin called, decision not
 *     committed): after the restart B is decided exactly once, by the
 *     plugin, and its cut-short attempt counts as one plugin failure (the
 *     crash rule: the attempt was durable before the plugin ran); A keeps
 *     its one decision and no failure;
 *   - a clean stop (SIGTERM) with case C's decision staged commits it: a
 *     decision made is never thrown away at a stop;
 *   - the store passes integrity_check.
 * Usage: triage_share_test VIGIL_TRIAGE SINK TEST_PLUGIN_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_kit.h"

enum {
    SEND_MS = 30000,
    ROUTE_MS = 30000,  /* plugin call after a case is stored (a loaded machine) */
    SHARED_MS = 5000,  /* A's decision after B's ack: well inside the 10 s wait */
    DECIDE_MS = 30000, /* decisions after a restart */
    STATUS_MS = 5000,  /* one admin STATUS round trip */
    POLL_MS = 20,
};

static const char s_regions[] =
    "decision_wait_ms = 10000;\n"
    "default_region = \"central\";\n"
    "regions = (\n"
    "  { name = \"central\"; plugin = \"testplug\"; states = [\"KS\", \"MO\"];\n"
    "    plugin_config = { escalation = \"central-sup\"; };\n"
    "    fallback = { assignee = \"central-desk\"; escalation = \"central-sup\"; };\n"
    "    roster = ( { id = \"central-co-1\"; role = \"contact_officer\"; languages = [\"en\"];"
    " on_call = true; } ); }\n"
    ");\n";

/* Cases the plugin decided since triage started (the policy host's
 * counter), or -1. */
static double s_routed(triage_kit_t *kit)
{
    Vigil__V1__AdminReply *status =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, NULL, STATUS_MS);
    if (!status) {
        return -1;
    }
    double routed = kit_metric(status, "policy_decisions_total", "outcome=\"ok\"");
    vigil__v1__admin_reply__free_unpacked(status, NULL);
    return routed;
}

/* Waits until the plugin has decided `want` cases. Returns the last count. */
static double s_wait_routed(triage_kit_t *kit, double want)
{
    long long deadline = harness_now_ms() + ROUTE_MS;
    double routed = s_routed(kit);
    while (routed < want && harness_now_ms() < deadline) {
        harness_sleep_ms(POLL_MS);
        routed = s_routed(kit);
    }
    return routed;
}

static int s_send(triage_kit_t *kit, const char *case_id)
{
    Vigil__V1__CaseView view;
    char id[32];
    kit_view(&view, id, sizeof id, case_id, "KS", "", "", NULL);
    Vigil__V1__CaseView *pointer = &view;
    return kit_send_cases(kit, &pointer, 1, SEND_MS);
}

static long long s_decisions(triage_kit_t *kit, const char *case_id)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM decisions WHERE case_id = '%s'", case_id);
    return kit_query_int(kit->triage_db, sql);
}

static int s_run(triage_kit_t *kit, char **argv)
{
    const char *db = kit->triage_db;
    HARNESS_CHECK(kit_start_testplug(kit, "triage-share", argv, NULL, s_regions) == 0,
                  "triage and the sink start on the test plugin");

    /* A: decided by the plugin, staged, not committed while nothing comes */
    HARNESS_CHECK(s_send(kit, "case-a") == 0, "case A acknowledged");
    HARNESS_CHECK(s_wait_routed(kit, 1) >= 1, "the plugin decided case A");
    HARNESS_CHECK(s_decisions(kit, "case-a") == 0,
                  "A's decision waits for the next batch (not committed yet)");

    /* B's batch carries A's decision */
    long long sent_at = harness_now_ms();
    HARNESS_CHECK(s_send(kit, "case-b") == 0, "case B acknowledged");
    long long a =
        kit_wait_int(db, "SELECT count(*) FROM decisions WHERE case_id = 'case-a'", 1, SHARED_MS);
    long long took = harness_now_ms() - sent_at;
    HARNESS_CHECK(a == 1, "A's decision committed with B's batch (%lld rows after %lld ms)", a,
                  took);
    printf("A's decision committed %lld ms after B was sent (wait is 10000 ms)\n", took);

    /* SIGKILL with B's decision staged */
    HARNESS_CHECK(s_wait_routed(kit, 2) >= 2, "the plugin decided case B");
    HARNESS_CHECK(s_decisions(kit, "case-b") == 0, "B's decision is staged, not committed");
    harness_kill9(kit->triage_pid);
    kit->triage_pid = 0;
    HARNESS_CHECK(kit_start_triage(kit) == 0, "triage restarts after SIGKILL");
    HARNESS_CHECK(s_wait_routed(kit, 1) >= 1, "the plugin decided case B again after the restart");
    HARNESS_CHECK(s_send(kit, "case-c") == 0, "case C acknowledged");
    long long b =
        kit_wait_int(db, "SELECT count(*) FROM decisions WHERE case_id = 'case-b'", 1, DECIDE_MS);
    HARNESS_CHECK(b == 1, "B decided once after the kill (got %lld)", b);
    HARNESS_CHECK(kit_query_int(db, "SELECT failures FROM cases WHERE case_id = 'case-b'") == 1,
                  "B's attempt cut short by the kill counts as one plugin failure");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE case_id = 'case-b'"
                                    " AND plugin_name = 'testplug' AND used_fallback = 0") == 1,
                  "B was decided by the plugin (one failure is below max_plugin_failures)");
    HARNESS_CHECK(s_decisions(kit, "case-a") == 1 &&
                      kit_query_int(db, "SELECT failures FROM cases WHERE case_id = 'case-a'") == 0,
                  "A keeps its one decision and no failure");

    /* a clean stop commits C's staged decision */
    HARNESS_CHECK(s_wait_routed(kit, 2) >= 2, "the plugin decided case C");
    HARNESS_CHECK(kit_stop_triage(kit) == 0, "triage stops cleanly");
    HARNESS_CHECK(s_decisions(kit, "case-c") == 1, "C's staged decision was committed at the stop");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM cases WHERE state = 0") == 0,
                  "nothing left pending");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions") == 3,
                  "three cases, three decisions");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM pragma_integrity_check"
                                    " WHERE integrity_check != 'ok'") == 0,
                  "triage's store passes integrity_check");
    return 0;
}

int main(int argc, char **argv)
{
    return kit_main(argc, argv, "triage_share_test", s_run);
}
