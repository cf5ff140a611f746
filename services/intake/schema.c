/* schema.c: intake's tables.
 *
 *   intake_events         the idempotency ledger: one row per (source,
 *                         event_id) ever accepted, kept forever, with the
 *                         message type and the case it created or matched.
 *   intake_cases          one row per accepted contact. Coarse, non-personal
 *                         columns in clear (for listing and triage); the
 *                         rest of the contact with its personal fields
 *                         cleared (and without the victim sub-message,
 *                         itself marked personal), as protobuf, in
 *                         `details`; the victim's two non-personal fields
 *                         in victim_language / victim_voicemail; each personal
 *                         field sealed in its own column (aad: case id and
 *                         column name). `key_id` is the vault key all its
 *                         sealed columns use: rotation progress is read
 *                         from it. `id` orders rows inside this file; it
 *                         leaves the store only enciphered, as the case id
 *                         (case_id.h; `random_id` marks the ids drawn at
 *                         random before step 3).
 *   intake_subscriptions  accepted subscription requests; phone and email
 *                         sealed (aad anchor: source/event id), the PIN only
 *                         as a keyed hash.
 *   intake_custody_events accepted custody events (no personal data).
 *   intake_confirmations  accepted delivery confirmations; PIN as keyed hash.
 *   intake_audit          who read which case's personal data, and when.
 *   intake_meta           small facts: a rotation in progress, the case-id
 *                         key (case_id.h).
 *
 * No table may hold a personal value in clear.
 */
#include "schema.h"

#include "vigil/link.h"

static const char s_intake_v1[] =
    "CREATE TABLE intake_events (\n"
    "    source TEXT NOT NULL,\n"
    "    event_id TEXT NOT NULL,\n"
    "    type INTEGER NOT NULL,\n"
    "    case_id TEXT NOT NULL DEFAULT '',\n"
    "    accepted_at_ms INTEGER NOT NULL,\n"
    "    PRIMARY KEY (source, event_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE intake_cases (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    case_id TEXT NOT NULL UNIQUE,\n"
    "    source TEXT NOT NULL,\n"
    "    event_id TEXT NOT NULL,\n"
    "    received_at_ms INTEGER NOT NULL,\n"
    "    accepted_at_ms INTEGER NOT NULL,\n"
    "    channel INTEGER NOT NULL,\n"
    "    crime_category INTEGER NOT NULL,\n"
    "    state TEXT NOT NULL,\n"
    "    key_id INTEGER NOT NULL,\n"
    "    details BLOB NOT NULL,\n"
    "    victim_given_name BLOB,\n"
    "    victim_family_name BLOB,\n"
    "    victim_phone BLOB,\n"
    "    victim_email BLOB,\n"
    "    victim_street_address BLOB,\n"
    "    narrative BLOB,\n"
    "    offender_names BLOB,\n"
    "    victim_present INTEGER NOT NULL,\n"
    "    victim_language TEXT NOT NULL,\n"
    "    victim_voicemail INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE intake_subscriptions (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    source TEXT NOT NULL,\n"
    "    event_id TEXT NOT NULL,\n"
    "    offender_id TEXT NOT NULL,\n"
    "    agency TEXT NOT NULL,\n"
    "    channel INTEGER NOT NULL,\n"
    "    language TEXT NOT NULL,\n"
    "    case_id TEXT NOT NULL,\n"
    "    requested_at_ms INTEGER NOT NULL,\n"
    "    accepted_at_ms INTEGER NOT NULL,\n"
    "    key_id INTEGER NOT NULL,\n"
    "    phone BLOB,\n"
    "    email BLOB,\n"
    "    pin_hash TEXT NOT NULL,\n"
    "    UNIQUE (source, event_id)\n"
    ");\n"
    "CREATE TABLE intake_custody_events (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    source TEXT NOT NULL,\n"
    "    event_id TEXT NOT NULL,\n"
    "    type INTEGER NOT NULL,\n"
    "    offender_id TEXT NOT NULL,\n"
    "    agency TEXT NOT NULL,\n"
    "    facility_id TEXT NOT NULL,\n"
    "    occurred_at_ms INTEGER NOT NULL,\n"
    "    accepted_at_ms INTEGER NOT NULL,\n"
    "    details BLOB NOT NULL,\n"
    "    UNIQUE (source, event_id)\n"
    ");\n"
    "CREATE TABLE intake_confirmations (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    source TEXT NOT NULL,\n"
    "    event_id TEXT NOT NULL,\n"
    "    subscription_id TEXT NOT NULL,\n"
    "    custody_event_id TEXT NOT NULL,\n"
    "    confirmed_at_ms INTEGER NOT NULL,\n"
    "    accepted_at_ms INTEGER NOT NULL,\n"
    "    pin_hash TEXT NOT NULL,\n"
    "    UNIQUE (source, event_id)\n"
    ");\n"
    "CREATE TABLE intake_audit (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    at_ms INTEGER NOT NULL,\n"
    "    operator_id TEXT NOT NULL,\n"
    "    peer TEXT NOT NULL,\n"
    "    action TEXT NOT NULL,\n"
    "    case_id TEXT NOT NULL,\n"
    "    outcome TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX intake_audit_by_case ON intake_audit (case_id, at_ms);\n"
    "CREATE TABLE intake_meta (\n"
    "    key TEXT PRIMARY KEY,\n"
    "    value TEXT NOT NULL\n"
    ") WITHOUT ROWID;\n";

