/* intake_rules.c: what intake requires of each upstream message, as data.
 *
 * One table per message type, one row per field. The rows run in order and
 * the first failure is the one reported, so the identifying fields come
 * first. Every string field has a row (hence a length cap and a UTF-8
 * check), every repeated field a CHECK_COUNT row; tests/unit/test_intake_rules.c
 * fails if a field of these messages is left without one. The reason codes
 * and wording are part of the upstream contract (docs/upstream.md).
 */
#include "validate.h"

#include "vigil/v1/case.pb-c.h"
#include "vigil/v1/custody.pb-c.h"
#include "vigil/v1/intake.pb-c.h"
#include "vigil/v1/notify.pb-c.h"

/* Length caps, in bytes of UTF-8. */
enum {
    CAP_EVENT_ID = 128,
    CAP_IDENTIFIER = 64, /* offender, agency, facility, subscription and staff ids */
    CAP_PERSON_NAME = 100,
    CAP_PHONE = 16,
    CAP_EMAIL = 254,
    CAP_STREET_ADDRESS = 200,
    CAP_LANGUAGE = 35,
    CAP_STATE = 2,
    CAP_COUNTY = 5,
    CAP_ZIP = 10,
    CAP_PIN = 8,
    CAP_CASE_ID = 32,
    CAP_NARRATIVE = 8192,
    CAP_PUBLIC_TEXT = 200, /* court location, custody status */
};

/* Entry caps for repeated fields. */
enum {
    MAX_OFFENDERS = 8,
    MAX_SERVICES = 16,
    MAX_URGENCY_CUES = 16,
};

#define REQUIRED    true
#define OPTIONAL    false
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define RULE(p, c, r, m)                                                                           \
    {                                                                                              \
        .path = (p), .check = (c), .required = (r), .max = (m)                                     \
    }
