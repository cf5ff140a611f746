/* test_pbjson.c: the generic JSON <-> protobuf mapper, on the real schema.
 *
 * Shows how vigil-publish and vigilctl use pbjson: parse an event written
 * as JSON into a generated message, print a reply as JSON. Checks what a
 * user relies on: every field lands where the .proto says, errors name the
 * JSON path and never repeat a value, and a message survives the trip
 * message -> JSON -> message byte for byte (randomized over every message
 * type in the schema; set VIGIL_TEST_SEED to replay a failing seed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <cmocka.h>

#include "vigil/pbjson.h"
#include "vigil/v1/admin.pb-c.h"
#include "vigil/v1/case.pb-c.h"
#include "vigil/v1/custody.pb-c.h"
#include "vigil/v1/envelope.pb-c.h"
#include "vigil/v1/intake.pb-c.h"
#include "vigil/v1/notify.pb-c.h"
#include "vigil/v1/report.pb-c.h"

enum {
    ERR_LEN = 512,
    ROUND_TRIPS_PER_TYPE = 300,
    RANDOM_MAX_REPEATED = 4,
    RANDOM_MAX_STRING_CHARS = 12,
    RANDOM_MAX_BYTES = 24,
    RANDOM_MAX_DEPTH = 6,
};

/* A contact as an upstream hotline tool would send it; entirely fictional. */
static const char s_contact_json[] =
    "{\"event_id\": \"hotline-2026-000123\","
    " \"channel\": \"HOTLINE\","
    " \"language\": \"es-MX\","
    " \"caller_role\": \"CALLER_ROLE_VICTIM\","
    " \"victim\": {\"given_name\": \"Ana\", \"family_name\": \"Ejemplo\","
    "   \"phone\": \"+15035550123\", \"email\": \"ana@example.org\","
    "   \"preferred_language\": \"es\", \"safe_to_leave_voicemail\": false},"
    " \"location\": {\"state\": \"OR\", \"county_fips\": \"41051\", \"zip\": \"97201\"},"
    " \"crime_category\": 1,"
    " \"offenders\": [{\"offender_id\": \"B-1001\", \"agency\": \"county-jail-042\"},"
    "                {\"offender_id\": \"B-1002\", \"agency\": \"county-jail-042\","
    "                 \"display_name\": \"J. Doe\"}],"
    " \"requested_services\": [\"SHELTER\", \"SERVICE_NEED_LEGAL\", 10],"
    " \"urgency_cues\": [\"IMMEDIATE_DANGER\"],"
    " \"consent\": {\"contact_by_phone\": true, \"custody_notifications\": true},"
    " \"narrative\": \"Caller reports threats; \\u00e9 \\ud83d\\ude00\","
    " \"occurred_at_ms\": \"1767225600000\","
    " \"received_at_ms\": 1767229200000,"
    " \"operator_id\": \"op-17\"}";

static Vigil__V1__IntakeContact *s_parse_contact(const char *text, char *err)
{
    return (Vigil__V1__IntakeContact *)pbjson_parse(&vigil__v1__intake_contact__descriptor, text,
                                                    err, ERR_LEN);
}

/* Packs a message into a new buffer; *len gets its size. */
static uint8_t *s_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(protobuf_c_message_pack(m, buf), *len);
    return buf;
}

