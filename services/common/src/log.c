/* log.c: one logfmt line per event, written with one write(2).
 *
 *     ts=2026-11-30T10:00:00.123Z level=info svc=intake msg="batch committed" count=42
 *
 * Callers pass a logfmt "pairs" format ("count=%d case=%s"). This file parses
 * it key by key, formats each value on its own and escapes it, so a value can
 * never forge another key or a second line. Before any value is formatted,
 * every key is checked against pii_is_forbidden_key(): one personal key
 * refuses the whole line, and the error line that replaces it names the key
 * and the call site, never the value. This file must never print a value
 * for a refused line, and never split one event over two write(2) calls.
 */
#include "vigil/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "vigil/pii.h"

enum {
    LOG_LINE_MAX = 4096,  /* PIPE_BUF on Linux: a line this long is written atomically */
    LOG_VALUE_MAX = 1024, /* one formatted value before escaping */
    LOG_KEY_MAX = 64,     /* one key */
    LOG_SERVICE_MAX = 64, /* the svc= name */
    LOG_SPEC_MAX = 64,    /* one rebuilt printf conversion, e.g. "%-08.3lld" */
    LOG_TS_MAX = 32,      /* "2026-11-30T10:00:00.123Z" and a NUL */
    LOG_NS_PER_MS = 1000000,
    LOG_CONTROL_LIMIT = 0x20, /* bytes below this are control characters */
    LOG_DELETE = 0x7f,
};

/* Room kept at the end of the line for a closing quote, the truncation
 * marker and the newline. */
static const char s_truncated_marker[] = " truncated=true";
#define LOG_RESERVE (sizeof(s_truncated_marker) + 2)

static const char *const s_level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};

/* Accepted spellings for log_level_parse(). */
static const struct {
    const char *text;
    log_level_t level;
} s_level_words[] = {
    {"debug", LOG_LEVEL_DEBUG},  {"info", LOG_LEVEL_INFO},   {"warn", LOG_LEVEL_WARN},
    {"warning", LOG_LEVEL_WARN}, {"error", LOG_LEVEL_ERROR},
};

/* What va_arg type a conversion character consumes. */
typedef enum {
    LOG_ARG_NONE = 0, /* not a supported conversion */
    LOG_ARG_SIGNED,
    LOG_ARG_UNSIGNED,
    LOG_ARG_DOUBLE,
    LOG_ARG_STRING,
    LOG_ARG_CHAR,
    LOG_ARG_POINTER,
} log_arg_t;

static const log_arg_t s_conversions[UINT8_MAX + 1] = {
    ['d'] = LOG_ARG_SIGNED,   ['i'] = LOG_ARG_SIGNED,   ['u'] = LOG_ARG_UNSIGNED,
    ['x'] = LOG_ARG_UNSIGNED, ['X'] = LOG_ARG_UNSIGNED, ['o'] = LOG_ARG_UNSIGNED,
    ['f'] = LOG_ARG_DOUBLE,   ['F'] = LOG_ARG_DOUBLE,   ['g'] = LOG_ARG_DOUBLE,
    ['G'] = LOG_ARG_DOUBLE,   ['e'] = LOG_ARG_DOUBLE,   ['E'] = LOG_ARG_DOUBLE,
    ['s'] = LOG_ARG_STRING,   ['c'] = LOG_ARG_CHAR,     ['p'] = LOG_ARG_POINTER,
};

/* Length modifiers, longest first so "ll" wins over "l". */
typedef enum {
    LOG_LEN_NONE,
    LOG_LEN_HH,
    LOG_LEN_H,
    LOG_LEN_L,
    LOG_LEN_LL,
    LOG_LEN_Z,
    LOG_LEN_J,
    LOG_LEN_T,
    LOG_LEN_BIG_L,
} log_length_t;

static const struct {
    const char *text;
    log_length_t length;
} s_length_modifiers[] = {
    {"hh", LOG_LEN_HH}, {"ll", LOG_LEN_LL}, {"h", LOG_LEN_H}, {"l", LOG_LEN_L},
    {"z", LOG_LEN_Z},   {"j", LOG_LEN_J},   {"t", LOG_LEN_T}, {"L", LOG_LEN_BIG_L},
};

