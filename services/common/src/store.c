/* store.c: opens a service's sqlite file with the settings vigil relies on.
 *
 * Every store runs in WAL mode with synchronous=FULL (a commit survives a
 * power cut, which is what "ack only after commit" needs), foreign keys on,
 * and a busy timeout. At open it runs PRAGMA quick_check and refuses a
 * damaged file with a message that says what to do, then migrates the
 * schema forward one numbered step per transaction, tracked in PRAGMA
 * user_version. It must never open a store newer than the code (a rollback
 * of the binary would silently misread it), never leave a half-applied
 * migration, and never run on a connection with weaker durability than asked.
 *
 * Connections are opened with SQLITE_OPEN_NOMUTEX: each belongs to one
 * thread (the service loop, or a tool's main), so sqlite's per-connection
 * mutex would only cost a lock and unlock on every call. A connection must
 * therefore never be used by two threads at once.
 */
#include "vigil/store.h"

#include "vigil/fault.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    STORE_BUSY_TIMEOUT_MS = 5000, /* wait this long for another connection's lock */
};

static const char s_wal_mode[] = "wal";
static const char s_memory_mode[] = "memory"; /* ":memory:" databases cannot use WAL */
static const char s_check_ok[] = "ok";

/* Settings applied to every connection, in order, before anything is read. */
static const char *const s_connection_pragmas[] = {
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = FULL",
};

static void s_message(char *err, size_t errlen, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void s_message(char *err, size_t errlen, const char *format, ...)
{
    if (err == NULL || errlen == 0) {
        return;
    }
    va_list args;
    va_start(args, format);
    vsnprintf(err, errlen, format, args);
    va_end(args);
    /* sqlite's check reports span lines; an error message is one line. */
    for (char *p = err; (p = strchr(p, '\n')) != NULL;) {
        *p = ' ';
    }
}

/* Runs a statement that returns one text row (a pragma) and copies the first
 * column into `out`. Returns the sqlite result code (SQLITE_OK on success). */
static int s_query_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        return rc;
    }
    out[0] = '\0';
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(stmt, 0);
        snprintf(out, cap, "%s", text != NULL ? (const char *)text : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

int store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK) {
        s_message(err, errlen, "%s", message != NULL ? message : sqlite3_errmsg(db));
        sqlite3_free(message);
        return -1;
    }
    return 0;
}

int store_begin(sqlite3 *db)
{
    return store_exec(db, "BEGIN IMMEDIATE", NULL, 0);
}

int store_commit(sqlite3 *db)
{
    return store_exec(db, "COMMIT", NULL, 0);
}

int store_rollback(sqlite3 *db)
{
    return store_exec(db, "ROLLBACK", NULL, 0);
}

int store_schema_version(sqlite3 *db)
{
    char text[32];
    if (s_query_text(db, "PRAGMA user_version", text, sizeof(text)) != SQLITE_OK) {
        return -1;
    }
    return (int)strtol(text, NULL, 10);
}

int store_check(sqlite3 *db, bool full, char *err, size_t errlen)
{
    char answer[512];
    int rc = s_query_text(db, full ? "PRAGMA integrity_check(1)" : "PRAGMA quick_check(1)", answer,
                          sizeof(answer));
    if (rc != SQLITE_OK) {
        s_message(err, errlen, "%s: %s", full ? "integrity_check" : "quick_check",
                  sqlite3_errmsg(db));
        return -1;
    }
    if (strcmp(answer, s_check_ok) != 0) {
        s_message(err, errlen, "%s: %s", full ? "integrity_check" : "quick_check", answer);
        return -1;
    }
    return 0;
}

/* Checks that the steps are numbered 1, 2, 3, ... with no gaps. */
static int s_check_migrations(const store_migration_t *migrations, size_t count, char *err,
                              size_t errlen)
{
    for (size_t i = 0; i < count; i++) {
        if (migrations[i].version != (int)i + 1 || migrations[i].sql == NULL) {
            s_message(err, errlen,
                      "migration list is broken at entry %zu (version %d): versions must run "
                      "1, 2, 3, ... and each needs SQL",
                      i, migrations[i].version);
            return -1;
        }
    }
    return 0;
}

/* Applies one step in its own transaction; the version moves only if the
 * whole step commits. Re-reads the version under the write lock so two
 * processes opening the same file cannot both apply it. */
static int s_apply_step(sqlite3 *db, const char *path, const store_migration_t *step, char *err,
                        size_t errlen)
{
    char detail[512];
    if (store_exec(db, "BEGIN IMMEDIATE", detail, sizeof(detail)) < 0) {
        s_message(err, errlen, "store '%s': cannot start migration %d: %s", path, step->version,
                  detail);
        return -1;
    }
    int current = store_schema_version(db);
    if (current < 0) {
        s_message(err, errlen, "store '%s': cannot read its schema version: %s", path,
                  sqlite3_errmsg(db));
        store_rollback(db);
        return -1;
    }
    if (current >= step->version) {
        return store_commit(db); /* someone else applied it meanwhile */
    }
    char set_version[64];
    snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", step->version);
    if (store_exec(db, step->sql, detail, sizeof(detail)) < 0 ||
        store_exec(db, set_version, detail, sizeof(detail)) < 0 ||
        store_exec(db, "COMMIT", detail, sizeof(detail)) < 0) {
        store_rollback(db);
        s_message(err, errlen,
                  "store '%s': migration to schema version %d failed and was rolled back "
                  "(the store stays at version %d): %s",
                  path, step->version, current, detail);
        return -1;
    }
    return 0;
}

