/* hsds_tables.h: the HSDS 3.0 tables vigil imports, declared as data.
 *
 * Each table names its SQL table, the resource names it is known by (JSON
 * member or datapackage resource), its columns with a kind (which decides
 * the validation) and the children HSDS nests inside its rows. The array is
 * in dependency order: a table only refers to tables before it, so the
 * importer can check references against the database as it goes. Internal
 * to the importer.
 */
#ifndef VIGIL_TRIAGE_HSDS_TABLES_H
#define VIGIL_TRIAGE_HSDS_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <sqlite3.h>

#define HSDS_COLUMNS_MAX 10
#define HSDS_NESTS_MAX   6

typedef enum {
    HSDS_TEXT,      /* UTF-8 text up to HSDS_TEXT_MAX bytes */
    HSDS_ID,        /* an id: 1..128 of [A-Za-z0-9._:-] */
    HSDS_REF,       /* the id of a row in `ref` */
    HSDS_ENUM,      /* one of `values` */
    HSDS_EMAIL,     /* local@domain.tld */
    HSDS_URL,       /* http:// or https:// */
    HSDS_LANGUAGE,  /* a BCP-47 tag */
    HSDS_PHONE,     /* digits and + - ( ) . space x, 7 to 20 digits */
    HSDS_LATITUDE,  /* a number in -90..90 */
    HSDS_LONGITUDE, /* a number in -180..180 */
    HSDS_LINK,      /* the id of a row in the table named by the row's link_entity */
    HSDS_DERIVED,   /* not read: computed by the table's derive hook */
} hsds_kind_t;

typedef struct {
    const char *name;          /* HSDS field name, also the SQL column */
    hsds_kind_t kind;          /* how it is validated */
    bool required;             /* absent or empty is an error */
    const char *ref;           /* HSDS_REF: the referenced SQL table */
    const char *const *values; /* HSDS_ENUM: allowed values, NULL-terminated */
} hsds_column_t;

/* A child HSDS nests inside a row. */
typedef struct {
    const char *member;       /* JSON member holding it, e.g. "phones" */
    int table;                /* index of the child's table */
    bool single;              /* an object (the child is referred to) instead of an array */
    const char *fk;           /* array: child column set to the parent's id;
                                 single: parent column set to the child's id */
    const char *fixed_column; /* array: a child column set to fixed_value, or NULL */
    const char *fixed_value;
} hsds_nest_t;

/* Computes derived columns and cross-field checks after validation.
 * `values` holds one string (or NULL) per column. May replace a value with
 * a malloc'd string (freeing the old). Returns 0, or -1 with a reason. */
typedef int (*hsds_derive_fn)(sqlite3 *db, char **values, char *why, size_t whylen);

/* Runs after a row was inserted or updated (not when unchanged). Returns 0
 * or -1 with sqlite's message. */
typedef int (*hsds_after_fn)(sqlite3 *db, char **values, char *err, size_t errlen);

typedef struct {
    const char *name;                        /* "organizations": report name and JSON member */
    const char *singular;                    /* "organization": datapackage resource name */
    const char *sql_table;                   /* "dir_organizations" */
    hsds_column_t columns[HSDS_COLUMNS_MAX]; /* the first is "id" */
    hsds_nest_t nests[HSDS_NESTS_MAX];
    hsds_derive_fn derive;
    hsds_after_fn after;
} hsds_table_t;

extern const hsds_table_t hsds_tables[];
extern const size_t hsds_table_count;

/* Max bytes of a text field. */
#define HSDS_TEXT_MAX 4096

/* Index of the table known as `name` (plural, singular, or a CSV file name
 * such as "services.csv"), or -1. Cannot fail. */
int hsds_table_find(const char *name);

/* Number of columns of table `t`. Cannot fail. */
size_t hsds_column_count(const hsds_table_t *table);

/* Index of column `name` in `table`, or -1. Cannot fail. */
int hsds_column_find(const hsds_table_t *table, const char *name);

/* Checks `value` against column `column` (shape only; references are the
 * importer's). Returns 0 or -1 with a reason naming the field. */
int hsds_check_value(const hsds_column_t *column, const char *value, char *why, size_t whylen);

#endif
