/* pbjson.c: the generic JSON <-> protobuf mapper.
 *
 * Everything here is driven by protobuf-c's descriptors: the field table of
 * a message says each field's name, type, label and where it lives in the C
 * struct, and this file walks that table. There is no code for any one
 * message, so a new field in a .proto needs no change here. It builds
 * messages exactly as protobuf-c's own unpacker would (every string, bytes
 * buffer, array and sub-message separately malloc'd), so the result is freed
 * with protobuf_c_message_free_unpacked(m, NULL).
 *
 * It must never put a string value from its input into an error message:
 * the input is often a victim's contact details. Errors name the path and
 * the problem, and quote at most an identifier-like key or enum name.
 */
#include "vigil/pbjson.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

enum {
    PBJSON_MAX_DEPTH = 32,      /* deepest message nesting accepted or written */
    PBJSON_PATH_MAX = 512,      /* longest JSON path kept for error messages */
    PBJSON_ENUM_NAME_MAX = 256, /* longest enum value name we build from a prefix */
    PBJSON_QUOTE_MAX = 64,      /* longest identifier quoted in an error message */
    PBJSON_NUMBER_MAX = 32,     /* room for a 64-bit integer in decimal */
    PBJSON_UTF8_MAX_SEQ = 4,    /* longest UTF-8 sequence */
};

/* The JSON spelling of the non-finite floating-point values (proto3 JSON). */
static const char s_nan[] = "NaN";
static const char s_infinity[] = "Infinity";
static const char s_minus_infinity[] = "-Infinity";

/* Shown in a path in place of a key that does not look like a field name. */
static const char s_hidden_key[] = "(key)";

/* Cut from jansson's messages: it quotes the offending input token. */
static const char s_jansson_near[] = " near ";

/* U+FFFD REPLACEMENT CHARACTER, written in place of invalid UTF-8. */
static const char s_replacement[] = "\xEF\xBF\xBD";

/* How a protobuf scalar maps to JSON. */
typedef enum {
    S_CLASS_SIGNED,
    S_CLASS_UNSIGNED,
    S_CLASS_FLOAT,
    S_CLASS_DOUBLE,
    S_CLASS_BOOL,
    S_CLASS_ENUM,
    S_CLASS_STRING,
    S_CLASS_BYTES,
    S_CLASS_MESSAGE,
} s_class_t;

typedef struct {
    s_class_t class_; /* which JSON mapping */
    size_t size;      /* bytes one value takes in the C struct or a repeated array */
    int64_t min;      /* S_CLASS_SIGNED: smallest value */
    uint64_t max;     /* S_CLASS_SIGNED and S_CLASS_UNSIGNED: largest value */
    const char *name; /* for error messages */
} s_type_info_t;

/* One row per ProtobufCType. */
static const s_type_info_t s_types[] = {
    [PROTOBUF_C_TYPE_INT32] = {S_CLASS_SIGNED, sizeof(int32_t), INT32_MIN, INT32_MAX, "int32"},
    [PROTOBUF_C_TYPE_SINT32] = {S_CLASS_SIGNED, sizeof(int32_t), INT32_MIN, INT32_MAX, "sint32"},
    [PROTOBUF_C_TYPE_SFIXED32] = {S_CLASS_SIGNED, sizeof(int32_t), INT32_MIN, INT32_MAX,
                                  "sfixed32"},
    [PROTOBUF_C_TYPE_INT64] = {S_CLASS_SIGNED, sizeof(int64_t), INT64_MIN, INT64_MAX, "int64"},
    [PROTOBUF_C_TYPE_SINT64] = {S_CLASS_SIGNED, sizeof(int64_t), INT64_MIN, INT64_MAX, "sint64"},
    [PROTOBUF_C_TYPE_SFIXED64] = {S_CLASS_SIGNED, sizeof(int64_t), INT64_MIN, INT64_MAX,
                                  "sfixed64"},
    [PROTOBUF_C_TYPE_UINT32] = {S_CLASS_UNSIGNED, sizeof(uint32_t), 0, UINT32_MAX, "uint32"},
    [PROTOBUF_C_TYPE_FIXED32] = {S_CLASS_UNSIGNED, sizeof(uint32_t), 0, UINT32_MAX, "fixed32"},
    [PROTOBUF_C_TYPE_UINT64] = {S_CLASS_UNSIGNED, sizeof(uint64_t), 0, UINT64_MAX, "uint64"},
    [PROTOBUF_C_TYPE_FIXED64] = {S_CLASS_UNSIGNED, sizeof(uint64_t), 0, UINT64_MAX, "fixed64"},
    [PROTOBUF_C_TYPE_FLOAT] = {S_CLASS_FLOAT, sizeof(float), 0, 0, "float"},
    [PROTOBUF_C_TYPE_DOUBLE] = {S_CLASS_DOUBLE, sizeof(double), 0, 0, "double"},
    [PROTOBUF_C_TYPE_BOOL] = {S_CLASS_BOOL, sizeof(protobuf_c_boolean), 0, 0, "bool"},
    [PROTOBUF_C_TYPE_ENUM] = {S_CLASS_ENUM, sizeof(int), 0, 0, "enum"},
    [PROTOBUF_C_TYPE_STRING] = {S_CLASS_STRING, sizeof(char *), 0, 0, "string"},
    [PROTOBUF_C_TYPE_BYTES] = {S_CLASS_BYTES, sizeof(ProtobufCBinaryData), 0, 0, "bytes"},
    [PROTOBUF_C_TYPE_MESSAGE] = {S_CLASS_MESSAGE, sizeof(ProtobufCMessage *), 0, 0, "message"},
};

