/* table.c: aligned text tables for vigilctl's human output.
 *
 * Rows are collected first, then printed with each column as wide as its
 * widest cell (counted in UTF-8 characters, not bytes). Cells come from
 * service replies, so control characters are replaced: a reply must never
 * be able to move the cursor or recolour an operator's terminal.
 */
#include <stdlib.h>
#include <string.h>

#include "vigilctl.h"

enum {
    TABLE_INITIAL_ROWS = 16,
    TABLE_GAP = 2,              /* spaces between columns */
    TABLE_CONTROL_LIMIT = 0x20, /* bytes below this are control characters */
    TABLE_DELETE = 0x7f,
    TABLE_UTF8_CONTINUATION_MASK = 0xC0,
    TABLE_UTF8_CONTINUATION = 0x80,
};

struct ctl_table_t {
    size_t columns;
    char **cells; /* rows * columns, row-major; row 0 is the header if any */
    size_t rows;
    size_t capacity;
    bool has_header;
};

/* A copy of `text` with control characters shown as '?'. */
static char *s_clean_copy(const char *text)
{
    char *copy = strdup(text ? text : "-");
    if (!copy)
        return NULL;
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p < TABLE_CONTROL_LIMIT || *p == TABLE_DELETE)
            *p = '?';
    return copy;
}

/* Display width: UTF-8 code points. */
static size_t s_width(const char *text)
{
    size_t width = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p & TABLE_UTF8_CONTINUATION_MASK) != TABLE_UTF8_CONTINUATION)
            width++;
    return width;
}

static int s_append(ctl_table_t *table, const char *const *cells)
{
    if (table->rows == table->capacity) {
        size_t capacity = table->capacity ? 2 * table->capacity : TABLE_INITIAL_ROWS;
        char **grown = realloc(table->cells, capacity * table->columns * sizeof *grown);
        if (!grown)
            return -1;
        table->cells = grown;
        table->capacity = capacity;
    }
    char **row = table->cells + table->rows * table->columns;
    for (size_t c = 0; c < table->columns; c++) {
        row[c] = s_clean_copy(cells[c]);
        if (!row[c]) {
            while (c-- > 0)
                free(row[c]);
            return -1;
        }
    }
    table->rows++;
    return 0;
}

ctl_table_t *ctl_table_new(size_t columns, const char *const *headers)
{
    if (columns == 0)
        return NULL;
    ctl_table_t *table = calloc(1, sizeof *table);
    if (!table)
        return NULL;
    table->columns = columns;
    if (headers) {
        if (s_append(table, headers) != 0) {
            ctl_table_destroy(&table);
            return NULL;
        }
        table->has_header = true;
    }
    return table;
}

int ctl_table_add(ctl_table_t *table, const char *const *cells)
{
    if (!table || !cells)
        return -1;
    return s_append(table, cells);
}

size_t ctl_table_rows(const ctl_table_t *table)
{
    if (!table)
        return 0;
    return table->rows - (table->has_header ? 1 : 0);
}

void ctl_table_print(const ctl_table_t *table, FILE *out, int indent)
{
    if (!table)
        return;
    size_t *widths = calloc(table->columns, sizeof *widths);
    if (!widths)
        return;
    for (size_t r = 0; r < table->rows; r++)
        for (size_t c = 0; c < table->columns; c++) {
            size_t w = s_width(table->cells[r * table->columns + c]);
            if (w > widths[c])
                widths[c] = w;
        }
    for (size_t r = 0; r < table->rows; r++) {
        fprintf(out, "%*s", indent, "");
        for (size_t c = 0; c < table->columns; c++) {
            const char *cell = table->cells[r * table->columns + c];
            fputs(cell, out);
            if (c + 1 < table->columns)
                fprintf(out, "%*s", (int)(widths[c] - s_width(cell) + TABLE_GAP), "");
        }
        fputc('\n', out);
    }
    free(widths);
}

void ctl_table_destroy(ctl_table_t **table_p)
{
    if (!table_p || !*table_p)
        return;
    ctl_table_t *table = *table_p;
    for (size_t i = 0; i < table->rows * table->columns; i++)
        free(table->cells[i]);
    free(table->cells);
    free(table);
    *table_p = NULL;
}
