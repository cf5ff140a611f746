/* pbjson.h: JSON <-> protobuf, generically, from protobuf-c descriptors.
 *
 * One mapper for every message: vigil-publish reads events as JSON lines,
 * vigilctl --json prints replies, tests build fixtures. Field names are the
 * .proto names (snake_case); enums are their value names, with or without
 * the type prefix ("CHANNEL_HOTLINE" or "HOTLINE"), or numbers; bytes are
 * base64; int64 accepts numbers or decimal strings. Unknown keys, wrong
 * types and unknown enum names are errors that name the JSON path
 * (e.g. "victim.phone"). Uses jansson.
 */
#ifndef VIGIL_PBJSON_H
#define VIGIL_PBJSON_H

#include <stddef.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* Builds a message of type `descriptor` from a JSON object. The caller owns
 * the result and frees it with protobuf_c_message_free_unpacked(m, NULL).
 * Returns NULL with "path: why" in `err`. */
ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *descriptor,
                                    const json_t *object, char *err, size_t errlen);

/* Same, from JSON text. */
ProtobufCMessage *pbjson_parse(const ProtobufCMessageDescriptor *descriptor, const char *text,
                               char *err, size_t errlen);

/* Converts a message to a new JSON object (caller owns; json_decref).
 * Fields at their default values are omitted unless `with_defaults`.
 * Returns NULL on allocation failure. */
json_t *pbjson_from_message(const ProtobufCMessage *message, int with_defaults);

/* Converts a message to compact JSON text; the caller frees it. Returns NULL
 * on allocation failure. */
char *pbjson_dump(const ProtobufCMessage *message);

#endif
