/* policy_dircache.h: resource-directory lookups for plugins, cached.
 *
 * Runs in vigil-policy-worker. Answers the host API's directory_find with
 * directory_query() (directory.h) on a read-only connection to the
 * database that holds the directory tables (triage's store). Plugins ask
 * the same few questions over and over (a need's taxonomy term in a
 * county, in a language), so answers are cached, keyed by the whole query,
 * and the cache is dropped whenever the database changes (PRAGMA
 * data_version, checked once per batch). Entries stay valid until the next
 * policy_dircache_refresh(). It only reads; it never logs a query.
 */
#ifndef VIGIL_TRIAGE_POLICY_DIRCACHE_H
#define VIGIL_TRIAGE_POLICY_DIRCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/plugin.h"

/* Most services one query remembers (a plugin asking for more gets these). */
#define POLICY_DIRCACHE_MATCHES 32

typedef struct policy_dircache_t policy_dircache_t;

/* Opens `db_path` read-only (NULL or "": an empty directory that finds
 * nothing). Returns the cache; when the database or its directory tables
 * cannot be opened, returns a cache whose finds fail (ERR_FAILED) and
 * writes why into `warning`. Returns NULL only on allocation failure. */
policy_dircache_t *policy_dircache_new(const char *db_path, char *warning, size_t warning_len);

/* Closes and frees; sets *cache_p to NULL. Cannot fail. */
void policy_dircache_destroy(policy_dircache_t **cache_p);

/* Drops cached answers if the database changed since the last call.
 * Cannot fail. */
void policy_dircache_refresh(policy_dircache_t *cache);

/* The host API's directory_find (plugin.h): writes up to `max` entry
 * pointers into `out` and returns how many, or ERR_INVALID / ERR_FAILED. */
int policy_dircache_find(policy_dircache_t *cache, const vigil_directory_query_t *query,
                         const vigil_directory_entry_t **out, uint32_t max);

#endif
