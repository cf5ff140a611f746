/* hsds_import.c: validate HSDS rows and upsert them into the directory.
 *
 * Tables are applied in dependency order inside one IMMEDIATE transaction,
 * so a reference is checked against what is already in the database plus
 * what this import accepted before it. Each accepted row is stored with its
 * canonical content (sorted compact JSON of its columns); a row whose
 * content is unchanged is not written at all, which is what makes a
 * re-import a no-op. Reasons name the field and never copy its value.
 */
#include "hsds_import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsds_read.h"
#include "hsds_tables.h"
#include "vigil/store.h"
#include "vigil/util.h"

enum { SQL_MAX = 2048, WHY_MAX = 256 };

/* ---- report ------------------------------------------------------------------ */

void hsds_report_reject(hsds_report_t *report, int table, const char *file, const char *row,
                        const char *reason)
{
    report->total.rejected++;
    if (table >= 0 && (size_t)table < report->table_count) {
        report->tables[table].rejected++;
    }
    if (report->rejection_count >= HSDS_REJECTIONS_MAX) {
        return;
    }
    if (!report->rejections) {
        report->rejections = calloc(HSDS_REJECTIONS_MAX, sizeof *report->rejections);
        if (!report->rejections) {
            return;
        }
    }
    hsds_rejection_t *r = &report->rejections[report->rejection_count++];
    snprintf(r->file, sizeof r->file, "%s", file);
    snprintf(r->row, sizeof r->row, "%s", row);
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

void hsds_report_note(hsds_report_t *report, const char *note)
{
    char **grown = realloc(report->notes, (report->note_count + 1) * sizeof *grown);
    if (!grown) {
        return;
    }
    report->notes = grown;
    report->notes[report->note_count] = strdup(note);
    if (report->notes[report->note_count]) {
        report->note_count++;
    }
}

void hsds_report_release(hsds_report_t *report)
{
    free(report->tables);
    free(report->rejections);
    for (size_t i = 0; i < report->note_count; i++) {
        free(report->notes[i]);
    }
    free(report->notes);
    memset(report, 0, sizeof *report);
}

const char *hsds_table_name(size_t index)
{
    return index < hsds_table_count ? hsds_tables[index].name : NULL;
}

/* ---- statements per table ------------------------------------------------------ */

typedef struct {
    sqlite3_stmt *select; /* content by id */
    sqlite3_stmt *upsert;
    sqlite3_stmt *exists[HSDS_COLUMNS_MAX]; /* REF columns: does the referenced row exist */
    json_t *seen;                           /* id -> [content, file, locator] in this import */
} table_stmts_t;

static void s_stmts_free(table_stmts_t *s)
{
    sqlite3_finalize(s->select);
    sqlite3_finalize(s->upsert);
    for (size_t i = 0; i < HSDS_COLUMNS_MAX; i++) {
        sqlite3_finalize(s->exists[i]);
    }
    json_decref(s->seen);
    memset(s, 0, sizeof *s);
}

static int s_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **stmt, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2(db, sql, -1, stmt, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "directory: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

static int s_stmts_new(sqlite3 *db, const hsds_table_t *table, table_stmts_t *s, char *err,
                       size_t errlen)
{
    char sql[SQL_MAX];
    size_t n = hsds_column_count(table);
    s->seen = json_object();
    snprintf(sql, sizeof sql, "SELECT content FROM %s WHERE id = ?", table->sql_table);
    if (!s->seen || s_prepare(db, sql, &s->select, err, errlen) < 0) {
        return -1;
    }
    size_t len = (size_t)snprintf(sql, sizeof sql, "INSERT INTO %s (", table->sql_table);
    for (size_t c = 0; c < n; c++) {
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s, ", table->columns[c].name);
    }
    len += (size_t)snprintf(sql + len, sizeof sql - len, "content) VALUES (");
    for (size_t c = 0; c <= n; c++) {
        len += (size_t)snprintf(sql + len, sizeof sql - len, "?%s", c < n ? ", " : ")");
    }
    len += (size_t)snprintf(sql + len, sizeof sql - len, " ON CONFLICT (id) DO UPDATE SET ");
    for (size_t c = 1; c < n; c++) {
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s = excluded.%s, ",
                                table->columns[c].name, table->columns[c].name);
    }
    snprintf(sql + len, sizeof sql - len, "content = excluded.content");
    if (s_prepare(db, sql, &s->upsert, err, errlen) < 0) {
        return -1;
    }
    for (size_t c = 0; c < n; c++) {
        if (table->columns[c].kind != HSDS_REF) {
            continue;
        }
        snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = ?", table->columns[c].ref);
        if (s_prepare(db, sql, &s->exists[c], err, errlen) < 0) {
            return -1;
        }
    }
    return 0;
}

static int s_exists(sqlite3 *db, sqlite3_stmt *stmt, const char *sql_table, const char *id)
{
    sqlite3_stmt *own = NULL;
    if (!stmt) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = ?", sql_table);
        if (sqlite3_prepare_v2(db, sql, -1, &own, NULL) != SQLITE_OK) {
            return -1;
        }
        stmt = own;
    }
    sqlite3_reset(stmt);
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    int found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    sqlite3_reset(stmt);
    sqlite3_finalize(own);
    return found;
}

