/* csv.c: the RFC 4180 record reader.
 *
 * A character-at-a-time state machine over a buffered FILE. Fields are
 * collected into one growing buffer per record; the field pointers index
 * into it. A record is capped (CSV_RECORD_MAX bytes) so a malformed file
 * cannot make the service allocate without bound.
 */
#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    CSV_RECORD_MAX = 1 << 20, /* bytes in one record */
    CSV_FIELDS_MAX = 4096,    /* fields in one record */
    CSV_INITIAL_BUFFER = 1024,
};

struct csv_reader_t {
    FILE *file;
    long line;    /* line of the next character */
    char *buffer; /* field text, each field NUL-terminated */
    size_t used, capacity;
    char **fields; /* pointers into buffer, handed out */
    size_t count;  /* fields in the current record */
    int at_start;  /* the byte-order mark has not been looked for yet */
};

csv_reader_t *csv_reader_new(const char *path, char *err, size_t errlen)
{
    csv_reader_t *reader = calloc(1, sizeof *reader);
    if (!reader) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    reader->file = fopen(path, "rb");
    if (!reader->file) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        free(reader);
        return NULL;
    }
    reader->line = 1;
    reader->at_start = 1;
    return reader;
}

void csv_reader_destroy(csv_reader_t **reader_p)
{
    if (!reader_p || !*reader_p) {
        return;
    }
    csv_reader_t *reader = *reader_p;
    if (reader->file) {
        fclose(reader->file);
    }
    free(reader->buffer);
    free(reader->fields);
    free(reader);
    *reader_p = NULL;
}

static int s_put(csv_reader_t *reader, char c)
{
    if (reader->used + 1 > CSV_RECORD_MAX) {
        return -1;
    }
    if (reader->used + 1 > reader->capacity) {
        size_t capacity = reader->capacity ? reader->capacity * 2 : CSV_INITIAL_BUFFER;
        char *grown = realloc(reader->buffer, capacity);
        if (!grown) {
            return -1;
        }
        reader->buffer = grown;
        reader->capacity = capacity;
    }
    reader->buffer[reader->used++] = c;
    return 0;
}

static int s_end_field(csv_reader_t *reader)
{
    if (reader->count >= CSV_FIELDS_MAX || s_put(reader, '\0') < 0) {
        return -1;
    }
    reader->count++;
    return 0;
}

static void s_skip_bom(csv_reader_t *reader)
{
    static const unsigned char bom[] = {0xEF, 0xBB, 0xBF};
    reader->at_start = 0;
    for (size_t i = 0; i < sizeof bom; i++) {
        if (fgetc(reader->file) != bom[i]) {
            rewind(reader->file);
            return;
        }
    }
}

typedef enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED } csv_state_t;

/* Reads one physical record into the buffer. Returns 1, 0 at a clean end of
 * file, or -1 with a message. */
static int s_read_record(csv_reader_t *reader, long start_line, char *err, size_t errlen)
{
    csv_state_t state = FIELD_START;
    int any = 0;
    reader->used = 0;
    reader->count = 0;
    for (;;) {
        int c = fgetc(reader->file);
        if (c == EOF) {
            if (state == QUOTED) {
                snprintf(err, errlen, "line %ld: quoted field not closed before end of file",
                         start_line);
                return -1;
            }
            break;
        }
        any = 1;
        if (c == '\0') {
            snprintf(err, errlen, "line %ld: NUL byte in a CSV file", reader->line);
            return -1;
        }
        if (c == '\n') {
            reader->line++;
        }
        int overflow = 0;
        switch (state) {
        case FIELD_START:
            if (c == '"') {
                state = QUOTED;
                break;
            }
            state = UNQUOTED;
            /* fall through */
        case UNQUOTED:
            if (c == ',') {
                overflow = s_end_field(reader);
                state = FIELD_START;
            } else if (c == '\n') {
                goto done;
            } else if (c == '"') {
                snprintf(err, errlen, "line %ld: stray quote inside an unquoted field",
                         reader->line);
                return -1;
            } else if (c != '\r') { /* a CR before the LF is dropped */
                overflow = s_put(reader, (char)c);
            }
            break;
        case QUOTED:
            if (c == '"') {
                state = QUOTE_IN_QUOTED;
            } else {
                overflow = s_put(reader, (char)c);
            }
            break;
        case QUOTE_IN_QUOTED:
            if (c == '"') {
                overflow = s_put(reader, '"');
                state = QUOTED;
            } else if (c == ',') {
                overflow = s_end_field(reader);
                state = FIELD_START;
            } else if (c == '\n') {
                goto done;
            } else if (c != '\r') {
                snprintf(err, errlen, "line %ld: text after a closing quote", reader->line);
                return -1;
            }
            break;
        }
        if (overflow) {
            snprintf(err, errlen, "line %ld: record larger than %d bytes or %d fields", start_line,
                     CSV_RECORD_MAX, CSV_FIELDS_MAX);
            return -1;
        }
    }
    if (!any) {
        return 0;
    }
done:
    if (s_end_field(reader) < 0) {
        snprintf(err, errlen, "line %ld: record larger than %d bytes or %d fields", start_line,
                 CSV_RECORD_MAX, CSV_FIELDS_MAX);
        return -1;
    }
    return 1;
}

int csv_reader_next(csv_reader_t *reader, char ***fields, size_t *count, long *line, char *err,
                    size_t errlen)
{
    if (reader->at_start) {
        s_skip_bom(reader);
    }
    for (;;) {
        long start_line = reader->line;
        int rc = s_read_record(reader, start_line, err, errlen);
        if (rc <= 0) {
            return rc;
        }
        if (reader->count == 1 && reader->used == 1) {
            continue; /* a blank line is not a record */
        }
        char **pointers = realloc(reader->fields, reader->count * sizeof *pointers);
        if (!pointers) {
            snprintf(err, errlen, "line %ld: out of memory", start_line);
            return -1;
        }
        reader->fields = pointers;
        size_t offset = 0;
        for (size_t i = 0; i < reader->count; i++) {
            pointers[i] = reader->buffer + offset;
            offset += strlen(reader->buffer + offset) + 1;
        }
        *fields = pointers;
        *count = reader->count;
        *line = start_line;
        return 1;
    }
}
