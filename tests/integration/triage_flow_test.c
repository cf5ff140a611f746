/* triage_flow_test.c: a case's whole life in triage, as users see it.
 *
 * One real vigil-triage with four regions (a county region inside a state
 * region, two more states, a default), first-contact deadlines of one
 * second and a fast SLA scanner, the sample HSDS directory imported through
 * the admin endpoint (and `vigilctl directory import` when given), and a
 * sink standing in for notification and reporting. Checked:
 *   - directory: the JSON export imports; a package with bad rows reports
 *     each with file and row; re-importing changes nothing;
 *   - each case lands in the right region (county beats state; unknown
 *     places go to the default region; a malformed ZIP3 is flagged for
 *     review) with the documented priority (P1 advises emergency services);
 *   - a plugin referral comes from the directory for a consenting case;
 *   - a case acknowledged by its assignee is not escalated, and a receipt
 *     from someone never assigned is refused;
 *   - an unacknowledged P1 case escalates to the plugin's escalation path,
 *     then to the region's fallback, then stops and is flagged (stalled);
 *   - notification got an Assignment per decision; reporting got only
 *     de-identified messages: keyed case hashes (never a case id), no dates
 *     in decisions, no rationale text, quarters in events, and a
 *     FIRST_CONTACT event for the acknowledged case.
 * Usage: triage_flow_test VIGIL_TRIAGE SINK TEST_PLUGIN_DIR [VIGILCTL]
 */
#include <ctype.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_kit.h"
#include "vigil/v1/report.pb-c.h"

#ifndef VIGIL_SOURCE_DIR
#error "VIGIL_SOURCE_DIR must name the source tree"
#endif
#define SAMPLE(path) VIGIL_SOURCE_DIR "/tests/data/hsds/" path

enum { SEND_MS = 30000, DECIDE_MS = 30000, ESCALATE_MS = 30000, CASES = 6, KEY_HEX = 64 };

static const char s_regions[] =
    "sla = { p1_s = 1; p2_s = 1; p3_s = 1; p4_s = 1; };\n"
    "escalation_scan_ms = 100;\n"
    "max_escalation_level = 2;\n"
    "default_region = \"central\";\n"
    "regions = (\n"
    "  { name = \"east\"; plugin = \"testplug\"; states = [\"NY\"];\n"
    "    plugin_config = { escalation = \"east-sup\"; };\n"
    "    fallback = { assignee = \"east-desk\"; escalation = \"east-duty-sup\"; };\n"
    "    roster = ( { id = \"east-co-1\"; role = \"contact_officer\"; languages = [\"en\"]; } ); "
    "},\n"
    "  { name = \"manhattan\"; plugin = \"testplug\"; counties = [\"36061\"];\n"
    "    plugin_config = { escalation = \"mh-sup\"; };\n"
    "    fallback = { assignee = \"mh-desk\"; escalation = \"mh-duty-sup\"; };\n"
    "    roster = ( { id = \"mh-co-1\"; role = \"contact_officer\"; languages = [\"en\"]; } ); },\n"
    "  { name = \"oregon\"; plugin = \"testplug\"; states = [\"OR\"];\n"
    "    plugin_config = { refer = \"shelter\"; };\n"
    "    fallback = { assignee = \"or-desk\"; };\n"
    "    roster = ( { id = \"or-co-1\"; role = \"contact_officer\"; languages = [\"en\"]; } ); },\n"
    "  { name = \"central\"; plugin = \"testplug\"; states = [\"KS\"];\n"
    "    fallback = { assignee = \"central-desk\"; };\n"
    "    roster = ( { id = \"central-co-1\"; role = \"contact_officer\"; languages = [\"en\"]; } "
    "); }\n"
    ");\n";

static const char *const s_case_ids[CASES] = {"c-danger", "c-ack",   "c-tx",
                                              "c-badzip", "c-refer", "c-release"};

/* ---- directory ---------------------------------------------------------------- */