/* JSON type names for "expected X, got Y". */
static const char *const s_json_type_names[] = {
    [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array",     [JSON_STRING] = "a string",
    [JSON_INTEGER] = "an integer", [JSON_REAL] = "a real number", [JSON_TRUE] = "true",
    [JSON_FALSE] = "false",        [JSON_NULL] = "null",
};

/* The base64 variants accepted on input, most common first. */
static const int s_base64_variants[] = {
    sodium_base64_VARIANT_ORIGINAL,
    sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
    sodium_base64_VARIANT_URLSAFE,
    sodium_base64_VARIANT_URLSAFE_NO_PADDING,
};

/* One row of the UTF-8 decoding table: lead bytes in [lead_lo, lead_hi]
 * start a sequence of `length` bytes whose second byte is in
 * [second_lo, second_hi] (later bytes are plain continuation bytes). These
 * bounds exclude overlong forms, surrogates and values past U+10FFFF. */
typedef struct {
    unsigned char lead_lo, lead_hi;
    unsigned char second_lo, second_hi;
    size_t length;
} s_utf8_row_t;

static const s_utf8_row_t s_utf8_rows[] = {
    {0x00, 0x7F, 0x00, 0x00, 1}, {0xC2, 0xDF, 0x80, 0xBF, 2}, {0xE0, 0xE0, 0xA0, 0xBF, 3},
    {0xE1, 0xEC, 0x80, 0xBF, 3}, {0xED, 0xED, 0x80, 0x9F, 3}, {0xEE, 0xEF, 0x80, 0xBF, 3},
    {0xF0, 0xF0, 0x90, 0xBF, 4}, {0xF1, 0xF3, 0x80, 0xBF, 4}, {0xF4, 0xF4, 0x80, 0x8F, 4},
};

/* State of one JSON -> message conversion. */
typedef struct {
    char path[PBJSON_PATH_MAX]; /* where we are, e.g. "victim.phone" or "offenders[2]" */
    size_t path_len;
    int depth;
    pbjson_error_kind_t kind;
    char *err;
    size_t errlen;
} s_parse_t;

/* ---- small helpers -------------------------------------------------------- */

static const s_type_info_t *s_type(ProtobufCType type)
{
    return &s_types[type];
}

static const char *s_json_type_name(const json_t *value)
{
    return s_json_type_names[json_typeof(value)];
}

/* Length of the valid UTF-8 sequence at `s` (at most `n` bytes), or 0. */
static size_t s_utf8_sequence(const unsigned char *s, size_t n)
{
    for (size_t r = 0; r < sizeof s_utf8_rows / sizeof s_utf8_rows[0]; r++) {
        const s_utf8_row_t *row = &s_utf8_rows[r];
        if (s[0] < row->lead_lo || s[0] > row->lead_hi) {
            continue;
        }
        if (row->length > n) {
            return 0;
        }
        if (row->length > 1 && (s[1] < row->second_lo || s[1] > row->second_hi)) {
            return 0;
        }
        for (size_t i = 2; i < row->length; i++) {
            if ((s[i] & 0xC0) != 0x80) {
                return 0;
            }
        }
        return row->length;
    }
    return 0;
}

static bool s_utf8_valid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        size_t step = s_utf8_sequence(s + i, len - i);
        if (step == 0) {
            return false;
        }
        i += step;
    }
    return true;
}

/* True if `text` looks like a field or enum name and may be quoted in an
 * error message without risk of repeating personal data. */
