/* pbjson.h: JSON <-> protobuf, generically, from protobuf-c descriptors.
 *
 * One mapper for every message: vigil-publish reads events as JSON lines,
 * vigilctl --json prints replies, tests build fixtures. Field names are the
 * .proto names (snake_case); enums are their value names, with or without
 * the type prefix ("CHANNEL_HOTLINE" or "HOTLINE"), or numbers; bytes are
 * base64; int64 accepts numbers or decimal strings. Unknown keys, wrong
 * types and unknown enum names are errors that name the JSON path
 * (e.g. "victim.phone"). Uses jansson.
 *
 * Mapping details (all driven by the descriptors, no per-message code):
 *   - a JSON null means "not set" for any field; null inside an array is an
 *     error;
 *   - every integer type accepts a JSON integer or a decimal string; values
 *     out of the field's range are errors; a JSON real is not an integer;
 *   - float and double accept any JSON number and the strings "NaN",
 *     "Infinity" and "-Infinity" (which is also how they are written);
 *   - enum numbers must be values the enum defines (strict), and the short
 *     form drops either the prefix made from the type name (CallerRole ->
 *     "CALLER_ROLE_") or the prefix all value names share ("REASON_");
 *   - bytes accept standard or URL-safe base64, with or without padding,
 *     and are written as standard base64 with padding;
 *   - strings must be valid UTF-8 without NUL characters;
 *   - output writes int64 as JSON integers and uint64 above INT64_MAX as
 *     decimal strings; an enum value the schema does not name is written as
 *     its number; a string that is not valid UTF-8 (possible in a received
 *     message) is written with U+FFFD in place of the bad bytes.
 * Error messages never repeat a string value from the input (it could be
 * personal data); at most an enum-like identifier is quoted.
 */
#ifndef VIGIL_PBJSON_H
#define VIGIL_PBJSON_H

#include <stddef.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* What kind of problem pbjson_to_message_at() found. */
typedef enum {
    PBJSON_OK = 0,
    PBJSON_ERROR_SYNTAX = 1,        /* the text is not JSON (pbjson_parse only) */
    PBJSON_ERROR_UNKNOWN_FIELD = 2, /* a key the message does not have */
    PBJSON_ERROR_TYPE = 3,          /* wrong JSON type for the field */
    PBJSON_ERROR_ENUM = 4,          /* an enum name or number the enum does not define */
    PBJSON_ERROR_VALUE = 5,         /* right type, bad value: range, base64, UTF-8, NUL */
    PBJSON_ERROR_NOMEM = 6,         /* allocation failed */
} pbjson_error_kind_t;

/* Builds a message of type `descriptor` from a JSON object. The caller owns
 * the result and frees it with protobuf_c_message_free_unpacked(m, NULL).
 * Returns NULL with "path: why" in `err`. */
ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *descriptor,
                                    const json_t *object, char *err, size_t errlen);

/* Same as pbjson_to_message(), but paths in `err` start with `path` (the
 * object's own place in a larger document, e.g. "event"; NULL or "" for
 * none) and the kind of error goes to *kind when `kind` is not NULL. */
ProtobufCMessage *pbjson_to_message_at(const ProtobufCMessageDescriptor *descriptor,
                                       const json_t *object, const char *path,
                                       pbjson_error_kind_t *kind, char *err, size_t errlen);

/* Same, from JSON text. Duplicate keys are errors. */
ProtobufCMessage *pbjson_parse(const ProtobufCMessageDescriptor *descriptor, const char *text,
                               char *err, size_t errlen);

/* Converts a message to a new JSON object (caller owns; json_decref).
 * Fields at their default values are omitted unless `with_defaults`.
 * Returns NULL on allocation failure. */
json_t *pbjson_from_message(const ProtobufCMessage *message, int with_defaults);

/* Converts a message to compact JSON text; the caller frees it. Returns NULL
 * on allocation failure. */
char *pbjson_dump(const ProtobufCMessage *message);

/* Looks up an enum value by name with the same rules as fields use (full
 * name, or without the type or shared prefix). Stores it in *value.
 * Returns 0, or -1 if the enum has no such name. */
int pbjson_enum_from_name(const ProtobufCEnumDescriptor *descriptor, const char *name, int *value);

#endif
