/* fuzz_envelope.c: the link's hand-written codec against protobuf-c.
 *
 * Every frame a peer sends is decoded by link_codec.c, which reads an
 * Envelope in place instead of through protobuf-c, and every answer is
 * written by its own Ack writer. Both promise to do exactly what
 * protobuf-c does. For any input bytes this target checks that:
 * - link_envelope_unpack() decodes exactly when protobuf-c does, to the
 *   same fields (and link_envelope_read(), when it does not decline);
 * - link_peek_bytes_field() finds the message_id protobuf-c finds (what a
 *   refused frame is answered with), when it finds one;
 * - link_envelope_pack() writes what protobuf-c writes, byte for byte;
 * - read as an Ack, link_ack_packed_size() and link_ack_pack() agree with
 *   protobuf-c on the size and every byte.
 */
#include <string.h>

#include "fuzz.h"
#include "link_internal.h"
#include "vigil/v1/envelope.pb-c.h"

static link_arena_t s_arena;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    link_arena_init(&s_arena);
    return 0;
}

static int s_bytes_equal(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static int s_text_equal(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void s_same_envelope(const Vigil__V1__Envelope *ours, const Vigil__V1__Envelope *theirs,
                            const char *who)
{
    FUZZ_CHECK(s_bytes_equal(ours->message_id, theirs->message_id), "%s: message_id differs", who);
    FUZZ_CHECK(ours->type == theirs->type, "%s: type %d, protobuf-c %d", who, (int)ours->type,
               (int)theirs->type);
    FUZZ_CHECK(s_text_equal(ours->source, theirs->source), "%s: source differs", who);
    FUZZ_CHECK(ours->created_at_ms == theirs->created_at_ms, "%s: created_at_ms differs", who);
    FUZZ_CHECK(s_text_equal(ours->case_id, theirs->case_id), "%s: case_id differs", who);
    FUZZ_CHECK(s_text_equal(ours->trace_id, theirs->trace_id), "%s: trace_id differs", who);
    FUZZ_CHECK(s_bytes_equal(ours->payload, theirs->payload), "%s: payload differs", who);
    FUZZ_CHECK(ours->attempt == theirs->attempt, "%s: attempt differs", who);
    FUZZ_CHECK(ours->base.n_unknown_fields == theirs->base.n_unknown_fields,
               "%s: %u unknown fields, protobuf-c %u", who, ours->base.n_unknown_fields,
               theirs->base.n_unknown_fields);
}

static void s_check_envelope(const uint8_t *data, size_t size)
{
    Vigil__V1__Envelope *theirs = vigil__v1__envelope__unpack(NULL, size, data);
    Vigil__V1__Envelope *ours = link_envelope_unpack(&s_arena, size, data);
    FUZZ_CHECK((ours != NULL) == (theirs != NULL), "link_envelope_unpack %s, protobuf-c %s",
               ours ? "decoded" : "refused", theirs ? "decoded" : "refused");
    Vigil__V1__Envelope *in_place = link_envelope_read(&s_arena, size, data);
    FUZZ_CHECK(!in_place || theirs, "link_envelope_read decoded what protobuf-c refuses");
    if (theirs) {
        s_same_envelope(ours, theirs, "link_envelope_unpack");
        if (in_place)
            s_same_envelope(in_place, theirs, "link_envelope_read");
        const uint8_t *id = NULL;
        size_t id_len = 0;
        if (link_peek_bytes_field(data, size, 1, &id, &id_len) == 0) {
            ProtobufCBinaryData peeked = {id_len, (uint8_t *)id};
            FUZZ_CHECK(s_bytes_equal(peeked, theirs->message_id),
                       "link_peek_bytes_field found another message_id than protobuf-c");
        }
        if (theirs->base.n_unknown_fields == 0) {
            size_t size_theirs = vigil__v1__envelope__get_packed_size(theirs);
            uint8_t *a = malloc(size_theirs + 1), *b = malloc(size_theirs + 1);
            FUZZ_CHECK(a && b, "out of memory");
            size_t written_theirs = vigil__v1__envelope__pack(theirs, a);
            size_t written_ours = link_envelope_pack(theirs, b);
            FUZZ_CHECK(written_ours == written_theirs && memcmp(a, b, written_ours) == 0,
                       "link_envelope_pack wrote %zu bytes, protobuf-c %zu, or other bytes",
                       written_ours, written_theirs);
            free(a);
            free(b);
        }
        vigil__v1__envelope__free_unpacked(theirs, NULL);
    }
    link_arena_reset(&s_arena);
}

static void s_check_ack(const uint8_t *data, size_t size)
{
    Vigil__V1__Ack *ack = vigil__v1__ack__unpack(NULL, size, data);
    if (!ack)
        return;
    int unknown = ack->base.n_unknown_fields > 0;
    for (size_t i = 0; i < ack->n_entries; i++)
        unknown |= ack->entries[i]->base.n_unknown_fields > 0;
    if (!unknown) {
        size_t size_theirs = vigil__v1__ack__get_packed_size(ack);
        size_t size_ours = link_ack_packed_size(ack->entries, ack->n_entries);
        FUZZ_CHECK(size_ours == size_theirs, "link_ack_packed_size %zu, protobuf-c %zu", size_ours,
                   size_theirs);
        uint8_t *a = malloc(size_theirs + 1), *b = malloc(size_theirs + 1);
        FUZZ_CHECK(a && b, "out of memory");
        size_t written_theirs = vigil__v1__ack__pack(ack, a);
        size_t written_ours = link_ack_pack(ack->entries, ack->n_entries, b);
        FUZZ_CHECK(written_ours == written_theirs && memcmp(a, b, written_ours) == 0,
                   "link_ack_pack wrote %zu bytes, protobuf-c %zu, or other bytes", written_ours,
                   written_theirs);
        free(a);
        free(b);
    }
    vigil__v1__ack__free_unpacked(ack, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_check_envelope(data, size);
    s_check_ack(data, size);
    return 0;
}

/* --- seeds ------------------------------------------------------------------ */

static void s_emit_envelope(fuzz_emit_fn emit, void *ctx, const Vigil__V1__Envelope *e)
{
    size_t size = vigil__v1__envelope__get_packed_size(e);
    uint8_t *buffer = malloc(size + 1);
    if (!buffer)
        return;
    vigil__v1__envelope__pack(e, buffer);
    emit(ctx, buffer, size);
    free(buffer);
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    static uint8_t id[16] = {0, 0, 0x06, 0x30, 0x5a, 0x11, 0x22, 0x33, 1, 2, 3, 4, 5, 6, 7, 8};
    static uint8_t payload[] = {0x0a, 0x05, 'e', 'v', '-', '0', '1', 0x10, 0x01};
    Vigil__V1__Envelope e = VIGIL__V1__ENVELOPE__INIT;
    s_emit_envelope(emit, ctx, &e); /* empty */
    e.message_id = (ProtobufCBinaryData){sizeof id, id};
    e.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT;
    e.source = "hotline-east";
    e.created_at_ms = 1795000000000;
    e.trace_id = "trace-7";
    e.payload = (ProtobufCBinaryData){sizeof payload, payload};
    e.attempt = 1;
    s_emit_envelope(emit, ctx, &e);
    e.case_id = "c_a2njlc74t3h7wmpudzbm";
    e.type = VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CASE_VIEW;
    e.created_at_ms = -1; /* ten-byte varint */
    e.attempt = 4000000000u;
    s_emit_envelope(emit, ctx, &e);

    /* an Ack with two entries */
    Vigil__V1__AckEntry first = VIGIL__V1__ACK_ENTRY__INIT, second = VIGIL__V1__ACK_ENTRY__INIT;
    first.message_id = (ProtobufCBinaryData){sizeof id, id};
    first.status = VIGIL__V1__ACK_STATUS__ACK_STATUS_ACCEPTED;
    first.event_id = "ev-01";
    first.case_id = "c_a2njlc74t3h7wmpudzbm";
    second.message_id = (ProtobufCBinaryData){sizeof id, id};
    second.status = VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED;
    second.reason = VIGIL__V1__REASON_CODE__REASON_INVALID_PHONE;
    second.detail = "field victim.phone: not an E.164 number";
    Vigil__V1__AckEntry *entries[] = {&first, &second};
    Vigil__V1__Ack ack = VIGIL__V1__ACK__INIT;
    ack.n_entries = 2;
    ack.entries = entries;
    size_t size = vigil__v1__ack__get_packed_size(&ack);
    uint8_t *buffer = malloc(size + 1);
    if (buffer) {
        vigil__v1__ack__pack(&ack, buffer);
        emit(ctx, buffer, size);
        free(buffer);
    }
    /* an unknown field (number 15, varint) after a valid envelope */
    static const uint8_t unknown[] = {0x0a, 0x02, 'i', 'd', 0x10, 0x0a, 0x78, 0x01};
    emit(ctx, unknown, sizeof unknown);
}