static bool s_identifier_like(const char *text)
{
    size_t len = strlen(text);
    if (len == 0 || len > PBJSON_QUOTE_MAX) {
        return false;
    }
    if (!(text[0] == '_' || text[0] == '@' || (text[0] >= 'A' && text[0] <= 'Z') ||
          (text[0] >= 'a' && text[0] <= 'z'))) {
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        char c = text[i];
        bool ok = c == '_' || c == '-' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9');
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* ---- paths and errors ----------------------------------------------------- */

static void s_path_append(s_parse_t *p, const char *text)
{
    size_t room = sizeof p->path - p->path_len;
    int n = snprintf(p->path + p->path_len, room, "%s", text);
    if (n < 0 || (size_t)n >= room) {
        p->path_len = sizeof p->path - 1;
    } else {
        p->path_len += (size_t)n;
    }
}

/* Appends ".key" (or "key" at the root); returns the length to restore. */
static size_t s_path_push_key(s_parse_t *p, const char *key)
{
    size_t saved = p->path_len;
    if (p->path_len > 0) {
        s_path_append(p, ".");
    }
    s_path_append(p, s_identifier_like(key) ? key : s_hidden_key);
    return saved;
}

/* Appends "[index]"; returns the length to restore. */
static size_t s_path_push_index(s_parse_t *p, size_t index)
{
    char buf[PBJSON_NUMBER_MAX];
    size_t saved = p->path_len;
    snprintf(buf, sizeof buf, "[%zu]", index);
    s_path_append(p, buf);
    return saved;
}

static void s_path_pop(s_parse_t *p, size_t saved)
{
    p->path_len = saved;
    p->path[saved] = '\0';
}

/* Records an error at the current path. Returns -1 for convenience. */
__attribute__((format(printf, 3, 4))) static int s_fail(s_parse_t *p, pbjson_error_kind_t kind,
                                                        const char *fmt, ...)
{
    char why[PBJSON_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    p->kind = kind;
    if (p->err != NULL && p->errlen > 0) {
        if (p->path_len > 0) {
            snprintf(p->err, p->errlen, "%s: %s", p->path, why);
        } else {
            snprintf(p->err, p->errlen, "%s", why);
        }
    }
    return -1;
}

/* ---- enums ---------------------------------------------------------------- */

/* Writes the prefix made from the enum's type name: "CallerRole" ->
 * "CALLER_ROLE_". Returns false if it does not fit. */
static bool s_enum_type_prefix(const ProtobufCEnumDescriptor *descriptor, char *out, size_t outlen)
{
    const char *name = descriptor->short_name;
    size_t n = 0;
    for (size_t i = 0; name[i] != '\0'; i++) {
        char c = name[i];
        bool upper = c >= 'A' && c <= 'Z';
        bool prev_lower = i > 0 && ((name[i - 1] >= 'a' && name[i - 1] <= 'z') ||
                                    (name[i - 1] >= '0' && name[i - 1] <= '9'));
        bool next_lower = name[i + 1] >= 'a' && name[i + 1] <= 'z';
        bool prev_upper = i > 0 && name[i - 1] >= 'A' && name[i - 1] <= 'Z';
        if (upper && (prev_lower || (prev_upper && next_lower))) {
            if (n + 1 >= outlen) {
                return false;
            }
            out[n++] = '_';
        }
        if (n + 1 >= outlen) {
            return false;
        }
        out[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    if (n + 2 > outlen) {
        return false;
    }
    out[n++] = '_';
    out[n] = '\0';
    return true;
}

/* Writes the prefix all value names share, up to and including its last
 * '_' ("REASON_" for REASON_NONE, REASON_MALFORMED, ...). Empty if none. */
static void s_enum_shared_prefix(const ProtobufCEnumDescriptor *descriptor, char *out,
                                 size_t outlen)
{
    out[0] = '\0';
    if (descriptor->n_values < 2) {
        return;
    }
    const char *first = descriptor->values[0].name;
    size_t common = strlen(first);
    for (unsigned i = 1; i < descriptor->n_values; i++) {
        const char *other = descriptor->values[i].name;
        size_t k = 0;
        while (k < common && first[k] == other[k]) {
            k++;
        }
        common = k;
    }
    while (common > 0 && first[common - 1] != '_') {
        common--;
    }
    if (common == 0 || common >= outlen) {
        return;
    }
    memcpy(out, first, common);
    out[common] = '\0';
}

static bool s_enum_lookup_with_prefix(const ProtobufCEnumDescriptor *descriptor, const char *prefix,
                                      const char *name, int *value)
{
    char full[PBJSON_ENUM_NAME_MAX];
    if (prefix[0] == '\0') {
        return false;
    }
    int n = snprintf(full, sizeof full, "%s%s", prefix, name);
    if (n < 0 || (size_t)n >= sizeof full) {
        return false;
    }
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(descriptor, full);
    if (v == NULL) {
        return false;
    }
    *value = v->value;
    return true;
}

int pbjson_enum_from_name(const ProtobufCEnumDescriptor *descriptor, const char *name, int *value)
{
    char prefix[PBJSON_ENUM_NAME_MAX];
    if (name == NULL || name[0] == '\0') {
        return -1;
    }
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(descriptor, name);
    if (v != NULL) {
        *value = v->value;
        return 0;
    }
    if (s_enum_type_prefix(descriptor, prefix, sizeof prefix) &&
        s_enum_lookup_with_prefix(descriptor, prefix, name, value)) {
        return 0;
    }
    s_enum_shared_prefix(descriptor, prefix, sizeof prefix);
    if (s_enum_lookup_with_prefix(descriptor, prefix, name, value)) {
        return 0;
    }
    return -1;
}

/* ---- JSON -> message: scalars --------------------------------------------- */

/* Parses a whole decimal string ("-12", "42"). Returns 0 or -1. */
static int s_decimal_signed(const char *text, int64_t *out)
{
    const char *digits = text[0] == '-' ? text + 1 : text;
    if (digits[0] == '\0' || strspn(digits, "0123456789") != strlen(digits)) {
        return -1;
    }
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE) {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

static int s_decimal_unsigned(const char *text, uint64_t *out)
{
    if (text[0] == '\0' || strspn(text, "0123456789") != strlen(text)) {
        return -1;
    }
    errno = 0;
    unsigned long long v = strtoull(text, NULL, 10);
    if (errno == ERANGE) {
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static int s_get_signed(s_parse_t *p, const s_type_info_t *info, const json_t *value, int64_t *out)
{
    int64_t v;
    if (json_is_integer(value)) {
        v = (int64_t)json_integer_value(value);
    } else if (json_is_string(value)) {
        if (s_decimal_signed(json_string_value(value), &v) < 0) {
            return s_fail(p, PBJSON_ERROR_VALUE, "not a decimal %s", info->name);
        }
    } else {
        return s_fail(p, PBJSON_ERROR_TYPE, "expected an integer (%s), got %s", info->name,
                      s_json_type_name(value));
    }
    if (v < info->min || (v > 0 && (uint64_t)v > info->max)) {
        return s_fail(p, PBJSON_ERROR_VALUE, "out of range for %s", info->name);
    }
    *out = v;
    return 0;
}

static int s_get_unsigned(s_parse_t *p, const s_type_info_t *info, const json_t *value,
                          uint64_t *out)
{
    uint64_t v;
    if (json_is_integer(value)) {
        json_int_t i = json_integer_value(value);
        if (i < 0) {
            return s_fail(p, PBJSON_ERROR_VALUE, "out of range for %s", info->name);
        }
        v = (uint64_t)i;
    } else if (json_is_string(value)) {
        if (s_decimal_unsigned(json_string_value(value), &v) < 0) {
            return s_fail(p, PBJSON_ERROR_VALUE, "not a decimal %s", info->name);
        }
    } else {
        return s_fail(p, PBJSON_ERROR_TYPE, "expected an integer (%s), got %s", info->name,
                      s_json_type_name(value));
    }
    if (v > info->max) {
        return s_fail(p, PBJSON_ERROR_VALUE, "out of range for %s", info->name);
    }
    *out = v;
    return 0;
}

static int s_get_double(s_parse_t *p, const s_type_info_t *info, const json_t *value, double *out)
{
    if (json_is_number(value)) {
        *out = json_number_value(value);
        return 0;
    }
    if (json_is_string(value)) {
        const char *s = json_string_value(value);
        if (strcmp(s, s_nan) == 0) {
            *out = NAN;
            return 0;
        }
        if (strcmp(s, s_infinity) == 0) {
            *out = INFINITY;
            return 0;
        }
        if (strcmp(s, s_minus_infinity) == 0) {
            *out = -INFINITY;
            return 0;
        }
        return s_fail(p, PBJSON_ERROR_VALUE, "not a number (%s)", info->name);
    }
    return s_fail(p, PBJSON_ERROR_TYPE, "expected a number (%s), got %s", info->name,
                  s_json_type_name(value));
}

static int s_get_enum(s_parse_t *p, const ProtobufCEnumDescriptor *descriptor, const json_t *value,
                      int *out)
{
    if (json_is_string(value)) {
        const char *name = json_string_value(value);
        if (pbjson_enum_from_name(descriptor, name, out) == 0) {
            return 0;
        }
        if (s_identifier_like(name)) {
            return s_fail(p, PBJSON_ERROR_ENUM, "unknown value \"%s\" for enum %s", name,
                          descriptor->name);
        }
        return s_fail(p, PBJSON_ERROR_ENUM, "unknown value for enum %s", descriptor->name);
    }
    if (json_is_integer(value)) {
        json_int_t n = json_integer_value(value);
        if (n < INT32_MIN || n > INT32_MAX ||
            protobuf_c_enum_descriptor_get_value(descriptor, (int)n) == NULL) {
            return s_fail(p, PBJSON_ERROR_ENUM, "%lld is not a value of enum %s", (long long)n,
                          descriptor->name);
        }
        *out = (int)n;
        return 0;
    }
    return s_fail(p, PBJSON_ERROR_TYPE, "expected an enum name or number (%s), got %s",
                  descriptor->name, s_json_type_name(value));
}

static int s_get_string(s_parse_t *p, const json_t *value, char **out)
{
    if (!json_is_string(value)) {
        return s_fail(p, PBJSON_ERROR_TYPE, "expected a string, got %s", s_json_type_name(value));
    }
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    if (memchr(text, '\0', len) != NULL) {
        return s_fail(p, PBJSON_ERROR_VALUE, "contains a NUL character");
    }
    if (!s_utf8_valid(text, len)) {
        return s_fail(p, PBJSON_ERROR_VALUE, "not valid UTF-8");
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return s_fail(p, PBJSON_ERROR_NOMEM, "out of memory");
    }
    memcpy(copy, text, len + 1);
    *out = copy;
    return 0;
}

static int s_get_bytes(s_parse_t *p, const json_t *value, ProtobufCBinaryData *out)
{
    if (!json_is_string(value)) {
        return s_fail(p, PBJSON_ERROR_TYPE, "expected a base64 string, got %s",
                      s_json_type_name(value));
    }
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    out->len = 0;
    out->data = NULL;
    if (len == 0) {
        return 0;
    }
    /* Decoded data is never longer than 3/4 of the text. */
    uint8_t *data = malloc(len);
    if (data == NULL) {
        return s_fail(p, PBJSON_ERROR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < sizeof s_base64_variants / sizeof s_base64_variants[0]; i++) {
        size_t decoded = 0;
        if (sodium_base642bin(data, len, text, len, NULL, &decoded, NULL, s_base64_variants[i]) ==
            0) {
            out->data = data;
            out->len = decoded;
            return 0;
        }
    }
    free(data);
    return s_fail(p, PBJSON_ERROR_VALUE, "not valid base64");
}

/* ---- JSON -> message: fields and messages --------------------------------- */

static ProtobufCMessage *s_parse_message(s_parse_t *p, const ProtobufCMessageDescriptor *descriptor,
                                         const json_t *object);

/* Parses one value of `field`'s type into `slot` (the struct member, or one
 * element of a repeated array). Returns 0 or -1. */
static int s_parse_value(s_parse_t *p, const ProtobufCFieldDescriptor *field, const json_t *value,
                         void *slot)
{
    const s_type_info_t *info = s_type(field->type);
    switch (info->class_) {
    case S_CLASS_SIGNED: {
        int64_t v = 0;
        if (s_get_signed(p, info, value, &v) < 0) {
            return -1;
        }
        if (info->size == sizeof(int32_t)) {
            *(int32_t *)slot = (int32_t)v;
        } else {
            *(int64_t *)slot = v;
        }
        return 0;
    }
    case S_CLASS_UNSIGNED: {
        uint64_t v = 0;
        if (s_get_unsigned(p, info, value, &v) < 0) {
            return -1;
        }
        if (info->size == sizeof(uint32_t)) {
            *(uint32_t *)slot = (uint32_t)v;
        } else {
            *(uint64_t *)slot = v;
        }
        return 0;
    }
    case S_CLASS_FLOAT: {
        double v = 0;
        if (s_get_double(p, info, value, &v) < 0) {
            return -1;
        }
        if (isfinite(v) && fabs(v) > FLT_MAX) {
            return s_fail(p, PBJSON_ERROR_VALUE, "out of range for float");
        }
        *(float *)slot = (float)v;
        return 0;
    }
    case S_CLASS_DOUBLE:
        return s_get_double(p, info, value, (double *)slot);
    case S_CLASS_BOOL:
        if (!json_is_boolean(value)) {
            return s_fail(p, PBJSON_ERROR_TYPE, "expected true or false, got %s",
                          s_json_type_name(value));
        }
        *(protobuf_c_boolean *)slot = json_is_true(value);
        return 0;
    case S_CLASS_ENUM:
        return s_get_enum(p, field->descriptor, value, (int *)slot);
    case S_CLASS_STRING:
        return s_get_string(p, value, (char **)slot);
    case S_CLASS_BYTES:
        return s_get_bytes(p, value, (ProtobufCBinaryData *)slot);
    case S_CLASS_MESSAGE: {
        ProtobufCMessage *sub = s_parse_message(p, field->descriptor, value);
        if (sub == NULL) {
            return -1;
        }
        *(ProtobufCMessage **)slot = sub;
        return 0;
    }
    }
    return s_fail(p, PBJSON_ERROR_TYPE, "unsupported field type");
}

static const char *s_field_name_by_id(const ProtobufCMessageDescriptor *descriptor, uint32_t id)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(descriptor, id);
    return f != NULL ? f->name : "another field";
}

static int s_parse_repeated(s_parse_t *p, char *base, const ProtobufCFieldDescriptor *field,
                            const json_t *value)
{
    if (!json_is_array(value)) {
        return s_fail(p, PBJSON_ERROR_TYPE, "expected an array, got %s", s_json_type_name(value));
    }
    size_t n = json_array_size(value);
    size_t size = s_type(field->type)->size;
    char *array = NULL;
    if (n > 0) {
        array = calloc(n, size);
        if (array == NULL) {
            return s_fail(p, PBJSON_ERROR_NOMEM, "out of memory");
        }
    }
    /* Attach first: the zeroed elements are safe to free on a later error. */
    *(void **)(base + field->offset) = array;
    *(size_t *)(base + field->quantifier_offset) = n;
    for (size_t i = 0; i < n; i++) {
        size_t saved = s_path_push_index(p, i);
        const json_t *element = json_array_get(value, i);
        if (json_is_null(element)) {
            return s_fail(p, PBJSON_ERROR_TYPE, "null is not allowed in an array");
        }
        if (s_parse_value(p, field, element, array + i * size) < 0) {
            return -1;
        }
        s_path_pop(p, saved);
    }
    return 0;
}

static int s_parse_field(s_parse_t *p, ProtobufCMessage *message,
                         const ProtobufCFieldDescriptor *field, const json_t *value)
{
    char *base = (char *)message;
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        return s_parse_repeated(p, base, field, value);
    }
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = (uint32_t *)(base + field->quantifier_offset);
        if (*which != 0 && *which != field->id) {
            return s_fail(p, PBJSON_ERROR_VALUE, "conflicts with %s (only one of a oneof)",
                          s_field_name_by_id(message->descriptor, *which));
        }
        if (s_parse_value(p, field, value, base + field->offset) < 0) {
            return -1;
        }
        *which = field->id;
        return 0;
    }
    if (s_parse_value(p, field, value, base + field->offset) < 0) {
        return -1;
    }
    if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->type != PROTOBUF_C_TYPE_STRING &&
        field->type != PROTOBUF_C_TYPE_MESSAGE) {
        *(protobuf_c_boolean *)(base + field->quantifier_offset) = 1;
    }
    return 0;
}

static ProtobufCMessage *s_parse_message(s_parse_t *p, const ProtobufCMessageDescriptor *descriptor,
                                         const json_t *object)
{
    if (!json_is_object(object)) {
        s_fail(p, PBJSON_ERROR_TYPE, "expected an object (%s), got %s", descriptor->name,
               s_json_type_name(object));
        return NULL;
    }
    if (p->depth >= PBJSON_MAX_DEPTH) {
        s_fail(p, PBJSON_ERROR_VALUE, "nested deeper than %d messages", PBJSON_MAX_DEPTH);
        return NULL;
    }
    ProtobufCMessage *message = calloc(1, descriptor->sizeof_message);
    if (message == NULL) {
        s_fail(p, PBJSON_ERROR_NOMEM, "out of memory");
        return NULL;
    }
    protobuf_c_message_init(descriptor, message);
    p->depth++;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)object, key, value)
    {
        size_t saved = s_path_push_key(p, key);
        const ProtobufCFieldDescriptor *field =
            protobuf_c_message_descriptor_get_field_by_name(descriptor, key);
        if (field == NULL) {
            s_fail(p, PBJSON_ERROR_UNKNOWN_FIELD, "unknown field");
            goto fail;
        }
        if (!json_is_null(value) && s_parse_field(p, message, field, value) < 0) {
            goto fail;
        }
        s_path_pop(p, saved);
    }
    p->depth--;
    return message;
fail:
    p->depth--;
    protobuf_c_message_free_unpacked(message, NULL);
    return NULL;
}

ProtobufCMessage *pbjson_to_message_at(const ProtobufCMessageDescriptor *descriptor,
                                       const json_t *object, const char *path,
                                       pbjson_error_kind_t *kind, char *err, size_t errlen)
{
    s_parse_t p = {.err = err, .errlen = errlen, .kind = PBJSON_OK};
    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (path != NULL) {
        s_path_append(&p, path);
    }
    ProtobufCMessage *message = NULL;
    if (object == NULL) {
        s_fail(&p, PBJSON_ERROR_TYPE, "expected an object (%s), got nothing", descriptor->name);
    } else {
        message = s_parse_message(&p, descriptor, object);
    }
    if (kind != NULL) {
        *kind = message != NULL ? PBJSON_OK : p.kind;
    }
    return message;
}

ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *descriptor,
                                    const json_t *object, char *err, size_t errlen)
{
    return pbjson_to_message_at(descriptor, object, NULL, NULL, err, errlen);
}

ProtobufCMessage *pbjson_parse(const ProtobufCMessageDescriptor *descriptor, const char *text,
                               char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *object = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (object == NULL) {
        /* jansson quotes the offending token ("near '...'"); drop it. */
        char *near = strstr(jerr.text, s_jansson_near);
        if (near != NULL) {
            *near = '\0';
        }
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                     jerr.text);
        }
        return NULL;
    }
    ProtobufCMessage *message = pbjson_to_message(descriptor, object, err, errlen);
    json_decref(object);
    return message;
}