/* Step 3: case ids derived from the row (case_id.h) need no index, so
 * intake_cases is rebuilt without `case_id`'s UNIQUE constraint, whose index
 * took a write to a random page for every new case. Rows from before keep
 * their randomly drawn ids, marked `random_id`, and only those stay indexed
 * (a partial index), so they are still found. */
#define CASE_COLUMNS_V2                                                                            \
    "id, case_id, source, event_id, received_at_ms, accepted_at_ms, channel, crime_category, "     \
    "state, key_id, details, victim_given_name, victim_family_name, victim_phone, victim_email, "  \
    "victim_street_address, narrative, offender_names, victim_present, victim_language, "          \
    "victim_voicemail"
static const char s_intake_v3[] =
    "CREATE TABLE intake_cases_v3 (\n"
    "    id INTEGER PRIMARY KEY,\n"
    "    case_id TEXT NOT NULL,\n"
    "    source TEXT NOT NULL,\n"
    "    event_id TEXT NOT NULL,\n"
    "    received_at_ms INTEGER NOT NULL,\n"
    "    accepted_at_ms INTEGER NOT NULL,\n"
    "    channel INTEGER NOT NULL,\n"
    "    crime_category INTEGER NOT NULL,\n"
    "    state TEXT NOT NULL,\n"
    "    key_id INTEGER NOT NULL,\n"
    "    details BLOB NOT NULL,\n"
    "    victim_given_name BLOB,\n"
    "    victim_family_name BLOB,\n"
    "    victim_phone BLOB,\n"
    "    victim_email BLOB,\n"
    "    victim_street_address BLOB,\n"
    "    narrative BLOB,\n"
    "    offender_names BLOB,\n"
    "    victim_present INTEGER NOT NULL,\n"
    "    victim_language TEXT NOT NULL,\n"
    "    victim_voicemail INTEGER NOT NULL,\n"
    "    random_id INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "INSERT INTO intake_cases_v3 (" CASE_COLUMNS_V2 ", random_id)\n"
    "    SELECT " CASE_COLUMNS_V2 ", 1 FROM intake_cases;\n"
    "DROP TABLE intake_cases;\n"
    "ALTER TABLE intake_cases_v3 RENAME TO intake_cases;\n"
    "CREATE UNIQUE INDEX intake_cases_random_id ON intake_cases (case_id) WHERE random_id = 1;\n";

const store_migration_t intake_migrations[INTAKE_MIGRATION_COUNT] = {
    {.version = 1, .sql = link_schema_v1},
    {.version = 2, .sql = s_intake_v1},
    {.version = 3, .sql = s_intake_v3},
};