/* ---- one row ------------------------------------------------------------------ */

typedef enum { ROW_REJECTED, ROW_INSERTED, ROW_UPDATED, ROW_UNCHANGED, ROW_FAILED } row_outcome_t;

static const char *s_table_of_entity(const char *entity)
{
    static const struct {
        const char *entity, *table;
    } map[] = {{"service", "dir_services"},
               {"organization", "dir_organizations"},
               {"location", "dir_locations"},
               {"service_at_location", "dir_service_at_location"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(map[i].entity, entity) == 0) {
            return map[i].table;
        }
    }
    return NULL;
}

static row_outcome_t s_apply_row(sqlite3 *db, const hsds_table_t *table, table_stmts_t *s,
                                 const hsds_row_t *row, char *why, size_t whylen, char *err,
                                 size_t errlen)
{
    size_t n = hsds_column_count(table);
    char *values[HSDS_COLUMNS_MAX] = {0};
    row_outcome_t outcome = ROW_REJECTED;
    json_t *content_object = NULL;
    char *content = NULL;
    for (size_t c = 0; c < n; c++) {
        const char *text = json_string_value(json_object_get(row->fields, table->columns[c].name));
        if (text && text[0]) {
            values[c] = strdup(text);
            if (!values[c]) {
                snprintf(err, errlen, "out of memory");
                outcome = ROW_FAILED;
                goto done;
            }
        }
    }
    for (size_t c = 0; c < n; c++) {
        const hsds_column_t *column = &table->columns[c];
        if (column->kind == HSDS_DERIVED) {
            continue;
        }
        if (!values[c]) {
            if (column->required) {
                snprintf(why, whylen, "field '%s' is required", column->name);
                goto done;
            }
            continue;
        }
        if (hsds_check_value(column, values[c], why, whylen) < 0) {
            goto done;
        }
    }
    for (size_t c = 0; c < n; c++) {
        const hsds_column_t *column = &table->columns[c];
        if (!values[c] || (column->kind != HSDS_REF && column->kind != HSDS_LINK)) {
            continue;
        }
        const char *target = column->ref;
        if (column->kind == HSDS_LINK) {
            int entity = hsds_column_find(table, "link_entity");
            target = entity >= 0 && values[entity] ? s_table_of_entity(values[entity]) : NULL;
            if (!target) {
                snprintf(why, whylen, "field 'link_entity' is required to resolve '%s'",
                         column->name);
                goto done;
            }
        }
        int found = s_exists(db, s->exists[c], target, values[c]);
        if (found < 0) {
            snprintf(err, errlen, "directory: %s", sqlite3_errmsg(db));
            outcome = ROW_FAILED;
            goto done;
        }
        if (!found) {
            /* "dir_services" -> "services" */
            snprintf(why, whylen, "field '%s': no %s row with that id (rejected or absent)",
                     column->name, target + strlen("dir_"));
            goto done;
        }
    }
    if (table->derive && table->derive(db, values, why, whylen) < 0) {
        goto done;
    }
    content_object = json_object();
    for (size_t c = 0; content_object && c < n; c++) {
        if (values[c]) {
            json_object_set_new(content_object, table->columns[c].name, json_string(values[c]));
        }
    }
    content = content_object ? json_dumps(content_object, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    if (!content) {
        snprintf(err, errlen, "out of memory");
        outcome = ROW_FAILED;
        goto done;
    }
    /* the same id twice in one import: identical is fine (nested terms repeat), different is not */
    json_t *seen = json_object_get(s->seen, values[0]);
    if (seen) {
        if (strcmp(json_string_value(json_array_get(seen, 0)), content) == 0) {
            outcome = ROW_UNCHANGED;
        } else {
            snprintf(why, whylen, "duplicate id: differs from the row at %s %s",
                     json_string_value(json_array_get(seen, 1)),
                     json_string_value(json_array_get(seen, 2)));
        }
        goto done;
    }
    json_object_set_new(s->seen, values[0], json_pack("[sss]", content, row->file, row->locator));
    sqlite3_reset(s->select);
    sqlite3_bind_text(s->select, 1, values[0], -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->select);
    if (rc == SQLITE_ROW) {
        const char *stored = (const char *)sqlite3_column_text(s->select, 0);
        outcome = stored && strcmp(stored, content) == 0 ? ROW_UNCHANGED : ROW_UPDATED;
    } else if (rc == SQLITE_DONE) {
        outcome = ROW_INSERTED;
    } else {
        snprintf(err, errlen, "directory: %s", sqlite3_errmsg(db));
        outcome = ROW_FAILED;
    }
    sqlite3_reset(s->select);
    if (outcome != ROW_INSERTED && outcome != ROW_UPDATED) {
        goto done;
    }
    sqlite3_reset(s->upsert);
    for (size_t c = 0; c < n; c++) {
        if (values[c]) {
            sqlite3_bind_text(s->upsert, (int)c + 1, values[c], -1, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(s->upsert, (int)c + 1);
        }
    }
    sqlite3_bind_text(s->upsert, (int)n + 1, content, -1, SQLITE_STATIC);
    if (sqlite3_step(s->upsert) != SQLITE_DONE ||
        (table->after && table->after(db, values, err, errlen) < 0)) {
        if (sqlite3_errcode(db) != SQLITE_OK) {
            snprintf(err, errlen, "directory: %s", sqlite3_errmsg(db));
        }
        outcome = ROW_FAILED;
    }
    sqlite3_reset(s->upsert);
done:
    for (size_t c = 0; c < n; c++) {
        free(values[c]);
    }
    json_decref(content_object);
    free(content);
    return outcome;
}

/* ---- the import ---------------------------------------------------------------- */

static int s_log_import(sqlite3 *db, const char *path, const hsds_counts_t *total)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO dir_imports (imported_at_ms, source, inserted, updated,"
                           " unchanged, rejected) VALUES (?, ?, ?, ?, ?, ?)",
                           -1, &stmt, NULL) != SQLITE_OK) {
        return -1;
    }
    sqlite3_bind_int64(stmt, 1, util_now_ms());
    sqlite3_bind_text(stmt, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, (sqlite3_int64)total->inserted);
    sqlite3_bind_int64(stmt, 4, (sqlite3_int64)total->updated);
    sqlite3_bind_int64(stmt, 5, (sqlite3_int64)total->unchanged);
    sqlite3_bind_int64(stmt, 6, (sqlite3_int64)total->rejected);
    int rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(stmt);
    return rc;
}

