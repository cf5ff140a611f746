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
 *     triage's log.
 * Usage: triage_intake_e2e_test VIGIL_INTAKE VIGIL_TRIAGE TEST_PLUGIN_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "intake_kit.h"

enum { CONTACTS = 40, INDEX_BASE = 7000, TIMEOUT_MS = 10000, DECIDE_MS = 60000 };

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
    printf("triage_intake_e2e_test: %d contacts decided; no personal value in the plugin dump, "
           "triage's store or log\n",
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
