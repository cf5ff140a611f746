/* fuzz_pbjson.c: every message of the schema through JSON and back.
 *
 * pbjson maps any vigil.v1 message to JSON and back from its protobuf-c
 * descriptor: vigilctl --json prints admin replies with it, vigil-publish
 * reads events with it, and tests and tools build messages with it. The
 * first input byte picks the payload type of one MessageType (ack, case
 * view, admin reply, ...); the rest is that message's protobuf bytes. For
 * any message that decodes without unknown fields, whose strings are
 * UTF-8 as proto3 requires, and whose enums hold values the schema
 * defines, this target checks that its JSON, both the compact form
 * (defaults left out) and the full one (every field), parses back to a
 * message that packs to the same bytes. The two exclusions are pbjson's
 * design: it writes U+FFFD for bytes that are not UTF-8, and it prints an
 * undefined enum value as its number but refuses one on input (so a typo
 * in vigil-publish's input is an error, not a silent zero).
 */
#include <jansson.h>
#include <string.h>

#include "formats.h"
#include "fuzz.h"
#include "link_internal.h"
#include "vigil/pbjson.h"
#include "vigil/v1/envelope.pb-c.h"

enum { FUZZ_ERR = 256 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static const ProtobufCMessageDescriptor *s_descriptor(uint8_t pick)
{
    const ProtobufCEnumDescriptor *types = &vigil__v1__message_type__descriptor;
    return link_payload_descriptor(
        (Vigil__V1__MessageType)types->values[pick % types->n_values].value);
}

/* True when every string in `message` and its sub-messages is UTF-8 and
 * every enum holds a defined value. */
static bool s_mappable(const ProtobufCMessage *message)
{
    const ProtobufCMessageDescriptor *d = message->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)message + f->offset;
        bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        size_t count =
            repeated ? *(const size_t *)((const char *)message + f->quantifier_offset) : 1;
        const void *items = repeated ? *(void *const *)base : (const void *)base;
        for (size_t k = 0; k < count; k++) {
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                const char *text = ((char *const *)items)[k];
                if (text && !formats_utf8_valid(text, strlen(text)))
                    return false;
            } else if (f->type == PROTOBUF_C_TYPE_ENUM) {
                int value = ((const int *)items)[k];
                if (!protobuf_c_enum_descriptor_get_value(f->descriptor, value))
                    return false;
            } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                const ProtobufCMessage *sub = ((ProtobufCMessage *const *)items)[k];
                if (sub && !s_mappable(sub))
                    return false;
            }
        }
    }
    return true;
}

static uint8_t *s_pack(const ProtobufCMessage *message, size_t *size)
{
    *size = protobuf_c_message_get_packed_size(message);
    uint8_t *out = malloc(*size + 1);
    FUZZ_CHECK(out, "out of memory");
    protobuf_c_message_pack(message, out);
    return out;
}

/* Parses `text` as a `descriptor` message and checks it packs to `want`. */
static void s_check_back(const ProtobufCMessageDescriptor *descriptor, const char *text,
                         const uint8_t *want, size_t want_size, const char *form)
{
    char err[FUZZ_ERR] = "";
    ProtobufCMessage *back = pbjson_parse(descriptor, text, err, sizeof err);
    FUZZ_CHECK(back, "%s: its %s JSON is refused: %s: %s", descriptor->name, form, err, text);
    size_t size;
    uint8_t *packed = s_pack(back, &size);
    FUZZ_CHECK(size == want_size && memcmp(packed, want, size) == 0,
               "%s: changed on its way through %s JSON (%zu bytes, then %zu): %s", descriptor->name,
               form, want_size, size, text);
    free(packed);
    protobuf_c_message_free_unpacked(back, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const ProtobufCMessageDescriptor *descriptor = s_descriptor(data[0]);
    if (!descriptor)
        return 0;
    ProtobufCMessage *message = protobuf_c_message_unpack(descriptor, NULL, size - 1, data + 1);
    if (!message)
        return 0;
    uint32_t unknown;
    if (!link_unknown_field(message, &unknown) && s_mappable(message)) {
        size_t want_size;
        uint8_t *want = s_pack(message, &want_size);
        char *compact = pbjson_dump(message);
        FUZZ_CHECK(compact, "%s: pbjson_dump failed", descriptor->name);
        s_check_back(descriptor, compact, want, want_size, "compact");
        json_t *full = pbjson_from_message(message, 1);
        FUZZ_CHECK(full, "%s: pbjson_from_message failed", descriptor->name);
        char *full_text = json_dumps(full, JSON_COMPACT);
        FUZZ_CHECK(full_text, "out of memory");
        s_check_back(descriptor, full_text, want, want_size, "full");
        free(full_text);
        json_decref(full);
        free(compact);
        free(want);
    }
    protobuf_c_message_free_unpacked(message, NULL);
    return 0;
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    /* One empty message of each type, and one small message whose first
     * field (number 1) is a short string or bytes for every type that has
     * such a field. */
    const ProtobufCEnumDescriptor *types = &vigil__v1__message_type__descriptor;
    for (unsigned i = 0; i < types->n_values; i++) {
        uint8_t empty[1] = {(uint8_t)i};
        emit(ctx, empty, sizeof empty);
        uint8_t one[] = {(uint8_t)i, 0x0a, 0x04, 'c', '_', '4', '2'};
        emit(ctx, one, sizeof one);
    }
}