/* ---- message -> JSON ------------------------------------------------------ */

static json_t *s_message_to_json(const ProtobufCMessage *message, int with_defaults, int depth);

/* A string as JSON; invalid UTF-8 bytes become U+FFFD. */
static json_t *s_string_to_json(const char *text)
{
    if (text == NULL) {
        return json_string("");
    }
    size_t len = strlen(text);
    if (s_utf8_valid(text, len)) {
        return json_stringn(text, len);
    }
    char *clean = malloc(len * (sizeof s_replacement - 1) + 1);
    if (clean == NULL) {
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)text;
    size_t out = 0;
    size_t i = 0;
    while (i < len) {
        size_t step = s_utf8_sequence(s + i, len - i);
        if (step == 0) {
            memcpy(clean + out, s_replacement, sizeof s_replacement - 1);
            out += sizeof s_replacement - 1;
            i++;
        } else {
            memcpy(clean + out, s + i, step);
            out += step;
            i += step;
        }
    }
    json_t *result = json_stringn(clean, out);
    free(clean);
    return result;
}

static json_t *s_bytes_to_json(const ProtobufCBinaryData *bytes)
{
    const int variant = sodium_base64_VARIANT_ORIGINAL;
    if (bytes->len == 0) {
        return json_string("");
    }
    size_t size = sodium_base64_ENCODED_LEN(bytes->len, variant);
    char *text = malloc(size);
    if (text == NULL) {
        return NULL;
    }
    sodium_bin2base64(text, size, bytes->data, bytes->len, variant);
    json_t *result = json_string(text);
    free(text);
    return result;
}

