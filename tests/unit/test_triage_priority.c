/* test_triage_priority.c: the priority rule table decides as documented.
 *
 * Each row of the table below is one case view (cues, category, requested
 * services) and the priority docs/triage.md says it gets, with the rule
 * that wins. Then the plugin adjustment limits: one step at most, never
 * past P1 or P4, and a P1 is never made less urgent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "priority.h"

#define CUE(c)   VIGIL__V1__URGENCY_CUE__URGENCY_CUE_##c
#define CAT(c)   VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_##c
#define NEED(n)  VIGIL__V1__SERVICE_NEED__SERVICE_NEED_##n
#define P(n)     VIGIL__V1__PRIORITY__PRIORITY_P##n
#define MAX_LIST 4

typedef struct {
    const char *what;
    Vigil__V1__UrgencyCue cues[MAX_LIST];
    size_t cue_count;
    Vigil__V1__CrimeCategory category;
    Vigil__V1__ServiceNeed needs[MAX_LIST];
    size_t need_count;
    Vigil__V1__Priority expected;
    const char *rule;
    int advise;
} priority_case_t;

static const priority_case_t s_cases[] = {
    {"no cues at all is standard", {0}, 0, CAT(FRAUD), {0}, 0, P(3), "default", 0},
    {"immediate danger is P1",
     {CUE(IMMEDIATE_DANGER)},
     1,
     CAT(ASSAULT),
     {0},
     0,
     P(1),
     "immediate-danger",
     1},
    {"suicidal is P1", {CUE(SUICIDAL)}, 1, CAT(OTHER), {0}, 0, P(1), "suicidal", 1},
    {"offender release soon is P2",
     {CUE(OFFENDER_RELEASE_SOON)},
     1,
     CAT(DOMESTIC_VIOLENCE),
     {0},
     0,
     P(2),
     "offender-release-soon",
     0},
    {"court date soon is P2",
     {CUE(COURT_DATE_SOON)},
     1,
     CAT(ROBBERY),
     {0},
     0,
     P(2),
     "court-date-soon",
     0},
    {"info only is P4", {CUE(INFO_ONLY)}, 1, CAT(FRAUD), {0}, 0, P(4), "info-only", 0},
    {"info only loses to a release date",
     {CUE(INFO_ONLY), CUE(OFFENDER_RELEASE_SOON)},
     2,
     CAT(STALKING),
     {0},
     0,
     P(2),
     "offender-release-soon",
     0},
    {"danger wins over everything",
     {CUE(INFO_ONLY), CUE(COURT_DATE_SOON), CUE(IMMEDIATE_DANGER)},
     3,
     CAT(DOMESTIC_VIOLENCE),
     {NEED(SHELTER)},
     1,
     P(1),
     "immediate-danger",
     1},
    {"trafficking is P2", {0}, 0, CAT(TRAFFICKING), {0}, 0, P(2), "trafficking", 0},
    {"asking for shelter is P2",
     {0},
     0,
     CAT(DOMESTIC_VIOLENCE),
     {NEED(COUNSELING), NEED(SHELTER)},
     2,
     P(2),
     "needs-shelter",
     0},
    {"counseling alone is standard",
     {0},
     0,
     CAT(ASSAULT),
     {NEED(COUNSELING)},
     1,
     P(3),
     "default",
     0},
    {"unknown cue values are ignored",
     {(Vigil__V1__UrgencyCue)99},
     1,
     CAT(OTHER),
     {0},
     0,
     P(3),
     "default",
     0},
};

static void test_rule_table_decides_as_documented(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const priority_case_t *c = &s_cases[i];
        Vigil__V1__CaseView view = VIGIL__V1__CASE_VIEW__INIT;
        view.case_id = (char *)"c_test";
        view.urgency_cues = (Vigil__V1__UrgencyCue *)c->cues;
        view.n_urgency_cues = c->cue_count;
        view.crime_category = c->category;
        view.requested_services = (Vigil__V1__ServiceNeed *)c->needs;
        view.n_requested_services = c->need_count;
        priority_result_t result = priority_classify(&view);
        print_message("%s\n", c->what);
        assert_int_equal(result.priority, c->expected);
        assert_string_equal(result.rule, c->rule);
        assert_int_equal(result.advise_emergency_services, c->advise);
    }
}

static void test_plugin_adjustment_is_limited(void **state)
{
    (void)state;
    assert_int_equal(priority_adjust(P(3), -1), P(2));
    assert_int_equal(priority_adjust(P(3), 1), P(4));
    assert_int_equal(priority_adjust(P(3), 0), P(3));
    assert_int_equal(priority_adjust(P(3), -5), P(2)); /* one step at most */
    assert_int_equal(priority_adjust(P(4), 1), P(4));  /* never past P4 */
    assert_int_equal(priority_adjust(P(2), -1), P(1)); /* more urgent is allowed */
    assert_int_equal(priority_adjust(P(1), 1), P(1));  /* danger is not a plugin's call */
    assert_string_equal(priority_label(P(2)), "P2");
}

static void test_every_rule_has_a_name_and_a_priority(void **state)
{
    (void)state;
    size_t rules = 0;
    for (const priority_rule_t *rule = priority_rules; rule->name; rule++, rules++) {
        assert_true(rule->priority >= P(1) && rule->priority <= P(4));
        assert_true(strlen(rule->name) > 0);
    }
    assert_true(rules >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_table_decides_as_documented),
        cmocka_unit_test(test_plugin_adjustment_is_limited),
        cmocka_unit_test(test_every_rule_has_a_name_and_a_priority),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