static const char s_flag_chars[] = "-+ #0";
static const char s_key_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
static const char s_hex_digits[] = "0123456789abcdef";

static char s_service[LOG_SERVICE_MAX] = "";
static atomic_int s_min_level = LOG_LEVEL_INFO;
static atomic_int s_fd = -1;

/* The line being built. Writes past the room are dropped and remembered. */
typedef struct {
    char text[LOG_LINE_MAX];
    size_t len;
    bool truncated; /* the line is full: nothing more is appended */
    bool cut;       /* a value was shortened to LOG_VALUE_MAX */
} log_line_t;

static size_t s_room(const log_line_t *line)
{
    return sizeof(line->text) - LOG_RESERVE - line->len;
}

/* Appends `len` bytes, all or nothing. */
static bool s_put(log_line_t *line, const char *bytes, size_t len)
{
    if (line->truncated || len > s_room(line)) {
        line->truncated = true;
        return false;
    }
    memcpy(line->text + line->len, bytes, len);
    line->len += len;
    return true;
}

static void s_puts(log_line_t *line, const char *text)
{
    s_put(line, text, strlen(text));
}

static bool s_needs_quotes(const char *value, size_t len)
{
    if (len == 0) {
        return true;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == LOG_DELETE) {
            return true;
        }
    }
    return false;
}

/* Appends a value, quoted and escaped when logfmt needs it. A value cut by
 * the line limit still gets its closing quote. */
static void s_put_value(log_line_t *line, const char *value, size_t len, bool force_quotes)
{
    bool quoted = force_quotes || s_needs_quotes(value, len);
    if (!quoted) {
        s_put(line, value, len);
        return;
    }
    if (!s_put(line, "\"", 1)) {
        return;
    }
    for (size_t i = 0; i < len && !line->truncated; i++) {
        unsigned char c = (unsigned char)value[i];
        char escaped[5] = {(char)c, 0, 0, 0, 0};
        size_t escaped_len = 1;
        if (c == '"' || c == '\\') {
            escaped[0] = '\\';
            escaped[1] = (char)c;
            escaped_len = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            escaped[0] = '\\';
            escaped[1] = c == '\n' ? 'n' : (c == '\r' ? 'r' : 't');
            escaped_len = 2;
        } else if (c < LOG_CONTROL_LIMIT || c == LOG_DELETE) {
            escaped[0] = '\\';
            escaped[1] = 'x';
            escaped[2] = s_hex_digits[c >> 4];
            escaped[3] = s_hex_digits[c & 0x0f];
            escaped_len = 4;
        }
        s_put(line, escaped, escaped_len);
    }
    /* The closing quote always fits: LOG_RESERVE keeps room for it. */
    line->text[line->len++] = '"';
}

static void s_put_pair(log_line_t *line, const char *key, const char *value, bool force_quotes)
{
    s_puts(line, " ");
    s_puts(line, key);
    s_puts(line, "=");
    s_put_value(line, value, strlen(value), force_quotes);
}

