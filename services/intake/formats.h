/* formats.h: syntax checks for the strings upstream systems send.
 *
 * Each function answers one question about one string (is it valid UTF-8,
 * an E.164 number, an email address, a BCP-47 tag, a ZIP code ...). They
 * look at syntax only, never at meaning, and never copy or print the value:
 * the values are personal data.
 */
#ifndef INTAKE_FORMATS_H
#define INTAKE_FORMATS_H

#include <stdbool.h>
#include <stddef.h>

/* True if `len` bytes at `text` are well-formed UTF-8 (no overlong forms,
 * no surrogates, nothing above U+10FFFF). Cannot fail. */
bool formats_utf8_valid(const char *text, size_t len);

/* True if `text` is "+" then 8 to 15 digits, the first not 0. Cannot fail. */
bool formats_is_e164(const char *text);

/* True if `text` is a plausible address: local@domain, a dot-atom local
 * part of at most 64 bytes, a domain of at least two labels of letters,
 * digits and inner hyphens, a top-level label of letters, at most 254 bytes
 * in all. Cannot fail. */
bool formats_is_email(const char *text);

/* True if `text` is a well-formed BCP-47 language tag (RFC 5646 syntax:
 * language, extlang, script, region, variants, extensions, private use;
 * case-insensitive; irregular grandfathered tags are not accepted). Cannot
 * fail. */
bool formats_is_bcp47(const char *text);

/* True if `text` is 5 digits or 5 digits, "-", 4 digits. Cannot fail. */
bool formats_is_zip(const char *text);

/* True if `text` is 4 to 8 digits. Cannot fail. */
bool formats_is_pin(const char *text);

/* True if `text` is printable ASCII without spaces (0x21..0x7e): the shape
 * of an upstream event id or system identifier. Cannot fail. */
bool formats_is_token(const char *text);

#endif
