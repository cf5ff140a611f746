/* test_link_codec.c: the link's hand-written codec against protobuf-c.
 *
 * link_ack_read() replaces vigil__v1__ack__unpack() on the sender's hot
 * path, link_envelope_read() replaces vigil__v1__envelope__unpack() on the
 * receiver's, link_envelope_pack() replaces vigil__v1__envelope__pack()
 * in the outbox and link_ack_pack() replaces vigil__v1__ack__pack() on the
 * receiver, so the writers must produce protobuf-c's bytes exactly and
 * the readers must see exactly what protobuf-c sees: the same
 * Ack entries in the same order with the same message ids, statuses,
 * reasons and details, and the same Envelope fields. Messages packed by
 * protobuf-c are read the same way; duplicated and unknown fields are read
 * the way protobuf-c reads them (or declined); and for thousands of damaged
 * messages (bytes flipped, cut short, garbage appended) each reader either
 * declines without reporting anything (the link then falls back to
 * protobuf-c) or agrees with protobuf-c field for field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../services/common/src/link_internal.h"

#define MAX_ENTRIES   40
#define MAX_ID        24
#define MAX_TEXT      40
#define ACK_BYTES     16384
#define RANDOM_ACKS   400
#define MUTATIONS     40 /* damaged copies per random Ack */
#define STATUS_SPREAD 9  /* statuses drawn from 0..8, past the enum on purpose */
#define REASON_SPREAD 20
#define SEED          20261130u
#define BYTE_VALUES   256
#define PRINTABLE     95  /* ' ' .. '~' */
#define LONG_TEXT     300 /* room for strings past 127 bytes (two-byte length prefix) */

/* What the reader reported, copied out of the Ack's bytes. */
typedef struct {
    uint8_t id[MAX_ID + 1];
    size_t id_len;
    int status;
    int reason;
    char detail[ACK_BYTES];
} seen_t;

typedef struct {
    seen_t *entries;
    size_t count;
    size_t capacity;
} seen_list_t;

static uint32_t s_state = SEED;

static uint32_t s_rand(void)
{
    s_state = s_state * 1664525u + 1013904223u; /* numerical recipes LCG: reproducible */
    return s_state >> 8;
}

static void s_collect(seen_list_t *list, const link_ack_entry_t *entry)
{
    assert_true(list->count < list->capacity);
    seen_t *seen = &list->entries[list->count++];
    memset(seen, 0, sizeof *seen);
    seen->id_len = entry->message_id_len;
    if (entry->message_id_len && entry->message_id_len <= MAX_ID)
        memcpy(seen->id, entry->message_id, entry->message_id_len);
    seen->status = (int)entry->status;
    seen->reason = (int)entry->reason;
    /* As a C string, the way the sender uses it (protobuf-c stops at a NUL too). */
    snprintf(seen->detail, sizeof seen->detail, "%.*s", (int)entry->detail_len,
             entry->detail ? entry->detail : "");
}

/* Reads `data` in place with room for `capacity` entries and copies what
 * it read into `list`. Returns link_ack_read()'s result. */
static int s_read(const uint8_t *data, size_t len, size_t capacity, seen_list_t *list)
{
    static link_ack_entry_t entries[ACK_BYTES];
    assert_true(capacity <= ACK_BYTES);
    size_t count = 0;
    list->count = 0;
    int rc = link_ack_read(data, len, entries, capacity, &count);
    if (rc == 0) {
        assert_true(count <= capacity);
        for (size_t i = 0; i < count; i++)
            s_collect(list, &entries[i]);
    }
    return rc;
}

/* Reads `data` both ways and checks they agree. Returns true when the
 * in-place reader took it. */
static bool s_compare(const uint8_t *data, size_t len)
{
    static seen_t storage[ACK_BYTES];
    seen_list_t list = {.entries = storage, .capacity = ACK_BYTES};
    if (s_read(data, len, ACK_BYTES, &list) != 0)
        return false; /* declined: the sender unpacks it with protobuf-c instead */
    Vigil__V1__Ack *ack = vigil__v1__ack__unpack(NULL, len, data);
    assert_non_null(ack); /* whatever the reader takes, protobuf-c takes */
    assert_int_equal(list.count, ack->n_entries);
    for (size_t i = 0; i < ack->n_entries; i++) {
        const Vigil__V1__AckEntry *e = ack->entries[i];
        const seen_t *seen = &list.entries[i];
        assert_int_equal(seen->id_len, e->message_id.len);
        if (e->message_id.len && e->message_id.len <= MAX_ID)
            assert_memory_equal(seen->id, e->message_id.data, e->message_id.len);
        assert_int_equal(seen->status, (int)e->status);
        assert_int_equal(seen->reason, (int)e->reason);
        assert_string_equal(seen->detail, e->detail ? e->detail : "");
    }
    vigil__v1__ack__free_unpacked(ack, NULL);
    return true;
}

