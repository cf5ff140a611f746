/* policy_fallback.c: the fallback policy (policy_fallback.h). */
#include "policy_fallback.h"

#include <stdio.h>
#include <string.h>

#include "vigil/service.h"

/* Index of the least-loaded roster entry passing `want`, or -1. Ties go to
 * the earlier entry, so the choice is deterministic. */
static long s_least_loaded(const policy_region_t *region, const uint32_t *loads, bool on_call_only,
                           bool contact_only)
{
    long best = -1;
    for (size_t i = 0; i < region->roster_count; i++) {
        const policy_officer_t *o = &region->roster[i];
        if ((on_call_only && !o->on_call) ||
            (contact_only && o->role != VIGIL_ROLE_CONTACT_OFFICER)) {
            continue;
        }
        if (best < 0 || (loads && loads[i] < loads[best])) {
            best = (long)i;
        }
    }
    return best;
}

void policy_fallback_decide(const policy_region_t *region, const uint32_t *loads,
                            const char *reason, policy_decision_t *out)
{
    /* Set field by field: the referral buffers are large and stay unused
     * (referral_count 0). */
    out->assignee_id[0] = '\0';
    out->escalation_path[0] = '\0';
    out->priority_adjustment = 0;
    out->needs_human_review = false;
    out->referral_count = 0;
    snprintf(out->plugin_name, sizeof out->plugin_name, "%s", POLICY_FALLBACK_NAME);
    snprintf(out->plugin_version, sizeof out->plugin_version, "%s", VIGIL_VERSION);
    out->used_fallback = true;
    const char *how = "configured fallback assignee";
    if (region && region->fallback_assignee && region->fallback_assignee[0]) {
        snprintf(out->assignee_id, sizeof out->assignee_id, "%s", region->fallback_assignee);
    } else if (region) {
        long pick = s_least_loaded(region, loads, true, true);
        how = "least-loaded on-call contact officer";
        if (pick < 0) {
            pick = s_least_loaded(region, loads, false, true);
            how = "least-loaded contact officer";
        }
        if (pick < 0 && region->roster_count > 0) {
            pick = 0;
            how = "first roster entry";
        }
        if (pick >= 0) {
            snprintf(out->assignee_id, sizeof out->assignee_id, "%s", region->roster[pick].id);
        }
    }
    if (!out->assignee_id[0]) {
        how = "no one to assign";
        out->needs_human_review = true;
    }
    if (region && region->fallback_escalation) {
        snprintf(out->escalation_path, sizeof out->escalation_path, "%s",
                 region->fallback_escalation);
    }
    snprintf(out->rationale, sizeof out->rationale, "fallback policy (%s): %s", how,
             reason && reason[0] ? reason : "no plugin decision");
}
