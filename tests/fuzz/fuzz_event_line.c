/* fuzz_event_line.c: vigil-publish's JSON lines, through the generic mapper.
 *
 * vigil-publish reads lines an upstream's own software wrote, and maps each
 * to protobuf with pbjson (the same mapper vigilctl --json uses). For any
 * input this target checks that:
 * - event_line_parse() either gives a payload, or a reason code name and a
 *   detail, never both and never neither;
 * - a parsed payload, written back as JSON by pbjson_dump() and parsed
 *   again, packs to the very same protobuf bytes (what is published is
 *   what the line said).
 */
#include <string.h>

#include "event_line.h"
#include "fuzz.h"
#include "vigil/pbjson.h"

enum { FUZZ_LINE_MAX = 1 << 16 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static uint8_t *s_pack(const ProtobufCMessage *message, size_t *size)
{
    *size = protobuf_c_message_get_packed_size(message);
    uint8_t *out = malloc(*size + 1);
    FUZZ_CHECK(out, "out of memory");
    protobuf_c_message_pack(message, out);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_LINE_MAX)
        return 0;
    event_line_t line;
    int rc = event_line_parse((const char *)data, size, &line);
    if (rc != 0) {
        FUZZ_CHECK(!line.payload, "a refused line kept a payload");
        FUZZ_CHECK(line.reason && *line.reason && line.detail[0],
                   "a refused line has no reason or no detail");
        return 0;
    }
    FUZZ_CHECK(line.payload, "an accepted line has no payload");
    char *json = pbjson_dump(line.payload);
    FUZZ_CHECK(json, "pbjson_dump failed");
    size_t length = strlen(json) + 64;
    char *again_text = malloc(length);
    FUZZ_CHECK(again_text, "out of memory");
    int n = snprintf(again_text, length, "{\"type\": %d, \"event\": %s}", line.type, json);
    event_line_t again;
    int again_rc = event_line_parse(again_text, (size_t)n, &again);
    FUZZ_CHECK(again_rc == 0, "the payload written back as JSON is refused: %s: %s", again.reason,
               again.detail);
    FUZZ_CHECK(again.type == line.type, "type %d came back as %d", line.type, again.type);
    size_t first_size, second_size;
    uint8_t *first = s_pack(line.payload, &first_size);
    uint8_t *second = s_pack(again.payload, &second_size);
    FUZZ_CHECK(first_size == second_size && memcmp(first, second, first_size) == 0,
               "the payload changed on its way through JSON (%zu bytes, then %zu): %s", first_size,
               second_size, json);
    free(first);
    free(second);
    free(again_text);
    free(json);
    event_line_clear(&again);
    event_line_clear(&line);
    return 0;
}

void fuzz_seeds(fuzz_emit_fn emit, void *ctx)
{
    static const char *const lines[] = {
        ("{\"type\": \"INTAKE_CONTACT\", \"event\": {\"event_id\": \"hotline-2026-000101\", "
         "\"channel\": \"HOTLINE\", \"language\": \"en\", \"caller_role\": \"VICTIM\", \"victim\": "
         "{\"given_name\": \"Dana\", \"phone\": \"+15035550101\", \"preferred_language\": \"en\"}, "
         "\"location\": {\"state\": \"OR\", \"county_fips\": \"41051\", \"zip\": \"97201\"}, "
         "\"crime_category\": \"DOMESTIC_VIOLENCE\", \"requested_services\": [\"SHELTER\", "
         "\"LEGAL\"], \"consent\": {\"contact_by_phone\": true}, \"received_at_ms\": "
         "1795000000000, \"operator_id\": \"op-17\"}}"),
        ("{\"type\": \"CUSTODY_EVENT\", \"event\": {\"event_id\": \"jail-042-88121\", "
         "\"offender_id\": \"OR-SID-7781233\", \"agency\": \"county-jail-042\", \"type\": "
         "\"RELEASED\", \"facility_id\": \"MCDC\", \"occurred_at_ms\": 1795000000000}}"),
        ("{\"type\": \"MESSAGE_TYPE_SUBSCRIPTION_REQUEST\", \"event\": {\"event_id\": \"s-1\", "
         "\"offender_id\": \"OR-SID-7781233\", \"agency\": \"county-jail-042\", \"channel\": "
         "\"DELIVERY_CHANNEL_SMS\", \"phone\": \"+15035550101\", \"pin\": \"4821\"}}"),
        ("{\"type\": 13, \"event\": {\"event_id\": \"ivr-9\", \"subscription_id\": \"sub-1\", "
         "\"confirmed_at_ms\": \"1795000000000\"}}"),
        "{\"type\": \"INTAKE_CONTACT\", \"event\": {\"victim\": {\"phonee\": \"x\"}}}",
        "{\"type\": \"INTAKE_CONTACT\", \"event\": {\"channel\": \"NOT_A_CHANNEL\"}}",
        "{\"type\": \"INTAKE_CONTACT\", \"event\": {\"event_id\": \"a\", \"event_id\": \"b\"}}",
        "{\"type\": \"INTAKE_CONTACT\", \"event\": {\"narrative\": \"caf\\u00e9 \\ud83d\\ude00\"}}",
        "{\"type\": \"ASSIGNMENT_RECEIPT\", \"event\": {\"case_id\": \"c_a2njlc74t3h7wmpudzbm\"}}",
        "[1, 2, 3]",
        "{\"type\": \"INTAKE_CONTACT\", \"event\": {\"received_at_ms\": -9223372036854775808}}",
    };
    fuzz_emit_texts(emit, ctx, lines, sizeof lines / sizeof lines[0]);
}