static int s_directory(triage_kit_t *kit, const char *vigilctl)
{
    Vigil__V1__AdminReply *r =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DIRECTORY_IMPORT,
                  SAMPLE("export.json"), 30000);
    HARNESS_CHECK(r && r->ok && r->affected > 30, "sample directory imports (%u rows)",
                  r ? r->affected : 0);
    vigil__v1__admin_reply__free_unpacked(r, NULL);
    long long services = kit_query_int(kit->triage_db, "SELECT count(*) FROM dir_services");
    long long languages = kit_query_int(kit->triage_db, "SELECT count(*) FROM dir_languages");

    r = kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DIRECTORY_IMPORT,
                  SAMPLE("bad-package"), 30000);
    HARNESS_CHECK(r && r->ok, "a package with bad rows still imports its good rows");
    int reported = 0;
    for (size_t i = 0; i < r->n_facts; i++) {
        if (strncmp(r->facts[i]->key, "rejected.", 9) == 0) {
            printf("  %s = %s\n", r->facts[i]->key, r->facts[i]->value);
            reported += strstr(r->facts[i]->value, "services.csv row 8: field 'email'") != NULL;
            reported +=
                strstr(r->facts[i]->value, "services.csv row 9: field 'organization_id'") != NULL;
            reported += strstr(r->facts[i]->value, "languages.csv row 13: field 'code'") != NULL;
        }
    }
    vigil__v1__admin_reply__free_unpacked(r, NULL);
    HARNESS_CHECK(reported == 3, "each bad row reported with file, row and reason (%d of 3)",
                  reported);

    r = kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_DIRECTORY_IMPORT,
                  SAMPLE("export.json"), 30000);
    HARNESS_CHECK(r && r->ok && r->affected == 0, "re-importing changes nothing (%u rows)",
                  r ? r->affected : 0);
    vigil__v1__admin_reply__free_unpacked(r, NULL);
    HARNESS_CHECK(kit_query_int(kit->triage_db, "SELECT count(*) FROM dir_services") == services &&
                      kit_query_int(kit->triage_db, "SELECT count(*) FROM dir_languages") ==
                          languages,
                  "row counts unchanged by the re-import");

    if (vigilctl) {
        char cmd[2 * HARNESS_PATH_MAX], out[HARNESS_PATH_MAX];
        snprintf(out, sizeof out, "%s/vigilctl.out", kit->dir);
        snprintf(cmd, sizeof cmd, "'%s' --state-dir '%s' directory import '%s' > '%s' 2>&1",
                 vigilctl, kit->triage_state, SAMPLE("bad-package"), out);
        int rc = system(cmd);
        harness_tail(out, 20);
        HARNESS_CHECK(rc == 0, "vigilctl directory import exits 0 (%d)", rc);
        HARNESS_CHECK(harness_file_contains(out, "services.csv row 8"),
                      "vigilctl prints the rejected row with file and row");
    }
    return 0;
}

/* ---- reading blobs --------------------------------------------------------------- */

typedef struct {
    int type;
    char case_id[80];
    uint8_t *payload;
    size_t len;
} sink_row_t;

static size_t s_sink_rows(const char *db_path, sink_row_t *rows, size_t max)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    size_t n = 0;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT type, case_id, payload FROM sink_messages ORDER BY id", -1,
                           &stmt, NULL) == SQLITE_OK) {
        while (n < max && sqlite3_step(stmt) == SQLITE_ROW) {
            rows[n].type = sqlite3_column_int(stmt, 0);
            snprintf(rows[n].case_id, sizeof rows[n].case_id, "%s", sqlite3_column_text(stmt, 1));
            rows[n].len = (size_t)sqlite3_column_bytes(stmt, 2);
            rows[n].payload = malloc(rows[n].len + 1);
            memcpy(rows[n].payload, sqlite3_column_blob(stmt, 2), rows[n].len);
            n++;
        }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

static Vigil__V1__TriageDecision *s_decision(const char *db_path, const char *case_id, int level)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    Vigil__V1__TriageDecision *d = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(
            db, "SELECT decision FROM decisions WHERE case_id = ? AND escalation_level = ?", -1,
            &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, case_id, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 2, level);
        if (sqlite3_step(stmt) == SQLITE_ROW) {
            d = vigil__v1__triage_decision__unpack(NULL, (size_t)sqlite3_column_bytes(stmt, 0),
                                                   sqlite3_column_blob(stmt, 0));
        }
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return d;
}

/* Referrals made by all first decisions, from the stored TriageDecisions. */
static unsigned s_first_referrals(const char *db_path)
{
    unsigned total = 0;
    for (int c = 0; c < CASES; c++) {
        Vigil__V1__TriageDecision *d = s_decision(db_path, s_case_ids[c], 0);
        if (d && d->routing)
            total += (unsigned)d->routing->n_referrals;
        vigil__v1__triage_decision__free_unpacked(d, NULL);
    }
    return total;
}

