/* handlers.h: intake's inbound dispatch table for the link server.
 *
 * Every upstream request runs the same steps inside the link's batch
 * transaction: decode, check the source may send this type, validate,
 * claim (source, event_id) in the ledger, store, enqueue onward messages.
 * The link commits the batch (synchronous=FULL) and only then sends the one
 * reply per request: ACCEPTED, DUPLICATE with the original case id, or
 * REJECTED with a reason code and the field at fault.
 */
#ifndef INTAKE_HANDLERS_H
#define INTAKE_HANDLERS_H

#include "vigil/link.h"

/* The routes, ended by a row with type 0; handlers expect the service_t as
 * their context. */
extern const link_route_t intake_routes[];

#endif
