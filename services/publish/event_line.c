/* event_line.c: turns one JSON input line into an event message.
 *
 * Checks the envelope of the line ("type" and "event", nothing else), picks
 * the payload descriptor from a table of the upstream event types, and
 * hands the "event" object to pbjson, which maps every field generically.
 * Errors say which key is wrong and map to the ReasonCode names intake
 * would use, so a user reads local and remote rejections the same way.
 * It must never copy a value from the line into an error: lines carry
 * victims' personal data.
 */
#include "event_line.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "vigil/pbjson.h"
#include "vigil/v1/case.pb-c.h"
#include "vigil/v1/custody.pb-c.h"
#include "vigil/v1/envelope.pb-c.h"
#include "vigil/v1/intake.pb-c.h"
#include "vigil/v1/notify.pb-c.h"

enum {
    EVENT_LINE_KEY_QUOTE_MAX = 64, /* longest key quoted in an error */
};

static const char s_key_type[] = "type";
static const char s_key_event[] = "event";
static const char s_field_event_id[] = "event_id";
static const char s_jansson_near[] = " near ";
static const char s_type_list[] =
    "INTAKE_CONTACT, CUSTODY_EVENT, SUBSCRIPTION_REQUEST or DELIVERY_CONFIRMATION";

/* The event types vigil-publish sends, and their payload messages. */
static const struct {
    int type;
    const ProtobufCMessageDescriptor *descriptor;
} s_event_types[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT, &vigil__v1__intake_contact__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT, &vigil__v1__custody_event__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST,
     &vigil__v1__subscription_request__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION,
     &vigil__v1__delivery_confirmation__descriptor},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT,
     &vigil__v1__assignment_receipt__descriptor},
};

/* pbjson's error kinds as ReasonCode names. */
static const char *const s_reasons[] = {
    [PBJSON_OK] = "NONE",
    [PBJSON_ERROR_SYNTAX] = "MALFORMED",
    [PBJSON_ERROR_UNKNOWN_FIELD] = "UNKNOWN_FIELD",
    [PBJSON_ERROR_TYPE] = "INVALID_VALUE",
    [PBJSON_ERROR_ENUM] = "INVALID_ENUM",
    [PBJSON_ERROR_VALUE] = "INVALID_VALUE",
    [PBJSON_ERROR_NOMEM] = "INTERNAL",
};

/* True if `key` can be quoted safely: it looks like a field name. */
static bool s_quotable(const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > EVENT_LINE_KEY_QUOTE_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        bool ok = c == '_' || c == '@' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (i > 0 && (c == '-' || (c >= '0' && c <= '9')));
        if (!ok) {
            return false;
        }
    }
    return true;
}

static int s_fail(event_line_t *line, const char *reason, const char *detail)
{
    line->reason = reason;
    snprintf(line->detail, sizeof line->detail, "%s", detail);
    return -1;
}

static const ProtobufCMessageDescriptor *s_descriptor_for(int type)
{
    for (size_t i = 0; i < sizeof s_event_types / sizeof s_event_types[0]; i++) {
        if (s_event_types[i].type == type) {
            return s_event_types[i].descriptor;
        }
    }
    return NULL;
}

/* Reads "type": a MessageType name (with or without prefix) or number. */
static int s_read_type(const json_t *value, int *type)
{
    if (json_is_string(value)) {
        return pbjson_enum_from_name(&vigil__v1__message_type__descriptor, json_string_value(value),
                                     type);
    }
    if (json_is_integer(value)) {
        *type = (int)json_integer_value(value);
        return 0;
    }
    return -1;
}

int event_line_parse(const char *text, size_t len, event_line_t *line)
{
    char detail[EVENT_LINE_DETAIL_MAX];
    memset(line, 0, sizeof *line);
    line->reason = s_reasons[PBJSON_OK];

    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        char *near = strstr(jerr.text, s_jansson_near); /* jansson quotes the bad token */
        if (near != NULL) {
            *near = '\0';
        }
        snprintf(detail, sizeof detail, "not valid JSON at column %d: %s", jerr.column, jerr.text);
        return s_fail(line, s_reasons[PBJSON_ERROR_SYNTAX], detail);
    }
    int rc = -1;
    if (!json_is_object(root)) {
        s_fail(line, s_reasons[PBJSON_ERROR_SYNTAX],
               "expected a JSON object with \"type\" and \"event\"");
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        if (strcmp(key, s_key_type) != 0 && strcmp(key, s_key_event) != 0) {
            snprintf(detail, sizeof detail, "%s: unknown field (a line has \"type\" and \"event\")",
                     s_quotable(key) ? key : "(key)");
            s_fail(line, s_reasons[PBJSON_ERROR_UNKNOWN_FIELD], detail);
            goto done;
        }
    }
    json_t *event = json_object_get(root, s_key_event);
    json_t *event_id = json_is_object(event) ? json_object_get(event, s_field_event_id) : NULL;
    if (json_is_string(event_id)) {
        snprintf(line->event_id, sizeof line->event_id, "%s", json_string_value(event_id));
    }
    json_t *type_value = json_object_get(root, s_key_type);
    if (type_value == NULL) {
        s_fail(line, "MISSING_FIELD", "type: required");
        goto done;
    }
    const ProtobufCMessageDescriptor *descriptor = NULL;
    if (s_read_type(type_value, &line->type) == 0) {
        descriptor = s_descriptor_for(line->type);
    }
    if (descriptor == NULL) {
        snprintf(detail, sizeof detail, "type: not an event type vigil-publish sends (%s)",
                 s_type_list);
        s_fail(line, "UNKNOWN_TYPE", detail);
        goto done;
    }
    if (event == NULL) {
        s_fail(line, "MISSING_FIELD", "event: required");
        goto done;
    }
    pbjson_error_kind_t kind = PBJSON_OK;
    line->payload =
        pbjson_to_message_at(descriptor, event, s_key_event, &kind, detail, sizeof detail);
    if (line->payload == NULL) {
        s_fail(line, s_reasons[kind], detail);
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

void event_line_clear(event_line_t *line)
{
    if (line->payload != NULL) {
        protobuf_c_message_free_unpacked(line->payload, NULL);
        line->payload = NULL;
    }
}
