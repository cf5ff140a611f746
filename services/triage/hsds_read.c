/* hsds_read.c: the JSON export and CSV data package readers.
 *
 * Both produce the same thing: rows of field -> string in file order. File
 * sizes are capped (HSDS_FILE_MAX) and resource paths in a package must
 * stay inside the package directory, because the path comes from an admin
 * request and the service must not be talked into reading elsewhere.
 */
#include "hsds_read.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csv.h"
#include "hsds_tables.h"

#define HSDS_FILE_MAX        ((off_t)64 * 1024 * 1024) /* bytes in one input file */
#define HSDS_DATAPACKAGE     "datapackage.json"
#define HSDS_ROWS_INITIAL    256
#define HSDS_NUMBER_TEXT_MAX 64
#define HSDS_NOTE_MAX        (HSDS_PATH_MAX + 256)
#define HSDS_PATH_MAX        4096

/* ---- the row list ---------------------------------------------------------- */

static const char *s_add_file(hsds_rows_t *rows, const char *file)
{
    char **grown = realloc(rows->files, (rows->file_count + 1) * sizeof *grown);
    if (!grown) {
        return NULL;
    }
    rows->files = grown;
    rows->files[rows->file_count] = strdup(file);
    return rows->files[rows->file_count] ? rows->files[rows->file_count++] : NULL;
}

static hsds_row_t *s_add_row(hsds_rows_t *rows, int table, const char *file, const char *locator,
                             json_t *fields)
{
    if (rows->count == rows->capacity) {
        size_t capacity = rows->capacity ? rows->capacity * 2 : HSDS_ROWS_INITIAL;
        hsds_row_t *grown = realloc(rows->items, capacity * sizeof *grown);
        if (!grown) {
            json_decref(fields);
            return NULL;
        }
        rows->items = grown;
        rows->capacity = capacity;
    }
    hsds_row_t *row = &rows->items[rows->count++];
    row->table = table;
    row->file = file;
    snprintf(row->locator, sizeof row->locator, "%s", locator);
    row->fields = fields;
    return row;
}

void hsds_rows_release(hsds_rows_t *rows)
{
    for (size_t i = 0; i < rows->count; i++) {
        json_decref(rows->items[i].fields);
    }
    free(rows->items);
    for (size_t i = 0; i < rows->file_count; i++) {
        free(rows->files[i]);
    }
    free(rows->files);
    memset(rows, 0, sizeof *rows);
}

static int s_check_size(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    if (st.st_size > HSDS_FILE_MAX) {
        snprintf(err, errlen, "%s: larger than %lld bytes", path, (long long)HSDS_FILE_MAX);
        return -1;
    }
    return 0;
}

static json_t *s_load_json(const char *path, char *err, size_t errlen)
{
    if (s_check_size(path, err, errlen) < 0) {
        return NULL;
    }
    json_error_t error;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: not valid JSON: %s", path, error.line, error.column,
                 error.text);
    }
    return root;
}

/* ---- JSON export ------------------------------------------------------------ */

typedef struct {
    hsds_rows_t *rows;
    hsds_report_t *report;
    const char *file;
    int failed; /* out of memory */
} json_ctx_t;

/* The text form of a scalar, or NULL for null; -1 for objects/arrays. */
static int s_scalar_text(const json_t *value, char *buf, size_t size, const char **text)
{
    *text = NULL;
    switch (json_typeof(value)) {
    case JSON_STRING:
        *text = json_string_value(value);
        return 0;
    case JSON_INTEGER:
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        *text = buf;
        return 0;
    case JSON_REAL:
        snprintf(buf, size, "%.17g", json_real_value(value));
        *text = buf;
        return 0;
    case JSON_TRUE:
        *text = "true";
        return 0;
    case JSON_FALSE:
        *text = "false";
        return 0;
    case JSON_NULL:
        return 0;
    default:
        return -1;
    }
}

