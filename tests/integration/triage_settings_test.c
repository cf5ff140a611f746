/* triage_settings_test.c: a reload gives the cases that follow the
 * region's new roster, plugin settings and fallback, and refuses what
 * takes a restart.
 *
 * A real vigil-triage runs the test plugin for one region, "west". The
 * plugin assigns every case to the first roster entry unless its
 * plugin_config names an assignee, and gives no escalation path, so an
 * unacknowledged case escalates to the region fallback's target. Ten
 * cases go in after each step; checked in triage's store:
 *   a. west-co-1 first on the roster: batch a goes to west-co-1;
 *   b. SIGHUP with west-co-2 put first and a new fallback: batch b goes to
 *      west-co-2, status shows the new fallback, and batch b's cases, left
 *      unacknowledged past their 1 s deadline, escalate to the new
 *      fallback's target. Region east, whose plugin file is missing, runs
 *      on its fallback: its batch ea went to east-desk, and after the
 *      reload (the plugin still missing) batch eb goes to east-desk-2;
 *   c. vigilctl reload (the admin RELOAD) with plugin_config naming
 *      west-co-1 and east bound to the test plugin: the reply is ok, batch
 *      c goes to west-co-1, and east's batch ec to its plugin's choice,
 *      east-co-1;
 *   d. a reload that also gives the region another state: refused, the
 *      log says it takes a restart and names the change, and batch d still
 *      goes to west-co-1 although the file's plugin_config no longer names
 *      anyone;
 *   e. a file that fails triage's own checks (a default region that does
 *      not exist): refused with the key named, and triage keeps serving.
 * Usage: triage_settings_test VIGIL_TRIAGE SINK TEST_PLUGIN_DIR
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "triage_kit.h"

enum { BATCH = 10, SEND_MS = 30000, DECIDE_MS = 30000, RELOAD_MS = 30000, BODY_MAX = 2048 };

/* Writes triage's config: region west with these parts and fallback
 * generation `generation` (1 or 2, below), and region east on plugin
 * `east_plugin` ("missing": no such file, so east runs on its fallback),
 * with the same generation of fallback. */
static int s_configure(triage_kit_t *kit, const char *default_region, const char *states,
                       const char *plugin_config, const char *roster, int generation,
                       const char *east_plugin)
{
    char body[BODY_MAX];
    const char *suffix = generation == 2 ? "-2" : "";
    snprintf(body, sizeof body,
             "sla = { p1_s = 1; p2_s = 1; p3_s = 1; p4_s = 1; };\n"
             "escalation_scan_ms = 100;\n"
             "max_escalation_level = 1;\n"
             "default_region = \"%s\";\n"
             "regions = (\n"
             "  { name = \"west\"; plugin = \"testplug\"; states = [%s];\n"
             "    plugin_config = { %s };\n"
             "    fallback = { assignee = \"west-desk%s\"; escalation = \"west-sup%s\"; };\n"
             "    roster = ( %s ); },\n"
             "  { name = \"east\"; plugin = \"%s\"; states = [\"NY\"];\n"
             "    fallback = { assignee = \"east-desk%s\"; };\n"
             "    roster = ( { id = \"east-co-1\"; role = \"contact_officer\"; } ); }\n"
             ");\n",
             default_region, states, plugin_config, suffix, suffix, roster, east_plugin, suffix);
    return kit_write_triage_config(kit, "route_timeout_ms = 5000;", body);
}

static const char s_roster_1[] =
    "{ id = \"west-co-1\"; role = \"contact_officer\"; languages = [\"en\"]; }";
static const char s_roster_21[] =
    "{ id = \"west-co-2\"; role = \"contact_officer\"; languages = [\"en\"]; },"
    " { id = \"west-co-1\"; role = \"contact_officer\"; languages = [\"en\"]; }";
static const char s_fallback_2_fact[] = "assignee=west-desk-2 escalation=west-sup-2";

