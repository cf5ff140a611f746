/* pii.c: finds and clears the personal-data fields of protobuf-c messages.
 *
 * The list of personal fields is the generated table vigil_pii_fields[]
 * (from the "[pii]" markers in proto/); this file walks messages by their
 * protobuf-c descriptors, so a new [pii] marker is honoured without touching
 * C code. It must never copy, print or log a value it inspects: it only
 * looks at whether a field is set, and frees it.
 *
 * Memory: pii_redact() frees with the system allocator, as
 * protobuf_c_message_free_unpacked(message, NULL) would, so it works on
 * messages from protobuf_c_message_unpack(..., NULL, ...) and on messages
 * built by hand from malloc'd parts.
 */
#include "vigil/pii.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Key words refused as a log or metric key on their own, besides every
 * [pii] field name in the generated table. */
static const char *const s_forbidden_words[] = {
    "name", "address", "narrative", "pin", "contact", "phone", "email", NULL,
};

/* Words refused anywhere inside a key ("victim_phone", "caller.email"):
 * no key that contains one of these as a word can be safe to log. */
static const char *const s_forbidden_parts[] = {
    "phone", "email", "narrative", "address", NULL,
};

/* Characters that separate the words of a key. */
static const char s_key_separators[] = "_.-";

/* Bytes a singular scalar of each type occupies in a generated struct. */
static const size_t s_scalar_size[] = {
    [PROTOBUF_C_TYPE_INT32] = sizeof(int32_t),
    [PROTOBUF_C_TYPE_SINT32] = sizeof(int32_t),
    [PROTOBUF_C_TYPE_SFIXED32] = sizeof(int32_t),
    [PROTOBUF_C_TYPE_INT64] = sizeof(int64_t),
    [PROTOBUF_C_TYPE_SINT64] = sizeof(int64_t),
    [PROTOBUF_C_TYPE_SFIXED64] = sizeof(int64_t),
    [PROTOBUF_C_TYPE_UINT32] = sizeof(uint32_t),
    [PROTOBUF_C_TYPE_FIXED32] = sizeof(uint32_t),
    [PROTOBUF_C_TYPE_UINT64] = sizeof(uint64_t),
    [PROTOBUF_C_TYPE_FIXED64] = sizeof(uint64_t),
    [PROTOBUF_C_TYPE_FLOAT] = sizeof(float),
    [PROTOBUF_C_TYPE_DOUBLE] = sizeof(double),
    [PROTOBUF_C_TYPE_BOOL] = sizeof(protobuf_c_boolean),
    [PROTOBUF_C_TYPE_ENUM] = sizeof(int),
    [PROTOBUF_C_TYPE_STRING] = sizeof(char *),
    [PROTOBUF_C_TYPE_BYTES] = sizeof(ProtobufCBinaryData),
    [PROTOBUF_C_TYPE_MESSAGE] = sizeof(ProtobufCMessage *),
};

static void *s_member(const ProtobufCMessage *message, unsigned offset)
{
    return (char *)message + offset;
}

static bool s_is_pii(const ProtobufCMessageDescriptor *descriptor,
                     const ProtobufCFieldDescriptor *field)
{
    return pii_is_field(descriptor, field->name);
}

static bool s_all_zero(const void *bytes, size_t size)
{
    const uint8_t *p = bytes;
    for (size_t i = 0; i < size; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/* True if a non-repeated field holds something worth reporting. */
static bool s_singular_is_set(const ProtobufCMessage *message,
                              const ProtobufCFieldDescriptor *field)
{
    void *member = s_member(message, field->offset);
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t oneof_case = *(uint32_t *)s_member(message, field->quantifier_offset);
        if (oneof_case != field->id) {
            return false;
        }
    } else if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->type != PROTOBUF_C_TYPE_STRING &&
               field->type != PROTOBUF_C_TYPE_MESSAGE) {
        if (!*(protobuf_c_boolean *)s_member(message, field->quantifier_offset)) {
            return false;
        }
    }
    switch (field->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *text = *(char **)member;
        return text != NULL && text[0] != '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((ProtobufCBinaryData *)member)->len > 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage **)member != NULL;
    default:
        return !s_all_zero(member, s_scalar_size[field->type]);
    }
}

/* Frees one string/bytes/message element; `element` points at the slot. */
static void s_free_element(const ProtobufCFieldDescriptor *field, void *element)
{
    switch (field->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char **text = element;
        if (*text != NULL && *text != field->default_value) {
            free(*text);
        }
        *text = (char *)field->default_value;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *data = element;
        const ProtobufCBinaryData *fallback = field->default_value;
        if (data->data != NULL && (fallback == NULL || data->data != fallback->data)) {
            free(data->data);
        }
        data->data = NULL;
        data->len = 0;
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage **sub = element;
        if (*sub != NULL) {
            protobuf_c_message_free_unpacked(*sub, NULL);
        }
        *sub = NULL;
        break;
    }
    default:
        memset(element, 0, s_scalar_size[field->type]);
        break;
    }
}