static void s_collect(json_ctx_t *ctx, int table_index, const json_t *object, const char *locator,
                      const char *fk, const char *fk_value, const char *fixed_column,
                      const char *fixed_value);

/* Reads a row's own columns. Returns the fields object, or NULL after
 * rejecting the row. */
static json_t *s_row_fields(json_ctx_t *ctx, int table_index, const json_t *object,
                            const char *locator)
{
    const hsds_table_t *table = &hsds_tables[table_index];
    json_t *fields = json_object();
    if (!fields) {
        ctx->failed = 1;
        return NULL;
    }
    for (size_t c = 0; c < hsds_column_count(table); c++) {
        const hsds_column_t *column = &table->columns[c];
        if (column->kind == HSDS_DERIVED) {
            continue;
        }
        const json_t *value = json_object_get(object, column->name);
        if (!value) {
            continue;
        }
        char buf[HSDS_NUMBER_TEXT_MAX];
        const char *text = NULL;
        if (s_scalar_text(value, buf, sizeof buf, &text) < 0) {
            char reason[160];
            snprintf(reason, sizeof reason, "field '%s': expected a string, not an %s",
                     column->name, json_is_array(value) ? "array" : "object");
            hsds_report_reject(ctx->report, table_index, ctx->file, locator, reason);
            json_decref(fields);
            return NULL;
        }
        if (text && json_object_set_new(fields, column->name, json_string(text)) < 0) {
            /* json_string fails on invalid UTF-8, which jansson already refused */
            ctx->failed = 1;
        }
    }
    return fields;
}

/* Sets `column` to `value` unless the row says otherwise; a contradiction
 * rejects the row. Returns 0 or -1. */
static int s_fill(json_ctx_t *ctx, int table_index, json_t *fields, const char *locator,
                  const char *column, const char *value, const char *whence)
{
    if (!column || !value) {
        return 0;
    }
    const char *given = json_string_value(json_object_get(fields, column));
    if (given && given[0] && strcmp(given, value) != 0) {
        char reason[192];
        snprintf(reason, sizeof reason, "field '%s' contradicts the %s", column, whence);
        hsds_report_reject(ctx->report, table_index, ctx->file, locator, reason);
        return -1;
    }
    json_object_set_new(fields, column, json_string(value));
    return 0;
}

static void s_collect(json_ctx_t *ctx, int table_index, const json_t *object, const char *locator,
                      const char *fk, const char *fk_value, const char *fixed_column,
                      const char *fixed_value)
{
    const hsds_table_t *table = &hsds_tables[table_index];
    if (!json_is_object(object)) {
        hsds_report_reject(ctx->report, table_index, ctx->file, locator,
                           "row is not a JSON object");
        return;
    }
    json_t *fields = s_row_fields(ctx, table_index, object, locator);
    if (!fields) {
        return;
    }
    const char *id = json_string_value(json_object_get(fields, "id"));
    for (size_t n = 0; n < HSDS_NESTS_MAX && table->nests[n].member; n++) {
        const hsds_nest_t *nest = &table->nests[n];
        const json_t *child = json_object_get(object, nest->member);
        if (!child || json_is_null(child)) {
            continue;
        }
        char child_locator[sizeof((hsds_row_t *)0)->locator];
        if (nest->single) {
            snprintf(child_locator, sizeof child_locator, "%s/%s", locator, nest->member);
            s_collect(ctx, nest->table, child, child_locator, NULL, NULL, NULL, NULL);
            const char *child_id =
                json_is_object(child) ? json_string_value(json_object_get(child, "id")) : NULL;
            char whence[96];
            snprintf(whence, sizeof whence, "nested '%s'", nest->member);
            if (s_fill(ctx, table_index, fields, locator, nest->fk, child_id, whence) < 0) {
                json_decref(fields);
                return;
            }
            continue;
        }
        if (!json_is_array(child)) {
            char reason[160];
            snprintf(reason, sizeof reason, "field '%s': expected an array", nest->member);
            hsds_report_reject(ctx->report, table_index, ctx->file, locator, reason);
            json_decref(fields);
            return;
        }
        size_t j;
        const json_t *element;
        json_array_foreach(child, j, element)
        {
            snprintf(child_locator, sizeof child_locator, "%s/%s/%zu", locator, nest->member, j);
            s_collect(ctx, nest->table, element, child_locator, nest->fk, id, nest->fixed_column,
                      nest->fixed_value);
        }
    }
    if (s_fill(ctx, table_index, fields, locator, fk, fk_value, "enclosing row") < 0 ||
        s_fill(ctx, table_index, fields, locator, fixed_column, fixed_value, "enclosing row") < 0) {
        json_decref(fields);
        return;
    }
    if (!s_add_row(ctx->rows, table_index, ctx->file, locator, fields)) {
        ctx->failed = 1;
    }
}

