/* line_reader.h: reads input lines without ever blocking.
 *
 * vigil-publish must keep answering its socket (resends, reconnects) while
 * it waits for a slow producer on a pipe, so it cannot sit in getline().
 * This reader polls the descriptor and hands back whole lines as they
 * become available. Lines longer than a limit are skipped and reported.
 */
#ifndef PUBLISH_LINE_READER_H
#define PUBLISH_LINE_READER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct line_reader_t line_reader_t;

enum {
    LINE_READER_LINE = 1,   /* a line is ready */
    LINE_READER_WAIT = 0,   /* no whole line yet; try again later */
    LINE_READER_EOF = -1,   /* end of input, every line handed out */
    LINE_READER_ERROR = -2, /* read error (errno is set) */
};

/* A reader of `fd` (not owned: the caller closes it) for lines of at most
 * `max_line` bytes. Returns NULL if out of memory. */
line_reader_t *line_reader_new(int fd, size_t max_line);

/* Frees the reader; sets *reader_p to NULL. Cannot fail. */
void line_reader_destroy(line_reader_t **reader_p);

/* Returns LINE_READER_LINE with the next line in *line and *len (without its
 * "\n" or "\r\n"; borrowed until the next call), or WAIT, EOF or ERROR. A
 * line over the limit comes back with *too_long set and *len 0. */
int line_reader_next(line_reader_t *reader, const char **line, size_t *len, bool *too_long);

#endif
