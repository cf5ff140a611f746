/* util.c: clocks, random ids and hex, the few helpers every service needs.
 *
 * Randomness comes only from libsodium (the kernel CSPRNG behind it), never
 * from rand(). Nothing here allocates, logs, or fails: if libsodium cannot
 * initialise, the process cannot make safe ids or keys and aborts rather
 * than carry on with predictable ones.
 */
#include "vigil/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

enum {
    UTIL_MS_PER_S = 1000,
    UTIL_NS_PER_MS = 1000000,
    UTIL_NS_PER_S = 1000000000,
};

static const char s_hex_digits[] = "0123456789abcdef";

/* Makes sure libsodium is initialised; sodium_init() is idempotent and
 * thread-safe. Aborts when the CSPRNG is unusable. */
static void s_sodium_ready(void)
{
    if (sodium_init() < 0) {
        fputs("vigil: libsodium failed to initialise; refusing to continue without a CSPRNG\n",
              stderr);
        abort();
    }
}

size_t util_copy(char *out, size_t size, const char *text)
{
    size_t len = text ? strnlen(text, size - 1) : 0;
    memcpy(out, text ? text : "", len);
    out[len] = '\0';
    return len;
}

int64_t util_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * UTIL_MS_PER_S + now.tv_nsec / UTIL_NS_PER_MS;
}

uint64_t util_mono_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * UTIL_NS_PER_S + (uint64_t)now.tv_nsec;
}

void util_random_id(uint8_t id[VIGIL_ID_BYTES])
{
    s_sodium_ready();
    randombytes_buf(id, VIGIL_ID_BYTES);
}

void util_hex(const uint8_t *bytes, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = s_hex_digits[bytes[i] >> 4];
        out[2 * i + 1] = s_hex_digits[bytes[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

uint32_t util_random_below(uint32_t bound)
{
    s_sodium_ready();
    return bound == 0 ? 0 : randombytes_uniform(bound);
}

int util_fail(char *err, size_t errlen, const char *format, ...)
{
    if (err != NULL && errlen > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(err, errlen, format, args);
        va_end(args);
    }
    return -1;
}
