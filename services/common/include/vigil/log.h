/* log.h: one logfmt line per event, on stderr.
 *
 *     ts=2026-11-30T10:00:00.123Z level=info svc=intake msg="batch committed" count=42 case=c_9f..
 *
 * The format string is a list of logfmt pairs whose values are printf
 * conversions: "count=%d case=%s". Each value is escaped (quoted when it has
 * spaces, quotes or '='). A key that names personal data (see
 * pii_is_forbidden_key) makes the helper refuse the whole line: it prints a
 * level=error line naming the refused key and the call site, never the value.
 * Supported conversions: %s %d %i %u %ld %lu %lld %llu %zu %zd %x %f %g %p %c
 * and %% (plus flags, width, precision and '*', %X %o %e %E %G %F, and the
 * hh h j t modifiers). A value may mix text and conversions ("ratio=%d/%d");
 * keys must be literal [A-Za-z0-9_.-]. Control characters in values are
 * escaped (\n, \x07), so a value can never start a second line. A line is
 * at most 4096 bytes and one value at most 1024 before escaping; longer
 * lines are cut and end with truncated=true.
 * Thread-safe: each line is written with one write(2).
 *
 * A refused line is replaced by:
 *   ts=... level=error svc=intake msg="log line refused: key names personal data"
 *       refused_key=phone site=services/intake/x.c:42
 */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

#include <stdarg.h>

typedef enum {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
} log_level_t;

/* Sets the service name printed as svc= (default: the program name) and the
 * lowest level printed (default info). Call once at start-up, before other
 * threads log. Cannot fail. */
void log_init(const char *service, log_level_t min_level);

/* Changes the lowest level printed (for SIGHUP reloads). Cannot fail. */
void log_set_level(log_level_t min_level);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 if unknown. */
int log_level_parse(const char *text, log_level_t *level);

/* Redirects output to `fd` (tests); -1 restores stderr. Cannot fail. */
void log_set_fd(int fd);

/* Emits one line. `msg` is a constant human sentence; `pairs` is a logfmt
 * format as above, or NULL. Keys are checked even when `level` is below the
 * minimum, so a personal key is caught by any test that reaches the call.
 * Returns 0 (also when filtered out by level), or -1 if the line was refused
 * because a key names personal data or the pairs format is malformed or
 * uses an unsupported conversion (an error line is printed instead). */
int log_emit(log_level_t level, const char *file, int line, const char *msg, const char *pairs, ...)
    __attribute__((format(printf, 5, 6)));

#define log_debug(msg, ...) log_emit(LOG_LEVEL_DEBUG, __FILE__, __LINE__, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_emit(LOG_LEVEL_INFO, __FILE__, __LINE__, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_emit(LOG_LEVEL_WARN, __FILE__, __LINE__, msg, __VA_ARGS__)
#define log_error(msg, ...) log_emit(LOG_LEVEL_ERROR, __FILE__, __LINE__, msg, __VA_ARGS__)

#endif
