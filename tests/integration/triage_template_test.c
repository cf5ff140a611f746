/* triage_template_test.c: the plugin template, built out of tree against
 * the installed SDK, loaded by a real vigil-triage, routes a case.
 *
 * triage_sdk_test.sh installs the SDK into a temporary prefix, builds the
 * installed template with find_package(VigilPlugin) outside the vigil tree,
 * and runs this test with the resulting my-region.so. Here: a real triage
 * whose one region uses the template (its region.conf settings), a case
 * sent over the link as intake would, and the stored decision: made by
 * "my-region" (not the fallback), assigned to one of the region's officers.
 * Usage: triage_template_test VIGIL_TRIAGE SINK MY_REGION_SO
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage_kit.h"

enum { CASES = 3, SEND_MS = 30000, DECIDE_MS = 30000 };

static const char s_regions[] =
    "default_region = \"my-region\";\n"
    "regions = (\n"
    "  { name = \"my-region\"; plugin = \"my-region\"; timezone = \"America/Chicago\";\n"
    "    states = [\"IL\"];\n"
    "    plugin_config = { escalation = \"my-supervisors\"; shelter_term = \"BH-1800.8500\"; };\n"
    "    fallback = { assignee = \"my-duty\"; escalation = \"my-supervisors\"; };\n"
    "    roster = ( { id = \"co-1\"; role = \"contact_officer\"; languages = [\"en\"];"
    " on_call = true; },\n"
    "               { id = \"co-2\"; role = \"contact_officer\"; languages = [\"en\", \"es\"]; } "
    "); }\n"
    ");\n";

static int s_run(triage_kit_t *kit, char **argv)
{
    HARNESS_CHECK(kit_init(kit, "triage-template", argv[1], argv[2]) == 0, "kit setup");
    HARNESS_CHECK(kit_install_plugin(kit, argv[3], "my-region") == 0, "install the template");
    HARNESS_CHECK(kit_write_triage_config(kit, NULL, s_regions) == 0, "config");
    HARNESS_CHECK(kit_start_sink(kit) == 0, "sink starts");
    HARNESS_CHECK(kit_start_triage(kit) == 0, "triage starts");
    Vigil__V1__CaseView views[CASES];
    Vigil__V1__CaseView *pointers[CASES];
    char ids[CASES][32];
    static Vigil__V1__UrgencyCue danger[] = {VIGIL__V1__URGENCY_CUE__URGENCY_CUE_IMMEDIATE_DANGER,
                                             0};
    for (int i = 0; i < CASES; i++) {
        char id[32];
        snprintf(id, sizeof id, "tmpl-%d", i);
        kit_view(&views[i], ids[i], sizeof ids[i], id, "IL", "", "", i == 0 ? danger : NULL);
        pointers[i] = &views[i];
    }
    HARNESS_CHECK(kit_send_cases(kit, pointers, CASES, SEND_MS) == 0, "cases acknowledged");
    HARNESS_CHECK(
        kit_wait_int(kit->triage_db, "SELECT count(*) FROM decisions", CASES, DECIDE_MS) == CASES,
        "every case decided");
    HARNESS_CHECK(kit_query_int(kit->triage_db,
                                "SELECT count(*) FROM decisions WHERE plugin_name = 'my-region'"
                                " AND used_fallback = 0 AND assignee_id IN ('co-1', 'co-2')") ==
                      CASES,
                  "the out-of-tree template decided every case itself");
    printf("triage_template_test: the SDK template routed %d cases in a real triage\n", CASES);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s VIGIL_TRIAGE SINK MY_REGION_SO\n", argv[0]);
        return 2;
    }
    triage_kit_t kit;
    int failed = s_run(&kit, argv);
    kit_finish(&kit, failed != 0);
    return failed;
}
