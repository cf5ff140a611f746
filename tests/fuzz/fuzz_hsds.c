/* fuzz_hsds.c: importing a partner's HSDS directory into triage's.
 *
 * `vigilctl directory import` reads files that community partners publish
 * (services/triage/hsds_import.c), as a JSON export or as a tabular data
 * package. The first input byte picks the form: even, the rest is written
 * as a JSON export; odd, it is one table's CSV file (byte / 2 picks the
 * table) in a package whose datapackage.json lists just that file. Either
 * is imported twice into a real triage store. For any input this target
 * checks that:
 * - an import either works (rows may be rejected one by one) or fails as
 *   a whole with a message that names the file;
 * - importing the same data again changes nothing, as hsds_import.h
 *   promises: no row inserted or updated, and the same rows rejected.
 * The directory tables are emptied between inputs. The store runs with
 * synchronous=OFF: it is thrown away, and the fsyncs would only slow the
 * fuzzing down.
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "hsds_import.h"
#include "triage_schema.h"
#include "vigil/store.h"

enum {
    FUZZ_INPUT_MAX = 1 << 16,
    FUZZ_PATH = 600, /* a fuzz_tempdir() path and a file name */
    FUZZ_ERR = 512,
};

static struct {
    char db_path[FUZZ_PATH + 16];
    char input[FUZZ_PATH + 16];
    char package[FUZZ_PATH + 16]; /* the package folder */
    char manifest[FUZZ_PATH + 48];
    char table_csv[FUZZ_PATH + 64];
    sqlite3 *db;
} s_fx;

static const char s_empty_directory[] =
    "DELETE FROM dir_attributes; DELETE FROM dir_phones; DELETE FROM dir_languages;"
    "DELETE FROM dir_area_keys; DELETE FROM dir_service_areas;"
    "DELETE FROM dir_service_at_location; DELETE FROM dir_locations;"
    "DELETE FROM dir_services; DELETE FROM dir_organizations; DELETE FROM dir_taxonomy_terms;"
    "DELETE FROM dir_imports;";

static void s_close(void)
{
    store_close(&s_fx.db);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[FUZZ_ERR];
    const char *dir = fuzz_tempdir("hsds");
    snprintf(s_fx.db_path, sizeof s_fx.db_path, "%s/triage.db", dir);
    snprintf(s_fx.input, sizeof s_fx.input, "%s/export.json", dir);
    snprintf(s_fx.package, sizeof s_fx.package, "%s/package", dir);
    snprintf(s_fx.manifest, sizeof s_fx.manifest, "%s/datapackage.json", s_fx.package);
    FUZZ_CHECK(mkdir(s_fx.package, 0700) == 0, "cannot make %s", s_fx.package);
    s_fx.db = store_open(s_fx.db_path, triage_migrations, TRIAGE_MIGRATION_COUNT, err, sizeof err);
    FUZZ_CHECK(s_fx.db, "store: %s", err);
    atexit(s_close); /* runs before the folder is removed */
    FUZZ_CHECK(sqlite3_exec(s_fx.db, "PRAGMA synchronous = OFF", NULL, NULL, NULL) == SQLITE_OK,
               "PRAGMA synchronous");
    return 0;
}

static void s_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f && fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write %s", path);
}

/* Writes the package: `table`.csv holding `data`, and a manifest listing
 * it. Returns the CSV's file name (for the error check). */
