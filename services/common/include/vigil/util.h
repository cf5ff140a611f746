/* util.h: small helpers every service needs: clocks, random ids, a
 * bounded string copy and error messages. Nothing here allocates.
 */
#ifndef VIGIL_UTIL_H
#define VIGIL_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define VIGIL_ID_BYTES 16 /* message ids: 128 random bits */

/* Wall clock, unix milliseconds. Cannot fail. */
int64_t util_now_ms(void);

/* Monotonic clock in nanoseconds, for latencies and deadlines. Cannot fail. */
uint64_t util_mono_ns(void);

/* Fills `id` with VIGIL_ID_BYTES random bytes (libsodium). Cannot fail: if
 * libsodium cannot start, the process aborts rather than make guessable ids. */
void util_random_id(uint8_t id[VIGIL_ID_BYTES]);

/* Writes 2*len lowercase hex digits and a NUL into `out`. Cannot fail. */
void util_hex(const uint8_t *bytes, size_t len, char *out);

/* A uniformly random integer in [0, bound) (libsodium, no modulo bias);
 * 0 when bound is 0. Cannot fail. */
uint32_t util_random_below(uint32_t bound);

/* Copies `text` (NULL: "") into `out` of `size` bytes (size >= 1), cut to
 * fit and always NUL-terminated: snprintf(out, size, "%s", text) without
 * the format parsing, for hot paths. Returns the length written. Cannot
 * fail. */
size_t util_copy(char *out, size_t size, const char *text);

/* Writes a printf-style message into `err` (`errlen` bytes; nothing when
 * `err` is NULL or `errlen` 0) and returns -1, so that a function that
 * fails can `return util_fail(err, errlen, "...", ...);`. Cannot fail. */
int util_fail(char *err, size_t errlen, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

#endif