/* Refuses a store whose schema is newer than the code, before anything
 * (even the switch to WAL) writes to it. */
static int s_check_known_version(sqlite3 *db, const char *path, size_t count, char *err,
                                 size_t errlen)
{
    int version = store_schema_version(db);
    if (version < 0) {
        s_message(err, errlen, "store '%s': cannot read its schema version: %s", path,
                  sqlite3_errmsg(db));
        return -1;
    }
    if ((size_t)version > count) {
        s_message(err, errlen,
                  "store '%s' has schema version %d but this build knows only up to %zu; "
                  "refusing to open it (was it written by a newer vigil?)",
                  path, version, count);
        return -1;
    }
    return 0;
}

static int s_migrate(sqlite3 *db, const char *path, const store_migration_t *migrations,
                     size_t count, char *err, size_t errlen)
{
    int version = store_schema_version(db);
    for (size_t i = version < 0 ? 0 : (size_t)version; i < count; i++) {
        if (s_apply_step(db, path, &migrations[i], err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Sets the per-connection settings; reads the schema first so that "not a
 * database" is told apart from everything else. Writes nothing. */
static int s_configure(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    char detail[512];
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    if (store_exec(db, "SELECT count(*) FROM sqlite_master", detail, sizeof(detail)) < 0) {
        s_message(err, errlen,
                  "store '%s' cannot be read: %s (is it a vigil store? if it is damaged, move it "
                  "aside and restore from backup)",
                  path, detail);
        return -1;
    }
    for (size_t i = 0; i < sizeof(s_connection_pragmas) / sizeof(s_connection_pragmas[0]); i++) {
        if (store_exec(db, s_connection_pragmas[i], detail, sizeof(detail)) < 0) {
            s_message(err, errlen, "store '%s': %s failed: %s", path, s_connection_pragmas[i],
                      detail);
            return -1;
        }
    }
    return 0;
}

/* Switches the file to WAL (persistent) and makes sure it took. */
static int s_enable_wal(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    char mode[32];
    if (s_query_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != SQLITE_OK) {
        s_message(err, errlen, "store '%s': cannot switch to WAL mode: %s", path,
                  sqlite3_errmsg(db));
        return -1;
    }
    if (strcmp(mode, s_wal_mode) != 0 && strcmp(mode, s_memory_mode) != 0) {
        s_message(err, errlen, "store '%s': cannot switch to WAL mode (journal mode is '%s')", path,
                  mode);
        return -1;
    }
    return 0;
}

sqlite3 *store_open(const char *path, const store_migration_t *migrations, size_t count, char *err,
                    size_t errlen)
{
    sqlite3 *db = NULL;
    char detail[512];
    s_message(err, errlen, "%s", "");
    if (path == NULL) {
        s_message(err, errlen, "store: no path given");
        return NULL;
    }
    if (s_check_migrations(migrations, count, err, errlen) < 0) {
        return NULL;
    }
    int rc = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        s_message(err, errlen,
                  "store '%s' cannot be opened: %s (does its directory exist, and may this user "
                  "write there?)",
                  path, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    if (s_configure(db, path, err, errlen) < 0 ||
        s_check_known_version(db, path, count, err, errlen) < 0) {
        goto fail;
    }
    if (store_check(db, false, detail, sizeof(detail)) < 0) {
        s_message(err, errlen,
                  "store '%s' is damaged (%s); refusing to use it: move it aside and restore "
                  "from backup",
                  path, detail);
        goto fail;
    }
    if (s_enable_wal(db, path, err, errlen) < 0 ||
        s_migrate(db, path, migrations, count, err, errlen) < 0) {
        goto fail;
    }
    fault_watch_commits(db); /* test builds: VIGIL_FAULT="commit:N" (vigil/fault.h) */
    return db;
fail:
    sqlite3_close_v2(db);
    return NULL;
}

static _Atomic uint64_t s_close_count;

uint64_t store_close_count(void)
{
    return atomic_load(&s_close_count);
}

void store_close(sqlite3 **db_p)
{
    if (db_p == NULL || *db_p == NULL) {
        return;
    }
    atomic_fetch_add(&s_close_count, 1); /* before the statements go */
    /* Statements cached on the connection (the link's enqueue statement,
     * say) would keep it alive as a zombie after close_v2, leaking it and
     * skipping the final checkpoint: finalize whatever is left first. */
    sqlite3_stmt *stmt;
    while ((stmt = sqlite3_next_stmt(*db_p, NULL)) != NULL) {
        sqlite3_finalize(stmt);
    }
    sqlite3_wal_checkpoint_v2(*db_p, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_close_v2(*db_p);
    *db_p = NULL;
}
