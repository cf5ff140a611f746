/* hsds_import.h: import an Open Referral HSDS 3.0 directory.
 *
 * `vigilctl directory import PATH` ends here. PATH is either an HSDS JSON
 * export (one object whose members are tables: "organizations",
 * "services", ..., each an array of rows, rows may nest their children as
 * HSDS 3.0 does) or a tabular data package (a directory, or its
 * datapackage.json, listing CSV resources). Every row is validated against
 * the declared HSDS tables (hsds_tables.h); a bad row is rejected with its
 * file, row and reason and the rest are imported. Rows are upserted by id
 * and compared: importing the same data twice changes nothing. All accepted
 * rows commit in one transaction, or none do.
 *
 * The directory holds public information about service providers; the
 * importer never reads or writes case data.
 */
#ifndef VIGIL_TRIAGE_HSDS_IMPORT_H
#define VIGIL_TRIAGE_HSDS_IMPORT_H

#include <stddef.h>
#include <sqlite3.h>

/* Most rejections listed one by one; the count goes on past it. */
#define HSDS_REJECTIONS_MAX 1000

/* One rejected row. */
typedef struct {
    char file[256];   /* the file it came from, as named in the package or PATH */
    char row[96];     /* CSV: "row N" (N = line the record starts on, the header is line 1);
                         JSON: a JSON pointer such as "/services/3/phones/0" */
    char reason[256]; /* what is wrong, naming the field, never its value */
} hsds_rejection_t;

/* Rows per outcome. */
typedef struct {
    size_t inserted, updated, unchanged, rejected;
} hsds_counts_t;

/* What an import did. Zero it before hsds_import(); free with
 * hsds_report_release(). */
typedef struct {
    hsds_counts_t *tables; /* one per hsds table, in hsds_table_name() order */
    size_t table_count;
    hsds_counts_t total;
    hsds_rejection_t *rejections; /* the first HSDS_REJECTIONS_MAX rejections */
    size_t rejection_count;
    char **notes; /* things skipped that are not rows (unknown resources) */
    size_t note_count;
} hsds_report_t;

/* Imports PATH into the directory tables of `db` in one transaction (the
 * caller must not have one open). Returns 0 when the input could be read
 * and the accepted rows were committed (rows may still have been rejected:
 * see the report), or -1 with a message naming the file (and line) in `err`
 * when the input cannot be read at all (nothing changes then). */
int hsds_import(sqlite3 *db, const char *path, hsds_report_t *report, char *err, size_t errlen);

/* Name of hsds table `index` ("organizations", ...), or NULL past the end.
 * Cannot fail. */
const char *hsds_table_name(size_t index);

/* Frees what the report holds and zeroes it. Cannot fail. */
void hsds_report_release(hsds_report_t *report);

#endif