static void s_assert_same_bytes(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la, lb;
    uint8_t *pa = s_pack(a, &la);
    uint8_t *pb = s_pack(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(pa, pb, la);
    free(pa);
    free(pb);
}

/* ---- JSON -> message ------------------------------------------------------ */

static void test_intake_contact_fields_land_where_the_schema_says(void **state)
{
    (void)state;
    char err[ERR_LEN];
    Vigil__V1__IntakeContact *c = s_parse_contact(s_contact_json, err);
    assert_non_null(c);
    assert_string_equal(c->event_id, "hotline-2026-000123");
    assert_int_equal(c->channel, VIGIL__V1__CHANNEL__CHANNEL_HOTLINE);
    assert_int_equal(c->caller_role, VIGIL__V1__CALLER_ROLE__CALLER_ROLE_VICTIM);
    assert_int_equal(c->crime_category,
                     VIGIL__V1__CRIME_CATEGORY__CRIME_CATEGORY_DOMESTIC_VIOLENCE);
    assert_non_null(c->victim);
    assert_string_equal(c->victim->phone, "+15035550123");
    assert_string_equal(c->victim->email, "ana@example.org");
    assert_false(c->victim->safe_to_leave_voicemail);
    assert_string_equal(c->location->county_fips, "41051");
    assert_int_equal(c->n_offenders, 2);
    assert_string_equal(c->offenders[1]->offender_id, "B-1002");
    assert_string_equal(c->offenders[1]->display_name, "J. Doe");
    assert_string_equal(c->offenders[0]->display_name, "");
    assert_int_equal(c->n_requested_services, 3);
    assert_int_equal(c->requested_services[0], VIGIL__V1__SERVICE_NEED__SERVICE_NEED_SHELTER);
    assert_int_equal(c->requested_services[1], VIGIL__V1__SERVICE_NEED__SERVICE_NEED_LEGAL);
    assert_int_equal(c->requested_services[2],
                     VIGIL__V1__SERVICE_NEED__SERVICE_NEED_SAFETY_PLANNING);
    assert_int_equal(c->n_urgency_cues, 1);
    assert_true(c->consent->contact_by_phone);
    assert_false(c->consent->contact_by_email);
    assert_string_equal(c->narrative, "Caller reports threats; \xc3\xa9 \xf0\x9f\x98\x80");
    assert_true(c->occurred_at_ms == INT64_C(1767225600000));
    assert_true(c->received_at_ms == INT64_C(1767229200000));

    /* The parsed message is a normal protobuf-c message: it packs and
     * unpacks to the same thing. */
    size_t len;
    uint8_t *wire = s_pack(&c->base, &len);
    Vigil__V1__IntakeContact *back = vigil__v1__intake_contact__unpack(NULL, len, wire);
    assert_non_null(back);
    assert_string_equal(back->victim->given_name, "Ana");
    vigil__v1__intake_contact__free_unpacked(back, NULL);
    free(wire);
    protobuf_c_message_free_unpacked(&c->base, NULL);
}

static void test_custody_event_enum_short_name_and_int64_string(void **state)
{
    (void)state;
    char err[ERR_LEN];
    Vigil__V1__CustodyEvent *e = (Vigil__V1__CustodyEvent *)pbjson_parse(
        &vigil__v1__custody_event__descriptor,
        "{\"event_id\":\"jms-77-0001\",\"type\":\"TRANSFERRED\",\"offender_id\":\"B-1001\","
        "\"facility_id\":\"fac-01\",\"to_facility_id\":\"fac-09\","
        "\"occurred_at_ms\":\"-5\",\"court_at_ms\":9007199254740993}",
        err, sizeof err);
    assert_non_null(e);
    assert_int_equal(e->type, VIGIL__V1__CUSTODY_EVENT_TYPE__CUSTODY_EVENT_TYPE_TRANSFERRED);
    assert_true(e->occurred_at_ms == -5);
    assert_true(e->court_at_ms == INT64_C(9007199254740993)); /* beyond double precision */
    protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void test_enum_prefix_shared_by_values_is_optional(void **state)
{
    (void)state;
    int v = -1;
    /* ReasonCode values share "REASON_", not the type-derived "REASON_CODE_". */
    assert_int_equal(
        pbjson_enum_from_name(&vigil__v1__reason_code__descriptor, "INVALID_PHONE", &v), 0);
    assert_int_equal(v, VIGIL__V1__REASON_CODE__REASON_INVALID_PHONE);
    assert_int_equal(pbjson_enum_from_name(&vigil__v1__message_type__descriptor, "ACK", &v), 0);
    assert_int_equal(v, VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ACK);
    assert_int_equal(pbjson_enum_from_name(&vigil__v1__priority__descriptor, "P1", &v), 0);
    assert_int_equal(v, VIGIL__V1__PRIORITY__PRIORITY_P1);
    /* Case matters. */
    assert_int_equal(pbjson_enum_from_name(&vigil__v1__channel__descriptor, "hotline", &v), -1);
    assert_int_equal(pbjson_enum_from_name(&vigil__v1__channel__descriptor, "", &v), -1);
}

/* ---- errors name the path ------------------------------------------------- */

typedef struct {
    const char *json;             /* an IntakeContact with one mistake */
    pbjson_error_kind_t kind;     /* what kind */
    const char *expected;         /* the exact error text */
    const char *must_not_contain; /* a value that must not be echoed, or NULL */
} error_case_t;

static const error_case_t s_error_cases[] = {
    {"{\"victim\":{\"phonee\":\"+15035550123\"}}", PBJSON_ERROR_UNKNOWN_FIELD,
     "victim.phonee: unknown field", "+1503"},
    {"{\"victim\":{\"phone\":15035550123}}", PBJSON_ERROR_TYPE,
     "victim.phone: expected a string, got an integer", "1503"},
    {"{\"channel\":\"HOTLNE\"}", PBJSON_ERROR_ENUM,
     "channel: unknown value \"HOTLNE\" for enum vigil.v1.Channel", NULL},
    {"{\"channel\":\"+15035550123\"}", PBJSON_ERROR_ENUM,
     "channel: unknown value for enum vigil.v1.Channel", "+1503"},
    {"{\"channel\":\"hotline\"}", PBJSON_ERROR_ENUM,
     "channel: unknown value \"hotline\" for enum vigil.v1.Channel", NULL},
    {"{\"channel\":42}", PBJSON_ERROR_ENUM, "channel: 42 is not a value of enum vigil.v1.Channel",
     NULL},
    {"{\"channel\":true}", PBJSON_ERROR_TYPE,
     "channel: expected an enum name or number (vigil.v1.Channel), got true", NULL},
    {"{\"offenders\":[{\"agency\":\"a\"},{\"agency\":7}]}", PBJSON_ERROR_TYPE,
     "offenders[1].agency: expected a string, got an integer", NULL},
    {"{\"offenders\":[null]}", PBJSON_ERROR_TYPE, "offenders[0]: null is not allowed in an array",
     NULL},
    {"{\"offenders\":{\"agency\":\"a\"}}", PBJSON_ERROR_TYPE,
     "offenders: expected an array, got an object", NULL},
    {"{\"requested_services\":[\"SHELTER\",\"SHELTR\"]}", PBJSON_ERROR_ENUM,
     "requested_services[1]: unknown value \"SHELTR\" for enum vigil.v1.ServiceNeed", NULL},
    {"{\"received_at_ms\":\"12x\"}", PBJSON_ERROR_VALUE, "received_at_ms: not a decimal int64",
     "12x"},
    {"{\"received_at_ms\":1.5}", PBJSON_ERROR_TYPE,
     "received_at_ms: expected an integer (int64), got a real number", NULL},
    {"{\"received_at_ms\":\"9223372036854775808\"}", PBJSON_ERROR_VALUE,
     "received_at_ms: not a decimal int64", NULL},
    {"{\"consent\":{\"contact_by_phone\":\"yes\"}}", PBJSON_ERROR_TYPE,
     "consent.contact_by_phone: expected true or false, got a string", "yes"},
    {"{\"victim\":\"Ana\"}", PBJSON_ERROR_TYPE,
     "victim: expected an object (vigil.v1.VictimContact), got a string", "Ana"},
    {"{\"victim\":{\"+15035550123\":1}}", PBJSON_ERROR_UNKNOWN_FIELD, "victim.(key): unknown field",
     "+1503"},
    {"[1,2]", PBJSON_ERROR_TYPE, "expected an object (vigil.v1.IntakeContact), got an array", NULL},
};

static void test_errors_name_the_path_and_never_echo_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_error_cases / sizeof s_error_cases[0]; i++) {
        const error_case_t *c = &s_error_cases[i];
        char err[ERR_LEN] = "";
        json_error_t jerr;
        json_t *object = json_loads(c->json, 0, &jerr);
        assert_non_null(object);
        pbjson_error_kind_t kind = PBJSON_OK;
        ProtobufCMessage *m = pbjson_to_message_at(&vigil__v1__intake_contact__descriptor, object,
                                                   NULL, &kind, err, sizeof err);
        json_decref(object);
        if (m != NULL || strcmp(err, c->expected) != 0 || kind != c->kind) {
            print_error("case %zu: %s\n  got  (%d) \"%s\"\n  want (%d) \"%s\"\n", i, c->json,
                        (int)kind, err, (int)c->kind, c->expected);
            fail();
        }
        if (c->must_not_contain != NULL) {
            assert_null(strstr(err, c->must_not_contain));
        }
    }
}

