/* test_triage_hsds.c: the resource directory imports HSDS 3.0 and answers
 * referral queries.
 *
 * Works on real sqlite files with triage's own migrations and the sample
 * directory shipped in tests/data/hsds (fictional organisations):
 *   - the JSON export (nested HSDS objects) and the CSV data package hold
 *     the same directory and import to identical tables;
 *   - importing twice changes nothing (row counts and content);
 *   - a package with bad rows imports the good rows and reports each bad
 *     one with its file, row and reason;
 *   - input that cannot be read at all changes nothing and names the file;
 *   - queries by taxonomy term, place and language return what a plugin
 *     would refer a victim to, most specific service area first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "csv.h"
#include "directory.h"
#include "hsds_import.h"
#include "triage_schema.h"
#include "vigil/store.h"

#ifndef VIGIL_SOURCE_DIR
#error "VIGIL_SOURCE_DIR must name the source tree (set by services/triage/CMakeLists.txt)"
#endif
#define SAMPLE(path) VIGIL_SOURCE_DIR "/tests/data/hsds/" path

static const char *const s_tables[] = {"dir_taxonomy_terms",
                                       "dir_organizations",
                                       "dir_services",
                                       "dir_locations",
                                       "dir_service_at_location",
                                       "dir_service_areas",
                                       "dir_area_keys",
                                       "dir_languages",
                                       "dir_phones",
                                       "dir_attributes",
                                       NULL};

typedef struct {
    char dir[64];
    char path[96];
    sqlite3 *db;
} fixture_t;

static sqlite3 *s_open(fixture_t *f, const char *name)
{
    char err[256];
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    sqlite3 *db = store_open(f->path, triage_migrations, TRIAGE_MIGRATION_COUNT, err, sizeof err);
    if (!db) {
        fail_msg("store_open: %s", err);
    }
    return db;
}

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/vigil-hsds-XXXXXX");
    if (!f || !mkdtemp(f->dir)) {
        return -1;
    }
    f->db = s_open(f, "triage.db");
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    store_close(&f->db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) {
        return -1;
    }
    free(f);
    return 0;
}

/* Every row of every directory table, as text, in a stable order. */
static char *s_dump(sqlite3 *db)
{
    size_t size = 1, used = 0;
    char *out = calloc(1, 1);
    for (const char *const *t = s_tables; *t; t++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1, 2, 3", *t);
        sqlite3_stmt *stmt = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(stmt); c++) {
                const char *text = (const char *)sqlite3_column_text(stmt, c);
                size_t len = strlen(*t) + (text ? strlen(text) : 4) + 4;
                out = realloc(out, size += len);
                used += (size_t)snprintf(out + used, size - used, "%s%s%s", c == 0 ? *t : "",
                                         c == 0 ? ": " : "|", text ? text : "NULL");
            }
            out = realloc(out, size += 1);
            used += (size_t)snprintf(out + used, size - used, "\n");
        }
        sqlite3_finalize(stmt);
    }
    return out;
}

static void s_import_ok(sqlite3 *db, const char *path, hsds_report_t *report)
{
    char err[512] = "";
    memset(report, 0, sizeof *report);
    int rc = hsds_import(db, path, report, err, sizeof err);
    if (rc != 0) {
        fail_msg("import %s: %s", path, err);
    }
}

static void test_json_and_csv_hold_the_same_directory(void **state)
{
    fixture_t *f = *state;
    hsds_report_t report;
    s_import_ok(f->db, SAMPLE("export.json"), &report);
    assert_int_equal(report.total.rejected, 0);
    assert_int_equal(report.note_count, 0);
    assert_true(report.total.inserted > 30);
    hsds_report_release(&report);

    sqlite3 *csv_db = s_open(f, "csv.db");
    s_import_ok(csv_db, SAMPLE("package"), &report);
    assert_int_equal(report.total.rejected, 0);
    assert_int_equal(report.total.updated, 0);
    hsds_report_release(&report);

    char *from_json = s_dump(f->db);
    char *from_csv = s_dump(csv_db);
    assert_string_equal(from_json, from_csv);
    assert_int_equal(directory_count(f->db, "dir_organizations"), 4);
    assert_int_equal(directory_count(f->db, "dir_services"), 6);
    assert_int_equal(directory_count(f->db, "dir_taxonomy_terms"), 9);
    free(from_json);
    free(from_csv);
    store_close(&csv_db);
}

