/* afterhours.c: `example-afterhours`, an example of time- and queue-aware
 * routing.
 *
 * During office hours (in the region's time zone) a case goes to the
 * least-loaded contact officer; outside them, to the least-loaded on-call
 * contact. When the queue is deep (every candidate already holds
 * queue_depth open cases or more), the case goes to the neighbouring
 * region's desk instead, and escalates to the neighbour's supervisors.
 *
 *     plugin_config = {
 *       office_hours = { open = 8; close = 18; };   # Monday..Friday
 *       queue_depth = 12;                            # 0 = never overflow
 *       neighbour = { desk = "south-intake"; escalation = "south-supervisors"; };
 *       escalation = "north-supervisors";
 *     };
 *
 * It reads the clock only through the host (so vigil-policy-test and
 * vigil-policy-replay are deterministic), keeps no state between cases and
 * sees no personal data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vigil/plugin.h>

/* Defaults and bounds. */
#define AFTERHOURS_OPEN_DEFAULT  8
#define AFTERHOURS_CLOSE_DEFAULT 18
#define AFTERHOURS_HOURS         24
#define AFTERHOURS_SATURDAY      6
#define AFTERHOURS_ID_MAX        (VIGIL_PLUGIN_ID_MAX + 1)

typedef struct {
    int64_t open, close;
    int64_t queue_depth;
    char desk[AFTERHOURS_ID_MAX];
    char neighbour_escalation[AFTERHOURS_ID_MAX];
    char escalation[AFTERHOURS_ID_MAX];
} afterhours_t;

static int s_text(const vigil_host_api_t *host, const char *key, char *out, char *err,
                  size_t err_len)
{
    const char *value = "";
    int rc = host->config_string(host, key, &value);
    if (rc == VIGIL_PLUGIN_ERR_TYPE || strlen(value) >= AFTERHOURS_ID_MAX) {
        snprintf(err, err_len, "plugin_config.%s: must be a roster or group id", key);
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    snprintf(out, AFTERHOURS_ID_MAX, "%s", value);
    return VIGIL_PLUGIN_OK;
}

static int s_init(const vigil_host_api_t *host, void **state, char *err, size_t err_len)
{
    afterhours_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, err_len, "out of memory");
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    a->open = AFTERHOURS_OPEN_DEFAULT;
    a->close = AFTERHOURS_CLOSE_DEFAULT;
    host->config_int(host, "office_hours.open", &a->open);
    host->config_int(host, "office_hours.close", &a->close);
    host->config_int(host, "queue_depth", &a->queue_depth);
    if (a->open < 0 || a->close > AFTERHOURS_HOURS || a->open >= a->close || a->queue_depth < 0) {
        snprintf(err, err_len,
                 "plugin_config: office_hours must satisfy 0 <= open < close <= 24 and "
                 "queue_depth >= 0");
        free(a);
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    if (s_text(host, "neighbour.desk", a->desk, err, err_len) != VIGIL_PLUGIN_OK ||
        s_text(host, "neighbour.escalation", a->neighbour_escalation, err, err_len) !=
            VIGIL_PLUGIN_OK ||
        s_text(host, "escalation", a->escalation, err, err_len) != VIGIL_PLUGIN_OK) {
        free(a);
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    if (a->queue_depth > 0 && !a->desk[0]) {
        snprintf(err, err_len, "plugin_config.neighbour.desk: required when queue_depth is set");
        free(a);
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    *state = a;
    return VIGIL_PLUGIN_OK;
}

static const vigil_officer_t *s_least_loaded(const vigil_host_api_t *host, bool on_call_only)
{
    const vigil_officer_t *best = NULL;
    for (uint32_t i = 0; i < host->roster_count(host); i++) {
        const vigil_officer_t *o = host->roster_get(host, i);
        if (o->role != VIGIL_ROLE_CONTACT_OFFICER || (on_call_only && !o->on_call)) {
            continue;
        }
        if (!best || o->open_cases < best->open_cases) {
            best = o;
        }
    }
    return best;
}

static int s_route(void *state, const vigil_host_api_t *host, const vigil_case_view_t *view,
                   vigil_decision_builder_t *decision)
{
    (void)view;
    afterhours_t *a = state;
    vigil_local_time_t now = {.struct_size = sizeof now};
    if (host->local_time(host, host->now_ms(host), &now) != VIGIL_PLUGIN_OK) {
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    bool weekday = now.weekday > 0 && now.weekday < AFTERHOURS_SATURDAY;
    bool open = weekday && now.hour >= a->open && now.hour < a->close;
    const vigil_officer_t *pick = s_least_loaded(host, !open);
    const char *rationale = open ? "office hours: least-loaded contact officer"
                                 : "after hours: least-loaded on-call contact";
    if (!pick && !open) {
        pick = s_least_loaded(host, false);
        rationale = "after hours and nobody on call: least-loaded contact officer";
    }
    if (a->queue_depth > 0 && (!pick || pick->open_cases >= a->queue_depth)) {
        decision->set_assignee(decision, a->desk);
        if (a->neighbour_escalation[0]) {
            decision->set_escalation_path(decision, a->neighbour_escalation);
        }
        decision->set_rationale(decision, "queue too deep: sent to the neighbouring region");
        return VIGIL_PLUGIN_OK;
    }
    if (!pick) {
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    decision->set_assignee(decision, pick->id);
    if (a->escalation[0]) {
        decision->set_escalation_path(decision, a->escalation);
    }
    decision->set_rationale(decision, rationale);
    return VIGIL_PLUGIN_OK;
}

static void s_fini(void *state)
{
    free(state);
}

VIGIL_PLUGIN(.name = "example-afterhours", .version = "1.0.0",
             .description =
                 "on-call contact after hours; neighbouring region when the queue is deep",
             .init = s_init, .route = s_route, .fini = s_fini);