static void s_random_text(char *out, size_t max, bool any_byte)
{
    size_t len = s_rand() % max;
    for (size_t i = 0; i < len; i++) {
        char c = any_byte ? (char)(1 + s_rand() % (BYTE_VALUES - 1)) /* no NUL: C strings */
                          : (char)(' ' + s_rand() % PRINTABLE);
        out[i] = c;
    }
    out[len] = '\0';
}

/* Packs a random Ack with protobuf-c into `out`; returns its length. */
static size_t s_random_ack(uint8_t *out)
{
    static Vigil__V1__AckEntry entries[MAX_ENTRIES];
    static Vigil__V1__AckEntry *pointers[MAX_ENTRIES];
    static uint8_t ids[MAX_ENTRIES][MAX_ID];
    static char texts[MAX_ENTRIES][3][MAX_TEXT + 1];
    Vigil__V1__Ack ack = VIGIL__V1__ACK__INIT;
    ack.n_entries = s_rand() % MAX_ENTRIES;
    ack.entries = pointers;
    for (size_t i = 0; i < ack.n_entries; i++) {
        Vigil__V1__AckEntry *e = &entries[i];
        vigil__v1__ack_entry__init(e);
        e->message_id.len = s_rand() % 4 == 0 ? s_rand() % MAX_ID : VIGIL_ID_BYTES;
        for (size_t b = 0; b < e->message_id.len; b++)
            ids[i][b] = (uint8_t)s_rand();
        e->message_id.data = ids[i];
        e->status = (Vigil__V1__AckStatus)(s_rand() % STATUS_SPREAD);
        e->reason = (Vigil__V1__ReasonCode)(s_rand() % REASON_SPREAD);
        bool any_byte = s_rand() % 2;
        s_random_text(texts[i][0], MAX_TEXT, any_byte);
        s_random_text(texts[i][1], MAX_TEXT, any_byte);
        s_random_text(texts[i][2], MAX_TEXT, any_byte);
        e->case_id = texts[i][0];
        e->event_id = texts[i][1];
        e->detail = texts[i][2];
        pointers[i] = e;
    }
    assert_true(vigil__v1__ack__get_packed_size(&ack) <= ACK_BYTES);
    return vigil__v1__ack__pack(&ack, out);
}

/* Every Ack protobuf-c writes is read the same way, in place. */
static void test_acks_packed_by_protobuf_c_read_the_same(void **state)
{
    (void)state;
    uint8_t bytes[ACK_BYTES];
    for (int i = 0; i < RANDOM_ACKS; i++) {
        size_t len = s_random_ack(bytes);
        assert_true(s_compare(bytes, len));
    }
}

/* Repeated fields (last one wins), unknown fields (skipped) and an empty
 * Ack are read as protobuf-c reads them; a group makes the reader decline. */
