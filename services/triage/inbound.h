/* inbound.h: the link handlers of vigil-triage.
 *
 * CaseView (from intake): validate and store the case, with its first
 * route attempt recorded, in the link's batch transaction; the decision
 * stage (decide.h) routes it after that transaction commits, so a case is
 * durable and acknowledged before any plugin sees it. AssignmentReceipt:
 * the assignee took the case; stop its escalation and report the first
 * contact. Handlers never commit and never log anything but case ids and
 * field names.
 */
#ifndef VIGIL_TRIAGE_INBOUND_H
#define VIGIL_TRIAGE_INBOUND_H

#include "vigil/link.h"

/* The dispatch table for service_def_t.routes. */
extern const link_route_t inbound_routes[];

#endif
