/* dump.c: a TEST plugin that writes down everything a plugin can see.
 *
 * For the "no personal data reaches a plugin" tests: run it through triage
 * with cases whose intake contacts carry known names, phones, emails and
 * addresses, then search the dump for them. On every route it appends one
 * line to plugin_config.dump_to with every case-view field, every roster
 * entry, every top-level plugin_config value, the region, the clocks, and
 * every directory service found for each need's taxonomy term at the
 * case's place (plugin_config.terms, a list). It assigns the first roster
 * entry. Writing files breaks the plugin contract on purpose: it must
 * never ship.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

#define DUMP_FOUND_MAX 16
#define DUMP_PATH_MAX  64

static int s_init(const vigil_host_api_t *host, void **state, char *err, size_t err_len)
{
    const char *path = NULL;
    if (host->config_string(host, "dump_to", &path) != VIGIL_PLUGIN_OK) {
        snprintf(err, err_len, "plugin_config.dump_to: required");
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    *state = NULL;
    return VIGIL_PLUGIN_OK;
}

static void s_config(FILE *out, const vigil_host_api_t *host)
{
    int n = host->config_count(host, "");
    for (int i = 0; i < n; i++) {
        const char *key = NULL, *text = NULL;
        int64_t number = 0;
        if (host->config_member_name(host, "", (uint32_t)i, &key) != VIGIL_PLUGIN_OK) {
            continue;
        }
        if (host->config_string(host, key, &text) == VIGIL_PLUGIN_OK) {
            fprintf(out, " config.%s=\"%s\"", key, text);
        } else if (host->config_int(host, key, &number) == VIGIL_PLUGIN_OK) {
            fprintf(out, " config.%s=%lld", key, (long long)number);
        }
    }
}

static void s_directory(FILE *out, const vigil_host_api_t *host, const vigil_case_view_t *v)
{
    int n = host->config_count(host, "terms");
    for (int i = 0; i < n; i++) {
        char path[DUMP_PATH_MAX];
        const char *term = NULL;
        snprintf(path, sizeof path, "terms.[%d]", i);
        if (host->config_string(host, path, &term) != VIGIL_PLUGIN_OK) {
            continue;
        }
        vigil_directory_query_t q = {.struct_size = sizeof q,
                                     .taxonomy_term = term,
                                     .region = v->region,
                                     .state = v->state,
                                     .county_fips = v->county_fips,
                                     .zip3 = v->zip3};
        const vigil_directory_entry_t *found[DUMP_FOUND_MAX];
        int k = host->directory_find(host, &q, found, DUMP_FOUND_MAX);
        for (int j = 0; j < k; j++) {
            fprintf(out, " dir=%s/%s/%s", found[j]->service_id, found[j]->organization_id,
                    found[j]->taxonomy_term);
        }
    }
}

static int s_route(void *state, const vigil_host_api_t *host, const vigil_case_view_t *v,
                   vigil_decision_builder_t *decision)
{
    (void)state;
    const char *path = NULL;
    host->config_string(host, "dump_to", &path);
    FILE *out = path ? fopen(path, "a") : NULL;
    if (out) {
        fprintf(out,
                "case_id=%s region=%s language=%s state=%s county=%s zip3=%s channel=%d "
                "caller_role=%d category=%d priority=%d escalation=%u received=%lld share=%d "
                "offender=%d notify=%d emergency=%d now=%lld host_region=%s host_version=%s",
                v->case_id, v->region, v->language, v->state, v->county_fips, v->zip3, v->channel,
                v->caller_role, v->crime_category, v->priority, v->escalation_level,
                (long long)v->received_at_ms, v->share_with_partners, v->has_offender,
                v->wants_notifications, v->advise_emergency_services, (long long)host->now_ms(host),
                host->region, host->host_version);
        for (uint32_t i = 0; i < v->requested_service_count; i++) {
            fprintf(out, " need=%d", v->requested_services[i]);
        }
        for (uint32_t i = 0; i < v->urgency_cue_count; i++) {
            fprintf(out, " cue=%d", v->urgency_cues[i]);
        }
        for (uint32_t i = 0; i < host->roster_count(host); i++) {
            const vigil_officer_t *o = host->roster_get(host, i);
            fprintf(out, " officer=%s/%d/%d/%u", o->id, o->role, o->on_call, o->open_cases);
            for (uint32_t k = 0; k < o->language_count; k++) {
                fprintf(out, ":%s", o->languages[k]);
            }
        }
        s_config(out, host);
        s_directory(out, host, v);
        fputc('\n', out);
        fclose(out);
    }
    const vigil_officer_t *first = host->roster_get(host, 0);
    decision->set_assignee(decision, first ? first->id : "dump-nobody");
    decision->set_rationale(decision, "dump plugin");
    return VIGIL_PLUGIN_OK;
}

static void s_fini(void *state)
{
    (void)state;
}

VIGIL_PLUGIN(.name = "dump", .version = "1.0.0", .description = "test: dumps what it can see",
             .init = s_init, .route = s_route, .fini = s_fini);
