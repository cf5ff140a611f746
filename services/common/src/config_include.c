/* config_include.c: refuses an @include that libconfig 1.5 cannot survive.
 *
 * The scan follows libconfig 1.5's lexer (scanner.l) closely enough to
 * find exactly the directives it would follow: "@include" at the start of a
 * line after blanks, then blanks and a double-quoted path in which only \\
 * and \" are escapes. Text in a string (which may span lines) or in a
 * comment ("#", "//" to the end of the line, "/" "*" to "*" "/") holds no
 * directive. libconfig resolves an included path as include_dir + "/" +
 * path, whatever the path, and takes its include_dir for every level, so
 * this does the same. It never opens a path before stat() says it is a
 * regular file, so a FIFO cannot block it.
 */
#include "config_include.h"
#include "vigil/util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char s_directive[] = "@include";

/* Where the scan of one file stands. */
typedef enum { LEX_CODE, LEX_STRING, LEX_COMMENT } lex_state_t;

/* What a file that is not a regular one is, for messages. */
static const char *s_kind(mode_t mode)
{
    if (S_ISDIR(mode)) {
        return "a folder";
    }
    if (S_ISFIFO(mode)) {
        return "a FIFO";
    }
    if (S_ISSOCK(mode)) {
        return "a socket";
    }
    if (S_ISCHR(mode) || S_ISBLK(mode)) {
        return "a device";
    }
    return "not a plain file";
}

/* Reads the regular file `path` whole into *text (the caller's to free;
 * NUL-terminated, but it may hold NULs too) and its length into *len.
 * Returns 0, or -1 with errno set. */
static int s_slurp(const char *path, char **text, size_t *len)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return -1;
    }
    char *buffer = NULL;
    FILE *sink = open_memstream(&buffer, len);
    char chunk[4096];
    size_t got;
    while (sink != NULL && (got = fread(chunk, 1, sizeof chunk, file)) > 0) {
        fwrite(chunk, 1, got, sink);
    }
    int failed = sink == NULL || ferror(file);
    int saved = errno;
    fclose(file);
    if (sink != NULL && fclose(sink) != 0) {
        failed = 1;
    }
    if (failed) {
        free(buffer);
        errno = saved != 0 ? saved : EIO;
        return -1;
    }
    *text = buffer;
    return 0;
}

/* Length of the directive's opening ("@include", blanks, the quote) when
 * `line` (at a line start) begins one, else 0. */
static size_t s_directive_at(const char *line)
{
    const char *p = line + strspn(line, " \t");
    if (strncmp(p, s_directive, sizeof s_directive - 1) != 0) {
        return 0;
    }
    const char *q = p + sizeof s_directive - 1;
    size_t blanks = strspn(q, " \t");
    if (blanks == 0 || q[blanks] != '"') {
        return 0;
    }
    return (size_t)(q + blanks + 1 - line);
}

/* Copies the quoted path starting at `p` (just after the quote) into
 * `out`, undoing \\ and \". libconfig keeps the path as a C string, so it
 * ends at a NUL byte, if any, though the directive goes on to the quote.
 * Returns the position after the closing quote, or NULL when there is none
 * before `end` (libconfig then reports the syntax error) or the path does
 * not fit. Counts the newlines inside it into *line. */
