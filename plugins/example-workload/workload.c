/* workload.c: `example-workload`, a small example region plugin.
 *
 * Gives each case to the least-loaded contact officer who speaks the
 * case's language (compared on the primary subtag: "es-MX" matches "es").
 * If nobody speaks it, the least-loaded contact officer gets it, the
 * rationale says an interpreter is needed, and the case is flagged for
 * review. Ties go to the earlier roster entry. Config (all optional):
 *
 *     plugin_config = { escalation = "north-supervisors"; max_open_cases = 20; };
 *
 * max_open_cases: an officer at or above it is skipped while anyone else
 * qualifies. It shows the ABI in about a hundred lines: a descriptor, init
 * reading typed config, route reading the roster and writing through the
 * builder, fini. It keeps no state between cases and sees no personal data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

/* Bytes of a primary language subtag kept. */
#define WORKLOAD_SUBTAG_MAX 16
/* Bytes of an escalation id kept. */
#define WORKLOAD_ID_MAX (VIGIL_PLUGIN_ID_MAX + 1)

typedef struct {
    char escalation[WORKLOAD_ID_MAX];
    int64_t max_open_cases; /* 0 = no cap */
} workload_t;

static void s_subtag(const char *tag, char out[WORKLOAD_SUBTAG_MAX])
{
    size_t i = 0;
    for (; tag && tag[i] && tag[i] != '-' && i + 1 < WORKLOAD_SUBTAG_MAX; i++) {
        out[i] = (char)(tag[i] >= 'A' && tag[i] <= 'Z' ? tag[i] - 'A' + 'a' : tag[i]);
    }
    out[i] = '\0';
}

static bool s_speaks(const vigil_officer_t *o, const char *subtag)
{
    for (uint32_t i = 0; i < o->language_count; i++) {
        char have[WORKLOAD_SUBTAG_MAX];
        s_subtag(o->languages[i], have);
        if (subtag[0] && strcmp(have, subtag) == 0) {
            return true;
        }
    }
    return false;
}

/* The least-loaded contact officer; with `subtag`, only those who speak it;
 * with `cap`, only those under it. NULL if none. */
static const vigil_officer_t *s_pick(const vigil_host_api_t *host, const char *subtag, int64_t cap)
{
    const vigil_officer_t *best = NULL;
    for (uint32_t i = 0; i < host->roster_count(host); i++) {
        const vigil_officer_t *o = host->roster_get(host, i);
        if (o->role != VIGIL_ROLE_CONTACT_OFFICER || (subtag && !s_speaks(o, subtag)) ||
            (cap > 0 && o->open_cases >= cap)) {
            continue;
        }
        if (!best || o->open_cases < best->open_cases) {
            best = o;
        }
    }
    return best;
}

static int s_init(const vigil_host_api_t *host, void **state, char *err, size_t err_len)
{
    workload_t *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, err_len, "out of memory");
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    const char *escalation = "";
    if (host->config_string(host, "escalation", &escalation) == VIGIL_PLUGIN_ERR_TYPE ||
        strlen(escalation) >= sizeof w->escalation) {
        snprintf(err, err_len, "plugin_config.escalation: must be a roster or group id");
        free(w);
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    snprintf(w->escalation, sizeof w->escalation, "%s", escalation);
    if (host->config_int(host, "max_open_cases", &w->max_open_cases) == VIGIL_PLUGIN_ERR_TYPE ||
        w->max_open_cases < 0) {
        snprintf(err, err_len, "plugin_config.max_open_cases: must be a whole number >= 0");
        free(w);
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    *state = w;
    return VIGIL_PLUGIN_OK;
}

static int s_route(void *state, const vigil_host_api_t *host, const vigil_case_view_t *view,
                   vigil_decision_builder_t *decision)
{
    workload_t *w = state;
    char subtag[WORKLOAD_SUBTAG_MAX];
    s_subtag(view->language, subtag);
    const char *rationale = "least-loaded contact officer who speaks the case's language";
    const vigil_officer_t *pick = s_pick(host, subtag, w->max_open_cases);
    if (!pick) {
        pick = s_pick(host, subtag, 0);
        rationale = "every officer who speaks the case's language is at the cap; least loaded";
    }
    if (!pick) {
        pick = s_pick(host, NULL, 0);
        rationale = "nobody speaks the case's language: interpreter needed";
        decision->flag_for_review(decision);
    }
    if (!pick) {
        host->log(host, VIGIL_LOG_WARN, "no contact officer on the roster");
        return VIGIL_PLUGIN_ERR_FAILED; /* the region's fallback policy decides */
    }
    decision->set_assignee(decision, pick->id);
    if (w->escalation[0]) {
        decision->set_escalation_path(decision, w->escalation);
    }
    decision->set_rationale(decision, rationale);
    return VIGIL_PLUGIN_OK;
}

static void s_fini(void *state)
{
    free(state);
}

VIGIL_PLUGIN(.name = "example-workload", .version = "1.0.0",
             .description = "least-loaded contact officer who speaks the case's language",
             .init = s_init, .route = s_route, .fini = s_fini);