static void test_path_prefix_for_embedded_objects(void **state)
{
    (void)state;
    char err[ERR_LEN];
    pbjson_error_kind_t kind;
    json_t *object = json_loads("{\"type\":\"BOOKED\",\"facilty_id\":\"x\"}", 0, NULL);
    assert_non_null(object);
    assert_null(pbjson_to_message_at(&vigil__v1__custody_event__descriptor, object, "event", &kind,
                                     err, sizeof err));
    assert_string_equal(err, "event.facilty_id: unknown field");
    assert_int_equal(kind, PBJSON_ERROR_UNKNOWN_FIELD);
    json_decref(object);
}

static void test_value_errors(void **state)
{
    (void)state;
    char err[ERR_LEN];
    /* uint32 range. */
    assert_null(
        pbjson_parse(&vigil__v1__admin_request__descriptor, "{\"limit\":-1}", err, sizeof err));
    assert_string_equal(err, "limit: out of range for uint32");
    assert_null(pbjson_parse(&vigil__v1__admin_request__descriptor, "{\"limit\":4294967296}", err,
                             sizeof err));
    assert_string_equal(err, "limit: out of range for uint32");
    /* base64. */
    assert_null(
        pbjson_parse(&vigil__v1__envelope__descriptor, "{\"payload\":\"***\"}", err, sizeof err));
    assert_string_equal(err, "payload: not valid base64");
    /* Duplicate keys are refused when parsing text. */
    assert_null(pbjson_parse(&vigil__v1__envelope__descriptor,
                             "{\"source\":\"a\",\"source\":\"b\"}", err, sizeof err));
    assert_non_null(strstr(err, "duplicate"));
    /* Syntax errors give the position but not the offending token. */
    assert_null(pbjson_parse(&vigil__v1__intake_contact__descriptor,
                             "{\"victim\":{\"phone\":+15035550123}}", err, sizeof err));
    assert_non_null(strstr(err, "invalid JSON at line 1"));
    assert_null(strstr(err, "1503"));
    /* A NUL inside a string (jansson keeps it if built by hand). */
    json_t *object = json_pack("{s:s%}", "source", "a\0b", (size_t)3);
    assert_non_null(object);
    assert_null(pbjson_to_message(&vigil__v1__envelope__descriptor, object, err, sizeof err));
    assert_string_equal(err, "source: contains a NUL character");
    json_decref(object);
    /* Invalid UTF-8 that bypassed jansson's checks. */
    object = json_object();
    json_object_set_new(object, "source", json_string_nocheck("\xc3\x28"));
    assert_null(pbjson_to_message(&vigil__v1__envelope__descriptor, object, err, sizeof err));
    assert_string_equal(err, "source: not valid UTF-8");
    json_decref(object);
}

