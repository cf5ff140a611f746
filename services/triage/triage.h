/* triage.h: the vigil-triage service's shared state (internal).
 *
 * One triage_t per process, owned by main.c and reachable from every
 * handler through service_context(). It ties together the config, the
 * region index, the policy host (the plugins, in their worker process), the
 * case-key secret and the metrics. Everything here runs on the service's
 * one loop thread. Nothing here ever holds personal data: triage only ever
 * receives pseudonymous case views.
 */
#ifndef VIGIL_TRIAGE_H
#define VIGIL_TRIAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "case_key.h"
#include "policy_host.h"
#include "region.h"
#include "triage_config.h"
#include "triage_metrics.h"
#include "vigil/service.h"

/* Case states in the cases table. */
typedef enum {
    CASE_STATE_PENDING = 0,      /* stored, not yet decided */
    CASE_STATE_DECIDED = 1,      /* assigned, waiting for the assignee's receipt */
    CASE_STATE_ACKNOWLEDGED = 2, /* the assignee acknowledged: no more escalation */
    CASE_STATE_STALLED = 3,      /* escalated max_escalation_level times: a person must act */
} case_state_t;

typedef struct decide_t decide_t;

typedef struct {
    service_t *service;            /* borrowed */
    const triage_config_t *config; /* borrowed from the service */
    region_index_t *regions;       /* region resolution */
    policy_host_t *host;           /* the plugins */
    case_key_t case_key;           /* keyed hash for reporting */
    triage_metrics_t *metrics;     /* counters and gauges */
    decide_t *decide;              /* the decision stage */
    int escalation_timer;          /* zloop timer id, or -1 */
} triage_t;

/* The triage_t of a running service. Cannot fail. */
triage_t *triage_of(service_t *service);

#endif
