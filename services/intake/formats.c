/* formats.c: syntax checks for phone numbers, email addresses, language
 * tags, ZIP codes, PINs and UTF-8.
 *
 * Hand-written scanners, no regex engine: each check is linear in the input
 * and allocates nothing. They must never log or keep the text they inspect.
 */
#include "formats.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

enum {
    E164_MIN_DIGITS = 8,
    E164_MAX_DIGITS = 15,
    EMAIL_MAX_LENGTH = 254,
    EMAIL_LOCAL_MAX = 64,
    EMAIL_LABEL_MAX = 63,
    ZIP_DIGITS = 5,
    ZIP_PLUS4_DIGITS = 4,
    PIN_MIN_DIGITS = 4,
    PIN_MAX_DIGITS = 8,
    BCP47_SUBTAG_MAX = 8,
    UNICODE_MAX = 0x10FFFF,
    SURROGATE_FIRST = 0xD800,
    SURROGATE_LAST = 0xDFFF,
};

/* --- UTF-8 ------------------------------------------------------------ */

/* Lead byte classes: how many continuation bytes follow and the smallest
 * code point that length may encode (anything smaller is overlong). */
typedef struct {
    uint8_t mask, value; /* lead & mask == value */
    int continuation;    /* bytes that follow */
    uint32_t min;        /* smallest code point for this length */
} utf8_lead_t;

static const utf8_lead_t s_utf8_leads[] = {
    {.mask = 0x80, .value = 0x00, .continuation = 0, .min = 0x0},
    {.mask = 0xE0, .value = 0xC0, .continuation = 1, .min = 0x80},
    {.mask = 0xF0, .value = 0xE0, .continuation = 2, .min = 0x800},
    {.mask = 0xF8, .value = 0xF0, .continuation = 3, .min = 0x10000},
};

/* High bit of every byte of a word: a word of ASCII has none set. */
static const uint64_t s_ascii_high_bits = 0x8080808080808080ULL;

bool formats_utf8_valid(const char *text, size_t len)
{
    const uint8_t *p = (const uint8_t *)text;
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path, a word at a time (most text is ASCII). */
        uint64_t word;
        if (len - i >= sizeof word) {
            memcpy(&word, p + i, sizeof word);
            if (!(word & s_ascii_high_bits)) {
                i += sizeof word;
                continue;
            }
        }
        const utf8_lead_t *lead = NULL;
        for (size_t k = 0; k < sizeof s_utf8_leads / sizeof s_utf8_leads[0]; k++)
            if ((p[i] & s_utf8_leads[k].mask) == s_utf8_leads[k].value)
                lead = &s_utf8_leads[k];
        if (!lead || (size_t)lead->continuation >= len - i)
            return false;
        uint32_t code = p[i] & (uint8_t)~lead->mask & 0x7F;
        for (int c = 1; c <= lead->continuation; c++) {
            if ((p[i + c] & 0xC0) != 0x80)
                return false;
            code = (code << 6) | (p[i + c] & 0x3F);
        }
        if (code < lead->min || code > UNICODE_MAX ||
            (code >= SURROGATE_FIRST && code <= SURROGATE_LAST))
            return false;
        i += 1 + (size_t)lead->continuation;
    }
    return true;
}

/* --- small scanners --------------------------------------------------- */

static bool s_all(const char *text, size_t len, int (*is_class)(int))
{
    for (size_t i = 0; i < len; i++)
        if (!is_class((unsigned char)text[i]))
            return false;
    return true;
}

static int s_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int s_is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int s_is_alnum(int c)
{
    return s_is_alpha(c) || s_is_digit(c);
}

bool formats_is_e164(const char *text)
{
    if (!text || text[0] != '+')
        return false;
    size_t digits = strlen(text + 1);
    return digits >= E164_MIN_DIGITS && digits <= E164_MAX_DIGITS && text[1] != '0' &&
           s_all(text + 1, digits, s_is_digit);
}

bool formats_is_zip(const char *text)
{
    if (!text)
        return false;
    size_t len = strlen(text);
    if (len == ZIP_DIGITS)
        return s_all(text, len, s_is_digit);
    return len == ZIP_DIGITS + 1 + ZIP_PLUS4_DIGITS && text[ZIP_DIGITS] == '-' &&
           s_all(text, ZIP_DIGITS, s_is_digit) &&
           s_all(text + ZIP_DIGITS + 1, ZIP_PLUS4_DIGITS, s_is_digit);
}

bool formats_is_pin(const char *text)
{
    if (!text)
        return false;
    size_t len = strlen(text);
    return len >= PIN_MIN_DIGITS && len <= PIN_MAX_DIGITS && s_all(text, len, s_is_digit);
}

bool formats_is_token(const char *text)
{
    if (!text || !*text)
        return false;
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            return false;
    return true;
}

/* --- email ------------------------------------------------------------ */

