/* rotate.h: re-encrypts intake's store under the vault's current key.
 *
 * After an operator adds a key line marked current to the vault key file
 * (keeping the old lines) and restarts or reloads intake, `vigilctl
 * rotate-key` asks intake to re-seal every sealed value still under an
 * older key: case and subscription columns, and sealed link outbox and
 * dead-letter envelopes. The work runs on the service loop in small
 * batches, one transaction each, between link batches, so intake keeps
 * answering. A marker row in intake_meta says a rotation is under way; a
 * restart (even after SIGKILL) resumes it. Progress needs no bookkeeping:
 * a row is done when its key id is the current one.
 */
#ifndef INTAKE_ROTATE_H
#define INTAKE_ROTATE_H

#include <stddef.h>

#include "intake.h"
#include "vigil/v1/admin.pb-c.h"

/* Starts a rotation unless one is running or nothing is left under an old
 * key; fills `reply` (affected = rows still under an old key, facts with
 * the state and target key id). Returns 0, or -1 with a message. */
int rotate_request(intake_t *intake, Vigil__V1__AdminReply *reply, char *err, size_t errlen);

/* Resumes a rotation a previous run left unfinished. Returns 0, or -1 with
 * a message. */
int rotate_resume(intake_t *intake, char *err, size_t errlen);

/* Stops scheduling batches (the service is stopping). Cannot fail. */
void rotate_stop(intake_t *intake);

#endif
