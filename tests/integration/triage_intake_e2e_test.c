/* triage_intake_e2e_test.c: end to end from a hotline contact to a triage
 * decision, and no personal data anywhere triage or its plugins can see.
 *
 * A real vigil-intake (with its vault) receives hotline contacts full of
 * personal data (names, phones, emails, addresses, narratives) from a
 * publisher over CURVE, strips them to CaseViews and forwards them over the
 * link to a real vigil-triage, whose region runs the test plugin with
 * `dump_to`: it writes everything a plugin can see (the whole case view,
 * the roster) to a file. Checked:
 *   - every contact becomes exactly one triage decision;
 *   - the dump has one line per case (the plugin saw every case);
 *   - not one personal value (any victim's name, phone, email, narrative)
 *     appears in the plugin's dump, in triage's store (db, wal, shm) or in
 *     triage's log;
 *   - the assignee's receipt, published to intake by a permitted source,
 *     is ACCEPTED (then DUPLICATE), reaches triage and acknowledges the
 *     case there; a receipt for a case intake never accepted, or from a
 *     source that may not send receipts, is REJECTED.
 * Usage: triage_intake_e2e_test VIGIL_INTAKE VIGIL_TRIAGE TEST_PLUGIN_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sqlite3.h>

#include "intake_kit.h"
#include "vigil/v1/case.pb-c.h"

enum { CONTACTS = 40, INDEX_BASE = 7000, TIMEOUT_MS = 10000, DECIDE_MS = 60000, ID_LEN = 64 };

#define MT_RECEIPT VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT
#define STATUS(s)  VIGIL__V1__ACK_STATUS__ACK_STATUS_##s
#define REASON(r)  VIGIL__V1__REASON_CODE__REASON_##r

/* Reads one row's two text columns from `db_path`; 0, or -1 if no row. */
static int s_query_pair(const char *db_path, const char *sql, char a[ID_LEN], char b[ID_LEN])
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int rc = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
        const unsigned char *x = sqlite3_column_text(stmt, 0), *y = sqlite3_column_text(stmt, 1);
        snprintf(a, ID_LEN, "%s", x ? (const char *)x : "");
        snprintf(b, ID_LEN, "%s", y ? (const char *)y : "");
        rc = 0;
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return rc;
}

/* The assignee acknowledges one decided case through intake. */
static int s_check_receipt(kit_t *kit, const char *triage_db)
{
    char case_id[ID_LEN], assignee[ID_LEN], sql[256];
    KIT_CHECK(s_query_pair(triage_db, "SELECT case_id, assignee_id FROM cases WHERE state = 1",
                           case_id, assignee) == 0,
              "a decided case in triage");
    Vigil__V1__AssignmentReceipt receipt = VIGIL__V1__ASSIGNMENT_RECEIPT__INIT;
    receipt.event_id = (char *)"ack-0001";
    receipt.case_id = case_id;
    receipt.assignee_id = assignee;
    receipt.acknowledged_at_ms = kit_now_ms();
    zsock_t *tool = kit_publisher(kit, "hotline-east", NULL);
    zsock_t *jail = kit_publisher(kit, "county-jail-042", NULL);
    KIT_CHECK(tool && jail, "publishers connect");
    kit_ack_t ack;
    KIT_CHECK(kit_request(tool, MT_RECEIPT, &receipt.base, TIMEOUT_MS, &ack) == 1 &&
                  ack.status == STATUS(ACCEPTED) && strcmp(ack.case_id, case_id) == 0,
              "receipt accepted by intake (status %d: %s)", ack.status, ack.detail);
    KIT_CHECK(kit_request(tool, MT_RECEIPT, &receipt.base, TIMEOUT_MS, &ack) == 1 &&
                  ack.status == STATUS(DUPLICATE) && strcmp(ack.case_id, case_id) == 0,
              "the same receipt again is DUPLICATE (status %d)", ack.status);
    Vigil__V1__AssignmentReceipt unknown = receipt;
    unknown.event_id = (char *)"ack-0002";
    unknown.case_id = (char *)"c_aaaaaaaaaaaaaaaaaaaa";
    KIT_CHECK(kit_request(tool, MT_RECEIPT, &unknown.base, TIMEOUT_MS, &ack) == 1 &&
                  ack.status == STATUS(REJECTED) && ack.reason == REASON(INVALID_VALUE) &&
                  strstr(ack.detail, "case_id"),
              "a receipt for an unknown case is REJECTED naming case_id (%d: %s)", ack.status,
              ack.detail);
    Vigil__V1__AssignmentReceipt from_jail = receipt;
    from_jail.event_id = (char *)"ack-0003";
    KIT_CHECK(kit_request(jail, MT_RECEIPT, &from_jail.base, TIMEOUT_MS, &ack) == 1 &&
                  ack.status == STATUS(REJECTED) && ack.reason == REASON(NOT_PERMITTED),
              "a receipt from a jail feed is REJECTED NOT_PERMITTED (%d: %s)", ack.status,
              ack.detail);
    zsock_destroy(&tool);
    zsock_destroy(&jail);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cases WHERE case_id = '%s' AND state = 2 AND "
             "acknowledged_by = '%s'",
             case_id, assignee);
    long long acknowledged = 0;
    for (int waited = 0; waited < DECIDE_MS && acknowledged < 1; waited += 100) {
        acknowledged = kit_query_int(triage_db, sql);
        if (acknowledged < 1)
            kit_sleep_ms(100);
    }
    KIT_CHECK(acknowledged == 1, "triage applied the receipt: the case is acknowledged");
    KIT_CHECK(kit_query_int(triage_db, "SELECT count(*) FROM cases WHERE state = 2") == 1,
              "only the acknowledged case changed");
    return 0;
}

