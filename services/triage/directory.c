/* directory.c: the directory tables and the referral query.
 *
 * Each table keeps the HSDS columns triage uses plus `content`, the
 * canonical JSON of the validated row, which the importer compares to make
 * re-imports change nothing. dir_area_keys is derived from service areas
 * (one row per place token) so the query can match places by index. The
 * query is one prepared statement; it only reads.
 */
#include "directory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char directory_schema_v1[] =
    "CREATE TABLE dir_organizations ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, email TEXT, website TEXT,"
    "  content TEXT NOT NULL);"
    "CREATE TABLE dir_services ("
    "  id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL,"
    "  description TEXT, status TEXT NOT NULL, email TEXT, url TEXT, content TEXT NOT NULL);"
    "CREATE INDEX dir_services_org ON dir_services(organization_id);"
    "CREATE TABLE dir_locations ("
    "  id TEXT PRIMARY KEY, organization_id TEXT, name TEXT, location_type TEXT,"
    "  latitude TEXT, longitude TEXT, content TEXT NOT NULL);"
    "CREATE TABLE dir_service_at_location ("
    "  id TEXT PRIMARY KEY, service_id TEXT NOT NULL, location_id TEXT NOT NULL,"
    "  content TEXT NOT NULL);"
    "CREATE TABLE dir_service_areas ("
    "  id TEXT PRIMARY KEY, service_id TEXT NOT NULL, service_at_location_id TEXT, name TEXT,"
    "  extent TEXT, extent_type TEXT, content TEXT NOT NULL);"
    "CREATE TABLE dir_area_keys ("
    "  service_area_id TEXT NOT NULL, service_id TEXT NOT NULL, kind TEXT NOT NULL,"
    "  value TEXT NOT NULL, PRIMARY KEY (service_area_id, kind, value));"
    "CREATE INDEX dir_area_keys_service ON dir_area_keys(service_id);"
    "CREATE TABLE dir_languages ("
    "  id TEXT PRIMARY KEY, service_id TEXT, location_id TEXT, phone_id TEXT, name TEXT,"
    "  code TEXT, primary_tag TEXT, content TEXT NOT NULL);"
    "CREATE INDEX dir_languages_service ON dir_languages(service_id, primary_tag);"
    "CREATE TABLE dir_phones ("
    "  id TEXT PRIMARY KEY, organization_id TEXT, service_id TEXT, location_id TEXT,"
    "  number TEXT NOT NULL, type TEXT, content TEXT NOT NULL);"
    "CREATE TABLE dir_taxonomy_terms ("
    "  id TEXT PRIMARY KEY, code TEXT, name TEXT NOT NULL, description TEXT, parent_id TEXT,"
    "  taxonomy TEXT, content TEXT NOT NULL);"
    "CREATE TABLE dir_attributes ("
    "  id TEXT PRIMARY KEY, link_id TEXT NOT NULL, link_type TEXT, link_entity TEXT NOT NULL,"
    "  taxonomy_term_id TEXT NOT NULL, value TEXT, label TEXT, content TEXT NOT NULL);"
    "CREATE INDEX dir_attributes_link ON dir_attributes(link_entity, link_id);"
    "CREATE TABLE dir_imports ("
    "  id INTEGER PRIMARY KEY, imported_at_ms INTEGER NOT NULL, source TEXT NOT NULL,"
    "  inserted INTEGER NOT NULL, updated INTEGER NOT NULL, unchanged INTEGER NOT NULL,"
    "  rejected INTEGER NOT NULL);";

/* Ranks: lower is more specific. 9 = the service lists no area at all. */
static const char s_query_sql[] =
    "SELECT s.id, s.organization_id, MIN(COALESCE(NULLIF(t.code, ''), t.name)), s.name,"
    "  CASE WHEN NOT EXISTS (SELECT 1 FROM dir_area_keys k WHERE k.service_id = s.id) THEN 9"
    "  ELSE (SELECT MIN(CASE"
    "      WHEN k.kind = 'county' AND k.value = ?4 THEN 1"
    "      WHEN k.kind = 'zip3' AND k.value = ?5 THEN 2"
    "      WHEN k.kind = 'region' AND k.value = ?2 THEN 3"
    "      WHEN k.kind = 'state' AND k.value = ?3 THEN 4 END)"
    "    FROM dir_area_keys k WHERE k.service_id = s.id) END AS area_rank"
    " FROM dir_services s"
    " JOIN dir_attributes a ON a.link_entity = 'service' AND a.link_id = s.id"
    " JOIN dir_taxonomy_terms t ON t.id = a.taxonomy_term_id"
    " WHERE s.status = 'active'"
    "  AND (?1 IS NULL OR t.id = ?1 OR t.code = ?1 COLLATE NOCASE OR t.name = ?1 COLLATE NOCASE)"
    "  AND (?6 IS NULL OR EXISTS (SELECT 1 FROM dir_languages l"
    "       WHERE l.service_id = s.id AND l.primary_tag = ?6))"
    " GROUP BY s.id"
    " HAVING (?2 IS NULL AND ?3 IS NULL AND ?4 IS NULL AND ?5 IS NULL) OR area_rank IS NOT NULL"
    " ORDER BY area_rank, s.name, s.id"
    " LIMIT ?7";

