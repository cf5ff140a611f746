/* validate.h: checks an upstream message against a declared table of rules.
 *
 * Each message type intake accepts has one table (intake_rules.c): a row per
 * field path saying what the field must be (required, an enum value, an
 * E.164 number, a county of the given state, a time not in the future ...)
 * and its length or entry cap. validate_message() applies the rows in order
 * and stops at the first failure, reporting a stable reason code and a
 * human sentence that names the field but never shows its value.
 */
#ifndef INTAKE_VALIDATE_H
#define INTAKE_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "vigil/v1/envelope.pb-c.h"

/* Future times up to this far ahead are clock skew, not errors. */
#define VALIDATE_CLOCK_SKEW_MS (2 * 60 * 1000)

/* What a rule requires of its field. */
typedef enum {
    CHECK_TEXT,      /* string: valid UTF-8 within `max` bytes */
    CHECK_TOKEN,     /* string: printable ASCII, no spaces (ids) */
    CHECK_PHONE,     /* string: E.164 */
    CHECK_EMAIL,     /* string: email address syntax */
    CHECK_LANGUAGE,  /* string: BCP-47 tag */
    CHECK_STATE,     /* string: USPS state or territory code */
    CHECK_COUNTY,    /* string: county FIPS code of the sibling field "state" */
    CHECK_ZIP,       /* string: ZIP or ZIP+4 */
    CHECK_PIN,       /* string: 4 to 8 digits */
    CHECK_CASE_ID,   /* string: an intake case id */
    CHECK_ENUM,      /* enum: a known value; required means not UNSPECIFIED */
    CHECK_PAST_TIME, /* int64 unix ms: not negative, not in the future; required means > 0 */
    CHECK_ANY_TIME,  /* int64 unix ms: not negative; required means > 0 */
    CHECK_COUNT,     /* repeated field: at most `max` entries */
} validate_check_t;

/* Most values of `when` a rule can list. */
#define VALIDATE_WHEN_MAX 4

/* One row of a rule table. */
typedef struct {
    const char *path;       /* field path, see pbpath.h: "victim.phone", "offenders[].agency" */
    validate_check_t check; /* what the value must be */
    bool required;          /* an empty or zero value is an error */
    size_t max;             /* byte cap for strings, entry cap for CHECK_COUNT */
    /* When set, the row applies only if the top-level enum field `when`
     * holds one of `when_values` (a 0-ended list). */
    const char *when;
    int when_values[VALIDATE_WHEN_MAX];
} validate_rule_t;

/* The rules of one message type. */
typedef struct {
    Vigil__V1__MessageType type;
    const ProtobufCMessageDescriptor *descriptor;
    const validate_rule_t *rules;
    size_t count;
} validate_table_t;

/* Why a message failed. `detail` names the field, never its value. */
typedef struct {
    Vigil__V1__ReasonCode reason;
    char field[128];  /* e.g. "victim.phone" or "offenders[1].offender_id" */
    char detail[256]; /* e.g. "field victim.phone: not an E.164 number" */
} validate_error_t;

/* Applies `table` to `message` (of the table's type) at wall time `now_ms`.
 * Returns 0 if every rule holds, or -1 with the first failure in `error`. */
int validate_message(const validate_table_t *table, const ProtobufCMessage *message, int64_t now_ms,
                     validate_error_t *error);

/* The rule table for `type`, or NULL if intake accepts no such message from
 * upstream. Cannot fail. */
const validate_table_t *validate_table_for(Vigil__V1__MessageType type);

/* Every rule table, ended by a row with descriptor NULL (for tests and the
 * upstream documentation). */
extern const validate_table_t validate_tables[];

#endif
