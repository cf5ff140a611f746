/* upstream_store.h: stores the upstream events that are not contacts:
 * custody events, subscription requests and delivery confirmations.
 *
 * Phone numbers and emails are sealed like case fields (anchor
 * "sub:<source>/<event_id>"); PINs are kept only as a keyed hash. Each
 * function runs inside the caller's transaction and never commits.
 */
#ifndef INTAKE_UPSTREAM_STORE_H
#define INTAKE_UPSTREAM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "intake.h"
#include "vigil/v1/custody.pb-c.h"
#include "vigil/v1/notify.pb-c.h"

/* Each returns 0, or -1 with a message (never personal data) in `err`. */
int upstream_store_custody(intake_t *intake, const char *source, const Vigil__V1__CustodyEvent *e,
                           int64_t now_ms, char *err, size_t errlen);
int upstream_store_subscription(intake_t *intake, const char *source,
                                const Vigil__V1__SubscriptionRequest *s, int64_t now_ms, char *err,
                                size_t errlen);
int upstream_store_confirmation(intake_t *intake, const char *source,
                                const Vigil__V1__DeliveryConfirmation *d, int64_t now_ms, char *err,
                                size_t errlen);

#endif
