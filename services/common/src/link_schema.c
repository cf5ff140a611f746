/* link_schema.c: the reliable link's tables, version 1.
 *
 * A service lists link_schema_v1 among its store migrations. The tables:
 *
 *   link_outbox       messages waiting for a peer's acknowledgement, in
 *                     enqueue order. Ids never go back (link_outbox.c
 *                     numbers rows by the microsecond clock, kept
 *                     monotonic), so a relay can resume "after the last row
 *                     it scanned"; cheaper than AUTOINCREMENT's extra write
 *                     per row.
 *                     Deliberately without an index on peer: relays scan
 *                     forward by id, and an index would double the cost of
 *                     every enqueue and every delete.
 *   link_inbox        one row per message_id this service has handled, with
 *                     the outcome, so a retransmission gets the same answer
 *                     and never a second effect.
 *   link_attempts     how often a handler failed for a message not yet
 *                     handled; counted durably in the batch transaction.
 *   link_deadletters  parked messages: direction 'in' (handler failed
 *                     max_attempts times) or 'out' (the peer refused it).
 *
 * Envelopes are stored sealed (vault, aad = message_id) when the service has
 * a vault. This text must never be edited once released: a change becomes
 * link_schema_v2.
 */
#include "vigil/link.h"

const char link_schema_v1[] = "CREATE TABLE link_outbox (\n"
                              "    id INTEGER PRIMARY KEY,\n"
                              "    peer TEXT NOT NULL,\n"
                              "    message_id BLOB NOT NULL,\n"
                              "    type INTEGER NOT NULL,\n"
                              "    enqueued_us INTEGER NOT NULL,\n"
                              "    sealed INTEGER NOT NULL DEFAULT 0,\n"
                              "    envelope BLOB NOT NULL\n"
                              ");\n"
                              "CREATE TABLE link_inbox (\n"
                              "    message_id BLOB PRIMARY KEY,\n"
                              "    status INTEGER NOT NULL,\n"
                              "    reason INTEGER NOT NULL DEFAULT 0,\n"
                              "    case_id TEXT,\n"
                              "    event_id TEXT,\n"
                              "    detail TEXT,\n"
                              "    peer TEXT NOT NULL,\n"
                              "    handled_at_ms INTEGER NOT NULL\n"
                              ") WITHOUT ROWID;\n"
                              "CREATE TABLE link_attempts (\n"
                              "    message_id BLOB PRIMARY KEY,\n"
                              "    attempts INTEGER NOT NULL,\n"
                              "    first_failed_at_ms INTEGER NOT NULL,\n"
                              "    last_failed_at_ms INTEGER NOT NULL,\n"
                              "    reason TEXT NOT NULL\n"
                              ") WITHOUT ROWID;\n"
                              "CREATE TABLE link_deadletters (\n"
                              "    id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
                              "    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),\n"
                              "    peer TEXT NOT NULL,\n"
                              "    message_id BLOB NOT NULL,\n"
                              "    type INTEGER NOT NULL,\n"
                              "    reason TEXT NOT NULL,\n"
                              "    attempts INTEGER NOT NULL,\n"
                              "    first_failed_at_ms INTEGER NOT NULL,\n"
                              "    last_failed_at_ms INTEGER NOT NULL,\n"
                              "    sealed INTEGER NOT NULL DEFAULT 0,\n"
                              "    envelope BLOB NOT NULL\n"
                              ");\n";
