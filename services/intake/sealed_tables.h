/* sealed_tables.h: which intake tables hold sealed columns, and how each
 * row's associated data is anchored.
 *
 * One list, read by the writers (cases.c, upstream_store.c), the reader
 * (case show) and the key rotation (rotate.c), so that all agree on the
 * columns and on the anchor that binds a ciphertext to its row. Adding a
 * personal column means adding it here; rotate-key then covers it.
 */
#ifndef INTAKE_SEALED_TABLES_H
#define INTAKE_SEALED_TABLES_H

#include <stddef.h>

/* One sealed column. */
typedef struct {
    const char *column; /* SQL column, also the aad's column part */
    const char *field;  /* the message field it holds, for error messages */
} sealed_column_t;

/* One table with sealed columns and a `key_id` column. */
typedef struct {
    const char *table;      /* e.g. "intake_cases" */
    const char *anchor_sql; /* SQL expression of the row's aad anchor */
    const sealed_column_t *columns;
    size_t count;
} sealed_table_t;

/* Sealed columns of intake_cases, in the order of its INSERT parameters
 * ?11.. (see intake.c). The last, offender_names, holds a packed
 * IntakeContact carrying only the offenders' display names. */
enum {
    CASE_COL_GIVEN_NAME,
    CASE_COL_FAMILY_NAME,
    CASE_COL_PHONE,
    CASE_COL_EMAIL,
    CASE_COL_STREET_ADDRESS,
    CASE_COL_NARRATIVE,
    CASE_COL_OFFENDER_NAMES,
    CASE_COL_COUNT,
};

extern const sealed_column_t case_sealed_columns[CASE_COL_COUNT];

/* Sealed columns of intake_subscriptions, in INSERT order (?11, ?12). */
enum {
    SUB_COL_PHONE,
    SUB_COL_EMAIL,
    SUB_COL_COUNT,
};

extern const sealed_column_t subscription_sealed_columns[SUB_COL_COUNT];

/* The aad anchor of a subscription row: "sub:<source>/<event_id>". */
#define SUBSCRIPTION_ANCHOR_PREFIX "sub:"

/* The anchor of a confirmation's PIN hash: "conf:<source>/<event_id>". */
#define CONFIRMATION_ANCHOR_PREFIX "conf:"

/* Every table with sealed columns. */
#define SEALED_TABLE_COUNT 2
extern const sealed_table_t sealed_tables[SEALED_TABLE_COUNT];

#endif