static int s_file_contains(const char *path, const char *needle)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        return 0;
    }
    size_t len = strlen(needle), used = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    int found = 0;
    size_t n;
    while (buf && (n = fread(buf + used, 1, cap - used, file)) > 0) {
        used += n;
        if (used == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    for (size_t i = 0; buf && len && i + len <= used && !found; i++) {
        found = memcmp(buf + i, needle, len) == 0;
    }
    free(buf);
    fclose(file);
    return found;
}

static int s_copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[8192];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0) {
        rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
    }
    if (in) {
        fclose(in);
    }
    if (out) {
        fclose(out);
    }
    return rc == 0 ? chmod(to, S_IRWXU) : -1;
}

static int s_run(kit_t *kit, char **argv)
{
    KIT_CHECK(kit_setup(kit, "triage-e2e", argv[1], argv[2], NULL) == 0, "kit setup");
    /* turn the stand-in's config into a real triage config on the same port */
    int port = 0;
    FILE *old = fopen(kit->triage_config, "r");
    char line[512];
    while (old && fgets(line, sizeof line, old)) {
        sscanf(line, "link = { listen = \"tcp://127.0.0.1:%d\"; };", &port);
    }
    if (old) {
        fclose(old);
    }
    KIT_CHECK(port > 0, "stand-in port found");
    char plugins[2 * KIT_PATH], plugin[3 * KIT_PATH], dump[2 * KIT_PATH];
    snprintf(plugins, sizeof plugins, "%s/plugins", kit->dir);
    snprintf(plugin, sizeof plugin, "%s/testplug.so", plugins);
    snprintf(dump, sizeof dump, "%s/plugin-dump.txt", kit->dir);
    char source[2 * KIT_PATH];
    snprintf(source, sizeof source, "%s/triage_testplug_v1.so", argv[3]);
    KIT_CHECK(mkdir(plugins, S_IRWXU) == 0 && s_copy(source, plugin) == 0, "plugin installed");
    FILE *config = fopen(kit->triage_config, "w");
    KIT_CHECK(config, "triage config");
    fprintf(config,
            "state_dir = \"%s\";\nlog_level = \"debug\";\n"
            "link = { listen = \"tcp://127.0.0.1:%d\"; };\nmetrics = { listen = \"\"; };\n"
            "peers = ();\n"
            "triage = {\n  plugin = { dir = \"%s\"; };\n  default_region = \"all\";\n"
            "  regions = ( { name = \"all\"; plugin = \"testplug\";\n"
            "    plugin_config = { dump_to = \"%s\"; refer = \"shelter\"; };\n"
            "    fallback = { assignee = \"desk\"; };\n"
            "    roster = ( { id = \"co-1\"; role = \"contact_officer\"; languages = [\"en\"]; } );"
            " } );\n};\n",
            kit->triage_state, port, plugins, dump);
    fclose(config);

    KIT_CHECK(kit_start_standin(kit) == 0, "triage starts");
    KIT_CHECK(kit_start_intake(kit) == 0, "intake starts");
    zsock_t *hotline = kit_publisher(kit, "hotline-east", NULL);
    KIT_CHECK(hotline, "publisher connects");
    static kit_contact_t storage[CONTACTS];
    for (int i = 0; i < CONTACTS; i++) {
        char event[64];
        snprintf(event, sizeof event, "e2e-%04d", i);
        Vigil__V1__IntakeContact *contact = kit_contact(&storage[i], event, INDEX_BASE + i);
        kit_ack_t ack;
        KIT_CHECK(kit_request(hotline, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT,
                              &contact->base, TIMEOUT_MS, &ack) == 1 &&
                      ack.status == VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED,
                  "contact %d accepted by intake (status %d: %s)", i, ack.status, ack.detail);
    }
    zsock_destroy(&hotline);

    char triage_db[KIT_PATH];
    kit_triage_db(kit, triage_db);
    long long decided = -1;
    for (int waited = 0; waited < DECIDE_MS; waited += 100) {
        decided = kit_query_int(triage_db, "SELECT count(DISTINCT case_id) FROM decisions");
        if (decided >= CONTACTS) {
            break;
        }
        kit_sleep_ms(100);
    }
    KIT_CHECK(decided == CONTACTS, "every contact decided by triage (%lld of %d)", decided,
              CONTACTS);
    int lines = 0;
    FILE *dumped = fopen(dump, "r");
    while (dumped && fgets(line, sizeof line, dumped)) {
        lines += strncmp(line, "case_id=", 8) == 0;
    }
    if (dumped) {
        fclose(dumped);
    }
    KIT_CHECK(lines == CONTACTS, "the plugin saw every case (%d dump lines)", lines);
    KIT_CHECK(s_check_receipt(kit, triage_db) == 0, "the assignee's receipt");

    const char *places[] = {dump, kit->triage_log};
    for (int i = 0; i < CONTACTS; i++) {
        char name[64], phone[32];
        kit_victim_name(INDEX_BASE + i, name);
        kit_victim_phone(INDEX_BASE + i, phone);
        const char *values[] = {name, phone, storage[i].email, storage[i].narrative,
                                storage[i].given_name};
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            if (!values[v][0]) {
                continue;
            }
            for (size_t p = 0; p < sizeof places / sizeof places[0]; p++) {
                KIT_CHECK(!s_file_contains(places[p], values[v]),
                          "personal value %zu of contact %d found in %s", v, i, places[p]);
            }
            KIT_CHECK(!kit_files_contain(triage_db, values[v]),
                      "personal value %zu of contact %d found in triage's store", v, i);
        }
    }
    printf("triage_intake_e2e_test: %d contacts decided, one acknowledged through intake; no "
           "personal value in the plugin dump, triage's store or log\n",
           CONTACTS);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s VIGIL_INTAKE VIGIL_TRIAGE TEST_PLUGIN_DIR\n", argv[0]);
        return 2;
    }
    kit_t kit;
    int failed = s_run(&kit, argv);
    if (failed) {
        fprintf(stderr, "triage log:\n");
        char cmd[2 * KIT_PATH];
        snprintf(cmd, sizeof cmd, "tail -n 30 '%s' >&2", kit.triage_log);
        if (system(cmd) != 0) {
            fprintf(stderr, "(no triage log)\n");
        }
    }
    kit_teardown(&kit);
    if (!failed) {
        printf("triage_intake_e2e_test: ok\n");
    }
    return failed;
}
