/* link_codec.c: the link's hottest messages without protobuf-c's generic
 * code: reading the Ack on the sender and writing it on the receiver (one
 * per receiver batch, hundreds of entries), reading the Envelope on the
 * receiver and writing it on the sender (one per message).
 *
 * protobuf-c walks a descriptor for every field and, for an Ack, allocates
 * and copies every entry and string; together about 5-8% of the link's CPU
 * per message. These functions work on the bytes directly. The readers
 * take only what protobuf-c would take and decode it the same way (last
 * occurrence of a field wins, enums and uint32 as the low 32 bits of the
 * varint, Ack entries' unknown fields skipped); anything unusual (an
 * unknown Envelope field, a group, a field with an unexpected wire type, an
 * over-long varint, a truncated field) makes them decline, and the caller
 * falls back to protobuf-c, which then decides exactly as before. The
 * writers (the Envelope on the sender, the receiver's Ack once per batch)
 * produce protobuf-c's bytes exactly (fields in number order, proto3 zero
 * values left out). tests/unit/test_link_codec.c checks all four against
 * protobuf-c.
 *
 * They must never hand out an entry of an Ack they then decline, never read
 * or write past the bytes given, and never log or keep a byte they handle.
 */
#include <string.h>

#include "link_internal.h"

enum {
    CODEC_WIRE_VARINT = 0,
    CODEC_WIRE_64BIT = 1,
    CODEC_WIRE_LENGTH = 2,
    CODEC_WIRE_32BIT = 5,
    CODEC_TAG_SHIFT = 3,
    CODEC_WIRE_MASK = 7,
    CODEC_VARINT_BITS = 7,
    CODEC_VARINT_MASK = 0x7f,
    CODEC_VARINT_MORE = 0x80,
    CODEC_FIXED64_BYTES = 8,
    CODEC_FIXED32_BYTES = 4,
    CODEC_TAG_MAX_BYTES = 5,    /* protobuf-c reads tags of at most 5 bytes */
    CODEC_LENGTH_MAX_BYTES = 5, /* and length prefixes of at most 5 */
    CODEC_FIELD_MAX = (1 << 29) - 1,
    /* Field numbers (envelope.proto). */
    ENVELOPE_FIELD_MESSAGE_ID = 1,
    ENVELOPE_FIELD_TYPE = 2,
    ENVELOPE_FIELD_SOURCE = 3,
    ENVELOPE_FIELD_CREATED_AT_MS = 4,
    ENVELOPE_FIELD_CASE_ID = 5,
    ENVELOPE_FIELD_TRACE_ID = 6,
    ENVELOPE_FIELD_PAYLOAD = 7,
    ENVELOPE_FIELD_ATTEMPT = 8,
    ACK_FIELD_ENTRIES = 1,
    ENTRY_FIELD_MESSAGE_ID = 1,
    ENTRY_FIELD_STATUS = 2,
    ENTRY_FIELD_EVENT_ID = 3,
    ENTRY_FIELD_CASE_ID = 4,
    ENTRY_FIELD_REASON = 5,
    ENTRY_FIELD_DETAIL = 6,
};

/* Reads a varint of at most `max_bytes`. Returns 0, or -1. */
static int s_varint(const uint8_t **pos, const uint8_t *end, int max_bytes, uint64_t *value)
{
    uint64_t result = 0;
    const uint8_t *p = *pos;
    for (int i = 0; i < max_bytes && p < end; i++) {
        uint8_t byte = *p++;
        result |= (uint64_t)(byte & CODEC_VARINT_MASK) << (CODEC_VARINT_BITS * i);
        if (!(byte & CODEC_VARINT_MORE)) {
            *pos = p;
            *value = result;
            return 0;
        }
    }
    return -1;
}

/* One field as s_field() read it. */
typedef struct {
    uint32_t number;
    unsigned wire;
    uint64_t value;       /* a varint's value */
    const uint8_t *bytes; /* a length-delimited field's bytes */
    size_t size;
} codec_field_t;

/* Reads one field's key and, for length-delimited fields, its bytes; skips
 * the value of other wire types except varints, whose value it keeps.
 * Returns 0, or -1 when the bytes are not something protobuf-c would take. */