/* ---- message -> JSON ------------------------------------------------------ */

static void test_admin_reply_with_repeated_sub_messages(void **state)
{
    (void)state;
    static const char text[] =
        "{\"ok\":true,"
        "\"status\":{\"service\":\"intake\",\"version\":\"0.1.0\",\"uptime_s\":12,\"ready\":true,"
        "  \"facts\":[{\"key\":\"plugin.east\",\"value\":\"rules 1.0.0\"}]},"
        "\"metrics\":[{\"name\":\"vigil_acks_total\",\"value\":1.5,\"labels\":\"status="
        "\\\"ok\\\"\"},"
        "  {\"name\":\"vigil_up\",\"value\":1},{\"name\":\"vigil_nan\",\"value\":\"NaN\"},"
        "  {\"name\":\"vigil_inf\",\"value\":\"-Infinity\"}],"
        "\"dead_letters\":[{\"id\":\"3\",\"message_id\":\"AAECAwQFBgcICQoLDA0ODw==\","
        "  \"type\":\"CUSTODY_EVENT\",\"attempts\":5}],"
        "\"cases\":[{\"case_id\":\"c-1\",\"channel\":\"WEB_FORM\"},{\"case_id\":\"c-2\"}],"
        "\"affected\":2}";
    char err[ERR_LEN];
    Vigil__V1__AdminReply *r = (Vigil__V1__AdminReply *)pbjson_parse(
        &vigil__v1__admin_reply__descriptor, text, err, sizeof err);
    if (r == NULL) {
        print_error("%s\n", err);
    }
    assert_non_null(r);
    assert_int_equal(r->n_metrics, 4);
    assert_true(r->metrics[0]->value == 1.5);
    assert_true(isnan(r->metrics[2]->value));
    assert_true(isinf(r->metrics[3]->value) && r->metrics[3]->value < 0);
    assert_int_equal(r->n_dead_letters, 1);
    assert_int_equal(r->dead_letters[0]->message_id.len, 16);
    assert_int_equal(r->dead_letters[0]->message_id.data[15], 15);
    assert_int_equal(r->n_cases, 2);
    assert_int_equal(r->status->n_facts, 1);

    /* Written back: canonical enum names, standard base64, defaults left out. */
    char *out = pbjson_dump(&r->base);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"message_id\":\"AAECAwQFBgcICQoLDA0ODw==\""));
    assert_non_null(strstr(out, "\"type\":\"MESSAGE_TYPE_CUSTODY_EVENT\""));
    assert_non_null(strstr(out, "\"channel\":\"CHANNEL_WEB_FORM\""));
    assert_non_null(strstr(out, "\"value\":\"NaN\""));
    assert_non_null(strstr(out, "\"value\":\"-Infinity\""));
    assert_non_null(strstr(out, "\"id\":3"));
    assert_null(strstr(out, "\"error\""));

    /* And read again: same bytes on the wire. */
    Vigil__V1__AdminReply *again = (Vigil__V1__AdminReply *)pbjson_parse(
        &vigil__v1__admin_reply__descriptor, out, err, sizeof err);
    assert_non_null(again);
    s_assert_same_bytes(&r->base, &again->base);
    free(out);

    /* with_defaults shows every singular and repeated field. */
    json_t *full = pbjson_from_message(&again->base, 1);
    assert_non_null(full);
    assert_true(json_is_string(json_object_get(full, "error")));
    assert_true(json_is_array(json_object_get(full, "facts")));
    assert_true(json_is_null(json_object_get(full, "case_contact")));
    json_t *second_case = json_array_get(json_object_get(full, "cases"), 1);
    assert_string_equal(json_string_value(json_object_get(second_case, "channel")),
                        "CHANNEL_UNSPECIFIED");
    json_decref(full);
    protobuf_c_message_free_unpacked(&again->base, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_output_of_wire_only_values(void **state)
{
    (void)state;
    Vigil__V1__LinkProbe probe = VIGIL__V1__LINK_PROBE__INIT;
    probe.sequence = UINT64_MAX;
    char *out = pbjson_dump(&probe.base);
    assert_string_equal(out, "{\"sequence\":\"18446744073709551615\"}");
    free(out);

    /* An enum number the schema does not name (a newer sender) is written
     * as a number; a string with invalid UTF-8 (unchecked on the wire) gets
     * U+FFFD. */
    Vigil__V1__Envelope env = VIGIL__V1__ENVELOPE__INIT;
    env.type = 999;
    env.source = "ab\xff";
    out = pbjson_dump(&env.base);
    assert_string_equal(out, "{\"type\":999,\"source\":\"ab\xef\xbf\xbd\"}");
    free(out);

    char err[ERR_LEN];
    ProtobufCMessage *m = pbjson_parse(&vigil__v1__link_probe__descriptor,
                                       "{\"sequence\":\"18446744073709551615\"}", err, sizeof err);
    assert_non_null(m);
    assert_true(((Vigil__V1__LinkProbe *)m)->sequence == UINT64_MAX);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* ---- randomized round trip ------------------------------------------------ */

static uint64_t s_rng;

static uint64_t s_next(void)
{
    /* xorshift64*: reproducible from the printed seed. */
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return s_rng * UINT64_C(2685821657736338717);
}

static uint64_t s_below(uint64_t bound)
{
    return bound == 0 ? 0 : s_next() % bound;
}

/* Interesting integers: edges more often than chance would give. */
static uint64_t s_random_bits(void)
{
    static const uint64_t edges[] = {0,
                                     1,
                                     UINT64_MAX,
                                     INT64_MAX,
                                     (uint64_t)INT64_MIN,
                                     INT32_MAX,
                                     (uint64_t)(int64_t)INT32_MIN,
                                     UINT32_MAX};
    if (s_below(4) == 0) {
        return edges[s_below(sizeof edges / sizeof edges[0])];
    }
    return s_next() >> s_below(64);
}

static char *s_random_string(void)
{
    static const char *const pieces[] = {
        "a",   "Z", "7", " ", "\"", "\\", "\n", "/", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\x7f"};
    size_t n = s_below(RANDOM_MAX_STRING_CHARS + 1);
    char *s = malloc(n * 4 + 1);
    assert_non_null(s);
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(s, pieces[s_below(sizeof pieces / sizeof pieces[0])]);
    }
    return s;
}

static ProtobufCMessage *s_random_message(const ProtobufCMessageDescriptor *d, int depth);

/* How big one element of a repeated field of each type is in protobuf-c. */
static const size_t s_element_size[] = {
    [PROTOBUF_C_TYPE_INT32] = 4,
    [PROTOBUF_C_TYPE_SINT32] = 4,
    [PROTOBUF_C_TYPE_SFIXED32] = 4,
    [PROTOBUF_C_TYPE_INT64] = 8,
    [PROTOBUF_C_TYPE_SINT64] = 8,
    [PROTOBUF_C_TYPE_SFIXED64] = 8,
    [PROTOBUF_C_TYPE_UINT32] = 4,
    [PROTOBUF_C_TYPE_FIXED32] = 4,
    [PROTOBUF_C_TYPE_UINT64] = 8,
    [PROTOBUF_C_TYPE_FIXED64] = 8,
    [PROTOBUF_C_TYPE_FLOAT] = 4,
    [PROTOBUF_C_TYPE_DOUBLE] = 8,
    [PROTOBUF_C_TYPE_BOOL] = sizeof(protobuf_c_boolean),
    [PROTOBUF_C_TYPE_ENUM] = sizeof(int),
    [PROTOBUF_C_TYPE_STRING] = sizeof(char *),
    [PROTOBUF_C_TYPE_BYTES] = sizeof(ProtobufCBinaryData),
    [PROTOBUF_C_TYPE_MESSAGE] = sizeof(ProtobufCMessage *),
};

static void s_random_value(const ProtobufCFieldDescriptor *f, void *slot, int depth)
{
    uint64_t bits = s_random_bits();
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *)slot = (uint32_t)bits;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)slot = bits;
        break;
    case PROTOBUF_C_TYPE_FLOAT: {
        float v = (float)((double)(int64_t)s_next() / (double)(s_next() | 1));
        *(float *)slot = v;
        break;
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v;
        do {
            uint64_t raw = s_next();
            memcpy(&v, &raw, sizeof v);
        } while (!isfinite(v));
        *(double *)slot = v;
        break;
    }
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)slot = (protobuf_c_boolean)(bits & 1);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *e = f->descriptor;
        *(int *)slot = e->values[s_below(e->n_values)].value;
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        *(char **)slot = s_random_string();
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = slot;
        b->len = s_below(RANDOM_MAX_BYTES + 1);
        b->data = b->len ? malloc(b->len) : NULL;
        for (size_t i = 0; i < b->len; i++) {
            b->data[i] = (uint8_t)s_next();
        }
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        *(ProtobufCMessage **)slot = s_random_message(f->descriptor, depth + 1);
        break;
    }
}

