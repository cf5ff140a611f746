/* csv.h: a small RFC 4180 reader for the HSDS tabular data package.
 *
 * Reads one record at a time from a file: comma separated, fields optionally
 * in double quotes (a quote inside is doubled), quoted fields may span
 * lines, CRLF or LF line ends, a UTF-8 byte-order mark at the start is
 * skipped. Reports the line each record starts on so import errors can name
 * "file, row". It never interprets the fields.
 */
#ifndef VIGIL_TRIAGE_CSV_H
#define VIGIL_TRIAGE_CSV_H

#include <stddef.h>
#include <stdio.h>

typedef struct csv_reader_t csv_reader_t;

/* Opens `path` for reading. Returns NULL with a message in `err`. */
csv_reader_t *csv_reader_new(const char *path, char *err, size_t errlen);

/* Closes; sets *reader_p to NULL. Cannot fail. */
void csv_reader_destroy(csv_reader_t **reader_p);

/* Reads the next record. On 1, *fields points at *count NUL-terminated
 * strings owned by the reader (valid until the next call) and *line is the
 * line the record starts on (1-based). Returns 1 for a record, 0 at end of
 * file, or -1 with a message naming the line in `err` (unterminated quote,
 * a stray quote, a record over the size cap, a NUL byte). */
int csv_reader_next(csv_reader_t *reader, char ***fields, size_t *count, long *line, char *err,
                    size_t errlen);

#endif
