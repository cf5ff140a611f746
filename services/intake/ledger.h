/* ledger.h: the idempotency ledger, keyed by (source, event_id).
 *
 * Every accepted upstream event claims its key in intake_events inside the
 * batch transaction that stores it. The rows are kept forever: a retry a
 * week later finds the row and is answered DUPLICATE with the original case
 * id; it never creates a second case. A rejected event claims nothing (its
 * savepoint rolls back), so a corrected resend with the same id is accepted.
 */
#ifndef INTAKE_LEDGER_H
#define INTAKE_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "intake.h"

enum {
    LEDGER_CLAIMED = 0,    /* new key, now claimed */
    LEDGER_DUPLICATE = 1,  /* seen before, same message type */
    LEDGER_OTHER_TYPE = 2, /* seen before, for another message type */
};

#define LEDGER_CASE_ID_SIZE 64

/* Claims (`source`, `event_id`) for a message of `type` that creates or
 * concerns `case_id` (may be ""). Returns LEDGER_CLAIMED; or
 * LEDGER_DUPLICATE / LEDGER_OTHER_TYPE with the earlier row's case id in
 * `original_case` and type in *original_type; or -1 with sqlite's message in
 * `err`. */
int ledger_claim(intake_t *intake, const char *source, const char *event_id,
                 Vigil__V1__MessageType type, const char *case_id, int64_t now_ms,
                 char original_case[LEDGER_CASE_ID_SIZE], int *original_type, char *err,
                 size_t errlen);

#endif
