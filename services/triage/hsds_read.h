/* hsds_read.h: turn an HSDS JSON export or CSV data package into rows.
 *
 * Reading only: each row becomes a JSON object of field -> string, tagged
 * with its table, file and position, in file order; children nested in
 * JSON rows become rows of their own tables with the parent's id filled in.
 * Rows that cannot even be read as rows (a CSV record with the wrong number
 * of fields, a JSON row that is not an object) are rejected into the report
 * here. Validation is the importer's. Internal to the importer.
 */
#ifndef VIGIL_TRIAGE_HSDS_READ_H
#define VIGIL_TRIAGE_HSDS_READ_H

#include <stddef.h>
#include <jansson.h>

#include "hsds_import.h"

typedef struct {
    int table;        /* index in hsds_tables */
    const char *file; /* borrowed from hsds_rows_t.files */
    char locator[96]; /* "row N" or a JSON pointer */
    json_t *fields;   /* object of field name -> JSON string */
} hsds_row_t;

typedef struct {
    hsds_row_t *items;
    size_t count, capacity;
    char **files; /* owned file names */
    size_t file_count;
} hsds_rows_t;

/* Reads PATH (export file, datapackage.json or a package directory) into
 * `rows`. Returns 0, or -1 with "FILE[:LINE]: why" in `err` when the input
 * cannot be read at all. */
int hsds_read(const char *path, hsds_rows_t *rows, hsds_report_t *report, char *err, size_t errlen);

/* Frees the rows and zeroes the list. Cannot fail. */
void hsds_rows_release(hsds_rows_t *rows);

/* Records a rejected row in the report (defined by the importer). Cannot
 * fail. */
void hsds_report_reject(hsds_report_t *report, int table, const char *file, const char *row,
                        const char *reason);

/* Records a note in the report (defined by the importer). Cannot fail. */
void hsds_report_note(hsds_report_t *report, const char *note);

#endif
