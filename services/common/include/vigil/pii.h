/* pii.h: which fields carry personal data, and how to keep them out.
 *
 * The table vigil_pii_fields[] is generated at build time from the "[pii]"
 * markers in proto/ (cmake/gen_pii_table.cmake); it is the one list of
 * personal-data fields. This module answers "is this field personal?",
 * clears such fields from a message before it leaves a service that may hold
 * them, and tells the log helpers which keys they must refuse. It never
 * copies or prints the values it inspects.
 */
#ifndef VIGIL_PII_H
#define VIGIL_PII_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

/* One personal-data field: full message name and field name. */
typedef struct {
    const char *message; /* e.g. "vigil.v1.VictimContact" */
    const char *field;   /* e.g. "phone" */
} pii_field_t;

/* Generated; ends with a {NULL, NULL} row. */
extern const pii_field_t vigil_pii_fields[];

/* True if `field` of message type `descriptor` is marked [pii]. Cannot fail. */
bool pii_is_field(const ProtobufCMessageDescriptor *descriptor, const char *field);

/* True if `key` may not appear as a log or metric key: any [pii] field name
 * (phone, email, given_name, ...) or a generic personal word (name, address,
 * narrative, pin, contact); or a key with phone, email, narrative or address
 * as one of its words (split at '_', '.', '-': "victim_phone", "caller.email").
 * Case-insensitive. Cannot fail. */
bool pii_is_forbidden_key(const char *key);

/* Clears every [pii] field in `message` and in all its sub-messages, in
 * place, freeing what they held: a string becomes "", bytes empty, a scalar
 * 0, a repeated field empty, and a [pii] sub-message is freed whole and its
 * pointer set to NULL. Frees with the system allocator, so `message` must be
 * owned as protobuf_c_message_unpack(..., NULL, ...) leaves it (or built from
 * malloc'd parts). Returns the number of fields that held something and were
 * cleared (a cleared sub-message counts once). Cannot fail. */
size_t pii_redact(ProtobufCMessage *message);

/* Returns the number of [pii] fields set (non-empty) in `message` and its
 * sub-messages, looking inside [pii] sub-messages too (a contact with a
 * victim holding a phone counts 2). 0 means nothing personal is left. Used
 * by tests and by guards on pseudonymous paths. Cannot fail. */
size_t pii_count(const ProtobufCMessage *message);

#endif