static void test_odd_but_valid_shapes_read_like_protobuf_c(void **state)
{
    (void)state;
    /* entries { status: 1, status: 3 (wins), reason: 4, field 9 varint 7,
     * field 10 fixed32, detail "ab", detail "xyz" (wins) }, then field 5 of
     * the Ack itself as a varint. */
    static const uint8_t repeated[] = {
        0x0a, 0x16, 0x10, 0x01, 0x10, 0x03, 0x28, 0x04, 0x48, 0x07, 0x55, 0x01, 0x02,
        0x03, 0x04, 0x32, 0x02, 'a',  'b',  0x32, 0x03, 'x',  'y',  'z',  0x28, 0x2a,
    };
    assert_true(s_compare(repeated, sizeof repeated));
    seen_t storage[2];
    seen_list_t list = {.entries = storage, .capacity = 2};
    assert_int_equal(s_read(repeated, sizeof repeated, 2, &list), 0);
    assert_int_equal(list.count, 1);
    assert_int_equal(storage[0].status, VIGIL__V1__ACK_STATUS__ACK_STATUS_REJECTED);
    assert_string_equal(storage[0].detail, "xyz");

    assert_true(s_compare((const uint8_t *)"", 0)); /* no entries at all */

    static const uint8_t group[] = {0x0a, 0x04, 0x10, 0x01, 0x1b, 0x1c}; /* start/end group */
    assert_int_equal(s_read(group, sizeof group, 2, &list), -1);

    /* More entries than the caller has room for: declined, not cut short. */
    uint8_t bytes[ACK_BYTES];
    size_t len, entries;
    do {
        len = s_random_ack(bytes);
        Vigil__V1__Ack *ack = vigil__v1__ack__unpack(NULL, len, bytes);
        assert_non_null(ack);
        entries = ack->n_entries;
        vigil__v1__ack__free_unpacked(ack, NULL);
    } while (entries < 3);
    assert_int_equal(s_read(bytes, len, 2, &list), -1);
    assert_true(s_compare(bytes, len));

    static const uint8_t status_as_bytes[] = {0x0a, 0x03, 0x12, 0x01, 0x01};
    assert_false(s_compare(status_as_bytes, sizeof status_as_bytes));
}

/* Damaged Acks: declined outright, or read exactly like protobuf-c. */
static void test_damaged_acks_are_declined_or_read_like_protobuf_c(void **state)
{
    (void)state;
    uint8_t bytes[ACK_BYTES], damaged[ACK_BYTES + MAX_TEXT];
    size_t taken = 0, declined = 0;
    for (int i = 0; i < RANDOM_ACKS; i++) {
        size_t len = s_random_ack(bytes);
        for (int m = 0; m < MUTATIONS; m++) {
            memcpy(damaged, bytes, len);
            size_t damaged_len = len;
            switch (s_rand() % 3) {
            case 0: /* flip a few bytes */
                for (int k = 0; len && k < 1 + (int)(s_rand() % 3); k++)
                    damaged[s_rand() % len] ^= (uint8_t)(1 + s_rand() % (BYTE_VALUES - 1));
                break;
            case 1: /* cut short */
                damaged_len = len ? s_rand() % len : 0;
                break;
            default: /* garbage after the end */
                for (size_t k = s_rand() % MAX_TEXT + 1; k > 0; k--)
                    damaged[damaged_len++] = (uint8_t)s_rand();
                break;
            }
            if (s_compare(damaged, damaged_len))
                taken++;
            else
                declined++;
        }
    }
    /* Both paths were exercised, so the comparison above meant something. */
    assert_true(taken > 0);
    assert_true(declined > 0);
}

/* --- Envelope ------------------------------------------------------------ */

static void s_same_bytes(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    assert_int_equal(a->len, b->len);
    if (a->len)
        assert_memory_equal(a->data, b->data, a->len);
}

/* Reads `data` both ways. Returns true when the in-place reader took it;
 * then every field equals protobuf-c's. link_envelope_unpack() must give
 * protobuf-c's answer either way. */
static bool s_compare_envelope(const uint8_t *data, size_t len)
{
    link_arena_t arena;
    link_arena_init(&arena);
    Vigil__V1__Envelope *reference = vigil__v1__envelope__unpack(NULL, len, data);
    Vigil__V1__Envelope *read = link_envelope_read(&arena, len, data);
    Vigil__V1__Envelope *unpacked = link_envelope_unpack(&arena, len, data);
    assert_true((unpacked != NULL) == (reference != NULL));
    const Vigil__V1__Envelope *views[] = {read, unpacked};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++) {
        const Vigil__V1__Envelope *e = views[i];
        if (!e)
            continue;
        assert_non_null(reference); /* whatever the reader takes, protobuf-c takes */
        assert_ptr_equal(e->base.descriptor, &vigil__v1__envelope__descriptor);
        assert_int_equal(e->base.n_unknown_fields, reference->base.n_unknown_fields);
        s_same_bytes(&e->message_id, &reference->message_id);
        assert_int_equal(e->type, reference->type);
        assert_string_equal(e->source, reference->source);
        assert_int_equal(e->created_at_ms, reference->created_at_ms);
        assert_string_equal(e->case_id, reference->case_id);
        assert_string_equal(e->trace_id, reference->trace_id);
        s_same_bytes(&e->payload, &reference->payload);
        assert_int_equal(e->attempt, reference->attempt);
    }
    bool taken = read != NULL;
    if (reference)
        vigil__v1__envelope__free_unpacked(reference, NULL);
    link_arena_release(&arena);
    return taken;
}

