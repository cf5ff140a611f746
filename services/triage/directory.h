/* directory.h: the resource directory that referrals are chosen from.
 *
 * Social-service organisations, their services, locations, service areas,
 * languages, phones and taxonomy terms, as imported from Open Referral HSDS
 * 3.0 (hsds_import.h). This module owns the tables (directory_schema_v1, a
 * store migration) and the one query plugins use, through the policy host:
 * "active services with this taxonomy term, serving this place, in this
 * language". The directory holds public information about service
 * providers only; it never holds anything about a victim, and a query never
 * stores or logs what it was asked.
 *
 * Service areas: an HSDS service_area whose extent_type is "text" lists the
 * places it covers in `extent` as space- or comma-separated tokens
 * "state:OR", "county:41051", "zip3:972" or "region:east" (a vigil region
 * name). A service with no service area serves everywhere. See
 * docs/directory.md.
 */
#ifndef VIGIL_TRIAGE_DIRECTORY_H
#define VIGIL_TRIAGE_DIRECTORY_H

#include <stddef.h>
#include <sqlite3.h>

/* The directory tables; one store migration step. */
extern const char directory_schema_v1[];

#define DIRECTORY_ID_MAX   129 /* ids are at most 128 bytes */
#define DIRECTORY_TERM_MAX 129 /* a taxonomy term's code or name, truncated */
#define DIRECTORY_NAME_MAX 257 /* a service name, truncated */

/* What to look for. Every member may be NULL or "" (no constraint). */
typedef struct {
    const char *taxonomy_term; /* a term's id, code or name (case-insensitive) */
    const char *region;        /* vigil region name: areas with "region:NAME" */
    const char *state;         /* USPS code: areas with "state:XX" */
    const char *county_fips;   /* areas with "county:NNNNN" */
    const char *zip3;          /* areas with "zip3:NNN" */
    const char *language;      /* BCP-47 tag; a service must list its primary subtag */
} directory_query_t;

/* One service found. */
typedef struct {
    char service_id[DIRECTORY_ID_MAX];
    char organization_id[DIRECTORY_ID_MAX];
    char taxonomy_term[DIRECTORY_TERM_MAX]; /* code of the matching term (its name if no code) */
    char service_name[DIRECTORY_NAME_MAX];
} directory_match_t;

typedef struct directory_t directory_t;

/* Prepares the query on `db` (borrowed; must outlive the directory and have
 * the directory tables). Use one directory per connection and thread.
 * Returns NULL with sqlite's message in `err`. */
directory_t *directory_new(sqlite3 *db, char *err, size_t errlen);

/* Finalizes; sets *directory_p to NULL. Cannot fail. */
void directory_destroy(directory_t **directory_p);

/* Finds at most `max` active services matching `query`, most specific
 * service area first (county, ZIP3, region, state, then services that serve
 * everywhere), then by name. Returns the number stored in `matches`
 * (0..max), or -1 with sqlite's message in `err`. */
int directory_query(directory_t *directory, const directory_query_t *query,
                    directory_match_t *matches, size_t max, char *err, size_t errlen);

/* Rows in directory table `table` ("dir_services", ...), for status and
 * tests. Returns the count, or -1 if the table does not exist. */
long directory_count(sqlite3 *db, const char *table);

#endif
