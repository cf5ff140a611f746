/* test_triage_schema_upgrade.c: a store written before schema step 4
 * upgrades without losing or changing anything.
 *
 * Step 4 rebuilds cases (in arrival order, numbered by seq) and decisions
 * (keyed by the case's seq, no foreign key). A real sqlite file is made
 * with steps 1-3 only and filled as vigil-triage 3 left it: a pending case,
 * a decided one with an escalation, an acknowledged one, stored in an order
 * their random ids do not follow. Opened with every step, it must hold the
 * same rows with the same values, seq must follow arrival, each decision
 * must point at its case's seq, policy_replay must still join them, and
 * sqlite's own integrity and foreign-key checks must pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "triage_schema.h"
#include "vigil/store.h"

enum { STEPS_BEFORE = 3, ERR_LEN = 256, TEXT_MAX = 4096, PATH_MAX_LEN = 256 };

/* Three cases as step 2 stored them. Ids sort c_a < c_m < c_z; arrival
 * (stored_at_ms) is c_z, c_a, c_m. */
static const char s_old_rows[] =
    "INSERT INTO cases (case_id, view, received_at_ms, stored_at_ms, state, region, priority,"
    " assignee_id, escalation_path, escalation_level, first_contact_due_ms, attempts, failures,"
    " needs_human_review, acknowledged_at_ms, acknowledged_by) VALUES"
    " ('c_zzzzzzzzzzzzzzzzzzzz', X'0a01', 100, 1000, 1, 'east', 2, 'co-2', 'sup-east', 1, 9000,"
    "  1, 0, 0, NULL, NULL),"
    " ('c_aaaaaaaaaaaaaaaaaaaa', X'0a02', 200, 2000, 2, 'west', 3, 'co-7', '', 0, 8000,"
    "  2, 1, 1, 2500, 'co-7'),"
    " ('c_mmmmmmmmmmmmmmmmmmmm', X'0a03', 300, 3000, 0, NULL, NULL, NULL, NULL, 0, NULL,"
    "  1, 0, 0, NULL, NULL);"
    "INSERT INTO decisions (case_id, escalation_level, decided_at_ms, region, priority,"
    " assignee_id, escalation_path, plugin_name, plugin_version, used_fallback,"
    " needs_human_review, first_contact_due_ms, decision) VALUES"
    " ('c_zzzzzzzzzzzzzzzzzzzz', 0, 1100, 'east', 2, 'co-1', 'sup-east', 'rules', '1.0', 0, 0,"
    "  5000, X'01'),"
    " ('c_aaaaaaaaaaaaaaaaaaaa', 0, 2100, 'west', 3, 'co-7', '', 'east-ext', '2.1', 1, 1,"
    "  8000, X'02'),"
    " ('c_zzzzzzzzzzzzzzzzzzzz', 1, 5100, 'east', 2, 'co-2', 'sup-east', 'rules', '1.0', 0, 0,"
    "  9000, X'03');";

/* Every column of cases except seq, and of decisions except case_seq, one
 * line per row in a fixed order: what must survive the upgrade. */
static const char s_cases_dump[] =
    "SELECT group_concat(line, char(10)) FROM (SELECT case_id || '|' || hex(view) || '|' ||"
    " received_at_ms || '|' || stored_at_ms || '|' || state || '|' || ifnull(region, '-') || '|'"
    " || ifnull(priority, '-') || '|' || ifnull(assignee_id, '-') || '|' ||"
    " ifnull(escalation_path, '-') || '|' || escalation_level || '|' ||"
    " ifnull(first_contact_due_ms, '-') || '|' || attempts || '|' || failures || '|' ||"
    " needs_human_review || '|' || ifnull(acknowledged_at_ms, '-') || '|' ||"
    " ifnull(acknowledged_by, '-') AS line FROM cases ORDER BY case_id)";