static int s_field(const uint8_t **pos, const uint8_t *end, codec_field_t *out)
{
    uint64_t tag, size;
    *out = (codec_field_t){0};
    if (s_varint(pos, end, CODEC_TAG_MAX_BYTES, &tag))
        return -1;
    uint64_t field = tag >> CODEC_TAG_SHIFT;
    if (field == 0 || field > CODEC_FIELD_MAX)
        return -1;
    out->number = (uint32_t)field;
    out->wire = (unsigned)(tag & CODEC_WIRE_MASK);
    switch (out->wire) {
    case CODEC_WIRE_VARINT:
        return s_varint(pos, end, LINK_VARINT_MAX, &out->value);
    case CODEC_WIRE_64BIT:
        if ((size_t)(end - *pos) < CODEC_FIXED64_BYTES)
            return -1;
        *pos += CODEC_FIXED64_BYTES;
        return 0;
    case CODEC_WIRE_32BIT:
        if ((size_t)(end - *pos) < CODEC_FIXED32_BYTES)
            return -1;
        *pos += CODEC_FIXED32_BYTES;
        return 0;
    case CODEC_WIRE_LENGTH:
        if (s_varint(pos, end, CODEC_LENGTH_MAX_BYTES, &size) || size > (uint64_t)(end - *pos))
            return -1;
        out->bytes = *pos;
        out->size = (size_t)size;
        *pos += size;
        return 0;
    default:
        return -1; /* groups and reserved wire types */
    }
}

/* The wire type each AckEntry field must have, by field number. */
static const unsigned s_entry_wire[] = {
    [ENTRY_FIELD_MESSAGE_ID] = CODEC_WIRE_LENGTH, [ENTRY_FIELD_STATUS] = CODEC_WIRE_VARINT,
    [ENTRY_FIELD_EVENT_ID] = CODEC_WIRE_LENGTH,   [ENTRY_FIELD_CASE_ID] = CODEC_WIRE_LENGTH,
    [ENTRY_FIELD_REASON] = CODEC_WIRE_VARINT,     [ENTRY_FIELD_DETAIL] = CODEC_WIRE_LENGTH,
};
#define ACK_ENTRY_FIELDS (sizeof s_entry_wire / sizeof s_entry_wire[0])

/* Decodes one AckEntry. Returns 0, or -1. */
static int s_entry(const uint8_t *data, size_t len, link_ack_entry_t *entry)
{
    memset(entry, 0, sizeof *entry);
    const uint8_t *pos = data, *end = data + len;
    while (pos < end) {
        codec_field_t f;
        if (s_field(&pos, end, &f))
            return -1;
        if (f.number >= ACK_ENTRY_FIELDS)
            continue; /* unknown: skipped, as protobuf-c keeps it aside */
        if (f.wire != s_entry_wire[f.number])
            return -1;
        switch (f.number) {
        case ENTRY_FIELD_MESSAGE_ID:
            entry->message_id = f.bytes;
            entry->message_id_len = f.size;
            break;
        case ENTRY_FIELD_STATUS:
            entry->status = (Vigil__V1__AckStatus)(int32_t)(uint32_t)f.value;
            break;
        case ENTRY_FIELD_REASON:
            entry->reason = (Vigil__V1__ReasonCode)(int32_t)(uint32_t)f.value;
            break;
        case ENTRY_FIELD_DETAIL:
            entry->detail = (const char *)f.bytes;
            entry->detail_len = f.size;
            break;
        default:
            break; /* event_id, case_id: checked, not needed by the sender */
        }
    }
    return 0;
}

int link_ack_read(const uint8_t *data, size_t len, link_ack_entry_t *entries, size_t capacity,
                  size_t *count)
{
    *count = 0;
    const uint8_t *pos = data, *end = data + len;
    while (pos < end) {
        codec_field_t f;
        if (s_field(&pos, end, &f))
            return -1;
        if (f.number != ACK_FIELD_ENTRIES)
            continue;
        if (f.wire != CODEC_WIRE_LENGTH || *count == capacity ||
            s_entry(f.bytes, f.size, &entries[*count]))
            return -1;
        (*count)++;
    }
    return 0;
}

/* --- Envelope ------------------------------------------------------------- */

/* The wire type each Envelope field must have, by field number. */
static const unsigned s_envelope_wire[] = {
    [ENVELOPE_FIELD_MESSAGE_ID] = CODEC_WIRE_LENGTH,
    [ENVELOPE_FIELD_TYPE] = CODEC_WIRE_VARINT,
    [ENVELOPE_FIELD_SOURCE] = CODEC_WIRE_LENGTH,
    [ENVELOPE_FIELD_CREATED_AT_MS] = CODEC_WIRE_VARINT,
    [ENVELOPE_FIELD_CASE_ID] = CODEC_WIRE_LENGTH,
    [ENVELOPE_FIELD_TRACE_ID] = CODEC_WIRE_LENGTH,
    [ENVELOPE_FIELD_PAYLOAD] = CODEC_WIRE_LENGTH,
    [ENVELOPE_FIELD_ATTEMPT] = CODEC_WIRE_VARINT,
};
#define ENVELOPE_FIELDS (sizeof s_envelope_wire / sizeof s_envelope_wire[0])

