/* line_reader.c: non-blocking line splitting over a file descriptor.
 *
 * Keeps one buffer of at most max_line + one read's worth of bytes. Before
 * each read it asks poll() whether the descriptor has data, so a pipe with
 * nothing to say never blocks the caller. A line that outgrows the limit is
 * dropped byte by byte until its newline, then reported as too long, so
 * memory stays bounded whatever the input.
 */
#include "line_reader.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    LINE_READER_CHUNK = 65536, /* bytes asked of each read() */
};

struct line_reader_t {
    int fd;
    size_t max_line;
    char *buffer;
    size_t capacity;
    size_t start;    /* first byte not yet handed out */
    size_t end;      /* one past the last byte read */
    size_t scanned;  /* bytes from start already known to hold no newline */
    bool eof;        /* read() returned 0 */
    bool discarding; /* inside a line that is too long */
};

line_reader_t *line_reader_new(int fd, size_t max_line)
{
    line_reader_t *reader = calloc(1, sizeof *reader);
    if (reader == NULL) {
        return NULL;
    }
    reader->fd = fd;
    reader->max_line = max_line;
    reader->capacity = max_line + LINE_READER_CHUNK + 1;
    reader->buffer = malloc(reader->capacity);
    if (reader->buffer == NULL) {
        free(reader);
        return NULL;
    }
    return reader;
}

void line_reader_destroy(line_reader_t **reader_p)
{
    if (*reader_p != NULL) {
        free((*reader_p)->buffer);
        free(*reader_p);
        *reader_p = NULL;
    }
}

/* Hands out buffer[start, stop) as a line and moves past `skip` more bytes. */
static int s_emit(line_reader_t *r, size_t stop, size_t skip, const char **line, size_t *len,
                  bool *too_long)
{
    size_t n = stop - r->start;
    if (n > 0 && r->buffer[r->start + n - 1] == '\r') {
        n--;
    }
    *too_long = r->discarding;
    *line = r->buffer + r->start;
    *len = r->discarding ? 0 : n;
    r->buffer[r->start + n] = '\0';
    r->start = stop + skip;
    r->scanned = 0;
    r->discarding = false;
    return LINE_READER_LINE;
}

int line_reader_next(line_reader_t *r, const char **line, size_t *len, bool *too_long)
{
    for (;;) {
        char *from = r->buffer + r->start + r->scanned;
        char *newline = memchr(from, '\n', r->end - r->start - r->scanned);
        if (newline != NULL) {
            /* Over the limit even when it arrived whole with its newline. */
            if ((size_t)(newline - (r->buffer + r->start)) > r->max_line) {
                r->discarding = true;
            }
            return s_emit(r, (size_t)(newline - r->buffer), 1, line, len, too_long);
        }
        r->scanned = r->end - r->start;
        if (r->scanned > r->max_line) {
            /* Too long: forget what we have, remember to report it. */
            r->discarding = true;
            r->start = r->end = r->scanned = 0;
        }
        if (r->eof) {
            if (r->end > r->start || r->discarding) {
                return s_emit(r, r->end, 0, line, len, too_long);
            }
            return LINE_READER_EOF;
        }
        /* Make room: move the unfinished line to the front. */
        if (r->start > 0) {
            memmove(r->buffer, r->buffer + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        int ready = poll(&pfd, 1, 0);
        if (ready == 0) {
            return LINE_READER_WAIT;
        }
        if (ready < 0) {
            return errno == EINTR ? LINE_READER_WAIT : LINE_READER_ERROR;
        }
        ssize_t n = read(r->fd, r->buffer + r->end, r->capacity - 1 - r->end);
        if (n < 0) {
            return (errno == EINTR || errno == EAGAIN) ? LINE_READER_WAIT : LINE_READER_ERROR;
        }
        if (n == 0) {
            r->eof = true;
        }
        r->end += (size_t)n;
    }
}
