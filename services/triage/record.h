/* record.h: persisting a decision and everything that follows from it.
 *
 * One call per decided (or escalated) case, inside the caller's open
 * transaction: a decisions row (with the plugin name and version that made
 * it and the packed TriageDecision), the case row's new state, assignee and
 * deadline, and the onward messages (outbound.h). The caller commits once
 * per batch. It never logs anything about the case but its id.
 */
#ifndef VIGIL_TRIAGE_RECORD_H
#define VIGIL_TRIAGE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "triage.h"
#include "vigil/v1/case.pb-c.h"
#include "vigil/v1/report.pb-c.h"

typedef struct record_t record_t;

/* What to record. */
typedef struct {
    const Vigil__V1__CaseView *view; /* the case */
    int64_t case_seq;                /* its cases.seq: keys the update and the decision */
    size_t region_index;             /* config order */
    Vigil__V1__Priority priority;    /* final priority */
    bool advise_emergency_services;
    const policy_decision_t *decision; /* who decided and where the case goes */
    uint32_t escalation_level;         /* 0 for the first decision */
    int64_t decided_at_ms;
    bool needs_human_review;         /* OR-ed with the decision's own flag */
    Vigil__V1__ReportEventKind kind; /* CASE_TRIAGED or CASE_ESCALATED */
} record_input_t;

/* Prepares the statements on `db`. Returns NULL with a message. */
record_t *record_new(triage_t *triage, sqlite3 *db, char *err, size_t errlen);

/* Finalizes; sets *record_p to NULL. Cannot fail. */
void record_destroy(record_t **record_p);

/* Records one decision in the open transaction (the caller counts it in
 * the metrics after the commit). Stores the deadline in *due_ms if not NULL. Returns 0, or -1
 * with sqlite's message in `err` (the caller rolls back the batch). */
int record_decision(record_t *record, const record_input_t *input, int64_t *due_ms, char *err,
                    size_t errlen);

/* Open-case loads: how many decided, unacknowledged cases each assignee
 * has, kept in memory (an index on the cases table would cost a fifth of a
 * decision) and mirrored into the policy host for the plugins' least-loaded
 * picks. Rebuilt from the store at start; adjusted after each commit. */

/* Adds `delta` to the load of `assignee` in `region`; with `tell_host`,
 * also tells the policy host the new figure. Cannot fail (an allocation
 * failure leaves the figure as it was). */
void record_load_add(record_t *record, const char *region, const char *assignee, int delta,
                     bool tell_host);

/* Rebuilds every load from the cases table and tells the host (at start).
 * Cannot fail (on a store error the loads stay empty). */
void record_refresh_all_loads(record_t *record);

#endif
