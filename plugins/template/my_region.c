/* my_region.c: a starting point for a region's own policy plugin.
 *
 * Copy this directory, rename the plugin (PLUGIN in the Makefile, the
 * target in CMakeLists.txt, .name below), and change s_route(). Build it
 * against the installed SDK with `make` (pkg-config) or CMake
 * (find_package(VigilPlugin)); test it with vigil-policy-test; deploy it by
 * installing my-region.so into triage's plugin directory and running
 * `vigilctl reload-plugins` (docs/plugins.md walks through all of it).
 *
 * What it does as shipped: the least-loaded contact officer takes the case
 * (preferring one who speaks the case's language), the case escalates to
 * plugin_config.escalation, and when the victim consented to referrals
 * and asked for shelter, the first shelter service the resource directory
 * knows near them is referred. Its config:
 *
 *     plugin_config = { escalation = "my-supervisors"; shelter_term = "BH-1800.8500"; };
 *
 * Rules of the road (plugin.h has the full contract): include only
 * <vigil/plugin.h>; keep per-region data in the state init returns; use
 * host->now_ms(), never time(); never allocate memory for the host to free
 * or free what the host gave you; no threads, no I/O, no exit().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <vigil/plugin.h>

#define MY_REGION_VERSION "0.1.0"
#define MY_ID_MAX         (VIGIL_PLUGIN_ID_MAX + 1)
#define MY_TERM_MAX       (VIGIL_PLUGIN_REF_MAX + 1)

/* Everything one region's instance needs, made by init, freed by fini. */
typedef struct {
    char escalation[MY_ID_MAX];
    char shelter_term[MY_TERM_MAX];
} my_state_t;

/* Reads an optional string setting into `out` (`len` bytes). */
static int s_setting(const vigil_host_api_t *host, const char *key, char *out, size_t len,
                     char *err, size_t err_len)
{
    const char *value = "";
    int rc = host->config_string(host, key, &value);
    if (rc == VIGIL_PLUGIN_ERR_TYPE || strlen(value) >= len) {
        snprintf(err, err_len, "plugin_config.%s: must be a string shorter than %zu", key, len);
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    snprintf(out, len, "%s", value);
    return VIGIL_PLUGIN_OK;
}

static int s_read_config(const vigil_host_api_t *host, my_state_t *s, char *err, size_t err_len)
{
    int rc = s_setting(host, "escalation", s->escalation, sizeof s->escalation, err, err_len);
    if (rc == VIGIL_PLUGIN_OK) {
        rc = s_setting(host, "shelter_term", s->shelter_term, sizeof s->shelter_term, err, err_len);
    }
    return rc;
}

static int s_init(const vigil_host_api_t *host, void **state, char *err, size_t err_len)
{
    my_state_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    int rc = s_read_config(host, s, err, err_len);
    if (rc != VIGIL_PLUGIN_OK) {
        free(s); /* fini is not called after a failed init */
        return rc;
    }
    host->log(host, VIGIL_LOG_INFO, "my-region plugin ready");
    *state = s;
    return VIGIL_PLUGIN_OK;
}

/* True if the officer lists the case's language (primary subtag). */
static bool s_speaks(const vigil_officer_t *o, const char *language)
{
    size_t n = strcspn(language, "-");
    for (uint32_t i = 0; n && i < o->language_count; i++) {
        if (strncasecmp(o->languages[i], language, n) == 0 &&
            (o->languages[i][n] == '\0' || o->languages[i][n] == '-')) {
            return true;
        }
    }
    return false;
}

static const vigil_officer_t *s_pick(const vigil_host_api_t *host, const char *language)
{
    const vigil_officer_t *best = NULL;
    for (uint32_t i = 0; i < host->roster_count(host); i++) {
        const vigil_officer_t *o = host->roster_get(host, i);
        if (o->role != VIGIL_ROLE_CONTACT_OFFICER || (language && !s_speaks(o, language))) {
            continue;
        }
        if (!best || o->open_cases < best->open_cases) {
            best = o;
        }
    }
    return best;
}

static bool s_asked_for(const vigil_case_view_t *view, int32_t need)
{
    for (uint32_t i = 0; i < view->requested_service_count; i++) {
        if (view->requested_services[i] == need) {
            return true;
        }
    }
    return false;
}

static int s_route(void *state, const vigil_host_api_t *host, const vigil_case_view_t *view,
                   vigil_decision_builder_t *decision)
{
    my_state_t *s = state;
    const vigil_officer_t *officer = view->language[0] ? s_pick(host, view->language) : NULL;
    if (!officer) {
        officer = s_pick(host, NULL);
    }
    if (!officer) {
        return VIGIL_PLUGIN_ERR_FAILED; /* the region's fallback policy takes over */
    }
    decision->set_assignee(decision, officer->id);
    if (s->escalation[0]) {
        decision->set_escalation_path(decision, s->escalation);
    }
    if (view->share_with_partners && s->shelter_term[0] && s_asked_for(view, VIGIL_NEED_SHELTER)) {
        vigil_directory_query_t query = {
            .struct_size = sizeof query,
            .taxonomy_term = s->shelter_term,
            .region = view->region,
            .state = view->state,
            .county_fips = view->county_fips,
            .zip3 = view->zip3,
            .language = view->language,
        };
        const vigil_directory_entry_t *found[1];
        if (host->directory_find(host, &query, found, 1) == 1) {
            decision->add_referral(decision, found[0]->service_id, found[0]->organization_id,
                                   found[0]->taxonomy_term);
        }
    }
    decision->set_rationale(decision, "my-region: least-loaded contact officer");
    return VIGIL_PLUGIN_OK;
}

/* Optional: the region's plugin_config changed but this code did not. */
static int s_reload(void *state, const vigil_host_api_t *host, char *err, size_t err_len)
{
    my_state_t fresh = {0};
    int rc = s_read_config(host, &fresh, err, err_len);
    if (rc == VIGIL_PLUGIN_OK) {
        *(my_state_t *)state = fresh;
    }
    return rc;
}

static void s_fini(void *state)
{
    free(state);
}

/* Optional: runs before the instance goes live (start and every reload). */
static int s_self_test(void *state, const vigil_host_api_t *host, char *err, size_t err_len)
{
    (void)state;
    if (!s_pick(host, NULL)) {
        snprintf(err, err_len, "the roster has no contact officer to route to");
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    return VIGIL_PLUGIN_OK;
}

VIGIL_PLUGIN(.name = "my-region", .version = MY_REGION_VERSION,
             .description = "template: least-loaded contact officer, shelter referral",
             .init = s_init, .route = s_route, .reload = s_reload, .fini = s_fini,
             .self_test = s_self_test);