static void *s_alloc(link_arena_t *arena, size_t size)
{
    return arena->allocator.alloc(arena->allocator.allocator_data, size);
}

/* A NUL-terminated copy of `len` bytes in the arena, or NULL. */
static char *s_string(link_arena_t *arena, const uint8_t *bytes, size_t len)
{
    char *out = s_alloc(arena, len + 1);
    if (out) {
        if (len)
            memcpy(out, bytes, len);
        out[len] = '\0';
    }
    return out;
}

/* A copy of `len` bytes in the arena (NULL for none, as protobuf-c). Returns
 * 0, or -1 when memory ran out. */
static int s_bytes(link_arena_t *arena, const uint8_t *bytes, size_t len, ProtobufCBinaryData *out)
{
    out->len = len;
    out->data = NULL;
    if (len == 0)
        return 0;
    out->data = s_alloc(arena, len);
    if (!out->data)
        return -1;
    memcpy(out->data, bytes, len);
    return 0;
}

Vigil__V1__Envelope *link_envelope_read(link_arena_t *arena, size_t len, const uint8_t *data)
{
    Vigil__V1__Envelope *envelope = s_alloc(arena, sizeof *envelope);
    if (!envelope)
        return NULL;
    vigil__v1__envelope__init(envelope);
    const uint8_t *pos = data, *end = data + len;
    while (pos < end) {
        codec_field_t f;
        if (s_field(&pos, end, &f))
            return NULL;
        if (f.number >= ENVELOPE_FIELDS || f.wire != s_envelope_wire[f.number])
            return NULL; /* protobuf-c keeps unknown fields for the caller to see */
        char **text = NULL;
        switch (f.number) {
        case ENVELOPE_FIELD_MESSAGE_ID:
            if (s_bytes(arena, f.bytes, f.size, &envelope->message_id))
                return NULL;
            break;
        case ENVELOPE_FIELD_TYPE:
            envelope->type = (Vigil__V1__MessageType)(int32_t)(uint32_t)f.value;
            break;
        case ENVELOPE_FIELD_SOURCE:
            text = &envelope->source;
            break;
        case ENVELOPE_FIELD_CREATED_AT_MS:
            envelope->created_at_ms = (int64_t)f.value;
            break;
        case ENVELOPE_FIELD_CASE_ID:
            text = &envelope->case_id;
            break;
        case ENVELOPE_FIELD_TRACE_ID:
            text = &envelope->trace_id;
            break;
        case ENVELOPE_FIELD_PAYLOAD:
            if (s_bytes(arena, f.bytes, f.size, &envelope->payload))
                return NULL;
            break;
        case ENVELOPE_FIELD_ATTEMPT:
            envelope->attempt = (uint32_t)f.value;
            break;
        default:
            return NULL;
        }
        if (text && !(*text = s_string(arena, f.bytes, f.size)))
            return NULL;
    }
    return envelope;
}

Vigil__V1__Envelope *link_envelope_unpack(link_arena_t *arena, size_t len, const uint8_t *data)
{
    Vigil__V1__Envelope *envelope = link_envelope_read(arena, len, data);
    if (envelope)
        return envelope;
    /* Declined (what it allocated goes back with the arena): protobuf-c decides. */
    return vigil__v1__envelope__unpack(&arena->allocator, len, data);
}

/* --- writing an Envelope --------------------------------------------------- */

static size_t s_put_tag(uint8_t *out, uint32_t field, unsigned wire)
{
    return link_put_varint(out, ((uint64_t)field << CODEC_TAG_SHIFT) | wire);
}

static size_t s_put_bytes(uint8_t *out, uint32_t field, const void *data, size_t len)
{
    if (len == 0)
        return 0; /* proto3: an empty value is not written */
    size_t n = s_put_tag(out, field, CODEC_WIRE_LENGTH);
    n += link_put_varint(out + n, len);
    memcpy(out + n, data, len);
    return n + len;
}

static size_t s_put_string(uint8_t *out, uint32_t field, const char *text)
{
    return text ? s_put_bytes(out, field, text, strlen(text)) : 0;
}