/* Packs a random Envelope with protobuf-c into `out`; returns its length.
 * Values run past the enum and into negative and 64-bit ranges on purpose. */
static size_t s_random_envelope(uint8_t *out)
{
    static uint8_t id[MAX_ID], payload[MAX_TEXT * 4];
    static char source[MAX_TEXT + 1], case_id[MAX_TEXT + 1], trace_id[MAX_TEXT + 1];
    Vigil__V1__Envelope e = VIGIL__V1__ENVELOPE__INIT;
    e.message_id.len = s_rand() % 4 == 0 ? s_rand() % MAX_ID : VIGIL_ID_BYTES;
    for (size_t b = 0; b < e.message_id.len; b++)
        id[b] = (uint8_t)s_rand();
    e.message_id.data = id;
    e.type =
        (Vigil__V1__MessageType)(s_rand() % 4 == 0 ? (int32_t)s_rand() : (int32_t)(s_rand() % 12));
    bool any_byte = s_rand() % 2;
    s_random_text(source, MAX_TEXT, any_byte);
    s_random_text(case_id, MAX_TEXT, any_byte);
    s_random_text(trace_id, MAX_TEXT, any_byte);
    e.source = source;
    e.case_id = case_id;
    e.trace_id = trace_id;
    e.created_at_ms = (int64_t)(((uint64_t)s_rand() << 40) ^ ((uint64_t)s_rand() << 16) ^ s_rand());
    if (s_rand() % 4 == 0)
        e.created_at_ms = -e.created_at_ms;
    e.payload.len = s_rand() % sizeof payload;
    for (size_t b = 0; b < e.payload.len; b++)
        payload[b] = (uint8_t)s_rand();
    e.payload.data = payload;
    e.attempt = s_rand() % 3 == 0 ? s_rand() : s_rand() % 5;
    assert_true(vigil__v1__envelope__get_packed_size(&e) <= ACK_BYTES);
    return vigil__v1__envelope__pack(&e, out);
}

static void test_envelopes_packed_by_protobuf_c_read_the_same(void **state)
{
    (void)state;
    uint8_t bytes[ACK_BYTES];
    for (int i = 0; i < RANDOM_ACKS; i++) {
        size_t len = s_random_envelope(bytes);
        assert_true(s_compare_envelope(bytes, len));
    }
    /* Repeated fields (the last wins) and an empty envelope; an unknown
     * field (9) and a type sent as bytes are declined, protobuf-c decides. */
    static const uint8_t repeated[] = {0x10, 0x05, 0x1a, 0x01, 'a',  0x10, 0x07,
                                       0x1a, 0x02, 'b',  'c',  0x40, 0x03};
    assert_true(s_compare_envelope(repeated, sizeof repeated));
    assert_true(s_compare_envelope((const uint8_t *)"", 0));
    static const uint8_t unknown[] = {0x10, 0x05, 0x48, 0x01};
    assert_false(s_compare_envelope(unknown, sizeof unknown));
    static const uint8_t type_as_bytes[] = {0x12, 0x01, 0x05};
    assert_false(s_compare_envelope(type_as_bytes, sizeof type_as_bytes));
}

/* The writer's bytes are protobuf-c's bytes, for envelopes with every
 * field set, none set, and anything between. */
