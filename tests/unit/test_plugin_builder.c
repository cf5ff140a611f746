/* test_plugin_builder.c: the limits the host enforces on a plugin's decision.
 *
 * A plugin writes its decision through the host's builder
 * (services/triage/policy_builder.h). Whatever a plugin asks for, the
 * decision that comes out must stay inside the limits: a priority moved by
 * one step at most and never away from P1, no referral without the
 * victim's consent to share, at most 16 referrals, ids that cannot smuggle
 * text, a bounded printable rationale. A refused value leaves the decision
 * as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "policy_builder.h"

static vigil_case_view_t s_view(int32_t priority, bool share)
{
    return (vigil_case_view_t){.struct_size = sizeof(vigil_case_view_t),
                               .case_id = "c-1",
                               .priority = priority,
                               .share_with_partners = share};
}

static void test_priority_moves_one_step_within_p1_p4(void **state)
{
    (void)state;
    policy_builder_t b;
    vigil_case_view_t v = s_view(VIGIL_PRIORITY_P3, false);
    policy_builder_reset(&b, &v);
    vigil_decision_builder_t *d = &b.api;
    assert_int_equal(d->adjust_priority(d, -1), VIGIL_PLUGIN_OK);
    assert_int_equal(b.adjustment, -1);
    assert_int_equal(d->adjust_priority(d, 2), VIGIL_PLUGIN_ERR_LIMIT);
    assert_int_equal(d->adjust_priority(d, -2), VIGIL_PLUGIN_ERR_LIMIT);
    assert_int_equal(b.adjustment, -1); /* refused values change nothing */
    v = s_view(VIGIL_PRIORITY_P4, false);
    policy_builder_reset(&b, &v);
    assert_int_equal(d->adjust_priority(d, 1), VIGIL_PLUGIN_ERR_LIMIT); /* past P4 */
    assert_int_equal(b.adjustment, 0);
}

static void test_p1_is_never_made_less_urgent(void **state)
{
    (void)state;
    policy_builder_t b;
    vigil_case_view_t v = s_view(VIGIL_PRIORITY_P1, false);
    policy_builder_reset(&b, &v);
    vigil_decision_builder_t *d = &b.api;
    assert_int_equal(d->adjust_priority(d, 1), VIGIL_PLUGIN_ERR_LIMIT);
    assert_int_equal(d->adjust_priority(d, -1), VIGIL_PLUGIN_ERR_LIMIT); /* no P0 */
    assert_int_equal(b.adjustment, 0);
}

static void test_referrals_need_consent_and_stop_at_16(void **state)
{
    (void)state;
    policy_builder_t b;
    vigil_case_view_t v = s_view(VIGIL_PRIORITY_P3, false);
    policy_builder_reset(&b, &v);
    vigil_decision_builder_t *d = &b.api;
    assert_int_equal(d->add_referral(d, "svc-1", "org-1", "BH"), VIGIL_PLUGIN_ERR_LIMIT);
    assert_int_equal(b.referral_count, 0);
    v = s_view(VIGIL_PRIORITY_P3, true);
    policy_builder_reset(&b, &v);
    for (int i = 0; i < VIGIL_PLUGIN_REFERRALS_MAX; i++) {
        char id[32];
        snprintf(id, sizeof id, "svc-%d", i);
        assert_int_equal(d->add_referral(d, id, "org", ""), VIGIL_PLUGIN_OK);
    }
    assert_int_equal(d->add_referral(d, "svc-0", "org", ""), VIGIL_PLUGIN_OK); /* duplicate */
    assert_int_equal(d->add_referral(d, "svc-99", "org", ""), VIGIL_PLUGIN_ERR_FULL);
    assert_int_equal(b.referral_count, VIGIL_PLUGIN_REFERRALS_MAX);
    assert_int_equal(d->add_referral(d, "", "org", ""), VIGIL_PLUGIN_ERR_INVALID);
    assert_int_equal(d->add_referral(d, "svc\n", "org", ""), VIGIL_PLUGIN_ERR_INVALID);
}

static void test_ids_and_rationale_are_checked(void **state)
{
    (void)state;
    policy_builder_t b;
    vigil_case_view_t v = s_view(VIGIL_PRIORITY_P3, false);
    policy_builder_reset(&b, &v);
    vigil_decision_builder_t *d = &b.api;
    assert_int_equal(d->set_assignee(d, "co-17"), VIGIL_PLUGIN_OK);
    assert_int_equal(d->set_assignee(d, "Jane Doe"), VIGIL_PLUGIN_ERR_INVALID); /* no spaces */
    assert_int_equal(d->set_assignee(d, NULL), VIGIL_PLUGIN_ERR_INVALID);
    assert_string_equal(b.assignee, "co-17");
    char long_id[VIGIL_PLUGIN_ID_MAX + 2];
    memset(long_id, 'a', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_int_equal(d->set_escalation_path(d, long_id), VIGIL_PLUGIN_ERR_INVALID);
    assert_int_equal(d->set_escalation_path(d, "south/supervisors"), VIGIL_PLUGIN_OK);
    char long_text[VIGIL_PLUGIN_RATIONALE_MAX + 2];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    assert_int_equal(d->set_rationale(d, long_text), VIGIL_PLUGIN_ERR_LIMIT);
    assert_int_equal(d->set_rationale(d, "line\nbreak"), VIGIL_PLUGIN_ERR_INVALID);
    assert_int_equal(d->set_rationale(d, "after hours: on-call"), VIGIL_PLUGIN_OK);
    assert_string_equal(b.rationale, "after hours: on-call");
    assert_int_equal(d->flag_for_review(d), VIGIL_PLUGIN_OK);
    assert_true(b.review);
}

static void test_reset_forgets_the_previous_case(void **state)
{
    (void)state;
    policy_builder_t b;
    vigil_case_view_t v = s_view(VIGIL_PRIORITY_P3, true);
    policy_builder_reset(&b, &v);
    b.api.set_assignee(&b.api, "co-1");
    b.api.add_referral(&b.api, "svc", "org", "");
    b.api.flag_for_review(&b.api);
    policy_builder_reset(&b, &v);
    assert_string_equal(b.assignee, "");
    assert_int_equal(b.referral_count, 0);
    assert_false(b.review);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priority_moves_one_step_within_p1_p4),
        cmocka_unit_test(test_p1_is_never_made_less_urgent),
        cmocka_unit_test(test_referrals_need_consent_and_stop_at_16),
        cmocka_unit_test(test_ids_and_rationale_are_checked),
        cmocka_unit_test(test_reset_forgets_the_previous_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
