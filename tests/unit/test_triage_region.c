/* test_triage_region.c: regions come from config and the most specific
 * place wins.
 *
 * A config like an operator would write it is loaded with the real config
 * reader; then cases are resolved: a county listed by one region beats a
 * ZIP3 listed by another, which beats a state listed by a third; a case
 * that matches nothing (or has no location) goes to the default region.
 * Configs that would make resolution ambiguous (a place in two regions), a
 * default region that does not exist and unknown keys are refused with a
 * message naming the place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "region.h"
#include "triage_config.h"

static const char s_config[] =
    "triage = {\n"
    "  default_region = \"statewide\";\n"
    "  regions = (\n"
    "    { name = \"statewide\"; plugin = \"rules\"; states = [\"OR\", \"WA\"];\n"
    "      fallback = { assignee = \"state-desk\"; escalation = \"state-sup\"; }; },\n"
    "    { name = \"portland\"; plugin = \"rules\"; zip3 = [\"970\", \"972\"];\n"
    "      fallback = { assignee = \"pdx-desk\"; };\n"
    "      roster = ( { id = \"pdx-co-1\"; role = \"contact_officer\"; languages = [\"en\", "
    "\"es\"];"
    " on_call = true; } ); },\n"
    "    { name = \"multnomah\"; plugin = \"rules\"; counties = [\"41051\"];\n"
    "      fallback = { assignee = \"mult-desk\"; }; },\n"
    "    { name = \"kansas\"; plugin = \"rules\"; states = [\"KS\"]; counties = [\"20209\"];\n"
    "      fallback = { assignee = \"ks-desk\"; }; }\n"
    "  );\n"
    "};\n";

typedef struct {
    triage_config_t config;
    config_section_t sections[2];
} fixture_t;

static int s_load(fixture_t *f, const char *text, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->sections[0] = (config_section_t){triage_config_keys, &f->config};
    f->sections[1] = (config_section_t){NULL, NULL};
    if (config_load(text, NULL, f->sections, err, errlen) < 0) {
        return -1;
    }
    return triage_config_check(&f->config, err, errlen);
}

static void test_most_specific_place_wins(void **state)
{
    (void)state;
    fixture_t f;
    char err[512] = "";
    assert_int_equal(s_load(&f, s_config, err, sizeof err), 0);
    region_index_t *index = region_index_new(&f.config);
    assert_non_null(index);
    static const struct {
        const char *state, *county, *zip3, *region, *how;
    } cases[] = {
        /* county beats ZIP3 beats state */
        {"OR", "41051", "972", "multnomah", "county"},
        {"OR", "41067", "972", "portland", "zip3"},
        {"OR", "41067", "974", "statewide", "state"},
        {"WA", "", "", "statewide", "state"},
        {"KS", "20209", "661", "kansas", "county"},
        {"KS", "20001", "", "kansas", "state"},
        /* a county listed nowhere falls through to the ZIP3 and the state */
        {"OR", "41999", "", "statewide", "state"},
        /* nothing matches: the default region, never dropped */
        {"TX", "48201", "770", "statewide", "default"},
        {"", "", "", "statewide", "default"},
        {NULL, NULL, NULL, "statewide", "default"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        region_match_t how;
        const triage_region_t *region =
            region_resolve(index, cases[i].state, cases[i].county, cases[i].zip3, &how);
        assert_non_null(region);
        assert_string_equal(region->policy.name, cases[i].region);
        assert_string_equal(region_match_name(how), cases[i].how);
    }
    const triage_region_t *pdx = triage_config_region(&f.config, "portland");
    assert_non_null(pdx);
    assert_int_equal(pdx->policy.roster_count, 1);
    assert_string_equal(pdx->policy.roster[0].id, "pdx-co-1");
    assert_true(pdx->policy.roster[0].on_call);
    assert_string_equal(pdx->policy.fallback_assignee, "pdx-desk");
    region_index_destroy(&index);
    assert_null(index);
    config_release(f.sections);
}

static void s_expect_refused(const char *regions, const char *default_region, const char *needle)
{
    char text[2048];
    snprintf(text, sizeof text, "triage = { default_region = \"%s\"; regions = ( %s ); };\n",
             default_region, regions);
    fixture_t f;
    char err[512] = "";
    assert_int_equal(s_load(&f, text, err, sizeof err), -1);
    print_message("refused as expected: %s\n", err);
    assert_non_null(strstr(err, needle));
    config_release(f.sections);
}

static void test_ambiguous_and_broken_configs_are_refused(void **state)
{
    (void)state;
    /* the same county in two regions is a tie with no winner */
    s_expect_refused("{ name = \"a\"; plugin = \"rules\"; counties = [\"41051\"];"
                     " fallback = { assignee = \"x\"; }; },"
                     "{ name = \"b\"; plugin = \"rules\"; counties = [\"41051\"];"
                     " fallback = { assignee = \"y\"; }; }",
                     "a", "41051");
    s_expect_refused("{ name = \"a\"; plugin = \"rules\"; states = [\"OR\"];"
                     " fallback = { assignee = \"x\"; }; }",
                     "nowhere", "nowhere");
    s_expect_refused("{ name = \"a\"; plugin = \"rules\"; zip3 = [\"97\"];"
                     " fallback = { assignee = \"x\"; }; }",
                     "a", "zip3");
    s_expect_refused("{ name = \"a\"; plugin = \"rules\"; states = [\"or\"];"
                     " fallback = { assignee = \"x\"; }; }",
                     "a", "state");
    s_expect_refused("{ name = \"a\"; plugin = \"rules\"; countys = [\"41051\"];"
                     " fallback = { assignee = \"x\"; }; }",
                     "a", "countys");
    s_expect_refused(
        "{ name = \"bad name\"; plugin = \"rules\"; fallback = { assignee = \"x\"; }; }",
        "bad name", "name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_most_specific_place_wins),
        cmocka_unit_test(test_ambiguous_and_broken_configs_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