/* Builds a random message of any type from its descriptor alone, the same
 * way protobuf-c's unpacker would allocate it. */
static ProtobufCMessage *s_random_message(const ProtobufCMessageDescriptor *d, int depth)
{
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    assert_non_null(m);
    protobuf_c_message_init(d, m);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *base = (char *)m;
        if (s_below(3) == 0) {
            continue; /* leave at default */
        }
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth >= RANDOM_MAX_DEPTH) {
            continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = s_below(RANDOM_MAX_REPEATED + 1);
            size_t size = s_element_size[f->type];
            char *array = n ? calloc(n, size) : NULL;
            for (size_t k = 0; k < n; k++) {
                s_random_value(f, array + k * size, depth);
            }
            *(void **)(base + f->offset) = array;
            *(size_t *)(base + f->quantifier_offset) = n;
        } else {
            s_random_value(f, base + f->offset, depth);
        }
    }
    return m;
}

static const ProtobufCMessageDescriptor *const s_all_messages[] = {
    &vigil__v1__envelope__descriptor,
    &vigil__v1__ack_entry__descriptor,
    &vigil__v1__ack__descriptor,
    &vigil__v1__link_probe__descriptor,
    &vigil__v1__intake_contact__descriptor,
    &vigil__v1__custody_event__descriptor,
    &vigil__v1__subscription_request__descriptor,
    &vigil__v1__notify_contact__descriptor,
    &vigil__v1__delivery_attempt__descriptor,
    &vigil__v1__delivery_confirmation__descriptor,
    &vigil__v1__case_view__descriptor,
    &vigil__v1__triage_decision__descriptor,
    &vigil__v1__assignment__descriptor,
    &vigil__v1__assignment_receipt__descriptor,
    &vigil__v1__report_event__descriptor,
    &vigil__v1__admin_request__descriptor,
    &vigil__v1__admin_reply__descriptor,
};