static void test_reimport_changes_nothing(void **state)
{
    fixture_t *f = *state;
    hsds_report_t report;
    s_import_ok(f->db, SAMPLE("package/datapackage.json"), &report);
    size_t inserted = report.total.inserted;
    hsds_report_release(&report);
    char *before = s_dump(f->db);

    s_import_ok(f->db, SAMPLE("package/datapackage.json"), &report);
    assert_int_equal(report.total.inserted, 0);
    assert_int_equal(report.total.updated, 0);
    assert_int_equal(report.total.rejected, 0);
    assert_int_equal(report.total.unchanged, inserted);
    hsds_report_release(&report);
    /* the JSON export of the same directory is also a no-op */
    s_import_ok(f->db, SAMPLE("export.json"), &report);
    assert_int_equal(report.total.inserted, 0);
    assert_int_equal(report.total.updated, 0);
    hsds_report_release(&report);

    char *after = s_dump(f->db);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static const hsds_rejection_t *s_find(const hsds_report_t *report, const char *file,
                                      const char *row)
{
    for (size_t i = 0; i < report->rejection_count; i++) {
        if (strcmp(report->rejections[i].file, file) == 0 &&
            strcmp(report->rejections[i].row, row) == 0) {
            return &report->rejections[i];
        }
    }
    return NULL;
}

static void test_bad_rows_are_reported_with_file_and_row(void **state)
{
    fixture_t *f = *state;
    hsds_report_t report;
    s_import_ok(f->db, SAMPLE("bad-package"), &report);
    for (size_t i = 0; i < report.rejection_count; i++) {
        print_message("rejected: %s %s: %s\n", report.rejections[i].file, report.rejections[i].row,
                      report.rejections[i].reason);
    }
    assert_int_equal(report.total.rejected, 4);
    const hsds_rejection_t *r = s_find(&report, "services.csv", "row 8");
    assert_non_null(r);
    assert_non_null(strstr(r->reason, "email"));
    assert_null(strstr(r->reason, "not-an-email")); /* the reason never copies the value */
    r = s_find(&report, "services.csv", "row 9");
    assert_non_null(r);
    assert_non_null(strstr(r->reason, "organization_id"));
    r = s_find(&report, "services.csv", "row 10");
    assert_non_null(r);
    assert_non_null(strstr(r->reason, "status"));
    r = s_find(&report, "languages.csv", "row 13");
    assert_non_null(r);
    assert_non_null(strstr(r->reason, "code"));
    /* every good row went in */
    assert_int_equal(directory_count(f->db, "dir_services"), 6);
    assert_int_equal(directory_count(f->db, "dir_languages"), 11);
    hsds_report_release(&report);
}

static void test_unreadable_input_changes_nothing(void **state)
{
    fixture_t *f = *state;
    char bad[160];
    snprintf(bad, sizeof bad, "%s/broken.json", f->dir);
    FILE *file = fopen(bad, "w");
    assert_non_null(file);
    fputs("{ \"organizations\": [ { \"id\": \"org-x\", \"name\": \"X\" }\n", file);
    fclose(file);
    hsds_report_t report = {0};
    char err[512] = "";
    assert_int_equal(hsds_import(f->db, bad, &report, err, sizeof err), -1);
    assert_non_null(strstr(err, "broken.json"));
    hsds_report_release(&report);
    assert_int_equal(hsds_import(f->db, "/nonexistent/vigil/dir", &report, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/vigil/dir"));
    hsds_report_release(&report);
    assert_int_equal(directory_count(f->db, "dir_organizations"), 0);
}

static void test_json_rows_are_located_by_pointer(void **state)
{
    fixture_t *f = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/one.json", f->dir);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs("{ \"organizations\": [ { \"id\": \"org-a\", \"name\": \"A (fictional)\","
          "  \"services\": [ { \"id\": \"svc-a\", \"name\": \"A\", \"status\": \"active\" },"
          "                  { \"id\": \"svc-b\", \"name\": \"B\", \"status\": \"active\","
          "                    \"url\": \"ftp://nope\" } ] } ],"
          "  \"widgets\": [] }\n",
          file);
    fclose(file);
    hsds_report_t report;
    s_import_ok(f->db, path, &report);
    assert_int_equal(report.total.rejected, 1);
    assert_string_equal(report.rejections[0].row, "/organizations/0/services/1");
    assert_non_null(strstr(report.rejections[0].reason, "url"));
    assert_int_equal(report.note_count, 1); /* "widgets" is not an HSDS table */
    assert_int_equal(directory_count(f->db, "dir_services"), 1);
    hsds_report_release(&report);
}

static int s_query(sqlite3 *db, const directory_query_t *query, directory_match_t *out, size_t max)
{
    char err[256];
    directory_t *directory = directory_new(db, err, sizeof err);
    assert_non_null(directory);
    int n = directory_query(directory, query, out, max, err, sizeof err);
    directory_destroy(&directory);
    assert_null(directory);
    return n;
}

static void test_queries_find_referrals(void **state)
{
    fixture_t *f = *state;
    hsds_report_t report;
    s_import_ok(f->db, SAMPLE("export.json"), &report);
    hsds_report_release(&report);
    directory_match_t m[8];

    /* shelter in Multnomah County, OR: the county-level service */
    directory_query_t q = {.taxonomy_term = "shelter", .state = "OR", .county_fips = "41051"};
    assert_int_equal(s_query(f->db, &q, m, 8), 1);
    assert_string_equal(m[0].service_id, "svc-harbor-shelter");
    assert_string_equal(m[0].organization_id, "org-harbor");
    assert_string_equal(m[0].taxonomy_term, "BH-1800.8500");

    /* by code, in Kansas: the only shelter there is inactive */
    q = (directory_query_t){.taxonomy_term = "BH-1800.8500", .state = "KS"};
    assert_int_equal(s_query(f->db, &q, m, 8), 0);

    /* counseling in Kansas: the state service first, then the one serving everywhere */
    q = (directory_query_t){.taxonomy_term = "counseling", .state = "KS", .zip3 = "660"};
    assert_int_equal(s_query(f->db, &q, m, 8), 2);
    assert_string_equal(m[0].service_id, "svc-prairie-counsel");
    assert_string_equal(m[1].service_id, "svc-lantern-line");

    /* counseling in region "west" */
    q = (directory_query_t){.taxonomy_term = "counseling", .region = "west", .state = "NV"};
    assert_int_equal(s_query(f->db, &q, m, 8), 2);
    assert_string_equal(m[0].service_id, "svc-harbor-counsel");

    /* language: es-MX matches services listing "es"; zh-Hans matches "zh-Hant" by primary tag */
    q = (directory_query_t){.taxonomy_term = "legal", .state = "WA", .language = "es-MX"};
    assert_int_equal(s_query(f->db, &q, m, 8), 1);
    assert_string_equal(m[0].service_id, "svc-cascade-legal");
    q = (directory_query_t){.taxonomy_term = "legal", .state = "WA", .language = "ko"};
    assert_int_equal(s_query(f->db, &q, m, 8), 0);
    q = (directory_query_t){.taxonomy_term = "interpreter", .language = "zh-Hans"};
    assert_int_equal(s_query(f->db, &q, m, 8), 1);
    assert_string_equal(m[0].service_id, "svc-lantern-line");

    /* max is honoured */
    q = (directory_query_t){.taxonomy_term = "counseling"};
    assert_int_equal(s_query(f->db, &q, m, 1), 1);
}

static void s_write_file(const char *path, const char *text, size_t len)
{
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(text, 1, len, file), len);
    fclose(file);
}

static void test_csv_reader_follows_rfc4180(void **state)
{
    fixture_t *f = *state;
    char path[160], err[256];
    snprintf(path, sizeof path, "%s/t.csv", f->dir);
    /* BOM, CRLF, a quoted comma, a doubled quote, a quoted line break, a blank line */
    static const char text[] = "\xEF\xBB\xBFid,name\r\n"
                               "a,\"Shelter, \"\"North\"\"\"\r\n"
                               "\r\n"
                               "b,\"two\nlines\"\r\n"
                               "c,\n";
    s_write_file(path, text, sizeof text - 1);
    csv_reader_t *reader = csv_reader_new(path, err, sizeof err);
    assert_non_null(reader);
    char **fields;
    size_t count;
    long line;
    assert_int_equal(csv_reader_next(reader, &fields, &count, &line, err, sizeof err), 1);
    assert_int_equal(count, 2);
    assert_string_equal(fields[0], "id");
    assert_int_equal(line, 1);
    assert_int_equal(csv_reader_next(reader, &fields, &count, &line, err, sizeof err), 1);
    assert_string_equal(fields[1], "Shelter, \"North\"");
    assert_int_equal(line, 2);
    assert_int_equal(csv_reader_next(reader, &fields, &count, &line, err, sizeof err), 1);
    assert_string_equal(fields[0], "b");
    assert_string_equal(fields[1], "two\nlines");
    assert_int_equal(line, 4);
    assert_int_equal(csv_reader_next(reader, &fields, &count, &line, err, sizeof err), 1);
    assert_int_equal(count, 2);
    assert_string_equal(fields[1], "");
    assert_int_equal(line, 6);
    assert_int_equal(csv_reader_next(reader, &fields, &count, &line, err, sizeof err), 0);
    csv_reader_destroy(&reader);
    assert_null(reader);

    static const char broken[] = "id,name\nx,\"never closed\n";
    s_write_file(path, broken, sizeof broken - 1);
    reader = csv_reader_new(path, err, sizeof err);
    assert_non_null(reader);
    assert_int_equal(csv_reader_next(reader, &fields, &count, &line, err, sizeof err), 1);
    assert_int_equal(csv_reader_next(reader, &fields, &count, &line, err, sizeof err), -1);
    assert_non_null(strstr(err, "line 2"));
    csv_reader_destroy(&reader);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_and_csv_hold_the_same_directory, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_reimport_changes_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_rows_are_reported_with_file_and_row, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_input_changes_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_json_rows_are_located_by_pointer, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_queries_find_referrals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_csv_reader_follows_rfc4180, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
