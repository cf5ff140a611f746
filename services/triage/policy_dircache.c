/* policy_dircache.c: cached, read-only directory lookups for plugins
 * (policy_dircache.h).
 */
#include "policy_dircache.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"

/* Hash buckets of the cache. */
#define POLICY_DIRCACHE_BUCKETS 1024
/* Cached queries past which the next refresh empties the cache. */
#define POLICY_DIRCACHE_QUERIES_MAX 8192
/* How long a read waits for a writer's lock, in ms. */
#define POLICY_DIRCACHE_BUSY_MS 2000
/* FNV-1a parameters for the bucket hash. */
#define POLICY_FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define POLICY_FNV_PRIME  UINT64_C(0x100000001b3)

typedef struct entry_t {
    struct entry_t *next;
    char *key;
    uint32_t count;
    vigil_directory_entry_t entries[POLICY_DIRCACHE_MATCHES];
    char *strings; /* the entries' strings, one block */
} entry_t;

struct policy_dircache_t {
    sqlite3 *db;
    directory_t *directory; /* NULL: finds fail (or find nothing without a db) */
    bool failed;            /* the database could not be opened */
    int64_t data_version;
    size_t queries;
    entry_t *buckets[POLICY_DIRCACHE_BUCKETS];
};

static void s_clear(policy_dircache_t *cache)
{
    for (size_t i = 0; i < POLICY_DIRCACHE_BUCKETS; i++) {
        entry_t *e = cache->buckets[i];
        while (e) {
            entry_t *next = e->next;
            free(e->key);
            free(e->strings);
            free(e);
            e = next;
        }
        cache->buckets[i] = NULL;
    }
    cache->queries = 0;
}

static int64_t s_data_version(sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;
    int64_t version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
        version = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return version;
}

policy_dircache_t *policy_dircache_new(const char *db_path, char *warning, size_t warning_len)
{
    policy_dircache_t *cache = calloc(1, sizeof *cache);
    if (!cache) {
        return NULL;
    }
    if (warning && warning_len) {
        warning[0] = '\0';
    }
    if (!db_path || !db_path[0]) {
        return cache;
    }
    char err[256] = "";
    if (sqlite3_open_v2(db_path, &cache->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(warning, warning_len, "%s: resource directory: %s", db_path,
                 cache->db ? sqlite3_errmsg(cache->db) : "cannot open");
        sqlite3_close(cache->db);
        cache->db = NULL;
        cache->failed = true;
        return cache;
    }
    sqlite3_busy_timeout(cache->db, POLICY_DIRCACHE_BUSY_MS);
    cache->directory = directory_new(cache->db, err, sizeof err);
    if (!cache->directory) {
        snprintf(warning, warning_len, "%s: resource directory: %s", db_path, err);
        cache->failed = true;
        return cache;
    }
    cache->data_version = s_data_version(cache->db);
    return cache;
}

void policy_dircache_destroy(policy_dircache_t **cache_p)
{
    policy_dircache_t *cache = *cache_p;
    if (!cache) {
        return;
    }
    s_clear(cache);
    directory_destroy(&cache->directory);
    sqlite3_close(cache->db);
    free(cache);
    *cache_p = NULL;
}

void policy_dircache_refresh(policy_dircache_t *cache)
{
    if (!cache->db) {
        return;
    }
    /* Entries are only dropped here, between batches, because a plugin may
     * still hold pointers from earlier finds in the same callback. */
    int64_t version = s_data_version(cache->db);
    if (version != cache->data_version || cache->queries >= POLICY_DIRCACHE_QUERIES_MAX) {
        s_clear(cache);
        cache->data_version = version;
    }
}

static const char *s_or_empty(const char *text)
{
    return text ? text : "";
}

/* "term\x1fregion\x1fstate\x1fcounty\x1fzip3\x1flanguage", malloc'd. */
static char *s_key(const vigil_directory_query_t *q)
{
    const char *parts[] = {s_or_empty(q->taxonomy_term), s_or_empty(q->region),
                           s_or_empty(q->state),         s_or_empty(q->county_fips),
                           s_or_empty(q->zip3),          s_or_empty(q->language)};
    size_t len = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        len += strlen(parts[i]) + 1;
    }
    char *key = malloc(len);
    if (!key) {
        return NULL;
    }
    char *at = key;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t n = strlen(parts[i]);
        memcpy(at, parts[i], n);
        at += n;
        *at++ = '\x1f';
    }
    at[-1] = '\0';
    return key;
}

