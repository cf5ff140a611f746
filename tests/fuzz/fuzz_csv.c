/* fuzz_csv.c: triage's CSV reader, for the HSDS resource directories that
 * community partners publish.
 *
 * For any input file this target checks that:
 * - reading ends, at the end of the file or with an error that names a
 *   line, and records start on lines that only go forward;
 * - the records it read, written back as CSV with every field quoted (a
 *   quote doubled, fields separated by commas, records by CRLF), read back
 *   to the very same records, with no error.
 * So whatever a partner's file holds, what the reader makes of it is a
 * fixed point of writing and reading, and a well-formed file never
 * surprises it.
 */
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "fuzz.h"

enum {
    FUZZ_INPUT_MAX = 1 << 16,
    FUZZ_PATH = 600, /* a fuzz_tempdir() path and a file name */
    FUZZ_ERR = 256,
};

static char s_input[FUZZ_PATH];
static char s_again[FUZZ_PATH];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = fuzz_tempdir("csv");
    snprintf(s_input, sizeof s_input, "%s/input.csv", dir);
    snprintf(s_again, sizeof s_again, "%s/again.csv", dir);
    return 0;
}

/* The records read, each field copied, in one growing list. */
typedef struct {
    char **fields;
    size_t *counts; /* fields per record */
    size_t records, fields_used;
    size_t records_cap, fields_cap;
} records_t;

static void s_add(records_t *r, char **fields, size_t count)
{
    if (r->records == r->records_cap) {
        r->records_cap = r->records_cap ? 2 * r->records_cap : 16;
        r->counts = realloc(r->counts, r->records_cap * sizeof *r->counts);
        FUZZ_CHECK(r->counts, "out of memory");
    }
    if (r->fields_used + count > r->fields_cap) {
        while (r->fields_used + count > r->fields_cap)
            r->fields_cap = r->fields_cap ? 2 * r->fields_cap : 64;
        r->fields = realloc(r->fields, r->fields_cap * sizeof *r->fields);
        FUZZ_CHECK(r->fields, "out of memory");
    }
    r->counts[r->records++] = count;
    for (size_t i = 0; i < count; i++) {
        r->fields[r->fields_used] = strdup(fields[i]);
        FUZZ_CHECK(r->fields[r->fields_used], "out of memory");
        r->fields_used++;
    }
}

static void s_free(records_t *r)
{
    for (size_t i = 0; i < r->fields_used; i++)
        free(r->fields[i]);
    free(r->fields);
    free(r->counts);
}

/* Reads `path` into `out`. Returns 0 at the end of the file, or -1 with
 * the reader's message in `err`. */
static int s_read(const char *path, records_t *out, char *err, size_t errlen)
{
    csv_reader_t *reader = csv_reader_new(path, err, errlen);
    FUZZ_CHECK(reader, "cannot open %s: %s", path, err);
    long last_line = 0;
    int rc;
    char **fields;
    size_t count;
    long line;
    while ((rc = csv_reader_next(reader, &fields, &count, &line, err, errlen)) == 1) {
        FUZZ_CHECK(line > last_line, "a record starts on line %ld, after one on line %ld", line,
                   last_line);
        last_line = line;
        s_add(out, fields, count);
    }
    csv_reader_destroy(&reader);
    FUZZ_CHECK(rc == 0 || rc == -1, "csv_reader_next returned %d", rc);
    if (rc == -1)
        FUZZ_CHECK(err[0] && strstr(err, "line"), "an error that names no line: \"%s\"", err);
    return rc;
}

static void s_write_quoted(const records_t *r, const char *path)
{
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f, "cannot write %s", path);
    size_t at = 0;
    for (size_t i = 0; i < r->records; i++) {
        for (size_t k = 0; k < r->counts[i]; k++, at++) {
            fputs(k ? ",\"" : "\"", f);
            for (const char *c = r->fields[at]; *c; c++) {
                if (*c == '"')
                    fputc('"', f);
                fputc(*c, f);
            }
            fputc('"', f);
        }
        fputs("\r\n", f);
    }
    FUZZ_CHECK(fclose(f) == 0, "cannot write %s", path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_MAX)
        return 0;
    FILE *f = fopen(s_input, "wb");
    FUZZ_CHECK(f && fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write %s", s_input);
    records_t first = {0}, second = {0};
    char err[FUZZ_ERR] = "";
    s_read(s_input, &first, err, sizeof err);
    s_write_quoted(&first, s_again);
    err[0] = '\0';
    FUZZ_CHECK(s_read(s_again, &second, err, sizeof err) == 0,
               "the records read, written back quoted, are refused: %s", err);
    FUZZ_CHECK(second.records == first.records, "%zu records read back as %zu", first.records,
               second.records);
    size_t at = 0;
    for (size_t i = 0; i < first.records; i++) {
        FUZZ_CHECK(second.counts[i] == first.counts[i],
                   "record %zu had %zu fields, read back with %zu", i + 1, first.counts[i],
                   second.counts[i]);
        for (size_t k = 0; k < first.counts[i]; k++, at++)
            FUZZ_CHECK(strcmp(first.fields[at], second.fields[at]) == 0,
                       "record %zu, field %zu changed on its way back", i + 1, k + 1);
    }
    s_free(&first);
    s_free(&second);
    return 0;
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    static const char *const files[] = {
        "id,name,description\r\n1,\"Harbor House\",\"Shelter, 24/7 \"\"walk-in\"\"\"\r\n",
        "\xEF\xBB\xBFid,organization_id,name\n2,org-1,Legal aid\n",
        "id,note\n3,\"spans\ntwo lines\"\n4,last without newline",
        "a,\"unterminated\n",
        "a,b\"c\n",
        "\n\n,,\n",
    };
    fuzz_emit_texts(emit, ctx, files, sizeof files / sizeof files[0]);
}
