/* priority.c: the priority rule table and its evaluation.
 *
 * The table below is the one place the office's urgency policy lives; the
 * same rows are listed in docs/triage.md. Rules vote, the most urgent vote
 * wins, and no vote means P3. The table only ever reads the pseudonymous
 * case view; it must never grow a rule that looks at personal data (there
 * is none in a CaseView to look at, and it must stay that way).
 */
#include "priority.h"

#define CUE(c)      PRIORITY_MATCH_CUE, VIGIL__V1__URGENCY_CUE__URGENCY_CUE_##c
#define CATEGORY(c) PRIORITY_MATCH_CATEGORY, VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_##c
#define SERVICE(s)  PRIORITY_MATCH_SERVICE, VIGIL__V1__SERVICE_NEED__SERVICE_NEED_##s
#define P(n)        VIGIL__V1__PRIORITY__PRIORITY_P##n

const priority_rule_t priority_rules[] = {
    /* P1: immediate danger. The decision advises emergency services. */
    {"immediate-danger", CUE(IMMEDIATE_DANGER), P(1)},
    {"suicidal", CUE(SUICIDAL), P(1)},
    /* P2: time-sensitive. */
    {"offender-release-soon", CUE(OFFENDER_RELEASE_SOON), P(2)},
    {"court-date-soon", CUE(COURT_DATE_SOON), P(2)},
    {"injury", CUE(INJURY), P(2)},
    {"weapon", CUE(WEAPON), P(2)},
    {"children-present", CUE(CHILDREN_PRESENT), P(2)},
    {"trafficking", CATEGORY(TRAFFICKING), P(2)},
    {"needs-shelter", SERVICE(SHELTER), P(2)},
    {"needs-medical", SERVICE(MEDICAL), P(2)},
    /* P4: the caller only wants information (loses to any other vote). */
    {"info-only", CUE(INFO_ONLY), P(4)},
    {0},
};

static bool s_has(const int *values, size_t count, int value)
{
    for (size_t i = 0; i < count; i++) {
        if (values[i] == value) {
            return true;
        }
    }
    return false;
}

static bool s_matches(const priority_rule_t *rule, const Vigil__V1__CaseView *view)
{
    switch (rule->match) {
    case PRIORITY_MATCH_CUE:
        return s_has((const int *)view->urgency_cues, view->n_urgency_cues, rule->value);
    case PRIORITY_MATCH_CATEGORY:
        return (int)view->crime_category == rule->value;
    case PRIORITY_MATCH_SERVICE:
        return s_has((const int *)view->requested_services, view->n_requested_services,
                     rule->value);
    }
    return false;
}

priority_result_t priority_classify(const Vigil__V1__CaseView *view)
{
    priority_result_t result = {.priority = PRIORITY_DEFAULT, .rule = "default"};
    bool voted = false;
    for (const priority_rule_t *rule = priority_rules; rule->name; rule++) {
        if (!s_matches(rule, view)) {
            continue;
        }
        if (!voted || rule->priority < result.priority) {
            result.priority = rule->priority;
            result.rule = rule->name;
            voted = true;
        }
    }
    result.advise_emergency_services = result.priority == P(1);
    return result;
}

Vigil__V1__Priority priority_adjust(Vigil__V1__Priority base, int adjustment)
{
    if (base == P(1) || adjustment == 0) {
        return base;
    }
    int step = adjustment < 0 ? -1 : 1;
    int final = (int)base + step;
    if (final < (int)P(1)) {
        final = (int)P(1);
    }
    if (final > (int)P(4)) {
        final = (int)P(4);
    }
    return (Vigil__V1__Priority) final;
}

const char *priority_label(Vigil__V1__Priority priority)
{
    static const char *const labels[] = {"P0", "P1", "P2", "P3", "P4"};
    if ((int)priority < 0 || (size_t)priority >= sizeof labels / sizeof labels[0]) {
        return "P0";
    }
    return labels[priority];
}
