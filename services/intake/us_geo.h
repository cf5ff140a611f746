/* us_geo.h: US state and territory codes and their FIPS numbers.
 *
 * Intake checks that a contact's state is a real USPS code and that its
 * county FIPS code belongs to that state (the first two digits of a county
 * code are the state's FIPS code). This module is the one table of states;
 * it never guesses a state from anything else.
 */
#ifndef INTAKE_US_GEO_H
#define INTAKE_US_GEO_H

#include <stdbool.h>

/* The two-digit FIPS code ("41") of USPS code `usps` ("OR"), or NULL if
 * `usps` is not a state, the District of Columbia or an inhabited
 * territory. Exact match, upper case. Cannot fail. */
const char *us_geo_state_fips(const char *usps);

/* True if `county` is five digits, its first two are the FIPS code of
 * `usps`, and its last three are not "000". Cannot fail. */
bool us_geo_county_in_state(const char *county, const char *usps);

#endif