static void test_envelopes_are_written_byte_for_byte_like_protobuf_c(void **state)
{
    (void)state;
    static uint8_t id[MAX_ID], payload[MAX_TEXT * 4];
    static char source[MAX_TEXT + 1], case_id[MAX_TEXT + 1], trace_id[MAX_TEXT + 1];
    uint8_t mine[ACK_BYTES], theirs[ACK_BYTES];
    for (int i = 0; i < RANDOM_ACKS * 4; i++) {
        Vigil__V1__Envelope e = VIGIL__V1__ENVELOPE__INIT;
        unsigned present = s_rand(); /* one bit per field: set or left at its zero value */
        if (present & 1) {
            e.message_id.len = s_rand() % MAX_ID;
            for (size_t b = 0; b < e.message_id.len; b++)
                id[b] = (uint8_t)s_rand();
            e.message_id.data = id;
        }
        if (present & 2)
            e.type = (Vigil__V1__MessageType)(s_rand() % 2 ? (int32_t)(s_rand() << 8)
                                                           : (int32_t)(s_rand() % 12));
        if (present & 4) {
            s_random_text(source, MAX_TEXT, true);
            e.source = source;
        }
        if (present & 8)
            e.created_at_ms =
                (int64_t)(((uint64_t)s_rand() << 40) ^ s_rand()) * (s_rand() % 2 ? 1 : -1);
        if (present & 16) {
            s_random_text(case_id, MAX_TEXT, false);
            e.case_id = case_id;
        }
        if (present & 32) {
            s_random_text(trace_id, MAX_TEXT, false);
            e.trace_id = trace_id;
        }
        if (present & 64) {
            e.payload.len = s_rand() % sizeof payload;
            for (size_t b = 0; b < e.payload.len; b++)
                payload[b] = (uint8_t)s_rand();
            e.payload.data = payload;
        }
        if (present & 128)
            e.attempt = s_rand() % 2 ? s_rand() << 8 : s_rand() % 5;
        size_t expected = vigil__v1__envelope__pack(&e, theirs);
        assert_int_equal(vigil__v1__envelope__get_packed_size(&e), expected);
        assert_int_equal(link_envelope_pack(&e, mine), expected);
        assert_memory_equal(mine, theirs, expected);
    }
}

/* A string field of a random Ack entry: NULL, empty, short, or long enough
 * for a two-byte length prefix. */
static char *s_random_field(char *buffer, size_t size)
{
    switch (s_rand() % 4) {
    case 0:
        return NULL;
    case 1:
        buffer[0] = '\0';
        return buffer;
    case 2:
        s_random_text(buffer, MAX_TEXT, true);
        return buffer;
    default:
        s_random_text(buffer, size - 1, false);
        return buffer;
    }
}

/* The receiver writes its Acks with link_ack_pack(): the same size and the
 * same bytes as protobuf-c, for empty, absent and long strings, empty ids,
 * zero, large and negative enum values, and an Ack with no entries. */
static void test_acks_are_written_byte_for_byte_like_protobuf_c(void **state)
{
    (void)state;
    static Vigil__V1__AckEntry entries[MAX_ENTRIES];
    static Vigil__V1__AckEntry *pointers[MAX_ENTRIES];
    static uint8_t ids[MAX_ENTRIES][MAX_ID];
    static char texts[MAX_ENTRIES][3][LONG_TEXT];
    static uint8_t mine[ACK_BYTES * 2], theirs[ACK_BYTES * 2];
    for (int i = 0; i < RANDOM_ACKS; i++) {
        Vigil__V1__Ack ack = VIGIL__V1__ACK__INIT;
        ack.n_entries = i == 0 ? 0 : s_rand() % MAX_ENTRIES;
        ack.entries = pointers;
        for (size_t k = 0; k < ack.n_entries; k++) {
            Vigil__V1__AckEntry *e = &entries[k];
            vigil__v1__ack_entry__init(e);
            e->message_id.len = s_rand() % 4 == 0 ? s_rand() % MAX_ID : VIGIL_ID_BYTES;
            for (size_t b = 0; b < e->message_id.len; b++)
                ids[k][b] = (uint8_t)s_rand();
            e->message_id.data = ids[k];
            unsigned kind = s_rand() % 4;
            e->status = (Vigil__V1__AckStatus)(kind == 0   ? 0
                                               : kind == 1 ? -(int32_t)(s_rand() % 3 + 1)
                                               : kind == 2 ? (int32_t)(s_rand() << 8)
                                                           : (int32_t)(s_rand() % STATUS_SPREAD));
            e->reason = (Vigil__V1__ReasonCode)(s_rand() % 2 ? 0 : s_rand() % REASON_SPREAD);
            e->case_id = s_random_field(texts[k][0], LONG_TEXT);
            e->event_id = s_random_field(texts[k][1], LONG_TEXT);
            e->detail = s_random_field(texts[k][2], LONG_TEXT);
            pointers[k] = e;
        }
        size_t expected = vigil__v1__ack__get_packed_size(&ack);
        assert_true(expected <= sizeof theirs);
        assert_int_equal(vigil__v1__ack__pack(&ack, theirs), expected);
        assert_int_equal(link_ack_packed_size(pointers, ack.n_entries), expected);
        assert_int_equal(link_ack_pack(pointers, ack.n_entries, mine), expected);
        assert_memory_equal(mine, theirs, expected);
    }
}