/* Clears one field entirely. Returns 1 if it held something, else 0. */
static size_t s_clear_field(ProtobufCMessage *message, const ProtobufCFieldDescriptor *field)
{
    void *member = s_member(message, field->offset);
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *count = s_member(message, field->quantifier_offset);
        void **array = member;
        size_t had = *count;
        size_t stride = s_scalar_size[field->type];
        for (size_t i = 0; i < had; i++) {
            if (field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_BYTES ||
                field->type == PROTOBUF_C_TYPE_MESSAGE) {
                s_free_element(field, (char *)*array + i * stride);
            }
        }
        free(*array);
        *array = NULL;
        *count = 0;
        return had > 0 ? 1 : 0;
    }
    bool was_set = s_singular_is_set(message, field);
    bool active = !(field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
                  *(uint32_t *)s_member(message, field->quantifier_offset) == field->id;
    if (active) {
        s_free_element(field, member);
    }
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (active) {
            *(uint32_t *)s_member(message, field->quantifier_offset) = 0;
        }
    } else if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->type != PROTOBUF_C_TYPE_STRING &&
               field->type != PROTOBUF_C_TYPE_MESSAGE) {
        *(protobuf_c_boolean *)s_member(message, field->quantifier_offset) = 0;
    }
    return was_set ? 1 : 0;
}

/* Calls `visit` on every sub-message held by `field` (singular or repeated).
 * Returns the sum of what `visit` returned. */
static size_t s_each_sub_message(const ProtobufCMessage *message,
                                 const ProtobufCFieldDescriptor *field,
                                 size_t (*visit)(ProtobufCMessage *sub))
{
    size_t total = 0;
    void *member = s_member(message, field->offset);
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t count = *(size_t *)s_member(message, field->quantifier_offset);
        ProtobufCMessage **subs = *(ProtobufCMessage ***)member;
        for (size_t i = 0; i < count; i++) {
            if (subs[i] != NULL) {
                total += visit(subs[i]);
            }
        }
    } else if (s_singular_is_set(message, field)) {
        total += visit(*(ProtobufCMessage **)member);
    }
    return total;
}

static size_t s_count_mutable(ProtobufCMessage *message)
{
    return pii_count(message);
}

bool pii_is_field(const ProtobufCMessageDescriptor *descriptor, const char *field)
{
    if (descriptor == NULL || field == NULL) {
        return false;
    }
    for (const pii_field_t *row = vigil_pii_fields; row->message != NULL; row++) {
        if (strcmp(row->field, field) == 0 && strcmp(row->message, descriptor->name) == 0) {
            return true;
        }
    }
    return false;
}

/* True if `word` (length `len`) equals one of `words`, ignoring case. */
static bool s_word_in(const char *word, size_t len, const char *const *words)
{
    for (const char *const *candidate = words; *candidate != NULL; candidate++) {
        if (strlen(*candidate) == len && strncasecmp(*candidate, word, len) == 0) {
            return true;
        }
    }
    return false;
}

bool pii_is_forbidden_key(const char *key)
{
    if (key == NULL) {
        return false;
    }
    if (s_word_in(key, strlen(key), s_forbidden_words)) {
        return true;
    }
    for (const pii_field_t *row = vigil_pii_fields; row->message != NULL; row++) {
        if (strcasecmp(row->field, key) == 0) {
            return true;
        }
    }
    for (const char *word = key; *word != '\0';) {
        size_t len = strcspn(word, s_key_separators);
        if (s_word_in(word, len, s_forbidden_parts)) {
            return true;
        }
        word += len;
        word += strspn(word, s_key_separators);
    }
    return false;
}

size_t pii_redact(ProtobufCMessage *message)
{
    if (message == NULL) {
        return 0;
    }
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    size_t cleared = 0;
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        if (s_is_pii(descriptor, field)) {
            cleared += s_clear_field(message, field);
        } else if (field->type == PROTOBUF_C_TYPE_MESSAGE) {
            cleared += s_each_sub_message(message, field, pii_redact);
        }
    }
    return cleared;
}

size_t pii_count(const ProtobufCMessage *message)
{
    if (message == NULL) {
        return 0;
    }
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    size_t found = 0;
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        if (s_is_pii(descriptor, field)) {
            if (field->label == PROTOBUF_C_LABEL_REPEATED) {
                found += *(size_t *)s_member(message, field->quantifier_offset) > 0 ? 1 : 0;
            } else {
                found += s_singular_is_set(message, field) ? 1 : 0;
            }
        }
        if (field->type == PROTOBUF_C_TYPE_MESSAGE) {
            found += s_each_sub_message(message, field, s_count_mutable);
        }
    }
    return found;
}