static void s_timestamp(char out[LOG_TS_MAX])
{
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    size_t len = strftime(out, LOG_TS_MAX, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(out + len, LOG_TS_MAX - len, ".%03ldZ", (long)(now.tv_nsec / LOG_NS_PER_MS));
}

static const char *s_service_name(void)
{
    return s_service[0] != '\0' ? s_service : program_invocation_short_name;
}

/* Starts a line with ts, level, svc and msg. */
static void s_begin(log_line_t *line, log_level_t level, const char *msg)
{
    char ts[LOG_TS_MAX];
    s_timestamp(ts);
    line->len = 0;
    line->truncated = false;
    line->cut = false;
    s_puts(line, "ts=");
    s_puts(line, ts);
    s_put_pair(line, "level", s_level_names[level], false);
    s_put_pair(line, "svc", s_service_name(), false);
    s_put_pair(line, "msg", msg != NULL ? msg : "", true);
}

/* Ends the line and writes it with one write(2), retrying on EINTR. */
static void s_finish(log_line_t *line)
{
    if (line->truncated || line->cut) {
        memcpy(line->text + line->len, s_truncated_marker, sizeof(s_truncated_marker) - 1);
        line->len += sizeof(s_truncated_marker) - 1;
    }
    line->text[line->len++] = '\n';
    int fd = atomic_load(&s_fd);
    if (fd < 0) {
        fd = STDERR_FILENO;
    }
    size_t done = 0;
    while (done < line->len) {
        ssize_t wrote = write(fd, line->text + done, line->len - done);
        if (wrote < 0) {
            if (errno == EINTR) {
                continue;
            }
            return; /* nowhere left to report a failing log */
        }
        done += (size_t)wrote;
    }
}

/* Why a line was refused: a personal key (named), or a pairs format this
 * file cannot parse (its byte offset; the format is code, the values are
 * never looked at). */
typedef struct {
    const char *why;
    char key[LOG_KEY_MAX]; /* "" unless a key was refused */
    long offset;           /* where in the pairs format the problem is */
} log_problem_t;

/* Prints the error line that replaces a refused one. Names the key (a
 * constant from the source, never a value) and the call site. */
static void s_refuse(const log_problem_t *problem, const char *file, int line_number)
{
    log_line_t line;
    char site[LOG_VALUE_MAX];
    char offset[LOG_KEY_MAX];
    snprintf(site, sizeof(site), "%s:%d", file != NULL ? file : "?", line_number);
    snprintf(offset, sizeof(offset), "%ld", problem->offset);
    s_begin(&line, LOG_LEVEL_ERROR, problem->why);
    if (problem->key[0] != '\0') {
        s_put_pair(&line, "refused_key", problem->key, false);
    } else {
        s_put_pair(&line, "pairs_offset", offset, false);
    }
    s_put_pair(&line, "site", site, false);
    s_finish(&line);
}

/* One parsed printf conversion. */
typedef struct {
    char spec[LOG_SPEC_MAX]; /* rebuilt conversion with '*' replaced */
    log_arg_t arg;
    log_length_t length;
    size_t consumed; /* characters of the pairs format used */
    int star_count;  /* how many '*' (each takes an int argument) */
} log_conversion_t;

/* Parses the conversion that starts at `format` (on its '%'). Returns 0,
 * or -1 if it is not one this file supports. Does not consume arguments. */
static int s_parse_conversion(const char *format, log_conversion_t *conv)
{
    const char *p = format + 1;
    memset(conv, 0, sizeof(*conv));
    p += strspn(p, s_flag_chars);
    for (int part = 0; part < 2; part++) { /* width, then precision */
        if (part == 1) {
            if (*p != '.') {
                break;
            }
            p++;
        }
        if (*p == '*') {
            conv->star_count++;
            p++;
        } else {
            p += strspn(p, "0123456789");
        }
    }
    conv->length = LOG_LEN_NONE;
    for (size_t i = 0; i < sizeof(s_length_modifiers) / sizeof(s_length_modifiers[0]); i++) {
        size_t len = strlen(s_length_modifiers[i].text);
        if (strncmp(p, s_length_modifiers[i].text, len) == 0) {
            conv->length = s_length_modifiers[i].length;
            p += len;
            break;
        }
    }
    conv->arg = s_conversions[(unsigned char)*p];
    if (conv->arg == LOG_ARG_NONE) {
        return -1;
    }
    if (conv->length == LOG_LEN_BIG_L && conv->arg != LOG_ARG_DOUBLE) {
        return -1;
    }
    if ((conv->arg == LOG_ARG_STRING || conv->arg == LOG_ARG_CHAR ||
         conv->arg == LOG_ARG_POINTER) &&
        conv->length != LOG_LEN_NONE) {
        return -1; /* wide strings and characters are not supported */
    }
    p++;
    conv->consumed = (size_t)(p - format);
    if (conv->consumed >= sizeof(conv->spec)) {
        return -1;
    }
    return 0;
}

/* Formats one conversion, consuming its arguments, and appends the text to
 * `out` (capacity `cap`, current length *len). Returns false if the text
 * had to be shortened. */
static bool s_format_conversion(const char *format, const log_conversion_t *conv, va_list *args,
                                char *out, size_t cap, size_t *len)
{
    /* Rebuild the spec with each '*' replaced by its int argument. */
    char spec[LOG_SPEC_MAX * 2];
    size_t spec_len = 0;
    for (size_t i = 0; i < conv->consumed && spec_len + 1 < sizeof(spec); i++) {
        if (format[i] == '*') {
            int star = va_arg(*args, int);
            int digits = snprintf(spec + spec_len, sizeof(spec) - spec_len, "%d", star);
            spec_len = digits > 0 ? spec_len + (size_t)digits : spec_len;
        } else {
            spec[spec_len++] = format[i];
        }
    }
    spec_len = spec_len < sizeof(spec) ? spec_len : sizeof(spec) - 1;
    spec[spec_len] = '\0';
    char *dest = out + *len;
    size_t room = cap - *len;
    int wrote = 0;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    switch (conv->arg) {
    case LOG_ARG_SIGNED:
        switch (conv->length) {
        case LOG_LEN_L:
            wrote = snprintf(dest, room, spec, va_arg(*args, long));
            break;
        case LOG_LEN_LL:
            wrote = snprintf(dest, room, spec, va_arg(*args, long long));
            break;
        case LOG_LEN_Z:
            wrote = snprintf(dest, room, spec, va_arg(*args, ssize_t));
            break;
        case LOG_LEN_J:
            wrote = snprintf(dest, room, spec, va_arg(*args, intmax_t));
            break;
        case LOG_LEN_T:
            wrote = snprintf(dest, room, spec, va_arg(*args, ptrdiff_t));
            break;
        default:
            wrote = snprintf(dest, room, spec, va_arg(*args, int));
            break;
        }
        break;
    case LOG_ARG_UNSIGNED:
        switch (conv->length) {
        case LOG_LEN_L:
            wrote = snprintf(dest, room, spec, va_arg(*args, unsigned long));
            break;
        case LOG_LEN_LL:
            wrote = snprintf(dest, room, spec, va_arg(*args, unsigned long long));
            break;
        case LOG_LEN_Z:
            wrote = snprintf(dest, room, spec, va_arg(*args, size_t));
            break;
        case LOG_LEN_J:
            wrote = snprintf(dest, room, spec, va_arg(*args, uintmax_t));
            break;
        case LOG_LEN_T:
            wrote = snprintf(dest, room, spec, va_arg(*args, ptrdiff_t));
            break;
        default:
            wrote = snprintf(dest, room, spec, va_arg(*args, unsigned int));
            break;
        }
        break;
    case LOG_ARG_DOUBLE:
        if (conv->length == LOG_LEN_BIG_L) {
            wrote = snprintf(dest, room, spec, va_arg(*args, long double));
        } else {
            wrote = snprintf(dest, room, spec, va_arg(*args, double));
        }
        break;
    case LOG_ARG_STRING: {
        const char *text = va_arg(*args, const char *);
        wrote = snprintf(dest, room, spec, text != NULL ? text : "(null)");
        break;
    }
    case LOG_ARG_CHAR:
        wrote = snprintf(dest, room, spec, va_arg(*args, int));
        break;
    case LOG_ARG_POINTER:
        wrote = snprintf(dest, room, spec, va_arg(*args, void *));
        break;
    case LOG_ARG_NONE:
        break;
    }
#pragma GCC diagnostic pop
    if (wrote <= 0) {
        return true;
    }
    *len += (size_t)wrote < room ? (size_t)wrote : room - 1;
    return (size_t)wrote < room;
}

/* Walks the pairs format without consuming arguments: every key must be
 * literal, well-formed and not personal; every conversion supported.
 * Returns 0, or -1 with what is wrong in `problem`. */
static int s_check_pairs(const char *pairs, log_problem_t *problem)
{
    const char *p = pairs;
    problem->key[0] = '\0';
    while (*p != '\0') {
        p += strspn(p, " ");
        if (*p == '\0') {
            break;
        }
        problem->offset = (long)(p - pairs);
        size_t key_len = strspn(p, s_key_chars);
        if (key_len == 0 || key_len >= LOG_KEY_MAX || p[key_len] != '=') {
            problem->why = "log line refused: malformed pairs format (want key=value)";
            return -1;
        }
        char key[LOG_KEY_MAX];
        snprintf(key, sizeof(key), "%.*s", (int)key_len, p);
        if (pii_is_forbidden_key(key)) {
            problem->why = "log line refused: key names personal data";
            memcpy(problem->key, key, sizeof(key));
            return -1;
        }
        p += key_len + 1;
        while (*p != '\0' && *p != ' ') {
            if (*p != '%') {
                p++;
                continue;
            }
            if (p[1] == '%') {
                p += 2;
                continue;
            }
            log_conversion_t conv;
            if (s_parse_conversion(p, &conv) < 0) {
                problem->offset = (long)(p - pairs);
                problem->why = "log line refused: unsupported printf conversion";
                return -1;
            }
            p += conv.consumed;
        }
    }
    return 0;
}

/* Appends the pairs, formatting and escaping each value on its own. The
 * format was checked by s_check_pairs(). */
static void s_put_pairs(log_line_t *line, const char *pairs, va_list *args)
{
    const char *p = pairs;
    while (*p != '\0') {
        p += strspn(p, " ");
        if (*p == '\0') {
            break;
        }
        size_t key_len = strspn(p, s_key_chars);
        char key[LOG_KEY_MAX];
        snprintf(key, sizeof(key), "%.*s", (int)key_len, p);
        p += key_len + 1;
        char value[LOG_VALUE_MAX];
        size_t len = 0;
        value[0] = '\0';
        while (*p != '\0' && *p != ' ') {
            if (*p != '%' || p[1] == '%') {
                if (len + 1 < sizeof(value)) {
                    value[len++] = *p;
                } else {
                    line->cut = true;
                }
                p += *p == '%' ? 2 : 1;
                continue;
            }
            log_conversion_t conv;
            s_parse_conversion(p, &conv);
            if (!s_format_conversion(p, &conv, args, value, sizeof(value), &len)) {
                line->cut = true;
            }
            p += conv.consumed;
        }
        value[len] = '\0';
        s_puts(line, " ");
        s_puts(line, key);
        s_puts(line, "=");
        s_put_value(line, value, len, false);
    }
}

void log_init(const char *service, log_level_t min_level)
{
    snprintf(s_service, sizeof(s_service), "%s", service != NULL ? service : "");
    log_set_level(min_level);
}

void log_set_level(log_level_t min_level)
{
    if (min_level < LOG_LEVEL_DEBUG || min_level > LOG_LEVEL_ERROR) {
        min_level = LOG_LEVEL_INFO;
    }
    atomic_store(&s_min_level, (int)min_level);
}

int log_level_parse(const char *text, log_level_t *level)
{
    if (text == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(s_level_words) / sizeof(s_level_words[0]); i++) {
        if (strcasecmp(text, s_level_words[i].text) == 0) {
            *level = s_level_words[i].level;
            return 0;
        }
    }
    return -1;
}

void log_set_fd(int fd)
{
    atomic_store(&s_fd, fd);
}

int log_emit(log_level_t level, const char *file, int line_number, const char *msg,
             const char *pairs, ...)
{
    if (level < LOG_LEVEL_DEBUG || level > LOG_LEVEL_ERROR) {
        level = LOG_LEVEL_ERROR;
    }
    /* Keys are checked even for lines below the level, so a personal key in
     * a debug line is caught by the first test that runs it. */
    if (pairs != NULL) {
        log_problem_t problem;
        if (s_check_pairs(pairs, &problem) < 0) {
            s_refuse(&problem, file, line_number);
            return -1;
        }
    }
    if ((int)level < atomic_load(&s_min_level)) {
        return 0;
    }
    log_line_t line;
    s_begin(&line, level, msg);
    if (pairs != NULL) {
        va_list args;
        va_start(args, pairs);
        s_put_pairs(&line, pairs, &args);
        va_end(args);
    }
    s_finish(&line);
    return 0;
}