/* How many of batch `prefix`'s cases have a level-`level` decision for
 * `assignee`. */
static long long s_assigned(triage_kit_t *kit, const char *prefix, int level, const char *assignee)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM decisions WHERE case_id LIKE '%s-%%'"
             " AND escalation_level = %d AND assignee_id = '%s'",
             prefix, level, assignee);
    return kit_query_int(kit->triage_db, sql);
}

/* Sends batch `prefix` from `state` and waits until all of it is decided. */
static int s_batch_from(triage_kit_t *kit, const char *prefix, const char *state)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM decisions WHERE case_id LIKE '%s-%%' AND escalation_level = 0",
             prefix);
    if (kit_send_plain_cases(kit, prefix, BATCH, state, SEND_MS) != 0) {
        return -1;
    }
    return kit_wait_int(kit->triage_db, sql, BATCH, DECIDE_MS) == BATCH ? 0 : -1;
}

/* A batch from west (Oregon). */
static int s_batch(triage_kit_t *kit, const char *prefix)
{
    return s_batch_from(kit, prefix, "OR");
}

/* The admin RELOAD command (vigilctl reload triage): 1 ok, 0 refused, -1
 * no answer. The reply's error goes to `error` (may be NULL). */
static int s_reload_says(triage_kit_t *kit, char *error, size_t size)
{
    Vigil__V1__AdminReply *reply =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_RELOAD, NULL, RELOAD_MS);
    int ok = reply ? reply->ok != 0 : -1;
    if (error) {
        snprintf(error, size, "%s", reply && reply->error ? reply->error : "");
    }
    if (reply) {
        vigil__v1__admin_reply__free_unpacked(reply, NULL);
    }
    return ok;
}

static int s_reload(triage_kit_t *kit)
{
    return s_reload_says(kit, NULL, 0);
}

/* A reload that must be refused: the admin reply says no and names
 * `where` (what vigilctl reload prints), the log says both `why` and
 * `where`, and batch `prefix` is still decided with the settings that ran
 * before (west-co-1). Returns 0 or 1 (a check failed). */
static int s_expect_refused(triage_kit_t *kit, const char *why, const char *where,
                            const char *prefix)
{
    char error[512];
    HARNESS_CHECK(s_reload_says(kit, error, sizeof error) == 0, "the reload is refused (%s)",
                  where);
    HARNESS_CHECK(strstr(error, "reload refused: ") == error && strstr(error, where),
                  "the reply says why: '%s'", error);
    HARNESS_CHECK(harness_file_contains(kit->triage_log, why) &&
                      harness_file_contains(kit->triage_log, where),
                  "the log says '%s' and names '%s'", why, where);
    HARNESS_CHECK(s_batch(kit, prefix) == 0, "batch %s decided", prefix);
    HARNESS_CHECK(s_assigned(kit, prefix, 0, "west-co-1") == BATCH,
                  "batch %s still went to west-co-1: the settings stayed as they ran", prefix);
    return 0;
}

