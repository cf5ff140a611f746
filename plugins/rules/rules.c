/* rules.c: `rules`, the generic policy plugin driven by a declarative table.
 *
 * A region with no C developer routes its cases by writing a rules table in
 * its plugin_config (rules_table.h, docs/plugins.md). For each case: the
 * first rule whose match clauses all hold decides; outside office hours the
 * after-hours assignment replaces the rule's (unless the rule says
 * any_time); a pick that already carries overflow.max_open_cases goes to
 * the overflow target (e.g. a neighbouring region's desk); a rule whose
 * pick finds nobody falls back to `default`; referrals come from the
 * resource directory for the case's needs, only with the victim's consent
 * to share. If nobody can be picked at all, route declines and the host's
 * fallback policy decides. It keeps no state between cases, allocates
 * nothing in route, and never sees personal data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vigil/plugin.h>

#include "rules_table.h"

#define RULES_VERSION "1.0.0"
/* Values a match bitmask can hold (bit = enum value). */
#define RULES_BITS 32
/* Bytes of a language's primary subtag kept for comparisons. */
#define RULES_SUBTAG_MAX 16

typedef struct {
    rules_table_t table;
} rules_state_t;

/* What a pick found. */
typedef struct {
    const char *id;      /* NULL: nobody */
    uint32_t open_cases; /* load of a roster pick */
    bool from_roster;
} pick_t;

static void s_subtag(const char *tag, char out[RULES_SUBTAG_MAX])
{
    size_t i = 0;
    for (; tag && tag[i] && tag[i] != '-' && tag[i] != '_' && i + 1 < RULES_SUBTAG_MAX; i++) {
        out[i] = (char)(tag[i] >= 'A' && tag[i] <= 'Z' ? tag[i] - 'A' + 'a' : tag[i]);
    }
    out[i] = '\0';
}

static bool s_speaks(const vigil_officer_t *o, const char *subtag)
{
    for (uint32_t i = 0; i < o->language_count; i++) {
        char have[RULES_SUBTAG_MAX];
        s_subtag(o->languages[i], have);
        if (strcmp(have, subtag) == 0) {
            return true;
        }
    }
    return false;
}

static pick_t s_least_loaded(const vigil_host_api_t *host, const rules_assign_t *spec,
                             const char *subtag, bool need_language)
{
    pick_t best = {0};
    uint32_t n = host->roster_count(host);
    for (uint32_t i = 0; i < n; i++) {
        const vigil_officer_t *o = host->roster_get(host, i);
        if (!o || (spec->role && o->role != spec->role) || (spec->on_call_only && !o->on_call)) {
            continue;
        }
        if (need_language && !s_speaks(o, subtag)) {
            continue;
        }
        if (!best.id || o->open_cases < best.open_cases) {
            best = (pick_t){.id = o->id, .open_cases = o->open_cases, .from_roster = true};
        }
    }
    return best;
}

static pick_t s_pick(const vigil_host_api_t *host, const rules_assign_t *spec,
                     const vigil_case_view_t *view)
{
    if (spec->kind == RULES_ASSIGN_FIXED) {
        return (pick_t){.id = spec->to};
    }
    if (spec->kind != RULES_ASSIGN_LEAST_LOADED) {
        return (pick_t){0};
    }
    char subtag[RULES_SUBTAG_MAX];
    s_subtag(view->language, subtag);
    bool has_language = subtag[0] != '\0';
    switch (spec->language) {
    case RULES_LANGUAGE_CASE:
        return has_language ? s_least_loaded(host, spec, subtag, true) : (pick_t){0};
    case RULES_LANGUAGE_PREFER: {
        pick_t p = has_language ? s_least_loaded(host, spec, subtag, true) : (pick_t){0};
        return p.id ? p : s_least_loaded(host, spec, subtag, false);
    }
    default:
        return s_least_loaded(host, spec, subtag, false);
    }
}

static bool s_has(const int32_t *values, uint32_t count, uint32_t bits)
{
    for (uint32_t i = 0; i < count; i++) {
        if (values[i] >= 0 && values[i] < RULES_BITS && (bits >> values[i]) & 1u) {
            return true;
        }
    }
    return false;
}

static bool s_bit(uint32_t bits, int32_t value)
{
    return bits == 0 || (value >= 0 && value < RULES_BITS && ((bits >> value) & 1u));
}

static bool s_listed(const rules_strings_t *list, const char *value, bool fold)
{
    if (list->count == 0) {
        return true;
    }
    for (uint32_t i = 0; i < list->count; i++) {
        if (fold ? strcasecmp(list->values[i], value) == 0 : strcmp(list->values[i], value) == 0) {
            return true;
        }
    }
    return false;
}