static void test_random_messages_round_trip_byte_for_byte(void **state)
{
    (void)state;
    const char *seed_env = getenv("VIGIL_TEST_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL);
    s_rng = seed | 1;
    print_message("round trip seed %llu (VIGIL_TEST_SEED to replay)\n", (unsigned long long)seed);
    for (size_t t = 0; t < sizeof s_all_messages / sizeof s_all_messages[0]; t++) {
        for (int i = 0; i < ROUND_TRIPS_PER_TYPE; i++) {
            ProtobufCMessage *original = s_random_message(s_all_messages[t], 0);
            int with_defaults = i & 1;
            json_t *json = pbjson_from_message(original, with_defaults);
            assert_non_null(json);
            char *text = json_dumps(json, JSON_COMPACT);
            assert_non_null(text);
            char err[ERR_LEN];
            ProtobufCMessage *back = pbjson_parse(s_all_messages[t], text, err, sizeof err);
            if (back == NULL) {
                print_error("%s: %s\n  json: %s\n", s_all_messages[t]->name, err, text);
                fail();
            }
            s_assert_same_bytes(original, back);
            free(text);
            json_decref(json);
            protobuf_c_message_free_unpacked(back, NULL);
            protobuf_c_message_free_unpacked(original, NULL);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intake_contact_fields_land_where_the_schema_says),
        cmocka_unit_test(test_custody_event_enum_short_name_and_int64_string),
        cmocka_unit_test(test_enum_prefix_shared_by_values_is_optional),
        cmocka_unit_test(test_errors_name_the_path_and_never_echo_values),
        cmocka_unit_test(test_path_prefix_for_embedded_objects),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_admin_reply_with_repeated_sub_messages),
        cmocka_unit_test(test_output_of_wire_only_values),
        cmocka_unit_test(test_random_messages_round_trip_byte_for_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