static int s_read_export(const char *path, json_t *root, hsds_rows_t *rows, hsds_report_t *report,
                         char *err, size_t errlen)
{
    json_ctx_t ctx = {.rows = rows, .report = report};
    ctx.file = s_add_file(rows, path);
    if (!ctx.file) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    const char *member;
    json_t *value;
    json_object_foreach(root, member, value)
    {
        int table = hsds_table_find(member);
        char locator[96];
        snprintf(locator, sizeof locator, "/%s", member);
        if (table < 0) {
            char note[HSDS_NOTE_MAX];
            snprintf(note, sizeof note,
                     "%s: member '%s' is not an HSDS table vigil imports; skipped", path, member);
            hsds_report_note(report, note);
            continue;
        }
        if (!json_is_array(value)) {
            hsds_report_reject(report, table, ctx.file, locator, "expected an array of rows");
            continue;
        }
        size_t i;
        json_t *element;
        json_array_foreach(value, i, element)
        {
            snprintf(locator, sizeof locator, "/%s/%zu", member, i);
            s_collect(&ctx, table, element, locator, NULL, NULL, NULL, NULL);
        }
    }
    if (ctx.failed) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

/* ---- CSV data package ---------------------------------------------------------- */

static int s_read_csv(const char *path, const char *name, int table_index, hsds_rows_t *rows,
                      hsds_report_t *report, char *err, size_t errlen)
{
    const hsds_table_t *table = &hsds_tables[table_index];
    const char *file = s_add_file(rows, name);
    if (!file || s_check_size(path, err, errlen) < 0) {
        if (!file) {
            snprintf(err, errlen, "%s: out of memory", path);
        }
        return -1;
    }
    char cerr[192];
    csv_reader_t *reader = csv_reader_new(path, cerr, sizeof cerr);
    if (!reader) {
        snprintf(err, errlen, "%s", cerr);
        return -1;
    }
    int rc = -1;
    char **fields = NULL;
    size_t count = 0;
    long line = 0;
    int got = csv_reader_next(reader, &fields, &count, &line, cerr, sizeof cerr);
    if (got <= 0) {
        snprintf(err, errlen, "%s: %s", path, got == 0 ? "empty file: no header row" : cerr);
        goto done;
    }
    size_t header_count = count;
    int *map = calloc(header_count, sizeof *map);
    if (!map) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < header_count; i++) {
        map[i] = hsds_column_find(table, fields[i]);
        if (map[i] >= 0 && table->columns[map[i]].kind == HSDS_DERIVED) {
            map[i] = -1;
        }
    }
    for (;;) {
        got = csv_reader_next(reader, &fields, &count, &line, cerr, sizeof cerr);
        if (got == 0) {
            break;
        }
        if (got < 0) {
            /* the rest of the file cannot be framed: everything read so far stays */
            char locator[96];
            snprintf(locator, sizeof locator, "row %ld", line + 1);
            hsds_report_reject(report, table_index, file, locator, cerr);
            break;
        }
        char locator[96];
        snprintf(locator, sizeof locator, "row %ld", line);
        if (count != header_count) {
            char reason[128];
            snprintf(reason, sizeof reason, "has %zu fields; the header has %zu", count,
                     header_count);
            hsds_report_reject(report, table_index, file, locator, reason);
            continue;
        }
        json_t *object = json_object();
        for (size_t i = 0; object && i < count; i++) {
            if (map[i] < 0 || fields[i][0] == '\0') {
                continue;
            }
            json_t *text = json_string(fields[i]);
            if (!text) {
                char reason[128];
                snprintf(reason, sizeof reason, "field '%s': not valid UTF-8",
                         table->columns[map[i]].name);
                hsds_report_reject(report, table_index, file, locator, reason);
                json_decref(object);
                object = NULL;
                break;
            }
            json_object_set_new(object, table->columns[map[i]].name, text);
        }
        if (object && !s_add_row(rows, table_index, file, locator, object)) {
            free(map);
            snprintf(err, errlen, "%s: out of memory", path);
            goto done;
        }
    }
    free(map);
    rc = 0;
done:
    csv_reader_destroy(&reader);
    return rc;
}