static size_t s_put_number(uint8_t *out, uint32_t field, uint64_t value)
{
    if (value == 0)
        return 0;
    size_t n = s_put_tag(out, field, CODEC_WIRE_VARINT);
    return n + link_put_varint(out + n, value);
}

size_t link_envelope_pack(const Vigil__V1__Envelope *e, uint8_t *out)
{
    size_t n = 0;
    n += s_put_bytes(out + n, ENVELOPE_FIELD_MESSAGE_ID, e->message_id.data, e->message_id.len);
    /* An enum is an int32: negative values are sign-extended to 64 bits. */
    n += s_put_number(out + n, ENVELOPE_FIELD_TYPE, (uint64_t)(int64_t)(int32_t)e->type);
    n += s_put_string(out + n, ENVELOPE_FIELD_SOURCE, e->source);
    n += s_put_number(out + n, ENVELOPE_FIELD_CREATED_AT_MS, (uint64_t)e->created_at_ms);
    n += s_put_string(out + n, ENVELOPE_FIELD_CASE_ID, e->case_id);
    n += s_put_string(out + n, ENVELOPE_FIELD_TRACE_ID, e->trace_id);
    n += s_put_bytes(out + n, ENVELOPE_FIELD_PAYLOAD, e->payload.data, e->payload.len);
    n += s_put_number(out + n, ENVELOPE_FIELD_ATTEMPT, e->attempt);
    return n;
}

/* --- writing an Ack (receiver, once per batch) ------------------------------ */

/* Bytes link_put_varint() writes for `value`. Cannot fail. */
static size_t s_varint_size(uint64_t value)
{
    size_t n = 1;
    while (value > CODEC_VARINT_MASK) {
        value >>= CODEC_VARINT_BITS;
        n++;
    }
    return n;
}

/* Size of a length-delimited field (tag of one byte: field numbers < 16). */
static size_t s_bytes_size(size_t len)
{
    return len ? 1 + s_varint_size(len) + len : 0;
}

static size_t s_number_size(uint64_t value)
{
    return value ? 1 + s_varint_size(value) : 0;
}

static size_t s_string_size(const char *text)
{
    return text ? s_bytes_size(strlen(text)) : 0;
}

/* An enum is an int32: negative values are sign-extended to 64 bits. */
static uint64_t s_enum_value(int value)
{
    return (uint64_t)(int64_t)(int32_t)value;
}

static size_t s_entry_size(const Vigil__V1__AckEntry *e)
{
    return s_bytes_size(e->message_id.len) + s_number_size(s_enum_value((int)e->status)) +
           s_string_size(e->event_id) + s_string_size(e->case_id) +
           s_number_size(s_enum_value((int)e->reason)) + s_string_size(e->detail);
}

size_t link_ack_packed_size(Vigil__V1__AckEntry *const *entries, size_t count)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        size_t entry = s_entry_size(entries[i]);
        n += 1 + s_varint_size(entry) + entry; /* entries are written even when empty */
    }
    return n;
}

/* Writes the fields of one entry to `out`; returns their length. */
static size_t s_put_entry(const Vigil__V1__AckEntry *e, uint8_t *out)
{
    size_t n = s_put_bytes(out, ENTRY_FIELD_MESSAGE_ID, e->message_id.data, e->message_id.len);
    n += s_put_number(out + n, ENTRY_FIELD_STATUS, s_enum_value((int)e->status));
    n += s_put_string(out + n, ENTRY_FIELD_EVENT_ID, e->event_id);
    n += s_put_string(out + n, ENTRY_FIELD_CASE_ID, e->case_id);
    n += s_put_number(out + n, ENTRY_FIELD_REASON, s_enum_value((int)e->reason));
    n += s_put_string(out + n, ENTRY_FIELD_DETAIL, e->detail);
    return n;
}

size_t link_ack_pack(Vigil__V1__AckEntry *const *entries, size_t count, uint8_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        /* The fields go after a tag and a one-byte length, and move right
         * in the rare entry whose length needs more (the caller's buffer
         * holds the final size, so they fit either way). */
        n += s_put_tag(out + n, ACK_FIELD_ENTRIES, CODEC_WIRE_LENGTH);
        size_t len = s_put_entry(entries[i], out + n + 1);
        uint8_t prefix[LINK_VARINT_MAX];
        size_t prefix_len = link_put_varint(prefix, len);
        if (prefix_len > 1)
            memmove(out + n + prefix_len, out + n + 1, len);
        memcpy(out + n, prefix, prefix_len);
        n += prefix_len + len;
    }
    return n;
}