static void test_damaged_envelopes_are_declined_or_read_like_protobuf_c(void **state)
{
    (void)state;
    uint8_t bytes[ACK_BYTES], damaged[ACK_BYTES + MAX_TEXT];
    size_t taken = 0, declined = 0;
    for (int i = 0; i < RANDOM_ACKS; i++) {
        size_t len = s_random_envelope(bytes);
        for (int m = 0; m < MUTATIONS; m++) {
            memcpy(damaged, bytes, len);
            size_t damaged_len = len;
            switch (s_rand() % 3) {
            case 0:
                for (int k = 0; len && k < 1 + (int)(s_rand() % 3); k++)
                    damaged[s_rand() % len] ^= (uint8_t)(1 + s_rand() % (BYTE_VALUES - 1));
                break;
            case 1:
                damaged_len = len ? s_rand() % len : 0;
                break;
            default:
                for (size_t k = s_rand() % MAX_TEXT + 1; k > 0; k--)
                    damaged[damaged_len++] = (uint8_t)s_rand();
                break;
            }
            if (s_compare_envelope(damaged, damaged_len))
                taken++;
            else
                declined++;
        }
    }
    assert_true(taken > 0);
    assert_true(declined > 0);
}

/* link_unknown_field() finds unknown fields at any depth, including one
 * numbered 0, which protobuf-c keeps as unknown (tag 0 once read as "no
 * unknown field", so the link let such a payload through). */
static void test_unknown_fields_are_found_even_number_zero(void **state)
{
    (void)state;
    static const uint8_t clean[] = {0x0a, 0x02, 'i', 'd'};
    static const uint8_t fifteen[] = {0x0a, 0x02, 'i', 'd', 0x78, 0x01};
    static const uint8_t zero[] = {0x0a, 0x02, 'i', 'd', 0x80, 0x00, 0x05};
    /* an Ack whose entry (field 1) holds the unknown field 0 */
    static const uint8_t nested[] = {0x0a, 0x06, 0x0a, 0x01, 'x', 0x80, 0x00, 0x05};
    uint32_t number = 99;
    Vigil__V1__Envelope *e = vigil__v1__envelope__unpack(NULL, sizeof clean, clean);
    assert_non_null(e);
    assert_false(link_unknown_field(&e->base, &number));
    vigil__v1__envelope__free_unpacked(e, NULL);
    e = vigil__v1__envelope__unpack(NULL, sizeof fifteen, fifteen);
    assert_non_null(e);
    assert_true(link_unknown_field(&e->base, &number));
    assert_int_equal(number, 15);
    vigil__v1__envelope__free_unpacked(e, NULL);
    e = vigil__v1__envelope__unpack(NULL, sizeof zero, zero);
    assert_non_null(e);
    number = 99;
    assert_true(link_unknown_field(&e->base, &number));
    assert_int_equal(number, 0);
    vigil__v1__envelope__free_unpacked(e, NULL);
    Vigil__V1__Ack *ack = vigil__v1__ack__unpack(NULL, sizeof nested, nested);
    assert_non_null(ack);
    assert_int_equal(ack->n_entries, 1);
    number = 99;
    assert_true(link_unknown_field(&ack->base, &number));
    assert_int_equal(number, 0);
    vigil__v1__ack__free_unpacked(ack, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks_packed_by_protobuf_c_read_the_same),
        cmocka_unit_test(test_odd_but_valid_shapes_read_like_protobuf_c),
        cmocka_unit_test(test_damaged_acks_are_declined_or_read_like_protobuf_c),
        cmocka_unit_test(test_envelopes_packed_by_protobuf_c_read_the_same),
        cmocka_unit_test(test_envelopes_are_written_byte_for_byte_like_protobuf_c),
        cmocka_unit_test(test_acks_are_written_byte_for_byte_like_protobuf_c),
        cmocka_unit_test(test_damaged_envelopes_are_declined_or_read_like_protobuf_c),
        cmocka_unit_test(test_unknown_fields_are_found_even_number_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