static bool s_matches(const rules_rule_t *r, const vigil_case_view_t *v)
{
    char subtag[RULES_SUBTAG_MAX];
    s_subtag(v->language, subtag);
    return s_bit(r->categories, v->crime_category) && s_bit(r->channels, v->channel) &&
           s_bit(r->priorities, v->priority) &&
           (r->needs == 0 || s_has(v->requested_services, v->requested_service_count, r->needs)) &&
           (r->cues == 0 || s_has(v->urgency_cues, v->urgency_cue_count, r->cues)) &&
           s_listed(&r->languages, subtag, true) && s_listed(&r->states, v->state, true) &&
           s_listed(&r->counties, v->county_fips, false);
}

static bool s_in_office_hours(const vigil_host_api_t *host, const rules_table_t *t)
{
    if (!t->has_hours) {
        return true;
    }
    vigil_local_time_t now = {.struct_size = sizeof now};
    if (host->local_time(host, host->now_ms(host), &now) != VIGIL_PLUGIN_OK) {
        return true;
    }
    return t->days[now.weekday] && now.hour >= t->open_hour && now.hour < t->close_hour;
}

/* Adds directory referrals for the needs in `needs` (bit per need). */
static void s_refer(const vigil_host_api_t *host, const rules_table_t *t,
                    const vigil_case_view_t *v, uint32_t needs, vigil_decision_builder_t *d)
{
    for (int32_t need = 1; need < RULES_NEEDS_MAX; need++) {
        if (!((needs >> need) & 1u) || !t->taxonomy[need][0]) {
            continue;
        }
        vigil_directory_query_t q = {
            .struct_size = sizeof q,
            .taxonomy_term = t->taxonomy[need],
            .region = v->region,
            .state = v->state,
            .county_fips = v->county_fips,
            .zip3 = v->zip3,
            .language = v->language,
        };
        const vigil_directory_entry_t *found[VIGIL_PLUGIN_REFERRALS_MAX];
        uint32_t max = t->referrals_per_need;
        int n = host->directory_find(host, &q, found, max);
        if (n == 0 && v->language[0]) {
            q.language = NULL; /* nobody in the language: an interpreter can help */
            n = host->directory_find(host, &q, found, max);
        }
        for (int i = 0; i < n; i++) {
            if (d->add_referral(d, found[i]->service_id, found[i]->organization_id,
                                found[i]->taxonomy_term) == VIGIL_PLUGIN_ERR_FULL) {
                return;
            }
        }
    }
}

static uint32_t s_case_needs(const vigil_case_view_t *v)
{
    uint32_t bits = 0;
    for (uint32_t i = 0; i < v->requested_service_count; i++) {
        if (v->requested_services[i] > 0 && v->requested_services[i] < RULES_NEEDS_MAX) {
            bits |= 1u << v->requested_services[i];
        }
    }
    return bits;
}

static int s_decide(const rules_table_t *t, const vigil_host_api_t *host,
                    const vigil_case_view_t *v, vigil_decision_builder_t *d)
{
    const rules_rule_t *rule = NULL;
    for (uint32_t i = 0; i < t->rule_count && !rule; i++) {
        if (s_matches(&t->rules[i], v)) {
            rule = &t->rules[i];
        }
    }
    const char *how = rule ? rule->name : "default";
    const rules_assign_t *spec = rule && rule->assign.kind ? &rule->assign : &t->fallback;
    const char *note = "";
    if (!(rule && rule->any_time) && !s_in_office_hours(host, t)) {
        spec = &t->after_hours;
        note = ", after hours";
    }
    pick_t pick = s_pick(host, spec, v);
    if (!pick.id && spec != &t->fallback) {
        pick = s_pick(host, &t->fallback, v);
        note = *note ? ", after hours, nobody on call: default" : ", nobody matched: default";
    }
    if (pick.id && pick.from_roster && t->overflow_max_open &&
        pick.open_cases >= t->overflow_max_open) {
        pick = (pick_t){.id = t->overflow_to};
        note = ", queue full: overflow";
    }
    if (!pick.id || d->set_assignee(d, pick.id) != VIGIL_PLUGIN_OK) {
        return VIGIL_PLUGIN_ERR_FAILED; /* the host's fallback policy decides */
    }
    const char *escalation = rule && rule->escalation[0] ? rule->escalation : t->default_escalation;
    if (escalation[0]) {
        d->set_escalation_path(d, escalation);
    }
    if (v->share_with_partners) {
        uint32_t needs =
            rule ? (rule->refer_needs ? s_case_needs(v) : 0) | rule->refer : s_case_needs(v);
        s_refer(host, t, v, needs, d);
    }
    if (rule && rule->adjust_priority) {
        d->adjust_priority(d, rule->adjust_priority); /* ERR_LIMIT leaves it unchanged */
    }
    if (rule && rule->review) {
        d->flag_for_review(d);
    }
    char rationale[VIGIL_PLUGIN_RATIONALE_MAX + 1];
    if (rule && rule->rationale[0]) {
        snprintf(rationale, sizeof rationale, "%s%s", rule->rationale, note);
    } else {
        snprintf(rationale, sizeof rationale, "rules: %s%s", how, note);
    }
    d->set_rationale(d, rationale);
    return VIGIL_PLUGIN_OK;
}