static bool s_safe_relative(const char *path)
{
    if (!path || !path[0] || path[0] == '/') {
        return false;
    }
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            return false;
        }
        p += len;
        while (*p == '/') {
            p++;
        }
    }
    return true;
}

static int s_read_package(const char *package_path, const json_t *root, hsds_rows_t *rows,
                          hsds_report_t *report, char *err, size_t errlen)
{
    char copy[HSDS_PATH_MAX + sizeof HSDS_DATAPACKAGE + 1];
    snprintf(copy, sizeof copy, "%s", package_path);
    const char *dir = dirname(copy);
    const json_t *resources = json_object_get(root, "resources");
    if (!json_is_array(resources)) {
        snprintf(err, errlen, "%s: 'resources' must be an array", package_path);
        return -1;
    }
    size_t i;
    const json_t *resource;
    json_array_foreach(resources, i, resource)
    {
        const char *name = json_string_value(json_object_get(resource, "name"));
        const char *path = json_string_value(json_object_get(resource, "path"));
        char note[HSDS_NOTE_MAX];
        if (!path || !s_safe_relative(path)) {
            snprintf(note, sizeof note,
                     "%s: resources[%zu]: 'path' must be a relative path inside the package; "
                     "skipped",
                     package_path, i);
            hsds_report_note(report, note);
            continue;
        }
        char *path_copy = strdup(path);
        int table = name ? hsds_table_find(name) : -1;
        if (table < 0 && path_copy) {
            table = hsds_table_find(basename(path_copy));
        }
        free(path_copy);
        if (table < 0) {
            snprintf(note, sizeof note,
                     "%s: resource '%s' is not an HSDS table vigil imports; skipped", package_path,
                     name ? name : path);
            hsds_report_note(report, note);
            continue;
        }
        char full[2 * HSDS_PATH_MAX + 2];
        snprintf(full, sizeof full, "%s/%s", dir, path);
        if (s_read_csv(full, path, table, rows, report, err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

int hsds_read(const char *path, hsds_rows_t *rows, hsds_report_t *report, char *err, size_t errlen)
{
    struct stat st;
    char package[HSDS_PATH_MAX + sizeof HSDS_DATAPACKAGE + 1];
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(package, sizeof package, "%s/%s", path, HSDS_DATAPACKAGE);
        path = package;
    }
    json_t *root = s_load_json(path, err, errlen);
    if (!root) {
        return -1;
    }
    int rc;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: expected a JSON object (an HSDS export or a datapackage.json)",
                 path);
        rc = -1;
    } else if (json_object_get(root, "resources")) {
        rc = s_read_package(path, root, rows, report, err, errlen);
    } else {
        rc = s_read_export(path, root, rows, report, err, errlen);
    }
    json_decref(root);
    return rc;
}
