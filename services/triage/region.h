/* region.h: which region owns a case, from its coarse location.
 *
 * Regions (triage_config.h) are sets of states, county FIPS codes and ZIP3
 * prefixes. The most specific match wins: county, then ZIP3, then state.
 * There are no ties: triage_config_check() refuses a code listed by two
 * regions, and the levels are tried in a fixed order. A case that matches
 * nothing (or has no location) belongs to the default region: a case is
 * never dropped for want of a region. The index borrows the config; it
 * never logs or stores the location it is asked about.
 */
#ifndef VIGIL_TRIAGE_REGION_H
#define VIGIL_TRIAGE_REGION_H

#include "triage_config.h"

typedef struct region_index_t region_index_t;

/* How a region was chosen. */
typedef enum {
    REGION_MATCH_COUNTY = 0,  /* county FIPS code listed by the region */
    REGION_MATCH_ZIP3 = 1,    /* ZIP3 prefix listed by the region */
    REGION_MATCH_STATE = 2,   /* state listed by the region */
    REGION_MATCH_DEFAULT = 3, /* nothing matched: the default region */
} region_match_t;

/* Builds the lookup tables for a checked config (triage_config_check),
 * which must outlive the index. Returns NULL on allocation failure or if the
 * default region is missing. */
region_index_t *region_index_new(const triage_config_t *config);

/* Frees; sets *index_p to NULL. Cannot fail. */
void region_index_destroy(region_index_t **index_p);

/* The region owning a case at (state, county_fips, zip3); any may be NULL or
 * empty. Stores how it matched in *how if not NULL. Never returns NULL.
 * Cannot fail. */
const triage_region_t *region_resolve(const region_index_t *index, const char *state,
                                      const char *county_fips, const char *zip3,
                                      region_match_t *how);

/* "county", "zip3", "state" or "default". Cannot fail. */
const char *region_match_name(region_match_t how);

#endif
