/* test_store.c: a service's sqlite file is durable, migrated once, and
 * refused when damaged or too new.
 *
 * Every test works on real database files in a fresh temporary directory:
 * migrations applied in order and only once, a failing step rolled back
 * with the version unchanged, a newer store refused, a file with garbage in
 * its pages refused at open, and the pragmas vigil's durability rests on
 * (WAL, synchronous=FULL, foreign keys) actually in force.
 */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "vigil/store.h"

/* Step 2 depends on step 1 and step 3 on step 2, so applying them out of
 * order, or twice (no IF NOT EXISTS), fails. */
static const store_migration_t s_migrations[] = {
    {1, "CREATE TABLE cases (id TEXT PRIMARY KEY, received_at_ms INTEGER NOT NULL);"},
    {2, "ALTER TABLE cases ADD COLUMN priority INTEGER NOT NULL DEFAULT 3;"
        "CREATE TABLE notes (case_id TEXT NOT NULL REFERENCES cases(id), body TEXT);"},
    {3, "INSERT INTO cases (id, received_at_ms, priority) VALUES ('c_seed', 1, 1);"},
};

/* Step 4 half-works: its first statement succeeds, its second fails. */
static const store_migration_t s_broken_migrations[] = {
    s_migrations[0],
    s_migrations[1],
    s_migrations[2],
    {4, "INSERT INTO cases (id, received_at_ms) VALUES ('c_half', 2);"
        "INSERT INTO no_such_table VALUES (1);"},
};

typedef struct {
    char dir[128];
    char path[192];
    char err[512];
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *fixture = calloc(1, sizeof(*fixture));
    const char *tmp = getenv("TMPDIR");
    snprintf(fixture->dir, sizeof(fixture->dir), "%s/vigil-test-store-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(fixture->dir) == NULL) {
        free(fixture);
        return -1;
    }
    snprintf(fixture->path, sizeof(fixture->path), "%s/intake.db", fixture->dir);
    *state = fixture;
    return 0;
}

static int s_remove_entry(const char *path, const struct stat *info, int flag, struct FTW *ftw)
{
    (void)info;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int s_teardown(void **state)
{
    fixture_t *fixture = *state;
    nftw(fixture->dir, s_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fixture);
    return 0;
}

static sqlite3 *s_open(fixture_t *fixture, const store_migration_t *migrations, size_t count)
{
    sqlite3 *db = store_open(fixture->path, migrations, count, fixture->err, sizeof(fixture->err));
    if (db == NULL) {
        fail_msg("store_open: %s", fixture->err);
    }
    return db;
}

/* Runs a query that returns one integer. */
static int64_t s_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    int64_t value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
}

static void s_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
}

static void test_migrations_run_in_order_and_once(void **state)
{
    fixture_t *fixture = *state;
    sqlite3 *db = s_open(fixture, s_migrations, 2);
    assert_int_equal(store_schema_version(db), 2);
    assert_int_equal(store_exec(db, "INSERT INTO cases (id, received_at_ms) VALUES ('c_1', 5)",
                                fixture->err, sizeof(fixture->err)),
                     0);
    assert_int_equal(s_int(db, "SELECT priority FROM cases WHERE id = 'c_1'"), 3);
    store_close(&db);
    assert_null(db);

    /* Reopening with one more step applies only that step: the data stays
     * and steps 1 and 2 (which would fail a second time) are skipped. */
    db = s_open(fixture, s_migrations, 3);
    assert_int_equal(store_schema_version(db), 3);
    assert_int_equal(s_int(db, "SELECT count(*) FROM cases"), 2);
    store_close(&db);

    db = s_open(fixture, s_migrations, 3);
    assert_int_equal(s_int(db, "SELECT count(*) FROM cases WHERE id = 'c_seed'"), 1);
    store_close(&db);
}

static void test_failed_migration_rolls_back(void **state)
{
    fixture_t *fixture = *state;
    sqlite3 *db = s_open(fixture, s_migrations, 3);
    store_close(&db);

    assert_null(
        store_open(fixture->path, s_broken_migrations, 4, fixture->err, sizeof(fixture->err)));
    assert_non_null(strstr(fixture->err, "version 4"));
    assert_non_null(strstr(fixture->err, "no_such_table"));
    assert_non_null(strstr(fixture->err, "rolled back"));

    db = s_open(fixture, s_migrations, 3);
    assert_int_equal(store_schema_version(db), 3);
    /* The half of step 4 that worked was undone with it. */
    assert_int_equal(s_int(db, "SELECT count(*) FROM cases WHERE id = 'c_half'"), 0);
    store_close(&db);

    /* The first migration failing leaves a fresh store at version 0. */
    static const store_migration_t broken_first[] = {{1, "CREATE TABLE;"}};
    snprintf(fixture->path, sizeof(fixture->path), "%s/fresh.db", fixture->dir);
    assert_null(store_open(fixture->path, broken_first, 1, fixture->err, sizeof(fixture->err)));
    db = s_open(fixture, NULL, 0);
    assert_int_equal(store_schema_version(db), 0);
    store_close(&db);
}

