/* fault.h: fault injection for tests, in the manner of SQLite's test builds.
 *
 * A build made with VIGIL_FAULT_INJECTION (the CMake option of that name)
 * compiles hooks at chosen sites; the environment variable VIGIL_FAULT,
 * read once per process, says which calls fail:
 *
 *     VIGIL_FAULT="commit:3"          the 3rd call at site "commit" fails
 *     VIGIL_FAULT="commit:3,commit:5" the 3rd and the 5th fail
 *     VIGIL_FAULT="commit:3+"         the 3rd and every later one fail
 *
 * Calls are counted per site from 1, per process. Each injected failure logs
 * one warn line "fault injected" with site= and call=, so a test can prove
 * its fault fired. Without VIGIL_FAULT nothing ever fails.
 *
 * Sites:
 *   commit  every transaction commit on a store opened by store_open(), after
 *           its migrations (a sqlite commit hook, so the link's prepared
 *           COMMITs count as well as store_commit()). An injected failure
 *           makes the COMMIT return SQLITE_CONSTRAINT_COMMITHOOK, and sqlite
 *           rolls the transaction back, as after a failed fsync.
 *
 * Without VIGIL_FAULT_INJECTION the hooks compile to nothing. This module
 * must never make anything fail unless VIGIL_FAULT asks for it.
 */
#ifndef VIGIL_FAULT_H
#define VIGIL_FAULT_H

#include <stdbool.h>
#include <sqlite3.h>

#define FAULT_ENV         "VIGIL_FAULT"
#define FAULT_SITE_COMMIT "commit"

#ifdef VIGIL_FAULT_INJECTION

/* Counts one call at `site` and returns true if VIGIL_FAULT says this call
 * fails (after logging "fault injected"). Thread-safe. Cannot fail: a
 * malformed VIGIL_FAULT is reported once on the log and injects nothing. */
bool fault_should_fail(const char *site);

/* Installs the "commit" site on `db` (a sqlite commit hook). Called by
 * store_open(). Cannot fail. */
void fault_watch_commits(sqlite3 *db);

/* Replaces the plan with `spec` (same syntax as VIGIL_FAULT; NULL or ""
 * for none) and resets every counter. For unit tests. Returns 0, or -1 if
 * `spec` is malformed (then nothing is injected). */
int fault_configure(const char *spec);

#else

static inline bool fault_should_fail(const char *site)
{
    (void)site;
    return false;
}

static inline void fault_watch_commits(sqlite3 *db)
{
    (void)db;
}

static inline int fault_configure(const char *spec)
{
    (void)spec;
    return -1;
}

#endif

#endif