#define RULE_WHEN(p, c, r, m, field, ...)                                                          \
    {                                                                                              \
        .path = (p), .check = (c), .required = (r), .max = (m), .when = (field), .when_values = {  \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

static const validate_rule_t s_contact_rules[] = {
    RULE("event_id", CHECK_TOKEN, REQUIRED, CAP_EVENT_ID),
    RULE("channel", CHECK_ENUM, REQUIRED, 0),
    RULE("caller_role", CHECK_ENUM, REQUIRED, 0),
    RULE("crime_category", CHECK_ENUM, REQUIRED, 0),
    RULE("received_at_ms", CHECK_PAST_TIME, REQUIRED, 0),
    RULE("occurred_at_ms", CHECK_PAST_TIME, OPTIONAL, 0),
    RULE("language", CHECK_LANGUAGE, OPTIONAL, CAP_LANGUAGE),
    RULE("operator_id", CHECK_TEXT, OPTIONAL, CAP_IDENTIFIER),
    RULE("victim.given_name", CHECK_TEXT, OPTIONAL, CAP_PERSON_NAME),
    RULE("victim.family_name", CHECK_TEXT, OPTIONAL, CAP_PERSON_NAME),
    RULE("victim.phone", CHECK_PHONE, OPTIONAL, CAP_PHONE),
    RULE("victim.email", CHECK_EMAIL, OPTIONAL, CAP_EMAIL),
    RULE("victim.street_address", CHECK_TEXT, OPTIONAL, CAP_STREET_ADDRESS),
    RULE("victim.preferred_language", CHECK_LANGUAGE, OPTIONAL, CAP_LANGUAGE),
    RULE("location.state", CHECK_STATE, REQUIRED, CAP_STATE),
    RULE("location.county_fips", CHECK_COUNTY, OPTIONAL, CAP_COUNTY),
    RULE("location.zip", CHECK_ZIP, OPTIONAL, CAP_ZIP),
    RULE("offenders", CHECK_COUNT, OPTIONAL, MAX_OFFENDERS),
    RULE("offenders[].offender_id", CHECK_TEXT, OPTIONAL, CAP_IDENTIFIER),
    RULE("offenders[].agency", CHECK_TEXT, OPTIONAL, CAP_IDENTIFIER),
    RULE("offenders[].display_name", CHECK_TEXT, OPTIONAL, CAP_PERSON_NAME),
    RULE("requested_services", CHECK_COUNT, OPTIONAL, MAX_SERVICES),
    RULE("requested_services[]", CHECK_ENUM, REQUIRED, 0),
    RULE("urgency_cues", CHECK_COUNT, OPTIONAL, MAX_URGENCY_CUES),
    RULE("urgency_cues[]", CHECK_ENUM, REQUIRED, 0),
    RULE("narrative", CHECK_TEXT, OPTIONAL, CAP_NARRATIVE),
};

static const validate_rule_t s_custody_rules[] = {
    RULE("event_id", CHECK_TOKEN, REQUIRED, CAP_EVENT_ID),
    RULE("type", CHECK_ENUM, REQUIRED, 0),
    RULE("offender_id", CHECK_TEXT, REQUIRED, CAP_IDENTIFIER),
    RULE("facility_id", CHECK_TEXT, REQUIRED, CAP_IDENTIFIER),
    RULE("agency", CHECK_TEXT, OPTIONAL, CAP_IDENTIFIER),
    RULE("occurred_at_ms", CHECK_PAST_TIME, REQUIRED, 0),
    RULE_WHEN("to_facility_id", CHECK_TEXT, REQUIRED, CAP_IDENTIFIER, "type",
              VIGIL__V1__CUSTODY_EVENT_TYPE__CUSTODY_EVENT_TYPE_TRANSFERRED),
    RULE("to_facility_id", CHECK_TEXT, OPTIONAL, CAP_IDENTIFIER),
    RULE_WHEN("court_at_ms", CHECK_ANY_TIME, REQUIRED, 0, "type",
              VIGIL__V1__CUSTODY_EVENT_TYPE__CUSTODY_EVENT_TYPE_COURT_SCHEDULED,
              VIGIL__V1__CUSTODY_EVENT_TYPE__CUSTODY_EVENT_TYPE_COURT_CHANGED),
    RULE("court_at_ms", CHECK_ANY_TIME, OPTIONAL, 0),
    RULE("court_location", CHECK_TEXT, OPTIONAL, CAP_PUBLIC_TEXT),
    RULE("custody_status", CHECK_TEXT, OPTIONAL, CAP_PUBLIC_TEXT),
};

static const validate_rule_t s_subscription_rules[] = {
    RULE("event_id", CHECK_TOKEN, REQUIRED, CAP_EVENT_ID),
    RULE("offender_id", CHECK_TEXT, REQUIRED, CAP_IDENTIFIER),
    RULE("agency", CHECK_TEXT, OPTIONAL, CAP_IDENTIFIER),
    RULE("channel", CHECK_ENUM, REQUIRED, 0),
    RULE_WHEN("phone", CHECK_PHONE, REQUIRED, CAP_PHONE, "channel",
              VIGIL__V1__DELIVERY_CHANNEL__DELIVERY_CHANNEL_VOICE,
              VIGIL__V1__DELIVERY_CHANNEL__DELIVERY_CHANNEL_SMS),
    RULE("phone", CHECK_PHONE, OPTIONAL, CAP_PHONE),
    RULE_WHEN("email", CHECK_EMAIL, REQUIRED, CAP_EMAIL, "channel",
              VIGIL__V1__DELIVERY_CHANNEL__DELIVERY_CHANNEL_EMAIL),
    RULE("email", CHECK_EMAIL, OPTIONAL, CAP_EMAIL),
    RULE("pin", CHECK_PIN, REQUIRED, CAP_PIN),
    RULE("language", CHECK_LANGUAGE, OPTIONAL, CAP_LANGUAGE),
    RULE("case_id", CHECK_CASE_ID, OPTIONAL, CAP_CASE_ID),
    RULE("requested_at_ms", CHECK_PAST_TIME, REQUIRED, 0),
};

static const validate_rule_t s_confirmation_rules[] = {
    RULE("event_id", CHECK_TOKEN, REQUIRED, CAP_EVENT_ID),
    RULE("subscription_id", CHECK_TOKEN, REQUIRED, CAP_IDENTIFIER),
    RULE("custody_event_id", CHECK_TOKEN, REQUIRED, CAP_EVENT_ID),
    RULE("pin", CHECK_PIN, REQUIRED, CAP_PIN),
    RULE("confirmed_at_ms", CHECK_PAST_TIME, REQUIRED, 0),
};

static const validate_rule_t s_receipt_rules[] = {
    RULE("event_id", CHECK_TOKEN, REQUIRED, CAP_EVENT_ID),
    RULE("case_id", CHECK_CASE_ID, REQUIRED, CAP_CASE_ID),
    RULE("assignee_id", CHECK_TOKEN, REQUIRED, CAP_IDENTIFIER),
    RULE("acknowledged_at_ms", CHECK_PAST_TIME, REQUIRED, 0),
};

const validate_table_t validate_tables[] = {
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_INTAKE_CONTACT, &vigil__v1__intake_contact__descriptor,
     s_contact_rules, COUNT_OF(s_contact_rules)},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_CUSTODY_EVENT, &vigil__v1__custody_event__descriptor,
     s_custody_rules, COUNT_OF(s_custody_rules)},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_SUBSCRIPTION_REQUEST,
     &vigil__v1__subscription_request__descriptor, s_subscription_rules,
     COUNT_OF(s_subscription_rules)},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_DELIVERY_CONFIRMATION,
     &vigil__v1__delivery_confirmation__descriptor, s_confirmation_rules,
     COUNT_OF(s_confirmation_rules)},
    {VIGIL__V1__MESSAGE_TYPE__MESSAGE_TYPE_ASSIGNMENT_RECEIPT,
     &vigil__v1__assignment_receipt__descriptor, s_receipt_rules, COUNT_OF(s_receipt_rules)},
    {0, NULL, NULL, 0},
};