int hsds_import(sqlite3 *db, const char *path, hsds_report_t *report, char *err, size_t errlen)
{
    hsds_rows_t rows = {0};
    int rc = -1;
    bool in_transaction = false;
    report->tables = calloc(hsds_table_count, sizeof *report->tables);
    if (!report->tables) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    report->table_count = hsds_table_count;
    if (hsds_read(path, &rows, report, err, errlen) < 0) {
        goto done;
    }
    if (store_begin(db) < 0) {
        snprintf(err, errlen, "directory: cannot begin a transaction: %s", sqlite3_errmsg(db));
        goto done;
    }
    in_transaction = true;
    for (size_t t = 0; t < hsds_table_count; t++) {
        const hsds_table_t *table = &hsds_tables[t];
        table_stmts_t stmts = {0};
        if (s_stmts_new(db, table, &stmts, err, errlen) < 0) {
            s_stmts_free(&stmts);
            goto done;
        }
        for (size_t r = 0; r < rows.count; r++) {
            const hsds_row_t *row = &rows.items[r];
            if (row->table != (int)t) {
                continue;
            }
            char why[WHY_MAX] = "";
            row_outcome_t outcome =
                s_apply_row(db, table, &stmts, row, why, sizeof why, err, errlen);
            hsds_counts_t *counts = &report->tables[t];
            switch (outcome) {
            case ROW_FAILED:
                s_stmts_free(&stmts);
                goto done;
            case ROW_REJECTED:
                hsds_report_reject(report, (int)t, row->file, row->locator, why);
                break;
            case ROW_INSERTED:
                counts->inserted++;
                report->total.inserted++;
                break;
            case ROW_UPDATED:
                counts->updated++;
                report->total.updated++;
                break;
            case ROW_UNCHANGED:
                counts->unchanged++;
                report->total.unchanged++;
                break;
            }
        }
        s_stmts_free(&stmts);
    }
    if (s_log_import(db, path, &report->total) < 0 || store_commit(db) < 0) {
        snprintf(err, errlen, "directory: cannot commit: %s", sqlite3_errmsg(db));
        goto done;
    }
    in_transaction = false;
    rc = 0;
done:
    if (in_transaction) {
        store_rollback(db);
    }
    hsds_rows_release(&rows);
    return rc;
}
