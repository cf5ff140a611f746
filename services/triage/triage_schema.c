/* triage_schema.c: the SQL of vigil-triage's store.
 *
 * cases: one row per case, with the packed CaseView as it arrived, its
 * state (pending, decided, acknowledged, stalled), the current assignment
 * and deadline, and the two counters that make crash handling work:
 * `attempts` (route attempts recorded durably before the plugin was called)
 * and `failures` (attempts that crashed or hung the plugin, or were cut
 * short by a restart). decisions: every decision ever made for a case
 * (escalations add rows), with the plugin name and version that made it and
 * the packed TriageDecision. cases is a WITHOUT ROWID table keyed by the
 * case id: one B-tree instead of a table and a key index. decisions is a
 * rowid table with a unique index (rows are appended; rebuilding it WITHOUT
 * ROWID measured 1 % of its insert cost, docs/performance.md "Triage").
 * Never edit a shipped step; add one.
 */
#include "triage_schema.h"

#include "directory.h"
#include "vigil/link.h"

static const char s_triage_v1[] =
    "CREATE TABLE cases ("
    "  case_id TEXT PRIMARY KEY,"
    "  view BLOB NOT NULL," /* packed vigil.v1.CaseView */
    "  received_at_ms INTEGER NOT NULL,"
    "  stored_at_ms INTEGER NOT NULL,"
    "  state INTEGER NOT NULL DEFAULT 0," /* case_state_t */
    "  region TEXT,"
    "  priority INTEGER,"
    "  assignee_id TEXT,"
    "  escalation_path TEXT,"
    "  escalation_level INTEGER NOT NULL DEFAULT 0,"
    "  first_contact_due_ms INTEGER,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  needs_human_review INTEGER NOT NULL DEFAULT 0,"
    "  acknowledged_at_ms INTEGER,"
    "  acknowledged_by TEXT) WITHOUT ROWID;"
    "CREATE INDEX cases_pending ON cases(stored_at_ms) WHERE state = 0;"
    "CREATE INDEX cases_due ON cases(first_contact_due_ms) WHERE state = 1;"
    "CREATE TABLE decisions ("
    "  case_id TEXT NOT NULL REFERENCES cases(case_id),"
    "  escalation_level INTEGER NOT NULL,"
    "  decided_at_ms INTEGER NOT NULL,"
    "  region TEXT NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  assignee_id TEXT NOT NULL,"
    "  escalation_path TEXT NOT NULL,"
    "  plugin_name TEXT NOT NULL,"
    "  plugin_version TEXT NOT NULL,"
    "  used_fallback INTEGER NOT NULL,"
    "  needs_human_review INTEGER NOT NULL,"
    "  first_contact_due_ms INTEGER NOT NULL,"
    "  decision BLOB NOT NULL," /* packed vigil.v1.TriageDecision */
    "  UNIQUE (case_id, escalation_level));"
    "CREATE VIEW policy_replay AS"
    "  SELECT d.case_id AS case_id, d.region AS region, c.view AS view, d.decision AS decision"
    "  FROM decisions d JOIN cases c ON c.case_id = d.case_id;";

const store_migration_t triage_migrations[TRIAGE_MIGRATION_COUNT] = {
    {1, link_schema_v1},
    {2, s_triage_v1},
    {3, directory_schema_v1},
};
