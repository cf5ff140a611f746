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
#include "vigil/link.h"
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

/* The outbox rows of a new case, built ahead of its transaction. */
enum { FORWARD_CONTACT_ROWS = 3 };
typedef struct {
    link_outbox_prepared_t rows[FORWARD_CONTACT_ROWS];
    size_t count;
} forward_prepared_t;

/* Builds the onward rows of a new case, in this order: the CaseView for triage and the ReportEvent
 * for reporting (unsealed), then, when the victim consented, the NotifyContact for notification
 * (sealed with intake->vault). Bytes come from `allocator`; the caller wipes each row's `wire`
 * (wire_len bytes) and releases the memory once the rows are enqueued or dropped, also after a
 * failure (rows prepared before it are in `out`). Thread-safe: no store access; reads only `c`, the
 * vault and the hash key. Returns 0, or -1 with a message. */
int forward_prepare_contact(const intake_t *intake, const Vigil__V1__IntakeContact *c,
                            const char *case_id, const char *trace_id,
                            ProtobufCAllocator *allocator, forward_prepared_t *out, char *err,
                            size_t errlen);

/* Enqueues prepared rows in order in the caller's open transaction
 * (link_outbox_enqueue_prepared). Returns 0, or -1 with a message. */
int forward_enqueue_prepared(intake_t *intake, const forward_prepared_t *prepared, char *err,
                             size_t errlen);

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