static bool s_is_key(const char *text)
{
    if (strlen(text) != KEY_HEX) {
        return false;
    }
    for (const char *p = text; *p; p++) {
        if (!isxdigit((unsigned char)*p)) {
            return false;
        }
    }
    return true;
}

static bool s_contains(const uint8_t *data, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(data + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

/* The case key reporting should see for `case_id`, from triage's key file. */
static int s_case_key(const triage_kit_t *kit, const char *case_id, char out[KEY_HEX + 1])
{
    char path[HARNESS_PATH_MAX], hex[80] = "";
    snprintf(path, sizeof path, "%s/keys/intake.hashkey", kit->triage_state);
    FILE *file = fopen(path, "r");
    if (!file || !fgets(hex, sizeof hex, file)) {
        if (file) {
            fclose(file);
        }
        return -1;
    }
    fclose(file);
    /* as docs/triage.md says (and intake does): BLAKE2b-256 keyed with KDF subkey 1 */
    uint8_t master[32], subkey[32], hash[32];
    size_t len = 0;
    if (sodium_hex2bin(master, sizeof master, hex, 64, NULL, &len, NULL) != 0 || len != 32) {
        return -1;
    }
    crypto_kdf_derive_from_key(subkey, sizeof subkey, 1, "vigilhsh", master);
    crypto_generichash(hash, sizeof hash, (const uint8_t *)case_id, strlen(case_id), subkey,
                       sizeof subkey);
    sodium_bin2hex(out, KEY_HEX + 1, hash, sizeof hash);
    return 0;
}

/* ---- the flow -------------------------------------------------------------------- */

static int s_run(triage_kit_t *kit, int argc, char **argv)
{
    HARNESS_CHECK(kit_start_testplug(kit, "triage-flow", argv, NULL, s_regions) == 0,
                  "triage and the sink start on the test plugin");
    if (s_directory(kit, argc > 4 ? argv[4] : NULL)) {
        return 1;
    }

    static Vigil__V1__UrgencyCue danger[] = {VIGIL__V1__URGENCY_CUE__URGENCY_CUE_IMMEDIATE_DANGER,
                                             0};
    static Vigil__V1__UrgencyCue release[] = {
        VIGIL__V1__URGENCY_CUE__URGENCY_CUE_OFFENDER_RELEASE_SOON, 0};
    static Vigil__V1__ServiceNeed shelter[] = {VIGIL__V1__SERVICE_NEED__SERVICE_NEED_SHELTER};
    Vigil__V1__CaseView views[CASES];
    Vigil__V1__CaseView *pointers[CASES];
    char ids[CASES][32];
    kit_view(&views[0], ids[0], sizeof ids[0], "c-danger", "NY", "36061", "100", danger);
    kit_view(&views[1], ids[1], sizeof ids[1], "c-ack", "NY", "36047", "112", NULL);
    kit_view(&views[2], ids[2], sizeof ids[2], "c-tx", "TX", "48201", "770", NULL);
    kit_view(&views[3], ids[3], sizeof ids[3], "c-badzip", "KS", "", "9x7", NULL);
    kit_view(&views[4], ids[4], sizeof ids[4], "c-refer", "OR", "41051", "972", NULL);
    views[4].share_with_partners = true;
    views[4].requested_services = shelter;
    views[4].n_requested_services = 1;
    kit_view(&views[5], ids[5], sizeof ids[5], "c-release", "KS", "", "", release);
    for (int i = 0; i < CASES; i++) {
        pointers[i] = &views[i];
    }
    HARNESS_CHECK(kit_send_cases(kit, pointers, CASES, SEND_MS) == 0, "cases acknowledged");
    const char *db = kit->triage_db;
    HARNESS_CHECK(kit_wait_int(db, "SELECT count(DISTINCT case_id) FROM decisions", CASES,
                               DECIDE_MS) == CASES,
                  "every case decided");

    /* region and priority, as documented */
    static const struct {
        const char *case_id, *region;
        int priority, review;
    } expected[] = {
        {"c-danger", "manhattan", 1, 0}, {"c-ack", "east", 3, 0},
        {"c-tx", "central", 3, 0},       {"c-badzip", "central", 3, 1},
        {"c-refer", "oregon", 2, 0},     {"c-release", "central", 2, 0},
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM decisions WHERE case_id = '%s' AND escalation_level = 0"
                 " AND region = '%s' AND priority = %d AND needs_human_review = %d",
                 expected[i].case_id, expected[i].region, expected[i].priority, expected[i].review);
        HARNESS_CHECK(kit_query_int(db, sql) == 1, "%s: region %s, P%d, review %d",
                      expected[i].case_id, expected[i].region, expected[i].priority,
                      expected[i].review);
    }
    Vigil__V1__TriageDecision *d = s_decision(db, "c-danger", 0);
    HARNESS_CHECK(d && d->advise_emergency_services && d->first_contact_due_ms > d->decided_at_ms,
                  "the P1 decision advises emergency services and has a deadline");
    vigil__v1__triage_decision__free_unpacked(d, NULL);
    d = s_decision(db, "c-refer", 0);
    HARNESS_CHECK(d && d->routing && d->routing->n_referrals == 1 &&
                      strcmp(d->routing->referrals[0]->service_id, "svc-harbor-shelter") == 0,
                  "the consenting case was referred to the county's shelter");
    vigil__v1__triage_decision__free_unpacked(d, NULL);

    /* receipts: the assignee acknowledges c-ack; a stranger cannot acknowledge c-tx */
    HARNESS_CHECK(kit_send_receipt(kit, "c-ack", "east-co-1", SEND_MS) == 0, "receipt sent");
    HARNESS_CHECK(kit_send_receipt(kit, "c-tx", "somebody-else", SEND_MS) == 0,
                  "stranger's receipt answered");
    HARNESS_CHECK(kit_wait_int(db,
                               "SELECT count(*) FROM cases WHERE case_id = 'c-ack' AND state = 2",
                               1, DECIDE_MS) == 1,
                  "c-ack acknowledged");

    /* escalation: c-danger goes to the plugin's path, then the fallback's, then stalls */
    HARNESS_CHECK(kit_wait_int(db,
                               "SELECT count(*) FROM cases WHERE case_id = 'c-danger'"
                               " AND state = 3 AND needs_human_review = 1",
                               1, ESCALATE_MS) == 1,
                  "c-danger escalated twice, then stalled and flagged");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE case_id = 'c-danger'"
                                    " AND escalation_level = 1 AND assignee_id = 'mh-sup'"
                                    " AND plugin_name = 'testplug'") == 1,
                  "level 1 went to the plugin's escalation path");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE case_id = 'c-danger'"
                                    " AND escalation_level = 2 AND assignee_id = 'mh-duty-sup'"
                                    " AND used_fallback = 1") == 1,
                  "level 2 went to the region's fallback escalation");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM decisions WHERE case_id = 'c-ack'") == 1,
                  "the acknowledged case was never escalated");
    HARNESS_CHECK(kit_query_int(db, "SELECT count(*) FROM cases WHERE case_id = 'c-tx'"
                                    " AND acknowledged_at_ms IS NOT NULL") == 0,
                  "the stranger's receipt changed nothing");
    Vigil__V1__AdminReply *status =
        kit_admin(kit, VIGIL__V1__ADMIN_COMMAND__ADMIN_COMMAND_STATUS, NULL, 5000);
    HARNESS_CHECK(status, "status");
    double escalations = kit_metric(status, "triage_escalations_total", "region=\"manhattan\"");
    const char *fallback_fact = kit_fact(status, "fallback.manhattan");
    HARNESS_CHECK(escalations >= 2, "escalations counted (%g)", escalations);
    HARNESS_CHECK(fallback_fact && strstr(fallback_fact, "mh-desk"), "fallback fact: %s",
                  fallback_fact ? fallback_fact : "(none)");
    vigil__v1__admin_reply__free_unpacked(status, NULL);

    /* what left triage */
    HARNESS_CHECK(kit_wait_int(kit->sink_db,
                               "SELECT count(*) FROM sink_messages WHERE type = 22"
                               " AND case_id = 'c-danger'",
                               3, DECIDE_MS) == 3,
                  "notification got c-danger's assignment at levels 0, 1 and 2");
    harness_sleep_ms(500); /* let the last reporting messages land */
    static sink_row_t rows[512];
    size_t n = s_sink_rows(kit->sink_db, rows, 512);
    char ack_key[KEY_HEX + 1], refer_key[KEY_HEX + 1];
    HARNESS_CHECK(s_case_key(kit, "c-ack", ack_key) == 0 &&
                      s_case_key(kit, "c-refer", refer_key) == 0,
                  "case keys computed");
    int first_contact = 0, decisions_seen = 0, events_seen = 0, triaged = 0;
    unsigned referrals = 0, refer_referrals = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].type == 22) {
            continue; /* notification is meant to know the case id */
        }
        HARNESS_CHECK(s_is_key(rows[i].case_id), "reporting envelope carries a case key, not '%s'",
                      rows[i].case_id);
        for (int c = 0; c < CASES; c++) {
            HARNESS_CHECK(!s_contains(rows[i].payload, rows[i].len, s_case_ids[c]),
                          "a case id (%s) reached reporting", s_case_ids[c]);
        }
        HARNESS_CHECK(rows[i].type == 40, "only ReportEvents go to reporting (type %d)",
                      rows[i].type);
        if (rows[i].type == 40) {
            Vigil__V1__ReportEvent *ev =
                vigil__v1__report_event__unpack(NULL, rows[i].len, rows[i].payload);
            HARNESS_CHECK(ev && s_is_key(ev->case_key) && strlen(ev->quarter) == 7 &&
                              ev->quarter[4] == '-' && ev->quarter[5] == 'Q',
                          "report event carries a case key and a quarter");
            first_contact +=
                ev->kind == VIGIL__V1__REPORT_EVENT_KIND__REPORT_EVENT_KIND_FIRST_CONTACT &&
                strcmp(ev->case_key, ack_key) == 0;
            HARNESS_CHECK(ev->kind != VIGIL__V1__REPORT_EVENT_KIND__REPORT_EVENT_KIND_REFERRAL_MADE,
                          "no separate REFERRAL_MADE event");
            bool decided =
                ev->kind == VIGIL__V1__REPORT_EVENT_KIND__REPORT_EVENT_KIND_CASE_TRIAGED ||
                ev->kind == VIGIL__V1__REPORT_EVENT_KIND__REPORT_EVENT_KIND_CASE_ESCALATED;
            const Vigil__V1__TriageDecision *td = ev->decision;
            HARNESS_CHECK(decided == (td != NULL), "a decision event, and only one, carries the "
                                                   "decision");
            if (td) {
                HARNESS_CHECK(strcmp(td->case_id, ev->case_key) == 0 && td->decided_at_ms == 0 &&
                                  td->first_contact_due_ms == 0 &&
                                  (!td->routing || td->routing->rationale[0] == '\0'),
                              "the decision sent to reporting is de-identified");
                decisions_seen++;
            }
            if (ev->kind == VIGIL__V1__REPORT_EVENT_KIND__REPORT_EVENT_KIND_CASE_TRIAGED) {
                triaged++;
                referrals += ev->referrals;
                if (strcmp(ev->case_key, refer_key) == 0)
                    refer_referrals = ev->referrals;
            }
            vigil__v1__report_event__free_unpacked(ev, NULL);
            events_seen++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(rows[i].payload);
    }
    HARNESS_CHECK(decisions_seen >= CASES && events_seen >= CASES,
                  "reporting got the decisions (%d) and events (%d)", decisions_seen, events_seen);
    HARNESS_CHECK(first_contact == 1, "one FIRST_CONTACT event for the acknowledged case");
    HARNESS_CHECK(triaged == CASES, "one CASE_TRIAGED event per case (%d)", triaged);
    HARNESS_CHECK(refer_referrals == 1, "c-refer's CASE_TRIAGED event counts its referral (%u)",
                  refer_referrals);
    long long made = kit_query_int(kit->triage_db, "SELECT count(*) FROM decisions WHERE"
                                                   " escalation_level = 0");
    HARNESS_CHECK(made == CASES, "first decisions (%lld)", made);
    HARNESS_CHECK(referrals == s_first_referrals(kit->triage_db),
                  "CASE_TRIAGED events count every first decision's referrals (%u)", referrals);
    HARNESS_CHECK(kit_stop_triage(kit) == 0, "triage stops cleanly");
    printf("triage_flow_test: regions, priorities, referral, receipt, escalation and "
           "de-identification as documented\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s VIGIL_TRIAGE SINK TEST_PLUGIN_DIR [VIGILCTL]\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0) {
        return 2;
    }
    triage_kit_t kit;
    int failed = s_run(&kit, argc, argv);
    kit_finish(&kit, failed != 0);
    if (!failed) {
        printf("triage_flow_test: ok\n");
    }
    return failed;
}
