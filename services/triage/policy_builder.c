/* policy_builder.c: the host-owned decision builder (policy_builder.h).
 * It validates and copies; it never logs what a plugin wrote.
 */
#include "policy_builder.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

/* The most a priority may move, in steps. */
#define POLICY_ADJUST_MAX 1

static policy_builder_t *s_self(vigil_decision_builder_t *api)
{
    return (policy_builder_t *)(void *)((char *)api - offsetof(policy_builder_t, api));
}

bool policy_builder_valid_id(const char *id)
{
    size_t len = id ? strnlen(id, VIGIL_PLUGIN_ID_MAX + 1) : 0;
    if (len == 0 || len > VIGIL_PLUGIN_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!isalnum(c) && !strchr("._:@/-", c)) {
            return false;
        }
    }
    return true;
}

/* 1..max bytes, no control characters (UTF-8 above 0x7f allowed). */
static bool s_printable(const char *text, size_t max, bool allow_empty)
{
    if (!text) {
        return false;
    }
    size_t len = strnlen(text, max + 1);
    if (len > max || (len == 0 && !allow_empty)) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

static int s_set_assignee(vigil_decision_builder_t *api, const char *roster_id)
{
    policy_builder_t *b = s_self(api);
    if (!policy_builder_valid_id(roster_id)) {
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    strcpy(b->assignee, roster_id);
    return VIGIL_PLUGIN_OK;
}

static int s_add_referral(vigil_decision_builder_t *api, const char *service_id,
                          const char *organization_id, const char *taxonomy_term)
{
    policy_builder_t *b = s_self(api);
    if (!s_printable(service_id, VIGIL_PLUGIN_REF_MAX, false) ||
        !s_printable(organization_id, VIGIL_PLUGIN_REF_MAX, false) ||
        (taxonomy_term && !s_printable(taxonomy_term, VIGIL_PLUGIN_REF_MAX, true))) {
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    if (!b->may_refer) {
        return VIGIL_PLUGIN_ERR_LIMIT;
    }
    for (uint32_t i = 0; i < b->referral_count; i++) {
        if (strcmp(b->referrals[i].service_id, service_id) == 0) {
            return VIGIL_PLUGIN_OK;
        }
    }
    if (b->referral_count >= VIGIL_PLUGIN_REFERRALS_MAX) {
        return VIGIL_PLUGIN_ERR_FULL;
    }
    policy_builder_referral_t *r = &b->referrals[b->referral_count++];
    strcpy(r->service_id, service_id);
    strcpy(r->organization_id, organization_id);
    strcpy(r->taxonomy_term, taxonomy_term ? taxonomy_term : "");
    return VIGIL_PLUGIN_OK;
}

static int s_adjust_priority(vigil_decision_builder_t *api, int32_t steps)
{
    policy_builder_t *b = s_self(api);
    if (steps < -POLICY_ADJUST_MAX || steps > POLICY_ADJUST_MAX) {
        return VIGIL_PLUGIN_ERR_LIMIT;
    }
    int32_t base = b->base_priority;
    if (steps != 0 && (base < VIGIL_PRIORITY_P1 || base > VIGIL_PRIORITY_P4)) {
        return VIGIL_PLUGIN_ERR_LIMIT;
    }
    int32_t result = base + steps;
    if (steps != 0 && (result < VIGIL_PRIORITY_P1 || result > VIGIL_PRIORITY_P4)) {
        return VIGIL_PLUGIN_ERR_LIMIT;
    }
    if (base == VIGIL_PRIORITY_P1 && steps > 0) {
        return VIGIL_PLUGIN_ERR_LIMIT; /* immediate danger is not a plugin's call */
    }
    b->adjustment = steps;
    return VIGIL_PLUGIN_OK;
}

static int s_set_escalation_path(vigil_decision_builder_t *api, const char *path)
{
    policy_builder_t *b = s_self(api);
    if (!policy_builder_valid_id(path)) {
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    strcpy(b->escalation, path);
    return VIGIL_PLUGIN_OK;
}

static int s_set_rationale(vigil_decision_builder_t *api, const char *text)
{
    policy_builder_t *b = s_self(api);
    if (!text) {
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    if (strnlen(text, VIGIL_PLUGIN_RATIONALE_MAX + 1) > VIGIL_PLUGIN_RATIONALE_MAX) {
        return VIGIL_PLUGIN_ERR_LIMIT;
    }
    if (!s_printable(text, VIGIL_PLUGIN_RATIONALE_MAX, false)) {
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    strcpy(b->rationale, text);
    return VIGIL_PLUGIN_OK;
}

static int s_flag_for_review(vigil_decision_builder_t *api)
{
    s_self(api)->review = true;
    return VIGIL_PLUGIN_OK;
}

void policy_builder_reset(policy_builder_t *builder, const vigil_case_view_t *view)
{
    /* Only the heads are cleared: the buffers are large and only ever read
     * up to their NUL or up to referral_count. */
    memset(&builder->api, 0, sizeof builder->api);
    builder->assignee[0] = '\0';
    builder->escalation[0] = '\0';
    builder->rationale[0] = '\0';
    builder->adjustment = 0;
    builder->review = false;
    builder->referral_count = 0;
    builder->api.struct_size = (uint32_t)sizeof builder->api;
    builder->api.set_assignee = s_set_assignee;
    builder->api.add_referral = s_add_referral;
    builder->api.adjust_priority = s_adjust_priority;
    builder->api.set_escalation_path = s_set_escalation_path;
    builder->api.set_rationale = s_set_rationale;
    builder->api.flag_for_review = s_flag_for_review;
    builder->base_priority = view->priority;
    builder->may_refer = view->share_with_partners;
}
