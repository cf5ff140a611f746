/* outbound.h: what triage sends after it decides, and to whom.
 *
 * After a decision (or an escalation) triage tells notification whom to
 * alert (an Assignment, keyed by the real case id: notification holds the
 * contact details) and tells reporting what happened, de-identified: a
 * ReportEvent whose case_key is the keyed hash of the case id, with the
 * quarter instead of a date, and (when triage.decisions_to_reporting is on)
 * the TriageDecision with the case id replaced by the case key, its dates
 * zeroed and its free-text rationale removed. Everything is enqueued with
 * link_outbox_enqueue() in the caller's transaction: nothing leaves before
 * the decision it reports is committed.
 */
#ifndef VIGIL_TRIAGE_OUTBOUND_H
#define VIGIL_TRIAGE_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "triage.h"
#include "vigil/v1/case.pb-c.h"
#include "vigil/v1/report.pb-c.h"

#define OUTBOUND_PEER_NOTIFICATION "notification"
#define OUTBOUND_PEER_REPORTING    "reporting"
#define OUTBOUND_QUARTER_LEN       32

/* Enqueues the Assignment and a ReportEvent of `kind` (CASE_TRIAGED or
 * CASE_ESCALATED) that counts the decision's referrals and, when
 * triage.decisions_to_reporting, carries the decision de-identified.
 * Returns 0, or -1 with sqlite's message in `err` (the caller rolls
 * back). */
int outbound_decision(triage_t *triage, sqlite3 *db, const Vigil__V1__CaseView *view,
                      const Vigil__V1__TriageDecision *decision, Vigil__V1__ReportEventKind kind,
                      char *err, size_t errlen);

/* Enqueues the FIRST_CONTACT ReportEvent for an acknowledged case. Returns
 * 0, or -1 with a message. */
int outbound_first_contact(triage_t *triage, sqlite3 *db, const Vigil__V1__CaseView *view,
                           const char *region, Vigil__V1__Priority priority,
                           int64_t acknowledged_at_ms, char *err, size_t errlen);

/* Writes the calendar quarter of unix ms `at_ms` ("2026-Q4", UTC). Cannot
 * fail. */
void outbound_quarter(int64_t at_ms, char out[OUTBOUND_QUARTER_LEN]);

#endif
