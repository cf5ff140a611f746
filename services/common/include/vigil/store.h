/* store.h: the sqlite file a service keeps its state in.
 *
 * Every store is opened in WAL mode with synchronous=FULL, foreign keys on
 * and a busy timeout, checked with PRAGMA quick_check, and migrated forward
 * by a list of numbered steps tracked in PRAGMA user_version. A store whose
 * version is newer than the code knows is refused. Statements are the
 * caller's; this module owns only the connection settings.
 */
#ifndef VIGIL_STORE_H
#define VIGIL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

/* One migration step: brings the schema from version-1 to version. */
typedef struct {
    int version;     /* 1, 2, 3, ... in order, no gaps */
    const char *sql; /* one or more statements, run in one transaction; no BEGIN/COMMIT
                      * inside, and PRAGMA foreign_keys is ON (and cannot change) */
} store_migration_t;

/* Opens (creating if needed) the database at `path`, applies the pragmas,
 * runs a quick integrity check and the migrations (`count` entries). The
 * caller owns the handle; close it with store_close(). Order: read the
 * header, refuse a newer schema (before anything is written), quick_check,
 * switch to WAL, migrate. ":memory:" is accepted without WAL (tests only).
 * Returns NULL with a one-line message naming `path` in `err` on failure: a
 * file that is not a database, a corrupt file, an unknown newer version
 * (count 0 means any versioned store is newer), a failed migration (rolled
 * back; the version stays), a broken migration list, or an unwritable path. */
sqlite3 *store_open(const char *path, const store_migration_t *migrations, size_t count, char *err,
                    size_t errlen);

/* Checkpoints the WAL and closes; sets *db_p to NULL. A statement the caller
 * has not finalized keeps the connection alive until it is (sqlite3_close_v2).
 * Cannot fail. */
void store_close(sqlite3 **db_p);

/* How many connections store_close() has closed so far in this process.
 * A cache of statements keyed by connection address is stale once this
 * changes: the address may now be another connection's. Cannot fail. */
uint64_t store_close_count(void);

/* Runs PRAGMA integrity_check (full) or quick_check. Returns 0 when the
 * answer is "ok", else -1 with the first problem in `err`. */
int store_check(sqlite3 *db, bool full, char *err, size_t errlen);

/* Runs SQL that returns no rows. Returns 0, or -1 with sqlite's message in
 * `err` (which may be NULL). */
int store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Return 0 or -1. */
int store_begin(sqlite3 *db);
int store_commit(sqlite3 *db);
int store_rollback(sqlite3 *db);

/* Returns PRAGMA user_version, or -1 on error. */
int store_schema_version(sqlite3 *db);

#endif
