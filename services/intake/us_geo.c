/* us_geo.c: the table of US states and territories with their FIPS codes.
 *
 * Source: the Census Bureau's state FIPS codes (ANSI INCITS 38). Military
 * "states" (AA, AE, AP) have no FIPS code and are not accepted. The table is
 * data only; it must never be edited to accept a code the Census does not
 * assign.
 */
#include "us_geo.h"

#include <stddef.h>
#include <string.h>

enum {
    US_GEO_COUNTY_DIGITS = 5, /* ssccc: state, then county */
    US_GEO_STATE_DIGITS = 2,
};

typedef struct {
    const char *usps; /* "OR" */
    const char *fips; /* "41" */
} us_state_t;

static const us_state_t s_states[] = {
    {"AL", "01"}, {"AK", "02"}, {"AZ", "04"}, {"AR", "05"}, {"CA", "06"}, {"CO", "08"},
    {"CT", "09"}, {"DE", "10"}, {"DC", "11"}, {"FL", "12"}, {"GA", "13"}, {"HI", "15"},
    {"ID", "16"}, {"IL", "17"}, {"IN", "18"}, {"IA", "19"}, {"KS", "20"}, {"KY", "21"},
    {"LA", "22"}, {"ME", "23"}, {"MD", "24"}, {"MA", "25"}, {"MI", "26"}, {"MN", "27"},
    {"MS", "28"}, {"MO", "29"}, {"MT", "30"}, {"NE", "31"}, {"NV", "32"}, {"NH", "33"},
    {"NJ", "34"}, {"NM", "35"}, {"NY", "36"}, {"NC", "37"}, {"ND", "38"}, {"OH", "39"},
    {"OK", "40"}, {"OR", "41"}, {"PA", "42"}, {"RI", "44"}, {"SC", "45"}, {"SD", "46"},
    {"TN", "47"}, {"TX", "48"}, {"UT", "49"}, {"VT", "50"}, {"VA", "51"}, {"WA", "53"},
    {"WV", "54"}, {"WI", "55"}, {"WY", "56"}, {"AS", "60"}, {"GU", "66"}, {"MP", "69"},
    {"PR", "72"}, {"UM", "74"}, {"VI", "78"},
};

const char *us_geo_state_fips(const char *usps)
{
    if (!usps)
        return NULL;
    for (size_t i = 0; i < sizeof s_states / sizeof s_states[0]; i++)
        if (strcmp(s_states[i].usps, usps) == 0)
            return s_states[i].fips;
    return NULL;
}

bool us_geo_county_in_state(const char *county, const char *usps)
{
    const char *fips = us_geo_state_fips(usps);
    if (!fips || !county || strlen(county) != US_GEO_COUNTY_DIGITS)
        return false;
    for (int i = 0; i < US_GEO_COUNTY_DIGITS; i++)
        if (county[i] < '0' || county[i] > '9')
            return false;
    if (strncmp(county, fips, US_GEO_STATE_DIGITS) != 0)
        return false;
    return strcmp(county + US_GEO_STATE_DIGITS, "000") != 0;
}
