/* policy_builder.h: the decision builder a plugin's route writes through.
 *
 * Runs in vigil-policy-worker. Implements vigil_decision_builder_t and
 * enforces the host's limits as the plugin writes: id syntax and lengths,
 * at most VIGIL_PLUGIN_REFERRALS_MAX referrals and none without the
 * victim's consent to share with partners, a priority move of one step at
 * most that never makes a P1 case less urgent, a printable rationale. A
 * refused value leaves the decision as it was. Everything is copied into
 * fixed buffers: nothing the plugin passes is kept, nothing is allocated.
 */
#ifndef VIGIL_TRIAGE_POLICY_BUILDER_H
#define VIGIL_TRIAGE_POLICY_BUILDER_H

#include <stdbool.h>
#include <stdint.h>

#include "vigil/plugin.h"

typedef struct {
    char service_id[VIGIL_PLUGIN_REF_MAX + 1];
    char organization_id[VIGIL_PLUGIN_REF_MAX + 1];
    char taxonomy_term[VIGIL_PLUGIN_REF_MAX + 1];
} policy_builder_referral_t;

typedef struct {
    vigil_decision_builder_t api; /* first: the plugin gets &builder->api */
    int32_t base_priority;        /* the case's priority before the plugin */
    bool may_refer;               /* the case consented to partner referrals */
    char assignee[VIGIL_PLUGIN_ID_MAX + 1];
    char escalation[VIGIL_PLUGIN_ID_MAX + 1];
    char rationale[VIGIL_PLUGIN_RATIONALE_MAX + 1];
    int32_t adjustment;
    bool review;
    uint32_t referral_count;
    policy_builder_referral_t referrals[VIGIL_PLUGIN_REFERRALS_MAX];
} policy_builder_t;

/* Empties the builder for a new case and fills its function table.
 * Cannot fail. */
void policy_builder_reset(policy_builder_t *builder, const vigil_case_view_t *view);

/* True if `id` is 1..VIGIL_PLUGIN_ID_MAX bytes of [A-Za-z0-9._:@/-].
 * Cannot fail. */
bool policy_builder_valid_id(const char *id);

#endif