static json_t *s_double_to_json(double v)
{
    if (isnan(v)) {
        return json_string(s_nan);
    }
    if (isinf(v)) {
        return json_string(v > 0 ? s_infinity : s_minus_infinity);
    }
    return json_real(v);
}

static json_t *s_value_to_json(const ProtobufCFieldDescriptor *field, const void *slot,
                               int with_defaults, int depth)
{
    const s_type_info_t *info = s_type(field->type);
    switch (info->class_) {
    case S_CLASS_SIGNED:
        return json_integer(info->size == sizeof(int32_t) ? *(const int32_t *)slot
                                                          : (json_int_t) * (const int64_t *)slot);
    case S_CLASS_UNSIGNED: {
        uint64_t v =
            info->size == sizeof(uint32_t) ? *(const uint32_t *)slot : *(const uint64_t *)slot;
        if (v > (uint64_t)LLONG_MAX) {
            char text[PBJSON_NUMBER_MAX];
            snprintf(text, sizeof text, "%" PRIu64, v);
            return json_string(text);
        }
        return json_integer((json_int_t)v);
    }
    case S_CLASS_FLOAT:
        return s_double_to_json((double)*(const float *)slot);
    case S_CLASS_DOUBLE:
        return s_double_to_json(*(const double *)slot);
    case S_CLASS_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)slot);
    case S_CLASS_ENUM: {
        int n = *(const int *)slot;
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(field->descriptor, n);
        return v != NULL ? json_string(v->name) : json_integer(n);
    }
    case S_CLASS_STRING:
        return s_string_to_json(*(char *const *)slot);
    case S_CLASS_BYTES:
        return s_bytes_to_json((const ProtobufCBinaryData *)slot);
    case S_CLASS_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)slot;
        return sub != NULL ? s_message_to_json(sub, with_defaults, depth + 1) : json_null();
    }
    }
    return NULL;
}