/* RFC 5322 atext, the characters of a dot-atom besides the dots. */
static int s_is_atext(int c)
{
    return s_is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool s_dot_atom(const char *text, size_t len)
{
    if (len == 0 || text[0] == '.' || text[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '.') {
            if (text[i + 1] == '.')
                return false;
        } else if (!s_is_atext((unsigned char)text[i])) {
            return false;
        }
    }
    return true;
}

static bool s_domain(const char *text, size_t len)
{
    size_t labels = 0;
    const char *label = text;
    const char *end = text + len;
    const char *last = text;
    while (label <= end) {
        const char *dot = memchr(label, '.', (size_t)(end - label));
        size_t n = (size_t)((dot ? dot : end) - label);
        if (n == 0 || n > EMAIL_LABEL_MAX || label[0] == '-' || label[n - 1] == '-')
            return false;
        for (size_t i = 0; i < n; i++)
            if (!s_is_alnum((unsigned char)label[i]) && label[i] != '-')
                return false;
        labels++;
        last = label;
        if (!dot)
            break;
        label = dot + 1;
    }
    size_t last_len = (size_t)(end - last);
    return labels >= 2 && s_all(last, last_len, s_is_alpha) && last_len >= 2;
}

bool formats_is_email(const char *text)
{
    if (!text)
        return false;
    size_t len = strlen(text);
    const char *at = strrchr(text, '@');
    if (len > EMAIL_MAX_LENGTH || !at || memchr(text, '@', (size_t)(at - text)))
        return false;
    size_t local = (size_t)(at - text);
    return local <= EMAIL_LOCAL_MAX && s_dot_atom(text, local) && s_domain(at + 1, len - local - 1);
}

/* --- BCP-47 ----------------------------------------------------------- */

/* The parts of a language tag in the order RFC 5646 allows them. Each
 * subtag is matched against the rows from the current part onward; the
 * first row that fits decides the next part. */
typedef enum {
    TAG_LANGUAGE,  /* 2-3 letters (or 4-8 reserved/registered letters) */
    TAG_EXTLANG,   /* 3 letters, up to three times */
    TAG_SCRIPT,    /* 4 letters */
    TAG_REGION,    /* 2 letters or 3 digits */
    TAG_VARIANT,   /* 5-8 alphanumerics, or a digit then 3 alphanumerics */
    TAG_EXTENSION, /* a singleton (not x), then subtags of 2-8 alphanumerics */
    TAG_PRIVATE,   /* x, then subtags of 1-8 alphanumerics */
} tag_part_t;

static bool s_subtag_fits(tag_part_t part, const char *s, size_t n)
{
    switch (part) {
    case TAG_LANGUAGE:
        return n >= 2 && n <= BCP47_SUBTAG_MAX && s_all(s, n, s_is_alpha);
    case TAG_EXTLANG:
        return n == 3 && s_all(s, n, s_is_alpha);
    case TAG_SCRIPT:
        return n == 4 && s_all(s, n, s_is_alpha);
    case TAG_REGION:
        return (n == 2 && s_all(s, n, s_is_alpha)) || (n == 3 && s_all(s, n, s_is_digit));
    case TAG_VARIANT:
        return s_all(s, n, s_is_alnum) &&
               ((n >= 5 && n <= BCP47_SUBTAG_MAX) || (n == 4 && s_is_digit((unsigned char)s[0])));
    case TAG_EXTENSION:
        return n == 1 && s_is_alnum((unsigned char)s[0]) && tolower((unsigned char)s[0]) != 'x';
    case TAG_PRIVATE:
        return n == 1 && tolower((unsigned char)s[0]) == 'x';
    }
    return false;
}

bool formats_is_bcp47(const char *text)
{
    if (!text || !*text)
        return false;
    tag_part_t part = TAG_LANGUAGE;
    int extlangs = 0;
    bool in_extension = false, in_private = false, extension_has_subtag = false;
    bool first = true;
    const char *s = text;
    for (;;) {
        const char *dash = strchr(s, '-');
        size_t n = dash ? (size_t)(dash - s) : strlen(s);
        if (n == 0 || n > BCP47_SUBTAG_MAX || !s_all(s, n, s_is_alnum))
            return false;
        if (in_private) {
            extension_has_subtag = true; /* 1-8 alphanumerics, anything goes */
        } else if (in_extension && n >= 2) {
            extension_has_subtag = true;
        } else if (first) {
            if (s_subtag_fits(TAG_PRIVATE, s, n)) {
                in_private = true;
                extension_has_subtag = false;
            } else if (!s_subtag_fits(TAG_LANGUAGE, s, n)) {
                return false;
            } else {
                /* Only a 2-3 letter language may take extlangs. */
                extlangs = n <= 3 ? 0 : 3;
                part = TAG_EXTLANG;
            }
        } else {
            if (in_extension && !extension_has_subtag)
                return false;
            bool matched = false;
            for (tag_part_t p = part; p <= TAG_PRIVATE && !matched; p++) {
                if (p == TAG_EXTLANG && extlangs >= 3)
                    continue;
                if (!s_subtag_fits(p, s, n))
                    continue;
                matched = true;
                if (p == TAG_EXTLANG) {
                    extlangs++;
                    part = TAG_EXTLANG;
                } else if (p == TAG_VARIANT) {
                    part = TAG_VARIANT;
                } else if (p == TAG_EXTENSION || p == TAG_PRIVATE) {
                    in_extension = p == TAG_EXTENSION;
                    in_private = p == TAG_PRIVATE;
                    extension_has_subtag = false;
                    part = p;
                } else {
                    part = p + 1;
                }
            }
            if (!matched)
                return false;
        }
        first = false;
        if (!dash)
            break;
        s = dash + 1;
    }
    return !(in_extension || in_private) || extension_has_subtag;
}
