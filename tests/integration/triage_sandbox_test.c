/* triage_sandbox_test.c: a region plugin runs confined.
 *
 * A real vigil-triage runs the test plugin in its real policy worker. When
 * the plugin routes "case-2" it tries what the worker's syscall filter
 * (services/triage/policy_sandbox.c) refuses, and what it must still allow,
 * and writes the outcomes to a file. Expected:
 *   - no socket of any kind, no fork, no exec, no signal to triage or to
 *     its process group, no ptrace: each fails with EPERM;
 *   - a thread, reading a file and signalling itself still work;
 *   - the refusals cost nothing: every case, the probe included, is
 *     decided by the plugin itself, none by the fallback, no failure is
 *     counted, and triage keeps serving.
 * In a sanitizer build LeakSanitizer needs fork-like clone and ptrace, so
 * those two are allowed there (policy_sandbox.h) and expected to work.
 *
 * What the filter leaves a plugin is its socket to triage. In region north
 * the plugin writes a malformed answer into it whenever it routes "g-7",
 * one of 30 cases sent together. Triage must pin that on g-7 alone: g-7
 * fails max_plugin_failures (3) times and goes to the fallback, flagged
 * for review; the other 29 are decided by the plugin.
 * Usage: triage_sandbox_test VIGIL_TRIAGE SINK TEST_PLUGIN_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "triage_kit.h"

enum { CASES = 5, GARBLED_BATCH = 30, SEND_MS = 30000, DECIDE_MS = 60000, PROBE_LINE_MAX = 4096 };

#if defined(__SANITIZE_ADDRESS__)
#define EXPECT_PROCESS "fork=ok"
#define EXPECT_PTRACE  "ptrace=ESRCH"
#else
#define EXPECT_PROCESS "fork=EPERM"
#define EXPECT_PTRACE  "ptrace=EPERM"
#endif

static const char s_expected[] = "probe socket_inet=EPERM socket_unix=EPERM " EXPECT_PROCESS
                                 " exec=EPERM kill_parent=EPERM kill_group=EPERM " EXPECT_PTRACE
                                 " kill_self=ok thread=ok read=ok";

static char s_probe_dir[HARNESS_PATH_MAX];

/* The probe's line from the plugin's dump file, or "" if there is none. */
static void s_probe_line(const char *path, char line[PROBE_LINE_MAX])
{
    line[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) {
        return;
    }
    char buf[PROBE_LINE_MAX];
    while (fgets(buf, sizeof buf, f)) {
        if (strncmp(buf, "probe ", 6) == 0) {
            buf[strcspn(buf, "\n")] = '\0';
            memcpy(line, buf, sizeof buf);
        }
    }
    fclose(f);
}

static int s_run(triage_kit_t *kit, char **argv)
{
    char dump[HARNESS_PATH_MAX + 16], regions[3 * HARNESS_PATH_MAX];
    HARNESS_CHECK(harness_tempdir("triage-sandbox-probe", s_probe_dir, sizeof s_probe_dir) == 0,
                  "a folder for the plugin's probe file");
    snprintf(dump, sizeof dump, "%s/probe.txt", s_probe_dir);
    snprintf(regions, sizeof regions,
             "default_region = \"central\";\n"
             "regions = (\n"
             "  { name = \"central\"; plugin = \"testplug\"; states = [\"KS\"];\n"
             "    plugin_config = { probe_on = \"case-2\"; dump_to = \"%s\"; };\n"
             "    fallback = { assignee = \"central-desk\"; };\n"
             "    roster = ( { id = \"central-co-1\"; role = \"contact_officer\";"
             " languages = [\"en\"]; on_call = true; } ); },\n"
             "  { name = \"north\"; plugin = \"testplug\"; states = [\"MN\"];\n"
             "    plugin_config = { garble_on = \"g-7\"; };\n"
             "    fallback = { assignee = \"north-desk\"; };\n"
             "    roster = ( { id = \"north-co-1\"; role = \"contact_officer\"; } ); }\n"
             ");\n",
             dump);
    HARNESS_CHECK(kit_start_testplug(kit, "triage-sandbox", argv, NULL, regions) == 0,
                  "triage and the sink start on the test plugin");

    HARNESS_CHECK(kit_send_plain_cases(kit, "case", CASES, "KS", SEND_MS) == 0,
                  "triage acknowledges the cases");
    long long decided =
        kit_wait_int(kit->triage_db, "SELECT count(*) FROM decisions", CASES, DECIDE_MS);
    HARNESS_CHECK(decided == CASES, "all %d cases decided (got %lld)", CASES, decided);

    char line[PROBE_LINE_MAX];
    s_probe_line(dump, line);
    HARNESS_CHECK(strcmp(line, s_expected) == 0,
                  "the plugin's probes:\n  got      '%s'\n  expected '%s'", line, s_expected);

    const char *db = kit->triage_db;
    HARNESS_CHECK(kit_query_int(db,
                                "SELECT count(*) FROM decisions WHERE plugin_name = 'testplug'"
                                " AND used_fallback = 0 AND assignee_id = 'central-co-1'") == CASES,
                  "every case, the probe included, was decided by the plugin");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM cases WHERE failures > 0") == 0,
                  "no case counted a plugin failure");

    /* a malformed answer written into the socket: pinned on its case */
    HARNESS_CHECK(kit_send_plain_cases(kit, "g", GARBLED_BATCH, "MN", SEND_MS) == 0,
                  "triage acknowledges the north cases");
    decided = kit_wait_int(db, "SELECT count(*) FROM decisions WHERE case_id LIKE 'g-%'",
                           GARBLED_BATCH, DECIDE_MS);
    HARNESS_CHECK(decided == GARBLED_BATCH, "all %d north cases decided (got %lld)", GARBLED_BATCH,
                  decided);
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE case_id = 'g-7'"
                                    " AND used_fallback = 1 AND needs_human_review = 1"
                                    " AND assignee_id = 'north-desk'") == 1,
                  "g-7 went to the fallback, flagged for review");
    HARNESS_CHECK(kit_query_int(db, "SELECT failures FROM cases WHERE case_id = 'g-7'") == 3,
                  "g-7 was blamed for the 3 malformed answers");
    long long by_plugin = kit_query_int(
        db, "SELECT count(*) FROM decisions WHERE case_id LIKE 'g-%'"
            " AND case_id != 'g-7' AND used_fallback = 0 AND assignee_id = 'north-co-1'");
    HARNESS_CHECK(by_plugin == GARBLED_BATCH - 1,
                  "the other %d north cases were decided by the plugin (%lld were)",
                  GARBLED_BATCH - 1, by_plugin);
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM cases WHERE case_id LIKE 'g-%'"
                                    " AND case_id != 'g-7' AND failures > 0") == 0,
                  "no other north case was blamed");
    Vigil__V1__AdminReply *status =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, NULL, 5000);
    HARNESS_CHECK(status && status->ok, "status answers: triage kept serving");
    vigil__v1__admin_reply__free_unpacked(status, NULL);
    HARNESS_CHECK(kit_stop_triage(kit) == 0, "triage stops cleanly");
    return 0;
}

int main(int argc, char **argv)
{
    int rc = kit_main(argc, argv, "triage_sandbox_test", s_run);
    if (s_probe_dir[0] && rc == 0) {
        harness_remove_tree(s_probe_dir);
    }
    return rc;
}