static uint64_t s_hash(const char *key)
{
    uint64_t h = POLICY_FNV_OFFSET;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h = (h ^ *p) * POLICY_FNV_PRIME;
    }
    return h;
}

static const char *s_null_if_empty(const char *text)
{
    return text && text[0] ? text : NULL;
}

/* Runs the query and stores its answer as a new entry. */
static entry_t *s_fetch(policy_dircache_t *cache, const vigil_directory_query_t *q, char *key)
{
    directory_match_t matches[POLICY_DIRCACHE_MATCHES];
    directory_query_t dq = {
        .taxonomy_term = s_null_if_empty(q->taxonomy_term),
        .region = s_null_if_empty(q->region),
        .state = s_null_if_empty(q->state),
        .county_fips = s_null_if_empty(q->county_fips),
        .zip3 = s_null_if_empty(q->zip3),
        .language = s_null_if_empty(q->language),
    };
    char err[256];
    int n =
        directory_query(cache->directory, &dq, matches, POLICY_DIRCACHE_MATCHES, err, sizeof err);
    if (n < 0) {
        return NULL;
    }
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        bytes += strlen(matches[i].service_id) + strlen(matches[i].organization_id) +
                 strlen(matches[i].taxonomy_term) + 3;
    }
    entry_t *e = calloc(1, sizeof *e);
    char *strings = malloc(bytes + 1);
    if (!e || !strings) {
        free(e);
        free(strings);
        return NULL;
    }
    e->strings = strings;
    e->key = key;
    e->count = (uint32_t)n;
    char *at = strings;
    for (int i = 0; i < n; i++) {
        const char *fields[] = {matches[i].service_id, matches[i].organization_id,
                                matches[i].taxonomy_term};
        const char *copies[3];
        for (size_t f = 0; f < 3; f++) {
            size_t len = strlen(fields[f]) + 1;
            memcpy(at, fields[f], len);
            copies[f] = at;
            at += len;
        }
        e->entries[i] = (vigil_directory_entry_t){
            .struct_size = (uint32_t)sizeof(vigil_directory_entry_t),
            .service_id = copies[0],
            .organization_id = copies[1],
            .taxonomy_term = copies[2],
        };
    }
    return e;
}

int policy_dircache_find(policy_dircache_t *cache, const vigil_directory_query_t *query,
                         const vigil_directory_entry_t **out, uint32_t max)
{
    if (!query || !out ||
        query->struct_size < offsetof(vigil_directory_query_t, language) + sizeof(char *)) {
        return VIGIL_PLUGIN_ERR_INVALID;
    }
    if (cache->failed) {
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    if (!cache->directory) {
        return 0; /* no directory configured */
    }
    char *key = s_key(query);
    if (!key) {
        return VIGIL_PLUGIN_ERR_FAILED;
    }
    uint64_t bucket = s_hash(key) % POLICY_DIRCACHE_BUCKETS;
    entry_t *e = cache->buckets[bucket];
    while (e && strcmp(e->key, key) != 0) {
        e = e->next;
    }
    if (e) {
        free(key);
    } else {
        e = s_fetch(cache, query, key);
        if (!e) {
            free(key);
            return VIGIL_PLUGIN_ERR_FAILED;
        }
        e->next = cache->buckets[bucket];
        cache->buckets[bucket] = e;
        cache->queries++;
    }
    uint32_t n = e->count < max ? e->count : max;
    for (uint32_t i = 0; i < n; i++) {
        out[i] = &e->entries[i];
    }
    return (int)n;
}
