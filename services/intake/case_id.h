/* case_id.h: opaque, non-sequential case ids.
 *
 * A case id is "c_" and 20 characters of lower-case base32 (RFC 4648
 * alphabet) taken from 100 random bits. It says nothing about how many cases
 * exist or when one was opened, so it can be shown to staff and carried to
 * triage without leaking anything. It is never derived from a counter.
 */
#ifndef INTAKE_CASE_ID_H
#define INTAKE_CASE_ID_H

#include <stdbool.h>

#define CASE_ID_PREFIX     "c_"
#define CASE_ID_RANDOM_LEN 20
#define CASE_ID_LEN        (2 + CASE_ID_RANDOM_LEN)
#define CASE_ID_SIZE       (CASE_ID_LEN + 1)

/* Writes a fresh random case id and a NUL into `out`. Cannot fail. */
void case_id_new(char out[CASE_ID_SIZE]);

/* True if `text` has the shape of a case id. Cannot fail. */
bool case_id_is_well_formed(const char *text);

#endif