static int s_run(triage_kit_t *kit, char **argv)
{
    HARNESS_CHECK(kit_init(kit, "triage-settings", argv[1], argv[2]) == 0, "kit setup");
    char plugin[HARNESS_PATH_MAX];
    snprintf(plugin, sizeof plugin, "%s/triage_testplug_v1.so", argv[3]);
    HARNESS_CHECK(kit_install_plugin(kit, plugin, "testplug") == 0, "install the test plugin");
    HARNESS_CHECK(s_configure(kit, "west", "\"OR\"", "", s_roster_1, 1, "missing") == 0,
                  "config a");
    HARNESS_CHECK(kit_start_sink(kit) == 0 && kit_start_triage(kit) == 0, "the services start");

    /* a */
    HARNESS_CHECK(s_batch(kit, "a") == 0, "batch a decided");
    HARNESS_CHECK(s_assigned(kit, "a", 0, "west-co-1") == BATCH, "batch a went to west-co-1");
    HARNESS_CHECK(s_batch_from(kit, "ea", "NY") == 0, "batch ea decided");
    HARNESS_CHECK(s_assigned(kit, "ea", 0, "east-desk") == BATCH,
                  "batch ea went to east's fallback assignee");

    /* b: SIGHUP with a new roster order and fallback */
    HARNESS_CHECK(s_configure(kit, "west", "\"OR\"", "", s_roster_21, 2, "missing") == 0,
                  "config b");
    HARNESS_CHECK(kill(kit->triage_pid, SIGHUP) == 0, "SIGHUP");
    HARNESS_CHECK(kit_wait_fact(kit, "fallback.west", s_fallback_2_fact, RELOAD_MS) == 0,
                  "status shows the new fallback");
    HARNESS_CHECK(s_batch(kit, "b") == 0, "batch b decided");
    HARNESS_CHECK(s_assigned(kit, "b", 0, "west-co-2") == BATCH,
                  "batch b went to west-co-2, first on the new roster (%lld did)",
                  s_assigned(kit, "b", 0, "west-co-2"));
    HARNESS_CHECK(s_batch_from(kit, "eb", "NY") == 0, "batch eb decided");
    HARNESS_CHECK(s_assigned(kit, "eb", 0, "east-desk-2") == BATCH,
                  "batch eb went to east's new fallback assignee, its plugin still missing");
    long long escalated = kit_wait_int(kit->triage_db,
                                       "SELECT count(*) FROM decisions WHERE case_id LIKE 'b-%'"
                                       " AND escalation_level = 1",
                                       BATCH, DECIDE_MS);
    HARNESS_CHECK(escalated == BATCH, "batch b escalated past its deadline (%lld)", escalated);
    HARNESS_CHECK(s_assigned(kit, "b", 1, "west-sup-2") == BATCH,
                  "batch b escalated to the new fallback's target");

    /* c: vigilctl reload with plugin settings naming west-co-1 */
    HARNESS_CHECK(s_configure(kit, "west", "\"OR\"", "assignee = \"west-co-1\";", s_roster_21, 2,
                              "testplug") == 0,
                  "config c");
    HARNESS_CHECK(s_reload(kit) == 1, "reload with new plugin settings succeeds");
    HARNESS_CHECK(s_batch(kit, "c") == 0, "batch c decided");
    HARNESS_CHECK(s_assigned(kit, "c", 0, "west-co-1") == BATCH,
                  "batch c went to west-co-1, as plugin_config now says");
    HARNESS_CHECK(s_batch_from(kit, "ec", "NY") == 0, "batch ec decided");
    HARNESS_CHECK(s_assigned(kit, "ec", 0, "east-co-1") == BATCH,
                  "batch ec went to east-co-1: east left its fallback for the plugin named now");

    /* d: another state takes a restart; nothing of this file applies */
    HARNESS_CHECK(s_configure(kit, "west", "\"OR\", \"WA\"", "", s_roster_21, 1, "testplug") == 0,
                  "config d");
    HARNESS_CHECK(s_expect_refused(kit, "take a restart", "(west): states changed", "d") == 0,
                  "step d");
    HARNESS_CHECK(kit_wait_fact(kit, "fallback.west", s_fallback_2_fact, RELOAD_MS) == 0,
                  "the fallback stayed as it ran");

    /* e: a file triage's own checks refuse */
    HARNESS_CHECK(s_configure(kit, "nowhere", "\"OR\"", "", s_roster_1, 1, "testplug") == 0,
                  "config e");
    HARNESS_CHECK(
        s_expect_refused(kit, "reload refused: config invalid", "triage.default_region", "e") == 0,
        "step e");
    HARNESS_CHECK(kit_stop_triage(kit) == 0, "triage stops cleanly");
    return 0;
}

int main(int argc, char **argv)
{
    return kit_main(argc, argv, "triage_settings_test", s_run);
}
