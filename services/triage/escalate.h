/* escalate.h: cases whose first-contact deadline passed without a receipt.
 *
 * A zloop timer (triage.escalation_scan_ms) looks for decided cases whose
 * deadline is past. Each is re-routed to the escalation path its plugin
 * chose (or, if none, the region's fallback escalation target), with
 * escalation_level + 1 and a fresh deadline for its priority, recorded as a
 * new decision and sent to notification like the first one, and counted in
 * vigil_triage_escalations_total. A case that reaches
 * triage.max_escalation_level stops escalating, is flagged for human review
 * and counted as stalled. The plugin is not called again.
 */
#ifndef VIGIL_TRIAGE_ESCALATE_H
#define VIGIL_TRIAGE_ESCALATE_H

#include <stddef.h>

#include "triage.h"

/* Starts the scan timer on the service's loop. Returns 0 or -1. */
int escalate_start(triage_t *triage);

/* Stops the timer. Cannot fail. */
void escalate_stop(triage_t *triage);

/* Escalates every case due at `now_ms` (one transaction, at most
 * triage.decide_batch cases). Stores how many were escalated in
 * *escalated (may be NULL). Returns 0, or -1 if the store failed. */
int escalate_scan(triage_t *triage, int64_t now_ms, size_t *escalated);

#endif
