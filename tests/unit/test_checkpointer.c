/* test_checkpointer.c: the store's WAL is copied back by the checkpoint
 * thread, stays bounded under back-to-back commits, and loses nothing.
 *
 * Real files in a fresh temporary directory, a real second thread. The
 * loop's connection never checkpoints by itself once the checkpointer is
 * on (its WAL hook replaces sqlite's automatic checkpoint), so the
 * database file can only grow if the thread did its work.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vigil/checkpointer.h"
#include "vigil/store.h"

enum {
    WAL_PAGES = 50,     /* the checkpointer's threshold in these tests */
    ROW_BYTES = 3000,   /* one row is most of a 4 KiB page */
    WAIT_MS = 5000,     /* longest wait for the thread */
    POLL_MS = 10,       /* how often a wait looks */
    BACK_TO_BACK = 800, /* commits in the bounded-WAL test: 16 x the threshold */
    PAGE_BYTES = 4096,  /* sqlite's default page size */
};

static const store_migration_t s_migrations[] = {
    {1, "CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL);"},
};

typedef struct {
    char dir[128];
    char path[192];
    char wal[200];
    char err[512];
    sqlite3 *db;
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/vigil-test-ckpt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
    snprintf(f->wal, sizeof f->wal, "%s-wal", f->path);
    f->db = store_open(f->path, s_migrations, 1, f->err, sizeof f->err);
    if (!f->db) {
        fprintf(stderr, "store_open: %s\n", f->err);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    store_close(&f->db);
    nftw(f->dir, s_remove, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static long long s_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Inserts `rows` rows of ROW_BYTES in one committed transaction. */
static void s_insert(fixture_t *f, int rows)
{
    static uint8_t body[ROW_BYTES];
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(store_begin(f->db), 0);
    assert_int_equal(
        sqlite3_prepare_v2(f->db, "INSERT INTO rows (body) VALUES (?1)", -1, &stmt, NULL),
        SQLITE_OK);
    for (int i = 0; i < rows; i++) {
        body[0] = (uint8_t)i;
        sqlite3_bind_blob(stmt, 1, body, sizeof body, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    assert_int_equal(store_commit(f->db), 0);
}

static long long s_count(sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;
    long long n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM rows", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
}

/* One commit past the threshold: the thread copies it into the database
 * file, where the loop's connection would have left it in the WAL. */
static void test_thread_copies_the_wal_back(void **state)
{
    fixture_t *f = *state;
    checkpointer_t *ckpt = checkpointer_new(f->db, WAL_PAGES, f->err, sizeof f->err);
    assert_non_null(ckpt);
    long long before = s_file_size(f->path);
    s_insert(f, WAL_PAGES * 2); /* about 100 pages of rows: past the threshold */
    long long wanted = before + (long long)WAL_PAGES * PAGE_BYTES;
    int waited = 0;
    while (s_file_size(f->path) < wanted && waited < WAIT_MS) {
        s_sleep_ms(POLL_MS);
        waited += POLL_MS;
    }
    assert_true(s_file_size(f->path) >= wanted);
    checkpointer_destroy(&ckpt);
    assert_null(ckpt);
    assert_int_equal(s_count(f->db), WAL_PAGES * 2);
}

/* Back-to-back commits give the thread no quiet moment: the WAL still
 * stays bounded (the loop checkpoints itself at the backstop), and every
 * committed row is there after the store is closed and opened again. */
static void test_wal_stays_bounded_and_nothing_is_lost(void **state)
{
    fixture_t *f = *state;
    checkpointer_t *ckpt = checkpointer_new(f->db, WAL_PAGES, f->err, sizeof f->err);
    assert_non_null(ckpt);
    long long largest = 0;
    for (int i = 0; i < BACK_TO_BACK; i++) {
        s_insert(f, 1);
        long long wal = s_file_size(f->wal);
        largest = wal > largest ? wal : largest;
    }
    /* the backstop is 8 x the threshold; a restart keeps the file at its
     * largest, so allow one more threshold's worth of frames */
    long long bound = (long long)WAL_PAGES * 9 * (PAGE_BYTES + 24) + 32;
    assert_true(largest <= bound);
    checkpointer_destroy(&ckpt);
    store_close(&f->db);
    f->db = store_open(f->path, s_migrations, 1, f->err, sizeof f->err);
    assert_non_null(f->db);
    assert_int_equal(s_count(f->db), BACK_TO_BACK);
}

/* An in-memory store has no file for a second connection: no thread, no
 * error, sqlite keeps its own checkpoints. */
static void test_memory_store_gets_none(void **state)
{
    (void)state;
    char err[256] = "x";
    sqlite3 *db = store_open(":memory:", s_migrations, 1, err, sizeof err);
    assert_non_null(db);
    assert_null(checkpointer_new(db, WAL_PAGES, err, sizeof err));
    assert_string_equal(err, "");
    checkpointer_destroy(NULL);
    store_close(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_thread_copies_the_wal_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wal_stays_bounded_and_nothing_is_lost, s_setup,
                                        s_teardown),
        cmocka_unit_test(test_memory_store_gets_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
