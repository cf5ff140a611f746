/* test_fault.c: the fault-injection plan fails exactly the calls it names,
 * and a failed commit leaves nothing behind.
 *
 * The plan syntax (site:N, site:N+, lists), per-site counting, refusal of
 * malformed plans (which then inject nothing), and the "commit" site on a
 * real store: the named COMMIT fails, its rows are gone, and the next
 * transaction commits normally. Built only with VIGIL_FAULT_INJECTION (the
 * default test build); otherwise it checks that the hooks are inert.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "vigil/fault.h"
#include "vigil/store.h"

#ifdef VIGIL_FAULT_INJECTION

static const store_migration_t s_migrations[] = {
    {1, "CREATE TABLE rows (id INTEGER PRIMARY KEY);"},
};

static int s_reset(void **state)
{
    (void)state;
    assert_int_equal(fault_configure(NULL), 0);
    return 0;
}

static void test_nth_call_fails(void **state)
{
    (void)state;
    assert_int_equal(fault_configure("commit:3"), 0);
    assert_false(fault_should_fail("commit"));
    assert_false(fault_should_fail("commit"));
    assert_true(fault_should_fail("commit"));
    assert_false(fault_should_fail("commit"));
    assert_false(fault_should_fail("commit"));
}

static void test_sites_count_apart(void **state)
{
    (void)state;
    assert_int_equal(fault_configure("send:2,commit:1"), 0);
    assert_false(fault_should_fail("send"));
    assert_true(fault_should_fail("commit"));
    assert_true(fault_should_fail("send"));
    assert_false(fault_should_fail("commit"));
    assert_false(fault_should_fail("other"));
}

static void test_from_n_on(void **state)
{
    (void)state;
    assert_int_equal(fault_configure("commit:2+,commit:1"), 0);
    for (int i = 0; i < 5; i++)
        assert_true(fault_should_fail("commit"));
}

static void test_malformed_plans_inject_nothing(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "commit",   "commit:",    ":3",
        "commit:0", "commit:-1",  "commit:3x",
        "commit:+", "commit:3++", "a-site-name-far-too-long-to-be-kept:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(fault_configure(bad[i]), -1);
        assert_false(fault_should_fail("commit"));
    }
    assert_int_equal(fault_configure(""), 0);
    assert_false(fault_should_fail("commit"));
}

static void test_failed_commit_rolls_back(void **state)
{
    (void)state;
    char err[256];
    sqlite3 *db = store_open(":memory:", s_migrations, 1, err, sizeof err);
    assert_non_null(db);
    /* Migrations are not counted: the plan starts with the first commit
     * after store_open(). */
    assert_int_equal(fault_configure("commit:2"), 0);
    assert_int_equal(store_begin(db), 0);
    assert_int_equal(store_exec(db, "INSERT INTO rows VALUES (1)", err, sizeof err), 0);
    assert_int_equal(store_commit(db), 0);

    assert_int_equal(store_begin(db), 0);
    assert_int_equal(store_exec(db, "INSERT INTO rows VALUES (2)", err, sizeof err), 0);
    assert_int_equal(store_commit(db), -1);
    store_rollback(db); /* what a caller does; sqlite already rolled back */
    assert_true(sqlite3_get_autocommit(db));

    assert_int_equal(store_begin(db), 0);
    assert_int_equal(store_exec(db, "INSERT INTO rows VALUES (3)", err, sizeof err), 0);
    assert_int_equal(store_commit(db), 0);

    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(id) FROM rows", -1, &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "1,3");
    sqlite3_finalize(stmt);
    store_close(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_nth_call_fails, s_reset),
        cmocka_unit_test_setup(test_sites_count_apart, s_reset),
        cmocka_unit_test_setup(test_from_n_on, s_reset),
        cmocka_unit_test_setup(test_malformed_plans_inject_nothing, s_reset),
        cmocka_unit_test_setup(test_failed_commit_rolls_back, s_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void test_hooks_are_inert(void **state)
{
    (void)state;
    assert_false(fault_should_fail("commit"));
    assert_int_equal(fault_configure("commit:1"), -1);
    assert_false(fault_should_fail("commit"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hooks_are_inert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