static const char *s_quoted(const char *p, const char *end, char *out, size_t outlen, int *line)
{
    size_t n = 0;
    bool ended = false;
    for (; p < end && *p != '"'; p++) {
        if (*p == '\\' && p + 1 < end && (p[1] == '\\' || p[1] == '"')) {
            p++;
        }
        *line += *p == '\n';
        ended |= *p == '\0';
        if (!ended) {
            if (n + 1 >= outlen) {
                return NULL;
            }
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return p < end ? p + 1 : NULL;
}

static int s_scan(const char *path, const char *dir, int depth, char *err, size_t errlen);

/* Checks the directive naming `name` at `file`:`line`, then the file it
 * names. Returns 0 or -1 (with `err` set). */
static int s_follow(const char *file, int line, const char *name, const char *dir, int depth,
                    char *err, size_t errlen)
{
    if (name[0] == '/') {
        return util_fail(
            err, errlen,
            "%s:%d: @include \"%s\": an absolute path is not followed; libconfig reads "
            "every included path from %s, the config file's folder, so write it "
            "relative to that",
            file, line, name, dir);
    }
    char full[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, name) >= sizeof full) {
        return util_fail(err, errlen, "%s:%d: @include \"%s\": the path is too long", file, line,
                         name);
    }
    struct stat info;
    if (stat(full, &info) != 0) {
        return util_fail(err, errlen, "%s:%d: @include \"%s\": cannot read %s: %s", file, line,
                         name, full, strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) {
        return util_fail(err, errlen,
                         "%s:%d: @include \"%s\": %s is %s; only a regular file can be included",
                         file, line, name, full, s_kind(info.st_mode));
    }
    /* Deeper than libconfig goes, it reports the nesting itself. */
    return depth + 1 < CONFIG_INCLUDE_DEPTH_MAX ? s_scan(full, dir, depth + 1, err, errlen) : 0;
}

/* A walk over libconfig text that stops at each @include directive. */
typedef struct {
    const char *p, *end;
    lex_state_t state;
    bool line_start;
    int line; /* 1-based line of `p` */
} lexer_t;

static void s_lexer_init(lexer_t *lexer, const char *text, size_t len)
{
    *lexer =
        (lexer_t){.p = text, .end = text + len, .state = LEX_CODE, .line_start = true, .line = 1};
}

/* Finds the next directive libconfig would follow: copies its path into
 * `name` (see s_quoted) and its line into *at, and returns true. Returns
 * false at the end of the text, or at a directive libconfig itself refuses
 * (unterminated, or a path longer than `namelen`): it stops there. */
static bool s_next_directive(lexer_t *lexer, char *name, size_t namelen, int *at)
{
    const char *p = lexer->p, *end = lexer->end;
    while (p < end) {
        size_t opening = lexer->state == LEX_CODE && lexer->line_start ? s_directive_at(p) : 0;
        lexer->line_start = false;
        if (opening > 0) {
            *at = lexer->line;
            const char *after = s_quoted(p + opening, end, name, namelen, &lexer->line);
            lexer->p = after != NULL ? after : end;
            return after != NULL;
        }
        switch (lexer->state) {
        case LEX_CODE:
            if (*p == '"') {
                lexer->state = LEX_STRING;
            } else if (*p == '/' && p + 1 < end && p[1] == '*') {
                lexer->state = LEX_COMMENT;
                p++;
            } else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
                const char *newline = memchr(p, '\n', (size_t)(end - p));
                p = newline != NULL ? newline : end;
                continue;
            }
            break;
        case LEX_STRING:
            if (*p == '\\' && p + 1 < end) {
                p++; /* an escaped newline is still counted below */
            } else if (*p == '"') {
                lexer->state = LEX_CODE;
            }
            break;
        case LEX_COMMENT:
            if (*p == '*' && p + 1 < end && p[1] == '/') {
                lexer->state = LEX_CODE;
                p++;
            }
            break;
        }
        if (*p == '\n') {
            lexer->line++;
            lexer->line_start = true;
        }
        p++;
    }
    lexer->p = end;
    return false;
}

/* Checks every directive in the regular file `path`, at include `depth`. */
static int s_scan(const char *path, const char *dir, int depth, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    if (s_slurp(path, &text, &len) != 0) {
        return util_fail(err, errlen, "%s: cannot read %s: %s", path,
                         depth == 0 ? "the config file" : "this included file", strerror(errno));
    }
    lexer_t lexer;
    s_lexer_init(&lexer, text, len);
    char name[PATH_MAX];
    int at = 0, rc = 0;
    while (rc == 0 && s_next_directive(&lexer, name, sizeof name, &at)) {
        rc = s_follow(path, at, name, dir, depth, err, errlen);
    }
    free(text);
    return rc;
}

int config_include_line(const char *text)
{
    lexer_t lexer;
    s_lexer_init(&lexer, text, strlen(text));
    char name[PATH_MAX];
    int at = 0;
    return s_next_directive(&lexer, name, sizeof name, &at) ? at : 0;
}

int config_check_includes(const char *path, const char *dir, char *err, size_t errlen)
{
    struct stat info;
    if (stat(path, &info) != 0) {
        return util_fail(err, errlen, "%s: cannot read the config file: %s", path, strerror(errno));
    }
    if (!S_ISREG(info.st_mode)) {
        return util_fail(err, errlen,
                         "%s: cannot read the config file: it is %s, not a regular file", path,
                         s_kind(info.st_mode));
    }
    return s_scan(path, dir, 0, err, errlen);
}