/* --- callbacks ------------------------------------------------------------ */

static int s_init(const vigil_host_api_t *host, void **state, char *err, size_t err_len)
{
    rules_state_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    int rc = rules_table_load(host, &s->table, err, err_len);
    if (rc != VIGIL_PLUGIN_OK) {
        free(s);
        return rc;
    }
    *state = s;
    return VIGIL_PLUGIN_OK;
}

static int s_route(void *state, const vigil_host_api_t *host, const vigil_case_view_t *view,
                   vigil_decision_builder_t *decision)
{
    return s_decide(&((rules_state_t *)state)->table, host, view, decision);
}

static int s_reload(void *state, const vigil_host_api_t *host, char *err, size_t err_len)
{
    rules_state_t *s = state;
    rules_table_t fresh;
    int rc = rules_table_load(host, &fresh, err, err_len);
    if (rc != VIGIL_PLUGIN_OK) {
        return rc;
    }
    rules_table_free(&s->table);
    s->table = fresh;
    return VIGIL_PLUGIN_OK;
}

static void s_fini(void *state)
{
    rules_state_t *s = state;
    if (s) {
        rules_table_free(&s->table);
        free(s);
    }
}

/* A builder that only remembers whether an assignee was set. */
typedef struct {
    vigil_decision_builder_t api;
    bool assigned;
} probe_t;

static int s_probe_assignee(vigil_decision_builder_t *d, const char *id)
{
    ((probe_t *)(void *)d)->assigned = id && id[0];
    return VIGIL_PLUGIN_OK;
}

static int s_probe_referral(vigil_decision_builder_t *d, const char *a, const char *b,
                            const char *c)
{
    (void)d, (void)a, (void)b, (void)c;
    return VIGIL_PLUGIN_OK;
}

static int s_probe_int(vigil_decision_builder_t *d, int32_t steps)
{
    (void)d, (void)steps;
    return VIGIL_PLUGIN_OK;
}

static int s_probe_text(vigil_decision_builder_t *d, const char *text)
{
    (void)d, (void)text;
    return VIGIL_PLUGIN_OK;
}

static int s_probe_flag(vigil_decision_builder_t *d)
{
    (void)d;
    return VIGIL_PLUGIN_OK;
}

/* Checks that an ordinary case finds an assignee with this table and this
 * roster: a table that can decide nothing is refused before it goes live. */
static int s_self_test(void *state, const vigil_host_api_t *host, char *err, size_t err_len)
{
    rules_state_t *s = state;
    probe_t probe = {.api = {
                         .struct_size = sizeof probe.api,
                         .set_assignee = s_probe_assignee,
                         .add_referral = s_probe_referral,
                         .adjust_priority = s_probe_int,
                         .set_escalation_path = s_probe_text,
                         .set_rationale = s_probe_text,
                         .flag_for_review = s_probe_flag,
                     }};
    vigil_case_view_t view = {
        .struct_size = sizeof view,
        .case_id = "self-test",
        .region = host->region,
        .language = "",
        .state = "",
        .county_fips = "",
        .zip3 = "",
        .crime_category = VIGIL_CRIME_OTHER,
        .priority = VIGIL_PRIORITY_P3,
    };
    if (s_decide(&s->table, host, &view, &probe.api) != VIGIL_PLUGIN_OK || !probe.assigned) {
        snprintf(err, err_len,
                 "an ordinary P3 case finds no assignee: the roster has no one the default "
                 "assignment can pick; set default = { to = \"...\"; } or add contact officers");
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    return VIGIL_PLUGIN_OK;
}

VIGIL_PLUGIN(.name = "rules", .version = RULES_VERSION,
             .description = "routes cases by a declarative table in the region's plugin_config",
             .init = s_init, .route = s_route, .reload = s_reload, .fini = s_fini,
             .self_test = s_self_test);