enum {
    QUERY_TERM = 1,
    QUERY_REGION = 2,
    QUERY_STATE = 3,
    QUERY_COUNTY = 4,
    QUERY_ZIP3 = 5,
    QUERY_LANGUAGE = 6,
    QUERY_LIMIT = 7,
    LANGUAGE_TAG_MAX = 16,
};

struct directory_t {
    sqlite3 *db;
    sqlite3_stmt *query;
};

directory_t *directory_new(sqlite3 *db, char *err, size_t errlen)
{
    directory_t *directory = calloc(1, sizeof *directory);
    if (!directory) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    directory->db = db;
    if (sqlite3_prepare_v3(db, s_query_sql, -1, SQLITE_PREPARE_PERSISTENT, &directory->query,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "directory query: %s", sqlite3_errmsg(db));
        directory_destroy(&directory);
        return NULL;
    }
    return directory;
}

void directory_destroy(directory_t **directory_p)
{
    if (!directory_p || !*directory_p) {
        return;
    }
    sqlite3_finalize((*directory_p)->query);
    free(*directory_p);
    *directory_p = NULL;
}

static void s_bind(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text && text[0]) {
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(stmt, index);
    }
}

static void s_copy(char *out, size_t size, const unsigned char *text)
{
    snprintf(out, size, "%s", text ? (const char *)text : "");
}

int directory_query(directory_t *directory, const directory_query_t *query,
                    directory_match_t *matches, size_t max, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = directory->query;
    char primary[LANGUAGE_TAG_MAX] = "";
    if (query->language) {
        size_t i = 0;
        for (; query->language[i] && query->language[i] != '-' && i + 1 < sizeof primary; i++) {
            char c = query->language[i];
            primary[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        primary[i] = '\0';
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    s_bind(stmt, QUERY_TERM, query->taxonomy_term);
    s_bind(stmt, QUERY_REGION, query->region);
    s_bind(stmt, QUERY_STATE, query->state);
    s_bind(stmt, QUERY_COUNTY, query->county_fips);
    s_bind(stmt, QUERY_ZIP3, query->zip3);
    s_bind(stmt, QUERY_LANGUAGE, primary);
    sqlite3_bind_int64(stmt, QUERY_LIMIT, (sqlite3_int64)max);
    int count = 0;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        directory_match_t *m = &matches[count++];
        s_copy(m->service_id, sizeof m->service_id, sqlite3_column_text(stmt, 0));
        s_copy(m->organization_id, sizeof m->organization_id, sqlite3_column_text(stmt, 1));
        s_copy(m->taxonomy_term, sizeof m->taxonomy_term, sqlite3_column_text(stmt, 2));
        s_copy(m->service_name, sizeof m->service_name, sqlite3_column_text(stmt, 3));
    }
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "directory query: %s", sqlite3_errmsg(directory->db));
        sqlite3_reset(stmt);
        return -1;
    }
    sqlite3_reset(stmt);
    return count;
}

long directory_count(sqlite3 *db, const char *table)
{
    static const char *const known[] = {
        "dir_organizations",  "dir_services",   "dir_locations", "dir_service_at_location",
        "dir_service_areas",  "dir_area_keys",  "dir_languages", "dir_phones",
        "dir_taxonomy_terms", "dir_attributes", "dir_imports",   NULL};
    int ok = 0;
    for (const char *const *k = known; *k; k++) {
        if (strcmp(*k, table) == 0) {
            ok = 1;
        }
    }
    if (!ok) {
        return -1;
    }
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        return -1;
    }
    long count = sqlite3_step(stmt) == SQLITE_ROW ? (long)sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return count;
}
