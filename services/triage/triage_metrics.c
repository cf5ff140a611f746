/* triage_metrics.c: registering the triage metrics.
 *
 * The per-region metrics are declared as a table (name, help, where the
 * handle goes); registration walks it for every region. Labels are built
 * from region names only.
 */
#include "triage_metrics.h"

#include <stdio.h>
#include <stdlib.h>

#include "priority.h"

#define LABELS_MAX 192

typedef struct {
    size_t offset; /* of the metric_t * in triage_region_metrics_t */
    metric_kind_t kind;
    const char *name;
    const char *help;
    const char *extra; /* more labels after region="..", or NULL */
} region_metric_def_t;

#define RM(member) offsetof(triage_region_metrics_t, member)

static const region_metric_def_t s_region_defs[] = {
    {RM(escalations), METRIC_COUNTER, "triage_escalations_total",
     "Cases escalated because their first-contact deadline passed", NULL},
    {RM(fallbacks[TRIAGE_FALLBACK_PLUGIN]), METRIC_COUNTER, "triage_fallbacks_total",
     "Decisions made by the region's fallback policy", "reason=\"plugin\""},
    {RM(fallbacks[TRIAGE_FALLBACK_FAILURES]), METRIC_COUNTER, "triage_fallbacks_total",
     "Decisions made by the region's fallback policy", "reason=\"case_failures\""},
    {RM(crashes), METRIC_COUNTER, "triage_plugin_failures_total",
     "Plugin calls that crashed or hung the policy worker", "kind=\"crash\""},
    {RM(timeouts), METRIC_COUNTER, "triage_plugin_failures_total",
     "Plugin calls that crashed or hung the policy worker", "kind=\"timeout\""},
    {RM(needs_review), METRIC_COUNTER, "triage_needs_review_total",
     "Decisions flagged for human review", NULL},
    {RM(on_fallback), METRIC_GAUGE, "triage_region_on_fallback",
     "1 when the region's plugin is not running and its fallback decides every case", NULL},
    {RM(init_failures), METRIC_COUNTER, "triage_plugin_init_failures_total",
     "Plugin loads (at start or reload) after which the region runs on its fallback", NULL},
};

triage_metrics_t *triage_metrics_new(metrics_t *registry, const triage_config_t *config)
{
    triage_metrics_t *m = calloc(1, sizeof *m);
    if (!m) {
        return NULL;
    }
    m->regions = calloc(config->regions.count + 1, sizeof *m->regions);
    if (!m->regions) {
        goto fail;
    }
    m->region_count = config->regions.count;
    char labels[LABELS_MAX];
    for (size_t r = 0; r < config->regions.count; r++) {
        const char *region = config->regions.items[r].policy.name;
        triage_region_metrics_t *rm = &m->regions[r];
        for (int p = 1; p < TRIAGE_PRIORITY_SLOTS; p++) {
            snprintf(labels, sizeof labels, "region=\"%s\",priority=\"%s\"", region,
                     priority_label((Vigil__V1__Priority)p));
            rm->decisions[p] = metrics_add(registry, METRIC_COUNTER, "triage_decisions_total",
                                           "Triage decisions by region and final priority", labels);
            if (!rm->decisions[p]) {
                goto fail;
            }
        }
        for (size_t d = 0; d < sizeof s_region_defs / sizeof s_region_defs[0]; d++) {
            const region_metric_def_t *def = &s_region_defs[d];
            snprintf(labels, sizeof labels, "region=\"%s\"%s%s", region, def->extra ? "," : "",
                     def->extra ? def->extra : "");
            metric_t *metric = metrics_add(registry, def->kind, def->name, def->help, labels);
            if (!metric) {
                goto fail;
            }
            *(metric_t **)((char *)rm + def->offset) = metric;
        }
    }
    struct {
        metric_t **slot;
        metric_kind_t kind;
        const char *name, *help;
    } globals[] = {
        {&m->cases_stored, METRIC_COUNTER, "triage_cases_stored_total",
         "Case views stored for a decision"},
        {&m->cases_duplicate, METRIC_COUNTER, "triage_cases_duplicate_total",
         "Case views for a case already stored (answered DUPLICATE)"},
        {&m->pending, METRIC_GAUGE, "triage_cases_pending", "Cases stored and not yet decided"},
        {&m->receipts, METRIC_COUNTER, "triage_receipts_total",
         "Assignment receipts that acknowledged a case"},
        {&m->stalled, METRIC_COUNTER, "triage_cases_stalled_total",
         "Cases that reached the last escalation level and wait for a person"},
        {&m->decide_seconds, METRIC_HISTOGRAM, "triage_decide_pass_seconds",
         "Time of one decision pass (a batch of cases through the plugins and one commit)"},
        {&m->reloads_refused, METRIC_COUNTER, "triage_plugin_reloads_refused_total",
         "Plugin reloads in which some region kept its old version or stayed on fallback"},
        {&m->directory_imports, METRIC_COUNTER, "triage_directory_imports_total",
         "Resource directory imports that committed"},
        {&m->directory_rejected_rows, METRIC_COUNTER, "triage_directory_rejected_rows_total",
         "Resource directory rows rejected by validation"},
    };
    for (size_t g = 0; g < sizeof globals / sizeof globals[0]; g++) {
        *globals[g].slot =
            metrics_add(registry, globals[g].kind, globals[g].name, globals[g].help, NULL);
        if (!*globals[g].slot) {
            goto fail;
        }
    }
    return m;
fail:
    triage_metrics_destroy(&m);
    return NULL;
}

void triage_metrics_destroy(triage_metrics_t **metrics_p)
{
    if (!metrics_p || !*metrics_p) {
        return;
    }
    free((*metrics_p)->regions);
    free(*metrics_p);
    *metrics_p = NULL;
}

triage_region_metrics_t *triage_metrics_region(triage_metrics_t *metrics, size_t index)
{
    return index < metrics->region_count ? &metrics->regions[index] : NULL;
}
