/* triage_metrics.h: the counters and gauges vigil-triage exports.
 *
 * Registered once at start, per region (labels: region name, priority,
 * reason), so updating one is an array lookup. Region names come from the
 * config and are checked to be label-safe; no label ever carries case data.
 * The plugin host registers its own vigil_policy_* metrics beside these.
 */
#ifndef VIGIL_TRIAGE_METRICS_H
#define VIGIL_TRIAGE_METRICS_H

#include <stddef.h>

#include "triage_config.h"
#include "vigil/metrics.h"

/* Why the fallback policy decided a case. */
typedef enum {
    TRIAGE_FALLBACK_PLUGIN = 0,   /* the host answered FALLBACK (declined, on fallback, unusable) */
    TRIAGE_FALLBACK_FAILURES = 1, /* the case crashed or hung the plugin too often */
    TRIAGE_FALLBACK_REASONS = 2,
} triage_fallback_reason_t;

/* Per region. Index 1..4 of `decisions` is P1..P4. */
typedef struct {
    metric_t *decisions[TRIAGE_PRIORITY_SLOTS];
    metric_t *escalations;
    metric_t *fallbacks[TRIAGE_FALLBACK_REASONS];
    metric_t *crashes;
    metric_t *timeouts;
    metric_t *needs_review;
    metric_t *on_fallback;   /* gauge: 1 when the region's plugin is not running */
    metric_t *init_failures; /* plugin loads that failed (start or reload) */
} triage_region_metrics_t;

typedef struct {
    triage_region_metrics_t *regions; /* same order as config->regions */
    size_t region_count;
    metric_t *cases_stored;    /* case views stored */
    metric_t *cases_duplicate; /* case views for a case already stored */
    metric_t *pending;         /* gauge: cases waiting for a decision */
    metric_t *receipts;        /* assignment receipts accepted */
    metric_t *stalled;         /* cases that reached max_escalation_level */
    metric_t *decide_seconds;  /* one decision pass (batch) */
    metric_t *reloads_refused; /* plugin reloads that kept an old version */
    metric_t *directory_imports;
    metric_t *directory_rejected_rows;
} triage_metrics_t;

/* Registers every metric for `config`'s regions. Returns NULL on
 * allocation failure or if the registry refuses a name. */
triage_metrics_t *triage_metrics_new(metrics_t *registry, const triage_config_t *config);

/* Frees (the metrics stay registered); sets *metrics_p to NULL. Cannot fail. */
void triage_metrics_destroy(triage_metrics_t **metrics_p);

/* The metrics of region `index` (config order). Cannot fail for a valid index. */
triage_region_metrics_t *triage_metrics_region(triage_metrics_t *metrics, size_t index);

#endif