static void test_newer_store_is_refused(void **state)
{
    fixture_t *fixture = *state;
    sqlite3 *db = s_open(fixture, s_migrations, 3);
    store_close(&db);

    assert_null(store_open(fixture->path, s_migrations, 2, fixture->err, sizeof(fixture->err)));
    assert_non_null(strstr(fixture->err, fixture->path));
    assert_non_null(strstr(fixture->err, "version 3"));
    assert_non_null(strstr(fixture->err, "newer"));

    /* Refusing did not touch it: the newer code still opens it. */
    db = s_open(fixture, s_migrations, 3);
    assert_int_equal(store_schema_version(db), 3);
    store_close(&db);
}

/* Overwrites `len` bytes at `offset` of the file with a fixed pattern. */
static void s_scribble(const char *path, off_t offset, size_t len)
{
    uint8_t *garbage = malloc(len);
    for (size_t i = 0; i < len; i++) {
        garbage[i] = (uint8_t)(i * 37 + 11);
    }
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, garbage, len, offset), (ssize_t)len);
    fsync(fd);
    close(fd);
    free(garbage);
}

static void test_corrupted_file_is_refused(void **state)
{
    fixture_t *fixture = *state;
    sqlite3 *db = s_open(fixture, s_migrations, 3);
    /* Enough rows for many pages, so the damage lands inside the b-tree. */
    assert_int_equal(store_exec(db,
                                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                                "WHERE i < 3000) INSERT INTO cases (id, received_at_ms) "
                                "SELECT 'c_' || i || '_' || hex(randomblob(40)), i FROM n",
                                fixture->err, sizeof(fixture->err)),
                     0);
    int64_t page_size = s_int(db, "PRAGMA page_size");
    int64_t pages = s_int(db, "PRAGMA page_count");
    assert_true(pages > 20);
    assert_int_equal(store_check(db, true, fixture->err, sizeof(fixture->err)), 0);
    store_close(&db);

    /* Garbage over pages 3..6: past the header, inside the page area. */
    s_scribble(fixture->path, (off_t)(2 * page_size), (size_t)(4 * page_size));
    assert_null(store_open(fixture->path, s_migrations, 3, fixture->err, sizeof(fixture->err)));
    assert_non_null(strstr(fixture->err, fixture->path));
    assert_non_null(strstr(fixture->err, "damaged"));
    assert_non_null(strstr(fixture->err, "restore from backup"));

    /* A file that is not a database at all is refused too. */
    snprintf(fixture->path, sizeof(fixture->path), "%s/notes.db", fixture->dir);
    int fd = open(fixture->path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    s_scribble(fixture->path, 0, 8192);
    assert_null(store_open(fixture->path, s_migrations, 3, fixture->err, sizeof(fixture->err)));
    assert_non_null(strstr(fixture->err, "notes.db"));
    assert_non_null(strstr(fixture->err, "not a database"));
}

static void test_durability_pragmas_are_set(void **state)
{
    fixture_t *fixture = *state;
    sqlite3 *db = s_open(fixture, s_migrations, 3);
    char mode[32];
    s_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(s_int(db, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(s_int(db, "PRAGMA foreign_keys"), 1);
    assert_true(s_int(db, "PRAGMA busy_timeout") > 0);

    /* Foreign keys are enforced, not just declared. */
    assert_int_equal(store_exec(db, "INSERT INTO notes (case_id, body) VALUES ('c_nobody', 'x')",
                                fixture->err, sizeof(fixture->err)),
                     -1);
    assert_non_null(strstr(fixture->err, "FOREIGN KEY"));
    assert_int_equal(store_check(db, false, fixture->err, sizeof(fixture->err)), 0);
    assert_int_equal(store_check(db, true, fixture->err, sizeof(fixture->err)), 0);
    store_close(&db);

    /* WAL is a property of the file: a plain sqlite connection sees it. */
    sqlite3 *plain = NULL;
    assert_int_equal(sqlite3_open(fixture->path, &plain), SQLITE_OK);
    s_text(plain, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    sqlite3_close(plain);
}

static void test_transactions_commit_and_roll_back(void **state)
{
    fixture_t *fixture = *state;
    sqlite3 *db = s_open(fixture, s_migrations, 3);
    assert_int_equal(store_begin(db), 0);
    store_exec(db, "INSERT INTO cases (id, received_at_ms) VALUES ('c_keep', 1)", NULL, 0);
    assert_int_equal(store_commit(db), 0);
    assert_int_equal(store_begin(db), 0);
    store_exec(db, "INSERT INTO cases (id, received_at_ms) VALUES ('c_drop', 1)", NULL, 0);
    assert_int_equal(store_rollback(db), 0);
    assert_int_equal(store_commit(db), -1); /* nothing open */
    store_close(&db);

    db = s_open(fixture, s_migrations, 3);
    assert_int_equal(s_int(db, "SELECT count(*) FROM cases WHERE id = 'c_keep'"), 1);
    assert_int_equal(s_int(db, "SELECT count(*) FROM cases WHERE id = 'c_drop'"), 0);
    store_close(&db);
}

static void test_unopenable_path_is_reported(void **state)
{
    fixture_t *fixture = *state;
    snprintf(fixture->path, sizeof(fixture->path), "%s/missing/dir/x.db", fixture->dir);
    assert_null(store_open(fixture->path, s_migrations, 3, fixture->err, sizeof(fixture->err)));
    assert_non_null(strstr(fixture->err, "missing/dir/x.db"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations_run_in_order_and_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failed_migration_rolls_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_newer_store_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_corrupted_file_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_durability_pragmas_are_set, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_transactions_commit_and_roll_back, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_unopenable_path_is_reported, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