static const char s_decisions_dump[] =
    "SELECT group_concat(line, char(10)) FROM (SELECT case_id || '|' || escalation_level || '|'"
    " || decided_at_ms || '|' || region || '|' || priority || '|' || assignee_id || '|' ||"
    " escalation_path || '|' || plugin_name || '|' || plugin_version || '|' || used_fallback ||"
    " '|' || needs_human_review || '|' || first_contact_due_ms || '|' || hex(decision) AS line"
    " FROM decisions ORDER BY case_id, escalation_level)";

static void s_text(sqlite3 *db, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    const unsigned char *text = sqlite3_column_text(stmt, 0);
    snprintf(out, size, "%s", text ? (const char *)text : "");
    sqlite3_finalize(stmt);
}

static long long s_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    long long value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

static void test_step_4_keeps_every_row_and_orders_cases_by_arrival(void **state)
{
    (void)state;
    char dir[] = "/tmp/vigil-triage-upgrade-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/triage.db", dir);
    char err[ERR_LEN] = "";

    sqlite3 *db = store_open(path, triage_migrations, STEPS_BEFORE, err, sizeof err);
    assert_non_null(db);
    assert_int_equal(sqlite3_exec(db, s_old_rows, NULL, NULL, NULL), SQLITE_OK);
    char cases_before[TEXT_MAX], decisions_before[TEXT_MAX];
    s_text(db, s_cases_dump, cases_before, sizeof cases_before);
    s_text(db, s_decisions_dump, decisions_before, sizeof decisions_before);
    assert_int_equal(s_int(db, "PRAGMA user_version"), STEPS_BEFORE);
    store_close(&db);

    db = store_open(path, triage_migrations, TRIAGE_MIGRATION_COUNT, err, sizeof err);
    if (!db)
        fail_msg("upgrade: %s", err);
    assert_int_equal(s_int(db, "PRAGMA user_version"), TRIAGE_MIGRATION_COUNT);

    /* Nothing lost, nothing changed. */
    char cases_after[TEXT_MAX], decisions_after[TEXT_MAX];
    s_text(db, s_cases_dump, cases_after, sizeof cases_after);
    s_text(db, s_decisions_dump, decisions_after, sizeof decisions_after);
    assert_string_equal(cases_after, cases_before);
    assert_string_equal(decisions_after, decisions_before);

    /* seq follows arrival, not the ids; decisions point at their case. */
    char order[TEXT_MAX];
    s_text(db,
           "SELECT group_concat(substr(case_id, 3, 1), '') FROM (SELECT case_id FROM cases"
           " ORDER BY seq)",
           order, sizeof order);
    assert_string_equal(order, "zam");
    assert_int_equal(s_int(db, "SELECT count(*) FROM decisions d JOIN cases c ON c.seq ="
                               " d.case_seq AND c.case_id = d.case_id"),
                     3);
    assert_int_equal(s_int(db, "SELECT count(*) FROM policy_replay"), 3);
    assert_int_equal(s_int(db, "SELECT count(*) FROM policy_replay WHERE case_id ="
                               " 'c_zzzzzzzzzzzzzzzzzzzz' AND hex(view) = '0A01'"),
                     2);

    /* The pending case is still found the way the decision pass looks. */
    char pending[TEXT_MAX];
    s_text(db, "SELECT case_id FROM cases WHERE state = 0 ORDER BY stored_at_ms LIMIT 1", pending,
           sizeof pending);
    assert_string_equal(pending, "c_mmmmmmmmmmmmmmmmmmmm");

    /* A case id stays unique, and the store is sound. */
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO cases (case_id, view, received_at_ms,"
                                      " stored_at_ms) VALUES ('c_aaaaaaaaaaaaaaaaaaaa', X'00', 1,"
                                      " 1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    char check[TEXT_MAX];
    s_text(db, "PRAGMA integrity_check", check, sizeof check);
    assert_string_equal(check, "ok");
    sqlite3_stmt *fk = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &fk, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(fk), SQLITE_DONE);
    sqlite3_finalize(fk);
    store_close(&db);

    char command[PATH_MAX_LEN * 2];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    assert_int_equal(system(command), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_4_keeps_every_row_and_orders_cases_by_arrival),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
