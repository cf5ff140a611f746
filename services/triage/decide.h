/* decide.h: the decision stage: pending cases through the plugins.
 *
 * Cases are stored by the link handler with their first route attempt
 * already recorded (attempts = 1) in the same commit. A pass, run from the
 * loop after that commit, takes up to triage.decide_batch pending cases,
 * records a fresh attempt durably for any case whose last attempt already
 * failed, resolves region and priority, routes the batch through the policy
 * host, and then writes the decisions and their onward messages in one
 * transaction: its own, at once (triage.decision_wait_ms = 0, the default),
 * or the next link batch's when one arrives within triage.decision_wait_ms
 * (decide_share_commit(); one fsync for both), else its own. The next pass
 * starts only once those writes committed. A case whose plugin crashed or
 * hung stays pending and counts a failure; once it has failed
 * triage.max_plugin_failures times the region's fallback decides it and
 * flags it for human review. Attempts cut short by a triage crash count as
 * failures at the next start. The stage never drops a case and never logs
 * more than case ids.
 */
#ifndef VIGIL_TRIAGE_DECIDE_H
#define VIGIL_TRIAGE_DECIDE_H

#include <stddef.h>
#include <sqlite3.h>

#include "record.h"
#include "triage.h"

/* Prepares statements and buffers. Returns NULL with a message. */
decide_t *decide_new(triage_t *triage, char *err, size_t errlen);

/* Frees; sets *decide_p to NULL. Cannot fail. */
void decide_destroy(decide_t **decide_p);

/* Counts attempts left open by a process that died as failures (call once
 * at start, before the first pass). Returns 0, or -1 with a message. */
int decide_recover(decide_t *decide, char *err, size_t errlen);

/* Closes attempts recorded but never started (call at a clean stop), so a
 * restart does not count them as failures. Cannot fail. */
void decide_close_attempts(decide_t *decide);

/* Asks for a pass after the current loop callback. Cannot fail. */
void decide_schedule(decide_t *decide);

/* Called by a link handler inside the batch transaction `db` (which must
 * be open): writes the decisions of the staged pass, if any are waiting,
 * into that transaction under a savepoint of their own, and checks after
 * the batch whether it committed (if not, they commit on their own). Only
 * decisions whose attempts were already durable are ever staged, so this
 * never brings a plugin call and its attempt into one transaction. Returns
 * 0, or -1 when they could not be written (the savepoint is undone, the
 * batch is untouched, the decisions commit on their own later). */
int decide_share_commit(decide_t *decide, sqlite3 *db);

/* Commits the staged pass now, on its own, if one waits and no transaction
 * is open (call at a clean stop, before decide_close_attempts()). A failure
 * is logged; its cases stay pending. Cannot fail. */
void decide_flush(decide_t *decide);

/* The prepared "store a new case" statement for the link handler:
 * ?1 case_id, ?2 view, ?3 received_at_ms, ?4 stored_at_ms; does nothing for
 * a known case id. Borrowed. Cannot fail. */
sqlite3_stmt *decide_insert_statement(decide_t *decide);

/* The decision recorder (shared with escalation and receipts). Borrowed.
 * Cannot fail. */
record_t *decide_record(decide_t *decide);

#endif