/* True if a singular field holds its zero value (as protobuf-c decides when
 * packing a proto3 field). */
static bool s_zeroish(const ProtobufCFieldDescriptor *field, const void *slot)
{
    const s_type_info_t *info = s_type(field->type);
    switch (info->class_) {
    case S_CLASS_SIGNED:
    case S_CLASS_UNSIGNED:
        return info->size == sizeof(uint32_t) ? *(const uint32_t *)slot == 0
                                              : *(const uint64_t *)slot == 0;
    case S_CLASS_FLOAT:
        return *(const float *)slot == 0;
    case S_CLASS_DOUBLE:
        return *(const double *)slot == 0;
    case S_CLASS_BOOL:
        return *(const protobuf_c_boolean *)slot == 0;
    case S_CLASS_ENUM:
        return *(const int *)slot == 0;
    case S_CLASS_STRING: {
        const char *s = *(char *const *)slot;
        return s == NULL || s[0] == '\0';
    }
    case S_CLASS_BYTES:
        return ((const ProtobufCBinaryData *)slot)->len == 0;
    case S_CLASS_MESSAGE:
        return *(ProtobufCMessage *const *)slot == NULL;
    }
    return true;
}

/* True if a singular field is set, by the same rules protobuf-c packs by. */
static bool s_present(const ProtobufCMessage *message, const ProtobufCFieldDescriptor *field)
{
    const char *base = (const char *)message;
    const void *slot = base + field->offset;
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        return *(const uint32_t *)(base + field->quantifier_offset) == field->id;
    }
    switch (field->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return true;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_MESSAGE) {
            const void *ptr = *(const void *const *)slot;
            return ptr != NULL && ptr != field->default_value;
        }
        return *(const protobuf_c_boolean *)(base + field->quantifier_offset) != 0;
    case PROTOBUF_C_LABEL_NONE:
    case PROTOBUF_C_LABEL_REPEATED:
    default:
        return !s_zeroish(field, slot);
    }
}

