/* forward.h: what intake passes on, and to whom, through the link outbox.
 *
 *   triage        a pseudonymous CaseView: no name, phone, email, street
 *                 address or narrative; the ZIP cut to its first three digits.
 *   reporting     a de-identified ReportEvent (CASE_OPENED) with a keyed
 *                 hash of the case id, the quarter, state and county.
 *   notification  custody events, subscription requests and delivery
 *                 confirmations as received, and a NotifyContact with only
 *                 the contact details the victim consented to.
 *
 * Each function enqueues inside the caller's open transaction, so nothing
 * leaves before the state change that caused it commits. Payloads bound
 * for notification are sealed in the outbox; the others carry no personal
 * data.
 */
#ifndef INTAKE_FORWARD_H
#define INTAKE_FORWARD_H

#include <stddef.h>

#include "intake.h"
#include "vigil/v1/case.pb-c.h"
#include "vigil/v1/intake.pb-c.h"
#include "vigil/v1/notify.pb-c.h"
#include "vigil/v1/report.pb-c.h"

#define FORWARD_PEER_TRIAGE       "triage"
#define FORWARD_PEER_NOTIFICATION "notification"
#define FORWARD_PEER_REPORTING    "reporting"

/* The CaseView triage gets for contact `c` as case `case_id`. Strings in
 * `view` borrow from `c` or `zip3`. Cannot fail. */
void forward_case_view(const Vigil__V1__IntakeContact *c, const char *case_id, char zip3[4],
                       Vigil__V1__CaseView *view);

/* Writes "YYYY-Qn" of unix ms `at_ms` (UTC) into `out`. Cannot fail. */
#define FORWARD_QUARTER_SIZE 16 /* "YYYY-Qn" and room to spare */

void forward_quarter(int64_t at_ms, char out[FORWARD_QUARTER_SIZE]);

/* Enqueues the CaseView, the ReportEvent and (with consent) the
 * NotifyContact for a new case. Returns 0, or -1 with a message. */
int forward_contact(intake_t *intake, const Vigil__V1__IntakeContact *c, const char *case_id,
                    const char *trace_id, char *err, size_t errlen);

/* Enqueues an upstream message of `type` for notification, sealed.
 * Returns 0, or -1 with a message. */
int forward_to_notification(intake_t *intake, Vigil__V1__MessageType type,
                            const ProtobufCMessage *message, const char *case_id,
                            const char *trace_id, char *err, size_t errlen);

/* Enqueues an upstream message of `type` for triage (an AssignmentReceipt:
 * no personal data, so not sealed). Returns 0, or -1 with a message. */
int forward_to_triage(intake_t *intake, Vigil__V1__MessageType type,
                      const ProtobufCMessage *message, const char *case_id, const char *trace_id,
                      char *err, size_t errlen);

#endif
