/* triage_schema.c: the SQL of vigil-triage's store.
 *
 * cases: one row per case, with the packed CaseView as it arrived, its
 * state (pending, decided, acknowledged, stalled), the current assignment
 * and deadline, and the two counters that make crash handling work:
 * `attempts` (route attempts recorded durably before the plugin was called)
 * and `failures` (attempts that crashed or hung the plugin, or were cut
 * short by a restart). decisions: every decision ever made for a case
 * (escalations add rows), with the plugin name and version that made it and
 * the packed TriageDecision.
 *
 * Since step 4, cases is a rowid table numbered in arrival order (`seq`),
 * with case_id UNIQUE. Step 2 keyed it WITHOUT ROWID by the case id, which
 * is random: every stored case and every decision touched a random page of
 * the table, and rows that grew when decided split pages all over it. In
 * arrival order, the cases a decision pass reads and updates sit together
 * at the table's end (3.9 KB written per case instead of 13.9 KB, and about
 * half the CPU, docs/performance.md "Triage"). Step 4 also drops the
 * decisions -> cases foreign key: a decision is written only in the
 * transaction that updates its case (record.c), and the key cost a lookup
 * per decision. decisions are keyed by the case's seq, not its id, for the
 * same reason: the rows a pass adds land together in the index. seq counts
 * cases, so it never leaves the store: no message, log line or view
 * carries it (case ids must not reveal how many cases exist). Never edit
 * a shipped step; add one.
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

/* Step 4: cases in arrival order, decisions without the foreign key. The
 * tables are rebuilt (sqlite cannot change a table's key in place): the
 * view that reads them goes first and comes back last, decisions (the
 * child) is dropped before cases, so no foreign key is ever violated. The
 * column lists repeat step 2's on purpose: a shipped step never changes, so
 * it shares no text with a later one. */
static const char s_triage_v4[] =
    "DROP VIEW policy_replay;"
    "CREATE TABLE cases_v4 ("
    "  seq INTEGER PRIMARY KEY," /* arrival order */
    "  case_id TEXT NOT NULL UNIQUE,"
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
    "  acknowledged_by TEXT);"
    "INSERT INTO cases_v4 (case_id, view, received_at_ms, stored_at_ms, state, region, priority,"
    "  assignee_id, escalation_path, escalation_level, first_contact_due_ms, attempts, failures,"
    "  needs_human_review, acknowledged_at_ms, acknowledged_by)"
    "  SELECT case_id, view, received_at_ms, stored_at_ms, state, region, priority, assignee_id,"
    "  escalation_path, escalation_level, first_contact_due_ms, attempts, failures,"
    "  needs_human_review, acknowledged_at_ms, acknowledged_by"
    "  FROM cases ORDER BY stored_at_ms, case_id;"
    "CREATE TABLE decisions_v4 ("
    "  case_seq INTEGER NOT NULL," /* cases.seq */
    "  case_id TEXT NOT NULL,"
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
    "  UNIQUE (case_seq, escalation_level));"
    "INSERT INTO decisions_v4 (rowid, case_seq, case_id, escalation_level, decided_at_ms, region,"
    "  priority, assignee_id, escalation_path, plugin_name, plugin_version, used_fallback,"
    "  needs_human_review, first_contact_due_ms, decision)"
    "  SELECT d.rowid, c.seq, d.case_id, d.escalation_level, d.decided_at_ms, d.region,"
    "  d.priority, d.assignee_id, d.escalation_path, d.plugin_name, d.plugin_version,"
    "  d.used_fallback, d.needs_human_review, d.first_contact_due_ms, d.decision"
    "  FROM decisions d JOIN cases_v4 c ON c.case_id = d.case_id;"
    "DROP TABLE decisions;"
    "DROP TABLE cases;" /* and its indexes */
    "ALTER TABLE cases_v4 RENAME TO cases;"
    "ALTER TABLE decisions_v4 RENAME TO decisions;"
    "CREATE INDEX cases_pending ON cases(stored_at_ms) WHERE state = 0;"
    "CREATE INDEX cases_due ON cases(first_contact_due_ms) WHERE state = 1;"
    "CREATE VIEW policy_replay AS"
    "  SELECT d.case_id AS case_id, d.region AS region, c.view AS view, d.decision AS decision"
    "  FROM decisions d JOIN cases c ON c.seq = d.case_seq;";

const store_migration_t triage_migrations[TRIAGE_MIGRATION_COUNT] = {
    {1, link_schema_v1},
    {2, s_triage_v1},
    {3, directory_schema_v1},
    {4, s_triage_v4},
};