static json_t *s_repeated_to_json(const ProtobufCMessage *message,
                                  const ProtobufCFieldDescriptor *field, int with_defaults,
                                  int depth)
{
    const char *base = (const char *)message;
    size_t n = *(const size_t *)(base + field->quantifier_offset);
    const char *array = *(char *const *)(base + field->offset);
    size_t size = s_type(field->type)->size;
    json_t *list = json_array();
    if (list == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = s_value_to_json(field, array + i * size, with_defaults, depth);
        if (v == NULL || json_array_append_new(list, v) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static json_t *s_message_to_json(const ProtobufCMessage *message, int with_defaults, int depth)
{
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    if (depth > PBJSON_MAX_DEPTH) {
        return NULL;
    }
    json_t *object = json_object();
    if (object == NULL) {
        return NULL;
    }
    for (unsigned f = 0; f < descriptor->n_fields; f++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[f];
        json_t *v = NULL;
        if (field->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)message + field->quantifier_offset);
            if (n == 0 && !with_defaults) {
                continue;
            }
            v = s_repeated_to_json(message, field, with_defaults, depth);
        } else {
            bool present = s_present(message, field);
            bool show_default = with_defaults && field->label == PROTOBUF_C_LABEL_NONE &&
                                !(field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
            if (!present && !show_default) {
                continue;
            }
            v = s_value_to_json(field, (const char *)message + field->offset, with_defaults, depth);
        }
        if (v == NULL || json_object_set_new(object, field->name, v) < 0) {
            json_decref(object);
            return NULL;
        }
    }
    return object;
}

json_t *pbjson_from_message(const ProtobufCMessage *message, int with_defaults)
{
    if (message == NULL) {
        return NULL;
    }
    return s_message_to_json(message, with_defaults, 0);
}

char *pbjson_dump(const ProtobufCMessage *message)
{
    json_t *object = pbjson_from_message(message, 0);
    if (object == NULL) {
        return NULL;
    }
    char *text = json_dumps(object, JSON_COMPACT);
    json_decref(object);
    return text;
}