static const char *s_write_package(const char *table, const uint8_t *data, size_t size)
{
    if (s_fx.table_csv[0])
        unlink(s_fx.table_csv);
    snprintf(s_fx.table_csv, sizeof s_fx.table_csv, "%s/%s.csv", s_fx.package, table);
    s_write(s_fx.table_csv, data, size);
    char manifest[FUZZ_PATH];
    int n = snprintf(manifest, sizeof manifest,
                     "{\"name\": \"fuzz\", \"profile\": \"tabular-data-package\", "
                     "\"resources\": [{\"name\": \"%s\", \"path\": \"%s.csv\", "
                     "\"format\": \"csv\"}]}",
                     table, table);
    s_write(s_fx.manifest, (const uint8_t *)manifest, (size_t)n);
    return strrchr(s_fx.table_csv, '/') + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_INPUT_MAX)
        return 0;
    FUZZ_CHECK(sqlite3_exec(s_fx.db, s_empty_directory, NULL, NULL, NULL) == SQLITE_OK,
               "emptying the directory: %s", sqlite3_errmsg(s_fx.db));
    const char *path = s_fx.input, *named = "export.json";
    if (data[0] & 1) {
        size_t tables = 0;
        while (hsds_table_name(tables))
            tables++;
        named = s_write_package(hsds_table_name((data[0] >> 1) % tables), data + 1, size - 1);
        path = s_fx.package;
    } else {
        s_write(s_fx.input, data + 1, size - 1);
    }
    hsds_report_t first, second;
    memset(&first, 0, sizeof first);
    memset(&second, 0, sizeof second);
    char err[FUZZ_ERR] = "";
    if (hsds_import(s_fx.db, path, &first, err, sizeof err) != 0) {
        FUZZ_CHECK(strstr(err, named) || strstr(err, "datapackage.json"),
                   "a refused import does not name the file: \"%s\"", err);
        hsds_report_release(&first);
        return 0;
    }
    err[0] = '\0';
    FUZZ_CHECK(hsds_import(s_fx.db, path, &second, err, sizeof err) == 0,
               "the same file, imported again, is refused: %s", err);
    FUZZ_CHECK(second.total.inserted == 0 && second.total.updated == 0,
               "importing the same data again inserted %zu and updated %zu rows (first: %zu "
               "inserted, %zu rejected)",
               second.total.inserted, second.total.updated, first.total.inserted,
               first.total.rejected);
    FUZZ_CHECK(second.total.rejected == first.total.rejected,
               "the same data, imported again, had %zu rows rejected instead of %zu",
               second.total.rejected, first.total.rejected);
    hsds_report_release(&first);
    hsds_report_release(&second);
    return 0;
}

/* Emits `text` behind the form byte `form`. */
static void s_emit_form(fuzz_emit_fn emit, void *ctx, uint8_t form, const char *text)
{
    size_t len = strlen(text);
    uint8_t *input = malloc(len + 1);
    if (!input)
        return;
    input[0] = form;
    memcpy(input + 1, text, len);
    emit(ctx, input, len + 1);
    free(input);
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    static const char *const exports[] = {
        ("{\"taxonomy_terms\": [{\"id\": \"term-shelter\", \"code\": \"BH-1800.8500\", \"name\": "
         "\"shelter\", \"taxonomy\": \"vigil-sample\"}],\n"
         " \"organizations\": [{\"id\": \"org-1\", \"name\": \"Harbor House\", \"description\": "
         "\"Shelter\", \"services\": [{\"id\": \"svc-1\", \"name\": \"Emergency shelter\", "
         "\"status\": \"active\", \"phones\": [{\"id\": \"ph-1\", \"number\": \"+15035550100\"}], "
         "\"languages\": [{\"id\": \"lang-1\", \"code\": \"es\"}]}]}]}"),
        "{\"services\": [{\"id\": \"svc-2\", \"name\": \"Legal aid\"}]}",
        "{\"organizations\": [{\"id\": \"org-2\"}], \"unknown_table\": []}",
        "{\"services\": \"not an array\"}",
        "[]",
        "{\"organizations\": [{\"id\": \"org-3\", \"name\": \"x\"}, {\"id\": \"org-3\", "
        "\"name\": \"y\"}]}",
    };
    for (size_t i = 0; i < sizeof exports / sizeof exports[0]; i++)
        s_emit_form(emit, ctx, 0, exports[i]);
    /* A CSV for each table (form byte 2 * table + 1), then some mistakes. */
    static const char csv[] =
        "id,organization_id,name,description,status\r\n"
        "svc-1,org-1,Harbor Light Shelter,\"24-hour, confidential\",active\r\n"
        "svc-2,,\"No \"\"org\"\"\",,unknown-status\r\n";
    for (uint8_t table = 0; hsds_table_name(table); table++)
        s_emit_form(emit, ctx, (uint8_t)(2 * table + 1), csv);
    s_emit_form(emit, ctx, 1, "id,name\n\"unterminated\n");
    s_emit_form(emit, ctx, 3, "");
}
